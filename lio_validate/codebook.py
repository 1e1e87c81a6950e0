"""From the survey file a researcher receives to model-ready data in one call.

:func:`prepare_survey` reads a data file, applies its codebook and validates
the result. It

1. reads the file with :func:`lio_validate.io.read_data`, which sets the
   missing values that the file declares (SPSS user-missing values and
   ranges, Stata .a to .z) to NaN;
2. maps answers stored as text ("strongly agree") to their codes, through
   the codebook's ``text`` entries, its value labels or answer scale, or the
   value labels stored in the file;
3. sets the codebook's extra missing codes to NaN;
4. rejects codes outside the valid range, and codes whose label reads like a
   missing value ("don't know", "refused") that neither the file nor the
   codebook declares missing;
5. reverse-codes the reverse-keyed items as ``low + high - x`` over the
   valid range of the item;
6. validates items, weights, groups and clusters
   (:func:`lio_validate.validation.validate_survey`).

It returns a :class:`PreparedSurvey` with the data, an audit table that
counts per variable what each step changed, the codebook and the warnings.
The input file is opened for reading only.

Memory: the model-ready frame contains one float64 column per item. Reading
an SPSS file peaks while pyreadstat builds its frame, and the recoding then
replaces the columns one at a time, so it adds about one column. The memory
bound is a peak resident memory of at most 2.5 times the model-ready frame,
above what the interpreter and libraries use before the call.
``benchmarks/bench_io.py`` measures it. At 1,000,000 rows and 60 items (a
489 MiB frame) it measured 2.26 for .sav, 2.42 for .csv and 1.62 for
.parquet, on a shared 2-CPU x86_64 virtual machine with Python 3.11, pandas
3.1.1 and pyreadstat 1.3.8. Other pandas or pyreadstat versions may copy
more.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lio_validate.codebook_load import load_codebook
from lio_validate.codebook_recode import recode_columns
from lio_validate.codebook_spec import Codebook
from lio_validate.exceptions import DataError, DataWarning
from lio_validate.io import SurveyData, read_data
from lio_validate.io_common import (
    _describe_missing,
    _duplicated_names,
    _missing_columns_message,
)
from lio_validate.validation import SurveyRoles, validate_survey

__all__ = [
    "AUDIT_COLUMNS",
    "Codebook",
    "PreparedSurvey",
    "codebook_path_for",
    "load_codebook",
    "prepare_survey",
]

AUDIT_COLUMNS = (
    "variable",
    "role",
    "scale",
    "label",
    "n_rows",
    "system_missing",
    "user_missing",
    "codebook_missing",
    "text_mapped",
    "reversed",
    "n_valid",
    "valid_min",
    "valid_max",
)


# --------------------------------------------------------------------------
# Result object
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedSurvey:
    """Model-ready survey data with the audit of every recode.

    The dataclass is frozen, but the DataFrames are not copied, so code that
    receives one must not modify them in place.

    Attributes
    ----------
    frame : pandas.DataFrame
        The data in file order. Items are float64 with NaN for every missing
        value, text answers replaced by codes and reverse-keyed items
        reversed. A group column with value labels holds the labels as an
        ordered categorical. Other columns are as read.
    audit : pandas.DataFrame
        One row per variable that the codebook or the arguments name, with
        the columns in :data:`AUDIT_COLUMNS`: the counts of values missing in
        the file (``system_missing``), declared missing by the file
        (``user_missing``) or by the codebook (``codebook_missing``), mapped
        from text, reversed, and left valid, and the valid range used.
    codebook : Codebook or None
        The codebook that was applied.
    warnings : tuple of str
        The messages also issued as :class:`DataWarning`.
    path : pathlib.Path
        The data file.
    sha256 : str
        SHA-256 digest of the data file's bytes.
    items, ordered : tuple of str
        The items checked, and those to treat as ordinal.
    scales : mapping of {str: tuple of str}
        ``{scale: items}`` from the codebook.
    group, weight, cluster : str or None
        The columns with those roles.
    labels : mapping of {str: str}
        Labels of scales and variables for tables: the codebook's, else the
        file's variable labels.
    value_labels : mapping of {str: mapping}
        ``{column: {code: label}}`` as applied: the codebook's, else the file's.
    """

    frame: pd.DataFrame = field(repr=False)
    audit: pd.DataFrame = field(repr=False)
    codebook: Codebook | None = field(repr=False)
    warnings: tuple[str, ...] = field(repr=False)
    path: Path
    sha256: str = field(repr=False)
    items: tuple[str, ...] = field(repr=False)
    ordered: tuple[str, ...] = field(repr=False)
    scales: Mapping[str, tuple[str, ...]] = field(repr=False)
    group: str | None = None
    weight: str | None = None
    cluster: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, repr=False)
    value_labels: Mapping[str, Mapping[Any, str]] = field(
        default_factory=dict, repr=False
    )

    @property
    def nobs(self) -> int:
        """Number of rows."""
        return len(self.frame)

    def summary(self) -> str:
        """Describe the data, the roles, the recodes and the warnings as text."""
        codebook = self.codebook.source if self.codebook else "none"
        lines = [
            f"Survey data {self.path}",
            f"  rows: {self.nobs}, columns: {self.frame.shape[1]}, "
            f"codebook: {codebook}",
            f"  items: {len(self.items)} ({len(self.ordered)} ordinal) in "
            f"{len(self.scales)} scales",
        ]
        for role in ("group", "weight", "cluster"):
            name = getattr(self, role)
            if name:
                lines.append(f"  {role}: {name}")

        totals = self.audit[
            ["user_missing", "codebook_missing", "text_mapped", "reversed"]
        ].sum()
        lines.append(
            f"  recoded: {totals['user_missing']} values declared missing in the "
            f"file, {totals['codebook_missing']} by the codebook, "
            f"{totals['text_mapped']} text answers mapped to codes, "
            f"{totals['reversed']} values reversed"
        )

        changed = self.audit[
            self.audit[
                ["user_missing", "codebook_missing", "text_mapped", "reversed"]
            ].sum(axis=1)
            > 0
        ]
        if len(changed):
            table = changed[
                [
                    "variable",
                    "system_missing",
                    "user_missing",
                    "codebook_missing",
                    "text_mapped",
                    "reversed",
                    "n_valid",
                ]
            ]
            lines.append("")
            lines += ["  " + line for line in table.to_string(index=False).splitlines()]
        if self.warnings:
            lines.append("")
            lines.append(f"  {len(self.warnings)} warning(s):")
            lines += [f"  - {message}" for message in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def codebook_path_for(data_path: str | os.PathLike[str]) -> Path | None:
    """Return the codebook that belongs to a data file by naming convention.

    The convention: ``<name>.codebook.yaml`` next to ``<name>.<suffix>``, or
    else ``codebook.yaml`` in the same folder. The first that exists is
    returned, None when neither does. A codebook given explicitly (``--codebook``
    on the command line) takes precedence over this convention.
    """
    path = Path(data_path)
    candidates = (
        path.with_name(f"{path.stem}.codebook.yaml"),
        path.with_name("codebook.yaml"),
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def prepare_survey(
    path: str | os.PathLike[str],
    codebook: Codebook | str | os.PathLike[str] | None = None,
    *,
    items: Sequence[str] | None = None,
    group: str | None = None,
    weight: str | None = None,
    cluster: str | None = None,
) -> PreparedSurvey:
    """Read a survey file, apply its codebook and validate the result.

    Parameters
    ----------
    path : str or os.PathLike
        The data file (.sav, .zsav, .por, .dta, .csv, .parquet). It is opened
        for reading only and never modified.
    codebook : Codebook, str or os.PathLike, optional
        The codebook, or the path of its YAML file. Without one, only the
        missing values and value labels stored in the file apply. Use
        :func:`codebook_path_for` to find a codebook by naming convention.
    items : sequence of str, optional
        Items to check besides the codebook's scale items, for example the
        observed variables of a model.
    group, weight, cluster : str, optional
        Columns for these roles. Each overrides the codebook's entry.

    Returns
    -------
    PreparedSurvey

    Raises
    ------
    DataError
        If the file or the codebook cannot be read, a named column is not in
        the file or occurs twice, a text answer has no code, a code lies
        outside the valid range or has a missing-value label without being
        declared missing, an item has no variance, or the weights are
        missing, negative or sum to zero. The message names the file, the
        column and what to do.

    Warns
    -----
    DataWarning
        For items constant within a group, nearly collinear items, rows
        without any valid answer, small groups, rows without a group or
        cluster id, reverse-keyed items without a known range, items without
        a known range whose separate codes look like missing codes (9 in an
        item coded 1 to 5), and the duplicate column names that
        :func:`read_data` reports.
    """
    book = _codebook_argument(codebook)
    survey = read_data(path)
    source = str(survey.path)

    roles = _resolve_roles(book, survey, items, group, weight, cluster)
    digest = survey.sha256
    # prepare_survey owns the frame it read, so recode_columns may take its columns
    # apart one by one to save memory.
    frame, audit_rows, notes, value_labels = recode_columns(
        survey, book, roles, source, consume=True
    )
    del survey

    notes += validate_survey(frame, roles, source=source)
    for message in notes:
        warnings.warn(message, DataWarning, stacklevel=2)

    return _prepared_result(
        frame, audit_rows, book, roles, notes, value_labels, path, digest
    )


# --------------------------------------------------------------------------
# Stage 1: codebook and roles (stage 2, the recoding, is in codebook_recode)
# --------------------------------------------------------------------------


def _codebook_argument(codebook: Any) -> Codebook | None:
    if codebook is None or isinstance(codebook, Codebook):
        return codebook
    if isinstance(codebook, str | os.PathLike):
        return load_codebook(codebook)
    raise TypeError(
        "codebook must be a Codebook, the path of a codebook file or None, not "
        f"{type(codebook).__name__}."
    )


def _resolve_roles(
    book: Codebook | None,
    survey: SurveyData,
    items: Sequence[str] | None,
    group: str | None,
    weight: str | None,
    cluster: str | None,
) -> SurveyRoles:
    """Combine the codebook with the arguments and check every name."""
    if isinstance(items, str):
        raise TypeError("items must be a sequence of column names, not a string.")
    source = str(survey.path)
    available = survey.columns

    if book is not None:
        missing = [name for name in book.columns() if name not in available]
        if missing:
            raise DataError(
                f"{source}: the codebook {book.source} names "
                f"{'a column' if len(missing) == 1 else 'columns'} that the file "
                f"does not have: {_describe_missing(missing, available)}. Fix the "
                "names in the codebook, or give the codebook of this file."
            )
    extra = [name for name in (items or ()) if not book or name not in book.items]
    named = [name for name in (*extra, group, weight, cluster) if name]
    missing = [name for name in named if name not in available]
    if missing:
        raise DataError(_missing_columns_message(missing, available, source))

    roles = SurveyRoles(
        items=tuple(dict.fromkeys([*(book.items if book else ()), *extra])),
        group=group or (book.group if book else None),
        weight=weight or (book.weight if book else None),
        cluster=cluster or (book.cluster if book else None),
        min_group_size=book.min_group_size if book else SurveyRoles.min_group_size,
        max_item_correlation=(
            book.max_item_correlation if book else SurveyRoles.max_item_correlation
        ),
    )

    used = {*roles.items, roles.group, roles.weight, roles.cluster}
    if book is not None:
        used |= set(book.columns())
    duplicated = [
        name for name in _duplicated_names(survey.frame.columns) if name in used
    ]
    if duplicated:
        raise DataError(
            f"{source}: the columns {', '.join(map(repr, duplicated))} occur more "
            "than once in the file, so it is unclear which one the analysis "
            "should use. Rename the duplicates in the file."
        )
    return roles


# --------------------------------------------------------------------------
# Stage 3: the result
# --------------------------------------------------------------------------


def _prepared_result(
    frame: pd.DataFrame,
    audit_rows: list[dict[str, Any]],
    book: Codebook | None,
    roles: SurveyRoles,
    notes: list[str],
    value_labels: dict[str, Mapping],
    path: str | os.PathLike[str],
    digest: str,
) -> PreparedSurvey:
    audit = pd.DataFrame(audit_rows, columns=list(AUDIT_COLUMNS))
    labels: dict[str, str] = {
        row["variable"]: row["label"] for row in audit_rows if row["label"]
    }
    if book is not None:
        labels.update(book.labels)
    return PreparedSurvey(
        frame=frame,
        audit=audit,
        codebook=book,
        warnings=tuple(notes),
        path=Path(path),
        sha256=digest,
        items=roles.items,
        ordered=book.ordered if book is not None else (),
        scales=dict(book.scale_items) if book is not None else {},
        group=roles.group,
        weight=roles.weight,
        cluster=roles.cluster,
        labels=labels,
        value_labels=value_labels,
    )
