"""Read SPSS (.sav, .zsav, .por) and Stata (.dta) files with pyreadstat for
:func:`lio_validate.io.read_data`.

SPSS user-missing values (in .sav and .zsav files) and Stata extended missing
values are set to NaN and counted per column. The value and variable labels
are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from lio_validate.exceptions import DataError
from lio_validate.io_common import _Loaded, _validate_requested

# --------------------------------------------------------------------------
# SPSS and Stata (pyreadstat)
# --------------------------------------------------------------------------

_PYREADSTAT_ERRORS = (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError)


def _call_pyreadstat(
    function: Callable[..., Any], path: Path, description: str, **options: Any
) -> tuple[pd.DataFrame, Any]:
    try:
        return function(path, dates_as_pandas_datetime=True, **options)
    except _PYREADSTAT_ERRORS as exc:
        raise DataError(
            f"{path}: could not read the file as {description}: {exc}. Check that "
            "the file is complete and was saved in this format, not renamed from "
            "another one."
        ) from exc


def _available_columns(
    function: Callable[..., Any], path: Path, description: str
) -> list[str]:
    _, meta = _call_pyreadstat(function, path, description, metadataonly=True)
    return list(meta.column_names)


def _read_spss(path: Path, description: str, requested: list[str] | None) -> _Loaded:
    # pyreadstat silently ignores unknown names in usecols, so they are checked
    # against the metadata first.
    if requested is not None:
        available = _available_columns(pyreadstat.read_sav, path, description)
        _validate_requested(available, requested, path)

    frame, meta = _call_pyreadstat(
        pyreadstat.read_sav, path, description, usecols=requested, user_missing=True
    )
    frame, missing_recoded, notes = _apply_spss_missing(
        frame, meta.missing_ranges, path
    )
    declared = {
        name: tuple(
            (_integral_code(bounds["lo"]), _integral_code(bounds["hi"]))
            for bounds in ranges
        )
        for name, ranges in meta.missing_ranges.items()
        if ranges
    }
    return _labelled_result(frame, meta, missing_recoded, requested, notes, declared)


def _read_spss_portable(
    path: Path, description: str, requested: list[str] | None
) -> _Loaded:
    if requested is not None:
        available = _available_columns(pyreadstat.read_por, path, description)
        _validate_requested(available, requested, path)

    # NOTE: read_por in pyreadstat 1.3.8 has no user_missing option, so values
    # declared missing in a .por file are not counted in missing_recoded, and
    # whether they arrive as NaN has not been checked against such a file.
    frame, meta = _call_pyreadstat(
        pyreadstat.read_por, path, description, usecols=requested
    )
    return _labelled_result(frame, meta, {}, requested, ())


def _read_stata(path: Path, description: str, requested: list[str] | None) -> _Loaded:
    if requested is not None:
        available = _available_columns(pyreadstat.read_dta, path, description)
        _validate_requested(available, requested, path)

    frame, meta = _call_pyreadstat(
        pyreadstat.read_dta, path, description, usecols=requested, user_missing=True
    )
    missing_recoded = _count_stata_extended_missing(frame, meta)

    # With user_missing=True, pyreadstat 1.3.8 returns 0 instead of NaN for a
    # system-missing value (.) in an integer column that also contains extended
    # missing values. Those columns are read again without user_missing, which
    # gives NaN for every kind of missing value.
    if missing_recoded:
        affected = list(missing_recoded)
        reread, _ = _call_pyreadstat(
            pyreadstat.read_dta, path, description, usecols=affected
        )
        for name in affected:
            frame[name] = reread[name]

    declared = {
        name: tuple((letter, letter) for letter in letters)
        for name, letters in meta.missing_user_values.items()
        if letters
    }
    return _labelled_result(frame, meta, missing_recoded, requested, (), declared)


def _apply_spss_missing(
    frame: pd.DataFrame, missing_ranges: dict[str, list[dict[str, Any]]], path: Path
) -> tuple[pd.DataFrame, dict[str, int], tuple[str, ...]]:
    """Set SPSS user-missing values to NaN and count them per column.

    SPSS declares up to three discrete values, or a range plus one value.
    pyreadstat reports both as ``{"lo": ..., "hi": ...}`` bounds, with
    ``lo == hi`` for a discrete value.

    The result contains one separate array per column and shares no memory with
    ``frame``. pyreadstat returns all numeric columns as one 2-D block, and a
    column replaced in that frame would keep the whole block alive, so on a
    large file the recoded data would need twice the memory.
    """
    counts: dict[str, int] = {}
    notes: list[str] = []
    # Keyed by position, because a dict cannot hold duplicate names.
    columns: dict[int, Any] = {}

    for position, name in enumerate(frame.columns):
        values = frame.iloc[:, position]
        ranges = missing_ranges.get(name)
        if not ranges:
            columns[position] = _column_copy(values)
            continue

        if pd.api.types.is_numeric_dtype(values):
            array = values.to_numpy(dtype=np.float64, copy=True)
            mask = np.zeros(len(array), dtype=bool)
            for bounds in ranges:
                mask |= (array >= bounds["lo"]) & (array <= bounds["hi"])
            array[mask] = np.nan
            columns[position] = array
        elif pd.api.types.is_string_dtype(values):
            codes = [bounds["lo"] for bounds in ranges if bounds["lo"] == bounds["hi"]]
            mask = values.isin(codes).to_numpy()
            columns[position] = values.mask(mask)
        else:
            notes.append(
                f"{path}: column {name!r} declares user-missing values but has "
                f"dtype {values.dtype}, so they were left as they are. Check the "
                "column in SPSS."
            )
            columns[position] = _column_copy(values)
            continue
        counts[name] = counts.get(name, 0) + int(mask.sum())

    result = pd.DataFrame(columns, index=frame.index, copy=False)
    result.columns = frame.columns
    return result, counts, tuple(notes)


def _column_copy(values: pd.Series) -> Any:
    if pd.api.types.is_numeric_dtype(values) and not isinstance(
        values.dtype, pd.CategoricalDtype
    ):
        return values.to_numpy(copy=True)
    return values.copy(deep=True)


def _count_stata_extended_missing(frame: pd.DataFrame, meta: Any) -> dict[str, int]:
    """Count .a to .z per column and set them to NaN in ``frame``.

    pyreadstat returns an extended missing value as its letter ("a" for .a) and
    lists the letters found per column in ``meta.missing_user_values``.
    """
    counts: dict[str, int] = {}
    for name, letters in meta.missing_user_values.items():
        if name not in frame.columns or not letters:
            continue
        mask = frame[name].isin(letters)
        counts[name] = int(mask.sum())
        frame[name] = frame[name].mask(mask)
    return counts


def _labelled_result(
    frame: pd.DataFrame,
    meta: Any,
    missing_recoded: dict[str, int],
    requested: list[str] | None,
    notes: Iterable[str],
    declared: dict[str, tuple[tuple[Any, Any], ...]] | None = None,
) -> _Loaded:
    frame = _numeric_objects_to_float(frame)
    if requested is not None:
        frame = frame[requested]
    kept_columns = set(frame.columns)

    value_labels = {
        name: {_integral_code(code): label for code, label in labels.items()}
        for name, labels in meta.variable_value_labels.items()
        if name in kept_columns
    }
    variable_labels = {
        name: label
        for name, label in meta.column_names_to_labels.items()
        if name in kept_columns and label
    }

    return _Loaded(
        frame=frame,
        value_labels=value_labels,
        variable_labels=variable_labels,
        missing_recoded=missing_recoded,
        warnings=tuple(notes),
        missing_codes={
            name: codes
            for name, codes in (declared or {}).items()
            if name in kept_columns
        },
    )


def _numeric_objects_to_float(frame: pd.DataFrame) -> pd.DataFrame:
    # pyreadstat returns integer Stata columns that contain missing values as
    # object columns of Python ints and NaN.
    for name in frame.columns[frame.dtypes == object]:
        kind = pd.api.types.infer_dtype(frame[name], skipna=True)
        if kind in ("integer", "floating", "mixed-integer-float"):
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
    return frame


def _integral_code(code: Any) -> Any:
    if isinstance(code, float) and code.is_integer():
        return int(code)
    return code
