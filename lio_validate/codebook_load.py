"""Read a codebook from YAML and validate it.

:func:`load_codebook` reads a YAML file with :func:`yaml.safe_load` and
validates it into a :class:`~lio_validate.codebook_spec.Codebook`, and
:func:`parse_codebook` validates a mapping that is already loaded. Every
error names the codebook file and the key that is wrong.

The YAML layout (every key is optional)::

    codebook_version: 1
    data: survey.sav                # the file the codebook describes
    group: education                # column of the groups to compare
    weight: weight                  # column of survey weights
    cluster: org_id                 # column of organisation (cluster) ids
    ordered: all                    # or a list of ordinal items
    checks: {min_group_size: 100, max_item_correlation: 0.95}
    answer_scales:
      agree5:
        values: {1: strongly disagree, 5: strongly agree, 8: don't know}
        missing: [8]
    scales:
      autonomy:
        label: Autonomy
        items: [aut1, aut2, aut3]
        reverse: [aut3]
        answers: agree5             # answer scale of every item of the scale
    variables:
      aut1: {label: I decide how I do my work}
      income:
        missing: [{from: 90, to: 99}]
        valid: [0, 89]
      q7:
        text: {agree: 4, disagree: 2}
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from lio_validate.codebook_spec import (
    DEFAULT_MAX_ITEM_CORRELATION,
    DEFAULT_MIN_GROUP_SIZE,
    AnswerScale,
    Code,
    Codebook,
    MissingCode,
    MissingRange,
    ScaleSpec,
    VariableSpec,
    format_code,
    normalize_text,
)
from lio_validate.exceptions import DataError

__all__ = ["CODEBOOK_VERSION", "load_codebook", "parse_codebook"]

CODEBOOK_VERSION = 1

_TOP_KEYS = (
    "codebook_version",
    "data",
    "group",
    "weight",
    "cluster",
    "ordered",
    "checks",
    "answer_scales",
    "scales",
    "variables",
)
_CHECK_KEYS = ("min_group_size", "max_item_correlation")
_ANSWER_SCALE_KEYS = ("values", "missing")
_SCALE_KEYS = ("label", "items", "reverse", "answers")
_VARIABLE_KEYS = ("label", "answers", "values", "missing", "valid", "text")


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_codebook(path: str | os.PathLike[str]) -> Codebook:
    """Read and validate a codebook file (YAML).

    Parameters
    ----------
    path : str or os.PathLike
        The codebook, UTF-8 text. It is parsed with :func:`yaml.safe_load`.

    Returns
    -------
    Codebook

    Raises
    ------
    DataError
        If the file is missing, is not UTF-8 YAML, or breaks a rule of the
        layout in this module's docstring. The message names the file and
        the key.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"Codebook not found: {path} (absolute path {path.absolute()}). Check "
            "the path, or write a starting codebook with `python -m lio_validate "
            "codebook DATAFILE`."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: the codebook is not UTF-8 text ({exc.reason}). Save it as UTF-8."
        ) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(
            f"{path}: the codebook is not valid YAML: {_one_line(exc)}. Fix the "
            "line it names."
        ) from exc
    if document is None:
        document = {}
    return parse_codebook(document, source=path)


def parse_codebook(
    document: Mapping[str, Any], *, source: str | os.PathLike[str] | None = None
) -> Codebook:
    """Validate a codebook that is already loaded as a mapping.

    Parameters
    ----------
    document : mapping
        The codebook as :func:`yaml.safe_load` returns it.
    source : str or os.PathLike, optional
        The file it came from, named in messages.

    Returns
    -------
    Codebook

    Raises
    ------
    DataError
        If the mapping breaks a rule of the layout in this module's docstring.
    """
    where = str(source) if source is not None else "codebook"
    _require_mapping(document, where, "the codebook")
    _reject_unknown_keys(document, _TOP_KEYS, where, "the top level")

    version = document.get("codebook_version", CODEBOOK_VERSION)
    if version != CODEBOOK_VERSION:
        raise DataError(
            f"{where}: codebook_version is {version!r}, but this version of "
            f"lio_validate reads version {CODEBOOK_VERSION}. Set "
            f"codebook_version: {CODEBOOK_VERSION} and check the layout."
        )

    answer_scales = _parse_answer_scales(document.get("answer_scales"), where)
    scales = _parse_scales(document.get("scales"), answer_scales, where)
    variables = _parse_variables(document.get("variables"), answer_scales, where)
    items = [item for scale in scales for item in scale.items]
    ordered = _parse_ordered(document.get("ordered"), items, where)
    checks = document.get("checks") or {}
    _require_mapping(checks, where, "checks")
    _reject_unknown_keys(checks, _CHECK_KEYS, where, "checks")

    path = Path(source) if source is not None else None
    return Codebook(
        path=path,
        scales=scales,
        variables=MappingProxyType(variables),
        answer_scales=MappingProxyType(answer_scales),
        ordered=ordered,
        group=_optional_name(document, "group", where),
        weight=_optional_name(document, "weight", where),
        cluster=_optional_name(document, "cluster", where),
        min_group_size=_min_group_size(checks, where),
        max_item_correlation=_max_item_correlation(checks, where),
        data=_optional_name(document, "data", where),
    )


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def _parse_answer_scales(section: Any, where: str) -> dict[str, AnswerScale]:
    if section is None:
        return {}
    _require_mapping(section, where, "answer_scales")
    scales = {}
    for name, entry in section.items():
        key = f"answer_scales.{name}"
        _require_mapping(entry, where, key)
        _reject_unknown_keys(entry, _ANSWER_SCALE_KEYS, where, key)
        if "values" not in entry:
            raise DataError(
                f"{where}: {key} has no 'values'. List its codes with their labels, "
                "for example values: {1: disagree, 2: agree}."
            )
        scales[str(name)] = AnswerScale(
            name=str(name),
            values=MappingProxyType(_parse_values(entry["values"], where, key)),
            missing=_parse_missing(entry.get("missing"), where, key),
        )
    return scales


def _parse_scales(
    section: Any, answer_scales: Mapping[str, AnswerScale], where: str
) -> tuple[ScaleSpec, ...]:
    if section is None:
        return ()
    _require_mapping(section, where, "scales")
    scales = []
    owner: dict[str, str] = {}
    for name, entry in section.items():
        key = f"scales.{name}"
        if isinstance(entry, list):
            entry = {"items": entry}
        _require_mapping(entry, where, key)
        _reject_unknown_keys(entry, _SCALE_KEYS, where, key)

        items = _name_list(entry.get("items"), where, f"{key}.items")
        if not items:
            raise DataError(
                f"{where}: {key}.items is empty or missing. List the scale's "
                "columns, for example items: [aut1, aut2, aut3]."
            )
        for item in items:
            if item in owner:
                raise DataError(
                    f"{where}: item {item!r} is listed in scales {owner[item]!r} and "
                    f"{name!r}. An item may belong to one scale only, so remove it "
                    "from one of them."
                )
            owner[item] = str(name)

        reverse = _name_list(entry.get("reverse"), where, f"{key}.reverse")
        strangers = [item for item in reverse if item not in items]
        if strangers:
            raise DataError(
                f"{where}: {key}.reverse names {_quoted(strangers)}, which "
                f"{'is' if len(strangers) == 1 else 'are'} not among the scale's "
                f"items {list(items)}. Add {'it' if len(strangers) == 1 else 'them'} "
                "to items or remove it from reverse."
            )

        answers = _answer_reference(entry, answer_scales, where, key)
        scales.append(
            ScaleSpec(
                name=str(name),
                items=tuple(items),
                reverse=tuple(reverse),
                label=_optional_text(entry, "label", where, key),
                answers=answers,
            )
        )
    return tuple(scales)


def _parse_variables(
    section: Any, answer_scales: Mapping[str, AnswerScale], where: str
) -> dict[str, VariableSpec]:
    if section is None:
        return {}
    _require_mapping(section, where, "variables")
    variables = {}
    for name, entry in section.items():
        key = f"variables.{name}"
        if entry is None:
            entry = {}
        _require_mapping(entry, where, key)
        _reject_unknown_keys(entry, _VARIABLE_KEYS, where, key)
        values = entry.get("values")
        variables[str(name)] = VariableSpec(
            name=str(name),
            label=_optional_text(entry, "label", where, key),
            answers=_answer_reference(entry, answer_scales, where, key),
            values=MappingProxyType(
                _parse_values(values, where, key) if values is not None else {}
            ),
            missing=_parse_missing(entry.get("missing"), where, key),
            valid=_parse_valid(entry.get("valid"), where, key),
            text=MappingProxyType(_parse_text(entry.get("text"), where, key)),
        )
    return variables


def _parse_ordered(value: Any, items: list[str], where: str) -> tuple[str, ...]:
    if value is None or value is False:
        return ()
    if value == "all":
        return tuple(items)
    if isinstance(value, str):
        raise DataError(
            f"{where}: ordered is {value!r}. Write ordered: all, or a list of items "
            "such as ordered: [aut1, aut2]."
        )
    return tuple(_name_list(value, where, "ordered"))


def _min_group_size(checks: Mapping[str, Any], where: str) -> int:
    value = checks.get("min_group_size", DEFAULT_MIN_GROUP_SIZE)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise DataError(
            f"{where}: checks.min_group_size is {value!r}, but it must be an integer "
            f"of at least 2 (default {DEFAULT_MIN_GROUP_SIZE})."
        )
    return value


def _max_item_correlation(checks: Mapping[str, Any], where: str) -> float:
    value = checks.get("max_item_correlation", DEFAULT_MAX_ITEM_CORRELATION)
    valid = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and 0.0 < value <= 1.0
    )
    if not valid:
        raise DataError(
            f"{where}: checks.max_item_correlation is {value!r}, but it must be a "
            f"number above 0 and at most 1 (default {DEFAULT_MAX_ITEM_CORRELATION})."
        )
    return float(value)


# --------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------


def _parse_values(value: Any, where: str, key: str) -> dict[Code, str]:
    _require_mapping(value, where, f"{key}.values")
    values: dict[Code, str] = {}
    for code, label in value.items():
        code = _parse_code(code, where, f"{key}.values")
        if isinstance(label, bool):
            raise DataError(
                f"{where}: the label of code {code!r} in {key}.values reads as the "
                f"YAML boolean {label}. Put the label in quotes, for example "
                f'{format_code(code)}: "yes".'
            )
        if label is None or isinstance(label, list | dict):
            raise DataError(
                f"{where}: code {code!r} in {key}.values has no text label. Write "
                "the label after the colon."
            )
        values[code] = str(label)
    return values


def _parse_missing(value: Any, where: str, key: str) -> tuple[MissingCode, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        value = [value]
    codes: list[MissingCode] = []
    for entry in value:
        if isinstance(entry, Mapping):
            codes.append(_parse_missing_range(entry, where, key))
        else:
            codes.append(_parse_code(entry, where, f"{key}.missing"))
    return tuple(codes)


def _parse_missing_range(
    entry: Mapping[str, Any], where: str, key: str
) -> MissingRange:
    if set(entry) != {"from", "to"}:
        raise DataError(
            f"{where}: {key}.missing has the entry {dict(entry)!r}. Write a range "
            "of missing codes as {from: 90, to: 99}."
        )
    low, high = entry["from"], entry["to"]
    if not (_is_number(low) and _is_number(high)) or low > high:
        raise DataError(
            f"{where}: {key}.missing has the range from {low!r} to {high!r}. Both "
            "ends must be numbers, with from at most to."
        )
    return MissingRange(float(low), float(high))


def _parse_valid(value: Any, where: str, key: str) -> tuple[float, float] | None:
    if value is None:
        return None
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_number(end) for end in value)
        and value[0] <= value[1]
    )
    if not ok:
        raise DataError(
            f"{where}: {key}.valid is {value!r}. Write the smallest and largest "
            "valid code as a list of two numbers, for example valid: [1, 5]."
        )
    return float(value[0]), float(value[1])


def _parse_text(value: Any, where: str, key: str) -> dict[str, float]:
    if value is None:
        return {}
    _require_mapping(value, where, f"{key}.text")
    table: dict[str, float] = {}
    for answer, code in value.items():
        if code is None:
            raise DataError(
                f"{where}: the text answer {answer!r} in {key}.text has no code. "
                "Write the number that this answer stands for after the colon."
            )
        if not _is_number(code):
            raise DataError(
                f"{where}: the text answer {answer!r} in {key}.text maps to "
                f"{code!r}, but it must map to a number."
            )
        table[normalize_text(str(answer))] = float(code)
    return table


def _parse_code(code: Any, where: str, key: str) -> Code:
    if isinstance(code, bool) or not isinstance(code, int | float | str):
        raise DataError(
            f"{where}: {key} contains {code!r}, which is not a code. Codes are "
            "numbers, or text in quotes for text columns."
        )
    if isinstance(code, float) and not math.isfinite(code):
        raise DataError(f"{where}: {key} contains {code!r}. Codes must be finite.")
    if isinstance(code, float) and code.is_integer():
        return int(code)
    return code


def _answer_reference(
    entry: Mapping[str, Any],
    answer_scales: Mapping[str, AnswerScale],
    where: str,
    key: str,
) -> str | None:
    name = entry.get("answers")
    if name is None:
        return None
    if str(name) not in answer_scales:
        known = ", ".join(answer_scales) or "none"
        raise DataError(
            f"{where}: {key}.answers is {name!r}, which is not an answer scale "
            f"(known: {known}). Define it under answer_scales or fix the name."
        )
    return str(name)


# --------------------------------------------------------------------------
# Small validators
# --------------------------------------------------------------------------


def _require_mapping(value: Any, where: str, key: str) -> None:
    if not isinstance(value, Mapping):
        raise DataError(
            f"{where}: {key} must be a mapping of names to entries, but it is a "
            f"{type(value).__name__} ({_preview(value)}). Check its indentation."
        )


def _reject_unknown_keys(
    entry: Mapping[str, Any], known: tuple[str, ...], where: str, key: str
) -> None:
    unknown = [str(name) for name in entry if name not in known]
    if unknown:
        raise DataError(
            f"{where}: {key} has the unknown key{'s' if len(unknown) > 1 else ''} "
            f"{_quoted(unknown)}. Known keys are {', '.join(known)}."
        )


def _name_list(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(name, str | int) and not isinstance(name, bool) for name in value
    ):
        raise DataError(
            f"{where}: {key} must be a list of column names, such as [aut1, aut2], "
            f"but it is {_preview(value)}."
        )
    names = [str(name) for name in value]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"{where}: {key} lists {_quoted(repeated)} more than once. Keep one."
        )
    return names


def _optional_name(document: Mapping[str, Any], key: str, where: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise DataError(
            f"{where}: {key} must be one column name, but it is {_preview(value)}."
        )
    return str(value)


def _optional_text(
    entry: Mapping[str, Any], name: str, where: str, key: str
) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, list | dict):
        raise DataError(f"{where}: {key}.{name} must be text, not {_preview(value)}.")
    return str(value)


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
