"""Wald tests of paths and latent means across groups.

References are lavaan 0.6.14 ``lavTestWald`` statistics stored by
tests/reference/invariance_references.R (hs_sem_school_wald,
bfi_sem_edu_wald). A pairwise z test is compared through z^2, which equals
lavTestWald's statistic for one constraint; statistics must agree within
1e-4 relative or 1e-4 absolute.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import bfi_recoded
from matplotlib.figure import Figure
from reference_loader import load_reference
from statsmodels.stats.multitest import multipletests
from threadpoolctl import threadpool_limits

import lio_validate as lv
from lio_validate.comparisons import (
    compare_groups,
    compare_latent_means,
    compare_paths,
)
from lio_validate.exceptions import LioInputError, LioWarning

RTOL = 1e-4
# Statistics near 0 get an absolute tolerance, because the estimates differ
# from lavaan's by about 1e-6 (the optimisers' stopping rules), which moves a
# statistic of 0.05 by about 2e-5.
ATOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def single_blas_thread():
    """Run numpy's BLAS on one thread while this module's tests run.

    The matrices here are small (at most a few hundred rows), and on a busy
    2-core machine OpenBLAS's default of 2 threads made these tests about
    three times slower. The numbers do not depend on the thread count.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def hs_reference():
    return load_reference("hs_sem_school_wald")


@pytest.fixture(scope="module")
def hs_scalar(hs, hs_reference):
    return lv.sem(hs_reference["model"], hs, group="school",
                  group_equal=["loadings", "intercepts"])


@pytest.fixture(scope="module")
def bfi_reference():
    return load_reference("bfi_sem_edu_wald")


@pytest.fixture(scope="module")
def bfi_edu():
    frame = bfi_recoded()
    frame = frame[frame["education"].notna()].copy()
    frame["education_band"] = frame["education"].map(
        {1: "low", 2: "low", 3: "middle", 4: "high", 5: "high"})
    return frame


@pytest.fixture(scope="module")
def bfi_scalar(bfi_edu, bfi_reference):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        return lv.sem(bfi_reference["model"], bfi_edu, group="education_band",
                      group_equal=["loadings", "intercepts"])


def wald(reference, name):
    return reference["extra"]["wald"][name]


def pair(comparison, parameter, group_a, group_b):
    rows = comparison.pairs[(comparison.pairs["parameter"] == parameter)
                            & (comparison.pairs["group_a"] == group_a)
                            & (comparison.pairs["group_b"] == group_b)]
    assert len(rows) == 1, (parameter, group_a, group_b)
    return rows.iloc[0]


def omnibus(comparison, parameter):
    rows = comparison.omnibus[comparison.omnibus["parameter"] == parameter]
    assert len(rows) == 1, parameter
    return rows.iloc[0]


# --------------------------------------------------------------------------
# Against lavTestWald
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "name"),
    [
        ("textual ~ visual", "textual_on_visual"),
        ("speed ~ visual", "speed_on_visual"),
        ("speed ~ textual", "speed_on_textual"),
        ("visual ~1", "visual_mean"),
        ("textual ~1", "textual_mean"),
        ("speed ~1", "speed_mean"),
    ],
)
def test_hs_two_groups(hs_scalar, hs_reference, parameter, name):
    comparison = compare_groups(hs_scalar, latent_means=True)
    expected = wald(hs_reference, name)

    row = pair(comparison, parameter, "Pasteur", "Grant-White")
    assert row["z"] ** 2 == pytest.approx(expected["stat"], rel=RTOL, abs=ATOL)
    assert row["pvalue"] == pytest.approx(expected["p_value"], rel=RTOL, abs=ATOL)
    assert omnibus(comparison, parameter)["X2"] == pytest.approx(expected["stat"],
                                                                 rel=RTOL, abs=ATOL)


@pytest.mark.parametrize(
    ("group_a", "group_b", "name"),
    [("middle", "low", "a_low_middle"), ("middle", "high", "a_high_middle"),
     ("low", "high", "a_high_low")],
)
def test_bfi_path_pairs(bfi_scalar, bfi_reference, group_a, group_b, name):
    comparison = compare_paths(bfi_scalar)

    row = pair(comparison, "A ~ E", group_a, group_b)

    expected = wald(bfi_reference, name)["stat"]
    assert row["z"] ** 2 == pytest.approx(expected, rel=RTOL, abs=ATOL)


@pytest.mark.parametrize(("parameter", "name"), [("A ~ E", "a_all"),
                                                 ("C ~ E", "c_all")])
def test_bfi_path_omnibus(bfi_scalar, bfi_reference, parameter, name):
    row = omnibus(compare_paths(bfi_scalar), parameter)

    assert row["df"] == 2
    expected = wald(bfi_reference, name)["stat"]
    assert row["X2"] == pytest.approx(expected, rel=RTOL, abs=ATOL)
    assert row["pvalue"] == pytest.approx(wald(bfi_reference, name)["p_value"],
                                          rel=RTOL)


@pytest.mark.parametrize("factor", ["A", "C", "E"])
def test_bfi_latent_means(bfi_scalar, bfi_reference, factor):
    comparison = compare_latent_means(bfi_scalar)
    parameter = f"{factor} ~1"

    low = pair(comparison, parameter, "middle", "low")
    high = pair(comparison, parameter, "middle", "high")
    high_low = pair(comparison, parameter, "low", "high")
    assert low["z"] ** 2 == pytest.approx(
        wald(bfi_reference, f"{factor}_mean_low")["stat"], rel=RTOL, abs=ATOL)
    assert high["z"] ** 2 == pytest.approx(
        wald(bfi_reference, f"{factor}_mean_high")["stat"], rel=RTOL, abs=ATOL)
    assert high_low["z"] ** 2 == pytest.approx(
        wald(bfi_reference, f"{factor}_mean_high_low")["stat"], rel=RTOL, abs=ATOL)
    assert omnibus(comparison, parameter)["X2"] == pytest.approx(
        wald(bfi_reference, f"{factor}_mean_all")["stat"], rel=RTOL, abs=ATOL)


# --------------------------------------------------------------------------
# Table, adjustment and options
# --------------------------------------------------------------------------


def test_holm_over_whole_call(bfi_scalar):
    comparison = compare_groups(bfi_scalar, latent_means=True)

    expected = multipletests(comparison.pairs["pvalue"], method="holm")[1]
    np.testing.assert_allclose(comparison.pairs["pvalue_adjusted"], expected)
    assert len(comparison.pairs) == 15
    assert (comparison.pairs["significant"]
            == (comparison.pairs["pvalue_adjusted"] < 0.05)).all()


def test_no_adjustment(bfi_scalar):
    comparison = compare_paths(bfi_scalar, adjust="none")

    np.testing.assert_array_equal(comparison.pairs["pvalue_adjusted"],
                                  comparison.pairs["pvalue"])


def test_difference_is_b_minus_a(bfi_scalar):
    row = pair(compare_paths(bfi_scalar), "A ~ E", "middle", "high")

    assert row["difference"] == pytest.approx(row["est_b"] - row["est_a"])
    assert row["ci_lower"] < row["difference"] < row["ci_upper"]
    assert row["ci_upper"] - row["difference"] == pytest.approx(1.959964 * row["se"],
                                                                rel=1e-6)


def test_reference_pairs_only(bfi_scalar):
    comparison = compare_paths(bfi_scalar, pairs="reference", reference="low")

    assert set(comparison.pairs["group_a"]) == {"low"}
    assert set(comparison.pairs["group_b"]) == {"middle", "high"}


def test_selected_parameters(bfi_scalar):
    comparison = compare_groups(bfi_scalar, parameters=["C ~ E", "E ~1"])

    assert list(dict.fromkeys(comparison.pairs["parameter"])) == ["C ~ E", "E ~1"]


def test_constrained_path_has_note(hs, hs_reference):
    fit = lv.sem(hs_reference["model"].replace("c(b1, b2)*", "b*"), hs,
                 group="school", group_equal=["loadings", "intercepts"])

    comparison = compare_paths(fit)

    row = pair(comparison, "textual ~ visual", "Pasteur", "Grant-White")
    assert row["note"] == "held equal in the fit"
    assert np.isnan(row["pvalue"])
    assert np.isnan(omnibus(comparison, "textual ~ visual")["X2"])


def test_summary_and_plots(bfi_scalar):
    comparison = compare_groups(bfi_scalar, latent_means=True)

    assert "A ~ E" in comparison.summary()
    assert isinstance(comparison.plot(), Figure)
    assert isinstance(comparison.plot("differences"), Figure)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"adjust": "sidak2"}, "unknown adjust"),
        ({"pairs": "some"}, "unknown pairs"),
        ({"reference": "Lab"}, "reference group 'Lab'"),
        ({"alpha": 1.5}, "between 0 and 1"),
        ({"parameters": ["textual ~ speed"]}, "not in the fit"),
        ({"paths": False}, "nothing to compare"),
    ],
)
def test_invalid_options(hs_scalar, options, message):
    with pytest.raises(LioInputError, match=message):
        compare_groups(hs_scalar, **options)


# --------------------------------------------------------------------------
# Refusals and warnings
# --------------------------------------------------------------------------


@pytest.mark.parametrize("group_equal", [[], ["loadings"]])
def test_latent_means_refused_without_scalar(hs, hs_reference, group_equal):
    fit = lv.sem(hs_reference["model"], hs, group="school", group_equal=group_equal)

    with pytest.raises(LioInputError, match="latent means of 'visual' cannot be "
                                            "compared"):
        compare_latent_means(fit)


def test_latent_means_refused_with_too_few_anchors(hs, hs_reference):
    fit = lv.sem(hs_reference["model"], hs, group="school",
                 group_equal=["loadings", "intercepts"],
                 group_partial=["x2 ~1", "x3 ~1"])

    with pytest.raises(LioInputError, match=r"only 1 of its items \(x1\)"):
        compare_latent_means(fit)


def test_latent_means_allowed_with_partial_scalar(hs, hs_reference):
    fit = lv.sem(hs_reference["model"], hs, group="school",
                 group_equal=["loadings", "intercepts"], group_partial=["x3 ~1"])

    comparison = compare_latent_means(fit)

    assert set(comparison.pairs["parameter"]) == {"visual ~1", "textual ~1",
                                                  "speed ~1"}


def test_latent_means_refused_when_fixed(hs, hs_reference):
    fit = lv.sem(hs_reference["model"], hs, group="school",
                 group_equal=["loadings", "intercepts", "means"])

    with pytest.raises(LioInputError, match="fixed in every group"):
        compare_latent_means(fit)


def test_paths_without_metric_warn(hs, hs_reference):
    fit = lv.sem(hs_reference["model"], hs, group="school")

    with pytest.warns(LioWarning, match="metric invariance") as record:
        compare_paths(fit)

    assert record[0].filename == __file__


def test_single_group_rejected(hs):
    fit = lv.sem("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
                 "textual ~ visual", hs)

    with pytest.raises(LioInputError, match="multi-group fit"):
        compare_paths(fit)


def test_robust_fit_uses_its_vcov(hs, hs_reference):
    ml = lv.sem(hs_reference["model"], hs, group="school",
                group_equal=["loadings", "intercepts"])
    mlr = lv.sem(hs_reference["model"], hs, group="school",
                 group_equal=["loadings", "intercepts"], estimator="MLR")

    se_ml = pair(compare_paths(ml), "speed ~ visual", "Pasteur", "Grant-White")["se"]
    se_mlr = pair(compare_paths(mlr), "speed ~ visual", "Pasteur", "Grant-White")["se"]

    names = [name for name in mlr.vcov.index if name.startswith("speed ~ visual")]
    expected = np.sqrt(mlr.vcov.loc[names[0], names[0]]
                       + mlr.vcov.loc[names[1], names[1]]
                       - 2 * mlr.vcov.loc[names[0], names[1]])
    assert se_mlr == pytest.approx(expected)
    assert se_mlr != pytest.approx(se_ml)
