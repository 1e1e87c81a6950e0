"""cross_check: lio_validate's ML fits compared with semopy's on the same data.

Tolerances come from semopy's optimiser, SLSQP with ftol 1e-12, which
cross_check sets. Measured with semopy 2.3.11 and scipy 1.17.1, the largest
differences over the fits in this file were 2.2e-6 x max(1, |est|) for an
estimate and 1.1e-6 relative for a standard error (both in the Political
Democracy SEM without equality labels), and 4.0e-12 relative for chisq. The
tolerances leave a margin of about 10 on the estimates and standard errors.
chisq is the minimum of the objective, so its error is of the order of the
squared error of the estimates, and 1e-9 still leaves a large margin. With
semopy's own default ftol of 1e-6, estimates of the Holzinger-Swineford CFA
differed by up to 1.2e-3, which is why cross_check tightens it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_reference
from threadpoolctl import threadpool_limits

import lio_validate as lv
from lio_validate.cross_check import CrossCheck, cross_check
from lio_validate.exceptions import ConvergenceWarning, LioInputError, LioWarning

ESTIMATE_TOLERANCE = 2e-5  # x max(1, |est|)
SE_TOLERANCE = 1e-5  # relative
CHISQ_TOLERANCE = 1e-9  # relative

HS_MODEL = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""

# Bollen's (1989) model with equal loadings across the two waves (shared
# labels) and a defined parameter over two of those labels.
PD_MODEL = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ratio := b / a
"""

# The same model with every loading free to differ between the waves.
PD_FREE_MODEL = "\n".join(
    line.replace("a*", "").replace("b*", "").replace("c*", "")
    for line in PD_MODEL.splitlines()
    if not line.startswith("ratio")
)

PATH_MODEL = """
y1 ~ x1 + x2
y5 ~ y1 + x1
"""


@pytest.fixture(scope="module", autouse=True)
def single_blas_thread():
    """Keep numpy's BLAS on one thread during this module.

    semopy works on covariance matrices of at most 11 variables here. With
    OpenBLAS on 2 threads on a busy 2-core machine, the module took 21 s
    instead of 7 s, with the same numbers.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def hs_check(hs) -> CrossCheck:
    return cross_check(HS_MODEL, hs)


@pytest.fixture(scope="module")
def hs_stdlv_check(hs) -> CrossCheck:
    return cross_check(HS_MODEL, hs, std_lv=True)


@pytest.fixture(scope="module")
def hs_means_check(hs) -> CrossCheck:
    return cross_check(HS_MODEL, hs, meanstructure=True)


@pytest.fixture(scope="module")
def hs_observed_check(hs) -> CrossCheck:
    return cross_check(HS_MODEL, hs, information="observed")


@pytest.fixture(scope="module")
def pd_check(political_democracy) -> CrossCheck:
    return cross_check(PD_MODEL, political_democracy)


@pytest.fixture(scope="module")
def pd_free_check(political_democracy) -> CrossCheck:
    return cross_check(PD_FREE_MODEL, political_democracy)


@pytest.fixture(scope="module")
def path_check(political_democracy) -> CrossCheck:
    return cross_check(PATH_MODEL, political_democracy, fixed_x=False)


CHECKS = [
    "hs_check", "hs_stdlv_check", "hs_means_check", "hs_observed_check", "pd_check",
    "pd_free_check", "path_check",
]


# --------------------------------------------------------------------------
# Agreement
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKS)
def test_estimates_agree(name, request):
    check = request.getfixturevalue(name)
    for row in check.rows:
        allowed = ESTIMATE_TOLERANCE * max(1.0, abs(row.est_lio))
        assert row.abs_difference <= allowed, row


@pytest.mark.parametrize("name", CHECKS)
def test_standard_errors_agree(name, request):
    check = request.getfixturevalue(name)
    compared = [row for row in check.rows if row.op != ":="]
    assert compared
    for row in compared:
        assert row.se_semopy == pytest.approx(row.se_lio, rel=SE_TOLERANCE), row


@pytest.mark.parametrize("name", CHECKS)
def test_chisq_agrees(name, request):
    check = request.getfixturevalue(name)
    assert check.chisq_semopy == pytest.approx(check.chisq_lio, rel=CHISQ_TOLERANCE)


@pytest.mark.parametrize("name", CHECKS)
def test_semopy_converged(name, request):
    check = request.getfixturevalue(name)
    assert check.semopy_converged, check.semopy_message


def test_rows_are_free_parameters(hs_check, hs):
    fit = lv.sem(HS_MODEL, hs)
    free = fit.parameter_table["free"] > 0
    expected = list(zip(fit.estimates.loc[free, "lhs"], fit.estimates.loc[free, "op"],
                        fit.estimates.loc[free, "rhs"]))
    compared = [(row.lhs, row.op, row.rhs) for row in hs_check.rows]
    assert compared == expected


def test_hs_chisq_matches_lavaan(hs_check):
    reference = load_reference("hs_cfa_ml")
    lavaan_chisq = reference["fit_measures"]["chisq"]
    assert hs_check.chisq_semopy == pytest.approx(lavaan_chisq, rel=CHISQ_TOLERANCE)
    assert hs_check.df == reference["fit_measures"]["df"]
    assert hs_check.nobs == 301


def test_std_lv_frees_first_loadings(hs_stdlv_check):
    loadings = [row for row in hs_stdlv_check.rows if row.op == "=~"]
    assert len(loadings) == 9
    lavaan = load_reference("hs_cfa_ml_stdlv")["estimates"].set_index(
        ["lhs", "op", "rhs"]
    )
    for row in loadings:
        expected = lavaan.at[(row.lhs, row.op, row.rhs), "est"]
        # The project's tolerance for estimates against lavaan.
        assert row.est_semopy == pytest.approx(expected, abs=2e-4 * max(1, expected))


def test_equal_labels_share_one_estimate(pd_check):
    by_rhs = {row.rhs: row for row in pd_check.rows if row.op == "=~"}
    assert by_rhs["y2"].label == "a"
    assert by_rhs["y6"].label == "a"
    assert by_rhs["y2"].est_semopy == by_rhs["y6"].est_semopy
    assert by_rhs["y3"].est_semopy == by_rhs["y7"].est_semopy


def test_defined_parameter_evaluated_at_semopy(pd_check):
    row = next(row for row in pd_check.rows if row.op == ":=")
    by_label = {r.label: r.est_semopy for r in pd_check.rows if r.op == "=~"}
    assert row.lhs == "ratio"
    assert row.est_semopy == pytest.approx(by_label["b"] / by_label["a"], rel=1e-12)
    assert math.isnan(row.se_semopy)
    assert any("(:=)" in note for note in pd_check.notes)


def test_meanstructure_leaves_out_intercepts(hs_means_check, hs_check):
    assert all(row.op != "~1" for row in hs_means_check.rows)
    assert len(hs_means_check.rows) == len(hs_check.rows)
    # 9 intercepts and 3 latent means.
    assert any("12 rows of the mean structure" in note for note in hs_means_check.notes)


def test_observed_information_passed_to_semopy(hs_observed_check, hs_check):
    assert hs_observed_check.information == "observed"
    assert hs_check.information == "expected"


def test_fixed_x_false_compares_covariate_moments(path_check):
    compared = {(row.lhs, row.op, row.rhs) for row in path_check.rows}
    assert ("x1", "~~", "x2") in compared
    assert len(path_check.rows) == 9


def test_listwise_deletion_uses_same_rows(hs):
    data = hs.copy()
    data.loc[[0, 5, 9], "x2"] = np.nan
    with pytest.warns(lv.ListwiseDeletionWarning):
        check = cross_check(HS_MODEL, data)
    assert check.nobs == 298
    assert check.chisq_semopy == pytest.approx(check.chisq_lio, rel=CHISQ_TOLERANCE)
    for row in check.rows:
        allowed = ESTIMATE_TOLERANCE * max(1.0, abs(row.est_lio))
        assert row.abs_difference <= allowed, row


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


def test_result_is_frozen(hs_check):
    with pytest.raises(dataclasses.FrozenInstanceError):
        hs_check.chisq_lio = 0.0
    with pytest.raises(TypeError):
        hs_check.solver_options["ftol"] = 1.0


def test_table_is_a_copy(hs_check):
    table = hs_check.table
    table.loc[0, "est_semopy"] = -99.0
    assert hs_check.table.loc[0, "est_semopy"] != -99.0


def test_table_columns(hs_check):
    assert list(hs_check.table.columns) == [
        "lhs", "op", "rhs", "label", "est_lio", "est_semopy", "abs_difference",
        "se_lio", "se_semopy",
    ]


def test_records_semopy_version_and_options(hs_check):
    assert hs_check.semopy_version == importlib.metadata.version("semopy")
    assert hs_check.solver_options["ftol"] == 1e-12
    assert "lio_p1" in hs_check.semopy_model


def test_largest_difference_properties(hs_check):
    table = hs_check.table
    assert hs_check.max_abs_difference == table["abs_difference"].max()
    row = table.loc[table["abs_difference"].idxmax()]
    assert hs_check.max_difference_parameter == f"{row.lhs} {row.op} {row.rhs}"


def test_summary_names_engines_and_parameters(hs_check):
    text = hs_check.summary()
    assert f"semopy {hs_check.semopy_version}" in text
    assert "chisq" in text
    assert "visual =~ x2" in text
    assert "converged" in text


# --------------------------------------------------------------------------
# What semopy cannot fit
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"group": "school"}, "group='school'"),
        ({"estimator": "MLR"}, "estimator='MLR'"),
        ({"estimator": "WLSMV"}, "estimator='WLSMV'"),
        ({"weights": "ageyr"}, "weights='ageyr'"),
        ({"cluster": "school"}, "cluster='school'"),
        ({"missing": "fiml"}, "missing='fiml'"),
        ({"ordered": ["x1", "x2"]}, "ordered items as lavaan does"),
        ({"likelihood": "wishart"}, "likelihood='wishart'"),
        ({"group_equal": ["loadings"]}, "group_equal"),
    ],
)
def test_unsupported_option_rejected(hs, options, named):
    with pytest.raises(LioInputError) as raised:
        cross_check(HS_MODEL, hs, **options)
    message = str(raised.value)
    assert f"semopy cannot fit {named}" in message
    assert "compared with lavaan 0.6.14 in the package's test suite" in message


def test_unknown_option_rejected(hs):
    with pytest.raises(LioInputError, match="unknown option.*'std_lv_typo'"):
        cross_check(HS_MODEL, hs, std_lv_typo=True)


def test_threshold_line_rejected(bfi):
    model = "agree =~ A1 + A2 + A3\nA1 | t1 + t2"
    expected = r"thresholds on line 2 \('A1 \| t1 \+ t2'\)"
    with pytest.raises(LioInputError, match=expected):
        cross_check(model, bfi)


def test_fixed_intercept_rejected_with_line(hs):
    # 5 is near the sample mean of x1 (4.94), so lio_validate converges fast.
    model = "visual =~ x1 + x2 + x3\nx1 ~ 5*1"
    with pytest.raises(LioInputError, match=r"line 2 \('x1 ~ 5\*1'\)") as raised:
        cross_check(model, hs)
    assert "not saturated" in str(raised.value)


# --------------------------------------------------------------------------
# semopy failures
# --------------------------------------------------------------------------


def test_semopy_exception_wrapped(hs):
    # lavaan syntax allows a leading dot in a name; semopy 2.3.11 cannot parse it.
    data = hs.rename(columns={"x1": ".x1"})
    expected = r"semopy \S+ failed on this model"
    with pytest.raises(LioInputError, match=expected) as raised:
        cross_check("visual =~ .x1 + x2 + x3\ntextual =~ x4 + x5 + x6", data)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_semopy_nonconvergence_warns(hs):
    with pytest.warns(ConvergenceWarning, match="semopy's optimiser did not converge"):
        check = cross_check(HS_MODEL, hs, solver_options={"maxiter": 3})
    assert not check.semopy_converged
    assert check.solver_options["maxiter"] == 3
    assert check.solver_options["ftol"] == 1e-12


def test_negative_variance_noted():
    # Simulated so that lio_validate (like lavaan) estimates a ~~ a below 0,
    # where semopy's bound at 0 stops it.
    rng = np.random.default_rng(3)
    factor = rng.normal(size=60)
    data = pd.DataFrame({
        "a": 0.95 * factor + 0.3 * rng.normal(size=60),
        "b": 0.5 * factor + rng.normal(size=60),
        "c": 0.5 * factor + rng.normal(size=60),
    })
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check = cross_check("f =~ a + b + c", data)
    messages = [str(w.message) for w in caught if issubclass(w.category, LioWarning)]
    assert any("bounds every variance at 0" in text for text in messages)
    assert any("a ~~ a below 0" in note for note in check.notes)
    row = next(row for row in check.rows if row.lhs == "a" and row.rhs == "a")
    assert row.est_lio < 0
    assert row.est_semopy == pytest.approx(0.0, abs=1e-8)
