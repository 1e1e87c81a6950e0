"""The codebook of a survey file as data: scales, answer scales, variables.

A :class:`Codebook` describes the columns of a survey file: the scales
with their items and reverse-keyed items, answer scales (value labels shared
by many items, with the codes that mean missing), extra missing codes, valid
ranges and text codes per variable, the ordinal items, the group, weight and
cluster columns, and labels for report tables. :meth:`Codebook.resolve`
merges the entries that apply to one column, together with the labels and
missing codes that the data file itself stores.

:mod:`lio_validate.codebook_load` reads a codebook from YAML and documents
the layout of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Union

__all__ = [
    "DEFAULT_MAX_ITEM_CORRELATION",
    "DEFAULT_MIN_GROUP_SIZE",
    "AnswerScale",
    "Code",
    "Codebook",
    "MissingCode",
    "MissingRange",
    "ResolvedVariable",
    "ScaleSpec",
    "VariableSpec",
    "format_code",
    "is_missing_code",
    "looks_like_missing_label",
    "normalize_text",
]

# A code in a data file: a number, or a text value of a string column.
Code = Union[int, float, str]

DEFAULT_MIN_GROUP_SIZE = 100
DEFAULT_MAX_ITEM_CORRELATION = 0.95

# Value labels that mark a non-answer, in English and Dutch, matched against
# normalize_text(label).
_MISSING_LABEL = re.compile(
    r"\b(don'?t know|do not know|dk|refused|refusal|no answer|not answered|"
    r"not applicable|n/?a|missing|prefer not to say|weet( ik)? niet|"
    r"geen antwoord|niet van toepassing|n\.?v\.?t\.?|wil( ik)? niet zeggen|"
    r"onbekend|unknown)\b"
)


def _empty_mapping() -> Mapping[Any, Any]:
    return MappingProxyType({})


# --------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingRange:
    """An inclusive range of numeric codes that mean missing, like SPSS's."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"{format_code(self.low)} to {format_code(self.high)}"


MissingCode = Union[int, float, str, MissingRange]


@dataclass(frozen=True)
class AnswerScale:
    """Value labels shared by several items, with the codes that mean missing.

    ``values`` maps each code to its label, including the labels of missing
    codes such as 8 "don't know", so that text answers map through them.
    """

    name: str
    values: Mapping[Code, str]
    missing: tuple[MissingCode, ...] = ()


@dataclass(frozen=True)
class ScaleSpec:
    """A scale: its items in order, the reverse-keyed ones and a table label."""

    name: str
    items: tuple[str, ...]
    reverse: tuple[str, ...] = ()
    label: str | None = None
    answers: str | None = None


@dataclass(frozen=True)
class VariableSpec:
    """One variable's entry under ``variables`` as written in the codebook."""

    name: str
    label: str | None = None
    answers: str | None = None
    values: Mapping[Code, str] = field(default_factory=_empty_mapping)
    missing: tuple[MissingCode, ...] = ()
    valid: tuple[float, float] | None = None
    text: Mapping[str, float] = field(default_factory=_empty_mapping)


@dataclass(frozen=True)
class ResolvedVariable:
    """A variable's codebook entry merged with its answer scale and scale.

    Attributes
    ----------
    values : mapping of {code: str}
        The variable's own value labels, or else its answer scale's, or else
        the labels stored in the data file.
    values_source : {"codebook", "file"} or None
        Where ``values`` come from.
    missing : tuple
        Missing codes and ranges of the answer scale and of the variable.
    file_missing : tuple
        Missing codes and ranges that the data file declares.
    valid : tuple of (float, float) or None
        The declared valid range, or else the smallest and largest labelled
        code that is not a missing code of the codebook or the file. None when
        neither is known.
    valid_declared : bool
        Whether ``valid`` was written in the codebook.
    text : mapping of {str: float}
        Normalized answer text to code: the inverse of ``values`` plus the
        variable's ``text`` entries, which win.
    ambiguous_text : frozenset of str
        Normalized labels that two codes share, so text cannot be mapped.
    """

    name: str
    label: str | None
    values: Mapping[Code, str]
    values_source: str | None
    missing: tuple[MissingCode, ...]
    file_missing: tuple[MissingCode, ...]
    valid: tuple[float, float] | None
    valid_declared: bool
    text: Mapping[str, float]
    ambiguous_text: frozenset[str]
    scale: str | None
    reverse: bool


@dataclass(frozen=True)
class Codebook:
    """A validated codebook. Build it with :func:`load_codebook`.

    Attributes
    ----------
    path : pathlib.Path or None
        The YAML file, None for a codebook built from a mapping.
    scales : tuple of ScaleSpec
        Scales in the order of the file.
    variables : mapping of {str: VariableSpec}
        Entries under ``variables``.
    answer_scales : mapping of {str: AnswerScale}
        Entries under ``answer_scales``.
    ordered : tuple of str
        Items to treat as ordinal (``ordered: all`` lists every scale item).
    group, weight, cluster : str or None
        Columns of the groups, the survey weights and the cluster ids.
    min_group_size : int
        Groups with fewer complete rows than this get a warning.
    max_item_correlation : float
        Item pairs whose correlation reaches this in absolute value get a
        warning (nearly collinear items).
    data : str or None
        The data file the codebook describes, for the reader only.
    """

    path: Path | None
    scales: tuple[ScaleSpec, ...] = ()
    variables: Mapping[str, VariableSpec] = field(default_factory=_empty_mapping)
    answer_scales: Mapping[str, AnswerScale] = field(default_factory=_empty_mapping)
    ordered: tuple[str, ...] = ()
    group: str | None = None
    weight: str | None = None
    cluster: str | None = None
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    max_item_correlation: float = DEFAULT_MAX_ITEM_CORRELATION
    data: str | None = None
    _scale_of: Mapping[str, ScaleSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scale_of = {item: scale for scale in self.scales for item in scale.items}
        object.__setattr__(self, "_scale_of", MappingProxyType(scale_of))

    @property
    def source(self) -> str:
        """The codebook file as named in messages."""
        return str(self.path) if self.path is not None else "codebook"

    @property
    def items(self) -> tuple[str, ...]:
        """Every scale item, in the order of the scales."""
        return tuple(self._scale_of)

    @property
    def reverse_items(self) -> tuple[str, ...]:
        """The reverse-keyed items of all scales."""
        return tuple(item for scale in self.scales for item in scale.reverse)

    @property
    def scale_items(self) -> dict[str, tuple[str, ...]]:
        """``{scale: items}``, the form that reliability analyses take."""
        return {scale.name: scale.items for scale in self.scales}

    @property
    def labels(self) -> dict[str, str]:
        """``{scale or variable: label}`` for report tables."""
        labels = {scale.name: scale.label for scale in self.scales if scale.label}
        for name, spec in self.variables.items():
            if spec.label:
                labels[name] = spec.label
        return labels

    def columns(self) -> tuple[str, ...]:
        """Every data column the codebook names, each once, in a stable order."""
        names = [*self.items, *self.variables, *self.ordered]
        names += [name for name in (self.group, self.weight, self.cluster) if name]
        return tuple(dict.fromkeys(names))

    def resolve(
        self,
        name: str,
        *,
        file_values: Mapping[Code, str] | None = None,
        file_missing: tuple[tuple[Any, Any], ...] = (),
    ) -> ResolvedVariable:
        """Merge the entries that apply to column ``name``.

        Parameters
        ----------
        name : str
            The column.
        file_values : mapping of {code: str}, optional
            The value labels that the data file stores for the column. They
            apply when the codebook gives the column no values of its own.
        file_missing : tuple of (low, high), optional
            The missing codes that the data file declares for the column
            (:attr:`SurveyData.missing_codes`). They count as missing codes
            when the valid range is derived from the value labels.
        """
        spec = self.variables.get(name, VariableSpec(name))
        scale = self._scale_of.get(name)
        answers_name = spec.answers or (scale.answers if scale else None)
        answers = self.answer_scales[answers_name] if answers_name else None

        values: Mapping[Code, str] = spec.values or (answers.values if answers else {})
        values_source = "codebook" if values else None
        if not values and file_values:
            values, values_source = file_values, "file"

        declared_in_file = tuple(
            _file_missing_code(low, high) for low, high in file_missing
        )
        missing = (*(answers.missing if answers else ()), *spec.missing)
        text, ambiguous = _text_table(values, spec.text)

        valid = spec.valid
        if valid is None:
            valid = _range_of_valid_codes(values, (*missing, *declared_in_file))

        return ResolvedVariable(
            name=name,
            label=spec.label,
            values=MappingProxyType(dict(values)),
            values_source=values_source,
            missing=missing,
            file_missing=declared_in_file,
            valid=valid,
            valid_declared=spec.valid is not None,
            text=MappingProxyType(text),
            ambiguous_text=frozenset(ambiguous),
            scale=scale.name if scale else None,
            reverse=scale is not None and name in scale.reverse,
        )

    def summary(self) -> str:
        """Describe the codebook in a few lines of text."""
        lines = [f"Codebook {self.source}"]
        roles = [
            f"{role} column: {name}"
            for role, name in (
                ("group", self.group),
                ("weight", self.weight),
                ("cluster", self.cluster),
            )
            if name
        ]
        lines += [f"  {text}" for text in roles]
        lines.append(
            f"  {len(self.scales)} scales, {len(self.items)} items, "
            f"{len(self.reverse_items)} reverse-keyed, {len(self.ordered)} ordinal"
        )
        width = max((len(scale.name) for scale in self.scales), default=0)
        for scale in self.scales:
            reverse = f" (reverse: {', '.join(scale.reverse)})" if scale.reverse else ""
            lines.append(f"  {scale.name:<{width}}  {', '.join(scale.items)}{reverse}")
        for answers in self.answer_scales.values():
            missing = ", ".join(str(code) for code in answers.missing) or "none"
            lines.append(
                f"  answer scale {answers.name}: {len(answers.values)} labelled "
                f"codes, missing codes {missing}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Derived tables
# --------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})


def looks_like_missing_label(label: str) -> bool:
    """Return whether a value label reads like a non-answer ("don't know", ...)."""
    return bool(_MISSING_LABEL.search(normalize_text(label)))


def normalize_text(text: str) -> str:
    """Return ``text`` folded for matching answers to labels.

    Letter case, surrounding and repeated white space and the typographic
    apostrophes that word processors insert are ignored.
    """
    return " ".join(text.translate(_APOSTROPHES).casefold().split())


def _text_table(
    values: Mapping[Code, str], explicit: Mapping[str, float]
) -> tuple[dict[str, float], set[str]]:
    table: dict[str, float] = {}
    ambiguous: set[str] = set()
    for code, label in values.items():
        if not _is_number(code):
            continue
        key = normalize_text(label)
        if key in table and table[key] != float(code):
            ambiguous.add(key)
        table[key] = float(code)
    table.update(explicit)
    ambiguous -= set(explicit)
    return table, ambiguous


def _range_of_valid_codes(
    values: Mapping[Code, str], missing: tuple[MissingCode, ...]
) -> tuple[float, float] | None:
    codes = [
        float(code)
        for code in values
        if _is_number(code) and not is_missing_code(code, missing)
    ]
    if not codes:
        return None
    return min(codes), max(codes)


def _file_missing_code(low: Any, high: Any) -> MissingCode:
    if _is_number(low) and _is_number(high) and low != high:
        return MissingRange(float(low), float(high))
    return low


def is_missing_code(code: Code, missing: tuple[MissingCode, ...]) -> bool:
    """Return whether ``code`` is one of ``missing`` or inside one of its ranges."""
    for entry in missing:
        if isinstance(entry, MissingRange):
            if _is_number(code) and entry.low <= code <= entry.high:
                return True
        elif _is_number(entry) and _is_number(code):
            if float(entry) == float(code):
                return True
        elif isinstance(entry, str) and isinstance(code, str):
            if normalize_text(entry) == normalize_text(code):
                return True
    return False


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_code(code: Any) -> str:
    """Write a code for a message, without the ".0" of an integral float."""
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return str(code)
