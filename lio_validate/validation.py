"""Checks of model-ready survey data: items, weights, groups and clusters.

:func:`validate_survey` runs after the codebook has been applied. Problems
that make an analysis impossible raise :class:`DataError`: an item without
variance or without any valid value, and weights that are missing, negative,
not finite or sum to zero. Problems that an analysis survives but that
deserve a look are returned as warning messages: an item that is constant
within a group, nearly collinear items, rows without a valid answer on any
item, groups smaller than a usable size, and rows without a group or
cluster id. Every message names the data file, the column (and group) and
what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.data_prep import group_names
from lio_validate.exceptions import DataError

__all__ = ["SurveyRoles", "validate_survey"]

# Rows per block when cross-products are accumulated, so that a million rows
# never need a second copy of the item matrix.
_BLOCK_ROWS = 131_072
_MAX_LISTED = 5


@dataclass(frozen=True)
class SurveyRoles:
    """The columns that an analysis gives a role, and the check thresholds."""

    items: tuple[str, ...]
    group: str | None = None
    weight: str | None = None
    cluster: str | None = None
    min_group_size: int = 100
    max_item_correlation: float = 0.95


def validate_survey(
    frame: pd.DataFrame, roles: SurveyRoles, *, source: str
) -> list[str]:
    """Validate model-ready data and return the warning messages.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data after missing codes, text answers and reverse keying have
        been applied. Items must be float64 columns.
    roles : SurveyRoles
        Items, group, weight and cluster columns, and the thresholds.
    source : str
        The data file, named in every message.

    Returns
    -------
    list of str
        Messages for the caller to issue as :class:`DataWarning`.

    Raises
    ------
    DataError
        If an item has no valid value or no variance, no row has a valid
        answer, or the weights are missing, not finite, negative or sum to
        zero.
    """
    items = list(roles.items)
    messages: list[str] = []
    group_codes, group_names = _group_codes(frame, roles.group)

    if items:
        values = [frame[name].to_numpy(dtype=np.float64, copy=False) for name in items]
        _check_item_variance(items, values, source)
        messages += _constant_within_groups(
            items, values, group_codes, group_names, roles.group, source
        )
        messages += _rows_without_answers(items, values, source)
        complete = _complete_rows(values)
        messages += _collinear_items(
            items, values, complete, roles.max_item_correlation, source
        )
    else:
        complete = np.ones(len(frame), dtype=bool)

    if roles.weight is not None:
        messages += _check_weights(frame[roles.weight], roles.weight, source)
    if roles.group is not None:
        messages += _check_groups(group_codes, group_names, complete, roles, source)
    if roles.cluster is not None:
        messages += _check_clusters(frame[roles.cluster], roles.cluster, source)
    return messages


# --------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------


def _check_item_variance(
    items: list[str], values: list[np.ndarray], source: str
) -> None:
    """Raise DataError for an item that has no valid value or a single value."""
    for name, column in zip(items, values):
        low, high = _nan_range(column)
        if np.isnan(low):
            raise DataError(
                f"{source}: item {name!r} has no valid value in any of its "
                f"{len(column)} rows. Check that its missing codes do not cover "
                "the answers, or remove it from the codebook and the model."
            )
        if low == high:
            n_valid = int(np.count_nonzero(~np.isnan(column)))
            raise DataError(
                f"{source}: item {name!r} has the same value ({_number(low)}) in all "
                f"{n_valid} rows with an answer, so it has no variance and cannot "
                "enter a model. Remove it from the scale and the model, or check "
                "its codes."
            )


def _constant_within_groups(
    items: list[str],
    values: list[np.ndarray],
    group_codes: np.ndarray | None,
    group_names: list[str],
    group: str | None,
    source: str,
) -> list[str]:
    if group_codes is None:
        return []
    messages = []
    for index, group_name in enumerate(group_names):
        rows = group_codes == index
        constant = []
        for name, column in zip(items, values):
            low, high = _nan_range(column[rows])
            if np.isnan(low) or low == high:
                constant.append(name)
        if constant:
            shown = _listing(constant)
            messages.append(
                f"{source}: in group {group!r} = {group_name!r}, the item"
                f"{'s' if len(constant) > 1 else ''} {shown} "
                f"{'have' if len(constant) > 1 else 'has'} one value or none, so "
                "a multi-group model cannot be estimated in that group. Merge the "
                "group with a neighbouring one or leave the items out there."
            )
    return messages


def _rows_without_answers(
    items: list[str], values: list[np.ndarray], source: str
) -> list[str]:
    answered = np.zeros(len(values[0]), dtype=bool)
    for column in values:
        answered |= ~np.isnan(column)
    n_empty = int(np.count_nonzero(~answered))
    if n_empty == 0:
        return []
    if n_empty == len(answered):
        raise DataError(
            f"{source}: no row has a valid answer on any of the {len(items)} "
            "items. Check the missing codes in the codebook and the file."
        )
    rows = np.flatnonzero(~answered)[:_MAX_LISTED] + 1
    return [
        f"{source}: {n_empty} of {len(answered)} rows have no valid answer on any "
        f"of the {len(items)} items (rows {', '.join(map(str, rows))}"
        f"{', ...' if n_empty > _MAX_LISTED else ''}, counted from 1). Listwise "
        "deletion drops them. Check whether these respondents skipped this part "
        "of the questionnaire or whether their codes are declared missing by "
        "mistake."
    ]


def _complete_rows(values: list[np.ndarray]) -> np.ndarray:
    complete = np.ones(len(values[0]), dtype=bool)
    for column in values:
        complete &= ~np.isnan(column)
    return complete


def _collinear_items(
    items: list[str],
    values: list[np.ndarray],
    complete: np.ndarray,
    threshold: float,
    source: str,
) -> list[str]:
    """Warn about item pairs correlating at least ``threshold`` in absolute value."""
    if len(items) < 2:
        return []
    correlation, n_complete = _item_correlation(values, complete)
    if n_complete < 3:
        return []

    upper = np.triu(np.abs(correlation) >= threshold, k=1)
    pairs = [
        (items[i], items[j], correlation[i, j]) for i, j in zip(*np.nonzero(upper))
    ]
    if not pairs:
        return []
    pairs.sort(key=lambda pair: -abs(pair[2]))
    shown = "; ".join(
        f"{a!r} and {b!r} (r = {r:.3f})" for a, b, r in pairs[:_MAX_LISTED]
    )
    more = (
        f" and {len(pairs) - _MAX_LISTED} more pairs"
        if len(pairs) > _MAX_LISTED
        else ""
    )
    return [
        f"{source}: nearly collinear items, with |r| >= {threshold:g} on the "
        f"{n_complete} complete rows: {shown}{more}. Such items add no information "
        "and can make the covariance matrix singular. Check that no question is "
        "stored twice, and keep one item of each pair."
    ]


def _item_correlation(
    values: list[np.ndarray], complete: np.ndarray
) -> tuple[np.ndarray, int]:
    """Return the items' correlation matrix on the complete rows, in row blocks."""
    k = len(values)
    n_complete = int(np.count_nonzero(complete))
    if n_complete < 3:
        return np.full((k, k), np.nan), n_complete

    # Centring at the first complete row keeps the sums of squares accurate.
    origin = np.array([column[complete][0] for column in values])
    sums = np.zeros(k)
    products = np.zeros((k, k))
    for start in range(0, len(complete), _BLOCK_ROWS):
        rows = complete[start : start + _BLOCK_ROWS]
        block = (
            np.column_stack(
                [column[start : start + _BLOCK_ROWS][rows] for column in values]
            )
            - origin
        )
        sums += block.sum(axis=0)
        products += block.T @ block

    mean = sums / n_complete
    covariance = products / n_complete - np.outer(mean, mean)
    scale = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = covariance / np.outer(scale, scale)
    return correlation, n_complete


# --------------------------------------------------------------------------
# Weights, groups and clusters
# --------------------------------------------------------------------------


def _check_weights(column: pd.Series, name: str, source: str) -> list[str]:
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise DataError(
            f"{source}: the weight column {name!r} is not numeric (dtype "
            f"{column.dtype}). Give the column that contains the survey weights as "
            "numbers."
        )
    weights = column.to_numpy(dtype=np.float64)
    missing = np.isnan(weights)
    if missing.any():
        raise DataError(
            f"{source}: the weight column {name!r} is missing in "
            f"{int(missing.sum())} rows ({_row_list(missing)}). Every row needs a "
            "weight, so fill them in or drop those rows before the analysis."
        )
    if not np.isfinite(weights).all():
        raise DataError(
            f"{source}: the weight column {name!r} contains infinite values "
            f"({_row_list(~np.isfinite(weights))}). Replace them with valid weights."
        )
    negative = weights < 0
    if negative.any():
        raise DataError(
            f"{source}: the weight column {name!r} has {int(negative.sum())} "
            f"negative weights ({_row_list(negative)}, smallest "
            f"{_number(weights.min())}). Survey weights must be 0 or more, so check "
            "that this is the weight variable."
        )
    if weights.sum() <= 0:
        raise DataError(
            f"{source}: the weights in column {name!r} sum to zero, so every row "
            "would count for nothing. Check that this is the weight variable."
        )
    zero = weights == 0
    if zero.any():
        return [
            f"{source}: {int(zero.sum())} rows have weight 0 in column {name!r} "
            f"({_row_list(zero)}), so weighted analyses ignore them."
        ]
    return []


def _group_codes(
    frame: pd.DataFrame, group: str | None
) -> tuple[np.ndarray | None, list[str]]:
    """Return integer codes per row (-1 for missing) and the group names."""
    if group is None:
        return None, []
    codes, uniques = pd.factorize(frame[group], sort=True)
    return codes, group_names(list(uniques), group)


def _check_groups(
    codes: np.ndarray,
    names: list[str],
    complete: np.ndarray,
    roles: SurveyRoles,
    source: str,
) -> list[str]:
    messages = []
    group = roles.group
    n_missing = int(np.count_nonzero(codes < 0))
    if n_missing:
        messages.append(
            f"{source}: {n_missing} rows have no value in the group column "
            f"{group!r} ({_row_list(codes < 0)}). A multi-group analysis drops "
            "them, so declare their codes or fill them in."
        )
    if not names:
        raise DataError(
            f"{source}: the group column {group!r} has no valid value. Check its "
            "missing codes or choose another group column."
        )

    complete_counts = np.bincount(codes[(codes >= 0) & complete], minlength=len(names))
    n_items = len(roles.items)
    for name, count in zip(names, complete_counts):
        if n_items and count <= n_items:
            messages.append(
                f"{source}: group {group!r} = {name!r} has {count} complete rows, "
                f"not more than its {n_items} items, so its covariance matrix is "
                "singular and a multi-group model cannot be estimated. Merge it with "
                "another group or leave it out."
            )
        elif count < roles.min_group_size:
            messages.append(
                f"{source}: group {group!r} = {name!r} has only {count} complete "
                f"rows, fewer than the usable size of {roles.min_group_size} "
                "(checks.min_group_size in the codebook). Its estimates will be "
                "imprecise, so consider merging it with a neighbouring group."
            )
    return messages


def _check_clusters(column: pd.Series, name: str, source: str) -> list[str]:
    missing = column.isna().to_numpy()
    messages = []
    if missing.any():
        messages.append(
            f"{source}: {int(missing.sum())} rows have no cluster id in column "
            f"{name!r} ({_row_list(missing)}). Two-level analyses drop them, so fill "
            "them in."
        )
    n_clusters = column.nunique(dropna=True)
    if n_clusters < 2:
        messages.append(
            f"{source}: the cluster column {name!r} has {n_clusters} distinct "
            "value(s), so there is no clustering to model. Check that this is the "
            "organisation id column."
        )
    return messages


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def _nan_range(column: np.ndarray) -> tuple[float, float]:
    if column.size == 0 or np.isnan(column).all():
        return float("nan"), float("nan")
    return float(np.nanmin(column)), float(np.nanmax(column))


def _row_list(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(row + 1) for row in rows[:_MAX_LISTED])
    more = ", ..." if len(rows) > _MAX_LISTED else ""
    return f"rows {shown}{more}, counted from 1"


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f" and {len(names) - _MAX_LISTED} more"
    return shown


def _number(value: float) -> str:
    return f"{value:g}"
