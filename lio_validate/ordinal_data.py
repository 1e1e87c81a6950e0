"""Ordinal items in a data frame: their categories and 0-based codes.

The categories of a numeric item are its distinct values in increasing order,
as lavaan 0.6 takes them. An ordered pandas Categorical keeps its declared
categories in their declared order. An unordered Categorical, or a text
column, is ordered by value when all its values are numbers or numeric
strings, and is rejected otherwise, because its category order is not the
order of the answer scale. The codes feed the thresholds and polychoric
correlations of :mod:`lio_validate.polychoric`.
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
    case. The categories of an ordered pandas Categorical are its declared
    categories in their declared order, and every one of them must be used.
    An unordered Categorical whose categories are numbers or numeric strings,
    and a text column of numeric strings, are coded like a numeric item by
    their values. Text categories without a declared order are rejected:
    ``pd.read_spss`` turns value labels into unordered categories sorted
    alphabetically ("Agree" < "Disagree" < "Neutral"), and coding them in that
    order would reverse or scramble the answer scale.

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
        If an item contains text other than numbers and is not an ordered
        pandas Categorical, has no observed value, has a single category, has
        more than ``max_categories`` categories, or is an ordered Categorical
        with an unused category.

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation
    modeling. Journal of Statistical Software, 48(2), 1-36.
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
    if isinstance(column.dtype, pd.CategoricalDtype):
        if column.cat.ordered:
            return _encode_declared_order(column, item)
        # The category order of an unordered Categorical is not a ranking
        # (pd.read_spss sorts value labels alphabetically), so only numeric
        # categories can be ordered, by their values.
        numbers = category_numbers(column.cat.categories)
        if numbers is None:
            raise DataError(_unordered_text_message(
                f"ordinal item {item!r}", column.cat.categories))
        codes = column.cat.codes.to_numpy()
        values = np.where(codes >= 0, numbers[codes], np.nan)
        return _encode_numbers(values, item)

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return _encode_numbers(column.to_numpy(dtype=float), item)

    # A text or mixed column (object or str dtype) is coded by value when every
    # entry is a number or numeric text such as "2". Other text is rejected.
    converted = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    text = column[~np.isfinite(converted) & column.notna().to_numpy()]
    if len(text) == 0:
        return _encode_numbers(converted, item)
    raise DataError(
        f"ordinal item {item!r} contains text values such as "
        f"{_quote_values(pd.unique(text.astype(str)), 3)}, whose order is unknown. "
        "Convert the column to an ordered pandas Categorical with "
        "pd.Categorical(values, categories=[...], ordered=True), categories from "
        "lowest to highest, or recode the responses as numbers"
    )


def _encode_declared_order(column: pd.Series, item: str):
    declared = tuple(column.cat.categories)
    codes = column.cat.codes.to_numpy().astype(float)
    codes[codes < 0] = np.nan
    used = np.unique(codes[~np.isnan(codes)]).astype(int)
    if len(used) == 0:
        return codes, (), []
    unused = [declared[c] for c in range(len(declared)) if c not in set(used)]
    if unused:
        raise DataError(
            f"ordinal item {item!r} has no responses in categor"
            f"{'y' if len(unused) == 1 else 'ies'} "
            f"{', '.join(map(repr, unused))}, and the thresholds of an empty "
            "category cannot be estimated. Merge it with a neighbouring category, "
            "or drop it with Series.cat.remove_unused_categories()"
        )
    return codes, declared, []


def _encode_numbers(values: np.ndarray, item: str):
    """Code numeric responses by rank among the observed values, as lavaan does."""
    messages: list[Message] = []
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


def category_numbers(categories: Sequence[object]) -> np.ndarray | None:
    """Return the categories of a Categorical as floats, or None if one is text.

    Numbers and numeric strings such as ``"1"``, ``" 2"`` and ``"2.5"`` are
    converted. Any other category, or one that converts to NaN or infinity,
    makes the result None.
    """
    numbers = pd.to_numeric(pd.Series(list(categories), dtype=object),
                            errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(numbers).all():
        return None
    return numbers


def _unordered_text_message(subject: str, categories: Sequence[object]) -> str:
    """Explain why an unordered Categorical with text categories is rejected.

    ``subject`` names the column, for example ``"ordinal item 'q1'"``.
    """
    return (
        f"{subject} is an unordered pandas Categorical with the categories "
        f"{_quote_values(categories, 12)}, so the order of its answers is unknown. "
        "The order of unordered categories is not a ranking, and pd.read_spss, for "
        "example, sorts value labels alphabetically. Declare the order with "
        "pd.Categorical(values, categories=[...], ordered=True), categories from "
        "lowest to highest, or read .sav and .dta files with lio_validate.read_data, which keeps the "
        "numeric codes and their value labels"
    )


def _quote_values(values: Sequence[object], limit: int) -> str:
    values = list(values)
    text = ", ".join(repr(_plain(value)) for value in values[:limit])
    if len(values) > limit:
        text += f", ... ({len(values)} in all)"
    return text


def _plain(value: object) -> object:
    # numpy scalars print as np.float64(2.0); their Python value prints as 2.0.
    return value.item() if isinstance(value, np.generic) else value


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
