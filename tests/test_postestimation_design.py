"""Post-estimation tools on weighted, clustered and FIML fits against lavaan 0.6.14.

The references come from tests/reference/postestimation_design_references.R:
modification indices, raw, correlation and normalized residuals, score tests
of equality constraints and a defined indirect effect. Each tool is compared
twice: at this package's own estimates, with the tolerances of the estimates,
and at lavaan's estimates (and, under FIML, lavaan's EM moments), where the
formulas must agree to rounding error.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import read_dataset
from reference_loader import load_reference, reference_matrix

import lio_validate as lv
from lio_validate.bootstrap import bollen_stine, bootstrap
from lio_validate.effects import indirect_effects
from lio_validate.engine import fitted_engine
from lio_validate.modindices import modindices
from lio_validate.partial_invariance import _release_space, _ScoreStatistic, score_tests
from lio_validate.residuals import residuals
from lio_validate.samplestats import GroupStatistics, SampleStatistics

# The package exports the function residuals under the module's name, so the
# module itself is taken from the import system.
residuals_module = importlib.import_module("lio_validate.residuals")

DIAGNOSTICS = (
    "sim_weighted_ml_diagnostics",
    "sim_cluster_ml_diagnostics",
    "sim_weighted_cluster_mlr_diagnostics",
    "hs_cfa_mlr_diagnostics",
    "hsm_cfa_fiml_ml_diagnostics",
    "hsm_cfa_fiml_mlr_diagnostics",
)
FIML = tuple(name for name in DIAGNOSTICS if "fiml" in name)
RESIDUAL_TYPES = ("raw", "cor", "normalized")
# (reference, residual type) where lavaan gives residuals; for clustered fits
# lavaan 0.6.14 stops with an error on normalized ones, stored in the file.
RESIDUAL_CASES = [
    (name, kind) for name in DIAGNOSTICS for kind in RESIDUAL_TYPES
    if not load_reference(name)["extra"][f"residuals_{kind}"]["error"]
]

# lavaan's option names in the reference files, as keywords of lv.sem.
_OPTION_NAMES = {"weights": "weights", "cluster": "cluster", "estimator": "estimator",
                 "missing": "missing", "group": "group", "group.equal": "group_equal"}


def _reference_data(reference) -> pd.DataFrame:
    data = read_dataset(reference["data_file"])
    # HSm: the values that R's set.seed(1) made missing, stored 1-based.
    for column, rows in reference["extra"].get("missing_rows_1based", {}).items():
        data.loc[np.array(rows) - 1, column] = np.nan
    return data


@functools.lru_cache(maxsize=None)
def _case(name: str):
    reference = load_reference(name)
    data = _reference_data(reference)
    options = {_OPTION_NAMES[key]: value for key, value in reference["options"].items()}
    with warnings.catch_warnings():
        # MLR with FIML warns that its robust CFI/TLI/RMSEA are not computed.
        warnings.simplefilter("ignore", lv.LioWarning)
        fit = lv.sem(reference["model"], data, **options)
    return reference, fit, data


def _at_lavaan_estimates(fit, reference):
    """The fit with every estimate replaced by lavaan's (matched by row)."""
    key = ["lhs", "op", "rhs", "group"]
    merged = fit.estimates.merge(reference["estimates"][key + ["est"]], on=key,
                                 how="left", suffixes=("", "_lavaan"))
    assert merged["est_lavaan"].notna().all()
    estimates = fit.estimates.copy()
    estimates["est"] = merged["est_lavaan"].to_numpy()
    return dataclasses.replace(fit, estimates=estimates)


def _lavaan_modindices(reference) -> pd.DataFrame:
    table = pd.DataFrame(reference["extra"]["modindices"])
    return table.rename(columns={"sepc.lv": "sepc_lv", "sepc.all": "sepc_all",
                                 "sepc.nox": "sepc_nox"})


def _estimate_tolerance(expected: pd.Series) -> np.ndarray:
    return 2e-4 * np.maximum(1.0, np.abs(expected.to_numpy(dtype=float)))


# --------------------------------------------------------------------------
# Modification indices
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_modindices_rows_equal_lavaan(name):
    reference, fit, data = _case(name)
    ours = modindices(fit, data).table
    expected = _lavaan_modindices(reference)
    keys = ["lhs", "op", "rhs"]
    assert ours[keys].values.tolist() == expected[keys].values.tolist()


@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_modindices_near_lavaan(name):
    # MI and EPC are functions of the estimates, so they get the estimates'
    # tolerance, 2e-4 x max(1, |v|).
    reference, fit, data = _case(name)
    ours = modindices(fit, data).table
    expected = _lavaan_modindices(reference)
    for column in ("mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"):
        difference = np.abs(ours[column].to_numpy() - expected[column].to_numpy())
        assert np.all(difference <= _estimate_tolerance(expected[column])), column


@pytest.mark.parametrize("name", DIAGNOSTICS)
def test_modindices_exact_at_lavaan_estimates(name):
    reference, fit, data = _case(name)
    ours = modindices(_at_lavaan_estimates(fit, reference), data).table
    expected = _lavaan_modindices(reference)
    for column in ("mi", "epc", "sepc_all"):
        np.testing.assert_allclose(ours[column], expected[column], rtol=1e-8,
                                   atol=1e-10, err_msg=column)


def test_modindices_of_clustered_fit_need_data():
    _, fit, _ = _case("sim_cluster_ml_diagnostics")
    with pytest.raises(lv.LioInputError, match="data="):
        modindices(fit)


def test_modindices_reject_other_weights():
    _, fit, data = _case("sim_weighted_ml_diagnostics")
    unweighted = data.assign(w=1.0)
    with pytest.raises(lv.DataError, match="same weight column"):
        modindices(fit, unweighted)


def test_fiml_modindices_keep_incomplete_rows():
    _, fit, data = _case("hsm_cfa_fiml_ml_diagnostics")
    assert modindices(fit, data).nobs == 301
    with pytest.raises(lv.DataError, match="usable rows"):
        modindices(fit, data.dropna())


# --------------------------------------------------------------------------
# Residuals
# --------------------------------------------------------------------------


def _expected_parts(reference, kind: str):
    entry = reference["extra"][f"residuals_{kind}"]
    values = entry["values"]
    expected_cov = reference_matrix(values["cov"])
    expected_mean = pd.Series(values["mean"]) if "mean" in values else None
    return expected_cov, expected_mean


@pytest.mark.parametrize(("name", "kind"), RESIDUAL_CASES)
def test_residuals_near_lavaan(name, kind):
    reference, fit, data = _case(name)
    result = residuals(fit, data, type=kind)
    expected_cov, expected_mean = _expected_parts(reference, kind)
    ours = result.cov[0].loc[expected_cov.index, expected_cov.columns]
    # Residuals are differences of moments, so the distance between the two
    # optimisers' stopping points enters undivided. Under FIML the distance
    # between the EM moments enters too, because lavaan's EM stops 3e-6 short
    # of this package's. Normalized residuals scale both by 1 / SE (about 10
    # here), so they get the 1e-4 of the normalized-residual tests of ML fits.
    tolerance = 1e-4 if kind == "normalized" else 2e-5
    np.testing.assert_allclose(ours.to_numpy(), expected_cov.to_numpy(), rtol=0,
                               atol=tolerance)
    if expected_mean is None:
        assert result.mean is None
    else:
        np.testing.assert_allclose(result.mean[0][expected_mean.index], expected_mean,
                                   rtol=0, atol=tolerance)


def _engine_at_lavaan_h1(reference, fit, data):
    """The fit's engine at lavaan's estimates, with lavaan's EM moments under FIML."""
    engine = fitted_engine(_at_lavaan_estimates(fit, reference), data)
    if "h1" not in reference["extra"]:
        return engine
    h1 = reference["extra"]["h1"]
    cov = reference_matrix(h1["cov"]).loc[list(engine.stats.variables),
                                          list(engine.stats.variables)].to_numpy()
    mean = pd.Series(h1["mean"])[list(engine.stats.variables)].to_numpy()
    group = engine.stats.groups[0]
    stats = SampleStatistics(engine.stats.variables,
                             (GroupStatistics(group.name, group.nobs, mean, cov,
                                              float(np.linalg.slogdet(cov)[1])),),
                             engine.stats.wishart)
    return dataclasses.replace(engine, stats=stats)


@pytest.mark.parametrize(("name", "kind"), RESIDUAL_CASES)
def test_residuals_exact_at_lavaan_moments(name, kind, monkeypatch):
    reference, fit, data = _case(name)
    engine = _engine_at_lavaan_h1(reference, fit, data)
    monkeypatch.setattr(residuals_module, "fitted_engine",
                        lambda *args, **kwargs: engine)
    result = residuals(fit, data, type=kind)
    expected_cov, expected_mean = _expected_parts(reference, kind)
    ours = result.cov[0].loc[expected_cov.index, expected_cov.columns]
    np.testing.assert_allclose(ours.to_numpy(), expected_cov.to_numpy(), rtol=1e-8,
                               atol=1e-10)
    if expected_mean is not None:
        np.testing.assert_allclose(result.mean[0][expected_mean.index], expected_mean,
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", FIML)
def test_fiml_h1_moments_near_lavaan(name):
    # The EM moments differ from lavaan's by lavaan's EM stopping rule; this
    # package's reach a log-likelihood higher by about 3e-9.
    reference, fit, data = _case(name)
    stats = fitted_engine(fit, data).stats
    h1 = reference["extra"]["h1"]
    expected_cov = reference_matrix(h1["cov"])
    np.testing.assert_allclose(stats.groups[0].cov, expected_cov.to_numpy(), rtol=0,
                               atol=2e-5)
    np.testing.assert_allclose(stats.groups[0].mean, pd.Series(h1["mean"]), rtol=0,
                               atol=2e-5)


@pytest.mark.parametrize("name", ["sim_cluster_ml_diagnostics",
                                  "sim_weighted_cluster_mlr_diagnostics"])
def test_normalized_residuals_rejected_with_cluster(name):
    reference, fit, data = _case(name)
    assert reference["extra"]["residuals_normalized"]["error"]
    with pytest.raises(lv.LioInputError, match="cluster column 'org'"):
        residuals(fit, data, type="normalized")


def test_weighted_normalized_residuals_need_data():
    _, fit, _ = _case("sim_weighted_ml_diagnostics")
    with pytest.raises(lv.LioInputError, match="fourth moments"):
        residuals(fit, type="normalized")


def test_weighted_raw_residuals_use_weighted_moments():
    _, fit, data = _case("sim_weighted_ml_diagnostics")
    result = residuals(fit, type="raw")
    np.testing.assert_allclose(result.cov[0], fit.sample_cov - fit.implied_cov,
                               atol=1e-12)
    weights = data["w"].to_numpy()
    items = data[list(fit.observed_variables)].to_numpy()
    mean = weights @ items / weights.sum()
    centred = items - mean
    weighted_cov = centred.T @ (centred * weights[:, None]) / weights.sum()
    np.testing.assert_allclose(fit.sample_cov.to_numpy(), weighted_cov, atol=1e-10)


def test_standardized_residuals_named_unavailable():
    _, fit, data = _case("hsm_cfa_fiml_ml_diagnostics")
    with pytest.raises(lv.LioInputError, match="standardized"):
        residuals(fit, data, type="standardized")


def test_correlation_residual_summary():
    _, fit, data = _case("sim_cluster_ml_diagnostics")
    text = residuals(fit, data, type="cor").summary(n=3)
    assert text.startswith("Correlation residuals, the 3 largest")


# --------------------------------------------------------------------------
# Score tests under MLR with FIML
# --------------------------------------------------------------------------


def _lavaan_score_tables(reference):
    univariate = pd.DataFrame(reference["extra"]["score_univariate"])
    by_parameter = pd.DataFrame(reference["extra"]["score_by_parameter"])
    return univariate, by_parameter


def test_fiml_score_tests_near_lavaan():
    reference, fit, data = _case("hsm_mg_metric_fiml_mlr_score")
    univariate, by_parameter = _lavaan_score_tables(reference)
    tests = score_tests(fit, data)
    merged = tests.univariate.merge(
        univariate, left_on=["lhs", "op", "rhs", "group", "reference_group"],
        right_on=["lhs", "op", "rhs", "group_rhs", "group_lhs"])
    assert len(merged) == len(univariate) == 6
    # Score statistics are scaled statistics of the estimates: 1e-3 relative.
    np.testing.assert_allclose(merged["X2_x"], merged["X2_y"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(merged["pvalue"], merged["p_value"], rtol=1e-3,
                               atol=1e-6)
    merged = tests.by_parameter.merge(by_parameter, on=["lhs", "op", "rhs"])
    assert len(merged) == len(by_parameter)
    np.testing.assert_allclose(merged["X2_x"], merged["X2_y"], rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(merged["df_x"], merged["df_y"])


def test_fiml_score_tests_exact_at_lavaan_estimates():
    reference, fit, data = _case("hsm_mg_metric_fiml_mlr_score")
    univariate, _ = _lavaan_score_tables(reference)
    at_lavaan = _at_lavaan_estimates(fit, reference)
    tests = score_tests(at_lavaan, data)
    merged = tests.univariate.merge(univariate, on=["lhs", "op", "rhs"])
    np.testing.assert_allclose(merged["X2_x"], merged["X2_y"], rtol=1e-7)

    space = _release_space(at_lavaan, data)
    total, _ = _ScoreStatistic(space).test(list(range(len(space.constraints))))
    expected_total = reference["extra"]["score_total"]["X2"][0]
    assert total == pytest.approx(expected_total, rel=1e-7)


def test_fiml_score_tests_equal_ml_on_complete_data(hs):
    model = load_reference("hsm_mg_metric_fiml_mlr_score")["model"]
    ml_fit = lv.cfa(model, hs, group="school", group_equal=["loadings"])
    fiml_fit = lv.cfa(model, hs, group="school", group_equal=["loadings"],
                      missing="fiml")
    ml_tests = score_tests(ml_fit, hs).univariate
    fiml_tests = score_tests(fiml_fit, hs).univariate
    np.testing.assert_allclose(fiml_tests["X2"], ml_tests["X2"], rtol=1e-5)


def test_score_tests_reject_weighted_fit():
    _, fit, data = _case("sim_weighted_ml_diagnostics")
    with pytest.raises(lv.LioInputError, match="weights='w'"):
        score_tests(fit, data)


# --------------------------------------------------------------------------
# Indirect effects
# --------------------------------------------------------------------------


def test_indirect_effect_of_weighted_clustered_fit_equals_lavaan():
    reference, fit, _ = _case("sim_weighted_cluster_mlr_indirect")
    table = indirect_effects(fit, "tra", "aut").table.set_index("kind")
    expected = reference["estimates"].set_index("lhs")
    for kind, name in (("total indirect", "ind"), ("total", "total")):
        want = expected.loc[name]
        assert table.at[kind, "est"] == pytest.approx(
            want["est"], abs=2e-4 * max(1.0, abs(want["est"]))), kind
        assert table.at[kind, "se"] == pytest.approx(want["se"], rel=1e-3), kind


# --------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------


def test_bollen_stine_rejects_weighted_fit():
    # Resampling weighted and FIML fits is tested in test_bootstrap_design.py;
    # the Bollen-Stine transformation assumes complete unweighted data.
    _, fit, data = _case("sim_weighted_ml_diagnostics")
    with pytest.raises(lv.LioInputError, match="sampling weights"):
        bollen_stine(fit, data, nboot=2, seed=1)


def test_bootstrap_of_clustered_fit_resamples_its_clusters():
    _, fit, data = _case("sim_cluster_ml_diagnostics")
    result = bootstrap(fit, data, nboot=200, seed=3)
    assert result.cluster == "org"
    assert "clusters of 'org'" in result.summary()
    explicit = bootstrap(fit, data, nboot=200, seed=3, cluster="org")
    np.testing.assert_array_equal(result.estimates, explicit.estimates)

    # The cluster bootstrap estimates the same sampling variance as the
    # cluster-robust sandwich. With 200 replicates a bootstrap SE has a Monte
    # Carlo error of about 5 %, so the median ratio over the parameters is
    # checked against a 15 % band.
    bootstrap_se = result.parameter_table(method="percentile")["se"].to_numpy()
    robust_se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    ratio = np.median(bootstrap_se / robust_se)
    assert 0.85 < ratio < 1.15
