"""Invariants of the ML engine and its errors and warnings on bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lio_validate as lv
from lio_validate import ml
from lio_validate.data_prep import prepare_data
from lio_validate.model import build_ram_model
from lio_validate.partable import build_parameter_table
from lio_validate.samplestats import compute_sample_statistics
from lio_validate.syntax import parse_model

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
MIMIC_MODEL = HS_MODEL + "\nvisual + textual ~ ageyr + sex\nx1 ~~ x4"
PD_MODEL = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
"""


def engine(model_text, data, group=None, **options):
    parsed = parse_model(model_text)
    prepared, _ = prepare_data(parsed, data, group=group)
    table = build_parameter_table(parsed, ngroups=len(prepared.frames), **options)
    stats = compute_sample_statistics(list(prepared.frames), table.roles.ov)
    return build_ram_model(table, stats), stats


CASES = [
    ("hs", HS_MODEL, None, {}),
    ("hs", MIMIC_MODEL, None, {"meanstructure": True}),
    ("hs", HS_MODEL, "school", {}),
    ("pd", PD_MODEL, None, {}),
]


@pytest.fixture(params=range(len(CASES)), ids=["cfa", "mimic_means", "groups", "pd"])
def case(request, hs, political_democracy):
    name, model_text, group, options = CASES[request.param]
    data = hs if name == "hs" else political_democracy
    return engine(model_text, data, group, **options)


def test_gradient_equals_finite_differences(case):
    model, stats = case
    rng = np.random.default_rng(1)
    x = ml.start_values(model, stats) * (1 + 0.05 * rng.standard_normal(model.npar))
    analytic = ml.gradient(model, stats, x)
    numeric = np.zeros_like(x)
    for k in range(len(x)):
        step = np.zeros_like(x)
        step[k] = 1e-6
        numeric[k] = (ml.fmin(model, stats, x + step)
                      - ml.fmin(model, stats, x - step)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_expected_information_near_hessian_at_saturated_fit(hs):
    # For a model that fits exactly, the expected information equals the
    # Hessian of fmin (the residual terms vanish).
    model, stats = engine("f =~ x1 + x2 + x3", hs)
    optimum = ml.fit_ml(model, stats)
    expected = ml.expected_information(model, stats, optimum.x)
    observed = ml.observed_information(model, stats, optimum.x)
    np.testing.assert_allclose(expected, observed, rtol=1e-5, atol=1e-8)


def test_optimum_is_a_minimum(case):
    model, stats = case
    optimum = ml.fit_ml(model, stats)
    assert optimum.converged
    rng = np.random.default_rng(2)
    for _ in range(20):
        nearby = optimum.x + 1e-3 * rng.standard_normal(model.npar)
        assert ml.fmin(model, stats, nearby) >= optimum.fmin


def test_saturated_model_reproduces_covariance(hs):
    fit = lv.cfa("f =~ x1 + x2 + x3", hs)
    np.testing.assert_allclose(fit.implied_cov, fit.sample_cov, atol=1e-7)
    assert fit.fit_measures["df"] == 0
    assert fit.fit_measures["chisq"] == pytest.approx(0.0, abs=1e-8)
    assert np.isnan(fit.fit_measures["pvalue"])
    assert fit.fit_measures["rmsea"] == 0.0


def test_result_is_immutable(hs):
    fit = lv.cfa(HS_MODEL, hs)
    with pytest.raises(AttributeError):
        fit.nobs = 3
    with pytest.raises(TypeError):
        fit.fit_measures["chisq"] = 0.0


def test_summary_lists_every_parameter(hs):
    fit = lv.cfa(HS_MODEL, hs)
    text = fit.summary()
    assert "Comparative Fit Index (CFI)" in text
    for item in ("x1", "x5", "x9"):
        assert f"=~ {item}" in text


def test_estimates_have_interface_columns(hs):
    fit = lv.cfa(HS_MODEL, hs)
    assert tuple(fit.estimates.columns) == lv.results.ESTIMATE_COLUMNS
    for name in lv.results.FIT_MEASURE_NAMES:
        assert name in fit.fit_measures


# --------------------------------------------------------------------------
# Errors and warnings
# --------------------------------------------------------------------------


def test_unknown_variable_suggests_column(hs):
    with pytest.raises(lv.ModelSpecificationError) as error:
        lv.cfa("visual =~ x1 + x2 + xx3", hs)
    message = str(error.value)
    assert "line 1" in message
    assert "'xx3'" in message
    assert "'x3'" in message


def test_latent_without_indicators(hs):
    with pytest.raises(lv.ModelSpecificationError, match=r"line 2.*'ability'"):
        lv.sem("visual =~ x1 + x2 + x3\nvisual ~ ability", hs)


def test_negative_degrees_of_freedom(hs):
    with pytest.raises(lv.IdentificationError, match="df = -1"):
        lv.cfa("f =~ x1 + x2 + x3\nx1 ~~ x2", hs)


def test_unscaled_latent_not_identified(hs):
    with pytest.raises(lv.IdentificationError, match="not identified"):
        lv.cfa("f =~ NA*x1 + x2 + x3 + x4", hs)


def test_ordinal_estimator_needs_ordered_items(hs):
    with pytest.raises(lv.LioInputError, match="ordered"):
        lv.cfa(HS_MODEL, hs, estimator="WLSMV")


def test_unknown_estimator_lists_choices(hs):
    with pytest.raises(lv.LioInputError, match="choose one of"):
        lv.cfa(HS_MODEL, hs, estimator="GLSX")


def test_text_column_rejected(hs):
    data = hs.copy()
    data["x2"] = data["x2"].astype(str)
    data.loc[3, "x2"] = "n/a"
    with pytest.raises(lv.DataError, match=r"'x2'.*'n/a'"):
        lv.cfa(HS_MODEL, data)


def test_constant_item_rejected(hs):
    data = hs.copy()
    data["x3"] = 1.0
    with pytest.raises(lv.DataError, match="'x3'.*constant"):
        lv.cfa(HS_MODEL, data)


def test_listwise_deletion_reported(hs):
    data = hs.copy()
    data.loc[:9, "x1"] = np.nan
    with pytest.warns(lv.ListwiseDeletionWarning, match="dropped 10 of 301"):
        fit = lv.cfa(HS_MODEL, data)
    assert fit.nobs == 291
    assert fit.nobs_dropped == 10


def test_heywood_case_reported_not_clipped():
    # Correlations r12 = r13 = .8 and r23 = .4 imply a squared standardized
    # loading of .8 * .8 / .4 = 1.6 for item a, so its residual variance is
    # -0.6 in the exactly fitting one-factor model.
    target = np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.4], [0.8, 0.4, 1.0]])
    rng = np.random.default_rng(5)
    raw = rng.standard_normal((500, 3))
    raw -= raw.mean(axis=0)
    whitened = raw @ np.linalg.inv(np.linalg.cholesky(np.cov(raw.T, bias=True)).T)
    data = pd.DataFrame(whitened @ np.linalg.cholesky(target).T, columns=list("abc"))
    with pytest.warns(lv.HeywoodWarning, match=r"a ~~ a.*negative"):
        fit = lv.cfa("f =~ a + b + c", data)
    residual = fit.estimates.query("lhs == 'a' and op == '~~'")
    assert residual["est"].iloc[0] == pytest.approx(-0.6, abs=1e-6)
    assert residual["std_all"].iloc[0] == pytest.approx(-0.6, abs=1e-6)


def test_missing_group_column(hs):
    with pytest.raises(lv.DataError, match="'schol'.*'school'"):
        lv.cfa(HS_MODEL, hs, group="schol")


def test_data_must_be_frame():
    with pytest.raises(lv.DataError, match="DataFrame"):
        lv.cfa(HS_MODEL, [[1, 2, 3]])
