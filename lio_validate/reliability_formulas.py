"""Formulas of scale reliability: Cronbach's alpha with its confidence
intervals, item statistics, and omega, composite reliability and AVE of a
one-factor model.

Each is a pure function of a covariance matrix or of factor-model parameters.
:func:`lio_validate.reliability.reliability` applies them to each scale.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from lio_validate.exceptions import LioInputError

__all__ = [
    "alpha_ci_duhachek",
    "alpha_ci_feldt",
    "alpha_if_item_deleted",
    "alpha_se_duhachek",
    "average_variance_extracted",
    "composite_reliability",
    "cronbach_alpha",
    "item_rest_correlations",
    "omega_total",
    "standardized_alpha",
]

# ---------------------------------------------------------------------------
# Alpha and item statistics: pure functions of a covariance matrix
# ---------------------------------------------------------------------------


def _as_covariance(cov: np.ndarray | pd.DataFrame) -> np.ndarray:
    matrix = np.asarray(cov, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise LioInputError(
            f"a covariance matrix must be square, but its shape is {matrix.shape}"
        )
    if matrix.shape[0] < 2:
        raise LioInputError(
            "alpha needs at least 2 items, but the covariance matrix has "
            f"{matrix.shape[0]}"
        )
    return matrix


def cronbach_alpha(cov: np.ndarray | pd.DataFrame) -> float:
    """Compute Cronbach's alpha from the covariance matrix of the items.

    Parameters
    ----------
    cov : array_like, shape (k, k)
        Covariance matrix of the k >= 2 items. The divisor (N or N - 1) does
        not matter because alpha is a ratio of variances.

    Returns
    -------
    float
        ``k / (k - 1) * (1 - trace(C) / sum(C))``, psych's ``raw_alpha``.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of
    tests. Psychometrika, 16, 297-334.
    """
    matrix = _as_covariance(cov)
    n_items = matrix.shape[0]
    total_variance = matrix.sum()
    return n_items / (n_items - 1) * (1.0 - np.trace(matrix) / total_variance)


def standardized_alpha(cov: np.ndarray | pd.DataFrame) -> float:
    """Compute standardized alpha, which is alpha of the correlation matrix.

    Parameters
    ----------
    cov : array_like, shape (k, k)
        Covariance (or correlation) matrix of the k >= 2 items.

    Returns
    -------
    float
        ``k / (k - 1) * (1 - k / sum(R))`` with R the correlation matrix,
        psych's ``std.alpha``.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of
    tests. Psychometrika, 16, 297-334.
    """
    matrix = _as_covariance(cov)
    sd = np.sqrt(np.diag(matrix))
    correlation = matrix / np.outer(sd, sd)
    return cronbach_alpha(correlation)


def alpha_ci_feldt(
    alpha: float, nobs: int, n_items: int, confidence_level: float = 0.95
) -> tuple[float, float]:
    """Compute Feldt's F-based confidence interval for alpha.

    With ``p = 1 - confidence_level`` and F quantiles on ``nobs - 1`` and
    ``(nobs - 1) * (n_items - 1)`` degrees of freedom, the bounds are
    ``1 - (1 - alpha) * F(1 - p/2)`` and ``1 - (1 - alpha) * F(p/2)``. The
    interval assumes normally distributed, essentially parallel items. It is
    what ``psych::alpha.ci`` (psych 2.2.9) returns.

    Parameters
    ----------
    alpha : float
        Cronbach's alpha.
    nobs : int
        Number of respondents, at least 2.
    n_items : int
        Number of items, at least 2.
    confidence_level : float, default 0.95
        Coverage of the interval, between 0 and 1.

    Returns
    -------
    tuple of float
        ``(lower, upper)``.

    References
    ----------
    Feldt, L. S. (1965). The approximate sampling distribution of
    Kuder-Richardson reliability coefficient twenty. Psychometrika, 30,
    357-370.
    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference
    for coefficient alpha. Applied Psychological Measurement, 11, 93-103,
    formulas 6 and 7.
    """
    _validate_confidence_level(confidence_level)
    if nobs < 2 or n_items < 2:
        raise LioInputError(
            f"Feldt's interval needs nobs >= 2 and n_items >= 2, but got "
            f"nobs={nobs} and n_items={n_items}"
        )
    p_value = 1.0 - confidence_level
    dfn = nobs - 1
    dfd = (nobs - 1) * (n_items - 1)
    lower = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - p_value / 2.0, dfn, dfd)
    upper = 1.0 - (1.0 - alpha) * stats.f.ppf(p_value / 2.0, dfn, dfd)
    return float(lower), float(upper)


def alpha_se_duhachek(cov: np.ndarray | pd.DataFrame, nobs: int) -> float:
    """Compute the asymptotic standard error of alpha (psych's ``ase``).

    With C the covariance matrix, k items, ``s = sum(C)``, ``t = trace(C)``
    and ``1`` a vector of ones, the asymptotic variance of
    ``sqrt(N) * alpha`` is::

        Q = 2 k^2 / ((k - 1)^2 s^3)
            * (s * (trace(C C) + t^2) - 2 t * 1' C C 1)

    and the standard error is ``sqrt(Q / nobs)``. Q assumes normally
    distributed items but no equal loadings. Q is invariant to the divisor
    of C. A negative Q, which a covariance matrix that is not positive
    semidefinite can produce, gives NaN.

    Parameters
    ----------
    cov : array_like, shape (k, k)
        Covariance matrix of the k >= 2 items.
    nobs : int
        Number of respondents.

    Returns
    -------
    float

    References
    ----------
    Duhachek, A., & Iacobucci, D. (2004). Alpha's standard error (ASE): An
    accurate and precise confidence interval estimate. Journal of Applied
    Psychology, 89, 792-808.
    """
    matrix = _as_covariance(cov)
    n_items = matrix.shape[0]
    total = matrix.sum()
    trace = np.trace(matrix)
    squared = matrix @ matrix
    q_factor = 2.0 * n_items**2 / ((n_items - 1) ** 2 * total**3)
    q_value = q_factor * (
        total * (np.trace(squared) + trace**2) - 2.0 * trace * squared.sum()
    )
    if q_value < 0:
        return math.nan
    return math.sqrt(q_value / nobs)


def alpha_ci_duhachek(
    alpha: float, alpha_se: float, confidence_level: float = 0.95
) -> tuple[float, float]:
    """Compute the Duhachek and Iacobucci (2004) interval ``alpha -/+ z * se``.

    ``z`` is the exact normal quantile ``Phi^-1(1 - p/2)``. psych 2.2.9 prints
    the same interval with z rounded to 1.96, so its printed bounds differ
    from these by ``(1.96 - 1.959964) * se``, at most 4.3e-7 on bfi's scales.

    Parameters
    ----------
    alpha : float
        Cronbach's alpha.
    alpha_se : float
        Standard error from :func:`alpha_se_duhachek`.
    confidence_level : float, default 0.95
        Coverage of the interval, between 0 and 1.

    Returns
    -------
    tuple of float
        ``(lower, upper)``. This Wald interval is not bounded by 1.

    References
    ----------
    Duhachek, A., & Iacobucci, D. (2004). Alpha's standard error (ASE): An
    accurate and precise confidence interval estimate. Journal of Applied
    Psychology, 89, 792-808.
    """
    _validate_confidence_level(confidence_level)
    z_value = stats.norm.ppf(0.5 + confidence_level / 2.0)
    return float(alpha - z_value * alpha_se), float(alpha + z_value * alpha_se)


def item_rest_correlations(cov: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Compute each item's correlation with the sum of the other items.

    This is the corrected item-total correlation, psych's ``r.drop``.

    Parameters
    ----------
    cov : array_like, shape (k, k)
        Covariance matrix of the k >= 2 items.

    Returns
    -------
    numpy.ndarray, shape (k,)

    References
    ----------
    Cureton, E. E. (1966). Corrected item-test correlations. Psychometrika,
    31, 93-96.
    """
    matrix = _as_covariance(cov)
    item_variance = np.diag(matrix)

    # Covariance of item i with the rest score: its row sum minus its variance.
    rest_covariance = matrix.sum(axis=1) - item_variance

    # Variance of the rest score: the total sum less item i's row and column.
    rest_variance = matrix.sum() - 2.0 * matrix.sum(axis=1) + item_variance
    return rest_covariance / np.sqrt(item_variance * rest_variance)


def alpha_if_item_deleted(cov: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Compute Cronbach's alpha of the scale without each item in turn.

    This is psych's ``alpha.drop$raw_alpha``. Alpha of a single item is
    undefined, so a 2-item scale gives NaN for both items (psych reports a
    covariance ratio there instead).

    Parameters
    ----------
    cov : array_like, shape (k, k)
        Covariance matrix of the k >= 2 items.

    Returns
    -------
    numpy.ndarray, shape (k,)

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of
    tests. Psychometrika, 16, 297-334.
    """
    matrix = _as_covariance(cov)
    n_items = matrix.shape[0]
    if n_items == 2:
        return np.full(2, np.nan)
    dropped = np.empty(n_items)
    for i in range(n_items):
        keep = np.arange(n_items) != i
        dropped[i] = cronbach_alpha(matrix[np.ix_(keep, keep)])
    return dropped


# ---------------------------------------------------------------------------
# Factor-model coefficients: pure functions of one-factor CFA estimates
# ---------------------------------------------------------------------------


def omega_total(
    loadings: Sequence[float] | np.ndarray,
    latent_variance: float,
    sample_cov: np.ndarray | pd.DataFrame,
) -> float:
    """Compute McDonald's omega as ``semTools::compRelSEM()`` does by default.

    ``omega = (sum lambda)^2 psi / (1' S 1)`` with raw (unstandardized)
    loadings lambda, latent variance psi and the **observed** sample
    covariance matrix S (divisor N, as lavaan stores it). This is
    compRelSEM's default ``obs.var = TRUE``. It is the share of the observed
    variance of the sum score that the common factor explains.

    Parameters
    ----------
    loadings : array_like, shape (k,)
        Raw loadings of a one-factor model.
    latent_variance : float
        Variance psi of the factor.
    sample_cov : array_like, shape (k, k)
        Sample covariance matrix of the items, in the order of ``loadings``.

    Returns
    -------
    float

    References
    ----------
    McDonald, R. P. (1999). Test theory: A unified treatment. Mahwah, NJ:
    Erlbaum.
    Bentler, P. M. (2009). Alpha, dimension-free, and model-based internal
    consistency reliability. Psychometrika, 74, 137-143.
    """
    lambdas = np.asarray(loadings, dtype=float)
    total = np.asarray(sample_cov, dtype=float).sum()
    return float(lambdas.sum() ** 2 * latent_variance / total)


def composite_reliability(
    loadings: Sequence[float] | np.ndarray,
    residual_variances: Sequence[float] | np.ndarray,
    latent_variance: float,
) -> float:
    """Compute composite reliability from the model-implied total variance.

    ``CR = (sum lambda)^2 psi / ((sum lambda)^2 psi + sum theta)``. In a
    one-factor model without residual covariances the denominator is
    ``1' Sigma 1`` of the model-implied covariance Sigma, so this equals
    ``semTools::compRelSEM(fit, obs.var = FALSE)``. It differs from
    :func:`omega_total` unless the model reproduces the sample covariances
    exactly (df = 0, for example with 3 items). Negative residual variances
    (Heywood cases) are used as estimated.

    Parameters
    ----------
    loadings : array_like, shape (k,)
        Raw loadings of a one-factor model.
    residual_variances : array_like, shape (k,)
        Residual variances theta of the items.
    latent_variance : float
        Variance psi of the factor.

    Returns
    -------
    float

    References
    ----------
    Raykov, T. (1997). Estimation of composite reliability for congeneric
    measures. Applied Psychological Measurement, 21, 173-184.
    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation
    models with unobservable variables and measurement error. Journal of
    Marketing Research, 18, 39-50.
    """
    lambdas = np.asarray(loadings, dtype=float)
    thetas = np.asarray(residual_variances, dtype=float)
    common = lambdas.sum() ** 2 * latent_variance
    return float(common / (common + thetas.sum()))


def average_variance_extracted(
    loadings: Sequence[float] | np.ndarray,
    latent_variance: float,
    item_variances: Sequence[float] | np.ndarray,
) -> float:
    """Compute the average variance extracted as ``semTools::AVE()`` does.

    ``AVE = sum(lambda^2) psi / sum(s_ii)`` with raw loadings and the
    observed item variances s_ii (divisor N, the diagonal of lavaan's sample
    covariance). This weights items by their variance, so it equals the mean
    squared standardized loading of Fornell and Larcker only when the items
    have equal variances.

    At an ML solution of a one-factor model the implied item variances equal
    the observed ones, so ``AVE(fit, obs.var = FALSE)`` agrees up to the
    optimiser's tolerance. The reason: with ``D = Sigma^-1 (Sigma - S)
    Sigma^-1``, the score equations give ``D lambda = 0`` and ``diag(D) =
    0``, hence ``Sigma - S = Sigma D Sigma = Theta D Theta`` has a zero
    diagonal.

    Parameters
    ----------
    loadings : array_like, shape (k,)
        Raw loadings of a one-factor model.
    latent_variance : float
        Variance psi of the factor.
    item_variances : array_like, shape (k,)
        Observed variances of the items, in the order of ``loadings``.

    Returns
    -------
    float

    References
    ----------
    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation
    models with unobservable variables and measurement error. Journal of
    Marketing Research, 18, 39-50.
    """
    lambdas = np.asarray(loadings, dtype=float)
    variances = np.asarray(item_variances, dtype=float)
    return float((lambdas**2).sum() * latent_variance / variances.sum())


# ---------------------------------------------------------------------------
# Input checks, shared with reliability()
# ---------------------------------------------------------------------------


def _validate_confidence_level(confidence_level: float) -> None:
    is_number = isinstance(confidence_level, numbers.Real)
    if not is_number or isinstance(confidence_level, bool):
        raise LioInputError(
            f"confidence_level must be a number between 0 and 1 (for example "
            f"0.95), but it is {confidence_level!r}"
        )
    if not 0.0 < confidence_level < 1.0:
        raise LioInputError(
            f"confidence_level must be between 0 and 1 (for example 0.95), but "
            f"it is {confidence_level!r}"
        )
