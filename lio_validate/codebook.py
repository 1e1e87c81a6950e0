"""From the survey file a researcher receives to model-ready data in one call.

:func:`prepare_survey` reads a data file, applies its codebook and validates
the result. Per column it

1. reads the file with :func:`lio_validate.io.read_data`, which sets the
   missing values that the file declares (SPSS user-missing values and
   ranges, Stata .a to .z) to NaN;
2. maps answers stored as text ("strongly agree") to their codes, through
   the codebook's ``text`` entries, its value labels or answer scale, or the
   value labels stored in the file;
3. sets the codebook's extra missing codes to NaN;
4. rejects codes outside the valid range, and codes whose label reads like a
   missing value ("don't know", "refused") that nobody declared missing;
5. reverse-codes the reverse-keyed items as ``low + high - x`` over the
   valid range of the item;
6. validates items, weights, groups and clusters
   (:func:`lio_validate.validation.validate_survey`).

It returns a :class:`PreparedSurvey` with the data, an audit table that
counts per variable what each step changed, the codebook and the warnings.
The input file is opened for reading only.

Memory: the model-ready frame holds one float64 column per item. Reading an
SPSS file needs about twice that frame while pyreadstat builds it, and the
recoding keeps the read frame and the recoded columns at once, so the peak
resident memory is about three times the frame plus the interpreter and
libraries. ``benchmarks/bench_io.py`` measures it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lio_validate.codebook_spec import (
    Codebook,
    MissingRange,
    ResolvedVariable,
    format_code,
    is_missing_code,
    load_codebook,
    normalize_text,
)
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

# Value labels that mark a non-answer. A code with such a label that neither
# the file nor the codebook declares missing would enter the analysis as an
# answer, so prepare_survey rejects it. English and Dutch, lower case.
_MISSING_LABEL = re.compile(
    r"\b(don'?t know|do not know|dk|refused|refusal|no answer|not answered|"
    r"not applicable|n/?a|missing|prefer not to say|weet( ik)? niet|"
    r"geen antwoord|niet van toepassing|n\.?v\.?t\.?|wil( ik)? niet zeggen|"
    r"onbekend|unknown)\b"
)
_MAX_LISTED = 5


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
            f"  rows: {self.nobs}, columns: {self.frame.shape[1]}, codebook: {codebook}",
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
            self.audit[["user_missing", "codebook_missing", "text_mapped",
                        "reversed"]].sum(axis=1) > 0
        ]
        if len(changed):
            table = changed[["variable", "system_missing", "user_missing",
                             "codebook_missing", "text_mapped", "reversed",
                             "n_valid"]]
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
        cluster id, reverse-keyed items without a known range, and the
        duplicate column names that :func:`read_data` reports.
    """
    book = _codebook_argument(codebook)
    survey = read_data(path)
    source = str(survey.path)

    roles = _resolve_roles(book, survey, items, group, weight, cluster)
    frame, audit_rows, notes, value_labels = _recode(survey, book, roles, source)
    digest = survey.sha256
    # The recoded frame shares no memory with the frame that was read, so
    # dropping the last reference here frees it before the validation runs.
    del survey

    notes += validate_survey(frame, roles, source=source)
    for message in notes:
        warnings.warn(message, DataWarning, stacklevel=2)

    return _prepared_result(
        frame, audit_rows, book, roles, notes, value_labels, path, digest
    )


# --------------------------------------------------------------------------
# Stage 1: codebook and roles
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
    duplicated = [name for name in _duplicated_names(survey.frame.columns)
                  if name in used]
    if duplicated:
        raise DataError(
            f"{source}: the columns {', '.join(map(repr, duplicated))} occur more "
            "than once in the file, so it is unclear which one the analysis "
            "should use. Rename the duplicates in the file."
        )
    return roles


# --------------------------------------------------------------------------
# Stage 2: recoding column by column
# --------------------------------------------------------------------------


def _recode(
    survey: SurveyData,
    book: Codebook | None,
    roles: SurveyRoles,
    source: str,
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str], dict[str, Mapping]]:
    """Apply the codebook to every named column and copy the others.

    The result is built from separate column arrays, so no column shares
    memory with the frame that was read, which can then be freed.
    """
    rulebook = book if book is not None else Codebook(path=None)
    codebook_source = book.source if book is not None else "no codebook"
    targets = list(dict.fromkeys([
        *roles.items,
        *(book.columns() if book is not None else ()),
        *(name for name in (roles.group, roles.weight, roles.cluster) if name),
    ]))

    role_of = {name: "item" for name in roles.items}
    for role in ("group", "weight", "cluster"):
        name = getattr(roles, role)
        if name:
            role_of[name] = role

    audit_rows = []
    notes: list[str] = []
    value_labels: dict[str, Mapping] = {}
    recoded: dict[str, pd.Series] = {}
    for name in targets:
        rules = rulebook.resolve(
            name,
            file_values=survey.value_labels.get(name),
            file_missing=survey.missing_codes.get(name, ()),
        )
        column = _ColumnRecode(
            name=name,
            role=role_of.get(name, "variable"),
            rules=rules,
            source=source,
            codebook_source=codebook_source,
            user_missing=survey.missing_recoded.get(name, 0),
        )
        recoded[name] = column.run(survey.frame[name])
        notes += column.notes
        label = rules.label or survey.variable_labels.get(name)
        audit_rows.append(column.audit_row(label))
        if rules.values:
            value_labels[name] = rules.values

    frame = _assemble(survey.frame, recoded)
    return frame, audit_rows, notes, value_labels


def _assemble(original: pd.DataFrame, recoded: dict[str, pd.Series]) -> pd.DataFrame:
    if original.columns.has_duplicates:
        parts = [
            recoded.get(name, original.iloc[:, position])
            for position, name in enumerate(original.columns)
        ]
        return pd.concat(parts, axis=1, keys=list(original.columns))
    columns = {}
    for name in original.columns:
        if name in recoded:
            columns[name] = recoded[name]
        else:
            columns[name] = original[name].copy(deep=True)
    return pd.DataFrame(columns, copy=False)


class _ColumnRecode:
    """The recoding of one column, with its counts for the audit table."""

    def __init__(
        self,
        *,
        name: str,
        role: str,
        rules: ResolvedVariable,
        source: str,
        codebook_source: str,
        user_missing: int,
    ) -> None:
        self.name = name
        self.role = role
        self.rules = rules
        self.source = source
        self.codebook_source = codebook_source
        self.counts = dict(
            n_rows=0,
            system_missing=0,
            user_missing=int(user_missing),
            codebook_missing=0,
            text_mapped=0,
            reversed=0,
            n_valid=0,
        )
        self.notes: list[str] = []

    # ---- stages ----------------------------------------------------------

    def run(self, column: pd.Series) -> pd.Series:
        self.counts["n_rows"] = len(column)
        if _is_text(column):
            values = self._from_text(column)
            if values is None:
                return self._text_as_is(column)
        else:
            if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(
                column
            ):
                return self._other_as_is(column)
            values = column.to_numpy(dtype=np.float64, copy=True)
            n_missing = int(np.count_nonzero(np.isnan(values)))
            self.counts["system_missing"] = n_missing - self.counts["user_missing"]

        self._apply_missing_codes(values)
        self._reject_unlabelled_missing(values)
        self._reject_out_of_range(values)
        if self.rules.reverse:
            self._reverse(values)
        self.counts["n_valid"] = int(np.count_nonzero(~np.isnan(values)))

        if self.role == "group" and self._has_numeric_labels():
            return self._group_labels(values, column.index)
        return pd.Series(values, index=column.index, name=self.name, copy=False)

    def _from_text(self, column: pd.Series) -> np.ndarray | None:
        """Map text answers to codes; return None for text left as it is."""
        text = column.astype("object")
        present = text.notna().to_numpy() & (text.astype(str).str.strip() != "").to_numpy()
        self.counts["system_missing"] = (
            int(np.count_nonzero(~present)) - self.counts["user_missing"]
        )
        if not self.rules.text:
            return None

        answers = pd.unique(text[present])
        table, missing_texts, unknown = self._text_codes(answers)
        if unknown and self.role in ("group", "cluster", "variable"):
            return None
        if unknown:
            raise DataError(self._unknown_text_message(unknown, text[present]))

        codes = np.full(len(text), np.nan)
        mapped = text[present].map(table)
        codes[present] = mapped.to_numpy(dtype=np.float64, na_value=np.nan)
        n_missing_text = int(text[present].isin(missing_texts).sum())
        self.counts["codebook_missing"] += n_missing_text
        self.counts["text_mapped"] = int(np.count_nonzero(present)) - n_missing_text
        return codes

    def _text_codes(
        self, answers: np.ndarray
    ) -> tuple[dict[Any, float], set[Any], list[str]]:
        """Return {answer: code}, the answers that mean missing, and unknown ones."""
        table: dict[Any, float] = {}
        missing_texts: set[Any] = set()
        unknown = []
        for answer in answers:
            key = normalize_text(str(answer))
            if is_missing_code(str(answer), self.rules.missing):
                missing_texts.add(answer)
                table[answer] = np.nan
            elif key in self.rules.ambiguous_text:
                raise DataError(
                    f"{self.source}: column {self.name!r} contains the text answer "
                    f"{answer!r}, which two codes share as their label in "
                    f"{self._values_origin()}. Give it one code under "
                    f"variables: {self.name}: text: in {self.codebook_source}."
                )
            elif key in self.rules.text:
                table[answer] = self.rules.text[key]
            elif _is_number_text(key):
                table[answer] = float(key)
            else:
                unknown.append(str(answer))
        return table, missing_texts, unknown

    def _text_as_is(self, column: pd.Series) -> pd.Series:
        """Keep a text column that is not an item, with blank cells as NaN."""
        if self.role in ("item", "weight"):
            raise DataError(
                f"{self.source}: the {self.role} column {self.name!r} contains text "
                "but no codes to map it to. Give its value labels or an answer "
                f"scale in {self.codebook_source}, or recode it to numbers."
            )
        text = column.astype("object")
        blank = text.isna() | (text.astype(str).str.strip() == "")
        missing = text.map(
            lambda value: isinstance(value, str)
            and is_missing_code(value, self.rules.missing)
        ).astype(bool)
        self.counts["system_missing"] = int(blank.sum()) - self.counts["user_missing"]
        self.counts["codebook_missing"] = int((missing & ~blank).sum())
        result = column.mask(blank | missing)
        self.counts["n_valid"] = int(result.notna().sum())
        return result

    def _other_as_is(self, column: pd.Series) -> pd.Series:
        """Keep a column that is neither numeric nor text, for example dates."""
        if self.role in ("item", "weight"):
            raise DataError(
                f"{self.source}: the {self.role} column {self.name!r} has dtype "
                f"{column.dtype}, not numbers or text. Recode it to numbers."
            )
        self.counts["system_missing"] = int(column.isna().sum())
        self.counts["n_valid"] = len(column) - self.counts["system_missing"]
        return column.copy(deep=True)

    def _apply_missing_codes(self, values: np.ndarray) -> None:
        mask = np.zeros(len(values), dtype=bool)
        for entry in self.rules.missing:
            if isinstance(entry, MissingRange):
                mask |= (values >= entry.low) & (values <= entry.high)
            elif not isinstance(entry, str):
                mask |= values == float(entry)
        self.counts["codebook_missing"] += int(np.count_nonzero(mask))
        values[mask] = np.nan

    def _reject_unlabelled_missing(self, values: np.ndarray) -> None:
        """Reject codes labelled like "don't know" that nobody declared missing."""
        declared = (*self.rules.missing, *self.rules.file_missing)
        for code, label in self.rules.values.items():
            if isinstance(code, str) or not _MISSING_LABEL.search(normalize_text(label)):
                continue
            if is_missing_code(code, declared):
                continue
            valid = self.rules.valid
            if self.rules.valid_declared and valid and valid[0] <= code <= valid[1]:
                continue
            count = int(np.count_nonzero(values == float(code)))
            if count:
                raise DataError(
                    f"{self.source}: column {self.name!r} has {count} values coded "
                    f"{format_code(code)}, labelled {label!r} in "
                    f"{self._values_origin()}, but neither the file nor "
                    f"{self.codebook_source} declares {format_code(code)} missing, "
                    "so they would count as answers. Add it to the variable's "
                    f"missing codes (missing: [{format_code(code)}]) in the codebook."
                )

    def _reject_out_of_range(self, values: np.ndarray) -> None:
        valid = self.rules.valid
        if valid is None or not (self.role == "item" or self.rules.valid_declared):
            return
        low, high = valid
        outside = (values < low) | (values > high)
        if not outside.any():
            return
        codes, counts = np.unique(values[outside], return_counts=True)
        listing = ", ".join(
            f"{format_code(float(code))}: {count}"
            for code, count in list(zip(codes, counts))[:_MAX_LISTED]
        )
        origin = "its valid range" if self.rules.valid_declared else (
            f"the range of its value labels in {self._values_origin()}"
        )
        raise DataError(
            f"{self.source}: column {self.name!r} has {int(outside.sum())} values "
            f"outside {origin}, {format_code(low)} to {format_code(high)} (code: "
            f"count {listing}). If they are missing codes, declare them under "
            f"missing for {self.name!r} in {self.codebook_source}; otherwise set "
            "its valid range (valid: [low, high])."
        )

    def _reverse(self, values: np.ndarray) -> None:
        if self.rules.valid is not None:
            low, high = self.rules.valid
        else:
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            self.notes.append(
                f"{self.source}: the reverse-keyed item {self.name!r} has no valid "
                f"range or value labels in {self.codebook_source}, so it was "
                f"reversed over its observed range as {format_code(low + high)} - x. "
                "Give its answer scale or valid: [low, high] so that the reversal "
                "does not depend on the answers given."
            )
        np.subtract(low + high, values, out=values)
        self.counts["reversed"] = int(np.count_nonzero(~np.isnan(values)))

    def _group_labels(self, values: np.ndarray, index: pd.Index) -> pd.Series:
        """Replace group codes by their labels, ordered by code."""
        numeric = {
            float(code): label
            for code, label in self.rules.values.items()
            if not isinstance(code, str) and not is_missing_code(code, self.rules.missing)
        }
        present = np.unique(values[~np.isnan(values)])
        for code in present:
            numeric.setdefault(float(code), format_code(float(code)))
        codes = sorted(numeric)
        labels = list(dict.fromkeys(numeric[code] for code in codes))
        mapped = pd.Series(values, index=index).map(numeric)
        return pd.Series(
            pd.Categorical(mapped, categories=labels, ordered=True),
            index=index,
            name=self.name,
        )

    # ---- reporting -------------------------------------------------------

    def audit_row(self, label: str | None) -> dict[str, Any]:
        valid = self.rules.valid
        return dict(
            variable=self.name,
            role=self.role,
            scale=self.rules.scale or "",
            label=label or "",
            **self.counts,
            valid_min=valid[0] if valid else np.nan,
            valid_max=valid[1] if valid else np.nan,
        )

    def _has_numeric_labels(self) -> bool:
        return any(not isinstance(code, str) for code in self.rules.values)

    def _values_origin(self) -> str:
        if self.rules.values_source == "file":
            return "the data file's value labels"
        return f"the value labels of {self.codebook_source}"

    def _unknown_text_message(self, unknown: list[str], present: pd.Series) -> str:
        counts = present.astype(str).value_counts()
        listing = ", ".join(
            f"{answer!r} ({int(counts.get(answer, 0))} rows)"
            for answer in unknown[:_MAX_LISTED]
        )
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        if self.rules.values:
            known = self._values_origin()
        else:
            known = f"its text codes in {self.codebook_source}"
        return (
            f"{self.source}: column {self.name!r} contains text answers that match "
            f"no code in {known}: {listing}{more}. Give each its code under "
            f"variables: {self.name}: text: in {self.codebook_source} (for example "
            f"text: {{{unknown[0]!r}: 3}}), or add it to the missing codes."
        )


def _is_text(column: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(column)
        or pd.api.types.is_string_dtype(column)
        or isinstance(column.dtype, pd.CategoricalDtype)
    )


_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _is_number_text(text: str) -> bool:
    return bool(_NUMBER_TEXT.fullmatch(text))


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
