"""The codebook, prepare and simulate commands, through real subprocesses.

Every kind of bad input must end with exit status 2, one line on stderr and
no traceback, and must leave the input file's bytes unchanged. The bad-input
cases run as concurrent subprocesses to keep the module fast.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

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
group: edu
weight: w
checks: {min_group_size: 10}
answer_scales:
  agree5:
    values: {1: strongly disagree, 2: disagree, 3: neither agree nor disagree,
             4: agree, 5: strongly agree, 8: "don't know", 9: refused}
    missing: [8, 9]
scales:
  autonomy:
    items: [aut1, aut2, aut3, aut4]
    reverse: [aut2]
    answers: agree5
variables:
  edu:
    values: {1: low, 2: middle, 3: high}
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lio_validate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def survey_frame() -> pd.DataFrame:
    """Sixty respondents in three education groups of twenty, answers 1 to 5."""
    rng = np.random.default_rng(7)
    common = rng.normal(size=60)
    items = {}
    for number in range(1, 5):
        score = common + rng.normal(scale=0.8, size=60)
        items[f"aut{number}"] = np.clip(np.round(score + 3), 1, 5)
    frame = pd.DataFrame(items)
    frame["aut2"] = 6 - frame["aut2"]
    frame.loc[[3, 40], "aut1"] = 9.0
    frame["edu"] = np.tile([1.0, 2.0, 3.0], 20)
    frame["w"] = np.round(rng.uniform(0.5, 1.5, size=60), 3)
    return frame


def write_sav(path: Path, frame: pd.DataFrame, missing: dict | None = None) -> Path:
    labels = {name: AGREE for name in frame if name.startswith("aut")}
    pyreadstat.write_sav(
        frame,
        path,
        variable_value_labels=labels,
        missing_ranges=missing if missing is not None else {"aut1": [8, 9]},
    )
    return path


@dataclass
class Case:
    """One bad input: the files, the command and a phrase the error must contain."""

    data: Path
    args: list[str]
    expected: str


def build_cases(root: Path) -> dict[str, Case]:
    cases: dict[str, Case] = {}

    def add(
        name: str,
        frame: pd.DataFrame | None,
        extra: list[str],
        expected: str,
        codebook: str | None = CODEBOOK,
        suffix: str = ".sav",
        missing: dict | None = None,
    ) -> None:
        folder = root / name
        folder.mkdir()
        data = folder / f"survey{suffix}"
        frame = survey_frame() if frame is None else frame
        if suffix == ".sav":
            write_sav(data, frame, missing)
        elif suffix == ".csv":
            frame.to_csv(data, index=False)
        args = ["prepare", str(data), *extra]
        if codebook is not None:
            book = folder / "book.yaml"
            book.write_text(codebook, encoding="utf-8")
            args += ["--codebook", str(book)]
        cases[name] = Case(data, args, expected)

    add(
        "unknown_column",
        None,
        [],
        "did you mean 'aut4'",
        codebook=CODEBOOK.replace("aut4]", "atu4]"),
    )

    duplicated = survey_frame()
    duplicated.insert(1, "aut3_copy", duplicated["aut3"])
    text = duplicated.to_csv(index=False).replace("aut3_copy", "aut3", 1)
    folder = root / "duplicate_column"
    folder.mkdir()
    (folder / "survey.csv").write_text(text)
    (folder / "book.yaml").write_text(CODEBOOK)
    cases["duplicate_column"] = Case(
        folder / "survey.csv",
        [
            "prepare",
            str(folder / "survey.csv"),
            "--codebook",
            str(folder / "book.yaml"),
        ],
        "'aut3' occur more than once",
    )

    frame = survey_frame()
    frame.loc[5, "aut4"] = 7.0
    add("out_of_range", frame, [], "outside")

    add(
        "undeclared_missing",
        None,
        ["--items", "aut1"],
        "coded 9",
        codebook=None,
        missing={},
    )

    frame = survey_frame().astype({"aut3": object})
    frame["aut3"] = frame["aut3"].map(
        {
            1.0: "strongly disagree",
            2.0: "disagree",
            3.0: "neither agree nor disagree",
            4.0: "agree",
            5.0: "strongly agree",
        }
    )
    frame.loc[2, "aut3"] = "mostly agree"
    add("unknown_text", frame, [], "'mostly agree'", suffix=".csv")

    frame = survey_frame()
    frame["aut4"] = 3.0
    add("constant_item", frame, [], "same value (3)")

    frame = survey_frame()
    frame.loc[frame["edu"] == 2, "aut4"] = 4.0
    add("constant_within_group", frame, ["--strict"], "one value or none")

    frame = survey_frame()
    frame["aut4"] = frame["aut3"]
    add("collinear", frame, ["--strict"], "nearly collinear")

    frame = survey_frame()
    frame.loc[[10, 11], ["aut1", "aut2", "aut3", "aut4"]] = np.nan
    add("rows_without_answers", frame, ["--strict"], "no valid answer")

    for name, value, expected in (
        ("negative_weights", -0.5, "negative weights"),
        ("missing_weights", np.nan, "missing in 1 rows"),
    ):
        frame = survey_frame()
        frame.loc[8, "w"] = value
        add(name, frame, [], expected)

    frame = survey_frame()
    frame["w"] = 0.0
    add("zero_sum_weights", frame, [], "sum to zero")

    add(
        "small_group",
        None,
        ["--strict"],
        "fewer than the usable size",
        codebook=CODEBOOK.replace("min_group_size: 10", "min_group_size: 50"),
    )

    add(
        "invalid_yaml",
        None,
        [],
        "not valid YAML",
        codebook="scales:\n  a: [aut1, aut2\n  b: 1\n",
    )
    add(
        "unknown_codebook_key",
        None,
        [],
        "unknown key 'wieght'",
        codebook=CODEBOOK + "wieght: w\n",
    )

    frame = survey_frame().astype({"w": object})
    frame["w"] = "one"
    add("text_weight", frame, [], "contains text", suffix=".csv")

    folder = root / "overwrite_input"
    folder.mkdir()
    data = write_sav(folder / "survey.sav", survey_frame())
    cases["overwrite_input"] = Case(
        data, ["prepare", str(data), "--out", str(data), "--force"], "never modified"
    )

    missing = root / "absent.sav"
    cases["missing_file"] = Case(missing, ["prepare", str(missing)], "not found")
    return cases


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    cases = build_cases(root)
    before = {
        name: sha256_of(case.data) for name, case in cases.items() if case.data.exists()
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(cases, pool.map(lambda case: run(*case.args), cases.values()))
        )
    return cases, before, results


BAD_INPUTS = [
    "unknown_column",
    "duplicate_column",
    "out_of_range",
    "undeclared_missing",
    "unknown_text",
    "constant_item",
    "constant_within_group",
    "collinear",
    "rows_without_answers",
    "negative_weights",
    "missing_weights",
    "zero_sum_weights",
    "small_group",
    "invalid_yaml",
    "unknown_codebook_key",
    "text_weight",
    "overwrite_input",
    "missing_file",
]


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_exit_two_one_line(bad_input_runs, name):
    cases, before, results = bad_input_runs
    result = results[name]
    lines = result.stderr.strip().splitlines()

    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    assert cases[name].expected in lines[0]


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_file_unchanged(bad_input_runs, name):
    cases, before, _ = bad_input_runs
    data = cases[name].data
    if name == "missing_file":
        assert not data.exists()
    else:
        assert sha256_of(data) == before[name]


def test_bad_input_names_column_and_file(bad_input_runs):
    cases, _, results = bad_input_runs
    for name in ("out_of_range", "constant_item", "negative_weights"):
        line = results[name].stderr
        assert str(cases[name].data) in line, name
    assert "'aut4'" in results["out_of_range"].stderr
    assert "'w'" in results["negative_weights"].stderr
    assert "'edu' = 'middle'" in results["constant_within_group"].stderr


# --------------------------------------------------------------------------
# Successful runs
# --------------------------------------------------------------------------


def test_prepare_writes_data_and_audit(tmp_path):
    data = write_sav(tmp_path / "survey.sav", survey_frame())
    (tmp_path / "survey.codebook.yaml").write_text(CODEBOOK)
    before = sha256_of(data)
    out, audit = tmp_path / "ready.parquet", tmp_path / "audit.csv"

    result = run("prepare", str(data), "--out", str(out), "--audit", str(audit))

    assert result.returncode == 0, result.stderr
    assert "found next to the data file" in result.stdout
    assert "2 values declared missing in the file" in result.stdout
    assert sha256_of(data) == before
    ready = pd.read_parquet(out)
    assert ready["aut1"].isna().sum() == 2
    np.testing.assert_array_equal(ready["aut2"], 6 - survey_frame()["aut2"])
    table = pd.read_csv(audit)
    assert table.set_index("variable").loc["aut2", "reversed"] == 60


def test_prepare_prints_warnings_without_strict(tmp_path):
    frame = survey_frame()
    frame["aut4"] = frame["aut3"]
    data = write_sav(tmp_path / "survey.sav", frame)
    book = tmp_path / "book.yaml"
    book.write_text(CODEBOOK)

    result = run("prepare", str(data), "--codebook", str(book))

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: ")
    assert "nearly collinear" in warnings[0]


def test_codebook_command(tmp_path):
    data = write_sav(tmp_path / "survey.sav", survey_frame())
    out = tmp_path / "draft.yaml"

    printed = run("codebook", str(data))
    written = run("codebook", str(data), "--out", str(out))
    again = run("codebook", str(data), "--out", str(out))

    assert printed.returncode == 0, printed.stderr
    draft = yaml.safe_load(printed.stdout)
    assert draft["scales"]["aut"]["items"] == ["aut1", "aut2", "aut3", "aut4"]
    assert draft["scales"]["aut"]["reverse"] == ["aut2"]
    assert written.returncode == 0, written.stderr
    assert yaml.safe_load(out.read_text()) == draft
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_simulate_command(tmp_path):
    out = tmp_path / "sim"
    first = run(
        "simulate",
        "--out",
        str(out),
        "--n",
        "500",
        "--seed",
        "3",
        "--format",
        "sav,csv",
    )
    second = run("simulate", "--out", str(out), "--n", "500")
    prepared = run("prepare", str(out / "survey.csv"))

    assert first.returncode == 0, first.stderr
    names = {path.name for path in out.iterdir()}
    assert names == {
        "survey.sav",
        "survey.csv",
        "codebook.yaml",
        "model.lav",
        "levels.json",
        "truth.json",
    }
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1
    assert "--force" in second.stderr
    assert prepared.returncode == 0, prepared.stderr
    assert "items: 32 (32 ordinal) in 10 scales" in prepared.stdout
