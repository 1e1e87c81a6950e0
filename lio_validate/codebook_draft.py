"""Draft a starting codebook from a survey file, for the researcher to edit.

:func:`draft_codebook` reads a data file and proposes a codebook:

* value-label sets that several columns share become answer scales, with
  the missing codes that the file declares;
* codes whose label reads like a non-answer ("don't know", "refused") but
  that the file does not declare missing are added to the missing codes,
  with a comment, because otherwise they would count as answers;
* text columns whose answers all match the labels of an answer scale point
  to it; other short text columns get a ``text`` table whose codes the
  researcher fills in (the codebook does not load until they are filled);
* columns named with a common stem and a number (``aut1``, ``aut2``) that
  share an answer scale become a scale. An item that correlates negatively
  with the sum of the scale's other items is proposed as reverse-keyed;
* a column named like a weight or an organisation id becomes the weight or
  the cluster column, and candidates for the group column are listed in a
  comment.

Every proposal is marked with a comment to check. The result is YAML text
(:func:`lio_validate.codebook_yaml.dump_codebook`) that
:func:`lio_validate.codebook_load.load_codebook` reads.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lio_validate.codebook_load import parse_codebook
from lio_validate.codebook_recode import recode_columns
from lio_validate.codebook_spec import (
    format_code,
    looks_like_missing_label,
    normalize_text,
)
from lio_validate.codebook_yaml import dump_codebook
from lio_validate.exceptions import DataError, LioWarning
from lio_validate.io import SurveyData, read_data
from lio_validate.validation import SurveyRoles

__all__ = ["draft_codebook"]

# A text column with more distinct answers than this is free text.
_MAX_TEXT_ANSWERS = 20
# Items need at most this many valid codes to be proposed as ordinal.
_MAX_ORDINAL_CODES = 7
# Reverse keying is judged on at most this many complete rows.
_MAX_ROWS_FOR_CORRELATION = 200_000

_ITEM_NAME = re.compile(r"(?P<stem>[A-Za-z][A-Za-z_.]*?)[_.]?(?P<number>\d+)[a-z]?")
_WEIGHT_NAME = re.compile(
    r"(^|_)(weight|wgt|wt|weging|gewicht|weegfactor)(_|\d|$)", re.I
)
_CLUSTER_NAME = re.compile(
    r"(^|_)(org|organisation|organization|company|firm|bedrijf|cluster|school|team)"
    r"(_?(id|nr|code|number))?$",
    re.I,
)
_GROUP_HINT = re.compile(
    r"educ|opleid|sector|branche|industry|size|grootte|gender|geslacht|sex|age", re.I
)


@dataclass
class _AnswerScaleDraft:
    name: str
    values: dict[Any, str]
    missing: list[Any]
    added_missing: dict[Any, list[str]]
    columns: list[str]


def draft_codebook(path: str | os.PathLike[str]) -> str:
    """Propose a codebook for a data file and return it as YAML text.

    Parameters
    ----------
    path : str or os.PathLike
        The data file. It is read, never modified.

    Returns
    -------
    str
        A codebook in the layout of :mod:`lio_validate.codebook_load`, with
        comments on what to check. Columns with short text answers that
        match no labels get ``text`` entries without codes, which the
        researcher must fill in before the codebook loads.

    Raises
    ------
    DataError
        If the file cannot be read.
    """
    survey = read_data(path)
    frame = survey.frame
    comments: dict[tuple[str, ...], list[str]] = {}

    answer_scales, scale_of_column = _draft_answer_scales(survey)
    text_links, text_tables = _draft_text_columns(frame, answer_scales, comments)
    by_name = {scale.name: scale for scale in answer_scales}
    for name, answers in text_links.items():
        by_name[answers].columns.append(name)
        scale_of_column[name] = answers

    scales = _draft_scales(survey.columns, scale_of_column)
    in_scales = {item for scale in scales.values() for item in scale["items"]}
    # An answer scale of a single column that is in no scale is written into
    # that column's entry instead.
    shared = [
        scale
        for scale in answer_scales
        if len(scale.columns) > 1 or any(name in in_scales for name in scale.columns)
    ]

    weight = _first_match(frame, _WEIGHT_NAME, numeric=True)
    cluster = _first_match(frame, _CLUSTER_NAME, numeric=False)
    group_candidates = [
        name
        for name in survey.columns
        if name not in in_scales
        and name not in (weight, cluster)
        and _GROUP_HINT.search(name)
        and 2 <= frame[name].nunique() <= 12
    ]

    document: dict[str, Any] = {"codebook_version": 1, "data": survey.path.name}
    if weight:
        document["weight"] = weight
        comments[("weight",)] = ["Proposed from the column name: check it."]
    if cluster:
        document["cluster"] = cluster
        comments[("cluster",)] = ["Proposed from the column name: check it."]
    document["ordered"] = _ordered_items(scales, answer_scales, scale_of_column)
    if group_candidates:
        comments[("ordered",)] = [
            "To compare groups, add a line 'group: COLUMN'. Candidates: "
            + ", ".join(group_candidates[:6])
            + ".",
        ]
    document["checks"] = {"min_group_size": 100, "max_item_correlation": 0.95}
    comments[("checks",)] = [
        "Groups with fewer complete rows, and item pairs correlating at least this",
        "much, get a warning.",
    ]

    document["answer_scales"] = {
        scale.name: _answer_scale_entry(scale, comments) for scale in shared
    }
    document["scales"] = scales
    document["variables"] = _variables_section(
        survey,
        scale_of_column,
        {scale.name for scale in shared},
        by_name,
        text_tables,
        scales,
    )
    _propose_reverse_keyed(survey, document, set(text_tables), comments)

    header = [
        f"Codebook for {survey.path.name}, drafted by `python -m lio_validate "
        "codebook`.",
        "Check every entry before you use it: the scales, reverse-keyed items and",
        "missing codes below are proposals made from the names, labels and answers",
        "in the file. Layout: see lio_validate/codebook_load.py.",
    ]
    text = dump_codebook(document, header=header, comments=comments)
    _check_round_trip(text, survey.path)
    return text


# --------------------------------------------------------------------------
# Answer scales and text columns
# --------------------------------------------------------------------------


def _draft_answer_scales(
    survey: SurveyData,
) -> tuple[list[_AnswerScaleDraft], dict[str, str]]:
    """Group the columns by identical value labels and missing codes."""
    by_signature: dict[tuple, _AnswerScaleDraft] = {}
    for name in survey.columns:
        labels = survey.value_labels.get(name)
        if not labels or not pd.api.types.is_numeric_dtype(survey.frame[name]):
            continue
        declared = [
            _missing_entry(low, high)
            for low, high in survey.missing_codes.get(name, ())
        ]
        added = [
            code
            for code, label in labels.items()
            if looks_like_missing_label(label) and not _declared(code, declared)
        ]
        missing = sorted(declared + added, key=_missing_order)
        signature = (tuple(sorted(labels.items(), key=_code_order)), repr(missing))
        if signature not in by_signature:
            by_signature[signature] = _AnswerScaleDraft(
                name="",
                values=dict(sorted(labels.items(), key=_code_order)),
                missing=missing,
                added_missing={},
                columns=[],
            )
        scale = by_signature[signature]
        scale.columns.append(name)
        for code in added:
            scale.added_missing.setdefault(code, []).append(name)

    scales = list(by_signature.values())
    used_names: set[str] = set()
    for scale in scales:
        scale.name = _answer_scale_name(scale, used_names)
        used_names.add(scale.name)
    scale_of_column = {name: scale.name for scale in scales for name in scale.columns}
    return scales, scale_of_column


def _answer_scale_name(scale: _AnswerScaleDraft, used_names: set[str]) -> str:
    valid = [code for code in scale.values if not _declared(code, scale.missing)]
    first = scale.values[valid[0]] if valid else "codes"
    words = re.findall(r"[a-z]+", normalize_text(first))[:2] or ["codes"]
    base = f"{'_'.join(words)}_{len(valid)}"
    name, suffix = base, 2
    while name in used_names:
        name, suffix = f"{base}_{suffix}", suffix + 1
    return name


def _answer_scale_entry(
    scale: _AnswerScaleDraft, comments: dict[tuple[str, ...], list[str]]
) -> dict[str, Any]:
    key = ("answer_scales", scale.name)
    shown = ", ".join(scale.columns[:8]) + (" ..." if len(scale.columns) > 8 else "")
    comments[key] = [f"Used by {len(scale.columns)} column(s): {shown}"]
    if scale.added_missing:
        codes = ", ".join(format_code(code) for code in scale.added_missing)
        columns = list(
            dict.fromkeys(
                name for names in scale.added_missing.values() for name in names
            )
        )
        shown = ", ".join(columns[:8]) + (" ..." if len(columns) > 8 else "")
        comments[(*key, "missing")] = [
            f"Codes {codes} are labelled like non-answers but the file does not "
            f"declare them missing in {shown}, so they were added here.",
        ]
    entry: dict[str, Any] = {"values": scale.values}
    if scale.missing:
        entry["missing"] = scale.missing
    return entry


def _draft_text_columns(
    frame: pd.DataFrame,
    answer_scales: list[_AnswerScaleDraft],
    comments: dict[tuple[str, ...], list[str]],
) -> tuple[dict[str, str], dict[str, dict[str, None]]]:
    """Link short text columns to an answer scale, or draft a text table."""
    links: dict[str, str] = {}
    tables: dict[str, dict[str, None]] = {}
    label_sets = [
        (scale.name, {normalize_text(label) for label in scale.values.values()})
        for scale in answer_scales
    ]
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(
            column
        ) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        answers = [
            value for value in pd.unique(column.dropna().astype(str)) if value.strip()
        ]
        if not answers or len(answers) > _MAX_TEXT_ANSWERS:
            continue
        folded = {normalize_text(answer) for answer in answers}
        match = next((scale for scale, labels in label_sets if folded <= labels), None)
        if match:
            links[str(name)] = match
            continue
        if all(re.fullmatch(r"[+-]?\d+(\.\d+)?", answer) for answer in folded):
            continue
        tables[str(name)] = {answer: None for answer in sorted(answers)}
        comments[("variables", str(name), "text")] = [
            "Text answers found in the file: give each its numeric code (or list it",
            "under missing). The codebook does not load while a code is empty.",
        ]
    return links, tables


# --------------------------------------------------------------------------
# Scales
# --------------------------------------------------------------------------


def _draft_scales(
    columns: list[str], scale_of_column: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Group columns with a common stem, a number and one answer scale."""
    stems: dict[tuple[str, str], list[str]] = {}
    for name in columns:
        match = _ITEM_NAME.fullmatch(name)
        if not match or name not in scale_of_column:
            continue
        stem = match["stem"].rstrip("_.")
        stems.setdefault((stem, scale_of_column[name]), []).append(name)

    names_used = [stem for stem, _ in stems]
    scales: dict[str, dict[str, Any]] = {}
    for (stem, answers), items in stems.items():
        if len(items) < 2:
            continue
        name = stem if names_used.count(stem) == 1 else f"{stem}_{answers}"
        scales[name] = {"items": items, "answers": answers}
    return scales


def _ordered_items(
    scales: Mapping[str, Mapping[str, Any]],
    answer_scales: list[_AnswerScaleDraft],
    scale_of_column: Mapping[str, str],
) -> Any:
    n_codes = {
        scale.name: sum(not _declared(code, scale.missing) for code in scale.values)
        for scale in answer_scales
    }
    items = [item for scale in scales.values() for item in scale["items"]]
    ordinal = [
        item
        for item in items
        if n_codes.get(scale_of_column.get(item, ""), 99) <= _MAX_ORDINAL_CODES
    ]
    if ordinal and ordinal == items:
        return "all"
    return ordinal


def _propose_reverse_keyed(
    survey: SurveyData,
    document: dict[str, Any],
    text_columns: set[str],
    comments: dict[tuple[str, ...], list[str]],
) -> None:
    """Mark items that correlate negatively with the rest of their scale.

    The data are recoded with the draft itself, so missing codes and text
    answers do not distort the correlations. Columns whose text codes are
    still to be filled in are left out.
    """
    scales = document["scales"]
    trial = {
        key: value
        for key, value in document.items()
        if key not in ("variables", "scales")
    }
    trial["scales"] = {
        name: {**scale, "items": [i for i in scale["items"] if i not in text_columns]}
        for name, scale in scales.items()
    }
    trial["scales"] = {
        name: scale
        for name, scale in trial["scales"].items()
        if len(scale["items"]) >= 3
    }
    trial["variables"] = {
        name: entry
        for name, entry in document["variables"].items()
        if name not in text_columns
    }
    if not trial["scales"]:
        return
    try:
        book = parse_codebook(trial)
        roles = SurveyRoles(items=book.items)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LioWarning)
            frame, *_ = recode_columns(survey, book, roles, str(survey.path))
    except DataError as error:
        comments[("scales",)] = [
            "Reverse-keyed items were not proposed, because the data could not be",
            f"recoded with this draft: {error}",
        ]
        return

    for name, scale in trial["scales"].items():
        block = frame[scale["items"]].dropna().iloc[:_MAX_ROWS_FOR_CORRELATION]
        if len(block) < 10:
            continue
        reverse = _negatively_keyed(block)
        if reverse:
            scales[name]["reverse"] = [item for item, _ in reverse]
            details = ", ".join(f"{item} r = {r:.2f}" for item, r in reverse)
            comments[("scales", name, "reverse")] = [
                f"Correlated negatively with the rest of the scale ({details}), "
                "so check that they are reverse-keyed.",
            ]


def _negatively_keyed(block: pd.DataFrame) -> list[tuple[str, float]]:
    """Find the items to reverse so that every item-rest correlation is positive.

    The item with the most negative correlation with the sum of the other
    (already re-keyed) items is flipped, and the search repeats, because one
    reverse-keyed item in a short scale can push the others' item-rest
    correlations below zero too.
    """
    values = block.to_numpy(dtype=float)
    values = (values - values.mean(axis=0)) / np.where(
        values.std(axis=0) > 0, values.std(axis=0), 1.0
    )
    signs = np.ones(values.shape[1])
    flipped: dict[str, float] = {}
    for _ in range(values.shape[1]):
        keyed = values * signs
        total = keyed.sum(axis=1)
        correlations = np.array(
            [
                np.corrcoef(keyed[:, j], total - keyed[:, j])[0, 1]
                for j in range(values.shape[1])
            ]
        )
        worst = (
            int(np.nanargmin(correlations)) if np.isfinite(correlations).any() else 0
        )
        if not correlations[worst] < 0:
            break
        name = str(block.columns[worst])
        if name in flipped:
            break
        # The correlation reported is the one before the flip.
        flipped[name] = float(correlations[worst])
        signs[worst] = -signs[worst]
    return [(name, r) for name, r in flipped.items()]


# --------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------


def _variables_section(
    survey: SurveyData,
    scale_of_column: Mapping[str, str],
    shared: set[str],
    by_name: Mapping[str, _AnswerScaleDraft],
    text_tables: Mapping[str, dict[str, None]],
    scales: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Build one entry per column: label, answer scale or own values, text table."""
    answers_of_item = {
        item: scale["answers"] for scale in scales.values() for item in scale["items"]
    }
    variables: dict[str, dict[str, Any]] = {}
    for name in survey.columns:
        entry: dict[str, Any] = {}
        label = survey.variable_labels.get(name)
        if label:
            entry["label"] = label
        answers = scale_of_column.get(name)
        if answers in shared and answers_of_item.get(name) != answers:
            entry["answers"] = answers
        elif answers and answers not in shared:
            scale = by_name[answers]
            entry["values"] = scale.values
            if scale.missing:
                entry["missing"] = scale.missing
        if name in text_tables:
            entry["text"] = text_tables[name]
        variables[name] = entry
    return variables


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _first_match(
    frame: pd.DataFrame, pattern: re.Pattern, *, numeric: bool
) -> str | None:
    for name in frame.columns:
        if not pattern.search(str(name)):
            continue
        if numeric and not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        return str(name)
    return None


def _missing_entry(low: Any, high: Any) -> Any:
    if low == high:
        return low
    return {"from": low, "to": high}


def _declared(code: Any, missing: list[Any]) -> bool:
    for entry in missing:
        if isinstance(entry, dict):
            if not isinstance(code, str) and entry["from"] <= code <= entry["to"]:
                return True
        elif entry == code:
            return True
    return False


def _missing_order(entry: Any) -> tuple[int, Any]:
    if isinstance(entry, dict):
        return (1, entry["from"])
    return (2, str(entry)) if isinstance(entry, str) else (0, entry)


def _code_order(item: tuple[Any, str]) -> tuple[int, Any]:
    code = item[0]
    return (1, str(code)) if isinstance(code, str) else (0, code)


def _check_round_trip(text: str, path: Path) -> None:
    """Make sure the draft parses, apart from the text codes left to fill in."""
    import yaml

    document = yaml.safe_load(text)
    for entry in (document.get("variables") or {}).values():
        if entry and "text" in entry:
            entry["text"] = {answer: 0 for answer in entry["text"]}
    parse_codebook(document, source=f"the draft codebook of {path}")
