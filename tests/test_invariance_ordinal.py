"""The threshold-first invariance ladder of ordinal items against lavaan 0.6.14.

The references come from tests/reference/ordinal_invariance_references.R: the
bfi A/C model by education band, each level written by
semTools::measEq.syntax with the identification of Wu and Estabrook (2016)
and fitted by WLSMV, and lavTestLRT's scaled-and-shifted difference tests
(method "satorra.2000"). The single fits are compared in test_wls.py; here
the ladder as a whole: its statistics, the difference tests, the command
line and the error messages. Difference statistics are compared within 1e-3
relative (scaled statistics), p-values in absolute terms because lavaan
computes them as 1 - pchisq().
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import read_dataset
from reference_loader import load_reference

from lio_validate.api import sem as lv_sem
from lio_validate.exceptions import DataError, LioInputError, LioWarning
from lio_validate.invariance import DecisionRule, invariance
from lio_validate.wls import fit_dwls
from lio_validate.wls_difference import satorra_2000

ROOT = Path(__file__).resolve().parents[1]
AC_MODEL = """
A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
"""
LEVELS = ["configural", "thresholds", "metric", "scalar"]


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def bfi_edu() -> pd.DataFrame:
    data = read_dataset("bfi.csv")
    data = data[data["education"].notna()].copy()
    bands = {1: "low", 2: "low", 3: "middle", 4: "high", 5: "high"}
    data["education_band"] = data["education"].map(bands)
    return data


@pytest.fixture(scope="module")
def ladder(bfi_edu):
    return quiet(invariance, AC_MODEL, bfi_edu, "education_band", ordered=True)


@pytest.fixture(scope="module")
def lrt():
    return load_reference("bfi_ord_edu_ladder")


# --------------------------------------------------------------------------
# Agreement with lavaan
# --------------------------------------------------------------------------


def test_ladder_levels_and_estimator(ladder):
    assert list(ladder.levels) == LEVELS
    assert ladder.estimator == "WLSMV"
    assert ladder.difference_test == "satorra.2000"
    assert ladder.measure_names["cfi"] == "cfi_scaled"


@pytest.mark.parametrize("level", LEVELS)
def test_level_fit_measures_match(ladder, level):
    reference = load_reference(f"bfi_ord_edu_we_{level}")["fit_measures"]
    row = ladder.table.set_index("level").loc[level]
    assert row["df"] == reference["df"]
    assert row["npar"] == reference["npar"]
    assert row["chisq_standard"] == pytest.approx(reference["chisq"], rel=1e-4)
    assert row["chisq"] == pytest.approx(reference["chisq.scaled"], rel=1e-3)
    for name in ("cfi", "tli", "rmsea"):
        assert row[name] == pytest.approx(reference[f"{name}.scaled"], rel=1e-4), name
    assert row["srmr"] == pytest.approx(reference["srmr"], rel=1e-4)


def test_difference_tests_match(ladder, lrt):
    table = ladder.table
    expected = lrt["lrt"]
    for k in range(1, len(LEVELS)):
        assert table["delta_df"].iat[k] == expected["Df diff"][k]
        assert table["delta_chisq"].iat[k] == pytest.approx(
            expected["Chisq diff"][k], rel=1e-3)
        assert table["delta_pvalue"].iat[k] == pytest.approx(
            expected["Pr(>Chisq)"][k], abs=1e-6)
        assert table["delta_shift"].iat[k] == pytest.approx(lrt["shift"][k], rel=1e-3)
        assert 1.0 / table["delta_scaling_factor"].iat[k] == pytest.approx(
            lrt["scale"][k], rel=1e-3)


def test_satorra_2000_needs_robust_fits(bfi_edu):
    fits = [quiet(fit_dwls, AC_MODEL, bfi_edu, True, estimator="DWLS",
                  group="education_band", std_lv=True, group_equal=kinds,
                  identification="wu_estabrook")
            for kinds in ([], ["thresholds"])]
    with pytest.raises(LioInputError, match="WLSMV or ULSMV"):
        satorra_2000(*fits)


def test_dwls_ladder_uses_standard_difference(bfi_edu):
    result = quiet(invariance, AC_MODEL, bfi_edu, "education_band", ordered=True,
                   estimator="DWLS", levels=["configural", "thresholds"])
    table = result.table
    assert result.difference_test == "standard"
    assert table["delta_chisq"].iat[1] == pytest.approx(
        table["chisq_standard"].iat[1] - table["chisq_standard"].iat[0])


# --------------------------------------------------------------------------
# Identification
# --------------------------------------------------------------------------


def free_rows(fit, op: str, group: int) -> list[str]:
    frame = fit.table.frame
    rows = frame[(frame["op"] == op) & (frame["group"] == group) & (frame["free"] > 0)]
    return list(rows["lhs"])


def test_binary_items_keep_scale_until_intercepts(bfi_edu):
    data = bfi_edu.copy()
    for item in ("A1", "A2"):
        data[item] = np.where(data[item].isna(), np.nan, (data[item] >= 4) * 1.0)
    thresholds = quiet(fit_dwls, AC_MODEL, data, True, group="education_band",
                       std_lv=True, group_equal=["thresholds"],
                       identification="wu_estabrook")
    scalar = quiet(fit_dwls, AC_MODEL, data, True, group="education_band",
                   std_lv=True, group_equal=["thresholds", "loadings", "intercepts"],
                   identification="wu_estabrook")
    assert "A1" not in free_rows(thresholds, "~*~", 1)
    assert "A3" in free_rows(thresholds, "~*~", 1)
    assert "A1" in free_rows(thresholds, "~1", 1)
    assert "A1" in free_rows(scalar, "~*~", 1)
    assert "A1" not in free_rows(scalar, "~1", 1)
    assert free_rows(scalar, "~1", 1) == ["A", "C"]


def test_three_categories_thresholds_level_is_equivalent(bfi_edu):
    data = bfi_edu.copy()
    for item in ("A1", "A2", "A3", "A4", "A5", "C1", "C2", "C3", "C4", "C5"):
        data[item] = pd.cut(data[item], [0, 2, 4, 6], labels=False)
    result = quiet(invariance, AC_MODEL, data, "education_band", ordered=True,
                   levels=["configural", "thresholds", "metric"])
    table = result.table
    assert table["df"].iat[1] == table["df"].iat[0]
    assert table["decision"].iat[1].startswith("supported (equivalent to configural")
    assert table["chisq_standard"].iat[1] == pytest.approx(
        table["chisq_standard"].iat[0], rel=1e-6)


def test_intercepts_before_thresholds_rejected(bfi_edu):
    with pytest.raises(LioInputError, match="thresholds before the intercepts"):
        quiet(fit_dwls, AC_MODEL, bfi_edu, True, group="education_band",
              std_lv=True, group_equal=["loadings", "intercepts"],
              identification="wu_estabrook")


def test_group_partial_frees_threshold(bfi_edu):
    fit = quiet(fit_dwls, AC_MODEL, bfi_edu, True, group="education_band",
                std_lv=True, group_equal=["thresholds"], group_partial=["A1|t2"],
                identification="wu_estabrook")
    frame = fit.table.frame
    rows = frame[(frame["lhs"] == "A1") & (frame["op"] == "|") & (frame["rhs"] == "t2")]
    assert rows["free"].nunique() == 3
    rows = frame[(frame["lhs"] == "A1") & (frame["op"] == "|") & (frame["rhs"] == "t1")]
    assert rows["free"].nunique() == 1


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------


def test_strict_level_rejected(bfi_edu):
    with pytest.raises(LioInputError, match="end the ordinal ladder at 'scalar'"):
        invariance(AC_MODEL, bfi_edu, "education_band", ordered=True,
                   levels=["configural", "thresholds", "metric", "scalar", "strict"])


def test_continuous_estimator_rejected(bfi_edu):
    with pytest.raises(LioInputError, match="not for ordinal items"):
        invariance(AC_MODEL, bfi_edu, "education_band", ordered=True, estimator="MLR")


def test_fiml_rejected(bfi_edu):
    with pytest.raises(LioInputError, match="complete cases"):
        invariance(AC_MODEL, bfi_edu, "education_band", ordered=True, missing="fiml")


def test_no_dmacs_for_ordinal(bfi_edu):
    result = quiet(invariance, AC_MODEL, bfi_edu, "education_band", ordered=True,
                   levels=["configural", "thresholds"])
    assert result.dmacs is None
    assert any("dMACS" in text for text in result.messages)


def test_empty_category_in_group_named(bfi_edu):
    data = bfi_edu.copy()
    low = data["education_band"] == "low"
    data.loc[low & (data["A1"] == 6), "A1"] = 5
    with pytest.raises(DataError) as caught:
        quiet(invariance, AC_MODEL, data, "education_band", ordered=True)
    message = str(caught.value)
    assert "'A1'" in message
    assert "low" in message
    assert "Merge" in message


def test_residuals_equal_warns(bfi_edu):
    with pytest.warns(LioWarning, match="constrains nothing"):
        fit_dwls(AC_MODEL, bfi_edu, True, group="education_band",
                 group_equal=["thresholds", "residuals"])


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def test_cli_ordinal_ladder(tmp_path, bfi_edu):
    data = tmp_path / "bfi_edu.csv"
    bfi_edu.to_csv(data, index=False)
    model = tmp_path / "ac.lav"
    model.write_text(AC_MODEL, encoding="utf-8")
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}

    completed = subprocess.run(
        [sys.executable, "-m", "lio_validate", "invariance", "--data", str(data),
         "--model", str(model), "--group", "education_band", "--ordered", "all",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env=environment)

    assert completed.returncode == 0, completed.stderr
    out = tmp_path / "out"
    table = pd.read_csv(out / "invariance.csv")
    assert list(table["level"]) == LEVELS
    assert not (out / "dmacs.csv").exists()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "satorra.2000" in report
    assert "Wu, H., & Estabrook, R. (2016)" in report
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["estimator"] == "WLSMV"


def test_cli_ordinal_partial_runs(tmp_path, bfi_edu):
    # Half of the high band's answers 4 to A3 become 2, a change of the
    # thresholds' spacing that location and scale cannot absorb, so equal
    # thresholds are rejected for A3 and --partial releases them.
    data = bfi_edu.copy()
    moved = (data["education_band"] == "high") & (data["A3"] == 4)
    moved &= np.arange(len(data)) % 2 == 0
    data.loc[moved, "A3"] = 2
    path = tmp_path / "bfi_edu.csv"
    data.to_csv(path, index=False)
    model = tmp_path / "ac.lav"
    model.write_text(AC_MODEL, encoding="utf-8")
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}

    completed = subprocess.run(
        [sys.executable, "-m", "lio_validate", "invariance", "--data", str(path),
         "--model", str(model), "--group", "education_band", "--ordered", "all",
         "--levels", "configural,thresholds", "--partial",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False,
        env=environment)

    assert completed.returncode == 0, completed.stderr
    steps = pd.read_csv(tmp_path / "out" / "partial_invariance.csv")
    assert steps["released"].iloc[1] == "A3 | thresholds"
    tests = pd.read_csv(tmp_path / "out" / "score_tests.csv")
    assert "A3|t1" not in set(tests["released"])
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "difference X2" in report


# --------------------------------------------------------------------------
# Latent means after the ladder
# --------------------------------------------------------------------------


def test_latent_means_compared_on_scalar_level(ladder):
    from lio_validate.comparisons import compare_latent_means

    reference = load_reference("bfi_ord_edu_we_scalar")["estimates"]
    result = compare_latent_means(ladder.fits["scalar"], reference="middle")
    pairs = result.pairs.set_index(["parameter", "group_a", "group_b"])
    for factor in ("A", "C"):
        row = reference[(reference["lhs"] == factor) & (reference["op"] == "~1")
                        & (reference["group"] == "low")].iloc[0]
        pair = pairs.loc[(f"{factor} ~1", "middle", "low")]
        assert pair["difference"] == pytest.approx(row["est"], abs=2e-4)
        assert pair["se"] == pytest.approx(row["se"], rel=1e-3)


def test_latent_means_need_equal_thresholds(ladder):
    from lio_validate.comparisons import compare_latent_means

    with pytest.raises(LioInputError, match="thresholds, for ordinal items"):
        compare_latent_means(ladder.fits["metric"])


# --------------------------------------------------------------------------
# Partial invariance
# --------------------------------------------------------------------------


def test_release_test_matches_lavaan(bfi_edu):
    from lio_validate.partial_invariance_ordinal import release_tests

    expected = load_reference("bfi_ord_edu_partial_tests")["tests"]

    def fit(level_kinds, released):
        return quiet(fit_dwls, AC_MODEL, bfi_edu, True, group="education_band",
                     std_lv=True, group_equal=level_kinds, group_partial=released,
                     identification="wu_estabrook")

    for case, kinds in (("thresholds_a1", ["thresholds"]),
                        ("scalar_a1", ["thresholds", "loadings", "intercepts"])):
        current = fit(kinds, [])
        added = ["thresholds"] if case.startswith("thresholds") else ["intercepts"]
        tests, _ = release_tests(lambda released, kinds=kinds: fit(kinds, released),
                                 current, [], added, robust=True)
        table = tests.by_parameter.set_index("parameter")
        name = "A1 | thresholds" if case.startswith("thresholds") else "A1 ~1"
        assert table.loc[name, "df"] == expected[case]["df_diff"]
        assert table.loc[name, "X2"] == pytest.approx(expected[case]["chisq_diff"],
                                                      rel=1e-3)
        assert table.loc[name, "pvalue"] == pytest.approx(expected[case]["pvalue"],
                                                          abs=1e-6)


def test_partial_search_releases_intercept(bfi_edu):
    from lio_validate.partial_invariance import partial_invariance

    result = quiet(partial_invariance, AC_MODEL, bfi_edu, "education_band",
                   ordered=True, level="scalar",
                   rule=DecisionRule(max_cfi_drop=0.003))
    assert result.group_partial == ("A1 ~1",)
    assert result.supported
    assert result.dmacs is None
    assert result.score_tests.test == "satorra.2000"
    assert list(result.steps["released"].fillna("")) == ["", "A1 ~1"]
    refit = result.fit.parameter_table
    rows = refit[(refit["lhs"] == "A1") & (refit["op"] == "~1")]
    assert (rows["free"] > 0).sum() == 2


def test_partial_keeps_anchor_items(bfi_edu):
    from lio_validate.partial_invariance_ordinal import candidates

    fit = quiet(fit_dwls, AC_MODEL, bfi_edu, True, group="education_band",
                std_lv=True, group_equal=["thresholds"],
                group_partial=[f"A1|t{k}" for k in range(1, 6)],
                identification="wu_estabrook")
    names = [candidate["parameter"] for candidate in candidates(fit, ["thresholds"])]
    assert "A1 | thresholds" not in names
    assert "A2 | thresholds" in names


def test_wu_estabrook_needs_std_lv(bfi_edu):
    with pytest.raises(LioInputError, match="std_lv=True"):
        quiet(fit_dwls, AC_MODEL, bfi_edu, True, group="education_band",
              group_equal=["thresholds"], identification="wu_estabrook")


def test_binary_thresholds_level_has_no_robust_indices(bfi_edu):
    # lavaan 0.6.14 gives NA for cfi.robust once y* intercepts are free,
    # because its catML refit of the model fails.
    data = bfi_edu.copy()
    for item in ("A1", "A2", "A3", "A4", "A5", "C1", "C2", "C3", "C4", "C5"):
        data[item] = np.where(data[item].isna(), np.nan, (data[item] >= 4) * 1.0)
    configural = quiet(fit_dwls, AC_MODEL, data, True, group="education_band",
                       std_lv=True, identification="wu_estabrook")
    thresholds = quiet(fit_dwls, AC_MODEL, data, True, group="education_band",
                       std_lv=True, group_equal=["thresholds"],
                       identification="wu_estabrook")
    assert np.isfinite(configural.fit_measures["cfi_robust"])
    assert np.isnan(thresholds.fit_measures["cfi_robust"])
    assert np.isnan(thresholds.fit_measures["rmsea_robust"])


# --------------------------------------------------------------------------
# Survey design: the bundled example's codebook, weights and clusters
# --------------------------------------------------------------------------

EXAMPLE = ROOT / "lio_validate" / "examples" / "nea_example"


def test_cli_invariance_applies_codebook(tmp_path):
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}

    completed = subprocess.run(
        [sys.executable, "-m", "lio_validate", "invariance",
         "--data", str(EXAMPLE / "survey.sav"), "--model", str(EXAMPLE / "model.lav"),
         "--group", "education", "--levels", "configural,metric",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False,
        env=environment)

    assert completed.returncode == 0, completed.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    options = manifest["options"]
    assert options["weights"] == "weight"
    assert options["cluster"] == "org_id"
    assert options["codebook"].endswith("codebook.yaml")
    assert "ordinal" in completed.stderr
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "satorra.bentler.2001" in report


def test_weighted_ladder_compares_scaled_statistics():
    from lio_validate.codebook import prepare_survey

    survey = quiet(prepare_survey, EXAMPLE / "survey.sav", EXAMPLE / "codebook.yaml")
    model = (EXAMPLE / "model.lav").read_text(encoding="utf-8")
    result = quiet(invariance, model, survey.frame, "education",
                   levels=["configural", "metric"], weights="weight",
                   cluster="org_id")
    table = result.table
    assert result.difference_test == "satorra.bentler.2001"
    metric = result.fits["metric"].fit_measures
    assert table["chisq"].iat[1] == metric["chisq_scaled"]
    assert np.isfinite(table["delta_scaling_factor"].iat[1])
    assert result.fits["metric"].options["weights"] == "weight"


def test_cli_invariance_names_misspelt_ordered_item(tmp_path, bfi_edu):
    data = tmp_path / "bfi_edu.csv"
    bfi_edu.to_csv(data, index=False)
    model = tmp_path / "ac.lav"
    model.write_text(AC_MODEL, encoding="utf-8")

    completed = subprocess.run(
        [sys.executable, "-m", "lio_validate", "invariance", "--data", str(data),
         "--model", str(model), "--group", "education_band", "--ordered", "A1,AA2",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)

    assert completed.returncode == 2
    assert "'AA2'" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_fiml_with_design_message_names_columns():
    from lio_validate.codebook import prepare_survey

    survey = quiet(prepare_survey, EXAMPLE / "survey.sav", EXAMPLE / "codebook.yaml")
    model = (EXAMPLE / "model.lav").read_text(encoding="utf-8")
    with pytest.raises(LioInputError) as caught:
        quiet(lv_sem, model, survey.frame, estimator="MLR", missing="fiml",
              weights="weight", cluster="org_id")
    message = str(caught.value)
    assert "weights 'weight'" in message
    assert "cluster 'org_id'" in message
    assert "codebook" in message
