"""Full-information maximum likelihood for continuous items with missing values.

The cases of each group are sorted into missingness patterns; each pattern
contributes the normal log-likelihood of its observed variables, computed
from the pattern's own count, mean and covariance (Arbuckle, 1996), so the
cost grows with the number of patterns, not of cases. The saturated model
(h1) is fitted by EM (Dempster, Laird & Rubin, 1977) and gives the
chi-square, chisq = 2 (logl_h1 - logl), and the moments that SRMR uses.

References
----------
Arbuckle, J. L. (1996). Full information estimation in the presence of
incomplete data. In G. A. Marcoulides & R. E. Schumacker (Eds.), Advanced
Structural Equation Modeling (pp. 243-277). Erlbaum.
Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from
incomplete data via the EM algorithm. Journal of the Royal Statistical
Society B, 39(1), 1-38.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lio_validate.model import RamModel

__all__ = [
    "Pattern",
    "GroupPatterns",
    "find_patterns",
    "em_saturated",
    "FimlObjective",
    "pattern_logl",
    "fiml_casewise_scores",
    "univariate_logl",
    "saturated_h1_trace",
]

_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class Pattern:
    """The cases of one missingness pattern: observed columns and their moments."""

    observed: np.ndarray
    nobs: int
    mean: np.ndarray
    cov: np.ndarray
    data: np.ndarray


@dataclass(frozen=True)
class PatternBatch:
    """Patterns with the same number k of observed variables, stacked.

    ``columns`` (m, k), ``nobs`` (m,), ``mean`` (m, k), ``cov`` (m, k, k):
    stacking lets numpy invert and multiply all m patterns in one call.
    """

    columns: np.ndarray
    nobs: np.ndarray
    mean: np.ndarray
    cov: np.ndarray


@dataclass(frozen=True)
class GroupPatterns:
    """All patterns of one group and its available-case moments."""

    patterns: tuple[Pattern, ...]
    nobs: int
    nobs_all_missing: int
    data: np.ndarray
    batches: tuple[PatternBatch, ...] = ()


def find_patterns(values: np.ndarray) -> GroupPatterns:
    """Sort the rows of ``values`` (NaN for missing) into missingness patterns.

    Rows with every value missing carry no information and are left out
    (counted in ``nobs_all_missing``), as lavaan does.
    """
    observed = ~np.isnan(values)
    keep = observed.any(axis=1)
    values, observed = values[keep], observed[keep]
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    patterns = []
    for index, key in enumerate(keys):
        columns = np.flatnonzero(key)
        rows = values[inverse == index][:, columns]
        mean = rows.mean(axis=0)
        centred = rows - mean
        patterns.append(Pattern(columns, len(rows), mean, centred.T @ centred / len(rows),
                                rows))
    batches = []
    for size in sorted({len(pattern.observed) for pattern in patterns}):
        members = [pattern for pattern in patterns if len(pattern.observed) == size]
        batches.append(PatternBatch(
            columns=np.array([pattern.observed for pattern in members]),
            nobs=np.array([pattern.nobs for pattern in members], dtype=float),
            mean=np.array([pattern.mean for pattern in members]),
            cov=np.array([pattern.cov for pattern in members]),
        ))
    return GroupPatterns(tuple(patterns), int(keep.sum()), int((~keep).sum()), values,
                         tuple(batches))


def _batch_terms(batch: PatternBatch, mean: np.ndarray, cov: np.ndarray):
    """Inverse, log-determinant and mean residual of every pattern of a batch.

    Returns None when an implied covariance block is not positive definite.
    """
    columns = batch.columns
    sigma = cov[columns[:, :, None], columns[:, None, :]]
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    inverse = np.linalg.inv(sigma)
    residual = batch.mean - mean[columns]
    return inverse, logdet, residual


def _available_case_start(group: GroupPatterns, p: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(group.data, axis=0)
    variance = np.nanvar(group.data, axis=0)
    return mean, np.diag(variance)


def em_saturated(
    group: GroupPatterns, *, tolerance: float = 1e-10, max_iterations: int = 5000
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the saturated mean and covariance by EM, and the iterations used.

    The E-step uses each pattern's sufficient statistics: with B the
    regression of the missing on the observed variables and C the residual
    covariance, the expected sums are linear in the pattern's sums of y_o
    and y_o y_o'. EM starts from the available-case means and variances with
    zero covariances (lavaan's start) and stops when no moment changes by
    more than ``tolerance``.
    """
    p = group.data.shape[1]
    mean, cov = _available_case_start(group, p)
    nobs = group.nobs
    for iteration in range(1, max_iterations + 1):
        first = np.zeros(p)
        second = np.zeros((p, p))
        for pattern in group.patterns:
            o = pattern.observed
            n = pattern.nobs
            sum_o = n * pattern.mean
            cross_oo = n * (pattern.cov + np.outer(pattern.mean, pattern.mean))
            if len(o) == p:
                first += sum_o
                second += cross_oo
                continue
            m = np.setdiff1d(np.arange(p), o)
            coefficients = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)]).T
            intercept = mean[m] - coefficients @ mean[o]
            residual = cov[np.ix_(m, m)] - coefficients @ cov[np.ix_(o, m)]
            sum_m = n * intercept + coefficients @ sum_o
            cross_mo = np.outer(intercept, sum_o) + coefficients @ cross_oo
            cross_mm = (n * (residual + np.outer(intercept, intercept))
                        + np.outer(intercept, coefficients @ sum_o)
                        + np.outer(coefficients @ sum_o, intercept)
                        + coefficients @ cross_oo @ coefficients.T)
            first[o] += sum_o
            first[m] += sum_m
            second[np.ix_(o, o)] += cross_oo
            second[np.ix_(m, o)] += cross_mo
            second[np.ix_(o, m)] += cross_mo.T
            second[np.ix_(m, m)] += cross_mm
        new_mean = first / nobs
        new_cov = second / nobs - np.outer(new_mean, new_mean)
        new_cov = (new_cov + new_cov.T) / 2
        change = max(np.max(np.abs(new_mean - mean)), np.max(np.abs(new_cov - cov)))
        mean, cov = new_mean, new_cov
        if change < tolerance:
            return mean, cov, iteration
    return mean, cov, max_iterations


def pattern_logl(group: GroupPatterns, mean: np.ndarray, cov: np.ndarray) -> float:
    """Observed-data normal log-likelihood of one group at (mean, cov)."""
    total = 0.0
    for batch in group.batches:
        terms = _batch_terms(batch, mean, cov)
        if terms is None:
            return -np.inf
        inverse, logdet, residual = terms
        k = batch.columns.shape[1]
        trace = np.sum(batch.cov * inverse, axis=(1, 2))
        quadratic = np.einsum("mi,mij,mj->m", residual, inverse, residual)
        total += -0.5 * np.sum(batch.nobs * (k * _LOG_2PI + logdet + trace + quadratic))
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


@dataclass(frozen=True)
class FimlObjective:
    """(logl_h1 - logl) / N with its gradient and a scoring information.

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

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Minus the gradient of logl / N.

        Notes
        -----
        Per pattern, d logl / d Sigma_oo = -(n/2) [P - P (S + d d') P] and
        d logl / d mu_o = n P d, with P = Sigma_oo^-1 and d the pattern's
        mean residual; both are embedded in p x p and p arrays and chained
        through dSigma = U V' + V U' and dmu.
        """
        out = np.zeros(self.model.npar)
        for g, group in enumerate(self.groups):
            moments = self.model.implied(x, g)
            p = len(moments.mu)
            sigma_part = np.zeros(p * p)
            mean_part = np.zeros(p)
            for batch in group.batches:
                terms = _batch_terms(batch, moments.mu, moments.sigma)
                if terms is None:
                    return np.full(self.model.npar, np.nan)
                inverse, _, residual = terms
                scatter = batch.cov + residual[:, :, None] * residual[:, None, :]
                block = -0.5 * batch.nobs[:, None, None] * (
                    inverse - inverse @ scatter @ inverse)
                columns = batch.columns
                flat = (columns[:, :, None] * p + columns[:, None, :]).ravel()
                sigma_part += np.bincount(flat, weights=block.ravel(), minlength=p * p)
                weighted = batch.nobs[:, None] * np.einsum("mij,mj->mi", inverse,
                                                           residual)
                mean_part += np.bincount(columns.ravel(), weights=weighted.ravel(),
                                         minlength=p)
            sigma_part = sigma_part.reshape(p, p)
            U, V, dmu = self.model.sigma_factors(moments, g)
            rows = 2.0 * np.sum((U @ sigma_part) * V, axis=1) + dmu @ mean_part
            out += self.model.to_free(rows, g)
        return -out / self.nobs

    def information(self, x: np.ndarray) -> np.ndarray:
        """Expected information per case under MAR, used as the scoring matrix."""
        info = np.zeros((self.model.npar, self.model.npar))
        for g, group in enumerate(self.groups):
            moments = self.model.implied(x, g)
            U, V, dmu = self.model.sigma_factors(moments, g)
            free = self.model.free_rows_of_group(g)
            U, V, dmu = U[free], V[free], dmu[free]
            rows_info = np.zeros((len(free), len(free)))
            for pattern in group.patterns:
                o = pattern.observed
                inverse = np.linalg.inv(moments.sigma[np.ix_(o, o)])
                Uo, Vo, Mo = U[:, o], V[:, o], dmu[:, o]
                UP, VP = Uo @ inverse, Vo @ inverse
                UV = UP @ Vo.T
                block = (UP @ Uo.T) * (VP @ Vo.T) + UV * UV.T + Mo @ inverse @ Mo.T
                rows_info += pattern.nobs * block
            K = self.model.jacobian_free(g)[free]
            info += K.T @ rows_info @ K
        info /= self.nobs
        return (info + info.T) / 2


def _vech_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    rows, columns = np.triu_indices(p)
    return rows, columns


def saturated_h1_trace(group: GroupPatterns, mean: np.ndarray, cov: np.ndarray,
                       chunk_rows: int = 5000) -> float:
    """tr(A1^-1 B1) of the saturated model of one group at the EM moments.

    A1 is the observed information and B1 the crossproduct of casewise
    scores, both per case, in the coordinates (mu, vech Sigma). For a
    pattern with precision P, mean residual d and R = P (S + d d') P, the
    Hessian entry of the covariance pair (a, b), (c, e) sums
    (1/2)[-P_bc P_ea + P_bc R_ea + P_ea R_bc] over the symmetric orderings,
    halved for each diagonal pair; the mean block is P and the cross block
    P_ia r_b + P_ib r_a with r = P d (Yuan & Bentler, 2000).
    """
    p = len(mean)
    upper_rows, upper_columns = _vech_index(p)
    nvech = len(upper_rows)
    position = np.full((p, p), -1)
    position[upper_rows, upper_columns] = np.arange(nvech)
    position[upper_columns, upper_rows] = np.arange(nvech)
    size = p + nvech
    information = np.zeros((size, size))
    crossproduct = np.zeros((size, size))

    for pattern in group.patterns:
        o = pattern.observed
        k = len(o)
        inverse = np.linalg.inv(cov[np.ix_(o, o)])
        residual = pattern.mean - mean[o]
        scaled = inverse @ residual
        sandwich = inverse @ (pattern.cov + np.outer(residual, residual)) @ inverse
        a_rows, a_columns = np.triu_indices(k)
        halves = np.where(a_rows == a_columns, 0.5, 1.0)

        # Hessian of -logl per case in (vech Sigma_oo) coordinates.
        P, R = inverse, sandwich
        a, b = a_rows[:, None], a_columns[:, None]
        c, e = a_rows[None, :], a_columns[None, :]

        def term(i, j, m, n):
            return 0.5 * (-P[j, m] * P[n, i] + P[j, m] * R[n, i] + P[n, i] * R[j, m])

        block = term(a, b, c, e) + term(b, a, c, e) + term(a, b, e, c) + term(b, a, e, c)
        block *= halves[:, None] * halves[None, :]
        cross = (P[:, a_rows] * scaled[a_columns][None, :]
                 + P[:, a_columns] * scaled[a_rows][None, :]) * halves[None, :]
        index_vech = p + position[o[a_rows], o[a_columns]]
        index_mean = o
        n = pattern.nobs
        information[np.ix_(index_mean, index_mean)] += n * P
        information[np.ix_(index_vech, index_vech)] += n * block
        information[np.ix_(index_mean, index_vech)] += n * cross
        information[np.ix_(index_vech, index_mean)] += n * cross.T

        # Casewise scores: r = P (y_o - mu_o); d logl / d Sigma_ab is
        # r_a r_b - P_ab (halved on the diagonal), d logl / d mu is r.
        for start in range(0, n, chunk_rows):
            r = (pattern.data[start:start + chunk_rows] - mean[o]) @ inverse
            covariance_scores = (r[:, a_rows] * r[:, a_columns]
                                 - inverse[a_rows, a_columns]) * halves
            scores = np.hstack([r, covariance_scores])
            index = np.concatenate([index_mean, index_vech])
            crossproduct[np.ix_(index, index)] += scores.T @ scores

    return float(np.trace(np.linalg.solve(information, crossproduct)))


def fiml_casewise_scores(model: RamModel, x: np.ndarray, group: int,
                         patterns: GroupPatterns) -> np.ndarray:
    """Scores d logl_i / d x of every case of one group (rows in pattern order).

    For case i with observed set o, the score along a row is
    -U_o' P V_o + (r' U_o)(r' V_o) + r' dmu_o with r = P (y_o - mu_o).
    """
    moments = model.implied(x, group)
    U, V, dmu = model.sigma_factors(moments, group)
    free = model.free_rows_of_group(group)
    U, V, dmu = U[free], V[free], dmu[free]
    blocks = []
    for pattern in patterns.patterns:
        o = pattern.observed
        inverse = np.linalg.inv(moments.sigma[np.ix_(o, o)])
        Uo, Vo, Mo = U[:, o], V[:, o], dmu[:, o]
        constant = np.sum((Uo @ inverse) * Vo, axis=1)
        residual = (pattern.data - moments.mu[o]) @ inverse
        rows = -constant + (residual @ Uo.T) * (residual @ Vo.T) + residual @ Mo.T
        blocks.append(model.rows_to_free(rows, group))
    return np.vstack(blocks)
