"""Standardized solutions (lavaan's ``std.lv`` and ``std.all``) with delta-method SEs.

``std_lv`` rescales latent variables to unit total variance; ``std_all`` also
rescales observed variables by their model-implied standard deviations. A
covariance between two different variables becomes the correlation of their
residuals (lavaan's ``cov.std = TRUE``), and a variance becomes the share of
the total variance it represents. Standard errors follow by the delta method
with a numerical Jacobian of the standardizing map.

References
----------
Bollen, K. A. (1989). Structural Equations with Latent Variables. Wiley,
pp. 349-350 (standardized coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lio_validate.model import RamModel

__all__ = ["Standardized", "standardize", "standardized_with_se"]


@dataclass(frozen=True)
class Standardized:
    """Standardized values and SEs for every row of the parameter table."""

    std_lv: np.ndarray
    std_all: np.ndarray
    se_std_lv: np.ndarray
    se_std_all: np.ndarray


def _row_scales(model: RamModel, x: np.ndarray, group: int):
    """Return raw values and per-row divisors of one group for both solutions."""
    A, S, m = model.matrices(x, group)
    moments = model.implied(x, group)
    total_var = np.diag(moments.B @ moments.S @ moments.B.T)
    with np.errstate(invalid="ignore"):
        sd_all = np.sqrt(total_var)
    nobs = model.nobserved
    is_latent = np.arange(len(model.variables)) >= nobs
    sd_lv = np.where(is_latent, sd_all, 1.0)
    residual_var = np.diag(S)
    return sd_all, sd_lv, residual_var, is_latent


def standardize(model: RamModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (std_lv, std_all) for every row of the parameter table at ``x``.

    A row of A at (i, j), a loading or a regression of i on j, is multiplied
    by sd_j / sd_i; an intercept is divided by sd_i; a variance by its total
    variance; a covariance becomes a residual correlation.
    """
    nrows = len(model.table.frame)
    values = model.row_values(x)
    std_lv = np.full(nrows, np.nan)
    std_all = np.full(nrows, np.nan)

    for group, index in enumerate(model.groups):
        sd_all, sd_lv, residual_var, is_latent = _row_scales(model, x, group)
        value = values[index.rows]
        i, j, kind = index.i, index.j, index.matrix
        lv_out = np.full(len(value), np.nan)
        all_out = np.full(len(value), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            is_path = kind == 0
            lv_out[is_path] = value[is_path] * sd_lv[j[is_path]] / sd_lv[i[is_path]]
            all_out[is_path] = value[is_path] * sd_all[j[is_path]] / sd_all[i[is_path]]

            is_mean = kind == 2
            lv_out[is_mean] = value[is_mean] / sd_lv[i[is_mean]]
            all_out[is_mean] = value[is_mean] / sd_all[i[is_mean]]

            is_var = (kind == 1) & (i == j)
            lv_out[is_var] = value[is_var] / sd_lv[i[is_var]] ** 2
            all_out[is_var] = value[is_var] / sd_all[i[is_var]] ** 2

            is_cov = (kind == 1) & (i != j)
            a, b = i[is_cov], j[is_cov]
            correlation = value[is_cov] / np.sqrt(residual_var[a] * residual_var[b])
            all_out[is_cov] = correlation
            both_latent = is_latent[a] & is_latent[b]
            both_observed = ~is_latent[a] & ~is_latent[b]
            lv_out[is_cov] = np.where(
                both_latent, correlation,
                np.where(both_observed, value[is_cov],
                         value[is_cov] / (sd_lv[a] * sd_lv[b])),
            )
        std_lv[index.rows] = lv_out
        std_all[index.rows] = all_out
    return std_lv, std_all


def _jacobian(function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    base = function(x)
    jacobian = np.zeros((len(base), len(x)))
    for k in range(len(x)):
        offset = np.zeros(len(x))
        offset[k] = step * max(1.0, abs(x[k]))
        jacobian[:, k] = (function(x + offset) - function(x - offset)) / (2 * offset[k])
    return jacobian


def standardized_with_se(
    model: RamModel, x: np.ndarray, vcov: np.ndarray | None
) -> Standardized:
    """Standardize every row and attach delta-method standard errors.

    The Jacobian is taken by central differences of the standardizing map;
    SEs below eps^(1/4), which are numerical noise around an exact zero (a
    fixed loading of an exogenous latent variable in ``std_lv``), are set to 0
    as lavaan does.
    """
    std_lv, std_all = standardize(model, x)
    nrows = len(std_lv)
    if vcov is None or not np.all(np.isfinite(vcov)):
        nan = np.full(nrows, np.nan)
        return Standardized(std_lv, std_all, nan, nan.copy())

    def stacked(theta: np.ndarray) -> np.ndarray:
        lv, all_ = standardize(model, theta)
        return np.concatenate([lv, all_])

    jacobian = np.nan_to_num(_jacobian(stacked, x))
    variance = np.sum((jacobian @ vcov) * jacobian, axis=1)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.clip(variance, 0.0, None))
    se[se < np.finfo(float).eps ** 0.25] = 0.0
    se[~np.isfinite(np.concatenate([std_lv, std_all]))] = np.nan
    return Standardized(std_lv, std_all, se[:nrows], se[nrows:])
