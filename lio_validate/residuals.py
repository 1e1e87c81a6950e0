"""Raw and normalized residuals of the sample moments, as lavaan's ``residuals()``.

A raw residual is a sample moment minus its model-implied value. A normalized
residual divides it by the standard error of the sample moment under an
unrestricted normal model (lavaan 0.6's ``type = "normalized"``, built on the
unstructured h1 information): with N the group's size and S the N-divisor
sample covariance,

    Var(s_ij) = (s_ii s_jj + s_ij^2) / N,    Var(ybar_i) = s_ii / N.

With fixed-x covariates the other moments' variances are conditional on the
covariates' moments (see ``_moment_se``). As in lavaan 0.6.14
(``lav_residuals.R``), a residual below 1e-5 in absolute value is divided by
1, so an exactly fitted moment stays a raw near-zero number.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.engine import fitted_engine
from lio_validate.exceptions import LioInputError

__all__ = ["Residuals", "residuals"]

_TYPES = ("raw", "normalized")

# lavaan leaves residuals smaller than this undivided (lav_residuals.R).
_NEAR_ZERO = 1e-5


@dataclass(frozen=True)
class Residuals:
    """Residuals of the covariances (and means) of every group.

    Attributes
    ----------
    type : str
        ``"raw"`` or ``"normalized"``.
    cov : tuple of pandas.DataFrame
        One symmetric matrix per group, observed variables as rows and columns.
    mean : tuple of pandas.Series or None
        Mean residuals per group under a mean structure, else None.
    group_names : tuple of str
        Group labels in the order of ``cov``.
    """

    type: str
    cov: tuple[pd.DataFrame, ...]
    mean: tuple[pd.Series, ...] | None
    group_names: tuple[str, ...]

    def largest(self, n: int = 10) -> pd.DataFrame:
        """Return the ``n`` covariance residuals largest in absolute value."""
        records = []
        for name, matrix in zip(self.group_names, self.cov):
            values = matrix.to_numpy()
            rows, cols = np.tril_indices(len(values))
            for i, j in zip(rows, cols):
                records.append((name, matrix.index[i], matrix.columns[j], values[i, j]))
        table = pd.DataFrame(records, columns=["group", "lhs", "rhs", "residual"])
        order = table["residual"].abs().sort_values(ascending=False).index
        return table.loc[order].head(n).reset_index(drop=True)

    def summary(self, n: int = 10) -> str:
        """Return the largest residuals as a text table."""
        lines = [f"{self.type.capitalize()} residuals, the {n} largest in absolute "
                 "value:", ""]
        for row in self.largest(n).itertuples(index=False):
            where = f" [{row.group}]" if row.group else ""
            lines.append(f"  {row.lhs} ~~ {row.rhs}{where}".ljust(44)
                         + f"{row.residual:>10.3f}")
        if self.type == "normalized":
            lines += ["", "Values beyond +-1.96 are unlikely under a correct "
                      "model when the data are multivariate normal."]
        return "\n".join(lines)


def residuals(fit, data=None, *, type: str = "normalized") -> Residuals:
    """Compute the residuals of the sample covariances and means.

    Parameters
    ----------
    fit : SEMResult
        A model fitted with ML.
    data : pandas.DataFrame, optional
        The data the model was fitted to; needed for fits with several
        groups or a mean structure.
    type : {"normalized", "raw"}, default "normalized"
        lavaan's name for the kind of residual.

    Returns
    -------
    Residuals
    """
    if type not in _TYPES:
        raise LioInputError(f"unknown type {type!r}; choose one of {', '.join(_TYPES)}")
    engine = fitted_engine(fit, data)
    stats = engine.require_stats("residuals()")
    model = engine.model
    names = list(stats.variables)
    exo = model.table.frame["exo"] == 1
    fixed_x = [names.index(name) for name in dict.fromkeys(
        model.table.frame.loc[exo, "lhs"]) if name in names]
    covs, means = [], []
    for group, sample in enumerate(stats.groups):
        moments = model.implied(engine.x, group)
        residual = sample.cov - moments.sigma
        mean_residual = sample.mean - moments.mu
        if type == "normalized":
            cov_se, mean_se = _moment_se(sample.cov, fixed_x, sample.nobs)
            residual = _normalize(residual, cov_se)
            if model.table.meanstructure:
                mean_residual = _normalize(mean_residual, mean_se)
        covs.append(pd.DataFrame(residual, index=names, columns=names))
        means.append(pd.Series(mean_residual, index=names, name=sample.name))
    return Residuals(type, tuple(covs),
                     tuple(means) if model.table.meanstructure else None,
                     engine.group_names)


def _moment_se(cov: np.ndarray, fixed_x: list[int],
               nobs: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the sample covariances and means under normality.

    Without fixed-x covariates, Cov(s_ij, s_kl) = (s_ik s_jl + s_il s_jk) / N
    and Var(ybar) = diag(S) / N. With them, lavaan inverts only the block of
    the h1 information that belongs to the other moments, which gives their
    covariance conditional on the fixed ones,
    Gamma_nn - Gamma_nx Gamma_xx^-1 Gamma_xn for the covariances and the
    diagonal of S_yy - S_yx S_xx^-1 S_xy for the means; the fixed moments
    get zero.
    """
    p = len(cov)
    variance = np.diag(cov)
    cov_variance = np.outer(variance, variance) + cov**2
    mean_variance = variance.copy()
    if fixed_x:
        x = np.array(fixed_x)
        y = np.setdiff1d(np.arange(p), x)
        pairs = [(i, j) for j in range(p) for i in range(j, p)]
        is_x = np.array([i in fixed_x and j in fixed_x for i, j in pairs])
        gamma = _normal_gamma(cov, pairs)
        adjustment = gamma[np.ix_(~is_x, is_x)] @ np.linalg.solve(
            gamma[np.ix_(is_x, is_x)], gamma[np.ix_(is_x, ~is_x)])
        conditional = np.diag(gamma)[~is_x] - np.diag(adjustment)
        for (i, j), value in zip([pr for pr, x_pair in zip(pairs, is_x) if not x_pair],
                                 conditional):
            cov_variance[i, j] = cov_variance[j, i] = value
        cov_variance[np.ix_(x, x)] = 0.0
        s_yx = cov[np.ix_(y, x)]
        mean_variance[y] -= np.einsum("ij,ji->i", s_yx,
                                      np.linalg.solve(cov[np.ix_(x, x)], s_yx.T))
        mean_variance[x] = 0.0
    return np.sqrt(cov_variance / nobs), np.sqrt(mean_variance / nobs)


def _normal_gamma(cov: np.ndarray, pairs) -> np.ndarray:
    """N times the covariance of the vech of S under normality."""
    i = np.array([a for a, _ in pairs])
    j = np.array([b for _, b in pairs])
    return cov[np.ix_(i, i)] * cov[np.ix_(j, j)] + cov[np.ix_(i, j)] * cov[np.ix_(j, i)]


def _normalize(residual: np.ndarray, se: np.ndarray) -> np.ndarray:
    divisor = np.where(np.abs(residual) < _NEAR_ZERO, 1.0, se)
    return residual / divisor
