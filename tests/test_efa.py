"""Exploratory factor analysis and parallel analysis against psych 2.2.9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_reference, reference_matrix

import lio_validate as lv
from lio_validate.efa import efa, parallel_analysis

ITEMS = [f"x{k}" for k in range(1, 10)]


@pytest.fixture(scope="module")
def reference():
    return load_reference("hs_efa")


def _aligned(ours: pd.DataFrame, expected: pd.DataFrame) -> np.ndarray:
    """Our loadings with columns reordered and signed like psych's."""
    columns = []
    for name in expected.columns:
        target = expected[name].to_numpy()
        scores = [abs(target @ ours[c].to_numpy()) for c in ours.columns]
        best = ours.columns[int(np.argmax(scores))]
        columns.append(np.sign(target @ ours[best].to_numpy()) * ours[best].to_numpy())
    return np.column_stack(columns)


@pytest.mark.parametrize("rotation", ["varimax", "oblimin"])
def test_loadings_equal_psych(hs, reference, rotation):
    result = efa(hs, 3, items=ITEMS, rotation=rotation)
    expected = reference_matrix(reference[rotation]["loadings"])
    np.testing.assert_allclose(_aligned(result.loadings, expected), expected,
                               atol=1e-4)
    communality = pd.Series(reference[rotation]["communality"])
    np.testing.assert_allclose(result.communalities[communality.index], communality,
                               atol=1e-4)


def test_oblimin_factor_correlations_equal_psych(hs, reference):
    result = efa(hs, 3, items=ITEMS, rotation="oblimin")
    expected = reference_matrix(reference["oblimin"]["phi"])
    loadings = reference_matrix(reference["oblimin"]["loadings"])
    # Match factors by their loadings, then compare the correlations.
    order = [int(np.argmax([abs(loadings[name] @ result.loadings[c])
                            for c in result.loadings.columns]))
             for name in loadings.columns]
    ours = result.factor_correlations.to_numpy()[np.ix_(order, order)]
    np.testing.assert_allclose(np.abs(ours), np.abs(expected.to_numpy()), atol=1e-4)


def test_communalities_do_not_depend_on_rotation(hs):
    oblique = efa(hs, 3, items=ITEMS, rotation="oblimin")
    unrotated = efa(hs, 3, items=ITEMS, rotation="none")
    np.testing.assert_allclose(oblique.communalities, unrotated.communalities,
                               atol=1e-10)


def test_parallel_analysis_suggests_three_factors(hs, reference):
    result = parallel_analysis(hs, items=ITEMS, n_iter=50, seed=1)
    assert result.n_factors == 3
    assert result.n_components == 3
    np.testing.assert_allclose(result.eigenvalues["pc"],
                               reference["correlation_eigenvalues"], rtol=1e-10)
    np.testing.assert_allclose(result.eigenvalues["fa"],
                               reference["smc_reduced_eigenvalues"], rtol=1e-8)


def test_parallel_analysis_reproducible(hs):
    first = parallel_analysis(hs, items=ITEMS, n_iter=20, seed=5)
    second = parallel_analysis(hs, items=ITEMS, n_iter=20, seed=5)
    pd.testing.assert_frame_equal(first.eigenvalues, second.eigenvalues)


def test_efa_chooses_factors_and_writes_cfa(hs):
    result = efa(hs, items=ITEMS, n_iter=30, seed=2)
    assert result.loadings.shape == (9, 3)
    assert result.parallel is not None
    syntax = result.to_lavaan(threshold=0.4)
    assert syntax.count("=~") == 3
    fit = lv.cfa(syntax, hs)
    assert fit.converged
    assert "Parallel analysis" in result.summary()


def test_too_few_items(hs):
    with pytest.raises(lv.DataError, match="at least 3 items"):
        efa(hs, 1, items=["x1", "x2"])


def test_unknown_rotation(hs):
    with pytest.raises(lv.LioInputError, match="varimax"):
        efa(hs, 2, items=ITEMS, rotation="equamax2")


def test_too_many_factors(hs):
    with pytest.raises(lv.LioInputError, match="n_factors"):
        efa(hs, 9, items=ITEMS)
