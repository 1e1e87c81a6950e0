"""Tests of ``reproduce`` (a paper from a config) and ``rerun`` (a run from its
manifest), through the real command line in subprocesses."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lio_validate.exceptions import LioInputError
from lio_validate.simulate import EXAMPLE_DIRECTORY
from lio_validate.reproduce import load_config

ROOT = Path(__file__).resolve().parent.parent
PAPER_CONFIG = ROOT / "analyses" / "organisation.yaml"

EXPECTED_TABLES = {
    "reliability.csv",
    "reliability.tex",
    "reliability_items.csv",
    "cfa_estimates.csv",
    "cfa_fit_measures.csv",
    "cfa_fit_measures.tex",
    "cfa_loadings.csv",
    "cfa_loadings.tex",
    "sem_estimates.csv",
    "sem_fit_measures.csv",
    "sem_fit_measures.tex",
    "sem_paths.csv",
    "sem_paths.tex",
    "sem_r_squared.csv",
    "sem_r_squared.tex",
    "education_estimates.csv",
    "education_fit_measures.csv",
    "education_fit_measures.tex",
    "education_paths.csv",
    "education_paths.tex",
}
EXPECTED_FIGURES = {
    "reliability",
    "cfa_loadings",
    "sem_path_diagram",
    "education_paths",
    "education_path_diagram_low",
    "education_path_diagram_middle",
    "education_path_diagram_high",
}


def run_cli(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lio_validate", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def checksums(folder: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.suffix in suffixes
    }


@pytest.fixture(scope="module")
def paper_runs(tmp_path_factory):
    """Run the organisation config twice in parallel; return both results folders."""
    base = tmp_path_factory.mktemp("paper")
    folders = [base / "first", base / "second"]
    command = [sys.executable, "-m", "lio_validate", "reproduce", str(PAPER_CONFIG)]
    processes = [
        subprocess.Popen(
            [*command, "--out", str(folder)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    return folders


def small_config(folder: Path) -> Path:
    """A reliability-only config on a copy of the bundled data, quick to rerun."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_DIRECTORY / "organisation.csv", folder / "survey.csv")
    shutil.copy(EXAMPLE_DIRECTORY / "organisation.lav", folder / "model.lav")
    config = folder / "small.yaml"
    config.write_text(
        "title: Small\ndata: survey.csv\nmodel_file: model.lav\n"
        "analyses:\n  - {name: reliability, kind: reliability}\n",
        encoding="utf-8",
    )
    return config


# --------------------------------------------------------------------------------------
# reproduce


def test_reproduce_twice_identical_tables(paper_runs):
    first, second = paper_runs

    first_tables = checksums(first, (".csv", ".tex"))
    second_tables = checksums(second, (".csv", ".tex"))

    assert {Path(name).name for name in first_tables} == EXPECTED_TABLES
    assert first_tables == second_tables


def test_reproduce_figures_in_three_formats(paper_runs):
    first, second = paper_runs

    for suffix in (".png", ".svg", ".pdf"):
        stems = {path.stem for path in (first / "figures").glob(f"*{suffix}")}
        assert stems == EXPECTED_FIGURES
    assert checksums(first, (".svg", ".pdf")) == checksums(second, (".svg", ".pdf"))


def test_reproduce_latex_for_manuscript(paper_runs):
    text = (paper_runs[0] / "tables" / "sem_paths.tex").read_text(encoding="utf-8")

    assert text.startswith("\\begin{table}[htbp]")
    assert "\\toprule" in text
    assert "\\label{tab:sem_paths}" in text
    assert "informal learning & learning motivation & " in text
    assert "$<$ .001" in text
    assert "informal_learning" not in text


def test_reproduce_csv_keeps_full_precision(paper_runs):
    text = (paper_runs[0] / "tables" / "sem_paths.csv").read_text(encoding="utf-8")
    header, first_row = text.splitlines()[:2]

    assert header.startswith("lhs,op,rhs,group,label,est,se,z,pvalue")
    estimate = first_row.split(",")[5]
    assert len(estimate.split(".")[1]) > 10


def test_reproduce_manifest(paper_runs):
    folder = paper_runs[0]
    record = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))

    assert record["command"] == "reproduce"
    roles = {entry["role"]: entry for entry in record["input_files"]}
    assert set(roles) == {"config", "data", "model", "levels"}
    data = EXAMPLE_DIRECTORY / "organisation.csv"
    assert roles["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert set(record["convergence"]) == {"cfa", "sem", "education"}
    assert record["convergence"]["sem"]["model"]["converged"] is True
    assert record["outputs"] == checksums(folder, (".csv", ".tex"))
    assert record["working_directory"] == str(ROOT)
    assert "analyses" in record["options"]["config"]


def test_reproduce_readme_lists_files(paper_runs):
    text = (paper_runs[0] / "README.md").read_text(encoding="utf-8")

    for name in EXPECTED_TABLES:
        assert f"`tables/{name}`" in text
    for stem in EXPECTED_FIGURES:
        assert f"`figures/{stem}.png`" in text


def test_reproduce_folder_of_configs(tmp_path):
    configs = tmp_path / "analyses"
    small_config(configs)
    shutil.copy(configs / "small.yaml", configs / "second.yaml")

    completed = run_cli("reproduce", str(configs), "--out", str(tmp_path / "out"))

    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "small" / "tables" / "reliability.csv").is_file()
    assert (tmp_path / "out" / "second" / "manifest.json").is_file()


def test_reproduce_rejects_non_empty_out(tmp_path):
    config = small_config(tmp_path / "config")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x", encoding="utf-8")

    completed = run_cli("reproduce", str(config), "--out", str(tmp_path / "out"))

    assert completed.returncode == 2
    assert "not empty" in completed.stderr


def test_reproduce_missing_config(tmp_path):
    completed = run_cli("reproduce", "nowhere.yaml", "--out", str(tmp_path / "o"))

    assert completed.returncode == 2
    assert "nowhere.yaml" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------
# Config errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: survey.csv\nanalyses: []\n", "'analyses' must be a non-empty list"),
        ("analyses: [{name: a, kind: sem}]\n", "the 'data' entry is missing"),
        (
            "data: survey.csv\nplots: 1\nanalyses: [x]\n",
            "unknown key\\(s\\) \\['plots'\\]",
        ),
        (
            "data: survey.csv\nmodel_file: model.lav\n"
            "analyses: [{name: a, kind: pca}]\n",
            "kind 'pca'",
        ),
        (
            "data: survey.csv\nmodel_file: model.lav\n"
            "analyses: [{name: a, kind: sem}, {name: a, kind: cfa}]\n",
            "\\['a'\\] are used more than once",
        ),
        (
            "data: survey.csv\nmodel_file: model.lav\n"
            "analyses: [{name: a, kind: groups}]\n",
            "needs 'group'",
        ),
        (
            "data: survey.csv\nmodel_file: other.lav\n"
            "analyses: [{name: a, kind: sem}]\n",
            "other.lav.*does not exist",
        ),
        ("data: survey.csv\nanalyses: [{name: Bad-Name, kind: sem}]\n", "Bad-Name"),
        (
            "data: survey.csv\nreverse: [A1]\nanalyses: [{name: a, kind: sem}]\n",
            "'reverse' must be a mapping",
        ),
    ],
)
def test_config_errors(tmp_path, text, message):
    small_config(tmp_path)
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8")

    with pytest.raises(LioInputError, match=message) as caught:
        load_config(config)
    assert "bad.yaml" in str(caught.value)


def test_config_unknown_group_value(tmp_path):
    folder = tmp_path / "config"
    small_config(folder)
    config = folder / "groups.yaml"
    config.write_text(
        "data: survey.csv\nmodel: 'f =~ ext1 + ext2 + ext3'\n"
        "analyses: [{name: g, kind: groups, group: education, groups: [low, phd]}]\n",
        encoding="utf-8",
    )

    completed = run_cli("reproduce", str(config), "--out", str(tmp_path / "out"))

    assert completed.returncode == 2
    assert "['phd']" in completed.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------
# rerun


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A results folder of the small config, with the config beside it."""
    base = tmp_path_factory.mktemp("small")
    config = small_config(base / "config")
    run = base / "run"
    completed = run_cli("reproduce", str(config), "--out", str(run))
    assert completed.returncode == 0, completed.stderr
    return run


def copy_run(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    return target


def edit_manifest(run: Path, edit) -> None:
    path = run / "manifest.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    edit(record)
    path.write_text(json.dumps(record), encoding="utf-8")


def test_rerun_identical(small_run, tmp_path):
    completed = run_cli(
        "rerun", str(small_run / "manifest.json"), "--out", str(tmp_path / "b")
    )

    assert completed.returncode == 0, completed.stderr
    assert "all 3 tables are identical" in completed.stdout
    assert (tmp_path / "b" / "tables" / "reliability.csv").is_file()


def test_rerun_lists_differing_table(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    table = run / "tables" / "reliability.csv"
    table.write_text(table.read_text(encoding="utf-8") + "extra\n", encoding="utf-8")

    completed = run_cli("rerun", str(run), "--out", str(tmp_path / "again"))

    assert completed.returncode == 1
    assert "tables/reliability.csv: differs" in completed.stdout
    assert "1 of 3 tables differ" in completed.stdout


def test_rerun_uses_recorded_checksums(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    shutil.rmtree(run / "tables")

    completed = run_cli(
        "rerun", str(run / "manifest.json"), "--out", str(tmp_path / "b")
    )

    assert completed.returncode == 0, completed.stderr
    assert "all 3 tables are identical" in completed.stdout


def test_rerun_names_changed_input(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")

    def change_data(record):
        data = next(e for e in record["input_files"] if e["role"] == "data")
        data["sha256"] = "0" * 64

    edit_manifest(run, change_data)

    completed = run_cli("rerun", str(run), "--out", str(tmp_path / "again"))

    assert completed.returncode == 2
    assert "survey.csv' has changed (SHA-256 recorded 000000000000" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "again").exists()


def test_rerun_names_missing_input(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")

    def move_model(record):
        model = next(e for e in record["input_files"] if e["role"] == "model")
        model["path"] = str(tmp_path / "gone.lav")

    edit_manifest(run, move_model)

    completed = run_cli("rerun", str(run), "--out", str(tmp_path / "again"))

    assert completed.returncode == 2
    assert "gone.lav' no longer exists" in completed.stderr


def test_rerun_run_sem_example(tmp_path):
    run = tmp_path / "run"
    assert run_cli("run-sem", "--out", str(run)).returncode == 0

    completed = run_cli(
        "rerun", str(run / "manifest.json"), "--out", str(tmp_path / "b")
    )

    assert completed.returncode == 0, completed.stderr
    assert "tables are identical" in completed.stdout


def test_rerun_invalid_manifest(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{not json", encoding="utf-8")

    completed = run_cli("rerun", str(manifest), "--out", str(tmp_path / "b"))

    assert completed.returncode == 2
    assert "is not valid JSON" in completed.stderr
