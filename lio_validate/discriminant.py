"""Discriminant validity: the HTMT ratio and the Fornell-Larcker criterion.

Two questions are asked of every pair of factors. Do their items correlate
less across the two factors than within each factor (HTMT)? Does each factor
explain more of its own items' variance than it shares with another factor
(Fornell-Larcker)?

* :func:`htmt` computes the heterotrait-monotrait ratio of Henseler, Ringle
  and Sarstedt (2015) from item correlations, or its geometric-mean variant
  HTMT2 of Roemer, Schuberth and Henseler (2021). It reproduces
  ``semTools::htmt`` (semTools 0.5-6), whose default is HTMT2.
* :func:`latent_correlations` returns the model-implied factor correlations
  of a fit (lavaan's ``lavInspect(fit, "cor.lv")``) with delta-method SEs.
* :func:`discriminant_validity` applies both to a fitted model and its data
  and collects the tables, with flags against the usual cut-offs, in a
  :class:`DiscriminantValidityResult`.

References
----------
Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models
with unobservable variables and measurement error. Journal of Marketing
Research, 18(1), 39-50.
Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for
assessing discriminant validity in variance-based structural equation
modeling. Journal of the Academy of Marketing Science, 43(1), 115-135.
https://doi.org/10.1007/s11747-014-0403-8
Roemer, E., Schuberth, F., & Henseler, J. (2021). HTMT2 - an improved
criterion for assessing discriminant validity in structural equation
modeling. Industrial Management & Data Systems.
https://doi.org/10.1108/IMDS-02-2021-0082
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.data_prep import group_label
from lio_validate.exceptions import DataError, DataWarning, LioInputError
from lio_validate.fiml import em_saturated, find_patterns
from lio_validate.ordinal_data import encode_ordinal_items
from lio_validate.polychoric import ordinal_sample_statistics
from lio_validate.reliability_formulas import average_variance_extracted
from lio_validate.standardize import _jacobian
from lio_validate.syntax import parse_model

__all__ = [
    "DiscriminantValidityResult",
    "HTMT_LIBERAL",
    "HTMT_STRICT",
    "discriminant_validity",
    "htmt",
    "latent_correlations",
]

# Henseler, Ringle and Sarstedt (2015) compare HTMT with 0.85 (HTMT.85, the
# stricter rule, for conceptually distinct constructs) and 0.90 (HTMT.90, for
# conceptually similar ones). A value at or above the cut-off signals a lack
# of discriminant validity.
HTMT_STRICT = 0.85
HTMT_LIBERAL = 0.90

MISSING_OPTIONS = ("listwise", "pairwise", "fiml")

HTMT_COLUMNS = ("group", "factor_1", "factor_2", "htmt", "below_strict",
                "below_liberal")
FORNELL_LARCKER_COLUMNS = ("group", "factor", "n_items", "ave", "sqrt_ave",
                           "max_abs_correlation", "most_correlated_factor",
                           "criterion_met")
CORRELATION_COLUMNS = ("group", "factor_1", "factor_2", "correlation", "se",
                       "criterion_met")
LONG_COLUMNS = ("section", "group", "factor_1", "factor_2", "statistic", "value",
                "se", "cutoff", "met")


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DiscriminantValidityResult:
    """HTMT, latent correlations and the Fornell-Larcker criterion of a fit.

    Attributes
    ----------
    htmt : pandas.DataFrame
        One row per pair of factors (in model order) and group: group,
        factor_1, factor_2, htmt, below_strict (htmt < 0.85), below_liberal
        (htmt < 0.90). The flags are missing (``pd.NA``) where htmt is NaN.
    fornell_larcker : pandas.DataFrame
        One row per factor and group: group, factor, n_items, ave, sqrt_ave,
        max_abs_correlation (the largest absolute latent correlation with
        another factor of the table), most_correlated_factor, criterion_met
        (sqrt_ave > max_abs_correlation).
    latent_correlations : pandas.DataFrame
        One row per pair of factors and group: group, factor_1, factor_2,
        correlation (standardized, model-implied), se (delta method),
        criterion_met (the absolute correlation is below the square root of
        both factors' AVE).
    htmt_method : str
        ``"htmt2"`` (geometric means) or ``"htmt"`` (arithmetic means).
    absolute : bool
        Whether HTMT averaged absolute item correlations.
    correlation_type : str
        ``"pearson"`` or ``"polychoric"``, with ``"weighted "`` in front when
        sampling weights were used.
    missing : str
        How the item correlations treated missing values: ``"listwise"``,
        ``"pairwise"`` or ``"fiml"``.
    nobs : Mapping[str, int]
        Rows that entered the item correlations, per group (``""`` for one
        group). Listwise deletion covers the HTMT items only, so this can
        differ from the fit's number of observations.
    notes : tuple of str
        Factors left out and why, and how cross-loading items were treated.
    """

    htmt: pd.DataFrame
    fornell_larcker: pd.DataFrame
    latent_correlations: pd.DataFrame
    htmt_method: str
    absolute: bool
    correlation_type: str
    missing: str
    nobs: Mapping[str, int]
    notes: tuple[str, ...]

    def htmt_matrix(self, group: str = "") -> pd.DataFrame:
        """Return the square HTMT matrix of one group, with 1 on the diagonal."""
        rows = self.htmt[self.htmt["group"] == group]
        if rows.empty:
            known = sorted(set(self.htmt["group"]))
            raise LioInputError(
                f"no HTMT values for group {group!r}; the groups are {known}"
            )
        factors = list(dict.fromkeys([*rows["factor_1"], *rows["factor_2"]]))
        matrix = pd.DataFrame(np.eye(len(factors)), index=factors, columns=factors)
        for row in rows.itertuples(index=False):
            matrix.loc[row.factor_1, row.factor_2] = row.htmt
            matrix.loc[row.factor_2, row.factor_1] = row.htmt
        return matrix

    def long_table(self) -> pd.DataFrame:
        """Return every statistic as one tidy table (``discriminant_validity.csv``).

        Columns: section, group, factor_1, factor_2, statistic, value, se,
        cutoff, met. Each row is one comparison, and ``met`` is True when it
        passes:

        * section ``htmt``: two rows per pair of factors, statistic
          ``htmt2`` or ``htmt``, one with cutoff 0.85 and one with 0.90;
          met is ``value < cutoff``.
        * section ``latent_correlation``: one row per pair, statistic
          ``correlation`` with its se. The cutoff is the smaller square root
          of the two factors' AVE, and met is ``|value| < cutoff``.
        * section ``fornell_larcker``: per factor, statistic ``ave`` (no
          cutoff) and statistic ``sqrt_ave`` with factor_2 the most
          correlated factor, cutoff that absolute correlation and met
          ``value > cutoff``.
        """
        records = []
        for row in self.htmt.itertuples(index=False):
            for cutoff, met in ((HTMT_STRICT, row.below_strict),
                                (HTMT_LIBERAL, row.below_liberal)):
                records.append(("htmt", row.group, row.factor_1, row.factor_2,
                                self.htmt_method, row.htmt, math.nan, cutoff, met))
        sqrt_ave = {(row.group, row.factor): row.sqrt_ave
                    for row in self.fornell_larcker.itertuples(index=False)}
        for row in self.latent_correlations.itertuples(index=False):
            cutoff = min(sqrt_ave.get((row.group, row.factor_1), math.nan),
                         sqrt_ave.get((row.group, row.factor_2), math.nan))
            records.append(("latent_correlation", row.group, row.factor_1,
                            row.factor_2, "correlation", row.correlation, row.se,
                            cutoff, row.criterion_met))
        for row in self.fornell_larcker.itertuples(index=False):
            records.append(("fornell_larcker", row.group, row.factor, "", "ave",
                            row.ave, math.nan, math.nan, pd.NA))
            records.append(("fornell_larcker", row.group, row.factor,
                            row.most_correlated_factor, "sqrt_ave", row.sqrt_ave,
                            math.nan, row.max_abs_correlation, row.criterion_met))
        table = pd.DataFrame.from_records(records, columns=list(LONG_COLUMNS))
        table["met"] = table["met"].astype("boolean")
        return table

    def summary(self) -> str:
        """Format the tables as text for a person to read, rounded to 3 decimals."""
        method = ("HTMT2 (geometric means, Roemer et al., 2021)"
                  if self.htmt_method == "htmt2"
                  else "HTMT (arithmetic means, Henseler et al., 2015)")
        sign = "absolute" if self.absolute else "signed"
        if set(self.nobs) == {""}:
            rows = str(self.nobs[""])
        else:
            rows = ", ".join(f"{name}: {count}" for name, count in self.nobs.items())
        kind = self.correlation_type.replace("pearson", "Pearson")
        lines = [
            f"Discriminant validity: {method} of {sign} {kind} "
            f"item correlations, missing values {self.missing} (rows used: {rows})",
            f"HTMT cut-offs (Henseler et al., 2015): below {HTMT_STRICT:.2f} "
            f"(strict) or below {HTMT_LIBERAL:.2f} (liberal)",
            "Fornell-Larcker (1981): the square root of a factor's AVE exceeds its "
            "absolute correlation with every other factor",
            "",
        ]
        for group in dict.fromkeys(self.htmt["group"]):
            if group:
                lines += [f"Group {group}:", ""]
            lines += [
                "HTMT matrix:",
                self.htmt_matrix(group).to_string(float_format=_format_number),
                "",
            ]
        for title, table in (("HTMT pairs:", self.htmt),
                             ("Latent correlations:", self.latent_correlations),
                             ("Fornell-Larcker:", self.fornell_larcker)):
            lines += [title, _text_table(table), ""]
        if self.notes:
            lines.append("Notes:")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip("\n")


def _format_number(value: float) -> str:
    return f"{value:.3f}"


def _text_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "(none)"
    if set(table["group"]) == {""}:
        table = table.drop(columns="group")
    return table.to_string(index=False, float_format=_format_number)


# ---------------------------------------------------------------------------
# The measurement model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Factor:
    name: str
    indicators: tuple[str, ...]
    line: int


def _measurement_model(model: str) -> list[_Factor]:
    """Return the factors of the ``=~`` formulas with their items, in model order."""
    parsed = parse_model(model)
    indicators: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    for term in parsed.terms:
        if term.op == "=~":
            indicators.setdefault(term.lhs, []).append(term.rhs)
            lines.setdefault(term.lhs, term.line)
    return [_Factor(name, tuple(items), lines[name])
            for name, items in indicators.items()]


def _check_htmt_factors(factors: list[_Factor]) -> None:
    if len(factors) < 2:
        raise LioInputError(
            f"HTMT compares factors, but the model has {len(factors)} factor(s) "
            "defined with =~; write at least two"
        )
    for factor in factors:
        if len(factor.indicators) < 2:
            raise DataError(
                f"factor {factor.name!r} (model line {factor.line}) has one "
                f"indicator ({factor.indicators[0]}), but HTMT needs at least 2 per "
                "factor, because its denominator averages the correlations between "
                "different items of the same factor. Add indicators or leave the "
                "factor out of the model given to htmt()"
            )


def _shared_items(factors: Sequence[_Factor]) -> dict[str, list[str]]:
    """Return each item that is an indicator of several factors, with those factors."""
    owners: dict[str, list[str]] = {}
    for factor in factors:
        for item in factor.indicators:
            owners.setdefault(item, []).append(factor.name)
    return {item: names for item, names in owners.items() if len(names) > 1}


def _cross_loading_note(shared: Mapping[str, list[str]]) -> str:
    listed = "; ".join(f"{item!r} on {', '.join(map(repr, names))}"
                       for item, names in shared.items())
    return (
        f"item(s) load on several factors ({listed}). HTMT counts such an item in "
        "the within-factor mean of each of its factors and leaves its correlation "
        "with itself out of the between-factor mean, as semTools::htmt does with "
        "sample.cov. The shared item can raise the HTMT of those factors"
    )


# ---------------------------------------------------------------------------
# Item correlations
# ---------------------------------------------------------------------------


def _check_item_columns(data: pd.DataFrame, factors: Sequence[_Factor]) -> None:
    for factor in factors:
        absent = [item for item in factor.indicators if item not in data.columns]
        if absent:
            raise DataError(
                f"indicator(s) {absent} of factor {factor.name!r} (model line "
                f"{factor.line}) are not columns of the data. Check the spelling; "
                "an indicator that is itself a factor (a higher-order model) has no "
                "item correlations, so leave such factors out of the HTMT model"
            )


def _resolve_ordered(ordered, items: Sequence[str]) -> bool:
    """Return True if every item is ordinal, False if none is."""
    if ordered is None or ordered is False:
        return False
    if ordered is True:
        return True
    if isinstance(ordered, str):
        raise LioInputError(
            f"ordered must be True or a list of item names, for example "
            f"[{ordered!r}], not the string {ordered!r}"
        )
    declared = set(ordered)
    ordinal = [item for item in items if item in declared]
    if not ordinal:
        return False
    if len(ordinal) < len(items):
        continuous = [item for item in items if item not in declared]
        raise LioInputError(
            f"the items {continuous} are not in ordered=, but {ordinal} are. HTMT "
            "here takes all items as ordinal (polychoric correlations) or all as "
            "continuous (Pearson), because polyserial correlations are not "
            "implemented; declare all or none of them ordered"
        )
    return True


def _numeric_items(frame: pd.DataFrame, items: Sequence[str]) -> pd.DataFrame:
    for item in items:
        dtype = frame[item].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype)
        if not numeric or pd.api.types.is_bool_dtype(dtype):
            raise DataError(
                f"item {item!r} has dtype {dtype}, but Pearson correlations need "
                "numbers. Recode the responses as numbers, or declare the item "
                "ordered"
            )
    values = frame[list(items)].astype(float)
    infinite = [item for item in items if np.isinf(values[item]).any()]
    if infinite:
        raise DataError(
            f"item(s) {infinite} contain infinite values; replace them with NaN "
            "(missing) or valid responses"
        )
    return values


def _weight_values(frame: pd.DataFrame, weights: str, rows: pd.Series,
                   where: str) -> np.ndarray:
    """Return the sampling weights of the rows used, rejecting invalid values."""
    if weights not in frame.columns:
        raise DataError(f"the weight column {weights!r} is not in the data")
    values = pd.to_numeric(frame.loc[rows, weights], errors="coerce")
    values = values.to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any() or np.isinf(values).any():
        raise DataError(
            f"the weight column {weights!r} has missing, non-numeric, negative or "
            f"infinite values in the complete rows{where}; sampling weights must be "
            "non-negative numbers"
        )
    return values


def _cov_to_cor(cov: np.ndarray, items: Sequence[str], where: str) -> np.ndarray:
    variances = np.diag(cov)
    constant = [item for item, value in zip(items, variances) if not value > 0]
    if constant:
        raise DataError(
            f"item(s) {constant} have zero variance{where}, so their correlations "
            "are undefined. Remove them from the model"
        )
    scale = 1.0 / np.sqrt(variances)
    correlation = cov * scale[:, None] * scale[None, :]
    np.fill_diagonal(correlation, 1.0)
    return correlation


def _weighted_covariance(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # The divisor does not matter because only the correlations are used.
    total = weights.sum()
    if not total > 0:
        raise DataError("the sampling weights of the complete rows sum to zero")
    mean = weights @ values / total
    centred = values - mean
    return (centred * weights[:, None]).T @ centred / total


def _item_correlations(
    frame: pd.DataFrame,
    items: Sequence[str],
    *,
    missing: str,
    ordinal: bool,
    weights: str | None,
    where: str = "",
) -> tuple[np.ndarray, int]:
    """Return the item correlation matrix and the number of rows it used."""
    if ordinal:
        return _polychoric_correlations(frame, items, weights, where)

    values = _numeric_items(frame, items)
    if missing == "listwise":
        complete = values.notna().all(axis=1)
        nobs = int(complete.sum())
        _check_rows(nobs, items, where)
        matrix = values[complete].to_numpy()
        if weights is None:
            cov = np.cov(matrix, rowvar=False)
        else:
            weight_values = _weight_values(frame, weights, complete, where)
            cov = _weighted_covariance(matrix, weight_values)
        return _cov_to_cor(cov, items, where), nobs

    if missing == "pairwise":
        # lavCor(missing = "pairwise") is cov2cor(cov(x, use = "pairwise")):
        # each covariance uses the rows complete on its pair, each variance
        # every observed value of its item (checked against lavaan 0.6-14).
        cov = values.cov(min_periods=2).to_numpy()
        if np.isnan(cov).any():
            rows, columns = np.nonzero(np.isnan(cov))
            pair = (items[rows[0]], items[columns[0]])
            raise DataError(
                f"items {pair[0]!r} and {pair[1]!r} are observed together in fewer "
                f"than 2 rows{where}, so their correlation is undefined"
            )
        nobs = int(values.notna().any(axis=1).sum())
        return _cov_to_cor(cov, items, where), nobs

    # missing == "fiml": the EM estimate of the saturated covariance matrix,
    # lavCor(missing = "ml").
    patterns = find_patterns(values.to_numpy())
    _check_rows(patterns.nobs, items, where)
    try:
        _, cov, _ = em_saturated(patterns)
    except np.linalg.LinAlgError as error:
        raise DataError(
            f"the EM estimate of the item covariances failed{where}: {error}. Use "
            "missing='listwise' or 'pairwise'"
        ) from None
    return _cov_to_cor(cov, items, where), int(patterns.nobs)


def _check_rows(nobs: int, items: Sequence[str], where: str) -> None:
    if nobs < 2:
        raise DataError(
            f"{nobs} row(s){where} have the items {list(items)} observed, but item "
            "correlations need at least 2. Check the missing values"
        )


def _polychoric_correlations(frame, items, weights, where):
    complete = frame[list(items)].notna().all(axis=1)
    nobs = int(complete.sum())
    _check_rows(nobs, items, where)
    coded, levels, messages = encode_ordinal_items(frame.loc[complete, list(items)],
                                                   items)
    weight_values = None if weights is None else \
        _weight_values(frame, weights, complete, where)
    statistics = ordinal_sample_statistics(
        coded[list(items)].to_numpy(), levels, weights=weight_values,
    )
    for category, text in [*messages, *statistics.messages]:
        warnings.warn(text, category, stacklevel=4)
    return statistics.correlation, nobs


def _correlations_from_matrix(sample_cov, items: Sequence[str]) -> np.ndarray:
    if not isinstance(sample_cov, pd.DataFrame):
        raise LioInputError(
            "sample_cov must be a pandas DataFrame whose index and columns are the "
            f"item names, not a {type(sample_cov).__name__}"
        )
    absent = [item for item in items
              if item not in sample_cov.index or item not in sample_cov.columns]
    if absent:
        raise DataError(
            f"indicator(s) {absent} are not rows and columns of sample_cov; check "
            "the names"
        )
    cov = sample_cov.loc[list(items), list(items)].to_numpy(dtype=float)
    if not np.isfinite(cov).all():
        raise DataError("sample_cov has missing or infinite values for the indicators")
    # semTools treats the matrix as a correlation matrix as soon as its largest
    # or smallest diagonal entry is 1, so it skips cov2cor for a covariance
    # matrix with one unit variance. Always standardizing gives the same
    # numbers for correlation matrices and the intended ones otherwise.
    return _cov_to_cor(cov, items, " in sample_cov")


# ---------------------------------------------------------------------------
# HTMT from a correlation matrix
# ---------------------------------------------------------------------------


def _htmt_matrix(correlation: np.ndarray, items: Sequence[str],
                 factors: Sequence[_Factor], *, absolute: bool,
                 htmt2: bool) -> np.ndarray:
    """Compute the HTMT matrix as semTools::htmt does, diagonal included.

    Block (a, b) averages the correlations between the items of factor a and
    those of factor b and leaves out each correlation of an item with itself.
    So block (a, a) is the monotrait mean, and a shared item adds no 1 to a
    heterotrait mean. HTMT(a, b) = mean(a, b) / sqrt(mean(a, a) mean(b, b)),
    with arithmetic means (Henseler et al., 2015, eq. 6) or geometric means
    of the absolute correlations (HTMT2, Roemer et al., 2021).
    """
    values = np.abs(correlation) if (absolute or htmt2) else correlation
    position = {item: k for k, item in enumerate(items)}
    indices = [np.array([position[i] for i in f.indicators]) for f in factors]
    nfactors = len(factors)
    means = np.empty((nfactors, nfactors))
    for a in range(nfactors):
        for b in range(nfactors):
            rows, columns = indices[a], indices[b]
            distinct = rows[:, None] != columns[None, :]
            block = values[np.ix_(rows, columns)][distinct]
            with np.errstate(divide="ignore"):
                means[a, b] = np.exp(np.mean(np.log(block))) if htmt2 \
                    else np.mean(block)
    monotrait = np.diag(means)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A negative product of signed monotrait means gives NaN, as in R.
        return means / np.sqrt(np.outer(monotrait, monotrait))


def htmt(
    model: str,
    data: pd.DataFrame | None = None,
    *,
    sample_cov: pd.DataFrame | None = None,
    missing: str = "listwise",
    ordered: bool | Sequence[str] | None = None,
    absolute: bool = True,
    htmt2: bool = True,
    weights: str | None = None,
) -> pd.DataFrame:
    """Compute the heterotrait-monotrait ratio of every pair of factors.

    HTMT(a, b) is the mean correlation between the items of factors a and b
    (heterotrait), divided by the geometric mean of the two mean
    correlations among the items within each factor (monotrait). It
    estimates the correlation of the two factors, and a value near 1 means
    that the items do not tell the factors apart (Henseler et al., 2015).
    HTMT2 takes geometric instead of arithmetic means of absolute
    correlations, which keeps it consistent when the loadings of a factor
    differ (congeneric items; Roemer et al., 2021).

    The numbers equal ``semTools::htmt(model, data, ...)`` of semTools 0.5-6
    with the same arguments, including its defaults ``htmt2 = TRUE`` and
    ``absolute = TRUE``.

    Parameters
    ----------
    model : str
        lavaan model syntax. Only the ``=~`` formulas are used. Each factor
        needs at least 2 indicators, all of them data columns.
    data : pandas.DataFrame, optional
        One row per respondent with the indicator columns. Give this or
        ``sample_cov``.
    sample_cov : pandas.DataFrame, optional
        A covariance or correlation matrix with the item names as index and
        columns; a covariance matrix is standardized first.
    missing : {"listwise", "pairwise", "fiml"}, default "listwise"
        "listwise" uses the rows without a missing value on any indicator of
        the model (semTools' default, through ``lavCor``), "pairwise" the
        rows complete on each pair, and "fiml" (lavaan's "ml") the EM
        estimate of the saturated correlation matrix from every row.
    ordered : bool or sequence of str, optional
        Items to treat as ordinal, or True for all. Ordinal items get
        polychoric correlations (lavaan's two-step estimates, as
        ``lavCor(ordered = ...)``), which need listwise deletion. All
        indicators must be ordinal or none.
    absolute : bool, default True
        Average absolute correlations, so that a reverse-keyed item that was
        not recoded does not cancel others. Only matters with
        ``htmt2=False``: HTMT2 always uses absolute values, because the
        geometric mean needs positive numbers.
    htmt2 : bool, default True
        Geometric means (HTMT2) instead of arithmetic means (HTMT).
    weights : str, optional
        Column of sampling weights. The correlations are then weighted
        Pearson correlations (weighted means and cross products), or
        polychoric correlations from weighted frequency tables, as lavaan
        0.6-14 computes them for ``sampling.weights``. ``semTools::htmt``
        has no weights; the tests compare with ``htmt(model, sample.cov =
        lavInspect(fit, "sampstat")$cov)`` of a weighted lavaan fit. Needs
        ``missing="listwise"``.

    Returns
    -------
    pandas.DataFrame
        Factors by factors, in the order of their first ``=~`` formula. The
        diagonal is 1 (it is -1 for a factor whose signed monotrait mean is
        negative, as semTools returns it). NaN marks a ratio that is not
        defined, such as a square root of a negative product of signed
        means.

    Raises
    ------
    DataError
        If a factor has one indicator, an indicator is not a column of
        ``data`` (or of ``sample_cov``), an item is not numeric or has zero
        variance, or fewer than 2 rows are usable.
    LioInputError
        For an invalid option, both or neither of ``data`` and
        ``sample_cov``, or items of which only some are ordered.

    Warns
    -----
    DataWarning
        For an item that is an indicator of several factors. The item is
        kept in each of them. It enters the monotrait mean of every factor
        it belongs to, and its correlation with itself is left out of the
        heterotrait mean, as ``semTools::htmt`` does with ``sample.cov``.
        With ``data``, semTools stops with an error instead, because the
        item's column is passed to ``lavCor`` twice.

    Notes
    -----
    Listwise deletion covers the indicators of the ``=~`` formulas only, as
    in semTools, and not every variable of the model. So a fitted lavaan
    model can use fewer rows.

    References
    ----------
    Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for
    assessing discriminant validity in variance-based structural equation
    modeling. Journal of the Academy of Marketing Science, 43(1), 115-135.
    Roemer, E., Schuberth, F., & Henseler, J. (2021). HTMT2 - an improved
    criterion for assessing discriminant validity in structural equation
    modeling. Industrial Management & Data Systems.
    """
    factors = _measurement_model(model)
    _check_htmt_factors(factors)
    items = _unique_items(factors)
    _check_options(missing, weights, data, sample_cov)
    shared = _shared_items(factors)
    if shared:
        warnings.warn(_cross_loading_note(shared), DataWarning, stacklevel=2)

    if sample_cov is not None:
        correlation = _correlations_from_matrix(sample_cov, items)
    else:
        if not isinstance(data, pd.DataFrame):
            raise LioInputError(
                f"data must be a pandas DataFrame, not a {type(data).__name__}"
            )
        _check_item_columns(data, factors)
        ordinal = _resolve_ordered(ordered, items)
        _check_ordinal_missing(ordinal, missing)
        correlation, _ = _item_correlations(data, items, missing=missing,
                                            ordinal=ordinal, weights=weights)
    matrix = _htmt_matrix(correlation, items, factors, absolute=absolute,
                          htmt2=htmt2)
    names = [factor.name for factor in factors]
    return pd.DataFrame(matrix, index=names, columns=names)


def _unique_items(factors: Sequence[_Factor]) -> list[str]:
    return list(dict.fromkeys(item for f in factors for item in f.indicators))


def _check_options(missing, weights, data, sample_cov) -> None:
    if (data is None) == (sample_cov is None):
        raise LioInputError("give either data= or sample_cov=, not both or neither")
    if missing not in MISSING_OPTIONS:
        raise LioInputError(
            f"unknown missing={missing!r}; choose one of {', '.join(MISSING_OPTIONS)}"
        )
    if weights is not None and missing != "listwise":
        raise LioInputError(
            f"weights= needs missing='listwise', not {missing!r}: weighted pairwise "
            "and EM correlations are not implemented"
        )
    if weights is not None and sample_cov is not None:
        raise LioInputError(
            "weights= applies to data=; a sample_cov matrix is used as given"
        )


def _check_ordinal_missing(ordinal: bool, missing: str) -> None:
    if ordinal and missing != "listwise":
        raise LioInputError(
            f"polychoric correlations here need missing='listwise', not "
            f"{missing!r}; treat the items as continuous for pairwise or EM "
            "correlations"
        )


# ---------------------------------------------------------------------------
# Latent correlations of a fit
# ---------------------------------------------------------------------------


def _row_values(fit) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the parameter table and the estimate of each of its rows."""
    table = fit.parameter_table
    estimates = fit.estimates.iloc[: len(table)]
    same = all(
        np.array_equal(table[key].astype(str).to_numpy(),
                       estimates[key].astype(str).to_numpy())
        for key in ("lhs", "op", "rhs")
    )
    if not same:
        raise RuntimeError(
            "the rows of fit.parameter_table and fit.estimates are not in the same "
            "order, so the latent covariances cannot be rebuilt from the estimates"
        )
    return table, estimates["est"].to_numpy(dtype=float)


class _LatentCovariance:
    """The model-implied latent covariance matrices as functions of the parameters.

    Each group's matrix is the latent block of (I - A)^-1 S (I - A)^-T, with A
    the loadings and regressions and S the (residual) variances and
    covariances (the RAM form of McArdle & McDonald, 1984). It equals
    lavaan's ``lavInspect(fit, "cov.lv")`` and includes the part explained
    by regressions, so an endogenous factor has its total variance.
    """

    def __init__(self, fit) -> None:
        table, values = _row_values(fit)
        self.latent = list(fit.latent_variables)
        # Every variable of a loading, regression or (co)variance row, so that
        # observed covariates of a regression are part of the RAM matrices.
        ops = table["op"].to_numpy()
        structural = np.isin(ops, ["=~", "~", "~~"])
        lhs, rhs = table["lhs"].to_numpy(), table["rhs"].to_numpy()
        names = list(dict.fromkeys([*fit.observed_variables, *self.latent,
                                    *lhs[structural], *rhs[structural]]))
        position = {name: k for k, name in enumerate(names)}
        self.size = len(names)
        self.latent_index = np.array([position[name] for name in self.latent],
                                     dtype=int)
        self.values = values
        self.free = table["free"].to_numpy(dtype=int)
        self.theta = np.zeros(int(self.free.max(initial=0)))
        is_free = self.free > 0
        self.theta[self.free[is_free] - 1] = values[is_free]

        # Per group, the rows of A (=~ stores A[item, factor], ~ stores
        # A[outcome, predictor]) and of S, as index arrays.
        groups = table["group"].to_numpy(dtype=int)
        self.blocks = []
        for group in range(max(int(fit.ngroups), 1)):
            in_group = groups == group
            loading = np.flatnonzero(in_group & (ops == "=~"))
            regression = np.flatnonzero(in_group & (ops == "~"))
            moment = np.flatnonzero(in_group & (ops == "~~"))
            path_rows = np.concatenate([loading, regression])
            path_to = np.array([position[v] for v in
                                [*rhs[loading], *lhs[regression]]], dtype=int)
            path_from = np.array([position[v] for v in
                                  [*lhs[loading], *rhs[regression]]], dtype=int)
            moment_lhs = np.array([position[v] for v in lhs[moment]], dtype=int)
            moment_rhs = np.array([position[v] for v in rhs[moment]], dtype=int)
            self.blocks.append((path_rows, path_to, path_from, moment, moment_lhs,
                                moment_rhs))

    def matrices(self, theta: np.ndarray) -> list[np.ndarray]:
        values = self.values.copy()
        is_free = self.free > 0
        values[is_free] = theta[self.free[is_free] - 1]
        identity = np.eye(self.size)
        result = []
        for block in self.blocks:
            path_rows, path_to, path_from, moment, moment_lhs, moment_rhs = block
            paths = np.zeros((self.size, self.size))
            paths[path_to, path_from] = values[path_rows]
            moments = np.zeros((self.size, self.size))
            moments[moment_lhs, moment_rhs] = values[moment]
            moments[moment_rhs, moment_lhs] = values[moment]
            total = np.linalg.inv(identity - paths)
            covariance = total @ moments @ total.T
            result.append(covariance[np.ix_(self.latent_index, self.latent_index)])
        return result


def _correlations_of(covariances: list[np.ndarray]) -> np.ndarray:
    """Stack the upper triangles (row by row) of the correlation matrices, per group."""
    parts = []
    for covariance in covariances:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = 1.0 / np.sqrt(np.diag(covariance))
        correlation = covariance * scale[:, None] * scale[None, :]
        rows, columns = np.triu_indices(len(covariance), k=1)
        parts.append(correlation[rows, columns])
    return np.concatenate(parts) if parts else np.zeros(0)


def latent_correlations(fit) -> pd.DataFrame:
    """Return the model-implied correlations of the factors with delta-method SEs.

    The correlations are those of lavaan's ``lavInspect(fit, "cor.lv")``:
    for two exogenous factors the standardized covariance parameter
    (``standardizedSolution``'s ``std.all``), for an endogenous factor the
    correlation implied by the regressions. The SE of each correlation
    comes from the delta method, with a numerical Jacobian of the
    correlations with respect to the free parameters and ``fit.vcov``. For a
    covariance parameter it equals lavaan's ``se`` of the standardized
    solution.

    Parameters
    ----------
    fit : SEMResult
        A fit from :func:`lio_validate.cfa` or :func:`lio_validate.sem`.

    Returns
    -------
    pandas.DataFrame
        One row per pair of latent variables (in the order of
        ``fit.latent_variables``) and group: group (``""`` for one group),
        factor_1, factor_2, correlation, se. The se is NaN when ``fit.vcov``
        is missing, not finite or does not match the free parameters.

    References
    ----------
    McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of
    the Reticular Action Model for moment structures. British Journal of
    Mathematical and Statistical Psychology, 37(2), 234-251.
    """
    model = _LatentCovariance(fit)
    correlations = _correlations_of(model.matrices(model.theta))
    se = np.full(len(correlations), np.nan)
    vcov = None if fit.vcov is None else np.asarray(fit.vcov, dtype=float)
    if vcov is not None and vcov.shape == (len(model.theta),) * 2 \
            and np.isfinite(vcov).all():
        jacobian = _jacobian(lambda theta: _correlations_of(model.matrices(theta)),
                             model.theta)
        jacobian = np.nan_to_num(jacobian)
        variance = np.sum((jacobian @ vcov) * jacobian, axis=1)
        se = np.sqrt(np.clip(variance, 0.0, None))

    latent = model.latent
    rows, columns = np.triu_indices(len(latent), k=1)
    group_names = list(fit.group_names) if fit.ngroups > 1 else [""]
    records = []
    position = 0
    for group in group_names:
        for row, column in zip(rows, columns):
            records.append((group, latent[row], latent[column],
                            correlations[position], se[position]))
            position += 1
    return pd.DataFrame.from_records(
        records, columns=["group", "factor_1", "factor_2", "correlation", "se"])


# ---------------------------------------------------------------------------
# AVE of a multi-factor fit
# ---------------------------------------------------------------------------


def _group_rows(table: pd.DataFrame, group: str) -> pd.DataFrame:
    return table[table["group"].fillna("").astype(str) == group]


def _item_variances(fit, group: str, estimates: pd.DataFrame) -> pd.Series:
    """Observed item variances as semTools::AVE takes them (``obs.var = TRUE``).

    For ordinal items the sample matrix contains polychoric correlations, and
    semTools rescales it to latent-response variances 1 / delta^2 with the
    scale factors delta (the ``~*~`` rows). delta is 1 in a single group.
    """
    sample = fit.sample_cov
    if isinstance(sample.index, pd.MultiIndex):
        sample = sample.xs(group, level=0)
    variances = pd.Series(np.diag(sample.to_numpy(dtype=float)), index=sample.index)
    scales = estimates[estimates["op"] == "~*~"]
    for row in scales.itertuples(index=False):
        if row.lhs in variances.index:
            variances[row.lhs] /= row.est**2
    return variances


def _average_variance_extracted(fit, factors: Sequence[_Factor],
                                covariances: Mapping[str, pd.DataFrame]) -> dict:
    """Return {(group, factor): AVE} as semTools::AVE computes it on the fit.

    AVE = psi * sum(lambda^2) / sum(s_ii), with psi the factor's total
    variance (cov.lv), the raw loadings lambda and the observed item
    variances s_ii. semTools returns NA for a factor with an item that also
    loads on another factor, and so does this function (NaN).
    """
    estimates = fit.estimates
    groups = list(fit.group_names) if fit.ngroups > 1 else [""]
    result = {}
    for group in groups:
        rows = _group_rows(estimates, group)
        loadings = rows[rows["op"] == "=~"]
        # As semTools: loadings of the assessed factors only, and an item
        # counts as cross-loading when its rounded loading is non-zero.
        loadings = loadings[loadings["lhs"].isin([f.name for f in factors])
                            & (loadings["est"].round(5) != 0)]
        owners = loadings.groupby("rhs")["lhs"].nunique()
        variances = _item_variances(fit, group, rows)
        for factor in factors:
            mine = loadings[loadings["lhs"] == factor.name]
            if (owners.reindex(mine["rhs"]) > 1).any():
                result[(group, factor.name)] = math.nan
                continue
            psi = covariances[group].loc[factor.name, factor.name]
            result[(group, factor.name)] = average_variance_extracted(
                mine["est"].to_numpy(dtype=float), float(psi),
                variances.reindex(mine["rhs"]).to_numpy(dtype=float),
            )
    return result


# ---------------------------------------------------------------------------
# Discriminant validity of a fit
# ---------------------------------------------------------------------------


def _eligible_factors(fit, data: pd.DataFrame) -> tuple[list[_Factor], list[str]]:
    """Return the factors with 2+ observed indicators, and notes on the others."""
    factors = _measurement_model(fit.model_text)
    latent = set(fit.latent_variables)
    eligible, notes = [], []
    for factor in factors:
        if len(factor.indicators) < 2:
            notes.append(
                f"factor {factor.name!r} has one indicator, so it has no HTMT and no "
                "AVE and is left out of both"
            )
        elif any(item in latent for item in factor.indicators):
            notes.append(
                f"factor {factor.name!r} is measured by other factors (a "
                "higher-order factor), so it is left out"
            )
        else:
            eligible.append(factor)
    _check_item_columns(data, eligible)
    return eligible, notes


def _data_by_group(fit, data: pd.DataFrame) -> dict[str, pd.DataFrame]:
    group = fit.options.get("group")
    if fit.ngroups <= 1 or not group:
        return {"": data}
    if group not in data.columns:
        raise DataError(
            f"the group column {group!r} of the fit is not a column of the data; "
            "pass the data frame that was fitted"
        )
    labels = data[group]
    # The fit names each group by group_label() of its value.
    text = labels.map(lambda value: group_label(value) if pd.notna(value) else None)
    frames = {}
    for name in fit.group_names:
        frames[name] = data[(text == name).to_numpy()]
        if frames[name].empty:
            raise DataError(
                f"the data have no rows of group {name!r} in column {group!r}; pass "
                "the data frame that was fitted"
            )
    return frames


def _htmt_table(matrices: Mapping[str, np.ndarray],
                factors: Sequence[_Factor]) -> pd.DataFrame:
    records = []
    for group, matrix in matrices.items():
        for a in range(len(factors)):
            for b in range(a + 1, len(factors)):
                records.append((group, factors[a].name, factors[b].name, matrix[b, a]))
    table = pd.DataFrame.from_records(records, columns=list(HTMT_COLUMNS[:4]))
    value = table["htmt"]
    table["below_strict"] = (value < HTMT_STRICT).astype("boolean").mask(value.isna())
    table["below_liberal"] = (value < HTMT_LIBERAL).astype("boolean").mask(
        value.isna())
    return table


def _fornell_larcker_tables(fit, factors: Sequence[_Factor]
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = [factor.name for factor in factors]
    correlations = latent_correlations(fit)
    correlations = correlations[correlations["factor_1"].isin(names)
                                & correlations["factor_2"].isin(names)]
    model = _LatentCovariance(fit)
    groups = list(fit.group_names) if fit.ngroups > 1 else [""]
    covariances = {
        group: pd.DataFrame(matrix, index=model.latent, columns=model.latent)
        for group, matrix in zip(groups, model.matrices(model.theta))
    }
    ave = _average_variance_extracted(fit, factors, covariances)
    sqrt_ave = {key: math.sqrt(value) if value >= 0 else math.nan
                for key, value in ave.items()}

    limits = [min(sqrt_ave[(row.group, row.factor_1)],
                  sqrt_ave[(row.group, row.factor_2)])
              for row in correlations.itertuples(index=False)]
    pairs = correlations.reset_index(drop=True)
    met = pairs["correlation"].abs() < pd.Series(limits, dtype=float)
    undefined = pairs["correlation"].isna() | pd.Series(limits, dtype=float).isna()
    pairs["criterion_met"] = met.astype("boolean").mask(undefined)

    records = []
    for group in groups:
        in_group = pairs[pairs["group"] == group]
        for factor in factors:
            mine = in_group[(in_group["factor_1"] == factor.name)
                            | (in_group["factor_2"] == factor.name)]
            absolute = mine["correlation"].abs()
            if absolute.notna().any():
                best = mine.loc[absolute.idxmax()]
                other = best["factor_2"] if best["factor_1"] == factor.name \
                    else best["factor_1"]
                largest = float(absolute.max())
            else:
                other, largest = "", math.nan
            root = sqrt_ave[(group, factor.name)]
            defined = not (math.isnan(root) or math.isnan(largest))
            records.append((group, factor.name, len(factor.indicators),
                            ave[(group, factor.name)], root, largest, other,
                            (root > largest) if defined else pd.NA))
    table = pd.DataFrame.from_records(records, columns=list(FORNELL_LARCKER_COLUMNS))
    table["criterion_met"] = table["criterion_met"].astype("boolean")
    return table, pairs[list(CORRELATION_COLUMNS)]


def discriminant_validity(
    fit,
    data: pd.DataFrame,
    *,
    missing: str | None = None,
    absolute: bool = True,
    htmt2: bool = True,
) -> DiscriminantValidityResult:
    """Assess the discriminant validity of a fitted model's factors.

    Two criteria, for every pair of factors with at least 2 observed
    indicators each:

    * HTMT (:func:`htmt`) from the item correlations of ``data``, per group
      of the fit. The correlations follow the fit: polychoric for ordinal
      items, weighted with the fit's sampling weights, and EM-based
      (``missing="fiml"``) when the fit used FIML.
    * Fornell and Larcker (1981): each factor's square root of the average
      variance extracted (AVE) should exceed its absolute correlation with
      every other factor. AVE is ``semTools::AVE`` on the fit (raw
      loadings, the factor's model-implied variance and the observed item
      variances, as :func:`lio_validate.reliability.reliability` computes
      it per scale), and the correlations are those of
      :func:`latent_correlations`.

    Parameters
    ----------
    fit : SEMResult
        A fit from :func:`lio_validate.cfa` or :func:`lio_validate.sem`.
    data : pandas.DataFrame
        The data frame that was fitted (with the group and weight columns).
    missing : {"listwise", "pairwise", "fiml"}, optional
        Missing-value treatment of the item correlations; by default
        "fiml" for a FIML fit and "listwise" otherwise.
    absolute, htmt2 : bool, default True
        As in :func:`htmt`.

    Returns
    -------
    DiscriminantValidityResult

    Raises
    ------
    DataError
        If an indicator is not a column of ``data``, a group of the fit has
        no rows, or the item correlations cannot be computed.
    LioInputError
        For an invalid ``missing`` or a combination that :func:`htmt`
        rejects.

    Notes
    -----
    Factors with one indicator and higher-order factors are left out and
    named in ``notes``. A factor with an item that loads on another factor
    too keeps its HTMT (with a note on how the shared item is counted) but
    gets no AVE, as in semTools. Each Fornell-Larcker comparison is with the
    other factors of the table only.

    References
    ----------
    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation
    models with unobservable variables and measurement error. Journal of
    Marketing Research, 18(1), 39-50.
    Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for
    assessing discriminant validity in variance-based structural equation
    modeling. Journal of the Academy of Marketing Science, 43(1), 115-135.
    """
    if not isinstance(data, pd.DataFrame):
        raise LioInputError(
            f"data must be a pandas DataFrame, not a {type(data).__name__}"
        )
    options = fit.options
    if missing is None:
        missing = "fiml" if options.get("missing") == "fiml" else "listwise"
    weights = options.get("weights")
    _check_options(missing, weights, data, None)
    factors, notes = _eligible_factors(fit, data)
    if len(factors) < 2:
        raise DataError(
            f"discriminant validity compares factors, but the model has "
            f"{len(factors)} factor(s) with 2 or more observed indicators. Assess "
            "a model with at least two such factors"
        )
    shared = _shared_items(factors)
    if shared:
        notes.append(_cross_loading_note(shared))
    items = _unique_items(factors)
    ordinal = _resolve_ordered(options.get("ordered"), items)
    _check_ordinal_missing(ordinal, missing)

    matrices, nobs = {}, {}
    for group, frame in _data_by_group(fit, data).items():
        where = f" in group {group!r}" if group else ""
        correlation, nobs[group] = _item_correlations(
            frame, items, missing=missing, ordinal=ordinal, weights=weights,
            where=where,
        )
        matrices[group] = _htmt_matrix(correlation, items, factors,
                                       absolute=absolute, htmt2=htmt2)

    fornell_larcker, correlations = _fornell_larcker_tables(fit, factors)
    kind = "polychoric" if ordinal else "pearson"
    return DiscriminantValidityResult(
        htmt=_htmt_table(matrices, factors),
        fornell_larcker=fornell_larcker,
        latent_correlations=correlations,
        htmt_method="htmt2" if htmt2 else "htmt",
        absolute=bool(absolute or htmt2),
        correlation_type=f"weighted {kind}" if weights else kind,
        missing=missing,
        nobs=dict(nobs),
        notes=tuple(notes),
    )
