"""Bootstrap of fits with sampling weights, clusters or FIML.

Each replicate must be the fit that ``lv.sem`` gives on the resampled rows,
the replicates must not depend on the executor, and the bootstrap SEs must
estimate the variance that the fit's sandwich SEs estimate. The command line
must bootstrap the bundled example, which has weights and clusters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import read_dataset

import lio_validate as lv
from lio_validate.bootstrap import (
    _fiml_case_scores,
    _prepare,
    _resample_rows,
    bollen_stine,
    bootstrap,
    replicate_generator,
    unit_influence,
)
from lio_validate.engine import fitted_engine
from lio_validate.fiml import find_patterns, fiml_casewise_scores

SIM_MODEL = """ext =~ ext1 + ext2 + ext3
tra =~ tra1 + tra2 + tra3
par =~ par1 + par2 + par3
aut =~ aut1 + aut2 + aut3
aut ~ par + tra"""
MISSING_MODEL = "fa =~ a1 + a2 + a3\nfb =~ b1 + b2 + b3"
SEED = 2024
# Replicates for the comparisons with the sandwich SEs (about 4 s with
# weights, 10 s under FIML, serially). A bootstrap SE from B replicates has a
# Monte Carlo relative error of about 1 / sqrt(2 (B - 1)): 5 % for 200 and
# 7 % for 100.
NBOOT_WEIGHTED = 200
NBOOT_FIML = 100


def _missing_data() -> pd.DataFrame:
    """Two correlated factors with three items each; 15 % MCAR on four items."""
    rng = np.random.default_rng(1)
    nobs = 300
    factors = rng.standard_normal((nobs, 2)) @ np.linalg.cholesky(
        [[1.0, 0.4], [0.4, 1.0]]).T
    columns = {}
    for k, loading in enumerate((0.8, 0.7, 0.6), start=1):
        noise = np.sqrt(1 - loading**2)
        columns[f"a{k}"] = loading * factors[:, 0] + noise * rng.standard_normal(nobs)
        columns[f"b{k}"] = loading * factors[:, 1] + noise * rng.standard_normal(nobs)
    data = pd.DataFrame(columns)
    for column in ("a2", "a3", "b2", "b3"):
        data.loc[rng.random(nobs) < 0.15, column] = np.nan
    return data


def _fit_quietly(model: str, data: pd.DataFrame, **options):
    with warnings.catch_warnings():
        # MLR with FIML warns that its robust CFI/TLI/RMSEA are not computed.
        warnings.simplefilter("ignore", lv.LioWarning)
        return lv.sem(model, data, **options)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return read_dataset("sim_weights_clusters.csv")


@pytest.fixture(scope="module")
def weighted_fit(sim):
    return lv.sem(SIM_MODEL, sim, weights="w", cluster="org", estimator="MLR")


@pytest.fixture(scope="module")
def weighted_boot(weighted_fit, sim):
    return bootstrap(weighted_fit, sim, nboot=NBOOT_WEIGHTED, seed=SEED)


@pytest.fixture(scope="module")
def missing_data() -> pd.DataFrame:
    return _missing_data()


@pytest.fixture(scope="module")
def fiml_fit(missing_data):
    return _fit_quietly(MISSING_MODEL, missing_data, estimator="MLR", missing="fiml")


@pytest.fixture(scope="module")
def fiml_boot(fiml_fit, missing_data):
    return bootstrap(fiml_fit, missing_data, nboot=NBOOT_FIML, seed=SEED)


def _resample_of_replicate(fit, data, replicate: int, seed: int) -> pd.DataFrame:
    """The data rows that replicate ``replicate`` drew, groups in the fit's order."""
    engine, task = _prepare(fit, data, fit.options.get("cluster"), seed, None)
    rng = replicate_generator(seed, replicate)
    blocks = []
    for (_, values), clusters, index in zip(task.groups, task.clusters,
                                            engine.row_index):
        rows = _resample_rows(rng, len(values), clusters)
        blocks.append(data.loc[index[rows]])
    # A cluster drawn twice keeps one id, so the refit treats its copies as
    # one cluster; that changes only the refit's SEs, not its estimates.
    return pd.concat(blocks, ignore_index=True)


def _assert_estimates_close(actual: np.ndarray, expected: np.ndarray) -> None:
    tolerance = 2e-4 * np.maximum(1.0, np.abs(expected))
    assert np.all(np.abs(actual - expected) <= tolerance), \
        np.max(np.abs(actual - expected))


# --------------------------------------------------------------------------
# Each replicate is the fit of its resample
# --------------------------------------------------------------------------


def test_weighted_replicate_equals_refit(weighted_fit, weighted_boot, sim):
    resample = _resample_of_replicate(weighted_fit, sim, 0, SEED)
    refit = lv.sem(SIM_MODEL, resample, weights="w", cluster="org", estimator="MLR")
    assert weighted_boot.replicates[0] == 0
    _assert_estimates_close(weighted_boot.estimates[0],
                            fitted_engine(refit, resample).x)


def test_two_group_replicate_equals_refit(sim):
    data = sim.assign(region=np.where(sim["org"] % 2 == 0, "even", "odd"))
    options = {"weights": "w", "cluster": "org", "group": "region",
               "group_equal": ["loadings"]}
    fit = lv.sem(SIM_MODEL, data, **options)
    result = bootstrap(fit, data, nboot=2, seed=5)
    resample = _resample_of_replicate(fit, data, 1, 5)
    refit = lv.sem(SIM_MODEL, resample, **options)
    assert tuple(refit.group_names) == tuple(fit.group_names)
    _assert_estimates_close(result.estimates[1], fitted_engine(refit, resample).x)


def test_fiml_replicate_equals_refit(fiml_fit, fiml_boot, missing_data):
    resample = _resample_of_replicate(fiml_fit, missing_data, 0, SEED)
    assert resample.isna().any(axis=1).sum() > 0
    refit = _fit_quietly(MISSING_MODEL, resample, estimator="MLR", missing="fiml")
    _assert_estimates_close(fiml_boot.estimates[0], fitted_engine(refit, resample).x)


def test_fiml_replicate_chisq_equals_refit(fiml_fit, fiml_boot, missing_data):
    resample = _resample_of_replicate(fiml_fit, missing_data, 0, SEED)
    refit = _fit_quietly(MISSING_MODEL, resample, missing="fiml")
    assert fiml_boot.chisq[0] == pytest.approx(refit.fit_measures["chisq"], rel=1e-4)


# --------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["weighted", "fiml"])
def test_joblib_replicates_equal_serial(case, request):
    # Replicate r depends only on (seed, r), so the first six replicates of
    # the serial run must be reproduced exactly by two local processes.
    serial = request.getfixturevalue(f"{case}_boot")
    fit = request.getfixturevalue(f"{case}_fit")
    data = request.getfixturevalue("sim" if case == "weighted" else "missing_data")
    parallel = bootstrap(fit, data, nboot=6, seed=SEED, n_jobs=2, chunk_size=2)
    assert parallel.executor.backend == "joblib"
    np.testing.assert_array_equal(parallel.replicates, np.arange(6))
    np.testing.assert_array_equal(parallel.estimates, serial.estimates[:6])
    np.testing.assert_array_equal(parallel.chisq, serial.chisq[:6])


def test_weighted_bootstrap_other_seed_differs(weighted_fit, weighted_boot, sim):
    other = bootstrap(weighted_fit, sim, nboot=2, seed=SEED + 1)
    assert not np.array_equal(other.estimates, weighted_boot.estimates[:2])


# --------------------------------------------------------------------------
# Bootstrap SEs against the sandwich SEs
# --------------------------------------------------------------------------


def _se_ratios(result, fit) -> np.ndarray:
    bootstrap_se = result.parameter_table(method="percentile")["se"].to_numpy()
    return bootstrap_se / np.sqrt(np.diag(fit.vcov.to_numpy()))


def test_weighted_cluster_se_matches_sandwich(weighted_fit, weighted_boot):
    # The cluster bootstrap of the weighted estimator and the cluster-robust
    # sandwich of the MLR fit estimate the same variance. With 200 replicates
    # each SE ratio has a Monte Carlo error of about 5 %, so the median over
    # the 41 parameters must lie within 10 % of 1 and every ratio within
    # 0.75..1.3 (about 5 Monte Carlo SDs). The unweighted fit's sandwich SEs
    # are 16 % smaller (median), so replicates that dropped the weights would
    # fail the first check.
    assert weighted_boot.nfailed == 0
    ratios = _se_ratios(weighted_boot, weighted_fit)
    assert 0.9 < np.median(ratios) < 1.1
    assert np.all(ratios > 0.75), ratios
    assert np.all(ratios < 1.3), ratios


def test_fiml_se_matches_sandwich(fiml_fit, fiml_boot):
    # The case bootstrap of FIML estimates the variance that the MLR sandwich
    # of the FIML fit estimates. With 100 replicates each ratio has a Monte
    # Carlo error of about 7 %: the median over the 19 parameters must lie
    # within 10 % of 1 and every ratio within 0.7..1.35 (about 4.5 SDs).
    assert fiml_boot.nfailed == 0
    ratios = _se_ratios(fiml_boot, fiml_fit)
    assert 0.9 < np.median(ratios) < 1.1
    assert np.all(ratios > 0.7), ratios
    assert np.all(ratios < 1.35), ratios


@pytest.mark.parametrize("case", ["weighted", "fiml"])
def test_bca_intervals_cover_estimates(case, request):
    result = request.getfixturevalue(f"{case}_boot")
    table = result.parameter_table(method="bca")
    assert np.all(np.isfinite(table[["ci_lower", "ci_upper"]].to_numpy()))
    assert np.all(table["ci_lower"] < table["est"])
    assert np.all(table["est"] < table["ci_upper"])


def test_summary_names_refit(weighted_boot, fiml_boot):
    weighted = weighted_boot.summary()
    assert "resampling: clusters of 'org'" in weighted
    assert "refit: weighted ML" in weighted
    assert "refit: FIML" in fiml_boot.summary()


# --------------------------------------------------------------------------
# Influence values of the BCa acceleration
# --------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"group": "region"}],
                         ids=["one group", "two groups"])
def test_weighted_influence_matches_differences(sim, options):
    # N d theta / d f_i for the frequency f_i of case i, by central
    # differences of refits with the case's weight times 1 +- 0.2. One group
    # without a mean structure checks the centring at the weighted mean. Two
    # groups, whose weights sum to 0.97 n_g and 1.03 n_g, check the scaling of
    # the weights within each group. The difference has an O(step^2) error,
    # about 1e-3 on influence values up to 17.
    data = sim.iloc[:400].assign(
        region=lambda frame: np.where(frame["org"] % 2 == 0, "even", "odd"))
    model = "ext =~ ext1 + ext2 + ext3\ntra =~ tra1 + tra2 + tra3\n" \
        "aut =~ aut1 + aut2 + aut3\naut ~ tra"
    fit = lv.sem(model, data, weights="w", **options)
    engine = fitted_engine(fit, data)
    influence = unit_influence(engine)
    step = 0.2
    for group, case in ((0, 0), (0, 7), (len(influence) - 1, 11)):
        label = engine.row_index[group][case]
        estimates = []
        for factor in (1 + step, 1 - step):
            changed = data.copy()
            changed.loc[label, "w"] *= factor
            refit = lv.sem(model, changed, weights="w", **options)
            estimates.append(fitted_engine(refit, changed).x)
        derivative = fit.nobs * (estimates[0] - estimates[1]) / (2 * step)
        np.testing.assert_allclose(derivative, influence[group][case], rtol=1e-3,
                                   atol=2e-3)


def test_fiml_influence_matches_differences(fiml_fit, missing_data):
    # Central difference in the case's frequency: the data with the case
    # twice against the data without it (step 1 of N = 300). The error is
    # below 1e-3 on influence values up to 4.
    engine = fitted_engine(fiml_fit, missing_data)
    [influence] = unit_influence(engine)
    incomplete = np.flatnonzero(missing_data.isna().any(axis=1).to_numpy())
    for case in (0, int(incomplete[0]), int(incomplete[5])):
        twice = pd.concat([missing_data, missing_data.iloc[[case]]], ignore_index=True)
        without = missing_data.drop(index=case)
        upper = fitted_engine(_fit_quietly(MISSING_MODEL, twice, missing="fiml"), twice)
        lower = fitted_engine(_fit_quietly(MISSING_MODEL, without, missing="fiml"),
                              without)
        derivative = fiml_fit.nobs * (upper.x - lower.x) / 2
        np.testing.assert_allclose(derivative, influence[case], rtol=1e-3, atol=2e-3)


def test_fiml_case_scores_follow_data_rows(fiml_fit, missing_data):
    # The scores are reordered from the pattern order of find_patterns; the
    # score of a single row, computed on its own, must sit in that row.
    engine = fitted_engine(fiml_fit, missing_data)
    [(_, values)] = engine.frames
    [scores] = _fiml_case_scores(engine)
    incomplete = np.flatnonzero(np.isnan(values).any(axis=1))
    for case in (0, 1, int(incomplete[0]), int(incomplete[-1]), len(values) - 1):
        single = fiml_casewise_scores(engine.model, engine.x, 0,
                                      find_patterns(values[[case]]))
        np.testing.assert_allclose(scores[case], single[0], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------


def test_bollen_stine_rejects_weighted_fit(weighted_fit, sim):
    with pytest.raises(lv.LioInputError, match=r"sampling weights \(column 'w'\)"):
        bollen_stine(weighted_fit, sim, nboot=2, seed=1)


def test_bollen_stine_rejects_fiml_fit(fiml_fit, missing_data):
    with pytest.raises(lv.LioInputError, match="missing='fiml'.*complete rows"):
        bollen_stine(fiml_fit, missing_data, nboot=2, seed=1)


def test_weights_with_fiml_rejected():
    # lv.sem never returns such a fit; a result built elsewhere could.
    fit = types.SimpleNamespace(options={"weights": "w", "missing": "fiml"})
    with pytest.raises(lv.LioInputError, match="weights.*missing='fiml'"):
        bootstrap(fit, pd.DataFrame(), nboot=2, seed=1)


# --------------------------------------------------------------------------
# The command line on the bundled example
# --------------------------------------------------------------------------


def test_run_sem_bootstraps_example(tmp_path):
    # The example has sampling weights and organisations as clusters. Twenty
    # replicates on one process keep the run short.
    out = tmp_path / "example"
    completed = subprocess.run(
        [sys.executable, "-m", "lio_validate", "run-sem", "--bootstrap", "20",
         "--seed", "1", "--jobs", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    table = pd.read_csv(out / "bootstrap.csv")
    assert set(table["method"]) == {"percentile", "bca"}
    percentile = table[table["method"] == "percentile"]
    assert len(percentile) == len(table) // 2
    assert np.all(np.isfinite(table[["se", "ci_lower", "ci_upper"]].to_numpy()))
    assert np.all(table["se"] > 0)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["bootstrap"] == 20
    assert manifest["options"]["bootstrap_failures"] == 0
    assert manifest["options"]["weights"] == "weight"
    assert manifest["options"]["cluster"] == "org_id"

    # The weighted cluster bootstrap and the fit's cluster-robust SEs agree
    # on average. With 20 replicates one SE ratio has a Monte Carlo error of
    # about 16 %, but the median over the 117 free parameters is stable to a
    # few per cent; 50 replicates gave a median ratio of 0.98.
    estimates = pd.read_csv(out / "estimates.csv")
    merged = percentile.merge(estimates, on=["lhs", "op", "rhs"],
                              suffixes=("_boot", "_fit"))
    assert len(merged) == len(percentile)
    ratio = np.median(merged["se_boot"] / merged["se_fit"])
    assert 0.8 < ratio < 1.2
