"""Sufficient statistics of complete data: counts, means and covariances per group.

Every estimator of the maximum-likelihood family works on these alone, so a
fit costs the same whether the data have a thousand rows or a million.
lavaan's default (``likelihood = "normal"``) divides the covariance by N,
not N - 1; ``wishart=True`` gives the N - 1 divisor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from lio_validate.exceptions import DataError, NonPositiveDefiniteWarning

__all__ = ["GroupStatistics", "SampleStatistics", "compute_sample_statistics"]


@dataclass(frozen=True)
class GroupStatistics:
    """Moments of one group: ``nobs``, ``mean`` (p,), ``cov`` (p, p)."""

    name: str
    nobs: int
    mean: np.ndarray
    cov: np.ndarray
    logdet_cov: float


@dataclass(frozen=True)
class SampleStatistics:
    """Moments of every group, in the order of the observed variable names."""

    variables: tuple[str, ...]
    groups: tuple[GroupStatistics, ...]
    wishart: bool = False

    @property
    def nobs(self) -> int:
        return sum(group.nobs for group in self.groups)

    @property
    def ngroups(self) -> int:
        return len(self.groups)


def _moments(values: np.ndarray, wishart: bool,
             weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    if weights is not None:
        # Weighted moments with divisor sum(w), as lavaan's sampling.weights.
        total = weights.sum()
        mean = weights @ values / total
        centred = values - mean
        cov = (centred * weights[:, None]).T @ centred / total
        return mean, (cov + cov.T) / 2
    nobs = values.shape[0]
    mean = values.mean(axis=0)
    centred = values - mean
    # A symmetric rank-k update computes one triangle of C'C: half the work.
    upper = linalg.blas.dsyrk(1.0, np.asfortranarray(centred), trans=1)
    cov = np.triu(upper) + np.triu(upper, 1).T
    return mean, cov / (nobs - 1 if wishart else nobs)


def compute_sample_statistics(
    frames: list[tuple[str, pd.DataFrame]],
    variables: tuple[str, ...],
    *,
    wishart: bool = False,
    weights: tuple[np.ndarray, ...] | None = None,
) -> SampleStatistics:
    """Compute the moments of ``variables`` in each (group name, frame) pair.

    Raises
    ------
    DataError
        If a group has fewer rows than variables + 1, or a variable is constant.
    """
    groups = []
    for index, (name, frame) in enumerate(frames):
        values = frame.loc[:, list(variables)].to_numpy(dtype=float)
        nobs = values.shape[0]
        where = f" in group {name!r}" if name else ""
        if nobs <= len(variables):
            raise DataError(
                f"only {nobs} complete row(s){where} for {len(variables)} observed "
                f"variables; ML needs at least {len(variables) + 1} rows in every "
                "group: merge the group with another or drop its rows"
            )
        mean, cov = _moments(values, wishart,
                             None if weights is None else weights[index])
        constant = [v for v, var in zip(variables, np.diag(cov)) if var <= 0]
        if constant:
            raise DataError(
                f"column(s) {', '.join(map(repr, constant))} are constant{where}; "
                "a constant item carries no information: drop it from the model"
            )
        sign, logdet = np.linalg.slogdet(cov)
        if sign <= 0:
            import warnings

            warnings.warn(
                f"the sample covariance matrix{where} is not positive definite "
                f"({nobs} rows, {len(variables)} variables); some items are linear "
                "combinations of others: the log-likelihood of the saturated model "
                "and the chi-square are undefined",
                NonPositiveDefiniteWarning,
                stacklevel=3,
            )
            logdet = np.nan
        groups.append(GroupStatistics(name, nobs, mean, cov, float(logdet)))
    return SampleStatistics(tuple(variables), tuple(groups), wishart)
