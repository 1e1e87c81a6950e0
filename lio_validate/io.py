"""Load survey data files and check the columns an analysis needs.

:func:`read_data` reads CSV (also ``;``-separated with decimal commas), Parquet,
SPSS (.sav, .zsav, .por) and Stata (.dta) files into a :class:`SurveyData`.
SPSS user-missing values and Stata extended missing values (.a to .z) become
NaN, and the count per column is kept so that a report can show how much data
each missing code removed. Value labels and variable labels are kept as
metadata. The input file is opened for reading only.

:func:`check_columns` validates the columns a model uses before estimation, and
:func:`select_complete_cases` applies listwise deletion and reports the counts.

The CSV reader is in :mod:`lio_validate.io_csv`, and the SPSS and Stata readers
are in :mod:`lio_validate.io_labelled`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from lio_validate.exceptions import DataError, DataWarning
from lio_validate.io_common import (
    _deduplicate,
    _duplicated_names,
    _Loaded,
    _missing_columns_message,
    _quote_list,
    _validate_requested,
)
from lio_validate.io_csv import _DECIMAL_COMMA, _read_csv
from lio_validate.io_labelled import _read_spss, _read_spss_portable, _read_stata

__all__ = [
    "SUPPORTED_SUFFIXES",
    "SurveyData",
    "CompleteCases",
    "read_data",
    "check_columns",
    "select_complete_cases",
]

# Suffix (lower case) -> (SurveyData.format, description used in messages).
_FORMATS: dict[str, tuple[str, str]] = {
    ".csv": ("csv", "CSV"),
    ".tsv": ("csv", "CSV"),
    ".txt": ("csv", "CSV"),
    ".parquet": ("parquet", "Parquet"),
    ".sav": ("spss", "SPSS .sav"),
    ".zsav": ("spss", "SPSS .zsav"),
    ".por": ("spss_portable", "SPSS portable (.por)"),
    ".dta": ("stata", "Stata .dta"),
}

SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)

_MAX_EXAMPLE_VALUES = 5


# --------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyData:
    """A data file loaded for analysis, with its labels and missing-value counts.

    The dataclass is frozen, but the DataFrame and the dictionaries are not
    copied, so code that receives a ``SurveyData`` must not modify them in place.

    Attributes
    ----------
    frame : pandas.DataFrame
        The data, one row per respondent. User-missing values are NaN.
    path : pathlib.Path
        The file as given to :func:`read_data`.
    format : str
        ``"csv"``, ``"parquet"``, ``"spss"``, ``"spss_portable"`` or ``"stata"``.
    value_labels : dict of {str: dict}
        ``{column: {code: label}}`` from SPSS and Stata files, empty otherwise.
        Integral codes are ``int``. The labels of missing codes are kept.
    variable_labels : dict of {str: str}
        ``{column: label}`` for the columns that have a label.
    missing_recoded : dict of {str: int}
        ``{column: count}`` of values set to NaN because the file declares them
        missing: SPSS user-missing values and ranges, Stata extended missing
        values .a to .z. SPSS columns appear when they declare missing values,
        even with a count of 0. Stata columns appear when they contain an
        extended missing value. Values that were already system-missing are not
        counted.
    sha256 : str
        Hexadecimal SHA-256 digest of the file's bytes.
    missing_codes : dict of {str: tuple of (low, high)}
        The missing values that the file declares per column, as inclusive
        ``(low, high)`` bounds with ``low == high`` for a single code. SPSS
        files give their user-missing values and ranges (numbers, or text for
        string columns). Stata files give the extended missing values found in
        a column as letters, ``("a", "a")`` for .a. CSV and Parquet files
        declare none.
    """

    frame: pd.DataFrame = field(repr=False)
    path: Path
    format: str
    value_labels: dict[str, dict[Any, str]] = field(repr=False)
    variable_labels: dict[str, str] = field(repr=False)
    missing_recoded: dict[str, int] = field(repr=False)
    sha256: str = field(repr=False)
    missing_codes: dict[str, tuple[tuple[Any, Any], ...]] = field(
        default_factory=dict, repr=False
    )

    @property
    def nobs(self) -> int:
        """Number of rows in the file."""
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        """Column names in file order."""
        return [str(name) for name in self.frame.columns]


@dataclass(frozen=True)
class CompleteCases:
    """Row counts of a listwise deletion.

    Attributes
    ----------
    n_total : int
        Rows before deletion.
    n_complete : int
        Rows with no missing value in the selected columns (the rows kept).
    n_dropped : int
        Rows with at least one missing value, ``n_total - n_complete``.
    n_all_missing : int
        Rows, among the dropped ones, where every selected column is missing,
        typically respondents who skipped the whole questionnaire part.
    """

    n_total: int
    n_complete: int
    n_dropped: int
    n_all_missing: int


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def read_data(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
) -> SurveyData:
    """Read a survey data file into a :class:`SurveyData`.

    The format follows the file suffix, in any letter case: ``.csv``, ``.tsv``,
    ``.txt`` (delimited text), ``.parquet``, ``.sav``, ``.zsav``, ``.por`` (SPSS)
    and ``.dta`` (Stata).

    Parameters
    ----------
    path : str or os.PathLike
        The data file. It is opened for reading only.
    columns : sequence of str, optional
        Columns to load, in this order. Loading only the columns a model uses
        saves memory on files with hundreds of columns. Default: all columns.

    Returns
    -------
    SurveyData
        The data with its labels, missing-value counts and SHA-256 digest.

    Raises
    ------
    DataError
        If the file is missing or empty, has an unsupported suffix, cannot be
        parsed in the format its suffix names, or lacks a requested column.

    Warns
    -----
    DataWarning
        If the file has duplicate column names, or a CSV file mixes decimal
        commas and decimal points.

    Notes
    -----
    Delimited text: the delimiter (``,``, ``;`` or tab) is the one that splits
    the first records of the file into the same number of fields. When it is
    not ``,`` and a numeric-looking field contains a comma (``3,5``), the comma
    is read as the decimal mark. Empty and blank cells are NaN. The text is
    decoded as UTF-8, or as Windows-1252 when it is not valid UTF-8.

    SPSS and Stata: user-missing values are read as stored and then set to NaN,
    which is how SPSS and Stata treat them in analyses.
    :attr:`SurveyData.missing_recoded` contains the counts.
    """
    file_path = Path(path)
    file_format, description = _format_for_suffix(file_path)
    _validate_readable(file_path)
    requested = _requested_columns(columns)

    digest = _sha256_of_file(file_path)

    reader = _READERS[file_format]
    loaded = reader(file_path, description, requested)

    frame = loaded.frame
    if len(frame) == 0:
        raise DataError(
            f"{file_path}: the file contains column names but no data rows. "
            "Check that the export finished and that the right file was given."
        )

    for message in loaded.warnings:
        warnings.warn(message, DataWarning, stacklevel=2)

    duplicates = _duplicated_names(frame.columns)
    if duplicates:
        warnings.warn(
            f"{file_path}: duplicate column names {_quote_list(duplicates)}. "
            "Rename them in the file before using them in a model.",
            DataWarning,
            stacklevel=2,
        )

    return SurveyData(
        frame=frame,
        path=file_path,
        format=file_format,
        value_labels=loaded.value_labels,
        variable_labels=loaded.variable_labels,
        missing_recoded=loaded.missing_recoded,
        sha256=digest,
        missing_codes=loaded.missing_codes,
    )


# --------------------------------------------------------------------------
# File checks shared by every format
# --------------------------------------------------------------------------


def _format_for_suffix(path: Path) -> tuple[str, str]:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        suffix_text = suffix or "no suffix"
        raise DataError(
            f"{path}: unsupported file type ({suffix_text}). Supported suffixes are "
            f"{supported}. Export the data to one of these formats."
        )
    return _FORMATS[suffix]


def _validate_readable(path: Path) -> None:
    if not path.exists():
        raise DataError(
            f"Data file not found: {path} (absolute path {path.absolute()}). "
            "Check the path and the current directory."
        )
    if not path.is_file():
        raise DataError(f"{path} is not a file. Give the path of a data file.")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes). Export the data again.")


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _requested_columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not a string.")
    requested = _deduplicate(columns)
    if not requested:
        raise ValueError("columns must name at least one column, or be None.")
    return requested


# --------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------


def _read_parquet(
    path: Path, description: str, requested: list[str] | None
) -> _Loaded:
    try:
        schema = pq.read_schema(path)
        available = [
            name for name in schema.names if not name.startswith("__index_level_")
        ]
        _validate_requested(available, requested, path)
        # split_blocks and self_destruct convert column by column and free the
        # Arrow buffers on the way, so the data are never held twice.
        frame = pd.read_parquet(
            path,
            columns=requested,
            to_pandas_kwargs={"split_blocks": True, "self_destruct": True},
        )
    except (pyarrow.ArrowException, OSError) as exc:
        raise DataError(
            f"{path}: could not read the file as {description}: {exc}. Check that "
            "the file is complete and really is a Parquet file."
        ) from exc

    return _Loaded(frame=frame, value_labels={}, variable_labels={}, missing_recoded={})


_READERS: dict[str, Callable[[Path, str, list[str] | None], _Loaded]] = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "spss": _read_spss,
    "spss_portable": _read_spss_portable,
    "stata": _read_stata,
}


# --------------------------------------------------------------------------
# Column checks
# --------------------------------------------------------------------------


def check_columns(
    frame: pd.DataFrame,
    required: Iterable[str],
    *,
    source: str | os.PathLike[str],
) -> None:
    """Validate that the required columns exist once each and are numeric.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data, for example ``read_data(path).frame``.
    required : iterable of str
        Columns the analysis uses (observed variables, group, weights, ...).
    source : str or os.PathLike
        The data file, named in the error messages.

    Raises
    ------
    DataError
        If a required column is absent (the message suggests close matches),
        occurs more than once, or is not numeric (the message shows a few of
        the values that are not numbers).
    """
    required = _deduplicate(required)
    available = [str(name) for name in frame.columns]

    missing = [name for name in required if name not in available]
    if missing:
        raise DataError(_missing_columns_message(missing, available, source))

    duplicated = set(_duplicated_names(frame.columns))
    ambiguous = [name for name in required if name in duplicated]
    if ambiguous:
        raise DataError(
            f"{source}: the columns {_quote_list(ambiguous)} occur more than once. "
            "Rename the duplicates in the file so that each name is unique."
        )

    problems = [
        _non_numeric_problem(name, frame[name])
        for name in required
        if not pd.api.types.is_numeric_dtype(frame[name])
    ]
    if problems:
        raise DataError(
            f"{source}: the analysis needs numeric columns, but "
            + "; ".join(problems)
            + ". Recode these columns to numbers or remove them from the model."
        )


def _non_numeric_problem(name: str, values: pd.Series) -> str:
    """Describe why a column is not numeric, with a few example values."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(
        dtype
    ):
        return f"column {name!r} contains dates or times (dtype {dtype})"

    observed = values.dropna()
    as_number = pd.to_numeric(observed.astype("object"), errors="coerce")
    offending = observed[as_number.isna()]
    if offending.empty:
        return (
            f"column {name!r} is stored as {dtype} although its values look "
            "numeric (convert it with pandas.to_numeric)"
        )

    examples = _deduplicate(str(value) for value in offending.iloc[:1000])
    shown_examples = examples[:_MAX_EXAMPLE_VALUES]
    example_text = ", ".join(repr(value) for value in shown_examples)
    if len(offending) == 1:
        message = (
            f"column {name!r} contains 1 value that is not a number: {example_text}"
        )
    else:
        message = (
            f"column {name!r} contains {len(offending)} values that are not "
            f"numbers, such as {example_text}"
        )
    if any(_DECIMAL_COMMA.fullmatch(value.strip()) for value in examples):
        message += (
            " (these look like decimal commas, so export the file with ';' as the "
            "delimiter, or with '.' as the decimal mark)"
        )
    return message


# --------------------------------------------------------------------------
# Listwise deletion
# --------------------------------------------------------------------------


def select_complete_cases(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    source: str | os.PathLike[str] | None = None,
) -> tuple[pd.DataFrame, CompleteCases]:
    """Drop the rows with a missing value in any of ``columns`` (listwise deletion).

    Parameters
    ----------
    frame : pandas.DataFrame
        The data.
    columns : sequence of str
        Columns that must be observed, in the order of the returned frame.
        Include the group, weight and cluster columns when the rows must have
        them too.
    source : str or os.PathLike, optional
        The data file, named in the error messages.

    Returns
    -------
    complete : pandas.DataFrame
        The complete rows of ``columns``, with the original index so that rows
        can be traced back to the file.
    counts : CompleteCases
        The number of rows before and after deletion.

    Raises
    ------
    DataError
        If a column is absent, or no row is complete.
    """
    columns = _deduplicate(columns)
    if not columns:
        raise ValueError("select_complete_cases needs at least one column.")
    where = source if source is not None else "data"

    available = [str(name) for name in frame.columns]
    missing = [name for name in columns if name not in available]
    if missing:
        raise DataError(_missing_columns_message(missing, available, where))

    selected = frame[columns]
    is_missing = selected.isna()
    complete_mask = ~is_missing.any(axis=1)

    n_total = len(selected)
    n_complete = int(complete_mask.sum())
    counts = CompleteCases(
        n_total=n_total,
        n_complete=n_complete,
        n_dropped=n_total - n_complete,
        n_all_missing=int(is_missing.all(axis=1).sum()),
    )

    if n_complete == 0:
        share_missing = is_missing.mean().sort_values(ascending=False)
        worst = ", ".join(
            f"{name!r} ({share:.0%} missing)"
            for name, share in share_missing.iloc[:3].items()
        )
        raise DataError(
            f"{where}: none of the {n_total} rows has a value in all "
            f"{len(columns)} columns. The columns with the most missing values "
            f"are {worst}. Remove "
            "those columns from the model or use missing='fiml'."
        )

    return selected.loc[complete_mask], counts
