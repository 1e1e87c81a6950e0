"""Raw and normalized residuals of the sample moments, as lavaan's ``residuals()``.

A raw residual is a sample moment minus its model-implied value. A normalized
residual divides it by the standard error of the sample moment under an
unrestricted normal model (lavaan 0.6's ``type = "normalized"``, built on the
unstructured h1 information): with N the group's size and S the N-divisor
sample covariance,

    Var(s_ij) = (s_ii s_jj + s_ij^2) / N,    Var(ybar_i) = s_ii / N

(Joreskog & Sorbom, 1988; Bollen, 1989, p. 286). As in lavaan 0.6.14, a
residual below 1e-5 in absolute value is divided by 1, so an exactly fitted
moment stays a raw near-zero number, and the moments of fixed-x covariates are
included (their residuals are zero).

References
----------
Bollen, K. A. (1989). Structural Equations with Latent Variables. Wiley.
Joreskog, K. G., & Sorbom, D. (1988). LISREL 7: A guide to the program and
applications. SPSS Inc.
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


def residuals(fit, data=None, *, type: str = "normalized") -> Residuals:  # noqa: A002
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
    covs, means = [], []
    for group, sample in enumerate(stats.groups):
        moments = model.implied(engine.x, group)
        residual = sample.cov - moments.sigma
        mean_residual = sample.mean - moments.mu
        if type == "normalized":
            variance = np.diag(sample.cov)
            se = np.sqrt((np.outer(variance, variance) + sample.cov**2) / sample.nobs)
            residual = _normalize(residual, se)
            mean_residual = _normalize(mean_residual, np.sqrt(variance / sample.nobs))
        covs.append(pd.DataFrame(residual, index=names, columns=names))
        means.append(pd.Series(mean_residual, index=names, name=stats.groups[group].name))
    return Residuals(type, tuple(covs),
                     tuple(means) if model.table.meanstructure else None,
                     engine.group_names)


def _normalize(residual: np.ndarray, se: np.ndarray) -> np.ndarray:
    divisor = np.where(np.abs(residual) < _NEAR_ZERO, 1.0, se)
    return residual / divisor
