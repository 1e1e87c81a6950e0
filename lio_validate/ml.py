"""Maximum likelihood: discrepancy function, gradient, information, optimiser.

The discrepancy is lavaan's ``fmin``: the N-weighted mean over groups of half
the ML fit function,

    F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p + (ybar - mu)' Sigma^-1 (ybar - mu),

so that chisq = 2 N fmin (Joreskog, 1969; Bollen, 1989, eq. 4.67). Without a
mean structure the mean term is zero (mu is set to the sample mean).

References
----------
Bollen, K. A. (1989). Structural Equations with Latent Variables. Wiley.
Joreskog, K. G. (1969). A general approach to confirmatory maximum likelihood
factor analysis. Psychometrika, 34(2), 183-202.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from lio_validate.exceptions import ConvergenceWarning
from lio_validate.model import ImpliedMoments, RamModel
from lio_validate.samplestats import SampleStatistics

__all__ = [
    "OptimizationResult",
    "fmin",
    "gradient",
    "expected_information",
    "observed_information",
    "start_values",
    "fit_ml",
    "minimize",
    "MLObjective",
    "numerical_hessian",
]

# Largest absolute gradient of fmin accepted as a stationary point. lavaan's
# own post-convergence check uses 1e-4 on its (per-case) objective; this is
# stricter so that estimates agree with lavaan's to their printed precision.
GRADIENT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class OptimizationResult:
    """Outcome of the optimiser, checked independently of its own flag."""

    x: np.ndarray
    fmin: float
    iterations: int
    max_abs_gradient: float
    converged: bool
    message: str


def _group_terms(model: RamModel, stats: SampleStatistics, x: np.ndarray, group: int):
    moments = model.implied(x, group)
    sample = stats.groups[group]
    try:
        chol = np.linalg.cholesky(moments.sigma)
    except np.linalg.LinAlgError:
        return moments, None, None, None
    inverse = np.linalg.inv(moments.sigma)
    logdet = 2.0 * np.sum(np.log(np.diag(chol)))
    if model.table.meanstructure:
        residual = sample.mean - moments.mu
    else:
        residual = np.zeros_like(sample.mean)
    return moments, inverse, logdet, residual


def fmin(model: RamModel, stats: SampleStatistics, x: np.ndarray) -> float:
    """Return lavaan's ``fmin`` at ``x``; +inf where an implied Sigma is not PD."""
    total = 0.0
    nobs = stats.nobs
    for group, sample in enumerate(stats.groups):
        moments, inverse, logdet, residual = _group_terms(model, stats, x, group)
        if inverse is None:
            return np.inf
        p = len(sample.mean)
        value = (logdet + np.sum(sample.cov * inverse) - sample.logdet_cov - p
                 + residual @ inverse @ residual)
        total += sample.nobs / nobs * 0.5 * value
    return float(total)


def gradient(model: RamModel, stats: SampleStatistics, x: np.ndarray) -> np.ndarray:
    """Return the analytic gradient of ``fmin`` with respect to ``x``.

    Notes
    -----
    With G = Sigma^-1 - Sigma^-1 (S + d d') Sigma^-1 and d = ybar - mu, the
    derivative of F_ML / 2 along a row with dSigma = U V' + V U' and dmu is
    U' G V - d' Sigma^-1 dmu.
    """
    out = np.zeros(model.npar)
    nobs = stats.nobs
    for group, sample in enumerate(stats.groups):
        moments, inverse, _, residual = _group_terms(model, stats, x, group)
        if inverse is None:
            return np.full(model.npar, np.nan)
        scaled = inverse @ residual
        G = inverse - inverse @ (sample.cov + np.outer(residual, residual)) @ inverse
        U, V, dmu = model.sigma_factors(moments, group)
        rows = np.sum((U @ G) * V, axis=1) - dmu @ scaled
        out += sample.nobs / nobs * model.to_free(rows, group)
    return out


def expected_information(
    model: RamModel, stats: SampleStatistics, x: np.ndarray
) -> np.ndarray:
    """Return the expected information per case (lavaan's unit information).

    Notes
    -----
    The information of the covariance part, (1/2) Delta' (P kron P) Delta with
    P = Sigma^-1, is computed from the factors of dSigma as
    (U P U') o (V P V') + (U P V') o (U P V')', which needs no p^2 x q matrix.
    The mean part adds dmu' P dmu.
    """
    info = np.zeros((model.npar, model.npar))
    nobs = stats.nobs
    for group, sample in enumerate(stats.groups):
        moments = model.implied(x, group)
        inverse = np.linalg.inv(moments.sigma)
        U, V, dmu = model.sigma_factors(moments, group)
        free = model.free_rows_of_group(group)
        U, V, dmu = U[free], V[free], dmu[free]
        UP, VP = U @ inverse, V @ inverse
        UV = UP @ V.T
        rows_info = (UP @ U.T) * (VP @ V.T) + UV * UV.T
        if model.table.meanstructure:
            rows_info = rows_info + dmu @ inverse @ dmu.T
        K = model.jacobian_free(group)[free]
        info += sample.nobs / nobs * (K.T @ rows_info @ K)
    return (info + info.T) / 2


def h1_observed_information(
    model: RamModel, stats: SampleStatistics, x: np.ndarray
) -> np.ndarray:
    """Observed information of the "h1" kind: Delta' H1 Delta.

    H1 is the Hessian of fmin with respect to the implied moments (Sigma,
    mu), so this is the full Hessian without the term in the second
    derivatives of Sigma(theta). lavaan uses it (``observed.information =
    "h1"``) for the scaled test of a clustered ML fit.

    Notes
    -----
    With P = Sigma^-1, T_k = P dSigma_k, M = S + d d' and Q = P M, the
    Hessian entry is (1/2) [-tr(T_k T_l) + tr(T_k T_l Q) + tr(T_l T_k Q)]
    + dmu_k' P dmu_l + dmu_l' T_k P d + dmu_k' T_l P d.
    """
    info = np.zeros((model.npar, model.npar))
    for group, sample in enumerate(stats.groups):
        moments = model.implied(x, group)
        inverse = np.linalg.inv(moments.sigma)
        residual = sample.mean - moments.mu if model.table.meanstructure \
            else np.zeros_like(sample.mean)
        scatter = sample.cov + np.outer(residual, residual)
        U, V, dmu = model.sigma_factors(moments, group)
        free = model.free_rows_of_group(group)
        U, V, dmu = U[free], V[free], dmu[free]
        dsigma = np.einsum("kp,kq->kpq", U, V)
        dsigma = dsigma + dsigma.transpose(0, 2, 1)
        T = inverse @ dsigma
        Q = inverse @ scatter
        p = len(residual)
        flat_T = T.reshape(len(free), p * p)
        flat_TQ_transposed = (T @ Q).transpose(0, 2, 1).reshape(len(free), p * p)
        flat_T_transposed = T.transpose(0, 2, 1).reshape(len(free), p * p)
        plain = flat_T @ flat_T_transposed.T
        with_q = flat_T @ flat_TQ_transposed.T
        rows_info = 0.5 * (-plain + with_q + with_q.T)
        if model.table.meanstructure:
            scaled = inverse @ residual
            cross = dmu @ (T @ scaled).T
            rows_info = rows_info + dmu @ inverse @ dmu.T + cross + cross.T
        K = model.jacobian_free(group)[free]
        info += sample.nobs / stats.nobs * (K.T @ rows_info @ K)
    return (info + info.T) / 2


def observed_information(
    model: RamModel, stats: SampleStatistics, x: np.ndarray, step: float = 1e-6
) -> np.ndarray:
    """Return the Hessian of ``fmin`` of complete data; see :func:`numerical_hessian`."""
    return numerical_hessian(lambda theta: gradient(model, stats, theta), x, step)


def numerical_hessian(gradient_function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Return the Hessian by five-point differences of an analytic gradient.

    lavaan computes its observed information the same way (step 1e-6, then
    symmetrised), so the standard errors agree to many digits.
    """
    npar = len(x)
    hessian = np.zeros((npar, npar))
    for k in range(npar):
        offset = np.zeros(npar)
        offset[k] = step
        hessian[:, k] = (
            -gradient_function(x + 2 * offset)
            + 8 * gradient_function(x + offset)
            - 8 * gradient_function(x - offset)
            + gradient_function(x - 2 * offset)
        ) / (12 * step)
    return (hessian + hessian.T) / 2


# --------------------------------------------------------------------------
# Starting values
# --------------------------------------------------------------------------


def start_values(model: RamModel, stats: SampleStatistics) -> np.ndarray:
    """Return starting values from the sample moments.

    Observed (residual) variances start at half the sample variance, marker
    loadings at 1, other loadings at the ratio of covariances with the marker
    (a one-step version of Hagglund's 1982 instrumental-variable estimator),
    latent variances at half the marker's variance, intercepts at the sample
    means, and regressions and covariances at 0. User start values win.
    """
    frame = model.table.frame
    x = np.zeros(model.npar)
    assigned = np.zeros(model.npar, dtype=bool)
    position = {name: k for k, name in enumerate(stats.variables)}
    lv = set(model.table.roles.lv)
    markers = _markers(frame)
    variance_fixed = set(frame.loc[(frame["op"] == "~~") & (frame["lhs"] == frame["rhs"])
                                   & (frame["free"] == 0), "lhs"]) & lv

    columns = {name: frame[name].tolist()
               for name in ("lhs", "op", "rhs", "group", "free", "value")}
    for row in range(len(frame)):
        index = columns["free"][row] - 1
        if index < 0 or assigned[index]:
            continue
        lhs, op, rhs = columns["lhs"][row], columns["op"][row], columns["rhs"][row]
        sample = stats.groups[columns["group"][row]]
        start = columns["value"][row]
        if np.isfinite(start):
            value = start
        elif op == "~~" and lhs == rhs and lhs in position:
            value = 0.5 * sample.cov[position[lhs], position[lhs]]
        elif op == "~~" and lhs == rhs and lhs in lv:
            marker = markers.get(lhs)
            value = 0.5 * sample.cov[position[marker], position[marker]] \
                if marker in position else 0.05
        elif op == "=~" and rhs in position:
            if lhs in variance_fixed:
                value = _standardized_loading_start(sample, position, markers.get(lhs),
                                                    rhs)
            else:
                value = _loading_start(sample, position, markers.get(lhs), rhs)
        elif op == "~1" and lhs in position:
            value = sample.mean[position[lhs]]
        else:
            value = 0.0
        x[index] = value
        assigned[index] = True
    return x


def _markers(frame) -> dict[str, str]:
    markers: dict[str, str] = {}
    for lhs, op, rhs in zip(frame["lhs"], frame["op"], frame["rhs"]):
        if op == "=~" and lhs not in markers:
            markers[lhs] = rhs
    return markers


def _standardized_loading_start(sample, position, marker, indicator) -> float:
    b = position[indicator]
    value = np.sqrt(0.5 * sample.cov[b, b])
    if marker in position and sample.cov[position[marker], b] < 0:
        value = -value
    return float(value)


def _loading_start(sample, position, marker, indicator) -> float:
    if marker is None or marker not in position or marker == indicator:
        return 1.0
    a, b = position[marker], position[indicator]
    half_marker = 0.5 * sample.cov[a, a]
    if half_marker <= 0:
        return 1.0
    return float(sample.cov[a, b] / half_marker)


# --------------------------------------------------------------------------
# Optimiser
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MLObjective:
    """lavaan's ``fmin`` for complete data with its gradient and information."""

    model: RamModel
    stats: SampleStatistics

    def value(self, x: np.ndarray) -> float:
        return fmin(self.model, self.stats, x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return gradient(self.model, self.stats, x)

    def information(self, x: np.ndarray) -> np.ndarray:
        return expected_information(self.model, self.stats, x)


def fit_ml(
    model: RamModel, stats: SampleStatistics, x0: np.ndarray | None = None,
    *, max_iterations: int = 1000,
) -> OptimizationResult:
    """Minimise ``fmin`` of complete data; see :func:`minimize`."""
    if x0 is None:
        x0 = start_values(model, stats)
    return minimize(MLObjective(model, stats), model, x0,
                    max_iterations=max_iterations)


def minimize(objective, model: RamModel, x0: np.ndarray, *,
             max_iterations: int = 1000,
             gradient_tolerance: float | None = None) -> OptimizationResult:
    """Minimise ``objective.value`` and check the gradient at the end.

    ``gradient_tolerance`` (default :data:`GRADIENT_TOLERANCE`) is the
    largest absolute gradient accepted; a bootstrap refit may loosen it.
    Fisher scoring with step halving runs first, with
    ``objective.information`` as the scoring matrix. If it fails (a singular
    information or no descent), scipy's ``trust-exact`` takes over with the
    same matrix as its Hessian. That method is robust to steps that leave the
    region where Sigma is positive definite. If it stalls too, L-BFGS-B
    continues from where it stopped. Convergence is judged by the largest
    absolute gradient, not by an optimiser's flag.

    References
    ----------
    Lee, S.-Y., & Jennrich, R. I. (1979). A study of algorithms for
    covariance structure analysis with specific comparisons using factor
    analysis. Psychometrika, 44(1), 99-113.
    """
    tolerance = GRADIENT_TOLERANCE if gradient_tolerance is None else gradient_tolerance
    x0 = _rescue_start(objective, model, x0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scored = _fisher_scoring(objective, x0, tolerance)
        if scored is not None:
            return scored
        result = optimize.minimize(
            objective.value, x0, jac=objective.gradient, hess=objective.information,
            method="trust-exact", options={"gtol": 1e-10, "maxiter": max_iterations},
        )
        iterations = int(result.nit)
        x = result.x
        grad = objective.gradient(x)
        if not np.all(np.isfinite(grad)) or \
                np.max(np.abs(grad), initial=0) > tolerance:
            polish = optimize.minimize(
                objective.value, x, jac=objective.gradient, method="L-BFGS-B",
                options={"maxiter": 20 * max_iterations, "gtol": 1e-12,
                         "ftol": 1e-15},
            )
            iterations += int(polish.nit)
            if polish.fun <= result.fun:
                x, result = polish.x, polish

    grad = objective.gradient(x)
    max_abs = float(np.max(np.abs(grad), initial=0.0)) if np.all(np.isfinite(grad)) \
        else np.inf
    converged = max_abs <= tolerance
    return OptimizationResult(x, float(objective.value(x)), iterations, max_abs,
                              converged, str(result.message))


def _fisher_scoring(
    objective, x: np.ndarray, tolerance: float = GRADIENT_TOLERANCE,
    max_iterations: int = 50,
) -> OptimizationResult | None:
    """Fisher scoring with step halving; None if it fails to converge.

    Each step solves I(x) dx = -g(x) with the expected information I, which
    for ML converges in a handful of iterations from reasonable start values
    (Lee & Jennrich, 1979). A step is halved until fmin decreases.
    """
    value = objective.value(x)
    for iteration in range(1, max_iterations + 1):
        grad = objective.gradient(x)
        if not np.all(np.isfinite(grad)):
            return None
        if np.max(np.abs(grad), initial=0.0) <= 0.01 * tolerance:
            return OptimizationResult(x, value, iteration - 1,
                                      float(np.max(np.abs(grad), initial=0.0)), True,
                                      "Fisher scoring converged")
        try:
            step = np.linalg.solve(objective.information(x), -grad)
        except np.linalg.LinAlgError:
            return None
        for _ in range(30):
            candidate = x + step
            candidate_value = objective.value(candidate)
            if candidate_value <= value + 1e-4 * (grad @ step):
                break
            step = step / 2
        else:
            return None
        if value - candidate_value < 1e-15 * max(1.0, abs(value)) and \
                np.max(np.abs(step)) < 1e-12:
            x, value = candidate, candidate_value
            break
        x, value = candidate, candidate_value
    grad = objective.gradient(x)
    max_abs = float(np.max(np.abs(grad), initial=0.0))
    if max_abs > tolerance:
        return None
    return OptimizationResult(x, value, iteration, max_abs, True, "Fisher scoring")


def _rescue_start(objective, model: RamModel, x0: np.ndarray) -> np.ndarray:
    """Shrink covariance starts toward zero until the implied Sigma is PD."""
    x = x0.copy()
    for _ in range(30):
        if np.isfinite(objective.value(x)):
            return x
        x = _shrink_off_diagonal(model, x)
    return x


def _shrink_off_diagonal(model: RamModel, x: np.ndarray) -> np.ndarray:
    frame = model.table.frame
    out = x.copy()
    shrink = (frame["free"] > 0) & frame["op"].isin(["~~", "~"]) \
        & (frame["lhs"] != frame["rhs"])
    out[np.unique(frame.loc[shrink, "free"].to_numpy() - 1)] *= 0.5
    return out


def warn_not_converged(result: OptimizationResult) -> None:
    """Emit a ConvergenceWarning describing ``result``."""
    warnings.warn(
        f"the optimiser did not reach a stationary point after {result.iterations} "
        f"iterations (largest absolute gradient {result.max_abs_gradient:.3g}; "
        f"optimiser message: {result.message}); estimates and standard errors are "
        "not trustworthy: check the model for identification and try other start "
        "values",
        ConvergenceWarning,
        stacklevel=3,
    )


def implied_moments(model: RamModel, x: np.ndarray) -> list[ImpliedMoments]:
    """Return the implied moments of every group at ``x``."""
    return [model.implied(x, g) for g in range(model.table.ngroups)]
