"""Thresholds, polychoric correlations and their asymptotic covariance.

This is the first stage of the WLSMV, DWLS and ULS estimators for ordinal
items, computed as lavaan 0.6 computes it for items without covariates:

1. the thresholds of each item are Phi^-1 of its cumulative proportions;
2. each polychoric correlation maximises the bivariate normal likelihood of
   its two-way frequency table with the thresholds held fixed (the two-step
   estimator of Olsson, 1979);
3. Gamma, N times the asymptotic covariance matrix of the thresholds and
   correlations, comes from the casewise scores of both steps (Muthen, 1984;
   Muthen, du Toit & Spisic, 1997).

The statistics are ordered as lavaan orders them: the thresholds item by
item, then the correlations in the column-wise order of the strict lower
triangle (A1~~A2, A1~~A3, ..., A2~~A3, ...).

With sampling weights every frequency table sums the weights of its cases,
so steps 1 and 2 maximise weighted (pseudo) likelihoods, and Gamma is the
sandwich of the weighted scores, as in lavaan 0.6.14. With clusters the
weighted casewise terms of Gamma are summed within each cluster before their
cross product is taken, and Gamma is multiplied by G / (G - 1) for G
clusters. lavaan 0.6.14 ignores ``cluster`` for ordinal items, so this rule
comes from the lavaan development version 0.7-2 (``R/lav_muthen1984.R`` and
``R/lav_samplestats.R``), whose comments say that it matches Mplus TYPE =
COMPLEX.

All pairs are handled at once. Every frequency table comes from one cross
product of the one-hot coded responses. The bivariate normal probabilities
come from Owen's T function (Owen, 1956), which ``scipy.special.owens_t``
evaluates for whole arrays.

References
----------
Muthen, B. (1984). A general structural equation model with dichotomous,
ordered categorical, and continuous latent variable indicators.
Psychometrika, 49(1), 115-132.
Muthen, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using
weighted least squares and quadratic estimating equations in latent variable
modeling with categorical and continuous outcomes. Unpublished manuscript.
Olsson, U. (1979). Maximum likelihood estimation of the polychoric
correlation coefficient. Psychometrika, 44(4), 443-460.
Owen, D. B. (1956). Tables for computing bivariate normal probabilities.
Annals of Mathematical Statistics, 27(4), 1075-1090.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.linalg import blas

from lio_validate.exceptions import ConvergenceWarning, DataError, DataWarning
from lio_validate.ordinal_data import Message, OrdinalLevels

__all__ = [
    "OrdinalSampleStatistics",
    "ordinal_sample_statistics",
    "bivariate_normal_cdf",
    "bivariate_normal_pdf",
    "pair_indices",
]

# lavaan 0.6 searches each polychoric correlation in [-0.999, 0.999]
# (nlminb bounds in lav_bvord_cor_twostep_fit).
RHO_BOUND = 0.999

# lavaan warns when a polychoric correlation exceeds this in absolute value.
NEAR_ONE = 0.99

# Newton's method stops when its next step for every pair is below this.
_RHO_TOLERANCE = 1e-11
_MAX_NEWTON_ITERATIONS = 100

# Rows per block when one-hot codes or casewise scores are multiplied, which
# bounds the memory used for large samples.
_ROWS_PER_BLOCK = 4096


# --------------------------------------------------------------------------
# Bivariate normal distribution
# --------------------------------------------------------------------------


def bivariate_normal_cdf(h, k, rho) -> np.ndarray:
    """Return P(X <= h, Y <= k) for standard normals with correlation ``rho``.

    The arguments broadcast against each other, and ``h`` and ``k`` may be
    infinite. For |rho| < 1 the value comes from Owen's (1956) formula

        Phi2(h, k; rho) = [Phi(h) + Phi(k)] / 2 - T(h, a_h) - T(k, a_k) - beta,

    with a_h = (k - rho h) / (h sqrt(1 - rho^2)), a_k likewise, beta = 1/2
    when h and k have opposite signs and 0 otherwise, and T Owen's T
    function. When h = 0 the formula reduces to Phi(k) / 2 +
    T(k, rho / sqrt(1 - rho^2)), and likewise when k = 0. The absolute error
    is about 1e-16.
    """
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float),
        np.asarray(rho, dtype=float),
    )
    out = np.zeros(h.shape)

    # Infinite limits: a -inf gives 0, a +inf leaves the other margin.
    h_top, k_top = h == np.inf, k == np.inf
    bottom = (h == -np.inf) | (k == -np.inf)
    out[h_top & k_top] = 1.0
    only_h_top = h_top & ~k_top & ~bottom
    out[only_h_top] = special.ndtr(k[only_h_top])
    only_k_top = k_top & ~h_top & ~bottom
    out[only_k_top] = special.ndtr(h[only_k_top])

    finite = np.isfinite(h) & np.isfinite(k)
    perfect = finite & (np.abs(rho) >= 1.0)
    out[perfect] = _perfect_correlation_cdf(h[perfect], k[perfect], rho[perfect])

    inner = finite & ~perfect
    out[inner] = _owen_cdf(h[inner], k[inner], rho[inner])
    return out


def _perfect_correlation_cdf(h, k, rho) -> np.ndarray:
    positive = special.ndtr(np.minimum(h, k))
    negative = np.maximum(special.ndtr(h) - special.ndtr(-k), 0.0)
    return np.where(rho > 0, positive, negative)


def _owen_cdf(h, k, rho) -> np.ndarray:
    s = np.sqrt((1.0 - rho) * (1.0 + rho))
    out = np.empty(h.shape)

    general = (h != 0) & (k != 0)
    hg, kg, rg, sg = h[general], k[general], rho[general], s[general]
    a_h = (kg - rg * hg) / (hg * sg)
    a_k = (hg - rg * kg) / (kg * sg)
    beta = np.where(hg * kg > 0, 0.0, 0.5)
    out[general] = (0.5 * (special.ndtr(hg) + special.ndtr(kg))
                    - special.owens_t(hg, a_h) - special.owens_t(kg, a_k) - beta)

    h_zero = h == 0
    out[h_zero] = (0.5 * special.ndtr(k[h_zero])
                   + special.owens_t(k[h_zero], rho[h_zero] / s[h_zero]))
    k_zero = (k == 0) & ~h_zero
    out[k_zero] = (0.5 * special.ndtr(h[k_zero])
                   + special.owens_t(h[k_zero], rho[k_zero] / s[k_zero]))
    return out


def bivariate_normal_pdf(h, k, rho) -> np.ndarray:
    """Return the bivariate standard normal density, 0 where h or k is infinite.

    ``rho`` must lie strictly between -1 and 1.
    """
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float),
        np.asarray(rho, dtype=float),
    )
    finite = np.isfinite(h) & np.isfinite(k)
    hf, kf = np.where(finite, h, 0.0), np.where(finite, k, 0.0)
    one_minus = (1.0 - rho) * (1.0 + rho)
    exponent = -(hf * hf - 2.0 * rho * hf * kf + kf * kf) / (2.0 * one_minus)
    density = np.exp(exponent) / (2.0 * np.pi * np.sqrt(one_minus))
    return np.where(finite, density, 0.0)


def _density_rho_factor(h, k, rho) -> np.ndarray:
    """Return d log phi2 / d rho, 0 where h or k is infinite.

    d phi2(u, v; rho) / d rho = phi2 * g(u, v, rho) with
    g = [u v R - rho (u^2 - 2 rho u v + v^2) + rho R] / R^2, R = 1 - rho^2.
    Olsson's (1979) appendix A2 prints this derivative with an error, which
    lavaan's source points out. The form here is the derivative of the log
    density.
    """
    finite = np.isfinite(h) & np.isfinite(k)
    u, v = np.where(finite, h, 0.0), np.where(finite, k, 0.0)
    r = (1.0 - rho) * (1.0 + rho)
    value = (u * v * r - rho * (u * u - 2.0 * rho * u * v + v * v) + rho * r) / (r * r)
    return np.where(finite, value, 0.0)


def _rectangles(corner_values: np.ndarray) -> np.ndarray:
    """Turn values at cell corners (..., K+1, K+1) into cell values (..., K, K)."""
    return (corner_values[..., 1:, 1:] - corner_values[..., :-1, 1:]
            - corner_values[..., 1:, :-1] + corner_values[..., :-1, :-1])


# --------------------------------------------------------------------------
# Sample statistics of one group
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrdinalSampleStatistics:
    """Thresholds, polychoric correlations and Gamma of one group.

    Attributes
    ----------
    group : str
        Group label ("" for a single group).
    nobs : int
        Number of complete rows.
    weighted_nobs : float
        Sum of the sampling weights of the rows, or ``nobs`` without weights.
        lavaan 0.6.14 uses this sum as the group's N in the fit function, the
        test statistic and Gamma.
    nclusters : int or None
        Number of clusters, or None without clusters.
    levels : OrdinalLevels
        The items and their categories.
    thresholds : numpy.ndarray
        All thresholds, item by item (lavaan's ``th``).
    correlation : numpy.ndarray
        The p x p polychoric correlation matrix.
    gamma : numpy.ndarray
        N times the asymptotic covariance matrix of :attr:`wls_obs`
        (lavaan's ``NACOV``, ``lavInspect(fit, "gamma")``), cluster-robust
        when clusters are given.
    independent_gamma_diagonal : numpy.ndarray
        The diagonal of Gamma computed as if the cases were independent, the
        same as ``diag(gamma)`` without clusters. Its inverse is the DWLS
        weight vector, so clusters change the standard errors and tests but
        not the estimates.
    statistic_names : tuple of str
        Names of the rows of ``gamma``: ``A1|t1``, ..., ``A1~~A2``, ...
    empty_cell_pairs : tuple of (str, str)
        Item pairs whose two-way table has at least one empty cell (lavaan's
        ``zero.cell.tables``). Empty cells are no problem for the ML estimate.
    newton_iterations : int
        Iterations of the vectorised Newton search for the correlations.
    messages : tuple of (warning class, str)
        Warnings for the caller to issue.
    """

    group: str
    nobs: int
    weighted_nobs: float
    nclusters: int | None
    levels: OrdinalLevels
    thresholds: np.ndarray
    correlation: np.ndarray
    gamma: np.ndarray
    independent_gamma_diagonal: np.ndarray
    statistic_names: tuple[str, ...]
    empty_cell_pairs: tuple[tuple[str, str], ...]
    newton_iterations: int
    messages: tuple[Message, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return self.levels.items

    @property
    def correlations(self) -> np.ndarray:
        """The correlations below the diagonal, column by column."""
        first, second = pair_indices(len(self.variables))
        return self.correlation[first, second]

    @property
    def wls_obs(self) -> np.ndarray:
        """The sample statistics s: thresholds, then correlations."""
        return np.concatenate([self.thresholds, self.correlations])


def pair_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, column) indices of the strict lower triangle, column by column.

    This is lavaan's order of the correlations: (2, 1), (3, 1), ..., (p, 1),
    (3, 2), ... in 1-based terms.
    """
    column, row = np.triu_indices(p, k=1)
    return row, column


def ordinal_sample_statistics(
    codes: np.ndarray, levels: OrdinalLevels, *, group: str = "",
    weights: np.ndarray | None = None, cluster: np.ndarray | None = None,
) -> OrdinalSampleStatistics:
    """Compute thresholds, polychoric correlations and Gamma of one group.

    Parameters
    ----------
    codes : numpy.ndarray, shape (N, p)
        Complete 0-based category codes, one column per item of ``levels``.
    levels : OrdinalLevels
        The items and their categories (from
        :func:`lio_validate.ordinal_data.encode_ordinal_items`).
    group : str, default ""
        Group label, used in messages.
    weights : numpy.ndarray, shape (N,), optional
        Sampling weights of the rows, non-negative with a positive sum. The
        caller normalises them; lavaan's default normalisation makes the
        weights of all groups together sum to the number of rows.
    cluster : numpy.ndarray, shape (N,), optional
        Cluster id of each row (any values that ``numpy.unique`` can sort).
        Gamma then becomes cluster-robust; the thresholds and correlations
        do not change.

    Returns
    -------
    OrdinalSampleStatistics

    Raises
    ------
    DataError
        If a category of an item has no responses (or only responses of
        weight 0) in this group, two binary items are perfectly associated
        (two empty cells in their 2 x 2 table), the weights are invalid, or
        the rows form a single cluster.

    References
    ----------
    Muthen, B. (1984). A general structural equation model with dichotomous,
    ordered categorical, and continuous latent variable indicators.
    Psychometrika, 49(1), 115-132. lavaan 0.6.14 implements the same steps in
    ``R/lav_samplestats_step1.R``, ``R/lav_bvord.R`` and ``R/lav_muthen1984.R``.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(levels.items):
        raise ValueError(
            f"codes must have one column per item ({len(levels.items)}), got shape "
            f"{codes.shape}"
        )
    codes = codes.astype(np.intp)
    nobs = codes.shape[0]
    weights = _checked_weights(weights, nobs, group)
    cluster_codes, nclusters = _cluster_codes(cluster, nobs, group)
    n_categories = levels.n_categories
    messages: list[Message] = []

    # Step 1: frequency tables and thresholds. With weights the tables sum
    # weights (lavaan's lav_uvord_th and lav_bvord_freq), so the thresholds
    # come from weighted proportions.
    univariate, bivariate = _frequency_tables(codes, n_categories, weights)
    _check_categories_used(_category_counts(codes, n_categories), levels, group)
    if weights is not None:
        _check_category_weights(univariate, levels, group)
    bounds = _threshold_bounds(univariate, n_categories)

    # Step 2: polychoric correlations with the thresholds held fixed.
    first, second = pair_indices(len(levels.items))
    estimation_tables = _adjusted_binary_tables(
        bivariate, n_categories, first, second, levels, group, messages,
    )
    start = _pearson_start(codes, first, second)
    rho, iterations, converged = _fit_polychorics(
        estimation_tables, bounds[first], bounds[second], start,
    )
    _report_polychorics(rho, converged, first, second, levels, group, messages)

    correlation = np.eye(len(levels.items))
    correlation[first, second] = rho
    correlation[second, first] = rho

    # Step 3: Gamma from the casewise scores of both steps. lavaan 0.6.14
    # multiplies the sandwich by the sum of the weights (its N of the group),
    # and the lavaan 0.7-2 cluster rule adds G / (G - 1).
    cross_product, squares = _asymptotic_covariance(
        codes, univariate, bivariate, bounds, rho, n_categories, first, second,
        weights, cluster_codes,
    )
    weighted_nobs = float(nobs if weights is None else weights.sum())
    cluster_factor = 1.0 if nclusters is None else nclusters / (nclusters - 1)
    gamma = weighted_nobs * cluster_factor * cross_product

    items = levels.items
    pair_names = [f"{items[j]}~~{items[i]}" for i, j in zip(first, second)]
    empty = tuple(
        (items[j], items[i]) for r, (i, j) in enumerate(zip(first, second))
        if np.any(bivariate[r, :n_categories[i], :n_categories[j]] == 0)
    )
    thresholds = np.concatenate([bounds[j, 1:n_categories[j]]
                                 for j in range(len(items))])
    return OrdinalSampleStatistics(
        group=group, nobs=nobs, weighted_nobs=weighted_nobs, nclusters=nclusters,
        levels=levels, thresholds=thresholds, correlation=correlation, gamma=gamma,
        independent_gamma_diagonal=weighted_nobs * squares,
        statistic_names=tuple(levels.threshold_names() + pair_names),
        empty_cell_pairs=empty, newton_iterations=iterations,
        messages=tuple(messages),
    )


def _where(group: str) -> str:
    return f" in group {group!r}" if group else ""


def _checked_weights(weights, nobs: int, group: str) -> np.ndarray | None:
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (nobs,):
        raise ValueError(
            f"weights must have one value per row of codes ({nobs}), got shape "
            f"{weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise DataError(
            f"the sampling weights{_where(group)} contain missing, infinite or "
            "negative values. Give every row a finite weight of 0 or more"
        )
    if weights.sum() <= 0:
        raise DataError(
            f"the sampling weights{_where(group)} sum to 0, so no row contributes to "
            "the statistics. Check the weight column"
        )
    return weights


def _cluster_codes(cluster, nobs: int, group: str) -> tuple[np.ndarray | None,
                                                            int | None]:
    """Return 0-based cluster codes and the number of clusters, or (None, None)."""
    if cluster is None:
        return None, None
    cluster = np.asarray(cluster)
    if cluster.shape != (nobs,):
        raise ValueError(
            f"cluster must have one value per row of codes ({nobs}), got shape "
            f"{cluster.shape}"
        )
    if cluster.dtype.kind == "f" and np.isnan(cluster).any():
        raise DataError(
            f"the cluster ids{_where(group)} contain missing values. Drop those rows "
            "or give them a cluster id"
        )
    _, codes = np.unique(cluster, return_inverse=True)
    codes = codes.reshape(-1)
    nclusters = int(codes.max()) + 1 if nobs else 0
    if nclusters < 2:
        raise DataError(
            f"all {nobs} rows{_where(group)} belong to one cluster, and a "
            "cluster-robust Gamma needs at least two clusters (its factor G / (G - 1) "
            "is undefined for G = 1). Check the cluster column, or drop cluster= if "
            "the rows are independent"
        )
    return codes, nclusters


def _category_counts(codes: np.ndarray, n_categories: np.ndarray) -> np.ndarray:
    """Return the unweighted number of rows per item and category, shape (p, K)."""
    width = int(n_categories.max())
    return np.stack([np.bincount(column, minlength=width)[:width]
                     for column in codes.T])


def _check_category_weights(univariate: np.ndarray, levels: OrdinalLevels,
                            group: str) -> None:
    """Reject a category whose responses all have weight 0 (its threshold is +-inf)."""
    for j, (item, categories) in enumerate(zip(levels.items, levels.categories)):
        empty = [categories[c] for c in np.flatnonzero(univariate[j, :len(categories)]
                                                       == 0)]
        if empty:
            raise DataError(
                f"every response to ordinal item {item!r}{_where(group)} in categor"
                f"{'y' if len(empty) == 1 else 'ies'} {', '.join(map(repr, empty))} "
                "has sampling weight 0, so the weighted proportion of the category is "
                "0 and its threshold is infinite. Merge the category with a "
                "neighbouring one or check the weights"
            )


def _frequency_tables(codes: np.ndarray, n_categories: np.ndarray,
                      weights: np.ndarray | None = None):
    """Return univariate counts (p, K) and two-way tables (pairs, K, K).

    One cross product of the one-hot coded responses gives every two-way table
    at once. K is the largest number of categories, and the unused rows and
    columns of smaller items are 0. With ``weights`` each row adds its weight
    instead of 1.
    """
    nobs, p = codes.shape
    width = int(n_categories.max())
    cross = np.zeros((p * width, p * width))
    categories = np.arange(width)
    for start in range(0, nobs, _ROWS_PER_BLOCK):
        block = codes[start:start + _ROWS_PER_BLOCK]
        one_hot = (block[:, :, None] == categories).reshape(len(block), p * width)
        one_hot = one_hot.astype(float)
        if weights is None:
            cross += one_hot.T @ one_hot
        else:
            row_weights = weights[start:start + _ROWS_PER_BLOCK, None]
            cross += (one_hot * row_weights).T @ one_hot
    cross = cross.reshape(p, width, p, width)
    first, second = pair_indices(p)
    bivariate = cross[first, :, second, :]
    item = np.arange(p)
    univariate = cross[item, :, item, :].diagonal(axis1=1, axis2=2)
    return univariate.copy(), bivariate


def _check_categories_used(univariate: np.ndarray, levels: OrdinalLevels,
                           group: str) -> None:
    for j, (item, categories) in enumerate(zip(levels.items, levels.categories)):
        counts = univariate[j, :len(categories)]
        empty = [categories[c] for c in np.flatnonzero(counts == 0)]
        if empty:
            frequencies = " ".join(str(int(n)) for n in counts)
            raise DataError(
                f"ordinal item {item!r} has no responses{_where(group)} in categor"
                f"{'y' if len(empty) == 1 else 'ies'} {', '.join(map(repr, empty))} "
                f"(frequencies {frequencies}, after listwise deletion). Merge the "
                "empty category with a neighbouring one so that every category is "
                "used in every group"
            )


def _threshold_bounds(univariate: np.ndarray, n_categories: np.ndarray) -> np.ndarray:
    """Return per item [-inf, t1, ..., t(K-1), +inf], padded with +inf.

    t_k = Phi^-1 of the proportion of responses in categories 1..k. Padding with
    +inf makes the cells of unused categories have probability 0.
    """
    p, width = univariate.shape
    bounds = np.full((p, width + 1), np.inf)
    bounds[:, 0] = -np.inf
    for j in range(p):
        k = n_categories[j]
        proportions = univariate[j, :k] / univariate[j, :k].sum()
        bounds[j, 1:k] = special.ndtri(np.cumsum(proportions)[:-1])
    return bounds


def _adjusted_binary_tables(bivariate, n_categories, first, second, levels, group,
                            messages: list[Message]) -> np.ndarray:
    """Return the tables used to estimate the correlations.

    For two binary items lavaan 0.6 handles empty cells specially
    (``zero.add = c(0.5, 0)``, ``zero.keep.margins = TRUE``). One empty cell
    gets 0.5, and 0.5 is moved between the other cells so that the margins
    are kept. Two empty cells make the tetrachoric correlation +-1, which is
    rejected here. Larger tables are used as observed. Only the estimate of
    the correlation uses the adjusted table, and Gamma uses the observed
    responses.
    """
    tables = bivariate.copy()
    items = levels.items
    binary = (n_categories[first] == 2) & (n_categories[second] == 2)
    for r in np.flatnonzero(binary):
        table = tables[r, :2, :2]
        empty = np.argwhere(table == 0)
        if len(empty) == 0:
            continue
        pair = f"{items[second[r]]!r} and {items[first[r]]!r}"
        if len(empty) >= 2:
            raise DataError(
                f"the binary items {pair} are perfectly associated{_where(group)}. "
                "Two cells of their 2 x 2 table are empty, so their tetrachoric "
                "correlation is +-1 and its sampling variance is undefined. Drop one "
                "of the two items"
            )
        on_diagonal = empty[0][0] == empty[0][1]
        sign = 1.0 if on_diagonal else -1.0
        table += sign * 0.5 * np.array([[1.0, -1.0], [-1.0, 1.0]])
        messages.append((DataWarning, (
            f"the 2 x 2 table of the binary items {pair}{_where(group)} has an empty "
            "cell. As lavaan does, 0.5 was added to it (and moved between the other "
            "cells to keep the margins) before their tetrachoric correlation was "
            "estimated"
        )))
    return tables


def _pearson_start(codes: np.ndarray, first, second) -> np.ndarray:
    """Return the Pearson correlations of the codes, lavaan's start values."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = np.corrcoef(codes, rowvar=False)
    start = pearson[first, second]
    return np.where(np.isfinite(start) & (np.abs(start) < 1.0), start, 0.0)


# --------------------------------------------------------------------------
# Polychoric correlations
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _CellTerms:
    """Cell probabilities of each pair and their derivatives in rho."""

    probability: np.ndarray
    d_rho: np.ndarray
    d2_rho: np.ndarray | None


def _cell_terms(bounds_row, bounds_column, rho, second_derivative: bool) -> _CellTerms:
    h = bounds_row[:, :, None]
    k = bounds_column[:, None, :]
    r = rho[:, None, None]
    probability = _rectangles(bivariate_normal_cdf(h, k, r))
    density = bivariate_normal_pdf(h, k, r)
    d_rho = _rectangles(density)
    d2_rho = None
    if second_derivative:
        d2_rho = _rectangles(density * _density_rho_factor(h, k, r))
    return _CellTerms(probability, d_rho, d2_rho)


def _log_likelihood(tables, probability) -> np.ndarray:
    """Return sum n log P per pair, or -inf where a used cell has P <= 0."""
    used = tables > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(used, tables * np.log(np.where(used, probability, 1.0)), 0.0)
    terms[used & ~(probability > 0)] = -np.inf
    return terms.sum(axis=(1, 2))


def _fit_polychorics(tables, bounds_row, bounds_column, start):
    """Maximise each pair's log-likelihood in rho by a safeguarded Newton method.

    All pairs move together. A step uses the observed second derivative where
    it is negative and the Fisher information otherwise (a scoring step, which
    always points uphill), stays inside [-0.999, 0.999] as lavaan's search
    does, and is halved until the log-likelihood does not decrease.

    Returns
    -------
    (rho, iterations, converged)
    """
    rho = start.astype(float).copy()
    npairs = len(rho)
    converged = np.zeros(npairs, dtype=bool)
    terms = _cell_terms(bounds_row, bounds_column, rho, second_derivative=False)
    loglik = _log_likelihood(tables, terms.probability)

    iterations = 0
    for iterations in range(1, _MAX_NEWTON_ITERATIONS + 1):
        active = np.flatnonzero(~converged)
        if len(active) == 0:
            break
        step = _newton_step(tables[active], bounds_row[active], bounds_column[active],
                            rho[active])

        # A pair at a bound whose step points outward has its maximum there.
        at_bound = ((np.abs(rho[active]) >= RHO_BOUND)
                    & (np.sign(step) == np.sign(rho[active])))
        small = np.abs(step) < _RHO_TOLERANCE
        converged[active[small | at_bound]] = True
        moving = ~(small | at_bound)
        active, step = active[moving], step[moving]

        for _ in range(60):
            if len(active) == 0:
                break
            candidate = np.clip(rho[active] + step, -RHO_BOUND, RHO_BOUND)
            trial = _cell_terms(bounds_row[active], bounds_column[active], candidate,
                                second_derivative=False)
            trial_loglik = _log_likelihood(tables[active], trial.probability)
            better = trial_loglik >= loglik[active] - 1e-12 * np.abs(loglik[active])
            rho[active[better]] = candidate[better]
            loglik[active[better]] = trial_loglik[better]
            active, step = active[~better], step[~better] / 2.0
        # Pairs where no step helped are at their maximum to rounding.
        converged[active] = True
    return rho, iterations, bool(np.all(converged))


def _newton_step(tables, bounds_row, bounds_column, rho) -> np.ndarray:
    terms = _cell_terms(bounds_row, bounds_column, rho, second_derivative=True)
    used = tables > 0
    probability = np.where(used, terms.probability, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(used, terms.d_rho / probability, 0.0)
        curvature = np.where(used, terms.d2_rho / probability, 0.0)
    score = (tables * ratio).sum(axis=(1, 2))
    hessian = (tables * (curvature - ratio * ratio)).sum(axis=(1, 2))
    information = (tables * ratio * ratio).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(hessian < 0, -score / hessian, score / information)
    return np.where(np.isfinite(step), step, 0.0)


def _report_polychorics(rho, converged, first, second, levels, group,
                        messages: list[Message]) -> None:
    items = levels.items
    if not converged:
        messages.append((ConvergenceWarning, (
            f"the search for the polychoric correlations{_where(group)} stopped "
            f"after {_MAX_NEWTON_ITERATIONS} iterations without converging, so the "
            "correlations may be inaccurate"
        )))
    for r in np.flatnonzero(np.abs(rho) > NEAR_ONE):
        pair = f"{items[second[r]]!r} and {items[first[r]]!r}"
        if np.abs(rho[r]) >= RHO_BOUND:
            reason = (f"reached the bound {np.sign(rho[r]) * RHO_BOUND:+.3f} (the "
                      "responses to one item nearly determine the other)")
        else:
            reason = f"is {rho[r]:.4f}, nearly {np.sign(rho[r]):+.0f}"
        messages.append((DataWarning, (
            f"the polychoric correlation of {pair}{_where(group)} {reason}. The two "
            "items may be redundant, so consider dropping one of them"
        )))


# --------------------------------------------------------------------------
# Gamma (Muthen, 1984)
# --------------------------------------------------------------------------


def _asymptotic_covariance(codes, univariate, bivariate, bounds, rho, n_categories,
                           first, second, weights=None, clusters=None):
    """Return the sandwich acov of the statistics and its diagonal under independence.

    With s_i the score of case i for all first-stage (threshold) and
    second-stage (correlation) estimating equations, B the block lower
    triangular matrix [[A11, 0], [A21, A22]] of summed score cross products,
    the sandwich acov = B^-1 (sum_i s_i s_i') B^-T gives Gamma = N acov
    (Muthen, 1984). A11 is block diagonal by item, A21 contains the
    cross products of each correlation's score with the bivariate threshold
    scores of its pair, and A22 is diagonal. Every score depends only on the
    categories of one or two items, so z_i = B^-1 s_i is read from per-cell
    tables, and acov = sum_i z_i z_i' is one cross product.

    With weights the tables passed in sum weights, so B sums w_i times the
    score products, and the middle term sums (w_i s_i)(w_i s_i)', as
    lavaan 0.6.14's ``muthen1984`` does. With clusters the middle term sums
    the products of the per-cluster sums of w_i s_i. The caller multiplies
    by N (and G / (G - 1)) to get Gamma.
    """
    nobs, p = codes.shape
    width = int(n_categories.max())
    nthreshold_max = width - 1

    # Univariate threshold scores S_j[c, t] = d log P(category c) / d t_t.
    threshold_scores = _univariate_scores(bounds, n_categories)
    a11_inverse = _inverse_threshold_information(threshold_scores, univariate,
                                                 n_categories)

    # Pair terms at the estimates: d log P_ab / d rho and the A21, A22 blocks.
    terms = _cell_terms(bounds[first], bounds[second], rho, second_derivative=False)
    positive = terms.probability > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_score = np.where(positive, terms.d_rho / np.where(positive,
                                                              terms.probability, 1.0),
                             0.0)
    a22 = (bivariate * rho_score * rho_score).sum(axis=(1, 2))
    a21_row, a21_column = _cross_products_with_thresholds(
        bivariate, terms.probability, rho_score, bounds[first], bounds[second], rho,
    )

    # Per-cell values of z for each correlation: the score minus the parts
    # explained by the thresholds of its two items, divided by A22.
    row_weights = np.einsum("rst,rt->rs", a11_inverse[first], a21_row)
    column_weights = np.einsum("rst,rt->rs", a11_inverse[second], a21_column)
    row_part = np.einsum("rat,rt->ra", threshold_scores[first], row_weights)
    column_part = np.einsum("rbt,rt->rb", threshold_scores[second], column_weights)
    pair_cells = (rho_score - row_part[:, :, None] - column_part[:, None, :])
    pair_cells /= a22[:, None, None]
    pair_cells = pair_cells.reshape(len(rho), width * width)

    # Per-category values of z for each threshold: S_j A11_j^-1.
    threshold_cells = np.einsum("jct,jts->jcs", threshold_scores, a11_inverse)
    threshold_used = (np.arange(nthreshold_max)[None, :]
                      < (n_categories - 1)[:, None]).ravel()

    nstat = int(threshold_used.sum()) + len(rho)
    pair_index = np.arange(len(rho))
    item_index = np.arange(p)

    def casewise_terms(rows) -> np.ndarray:
        """Return w_i z_i for the selected rows, shape (rows, nstat)."""
        block = codes[rows]
        z_threshold = threshold_cells[item_index, block].reshape(len(block), -1)
        z_pair = pair_cells[pair_index, block[:, first] * width + block[:, second]]
        z = np.hstack([z_threshold[:, threshold_used], z_pair])
        if weights is not None:
            z *= weights[rows, None]
        return z

    return _sum_of_outer_products(casewise_terms, nobs, nstat, clusters)


def _sum_of_outer_products(casewise_terms, nobs: int, nstat: int,
                           clusters: np.ndarray | None):
    """Return (sum_u z_u z_u', sum_i z_i * z_i) over units u and cases i.

    A unit is one case, or with clusters the sum of the z_i of one cluster.
    The cases are visited in blocks, in cluster order when there are
    clusters, and a cluster that continues into the next block carries its
    partial sum over. So memory stays at one block of z whatever the sizes
    of the clusters.
    """
    total = np.zeros((nstat, nstat), order="F")
    squares = np.zeros(nstat)
    order = None if clusters is None else np.argsort(clusters, kind="stable")
    carry, carry_id = None, None
    for start in range(0, nobs, _ROWS_PER_BLOCK):
        if order is None:
            z = casewise_terms(slice(start, start + _ROWS_PER_BLOCK))
            squares += np.einsum("ij,ij->j", z, z)
            total = _add_outer_products(total, z)
            continue
        rows = order[start:start + _ROWS_PER_BLOCK]
        z = casewise_terms(rows)
        squares += np.einsum("ij,ij->j", z, z)
        ids = clusters[rows]
        starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        sums = np.add.reduceat(z, starts, axis=0)
        if carry is not None:
            if ids[0] == carry_id:
                sums[0] += carry
            else:
                total = _add_outer_products(total, carry[None, :])
        # The last cluster of the block may continue in the next block.
        carry, carry_id = sums[-1].copy(), ids[-1]
        if len(sums) > 1:
            total = _add_outer_products(total, sums[:-1])
    if carry is not None:
        total = _add_outer_products(total, carry[None, :])
    upper = np.triu(total)
    return upper + np.triu(upper, 1).T, squares


def _add_outer_products(total: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Add the outer products of the rows of ``rows`` to ``total`` (upper triangle).

    The symmetric rank-k update fills only the upper triangle and costs half a
    general product. ``rows.T`` of a C-ordered array is Fortran-ordered, so BLAS
    reads it without a copy.
    """
    return blas.dsyrk(1.0, np.ascontiguousarray(rows).T, beta=1.0, c=total, trans=0,
                      overwrite_c=True)


def _univariate_scores(bounds, n_categories) -> np.ndarray:
    """Return S (p, K, K-1): d log P(category c) / d threshold t per item.

    P(c) = Phi(t_c) - Phi(t_(c-1)), so the score is phi(t_t) / P(c) for the
    upper threshold (t = c) and -phi(t_t) / P(c) for the lower one (t = c-1).
    """
    p, width_plus_one = bounds.shape
    width = width_plus_one - 1
    probabilities = np.diff(special.ndtr(bounds), axis=1)
    inner = bounds[:, 1:width]
    density = np.where(np.isfinite(inner), np.exp(-0.5 * np.where(
        np.isfinite(inner), inner, 0.0) ** 2) / np.sqrt(2 * np.pi), 0.0)
    scores = np.zeros((p, width, width - 1))
    category = np.arange(width)
    for t in range(width - 1):
        scores[:, t, t] = density[:, t]
        scores[:, t + 1, t] = -density[:, t]
    used = category[None, :] < n_categories[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scores /= np.where(used, probabilities, 1.0)[:, :, None]
    scores[~used] = 0.0
    return scores


def _inverse_threshold_information(scores, univariate, n_categories) -> np.ndarray:
    """Return A11_j^-1 per item, padded with zeros: A11_j = sum_c n_c S_j[c]' S_j[c]."""
    p, width, nthreshold_max = scores.shape
    information = np.einsum("jc,jct,jcs->jts", univariate, scores, scores)
    inverse = np.zeros_like(information)
    for j in range(p):
        size = n_categories[j] - 1
        inverse[j, :size, :size] = np.linalg.inv(information[j, :size, :size])
    return inverse


def _cross_products_with_thresholds(tables, probability, rho_score, bounds_row,
                                    bounds_column, rho):
    """Return A21 for the thresholds of the row item and of the column item.

    A21[r, t] = sum_ab n_ab (d log P_ab / d rho)(d log P_ab / d t_t). With
    dPhi2(u, v; rho)/du = phi(u) Phi((v - rho u) / sqrt(1 - rho^2)), the
    derivative of P_ab in the row item's threshold t is +D[t, b] for a = t and
    -D[t, b] for a = t + 1, where D[t, b] = phi(t_t) [Phi((v_(b+1) - rho t_t)
    / s) - Phi((v_b - rho t_t) / s)].
    """
    used = probability > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = np.where(used, tables * rho_score / np.where(used, probability, 1.0),
                            0.0)
    row_derivative = _threshold_derivatives(bounds_row, bounds_column, rho)
    column_derivative = _threshold_derivatives(bounds_column, bounds_row, rho)
    a21_row = np.einsum("rtb,rtb->rt", row_derivative,
                        weighted[:, :-1, :] - weighted[:, 1:, :])
    a21_column = np.einsum("rta,rat->rt", column_derivative,
                           weighted[:, :, :-1] - weighted[:, :, 1:])
    return a21_row, a21_column


def _threshold_derivatives(own_bounds, other_bounds, rho) -> np.ndarray:
    """Return D (pairs, K-1, K): dP of a cell in an own threshold, by other category."""
    thresholds = own_bounds[:, 1:-1]
    finite = np.isfinite(thresholds)
    t = np.where(finite, thresholds, 0.0)[:, :, None]
    s = np.sqrt((1.0 - rho) * (1.0 + rho))[:, None, None]
    r = rho[:, None, None]
    with np.errstate(invalid="ignore"):
        conditional = special.ndtr((other_bounds[:, None, :] - r * t) / s)
    band = np.diff(conditional, axis=2)
    density = np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)
    return np.where(finite[:, :, None], density * band, 0.0)
