"""Inputs that could give silently wrong numbers or unclear errors.

Three kinds: ordinal items stored as pandas Categoricals (as pd.read_spss
returns labelled SPSS columns), group columns whose values print alike or as
floats, and the item list of ``run-sem --ordered``. The lavaan numbers come
from tests/reference/ordinal_references.R (lavaan 0.6.14). Tolerances are
those of tests/test_wls.py: estimates 2e-4 x max(1, |value|), scaled
statistics 1e-3 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from conftest import read_dataset
from reference_loader import load_reference

import lio_validate
from lio_validate.cli import main
from lio_validate.data_prep import group_label, group_names
from lio_validate.discriminant import discriminant_validity
from lio_validate.exceptions import DataError, LioInputError, LioWarning
from lio_validate.invariance import check_groups
from lio_validate.ordinal_data import encode_ordinal_items
from lio_validate.validation import SurveyRoles, validate_survey

AC_ITEMS = [f"A{k}" for k in range(1, 6)] + [f"C{k}" for k in range(1, 6)]
AC_MODEL = """
A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
"""
HS_MODEL = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
"""
# The answer scale of the bfi items, codes 1 to 6. Sorted alphabetically, as
# pd.read_spss gives them, the labels come in the order 5, 2, 4, 3, 6, 1.
SCALE = {
    1: "Very inaccurate",
    2: "Moderately inaccurate",
    3: "Slightly inaccurate",
    4: "Slightly accurate",
    5: "Moderately accurate",
    6: "Very accurate",
}


def quiet_fit(model: str, data, **options):
    """Fit, ignoring the package's warnings (bfi has rows with missing values)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        return lio_validate.cfa(model, data, **options)


def assert_matches_lavaan(fit, name: str) -> None:
    reference = load_reference(name)
    theirs = reference["estimates"].copy()
    theirs["group"] = theirs["group"].astype(str)
    merged = theirs.merge(fit.estimates, on=["lhs", "op", "rhs", "group"],
                          suffixes=("_lavaan", ""))
    assert len(merged) == len(theirs)
    tolerance = 2e-4 * np.maximum(1.0, np.abs(merged["est_lavaan"]))
    bad = merged[np.abs(merged["est"] - merged["est_lavaan"]) > tolerance]
    assert bad.empty, bad[["lhs", "op", "rhs", "est", "est_lavaan"]].to_string()
    np.testing.assert_allclose(fit.fit_measures["chisq_scaled"],
                               reference["fit_measures"]["chisq.scaled"], rtol=1e-3)


@pytest.fixture(scope="module")
def labelled_sav(tmp_path_factory):
    """The bfi A and C items in a .sav file with value labels, via pyreadstat."""
    frame = read_dataset("bfi.csv")[AC_ITEMS + ["gender"]].astype(float)
    path = tmp_path_factory.mktemp("sav") / "bfi_labelled.sav"
    labels = {float(code): text for code, text in SCALE.items()}
    pyreadstat.write_sav(frame, str(path),
                         variable_value_labels={item: labels for item in AC_ITEMS})
    return path


@pytest.fixture(scope="module")
def read_spss_frame(labelled_sav):
    return pd.read_spss(labelled_sav)


# --------------------------------------------------------------------------
# Ordinal items stored as Categoricals
# --------------------------------------------------------------------------


def test_read_spss_gives_alphabetical_categories(read_spss_frame):
    # The premise of the tests below: pandas orders the labels alphabetically.
    column = read_spss_frame["A1"]
    assert isinstance(column.dtype, pd.CategoricalDtype)
    assert not column.cat.ordered
    assert list(column.cat.categories) == sorted(SCALE.values())


def test_read_spss_ordinal_rejected(read_spss_frame):
    with pytest.raises(LioInputError) as caught:
        quiet_fit(AC_MODEL, read_spss_frame, ordered=True)
    message = str(caught.value)
    assert "'A1'" in message
    assert "unordered pandas Categorical" in message
    assert "'Very accurate'" in message
    assert "unknown" in message
    assert "ordered=True" in message
    assert "lio_validate.read_data" in message


def test_read_data_ordinal_matches_lavaan(labelled_sav):
    survey = lio_validate.read_data(labelled_sav)
    assert survey.value_labels["A1"][6] == "Very accurate"
    fit = quiet_fit(AC_MODEL, survey, ordered=AC_ITEMS)
    assert_matches_lavaan(fit, "bfi_cfa2_ac_wlsmv")


def test_declared_order_matches_lavaan(read_spss_frame):
    frame = read_spss_frame.copy()
    for item in AC_ITEMS:
        frame[item] = pd.Categorical(frame[item], categories=list(SCALE.values()),
                                     ordered=True)
    fit = quiet_fit(AC_MODEL, frame, ordered=True)
    assert_matches_lavaan(fit, "bfi_cfa2_ac_wlsmv")


def test_numeric_categories_ordered_by_value():
    frame = read_dataset("bfi.csv")
    for item in AC_ITEMS:
        # Numeric strings, declared in a scrambled order without ordered=True.
        text = frame[item].map(lambda v: f"{v:g}", na_action="ignore")
        frame[item] = pd.Categorical(text, categories=["6", "2", "1", "5", "3", "4"])
    fit = quiet_fit(AC_MODEL, frame, ordered=True)
    assert_matches_lavaan(fit, "bfi_cfa2_ac_wlsmv")


def numeric_codings() -> dict[str, object]:
    """The responses 1, 3, 2, missing, 3, 1 in every numeric coding accepted."""
    values = pd.Series([1.0, 3.0, 2.0, np.nan, 3.0, 1.0])
    text = values.map(lambda v: f"{v:g}", na_action="ignore")
    padded = values.map(lambda v: f" {v:g} ", na_action="ignore")
    # Python ints for 1 and text for the others, as a spreadsheet may give.
    mixed = pd.Series(text.to_numpy(), dtype=object)
    mixed[values == 1] = 1
    return {
        "float": values,
        "unordered_numbers": pd.Categorical(values, categories=[3.0, 1.0, 2.0]),
        "unordered_strings": pd.Categorical(text, categories=["3", "1", "2"]),
        "padded_strings": pd.Categorical(padded),
        "object_numbers": mixed,
        "text_numbers": text,
    }


@pytest.mark.parametrize("coding", list(numeric_codings()))
def test_numeric_codings_agree(coding):
    frame = pd.DataFrame({"q": numeric_codings()[coding]})
    coded, levels, messages = encode_ordinal_items(frame, ["q"])
    np.testing.assert_array_equal(coded["q"].to_numpy(dtype=float),
                                  [0.0, 2.0, 1.0, np.nan, 2.0, 0.0])
    assert levels.categories == ((1.0, 2.0, 3.0),)
    assert messages == []


def test_ordered_categorical_keeps_declared_order():
    frame = pd.DataFrame({"q": pd.Categorical(["3", "1", "2", "1"],
                                              categories=["3", "2", "1"],
                                              ordered=True)})
    coded, levels, _ = encode_ordinal_items(frame, ["q"])
    np.testing.assert_array_equal(coded["q"], [0.0, 2.0, 1.0, 2.0])
    assert levels.categories == (("3", "2", "1"),)


def test_partly_labelled_categories_rejected(tmp_path):
    # Labels on the end points only: pd.read_spss mixes numbers and text.
    frame = pd.DataFrame({"q": [1.0, 2.0, 3.0, 4.0, 5.0, 2.0]})
    path = tmp_path / "ends.sav"
    pyreadstat.write_sav(frame, str(path),
                         variable_value_labels={"q": {1.0: "low", 5.0: "high"}})
    read = pd.read_spss(path)
    with pytest.raises(DataError) as caught:
        encode_ordinal_items(read, ["q"])
    message = str(caught.value)
    assert "'q'" in message
    assert "'high'" in message
    assert "2.0" in message


def test_text_values_rejected():
    frame = pd.DataFrame({"q": ["agree", "1", "disagree", None]})
    with pytest.raises(DataError) as caught:
        encode_ordinal_items(frame, ["q"])
    message = str(caught.value)
    assert "'q'" in message
    assert "'agree'" in message
    assert "ordered=True" in message


def test_continuous_read_spss_rejected(read_spss_frame):
    with pytest.raises(DataError) as caught:
        quiet_fit(AC_MODEL, read_spss_frame)
    message = str(caught.value)
    assert "'A1'" in message
    assert "unordered pandas Categorical" in message
    assert "'Very accurate'" in message
    assert "lio_validate.read_data" in message
    assert "convert_categoricals=False" in message


def test_continuous_ordered_text_rejected(read_spss_frame):
    frame = read_spss_frame.copy()
    frame["A1"] = pd.Categorical(frame["A1"], categories=list(SCALE.values()),
                                 ordered=True)
    frame[AC_ITEMS[1:]] = frame[AC_ITEMS[1:]].apply(lambda c: c.cat.codes + 1.0)
    with pytest.raises(DataError) as caught:
        quiet_fit(AC_MODEL, frame)
    message = str(caught.value)
    assert "'A1'" in message
    assert "ordered=" in message


def test_continuous_read_data_matches_csv(labelled_sav):
    from_sav = quiet_fit(AC_MODEL, lio_validate.read_data(labelled_sav))
    from_csv = quiet_fit(AC_MODEL, read_dataset("bfi.csv"))
    np.testing.assert_allclose(from_sav.estimates["est"], from_csv.estimates["est"],
                               rtol=1e-10)


def test_continuous_numeric_categories_by_value():
    frame = read_dataset("bfi.csv")
    expected = quiet_fit(AC_MODEL, frame)
    for item in AC_ITEMS:
        frame[item] = pd.Categorical(frame[item],
                                     categories=[6.0, 2.0, 1.0, 5.0, 3.0, 4.0])
    fit = quiet_fit(AC_MODEL, frame)
    np.testing.assert_allclose(fit.estimates["est"], expected.estimates["est"],
                               rtol=1e-10)


# --------------------------------------------------------------------------
# Group labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value, label", [
    (1.0, "1"), (np.float64(8.0), "8"), (np.float32(2.0), "2"), (2.5, "2.5"),
    (-3.0, "-3"), (7, "7"), (np.int64(7), "7"), ("1.0", "1.0"), ("Pasteur", "Pasteur"),
])
def test_group_label(value, label):
    assert group_label(value) == label


def test_group_names_collision():
    with pytest.raises(DataError) as caught:
        group_names(["1", 1, 2], "g")
    message = str(caught.value)
    assert "'g'" in message
    assert "'1' (str) and 1 (int)" in message


def test_mixed_group_values_rejected_ml(hs):
    frame = hs.copy()
    frame["g"] = pd.Series(np.where(frame["school"] == "Pasteur", "1", "x"),
                           dtype=object)
    frame.loc[frame["school"] == "Grant-White", "g"] = 1
    with pytest.raises(DataError) as caught:
        quiet_fit(HS_MODEL, frame, group="g")
    message = str(caught.value)
    assert "'g'" in message
    assert "'1' (str) and 1 (int)" in message


def test_mixed_group_values_rejected_ordinal():
    frame = read_dataset("bfi.csv")
    frame["g"] = pd.Series(frame["gender"].astype(str).to_numpy(), dtype=object)
    frame.loc[frame["gender"] == 2, "g"] = 1.0
    with pytest.raises(DataError) as caught:
        quiet_fit(AC_MODEL, frame, ordered=True, group="g")
    message = str(caught.value)
    assert "'g'" in message
    assert "'1' (str) and 1.0 (float)" in message


def test_float_groups_ml(hs):
    # grade has a missing value, so pandas reads it as float (7.0, 8.0).
    # lavaan 0.6.14 reads the CSV column as integer and names the groups
    # "7" and "8", in order of first appearance.
    assert hs["grade"].dtype == np.float64
    fit = quiet_fit(HS_MODEL, hs, group="grade")
    assert fit.group_names == ("7", "8")
    assert set(fit.estimates["group"]) == {"7", "8"}


def test_float_groups_ordinal_match_lavaan():
    frame = read_dataset("bfi.csv")
    frame["gender"] = frame["gender"].astype(float)
    fit = quiet_fit(AC_MODEL, frame, ordered=AC_ITEMS, group="gender")
    assert fit.group_names == ("1", "2")
    assert_matches_lavaan(fit, "bfi_cfa2_ac_wlsmv_gender")


def test_float_groups_discriminant(hs):
    fit = quiet_fit(HS_MODEL, hs, group="grade")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        result = discriminant_validity(fit, hs)
    assert set(result.htmt["group"]) == {"7", "8"}


def test_float_groups_validation(hs):
    # A minimum size above both groups makes validate_survey name each group.
    roles = SurveyRoles(items=("x1", "x2"), group="grade", min_group_size=200)
    messages = validate_survey(hs, roles, source="hs.csv")
    assert any("group 'grade' = '7'" in message for message in messages), messages


def test_float_groups_check_groups(hs):
    assert check_groups(HS_MODEL, hs, "grade") == {"7": 157, "8": 143}


# --------------------------------------------------------------------------
# run-sem --ordered
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bfi_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ordered")
    data = folder / "bfi.csv"
    read_dataset("bfi.csv")[AC_ITEMS].to_csv(data, index=False)
    model = folder / "ac.lav"
    model.write_text(AC_MODEL, encoding="utf-8")
    return folder, data, model


def run_ordered(files, ordered: str, capsys, tmp_path, model=None):
    """Run run-sem in this process; return its status, stderr and results folder."""
    _, data, default_model = files
    out = tmp_path / "out"
    status = main(["run-sem", "--data", str(data), "--model",
                   str(model or default_model), "--ordered", ordered,
                   "--out", str(out)])
    return status, capsys.readouterr().err, out


def test_ordered_all_any_case(bfi_files, capsys, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, err, out = run_ordered(bfi_files, " ALL ", capsys, tmp_path)
    assert status == 0, err
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert "WLSMV" in manifest


def test_ordered_misspelt_item(bfi_files, capsys, tmp_path):
    status, err, out = run_ordered(bfi_files, "A1,A2,A3,A4,A5,C1,C2,C3,C4,C55",
                                   capsys, tmp_path)
    assert status == 2
    assert "'C55'" in err
    assert "did you mean 'C5'?" in err
    assert "ac.lav" in err
    assert not out.exists()


def test_ordered_item_not_in_model(bfi_files, capsys, tmp_path):
    # E1 is not a column of this data file and not in the model.
    listed = ",".join(AC_ITEMS + ["E1"])
    status, err, _ = run_ordered(bfi_files, listed, capsys, tmp_path)
    assert status == 2
    assert "'E1'" in err
    assert "not an observed variable of the model" in err


def test_ordered_item_not_in_data(bfi_files, capsys, tmp_path):
    folder, _, _ = bfi_files
    model = folder / "a9.lav"
    model.write_text("A =~ A1 + A2 + A3 + A4 + A9\n", encoding="utf-8")
    status, err, _ = run_ordered(bfi_files, "A1,A2,A3,A4,A9", capsys, tmp_path,
                                 model=model)
    assert status == 2
    assert "'A9' is not a column of the data" in err


def test_ordered_latent_rejected(bfi_files, capsys, tmp_path):
    status, err, _ = run_ordered(bfi_files, "A", capsys, tmp_path)
    assert status == 2
    assert "latent variable" in err
    assert "'A'" in err


@pytest.mark.parametrize("ordered", ["", " , "])
def test_ordered_empty_list(bfi_files, capsys, tmp_path, ordered):
    status, err, _ = run_ordered(bfi_files, ordered, capsys, tmp_path)
    assert status == 2
    assert "lists no item" in err
