"""Tests of lio_validate.discriminant against semTools 0.5-6 and lavaan 0.6-14.

Reference values come from tests/reference/discriminant_references.R, which
wrote discriminant_validity.json beside it. R is not needed to run these tests.

Tolerances: 1e-6 absolute on HTMT, a closed-form function of the item
correlations (the EM and polychoric correlations agree with lavaan's to about
2e-7). AVE and latent correlations depend on the optimiser's estimates, so
they get the estimate tolerance 2e-4, absolute because both are below 1 in
absolute value. Their SEs get 1e-3 relative.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, bfi_recoded, read_dataset
from reference_loader import REFERENCE_DIR, load_reference, reference_matrix

import lio_validate as lv
from lio_validate.discriminant import (
    FORNELL_LARCKER_COLUMNS,
    HTMT_COLUMNS,
    LONG_COLUMNS,
    discriminant_validity,
    htmt,
    latent_correlations,
)
from lio_validate.exceptions import DataError, DataWarning, LioInputError
from lio_validate.pipeline import JobSpec, run_sem_job
from lio_validate.report import render_report_markdown

HTMT_ATOL = 1e-6
ESTIMATE_ATOL = 2e-4
SE_RTOL = 1e-3

REFERENCE = load_reference("discriminant_validity")
HS_ITEMS = [f"x{k}" for k in range(1, 10)]
HS_MODEL = REFERENCE["htmt"]["hs_htmt2"]["model"]
HS_CROSS_MODEL = REFERENCE["htmt"]["hs_cross_htmt2"]["model"]
BFI_MODEL = REFERENCE["htmt"]["bfi_recoded_htmt2"]["model"]
SIM_MODEL = REFERENCE["htmt"]["sim_weighted_htmt2"]["model"]
AC_MODEL = REFERENCE["htmt"]["ac_weighted_ordered_htmt2"]["model"]


# ---------------------------------------------------------------------------
# Data as the R script prepared it
# ---------------------------------------------------------------------------


def hs_data() -> pd.DataFrame:
    return read_dataset("holzinger_swineford_1939.csv")


def hs_missing() -> pd.DataFrame:
    frame = hs_data()
    for item, rows in REFERENCE["missing_rows_1based"].items():
        frame.loc[np.asarray(rows) - 1, item] = np.nan
    return frame


def sim_data() -> pd.DataFrame:
    return read_dataset("sim_weights_clusters.csv")


def bfi_weighted() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "wlsmv_weights_data.csv")


def reference_htmt(case: str) -> pd.DataFrame:
    return reference_matrix(REFERENCE["htmt"][case]["htmt"])


# Each case: the Python call that corresponds to the case's r_call.
HTMT_CALLS = {
    "hs_htmt2": lambda: htmt(HS_MODEL, hs_data()),
    "hs_htmt": lambda: htmt(HS_MODEL, hs_data(), htmt2=False),
    "hs_htmt_signed": lambda: htmt(HS_MODEL, hs_data(), htmt2=False, absolute=False),
    "bfi_recoded_htmt2": lambda: htmt(BFI_MODEL, bfi_recoded()),
    "bfi_recoded_htmt": lambda: htmt(BFI_MODEL, bfi_recoded(), htmt2=False),
    "bfi_raw_htmt_signed": lambda: htmt(BFI_MODEL, read_dataset("bfi.csv"),
                                        htmt2=False, absolute=False),
    "bfi_raw_htmt": lambda: htmt(BFI_MODEL, read_dataset("bfi.csv"), htmt2=False),
    "bfi_recoded_ordered_htmt2": lambda: htmt(BFI_MODEL, bfi_recoded(), ordered=True),
    "bfi_recoded_ordered_htmt": lambda: htmt(BFI_MODEL, bfi_recoded(), ordered=True,
                                             htmt2=False),
    "hs_missing_listwise": lambda: htmt(HS_MODEL, hs_missing()),
    "hs_missing_pairwise": lambda: htmt(HS_MODEL, hs_missing(), missing="pairwise"),
    "hs_missing_ml": lambda: htmt(HS_MODEL, hs_missing(), missing="fiml",
                                  htmt2=False),
    "hs_cross_htmt2": lambda: htmt(HS_CROSS_MODEL,
                                   sample_cov=hs_data()[HS_ITEMS].corr()),
    "hs_cross_htmt": lambda: htmt(HS_CROSS_MODEL,
                                  sample_cov=hs_data()[HS_ITEMS].corr(), htmt2=False),
    "hs_covariance_htmt": lambda: htmt(HS_MODEL, sample_cov=hs_data()[HS_ITEMS].cov(),
                                       htmt2=False),
    "sim_weighted_htmt2": lambda: htmt(SIM_MODEL, sim_data(), weights="w"),
    "sim_weighted_htmt": lambda: htmt(SIM_MODEL, sim_data(), weights="w",
                                      htmt2=False),
    "ac_weighted_ordered_htmt2": lambda: htmt(AC_MODEL, bfi_weighted(), ordered=True,
                                              weights="w"),
    "hs_pasteur_htmt2": lambda: htmt(HS_MODEL, hs_data().query("school == 'Pasteur'")),
    "hs_grant_white_htmt2": lambda: htmt(HS_MODEL,
                                         hs_data().query("school == 'Grant-White'")),
}


# ---------------------------------------------------------------------------
# htmt() against semTools::htmt
# ---------------------------------------------------------------------------


def test_every_htmt_reference_has_a_call():
    assert set(HTMT_CALLS) == set(REFERENCE["htmt"])


@pytest.mark.parametrize("case", sorted(HTMT_CALLS))
def test_htmt_matches_semtools(case):
    with warnings.catch_warnings():
        # The cross-loading cases warn; that warning has its own test.
        warnings.simplefilter("ignore", DataWarning)
        ours = HTMT_CALLS[case]()
    expected = reference_htmt(case)
    assert list(ours.index) == REFERENCE["htmt"][case]["factors"]
    assert list(ours.columns) == list(expected.columns)
    np.testing.assert_array_equal(np.isnan(ours.to_numpy()),
                                  np.isnan(expected.to_numpy()))
    np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(),
                               atol=HTMT_ATOL, rtol=0)


def test_htmt_signed_diagonal_is_minus_one():
    # Raw bfi: the unrecoded reverse-keyed items make the signed monotrait
    # means of C, E and O negative, and semTools then returns -1.
    ours = HTMT_CALLS["bfi_raw_htmt_signed"]()
    assert np.diag(ours.to_numpy()).tolist() == [1.0, -1.0, -1.0, 1.0, -1.0]


def test_htmt_cross_loading_warns_and_uses_data():
    # semTools stops with data= for a cross-loading item; with data= this
    # function gives the numbers semTools gives with sample.cov=.
    with pytest.warns(DataWarning, match=r"'x9' on 'visual', 'speed'"):
        ours = htmt(HS_CROSS_MODEL, hs_data())
    np.testing.assert_allclose(ours.to_numpy(),
                               reference_htmt("hs_cross_htmt2").to_numpy(),
                               atol=HTMT_ATOL, rtol=0)


def test_htmt_cross_loading_message_says_what_is_done():
    with pytest.warns(DataWarning) as record:
        htmt(HS_CROSS_MODEL, hs_data())
    message = str(record[0].message)
    assert "within-factor mean of each of its factors" in message
    assert "correlation with itself out of the between-factor mean" in message


def test_htmt_one_item_factor_raises():
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4\nspeed =~ x7 + x8 + x9"
    with pytest.raises(DataError, match=r"'textual' \(model line 2\) has one "
                                        r"indicator \(x4\)"):
        htmt(model, hs_data())


def test_htmt_missing_column_raises():
    model = "visual =~ x1 + x2 + x10\ntextual =~ x4 + x5 + x6"
    with pytest.raises(DataError, match=r"\['x10'\] of factor 'visual' \(model "
                                        r"line 1\) are not columns"):
        htmt(model, hs_data())


def test_htmt_missing_row_of_sample_cov_raises():
    with pytest.raises(DataError, match=r"\['x9'\] are not rows and columns"):
        htmt(HS_MODEL, sample_cov=hs_data()[HS_ITEMS[:8]].corr())


def test_htmt_one_factor_raises():
    with pytest.raises(LioInputError, match="at least two"):
        htmt("visual =~ x1 + x2 + x3", hs_data())


@pytest.mark.parametrize("options, pattern", [
    ({"missing": "available"}, "unknown missing='available'"),
    ({"missing": "pairwise", "weights": "ageyr"}, "weights= needs missing='listwise'"),
    ({"missing": "pairwise", "ordered": True}, "polychoric correlations here need"),
    ({"ordered": ["x1", "x2"]}, "declare all or none of them ordered"),
    ({"ordered": "x1"}, "not the string 'x1'"),
])
def test_htmt_rejects_options(options, pattern):
    with pytest.raises(LioInputError, match=pattern):
        htmt(HS_MODEL, hs_data(), **options)


def test_htmt_needs_data_or_sample_cov():
    with pytest.raises(LioInputError, match="either data= or sample_cov="):
        htmt(HS_MODEL)
    with pytest.raises(LioInputError, match="either data= or sample_cov="):
        htmt(HS_MODEL, hs_data(), sample_cov=hs_data()[HS_ITEMS].cov())


def test_htmt_constant_item_raises():
    frame = hs_data()
    frame["x2"] = 3.0
    with pytest.raises(DataError, match=r"\['x2'\] have zero variance"):
        htmt(HS_MODEL, frame)


def test_htmt_invalid_weights_raise():
    frame = sim_data()
    frame.loc[5, "w"] = -1.0
    with pytest.raises(DataError, match="weight column 'w' has missing"):
        htmt(SIM_MODEL, frame, weights="w")
    with pytest.raises(DataError, match="weight column 'weight' is not in the data"):
        htmt(SIM_MODEL, frame, weights="weight")


def test_htmt_text_item_raises():
    frame = hs_data()
    frame["x2"] = "high"
    with pytest.raises(DataError, match="item 'x2' has dtype"):
        htmt(HS_MODEL, frame)


# ---------------------------------------------------------------------------
# Fornell-Larcker against semTools::AVE and lavaan's cor.lv
# ---------------------------------------------------------------------------

FL_FITS = {
    "hs_cfa": (lambda m: lv.cfa(m, hs_data()), hs_data),
    "bfi_recoded_cfa": (lambda m: lv.cfa(m, bfi_recoded()), bfi_recoded),
    "hs_sem": (lambda m: lv.sem(m, hs_data()), hs_data),
    "hs_cross_cfa": (lambda m: lv.cfa(m, hs_data()), hs_data),
    "hs_cfa_school": (lambda m: lv.cfa(m, hs_data(), group="school"), hs_data),
    "sim_weighted_sem": (lambda m: lv.sem(m, sim_data(), weights="w"), sim_data),
    "ac_weighted_ordered": (lambda m: lv.cfa(m, bfi_weighted(), ordered=True,
                                             weights="w"), bfi_weighted),
    "ac_ordered_gender": (lambda m: lv.cfa(m, read_dataset("bfi.csv"), ordered=True,
                                           group="gender",
                                           group_equal=["thresholds", "loadings"]),
                          lambda: read_dataset("bfi.csv")),
}


@functools.cache
def fitted(name: str):
    """Fit one reference model and assess it; cached so each fit runs once."""
    fit_model, data = FL_FITS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_model(REFERENCE["fornell_larcker"][name]["model"])
        result = discriminant_validity(fit, data())
    return fit, result


@pytest.fixture(params=sorted(FL_FITS))
def fl_case(request):
    name = request.param
    fit, result = fitted(name)
    return name, REFERENCE["fornell_larcker"][name], fit, result


def test_every_fornell_larcker_reference_has_a_fit():
    assert set(FL_FITS) == set(REFERENCE["fornell_larcker"])


def test_ave_matches_semtools(fl_case):
    _, reference, _, result = fl_case
    table = result.fornell_larcker.set_index(["group", "factor"])
    for group, values in reference["ave"].items():
        for factor, expected in values.items():
            ours = table.loc[(group, factor), "ave"]
            if expected is None:
                assert np.isnan(ours), (group, factor)
            else:
                assert ours == pytest.approx(expected, abs=ESTIMATE_ATOL), \
                    (group, factor)


def test_latent_correlations_match_cor_lv(fl_case):
    _, reference, fit, _ = fl_case
    ours = latent_correlations(fit).set_index(["group", "factor_1", "factor_2"])
    for group, record in reference["cor_lv"].items():
        expected = reference_matrix(record)
        for first, second in zip(*np.triu_indices(len(expected), k=1)):
            key = (group, expected.index[first], expected.index[second])
            assert ours.loc[key, "correlation"] == pytest.approx(
                expected.iat[first, second], abs=ESTIMATE_ATOL), key


def test_latent_correlation_se_match_lavaan(fl_case):
    _, reference, fit, _ = fl_case
    ours = latent_correlations(fit).set_index(["group", "factor_1", "factor_2"])
    rows = reference["latent_correlations"]
    for group, lhs, rhs, se in zip(rows["group"], rows["lhs"], rows["rhs"],
                                   rows["se"]):
        assert ours.loc[(group, lhs, rhs), "se"] == pytest.approx(se, rel=SE_RTOL)


def test_implied_correlation_se_match_defined_parameters():
    # lavaan has no SEs for cor.lv entries that are not parameters, so the
    # R script wrote them as := parameters of a labelled copy of the model.
    reference = REFERENCE["fornell_larcker"]["hs_sem"]
    ours = latent_correlations(lv.sem(reference["model"], hs_data())) \
        .set_index(["factor_1", "factor_2"])
    defined = dict(zip(reference["defined"]["lhs"],
                       zip(reference["defined"]["est"], reference["defined"]["se"])))
    for name, pair in (("r_visual_speed", ("visual", "speed")),
                       ("r_textual_speed", ("textual", "speed"))):
        estimate, se = defined[name]
        assert ours.loc[pair, "correlation"] == pytest.approx(estimate,
                                                              abs=ESTIMATE_ATOL)
        assert ours.loc[pair, "se"] == pytest.approx(se, rel=SE_RTOL)


def test_fornell_larcker_criterion_logic(fl_case):
    _, _, _, result = fl_case
    table = result.fornell_larcker
    assert list(table.columns) == list(FORNELL_LARCKER_COLUMNS)
    defined = table["sqrt_ave"].notna() & table["max_abs_correlation"].notna()
    expected = table["sqrt_ave"] > table["max_abs_correlation"]
    assert (table.loc[defined, "criterion_met"] == expected[defined]).all()
    assert table.loc[~defined, "criterion_met"].isna().all()


def test_fornell_larcker_bfi_agreeableness_fails():
    # A and E correlate 0.68, above sqrt(AVE) of A (0.59) and E (0.63).
    _, result = fitted("bfi_recoded_cfa")
    table = result.fornell_larcker.set_index("factor")
    assert not table.loc["A", "criterion_met"]
    assert table.loc["A", "most_correlated_factor"] == "E"
    assert not table.loc["E", "criterion_met"]
    assert table.loc["C", "criterion_met"]
    pairs = result.latent_correlations.set_index(["factor_1", "factor_2"])
    assert not pairs.loc[("A", "E"), "criterion_met"]
    assert result.nobs == {"": 2436}


# ---------------------------------------------------------------------------
# discriminant_validity(): HTMT from the fit's options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fit_name, htmt_case, correlation_type", [
    ("hs_cfa", "hs_htmt2", "pearson"),
    ("bfi_recoded_cfa", "bfi_recoded_htmt2", "pearson"),
    ("sim_weighted_sem", "sim_weighted_htmt2", "weighted pearson"),
    ("ac_weighted_ordered", "ac_weighted_ordered_htmt2", "weighted polychoric"),
])
def test_discriminant_htmt_follows_fit(fit_name, htmt_case, correlation_type):
    _, result = fitted(fit_name)
    assert result.correlation_type == correlation_type
    np.testing.assert_allclose(result.htmt_matrix().to_numpy(),
                               reference_htmt(htmt_case).to_numpy(),
                               atol=HTMT_ATOL, rtol=0)


def test_discriminant_htmt_per_group():
    _, result = fitted("hs_cfa_school")
    assert result.nobs == {"Pasteur": 156, "Grant-White": 145}
    for group, case in (("Pasteur", "hs_pasteur_htmt2"),
                        ("Grant-White", "hs_grant_white_htmt2")):
        np.testing.assert_allclose(result.htmt_matrix(group).to_numpy(),
                                   reference_htmt(case).to_numpy(),
                                   atol=HTMT_ATOL, rtol=0)


def test_discriminant_fiml_fit_uses_em_correlations():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lv.cfa(HS_MODEL, hs_missing(), missing="fiml")
        result = discriminant_validity(fit, hs_missing(), htmt2=False)
    assert result.missing == "fiml"
    assert result.htmt_method == "htmt"
    np.testing.assert_allclose(result.htmt_matrix().to_numpy(),
                               reference_htmt("hs_missing_ml").to_numpy(),
                               atol=HTMT_ATOL, rtol=0)


def test_discriminant_listwise_rows():
    _, result = fitted("hs_cfa")
    assert result.nobs == {"": REFERENCE["htmt"]["hs_htmt2"]["complete_rows"]}
    assert result.missing == "listwise"


def test_discriminant_htmt_flags(fl_case):
    _, _, _, result = fl_case
    table = result.htmt
    assert list(table.columns) == list(HTMT_COLUMNS)
    assert (table["below_strict"] == (table["htmt"] < 0.85)).all()
    assert (table["below_liberal"] == (table["htmt"] < 0.90)).all()


def test_discriminant_skips_single_and_higher_order():
    model = (HS_MODEL + "\nage =~ ageyr\nageyr ~~ 0*ageyr\n"
             "g =~ visual + textual + speed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lv.sem(model, hs_data())
        result = discriminant_validity(fit, hs_data())
    assert list(result.fornell_larcker["factor"]) == ["visual", "textual", "speed"]
    assert len(result.htmt) == 3
    notes = " ".join(result.notes)
    assert "'age' has one indicator" in notes
    assert "'g' is measured by other factors" in notes


def test_discriminant_cross_loading_note():
    _, result = fitted("hs_cross_cfa")
    assert any("'x9' on 'visual', 'speed'" in note for note in result.notes)
    table = result.fornell_larcker.set_index("factor")
    assert table.loc["visual", "criterion_met"] is pd.NA
    assert table.loc["textual", "criterion_met"] in (True, False)


def test_discriminant_missing_column_raises():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lv.cfa(HS_MODEL, hs_data())
    with pytest.raises(DataError, match=r"\['x3'\] of factor 'visual'"):
        discriminant_validity(fit, hs_data().drop(columns="x3"))


def test_discriminant_needs_two_factors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lv.cfa("visual =~ x1 + x2 + x3", hs_data())
    with pytest.raises(DataError, match="1 factor"):
        discriminant_validity(fit, hs_data())


# ---------------------------------------------------------------------------
# The result object
# ---------------------------------------------------------------------------


@pytest.fixture
def hs_result():
    return fitted("hs_cfa")[1]


def test_result_is_frozen(hs_result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        hs_result.missing = "pairwise"


def test_long_table_layout(hs_result):
    table = hs_result.long_table()
    assert list(table.columns) == list(LONG_COLUMNS)
    counts = table["section"].value_counts().to_dict()
    # 3 pairs x 2 cut-offs, 3 latent correlations, 3 factors x 2 statistics.
    assert counts == {"htmt": 6, "latent_correlation": 3, "fornell_larcker": 6}
    htmt_rows = table[table["section"] == "htmt"]
    assert sorted(set(htmt_rows["cutoff"])) == [0.85, 0.90]
    assert (htmt_rows["met"] == (htmt_rows["value"] < htmt_rows["cutoff"])).all()
    assert set(htmt_rows["statistic"]) == {"htmt2"}
    correlations = table[table["section"] == "latent_correlation"]
    assert correlations["se"].notna().all()
    assert (correlations["met"]
            == (correlations["value"].abs() < correlations["cutoff"])).all()


def test_summary_names_cutoffs_and_sources(hs_result):
    text = hs_result.summary()
    assert "HTMT2 (geometric means, Roemer et al., 2021)" in text
    assert "below 0.85 (strict) or below 0.90 (liberal)" in text
    assert "Fornell-Larcker (1981)" in text
    assert "rows used: 301" in text


def test_htmt_matrix_unknown_group(hs_result):
    with pytest.raises(LioInputError, match="no HTMT values for group 'x'"):
        hs_result.htmt_matrix("x")


def test_report_section_names_failures():
    fit, result = fitted("bfi_recoded_cfa")
    report = render_report_markdown(fit=fit, discriminant=result)
    section = report[report.index("## Discriminant validity"):
                     report.index("## Standardized loadings")]
    assert "| A | .350 | .592 | .683 (E) | not met | .556 (E) |" in section
    assert "All 10 HTMT values are below .85." in section
    assert "It fails for A (\u221aAVE .592 against |r| = .683 with E)" in section
    assert "Roemer, E., Schuberth, F., & Henseler, J. (2021)" in report


def test_report_without_discriminant_has_no_section():
    fit, _ = fitted("hs_cfa")
    report = render_report_markdown(fit=fit)
    assert "Discriminant validity" not in report
    assert "Henseler" not in report


# ---------------------------------------------------------------------------
# The run-sem job
# ---------------------------------------------------------------------------


def test_run_sem_writes_discriminant_validity(tmp_path):
    spec = JobSpec(data_path=DATA / "holzinger_swineford_1939.csv", model_path=None,
                   model_text=HS_MODEL, out_dir=tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_sem_job(spec, ["run-sem"])
    table = pd.read_csv(out / "discriminant_validity.csv", keep_default_na=False,
                        na_values=[""])
    assert list(table.columns) == list(LONG_COLUMNS)
    htmt_rows = table[table["section"] == "htmt"]
    matrix = reference_htmt("hs_htmt2")
    for row in htmt_rows.itertuples(index=False):
        assert row.value == pytest.approx(matrix.loc[row.factor_1, row.factor_2],
                                          abs=HTMT_ATOL)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Discriminant validity" in report
    assert "Henseler, J., Ringle, C. M., & Sarstedt, M. (2015)" in report
    assert "Discriminant validity" in (out / "report.html").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "discriminant_validity.csv" in json.dumps(manifest["outputs"])
