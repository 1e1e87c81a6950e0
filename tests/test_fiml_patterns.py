"""FIML with many missing-data patterns, compared with lavaan 0.6.14.

The lavaan fits are in tests/reference/fiml_patterns_*.json and
bfi_cfa2_ac_mlr_fiml.json (fiml_patterns_references.R); the simulated data,
sim_fiml_patterns.csv, has 291 distinct patterns. The FIML-corrected
ingredients of lavaan's robust CFI, TLI and RMSEA are also checked for the
HSm references of robust_references.R.

The closed-form derivatives are checked against brute-force sums over
patterns and cases and against numerical differences of the gradient.
Tolerances are those of test_lavaan_ml.py: estimates 2e-4 x max(1, |v|),
SEs and scaled statistics 1e-3 relative, fit measures 1e-4 relative.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import read_dataset
from reference_loader import REFERENCE_DIR, load_reference, reference_matrix

import lio_validate as lv
from lio_validate import ml
from lio_validate.fiml import (
    FimlObjective,
    em_saturated,
    find_patterns,
    h1_information,
    moment_derivatives,
    moment_score_crossproduct,
    pattern_logl,
)
from lio_validate.fiml_fit import fiml_corrected_statistics

SIM_REFERENCES = ["fiml_patterns_ml", "fiml_patterns_mlr", "fiml_patterns_mg_mlr",
                  "bfi_cfa2_ac_mlr_fiml"]

FIT_MEASURES = [
    "npar", "fmin", "chisq", "df", "pvalue", "baseline_chisq", "baseline_df", "cfi",
    "tli", "logl", "unrestricted_logl", "aic", "bic", "bic2", "rmsea",
    "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue", "rmsea_notclose_pvalue",
    "srmr", "cfi_robust", "tli_robust", "rmsea_robust", "rmsea_ci_lower_robust",
    "rmsea_ci_upper_robust", "rmsea_pvalue_robust", "rmsea_notclose_pvalue_robust",
]
SCALED_MEASURES = [
    "chisq_scaled", "pvalue_scaled", "chisq_scaling_factor", "baseline_chisq_scaled",
    "baseline_chisq_scaling_factor", "cfi_scaled", "tli_scaled", "rmsea_scaled",
    "rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled",
]

MODEL = """f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
f3 =~ y9 + y10 + y11 + y12"""


def sim_data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "sim_fiml_patterns.csv")


def reference_data(reference) -> pd.DataFrame:
    """The data of a reference, with the HSm values that R's set.seed(1) removed."""
    name = reference["data_file"]
    data = sim_data() if name == "sim_fiml_patterns.csv" else read_dataset(name)
    for column, rows in reference["extra"].get("missing_rows_1based", {}).items():
        data.loc[np.array(rows) - 1, column] = np.nan
    return data


@functools.cache
def fit_reference(name: str):
    """Fit the model of reference ``name`` once per test session."""
    reference = load_reference(name)
    options = {"estimator": reference["options"].get("estimator", "ML"),
               "group": reference["options"].get("group"), "missing": "fiml"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.ListwiseDeletionWarning)
        fit = lv.cfa(reference["model"], reference_data(reference), **options)
    return reference, fit


@pytest.fixture(scope="module", params=SIM_REFERENCES)
def pair(request):
    return fit_reference(request.param)


def merged(reference, fit) -> pd.DataFrame:
    return reference["estimates"].merge(fit.estimates, on=["lhs", "op", "rhs", "group"],
                                        suffixes=("_lavaan", ""))


# --------------------------------------------------------------------------
# Comparison with lavaan
# --------------------------------------------------------------------------


def test_patterns_counted_as_lavaan(pair):
    reference, fit = pair
    counts = [len(group.patterns) for group in fit.internals.objective.groups]
    assert counts == list(np.atleast_1d(reference["extra"]["npatterns"]))


def test_estimates_match(pair):
    reference, fit = pair
    table = merged(reference, fit)
    assert len(table) == len(reference["estimates"])
    tolerance = 2e-4 * np.maximum(1.0, np.abs(table["est_lavaan"]))
    bad = table[np.abs(table["est"] - table["est_lavaan"]) > tolerance]
    assert bad.empty, bad[["lhs", "op", "rhs", "group", "est", "est_lavaan"]]


def test_standard_errors_match(pair):
    reference, fit = pair
    table = merged(reference, fit)
    free = table["se_lavaan"] > 0
    np.testing.assert_allclose(table.loc[free, "se"], table.loc[free, "se_lavaan"],
                               rtol=1e-3)


def test_fit_measures_match(pair):
    reference, fit = pair
    expected = reference["fit_measures"]
    names = FIT_MEASURES + (SCALED_MEASURES if "chisq.scaled" in expected else [])
    for name in names:
        # Tiny p-values (below 1e-7) agree to the absolute tolerance only.
        np.testing.assert_allclose(fit.fit_measures[name], expected[name.replace("_", ".")],
                                   rtol=1e-4, atol=1e-7, err_msg=name)


def test_h1_moments_match_lavaan_em(pair):
    reference, fit = pair
    h1 = reference["extra"]["h1"]
    per_group = [h1] if "cov" in h1 else [h1[name] for name in fit.group_names]
    for moments, stored in zip(fit.internals.stats.groups, per_group):
        np.testing.assert_allclose(moments.cov, reference_matrix(stored["cov"]),
                                   rtol=0, atol=1e-10)
        np.testing.assert_allclose(moments.mean, list(stored["mean"].values()),
                                   rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", SIM_REFERENCES + ["hsm_cfa_fiml_ml", "hsm_cfa_fiml_mlr"])
@pytest.mark.parametrize("version", ["V3", "V6"])
def test_fiml_corrected_statistics_match(name, version):
    reference, fit = fit_reference(name)
    internals = fit.internals
    objective = internals.objective
    crossproducts = None
    if version == "V3":
        crossproducts = tuple(moment_score_crossproduct(group, moments.mean, moments.cov)
                              for group, moments in zip(objective.groups,
                                                        internals.stats.groups))
    ours = fiml_corrected_statistics(objective, internals.stats, internals.x,
                                     h1_crossproducts=crossproducts)
    lavaan = reference["extra"]["fiml_corrected"][version]
    assert ours.df == lavaan["df3"]
    assert ours.baseline_df == lavaan["df3.null"]
    np.testing.assert_allclose(ours.chisq, lavaan["XX3"], rtol=1e-5)
    np.testing.assert_allclose(ours.baseline_chisq, lavaan["XX3.null"], rtol=1e-5)
    np.testing.assert_allclose(ours.scaling_factor, lavaan["c.hat3"], rtol=1e-4)
    np.testing.assert_allclose(ours.baseline_scaling_factor, lavaan["c.hat3.null"],
                               rtol=1e-4)


# --------------------------------------------------------------------------
# Closed forms against brute force
# --------------------------------------------------------------------------


def heavy_missing_values(seed: int = 7) -> np.ndarray:
    """Sim items with extra holes, so that patterns observe 2 to 12 of 12 items."""
    values = sim_data().filter(like="y").to_numpy(dtype=float)[:300].copy()
    rng = np.random.default_rng(seed)
    extra = rng.random(values.shape) < np.linspace(0.0, 0.6, len(values))[:, None]
    values[extra] = np.nan
    keep = (~np.isnan(values)).sum(axis=1) >= 2
    return values[keep]


def objective_for(values: np.ndarray) -> tuple[FimlObjective, np.ndarray]:
    """The FIML objective of MODEL on ``values`` and its estimate."""
    frame = pd.DataFrame(values, columns=[f"y{j}" for j in range(1, 13)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LioWarning)
        fit = lv.cfa(MODEL, frame, missing="fiml")
    return fit.internals.objective, fit.internals.x


def pattern_blocks(group):
    """(observed columns, count, pattern data) of every pattern."""
    return [(pattern.observed, pattern.nobs, pattern.data) for pattern in group.patterns]


def brute_force_moment_terms(group, mean, cov):
    """Gradient and observed information in (mu, vech Sigma), pattern by pattern."""
    p = len(mean)
    rows, columns = np.triu_indices(p)
    size = p + len(rows)
    gradient = np.zeros(size)
    information = np.zeros((size, size))
    for observed, _, data in pattern_blocks(group):
        precision = np.linalg.inv(cov[np.ix_(observed, observed)])
        for case in data:
            full_p = np.zeros((p, p))
            full_p[np.ix_(observed, observed)] = precision
            r = np.zeros(p)
            r[observed] = precision @ (case - mean[observed])
            outer = np.outer(r, r)
            score_sigma = 0.5 * (outer - full_p)
            gradient[:p] += r
            gradient[p:] += np.where(rows == columns, 1.0, 2.0) * score_sigma[rows, columns]
            # Hessian of one case, element pairs (a, b), (c, e).
            mean_block = full_p
            cross = np.zeros((p, len(rows)))
            pair = np.zeros((len(rows), len(rows)))
            for j, (a, b) in enumerate(zip(rows, columns)):
                cross[:, j] = full_p[:, a] * r[b] + (a != b) * full_p[:, b] * r[a]
                for m, (c, e) in enumerate(zip(rows, columns)):
                    total = 0.0
                    for first, second in {(a, b), (b, a)}:
                        for third, fourth in {(c, e), (e, c)}:
                            total += 0.5 * (-full_p[first, third] * full_p[fourth, second]
                                            + full_p[first, third] * outer[fourth, second]
                                            + outer[first, third] * full_p[fourth, second])
                    pair[j, m] = total
            information[:p, :p] += mean_block
            information[:p, p:] += cross
            information[p:, :p] += cross.T
            information[p:, p:] += pair
    return gradient, information


def test_moment_derivatives_match_brute_force():
    values = heavy_missing_values()[:40, :5]
    values = values[(~np.isnan(values)).any(axis=1)]
    group = find_patterns(values)
    mean, cov, _ = em_saturated(group)
    mean = mean + 0.05
    cov = cov * 1.1
    gradient, information = brute_force_moment_terms(group, mean, cov)
    ours = moment_derivatives(group, mean, cov, information="observed")
    rows, columns = np.triu_indices(5)
    packed_gradient = np.where(rows == columns, 1.0, 2.0) * \
        ours.sigma_gradient[rows, columns]
    np.testing.assert_allclose(ours.mean_gradient, gradient[:5], atol=1e-10)
    np.testing.assert_allclose(packed_gradient, gradient[5:], atol=1e-10)
    np.testing.assert_allclose(ours.information, information, atol=1e-9)


def test_covariance_not_positive_definite_uses_blocks():
    # Three items observed in pairs only: every 2 x 2 block is positive
    # definite, the 3 x 3 matrix is not.
    rng = np.random.default_rng(3)
    values = rng.standard_normal((30, 3))
    values[:10, 2] = np.nan
    values[10:20, 0] = np.nan
    values[20:, 1] = np.nan
    group = find_patterns(values)
    cov = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    assert np.linalg.eigvalsh(cov)[0] < 0
    mean = np.zeros(3)
    gradient, information = brute_force_moment_terms(group, mean, cov)
    ours = moment_derivatives(group, mean, cov, information="observed")
    assert ours is not None
    np.testing.assert_allclose(ours.mean_gradient, gradient[:3], atol=1e-10)
    np.testing.assert_allclose(ours.information, information, atol=1e-9)
    expected_logl = 0.0
    for observed, _, data in pattern_blocks(group):
        block = cov[np.ix_(observed, observed)]
        centred = data - mean[observed]
        expected_logl -= 0.5 * np.sum(
            len(observed) * np.log(2 * np.pi) + np.linalg.slogdet(block)[1]
            + np.einsum("ni,ij,nj->n", centred, np.linalg.inv(block), centred))
    np.testing.assert_allclose(pattern_logl(group, mean, cov), expected_logl, rtol=1e-12)


def test_expected_information_matches_brute_force():
    objective, x = objective_for(heavy_missing_values())
    model = objective.model
    group = objective.groups[0]
    sizes = {len(pattern.observed) for pattern in group.patterns}
    # Batches with more and with fewer missing than observed items.
    assert min(sizes) <= 4
    assert max(sizes) == 12
    moments = model.implied(x, 0)
    U, V, dmu = model.sigma_factors(moments, 0)
    free = model.free_rows_of_group(0)
    U, V, dmu = U[free], V[free], dmu[free]
    expected = np.zeros((len(free), len(free)))
    for observed, count, _ in pattern_blocks(group):
        precision = np.linalg.inv(moments.sigma[np.ix_(observed, observed)])
        Uo, Vo, Mo = U[:, observed], V[:, observed], dmu[:, observed]
        derivative = np.einsum("ki,kj->kij", Uo, Vo)
        derivative = derivative + derivative.transpose(0, 2, 1)
        scaled = precision @ derivative
        traces = np.einsum("kij,lji->kl", scaled, scaled)
        expected += count * (0.5 * traces + Mo @ precision @ Mo.T)
    K = model.jacobian_free(0)[free]
    expected = K.T @ expected @ K / group.nobs
    np.testing.assert_allclose(objective.information(x), expected, rtol=1e-10,
                               atol=1e-12)


def test_observed_information_matches_numerical_hessian():
    objective, x = objective_for(heavy_missing_values())
    numerical = ml.numerical_hessian(objective.gradient, x)
    analytic = objective.observed_information(x)
    np.testing.assert_allclose(analytic, numerical, rtol=1e-6, atol=1e-8)


def test_score_crossproduct_matches_casewise_loop():
    values = heavy_missing_values()
    group = find_patterns(values)
    mean, cov, _ = em_saturated(group)
    p = len(mean)
    rows, columns = np.triu_indices(p)
    total = np.zeros((p + len(rows),) * 2)
    for observed, _, data in pattern_blocks(group):
        precision = np.linalg.inv(cov[np.ix_(observed, observed)])
        full_p = np.zeros((p, p))
        full_p[np.ix_(observed, observed)] = precision
        for case in data:
            r = np.zeros(p)
            r[observed] = precision @ (case - mean[observed])
            halves = np.where(rows == columns, 0.5, 1.0)
            score = np.concatenate([r, (r[rows] * r[columns] - full_p[rows, columns])
                                    * halves])
            total += np.outer(score, score)
    np.testing.assert_allclose(moment_score_crossproduct(group, mean, cov),
                               total / group.nobs, rtol=1e-10, atol=1e-12)


def test_h1_information_is_symmetric_positive_definite():
    group = find_patterns(heavy_missing_values())
    mean, cov, _ = em_saturated(group)
    information = h1_information(group, mean, cov)
    np.testing.assert_allclose(information, information.T, atol=1e-12)
    assert np.linalg.eigvalsh(information)[0] > 0


def test_em_stops_at_lavaan_tolerance():
    group = find_patterns(sim_data().filter(like="y").to_numpy(dtype=float))
    _, _, iterations = em_saturated(group)
    # lavaan 0.6.14 needs 19 EM iterations on these data (em.h1.tol 1e-5).
    assert iterations == 19


def test_em_warns_at_iteration_limit():
    group = find_patterns(sim_data().filter(like="y").to_numpy(dtype=float))
    with pytest.warns(lv.ConvergenceWarning, match="stopped after 3 iterations"):
        em_saturated(group, max_iterations=3)
