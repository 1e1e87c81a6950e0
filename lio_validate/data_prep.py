"""Check a data frame against a model and split it into complete groups.

Every problem is reported with the model line or column it concerns and what
to do about it, before any estimation starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.exceptions import DataError, ModelSpecificationError
from lio_validate.ordinal_data import category_numbers
from lio_validate.syntax import ParsedModel

__all__ = [
    "PreparedData",
    "group_label",
    "group_names",
    "model_variables",
    "prepare_data",
]


@dataclass(frozen=True)
class PreparedData:
    """Complete cases of the model's observed variables, split by group."""

    frames: tuple[tuple[str, pd.DataFrame], ...]
    nobs_total: int
    nobs_dropped: int
    nobs_group_missing: int
    weights: tuple[np.ndarray, ...] | None = None
    clusters: tuple[np.ndarray, ...] | None = None


def model_variables(parsed: ParsedModel) -> tuple[list[str], dict[str, int]]:
    """Return the latent variables and, for every other name, its first line."""
    latent = list(dict.fromkeys(t.lhs for t in parsed.terms if t.op == "=~"))
    first_line: dict[str, int] = {}
    for term in parsed.terms:
        # The right side of "x1 | t1" names a threshold, not a variable.
        names = (term.lhs,) if term.op == "|" else (term.lhs, term.rhs)
        for name in names:
            if name and name not in latent and name not in first_line:
                first_line[name] = term.line
    return latent, first_line


def _as_frame(data) -> pd.DataFrame:
    frame = getattr(data, "frame", data)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame (or what lio_validate.read_data "
            f"returns), not {type(data).__name__}"
        )
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise DataError(
            f"the data have duplicate column names {duplicated}; rename them so "
            "each column is unique"
        )
    return frame


def _check_columns(parsed: ParsedModel, frame: pd.DataFrame) -> list[str]:
    latent, first_line = model_variables(parsed)
    columns = [str(c) for c in frame.columns]
    lines = parsed.text.splitlines()
    for name, line in first_line.items():
        if name in columns:
            continue
        close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else \
            "; check the spelling or add the column to the data"
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        raise ModelSpecificationError(
            f"line {line} ('{text}'): {name!r} is not a column of the data and not a "
            f"latent variable (no '{name} =~ ...' line){hint}"
        )
    return [name for name in first_line]


def _check_numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    selected = frame[columns]
    if all(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
           for dtype in selected.dtypes):
        # The common case, converted in one step: survey items stored as numbers.
        values = selected.astype(float)
        if np.isinf(values.to_numpy()).any():
            return _check_numeric_by_column(frame, columns)
        return values
    return _check_numeric_by_column(frame, columns)


def _check_numeric_by_column(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = {}
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = _categorical_values(series, column)
        if not pd.api.types.is_numeric_dtype(series):
            converted = pd.to_numeric(series, errors="coerce")
            bad = series[converted.isna() & series.notna()].astype(str).unique()[:3]
            if len(bad):
                raise DataError(
                    f"column {column!r} contains non-numeric values such as "
                    f"{', '.join(map(repr, bad))}; recode them as numbers or declare "
                    "them missing"
                )
            series = converted
        out[column] = series.astype(float)
    values = pd.DataFrame(out, index=frame.index)
    infinite = [c for c in columns if np.isinf(values[c].to_numpy()).any()]
    if infinite:
        raise DataError(
            f"column(s) {', '.join(map(repr, infinite))} contain infinite values; "
            "replace them with valid numbers or missing values"
        )
    return values


def _categorical_values(series: pd.Series, column: str) -> pd.Series:
    """Convert a Categorical with numeric categories to floats.

    Text categories are value labels, not values, and coding them by their
    position would rank them alphabetically in what pd.read_spss returns, so
    they raise a DataError.
    """
    numbers = category_numbers(series.cat.categories)
    if numbers is not None:
        codes = series.cat.codes.to_numpy()
        return pd.Series(np.where(codes >= 0, numbers[codes], np.nan),
                         index=series.index, name=series.name)
    if series.cat.ordered:
        raise DataError(
            f"column {column!r} is an ordered pandas Categorical with text "
            f"categories {list(series.cat.categories)}, which have no numeric "
            "values for a continuous fit. Fit it as an ordinal item with "
            f"ordered=[{column!r}, ...] (--ordered on the command line), or recode "
            "the answers as numbers"
        )
    raise DataError(
        f"column {column!r} is an unordered pandas Categorical with the text "
        f"categories {list(series.cat.categories)}, which have neither numeric "
        "values nor a known order. Read .sav and .dta files with "
        "lio_validate.read_data, which keeps the numeric codes and their value "
        "labels (or pass convert_categoricals=False to pd.read_spss), or recode "
        "the answers as numbers"
    )


def group_label(value: object) -> str:
    """Return the name of the group of one value of a group column.

    A whole-number float is named without its ".0", as R's as.character()
    writes it and so as lavaan 0.6 names groups. pandas stores an integer
    column with missing values as float, and its groups are still "1" and "2".

    Parameters
    ----------
    value : object
        A non-missing value of the group column.

    Returns
    -------
    str
        The group name used in every table and message of a fit.

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation
    modeling. Journal of Statistical Software, 48(2), 1-36.
    """
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def group_names(values: Sequence[object], column: str) -> list[str]:
    """Return the group name of each distinct value of the group column.

    Parameters
    ----------
    values : sequence
        The distinct non-missing values of the column, in group order.
    column : str
        The group column, named in the error.

    Returns
    -------
    list of str
        :func:`group_label` of each value, in the order of ``values``.

    Raises
    ------
    DataError
        If two different values have the same name, such as the text "1"
        and the number 1, because no output could distinguish their groups.
    """
    names = [group_label(value) for value in values]
    values_by_name: dict[str, list[object]] = {}
    for name, value in zip(names, values):
        values_by_name.setdefault(name, []).append(value)
    for name, same in values_by_name.items():
        if len(same) > 1:
            described = " and ".join(
                f"{_plain(value)!r} ({type(_plain(value)).__name__})" for value in same)
            raise DataError(
                f"the group column {column!r} has the values {described}, which "
                f"{'both' if len(same) == 2 else 'all'} name group {name!r}. Recode "
                "the column so that each group has a single value of a single type "
                "(all numbers or all text)"
            )
    return names


def _plain(value: object) -> object:
    # A numpy scalar prints as np.int64(1); its Python value prints as 1.
    return value.item() if isinstance(value, np.generic) else value


def _design_column(frame: pd.DataFrame, name: str, role: str) -> pd.Series:
    if name not in frame.columns:
        close = difflib.get_close_matches(name, [str(c) for c in frame.columns])
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(f"the {role} column {name!r} is not in the data{hint}")
    return frame[name]


def _check_weights(weights: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(weights, errors="coerce")
    if values.isna().any():
        bad = int(values.isna().sum())
        raise DataError(
            f"the weight column {name!r} has {bad} missing or non-numeric value(s); "
            "give every row a weight or drop those rows"
        )
    values = values.to_numpy(dtype=float)
    if (values < 0).any() or not np.isfinite(values).all():
        raise DataError(
            f"the weight column {name!r} has negative or infinite values (smallest "
            f"{values.min():.4g}); sampling weights must be positive"
        )
    if values.sum() <= 0:
        raise DataError(f"the weights in {name!r} sum to zero; check the column")
    return values


def _normalized(weights: np.ndarray) -> np.ndarray:
    """Rescale a group's sampling weights to sum to its number of rows.

    NOTE: lavaan 0.6.14's default normalization ("total") rescales over all
    groups together and then counts each group's N as its sum of weights;
    the per-group rule here keeps every group's N at its number of rows, so
    multi-group weighted fits equal lavaan's with
    ``sampling.weights.normalization = "group"``.
    """
    return weights * len(weights) / weights.sum()


def prepare_data(
    parsed: ParsedModel, data, *, group: str | None = None, listwise: bool = True,
    weights: str | None = None, cluster: str | None = None,
) -> tuple[PreparedData, list[str]]:
    """Validate ``data`` for ``parsed`` and keep the complete cases per group.

    With ``listwise=False`` incomplete rows are kept (for FIML); the
    estimator then drops only rows with every model variable missing.
    Sampling weights are normalized to sum to the number of rows used in
    each group (lavaan's ``sampling.weights.normalization = "group"``, the
    convention of Mplus). With one group this equals lavaan's default
    "total"; with several groups lavaan's default gives other numbers.

    Returns
    -------
    (PreparedData, list of str)
        The data and the messages of rows dropped, to be issued as warnings.
    """
    frame = _as_frame(data)
    observed = _check_columns(parsed, frame)
    values = _check_numeric(frame, observed)
    messages: list[str] = []
    nobs_total = len(frame)

    keep = pd.Series(True, index=frame.index)
    group_missing = 0
    if group is not None:
        labels = _design_column(frame, group, "group")
        group_missing = int(labels.isna().sum())
        keep &= labels.notna()
        if group_missing:
            messages.append(
                f"{group_missing} row(s) with a missing value in the group column "
                f"{group!r} were dropped"
            )
    if cluster is not None:
        cluster_ids = _design_column(frame, cluster, "cluster")
        missing_ids = int(cluster_ids.isna().sum())
        keep &= cluster_ids.notna()
        if missing_ids:
            messages.append(
                f"{missing_ids} row(s) with a missing cluster id in {cluster!r} were "
                "dropped"
            )

    complete = values.notna().all(axis=1) if listwise else \
        pd.Series(True, index=values.index)
    complete &= keep
    dropped = int((keep & ~complete).sum())
    if dropped:
        counts = values[keep].isna().sum()
        worst = counts[counts > 0].sort_values(ascending=False).head(3)
        detail = ", ".join(f"{name}: {int(n)}" for name, n in worst.items())
        # FIML does not take a sampling design in this version, so the advice
        # to use it is given only without weights and clusters.
        advice = ("use missing='fiml' to keep them" if weights is None
                  and cluster is None else "missing='fiml' does not take sampling "
                  "weights or clusters in this version")
        messages.append(
            f"listwise deletion dropped {dropped} of {int(keep.sum())} rows with "
            f"missing values (most missing: {detail}); {advice}"
        )
    if not complete.any():
        raise DataError(
            "no row has complete data on the model's variables; check the missing "
            "value codes, or use missing='fiml'"
        )
    values = values[complete]

    weight_values = None
    if weights is not None:
        weight_values = _check_weights(_design_column(frame, weights, "weight")[complete],
                                       weights)
    cluster_values = None
    if cluster is not None:
        cluster_values = pd.factorize(cluster_ids[complete])[0]

    if group is None:
        masks = [np.ones(len(values), dtype=bool)]
        names = [""]
    else:
        labels = labels[complete]
        # Groups in order of first appearance, as lavaan orders them.
        levels = list(pd.unique(labels))
        names = group_names(levels, group)
        masks = [(labels == level).to_numpy() for level in levels]
    frames = tuple((name, values[mask]) for name, mask in zip(names, masks))
    if weight_values is not None:
        for name, mask in zip(names, masks):
            if weight_values[mask].sum() <= 0:
                raise DataError(
                    f"the sampling weights in group {name!r} of {group!r} sum to 0, "
                    f"so the group carries no weight; check the weight column "
                    f"{weights!r} or drop the group"
                )
    prepared = PreparedData(
        frames, nobs_total, dropped, group_missing,
        weights=None if weight_values is None else
        tuple(_normalized(weight_values[mask]) for mask in masks),
        # Codes 0..G_g - 1 within each group, because the cluster-robust
        # factor G_g / (G_g - 1) and the cluster sums are taken per group.
        clusters=None if cluster_values is None else
        tuple(pd.factorize(cluster_values[mask])[0] for mask in masks),
    )
    return prepared, messages
