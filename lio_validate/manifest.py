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
from pathlib import Path
from typing import Any

from lio_validate.exceptions import DataError
from lio_validate.output import to_json_value

__all__ = [
    "MANIFEST_FORMAT_VERSION",
    "build_manifest",
    "dependency_versions",
    "describe_warning",
    "file_sha256",
    "manifest_to_json",
    "write_manifest",
]

# Raise when the layout of the manifest changes, so readers can tell versions apart.
MANIFEST_FORMAT_VERSION = 1

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
        "options": options,
        "input_files": _describe_input_files(input_files),
        "model": model,
        "seed": seed,
        "started": _utc_timestamp(started),
        "finished": _utc_timestamp(finished),
        "duration_seconds": duration,
        "warnings": [describe_warning(warning) for warning in warnings],
        "convergence": convergence,
    }
    return to_json_value(manifest)


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
