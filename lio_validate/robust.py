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
from scipy import sparse

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
    centre: np.ndarray | None = None, at_sample_mean: bool = False,
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
    mean = moments.mu if model.table.meanstructure and not at_sample_mean else centre
    residual = (data - mean) @ inverse
    rows = (residual @ U.T) * (residual @ V.T)
    rows -= constant
    if model.table.meanstructure:
        rows += residual @ dmu.T
    return model.rows_to_free(rows, group)


def _cluster_sums(values: np.ndarray, clusters: np.ndarray, nclusters: int):
    """Sum the rows of ``values`` within each cluster (codes 0..nclusters-1)."""
    indicator = sparse.csr_matrix(
        (np.ones(len(clusters)), (clusters, np.arange(len(clusters)))),
        shape=(nclusters, len(clusters)),
    )
    return np.asarray(indicator @ values)


def score_crossproduct(
    model: RamModel, x: np.ndarray, data: list[np.ndarray],
    weights: list[np.ndarray] | None = None,
    clusters: list[np.ndarray] | None = None,
    centred: bool = False,
) -> np.ndarray:
    """B = (1/N) sum of outer products of (weighted) scores over all cases.

    With sampling weights each case's score is multiplied by its weight;
    with clusters the scores are first summed within each cluster, so that
    B estimates the variance of the score total under cluster sampling.
    ``centred=True`` gives the form of B that the Satorra-Bentler statistics
    use, Delta' W Gamma W Delta with Gamma centred at each group's sample
    moments: the cases are taken at the group's sample mean and each group's
    scores are centred at their own mean. Under equality constraints across
    groups the per-group score means are not zero, so the two forms differ.
    """
    npar = model.npar
    total = np.zeros((npar, npar))
    nobs = sum(len(values) for values in data)
    for group, values in enumerate(data):
        w = None if weights is None else weights[group]
        centre = values.mean(axis=0) if w is None else w @ values / w.sum()
        codes = None if clusters is None else clusters[group]
        if codes is not None:
            nclusters = int(codes.max()) + 1
            summed = np.zeros((nclusters, npar))
        score_mean = None
        if centred:
            score_mean = np.zeros(npar)
            for start in range(0, len(values), _CHUNK_ROWS):
                chunk = values[start:start + _CHUNK_ROWS]
                score_mean += casewise_scores(model, x, group, chunk, centre,
                                              at_sample_mean=True).sum(axis=0)
            score_mean /= len(values)
        for start in range(0, len(values), _CHUNK_ROWS):
            chunk = values[start:start + _CHUNK_ROWS]
            scores = casewise_scores(model, x, group, chunk, centre,
                                     at_sample_mean=centred)
            if score_mean is not None:
                scores -= score_mean
            if w is not None:
                scores *= w[start:start + _CHUNK_ROWS, None]
            if codes is None:
                total += scores.T @ scores
            else:
                summed += _cluster_sums(scores, codes[start:start + _CHUNK_ROWS],
                                        nclusters)
        if codes is not None:
            # Small-sample factor G / (G - 1) for G clusters, as in lavaan's
            # robust.cluster and the usual cluster-robust sandwich.
            total += nclusters / (nclusters - 1) * (summed.T @ summed)
    return total / nobs


def _quadratic_trace(
    data: np.ndarray, precision: np.ndarray, sample_cov: np.ndarray,
    weights: np.ndarray | None, clusters: np.ndarray | None, centre: np.ndarray,
) -> float:
    """(1/N) sum_c (1/2) tr(P M_c P M_c), M_c = sum_{i in c} w_i (z_i z_i' - S).

    Without clusters each case is its own cluster, and the per-case identity
    of the module docstring avoids any p x p matrix per case.
    """
    centred = data - centre
    nobs = len(data)
    if clusters is None:
        quadratic = np.sum((centred @ precision) * centred, axis=1)
        middle = precision @ sample_cov @ precision
        cross = np.sum((centred @ middle) * centred, axis=1)
        constant = np.sum((precision @ sample_cov) * (precision @ sample_cov).T)
        per_case = 0.5 * (quadratic**2 - 2.0 * cross + constant)
        if weights is not None:
            per_case = per_case * weights**2
        return float(np.sum(per_case) / nobs)

    # With clusters: transform by a Cholesky factor L of P, then
    # tr(P M P M) = ||L' M L||_F^2 for each cluster's summed M.
    factor = np.linalg.cholesky(precision)
    transformed = centred @ factor
    shifted = factor.T @ sample_cov @ factor
    w = np.ones(nobs) if weights is None else weights
    order = np.argsort(clusters, kind="stable")
    bounds = np.flatnonzero(np.diff(clusters[order])) + 1
    total = 0.0
    for rows in np.split(order, bounds):
        block = transformed[rows]
        scatter = (block * w[rows, None]).T @ block - w[rows].sum() * shifted
        total += 0.5 * np.sum(scatter * scatter)
    nclusters = len(bounds) + 1
    return nclusters / (nclusters - 1) * total / nobs


def _mean_trace(data, precision, weights, clusters, centre) -> float:
    """(1/N) sum_c m_c' P m_c with m_c the cluster sum of w_i z_i (mean block)."""
    centred = data - centre
    if weights is not None:
        centred = centred * weights[:, None]
    factor = 1.0
    if clusters is not None:
        nclusters = int(clusters.max()) + 1
        centred = _cluster_sums(centred, clusters, nclusters)
        factor = nclusters / (nclusters - 1)
    return factor * float(np.sum((centred @ precision) * centred) / len(data))


def h1_trace(data: np.ndarray, sample_cov: np.ndarray, meanstructure: bool,
             weights: np.ndarray | None = None,
             clusters: np.ndarray | None = None) -> float:
    """tr(A1^-1 B1) of the saturated model of one group.

    At the saturated estimate A1 = W(S), and B1 = W Gamma W, so the trace is
    tr(W(S) Gamma); a mean structure adds tr(S^-1 S) = p (or its weighted
    and clustered counterpart).
    """
    precision = np.linalg.inv(sample_cov)
    centre = data.mean(axis=0) if weights is None else weights @ data / weights.sum()
    trace = _quadratic_trace(data, precision, sample_cov, weights, clusters, centre)
    if meanstructure:
        trace += _mean_trace(data, precision, weights, clusters, centre)
    return trace


def model_gamma_trace(
    data: np.ndarray, implied_cov: np.ndarray, sample_cov: np.ndarray,
    meanstructure: bool,
) -> float:
    """tr(W(Sigma-hat) Gamma) of one group, the first term of tr(U Gamma)."""
    precision = np.linalg.inv(implied_cov)
    centre = data.mean(axis=0)
    trace = _quadratic_trace(data, precision, sample_cov, None, None, centre)
    if meanstructure:
        trace += float(np.sum(precision * sample_cov))
    return trace


def diagonal_trace(data: np.ndarray, meanstructure: bool,
                   weights: np.ndarray | None = None,
                   clusters: np.ndarray | None = None) -> float:
    """tr(A^-1 B) of the independence model.

    For a free variance s_jj the information is 1 / (2 s_jj^2); with
    a_i = z_ij / sqrt(s_jj) the trace adds (1/N) sum (1/2)(w_i (a_i^2 - 1))^2,
    which is (kurtosis_j - 1) / 2 for unweighted independent cases, and a
    free mean adds (1/N) sum (w_i a_i)^2 (1 for unweighted cases). Sums over
    i run within clusters first when clusters are given.
    """
    if weights is None:
        centre = data.mean(axis=0)
        w = np.ones(len(data))
    else:
        centre = weights @ data / weights.sum()
        w = weights
    centred = data - centre
    variance = (w @ (centred * centred)) / w.sum()
    standardized = centred / np.sqrt(variance)
    variance_scores = w[:, None] * (standardized * standardized - 1.0)
    mean_scores = w[:, None] * standardized
    factor = 1.0
    if clusters is not None:
        nclusters = int(clusters.max()) + 1
        variance_scores = _cluster_sums(variance_scores, clusters, nclusters)
        mean_scores = _cluster_sums(mean_scores, clusters, nclusters)
        factor = nclusters / (nclusters - 1)
    trace = 0.5 * float(np.sum(variance_scores * variance_scores)) / len(data)
    if meanstructure:
        trace += float(np.sum(mean_scores * mean_scores)) / len(data)
    return factor * trace


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
