"""Provenance record of a run, written as ``manifest.json`` in the results folder.

The manifest stores what a reviewer needs to rerun an analysis and get the same
numbers. It records the package and dependency versions, the platform, and the full
command with its options and seed. It also records the SHA-256 of every input file
and of the model text, the start and end time in UTC, the warnings of the run and
the optimiser's convergence report.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import warnings as warnings_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lio_validate.exceptions import DataError, LioInputError
from lio_validate.output import is_table_file, to_json_value

__all__ = [
    "MANIFEST_FORMAT_VERSION",
    "InputFileChange",
    "build_manifest",
    "check_input_files",
    "dependency_versions",
    "describe_warning",
    "file_sha256",
    "manifest_to_json",
    "read_manifest",
    "write_manifest",
]

# Raise when the layout of the manifest changes, so readers can tell versions apart.
# Version 2 added working_directory and outputs.
MANIFEST_FORMAT_VERSION = 2

_DEPENDENCIES = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib")
_OPTIONAL_DEPENDENCIES = ("semopy", "pyreadstat")
_CHUNK_SIZE = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a file as 64 hex digits, reading it in 1 MiB chunks.

    Raises
    ------
    DataError
        If the file does not exist or is not a regular file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"Input file {str(path)!r} was not found, so its SHA-256 cannot be "
            "recorded. Check that the file still exists."
        )

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _installed_version(name: str) -> str | None:
    """Return the version of a distribution, or None if it is not installed.

    The version of an already imported module is preferred, because that is the
    code that ran even if another copy is installed.
    """
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def dependency_versions() -> dict[str, str | None]:
    """Return the versions of the numerical dependencies.

    numpy, scipy, pandas, statsmodels and matplotlib are always listed (None if
    missing). semopy and pyreadstat are listed only when installed.
    """
    versions = {name: _installed_version(name) for name in _DEPENDENCIES}
    for name in _OPTIONAL_DEPENDENCIES:
        version = _installed_version(name)
        if version is not None:
            versions[name] = version
    return versions


def _utc_timestamp(moment: datetime.datetime) -> str:
    """Format a time as ISO 8601 in UTC. A naive time is taken as local time."""
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _describe_input_files(
    input_files: Sequence[str | os.PathLike[str]]
    | Mapping[str, str | os.PathLike[str]],
) -> list[dict[str, Any]]:
    """Record the path, size and SHA-256 of each input file, with its role if named."""
    if isinstance(input_files, Mapping):
        entries = [(str(role), path) for role, path in input_files.items()]
    else:
        entries = [(None, path) for path in input_files]

    records = []
    for role, path in entries:
        record: dict[str, Any] = {}
        if role is not None:
            record["role"] = role
        record["path"] = os.fspath(path)
        record["sha256"] = file_sha256(path)
        record["size_bytes"] = Path(path).stat().st_size
        records.append(record)
    return records


def describe_warning(warning: Any) -> dict[str, str | None]:
    """Return a warning's class name (``category``) and ``message``.

    Accepts the records of ``warnings.catch_warnings(record=True)``, Warning
    instances and plain strings (which have no class).
    """
    if isinstance(warning, warnings_module.WarningMessage):
        return {"category": warning.category.__name__, "message": str(warning.message)}
    if isinstance(warning, Warning):
        return {"category": type(warning).__name__, "message": str(warning)}
    return {"category": None, "message": str(warning)}


def build_manifest(
    *,
    command: str,
    argv: Sequence[str],
    options: Mapping[str, Any],
    input_files: Sequence[str | os.PathLike[str]]
    | Mapping[str, str | os.PathLike[str]],
    model_text: str | None,
    seed: int | None,
    started: datetime.datetime,
    finished: datetime.datetime,
    warnings: Sequence[Any],
    convergence: Mapping[str, Any] | None,
    outputs: Mapping[str, bytes | str] | None = None,
) -> dict[str, Any]:
    """Build the provenance record of a run.

    Parameters
    ----------
    command : str
        Subcommand that ran, such as ``"run-sem"``.
    argv : sequence of str
        Full argument vector as typed, for example ``sys.argv``.
    options : mapping
        Options after parsing and defaults, by name.
    input_files : sequence of path-like, or mapping of role to path-like
        Files that were read, such as ``{"data": "survey.sav", "model": "m.lav"}``.
        Each one is hashed in full.
    model_text : str or None
        Model syntax as estimated. Stored with its SHA-256 (of the UTF-8 text).
    seed : int or None
        Seed of the random number generator (bootstrap, simulation).
    started, finished : datetime.datetime
        Start and end of the run. Naive times are taken as local time, as
        :meth:`datetime.datetime.astimezone` does, and both are stored in UTC.
    warnings : sequence
        Warnings of the run: ``warnings.WarningMessage`` records, Warning instances
        or strings.
    convergence : mapping or None
        The optimiser's report, such as ``{"converged": True, "iterations": 41}``.
    outputs : mapping of str to bytes or str, optional
        Files of the results folder by relative name, as passed to
        :func:`lio_validate.output.write_results_folder`. The SHA-256 of each table
        (every CSV, LaTeX and JSON file) is stored under ``outputs``, so that ``rerun``
        can compare a repeated run even without the original folder.

    Returns
    -------
    dict
        JSON-compatible record: NaN becomes None and numpy values become Python
        numbers.

    Raises
    ------
    DataError
        If an input file does not exist.
    ValueError
        If ``finished`` is before ``started``.
    """
    duration = (finished.astimezone() - started.astimezone()).total_seconds()
    if duration < 0:
        raise ValueError(
            f"The run finished ({finished.isoformat()}) before it started "
            f"({started.isoformat()}). Pass the start time as started."
        )

    import lio_validate  # imported here in case the package imports this module

    arguments = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv]

    model = None
    if model_text is not None:
        model = {
            "text": model_text,
            "sha256": hashlib.sha256(model_text.encode("utf-8")).hexdigest(),
        }

    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "package": {"name": "lio_validate", "version": lio_validate.__version__},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "description": platform.platform(),
        },
        "dependencies": dependency_versions(),
        "command": command,
        "argv": arguments,
        "command_line": shlex.join(arguments),
        "working_directory": os.getcwd(),
        "options": options,
        "input_files": _describe_input_files(input_files),
        "model": model,
        "seed": seed,
        "started": _utc_timestamp(started),
        "finished": _utc_timestamp(finished),
        "duration_seconds": duration,
        "warnings": [describe_warning(warning) for warning in warnings],
        "convergence": convergence,
        "outputs": _output_checksums(outputs or {}),
    }
    return to_json_value(manifest)


def _output_checksums(files: Mapping[str, bytes | str]) -> dict[str, str]:
    checksums = {}
    for name, content in sorted(files.items()):
        if is_table_file(name):
            data = content.encode("utf-8") if isinstance(content, str) else content
            checksums[name] = hashlib.sha256(bytes(data)).hexdigest()
    return checksums


def manifest_to_json(manifest: Mapping[str, Any]) -> str:
    """Format a manifest as JSON text with sorted keys, an indent of 2 and a final
    newline. NaN is written as ``null``."""
    text = json.dumps(
        to_json_value(manifest), sort_keys=True, indent=2, allow_nan=False
    )
    return text + "\n"


def write_manifest(path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Path:
    """Write a manifest as UTF-8 JSON (sorted keys, indent 2) and return its path."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(manifest_to_json(manifest))
    return path


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``manifest.json`` and check that it records a command to repeat.

    Raises
    ------
    LioInputError
        If the file does not exist, is not JSON, or has no ``argv`` list.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise LioInputError(
            f"Manifest {str(path)!r} was not found. Pass the manifest.json of a "
            "results folder, or the folder itself."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LioInputError(
            f"Manifest {str(path)!r} is not valid JSON ({error}). Pass the "
            "manifest.json that a run wrote, unchanged."
        ) from None
    argv = manifest.get("argv") if isinstance(manifest, dict) else None
    if (
        not isinstance(argv, list)
        or not argv
        or not all(isinstance(a, str) for a in argv)
    ):
        raise LioInputError(
            f"Manifest {str(path)!r} has no 'argv' list of strings, so there is no "
            "command to repeat. Pass a manifest written by run-sem or reproduce."
        )
    return manifest


@dataclass(frozen=True)
class InputFileChange:
    """An input file whose content differs from the one a manifest recorded.

    Attributes
    ----------
    path : pathlib.Path
        Where the file was looked for.
    recorded_sha256 : str
        SHA-256 in the manifest.
    current_sha256 : str or None
        SHA-256 of the file now, or None if it no longer exists.
    """

    path: Path
    recorded_sha256: str
    current_sha256: str | None


def check_input_files(
    manifest: Mapping[str, Any], working_directory: str | os.PathLike[str]
) -> list[InputFileChange]:
    """Compare every input file of a manifest with its recorded SHA-256.

    A relative path is resolved against ``working_directory``, which should be the
    directory the recorded command ran in.

    Returns
    -------
    list of InputFileChange
        The files that changed or disappeared, in the manifest's order. Empty when
        every input file is as recorded.
    """
    changes = []
    for record in manifest.get("input_files") or []:
        path = Path(working_directory) / record["path"]
        current = file_sha256(path) if path.is_file() else None
        if current != record["sha256"]:
            changes.append(InputFileChange(path, record["sha256"], current))
    return changes
