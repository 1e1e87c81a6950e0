"""Tests of the codebook, prepare_survey and the drafted codebook, on real files."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from lio_validate.codebook import (
    AUDIT_COLUMNS,
    PreparedSurvey,
    codebook_path_for,
    prepare_survey,
)
from lio_validate.codebook_draft import draft_codebook
from lio_validate.codebook_load import load_codebook, parse_codebook
from lio_validate.codebook_spec import MissingRange
from lio_validate.codebook_yaml import dump_codebook
from lio_validate.exceptions import DataError, DataWarning

AGREE = {
    1: "strongly disagree",
    2: "disagree",
    3: "neither agree nor disagree",
    4: "agree",
    5: "strongly agree",
    8: "don't know",
    9: "refused",
}

CODEBOOK = """\
codebook_version: 1
group: edu
weight: w
cluster: org
ordered: all
checks: {min_group_size: 2}
answer_scales:
  agree5:
    values:
      1: strongly disagree
      2: disagree
      3: neither agree nor disagree
      4: agree
      5: strongly agree
      8: "don't know"
      9: refused
    missing: [8, 9]
scales:
  autonomy:
    label: Autonomy at work
    items: [aut1, aut2, aut3, aut4]
    reverse: [aut2]
    answers: agree5
variables:
  aut1: {label: I decide how I do my work}
  edu:
    label: Education
    values: {1: low, 2: middle, 3: high}
"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def survey_frame() -> pd.DataFrame:
    """Twelve respondents: four autonomy items, education, weight, organisation.

    aut2 is stored reversed, aut3 stores the answers as text, 8 and 9 are
    non-answers, and aut4 has one system-missing cell.
    """
    return pd.DataFrame(
        {
            "aut1": [1, 2, 3, 4, 5, 8, 9, 2, 3, 4, 5, 1.0],
            "aut2": [5, 4, 3, 2, 1, 1, 2, 9, 3, 2, 2, 4.0],
            "aut3": [
                "agree",
                "Strongly  agree",
                "don't know",
                "disagree",
                "neither agree nor disagree",
                "agree",
                "agree ",
                "",
                "agree",
                "disagree",
                "strongly agree",
                "strongly disagree",
            ],
            "aut4": [2, 3, 3, 4, 5, 4, 3, 2, np.nan, 4, 5, 1.0],
            "edu": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3.0],
            "w": [1, 1, 1, 2, 2, 2, 0.5, 0.5, 1, 1, 1, 1.0],
            "org": [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3.0],
        }
    )


def write_sav(path: Path, frame: pd.DataFrame | None = None, **options) -> Path:
    frame = survey_frame() if frame is None else frame
    labels = {name: AGREE for name in ("aut1", "aut2", "aut4") if name in frame}
    labels.update(options.pop("labels", {}))
    missing = {name: [8, 9] for name in ("aut1", "aut2") if name in frame}
    missing.update(options.pop("missing", {}))
    pyreadstat.write_sav(
        frame,
        path,
        variable_value_labels=labels,
        missing_ranges=missing,
        column_labels={"aut1": "Decide how", "edu": "Education level"},
        **options,
    )
    return path


@pytest.fixture
def sav_file(tmp_path) -> Path:
    return write_sav(tmp_path / "survey.sav")


@pytest.fixture
def codebook_file(tmp_path) -> Path:
    path = tmp_path / "survey.codebook.yaml"
    path.write_text(CODEBOOK, encoding="utf-8")
    return path


def prepare_quietly(*args, **kwargs) -> tuple[PreparedSurvey, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        prepared = prepare_survey(*args, **kwargs)
    return prepared, [str(w.message) for w in caught if w.category is DataWarning]


def audit_row(prepared: PreparedSurvey, name: str) -> pd.Series:
    return prepared.audit.set_index("variable").loc[name]


# --------------------------------------------------------------------------
# The codebook layout
# --------------------------------------------------------------------------


def test_load_codebook_fields(codebook_file):
    book = load_codebook(codebook_file)

    assert book.items == ("aut1", "aut2", "aut3", "aut4")
    assert book.reverse_items == ("aut2",)
    assert book.ordered == book.items
    assert (book.group, book.weight, book.cluster) == ("edu", "w", "org")
    assert book.min_group_size == 2
    assert book.labels["autonomy"] == "Autonomy at work"
    assert book.labels["aut1"] == "I decide how I do my work"
    assert book.answer_scales["agree5"].values[8] == "don't know"
    assert "autonomy" in book.summary()


def test_resolve_merges_answer_scale(codebook_file):
    rules = load_codebook(codebook_file).resolve("aut2")

    assert rules.valid == (1.0, 5.0)
    assert not rules.valid_declared
    assert rules.reverse
    assert rules.scale == "autonomy"
    assert rules.text["strongly agree"] == 5.0
    assert rules.text["don't know"] == 8.0


def test_resolve_uses_file_labels_without_codebook_values():
    book = parse_codebook({})
    rules = book.resolve(
        "q1", file_values={1: "no", 2: "yes", 7: "refused"}, file_missing=((7, 7),)
    )

    assert rules.values_source == "file"
    assert rules.valid == (1.0, 2.0)


def test_missing_ranges_and_valid_parse():
    book = parse_codebook(
        {
            "variables": {
                "income": {
                    "missing": [-1, {"from": 90, "to": 99}, "n.v.t."],
                    "valid": [0, 89],
                }
            }
        }
    )
    rules = book.resolve("income")

    assert rules.missing == (-1, MissingRange(90.0, 99.0), "n.v.t.")
    assert rules.valid == (0.0, 89.0)
    assert rules.valid_declared


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"scales": {"a": {"items": ["x1"], "reverse": ["x2"]}}}, "'x2'"),
        ({"scales": {"a": {"items": ["x1"], "answers": "nope"}}}, "'nope'"),
        ({"scales": {"a": ["x1", "x2"], "b": ["x2"]}}, "one scale only"),
        ({"scales": {"a": {"items": []}}}, "items is empty"),
        ({"variables": {"q": {"text": {"agree": None}}}}, "has no code"),
        ({"variables": {"q": {"values": {1: True}}}}, "quotes"),
        ({"variables": {"q": {"valid": [5, 1]}}}, "valid: \\[1, 5\\]"),
        ({"variables": {"q": {"missing": [{"from": 9}]}}}, "from: 90"),
        ({"variables": {"q": {"lable": "typo"}}}, "'lable'"),
        ({"wieght": "w"}, "'wieght'.*Known keys"),
        ({"ordered": "some"}, "ordered: all"),
        ({"checks": {"min_group_size": 1}}, "min_group_size"),
        ({"checks": {"max_item_correlation": 1.5}}, "max_item_correlation"),
        ({"codebook_version": 2}, "codebook_version"),
        ({"scales": "autonomy"}, "must be a mapping"),
    ],
)
def test_invalid_codebook_rejected(document, expected):
    with pytest.raises(DataError, match=expected) as caught:
        parse_codebook(document, source="book.yaml")
    assert str(caught.value).startswith("book.yaml: ")
    assert "\n" not in str(caught.value)


def test_invalid_yaml_one_line(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text("scales:\n  a: [x1, x2\n  b: 3\n", encoding="utf-8")

    with pytest.raises(DataError, match="not valid YAML") as caught:
        load_codebook(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_codebook_file(tmp_path):
    with pytest.raises(DataError, match="Codebook not found"):
        load_codebook(tmp_path / "absent.yaml")


def test_dump_codebook_round_trip():
    document = {
        "codebook_version": 1,
        "data": "survey 2024.sav",
        "scales": {"a": {"items": ["x1", "x2"], "label": "Yes"}},
        "variables": {
            "q": {
                "values": {
                    1: "no",
                    2: "yes",
                    3: "1",
                    4: "a: b",
                    5: "don't know",
                    6: "één #1",
                    7: " padded",
                    8: "null",
                },
                "missing": [8, {"from": 90, "to": 99}, "n.v.t."],
                "valid": [1, 7.5],
            },
            "empty": {},
        },
    }
    text = dump_codebook(
        document,
        header=["made by a test"],
        comments={("scales", "a"): ["a comment " * 20]},
    )

    assert yaml.safe_load(text) == document
    assert text.startswith("# made by a test\n")
    assert max(len(line) for line in text.splitlines()) <= 88


# --------------------------------------------------------------------------
# prepare_survey: round trips through real files
# --------------------------------------------------------------------------


def test_sav_user_missing_counted(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file)

    aut1 = audit_row(prepared, "aut1")
    assert aut1["user_missing"] == 2
    assert aut1["codebook_missing"] == 0
    assert aut1["n_valid"] == 10
    assert prepared.frame["aut1"].isna().sum() == 2
    assert audit_row(prepared, "aut2")["user_missing"] == 1
    assert audit_row(prepared, "aut4")["system_missing"] == 1


def test_sav_text_answers_map(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file)

    expected = [4, 5, np.nan, 2, 3, 4, 4, np.nan, 4, 2, 5, 1]
    np.testing.assert_array_equal(prepared.frame["aut3"], expected)
    aut3 = audit_row(prepared, "aut3")
    assert aut3["text_mapped"] == 11
    assert aut3["system_missing"] == 1
    # "don't know" maps to code 8, which the answer scale declares missing.
    assert aut3["codebook_missing"] == 1


def test_sav_reversed_items_reverse(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file)

    stored = survey_frame()["aut2"].where(lambda x: x < 8)
    np.testing.assert_array_equal(prepared.frame["aut2"], 6 - stored)
    assert audit_row(prepared, "aut2")["reversed"] == 11
    np.testing.assert_array_equal(prepared.frame["aut1"].iloc[:5], [1, 2, 3, 4, 5])


def test_sav_labels_survive(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file)

    assert prepared.value_labels["aut1"][9] == "refused"
    assert prepared.labels["aut1"] == "I decide how I do my work"
    assert prepared.labels["edu"] == "Education"
    assert prepared.labels["autonomy"] == "Autonomy at work"
    education = prepared.frame["edu"]
    assert list(education.cat.categories) == ["low", "middle", "high"]
    assert education.cat.ordered
    assert education.iloc[0] == "low"


def test_sav_without_codebook_keeps_file_labels(sav_file):
    prepared, _ = prepare_quietly(sav_file, items=["aut1", "aut4"])

    assert prepared.codebook is None
    assert prepared.frame["aut1"].isna().sum() == 2
    assert prepared.labels["aut1"] == "Decide how"
    assert prepared.value_labels["aut4"][5] == "strongly agree"
    assert prepared.frame["aut3"].iloc[0] == "agree"


def test_audit_table_columns(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file)

    assert tuple(prepared.audit.columns) == AUDIT_COLUMNS
    roles = dict(zip(prepared.audit["variable"], prepared.audit["role"]))
    assert roles == {
        "aut1": "item",
        "aut2": "item",
        "aut3": "item",
        "aut4": "item",
        "edu": "group",
        "w": "weight",
        "org": "cluster",
    }


def test_dta_codebook_missing_codes(tmp_path, codebook_file):
    frame = survey_frame().drop(columns="aut3")
    path = tmp_path / "survey.dta"
    pyreadstat.write_dta(frame, path)
    text = CODEBOOK.replace("aut3, ", "")
    book = tmp_path / "book.yaml"
    book.write_text(text, encoding="utf-8")

    prepared, _ = prepare_quietly(path, book)

    aut1 = audit_row(prepared, "aut1")
    assert aut1["user_missing"] == 0
    assert aut1["codebook_missing"] == 2
    assert audit_row(prepared, "aut2")["codebook_missing"] == 1
    assert prepared.frame["aut1"].isna().sum() == 2


def test_csv_decimal_comma_matches_sav(tmp_path, sav_file, codebook_file):
    path = tmp_path / "survey.csv"
    frame = survey_frame()
    frame["w"] = frame["w"] * 1.5
    frame.to_csv(path, sep=";", decimal=",", index=False)
    sav = write_sav(tmp_path / "scaled.sav", frame)

    from_csv, _ = prepare_quietly(path, codebook_file)
    from_sav, _ = prepare_quietly(sav, codebook_file)

    pd.testing.assert_frame_equal(from_csv.frame, from_sav.frame, check_dtype=False)
    assert from_csv.frame["w"].iloc[6] == pytest.approx(0.75)
    assert audit_row(from_csv, "aut1")["codebook_missing"] == 2


def test_parquet_round_trip(tmp_path, codebook_file):
    path = tmp_path / "survey.parquet"
    survey_frame().to_parquet(path, index=False)

    prepared, _ = prepare_quietly(path, codebook_file)

    assert prepared.frame["aut1"].isna().sum() == 2
    assert audit_row(prepared, "aut3")["text_mapped"] == 11


def test_input_bytes_unchanged(sav_file, codebook_file):
    before = (sha256_of(sav_file), sav_file.stat().st_mtime_ns)
    codebook_before = sha256_of(codebook_file)

    prepared, _ = prepare_quietly(sav_file, codebook_file)

    assert (sha256_of(sav_file), sav_file.stat().st_mtime_ns) == before
    assert sha256_of(codebook_file) == codebook_before
    assert prepared.sha256 == before[0]


def test_prepared_survey_frozen_and_summary(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file)

    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.group = "other"
    text = prepared.summary()
    assert "3 values declared missing in the file" in text
    assert "11 text answers mapped" in text
    assert prepared.nobs == 12
    assert prepared.scales == {"autonomy": ("aut1", "aut2", "aut3", "aut4")}


def test_codebook_path_convention(tmp_path):
    data = tmp_path / "wave1.sav"
    assert codebook_path_for(data) is None

    shared = tmp_path / "codebook.yaml"
    shared.write_text("{}\n")
    assert codebook_path_for(data) == shared

    own = tmp_path / "wave1.codebook.yaml"
    own.write_text("{}\n")
    assert codebook_path_for(data) == own


def test_roles_override_codebook(sav_file, codebook_file):
    prepared, _ = prepare_quietly(sav_file, codebook_file, group="org", weight=None)

    assert prepared.group == "org"
    assert prepared.weight == "w"


# --------------------------------------------------------------------------
# prepare_survey: errors
# --------------------------------------------------------------------------


def test_undeclared_dont_know_rejected(tmp_path):
    path = write_sav(tmp_path / "survey.sav", missing={"aut1": [9]})

    with pytest.raises(DataError) as caught:
        prepare_survey(path, items=["aut1"])
    message = str(caught.value)
    assert "'aut1'" in message
    assert "coded 8" in message
    assert "don't know" in message
    assert "missing: [8]" in message


def test_out_of_range_code_rejected(tmp_path, codebook_file):
    frame = survey_frame()
    frame.loc[3, "aut4"] = 7
    path = write_sav(tmp_path / "survey.sav", frame)

    with pytest.raises(DataError) as caught:
        prepare_survey(path, codebook_file)
    message = str(caught.value)
    assert "'aut4'" in message
    assert "1 to 5" in message
    assert "7: 1" in message
    assert "missing" in message


def test_unknown_text_answer_rejected(tmp_path, codebook_file):
    frame = survey_frame()
    frame.loc[0, "aut3"] = "mostly agree"
    path = write_sav(tmp_path / "survey.sav", frame)

    with pytest.raises(DataError) as caught:
        prepare_survey(path, codebook_file)
    message = str(caught.value)
    assert "'aut3'" in message
    assert "'mostly agree' (1 rows)" in message
    assert "text:" in message


def test_unknown_codebook_column_rejected(sav_file, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(CODEBOOK.replace("aut4]", "atu4]"), encoding="utf-8")

    with pytest.raises(DataError) as caught:
        prepare_survey(sav_file, book)
    message = str(caught.value)
    assert "'atu4' (did you mean 'aut4'?)" in message
    assert str(book) in message
    assert str(sav_file) in message


def test_duplicate_used_column_rejected(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("q1,q2,q1,x,x\n1,2,3,1,1\n2,1,3,2,2\n3,3,1,1,2\n")

    with pytest.raises(DataError, match="'q1' occur more than once"):
        with pytest.warns(DataWarning, match="duplicate"):
            prepare_survey(path, items=["q1", "q2"])

    with pytest.warns(DataWarning, match="duplicate column names 'q1', 'x'"):
        prepared = prepare_survey(path, items=["q2"])
    assert list(prepared.frame.columns) == ["q1", "q2", "q1", "x", "x"]


def test_constant_item_rejected(tmp_path, codebook_file):
    frame = survey_frame()
    frame["aut4"] = 3.0
    path = write_sav(tmp_path / "survey.sav", frame)

    with pytest.raises(DataError, match="'aut4' has the same value \\(3\\) in all 12"):
        prepare_survey(path, codebook_file)


def test_item_without_valid_value_rejected(tmp_path, codebook_file):
    frame = survey_frame()
    frame["aut4"] = 9.0
    path = write_sav(tmp_path / "survey.sav", frame)

    with pytest.raises(DataError, match="'aut4' has no valid value"):
        prepare_survey(path, codebook_file)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([np.nan] + [1.0] * 11, "missing in 1 rows \\(rows 1, counted from 1\\)"),
        ([-1.0] + [1.0] * 11, "1 negative weights"),
        ([0.0] * 12, "sum to zero"),
    ],
)
def test_bad_weights_rejected(tmp_path, codebook_file, weights, expected):
    frame = survey_frame()
    frame["w"] = weights
    path = write_sav(tmp_path / "survey.sav", frame)

    with pytest.raises(DataError, match=expected) as caught:
        prepare_survey(path, codebook_file)
    assert "'w'" in str(caught.value)


def test_text_weight_rejected(tmp_path, codebook_file):
    frame = survey_frame()
    frame["w"] = ["one"] * 12
    path = tmp_path / "survey.parquet"
    frame.to_parquet(path)

    with pytest.raises(DataError, match="weight column 'w' contains text"):
        prepare_survey(path, codebook_file)


# --------------------------------------------------------------------------
# prepare_survey: warnings
# --------------------------------------------------------------------------


def test_constant_within_group_warns(tmp_path, codebook_file):
    frame = survey_frame()
    frame.loc[frame["edu"] == 3, "aut4"] = 4.0
    path = write_sav(tmp_path / "survey.sav", frame)

    _, messages = prepare_quietly(path, codebook_file)

    constant = [m for m in messages if "one value or none" in m]
    assert len(constant) == 1
    assert "'edu' = 'high'" in constant[0]
    assert "'aut4'" in constant[0]


def test_collinear_items_warn(tmp_path, codebook_file):
    frame = survey_frame()
    frame["aut4"] = frame["aut1"].where(frame["aut1"] < 8, 3.0)
    path = write_sav(tmp_path / "survey.sav", frame)

    _, messages = prepare_quietly(path, codebook_file)

    collinear = [m for m in messages if "nearly collinear" in m]
    assert len(collinear) == 1
    assert "'aut1' and 'aut4' (r = 1.000)" in collinear[0]


def test_rows_without_answers_warn(tmp_path, codebook_file):
    frame = survey_frame()
    frame.loc[[2, 7], ["aut1", "aut2", "aut4"]] = 9.0
    frame.loc[[2, 7], "aut3"] = "refused"
    path = write_sav(tmp_path / "survey.sav", frame)

    _, messages = prepare_quietly(path, codebook_file)

    empty = [m for m in messages if "no valid answer" in m]
    assert len(empty) == 1
    assert "2 of 12 rows" in empty[0]
    assert "rows 3, 8" in empty[0]


def test_small_groups_warn(sav_file, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(CODEBOOK.replace("min_group_size: 2", "min_group_size: 50"))

    _, messages = prepare_quietly(sav_file, book)

    small = [m for m in messages if "group 'edu' =" in m and "complete rows" in m]
    assert len(small) == 3


def test_reverse_without_range_warns(tmp_path):
    frame = pd.DataFrame({"x1": [1, 2, 3, 4.0], "x2": [4, 3, 2, 1.0]})
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)
    book = parse_codebook({"scales": {"s": {"items": ["x1", "x2"], "reverse": ["x2"]}}})

    prepared, messages = prepare_quietly(path, book)

    assert any("observed range as 5 - x" in m for m in messages)
    np.testing.assert_array_equal(prepared.frame["x2"], [1, 2, 3, 4])


def test_suspect_missing_codes_warn(tmp_path):
    frame = pd.DataFrame(
        {"q1": [1, 2, 3, 4, 5, 9, 9, 2.0], "q2": [1, 2, 3, 4, 5, 6, 7, 8.0]}
    )
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)

    prepared, messages = prepare_quietly(path, items=["q1", "q2"])

    assert len(messages) == 1
    assert "item 'q1' has the codes 9 (2 rows)" in messages[0]
    assert "none was given" in messages[0]
    assert prepared.frame["q1"].max() == 9


def test_missing_group_values_warn(tmp_path, codebook_file):
    frame = survey_frame()
    frame.loc[4, "edu"] = np.nan
    path = write_sav(tmp_path / "survey.sav", frame)

    _, messages = prepare_quietly(path, codebook_file)

    assert any("1 rows have no value in the group column 'edu'" in m for m in messages)


# --------------------------------------------------------------------------
# draft_codebook
# --------------------------------------------------------------------------


def test_draft_codebook_from_sav(tmp_path):
    education = {1: "low", 2: "middle", 3: "high"}
    sav_file = write_sav(tmp_path / "survey.sav", labels={"edu": education})
    text = draft_codebook(sav_file)
    path = tmp_path / "draft.yaml"
    path.write_text(text, encoding="utf-8")

    book = load_codebook(path)
    scale = book.scales[0]
    assert scale.items == ("aut1", "aut2", "aut3", "aut4")
    assert book.resolve("aut3").text["agree"] == 4.0
    assert book.resolve("aut1").missing == (8, 9)
    assert book.resolve("edu").values == education


def test_draft_adds_undeclared_missing_codes(tmp_path):
    path = write_sav(
        tmp_path / "survey.sav", missing={"aut1": [], "aut2": [], "aut4": []}
    )

    book = parse_codebook(yaml.safe_load(draft_codebook(path)))

    assert book.resolve("aut1").missing == (8, 9)
    assert "the file does not declare them missing in aut1, aut2, aut4" in (
        draft_codebook(path).replace("\n    # ", " ")
    )


def test_draft_text_column_needs_codes(tmp_path):
    frame = pd.DataFrame(
        {"q1": ["often", "never", "often", "sometimes"], "q2": [1, 2, 3, 1]}
    )
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    draft = yaml.safe_load(draft_codebook(path))

    assert draft["variables"]["q1"]["text"] == {
        "never": None,
        "often": None,
        "sometimes": None,
    }
    with pytest.raises(DataError, match="'never'.*has no code"):
        parse_codebook(draft)

    draft["variables"]["q1"]["text"] = {"never": 1, "sometimes": 2, "often": 3}
    prepared, _ = prepare_quietly(path, parse_codebook(draft), items=["q1"])
    np.testing.assert_array_equal(prepared.frame["q1"], [3, 1, 3, 2])
