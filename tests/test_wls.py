"""DWLS, ULS, WLSMV and ULSMV fits to ordinal items against lavaan 0.6.14.

The references come from tests/reference/ordinal_references.R and
ordinal_wls_references.R. Tolerances follow lavaan's printed precision:
estimates within 2e-4 x max(1, |value|), standard errors, standardized values
and the covariance matrix of the estimates within 1e-3 relative, fit measures
within 1e-4 relative. lavaan computes p-values as 1 - pchisq(), which loses
everything below about 1e-16, so p-values are compared in absolute terms.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import read_dataset
from reference_loader import load_reference, reference_matrix

from lio_validate import wls_model, wls_tests
from lio_validate.exceptions import (
    DataError,
    LioInputError,
    ListwiseDeletionWarning,
    ModelSpecificationError,
)
from lio_validate.inference import r_squared
from lio_validate.wls import fit_dwls, standardized_solution

AC_ITEMS = [f"A{k}" for k in range(1, 6)] + [f"C{k}" for k in range(1, 6)]
AC_MODEL = """
A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
"""

REFERENCES = [
    "bfi_cfa2_ac_wlsmv",
    "bfi_cfa5_wlsmv",
    "bfi_cfa2_ac_dwls",
    "bfi_cfa2_ac_uls",
    "bfi_cfa2_ac_ulsmv",
    "bfi_cfa2_ac_wlsmv_stdlv",
    "bfi_sem3_ace_wlsmv",
    "bfi_cfa2_ac_wlsmv_gender",
    "bfi_cfa2_ac_binary_wlsmv",
    "bfi_ord_edu_lavaan_thresholds",
    "bfi_ord_edu_lavaan_scalar",
    "bfi_ord_edu_we_configural",
    "bfi_ord_edu_we_thresholds",
    "bfi_ord_edu_we_metric",
    "bfi_ord_edu_we_scalar",
    "bfi_ord_edu_partial_thresholds_a1",
    "bfi_ord_edu_partial_thresholds_a1t5",
    "bfi_ord_edu_partial_scalar_a1",
]

# Fit measures whose lavaan name is the snake_case name with dots.
PVALUES = {"pvalue", "pvalue_scaled", "baseline_pvalue", "baseline_pvalue_scaled",
           "rmsea_pvalue", "rmsea_notclose_pvalue", "rmsea_pvalue_scaled",
           "rmsea_notclose_pvalue_scaled", "rmsea_pvalue_robust",
           "rmsea_notclose_pvalue_robust"}


def reference_data(reference) -> pd.DataFrame:
    data = read_dataset(reference["data_file"])
    if "education_band" in reference["data_preparation"]:
        data = data[data["education"].notna()].copy()
        bands = {1: "low", 2: "low", 3: "middle", 4: "high", 5: "high"}
        data["education_band"] = data["education"].map(bands)
    if "x >= 4" in reference["data_preparation"]:
        for item in AC_ITEMS:
            data[item] = np.where(data[item].isna(), np.nan, (data[item] >= 4) * 1.0)
    return data


def fit_reference(name: str):
    reference = load_reference(name)
    options = reference["options"]
    with warnings.catch_warnings():
        # bfi has missing values; lavaan drops those rows too (listwise).
        warnings.simplefilter("ignore", ListwiseDeletionWarning)
        semtools = "_we_" in name or "_partial_" in name
        fit = fit_dwls(AC_MODEL if semtools else reference["model"],
                       reference_data(reference),
                       list(options["ordered"]), estimator=options["estimator"],
                       group=options.get("group"),
                       std_lv=options.get("std.lv", False),
                       group_equal=list(options.get("group.equal", [])),
                       group_partial=list(options.get("group.partial", [])),
                       # These fits were written by semTools::measEq.syntax
                       # with the identification of Wu and Estabrook (2016).
                       identification="wu_estabrook" if semtools else "lavaan")
    return reference, fit


@pytest.fixture(scope="module", params=REFERENCES)
def pair(request):
    return fit_reference(request.param)


def merged_estimates(reference, fit) -> pd.DataFrame:
    theirs = reference["estimates"].copy()
    theirs["group"] = theirs["group"].astype(str)
    ours = fit.estimates.copy()
    return theirs.merge(ours, on=["lhs", "op", "rhs", "group"], how="outer",
                        suffixes=("_lavaan", ""), indicator=True)


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


def test_free_parameters_numbered_as_lavaan(pair):
    reference, fit = pair
    if any(reference["options"].get("group.equal") or []):
        pytest.skip("lavaan numbers every constrained row on its own and adds '==' "
                    "rows, where one label here shares one free parameter")
    frame = fit.table.frame
    ours = frame[["lhs", "op", "rhs", "free"]].copy()
    ours["group"] = [fit.group_names[g] for g in frame["group"]]
    theirs = reference["estimates"][["lhs", "op", "rhs", "group", "free"]].copy()
    theirs["group"] = theirs["group"].astype(str)
    merged = theirs.merge(ours, on=["lhs", "op", "rhs", "group"],
                          suffixes=("_lavaan", ""))
    assert len(merged) == len(theirs)
    np.testing.assert_array_equal(merged["free"], merged["free_lavaan"])


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


def test_standardized_match(pair):
    reference, fit = pair
    merged = merged_estimates(reference, fit)
    for column in ("std_all", "std_lv"):
        expected = merged[f"{column}_lavaan"]
        present = expected.notna()
        np.testing.assert_allclose(merged.loc[present, column], expected[present],
                                   rtol=1e-3, atol=1e-6, err_msg=column)


def test_standardized_se_match(pair):
    reference, fit = pair
    ours = standardized_solution(fit)
    theirs = reference["estimates"].copy()
    theirs["group"] = theirs["group"].astype(str)
    merged = theirs.merge(ours, on=["lhs", "op", "rhs", "group"],
                          suffixes=("_lavaan", ""))
    assert len(merged) == len(theirs)
    for column in ("se_std_all", "se_std_lv"):
        expected = merged[f"{column}_lavaan"]
        present = expected.notna() & (expected > 1e-8)
        np.testing.assert_allclose(merged.loc[present, column], expected[present],
                                   rtol=2e-3, err_msg=column)
        assert (merged.loc[expected == 0, column] == 0).all(), column


def test_vcov_matches(pair):
    reference, fit = pair
    if "vcov" not in reference["extra"]:
        pytest.skip("the reference stores no covariance matrix of the estimates")
    expected = reference_matrix(reference["extra"]["vcov"])
    if len(fit.group_names) == 1:
        assert list(fit.vcov.index) == list(expected.index)
    scale = np.abs(np.diag(expected.to_numpy()))
    np.testing.assert_allclose(fit.vcov.to_numpy(), expected.to_numpy(), rtol=0,
                               atol=1e-3 * np.sqrt(np.outer(scale, scale)).max())
    np.testing.assert_allclose(np.diag(fit.vcov.to_numpy()), scale, rtol=2e-3)


def test_fit_measures_match(pair):
    reference, fit = pair
    expected = reference["fit_measures"]
    compared = 0
    for name, value in fit.fit_measures.items():
        lavaan_name = name.replace("_", ".")
        if lavaan_name not in expected:
            continue
        compared += 1
        if expected[lavaan_name] is None:
            assert np.isnan(value), name
        elif name in PVALUES:
            assert value == pytest.approx(expected[lavaan_name], abs=1e-6), name
        else:
            assert value == pytest.approx(expected[lavaan_name], rel=1e-4, abs=1e-10), \
                name
    assert compared >= 20 if "chisq.scaled" in expected else compared >= 14


def test_robust_measures_present_only_for_robust_fits(pair):
    reference, fit = pair
    robust = "chisq.scaled" in reference["fit_measures"]
    for name in ("chisq_scaled", "cfi_scaled", "cfi_robust", "rmsea_robust"):
        assert (name in fit.fit_measures) == robust, name


def test_shift_parameter_matches(pair):
    reference, fit = pair
    test = reference["extra"]["test"].get("scaled.shifted")
    if test is None:
        pytest.skip("no scaled-shifted test in this fit")
    assert fit.fit_measures["chisq_shift_parameter"] == pytest.approx(
        test["shift.parameter"], rel=1e-4)
    assert fit.fit_measures["chisq_scaling_factor"] == pytest.approx(
        test["scaling.factor"], rel=1e-4)


def test_sample_statistics_match(pair):
    reference, fit = pair
    sample = reference["extra"]["sample"]
    per_group = [sample] if len(fit.group_names) == 1 else \
        [sample[name] for name in fit.group_names]
    for ours, theirs in zip(fit.sample, per_group):
        np.testing.assert_allclose(ours.thresholds, list(theirs["th"].values()),
                                   atol=1e-10)
        np.testing.assert_allclose(ours.correlation,
                                   reference_matrix(theirs["cov"]).to_numpy(),
                                   atol=1e-7)


def test_implied_correlations_match(pair):
    reference, fit = pair
    implied = reference["extra"]["implied"]
    per_group = [implied] if len(fit.group_names) == 1 else \
        [implied[name] for name in fit.group_names]
    for g, theirs in enumerate(per_group):
        expected = reference_matrix(theirs["cov"]).to_numpy()
        np.testing.assert_allclose(fit.implied_cov(g), expected, atol=2e-5)
        np.testing.assert_allclose(fit.implied_thresholds[g],
                                   list(theirs["th"].values()), atol=2e-5)


def test_r_squared_matches(pair):
    reference, fit = pair
    ours = r_squared(fit.model, fit.x, fit.group_names)
    expected = reference["r_squared"]
    if len(fit.group_names) > 1:
        expected = {(g, name): value for g, values in expected.items()
                    for name, value in values.items()}
    assert len(ours) == len(expected)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=2e-5), key


def test_weights_match(pair):
    reference, fit = pair
    stored = reference["extra"].get("wls_v_diagonal")
    if stored is None:
        pytest.skip("no weights stored for this fit")
    per_group = [stored] if len(fit.group_names) == 1 else \
        [stored[name] for name in fit.group_names]
    for sample, expected in zip(fit.sample, per_group):
        np.testing.assert_allclose(1.0 / np.diag(sample.gamma), expected, rtol=1e-5)


# --------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return read_dataset("bfi.csv")


def fit_quietly(model, data, ordered, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ListwiseDeletionWarning)
        return fit_dwls(model, data, ordered, **options)


@pytest.mark.parametrize("model", [
    AC_MODEL,
    AC_MODEL + "C ~ A\nA1 ~~ A2\n",
    # An item that predicts another item: the residual-variance system M
    # is then not the identity.
    AC_MODEL + "A3 ~ A1\n",
])
def test_jacobian_matches_finite_differences(bfi, model):
    fit = fit_quietly(model, bfi, AC_ITEMS, estimator="DWLS")
    ordinal = fit.structure
    x = fit.x + 0.01 * np.sin(np.arange(len(fit.x)))
    analytic = wls_model.jacobian(ordinal, x, 0)
    numeric = np.zeros_like(analytic)
    for k in range(len(x)):
        step = np.zeros(len(x))
        step[k] = 1e-6
        numeric[:, k] = (wls_model.implied_statistics(ordinal, x + step, 0)
                         - wls_model.implied_statistics(ordinal, x - step, 0)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, atol=1e-7)


def test_robust_measures_nan_without_catml():
    scaled = wls_tests.ScaledShiftedTest(100.0, 10, 1.2, 3.0, 8.0, 7.0)
    baseline = wls_tests.ScaledShiftedTest(1000.0, 15, 1.5, 4.0, 9.0, 6.0)
    measures = wls_tests.least_squares_fit_measures(
        npar=5, fmin_value=0.1, chisq=90.0, df=10, nobs=500, ngroups=1,
        baseline_chisq=1200.0, baseline_df=15, srmr=0.05, scaled=scaled,
        baseline_scaled=baseline, robust=None)
    for name in ("cfi_robust", "tli_robust", "rmsea_robust", "rmsea_ci_lower_robust",
                 "rmsea_pvalue_robust"):
        assert np.isnan(measures[name]), name
    assert measures["cfi_scaled"] == pytest.approx(1 - 90 / 985)


def test_implied_variances_are_one(bfi):
    fit = fit_quietly(AC_MODEL + "A3 ~ A1\n", bfi, AC_ITEMS, estimator="DWLS")
    np.testing.assert_allclose(np.diag(fit.implied_cov()), 1.0, atol=1e-12)
    residual = fit.estimates[(fit.estimates["op"] == "~~")
                             & (fit.estimates["lhs"] == fit.estimates["rhs"])
                             & fit.estimates["lhs"].isin(AC_ITEMS)]
    assert (residual["se"] == 0).all()
    assert (residual["est"] > 0).all()


def test_chisq_is_twice_n_fmin(bfi):
    fit = fit_quietly(AC_MODEL, bfi, AC_ITEMS)
    measures = fit.fit_measures
    expected = 2 * fit.nobs * measures["fmin"]
    assert measures["chisq"] == pytest.approx(expected, rel=1e-12)


def test_estimate_is_local_minimum(bfi):
    fit = fit_quietly(AC_MODEL, bfi, AC_ITEMS, estimator="ULS")
    ordinal = fit.structure
    blocks = tuple(
        wls_model.LeastSquaresData(s.nobs, s.wls_obs, np.ones(len(s.wls_obs)), None)
        for s in fit.sample)
    best = wls_model.fmin(ordinal, blocks, fit.x)
    rng = np.random.default_rng(3)
    for _ in range(5):
        nearby = fit.x + 1e-3 * rng.standard_normal(len(fit.x))
        assert wls_model.fmin(ordinal, blocks, nearby) > best


def test_written_thresholds_change_nothing(bfi):
    default = fit_quietly(AC_MODEL, bfi, AC_ITEMS)
    written = fit_quietly(AC_MODEL + "A1 | t1 + t2 + t3 + t4 + t5\n", bfi, AC_ITEMS)
    np.testing.assert_allclose(written.x, default.x, atol=1e-10)
    thresholds = written.table.frame[written.table.frame["op"] == "|"]
    assert thresholds["user"].sum() == 5


def test_fixed_threshold_is_kept(bfi):
    fit = fit_quietly(AC_MODEL + "A1 | -0.5*t1\n", bfi, AC_ITEMS)
    row = fit.estimates[(fit.estimates["lhs"] == "A1") & (fit.estimates["rhs"] == "t1")]
    assert row["est"].item() == -0.5
    assert row["se"].item() == 0.0
    assert fit.fit_measures["df"] == 35


def test_ordered_true_means_every_item(bfi):
    fit = fit_quietly(AC_MODEL, bfi, True, estimator="ULS")
    assert fit.sample[0].variables == tuple(AC_ITEMS)


def test_categorical_items_give_same_fit(bfi):
    numeric = fit_quietly(AC_MODEL, bfi, AC_ITEMS, estimator="ULS")
    labelled = bfi.copy()
    for item in AC_ITEMS:
        labelled[item] = pd.Categorical(labelled[item], categories=[1, 2, 3, 4, 5, 6],
                                        ordered=True)
    categorical = fit_quietly(AC_MODEL, labelled, AC_ITEMS, estimator="ULS")
    np.testing.assert_allclose(categorical.x, numeric.x, atol=1e-12)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_unknown_estimator_rejected(bfi):
    with pytest.raises(LioInputError, match="unknown estimator 'WLS'.*WLSMV"):
        fit_dwls(AC_MODEL, bfi, AC_ITEMS, estimator="WLS")


def test_continuous_variable_rejected(bfi):
    with pytest.raises(ModelSpecificationError, match="'C5' are not in ordered="):
        fit_dwls(AC_MODEL, bfi, AC_ITEMS[:-1])


def test_ordered_as_string_rejected(bfi):
    with pytest.raises(LioInputError, match="ordered must be a list"):
        fit_dwls(AC_MODEL, bfi, "A1")


def test_intercept_rejected(bfi):
    with pytest.raises(ModelSpecificationError, match="line 4.*intercept"):
        fit_dwls(AC_MODEL + "A ~ 1\n", bfi, AC_ITEMS)


def test_item_residual_variance_rejected(bfi):
    with pytest.raises(ModelSpecificationError, match="residual variance of the "
                                                      "ordinal item 'A1'"):
        fit_dwls(AC_MODEL + "A1 ~~ 0.5*A1\n", bfi, AC_ITEMS)


def test_unknown_threshold_rejected(bfi):
    with pytest.raises(ModelSpecificationError, match="'t6'.*thresholds t1, t2, t3, "
                                                      "t4, t5"):
        fit_quietly(AC_MODEL + "A1 | t6\n", bfi, AC_ITEMS)


def test_threshold_of_latent_variable_rejected(bfi):
    with pytest.raises(ModelSpecificationError, match="not an observed variable"):
        fit_dwls(AC_MODEL + "A | t1\n", bfi, AC_ITEMS)


def test_observed_covariate_rejected(bfi):
    with pytest.raises(ModelSpecificationError, match="'age'.*exogenous covariates"):
        fit_dwls(AC_MODEL + "A ~ age\n", bfi, [*AC_ITEMS, "age"])


def test_missing_column_named(bfi):
    with pytest.raises(ModelSpecificationError, match="'A9' is not a column"):
        fit_dwls(AC_MODEL.replace("A5", "A9"), bfi, True)


def test_constant_item_rejected(bfi):
    data = bfi.copy()
    data["A1"] = 3
    with pytest.raises(DataError, match="'A1' is constant"):
        fit_dwls(AC_MODEL, data, AC_ITEMS)


def test_empty_category_after_deletion_rejected(bfi):
    data = bfi.copy()
    # The only responses 1 to A1 sit in rows that listwise deletion removes.
    data.loc[data["A1"] == 1, "A2"] = np.nan
    with pytest.raises(DataError, match="'A1' has no responses in category 1.0"):
        fit_quietly(AC_MODEL, data, AC_ITEMS)


def test_listwise_deletion_reported(bfi):
    with pytest.warns(ListwiseDeletionWarning, match="listwise deletion dropped 168"):
        fit = fit_dwls(AC_MODEL, bfi, AC_ITEMS, estimator="ULS")
    assert fit.nobs_dropped == 168
    assert any("listwise" in message for message in fit.messages)
