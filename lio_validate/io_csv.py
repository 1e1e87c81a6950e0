"""Read delimited text (CSV) files for :func:`lio_validate.io.read_data`.

The reader guesses the delimiter and the decimal mark from the first records,
decodes the text as UTF-8 or Windows-1252, and keeps duplicate header names,
which pandas would rename.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pandas as pd

from lio_validate.exceptions import DataError
from lio_validate.io_common import _Loaded, _validate_requested

# The delimiter is guessed from the first 50 lines and the decimal mark from
# the first 200, both within the first MiB of a CSV file.
_CSV_SAMPLE_BYTES = 1 << 20
_CSV_SNIFF_RECORDS = 50
_CSV_DECIMAL_RECORDS = 200
_CSV_DELIMITERS = (",", ";", "\t")
_CSV_ENCODINGS = ("utf-8-sig", "cp1252")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_DECIMAL_POINT = re.compile(r"[+-]?\d*\.\d+")


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
