"""Rebuild every table and figure of a paper from one YAML configuration.

A configuration names the data, the model and a list of analyses (reliability,
CFA, SEM, and a comparison of groups). :func:`reproduce` runs them in order and
writes one results folder with ``tables/`` (CSV with full precision and LaTeX
rounded for the manuscript), ``figures/`` (PNG, SVG and PDF), ``README.md`` (what
each file is) and ``manifest.json``. The tables depend only on the data, the model
and the package versions, so two runs on one machine give byte-identical tables.

Example configuration (paths are relative to the YAML file)::

    title: The organisation model on the bundled survey
    data: ../lio_validate/examples/organisation/organisation.csv
    model_file: ../lio_validate/examples/organisation/organisation.lav
    levels_file: ../lio_validate/examples/organisation/levels.json
    analyses:
      - {name: reliability, kind: reliability}
      - {name: cfa, kind: cfa}
      - {name: sem, kind: sem}
      - {name: education, kind: groups, group: education,
         groups: [low, middle, high]}
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from matplotlib.figure import Figure

from lio_validate import manifest, output
from lio_validate.exceptions import DataError, LioInputError, LioWarning
from lio_validate.io import read_data
from lio_validate.reproduce_analyses import run_analysis

__all__ = ["AnalysisSpec", "PaperConfig", "load_config", "reproduce", "rerun"]

ANALYSIS_KINDS = ("reliability", "cfa", "sem", "groups")
_TOP_KEYS = {
    "title",
    "data",
    "model",
    "model_file",
    "levels",
    "levels_file",
    "reverse",
    "seed",
    "analyses",
}
_ANALYSIS_KEYS = {
    "name",
    "kind",
    "title",
    "model",
    "model_file",
    "scales",
    "group",
    "groups",
    "parameters",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class AnalysisSpec:
    """One analysis of a configuration: its name, kind and options."""

    name: str
    kind: str
    title: str
    model_text: str
    model_path: Path | None
    scales: Mapping[str, tuple[str, ...]] | None = None
    group: str | None = None
    groups: tuple[str, ...] | None = None
    parameters: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PaperConfig:
    """A configuration read by :func:`load_config`, with resolved paths."""

    path: Path
    title: str
    data_path: Path
    model_text: str
    model_path: Path | None
    levels: Mapping[str, Any] | None
    levels_path: Path | None
    reverse_items: tuple[str, ...]
    reverse_range: tuple[float, float] | None
    seed: int | None
    analyses: tuple[AnalysisSpec, ...]
    raw: Mapping[str, Any] = field(repr=False)


# --------------------------------------------------------------------------------------
# Reading the configuration


def _fail(path: Path, problem: str) -> LioInputError:
    return LioInputError(f"config {str(path)!r}: {problem}")


def _read_text(path: Path, config: Path, key: str) -> str:
    if not path.is_file():
        raise _fail(
            config,
            f"the file {str(path)!r} of '{key}' does not exist; paths are relative "
            "to the config file",
        )
    return path.read_text(encoding="utf-8")


def _model_from(entry: Mapping[str, Any], base: Path, config: Path, where: str):
    """Return the model text and file of an entry with 'model' or 'model_file'."""
    if "model" in entry and "model_file" in entry:
        raise _fail(config, f"{where} has both 'model' and 'model_file'; keep one")
    if "model" in entry:
        return str(entry["model"]), None
    if "model_file" in entry:
        path = base / str(entry["model_file"])
        return _read_text(path, config, f"{where}model_file"), path
    return None, None


def _reverse_from(raw: Any, config: Path) -> tuple[tuple[str, ...], tuple | None]:
    if raw is None:
        return (), None
    keys = {"items", "scale_min", "scale_max"}
    if not isinstance(raw, dict) or set(raw) != keys:
        raise _fail(
            config,
            "'reverse' must be a mapping with items (a list of columns), scale_min "
            "and scale_max, for example {items: [A1, C4], scale_min: 1, scale_max: 6}",
        )
    try:
        bounds = (float(raw["scale_min"]), float(raw["scale_max"]))
    except (TypeError, ValueError):
        raise _fail(config, "'reverse' needs numbers for scale_min and scale_max")
    return tuple(str(item) for item in raw["items"]), bounds


def _analysis_from(
    entry: Any, index: int, base: Path, config: Path, default_model: tuple
) -> AnalysisSpec:
    where = f"analyses[{index}]"
    if not isinstance(entry, dict):
        raise _fail(config, f"{where} must be a mapping with 'name' and 'kind'")
    unknown = sorted(set(entry) - _ANALYSIS_KEYS)
    if unknown:
        raise _fail(
            config,
            f"{where} has unknown key(s) {unknown}; known keys: "
            f"{sorted(_ANALYSIS_KEYS)}",
        )
    name = str(entry.get("name", ""))
    if not _NAME.match(name):
        raise _fail(
            config,
            f"{where} needs a 'name' of lower-case letters, digits and underscores "
            f"(it names the output files); got {name!r}",
        )
    kind = entry.get("kind")
    if kind not in ANALYSIS_KINDS:
        raise _fail(
            config, f"{where} ({name}) has kind {kind!r}; use one of {ANALYSIS_KINDS}"
        )

    model_text, model_path = _model_from(entry, base, config, f"{where}.")
    if model_text is None:
        model_text, model_path = default_model
    if model_text is None:
        raise _fail(
            config, f"{where} ({name}) needs a model: give 'model' or 'model_file'"
        )
    if kind == "groups" and not entry.get("group"):
        raise _fail(config, f"{where} ({name}) is a group comparison and needs 'group'")

    scales = entry.get("scales")
    if scales is not None and not isinstance(scales, dict):
        raise _fail(config, f"{where}.scales must map each scale to a list of items")
    listed = {key: entry.get(key) for key in ("groups", "parameters")}
    for key, value in listed.items():
        if value is not None and not isinstance(value, list):
            raise _fail(config, f"{where}.{key} must be a list")
    return AnalysisSpec(
        name=name,
        kind=kind,
        title=str(entry.get("title") or name.replace("_", " ").capitalize()),
        model_text=model_text,
        model_path=model_path,
        scales={str(k): tuple(map(str, v)) for k, v in scales.items()}
        if scales
        else None,
        group=str(entry["group"]) if entry.get("group") else None,
        groups=tuple(map(str, listed["groups"])) if listed["groups"] else None,
        parameters=tuple(map(str, listed["parameters"]))
        if listed["parameters"]
        else None,
    )


def load_config(path: str | Path) -> PaperConfig:
    """Read and check a paper configuration (YAML).

    Top-level keys: ``data`` (required), ``analyses`` (required, a list),
    ``model`` (lavaan text) or ``model_file``, ``levels`` ({factor: level}) or
    ``levels_file`` (JSON), ``reverse`` ({items, scale_min, scale_max}: items
    recoded as scale_min + scale_max - x before any analysis), ``title`` and
    ``seed``. The seed is only recorded, because no analysis here draws random
    numbers. Each analysis has ``name`` and ``kind`` (reliability, cfa, sem or
    groups) and may have ``title``, its own ``model`` or ``model_file``,
    ``scales`` ({scale: [items]}, reliability), and ``group``, ``groups`` and
    ``parameters`` (groups). Paths are relative to the YAML file.

    Raises
    ------
    LioInputError
        If the file is missing or not YAML, a key is unknown or missing, a file it
        names does not exist, or two analyses share a name. The message names the
        config file and the key.
    """
    path = Path(path)
    text = _read_text(path, path, "config")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise _fail(path, f"not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise _fail(path, "the top level must be a mapping with 'data' and 'analyses'")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {unknown}; known keys: {sorted(_TOP_KEYS)}")
    for key in ("data", "analyses"):
        if key not in raw:
            raise _fail(path, f"the '{key}' entry is missing")
    if not isinstance(raw["analyses"], list) or not raw["analyses"]:
        raise _fail(path, "'analyses' must be a non-empty list")

    base = path.parent
    model = _model_from(raw, base, path, "the top level ")
    levels, levels_path = raw.get("levels"), None
    if "levels_file" in raw:
        levels_path = base / str(raw["levels_file"])
        levels = json.loads(_read_text(levels_path, path, "levels_file"))
    reverse_items, reverse_range = _reverse_from(raw.get("reverse"), path)
    analyses = tuple(
        _analysis_from(entry, index, base, path, model)
        for index, entry in enumerate(raw["analyses"])
    )
    names = [analysis.name for analysis in analyses]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _fail(path, f"analysis name(s) {repeated} are used more than once")

    return PaperConfig(
        path=path,
        title=str(raw.get("title") or path.stem),
        data_path=base / str(raw["data"]),
        model_text=model[0],
        model_path=model[1],
        levels=levels,
        levels_path=levels_path,
        reverse_items=reverse_items,
        reverse_range=reverse_range,
        seed=raw.get("seed"),
        analyses=analyses,
        raw=raw,
    )


# --------------------------------------------------------------------------------------
# Running a configuration


def _recode_reverse(frame: pd.DataFrame, config: PaperConfig) -> pd.DataFrame:
    """Recode reverse-keyed items as scale_min + scale_max - x."""
    if not config.reverse_items:
        return frame
    missing = [item for item in config.reverse_items if item not in frame.columns]
    if missing:
        raise DataError(
            f"config {str(config.path)!r}: reverse-keyed item(s) {missing} are not "
            f"columns of {str(config.data_path)!r}; check 'reverse.items'"
        )
    low, high = config.reverse_range
    frame = frame.copy()
    for item in config.reverse_items:
        frame[item] = low + high - pd.to_numeric(frame[item], errors="coerce")
    return frame


def _readme(config: PaperConfig, captions: Mapping[str, str]) -> str:
    """List every table and figure of the folder with its caption."""
    lines = [
        f"# {config.title}",
        "",
        f"Rebuilt by `python -m lio_validate reproduce` from `{config.path.name}`. "
        "CSV tables keep full precision. LaTeX tables (`.tex`, booktabs) are rounded "
        "to three decimals. Figures are PNG (300 dpi), SVG and PDF. "
        "`manifest.json` records the versions, the input files' SHA-256 and the "
        "command, so `python -m lio_validate rerun manifest.json` repeats the run.",
        "",
        "| file | content |",
        "| --- | --- |",
    ]
    for name, caption in captions.items():
        shown = name if "." in name else f"{name}.png"
        folder = "tables" if "." in name else "figures"
        lines.append(f"| `{folder}/{shown}` | {caption} |")
    return "\n".join(lines) + "\n"


def _input_files(config: PaperConfig) -> dict[str, Path]:
    files = {"config": config.path, "data": config.data_path}
    if config.model_path is not None:
        files["model"] = config.model_path
    if config.levels_path is not None:
        files["levels"] = config.levels_path
    for analysis in config.analyses:
        if analysis.model_path is not None and analysis.model_path != config.model_path:
            files[f"model of {analysis.name}"] = analysis.model_path
    return files


def reproduce(
    config_path: str | Path, out_dir: str | Path, argv: list[str] | None = None
) -> Path:
    """Run every analysis of a configuration and write one results folder.

    The folder contains ``tables/`` (CSV and LaTeX), ``figures/`` (PNG, SVG and PDF),
    ``README.md`` and ``manifest.json``, and appears all at once when everything
    is written (see :func:`lio_validate.output.write_results_folder`).

    Parameters
    ----------
    config_path : str or path-like
        The YAML configuration.
    out_dir : str or path-like
        Folder to create; it must not exist or be empty.
    argv : list of str, optional
        Command to record in the manifest. By default the equivalent
        ``reproduce CONFIG --out DIR`` with absolute paths.

    Returns
    -------
    pathlib.Path
        The results folder.
    """
    started = datetime.now(timezone.utc)
    config = load_config(config_path)
    out_dir = Path(out_dir)
    output.check_output_directory(out_dir)
    if argv is None:
        argv = [
            "reproduce",
            str(config.path.resolve()),
            "--out",
            str(out_dir.resolve()),
        ]

    tables: dict[str, str] = {}
    drawn: dict[str, Figure] = {}
    captions: dict[str, str] = {}
    convergence: dict[str, Any] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LioWarning)
        frame = _recode_reverse(read_data(config.data_path).frame, config)
        for analysis in config.analyses:
            result = run_analysis(analysis, frame, config.levels)
            tables.update(result.tables)
            drawn.update(result.figures)
            captions.update(result.captions)
            if result.convergence:
                convergence[analysis.name] = result.convergence

    run_warnings = [w for w in caught if issubclass(w.category, LioWarning)]
    for warning in run_warnings:
        print(f"warning: {warning.message}", file=sys.stderr)
    finished = datetime.now(timezone.utc)

    files: dict[str, str] = {f"tables/{name}": text for name, text in tables.items()}
    files["README.md"] = _readme(config, captions)
    record = manifest.build_manifest(
        command="reproduce",
        argv=argv,
        options={"config": config.raw, "out": str(out_dir)},
        input_files=_input_files(config),
        model_text=config.model_text,
        seed=config.seed,
        started=started,
        finished=finished,
        warnings=run_warnings,
        convergence=convergence,
        outputs=files,
    )
    files["manifest.json"] = manifest.manifest_to_json(record)
    return output.write_results_folder(out_dir, files, drawn)


# --------------------------------------------------------------------------------------
# Repeating a recorded run


@dataclass(frozen=True)
class RerunResult:
    """Outcome of :func:`rerun`.

    Attributes
    ----------
    out_dir : pathlib.Path
        Folder of the repeated run.
    compared : int
        Number of table files compared.
    differences : tuple of lio_validate.output.TableDifference
        Tables that differ, are missing or are extra. Empty when identical.
    notes : tuple of str
        Differences of environment that may explain differing tables, such as
        another package or numpy version.
    """

    out_dir: Path
    compared: int
    differences: tuple[output.TableDifference, ...]
    notes: tuple[str, ...]

    @property
    def identical(self) -> bool:
        return not self.differences


def _strip_out(argv: list[str]) -> list[str]:
    """Remove ``--out DIR`` (or ``--out=DIR``) from a recorded command."""
    arguments, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--out":
            skip = True
        elif not argument.startswith("--out="):
            arguments.append(argument)
    return arguments


def _environment_notes(record: Mapping[str, Any]) -> list[str]:
    import lio_validate

    notes = []
    recorded = (record.get("package") or {}).get("version")
    if recorded and recorded != lio_validate.__version__:
        notes.append(
            f"lio_validate {lio_validate.__version__} is installed, the run used "
            f"{recorded}"
        )
    current = manifest.dependency_versions()
    for name, version in (record.get("dependencies") or {}).items():
        if version is not None and current.get(name) != version:
            notes.append(
                f"{name} {current.get(name)} is installed, the run used {version}"
            )
    return notes


def _describe_changes(changes: list[manifest.InputFileChange]) -> str:
    parts = []
    for change in changes:
        if change.current_sha256 is None:
            parts.append(f"{str(change.path)!r} no longer exists")
        else:
            parts.append(
                f"{str(change.path)!r} has changed (SHA-256 recorded "
                f"{change.recorded_sha256[:12]}..., now "
                f"{change.current_sha256[:12]}...)"
            )
    return "; ".join(parts)


def rerun(manifest_path: str | Path, out_dir: str | Path) -> RerunResult:
    """Repeat the run recorded in a manifest and compare its tables.

    Stages: read the manifest and check that every input file still has its
    recorded SHA-256. Then run the recorded command (its ``argv``, with ``--out``
    replaced by ``out_dir``) in a new Python process in the recorded working
    directory. Last, compare every table file (CSV, LaTeX and JSON except the
    manifest) of the new folder with the folder of the manifest. When that folder
    contains no tables, the checksums in the manifest's ``outputs`` are used.

    Parameters
    ----------
    manifest_path : str or path-like
        ``manifest.json`` of a results folder, or the folder.
    out_dir : str or path-like
        Folder for the repeated run; it must not exist or be empty.

    Returns
    -------
    RerunResult

    Raises
    ------
    LioInputError
        If the manifest is unreadable, an input file changed or disappeared, or the
        repeated command rejected its input.
    RuntimeError
        If the repeated command failed for another reason.
    """
    manifest_path = Path(manifest_path)
    record = manifest.read_manifest(manifest_path)
    folder = manifest_path if manifest_path.is_dir() else manifest_path.parent
    out_dir = Path(out_dir).resolve()
    output.check_output_directory(out_dir)

    # Relative paths of the recorded command refer to its working directory.
    recorded_directory = Path(record.get("working_directory") or os.getcwd())
    directory = recorded_directory if recorded_directory.is_dir() else Path.cwd()
    changes = manifest.check_input_files(record, directory)
    if changes:
        raise LioInputError(
            f"cannot repeat the run of {str(manifest_path)!r} because an input file "
            f"differs from the recorded one: {_describe_changes(changes)}. Restore "
            "the original file, or run the analysis anew."
        )

    command = [*_strip_out(record["argv"]), "--out", str(out_dir)]
    completed = subprocess.run(
        [sys.executable, "-m", "lio_validate", *command],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode == 2:
        raise LioInputError(
            f"the recorded command rejected its input: {completed.stderr.strip()}"
        )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the recorded command failed with exit status {completed.returncode}: "
            f"{completed.stderr.strip()}"
        )
    # The repeated run's warnings belong in the reviewer's view too.
    if completed.stderr.strip():
        print(completed.stderr.rstrip(), file=sys.stderr)

    expected = output.table_checksums(folder) or dict(record.get("outputs") or {})
    actual = output.table_checksums(out_dir)
    differences = output.compare_tables(expected, actual)
    return RerunResult(
        out_dir=out_dir,
        compared=len(set(expected) | set(actual)),
        differences=tuple(differences),
        notes=tuple(_environment_notes(record)),
    )
