"""Load survey data files and check the columns an analysis needs.

:func:`read_data` reads CSV (also ``;``-separated with decimal commas), Parquet,
SPSS (.sav, .zsav, .por) and Stata (.dta) files into a :class:`SurveyData`.
SPSS user-missing values and Stata extended missing values (.a to .z) become
NaN, and the count per column is kept so that a report can show how much data
each missing code removed. Value labels and variable labels are kept as
metadata. The input file is opened for reading only.

:func:`check_columns` validates the columns a model uses before estimation, and
:func:`select_complete_cases` applies listwise deletion and reports the counts.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pyreadstat

from lio_validate.exceptions import DataError, DataWarning

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

# The delimiter is guessed from the first 50 lines and the decimal mark from
# the first 200, both within the first MiB of a CSV file.
_CSV_SAMPLE_BYTES = 1 << 20
_CSV_SNIFF_RECORDS = 50
_CSV_DECIMAL_RECORDS = 200
_CSV_DELIMITERS = (",", ";", "\t")
_CSV_ENCODINGS = ("utf-8-sig", "cp1252")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_DECIMAL_POINT = re.compile(r"[+-]?\d*\.\d+")

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
    """

    frame: pd.DataFrame = field(repr=False)
    path: Path
    format: str
    value_labels: dict[str, dict[Any, str]] = field(repr=False)
    variable_labels: dict[str, str] = field(repr=False)
    missing_recoded: dict[str, int] = field(repr=False)
    sha256: str = field(repr=False)

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


@dataclass(frozen=True)
class _Loaded:
    """Result of one format reader: the frame, its metadata and warning messages."""

    frame: pd.DataFrame
    value_labels: dict[str, dict[Any, str]]
    variable_labels: dict[str, str]
    missing_recoded: dict[str, int]
    warnings: tuple[str, ...] = ()


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


# --------------------------------------------------------------------------
# Delimited text
# --------------------------------------------------------------------------


def _read_csv(path: Path, description: str, requested: list[str] | None) -> _Loaded:
    sample, encoding, complete = _decode_sample(path)
    records = _sample_records(sample, complete)
    if not records:
        raise DataError(f"{path}: the file contains no lines of text. Export it again.")

    delimiter = _sniff_delimiter(records)
    # NOTE: a decimal comma that first appears after the sampled lines is not
    # detected, so its column loads as text and check_columns rejects it.
    decimal, mixed_marks = _detect_decimal_mark(records[1:], delimiter)

    names = _header_names(records, delimiter)
    _validate_requested(names, requested, path)
    positions = None
    if requested is not None:
        positions = sorted(names.index(name) for name in requested)

    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            decimal=decimal,
            encoding=encoding,
            header=0,
            usecols=positions,
            skipinitialspace=True,
            low_memory=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: could not read the file as {description} with delimiter "
            f"{delimiter!r} and encoding {encoding}: {str(exc).strip()}. Check that "
            "every row has as many fields as the header, or save the file again "
            "as UTF-8 CSV."
        ) from exc

    # pandas renames duplicate headers ("x", "x.1"), so the names from the file
    # are restored for check_columns to report the duplicates.
    kept_positions = positions if positions is not None else range(len(names))
    kept_names = [names[i] for i in kept_positions]
    if len(kept_names) == frame.shape[1]:
        frame.columns = kept_names
    if requested is not None:
        frame = frame[requested]

    notes = []
    if mixed_marks:
        notes.append(
            f"{path}: the first rows contain numbers with a decimal comma and "
            "numbers with a decimal point. The file is read with a decimal comma, "
            "so columns written with points may load as text. Use one decimal "
            "mark in the export."
        )

    return _Loaded(
        frame=frame,
        value_labels={},
        variable_labels={},
        missing_recoded={},
        warnings=tuple(notes),
    )


def _decode_sample(path: Path) -> tuple[str, str, bool]:
    """Return the start of the file as text, its encoding and whether it is all."""
    with path.open("rb") as handle:
        raw = handle.read(_CSV_SAMPLE_BYTES + 1)
    complete = len(raw) <= _CSV_SAMPLE_BYTES
    raw = raw[:_CSV_SAMPLE_BYTES]

    if b"\x00" in raw:
        raise DataError(
            f"{path}: the file contains binary data (NUL bytes), so it is not a "
            "CSV text file. Check the file or give it the suffix of its format."
        )

    for encoding in _CSV_ENCODINGS:
        # The incremental decoder tolerates a multibyte character cut off at the
        # end of the sample.
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            return decoder.decode(raw, final=complete), encoding, complete
        except UnicodeDecodeError:
            continue

    raise DataError(
        f"{path}: the text is neither UTF-8 nor Windows-1252. Save the file "
        "again as UTF-8 CSV."
    )


def _sample_records(sample: str, complete: bool) -> list[str]:
    # str.splitlines would also split at form feeds and other separators that
    # csv and pandas treat as ordinary characters.
    lines = io.StringIO(sample, newline="").readlines()
    # The last line of a cut sample is partial, unless it is the only one.
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    return [line for line in lines if line.strip()][:_CSV_DECIMAL_RECORDS]


def _sniff_delimiter(records: list[str]) -> str:
    """Pick the candidate delimiter that splits the records most consistently.

    A delimiter that gives every record the same number of fields (more than
    one) wins, the one with the most fields first. Otherwise the delimiter
    whose field counts most often equal the header's is used. A file with a
    single column falls back to ``,``.
    """
    head = records[:_CSV_SNIFF_RECORDS]
    best = ","
    best_score = (False, 0.0, 0)

    for delimiter in _CSV_DELIMITERS:
        counts = [len(row) for row in csv.reader(head, delimiter=delimiter)]
        n_header = counts[0]
        if n_header < 2:
            continue

        consistent = all(count == n_header for count in counts)
        share = sum(count == n_header for count in counts) / len(counts)
        score = (consistent, share, n_header)
        if score > best_score:
            best, best_score = delimiter, score

    return best


def _detect_decimal_mark(records: list[str], delimiter: str) -> tuple[str, bool]:
    """Return the decimal mark, and whether both marks occur in the sample."""
    if delimiter == ",":
        return ".", False

    n_comma = 0
    n_point = 0
    for row in csv.reader(records, delimiter=delimiter):
        for value in row:
            value = value.strip()
            if _DECIMAL_COMMA.fullmatch(value):
                n_comma += 1
            elif _DECIMAL_POINT.fullmatch(value):
                n_point += 1

    if n_comma == 0:
        return ".", False
    return ",", n_point > 0


def _header_names(records: list[str], delimiter: str) -> list[str]:
    fields = next(csv.reader(records, delimiter=delimiter))
    names = []
    for position, name in enumerate(fields):
        name = name.strip()
        names.append(name if name else f"Unnamed: {position}")
    return names


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
        frame = pd.read_parquet(path, columns=requested)
    except (pyarrow.ArrowException, OSError) as exc:
        raise DataError(
            f"{path}: could not read the file as {description}: {exc}. Check that "
            "the file is complete and really is a Parquet file."
        ) from exc

    return _Loaded(frame=frame, value_labels={}, variable_labels={}, missing_recoded={})


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
    return _labelled_result(frame, meta, missing_recoded, requested, notes)


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

    return _labelled_result(frame, meta, missing_recoded, requested, ())


def _apply_spss_missing(
    frame: pd.DataFrame, missing_ranges: dict[str, list[dict[str, Any]]], path: Path
) -> tuple[pd.DataFrame, dict[str, int], tuple[str, ...]]:
    """Set SPSS user-missing values to NaN and count them per column.

    SPSS declares up to three discrete values, or a range plus one value.
    pyreadstat reports both as ``{"lo": ..., "hi": ...}`` bounds, with
    ``lo == hi`` for a discrete value.
    """
    counts: dict[str, int] = {}
    notes: list[str] = []

    for name, ranges in missing_ranges.items():
        if name not in frame.columns or not ranges:
            continue
        values = frame[name]

        if pd.api.types.is_numeric_dtype(values):
            mask = np.zeros(len(values), dtype=bool)
            for bounds in ranges:
                mask |= ((values >= bounds["lo"]) & (values <= bounds["hi"])).to_numpy()
        elif pd.api.types.is_string_dtype(values):
            codes = [bounds["lo"] for bounds in ranges if bounds["lo"] == bounds["hi"]]
            mask = values.isin(codes).to_numpy()
        else:
            notes.append(
                f"{path}: column {name!r} declares user-missing values but has "
                f"dtype {values.dtype}, so they were left as they are. Check the "
                "column in SPSS."
            )
            continue

        counts[name] = int(mask.sum())
        frame[name] = values.mask(mask)

    return frame, counts, tuple(notes)


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


def _missing_columns_message(
    missing: Sequence[str], available: Sequence[str], source: Any
) -> str:
    parts = []
    for name in missing:
        matches = _close_matches(name, available)
        if matches:
            parts.append(f"{name!r} (did you mean {' or '.join(map(repr, matches))}?)")
        else:
            parts.append(f"{name!r}")

    noun = "column" if len(missing) == 1 else "columns"
    return (
        f"{source}: {noun} not found: {', '.join(parts)}. The file has "
        f"{len(available)} columns. Check the spelling in the model or the file."
    )


def _close_matches(name: str, available: Sequence[str]) -> list[str]:
    """Return up to three column names close to ``name``, ignoring letter case."""
    by_lower: dict[str, list[str]] = {}
    for candidate in available:
        by_lower.setdefault(candidate.lower(), []).append(candidate)

    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    return [candidate for key in matches for candidate in by_lower[key]][:3]


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
