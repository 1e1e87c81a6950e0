"""Invariance ladder, score tests, partial invariance and dMACS.

References are lavaan 0.6.14 and semTools 0.5.6 values stored by
tests/reference/multigroup_references.R (ML ladders) and
tests/reference/invariance_references.R (robust ladders, lavTestScore, the
sequential release of intercepts). Fit measures and difference tests must
agree within 1e-4 relative. Score statistics evaluated at lavaan's own
estimates must agree within 1e-6 relative. At our estimates they must agree
within 1e-3 absolute, because those estimates differ from lavaan's in the
last digits that the optimisers' stopping rules leave open.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, bfi_recoded
from reference_loader import load_reference
from threadpoolctl import threadpool_limits

import lio_validate as lv
from lio_validate.effect_sizes import anchor_on_markers, dmacs, measurement_parameters
from lio_validate.exceptions import DataError, LioInputError, LioWarning
from lio_validate.invariance import (
    INVARIANCE_COLUMNS,
    DecisionRule,
    invariance,
    resolve_levels,
    scaled_difference_test,
)
from lio_validate.partial_invariance import partial_invariance, score_tests

HS_MODEL = """visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"""

BFI_MODEL = """A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"""

# fitMeasures() names compared per level (lavaan's dots become underscores).
LADDER_MEASURES = [
    "npar", "fmin", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi",
    "tli", "logl", "unrestricted.logl", "aic", "bic", "bic2", "rmsea",
    "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "srmr",
]
ROBUST_LADDER_MEASURES = [
    "chisq.scaled", "pvalue.scaled", "chisq.scaling.factor", "cfi.scaled",
    "tli.scaled", "cfi.robust", "tli.robust", "rmsea.scaled", "rmsea.robust",
]
RTOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def single_blas_thread():
    """Run numpy's BLAS on one thread while this module's tests run.

    The matrices here are small (at most a few hundred rows), and on a busy
    2-core machine OpenBLAS's default of 2 threads made these tests about
    three times slower. The numbers do not depend on the thread count.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def education_bands() -> pd.DataFrame:
    """bfi recoded, rows without education dropped, education in three bands."""
    frame = bfi_recoded()
    frame = frame[frame["education"].notna()].copy()
    bands = {1: "low", 2: "low", 3: "middle", 4: "high", 5: "high"}
    frame["education_band"] = frame["education"].map(bands)
    return frame


def quiet(function, *args, **kwargs):
    """Call ``function`` with the package's warnings (listwise deletion) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def bfi_edu() -> pd.DataFrame:
    return education_bands()


@pytest.fixture(scope="module")
def hs_ladder(hs):
    return invariance(HS_MODEL, hs, "school")


@pytest.fixture(scope="module")
def bfi_ladder(bfi_edu):
    return quiet(invariance, BFI_MODEL, bfi_edu, "education_band")


def assert_measures_match(result, reference, names):
    for level in reference["steps"]:
        ours = result.fits[level].fit_measures
        for name in names:
            expected = reference["fit_measures"][level][name]
            actual = ours[name.replace(".", "_")]
            assert actual == pytest.approx(expected, rel=RTOL, abs=1e-12), \
                f"{level}: {name}"


def assert_lrt_matches(result, lrt, *, with_rmsea: bool):
    table = result.table
    assert list(table["level"]) == lrt["model"]
    np.testing.assert_array_equal(table["df"], lrt["Df"])
    np.testing.assert_allclose(table["chisq_standard"], lrt["Chisq"], rtol=RTOL)
    np.testing.assert_allclose(table["aic"], lrt["AIC"], rtol=RTOL)
    np.testing.assert_allclose(table["bic"], lrt["BIC"], rtol=RTOL)
    expected = {"delta_chisq": "Chisq diff", "delta_df": "Df diff",
                "delta_pvalue": "Pr(>Chisq)"}
    if with_rmsea:
        expected["rmsea_d"] = "RMSEA"
    for ours, theirs in expected.items():
        values = np.array([np.nan if v is None else v for v in lrt[theirs]], float)
        # A p-value of order 1e-10 carries the relative error of its statistic
        # many times over, so p-values also get an absolute tolerance.
        atol = 1e-9 if ours == "delta_pvalue" else 0.0
        np.testing.assert_allclose(table[ours], values, rtol=RTOL, atol=atol,
                                   err_msg=ours)


# --------------------------------------------------------------------------
# Ladders against lavaan
# --------------------------------------------------------------------------


def test_hs_ladder_fit_measures(hs_ladder):
    assert_measures_match(hs_ladder, load_reference("hs_invariance_school"),
                          LADDER_MEASURES)


def test_hs_ladder_lrt_table(hs_ladder):
    reference = load_reference("hs_invariance_school")

    assert_lrt_matches(hs_ladder, reference["lrt"], with_rmsea=True)


def test_hs_ladder_compare_fit_differences(hs_ladder):
    fit_diff = load_reference("hs_invariance_school")["compare_fit"]["fit_diff"]

    for ours, theirs in (("delta_cfi", "cfi"), ("delta_rmsea", "rmsea"),
                         ("delta_tli", "tli"), ("delta_srmr", "srmr")):
        np.testing.assert_allclose(hs_ladder.table[ours].iloc[1:], fit_diff[theirs],
                                   rtol=RTOL, atol=1e-9, err_msg=ours)


def test_bfi_ladder_fit_measures(bfi_ladder):
    assert_measures_match(bfi_ladder, load_reference("bfi_invariance_education"),
                          LADDER_MEASURES)


def test_bfi_ladder_lrt_table(bfi_ladder):
    reference = load_reference("bfi_invariance_education")

    assert_lrt_matches(bfi_ladder, reference["lrt"], with_rmsea=True)


def test_bfi_ladder_groups_in_data_order(bfi_ladder):
    assert bfi_ladder.group_names == ("middle", "low", "high")
    assert dict(bfi_ladder.group_sizes) == {"middle": 1078, "low": 448, "high": 710}


def test_hs_ladder_mlr(hs):
    reference = load_reference("hs_invariance_school_mlr")
    result = invariance(HS_MODEL, hs, "school", estimator="MLR")

    assert result.difference_test == "satorra.bentler.2001"
    assert result.measure_names["cfi"] == "cfi_robust"
    assert_measures_match(result, reference, LADDER_MEASURES + ROBUST_LADDER_MEASURES)
    assert_lrt_matches(result, reference["lrt"], with_rmsea=False)


def test_bfi_ladder_mlr(bfi_edu):
    reference = load_reference("bfi_invariance_education_mlr")
    result = quiet(invariance, BFI_MODEL, bfi_edu, "education_band", estimator="MLR")

    assert_measures_match(result, reference, ROBUST_LADDER_MEASURES)
    assert_lrt_matches(result, reference["lrt"], with_rmsea=False)
    np.testing.assert_allclose(result.table["chisq"],
                               [reference["fit_measures"][level]["chisq.scaled"]
                                for level in reference["steps"]], rtol=RTOL)
    np.testing.assert_allclose(result.table["cfi"],
                               [reference["fit_measures"][level]["cfi.robust"]
                                for level in reference["steps"]], rtol=RTOL)


def test_fiml_mlr_shows_robust_indices(hs):
    data = hs.copy()
    rng = np.random.default_rng(1)
    data.loc[rng.choice(data.index, 30, replace=False), "x1"] = np.nan

    result = quiet(invariance, HS_MODEL, data, "school", estimator="MLR",
                   missing="fiml", levels=["configural", "metric"])

    assert result.measure_names["cfi"] == "cfi_robust"
    metric = result.fits["metric"].fit_measures
    assert result.table["cfi"].iat[1] == metric["cfi_robust"]
    assert result.table["chisq"].iat[1] == metric["chisq_scaled"]
    assert dict(result.group_sizes) == {"Pasteur": 156, "Grant-White": 145}


def test_hs_ladder_mlm_configural(hs):
    reference = load_reference("hs_invariance_school_mlm")
    fit = lv.cfa(HS_MODEL, hs, group="school", estimator="MLM")

    assert fit.fit_measures["chisq_scaling_factor"] == pytest.approx(
        reference["scaling_factors"]["configural"], rel=RTOL)


def test_hs_ladder_mlm_constrained(hs):
    reference = load_reference("hs_invariance_school_mlm")
    result = invariance(HS_MODEL, hs, "school", estimator="MLM")

    assert_measures_match(result, reference, ROBUST_LADDER_MEASURES)
    assert_lrt_matches(result, reference["lrt"], with_rmsea=False)


# --------------------------------------------------------------------------
# Table, decisions and difference tests
# --------------------------------------------------------------------------


def test_invariance_table_columns(hs_ladder):
    table = hs_ladder.invariance_table()

    assert tuple(table.columns) == INVARIANCE_COLUMNS
    assert list(table["level"]) == ["configural", "metric", "scalar", "strict"]


def test_hs_ladder_decisions(hs_ladder):
    decisions = hs_ladder.table["decision"].tolist()

    assert decisions[0] == "reference level"
    assert decisions[1].startswith("supported (Chen 2007: dCFI >= -0.010")
    assert "dSRMR <= 0.030" in decisions[1]
    assert decisions[2].startswith("not supported (dCFI -0.038 beyond -0.010")
    assert "dSRMR <= 0.010" in decisions[2]
    assert hs_ladder.highest_supported_level == "metric"
    assert hs_ladder.first_rejected_level == "scalar"


def test_summary_lists_levels(hs_ladder):
    text = hs_ladder.summary()

    for level in ("configural", "metric", "scalar", "strict"):
        assert level in text
    assert "Highest level supported: metric" in text


@pytest.mark.parametrize(
    ("deltas", "mode", "expected"),
    [
        ((-0.005, 0.010, 0.020), "all", "supported"),
        ((-0.011, 0.010, 0.020), "all", "not supported"),
        ((-0.005, 0.016, 0.020), "all", "not supported"),
        ((-0.005, 0.010, 0.031), "all", "not supported"),
        ((-0.011, 0.010, 0.020), "chen", "supported"),
        ((-0.011, 0.016, 0.020), "chen", "not supported"),
        ((-0.005, 0.016, 0.040), "chen", "supported"),
        ((np.nan, 0.010, 0.020), "all", "undetermined"),
    ],
)
def test_decision_rule_metric(deltas, mode, expected):
    rule = DecisionRule(mode=mode)

    decision = rule.decide(["loadings"], *deltas)

    assert decision.split(" (")[0] == expected


def test_decision_rule_srmr_cutoffs():
    rule = DecisionRule()

    assert rule.srmr_cutoff(["loadings"]) == 0.030
    assert rule.srmr_cutoff(["intercepts"]) == 0.010
    assert rule.srmr_cutoff(["residuals"]) == 0.010
    assert rule.srmr_cutoff(["means"]) is None
    assert DecisionRule(use_srmr=False).srmr_cutoff(["loadings"]) is None


def test_decision_rule_rejects_invalid():
    with pytest.raises(LioInputError, match="mode"):
        DecisionRule(mode="strict")
    with pytest.raises(LioInputError, match="max_cfi_drop"):
        DecisionRule(max_cfi_drop=-0.01)


def test_scaled_difference_hand_computed():
    # T0 = 110, df0 = 50, c0 = 1.2; T1 = 100, df1 = 45, c1 = 1.1:
    # c_d = (50 * 1.2 - 45 * 1.1) / 5 = 2.1, T_d = 10 / 2.1.
    statistic, df, scale = scaled_difference_test(100.0, 45, 1.1, 110.0, 50, 1.2)

    assert scale == pytest.approx(2.1)
    assert statistic == pytest.approx(10.0 / 2.1)
    assert df == 5


def test_scaled_difference_negative_scale():
    statistic, df, scale = scaled_difference_test(100.0, 45, 1.5, 110.0, 50, 1.2)

    assert np.isnan(statistic)
    assert np.isnan(scale)
    assert df == 5


def test_scaled_difference_saturated_model():
    # lavaan sets the scaling factor of a model with df 0 to 1.
    statistic, _, scale = scaled_difference_test(0.0, 0, np.nan, 12.0, 4, 1.5)

    assert scale == pytest.approx((4 * 1.5 - 0) / 4)
    assert statistic == pytest.approx(8.0)


def test_levels_are_cumulative():
    levels = resolve_levels(["configural", "metric", "scalar", "means"])

    assert levels[-1] == ("means", ("loadings", "intercepts", "means"))


def test_levels_custom_pairs():
    levels = resolve_levels([("free", ()), ("equal paths", ["regressions"])])

    assert levels == [("free", ()), ("equal paths", ("regressions",))]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        (["configural", "weak"], "unknown invariance level 'weak'"),
        (["configural"], "at least two levels"),
        (["configural", "metric", "metric"], "listed twice"),
        (["configural", "thresholds"], "needs ordinal items"),
    ],
)
def test_levels_rejected(levels, message):
    with pytest.raises(LioInputError, match=message):
        resolve_levels(levels)


def test_ordered_continuous_items_rejected(hs):
    with pytest.raises(LioInputError, match="categories"):
        quiet(invariance, HS_MODEL, hs, "school", ordered=True)


def test_unknown_estimator_rejected(hs):
    with pytest.raises(LioInputError, match="choose one of ML, MLR, MLM"):
        invariance(HS_MODEL, hs, "school", estimator="GLS")


def test_ordinal_estimator_without_ordered_rejected(hs):
    with pytest.raises(LioInputError, match="none are declared"):
        invariance(HS_MODEL, hs, "school", estimator="WLSMV")


# --------------------------------------------------------------------------
# Groups that cannot be estimated
# --------------------------------------------------------------------------


def test_group_too_small_named(hs):
    data = hs.copy()
    data.loc[data.index[:5], "school"] = "Tiny"

    with pytest.raises(DataError, match="group 'Tiny' of 'school' has 5 usable rows"):
        invariance(HS_MODEL, data, "school")


def test_group_below_stated_minimum(hs):
    with pytest.raises(DataError, match="needs at least 150"):
        invariance(HS_MODEL, hs, "school", min_group_size=150)


def test_item_constant_in_group_named(hs):
    data = hs.copy()
    data.loc[data["school"] == "Pasteur", "x4"] = 3.0

    with pytest.raises(DataError, match=r"\['x4'\] are constant in group 'Pasteur'"):
        invariance(HS_MODEL, data, "school")


def test_group_without_complete_rows_named(hs):
    data = hs.copy()
    data.loc[data.index[:10], "school"] = "Empty"
    data.loc[data.index[:10], "x1"] = np.nan

    with pytest.raises(DataError, match=r"group\(s\) \['Empty'\]"):
        quiet(invariance, HS_MODEL, data, "school")


def test_sem_small_group_named(hs):
    data = hs.copy()
    data.loc[data.index[:5], "school"] = "Tiny"

    with pytest.raises(DataError, match="Tiny"):
        quiet(lv.cfa, HS_MODEL, data, group="school")


def test_single_group_rejected(hs):
    data = hs[hs["school"] == "Pasteur"]

    with pytest.raises(DataError, match="only 1 group"):
        invariance(HS_MODEL, data, "school")


# --------------------------------------------------------------------------
# Score tests against lavTestScore
# --------------------------------------------------------------------------


def at_lavaan_estimates(fit, reference):
    """The fit with every estimate replaced by lavaan's (matched by row)."""
    key = ["lhs", "op", "rhs", "group"]
    theirs = reference["estimates"][key + ["est"]]
    merged = fit.estimates.merge(theirs, on=key, how="left", suffixes=("", "_lavaan"))
    assert merged["est_lavaan"].notna().all()
    estimates = fit.estimates.copy()
    estimates["est"] = merged["est_lavaan"].to_numpy()
    return replace(fit, estimates=estimates)


@pytest.mark.parametrize(
    ("name", "group_equal"),
    [("hs_mg_metric_score", ["loadings"]),
     ("hs_mg_scalar_score", ["loadings", "intercepts"])],
)
def test_hs_score_tests_univariate(hs, name, group_equal):
    reference = load_reference(name)
    expected = pd.DataFrame(reference["extra"]["score_univariate"])
    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=group_equal)

    exact = score_tests(at_lavaan_estimates(fit, reference), hs).univariate
    ours = score_tests(fit, hs).univariate

    key = ["lhs", "op", "rhs"]
    for table, tolerance in ((exact, {"rtol": 1e-6, "atol": 1e-9}),
                             (ours, {"rtol": 0, "atol": 1e-3})):
        merged = table.merge(expected, on=key, suffixes=("", "_lavaan"))
        assert len(merged) == len(expected)
        np.testing.assert_allclose(merged["X2"], merged["X2_lavaan"], **tolerance)
        np.testing.assert_allclose(merged["pvalue"], merged["p_value"], **tolerance)


def test_bfi_score_tests(bfi_edu):
    reference = load_reference("bfi_inv_edu_scalar_score")
    fit = quiet(lv.cfa, BFI_MODEL, bfi_edu, group="education_band",
                group_equal=["loadings", "intercepts"])

    tests = score_tests(at_lavaan_estimates(fit, reference), bfi_edu)

    univariate = pd.DataFrame(reference["extra"]["score_univariate"])
    merged = tests.univariate.merge(
        univariate, left_on=["lhs", "op", "rhs", "group", "reference_group"],
        right_on=["lhs", "op", "rhs", "group_rhs", "group_lhs"])
    assert len(merged) == len(univariate) == 90
    np.testing.assert_allclose(merged["X2_x"], merged["X2_y"], rtol=1e-6, atol=1e-9)
    by_parameter = pd.DataFrame(reference["extra"]["score_by_parameter"])
    merged = tests.by_parameter.merge(by_parameter, on=["lhs", "op", "rhs"])
    assert len(merged) == len(by_parameter) == 45
    np.testing.assert_allclose(merged["X2_x"], merged["X2_y"], rtol=1e-6)
    np.testing.assert_array_equal(merged["df_x"], merged["df_y"])


def test_score_tests_holm_adjusted(hs):
    from statsmodels.stats.multitest import multipletests

    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings", "intercepts"])

    tests = score_tests(fit, hs, kinds=["intercepts"])

    assert set(tests.by_parameter["kind"]) == {"intercepts"}
    expected = multipletests(tests.by_parameter["pvalue"], method="holm")[1]
    np.testing.assert_allclose(tests.by_parameter["pvalue_adjusted"], expected)


def test_score_test_epc_predicts_refit(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings", "intercepts"])
    epc = score_tests(fit, hs).univariate.set_index("parameter").at["x3 ~1", "epc"]

    refit = lv.cfa(HS_MODEL, hs, group="school",
                   group_equal=["loadings", "intercepts"], group_partial=["x3 ~1"])
    rows = refit.estimates[(refit.estimates["lhs"] == "x3")
                           & (refit.estimates["op"] == "~1")]
    difference = rows["est"].iloc[1] - rows["est"].iloc[0]

    assert epc == pytest.approx(difference, rel=0.05)


def test_score_tests_same_for_mlr(hs):
    ml = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings"])
    mlr = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings"],
                 estimator="MLR")

    np.testing.assert_allclose(score_tests(mlr, hs).univariate["X2"],
                               score_tests(ml, hs).univariate["X2"], rtol=1e-8)


def test_score_tests_need_constraints(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school")

    with pytest.raises(LioInputError, match="constrains no parameter to be equal"):
        score_tests(fit, hs)


def test_score_tests_reject_other_data(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings"])

    with pytest.raises(DataError, match="pass the data the model was fitted to"):
        score_tests(fit, hs.iloc[:-3])


# --------------------------------------------------------------------------
# Partial invariance
# --------------------------------------------------------------------------


def test_partial_search_matches_lavaan_steps(bfi_edu):
    reference = load_reference("bfi_inv_edu_partial")
    expected = pd.DataFrame(reference["partial_steps"])

    result = quiet(partial_invariance, BFI_MODEL, bfi_edu, "education_band",
                   stop_at_rule=False, max_released=3)

    steps = result.steps.iloc[1:].reset_index(drop=True)
    assert list(steps["released"]) == list(expected["released"])
    assert list(result.group_partial) == reference["group_partial"]
    for ours, theirs in (("X2", "X2"), ("chisq", "chisq"), ("df_model", "model_df"),
                         ("cfi", "cfi"), ("tli", "tli"), ("rmsea", "rmsea"),
                         ("srmr", "srmr")):
        np.testing.assert_allclose(steps[ours], expected[theirs], rtol=RTOL,
                                   err_msg=ours)
    assert result.stop_reason == "max_released=3 parameters released"


def test_partial_search_stops_at_rule(bfi_edu):
    result = quiet(partial_invariance, BFI_MODEL, bfi_edu, "education_band")

    assert result.group_partial == ("A1 ~1",)
    assert result.supported
    assert result.stop_reason == "the decision rule supports the level"
    assert result.steps["decision"].iat[0].startswith("not supported")


def test_partial_search_keeps_anchor_items(hs):
    # Each factor has three items; keeping three invariant items besides the
    # released one is impossible, so nothing may be released.
    result = partial_invariance(HS_MODEL, hs, "school", min_anchor_items=3)

    assert result.group_partial == ()
    assert "anchors a factor" in result.stop_reason


def test_partial_search_hs(hs):
    result = partial_invariance(HS_MODEL, hs, "school")

    assert result.group_partial == ("x3 ~1", "x7 ~1")
    assert result.previous_level == "metric"
    assert "x3 ~1" in result.summary()


def test_partial_rejects_first_level(hs):
    with pytest.raises(LioInputError, match="not a constrained level"):
        partial_invariance(HS_MODEL, hs, "school", level="configural")


# --------------------------------------------------------------------------
# dMACS
# --------------------------------------------------------------------------


def dmacs_by_quadrature(reference, focal, item, sd):
    """dMACS of a one-factor item by Gauss-Hermite quadrature over the focal factor."""
    factor = reference.loadings.columns[reference.loadings.loc[item] != 0][0]
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    eta = focal.latent_mean[factor] + np.sqrt(focal.latent_cov.at[factor, factor]) \
        * nodes
    expected_reference = reference.intercepts[item] \
        + reference.loadings.at[item, factor] * eta
    expected_focal = focal.intercepts[item] + focal.loadings.at[item, factor] * eta
    squared = np.sum(weights * (expected_focal - expected_reference) ** 2) \
        / np.sum(weights)
    return np.sqrt(squared) / sd


def test_dmacs_closed_form_equals_quadrature(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings", "intercepts"],
                 group_partial=["visual =~ x3", "x3 ~1", "x7 ~1"])
    result = dmacs(fit, hs)

    sizes = {"Pasteur": 156, "Grant-White": 145}
    groups = measurement_parameters(fit, sizes)
    for row in result.table.itertuples(index=False):
        variance = (156 * groups["Pasteur"].item_variance[row.item]
                    + 145 * groups["Grant-White"].item_variance[row.item]) / 299
        expected = dmacs_by_quadrature(groups["Pasteur"], groups["Grant-White"],
                                       row.item, np.sqrt(variance))
        assert row.dmacs == pytest.approx(expected, rel=1e-10, abs=1e-14), row.item


def test_dmacs_zero_for_invariant_items(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings", "intercepts"],
                 group_partial=["x3 ~1"])
    table = dmacs(fit, hs).table.set_index("item")

    assert table.at["x3", "dmacs"] > 0.3
    np.testing.assert_allclose(table.drop(index="x3")["dmacs"], 0.0, atol=1e-12)
    assert dmacs(fit, hs).anchoring == "fit"


def test_marker_anchoring_keeps_implied_moments(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school")
    groups = measurement_parameters(fit, {"Pasteur": 156, "Grant-White": 145})
    markers = {"visual": "x1", "textual": "x4", "speed": "x7"}

    anchored = anchor_on_markers(groups, "Pasteur", markers)

    for name in groups:
        before, after = groups[name], anchored[name]
        mean_before = before.intercepts + before.loadings @ before.latent_mean
        mean_after = after.intercepts + after.loadings @ after.latent_mean
        np.testing.assert_allclose(mean_after, mean_before, atol=1e-12)
        cov_before = before.loadings @ before.latent_cov @ before.loadings.T
        cov_after = after.loadings @ after.latent_cov @ after.loadings.T
        np.testing.assert_allclose(cov_after, cov_before, atol=1e-12)
    np.testing.assert_allclose(anchored["Grant-White"].intercepts[["x1", "x4", "x7"]],
                               groups["Pasteur"].intercepts[["x1", "x4", "x7"]])


def test_dmacs_pairs_and_reference(bfi_ladder, bfi_edu):
    fit = bfi_ladder.fits["configural"]

    pairs = dmacs(fit, bfi_edu, pairs=True).table
    against_low = dmacs(fit, bfi_edu, reference="low").table

    assert set(zip(pairs["reference"], pairs["focal"])) == {
        ("middle", "low"), ("middle", "high"), ("low", "high")}
    assert set(against_low["focal"]) == {"middle", "high"}
    assert len(pairs) == 75


def test_dmacs_fit_anchoring_needs_anchors(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school", group_equal=["loadings"])

    with pytest.raises(LioInputError, match="anchoring='fit' needs"):
        dmacs(fit, hs, anchoring="fit")


@pytest.fixture(scope="module")
def ordinal_fit(bfi):
    data = bfi[bfi["gender"].notna()]
    return data, quiet(lv.cfa, "A =~ A1 + A2 + A3 + A4", data, group="gender",
                       ordered=True)


def test_dmacs_rejects_ordinal_fit(ordinal_fit):
    data, fit = ordinal_fit

    with pytest.raises(LioInputError, match="dMACS for ordinal items"):
        dmacs(fit, data)


def test_score_tests_reject_ordinal_fit(ordinal_fit):
    data, fit = ordinal_fit

    with pytest.raises(LioInputError, match="not 'WLSMV'"):
        score_tests(fit, data)


def test_dmacs_rejects_unknown_reference(hs):
    fit = lv.cfa(HS_MODEL, hs, group="school")

    with pytest.raises(LioInputError, match="reference group 'Lab'"):
        dmacs(fit, hs, reference="Lab")


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def run_cli(*arguments, cwd):
    # One BLAS thread in the child too, for the reason given at
    # single_blas_thread.
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lio_validate", "invariance", *arguments],
        capture_output=True, text=True, cwd=cwd, timeout=300, check=False,
        env=environment,
    )


@pytest.fixture(scope="module")
def hs_model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "hs.lav"
    path.write_text(HS_MODEL + "\n", encoding="utf-8")
    return path


def test_cli_writes_results_folder(tmp_path, hs_model_file, hs_ladder):
    out = tmp_path / "invariance"
    data = ROOT / "data" / "holzinger_swineford_1939.csv"

    completed = run_cli("--data", str(data), "--model", str(hs_model_file),
                        "--group", "school", "--partial", "--out", str(out),
                        cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    table = pd.read_csv(out / "invariance.csv")
    assert tuple(table.columns) == INVARIANCE_COLUMNS
    np.testing.assert_allclose(table["chisq"], hs_ladder.table["chisq"], rtol=1e-12)
    for name in ("dmacs.csv", "partial_invariance.csv", "score_tests.csv",
                 "report.md", "manifest.json", "figures/invariance_ladder.png"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "invariance"
    assert "invariance.csv" in manifest["outputs"]
    partial = pd.read_csv(out / "partial_invariance.csv")
    assert list(partial["released"].dropna()) == ["x3 ~1", "x7 ~1"]


def test_cli_ordered_exits_2(tmp_path, hs_model_file):
    data = ROOT / "data" / "holzinger_swineford_1939.csv"

    completed = run_cli("--data", str(data), "--model", str(hs_model_file),
                        "--group", "school", "--ordered", "all",
                        "--out", str(tmp_path / "out"), cwd=tmp_path)

    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert "categories" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_cli_small_group_exits_2(tmp_path, hs_model_file, hs):
    data = hs.copy()
    data.loc[data.index[:4], "school"] = "Tiny"
    path = tmp_path / "hs_tiny.csv"
    data.to_csv(path, index=False)

    completed = run_cli("--data", str(path), "--model", str(hs_model_file),
                        "--group", "school", "--out", str(tmp_path / "out"),
                        cwd=tmp_path)

    assert completed.returncode == 2
    assert "group 'Tiny' of 'school' has 4 usable rows" in completed.stderr
