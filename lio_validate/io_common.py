"""Helpers shared by :mod:`lio_validate.io` and its file readers: the result
type of a reader, and the checks and error messages for column names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lio_validate.exceptions import DataError


@dataclass(frozen=True)
class _Loaded:
    """Result of one format reader: the frame, its metadata and warning messages."""

    frame: pd.DataFrame
    value_labels: dict[str, dict[Any, str]]
    variable_labels: dict[str, str]
    missing_recoded: dict[str, int]
    warnings: tuple[str, ...] = ()
    missing_codes: dict[str, tuple[tuple[Any, Any], ...]] = field(default_factory=dict)


def _deduplicate(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _duplicated_names(names: Iterable[Any]) -> list[str]:
    index = pd.Index(names)
    return _deduplicate(str(name) for name in index[index.duplicated()])


def _quote_list(names: Iterable[Any]) -> str:
    return ", ".join(repr(str(name)) for name in names)


def _validate_requested(
    available: Sequence[str], requested: Sequence[str] | None, path: Path
) -> None:
    """Raise DataError unless every requested column exists exactly once."""
    if requested is None:
        return

    missing = [name for name in requested if name not in available]
    if missing:
        raise DataError(_missing_columns_message(missing, available, path))

    duplicated = set(_duplicated_names(available))
    ambiguous = [name for name in requested if name in duplicated]
    if ambiguous:
        raise DataError(
            f"{path}: the requested columns {_quote_list(ambiguous)} occur more "
            "than once in the file. Rename the duplicates in the file."
        )


def _missing_columns_message(
    missing: Sequence[str], available: Sequence[str], source: Any
) -> str:
    noun = "column" if len(missing) == 1 else "columns"
    return (
        f"{source}: {noun} not found: {_describe_missing(missing, available)}. The "
        f"file has {len(available)} columns. Check the spelling in the model or the "
        "file."
    )


def _describe_missing(missing: Sequence[str], available: Sequence[str]) -> str:
    """List the missing names, each with up to three close matches."""
    parts = []
    for name in missing:
        matches = _close_matches(name, available)
        if matches:
            parts.append(f"{name!r} (did you mean {' or '.join(map(repr, matches))}?)")
        else:
            parts.append(f"{name!r}")
    return ", ".join(parts)


def _close_matches(name: str, available: Sequence[str]) -> list[str]:
    """Return up to three column names close to ``name``, ignoring letter case."""
    by_lower: dict[str, list[str]] = {}
    for candidate in available:
        by_lower.setdefault(candidate.lower(), []).append(candidate)

    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    return [candidate for key in matches for candidate in by_lower[key]][:3]
