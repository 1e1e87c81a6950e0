"""Bootstrap: reproducible across executors, failures counted, intervals checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_reference

import lio_validate as lv
from lio_validate import ml
from lio_validate.bootstrap import (
    BootstrapWarning,
    _bollen_stine_frames,
    _resample_rows,
    bollen_stine,
    bootstrap,
    bootstrap_interval,
    case_scores,
    replicate_generator,
)
from lio_validate.effects import effect_function
from lio_validate.engine import fitted_engine
from lio_validate.parallel import show_progress
from lio_validate.samplestats import GroupStatistics, SampleStatistics

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
NBOOT = 40


@pytest.fixture(scope="module")
def hs_fit(hs):
    return lv.cfa(HS_MODEL, hs)


@pytest.fixture(scope="module")
def serial(hs_fit, hs):
    return bootstrap(hs_fit, hs, nboot=NBOOT, seed=2024)


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    # Thread workers in this process, but reached over TCP on the loopback
    # interface, as a remote cluster would be.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  host="127.0.0.1", protocol="tcp",
                                  dashboard_address=None) as cluster:
        yield cluster


def _same_intervals(first, second):
    for method in ("percentile", "bca"):
        a = first.parameter_table(method=method)
        b = second.parameter_table(method=method)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


# --------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------


def test_two_local_workers_give_identical_intervals(serial, hs_fit, hs):
    parallel = bootstrap(hs_fit, hs, nboot=NBOOT, seed=2024, n_jobs=2)
    assert parallel.executor.backend == "joblib"
    assert parallel.executor.n_workers == 2
    np.testing.assert_array_equal(parallel.estimates, serial.estimates)
    _same_intervals(serial, parallel)


def test_dask_client_gives_identical_intervals(serial, hs_fit, hs, dask_cluster):
    distributed = pytest.importorskip("distributed")
    assert dask_cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    with distributed.Client(dask_cluster, set_as_default=False) as client:
        result = bootstrap(hs_fit, hs, nboot=NBOOT, seed=2024, scheduler=client)
    assert result.executor.backend == "dask"
    np.testing.assert_array_equal(result.estimates, serial.estimates)
    _same_intervals(serial, result)


def test_dask_address_gives_identical_intervals(serial, hs_fit, hs, dask_cluster):
    result = bootstrap(hs_fit, hs, nboot=NBOOT, seed=2024,
                       scheduler=dask_cluster.scheduler_address, chunk_size=7)
    np.testing.assert_array_equal(result.estimates, serial.estimates)
    _same_intervals(serial, result)


def test_chunk_size_does_not_change_results(serial, hs_fit, hs):
    # Replicate r depends only on (seed, r), so a shorter run reproduces the
    # first replicates of a longer one.
    result = bootstrap(hs_fit, hs, nboot=8, seed=2024, chunk_size=3)
    np.testing.assert_array_equal(result.estimates, serial.estimates[:8])


def test_other_seed_other_replicates(serial, hs_fit, hs):
    result = bootstrap(hs_fit, hs, nboot=8, seed=2025)
    assert not np.array_equal(result.estimates, serial.estimates[:8])


def test_replicate_stream_is_seedsequence_child():
    children = np.random.SeedSequence(7).spawn(5)
    for replicate in (0, 4):
        expected = np.random.default_rng(children[replicate]).integers(0, 10**9, 5)
        actual = replicate_generator(7, replicate).integers(0, 10**9, 5)
        np.testing.assert_array_equal(actual, expected)


# --------------------------------------------------------------------------
# Replicates and failures
# --------------------------------------------------------------------------


def test_all_replicates_accounted_for(serial):
    assert serial.nfailed == 0
    np.testing.assert_array_equal(serial.replicates, np.arange(NBOOT))
    assert serial.estimates.shape == (NBOOT, 21)
    assert np.all(np.isfinite(serial.chisq))


def test_failed_replicates_counted_and_reported():
    # Six cases of three items: a resample with fewer than four distinct
    # cases has a singular covariance matrix, so some replicates must fail.
    # Seed 5 gives a full-sample fit without a Heywood case.
    rng = np.random.default_rng(5)
    data = pd.DataFrame(rng.standard_normal((6, 3)) @ np.array(
        [[1.0, 0.6, 0.5], [0.0, 0.8, 0.3], [0.0, 0.0, 0.8]]), columns=["a", "b", "c"])
    fit = lv.cfa("f =~ a + b + c", data)
    with pytest.warns(BootstrapWarning, match="bootstrap replicates failed"):
        result = bootstrap(fit, data, nboot=15, seed=1)
    assert result.nfailed > 0
    assert result.nfailed + len(result.estimates) == 15
    reasons = " ".join(failure.reason for failure in result.failures)
    assert "not positive definite" in reasons
    failed = {failure.replicate for failure in result.failures}
    assert failed.isdisjoint(set(result.replicates.tolist()))
    assert "Failed replicates:" in result.summary()


def test_groups_resampled_within_themselves(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school")
    result = bootstrap(fit, hs, nboot=6, seed=4)
    table = result.parameter_table(method="percentile")
    assert set(table["group"]) == set(fit.group_names)
    assert result.estimates.shape == (6, fit.vcov.shape[0])


def test_cluster_resampling_keeps_clusters_whole():
    rng = np.random.default_rng(0)
    clusters = (np.array([0, 1, 2]), np.array([3, 4]), np.array([5, 6, 7, 8]))
    rows = _resample_rows(rng, 9, clusters)
    groups = [tuple(rows[k:k + 1]) for k in range(len(rows))]
    assert groups
    position = 0
    while position < len(rows):
        member = next(c for c in clusters if rows[position] == c[0])
        np.testing.assert_array_equal(rows[position:position + len(member)], member)
        position += len(member)


def test_cluster_bootstrap_runs_and_differs(hs_fit, hs, serial):
    data = hs.assign(classroom=np.arange(len(hs)) // 10)
    result = bootstrap(hs_fit, data, nboot=NBOOT, seed=2024, cluster="classroom")
    assert result.cluster == "classroom"
    assert len(result._influence_of_parameters) == data["classroom"].nunique()
    assert not np.array_equal(result.estimates, serial.estimates)
    table = result.parameter_table(method="bca")
    assert np.all(np.isfinite(table["ci_lower"]))


def test_cluster_with_missing_id_rejected(hs_fit, hs):
    data = hs.assign(classroom=np.arange(len(hs)) // 10)
    data.loc[5, "classroom"] = np.nan
    with pytest.raises(lv.DataError, match="classroom"):
        bootstrap(hs_fit, data, nboot=4, seed=1, cluster="classroom")


# --------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------


def test_case_scores_sum_to_gradient(hs_fit, hs):
    engine = fitted_engine(hs_fit, hs)
    scores = case_scores(engine)[0]
    # The scores are derivatives of the log-likelihood, N times -d fmin.
    expected = -engine.stats.nobs * ml.gradient(engine.model, engine.stats, engine.x)
    np.testing.assert_allclose(scores.sum(axis=0), expected, atol=1e-9)


def _weighted_refit(engine, values, weights):
    mean = weights @ values / weights.sum()
    centred = values - mean
    cov = (centred * weights[:, None]).T @ centred / weights.sum()
    group = GroupStatistics("", len(values), mean, cov,
                            float(np.linalg.slogdet(cov)[1]))
    stats = SampleStatistics(engine.stats.variables, (group,), False)
    return ml.fit_ml(engine.model, stats, engine.x.copy()).x


def test_influence_is_derivative_of_case_weight(hs_fit, hs):
    # The influence H^-1 s_i that the BCa acceleration uses is N times the
    # derivative of the estimate with respect to case i's weight.
    engine = fitted_engine(hs_fit, hs)
    hessian = ml.observed_information(engine.model, engine.stats, engine.x)
    influence = np.linalg.solve(hessian, case_scores(engine)[0].T).T
    [(_, values)] = engine.frames
    # A step this large keeps the optimiser's own tolerance (about 1e-8 in the
    # gradient) small against the change; the central difference has an
    # O(step^2) error.
    nobs, step = len(values), 0.2
    for case in (0, 150, 300):
        up, down = np.ones(nobs), np.ones(nobs)
        up[case], down[case] = 1 + step, 1 - step
        derivative = (_weighted_refit(engine, values, up)
                      - _weighted_refit(engine, values, down)) / (2 * step)
        np.testing.assert_allclose(nobs * derivative, influence[case], rtol=1e-3,
                                   atol=1e-5)


def test_percentile_interval_is_quantiles():
    rng = np.random.default_rng(1)
    replicates = rng.standard_normal((999, 2))
    lower, upper = bootstrap_interval(replicates, np.zeros(2), None,
                                      method="percentile", level=0.9)
    np.testing.assert_allclose(lower, np.quantile(replicates, 0.05, axis=0))
    np.testing.assert_allclose(upper, np.quantile(replicates, 0.95, axis=0))


def test_bca_without_bias_or_skew_is_percentile():
    # Replicates symmetric around the estimate (z0 = 0) and symmetric
    # influence values (a = 0) make BCa equal to the percentile interval.
    values = np.concatenate([np.linspace(-2, -0.01, 500), np.linspace(0.01, 2, 500)])
    replicates = values[:, None]
    influence = np.array([[-1.0], [1.0], [-2.0], [2.0]])
    bca = bootstrap_interval(replicates, np.zeros(1), influence, method="bca")
    percentile = bootstrap_interval(replicates, np.zeros(1), None,
                                    method="percentile")
    np.testing.assert_allclose(bca, percentile)


def test_bca_follows_efron_formula():
    rng = np.random.default_rng(5)
    replicates = rng.gamma(3.0, size=(2000, 1))
    estimate = np.array([2.8])
    influence = rng.gamma(2.0, size=(50, 1)) - 2.0
    lower, upper = bootstrap_interval(replicates, estimate, influence, method="bca")
    from scipy.stats import norm
    z0 = norm.ppf(np.mean(replicates[:, 0] < estimate[0]))
    a = np.sum(influence**3) / (6 * np.sum(influence**2) ** 1.5)
    for limit, q in ((lower, 0.025), (upper, 0.975)):
        z = norm.ppf(q)
        adjusted = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
        np.testing.assert_allclose(limit, np.quantile(replicates[:, 0], adjusted))


def test_parameter_table_has_defined_parameters(political_democracy):
    reference = load_reference("pd_sem_defined")
    fit = lv.sem(reference["model"], political_democracy)
    result = bootstrap(fit, political_democracy, nboot=30, seed=11)
    table = result.parameter_table(method="percentile")
    defined = table[table["op"] == ":="].set_index("lhs")
    assert list(defined.index) == ["ind", "tot"]
    np.testing.assert_allclose(defined.loc["ind", "est"],
                               fit.defined().set_index("lhs").loc["ind", "est"])
    assert np.all(defined["ci_lower"] < defined["est"])
    assert np.all(defined["est"] < defined["ci_upper"])

    names, function = effect_function(result.engine, "ind60", "dem65")
    effects = result.intervals(function, names, method="bca")
    row = effects.set_index("name").loc["ind60 -> dem60 -> dem65"]
    np.testing.assert_allclose(row["est"], defined.loc["ind", "est"], rtol=1e-12)
    np.testing.assert_allclose(row["se"], defined.loc["ind", "se"], rtol=1e-12)


def test_unknown_interval_method(serial):
    with pytest.raises(lv.LioInputError, match="percentile"):
        serial.intervals(method="basic")


# --------------------------------------------------------------------------
# Bollen-Stine
# --------------------------------------------------------------------------


def test_transformed_data_fit_exactly(hs_fit, hs):
    engine = fitted_engine(hs_fit, hs)
    [(_, values)] = _bollen_stine_frames(engine)
    centred = values - values.mean(axis=0)
    implied = engine.model.implied(engine.x, 0).sigma
    np.testing.assert_allclose(centred.T @ centred / len(values), implied, atol=1e-10)


def test_bollen_stine_rejects_misfit_model(hs_fit, hs):
    result = bollen_stine(hs_fit, hs, nboot=NBOOT, seed=8)
    assert result.pvalue == 0.0
    assert len(result.chisq_replicates) + len(result.failures) == NBOOT
    # Under the transformed data the model holds, so the replicates centre
    # near df = 24, far below the sample's 85.3.
    assert 15 < np.median(result.chisq_replicates) < 35
    assert "bootstrap p-value" in result.summary()


def test_bollen_stine_keeps_fitting_model():
    # Seed 13 gives a sample whose chi-square p-value is 0.49.
    rng = np.random.default_rng(13)
    factor = rng.standard_normal(400)
    data = pd.DataFrame({f"y{k}": 0.7 * factor + rng.standard_normal(400)
                         for k in range(1, 5)})
    fit = lv.cfa("f =~ y1 + y2 + y3 + y4", data)
    assert fit.fit_measures["pvalue"] > 0.4
    result = bollen_stine(fit, data, nboot=NBOOT, seed=9)
    assert result.pvalue > 0.2


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def test_progress_bar_off_without_terminal():
    assert show_progress(None) is False
    assert show_progress(True) is True


def test_progress_bar_can_be_forced(hs_fit, hs, capsys):
    bootstrap(hs_fit, hs, nboot=3, seed=1, progress=True)
    assert "bootstrap" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    ({"nboot": 1}, "nboot"),
    ({"seed": -3}, "seed"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"n_jobs": 2, "scheduler": "tcp://127.0.0.1:1"}, "not both"),
    ({"scheduler": "127.0.0.1:8786"}, "address"),
    ({"chunk_size": 0}, "chunk_size"),
])
def test_invalid_options_rejected(hs_fit, hs, options, message):
    settings = {"nboot": 4, "seed": 1, **options}
    with pytest.raises(lv.LioInputError, match=message):
        bootstrap(hs_fit, hs, **settings)


def test_data_required(hs_fit):
    with pytest.raises(lv.LioInputError, match="data"):
        bootstrap(hs_fit, None, nboot=4)
