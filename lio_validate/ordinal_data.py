"""Ordinal items in a data frame: their categories and 0-based codes.

An ordinal item is numeric, and then its categories are its distinct values
in increasing order as lavaan 0.6 takes them, or a pandas Categorical, and
then its categories are the declared ones in their declared order. The codes
feed the thresholds and polychoric correlations of
:mod:`lio_validate.polychoric`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from lio_validate.exceptions import DataError, DataWarning

__all__ = ["MAX_CATEGORIES", "Message", "OrdinalLevels", "encode_ordinal_items"]

# Default maximum number of categories of an ordinal item. Mplus accepts at
# most 10 categories for a categorical variable, and lavaan 0.6 warns above 12.
# An item with more categories is better treated as continuous.
MAX_CATEGORIES = 10

# A warning to be issued by the caller: (category, message).
Message = tuple[type[Warning], str]


@dataclass(frozen=True)
class OrdinalLevels:
    """The ordered categories of each ordinal item, as found in the data."""

    items: tuple[str, ...]
    categories: tuple[tuple[object, ...], ...]

    @property
    def n_categories(self) -> np.ndarray:
        return np.array([len(c) for c in self.categories], dtype=int)

    def threshold_names(self) -> list[str]:
        """Names ``item|t1``, ``item|t2``, ... in lavaan's order."""
        names = []
        for item, categories in zip(self.items, self.categories):
            names.extend(f"{item}|t{t + 1}" for t in range(len(categories) - 1))
        return names


def encode_ordinal_items(
    frame: pd.DataFrame,
    items: Sequence[str],
    *,
    max_categories: int = MAX_CATEGORIES,
) -> tuple[pd.DataFrame, OrdinalLevels, list[Message]]:
    """Replace each ordinal item by its 0-based category code.

    The categories of a numeric item are its distinct values in increasing
    order, as lavaan takes them (``sort(unique(x))``). So codes 1, 2, 4, 5
    with no 3 give four categories, and a DataWarning is returned for that
    case. The categories of a pandas Categorical item are its declared
    categories in their declared order, and every one of them must be used.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data. Columns other than ``items`` are copied unchanged.
    items : sequence of str
        The ordinal items.
    max_categories : int, default 10
        Maximum number of categories of an item.

    Returns
    -------
    (pandas.DataFrame, OrdinalLevels, list of (warning class, str))
        The frame with the items as float codes 0, 1, ... (missing values
        stay NaN), the categories of each item, and warnings for the caller
        to issue.

    Raises
    ------
    DataError
        If an item is text that is not a pandas Categorical, has no observed
        value, has a single category, has more than ``max_categories``
        categories, or is a Categorical with an unused category.
    """
    coded = frame.copy()
    categories: list[tuple[object, ...]] = []
    messages: list[Message] = []
    for item in items:
        codes, item_categories, item_messages = _encode_item(frame[item], item)
        _check_category_count(item, item_categories, max_categories)
        coded[item] = codes
        categories.append(item_categories)
        messages.extend(item_messages)
    return coded, OrdinalLevels(tuple(items), tuple(categories)), messages


def _encode_item(column: pd.Series, item: str):
    messages: list[Message] = []
    if isinstance(column.dtype, pd.CategoricalDtype):
        declared = tuple(column.cat.categories)
        codes = column.cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        used = np.unique(codes[~np.isnan(codes)]).astype(int)
        if len(used) == 0:
            return codes, (), messages
        unused = [declared[c] for c in range(len(declared)) if c not in set(used)]
        if unused:
            raise DataError(
                f"ordinal item {item!r} has no responses in categor"
                f"{'y' if len(unused) == 1 else 'ies'} "
                f"{', '.join(map(repr, unused))}, and the thresholds of an empty "
                "category cannot be estimated. Merge it with a neighbouring category, "
                "or drop it with Series.cat.remove_unused_categories()"
            )
        return codes, declared, messages

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
        observed = np.unique(values[~np.isnan(values)])
        codes = np.full(values.shape, np.nan)
        present = ~np.isnan(values)
        codes[present] = np.searchsorted(observed, values[present])
        gaps = _unused_integer_codes(observed)
        if gaps:
            messages.append((DataWarning, (
                f"ordinal item {item!r} has no responses with value(s) "
                f"{', '.join(f'{g:g}' for g in gaps)} between its smallest and "
                f"largest value. As in lavaan, its {len(observed)} observed values "
                "are used as its categories. Recode the item if the empty values "
                "are real response options"
            )))
        return codes, tuple(float(v) for v in observed), messages

    raise DataError(
        f"ordinal item {item!r} contains text values, whose order is unknown. "
        "Convert the column to an ordered pandas Categorical "
        "(pd.Categorical(values, categories=[...], ordered=True)) or recode the "
        "responses as numbers"
    )


def _unused_integer_codes(observed: np.ndarray) -> list[float]:
    if len(observed) < 2 or not np.all(observed == np.round(observed)):
        return []
    span = np.arange(observed[0], observed[-1] + 1)
    if len(span) > 100:
        return []
    return [float(v) for v in np.setdiff1d(span, observed)]


def _check_category_count(item: str, categories: tuple, max_categories: int) -> None:
    if len(categories) == 0:
        raise DataError(
            f"ordinal item {item!r} has no observed values. Check its missing value "
            "codes or drop it from the model"
        )
    if len(categories) == 1:
        raise DataError(
            f"ordinal item {item!r} is constant (every response is "
            f"{categories[0]!r}). A constant item carries no information, so drop "
            "it from the model"
        )
    if len(categories) > max_categories:
        raise DataError(
            f"ordinal item {item!r} has {len(categories)} categories, more than "
            f"max_categories={max_categories}, and with that many categories the "
            "thresholds are poorly determined. Treat the item as continuous (leave "
            "it out of ordered=) or raise max_categories"
        )
