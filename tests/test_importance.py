"""Dominance analysis: general dominance weights and their bootstrap intervals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import lio_validate as lv
from lio_validate.bootstrap import bootstrap
from lio_validate.importance import dominance_analysis, general_dominance

PD_PATHS = "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\n" \
    "dem65 =~ y5 + y6 + y7 + y8\ndem60 ~ ind60\ndem65 ~ ind60 + dem60"


def _shapley_weights(correlation: np.ndarray) -> np.ndarray:
    """Mean increment in R^2 over all orders of entry: the general dominance
    weights computed another way (they are the Shapley values of R^2)."""
    p = len(correlation) - 1

    def r_squared(members):
        if not members:
            return 0.0
        members = list(members)
        r = correlation[members, p]
        return float(r @ np.linalg.solve(correlation[np.ix_(members, members)], r))

    weights = np.zeros(p)
    for order in itertools.permutations(range(p)):
        for position, predictor in enumerate(order):
            weights[predictor] += r_squared(order[:position + 1]) \
                - r_squared(order[:position])
    return weights / math.factorial(p)


def test_weights_equal_shapley_values():
    rng = np.random.default_rng(4)
    raw = rng.standard_normal((500, 5)) @ rng.standard_normal((5, 5))
    correlation = np.corrcoef(raw, rowvar=False)
    weights, r_squared = general_dominance(correlation)
    np.testing.assert_allclose(weights, _shapley_weights(correlation), rtol=1e-12)
    np.testing.assert_allclose(weights.sum(), r_squared, rtol=1e-12)


def test_uncorrelated_predictors_get_squared_correlations():
    correlation = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 0.5], [0.3, 0.5, 1.0]])
    weights, r_squared = general_dominance(correlation)
    np.testing.assert_allclose(weights, [0.09, 0.25], rtol=1e-12)
    np.testing.assert_allclose(r_squared, 0.34, rtol=1e-12)


def test_observed_regression_uses_sample_correlations(political_democracy):
    fit = lv.sem("y1 ~ x1 + x2 + x3", political_democracy)
    result = dominance_analysis(fit)
    correlation = np.corrcoef(political_democracy[["x1", "x2", "x3", "y1"]],
                              rowvar=False)
    expected, _ = general_dominance(correlation)
    np.testing.assert_allclose(result.table["weight"], expected, rtol=1e-6)
    np.testing.assert_allclose(result.r_squared["r_squared"].iloc[0],
                               fit.r_squared["y1"], rtol=1e-8)


def test_latent_weights_add_up_to_r_squared(political_democracy):
    fit = lv.sem(PD_PATHS, political_democracy)
    result = dominance_analysis(fit)
    dem65 = result.table[result.table["outcome"] == "dem65"]
    np.testing.assert_allclose(dem65["weight"].sum(), fit.r_squared["dem65"],
                               rtol=1e-8)
    np.testing.assert_allclose(dem65["share"].sum(), 1.0, rtol=1e-12)
    assert sorted(dem65["rank"]) == [1, 2]
    # dem60 carries most of ind60's effect on dem65 (PD: b = 0.89, c = 0.57).
    assert dem65.set_index("predictor").loc["dem60", "rank"] == 1


def test_bootstrap_intervals_bracket_weights(political_democracy):
    fit = lv.sem(PD_PATHS, political_democracy)
    replicates = bootstrap(fit, political_democracy, nboot=40, seed=3)
    result = dominance_analysis(fit, "dem65", bootstrap=replicates,
                                method="percentile")
    table = result.table
    assert list(table["predictor"]) == ["ind60", "dem60"]
    assert np.all(table["ci_lower"] <= table["weight"])
    assert np.all(table["weight"] <= table["ci_upper"])
    assert np.all(table["se"] > 0)
    assert "bootstrap (percentile)" in result.summary()


def test_bootstrap_of_other_fit_rejected(political_democracy):
    fit = lv.sem(PD_PATHS, political_democracy)
    other = lv.sem(PD_PATHS, political_democracy.iloc[:60])
    replicates = bootstrap(other, political_democracy.iloc[:60], nboot=3, seed=1)
    with pytest.raises(lv.LioInputError, match="another fit"):
        dominance_analysis(fit, bootstrap=replicates)


def test_outcome_without_predictors(political_democracy):
    fit = lv.sem(PD_PATHS, political_democracy)
    with pytest.raises(lv.LioInputError, match="'ind60' is not regressed"):
        dominance_analysis(fit, "ind60")


def test_unknown_outcome(political_democracy):
    fit = lv.sem(PD_PATHS, political_democracy)
    with pytest.raises(lv.LioInputError, match="'dem70'"):
        dominance_analysis(fit, "dem70")
