"""Tests of lio_validate.io on real files written to a temporary directory."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from lio_validate.exceptions import DataError, DataWarning
from lio_validate.io import (
    SUPPORTED_SUFFIXES,
    CompleteCases,
    SurveyData,
    check_columns,
    read_data,
    select_complete_cases,
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def items() -> pd.DataFrame:
    """Five Likert items and a continuous score for six respondents."""
    return pd.DataFrame(
        {
            "autonomy1": [1.0, 2.0, 3.0, 4.0, 5.0, 3.0],
            "autonomy2": [2.0, 2.0, np.nan, 4.0, 5.0, 1.0],
            "support1": [5.0, 4.0, 3.0, 2.0, 1.0, 2.0],
            "support2": [3.0, 3.0, 3.0, np.nan, 1.0, 4.0],
            "learning": [4.0, 5.0, 2.0, 3.0, 1.0, 2.0],
            "score": [0.25, -1.5, 3.125, 2.0, 10.75, -0.5],
        }
    )


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".CSV"])
def test_round_trip_text(tmp_path, items, suffix):
    path = tmp_path / f"items{suffix}"
    separator = "\t" if suffix == ".tsv" else ","
    items.to_csv(path, sep=separator, index=False)

    data = read_data(path)

    pd.testing.assert_frame_equal(data.frame, items)
    assert data.format == "csv"
    assert data.missing_recoded == {}


def test_round_trip_parquet(tmp_path, items):
    path = tmp_path / "items.parquet"
    items.to_parquet(path, index=False)

    data = read_data(path)

    pd.testing.assert_frame_equal(data.frame, items)
    assert data.format == "parquet"


@pytest.mark.parametrize("suffix", [".sav", ".zsav"])
def test_round_trip_spss(tmp_path, items, suffix):
    path = tmp_path / f"items{suffix}"
    pyreadstat.write_sav(items, path, compress=suffix == ".zsav")

    data = read_data(path)

    pd.testing.assert_frame_equal(data.frame, items)
    assert data.format == "spss"


def test_round_trip_spss_portable(tmp_path, items):
    # The portable format stores names of at most 8 characters in upper case.
    names = ["AUTON1", "AUTON2", "SUPP1", "SUPP2", "LEARN", "SCORE"]
    upper = items.set_axis(names, axis=1)
    path = tmp_path / "items.por"
    pyreadstat.write_por(upper, path)

    data = read_data(path)

    pd.testing.assert_frame_equal(data.frame, upper)
    assert data.format == "spss_portable"


def test_round_trip_stata(tmp_path, items):
    path = tmp_path / "items.dta"
    pyreadstat.write_dta(items, path)

    data = read_data(path)

    pd.testing.assert_frame_equal(data.frame, items)
    assert data.format == "stata"


def test_read_data_columns_selects_in_order(tmp_path, items):
    paths = [tmp_path / "a.csv", tmp_path / "a.parquet", tmp_path / "a.sav"]
    items.to_csv(paths[0], index=False)
    items.to_parquet(paths[1], index=False)
    pyreadstat.write_sav(items, paths[2])

    for path in paths:
        data = read_data(path, columns=["learning", "autonomy1"])
        assert list(data.frame.columns) == ["learning", "autonomy1"], path
        np.testing.assert_array_equal(data.frame["learning"], items["learning"])


def test_read_data_columns_unknown_name(tmp_path, items):
    for name in ["a.csv", "a.parquet", "a.sav", "a.dta"]:
        path = tmp_path / name
        if name.endswith(".csv"):
            items.to_csv(path, index=False)
        elif name.endswith(".parquet"):
            items.to_parquet(path, index=False)
        elif name.endswith(".sav"):
            pyreadstat.write_sav(items, path)
        else:
            pyreadstat.write_dta(items, path)

        with pytest.raises(DataError, match="autonomy1") as caught:
            read_data(path, columns=["autonmy1"])
        assert str(path) in str(caught.value)


def test_survey_data_is_frozen(tmp_path, items):
    path = tmp_path / "items.csv"
    items.to_csv(path, index=False)
    data = read_data(path)

    with pytest.raises(dataclasses.FrozenInstanceError):
        data.format = "parquet"
    assert isinstance(data, SurveyData)
    assert data.nobs == 6
    assert data.columns == list(items.columns)


# --------------------------------------------------------------------------
# SPSS and Stata missing values and labels
# --------------------------------------------------------------------------


@pytest.fixture
def spss_file(tmp_path) -> Path:
    """A .sav with user-missing codes 8 and 9, a range 90-99 and a text code."""
    frame = pd.DataFrame(
        {
            "autonomy1": [1.0, 2.0, 8.0, 9.0, 3.0, 8.0, np.nan],
            "income": [10.5, 95.0, 20.0, 99.0, np.nan, 30.0, 40.0],
            "sector": ["zorg", "bouw", "?", "zorg", "bouw", "?", "zorg"],
            "age": [25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0],
        }
    )
    path = tmp_path / "survey.sav"
    pyreadstat.write_sav(
        frame,
        path,
        column_labels={"autonomy1": "I decide how I do my work", "age": "Age"},
        variable_value_labels={
            "autonomy1": {
                1: "never",
                2: "sometimes",
                3: "often",
                8: "don't know",
                9: "refused",
            }
        },
        missing_ranges={
            "autonomy1": [8, 9],
            "income": [{"lo": 90, "hi": 99}],
            "sector": ["?"],
        },
    )
    return path


def test_spss_user_missing_become_nan(spss_file):
    data = read_data(spss_file)

    expected = [1.0, 2.0, np.nan, np.nan, 3.0, np.nan, np.nan]
    np.testing.assert_array_equal(data.frame["autonomy1"], expected)
    np.testing.assert_array_equal(
        data.frame["income"], [10.5, np.nan, 20.0, np.nan, np.nan, 30.0, 40.0]
    )
    assert data.frame["sector"].isna().sum() == 2
    assert data.frame["age"].notna().all()


def test_spss_missing_recoded_counts(spss_file):
    data = read_data(spss_file)

    # The system-missing value in autonomy1 and income is not counted.
    assert data.missing_recoded["autonomy1"] == 3
    assert data.missing_recoded["income"] == 2
    assert data.missing_recoded["sector"] == 2
    assert "age" not in data.missing_recoded


def test_spss_labels_survive(spss_file):
    data = read_data(spss_file)

    labels = data.value_labels["autonomy1"]
    assert labels[1] == "never"
    assert labels[8] == "don't know"
    assert labels[9] == "refused"
    assert all(isinstance(code, int) for code in labels)
    assert data.variable_labels == {
        "autonomy1": "I decide how I do my work",
        "age": "Age",
    }


def test_spss_columns_subset_keeps_metadata(spss_file):
    data = read_data(spss_file, columns=["autonomy1"])

    assert list(data.frame.columns) == ["autonomy1"]
    assert data.missing_recoded == {"autonomy1": 3}
    assert list(data.value_labels) == ["autonomy1"]
    assert list(data.variable_labels) == ["autonomy1"]


def test_stata_extended_missing(tmp_path):
    # Integer column: .a and .z are extended missing values, NaN is "."
    frame = pd.DataFrame(
        {
            "support1": pd.Series([0, 2, "a", np.nan, 3, "z", 4], dtype=object),
            "support2": [1.0, 2.0, 3.0, 4.0, np.nan, 1.0, 2.0],
        }
    )
    path = tmp_path / "survey.dta"
    pyreadstat.write_dta(
        frame,
        path,
        missing_user_values={"support1": ["a", "z"]},
        variable_value_labels={"support1": {0: "never", 2: "often"}},
        column_labels={"support1": "My supervisor supports learning"},
    )

    data = read_data(path)

    np.testing.assert_array_equal(
        data.frame["support1"], [0.0, 2.0, np.nan, np.nan, 3.0, np.nan, 4.0]
    )
    assert data.frame["support1"].dtype == np.float64
    assert data.missing_recoded == {"support1": 2}
    assert data.value_labels["support1"] == {0: "never", 2: "often"}
    assert data.variable_labels == {"support1": "My supervisor supports learning"}


# --------------------------------------------------------------------------
# Delimited text details
# --------------------------------------------------------------------------


def test_csv_semicolon_decimal_comma(tmp_path):
    path = write_text(
        tmp_path / "export.csv",
        "respondent;score;sector;item\n"
        "1;3,5;zorg;4\n"
        "2;-0,25;bouw, infra;\n"
        "3;12;onderwijs;2\n",
    )

    data = read_data(path)

    np.testing.assert_array_equal(data.frame["score"], [3.5, -0.25, 12.0])
    assert data.frame["sector"].tolist() == ["zorg", "bouw, infra", "onderwijs"]
    assert np.isnan(data.frame["item"].iloc[1])
    assert data.frame["respondent"].tolist() == [1, 2, 3]


def test_csv_windows_line_endings(tmp_path):
    path = write_text(tmp_path / "export.csv", '"a;1";b\r\n"x";1,5\r\n"y";2\r\n')

    data = read_data(path)

    assert list(data.frame.columns) == ["a;1", "b"]
    np.testing.assert_array_equal(data.frame["b"], [1.5, 2.0])


def test_csv_semicolon_without_decimals(tmp_path):
    path = write_text(tmp_path / "export.csv", "a;b\n1;2.5\n3;4\n")

    data = read_data(path)

    np.testing.assert_array_equal(data.frame["b"], [2.5, 4.0])


def test_csv_tab_in_txt(tmp_path):
    path = write_text(tmp_path / "export.txt", "a\tb\tc\n1\t2,5\t3\n4\t5\t6\n")

    data = read_data(path)

    assert list(data.frame.columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(data.frame["b"], [2.5, 5.0])


def test_csv_blank_cells_are_nan(tmp_path):
    path = write_text(tmp_path / "export.csv", "a;b\n1;2\n1;  \n ;3\n")

    frame = read_data(path).frame

    assert frame["a"].isna().tolist() == [False, False, True]
    assert frame["b"].isna().tolist() == [False, True, False]
    assert pd.api.types.is_numeric_dtype(frame["b"])


def test_csv_windows_1252(tmp_path):
    path = write_text(tmp_path / "export.csv", "één;b\n1;2\n", encoding="cp1252")

    data = read_data(path)

    assert list(data.frame.columns) == ["één", "b"]


def test_csv_byte_order_mark(tmp_path):
    path = write_text(tmp_path / "export.csv", "a,b\n1,2\n", encoding="utf-8-sig")

    assert list(read_data(path).frame.columns) == ["a", "b"]


def test_csv_mixed_decimal_marks_warn(tmp_path):
    path = write_text(tmp_path / "export.csv", "a;b\n1,5;2.5\n2;3\n")

    with pytest.warns(DataWarning, match="decimal comma"):
        read_data(path)


def test_csv_single_column(tmp_path):
    path = write_text(tmp_path / "export.csv", "score\n1.5\n2\n")

    np.testing.assert_array_equal(read_data(path).frame["score"], [1.5, 2.0])


def test_csv_ragged_row(tmp_path):
    path = write_text(tmp_path / "export.csv", "a,b\n1,2\n3,4,5\n")

    with pytest.raises(DataError, match="export.csv") as caught:
        read_data(path)
    assert "fields" in str(caught.value)


# --------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------


def test_bad_suffix_lists_supported(tmp_path):
    path = write_text(tmp_path / "data.xlsx", "not read")

    with pytest.raises(DataError) as caught:
        read_data(path)
    message = str(caught.value)
    assert "data.xlsx" in message
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in message


def test_missing_file(tmp_path):
    path = tmp_path / "absent.sav"

    with pytest.raises(DataError, match="not found") as caught:
        read_data(path)
    assert str(path) in str(caught.value)


def test_directory_instead_of_file(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()

    with pytest.raises(DataError, match="not a file"):
        read_data(path)


def test_empty_file(tmp_path):
    path = write_text(tmp_path / "empty.csv", "")

    with pytest.raises(DataError, match="empty"):
        read_data(path)


def test_header_only_csv(tmp_path):
    path = write_text(tmp_path / "header.csv", "a,b\n")

    with pytest.raises(DataError, match="no data rows"):
        read_data(path)


@pytest.mark.parametrize(
    ("name", "format_name"),
    [
        ("corrupt.sav", "SPSS"),
        ("corrupt.zsav", "SPSS"),
        ("corrupt.por", "SPSS portable"),
        ("corrupt.dta", "Stata"),
        ("corrupt.parquet", "Parquet"),
    ],
)
def test_corrupt_binary_file(tmp_path, name, format_name):
    path = write_text(tmp_path / name, "respondent,score\n1,2\n3,4\n")

    with pytest.raises(DataError) as caught:
        read_data(path)
    message = str(caught.value)
    assert name in message
    assert format_name in message
    assert caught.value.__cause__ is not None


def test_binary_file_named_csv(tmp_path, items):
    path = tmp_path / "really.csv"
    items.to_parquet(path, index=False)

    with pytest.raises(DataError, match="binary"):
        read_data(path)


# --------------------------------------------------------------------------
# The input file stays unchanged
# --------------------------------------------------------------------------


def test_input_bytes_unchanged(tmp_path, items, spss_file):
    paths = [spss_file, tmp_path / "a.csv", tmp_path / "a.parquet", tmp_path / "a.dta"]
    items.to_csv(paths[1], sep=";", decimal=",", index=False)
    items.to_parquet(paths[2], index=False)
    pyreadstat.write_dta(items, paths[3])

    for path in paths:
        before = sha256_of(path)
        modified = path.stat().st_mtime_ns

        data = read_data(path)

        assert sha256_of(path) == before, path
        assert path.stat().st_mtime_ns == modified, path
        assert data.sha256 == before, path


# --------------------------------------------------------------------------
# check_columns
# --------------------------------------------------------------------------


def test_check_columns_accepts_numeric(items):
    check_columns(items, ["autonomy1", "score"], source="items.csv")


def test_check_columns_unknown_with_suggestion(items):
    with pytest.raises(DataError) as caught:
        check_columns(items, ["autonomy1", "suport1", "xyz"], source="items.csv")
    message = str(caught.value)
    assert "items.csv" in message
    assert "'suport1' (did you mean 'support1'" in message
    assert "'xyz'" in message
    assert "'autonomy1'" not in message


def test_check_columns_suggestion_ignores_case(items):
    with pytest.raises(DataError, match="did you mean 'autonomy1'"):
        check_columns(items, ["AUTONOMY1"], source="items.por")


def test_check_columns_duplicate_names(tmp_path):
    path = write_text(tmp_path / "dup.csv", "a,b,a\n1,2,3\n4,5,6\n")

    with pytest.warns(DataWarning, match="duplicate"):
        data = read_data(path)
    assert list(data.frame.columns) == ["a", "b", "a"]

    with pytest.raises(DataError, match="more than once") as caught:
        check_columns(data.frame, ["a", "b"], source=path)
    assert "'a'" in str(caught.value)
    assert "dup.csv" in str(caught.value)

    # A duplicated column that the model does not use is harmless.
    check_columns(data.frame, ["b"], source=path)


def test_read_data_rejects_duplicated_request(tmp_path):
    path = write_text(tmp_path / "dup.csv", "a,b,a\n1,2,3\n")

    with pytest.raises(DataError, match="more than once"):
        read_data(path, columns=["a"])


def test_check_columns_text_column(tmp_path):
    path = write_text(
        tmp_path / "text.csv", "sector,item\nzorg,1\nbouw,2\nzorg,3\n,4\n"
    )
    frame = read_data(path).frame

    with pytest.raises(DataError) as caught:
        check_columns(frame, ["item", "sector"], source=path)
    message = str(caught.value)
    assert "text.csv" in message
    assert "'sector'" in message
    assert "'zorg'" in message
    assert "'bouw'" in message
    assert "3 values" in message
    assert "'item'" not in message


def test_check_columns_decimal_comma_hint():
    frame = pd.DataFrame({"score": ["3,5", "2,0", "1"]})

    with pytest.raises(DataError, match="decimal comma"):
        check_columns(frame, ["score"], source="export.csv")


def test_check_columns_numeric_text():
    frame = pd.DataFrame({"score": pd.Series(["1", "2"], dtype=object)})

    with pytest.raises(DataError, match="to_numeric"):
        check_columns(frame, ["score"], source="export.parquet")


def test_check_columns_dates():
    frame = pd.DataFrame({"born": pd.to_datetime(["1980-01-01", "1990-06-30"])})

    with pytest.raises(DataError, match="dates"):
        check_columns(frame, ["born"], source="survey.sav")


# --------------------------------------------------------------------------
# select_complete_cases
# --------------------------------------------------------------------------


def test_select_complete_cases_counts():
    frame = pd.DataFrame(
        {
            "x1": [1.0, np.nan, 3.0, np.nan, 5.0],
            "x2": [1.0, 2.0, np.nan, np.nan, 5.0],
            "other": [np.nan] * 5,
        },
        index=[10, 11, 12, 13, 14],
    )

    complete, counts = select_complete_cases(frame, ["x2", "x1"])

    expected = CompleteCases(n_total=5, n_complete=2, n_dropped=3, n_all_missing=1)
    assert counts == expected
    assert list(complete.columns) == ["x2", "x1"]
    assert complete.index.tolist() == [10, 14]


def test_select_complete_cases_none_complete():
    frame = pd.DataFrame({"x1": [1.0, np.nan], "x2": [np.nan, 2.0]})

    with pytest.raises(DataError, match="none of the 2 rows") as caught:
        select_complete_cases(frame, ["x1", "x2"], source="survey.sav")
    assert "survey.sav" in str(caught.value)


def test_select_complete_cases_unknown_column():
    frame = pd.DataFrame({"x1": [1.0]})

    with pytest.raises(DataError, match="did you mean 'x1'"):
        select_complete_cases(frame, ["x_1"], source="survey.sav")


def test_select_complete_cases_counts_frozen():
    counts = CompleteCases(n_total=1, n_complete=1, n_dropped=0, n_all_missing=0)

    with pytest.raises(dataclasses.FrozenInstanceError):
        counts.n_total = 2


def test_read_data_without_warnings(tmp_path, items):
    path = tmp_path / "items.csv"
    items.to_csv(path, index=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_data(path)
