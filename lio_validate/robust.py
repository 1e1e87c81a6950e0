"""Robust ML: casewise scores, sandwich standard errors and scaled test statistics.

Everything here works from casewise scores (an N x q matrix, accumulated in
chunks of rows) and from per-case quadratic forms, never from the p* x p*
fourth-moment matrix Gamma: the traces that the scaled tests need are
written as averages over cases. With z_i the centred case and P a precision
matrix, the identity used throughout is

    (1/2) tr(P M_i P M_i) = (1/2) [(z_i' P z_i)^2 - 2 z_i' P S P z_i + tr(P S P S)]

for M_i = z_i z_i' - S, whose mean over cases is tr(W Gamma) with
W = (1/2) D' (P kron P) D (Browne, 1984, eq. 2.12).

References
----------
Browne, M. W. (1984). Asymptotically distribution-free methods for the
analysis of covariance structures. British Journal of Mathematical and
Statistical Psychology, 37(1), 62-83.
Satorra, A., & Bentler, P. M. (1994). Corrections to test statistics and
standard errors in covariance structure analysis. In A. von Eye & C. C. Clogg
(Eds.), Latent Variables Analysis (pp. 399-419). Sage.
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean
and covariance structure analysis with nonnormal missing data. Sociological
Methodology, 30(1), 165-200.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lio_validate.model import RamModel

__all__ = [
    "ScaledTest",
    "score_crossproduct",
    "casewise_scores",
    "h1_trace",
    "model_gamma_trace",
    "diagonal_trace",
    "scaled_test",
]

_CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class ScaledTest:
    """A scaled test statistic: T = chisq / c with the same df."""

    method: str
    chisq_scaled: float
    df: float
    scaling_factor: float
    scaling_factor_h1: float
    scaling_factor_h0: float
    baseline_scaling_factor: float


def casewise_scores(
    model: RamModel, x: np.ndarray, group: int, data: np.ndarray,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Scores d l_i / d x of the cases in ``data`` (rows) of one group.

    Without a mean structure the cases are centred at ``centre`` (the sample
    mean), as the implied mean then equals it.

    Notes
    -----
    For a row with dSigma = U V' + V U' and dmu, the score of case i is
    -U' P V + (r_i' U)(r_i' V) + r_i' dmu with r_i = P (y_i - mu) and
    P = Sigma^-1; the rows are then summed into the free parameters.
    """
    moments = model.implied(x, group)
    inverse = np.linalg.inv(moments.sigma)
    U, V, dmu = model.sigma_factors(moments, group)
    free = model.free_rows_of_group(group)
    U, V, dmu = U[free], V[free], dmu[free]
    constant = np.sum((U @ inverse) * V, axis=1)
    mean = moments.mu if model.table.meanstructure else centre
    residual = (data - mean) @ inverse
    rows = (residual @ U.T) * (residual @ V.T)
    rows -= constant
    if model.table.meanstructure:
        rows += residual @ dmu.T
    return model.rows_to_free(rows, group)


def score_crossproduct(
    model: RamModel, x: np.ndarray, data: list[np.ndarray],
) -> np.ndarray:
    """B = (1/N) sum_i s_i s_i' over all cases of all groups (unit information)."""
    npar = model.npar
    total = np.zeros((npar, npar))
    nobs = sum(len(values) for values in data)
    for group, values in enumerate(data):
        centre = values.mean(axis=0)
        for start in range(0, len(values), _CHUNK_ROWS):
            chunk = values[start:start + _CHUNK_ROWS]
            scores = casewise_scores(model, x, group, chunk, centre)
            total += scores.T @ scores
    return total / nobs


def _mean_quadratic_trace(
    data: np.ndarray, precision: np.ndarray, sample_cov: np.ndarray
) -> float:
    """(1/N) sum_i (1/2) tr(P M_i P M_i) with M_i = z_i z_i' - S, z_i centred."""
    centred = data - data.mean(axis=0)
    quadratic = np.sum((centred @ precision) * centred, axis=1)
    middle = precision @ sample_cov @ precision
    cross = np.sum((centred @ middle) * centred, axis=1)
    constant = np.sum((precision @ sample_cov) * (precision @ sample_cov).T)
    return float(0.5 * np.mean(quadratic**2 - 2.0 * cross + constant))


def h1_trace(data: np.ndarray, sample_cov: np.ndarray, meanstructure: bool) -> float:
    """tr(A1^-1 B1) of the saturated model of one group.

    At the saturated estimate A1 = W(S), and B1 = W Gamma W, so the trace is
    tr(W(S) Gamma); a mean structure adds tr(S^-1 S) = p.
    """
    precision = np.linalg.inv(sample_cov)
    trace = _mean_quadratic_trace(data, precision, sample_cov)
    if meanstructure:
        trace += sample_cov.shape[0]
    return trace


def model_gamma_trace(
    data: np.ndarray, implied_cov: np.ndarray, sample_cov: np.ndarray,
    meanstructure: bool,
) -> float:
    """tr(W(Sigma-hat) Gamma) of one group, the first term of tr(U Gamma)."""
    precision = np.linalg.inv(implied_cov)
    trace = _mean_quadratic_trace(data, precision, sample_cov)
    if meanstructure:
        trace += float(np.sum(precision * sample_cov))
    return trace


def diagonal_trace(data: np.ndarray, meanstructure: bool) -> float:
    """tr(A^-1 B) of the independence model: sum_j (kurtosis_j - 1) / 2.

    For a free variance s_jj the information is 1 / (2 s_jj^2) and the score
    variance (m4_j - s_jj^2) / (4 s_jj^4), so each item adds (m4/m2^2 - 1)/2;
    a free mean adds 1.
    """
    centred = data - data.mean(axis=0)
    squared = centred * centred
    m2 = np.mean(squared, axis=0)
    m4 = np.mean(squared * squared, axis=0)
    trace = float(np.sum((m4 / m2**2 - 1.0) / 2.0))
    if meanstructure:
        trace += data.shape[1]
    return trace


def scaled_test(
    method: str,
    chisq: float,
    df: int,
    *,
    h1_traces: float,
    model_trace: float,
    npar: int,
    nstatistics: int,
    baseline_df: int,
    baseline_h1_traces: float,
    baseline_model_trace: float,
) -> ScaledTest:
    """Scale ``chisq`` by c = [h1 trace - tr(A^-1 B)] / df.

    ``method`` is "yuan.bentler.mplus" (MLR: A observed, h1 traces at S) or
    "satorra.bentler" (MLM: A expected, first trace at Sigma-hat); the
    arithmetic is the same, and only the traces passed in differ.
    """
    if df > 0:
        factor = (h1_traces - model_trace) / df
    else:
        factor = np.nan
    baseline_factor = (baseline_h1_traces - baseline_model_trace) / baseline_df \
        if baseline_df > 0 else np.nan
    return ScaledTest(
        method=method,
        chisq_scaled=chisq / factor if df > 0 else 0.0,
        df=df,
        scaling_factor=factor,
        scaling_factor_h1=h1_traces / nstatistics,
        scaling_factor_h0=model_trace / npar if npar else np.nan,
        baseline_scaling_factor=baseline_factor,
    )
