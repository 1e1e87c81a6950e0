"""Full-information maximum likelihood for continuous items with missing values.

The cases of each group are sorted into missingness patterns; each pattern
contributes the normal log-likelihood of its observed variables, computed
from the pattern's own count, mean and covariance (Arbuckle, 1996), so the
cost grows with the number of patterns, not of cases. The saturated model
(h1) is fitted by EM (Dempster, Laird & Rubin, 1977) and gives the
chi-square, chisq = 2 (logl_h1 - logl), and the moments that SRMR uses.

Patterns with the same number k of observed variables are stacked into one
batch, so numpy inverts and multiplies all of them in one call. Sums over
patterns of Kronecker-type products, which the information matrices need,
are matrix products of the stacked, zero-padded half-vectorised inverses, so
no Python loop runs over patterns or cases. Derivatives with respect to the
moments use the coordinates (mu, vech Sigma), with vech taking the upper
triangle row by row (``numpy.triu_indices``) and each distinct covariance
counted once.

References
----------
Arbuckle, J. L. (1996). Full information estimation in the presence of
incomplete data. In G. A. Marcoulides & R. E. Schumacker (Eds.), Advanced
Structural Equation Modeling (pp. 243-277). Erlbaum.
Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from
incomplete data via the EM algorithm. Journal of the Royal Statistical
Society B, 39(1), 1-38.
Savalei, V. (2010). Expected versus observed information in SEM with
incomplete normal and nonnormal data. Psychological Methods, 15(4), 352-367.
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean
and covariance structure analysis with nonnormal missing data. Sociological
Methodology, 30(1), 165-200.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.linalg import blas

from lio_validate.exceptions import ConvergenceWarning
from lio_validate.model import RamModel

__all__ = [
    "FimlObjective",
    "GroupPatterns",
    "MomentDerivatives",
    "Pattern",
    "PatternBatch",
    "em_saturated",
    "fiml_casewise_scores",
    "find_patterns",
    "h1_information",
    "moment_derivatives",
    "moment_jacobian",
    "moment_score_crossproduct",
    "normal_information",
    "pattern_logl",
    "saturated_h1_trace",
    "univariate_logl",
    "vech_position",
]

_LOG_2PI = np.log(2.0 * np.pi)

# Cases handled at once in the casewise passes; bounds the memory of the
# gathered per-case inverses (CHUNK_ROWS x k x k doubles).
CHUNK_ROWS = 1024

# lavaan 0.6.14's defaults for the EM of the saturated moments (em.h1.tol,
# em.h1.iter.max).
EM_TOLERANCE = 1e-5
EM_MAX_ITERATIONS = 500

# Elements of the largest per-pattern array formed at once (patterns x p x p).
CHUNK_ELEMENTS = 4_000_000

# Relative step of the central differences that give the second derivatives
# of the implied moments (see FimlObjective.observed_information).
SECOND_DERIVATIVE_STEP = 1e-4


@dataclass(frozen=True)
class Pattern:
    """The cases of one missingness pattern: observed columns and their moments."""

    observed: np.ndarray
    nobs: int
    mean: np.ndarray
    data: np.ndarray

    @property
    def cov(self) -> np.ndarray:
        """Covariance of the pattern's cases, divisor n (computed on request)."""
        centred = self.data - self.mean
        return centred.T @ centred / self.nobs


@dataclass(frozen=True)
class PatternBatch:
    """Patterns with the same number k of observed variables, stacked.

    ``columns`` (m, k), ``missing`` (m, p - k), ``nobs`` (m,) and ``mean``
    (m, k) describe the m patterns. ``data`` (n, k) holds the observed values
    of the batch's n cases, grouped by pattern in the order of ``columns``,
    and ``case_pattern`` (n,) the pattern of each case. ``vech_index`` (m,
    k (k + 1) / 2) gives, for each pair i <= j of a pattern's observed
    columns, the position of (columns[i], columns[j]) in the group's vech.
    """

    columns: np.ndarray
    missing: np.ndarray
    nobs: np.ndarray
    mean: np.ndarray
    data: np.ndarray
    case_pattern: np.ndarray
    vech_index: np.ndarray


@dataclass(frozen=True)
class GroupPatterns:
    """All patterns of one group and its available-case moments."""

    patterns: tuple[Pattern, ...]
    nobs: int
    nobs_all_missing: int
    data: np.ndarray
    batches: tuple[PatternBatch, ...] = ()


@dataclass(frozen=True)
class _VechLayout:
    """Index arrays of the half-vectorisation of a p x p symmetric matrix."""

    p: int
    rows: np.ndarray
    columns: np.ndarray
    position: np.ndarray
    off_diagonal: np.ndarray
    half: np.ndarray

    @property
    def size(self) -> int:
        return len(self.rows)


@functools.lru_cache(maxsize=16)
def _vech_layout(p: int) -> _VechLayout:
    rows, columns = np.triu_indices(p)
    position = np.zeros((p, p), dtype=np.int32)
    position[rows, columns] = np.arange(len(rows))
    position[columns, rows] = np.arange(len(rows))
    off_diagonal = rows != columns
    return _VechLayout(p, rows, columns, position, off_diagonal,
                       np.where(off_diagonal, 1.0, 0.5))


def find_patterns(values: np.ndarray) -> GroupPatterns:
    """Sort the rows of ``values`` (NaN for missing) into missingness patterns.

    Rows with every value missing carry no information and are left out
    (counted in ``nobs_all_missing``), as lavaan does.
    """
    observed = ~np.isnan(values)
    keep = observed.any(axis=1)
    values, observed = values[keep], observed[keep]
    p = values.shape[1]
    layout = _vech_layout(p)
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(keys))
    sizes = keys.sum(axis=1)

    patterns: list[Pattern | None] = [None] * len(keys)
    batches = []
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        columns = np.nonzero(keys[members])[1].reshape(len(members), size)
        missing = np.nonzero(~keys[members])[1].reshape(len(members), p - size)
        # The batch's cases, grouped by pattern in the order of ``members``.
        rows = np.flatnonzero(sizes[inverse] == size)
        rows = rows[np.argsort(inverse[rows], kind="stable")]
        case_pattern = np.searchsorted(members, inverse[rows])
        data = values[rows[:, None], columns[case_pattern]]
        nobs = counts[members]
        starts = np.concatenate([[0], np.cumsum(nobs)[:-1]])
        mean = np.add.reduceat(data, starts, axis=0) / nobs[:, None]
        upper_i, upper_j = np.triu_indices(size)
        vech_index = layout.position[columns[:, upper_i], columns[:, upper_j]]
        batches.append(PatternBatch(columns, missing, nobs.astype(float), mean, data,
                                    case_pattern, vech_index))
        for t, pattern in enumerate(members):
            patterns[pattern] = Pattern(columns[t], int(nobs[t]), mean[t],
                                        data[starts[t]:starts[t] + nobs[t]])
    return GroupPatterns(tuple(patterns), int(keep.sum()), int((~keep).sum()), values,
                         tuple(batches))


@dataclass(frozen=True)
class _BatchPrecision:
    """Precision matrices P_t = Sigma_oo^-1 of the patterns of one batch.

    Either ``inverse`` (m, k, k) contains them, or, for a batch missing fewer
    variables than it observes, ``factor`` F (m, p, p - k) gives them: P_t
    padded with zeros is W - F_t F_t', with W = ``precision`` = Sigma^-1.
    ``logdet`` (m,) contains log|Sigma_oo|.
    """

    logdet: np.ndarray
    inverse: np.ndarray | None = None
    factor: np.ndarray | None = None
    precision: np.ndarray | None = None

    def scaled(self, batch: PatternBatch, owner: np.ndarray, centred: np.ndarray,
               p: int) -> np.ndarray:
        """P (y_o - mu_o) of the cases ``owner``, padded with zeros to length p."""
        if self.inverse is not None:
            values = np.einsum("nij,nj->ni", self.inverse[owner], centred, optimize=True)
            return _padded(batch, owner, values, p)
        padded = _padded(batch, owner, centred, p)
        factor = self.factor[owner]
        loadings = np.einsum("npm,np->nm", factor, padded, optimize=True)
        return padded @ self.precision - np.einsum("npm,nm->np", factor, loadings,
                                                   optimize=True)

    def packed(self, batch: PatternBatch, layout: _VechLayout) -> np.ndarray:
        """vech of each padded P_t, shape (m, p*)."""
        if self.inverse is not None:
            return _packed(batch, self.inverse, layout)
        p = self.precision.shape[0]
        flat_index = layout.rows * p + layout.columns
        out = np.empty((len(self.factor), layout.size))
        out[:] = self.precision.reshape(-1)[flat_index]
        # F_t F_t' in blocks of patterns, so that no (m, p, p) array is formed.
        step = max(1, CHUNK_ELEMENTS // (p * p))
        for start in range(0, len(self.factor), step):
            part = self.factor[start:start + step]
            outer = part @ part.transpose(0, 2, 1)
            out[start:start + step] -= outer.reshape(len(part), -1)[:, flat_index]
        return out

    def weighted_sum(self, batch: PatternBatch, layout: _VechLayout) -> np.ndarray:
        """vech of sum_t n_t P_t (padded)."""
        n = batch.nobs
        if self.inverse is not None:
            upper_i, upper_j = np.triu_indices(batch.columns.shape[1])
            weights = n[:, None] * self.inverse[:, upper_i, upper_j]
            return np.bincount(batch.vech_index.ravel(), weights=weights.ravel(),
                               minlength=layout.size)
        total = n.sum() * self.precision
        if self.factor.shape[2]:
            total = total - _weighted_gram(self.factor, n)
        return total[layout.rows, layout.columns]

    def low_rank(self, batch: PatternBatch, p: int) -> tuple[np.ndarray, bool]:
        """Factor F_t and whether P_t = W - F F' (True) or P_t = F F' (False)."""
        if self.factor is not None:
            return self.factor, True
        block_factor = np.linalg.cholesky(self.inverse)
        m, k = batch.columns.shape
        factor = np.zeros((m, p, k))
        factor[np.arange(m)[:, None], batch.columns] = block_factor
        return factor, False


def _precisions(group: GroupPatterns, cov: np.ndarray) -> list[_BatchPrecision] | None:
    """Precision matrices of every pattern's block of ``cov``, by batch.

    Returns None when a block is not positive definite.

    Notes
    -----
    When ``cov`` is positive definite, a pattern missing the variables m
    has Sigma_oo^-1 = W_oo - W_om W_mm^-1 W_mo and log|Sigma_oo| = log|Sigma|
    + log|W_mm|, with W = Sigma^-1 (the inverse of a partitioned matrix).
    Padded with zeros, this is W - F F' with F = W_.m L^-T and L the
    Cholesky factor of W_mm, so a batch with fewer missing than observed
    variables needs only (p - k) x (p - k) factorisations and no k x k
    inverse. Other batches, and every batch when ``cov`` is not positive
    definite, invert their blocks directly.
    """
    p = cov.shape[0]
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = None
    if chol is not None:
        logdet_full = 2.0 * np.sum(np.log(np.diag(chol)))
        chol_inverse = np.linalg.inv(chol)
        precision = chol_inverse.T @ chol_inverse
        precision = (precision + precision.T) / 2
    out = []
    for batch in group.batches:
        columns, missing = batch.columns, batch.missing
        k = columns.shape[1]
        corner_chol = None
        if chol is not None and k < p < 2 * k:
            corner = precision[missing[:, :, None], missing[:, None, :]]
            try:
                corner_chol = np.linalg.cholesky(corner)
            except np.linalg.LinAlgError:
                # Rounding in a nearly singular Sigma: invert the blocks instead.
                corner_chol = None
        if chol is not None and p == k:
            out.append(_BatchPrecision(np.full(len(columns), logdet_full),
                                       factor=np.zeros((len(columns), p, 0)),
                                       precision=precision))
        elif corner_chol is not None:
            logdet = logdet_full + 2.0 * np.sum(
                np.log(np.diagonal(corner_chol, axis1=1, axis2=2)), axis=1)
            corner_factor = np.linalg.inv(corner_chol).transpose(0, 2, 1)
            factor = precision[:, missing].transpose(1, 0, 2) @ corner_factor
            out.append(_BatchPrecision(logdet, factor=factor, precision=precision))
        else:
            sigma = cov[columns[:, :, None], columns[:, None, :]]
            try:
                block_chol = np.linalg.cholesky(sigma)
            except np.linalg.LinAlgError:
                return None
            logdet = 2.0 * np.sum(np.log(np.diagonal(block_chol, axis1=1, axis2=2)),
                                  axis=1)
            inverse = np.linalg.inv(sigma)
            out.append(_BatchPrecision(logdet,
                                       inverse=(inverse + inverse.transpose(0, 2, 1)) / 2))
    return out


def _scaled_residuals(batch: PatternBatch, mean: np.ndarray,
                      precisions: _BatchPrecision) -> Iterator[tuple]:
    """Yield, a block of cases at a time, (case_pattern, y_o - mu_o, padded P (y_o - mu_o))."""
    for start in range(0, len(batch.data), CHUNK_ROWS):
        owner = batch.case_pattern[start:start + CHUNK_ROWS]
        centred = batch.data[start:start + CHUNK_ROWS] - mean[batch.columns[owner]]
        yield owner, centred, precisions.scaled(batch, owner, centred, len(mean))


def _padded(batch: PatternBatch, owner: np.ndarray, values: np.ndarray,
            p: int) -> np.ndarray:
    """Place per-case values of the observed columns in rows of length p."""
    out = np.zeros((len(owner), p))
    out[np.arange(len(owner))[:, None], batch.columns[owner]] = values
    return out


def _packed(batch: PatternBatch, matrices: np.ndarray, layout: _VechLayout) -> np.ndarray:
    """Embed symmetric k x k pattern blocks in p x p and half-vectorise them (m, p*)."""
    m, k = batch.columns.shape
    upper_i, upper_j = np.triu_indices(k)
    out = np.zeros((m, layout.size))
    out[np.arange(m)[:, None], batch.vech_index] = matrices[:, upper_i, upper_j]
    return out


def _weighted_gram(factors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_t w_t F_t F_t' for stacked p x q factors F_t."""
    count, p, rank = factors.shape
    flat = (factors * np.sqrt(weights)[:, None, None]).transpose(1, 0, 2)
    flat = flat.reshape(p, count * rank)
    return flat @ flat.T


def _row_gram(matrix: np.ndarray) -> np.ndarray:
    """matrix @ matrix.T for a short, wide matrix.

    Uses BLAS syrk on the transposed (Fortran-ordered) view. For a 190 x
    21,006 matrix, numpy 2.4's matmul took about five times as long as syrk
    with OpenBLAS 0.3.31 on the 2-core development machine.
    """
    upper = blas.dsyrk(1.0, matrix.T, trans=1)
    return np.triu(upper) + np.triu(upper, 1).T


def _available_case_start(group: GroupPatterns) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(group.data, axis=0)
    variance = np.nanvar(group.data, axis=0)
    variance[~np.isfinite(variance) | (variance == 0)] = 1.0
    return mean, np.diag(variance)


# --------------------------------------------------------------------------
# Derivatives with respect to the moments
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MomentDerivatives:
    """Derivatives of one group's observed-data logl at (mu, Sigma).

    ``mean_gradient`` (p,) is d logl / d mu and ``sigma_gradient`` (p, p) the
    symmetric d logl / d Sigma_ab taken element by element. ``information``
    is minus the Hessian in the coordinates (mu, vech Sigma), summed over
    cases, or None when it was not requested.
    """

    mean_gradient: np.ndarray
    sigma_gradient: np.ndarray
    information: np.ndarray | None = None


def moment_derivatives(
    group: GroupPatterns, mean: np.ndarray, cov: np.ndarray,
    information: Literal["observed", "expected"] | None = None,
) -> MomentDerivatives | None:
    """Gradient, and optionally information, of logl with respect to (mu, Sigma).

    Returns None when a pattern's block of ``cov`` is not positive definite.

    Notes
    -----
    Case i of a pattern with precision P = Sigma_oo^-1 has the scaled
    residual r_i = P (y_o - mu_o), padded with zeros to length p. Summed over
    cases, d logl / d mu = sum_i r_i and d logl / d Sigma = (1/2)(sum_i r_i
    r_i' - sum_t n_t P_t), with P_t padded to p x p. For a pattern with n
    cases and R = (1/n) sum_i r_i r_i', the observed information of the
    element pair (a, b), (c, e) is (n/2)(-P_ac P_eb + P_ac R_eb + R_ac P_eb),
    that of (mu_i, Sigma_ab) is sum_i P_ia r_b over the pattern's cases, and
    that of the means is n P (Savalei, 2010; Yuan & Bentler, 2000). The
    expected information replaces R by P and r by 0. Summed over patterns,
    every term is an entry of sum_t n_t vech(P_t) vech(X_t)' for X = P, R,
    or of sum_i vech(P_t(i)) r_i', so one matrix product per block of
    patterns or cases accumulates it.
    """
    p = len(mean)
    layout = _vech_layout(p)
    precisions = _precisions(group, cov)
    if precisions is None:
        return None
    scaled_sum = np.zeros(p)
    scaled_cross = np.zeros((p, p))
    precision_sum = np.zeros(layout.size)
    if information is not None:
        product_pp = np.zeros((layout.size, layout.size))
        product_pr = np.zeros((layout.size, layout.size))
        product_pr_mean = np.zeros((layout.size, p))

    for batch, batch_precision in zip(group.batches, precisions):
        n = batch.nobs
        precision_sum += batch_precision.weighted_sum(batch, layout)
        if information is not None:
            packed = batch_precision.packed(batch, layout)
            product_pp += packed.T @ (n[:, None] * packed)
        for owner, _, full in _scaled_residuals(batch, mean, batch_precision):
            scaled_sum += full.sum(axis=0)
            scaled_cross += full.T @ full
            if information != "observed":
                continue
            # Sum the cases of each run of one pattern, then weight by its P.
            first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            outer = full[:, layout.rows] * full[:, layout.columns]
            run_packed = packed[owner[first]]
            product_pr += run_packed.T @ np.add.reduceat(outer, first, axis=0)
            product_pr_mean += run_packed.T @ np.add.reduceat(full, first, axis=0)

    sigma_gradient = 0.5 * (scaled_cross - _unpack(precision_sum, layout))
    sigma_gradient = (sigma_gradient + sigma_gradient.T) / 2
    if information is None:
        return MomentDerivatives(scaled_sum, sigma_gradient)
    if information == "observed":
        pair_terms = 0.5 * (-product_pp + product_pr + product_pr.T)
        cross = product_pr_mean
    else:
        pair_terms = 0.5 * product_pp
        cross = None
    matrix = _assemble_information(layout, precision_sum, pair_terms, cross)
    return MomentDerivatives(scaled_sum, sigma_gradient, matrix)


def _assemble_information(layout: _VechLayout, mean_packed: np.ndarray,
                          pair_terms: np.ndarray, cross: np.ndarray | None) -> np.ndarray:
    """Build the (mu, vech Sigma) information from the pattern sums.

    ``pair_terms`` Z holds, at (pos(a, c), pos(e, b)), the information of the
    element pair (a, b), (c, e) taken as distinct matrix entries. A vech
    coordinate moves both Sigma_ab and Sigma_ba, so its entry sums the
    orderings of each pair; by the symmetry of P and R these reduce to two
    terms, Z[ac, eb] and Z[bc, ea], counted (1 + [a != b][c != e]) and
    ([a != b] + [c != e]) times.
    """
    p, rows, columns, position = layout.p, layout.rows, layout.columns, layout.position
    off = layout.off_diagonal.astype(float)
    first = pair_terms[position[rows[:, None], rows[None, :]],
                       position[columns[:, None], columns[None, :]]]
    second = pair_terms[position[columns[:, None], rows[None, :]],
                        position[rows[:, None], columns[None, :]]]
    covariance_block = ((1.0 + off[:, None] * off[None, :]) * first
                        + (off[:, None] + off[None, :]) * second)
    size = p + layout.size
    out = np.zeros((size, size))
    out[:p, :p] = _unpack(mean_packed, layout)
    out[p:, p:] = covariance_block
    if cross is not None:
        mixed = (cross[position[:, rows], columns[None, :]]
                 + off[None, :] * cross[position[:, columns], rows[None, :]])
        out[:p, p:] = mixed
        out[p:, :p] = mixed.T
    return (out + out.T) / 2


def _unpack(packed: np.ndarray, layout: _VechLayout) -> np.ndarray:
    return packed[layout.position]


def _moment_scores(group: GroupPatterns, mean: np.ndarray,
                   cov: np.ndarray) -> Iterator[np.ndarray]:
    """Yield casewise scores d logl_i / d(mu, vech Sigma), a block of cases at a time.

    For case i of a pattern with precision P, r = P (y_o - mu_o) padded to
    length p gives d logl_i / d mu; d logl_i / d Sigma_ab is r_a r_b - P_ab,
    halved on the diagonal. Cases come batch by batch, by pattern within a
    batch.
    """
    p = len(mean)
    layout = _vech_layout(p)
    precisions = _precisions(group, cov)
    if precisions is None:
        raise np.linalg.LinAlgError("a pattern's covariance block is not "
                                    "positive definite")
    for batch, batch_precision in zip(group.batches, precisions):
        packed = batch_precision.packed(batch, layout)
        for owner, _, full in _scaled_residuals(batch, mean, batch_precision):
            covariance_scores = (full[:, layout.rows] * full[:, layout.columns]
                                 - packed[owner]) * layout.half
            yield np.hstack([full, covariance_scores])


def h1_information(group: GroupPatterns, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Observed information per case of the saturated model at (mean, cov).

    In (mu, vech Sigma) coordinates; lavaan's ``h1.information =
    "unstructured"`` observed information of a missing-data group when
    (mean, cov) are the EM moments.
    """
    derivatives = moment_derivatives(group, mean, cov, information="observed")
    if derivatives is None:
        raise np.linalg.LinAlgError("the saturated covariance matrix is not "
                                    "positive definite")
    return derivatives.information / group.nobs


def moment_score_crossproduct(group: GroupPatterns, mean: np.ndarray,
                              cov: np.ndarray) -> np.ndarray:
    """Crossproduct of the casewise scores in (mu, vech Sigma), per case."""
    p = len(mean)
    size = p + _vech_layout(p).size
    total = np.zeros((size, size))
    for scores in _moment_scores(group, mean, cov):
        total += scores.T @ scores
    return total / group.nobs


def normal_information(cov: np.ndarray) -> np.ndarray:
    """Information per case of a complete normal sample at the saturated moments.

    In (mu, vech Sigma) coordinates: Sigma^-1 for the means and (1/2) D'
    (Sigma^-1 kron Sigma^-1) D for vech Sigma (D the duplication matrix),
    with no mean-covariance block. At the saturated estimates the observed
    and the expected information coincide.
    """
    layout = _vech_layout(cov.shape[0])
    precision = np.linalg.inv(cov)
    packed = precision[layout.rows, layout.columns]
    return _assemble_information(layout, packed, 0.5 * np.outer(packed, packed), None)


def vech_position(p: int) -> np.ndarray:
    """Position of the covariance (a, b) in vech Sigma, as a p x p array."""
    return _vech_layout(p).position.copy()


def saturated_h1_trace(group: GroupPatterns, mean: np.ndarray, cov: np.ndarray) -> float:
    """tr(A1^-1 B1) of the saturated model of one group at the EM moments.

    A1 is the observed information and B1 the crossproduct of casewise
    scores, both per case, in the coordinates (mu, vech Sigma) (Yuan &
    Bentler, 2000).
    """
    information = h1_information(group, mean, cov)
    crossproduct = moment_score_crossproduct(group, mean, cov)
    return float(np.trace(np.linalg.solve(information, crossproduct)))


# --------------------------------------------------------------------------
# Saturated model and log-likelihoods
# --------------------------------------------------------------------------


def em_saturated(
    group: GroupPatterns, *, tolerance: float = EM_TOLERANCE,
    max_iterations: int = EM_MAX_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the saturated mean and covariance by EM, and the iterations used.

    EM follows lavaan 0.6.14 (``lav_mvnorm_missing_h1_estimate_moments``):
    it starts from the available-case means and variances (divisor n_j; a
    zero variance becomes 1) with zero covariances, adds max(diag Sigma) x
    1e-8 to the diagonal when an eigenvalue of Sigma falls below 1e-6, and
    stops when no moment changes by more than ``tolerance`` (lavaan's
    ``em.h1.tol``, 1e-5) or after ``max_iterations`` (``em.h1.iter.max``,
    500), with a ConvergenceWarning. The same stopping rule gives the same
    moments as lavaan to about 1e-13, which matters for the FIML-corrected
    robust fit indices: they evaluate a complete-data statistic at these
    moments, where it is not stationary.

    Notes
    -----
    The E-step sums E[y_i] and E[y_i y_i'] given each case's observed values.
    With the regression E[y | y_o] = mu + Sigma P~ (y - mu)~ (P~ the
    pattern's precision and (y - mu)~ the residual, both padded with zeros),
    the sums reduce to the observed-data score: with g = d logl / d mu and
    G = d logl / d Sigma summed over cases,

        mu_new = mu + Sigma g / N,
        Sigma_new = Sigma + 2 Sigma G Sigma / N - (Sigma g)(Sigma g)' / N^2,

    which is the textbook E- and M-step written for all patterns at once.
    """
    mean, cov = _available_case_start(group)
    nobs = group.nobs
    for iteration in range(1, max_iterations + 1):
        derivatives = moment_derivatives(group, mean, cov)
        if derivatives is None:
            raise np.linalg.LinAlgError(
                "EM for the saturated model reached a covariance matrix that is "
                "not positive definite")
        shift = cov @ derivatives.mean_gradient / nobs
        new_mean = mean + shift
        new_cov = (cov + 2.0 * cov @ derivatives.sigma_gradient @ cov / nobs
                   - np.outer(shift, shift))
        new_cov = (new_cov + new_cov.T) / 2
        if np.linalg.eigvalsh(new_cov)[0] < 1e-6:
            new_cov[np.diag_indices_from(new_cov)] += np.max(np.diag(new_cov)) * 1e-8
        change = max(np.max(np.abs(new_mean - mean)), np.max(np.abs(new_cov - cov)))
        mean, cov = new_mean, new_cov
        if change < tolerance:
            return mean, cov, iteration
    warnings.warn(
        f"EM for the saturated (h1) moments stopped after {max_iterations} "
        f"iterations with a last change of {change:.3g}, above {tolerance:g}; the "
        "chi-square and the fit measures use these moments. Check for items with "
        "very few observed values or pairs of items never observed together",
        ConvergenceWarning, stacklevel=2)
    return mean, cov, max_iterations


def pattern_logl(group: GroupPatterns, mean: np.ndarray, cov: np.ndarray) -> float:
    """Observed-data normal log-likelihood of one group at (mean, cov).

    Each case adds -(1/2)[k log(2 pi) + log|Sigma_oo| + (y_o - mu_o)' P (y_o - mu_o)].
    """
    precisions = _precisions(group, cov)
    if precisions is None:
        return -np.inf
    total = 0.0
    for batch, batch_precision in zip(group.batches, precisions):
        k = batch.columns.shape[1]
        total -= 0.5 * np.sum(batch.nobs * (k * _LOG_2PI + batch_precision.logdet))
        for owner, centred, scaled in _scaled_residuals(batch, mean, batch_precision):
            total -= 0.5 * np.sum(_padded(batch, owner, centred, len(mean)) * scaled)
    return float(total)


def univariate_logl(group: GroupPatterns) -> float:
    """Sum of each variable's available-case normal log-likelihood.

    This is the log-likelihood of the FIML independence (baseline) model:
    free means and variances, zero covariances.
    """
    total = 0.0
    for column in group.data.T:
        present = column[~np.isnan(column)]
        variance = np.var(present)
        total += -0.5 * len(present) * (_LOG_2PI + np.log(variance) + 1.0)
    return float(total)


# Elements of the largest per-case array that the low-rank expected
# information forms at once (patterns x rows x rank^2).
LOW_RANK_CHUNK = 4_000_000


def _pair_traces(A: np.ndarray, B: np.ndarray, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """[tr(A D_k B D_l)]_kl for symmetric A, B and D_k = u_k v_k' + v_k u_k'.

    The four products of rank-one terms expand to the sum of four
    elementwise products (o): (V B U') o (U A V') + (V B V') o (U A U')
    + (U B U') o (V A V') + (U B V') o (V A U').
    """
    UA, VA, UB, VB = U @ A, V @ A, U @ B, V @ B
    return ((VB @ U.T) * (UA @ V.T) + (VB @ V.T) * (UA @ U.T)
            + (UB @ U.T) * (VA @ V.T) + (UB @ V.T) * (VA @ U.T))


def _expected_row_information(group: GroupPatterns, cov: np.ndarray, U: np.ndarray,
                              V: np.ndarray, dmu: np.ndarray) -> np.ndarray | None:
    """Expected information of one group for parameter-table rows, summed over cases.

    Rows have dSigma_k = U_k V_k' + V_k U_k' and dmu_k. Returns None when a
    pattern's block of ``cov`` is not positive definite.

    Notes
    -----
    The information is dmu' (sum_t n_t P_t) dmu + (1/2) sum_t n_t
    tr(P_t D_k P_t D_l), with P_t the pattern's precision padded with zeros.
    Each P_t is written through a p x q factor F of small rank q (see
    :func:`_precisions`): P_t = W - F F' (W = Sigma^-1, q = number missing)
    or P_t = F F' (F the padded Cholesky factor of P_t, q = number
    observed). The terms in W sum in closed form, and tr(F F' D_k F F' D_l)
    = <M_k, M_l> with M_k = F' D_k F (q x q), a Gram matrix over all
    patterns. Batches whose rank q is too high for that to pay off
    accumulate the information in (mu, vech Sigma) as
    :func:`moment_derivatives` does, contracted with the rows' Jacobian at
    the end.
    """
    p = cov.shape[0]
    nrows = U.shape[0]
    layout = _vech_layout(p)
    precisions = _precisions(group, cov)
    if precisions is None:
        return None
    weight_common = 0.0
    downdate = np.zeros((p, p))
    mean_precision = np.zeros((p, p))
    gram = np.zeros((nrows, nrows))
    dense_packed = np.zeros(layout.size)
    dense_pp = None
    precision = None

    for batch, batch_precision in zip(group.batches, precisions):
        n = batch.nobs
        count = len(n)
        complement = batch_precision.factor is not None
        rank = batch_precision.factor.shape[2] if complement else batch.columns.shape[1]
        if complement:
            precision = batch_precision.precision
            weight_common += n.sum()
            if rank == 0:
                continue
        # A pattern costs about (rows x rank)^2 in the Gram matrix and p*^2 in
        # (mu, vech Sigma). The latter also has a fixed cost, about 10 p*^2.
        if count * (nrows * rank) ** 2 > (count + 10) * layout.size ** 2:
            packed = batch_precision.packed(batch, layout)
            if complement:
                # The whole P_t goes into the dense sum, so undo the share of W.
                weight_common -= n.sum()
            dense_packed += n @ packed
            product = packed.T @ (n[:, None] * packed)
            dense_pp = product if dense_pp is None else dense_pp + product
            continue
        factors, _ = batch_precision.low_rank(batch, p)
        if complement:
            downdate += _weighted_gram(factors, n)
        else:
            mean_precision += _weighted_gram(factors, n)
        step = max(1, LOW_RANK_CHUNK // (nrows * rank * rank))
        for start in range(0, count, step):
            part = factors[start:start + step]
            size = len(part)
            # (p, patterns x rank), so that one product gives U F_t for all t.
            flat = part.transpose(1, 0, 2).reshape(p, size * rank)
            along_u = (U @ flat).reshape(nrows, size, rank)
            along_v = (V @ flat).reshape(nrows, size, rank)
            outer = along_u[..., :, None] * along_v[..., None, :]
            outer = outer + outer.transpose(0, 1, 3, 2)
            outer *= np.sqrt(n[start:start + step])[None, :, None, None]
            gram += _row_gram(outer.reshape(nrows, -1))

    info = 0.5 * gram
    if weight_common:
        cross = _pair_traces(downdate, precision, U, V)
        info += 0.5 * (weight_common * _pair_traces(precision, precision, U, V)
                       - cross - cross.T)
        mean_precision += weight_common * precision - downdate
    info += dmu @ mean_precision @ dmu.T
    if dense_pp is not None:
        moments_info = _assemble_information(layout, dense_packed, 0.5 * dense_pp, None)
        jacobian = np.hstack([dmu, U[:, layout.rows] * V[:, layout.columns]
                              + V[:, layout.rows] * U[:, layout.columns]])
        info += jacobian @ moments_info @ jacobian.T
    return (info + info.T) / 2


# --------------------------------------------------------------------------
# The model's objective
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FimlObjective:
    """(logl_h1 - logl) / N with its gradient and information matrices.

    ``value`` equals lavaan's ``fmin`` for ``missing = "ml"``, so that
    chisq = 2 N fmin.
    """

    model: RamModel
    groups: tuple[GroupPatterns, ...]
    h1_logl: float

    @property
    def nobs(self) -> int:
        return sum(group.nobs for group in self.groups)

    def logl(self, x: np.ndarray) -> float:
        total = 0.0
        for g, group in enumerate(self.groups):
            moments = self.model.implied(x, g)
            total += pattern_logl(group, moments.mu, moments.sigma)
        return total

    def value(self, x: np.ndarray) -> float:
        logl = self.logl(x)
        return np.inf if not np.isfinite(logl) else (self.h1_logl - logl) / self.nobs

    def _chain(self, x: np.ndarray, gradients) -> np.ndarray:
        """Sum over groups of d logl / d x with the moment gradients held fixed.

        With dSigma = U V' + V U' per row, the row's derivative is
        2 U' G V + dmu' g for G = d logl / d Sigma and g = d logl / d mu.
        """
        out = np.zeros(self.model.npar)
        for g, (mean_gradient, sigma_gradient) in enumerate(gradients):
            moments = self.model.implied(x, g)
            U, V, dmu = self.model.sigma_factors(moments, g)
            rows = 2.0 * np.sum((U @ sigma_gradient) * V, axis=1) + dmu @ mean_gradient
            out += self.model.to_free(rows, g)
        return out

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Minus the gradient of logl / N (see :func:`moment_derivatives`)."""
        gradients = []
        for g, group in enumerate(self.groups):
            moments = self.model.implied(x, g)
            derivatives = moment_derivatives(group, moments.mu, moments.sigma)
            if derivatives is None:
                return np.full(self.model.npar, np.nan)
            gradients.append((derivatives.mean_gradient, derivatives.sigma_gradient))
        return -self._chain(x, gradients) / self.nobs

    def information(self, x: np.ndarray) -> np.ndarray:
        """Expected information per case under MAR, used as the scoring matrix."""
        info = np.zeros((self.model.npar, self.model.npar))
        for g, group in enumerate(self.groups):
            moments = self.model.implied(x, g)
            U, V, dmu = self.model.sigma_factors(moments, g)
            free = self.model.free_rows_of_group(g)
            rows_info = _expected_row_information(group, moments.sigma, U[free],
                                                  V[free], dmu[free])
            if rows_info is None:
                return np.full_like(info, np.nan)
            K = self.model.jacobian_free(g)[free]
            info += K.T @ rows_info @ K
        info /= self.nobs
        return (info + info.T) / 2

    def observed_information(self, x: np.ndarray) -> np.ndarray:
        """Hessian of (logl_h1 - logl) / N: lavaan's observed information.

        Notes
        -----
        The Hessian of logl in x is Delta' H Delta + sum_j g_j d^2 m_j / dx dx',
        with H the Hessian in the moments m = (mu, vech Sigma), computed in
        closed form (:func:`moment_derivatives`), and g = d logl / d m. The
        second term is the Jacobian of x -> Delta(x)' g with g held at its
        value at ``x``; five-point central differences of that analytic first
        derivative give it, with relative step ``SECOND_DERIVATIVE_STEP``.
        It is exact up to rounding when Sigma is quadratic in x (factor
        models without regressions among latent variables).
        """
        npar = self.model.npar
        info = np.zeros((npar, npar))
        gradients = []
        for g, group in enumerate(self.groups):
            moments = self.model.implied(x, g)
            derivatives = moment_derivatives(group, moments.mu, moments.sigma,
                                             information="observed")
            if derivatives is None:
                return np.full((npar, npar), np.nan)
            delta = moment_jacobian(self.model, x, g)
            info += delta.T @ derivatives.information @ delta
            gradients.append((derivatives.mean_gradient, derivatives.sigma_gradient))

        second = np.zeros((npar, npar))
        for k in range(npar):
            step = SECOND_DERIVATIVE_STEP * max(1.0, abs(x[k]))
            offset = np.zeros(npar)
            offset[k] = step
            second[:, k] = (-self._chain(x + 2 * offset, gradients)
                            + 8 * self._chain(x + offset, gradients)
                            - 8 * self._chain(x - offset, gradients)
                            + self._chain(x - 2 * offset, gradients)) / (12 * step)
        info = (info - second) / self.nobs
        return (info + info.T) / 2


def moment_jacobian(model: RamModel, x: np.ndarray, group: int) -> np.ndarray:
    """Delta = d(mu, vech Sigma) / d x of one group, shape (p + p (p + 1) / 2, npar)."""
    moments = model.implied(x, group)
    U, V, dmu = model.sigma_factors(moments, group)
    free = model.free_rows_of_group(group)
    U, V, dmu = U[free], V[free], dmu[free]
    layout = _vech_layout(len(moments.mu))
    covariance = (U[:, layout.rows] * V[:, layout.columns]
                  + V[:, layout.rows] * U[:, layout.columns])
    rows = np.hstack([dmu, covariance])
    return rows.T @ model.jacobian_free(group)[free]


def fiml_casewise_scores(model: RamModel, x: np.ndarray, group: int,
                         patterns: GroupPatterns) -> np.ndarray:
    """Scores d logl_i / d x of every case of one group.

    Rows are sorted as :func:`find_patterns` sorts the cases. The first key
    is the number of observed values, the second the pattern in the order
    of ``numpy.unique`` over the rows of the observed-value mask, and within
    a pattern the data's row order is kept. ``lio_validate.bootstrap``
    relies on this order. Each row is the case's score in (mu, vech Sigma)
    at the implied moments times Delta = d(mu, vech Sigma) / d x.
    """
    moments = model.implied(x, group)
    delta = moment_jacobian(model, x, group)
    blocks = [scores @ delta
              for scores in _moment_scores(patterns, moments.mu, moments.sigma)]
    return np.vstack(blocks)
