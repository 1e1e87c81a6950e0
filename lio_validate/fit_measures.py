"""Fit indices as small pure functions of test statistics and moments.

Each function reproduces the definition that lavaan 0.6 uses for the
measure of the same name (``fitMeasures()``), so values agree to the printed
precision. The code that pulls the numbers out of a fitted model lives in
:mod:`lio_validate.results`; these functions only see numbers.

References
----------
Bentler, P. M. (1990). Comparative fit indexes in structural models.
Psychological Bulletin, 107(2), 238-246.
Browne, M. W., & Cudeck, R. (1993). Alternative ways of assessing model fit.
In K. A. Bollen & J. S. Long (Eds.), Testing Structural Equation Models
(pp. 136-162). Sage.
Steiger, J. H. (1990). Structural model evaluation and modification: An
interval estimation approach. Multivariate Behavioral Research, 25(2), 173-180.
Tucker, L. R., & Lewis, C. (1973). A reliability coefficient for maximum
likelihood factor analysis. Psychometrika, 38(1), 1-10.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

__all__ = [
    "chisq_pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci",
    "rmsea_pvalue",
    "srmr_bentler",
    "aic",
    "bic",
    "bic2",
    "normal_logl",
]


def chisq_pvalue(chisq: float, df: float) -> float:
    """Upper-tail p-value of the chi-square test; NaN when df is 0."""
    if df <= 0:
        return np.nan
    return float(stats.chi2.sf(chisq, df))


def cfi(chisq: float, df: float, baseline_chisq: float, baseline_df: float) -> float:
    """Comparative fit index (Bentler, 1990, eq. 8), 1 when both terms are 0."""
    model_term = max(chisq - df, 0.0)
    denominator = max(chisq - df, baseline_chisq - baseline_df, 0.0)
    if denominator == 0.0:
        return 1.0
    return 1.0 - model_term / denominator


def tli(chisq: float, df: float, baseline_chisq: float, baseline_df: float) -> float:
    """Tucker-Lewis index (Tucker & Lewis, 1973), not truncated to [0, 1]."""
    if df <= 0 or baseline_df <= 0:
        return 1.0 if df <= 0 else np.nan
    baseline_term = baseline_chisq / baseline_df - 1.0
    if baseline_term == 0.0:
        return np.nan
    return 1.0 - (chisq / df - 1.0) / baseline_term


def rmsea(chisq: float, df: float, nobs: float, ngroups: int = 1) -> float:
    """Root mean square error of approximation (Steiger, 1990).

    ``nobs`` is N for the ML family and N - G for the others; the sqrt(G)
    factor for several groups follows Steiger (1998).
    """
    if df <= 0:
        return 0.0
    return float(np.sqrt(ngroups) * np.sqrt(max(chisq / (nobs * df) - 1.0 / nobs, 0.0)))


def _noncentrality(chisq: float, df: float, probability: float, upper: float) -> float:
    """Solve F(chisq; df, lambda) = probability for lambda in [0, upper]."""

    def difference(ncp: float) -> float:
        return stats.ncx2.cdf(chisq, df, ncp) - probability if ncp > 0 else \
            stats.chi2.cdf(chisq, df) - probability

    if difference(0.0) < 0.0:
        return 0.0
    if difference(upper) > 0.0:
        return upper
    return float(optimize.brentq(difference, 0.0, upper, xtol=1e-12, rtol=1e-12))


def rmsea_ci(
    chisq: float, df: float, nobs: float, ngroups: int = 1, level: float = 0.90
) -> tuple[float, float]:
    """Confidence interval of the RMSEA by inverting the noncentral chi-square.

    Browne & Cudeck (1993): the bounds of the noncentrality lambda solve
    F(chisq; df, lambda) = 0.95 and 0.05 for a 90% interval; each is mapped to
    sqrt(G) sqrt(lambda / (N df)).
    """
    if not (np.isfinite(chisq) and np.isfinite(df)):
        # A scaled test without a scaling factor (df = 0): lavaan gives NA.
        return np.nan, np.nan
    if df <= 0:
        return 0.0, 0.0
    tail = (1.0 - level) / 2.0
    lower_ncp = _noncentrality(chisq, df, 1.0 - tail, chisq)
    upper_ncp = _noncentrality(chisq, df, tail, max(nobs, 4.0 * chisq))
    scale = np.sqrt(ngroups)
    return (float(scale * np.sqrt(lower_ncp / (nobs * df))),
            float(scale * np.sqrt(upper_ncp / (nobs * df))))


def rmsea_pvalue(
    chisq: float, df: float, nobs: float, ngroups: int = 1, close: float = 0.05
) -> float:
    """p-value of the test of close fit, H0: RMSEA <= ``close``."""
    if df <= 0:
        return np.nan
    ncp = nobs * df * close**2 / ngroups
    return float(1.0 - stats.ncx2.cdf(chisq, df, ncp))


def srmr_bentler(
    sample_cov: np.ndarray,
    implied_cov: np.ndarray,
    sample_mean: np.ndarray | None = None,
    implied_mean: np.ndarray | None = None,
) -> float:
    """Bentler's standardized root mean square residual of one group.

    Residual covariances (the diagonal included) are scaled by the sample
    standard deviations; with a mean structure, the mean residuals scaled by
    the sample standard deviations are added and the divisor grows by p.
    """
    sd = np.sqrt(np.diag(sample_cov))
    residual = (sample_cov - implied_cov) / np.outer(sd, sd)
    lower = residual[np.tril_indices_from(residual)]
    squares = np.sum(lower**2)
    count = lower.size
    if sample_mean is not None and implied_mean is not None:
        mean_residual = (sample_mean - implied_mean) / sd
        squares += np.sum(mean_residual**2)
        count += mean_residual.size
    return float(np.sqrt(squares / count))


def normal_logl(
    nobs: int, sample_cov: np.ndarray, cov: np.ndarray,
    mean_residual: np.ndarray | None = None,
) -> float:
    """Multivariate normal log-likelihood from sufficient statistics.

    -(N/2) [p log(2 pi) + log|Sigma| + tr(S Sigma^-1) + d' Sigma^-1 d], with S
    the covariance of divisor N and d = ybar - mu.
    """
    p = cov.shape[0]
    if p == 0:
        return 0.0
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return np.nan
    inverse = np.linalg.inv(cov)
    value = p * np.log(2 * np.pi) + logdet + np.sum(sample_cov * inverse)
    if mean_residual is not None:
        value += mean_residual @ inverse @ mean_residual
    return float(-0.5 * nobs * value)


def aic(logl: float, npar: int) -> float:
    """Akaike information criterion, -2 logl + 2 npar."""
    return -2.0 * logl + 2.0 * npar


def bic(logl: float, npar: int, nobs: int) -> float:
    """Bayesian information criterion, -2 logl + npar log N (Schwarz, 1978)."""
    return -2.0 * logl + npar * np.log(nobs)


def bic2(logl: float, npar: int, nobs: int) -> float:
    """Sample-size adjusted BIC, with N* = (N + 2) / 24 (Sclove, 1987)."""
    return -2.0 * logl + npar * np.log((nobs + 2.0) / 24.0)


# --------------------------------------------------------------------------
# Robust versions for scaled tests (Brosseau-Liard & Savalei, 2014;
# Brosseau-Liard, Savalei & Li, 2012). c and c0 are the scaling factors of
# the model and the baseline model; chisq is the unscaled statistic.
# --------------------------------------------------------------------------


def cfi_robust(chisq: float, df: float, factor: float, baseline_chisq: float,
               baseline_df: float, baseline_factor: float) -> float:
    """Robust CFI: the noncentrality of each model estimated as chisq - c df."""
    model_term = chisq - factor * df
    baseline_term = baseline_chisq - baseline_factor * baseline_df
    denominator = max(model_term, baseline_term, 0.0)
    if denominator == 0.0:
        return 1.0
    return 1.0 - max(model_term, 0.0) / denominator


def tli_robust(chisq: float, df: float, factor: float, baseline_chisq: float,
               baseline_df: float, baseline_factor: float) -> float:
    """Robust TLI, not truncated; NaN without degrees of freedom, as in lavaan 0.6.14."""
    if df <= 0:
        return np.nan
    baseline_term = (baseline_chisq - baseline_factor * baseline_df) * df
    if baseline_term == 0.0:
        return np.nan
    return 1.0 - (chisq - factor * df) * baseline_df / baseline_term


def rmsea_robust(chisq: float, df: float, factor: float, nobs: float,
                 ngroups: int = 1) -> float:
    """Robust RMSEA, sqrt(G) sqrt(max(chisq / (N df) - c / N, 0))."""
    if df <= 0:
        return 0.0
    return float(np.sqrt(ngroups)
                 * np.sqrt(max(chisq / (nobs * df) - factor / nobs, 0.0)))


def rmsea_ci_robust(chisq_scaled: float, df: float, factor: float, nobs: float,
                    ngroups: int = 1, level: float = 0.90) -> tuple[float, float]:
    """Interval of the robust RMSEA: invert at the scaled statistic, rescale by c."""
    if df <= 0:
        return 0.0, 0.0
    tail = (1.0 - level) / 2.0
    lower_ncp = _noncentrality(chisq_scaled, df, 1.0 - tail, chisq_scaled)
    upper_ncp = _noncentrality(chisq_scaled, df, tail,
                               max(nobs, 4.0 * chisq_scaled))
    scale = np.sqrt(ngroups)
    return (float(scale * np.sqrt(factor * lower_ncp / (nobs * df))),
            float(scale * np.sqrt(factor * upper_ncp / (nobs * df))))


def rmsea_pvalue_robust(chisq_scaled: float, df: float, factor: float, nobs: float,
                        ngroups: int = 1, close: float = 0.05,
                        not_close: bool = False) -> float:
    """Test of close (or not-close) fit of the robust RMSEA, at the scaled statistic."""
    if df <= 0:
        return np.nan
    ncp = nobs * df * close**2 / (factor * ngroups)
    cdf = float(stats.ncx2.cdf(chisq_scaled, df, ncp))
    return cdf if not_close else 1.0 - cdf
