"""Thresholds, polychoric correlations and Gamma against lavaan 0.6.14.

The references come from tests/reference/ordinal_references.R and
ordinal_wls_references.R. lavaan stops its search for each polychoric
correlation at a relative tolerance of its objective, so its correlations are
within about 3e-8 of the maximum-likelihood values computed here; Gamma
inherits that difference. Tolerances are set a little above it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import read_dataset
from reference_loader import load_reference, reference_matrix
from scipy import integrate, special

from lio_validate.exceptions import ConvergenceWarning, DataError, DataWarning
from lio_validate.ordinal_data import MAX_CATEGORIES, encode_ordinal_items
from lio_validate.polychoric import (
    bivariate_normal_cdf,
    bivariate_normal_pdf,
    ordinal_sample_statistics,
    pair_indices,
)

AC_ITEMS = [f"A{k}" for k in range(1, 6)] + [f"C{k}" for k in range(1, 6)]


def statistics_for(frame: pd.DataFrame, items, **options):
    coded, levels, messages = encode_ordinal_items(frame, items, **options)
    codes = coded[list(items)].dropna().to_numpy().astype(int)
    return ordinal_sample_statistics(codes, levels), messages


@pytest.fixture(scope="module")
def bfi_statistics():
    return statistics_for(read_dataset("bfi.csv"), AC_ITEMS)[0]


@pytest.fixture(scope="module")
def binary_statistics():
    frame = read_dataset("bfi.csv")
    for item in AC_ITEMS:
        frame[item] = np.where(frame[item].isna(), np.nan, (frame[item] >= 4) * 1.0)
    return statistics_for(frame, AC_ITEMS)[0]


# --------------------------------------------------------------------------
# Bivariate normal distribution
# --------------------------------------------------------------------------


def cdf_by_quadrature(h: float, k: float, rho: float) -> float:
    """Phi2 = Phi(h) Phi(k) + integral_0^rho phi2(h, k; r) dr (Plackett, 1954)."""

    def density(r):
        return np.exp(-(h * h - 2 * r * h * k + k * k) / (2 * (1 - r * r))) / (
            2 * np.pi * np.sqrt(1 - r * r))

    value, _ = integrate.quad(density, 0.0, rho, epsabs=1e-15, epsrel=1e-13, limit=200)
    return special.ndtr(h) * special.ndtr(k) + value


def test_cdf_matches_quadrature():
    rng = np.random.default_rng(7)
    h = rng.normal(0, 1.5, 400)
    k = rng.normal(0, 1.5, 400)
    rho = rng.uniform(-0.99, 0.99, 400)
    h[:40] = 0.0
    k[30:70] = 0.0
    expected = [cdf_by_quadrature(*args) for args in zip(h, k, rho)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        np.testing.assert_allclose(bivariate_normal_cdf(h, k, rho), expected,
                                   rtol=0, atol=1e-13)


def test_cdf_infinite_limits():
    assert bivariate_normal_cdf(-np.inf, 0.3, 0.5) == 0.0
    assert bivariate_normal_cdf(0.3, -np.inf, 0.5) == 0.0
    assert bivariate_normal_cdf(np.inf, np.inf, 0.5) == 1.0
    assert bivariate_normal_cdf(np.inf, 0.3, 0.5) == pytest.approx(special.ndtr(0.3))
    assert bivariate_normal_cdf(-0.4, np.inf, -0.5) == pytest.approx(special.ndtr(-0.4))


def test_cdf_origin_closed_form():
    rho = np.array([-0.9, -0.3, 0.0, 0.4, 0.95])
    expected = 0.25 + np.arcsin(rho) / (2 * np.pi)
    np.testing.assert_allclose(bivariate_normal_cdf(0.0, 0.0, rho), expected,
                               atol=1e-15)


def test_cdf_perfect_correlation():
    assert bivariate_normal_cdf(0.2, -0.5, 1.0) == pytest.approx(special.ndtr(-0.5))
    assert bivariate_normal_cdf(0.2, 0.5, -1.0) == pytest.approx(
        special.ndtr(0.2) - special.ndtr(-0.5))
    assert bivariate_normal_cdf(-0.2, -0.5, -1.0) == 0.0


def test_pdf_is_derivative_of_cdf_in_rho():
    h, k, rho, step = 0.3, -1.1, 0.45, 1e-6
    numeric = (bivariate_normal_cdf(h, k, rho + step)
               - bivariate_normal_cdf(h, k, rho - step)) / (2 * step)
    assert bivariate_normal_pdf(h, k, rho) == pytest.approx(numeric, rel=1e-8)
    assert bivariate_normal_pdf(np.inf, 0.2, 0.3) == 0.0


# --------------------------------------------------------------------------
# Agreement with lavaan
# --------------------------------------------------------------------------


def test_thresholds_match_lavaan(bfi_statistics):
    sample = load_reference("bfi_cfa2_ac_wlsmv")["extra"]["sample"]
    expected = np.array(list(sample["th"].values()))
    np.testing.assert_allclose(bfi_statistics.thresholds, expected, rtol=0, atol=1e-12)


def test_polychorics_match_lavaan(bfi_statistics):
    sample = load_reference("bfi_cfa2_ac_wlsmv")["extra"]["sample"]
    expected = reference_matrix(sample["cov"]).to_numpy()
    np.testing.assert_allclose(bfi_statistics.correlation, expected, rtol=0, atol=1e-7)


def test_gamma_matches_lavaan(bfi_statistics):
    expected = reference_matrix(load_reference("bfi_cfa2_ac_wlsmv")["extra"]["gamma"])
    assert bfi_statistics.statistic_names == tuple(expected.index)
    scale = np.abs(expected.to_numpy()).max()
    np.testing.assert_allclose(bfi_statistics.gamma, expected.to_numpy(), rtol=0,
                               atol=1e-6 * scale)


def test_weights_match_lavaan(bfi_statistics):
    expected = load_reference("bfi_cfa2_ac_wlsmv")["extra"]["wls_v_diagonal"]
    np.testing.assert_allclose(1.0 / np.diag(bfi_statistics.gamma), expected, rtol=1e-6)


def test_threshold_block_closed_form(bfi_statistics):
    # Gamma of two thresholds of one item is P_k (1 - P_l) / (phi_k phi_l), k <= l.
    thresholds = bfi_statistics.thresholds[:5]
    cumulative = special.ndtr(thresholds)
    density = np.exp(-thresholds**2 / 2) / np.sqrt(2 * np.pi)
    low = np.minimum.outer(cumulative, cumulative)
    high = np.maximum.outer(cumulative, cumulative)
    expected = low * (1 - high) / np.outer(density, density)
    np.testing.assert_allclose(bfi_statistics.gamma[:5, :5], expected, rtol=1e-12)


def test_binary_items_match_lavaan(binary_statistics):
    extra = load_reference("bfi_cfa2_ac_binary_wlsmv")["extra"]
    expected_r = reference_matrix(extra["sample"]["cov"]).to_numpy()
    np.testing.assert_allclose(binary_statistics.correlation, expected_r, atol=1e-7)
    expected_gamma = reference_matrix(extra["gamma"]).to_numpy()
    scale = np.abs(expected_gamma).max()
    np.testing.assert_allclose(binary_statistics.gamma, expected_gamma,
                               atol=1e-6 * scale)


def test_tetrachoric_empty_cell_matches_lavaan():
    reference = load_reference("tetrachoric_empty_cell")
    counts = np.array(reference["counts"], dtype=int)
    rows = [(a, b) for a in range(2) for b in range(2) for _ in range(counts[a, b])]
    frame = pd.DataFrame(rows, columns=["x", "y"]) + 1
    statistics, _ = statistics_for(frame, ["x", "y"])

    assert statistics.correlation[1, 0] == pytest.approx(reference["correlation"],
                                                         abs=1e-7)
    np.testing.assert_allclose(statistics.thresholds,
                               list(reference["thresholds"].values()), atol=1e-12)
    expected = reference_matrix(reference["gamma"]).to_numpy()
    np.testing.assert_allclose(statistics.gamma, expected, rtol=1e-6, atol=1e-7)
    assert statistics.empty_cell_pairs == (("x", "y"),)
    categories = [category for category, _ in statistics.messages]
    assert categories == [DataWarning]
    assert "0.5 was added" in statistics.messages[0][1]


# --------------------------------------------------------------------------
# Invariants on simulated data
# --------------------------------------------------------------------------


def simulated_items(nobs: int, correlation: float, seed: int,
                    cuts=(-1.0, -0.2, 0.6, 1.5)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = rng.multivariate_normal([0, 0, 0], [[1, correlation, 0.3],
                                                 [correlation, 1, 0.2],
                                                 [0.3, 0.2, 1]], size=nobs)
    return pd.DataFrame(np.digitize(latent, cuts) + 1, columns=["u", "v", "w"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_polychoric_recovers_correlation(seed):
    statistics, _ = statistics_for(simulated_items(20000, 0.6, seed), ["u", "v", "w"])
    assert statistics.correlation[1, 0] == pytest.approx(0.6, abs=0.02)
    assert statistics.correlation[2, 0] == pytest.approx(0.3, abs=0.03)


def test_polychoric_maximises_likelihood():
    frame = simulated_items(800, -0.45, 11)
    statistics, _ = statistics_for(frame, ["u", "v", "w"])
    table = pd.crosstab(frame["u"], frame["v"]).to_numpy()
    bounds_u = np.concatenate([[-np.inf], statistics.thresholds[:4], [np.inf]])
    bounds_v = np.concatenate([[-np.inf], statistics.thresholds[4:8], [np.inf]])

    def loglik(rho):
        corners = bivariate_normal_cdf(bounds_u[:, None], bounds_v[None, :], rho)
        cells = (corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1]
                 + corners[:-1, :-1])
        return float(np.sum(table * np.log(cells)))

    estimate = statistics.correlation[1, 0]
    for offset in (-1e-4, 1e-4):
        assert loglik(estimate) >= loglik(estimate + offset)


def test_gamma_symmetric_positive_definite(bfi_statistics):
    gamma = bfi_statistics.gamma
    np.testing.assert_array_equal(gamma, gamma.T)
    assert np.linalg.eigvalsh(gamma)[0] > 0


def test_pair_order_is_lavaan_order():
    rows, columns = pair_indices(4)
    assert list(zip(rows, columns)) == [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2)]


def test_items_with_different_category_counts():
    frame = simulated_items(3000, 0.5, 5)
    frame["w"] = (frame["w"] >= 3) + 1
    statistics, _ = statistics_for(frame, ["u", "v", "w"])
    assert len(statistics.thresholds) == 4 + 4 + 1
    assert statistics.gamma.shape == (12, 12)
    assert np.linalg.eigvalsh(statistics.gamma)[0] > 0


def test_categorical_column_uses_declared_order():
    frame = pd.DataFrame({"u": ["low", "high", "mid", "mid", "low", "high"] * 20,
                          "v": [1, 3, 2, 2, 1, 2] * 20})
    frame["u"] = pd.Categorical(frame["u"], categories=["low", "mid", "high"],
                                ordered=True)
    coded, levels, _ = encode_ordinal_items(frame, ["u", "v"])
    assert levels.categories[0] == ("low", "mid", "high")
    assert coded["u"].tolist()[:3] == [0.0, 2.0, 1.0]


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_constant_item_rejected():
    frame = pd.DataFrame({"u": [1, 2, 3] * 10, "v": [2] * 30})
    with pytest.raises(DataError, match="'v' is constant"):
        encode_ordinal_items(frame, ["u", "v"])


def test_too_many_categories_rejected():
    frame = pd.DataFrame({"u": np.arange(40) % 12, "v": np.arange(40) % 3})
    with pytest.raises(DataError, match="12 categories.*Treat the item as continuous"):
        encode_ordinal_items(frame, ["u", "v"])
    _, levels, _ = encode_ordinal_items(frame, ["u", "v"], max_categories=12)
    assert levels.n_categories.tolist() == [12, 3]
    assert MAX_CATEGORIES == 10


def test_text_item_rejected():
    frame = pd.DataFrame({"u": ["a", "b"] * 10, "v": [1, 2] * 10})
    with pytest.raises(DataError, match="ordered pandas Categorical"):
        encode_ordinal_items(frame, ["u", "v"])


def test_unused_categorical_category_rejected():
    responses = pd.Categorical(["a", "c"] * 10, categories=["a", "b", "c"],
                               ordered=True)
    frame = pd.DataFrame({"u": responses, "v": [1, 2] * 10})
    with pytest.raises(DataError, match="no responses in category 'b'.*Merge"):
        encode_ordinal_items(frame, ["u", "v"])


def test_gap_in_codes_warns():
    frame = pd.DataFrame({"u": [1, 2, 4, 5] * 10, "v": [1, 2, 2, 1] * 10})
    _, levels, messages = encode_ordinal_items(frame, ["u", "v"])
    assert levels.n_categories.tolist() == [4, 2]
    assert [category for category, _ in messages] == [DataWarning]
    assert "value(s) 3" in messages[0][1]


def test_empty_category_in_group_rejected():
    frame = pd.DataFrame({"u": [1, 2, 3] * 10, "v": [1, 2, 2] * 10})
    _, levels, _ = encode_ordinal_items(frame, ["u", "v"])
    codes = np.array([[0, 0], [1, 1], [0, 1]] * 5)  # category 3 of u never used
    with pytest.raises(DataError, match="'u' has no responses in group 'women' in "
                                        "category 3.0.*Merge"):
        ordinal_sample_statistics(codes, levels, group="women")


def test_perfectly_associated_binary_items_rejected():
    frame = pd.DataFrame({"u": [1, 2] * 20, "v": [1, 2] * 20, "w": [1, 1, 2, 2] * 10})
    with pytest.raises(DataError, match="'u' and 'v' are perfectly associated"):
        statistics_for(frame, ["u", "v", "w"])


def test_near_one_correlation_warns():
    frame = simulated_items(2000, 0.6, 3)
    frame["copy"] = frame["u"]
    frame.loc[:5, "copy"] = frame.loc[:5, "v"]
    statistics, _ = statistics_for(frame, ["u", "v", "copy"])
    texts = [text for category, text in statistics.messages if category is DataWarning]
    assert any("'u' and 'copy'" in text and "redundant" in text for text in texts)
    categories = [category for category, _ in statistics.messages]
    assert ConvergenceWarning not in categories


def test_empty_cells_in_larger_table_are_recorded():
    frame = simulated_items(300, 0.8, 9)
    statistics, _ = statistics_for(frame, ["u", "v", "w"])
    assert ("u", "v") in statistics.empty_cell_pairs
    assert statistics.messages == ()
