"""Write the results folder of a run, all at once or not at all.

The folder is built in a hidden sibling directory and renamed into place when every
file is written. A rename within one directory is atomic on POSIX file systems, so a
reader sees either no folder or a complete one, and a failed run leaves nothing at
the requested path. Numbers are written unrounded: rounding happens only in text
meant for a person (the report).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lio_validate.exceptions import LioInputError
from lio_validate.figures import FIGURE_FORMATS, save_figure

__all__ = [
    "ESTIMATES_COLUMNS",
    "TableDifference",
    "check_output_directory",
    "compare_tables",
    "estimates_to_csv",
    "fit_measures_to_json",
    "is_table_file",
    "table_checksums",
    "table_to_latex",
    "to_json_value",
    "write_results_folder",
]

ESTIMATES_COLUMNS = [
    "lhs",
    "op",
    "rhs",
    "group",
    "label",
    "est",
    "se",
    "z",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "std_lv",
    "std_all",
]

FIGURES_DIRECTORY = "figures"


# --------------------------------------------------------------------------------------
# Serialising tables and mappings


def estimates_to_csv(estimates: pd.DataFrame) -> str:
    """Format the parameter table, or any table, as CSV text with full precision.

    The columns of ``ESTIMATES_COLUMNS`` that the table has come first, in that
    order, and the other columns follow in their own order. The index is not
    written. Floats are written with the shortest text that reads back as
    the same float (Python's ``repr``), so nothing is rounded. Missing values
    (NaN) are written as empty fields, which R's ``read.csv`` and pandas read as
    missing. Lines end with ``\\n``.
    """
    known = [column for column in ESTIMATES_COLUMNS if column in estimates.columns]
    others = [column for column in estimates.columns if column not in known]
    return estimates[known + others].to_csv(index=False, lineterminator="\n")


def to_json_value(value: Any) -> Any:
    """Convert a value to plain JSON types, writing NaN and infinities as None.

    numpy scalars and arrays become Python numbers and lists, mappings and pandas
    Series become dicts with string keys, tuples, lists and sets become lists (sets
    sorted), dates and times become ISO 8601 strings, paths become strings, and
    ``pandas.NA`` becomes None. Other types raise TypeError.
    """
    if value is None or value is pd.NA or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, pd.Series):
        return to_json_value(value.to_dict())
    if isinstance(value, np.ndarray):
        return [to_json_value(item) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return [to_json_value(item) for item in sorted(value, key=str)]
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in list(value)]
    raise TypeError(
        f"Cannot write a value of type {type(value).__name__} to JSON: {value!r}."
    )


def fit_measures_to_json(fit_measures: Mapping[str, Any]) -> str:
    """Format the fit measures as JSON text, keeping their order.

    NaN and infinite values, which JSON cannot represent, are written as
    ``null``. Numbers keep full precision. The text ends with a newline.
    """
    text = json.dumps(to_json_value(fit_measures), indent=2, allow_nan=False)
    return text + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
    "\u2192": r"$\rightarrow$",
    "\u2194": r"$\leftrightarrow$",
    "\u00b2": r"\textsuperscript{2}",
}


def _latex_text(value: Any) -> str:
    text = "" if value is None or value is pd.NA else str(value)
    return "".join(_LATEX_SPECIAL.get(character, character) for character in text)


def _latex_cell(value: Any, decimals: int) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            return "--"
        if float(value).is_integer() and abs(float(value)) >= 10**decimals:
            return str(int(value))
        return f"{float(value):.{decimals}f}".replace("-", "$-$", 1)
    return _latex_text(value)


def table_to_latex(
    table: pd.DataFrame,
    *,
    caption: str,
    label: str,
    columns: Mapping[str, str] | None = None,
    decimals: int = 3,
) -> str:
    """Format a table as a LaTeX ``table`` with booktabs rules, for a manuscript.

    Numbers are rounded to ``decimals`` places, because this text is meant for a
    reader. The CSV next to it keeps full precision. Missing values are written as
    ``--``, and text is escaped for LaTeX. Numeric columns are right-aligned.
    The output needs ``\\usepackage{booktabs}`` in the preamble.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows to write, in order.
    caption, label : str
        The table's caption and its ``\\label`` key (``tab:`` is prefixed).
    columns : mapping of str to str, optional
        Columns to write, in order, with their headers. By default every column
        under its own name.
    decimals : int, default 3
        Decimal places of non-integer numbers.

    Returns
    -------
    str
        The LaTeX source, ending with a newline.
    """
    columns = dict(columns) if columns is not None else {c: c for c in table.columns}
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"Column(s) {missing} are not in the table. Its columns are "
            f"{list(table.columns)}."
        )

    numeric = [pd.api.types.is_numeric_dtype(table[column]) for column in columns]
    alignment = "".join("r" if is_numeric else "l" for is_numeric in numeric)
    header = " & ".join(_latex_text(title) for title in columns.values())
    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        f"\\caption{{{_latex_text(caption)}}}",
        f"\\label{{tab:{label}}}",
        f"\\begin{{tabular}}{{{alignment}}}",
        "\\toprule",
        f"{header} \\\\",
        "\\midrule",
    ]
    for row in table[list(columns)].itertuples(index=False):
        cells = [_latex_cell(value, decimals) for value in row]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Comparing the tables of two results folders


def is_table_file(name: str) -> bool:
    """Tell whether a results-folder file contains numbers that a rerun must repeat.

    Tables are every ``.csv``, ``.tex`` and ``.json`` file except
    ``manifest.json``, whose times and paths change on every run.
    """
    path = PurePosixPath(name)
    return path.suffix in (".csv", ".tex", ".json") and path.name != "manifest.json"


def table_checksums(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Return the SHA-256 of every table file under ``folder``, by relative path."""
    folder = Path(folder)
    checksums = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and is_table_file(name):
            checksums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return checksums


@dataclass(frozen=True)
class TableDifference:
    """A table file that differs between two results folders.

    Attributes
    ----------
    name : str
        Path of the file relative to the folders, such as ``"estimates.csv"``.
    reason : str
        ``"differs"`` (both have it, with other bytes), ``"missing"`` (only the
        first folder has it) or ``"extra"`` (only the second folder has it).
    """

    name: str
    reason: str


def compare_tables(
    expected: Mapping[str, str], actual: Mapping[str, str]
) -> list[TableDifference]:
    """Compare two sets of table checksums, as :func:`table_checksums` returns them.

    Returns
    -------
    list of TableDifference
        One entry per file that differs, is missing from ``actual`` or is extra in
        it, sorted by name. Empty when the tables are byte-identical.
    """
    differences = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            differences.append(TableDifference(name, "missing"))
        elif name not in expected:
            differences.append(TableDifference(name, "extra"))
        elif expected[name] != actual[name]:
            differences.append(TableDifference(name, "differs"))
    return differences


# --------------------------------------------------------------------------------------
# The results folder


def check_output_directory(out_dir: str | os.PathLike[str]) -> None:
    """Raise LioInputError unless ``out_dir`` is missing or an empty directory.

    Call it before a long run to fail early. :func:`write_results_folder` checks
    again before it writes.
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise LioInputError(
            f"Output path {str(out_dir)!r} is a symbolic link. Pass a new directory "
            "with --out."
        )
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise LioInputError(
            f"Output path {str(out_dir)!r} exists and is not a directory. Pass a new "
            "directory with --out."
        )
    if any(out_dir.iterdir()):
        raise LioInputError(
            f"Output directory {str(out_dir)!r} already exists and is not empty. "
            "Pass a new directory with --out, or remove this one first."
        )


def _relative_file_path(name: str) -> PurePosixPath:
    """Return a results-folder file name as a relative path, rejecting escapes."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ValueError(
            f"File name {name!r} is invalid in a results folder. Use a relative "
            "path with '/' and without '..', such as 'estimates.csv'."
        )
    return path


def _planned_paths(
    files: Mapping[str, bytes | str], figures: Mapping[str, Figure]
) -> dict[PurePosixPath, str]:
    """Map every path that will be written to what writes it, rejecting clashes."""
    planned: dict[PurePosixPath, str] = {}
    for name in files:
        planned[_relative_file_path(name)] = f"file {name!r}"
    for stem in figures:
        for suffix in FIGURE_FORMATS:
            path = PurePosixPath(FIGURES_DIRECTORY, f"{stem}.{suffix}")
            if path in planned:
                raise ValueError(
                    f"Figure {stem!r} would overwrite {planned[path]} at {path}. "
                    "Give the figure or the file another name."
                )
            planned[path] = f"figure {stem!r}"
    return planned


def _make_staging_directory(out_dir: Path) -> Path:
    """Create an empty hidden sibling of ``out_dir`` to build the folder in.

    ``mkdir`` applies the process umask, unlike ``tempfile.mkdtemp`` (mode 0700),
    so the finished folder gets the same permissions as any new directory.
    """
    for _ in range(100):
        staging = out_dir.parent / f".{out_dir.name}.partial-{secrets.token_hex(4)}"
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return staging
    raise FileExistsError(
        f"Could not create a staging directory next to {str(out_dir)!r}: 100 random "
        "names were taken. Remove the .partial-* directories there."
    )


def _write_contents(
    staging: Path, files: Mapping[str, bytes | str], figures: Mapping[str, Figure]
) -> None:
    for name, content in files.items():
        path = staging / _relative_file_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            # newline="" writes the text's own line ends on every platform.
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(content)
        else:
            path.write_bytes(bytes(content))

    for stem, figure in figures.items():
        save_figure(figure, staging / FIGURES_DIRECTORY, stem)


def write_results_folder(
    out_dir: str | os.PathLike[str],
    files: Mapping[str, bytes | str],
    figures: Mapping[str, Figure],
) -> Path:
    """Write the results folder of a run atomically.

    Every entry of ``files`` is written under ``out_dir`` (text as UTF-8), and every
    figure is saved as ``figures/<stem>.png``, ``.svg`` and ``.pdf``. The folder
    is built in a hidden sibling directory and renamed to ``out_dir`` at the end. If
    anything fails, the sibling is removed and nothing is left at ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Directory to create. It must not exist, or be an empty directory, which is
        replaced. Missing parent directories are created and stay in place.
    files : mapping of str to bytes or str
        Relative file name, such as ``"estimates.csv"`` or ``"tables/r2.csv"``, to
        its content.
    figures : mapping of str to matplotlib.figure.Figure
        File stem, such as ``"path_diagram"``, to the figure.

    Returns
    -------
    pathlib.Path
        The results folder.

    Raises
    ------
    LioInputError
        If ``out_dir`` exists and is not an empty directory, or is a symbolic link.
    ValueError
        If a file name is absolute, contains ``..``, or two entries would write the
        same path.
    """
    out_dir = Path(out_dir)
    check_output_directory(out_dir)
    _planned_paths(files, figures)
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    staging = _make_staging_directory(out_dir)
    try:
        _write_contents(staging, files, figures)

        # Check again because another process may have filled out_dir meanwhile.
        check_output_directory(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
