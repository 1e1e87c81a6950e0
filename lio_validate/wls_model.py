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

_RAM_M = 2  # RAM matrix code of a mean or intercept row (lio_validate.model)


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
    threshold_items : tuple of numpy.ndarray
        Per group, the position (among the observed variables) of the item
        of each threshold.
    scale_rows : tuple of numpy.ndarray
        Per group, the parameter-table rows of the scale factors ``~*~``, in
        the order of the observed variables.
    """

    ram: RamModel
    residual_positions: tuple[np.ndarray, ...]
    threshold_rows: tuple[np.ndarray, ...]
    threshold_items: tuple[np.ndarray, ...]
    scale_rows: tuple[np.ndarray, ...]

    @property
    def npar(self) -> int:
        return self.ram.npar

    @property
    def ngroups(self) -> int:
        return len(self.ram.groups)


@dataclass(frozen=True)
class LeastSquaresData:
    """The sample side of the fit of one group: s, the weights and Gamma.

    ``nobs`` is the group's number of rows, or the sum of its sampling
    weights in a weighted fit, as lavaan 0.6.14 counts it.
    """

    nobs: float
    wls_obs: np.ndarray
    weights: np.ndarray
    gamma: np.ndarray | None


@dataclass(frozen=True)
class CorrelationStructure:
    """Implied y* moments of one group at given parameters.

    ``sigma`` is the implied correlation matrix D Sigma* D, ``moments`` holds
    Sigma* and mu* of the y* before scaling, ``scale`` the scale factors
    (the diagonal of D) and ``theta`` the solved residual variances.
    """

    sigma: np.ndarray
    theta: np.ndarray
    moments: ImpliedMoments
    residual_loadings: np.ndarray
    scale: np.ndarray


def correlation_structure(model: OrdinalModel, x: np.ndarray,
                          group: int) -> CorrelationStructure:
    """Return the implied y* correlations with the item residual variances solved.

    With S0 the RAM covariance matrix without the item residual variances,
    c_l the column of C for item l and delta the scale factors, the y*
    covariance is Sigma* = C S0 C' + sum_l theta_l c_l c_l' and the implied
    correlation matrix is D Sigma* D with D = diag(delta). A unit diagonal
    means M theta = delta^-2 - diag(C S0 C') with M_jl = C_jl^2, a p x p
    system; M is the identity when no item is a predictor (Muthen &
    Asparouhov, 2002, delta parameterization).

    NOTE: the fits compared with lavaan have no item that predicts another
    item. With such a path (M not the identity) the derivatives are checked
    against finite differences only, not against lavaan.
    """
    ram = model.ram
    A, S, m = ram.matrices(x, group)
    n = len(ram.variables)
    B = np.linalg.solve(np.eye(n) - A, np.eye(n))
    C = B[: ram.nobserved]
    scale = ram.row_values(x)[model.scale_rows[group]]

    index = ram.groups[group]
    positions = model.residual_positions[group]
    items = index.i[positions]
    baseline = C @ S @ C.T
    residual_loadings = C[:, items]
    theta = np.linalg.solve(residual_loadings**2, scale**-2 - np.diag(baseline))

    S = S.copy()
    S[items, items] = theta
    sigma_star = C @ S @ C.T
    sigma_star = (sigma_star + sigma_star.T) / 2.0
    moments = ImpliedMoments(sigma_star, C @ m, B, C, S, m)
    sigma = scale[:, None] * sigma_star * scale[None, :]
    return CorrelationStructure(sigma, theta, moments, residual_loadings, scale)


def _implied_thresholds(model: OrdinalModel, structure: CorrelationStructure,
                        values: np.ndarray, group: int) -> np.ndarray:
    """Return delta_j (tau_jk - mu*_j), the thresholds on the scale of a unit-variance y*."""
    items = model.threshold_items[group]
    tau = values[model.threshold_rows[group]]
    return structure.scale[items] * (tau - structure.moments.mu[items])


def implied_statistics(model: OrdinalModel, x: np.ndarray, group: int) -> np.ndarray:
    """Return sigma of one group: implied thresholds, then implied correlations."""
    structure = correlation_structure(model, x, group)
    first, second = pair_indices(model.ram.nobserved)
    thresholds = _implied_thresholds(model, structure, model.ram.row_values(x), group)
    return np.concatenate([thresholds, structure.sigma[first, second]])


def _scatter_columns(out: np.ndarray, rows: np.ndarray, positions: np.ndarray,
                     values: np.ndarray) -> None:
    """Add values[r, k] to out[rows[r], positions[k]] for the free positions."""
    is_free = positions >= 0
    if not np.any(is_free):
        return
    np.add.at(out, (rows[:, None], positions[is_free][None, :]), values[:, is_free])


def jacobian(model: OrdinalModel, x: np.ndarray, group: int) -> np.ndarray:
    """Return Delta = d sigma / d x' of one group, (thresholds + pairs) x npar.

    RAM parameters: the derivative of Sigma* has the direct part U V' + V U'
    from ``RamModel.sigma_factors`` with theta held fixed, and the part
    through theta, with d theta / dx_k = -M^-1 diag(d Sigma* / dx_k | theta)
    from differentiating M theta = delta^-2 - diag(C S0 C'). A correlation is
    delta_i delta_j Sigma*_ij, and a threshold delta_j (tau - mu*_j) moves
    with mu* through -delta_j d mu*_j.

    Scale factors: d rho_ij / d delta_l = ([l = i] delta_j + [l = j] delta_i)
    Sigma*_ij + delta_i delta_j sum_m C_im C_jm d theta_m / d delta_l, with
    d theta / d delta_l = -2 delta_l^-3 M^-1 e_l; a threshold of item l
    moves by tau - mu*_l. Thresholds: d / d tau_jk = delta_j.
    """
    ram = model.ram
    structure = correlation_structure(model, x, group)
    first, second = pair_indices(ram.nobserved)
    scale = structure.scale
    pair_scale = scale[first] * scale[second]
    loadings = structure.residual_loadings
    items = model.threshold_items[group]
    values = ram.row_values(x)

    # RAM parameters.
    U, V, dmu = ram.sigma_factors(structure.moments, group)
    free = ram.free_rows_of_group(group)
    U, V, dmu = U[free], V[free], dmu[free]
    direct = U[:, first] * V[:, second] + V[:, first] * U[:, second]
    direct_diagonal = 2.0 * U * V
    d_theta = -np.linalg.solve(loadings**2, direct_diagonal.T)
    through_theta = (loadings[first] * loadings[second]) @ d_theta
    K = ram.jacobian_free(group)[free]
    pair_rows = pair_scale[:, None] * ((direct.T + through_theta) @ K)
    threshold_rows = (-scale[items][:, None] * dmu[:, items].T) @ K

    # Scale factors.
    scale_positions = ram.free_index[model.scale_rows[group]]
    if np.any(scale_positions >= 0):
        p = ram.nobserved
        sigma_star = structure.moments.sigma
        d_theta_scale = np.linalg.solve(loadings**2, np.diag(-2.0 * scale**-3))
        by_scale = (pair_scale[:, None] * (loadings[first] * loadings[second])
                    @ d_theta_scale)
        npairs = len(first)
        by_scale[np.arange(npairs), first] += scale[second] * sigma_star[first, second]
        by_scale[np.arange(npairs), second] += scale[first] * sigma_star[first, second]
        _scatter_columns(pair_rows, np.arange(npairs), scale_positions, by_scale)
        tau = values[model.threshold_rows[group]]
        by_scale_thresholds = np.zeros((len(items), p))
        by_scale_thresholds[np.arange(len(items)), items] = (
            tau - structure.moments.mu[items])
        _scatter_columns(threshold_rows, np.arange(len(items)), scale_positions,
                         by_scale_thresholds)

    # Thresholds.
    positions = ram.free_index[model.threshold_rows[group]]
    is_free = positions >= 0
    np.add.at(threshold_rows, (np.flatnonzero(is_free), positions[is_free]),
              scale[items][is_free])
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

    Such a threshold enters fmin through the single term w (t_sample -
    delta tau)^2 when its item's scale factor delta is fixed and every mean
    of its group is fixed at 0 (so mu* = 0), so its estimate is the sample
    threshold divided by delta whatever the other parameters are. Returns a
    mask over the free parameters and the values of the masked ones.
    Gauss-Newton then runs on the others only.
    """
    ram = model.ram
    values_now = ram.values
    in_ram = np.zeros(model.npar, dtype=bool)
    for index in ram.groups:
        positions = ram.free_index[index.rows]
        in_ram[positions[positions >= 0]] = True
    for rows in model.scale_rows:
        positions = ram.free_index[rows]
        in_ram[positions[positions >= 0]] = True

    uses = np.zeros(model.npar, dtype=int)
    values = np.zeros(model.npar)
    eligible = np.zeros(model.npar, dtype=bool)
    for g, (rows, group_data) in enumerate(zip(model.threshold_rows, data)):
        index = ram.groups[g]
        means = index.rows[index.matrix == _RAM_M]
        zero_means = bool(np.all(ram.free_index[means] < 0)
                          and np.all(values_now[means] == 0.0))
        scale_rows = model.scale_rows[g][model.threshold_items[g]]
        fixed_scale = ram.free_index[scale_rows] < 0
        positions = ram.free_index[rows]
        is_free = positions >= 0
        np.add.at(uses, positions[is_free], 1)
        ok = is_free & fixed_scale & zero_means
        eligible[positions[ok]] = True
        values[positions[is_free]] = (group_data.wls_obs[:len(rows)][is_free]
                                      / values_now[scale_rows][is_free])
    separable = (uses == 1) & ~in_ram & eligible
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
