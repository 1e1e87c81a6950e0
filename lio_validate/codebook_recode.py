"""Recode the columns of a survey file by its codebook, one column at a time.

:func:`recode_columns` is the second stage of
:func:`lio_validate.codebook.prepare_survey`. Per column it maps answers
stored as text to their codes, sets the codebook's missing codes to NaN,
rejects codes outside the valid range and codes labelled like a non-answer
that neither the file nor the codebook declares missing, reverse-codes the
reverse-keyed items and counts each change for the audit table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lio_validate.codebook_spec import (
    Codebook,
    MissingRange,
    ResolvedVariable,
    format_code,
    is_missing_code,
    looks_like_missing_label,
    normalize_text,
)
from lio_validate.exceptions import DataError
from lio_validate.io import SurveyData
from lio_validate.validation import SurveyRoles

__all__ = ["recode_columns"]

_MAX_LISTED = 5

# Codes that surveys commonly use for "don't know", "refused" or "not
# applicable". An item without a known valid range whose codes include some
# of these, apart from its other codes, gets a warning.
_TYPICAL_MISSING_CODES = frozenset(
    {
        -99.0,
        -9.0,
        -8.0,
        -7.0,
        -3.0,
        -2.0,
        -1.0,
        7.0,
        8.0,
        9.0,
        77.0,
        88.0,
        96.0,
        97.0,
        98.0,
        99.0,
        997.0,
        998.0,
        999.0,
    }
)


# --------------------------------------------------------------------------
# Stage 2: recoding column by column
# --------------------------------------------------------------------------


def recode_columns(
    survey: SurveyData,
    book: Codebook | None,
    roles: SurveyRoles,
    source: str,
    *,
    consume: bool = False,
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str], dict[str, Mapping]]:
    """Apply the codebook to every named column and copy the others.

    The result is built from separate column arrays and shares no memory with
    ``survey.frame``. With ``consume=True`` each column is removed from
    ``survey.frame`` once it is recoded, so that at most one column exists
    twice and a large file needs little more memory than its frame.
    """
    rulebook = book if book is not None else Codebook(path=None)
    codebook_source = book.source if book is not None else "a codebook (none was given)"
    targets = list(
        dict.fromkeys(
            [
                *roles.items,
                *(book.columns() if book is not None else ()),
                *(name for name in (roles.group, roles.weight, roles.cluster) if name),
            ]
        )
    )

    role_of = {name: "item" for name in roles.items}
    for role in ("group", "weight", "cluster"):
        name = getattr(roles, role)
        if name:
            role_of[name] = role

    original = survey.frame
    order = list(original.columns)
    consume = consume and not original.columns.has_duplicates
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
        values = original.pop(name) if consume else original[name]
        recoded[name] = column.run(values)
        del values
        notes += column.notes
        label = rules.label or survey.variable_labels.get(name)
        audit_rows.append(column.audit_row(label))
        if rules.values:
            value_labels[name] = rules.values

    frame = _assemble(order, original, recoded, consume=consume)
    return frame, audit_rows, notes, value_labels


def _assemble(
    order: list[str],
    original: pd.DataFrame,
    recoded: dict[str, pd.Series],
    *,
    consume: bool,
) -> pd.DataFrame:
    if original.columns.has_duplicates:
        parts = [
            recoded.get(name, original.iloc[:, position])
            for position, name in enumerate(original.columns)
        ]
        return pd.concat(parts, axis=1, keys=list(original.columns))
    columns = {}
    for name in order:
        if name in recoded:
            columns[name] = recoded[name]
        elif consume:
            columns[name] = original.pop(name).copy(deep=True)
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
        if self.role == "item" and self.rules.valid is None:
            self._warn_suspect_codes(values)
        if self.rules.reverse:
            self._reverse(values)
        self.counts["n_valid"] = int(np.count_nonzero(~np.isnan(values)))

        if self.role == "group" and self._has_numeric_labels():
            return self._group_labels(values, column.index)
        return pd.Series(values, index=column.index, name=self.name, copy=False)

    def _from_text(self, column: pd.Series) -> np.ndarray | None:
        """Map text answers to codes, or return None to keep the column as text."""
        text = column.astype("object")
        present = (
            text.notna().to_numpy() & (text.astype(str).str.strip() != "").to_numpy()
        )
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
            lambda value: (
                isinstance(value, str) and is_missing_code(value, self.rules.missing)
            )
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
        """Reject codes labelled like "don't know" that are not declared missing."""
        declared = (*self.rules.missing, *self.rules.file_missing)
        for code, label in self.rules.values.items():
            if isinstance(code, str) or not looks_like_missing_label(label):
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
        origin = (
            "its valid range"
            if self.rules.valid_declared
            else (f"the range of its value labels in {self._values_origin()}")
        )
        raise DataError(
            f"{self.source}: column {self.name!r} has {int(outside.sum())} values "
            f"outside {origin}, {format_code(low)} to {format_code(high)} (code: "
            f"count {listing}). If they are missing codes, declare them under "
            f"missing for {self.name!r} in {self.codebook_source}; otherwise set "
            "its valid range (valid: [low, high])."
        )

    def _warn_suspect_codes(self, values: np.ndarray) -> None:
        """Warn about separate high or negative codes that look like missing codes.

        Without value labels or a valid range, 9 in an item coded 1 to 5 may
        be "no answer". The codes above the first gap in the sorted codes (or
        the negative codes below the others) are suspect when every one of
        them is a typical missing code.
        """
        counts = pd.Series(values).value_counts()
        codes = np.sort(counts.index.to_numpy(dtype=float))
        if len(codes) < 3 or not np.all(codes == np.round(codes)):
            return
        suspects: list[float] = []
        negative = codes[codes < 0]
        if 0 < len(negative) < len(codes) - 1:
            suspects += list(negative)
        rest = codes[codes >= 0]
        gaps = np.flatnonzero(np.diff(rest) > 1)
        if len(gaps) and gaps[0] >= 1:
            suspects += list(rest[gaps[0] + 1 :])
        if not suspects or not set(suspects) <= _TYPICAL_MISSING_CODES:
            return
        listing = ", ".join(
            f"{format_code(code)} ({int(counts[code])} rows)" for code in suspects
        )
        self.notes.append(
            f"{self.source}: item {self.name!r} has the codes {listing} apart from "
            "its other codes, and they look like missing codes, but the item has no "
            f"value labels or valid range in {self.codebook_source}. If they mean "
            "missing, declare them under missing for this item in the codebook; "
            "otherwise give its valid range."
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
            if not isinstance(code, str)
            and not is_missing_code(code, self.rules.missing)
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
        more = (
            f" and {len(unknown) - _MAX_LISTED} more"
            if len(unknown) > _MAX_LISTED
            else ""
        )
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
