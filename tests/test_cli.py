"""The command line end to end, through real subprocesses and real files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from conftest import DATA
from reference_loader import load_reference

BFI_MODEL = """# Big Five, 25 items; reverse-keyed items recoded with --reverse
A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5
"""
REVERSED = "A1,C4,C5,E1,E2,O2,O5"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lio_validate", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_complete_folder(out: Path) -> None:
    for name in ("estimates.csv", "fit_measures.json", "reliability.csv",
                 "report.md", "manifest.json"):
        assert (out / name).is_file(), name
    assert list((out / "figures").glob("*.png"))
    assert list((out / "figures").glob("*.svg"))


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("example")
    result = run("run-sem", cwd=cwd)
    return result, cwd


def test_example_runs_without_arguments(example_run):
    result, cwd = example_run
    assert result.returncode == 0, result.stderr
    folders = list((cwd / "results").iterdir())
    assert len(folders) == 1
    assert_complete_folder(folders[0])
    assert (folders[0] / "figures" / "path_diagram.png").is_file()
    assert (folders[0] / "audit.csv").is_file()


def test_example_tables(example_run):
    _, cwd = example_run
    out = next((cwd / "results").iterdir())
    estimates = pd.read_csv(out / "estimates.csv", keep_default_na=False,
                            na_values=[""])
    assert list(estimates.columns) == [
        "lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
        "ci_lower", "ci_upper", "std_lv", "std_all"]
    text = (out / "fit_measures.json").read_text()
    assert "NaN" not in text
    measures = json.loads(text)
    for name in ("npar", "nobs", "chisq", "df", "cfi", "tli", "rmsea",
                 "rmsea_ci_lower", "rmsea_ci_upper", "srmr", "logl", "aic", "bic"):
        assert name in measures, name
    # 3,000 simulated employees; listwise deletion of the missing answers.
    assert measures["nobs"] == 2603
    assert "chisq_scaled" in measures   # weights and clusters from the codebook
    reliability = pd.read_csv(out / "reliability.csv")
    assert list(reliability.columns) == [
        "scale", "n_items", "nobs", "alpha", "alpha_ci_lower", "alpha_ci_upper",
        "omega", "composite_reliability", "ave"]
    assert len(reliability) == 10


def test_example_manifest(example_run):
    _, cwd = example_run
    out = next((cwd / "results").iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    text = json.dumps(manifest)
    data_file = Path(__file__).resolve().parents[1] / "lio_validate" / "examples" \
        / "nea_example" / "survey.sav"
    assert sha256(data_file) in text
    assert "run-sem" in text


def test_bfi_survey_matches_lavaan(tmp_path):
    model = tmp_path / "bfi.lav"
    model.write_text(BFI_MODEL)
    data = DATA / "bfi.csv"
    before = sha256(data)
    out = tmp_path / "out"
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--reverse", REVERSED, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert_complete_folder(out)
    assert sha256(data) == before
    assert "listwise deletion dropped 364" in result.stderr

    reference = load_reference("bfi_cfa5_ml_recoded")
    measures = json.loads((out / "fit_measures.json").read_text())
    assert measures["nobs"] == 2436
    np.testing.assert_allclose(measures["chisq"], reference["fit_measures"]["chisq"],
                               rtol=1e-6)
    reliability = pd.read_csv(out / "reliability.csv")
    assert set(reliability["scale"]) == {"A", "C", "E", "N", "O"}


def test_spss_file_with_missing_codes(tmp_path):
    frame = pd.read_csv(DATA / "holzinger_swineford_1939.csv")
    items = [f"x{k}" for k in range(1, 10)]
    survey = frame[items].round(2).copy()
    survey.loc[:4, "x1"] = 99.0          # "no answer", declared user-missing
    path = tmp_path / "hs.sav"
    pyreadstat.write_sav(survey, str(path), missing_ranges={"x1": [99.0]})
    model = tmp_path / "hs.lav"
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
                     "speed =~ x7 + x8 + x9\n")
    out = tmp_path / "out"
    result = run("run-sem", "--data", str(path), "--model", str(model),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    measures = json.loads((out / "fit_measures.json").read_text())
    assert measures["nobs"] == 296


# --------------------------------------------------------------------------
# Bad input: one line on stderr, exit 2, no traceback, nothing written
# --------------------------------------------------------------------------


@pytest.fixture
def hs_files(tmp_path):
    data = tmp_path / "hs.csv"
    pd.read_csv(DATA / "holzinger_swineford_1939.csv").to_csv(data, index=False)
    model = tmp_path / "hs.lav"
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
                     "speed =~ x7 + x8 + x9\n")
    return tmp_path, data, model


def assert_input_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_data_file(hs_files):
    tmp, _, model = hs_files
    result = run("run-sem", "--data", str(tmp / "nope.csv"), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "nope.csv")
    assert not (tmp / "out").exists()


def test_unknown_column_names_line(hs_files):
    tmp, data, model = hs_files
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + xx6\n")
    before = sha256(data)
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "line 2", "'xx6'", "'x6'")
    assert sha256(data) == before
    assert not (tmp / "out").exists()


def test_syntax_error_names_line(hs_files):
    tmp, data, model = hs_files
    model.write_text("visual =~ x1 + x2 + x3\nvisual x4\n")
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "line 2")


def test_missing_model_file(hs_files):
    tmp, data, _ = hs_files
    result = run("run-sem", "--data", str(data), "--model", str(tmp / "none.lav"),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "none.lav")


def test_unsupported_file_type(hs_files):
    tmp, _, model = hs_files
    bad = tmp / "survey.xlsx"
    bad.write_bytes(b"not really a spreadsheet")
    result = run("run-sem", "--data", str(bad), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "survey.xlsx")


def test_corrupt_spss_file(hs_files):
    tmp, _, model = hs_files
    bad = tmp / "survey.sav"
    bad.write_text("id,x1\n1,2\n")
    before = sha256(bad)
    result = run("run-sem", "--data", str(bad), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "survey.sav")
    assert sha256(bad) == before


def test_text_column(hs_files):
    tmp, data, model = hs_files
    frame = pd.read_csv(data)
    frame["x5"] = frame["x5"].astype(str)
    frame.loc[7, "x5"] = "refused"
    frame.to_csv(data, index=False)
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "'x5'", "refused")


def test_unavailable_estimator(hs_files):
    tmp, data, model = hs_files
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--estimator", "WLSMV", "--out", str(tmp / "out"))
    assert_input_error(result, "WLSMV", "--ordered")


def test_data_without_model(hs_files):
    tmp, data, _ = hs_files
    result = run("run-sem", "--data", str(data), "--out", str(tmp / "out"))
    assert_input_error(result, "--model")


def test_existing_results_folder_kept(hs_files):
    tmp, data, model = hs_files
    out = tmp / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--out", str(out))
    assert_input_error(result, str(out))
    assert (out / "keep.txt").read_text() == "earlier results"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_not_identified_model(hs_files):
    tmp, data, model = hs_files
    model.write_text("f =~ x1 + x2 + x3\nx1 ~~ x2\n")
    result = run("run-sem", "--data", str(data), "--model", str(model),
                 "--out", str(tmp / "out"))
    assert_input_error(result, "df = -1")


def test_help_lists_commands():
    result = run("--help")
    assert result.returncode == 0
    assert "run-sem" in result.stdout
    assert "invariance" in result.stdout
