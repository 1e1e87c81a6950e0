"""Reliability of each scale: Cronbach's alpha with confidence intervals, item
statistics, and omega, composite reliability and AVE from a one-factor CFA.

The formulas are small pure functions of a covariance matrix or of factor-model
parameters in :mod:`lio_validate.reliability_formulas`, so each can be checked
alone. This module re-exports them. :func:`reliability` validates the
input, recodes reverse-keyed items, deletes rows listwise per scale, and
collects the numbers into a :class:`ReliabilityResult`.

The alpha statistics reproduce ``psych::alpha`` (psych 2.2.9) on the same
complete rows. The factor-model coefficients reproduce ``semTools::compRelSEM``
and ``semTools::AVE`` (semTools 0.5-6) on a ``lavaan::cfa`` fit with
``std.lv = FALSE``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import lio_validate
from lio_validate.exceptions import DataError, LioInputError, ReliabilityWarning
from lio_validate.reliability_formulas import (
    _validate_confidence_level,
    alpha_ci_duhachek,
    alpha_ci_feldt,
    alpha_if_item_deleted,
    alpha_se_duhachek,
    average_variance_extracted,
    composite_reliability,
    cronbach_alpha,
    item_rest_correlations,
    omega_total,
    standardized_alpha,
)

__all__ = [
    "ReliabilityResult",
    "alpha_ci_duhachek",
    "alpha_ci_feldt",
    "alpha_if_item_deleted",
    "alpha_se_duhachek",
    "average_variance_extracted",
    "composite_reliability",
    "cronbach_alpha",
    "item_rest_correlations",
    "omega_total",
    "reliability",
    "standardized_alpha",
]

TABLE_COLUMNS = (
    "scale",
    "n_items",
    "nobs",
    "alpha",
    "alpha_ci_lower",
    "alpha_ci_upper",
    "omega",
    "composite_reliability",
    "ave",
)
ITEM_COLUMNS = (
    "scale",
    "item",
    "reversed",
    "item_rest_r",
    "alpha_if_deleted",
    "std_loading",
)
REVERSED_COLUMNS = ("item", "scale_min", "scale_max", "min_source", "max_source")
ALPHA_COLUMNS = (
    "scale",
    "nobs",
    "alpha",
    "std_alpha",
    "alpha_se",
    "feldt_ci_lower",
    "feldt_ci_upper",
    "duhachek_ci_lower",
    "duhachek_ci_upper",
)

# The interval that fills alpha_ci_lower and alpha_ci_upper of the table.
CI_METHOD = "feldt"


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReliabilityResult:
    """Reliability statistics of each scale, as returned by :func:`reliability`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scale with the columns of ``reliability.csv``: scale,
        n_items, nobs, alpha, alpha_ci_lower, alpha_ci_upper, omega,
        composite_reliability, ave. The alpha interval is the one named by
        ``ci_method``.
    items : pandas.DataFrame
        One row per item of each scale: scale, item, reversed, item_rest_r,
        alpha_if_deleted, std_loading.
    reversed_items : pandas.DataFrame
        One row per recoded item: item, scale_min, scale_max, min_source,
        max_source. A source is ``"argument"`` or ``"observed"``.
    alpha_details : pandas.DataFrame
        One row per scale: scale, nobs, alpha, std_alpha, alpha_se and both
        intervals (feldt_ci_lower, feldt_ci_upper, duhachek_ci_lower,
        duhachek_ci_upper).
    ci_method : str
        ``"feldt"``, the interval in ``table``.
    confidence_level : float
        Coverage of both alpha intervals.
    """

    table: pd.DataFrame
    items: pd.DataFrame
    reversed_items: pd.DataFrame
    alpha_details: pd.DataFrame
    ci_method: str
    confidence_level: float

    def summary(self) -> str:
        """Format the tables as text for a person to read, rounded to 3 decimals."""
        percent = f"{100 * self.confidence_level:g}%"
        lines = [
            f"Reliability of {len(self.table)} scale(s), listwise deletion per scale",
            f"alpha_ci_lower, alpha_ci_upper: {percent} Feldt interval (F-based)",
            "omega: (sum lambda)^2 psi / observed total variance (compRelSEM)",
            "composite_reliability: (sum lambda)^2 psi / implied total variance",
            "ave: sum(lambda^2) psi / sum of observed item variances (AVE)",
            "",
            self.table.to_string(index=False, float_format=_format_number),
            "",
        ]

        if len(self.reversed_items):
            lines.append("Reverse-keyed items, recoded as scale_min + scale_max - x:")
            lines.append(
                self.reversed_items.to_string(index=False, float_format="{:g}".format)
            )
        else:
            lines.append("No items were reverse-coded.")
        lines.append("")

        lines.append(
            "Items (std_loading is oriented so that a scale's loadings sum to a "
            "positive number):"
        )
        lines.append(self.items.to_string(index=False, float_format=_format_number))
        return "\n".join(lines)


def _format_number(value: float) -> str:
    return f"{value:.3f}"


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------


def reliability(
    data: pd.DataFrame,
    scales: Mapping[str, Sequence[str]],
    *,
    reverse: Iterable[str] | None = None,
    scale_min: float | None = None,
    scale_max: float | None = None,
    confidence_level: float = 0.95,
) -> ReliabilityResult:
    """Estimate the reliability of each scale.

    Reverse-keyed items are recoded as ``scale_min + scale_max - x`` before
    anything is computed. Each scale then uses its complete rows (listwise
    deletion over that scale's items, counted in ``nobs``). Per scale the
    function computes:

    * Cronbach's alpha from the covariance matrix, standardized alpha, and
      two confidence intervals: Feldt's F-based interval
      (:func:`alpha_ci_feldt`) and the asymptotic interval of Duhachek and
      Iacobucci (:func:`alpha_ci_duhachek`).
    * Item-rest correlations and alpha if an item is deleted.
    * From a one-factor CFA (``lio_validate.cfa``, ML, marker-variable
      scaling as ``lavaan::cfa`` with ``std.lv = FALSE``): ``omega``
      (:func:`omega_total`, semTools' ``compRelSEM()`` default, observed
      total variance in the denominator), ``composite_reliability``
      (:func:`composite_reliability`, model-implied total variance,
      ``compRelSEM(obs.var = FALSE)``), ``ave``
      (:func:`average_variance_extracted`, semTools' ``AVE()``) and the
      standardized loadings. All three use raw loadings. They are NaN for
      2-item scales.

    ``alpha_ci_lower`` and ``alpha_ci_upper`` hold Feldt's interval. psych
    2.2.9 prints it as the first row of its "95% confidence boundaries".
    Feldt's interval assumes normally distributed, essentially parallel items
    and takes its bounds from an F distribution instead of a large-sample
    normal approximation, and its upper bound is below 1 whenever alpha is.
    The Duhachek interval is a Wald interval from an asymptotic standard
    error, so it can exceed 1 in small samples. Both are in
    ``alpha_details``. On bfi's scales (about 2,700 rows) their bounds differ
    by less than 0.001.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent, numeric item columns. Missing values are
        allowed.
    scales : mapping of str to sequence of str
        Scale name to its item columns, at least 2 items each.
    reverse : iterable of str, optional
        Reverse-keyed items. Each must belong to a scale. An item that sits
        in several scales is recoded once.
    scale_min, scale_max : float, optional
        Lowest and highest possible response. If one is not given, the
        observed minimum or maximum of each reversed item (over all its
        non-missing values) is used, and ``reversed_items`` records
        which. The bounds
        change only the recoded values, not the statistics, because every
        statistic here depends on a recoded item only through its
        covariances.
    confidence_level : float, default 0.95
        Coverage of the alpha intervals.

    Returns
    -------
    ReliabilityResult

    Raises
    ------
    DataError
        If a scale has fewer than 2 items or fewer than 2 complete rows, an
        item is missing from ``data``, not numeric, infinite or constant, a
        reversed item belongs to no scale, or a reversed item's values lie
        outside ``[scale_min, scale_max]``.
    LioInputError
        If ``confidence_level`` is not between 0 and 1.

    Warns
    -----
    ReliabilityWarning
        For a 2-item scale (no CFA-based values), an item with a negative
        standardized loading (probably reverse-keyed but not listed in
        ``reverse``, or listed by mistake), and a 2-item scale whose items
        correlate negatively.

    Notes
    -----
    psych::alpha deletes pairwise by default and removes constant items with
    a warning. This function deletes listwise per scale and raises on a
    constant item, so its numbers equal psych's on each scale's complete
    rows.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of
    tests. Psychometrika, 16, 297-334.
    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference
    for coefficient alpha. Applied Psychological Measurement, 11, 93-103.
    Duhachek, A., & Iacobucci, D. (2004). Alpha's standard error (ASE): An
    accurate and precise confidence interval estimate. Journal of Applied
    Psychology, 89, 792-808.
    Raykov, T. (1997). Estimation of composite reliability for congeneric
    measures. Applied Psychological Measurement, 21, 173-184.
    """
    _validate_confidence_level(confidence_level)
    scale_items = _validate_scales(data, scales)
    reverse_items = _validate_reverse(reverse, scale_items)
    recoded, reversed_table = _recode_reverse_items(
        data, scale_items, reverse_items, scale_min, scale_max
    )

    table_rows = []
    alpha_rows = []
    item_frames = []
    for scale, items in scale_items.items():
        complete = _complete_rows(recoded, scale, items)
        alpha_stats = _alpha_statistics(complete, confidence_level)
        factor_stats, messages = _factor_statistics(scale, complete, reverse_items)
        for message in messages:
            warnings.warn(message, ReliabilityWarning, stacklevel=2)

        if len(items) == 2 and alpha_stats["item_rest_r"][0] < 0:
            message = _negative_pair_message(scale, items, alpha_stats)
            warnings.warn(message, ReliabilityWarning, stacklevel=2)

        table_rows.append(
            {
                "scale": scale,
                "n_items": len(items),
                "nobs": len(complete),
                "alpha": alpha_stats["alpha"],
                "alpha_ci_lower": alpha_stats["feldt_ci_lower"],
                "alpha_ci_upper": alpha_stats["feldt_ci_upper"],
                "omega": factor_stats["omega"],
                "composite_reliability": factor_stats["composite_reliability"],
                "ave": factor_stats["ave"],
            }
        )
        alpha_rows.append(
            {"scale": scale, "nobs": len(complete)}
            | {name: alpha_stats[name] for name in ALPHA_COLUMNS[2:]}
        )
        item_frames.append(
            pd.DataFrame(
                {
                    "scale": scale,
                    "item": items,
                    "reversed": [item in reverse_items for item in items],
                    "item_rest_r": alpha_stats["item_rest_r"],
                    "alpha_if_deleted": alpha_stats["alpha_if_deleted"],
                    "std_loading": factor_stats["std_loadings"],
                }
            )
        )

    return ReliabilityResult(
        table=pd.DataFrame(table_rows, columns=list(TABLE_COLUMNS)),
        items=pd.concat(item_frames, ignore_index=True)[list(ITEM_COLUMNS)],
        reversed_items=reversed_table,
        alpha_details=pd.DataFrame(alpha_rows, columns=list(ALPHA_COLUMNS)),
        ci_method=CI_METHOD,
        confidence_level=float(confidence_level),
    )


# ---------------------------------------------------------------------------
# Stages of reliability()
# ---------------------------------------------------------------------------


def _validate_scales(
    data: pd.DataFrame, scales: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame, but it is a {type(data).__name__}"
        )
    if not isinstance(scales, Mapping) or not scales:
        raise DataError(
            "scales must be a non-empty mapping of scale name to item columns, "
            "for example {'A': ['A1', 'A2', 'A3']}"
        )

    scale_items = {}
    for scale, items in scales.items():
        if isinstance(items, str) or not isinstance(items, Iterable):
            raise DataError(
                f"scale {scale!r}: the items must be a list of column names, "
                f"but they are {items!r}"
            )
        items = list(items)
        non_text = [item for item in items if not isinstance(item, str)]
        if non_text:
            raise DataError(
                f"scale {scale!r}: item column names must be strings, because "
                f"they enter the CFA model text, but {non_text} are not. Rename "
                "those columns."
            )
        if len(items) < 2:
            raise DataError(
                f"scale {scale!r} has {len(items)} item(s) {items}, but "
                "reliability needs at least 2. Add items or drop the scale."
            )
        duplicates = sorted({item for item in items if items.count(item) > 1})
        if duplicates:
            raise DataError(
                f"scale {scale!r} lists item(s) {duplicates} more than once. "
                "List each item once."
            )
        missing = [item for item in items if item not in data.columns]
        if missing:
            raise DataError(
                f"scale {scale!r}: item column(s) {missing} not found in data. "
                "Check the spelling against data.columns."
            )
        ambiguous = [item for item in items if (data.columns == item).sum() > 1]
        if ambiguous:
            raise DataError(
                f"scale {scale!r}: data has several columns named {ambiguous}. "
                "Rename the columns so that each name is unique."
            )
        for item in items:
            _validate_item_column(data[item], scale, item)
        scale_items[scale] = items
    return scale_items


def _validate_item_column(column: pd.Series, scale: str, item: str) -> None:
    dtype = column.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise DataError(
            f"scale {scale!r}: item {item!r} has dtype {dtype}, but items must be "
            "numeric. Convert the responses to numbers (for example with the "
            "value labels' codes)."
        )
    values = column.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        raise DataError(
            f"scale {scale!r}: item {item!r} contains infinite values. Replace "
            "them with NaN (missing) or valid responses."
        )


def _validate_reverse(
    reverse: Iterable[str] | None, scale_items: Mapping[str, list[str]]
) -> tuple[str, ...]:
    if reverse is None:
        return ()
    if isinstance(reverse, str):
        raise DataError(
            f"reverse must be a list of item names, for example [{reverse!r}], "
            f"not the string {reverse!r}"
        )
    reverse_items = tuple(dict.fromkeys(reverse))
    all_items = {item for items in scale_items.values() for item in items}
    unknown = [item for item in reverse_items if item not in all_items]
    if unknown:
        raise DataError(
            f"reverse lists item(s) {unknown} that belong to no scale. Add them "
            "to a scale or remove them from reverse."
        )
    return reverse_items


def _recode_reverse_items(
    data: pd.DataFrame,
    scale_items: Mapping[str, list[str]],
    reverse_items: tuple[str, ...],
    scale_min: float | None,
    scale_max: float | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the item columns as floats with reversed items recoded, and the record."""
    if scale_min is not None and scale_max is not None and scale_min >= scale_max:
        raise DataError(
            f"scale_min ({scale_min}) must be less than scale_max ({scale_max})"
        )

    all_items = list(dict.fromkeys(i for items in scale_items.values() for i in items))
    recoded = data[all_items].astype(float)

    records = []
    for item in reverse_items:
        values = recoded[item]
        observed_min = values.min()
        observed_max = values.max()
        if np.isnan(observed_min):
            raise DataError(
                f"reverse-keyed item {item!r} has no non-missing values, so it "
                "cannot be recoded. Remove it from its scale."
            )
        low = observed_min if scale_min is None else float(scale_min)
        high = observed_max if scale_max is None else float(scale_max)
        if observed_min < low or observed_max > high:
            raise DataError(
                f"reverse-keyed item {item!r} has values from {observed_min:g} "
                f"to {observed_max:g}, outside scale_min={low:g} and "
                f"scale_max={high:g}. Fix the bounds or the data."
            )
        recoded[item] = low + high - values
        records.append(
            {
                "item": item,
                "scale_min": low,
                "scale_max": high,
                "min_source": "observed" if scale_min is None else "argument",
                "max_source": "observed" if scale_max is None else "argument",
            }
        )
    return recoded, pd.DataFrame(records, columns=list(REVERSED_COLUMNS))


def _complete_rows(recoded: pd.DataFrame, scale: str, items: list[str]) -> pd.DataFrame:
    complete = recoded[items].dropna()
    if len(complete) < 2:
        raise DataError(
            f"scale {scale!r} has {len(complete)} row(s) without missing values "
            f"on its items {items}, but needs at least 2. Check the items' "
            "missing values."
        )
    for item in items:
        values = complete[item].to_numpy()
        if np.all(values == values[0]):
            raise DataError(
                f"scale {scale!r}: item {item!r} is constant ({values[0]:g} in all "
                f"{len(complete)} complete rows), so its correlations are "
                "undefined. Remove it from the scale."
            )
    return complete


def _alpha_statistics(complete: pd.DataFrame, confidence_level: float) -> dict:
    cov = np.cov(complete.to_numpy(), rowvar=False, ddof=1)
    nobs = len(complete)
    n_items = cov.shape[0]

    alpha = cronbach_alpha(cov)
    alpha_se = alpha_se_duhachek(cov, nobs)
    feldt = alpha_ci_feldt(alpha, nobs, n_items, confidence_level)
    duhachek = alpha_ci_duhachek(alpha, alpha_se, confidence_level)
    return {
        "alpha": alpha,
        "std_alpha": standardized_alpha(cov),
        "alpha_se": alpha_se,
        "feldt_ci_lower": feldt[0],
        "feldt_ci_upper": feldt[1],
        "duhachek_ci_lower": duhachek[0],
        "duhachek_ci_upper": duhachek[1],
        "item_rest_r": item_rest_correlations(cov),
        "alpha_if_deleted": alpha_if_item_deleted(cov),
    }


def _factor_statistics(
    scale: str, complete: pd.DataFrame, reverse_items: tuple[str, ...]
) -> tuple[dict, list[str]]:
    """Fit the one-factor CFA and return its coefficients and warning messages."""
    items = list(complete.columns)
    if len(items) == 2:
        message = (
            f"scale {scale!r} has 2 items, and a one-factor model on 2 items is "
            "not identified, so omega, composite_reliability, ave and "
            "std_loading are NaN. Add a third item to estimate them."
        )
        not_estimated = {
            "omega": math.nan,
            "composite_reliability": math.nan,
            "ave": math.nan,
            "std_loadings": np.full(2, np.nan),
        }
        return not_estimated, [message]

    latent = _latent_name(scale, items)
    model = f"{latent} =~ " + " + ".join(items)
    try:
        fit = lio_validate.cfa(model, complete, std_lv=False)
    except LioInputError as error:
        error.add_note(f"while fitting the one-factor CFA of scale {scale!r}: {model}")
        raise

    loadings, std_loadings, residual_variances, latent_variance = (
        _one_factor_parameters(fit.estimates, latent, items)
    )
    sample_cov = fit.sample_cov.loc[items, items].to_numpy(dtype=float)

    # The marker item fixes the factor's sign, so an unrecoded reverse-keyed
    # marker would make every other loading negative. Orienting the factor so
    # that the standardized loadings sum to a positive number points the
    # warning at the odd item out. The coefficients do not depend on the sign.
    if np.sum(std_loadings) < 0:
        std_loadings = -std_loadings

    factor_stats = {
        "omega": omega_total(loadings, latent_variance, sample_cov),
        "composite_reliability": composite_reliability(
            loadings, residual_variances, latent_variance
        ),
        "ave": average_variance_extracted(
            loadings, latent_variance, np.diag(sample_cov)
        ),
        "std_loadings": std_loadings,
    }
    messages = [
        _negative_loading_message(scale, item, loading, item in reverse_items)
        for item, loading in zip(items, std_loadings)
        if loading < 0
    ]
    return factor_stats, messages


def _latent_name(scale: str, items: list[str]) -> str:
    """Return the scale name if it can name the factor, else a free name."""
    if isinstance(scale, str) and scale.isidentifier() and scale not in items:
        return scale
    name = "factor"
    while name in items:
        name += "_"
    return name


def _one_factor_parameters(
    estimates: pd.DataFrame, latent: str, items: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Return raw and standardized loadings, residual variances and psi."""
    loading_rows = estimates[
        (estimates["op"] == "=~") & (estimates["lhs"] == latent)
    ].set_index("rhs")
    variance_rows = estimates[
        (estimates["op"] == "~~") & (estimates["lhs"] == estimates["rhs"])
    ].set_index("lhs")

    missing = [item for item in items if item not in loading_rows.index]
    missing += [name for name in [*items, latent] if name not in variance_rows.index]
    if missing:
        raise RuntimeError(
            f"lio_validate.cfa returned no loading or variance for {missing}, "
            "so its parameter table is incomplete"
        )

    loadings = loading_rows.loc[items, "est"].to_numpy(dtype=float)
    std_loadings = loading_rows.loc[items, "std_all"].to_numpy(dtype=float)
    residual_variances = variance_rows.loc[items, "est"].to_numpy(dtype=float)
    latent_variance = float(variance_rows.loc[latent, "est"])
    return loadings, std_loadings, residual_variances, latent_variance


def _negative_loading_message(
    scale: str, item: str, loading: float, reversed_already: bool
) -> str:
    if reversed_already:
        advice = (
            "It was recoded as reverse-keyed, so it is probably not reverse-keyed: "
            "remove it from reverse."
        )
    else:
        advice = (
            "It is probably reverse-keyed: list it in reverse so that it is recoded."
        )
    return (
        f"scale {scale!r}: item {item!r} has a negative standardized loading "
        f"({loading:.3f}) after reverse coding. {advice} Until then omega, "
        "composite_reliability and ave of this scale are not meaningful."
    )


def _negative_pair_message(scale: str, items: list[str], alpha_stats: dict) -> str:
    return (
        f"scale {scale!r}: items {items[0]!r} and {items[1]!r} correlate "
        f"negatively (r = {alpha_stats['item_rest_r'][0]:.3f}) after reverse "
        "coding, so one of them is probably reverse-keyed. List it in reverse, "
        "or remove it from reverse if it is already there."
    )
