"""Parsing lavaan model syntax and building the parameter table."""

from __future__ import annotations

import pytest

from lio_validate.exceptions import ModelSpecificationError, ModelSyntaxError
from lio_validate.partable import build_parameter_table
from lio_validate.syntax import parse_model

PD_MODEL = """
  # measurement model
    ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + a*y2 + b*y3 + c*y4
    dem65 =~ y5 + a*y6 + b*y7 +
             c*y8
  # regressions
    dem60 ~ ind60; dem65 ~ ind60 + dem60
    y1 ~~ y5
"""


def test_multiline_formula_joined():
    parsed = parse_model(PD_MODEL)
    loadings = [t for t in parsed.terms if t.lhs == "dem65" and t.op == "=~"]
    assert [t.rhs for t in loadings] == ["y5", "y6", "y7", "y8"]
    assert loadings[-1].label == ("c",)
    assert loadings[-1].line == 5


def test_semicolon_splits_formulas():
    parsed = parse_model(PD_MODEL)
    regressions = [(t.lhs, t.rhs) for t in parsed.terms if t.op == "~"]
    assert regressions == [("dem60", "ind60"), ("dem65", "ind60"), ("dem65", "dem60")]


def test_modifiers_fixed_free_label():
    parsed = parse_model("f =~ NA*x1 + 0.5*x2 + lab*x3 + start(0.7)*x4")
    x1, x2, x3, x4 = parsed.terms
    assert x1.free
    assert x2.fixed == (0.5,)
    assert x3.label == ("lab",)
    assert x4.start == (0.7,)


def test_group_labels_with_c():
    parsed = parse_model("f =~ x1 + c(a1, a2)*x2 + c(1, NA)*x3")
    assert parsed.terms[1].label == ("a1", "a2")
    assert parsed.terms[2].fixed == (1.0, None)
    assert parsed.terms[2].free


def test_intercept_and_several_lhs():
    parsed = parse_model("visual + textual ~ ageyr + sex\nx1 ~ 1\nx2 ~ 0*1")
    ops = [(t.lhs, t.op, t.rhs) for t in parsed.terms]
    assert ("textual", "~", "sex") in ops
    assert ("x1", "~1", "") in ops
    assert parsed.terms[-1].fixed == (0.0,)


def test_definition_expression_evaluated_without_eval():
    parsed = parse_model("y ~ a*x\nz ~ b*y\nab := a*b^2 + exp(0)")
    definition = parsed.definitions[0]
    assert definition.expression.names == ("a", "b")
    assert definition.expression.evaluate({"a": 2.0, "b": 3.0}) == pytest.approx(19.0)


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')",
    "a.b",
    "[a, b]",
    "open(a)",
])
def test_definition_rejects_code(expression):
    with pytest.raises(ModelSyntaxError, match="line 2"):
        parse_model(f"y ~ a*x\nbad := {expression}")


def test_duplicate_formula_names_both_lines():
    with pytest.raises(ModelSyntaxError, match=r"line 3.*line 1"):
        parse_model("f =~ x1 + x2 + x3\ny ~ f\nf =~ x2")


def test_duplicate_covariance_either_order():
    with pytest.raises(ModelSyntaxError, match="already defined"):
        parse_model("f =~ x1 + x2 + x3\nx1 ~~ x2\nx2 ~~ x1")


def test_missing_operator_names_line():
    with pytest.raises(ModelSyntaxError, match="line 3"):
        parse_model("f =~ x1 + x2 + x3\n\nthis is not a formula =")


def test_unsupported_constraint_operator():
    with pytest.raises(ModelSyntaxError, match="shared label"):
        parse_model("f =~ x1 + a*x2 + b*x3\na == b")


def test_empty_model():
    with pytest.raises(ModelSyntaxError, match="empty"):
        parse_model("   # only a comment\n")


def test_bad_modifier():
    with pytest.raises(ModelSyntaxError, match="modifier"):
        parse_model("f =~ x1 + 2a*x2")


def test_definition_with_unknown_label():
    parsed = parse_model("y ~ a*x\nab := a*b")
    with pytest.raises(ModelSyntaxError, match="'b'"):
        build_parameter_table(parsed)


def test_c_labels_need_one_per_group():
    parsed = parse_model("f =~ x1 + c(a, b, c)*x2 + x3")
    with pytest.raises(ModelSyntaxError, match="gives 3"):
        build_parameter_table(parsed, ngroups=2)


def test_thresholds_rejected_until_ordinal_estimation():
    parsed = parse_model("f =~ x1 + x2 + x3\nx1 | t1 + t2")
    with pytest.raises(ModelSpecificationError, match="ordinal"):
        build_parameter_table(parsed)


# --------------------------------------------------------------------------
# Defaults of cfa()/sem()
# --------------------------------------------------------------------------


def rows(table):
    frame = table.frame
    return {(l, o, r): (f, v) for l, o, r, f, v in
            zip(frame["lhs"], frame["op"], frame["rhs"], frame["free"], frame["value"])}


def test_marker_fixed_and_latent_covariances_free():
    table = build_parameter_table(parse_model("f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6"))
    table_rows = rows(table)
    assert table_rows[("f", "=~", "x1")] == (0, 1.0)
    assert table_rows[("f", "=~", "x2")][0] > 0
    assert table_rows[("f", "~~", "g")][0] > 0
    assert table.npar == 13


def test_std_lv_fixes_variances_instead():
    table = build_parameter_table(parse_model("f =~ x1 + x2 + x3"), std_lv=True)
    table_rows = rows(table)
    assert table_rows[("f", "=~", "x1")][0] > 0
    assert table_rows[("f", "~~", "f")] == (0, 1.0)


def test_shared_label_is_one_parameter():
    table = build_parameter_table(parse_model(PD_MODEL))
    frame = table.frame
    free = frame.loc[frame["label"] == "a", "free"].unique()
    assert len(free) == 1


def test_dependent_variables_get_residual_covariance():
    table = build_parameter_table(parse_model(
        "f =~ x1 + x2 + x3\ny1 ~ f\ny2 ~ f"))
    assert ("y1", "~~", "y2") in rows(table)


def test_regressed_predictor_has_no_covariance_with_outcome():
    table = build_parameter_table(parse_model(PD_MODEL))
    table_rows = rows(table)
    assert ("dem60", "~~", "dem65") not in table_rows
    assert ("dem65", "~~", "dem60") not in table_rows


def test_exogenous_covariates_fixed():
    table = build_parameter_table(parse_model(
        "f =~ x1 + x2 + x3\nf ~ age + sex"))
    frame = table.frame
    exo = frame[frame["exo"] == 1]
    assert set(zip(exo["lhs"], exo["rhs"])) == {
        ("age", "age"), ("age", "sex"), ("sex", "sex")}
    assert (exo["free"] == 0).all()


def test_user_value_overrides_default():
    table = build_parameter_table(parse_model("f =~ NA*x1 + x2 + x3\nf ~~ 1*f"))
    table_rows = rows(table)
    assert table_rows[("f", "=~", "x1")][0] > 0
    assert table_rows[("f", "~~", "f")] == (0, 1.0)
