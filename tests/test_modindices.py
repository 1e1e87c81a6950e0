"""Modification indices and normalized residuals against lavaan 0.6.14."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_reference, reference_matrix

import lio_validate as lv
from lio_validate.engine import fitted_engine
from lio_validate.modindices import modindices
from lio_validate.residuals import residuals

# The package exports the function modindices under the module's name, so the
# module itself is taken from the import system.
mi_module = importlib.import_module("lio_validate.modindices")

# (reference file, data fixture, group column)
CASES = {
    "hs_cfa_ml": ("hs", None),
    "hs_mg_diagnostics": ("hs", "school"),
    "hs_mimic_diagnostics": ("hs", None),
    "pd_equal_diagnostics": ("political_democracy", None),
    "pd_defined_diagnostics": ("political_democracy", None),
}


def _lavaan_table(reference) -> pd.DataFrame:
    table = pd.DataFrame(reference["extra"]["modindices"])
    labels = reference["extra"]["group_labels"]
    if "group" in table:
        table["group"] = [labels[int(g) - 1] for g in table["group"]]
    else:
        table["group"] = ""
    return table.rename(columns={"sepc.lv": "sepc_lv", "sepc.all": "sepc_all",
                                 "sepc.nox": "sepc_nox"})


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    fixture, group = CASES[name]
    data = request.getfixturevalue(fixture)
    reference = load_reference(name)
    fit = lv.sem(reference["model"], data, group=group)
    return name, reference, fit, data


def test_hs_modindices_equal_lavaan(hs):
    reference = load_reference("hs_cfa_ml")
    fit = lv.cfa(reference["model"], hs)
    ours = modindices(fit).table
    expected = _lavaan_table(reference)
    keys = ["lhs", "op", "rhs"]
    assert ours[keys].values.tolist() == expected[keys].values.tolist()
    for column in ("mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"):
        np.testing.assert_allclose(ours[column], expected[column], rtol=1e-3,
                                   err_msg=column)


def test_candidates_and_order_equal_lavaan(case):
    _, reference, fit, data = case
    ours = modindices(fit, data).table
    expected = _lavaan_table(reference)
    keys = ["lhs", "op", "rhs", "group"]
    assert ours[keys].values.tolist() == expected[keys].values.tolist()


def test_formula_exact_at_lavaan_estimates(case):
    # At lavaan's own estimates, MI and EPC must agree to rounding error: what
    # remains in the comparison at this package's estimates is the distance
    # between the two optimisers' stopping points.
    _, reference, fit, data = case
    engine = fitted_engine(fit, data)
    estimates = reference["estimates"].set_index(["lhs", "op", "rhs", "group"])
    frame = engine.model.table.frame
    names = engine.group_names
    x = engine.x.copy()
    for row in np.flatnonzero(frame["free"].to_numpy() > 0):
        group = names[frame["group"].iat[row]] if len(names) > 1 else ""
        key = (frame["lhs"].iat[row], frame["op"].iat[row], frame["rhs"].iat[row],
               group)
        x[frame["free"].iat[row] - 1] = estimates.loc[key, "est"]
    engine = dataclasses.replace(engine, x=x)

    extended = mi_module._extend(engine)
    mi, epc, identified = mi_module._score_statistics(extended, engine.stats,
                                                      engine.model.npar)
    keep = identified & ~mi_module._fixed_x_rows(engine, extended.frame,
                                                 extended.candidate_rows)
    expected = _lavaan_table(reference)
    np.testing.assert_allclose(mi[keep], expected["mi"], rtol=1e-8)
    np.testing.assert_allclose(epc[keep], expected["epc"], rtol=1e-8)


def test_modindices_near_lavaan_at_own_estimates(case):
    name, reference, fit, data = case
    ours = modindices(fit, data).table
    expected = _lavaan_table(reference)
    # The configural two-group fit is where lavaan stopped farthest from the
    # optimum (1.6e-5 in the estimates), so small MIs there differ by ~1e-3.
    atol = 2e-3 if name == "hs_mg_diagnostics" else 2e-4
    for column in ("mi", "epc", "sepc_lv", "sepc_all"):
        np.testing.assert_allclose(ours[column], expected[column], rtol=2e-3,
                                   atol=atol, err_msg=column)


def test_sorting_and_filters(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs)
    result = modindices(fit, sort=True, minimum_value=10, op="~~")
    table = result.table
    assert list(table["op"].unique()) == ["~~"]
    assert (table["mi"] > 10).all()
    assert table["mi"].is_monotonic_decreasing
    assert table.iloc[0][["lhs", "rhs"]].tolist() == ["x7", "x8"]
    assert "x7 ~~ x8" in result.summary()


def test_marker_loadings_left_out(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs)
    result = modindices(fit)
    table = result.table
    assert not ((table["lhs"] == "visual") & (table["rhs"] == "x1")).any()
    assert result.not_identified == 3


def test_grouped_fit_needs_data(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs, group="school")
    with pytest.raises(lv.LioInputError, match="data="):
        modindices(fit)


def test_unknown_operator(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs)
    with pytest.raises(lv.LioInputError, match="unknown operator"):
        modindices(fit, op="=")


def test_other_data_rejected(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs)
    with pytest.raises(lv.DataError, match="rows"):
        modindices(fit, hs.iloc[:200])


# --------------------------------------------------------------------------
# Normalized residuals
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(CASES) - {"hs_cfa_ml"}))
def test_normalized_residuals_equal_lavaan(name, request):
    fixture, group = CASES[name]
    data = request.getfixturevalue(fixture)
    reference = load_reference(name)
    fit = lv.sem(reference["model"], data, group=group)
    result = residuals(fit, data)
    stored = reference["extra"]["residuals_normalized"]
    labels = reference["extra"]["group_labels"]
    parts = [stored[label] for label in labels] if len(labels) > 1 else [stored]
    for group, part in enumerate(parts):
        expected = reference_matrix(part["cov"])
        ours = result.cov[group].loc[expected.index, expected.columns]
        # Residuals are differences of moments, so the optimisers' stopping
        # points enter undivided: up to 6e-5 for the two-group fit.
        np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(), atol=1e-4)
        if "mean" in part:
            expected_mean = pd.Series(part["mean"])
            np.testing.assert_allclose(result.mean[group][expected_mean.index],
                                       expected_mean, atol=1e-4)


def test_raw_residuals_are_moment_differences(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs)
    result = residuals(fit, type="raw")
    np.testing.assert_allclose(result.cov[0], fit.sample_cov - fit.implied_cov,
                               atol=1e-12)
    assert result.mean is None
    assert "largest in absolute value" in result.summary()


def test_unknown_residual_type(hs):
    fit = lv.cfa(load_reference("hs_cfa_ml")["model"], hs)
    with pytest.raises(lv.LioInputError, match="normalized"):
        residuals(fit, type="standardized")
