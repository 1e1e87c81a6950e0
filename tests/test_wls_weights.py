"""Ordinal fits with sampling weights and clusters against lavaan 0.6.14.

The references come from tests/reference/wlsmv_weights_references.R, which
also writes the data they use (tests/reference/wlsmv_weights_data.csv: bfi
with a weight column ``w`` and a cluster column ``org``). lavaan 0.6.14
ignores ``cluster`` for ordinal items. So the script computes a
cluster-robust Gamma by the rule of the lavaan development version 0.7-2
from lavaan 0.6.14's own casewise scores, and hands it to lavaan 0.6.14 as
NACOV for the clustered references.

Tolerances are those of tests/test_wls.py: estimates within 2e-4 x max(1,
|value|), standard errors and the covariance matrix of the estimates within
1e-3 relative, fit measures within 1e-4 relative. lavaan computes p-values as
1 - pchisq(), which loses everything below about 1e-16, so p-values are
compared in absolute terms.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import REFERENCE_DIR, load_reference, reference_matrix

from lio_validate import polychoric
from lio_validate.api import sem
from lio_validate.exceptions import (
    DataError,
    DataWarning,
    LioInputError,
    ListwiseDeletionWarning,
)
from lio_validate.ordinal_data import encode_ordinal_items
from lio_validate.polychoric import ordinal_sample_statistics
from lio_validate.wls import fit_dwls

AC_ITEMS = [f"A{k}" for k in range(1, 6)] + [f"C{k}" for k in range(1, 6)]
AC_MODEL = """
A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
"""

REFERENCES = [
    "wlsmv_weights_weighted",
    "wlsmv_weights_dwls_weighted",
    "wlsmv_weights_weighted_gender",
    "wlsmv_weights_cluster",
    "wlsmv_weights_weighted_cluster",
    "wlsmv_weights_ulsmv_weighted_cluster",
]

PVALUES = {"pvalue", "pvalue_scaled", "baseline_pvalue", "baseline_pvalue_scaled",
           "rmsea_pvalue", "rmsea_notclose_pvalue", "rmsea_pvalue_scaled",
           "rmsea_notclose_pvalue_scaled", "rmsea_pvalue_robust",
           "rmsea_notclose_pvalue_robust"}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "wlsmv_weights_data.csv")


def fit_quietly(data, **options):
    with warnings.catch_warnings():
        # bfi has missing values; lavaan drops those rows too (listwise).
        warnings.simplefilter("ignore", ListwiseDeletionWarning)
        return fit_dwls(AC_MODEL, data, AC_ITEMS, **options)


@pytest.fixture(scope="module", params=REFERENCES)
def pair(request, data):
    reference = load_reference(request.param)
    options = reference["options"]
    fit = fit_quietly(data, estimator=options["estimator"],
                      group=options.get("group"),
                      sampling_weights=options.get("sampling.weights"),
                      cluster=options.get("cluster"))
    return reference, fit


def per_group(record, fit):
    """Return a per-group stored entry as a list in the fit's group order."""
    if len(fit.group_names) == 1:
        return [record]
    return [record[name] for name in fit.group_names]


def merged_estimates(reference, fit) -> pd.DataFrame:
    theirs = reference["estimates"].copy()
    theirs["group"] = theirs["group"].astype(str)
    return theirs.merge(fit.estimates, on=["lhs", "op", "rhs", "group"],
                        how="outer", suffixes=("_lavaan", ""), indicator=True)


# --------------------------------------------------------------------------
# Agreement with lavaan
# --------------------------------------------------------------------------


def test_fit_converged(pair):
    _, fit = pair
    assert fit.converged
    assert fit.max_abs_gradient < 1e-8


def test_same_parameter_rows(pair):
    reference, fit = pair
    merged = merged_estimates(reference, fit)
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, unmatched[["lhs", "op", "rhs", "_merge"]].to_string()


def test_estimates_match(pair):
    reference, fit = pair
    merged = merged_estimates(reference, fit)
    tolerance = 2e-4 * np.maximum(1.0, np.abs(merged["est_lavaan"]))
    bad = merged[np.abs(merged["est"] - merged["est_lavaan"]) > tolerance]
    assert bad.empty, bad[["lhs", "op", "rhs", "est", "est_lavaan"]].to_string()


def test_standard_errors_match(pair):
    reference, fit = pair
    merged = merged_estimates(reference, fit)
    free = merged["se_lavaan"] > 0
    np.testing.assert_allclose(merged.loc[free, "se"], merged.loc[free, "se_lavaan"],
                               rtol=1e-3)
    assert (merged.loc[~free, "se"] == 0).all()


def test_vcov_matches(pair):
    reference, fit = pair
    expected = reference_matrix(reference["extra"]["vcov"])
    if len(fit.group_names) == 1:
        assert list(fit.vcov.index) == list(expected.index)
    scale = np.abs(np.diag(expected.to_numpy()))
    np.testing.assert_allclose(fit.vcov.to_numpy(), expected.to_numpy(), rtol=0,
                               atol=1e-3 * scale.max())
    np.testing.assert_allclose(np.diag(fit.vcov.to_numpy()), scale, rtol=2e-3)


# lavaan stops the two-group fit early: its largest gradient at its
# estimates is 2e-6, and the fit function there is 5e-12 above the minimum
# found here. The estimates then differ by up to 4e-6 relative, which moves
# the steep robust not-close RMSEA p-value (0.87) by 1.5e-6.
PVALUE_TOLERANCE = {"wlsmv_weights_weighted_gender": 5e-6}


def test_fit_measures_match(pair):
    reference, fit = pair
    expected = reference["fit_measures"]
    pvalue_tolerance = PVALUE_TOLERANCE.get(reference["name"], 1e-6)
    compared = 0
    for name, value in fit.fit_measures.items():
        lavaan_name = name.replace("_", ".")
        if lavaan_name not in expected:
            continue
        compared += 1
        if expected[lavaan_name] is None:
            assert np.isnan(value), name
        elif name in PVALUES:
            assert value == pytest.approx(expected[lavaan_name],
                                          abs=pvalue_tolerance), name
        else:
            assert value == pytest.approx(expected[lavaan_name], rel=1e-4,
                                          abs=1e-10), name
    assert compared >= 20 if "chisq.scaled" in expected else compared >= 14


def test_scaled_test_parts_match(pair):
    reference, fit = pair
    test = reference["extra"]["test"].get("scaled.shifted")
    if test is None:
        pytest.skip("no scaled-shifted test in this fit")
    assert fit.fit_measures["chisq_shift_parameter"] == pytest.approx(
        test["shift.parameter"], rel=1e-4)
    assert fit.fit_measures["chisq_scaling_factor"] == pytest.approx(
        test["scaling.factor"], rel=1e-4)


def test_thresholds_and_polychorics_match(pair):
    reference, fit = pair
    for ours, theirs in zip(fit.sample, per_group(reference["extra"]["sample"], fit)):
        np.testing.assert_allclose(ours.thresholds, list(theirs["th"].values()),
                                   atol=1e-10)
        np.testing.assert_allclose(ours.correlation,
                                   reference_matrix(theirs["cov"]).to_numpy(),
                                   atol=1e-7)


def test_gamma_matches(pair):
    reference, fit = pair
    stored = reference["extra"].get("gamma")
    if stored is None:
        pytest.skip("no Gamma stored for this fit")
    for ours, theirs in zip(fit.sample, per_group(stored, fit)):
        expected = reference_matrix(theirs).to_numpy()
        assert list(ours.statistic_names) == list(reference_matrix(theirs).index)
        np.testing.assert_allclose(ours.gamma, expected, rtol=0,
                                   atol=1e-6 * np.abs(expected).max())


def test_dwls_weights_ignore_clusters(pair):
    reference, fit = pair
    if reference["options"]["estimator"] == "ULSMV":
        pytest.skip("ULSMV weights every statistic by 1")
    if "wls_v_diagonal" not in reference["extra"]:
        pytest.skip("no DWLS weights stored for this fit")
    stored = per_group(reference["extra"]["wls_v_diagonal"], fit)
    for sample, expected in zip(fit.sample, stored):
        np.testing.assert_allclose(1.0 / sample.independent_gamma_diagonal, expected,
                                   rtol=1e-5)


def test_cluster_count_matches(pair):
    reference, fit = pair
    expected = reference["extra"].get("nclusters")
    if expected is None:
        assert all(sample.nclusters is None for sample in fit.sample)
        return
    assert [sample.nclusters for sample in fit.sample] == expected


def test_group_n_is_sum_of_weights(data):
    # lavaan 0.6.14 normalises the weights over both groups together, and
    # each group's N in the fit function, the test and Gamma is the sum of
    # its weights, not its number of rows.
    reference = load_reference("wlsmv_weights_weighted_gender")
    fit = fit_quietly(data, sampling_weights="w", group="gender")
    sums = [sample.weighted_nobs for sample in fit.sample]
    np.testing.assert_allclose(sums, reference["extra"]["sum_weights"], rtol=1e-12)
    assert [sample.nobs for sample in fit.sample] == reference["extra"]["nobs"]
    assert sum(sums) == pytest.approx(sum(reference["extra"]["nobs"]), rel=1e-12)


# --------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------


def test_unit_weights_change_nothing(data):
    plain = fit_quietly(data)
    ones = data.assign(one=1.0)
    weighted = fit_quietly(ones, sampling_weights="one")
    np.testing.assert_allclose(weighted.x, plain.x, atol=1e-10)
    np.testing.assert_allclose(weighted.sample[0].gamma, plain.sample[0].gamma,
                               rtol=1e-12, atol=1e-12)
    assert weighted.fit_measures["chisq_scaled"] == pytest.approx(
        plain.fit_measures["chisq_scaled"], rel=1e-10)


def test_integer_weights_act_as_frequencies(data):
    # Weights 1, 2, 3 give the thresholds and polychorics of the data with
    # each row repeated that many times (normalisation only rescales the
    # weighted tables). Gamma differs, because sampling weights enter it
    # squared.
    complete = data.dropna(subset=AC_ITEMS).reset_index(drop=True)
    counts = 1 + np.arange(len(complete)) % 3
    weighted_frame = complete.assign(count=counts.astype(float))
    repeated = complete.loc[complete.index.repeat(counts)].reset_index(drop=True)
    weighted = fit_quietly(weighted_frame, sampling_weights="count")
    replicated = fit_quietly(repeated)
    np.testing.assert_allclose(weighted.sample[0].thresholds,
                               replicated.sample[0].thresholds, atol=1e-12)
    np.testing.assert_allclose(weighted.sample[0].correlation,
                               replicated.sample[0].correlation, atol=1e-9)


def test_singleton_clusters_scale_gamma(data):
    # With one row per cluster the cluster sums are the rows themselves, so
    # Gamma is the unclustered one times G / (G - 1).
    complete = data.dropna(subset=AC_ITEMS).reset_index(drop=True)
    rows = complete.assign(own=np.arange(len(complete)))
    plain = fit_quietly(rows, sampling_weights="w")
    clustered = fit_quietly(rows, sampling_weights="w", cluster="own")
    nobs = len(complete)
    np.testing.assert_allclose(clustered.sample[0].gamma,
                               plain.sample[0].gamma * nobs / (nobs - 1), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(clustered.x, plain.x, atol=1e-12)
    free = plain.estimates["se"] > 0
    np.testing.assert_allclose(clustered.estimates["se"][free],
                               plain.estimates["se"][free] * np.sqrt(nobs / (nobs - 1)),
                               rtol=1e-8)


def test_cluster_sums_across_blocks(data, monkeypatch):
    # Clusters that straddle row blocks carry their partial sums over: tiny
    # blocks must give the Gamma of one block, whatever the row order.
    complete = data.dropna(subset=AC_ITEMS)
    coded, levels, _ = encode_ordinal_items(complete, AC_ITEMS)
    codes = coded[AC_ITEMS].to_numpy().astype(int)
    weights = complete["w"].to_numpy()
    # Clusters of 1 to 150 rows (many longer than a block of 37), the ids
    # shuffled against the row order.
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 150, 40)
    ids = np.repeat(np.arange(len(sizes)), sizes)[:len(codes)]
    ids = np.concatenate([ids, np.full(len(codes) - len(ids), len(sizes))])
    ids = rng.permutation(len(sizes) + 1)[ids]
    whole = ordinal_sample_statistics(codes, levels, weights=weights, cluster=ids)
    monkeypatch.setattr(polychoric, "_ROWS_PER_BLOCK", 37)
    order = rng.permutation(len(codes))
    blocked = ordinal_sample_statistics(codes[order], levels,
                                        weights=weights[order], cluster=ids[order])
    np.testing.assert_allclose(blocked.gamma, whole.gamma, rtol=1e-10,
                               atol=1e-12 * np.abs(whole.gamma).max())
    np.testing.assert_allclose(blocked.independent_gamma_diagonal,
                               whole.independent_gamma_diagonal, rtol=1e-10)
    assert blocked.nclusters == whole.nclusters == len(np.unique(ids))
    assert whole.nclusters >= 30


def test_clustered_sem_call_matches_fit_dwls(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ListwiseDeletionWarning)
        result = sem(AC_MODEL, data, ordered=AC_ITEMS, weights="w", cluster="org")
    direct = fit_quietly(data, sampling_weights="w", cluster="org")
    assert result.fit_measures["chisq_scaled"] == pytest.approx(
        direct.fit_measures["chisq_scaled"], rel=1e-12)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_single_cluster_rejected(data):
    with pytest.raises(DataError, match="cluster column 'same'.*at least two"):
        fit_quietly(data.assign(same="one"), cluster="same")


def test_single_cluster_in_group_rejected(data):
    frame = data.assign(site=np.where(data["gender"] == 1, "a", data["org"]))
    with pytest.raises(DataError, match="in group '1'.*cluster column 'site'"):
        fit_quietly(frame, cluster="site", group="gender")


def test_few_clusters_warn(data):
    frame = data.assign(site=np.arange(len(data)) % 20)
    with pytest.warns(DataWarning, match="20 clusters, fewer than the 61 free"):
        fit = fit_quietly(frame, cluster="site")
    assert any("fewer than the 61 free" in text for text in fit.messages)


def test_cluster_without_robust_estimator_rejected(data):
    for estimator in ("DWLS", "ULS"):
        with pytest.raises(LioInputError, match="cluster='org' needs cluster-robust"):
            fit_quietly(data, cluster="org", estimator=estimator)


def test_missing_cluster_column_named(data):
    with pytest.raises(DataError, match="cluster column 'orgs' is not in the data"):
        fit_quietly(data, cluster="orgs")


def test_negative_weight_rejected(data):
    frame = data.assign(w=data["w"].where(data.index != 5, -1.0))
    with pytest.raises(DataError, match="weight column 'w' has negative"):
        fit_quietly(frame, sampling_weights="w")


def test_missing_weight_rejected(data):
    frame = data.assign(w=data["w"].where(data.index != 5, np.nan))
    with pytest.raises(DataError, match="weight column 'w' has 1 missing"):
        fit_quietly(frame, sampling_weights="w")


def test_zero_weights_rejected(data):
    with pytest.raises(DataError, match="weights in 'w' sum to zero"):
        fit_quietly(data.assign(w=0.0), sampling_weights="w")


def test_category_with_zero_weight_rejected(data):
    frame = data.assign(w=np.where(data["A1"] == 6, 0.0, data["w"]))
    with pytest.raises(DataError, match="'A1' in category 6.0 has sampling weight 0"):
        fit_quietly(frame, sampling_weights="w")


def test_statistics_reject_bad_weights_and_clusters():
    frame = pd.DataFrame({"u": [1, 2, 3] * 10, "v": [1, 2, 2] * 10})
    _, levels, _ = encode_ordinal_items(frame, ["u", "v"])
    codes = np.array([[0, 0], [1, 1], [2, 1]] * 10)
    with pytest.raises(ValueError, match="one value per row of codes"):
        ordinal_sample_statistics(codes, levels, weights=np.ones(5))
    with pytest.raises(DataError, match="in group 'men' contain missing"):
        ordinal_sample_statistics(codes, levels, group="men",
                                  weights=np.r_[np.nan, np.ones(29)])
    with pytest.raises(DataError, match="all 30 rows in group 'men' belong to one"):
        ordinal_sample_statistics(codes, levels, group="men", cluster=np.zeros(30))
    with pytest.raises(DataError, match="cluster ids contain missing"):
        ordinal_sample_statistics(codes, levels, cluster=np.r_[np.nan, np.ones(29)])
