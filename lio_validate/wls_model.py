"""The y* correlation structure of ordinal items and its least-squares fit.

In the delta parameterization (Muthen & Asparouhov, 2002) each ordinal item
is the discretised version of a latent response y* with mean 0 and variance
1. The RAM model gives the implied covariance of the y*, C S C', except that
the residual variances theta of the items are not free: they are whatever
makes every implied y* variance equal to 1. The free parameters are the
other RAM parameters and the thresholds, whose implied values are the
threshold parameters themselves (y* intercepts and latent means are 0).

The estimate minimises lavaan's least-squares discrepancy

    fmin = sum_g (N_g / N) (1/2) ((N_g - 1) / N_g) (s_g - sigma_g)' W_g (s_g - sigma_g),

with s the thresholds and polychoric correlations and sigma their implied
values (lavaan 0.6, ``lav_model_objective.R``); W is diag(Gamma)^-1 for DWLS
and the identity for ULS.

References
----------
Muthen, B., & Asparouhov, T. (2002). Latent variable analysis with
categorical outcomes: Multiple-group and growth modeling in Mplus. Mplus Web
Notes, 4.
Muthen, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using
weighted least squares and quadratic estimating equations in latent variable
modeling with categorical and continuous outcomes. Unpublished manuscript.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from lio_validate.model import ImpliedMoments, RamModel
from lio_validate.polychoric import pair_indices

__all__ = [
    "OrdinalModel",
    "CorrelationStructure",
    "LeastSquaresData",
    "WLSOptimum",
    "correlation_structure",
    "implied_statistics",
    "jacobian",
    "fmin",
    "gradient",
    "fit_least_squares",
]

# Largest absolute gradient of fmin accepted as a stationary point, the same
# standard as the ML optimiser in lio_validate.ml.
GRADIENT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class OrdinalModel:
    """A RAM model of the y* correlations plus the threshold parameters.

    Attributes
    ----------
    ram : RamModel
        The RAM model. The residual variances of the items are fixed at 0 in
        it and filled in by :func:`correlation_structure`.
    residual_positions : tuple of numpy.ndarray
        Per group, the positions (within the group's RAM rows) of the item
        residual variances, in the order of the observed variables.
    threshold_rows : tuple of numpy.ndarray
        Per group, the parameter-table rows of the thresholds, in the order
        of the sample thresholds.
    """

    ram: RamModel
    residual_positions: tuple[np.ndarray, ...]
    threshold_rows: tuple[np.ndarray, ...]

    @property
    def npar(self) -> int:
        return self.ram.npar

    @property
    def ngroups(self) -> int:
        return len(self.ram.groups)


@dataclass(frozen=True)
class LeastSquaresData:
    """The sample side of the fit of one group: s, the weights and Gamma."""

    nobs: int
    wls_obs: np.ndarray
    weights: np.ndarray
    gamma: np.ndarray | None


@dataclass(frozen=True)
class CorrelationStructure:
    """Implied y* moments of one group at given parameters."""

    sigma: np.ndarray
    theta: np.ndarray
    moments: ImpliedMoments
    residual_loadings: np.ndarray


def correlation_structure(model: OrdinalModel, x: np.ndarray,
                          group: int) -> CorrelationStructure:
    """Return the implied y* covariance with the item residual variances solved.

    With S0 the RAM covariance matrix without the item residual variances and
    c_l the column of C for item l, Sigma = C S0 C' + sum_l theta_l c_l c_l'.
    Unit diagonal means M theta = 1 - diag(C S0 C') with M_jl = C_jl^2, a
    p x p system, and M is the identity when no item is a predictor.

    NOTE: the fits compared with lavaan have no item that predicts another
    item. With such a path (M not the identity) the derivatives are checked
    against finite differences only, not against lavaan.
    """
    ram = model.ram
    A, S, m = ram.matrices(x, group)
    n = len(ram.variables)
    B = np.linalg.solve(np.eye(n) - A, np.eye(n))
    C = B[: ram.nobserved]

    index = ram.groups[group]
    positions = model.residual_positions[group]
    items = index.i[positions]
    baseline = C @ S @ C.T
    residual_loadings = C[:, items]
    theta = np.linalg.solve(residual_loadings**2, 1.0 - np.diag(baseline))

    S = S.copy()
    S[items, items] = theta
    sigma = C @ S @ C.T
    sigma = (sigma + sigma.T) / 2.0
    moments = ImpliedMoments(sigma, C @ m, B, C, S, m)
    return CorrelationStructure(sigma, theta, moments, residual_loadings)


def implied_statistics(model: OrdinalModel, x: np.ndarray, group: int) -> np.ndarray:
    """Return sigma of one group: implied thresholds, then implied correlations."""
    structure = correlation_structure(model, x, group)
    first, second = pair_indices(model.ram.nobserved)
    values = model.ram.row_values(x)
    thresholds = values[model.threshold_rows[group]]
    return np.concatenate([thresholds, structure.sigma[first, second]])


def jacobian(model: OrdinalModel, x: np.ndarray, group: int) -> np.ndarray:
    """Return Delta = d sigma / d x' of one group, (thresholds + pairs) x npar.

    The derivative of a correlation in a RAM parameter has two parts: the
    direct one, U V' + V U' from ``RamModel.sigma_factors`` with theta held
    fixed, and the one through theta. Differentiating M theta = 1 -
    diag(C S0 C') gives d theta / dx_k = -M^-1 diag(d Sigma / dx_k | theta),
    so the total derivative of Sigma_ij is the direct part plus
    sum_l (d theta_l / dx_k) C_il C_jl.
    """
    ram = model.ram
    structure = correlation_structure(model, x, group)
    first, second = pair_indices(ram.nobserved)

    U, V, _ = ram.sigma_factors(structure.moments, group)
    free = ram.free_rows_of_group(group)
    U, V = U[free], V[free]
    direct = U[:, first] * V[:, second] + V[:, first] * U[:, second]
    direct_diagonal = 2.0 * U * V
    d_theta = -np.linalg.solve(structure.residual_loadings**2, direct_diagonal.T)
    loadings = structure.residual_loadings
    through_theta = (loadings[first] * loadings[second]) @ d_theta
    pair_rows = (direct.T + through_theta) @ ram.jacobian_free(group)[free]

    threshold_rows = np.zeros((len(model.threshold_rows[group]), model.npar))
    positions = ram.free_index[model.threshold_rows[group]]
    is_free = positions >= 0
    threshold_rows[np.flatnonzero(is_free), positions[is_free]] = 1.0
    return np.vstack([threshold_rows, pair_rows])


# --------------------------------------------------------------------------
# Discrepancy and optimiser
# --------------------------------------------------------------------------


def _group_weight(data: LeastSquaresData, nobs_total: int) -> float:
    """Return (N_g / N) * (N_g - 1) / N_g, the weight of a group's quadratic form."""
    return (data.nobs - 1) / nobs_total


def fmin(model: OrdinalModel, data: tuple[LeastSquaresData, ...],
         x: np.ndarray) -> float:
    """Return lavaan's ``fmin`` for DWLS or ULS at ``x``."""
    nobs_total = sum(d.nobs for d in data)
    total = 0.0
    for group, group_data in enumerate(data):
        residual = group_data.wls_obs - implied_statistics(model, x, group)
        total += 0.5 * _group_weight(group_data, nobs_total) * float(
            residual @ (group_data.weights * residual))
    return total


def gradient(model: OrdinalModel, data: tuple[LeastSquaresData, ...],
             x: np.ndarray) -> np.ndarray:
    """Return the gradient of ``fmin``, -sum_g c_g Delta_g' W_g (s_g - sigma_g)."""
    nobs_total = sum(d.nobs for d in data)
    out = np.zeros(model.npar)
    for group, group_data in enumerate(data):
        residual = group_data.wls_obs - implied_statistics(model, x, group)
        delta = jacobian(model, x, group)
        out -= _group_weight(group_data, nobs_total) * (
            delta.T @ (group_data.weights * residual))
    return out


def _separable_thresholds(model: OrdinalModel,
                          data: tuple[LeastSquaresData, ...]):
    """Find the free thresholds that only their own statistic depends on.

    Such a threshold enters fmin through the single term w (t_sample - t)^2,
    so its estimate is the sample threshold whatever the other parameters
    are. Returns a mask over the free parameters and the values of the
    masked ones. Gauss-Newton then runs on the others only.
    """
    ram = model.ram
    in_ram = np.zeros(model.npar, dtype=bool)
    for index in ram.groups:
        positions = ram.free_index[index.rows]
        in_ram[positions[positions >= 0]] = True

    uses = np.zeros(model.npar, dtype=int)
    values = np.zeros(model.npar)
    for rows, group_data in zip(model.threshold_rows, data):
        positions = ram.free_index[rows]
        is_free = positions >= 0
        np.add.at(uses, positions[is_free], 1)
        values[positions[is_free]] = group_data.wls_obs[:len(rows)][is_free]
    separable = (uses == 1) & ~in_ram
    return separable, values[separable]


def _solve_positive_definite(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Solve matrix @ x = vector for a symmetric positive definite matrix.

    Cholesky factor and two triangular solves: the standard route for normal
    equations, and much faster than a general LU solve with the threaded
    OpenBLAS that numpy ships. Raises LinAlgError if the matrix is not
    positive definite.
    """
    lower = np.linalg.cholesky(matrix)
    half = linalg.solve_triangular(lower, vector, lower=True)
    return linalg.solve_triangular(lower.T, half, lower=False)


@dataclass(frozen=True)
class WLSOptimum:
    """Outcome of the least-squares fit, judged by the final gradient."""

    x: np.ndarray
    fmin: float
    iterations: int
    max_abs_gradient: float
    converged: bool
    message: str


def fit_least_squares(
    model: OrdinalModel, data: tuple[LeastSquaresData, ...], x0: np.ndarray,
    *, max_iterations: int = 500,
) -> WLSOptimum:
    """Minimise ``fmin`` by Gauss-Newton steps with step halving.

    Each step solves (sum_g c_g Delta' W Delta) dx = sum_g c_g Delta' W (s -
    sigma), the Gauss-Newton approximation that is exact for the curvature of
    a least-squares fit at a perfect fit, and is halved until fmin does not
    increase. The fit stops when a step no longer changes the estimate;
    whether it converged is judged by the largest absolute gradient.
    """
    nobs_total = sum(d.nobs for d in data)
    x = np.asarray(x0, dtype=float).copy()
    solved, solved_values = _separable_thresholds(model, data)
    x[solved] = solved_values
    active = ~solved
    value = fmin(model, data, x)
    message = f"no convergence within {max_iterations} Gauss-Newton iterations"
    iteration = 0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for iteration in range(1, max_iterations + 1):
            grad = np.zeros(int(active.sum()))
            curvature = np.zeros((len(grad), len(grad)))
            for group, group_data in enumerate(data):
                residual = group_data.wls_obs - implied_statistics(model, x, group)
                delta = jacobian(model, x, group)[:, active]
                weight = _group_weight(group_data, nobs_total)
                weighted = group_data.weights[:, None] * delta
                grad -= weight * (weighted.T @ residual)
                curvature += weight * (delta.T @ weighted)
            if np.max(np.abs(grad), initial=0.0) <= 1e-12:
                message = "Gauss-Newton converged"
                break
            try:
                step = _solve_positive_definite(curvature, -grad)
            except np.linalg.LinAlgError:
                message = ("the Gauss-Newton matrix is singular: the model may not "
                           "be identified")
                break
            if not np.all(np.isfinite(step)):
                message = "the Gauss-Newton step is not finite"
                break

            # Near the minimum the decrease is below the rounding error of
            # fmin, so a step that leaves fmin unchanged to 1e-14 is accepted.
            accepted = False
            for _ in range(40):
                candidate = x.copy()
                candidate[active] += step
                candidate_value = fmin(model, data, candidate)
                if np.isfinite(candidate_value) and \
                        candidate_value <= value + 1e-14 * abs(value):
                    accepted = True
                    break
                step = step / 2.0
            if not accepted:
                message = "no step decreased fmin"
                break
            change = np.max(np.abs(candidate - x), initial=0.0)
            x, value = candidate, candidate_value
            if change < 1e-11 * max(1.0, np.max(np.abs(x), initial=0.0)):
                message = "Gauss-Newton converged"
                break

    grad = gradient(model, data, x)
    max_abs = float(np.max(np.abs(grad), initial=0.0)) if np.all(np.isfinite(grad)) \
        else np.inf
    return WLSOptimum(x, float(value), iteration, max_abs,
                      max_abs <= GRADIENT_TOLERANCE, message)
