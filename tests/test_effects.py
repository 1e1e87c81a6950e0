"""Direct, indirect and total effects against lavaan's defined parameters (:=)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import load_reference

import lio_validate as lv
from lio_validate.effects import NonRecursiveWarning, enumerate_paths, indirect_effects

# lavaan's estimates stop at its own convergence criterion, about 1e-6 from the
# exact optimum on PD, so values derived from them agree to about 1e-6.
RTOL = 1e-5


@pytest.fixture(scope="module")
def pd_reference():
    return load_reference("pd_sem_defined")


@pytest.fixture(scope="module")
def pd_fit(pd_reference, political_democracy):
    return lv.sem(pd_reference["model"], political_democracy)


def _defined(reference, name):
    estimates = reference["estimates"]
    return estimates[(estimates["op"] == ":=") & (estimates["lhs"] == name)].iloc[0]


def test_indirect_path_equals_lavaan_defined(pd_fit, pd_reference):
    table = indirect_effects(pd_fit, "ind60", "dem65").table
    row = table[table["path"] == "ind60 -> dem60 -> dem65"].iloc[0]
    expected = _defined(pd_reference, "ind")
    assert row["kind"] == "indirect"
    np.testing.assert_allclose(row["est"], expected["est"], rtol=RTOL)
    np.testing.assert_allclose(row["se"], expected["se"], rtol=RTOL)
    np.testing.assert_allclose(row["std_all"], expected["std_all"], rtol=RTOL)
    np.testing.assert_allclose(row["std_lv"], expected["std_lv"], rtol=RTOL)
    np.testing.assert_allclose(row["ci_lower"], expected["ci_lower"], rtol=RTOL)
    np.testing.assert_allclose(row["ci_upper"], expected["ci_upper"], rtol=RTOL)


def test_total_effect_equals_lavaan_defined(pd_fit, pd_reference):
    table = indirect_effects(pd_fit, "ind60", "dem65").table
    row = table[table["kind"] == "total"].iloc[0]
    expected = _defined(pd_reference, "tot")
    np.testing.assert_allclose(row["est"], expected["est"], rtol=RTOL)
    np.testing.assert_allclose(row["se"], expected["se"], rtol=RTOL)
    np.testing.assert_allclose(row["z"], expected["z"], rtol=RTOL)
    np.testing.assert_allclose(row["std_all"], expected["std_all"], rtol=RTOL)


def test_defined_rows_of_fit_equal_lavaan(pd_fit, pd_reference):
    ours = pd_fit.defined().set_index("lhs")
    for name in ("ind", "tot"):
        expected = _defined(pd_reference, name)
        for column in ("est", "se", "std_all"):
            np.testing.assert_allclose(ours.loc[name, column], expected[column],
                                       rtol=RTOL, err_msg=f"{name} {column}")


def test_direct_effect_is_the_regression(pd_fit, pd_reference):
    table = indirect_effects(pd_fit, "ind60", "dem65").table
    row = table[table["kind"] == "direct"].iloc[0]
    estimates = pd_reference["estimates"]
    expected = estimates[(estimates["lhs"] == "dem65") & (estimates["op"] == "~")
                         & (estimates["rhs"] == "ind60")].iloc[0]
    assert row["path"] == "ind60 -> dem65"
    np.testing.assert_allclose(row["est"], expected["est"], rtol=RTOL)
    np.testing.assert_allclose(row["se"], expected["se"], rtol=RTOL)


def test_paths_add_up_to_total(pd_fit):
    table = indirect_effects(pd_fit, "ind60", "y6").table
    specific = table[table["kind"] == "indirect"]
    total_indirect = table[table["kind"] == "total indirect"].iloc[0]
    total = table[table["kind"] == "total"].iloc[0]
    assert set(specific["path"]) == {"ind60 -> dem60 -> dem65 -> y6",
                                     "ind60 -> dem65 -> y6"}
    np.testing.assert_allclose(specific["est"].sum(), total_indirect["est"], rtol=1e-12)
    np.testing.assert_allclose(specific["std_all"].sum(), total_indirect["std_all"],
                               rtol=1e-12)
    # No direct path from ind60 to y6, so everything is indirect.
    np.testing.assert_allclose(total["est"], total_indirect["est"], rtol=1e-12)


def test_std_all_rescales_by_implied_sds(pd_fit):
    table = indirect_effects(pd_fit, "ind60", "y6").table
    implied = pd_fit.implied_cov
    total = table[table["kind"] == "total"].iloc[0]
    # ind60 is exogenous, so its variance parameter is its total variance.
    estimates = pd_fit.estimates.set_index(["lhs", "op", "rhs"])
    var_ind60 = estimates.loc[("ind60", "~~", "ind60"), "est"]
    ratio = np.sqrt(var_ind60) / np.sqrt(implied.loc["y6", "y6"])
    np.testing.assert_allclose(total["std_all"], total["est"] * ratio, rtol=1e-10)


def test_groups_get_their_own_rows(hs):
    model = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
             "speed =~ x7 + x8 + x9\ntextual ~ visual\nspeed ~ textual + visual")
    fit = lv.sem(model, hs, group="school")
    table = indirect_effects(fit, "visual", "speed").table
    assert list(table["group"].unique()) == list(fit.group_names)
    single_group = indirect_effects(fit, "visual", "speed",
                                    group=fit.group_names[1]).table
    pd.testing.assert_frame_equal(
        single_group.reset_index(drop=True),
        table[table["group"] == fit.group_names[1]].reset_index(drop=True))


def test_feedback_loop_warns_and_keeps_total(political_democracy):
    model = "y1 ~ y2 + x1\ny2 ~ y1 + x2"
    fit = lv.sem(model, political_democracy)
    with pytest.warns(NonRecursiveWarning, match="feedback loop"):
        result = indirect_effects(fit, "x1", "y2")
    assert not result.recursive
    assert "indirect" not in set(result.table["kind"])
    estimates = fit.estimates.set_index(["lhs", "op", "rhs"])["est"]
    b12, b21 = estimates[("y1", "~", "y2")], estimates[("y2", "~", "y1")]
    g11 = estimates[("y1", "~", "x1")]
    # x1 -> y1 -> y2, round the loop: g11 b21 / (1 - b12 b21).
    total = result.table[result.table["kind"] == "total"]["est"].iloc[0]
    np.testing.assert_allclose(total, g11 * b21 / (1 - b12 * b21), rtol=1e-10)


def test_enumerate_paths_lists_every_route():
    # 0 -> 1 -> 3, 0 -> 2 -> 3, 0 -> 3, 1 -> 2
    pattern = np.zeros((4, 4), dtype=bool)
    for source, target in [(0, 1), (1, 3), (0, 2), (2, 3), (0, 3), (1, 2)]:
        pattern[target, source] = True
    paths, recursive = enumerate_paths(pattern, 0, 3)
    assert recursive
    assert sorted(map(tuple, paths)) == [(0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3)]


def test_unknown_variable_lists_names(pd_fit):
    with pytest.raises(lv.LioInputError, match="'dem70'.*dem65"):
        indirect_effects(pd_fit, "ind60", "dem70")


def test_same_predictor_and_outcome(pd_fit):
    with pytest.raises(lv.LioInputError, match="both 'dem60'"):
        indirect_effects(pd_fit, "dem60", "dem60")


def test_summary_names_paths(pd_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = indirect_effects(pd_fit, "ind60", "dem65").summary()
    assert "ind60 -> dem60 -> dem65" in text
    assert "total indirect" in text
