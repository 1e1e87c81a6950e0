"""Raw, correlation and normalized residuals of the sample moments, as lavaan's
``residuals()``.

A raw residual is a sample moment minus its model-implied value. The sample
moments are those the fit was estimated from: weighted moments (divisor the
sum of the weights) with sampling weights, and under FIML the EM estimates
of the saturated moments (lavaan's "h1"), because a FIML fit has no complete
sample covariance matrix.

``type="cor"`` is lavaan's ``"cor.bollen"``: both matrices are turned into
correlations with their own standard deviations before the difference, and
means are divided by the sample standard deviations.

A normalized residual divides the raw residual by the standard error of the
sample moment under the unrestricted (h1) model, lavaan 0.6.14's
``type = "normalized"`` with ``h1.acov = "unstructured"``. With I1 the h1
information per case of the fit's kind (expected or observed), J1 the
crossproduct of the casewise h1 scores and N the group's size, the
covariance of the moments is

    I1^-1 / N                 for ML (normal-theory standard errors),
    I1^-1 J1 I1^-1 / N        for MLR, MLM and sampling weights (sandwich).

On complete data I1 at the sample moments is the normal-theory information,
so the first gives Var(s_ij) = (s_ii s_jj + s_ij^2) / N and Var(ybar_i) =
s_ii / N, and the second the fourth-moment (ADF) variances. Under FIML both
matrices are computed pattern by pattern at the EM moments. Moments of
fixed-x covariates get no standard error, and the other moments' variances
are conditional on them, because lavaan inverts only the block of I1 that
belongs to the other moments. As in lavaan 0.6.14 (``lav_residuals.R``), a
residual below 1e-5 in absolute value is divided by 1, so an exactly fitted
moment stays a raw near-zero number.

References
----------
Bollen, K. A. (1989). Structural Equations with Latent Variables. Wiley
(correlation residuals, p. 258).
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36.
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean
and covariance structure analysis with nonnormal missing data. Sociological
Methodology, 30(1), 165-200.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.engine import FittedEngine, fitted_engine
from lio_validate.exceptions import LioInputError

__all__ = ["Residuals", "residuals"]

_TYPES = ("raw", "cor", "normalized")

# lavaan leaves residuals and moments smaller than this unscaled
# (lav_residuals.R, lav_residuals_rescale).
_NEAR_ZERO = 1e-5


@dataclass(frozen=True)
class Residuals:
    """Residuals of the covariances (and means) of every group.

    Attributes
    ----------
    type : str
        ``"raw"``, ``"cor"`` or ``"normalized"``.
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
        kind = "Correlation" if self.type == "cor" else self.type.capitalize()
        lines = [f"{kind} residuals, the {n} largest in absolute value:", ""]
        for row in self.largest(n).itertuples(index=False):
            where = f" [{row.group}]" if row.group else ""
            lines.append(f"  {row.lhs} ~~ {row.rhs}{where}".ljust(44)
                         + f"{row.residual:>10.3f}")
        if self.type == "normalized":
            lines += ["", ("Values beyond +-1.96 are unlikely under a correct "
                           "model (normal-theory standard errors after ML, sandwich "
                           "standard errors after MLR, MLM or with sampling "
                           "weights).")]
        return "\n".join(lines)


def residuals(fit, data=None, *, type: str = "normalized") -> Residuals:
    """Compute the residuals of the sample covariances and means.

    Parameters
    ----------
    fit : SEMResult
        A model fitted with ML, MLR or MLM, optionally with sampling weights,
        a cluster column or ``missing="fiml"``.
    data : pandas.DataFrame, optional
        The data the model was fitted to; needed for fits with several
        groups, a mean structure, a cluster column or FIML, and for
        normalized residuals after MLR, MLM or with sampling weights.
    type : {"normalized", "raw", "cor"}, default "normalized"
        lavaan's name for the kind of residual ("cor" is lavaan's
        "cor.bollen").

    Returns
    -------
    Residuals

    Raises
    ------
    LioInputError
        For an unknown type, and for normalized residuals of a fit with a
        cluster column, which lavaan 0.6.14 does not compute either.

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation
    modeling. Journal of Statistical Software, 48(2), 1-36.
    """
    if type not in _TYPES:
        hint = (" (lavaan's type='standardized' is not available here)"
                if type == "standardized" else "")
        raise LioInputError(
            f"unknown type {type!r}{hint}; choose one of {', '.join(_TYPES)}")
    options = fit.options
    if type == "normalized" and options.get("cluster"):
        # lavaan 0.6.14 has no h1 covariance of the moments for
        # se = "robust.cluster" and stops with an error in residuals().
        raise LioInputError(
            f"normalized residuals are not available for a fit with the cluster "
            f"column {options['cluster']!r}: lavaan 0.6.14 has no cluster-robust "
            "standard errors of the sample moments either; use type='raw' or "
            "type='cor', or refit without cluster= to get them"
        )
    sandwich = _uses_sandwich(fit)
    engine = fitted_engine(fit, data)
    stats = engine.require_stats("residuals()")
    if type == "normalized" and sandwich and engine.frames is None:
        raise LioInputError(
            f"normalized residuals of an {fit.estimator} fit"
            f"{' with sampling weights' if options.get('weights') else ''} use "
            "the fourth moments of the data; pass the data the model was fitted "
            "to as data=..."
        )
    model = engine.model
    names = list(stats.variables)
    meanstructure = bool(model.table.meanstructure)
    covs, means = [], []
    for group, sample in enumerate(stats.groups):
        moments = model.implied(engine.x, group)
        if type == "cor":
            residual, mean_residual = _correlation_residuals(
                sample.cov, sample.mean, moments.sigma, moments.mu)
        else:
            residual = sample.cov - moments.sigma
            mean_residual = sample.mean - moments.mu
        if type == "normalized":
            cov_se, mean_se = _moment_se(engine, group, fit.information, sandwich)
            residual = _normalize(residual, cov_se)
            if meanstructure:
                mean_residual = _normalize(mean_residual, mean_se)
        covs.append(pd.DataFrame(residual, index=names, columns=names))
        means.append(pd.Series(mean_residual, index=names, name=sample.name))
    return Residuals(type, tuple(covs), tuple(means) if meanstructure else None,
                     engine.group_names)


def _uses_sandwich(fit) -> bool:
    """Return whether lavaan's ``se`` option of the fit is a sandwich (robust) kind.

    lavaan 0.6.14 sets se = "robust.huber.white" for MLR and for sampling
    weights and "robust.sem" for MLM; both give the h1 covariance of the
    moments the sandwich form.
    """
    return fit.estimator in ("MLR", "MLM") or bool(fit.options.get("weights"))


def _correlation_residuals(sample_cov, sample_mean, implied_cov, implied_mean):
    """Compute lavaan's ``cor.bollen`` residuals, each matrix scaled by its own SDs.

    Means are scaled by the sample SDs on both sides. A moment below 1e-5 in
    absolute value is left unscaled, as lavaan's ``lav_residuals_rescale``
    does.
    """
    sample_sd = np.sqrt(np.diag(sample_cov))
    implied_sd = np.sqrt(np.diag(implied_cov))
    observed = _rescale(sample_cov, np.outer(sample_sd, sample_sd))
    implied = _rescale(implied_cov, np.outer(implied_sd, implied_sd))
    mean_residual = _rescale(sample_mean, sample_sd) - _rescale(implied_mean, sample_sd)
    return observed - implied, mean_residual


def _rescale(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    divisor = np.where(np.abs(values) < _NEAR_ZERO, 1.0, scale)
    return values / divisor


def _normalize(residual: np.ndarray, se: np.ndarray) -> np.ndarray:
    divisor = np.where(np.abs(residual) < _NEAR_ZERO, 1.0, se)
    with np.errstate(divide="ignore", invalid="ignore"):
        return residual / divisor


# --------------------------------------------------------------------------
# Covariance of the sample moments under the unrestricted (h1) model
# --------------------------------------------------------------------------
#
# Moments are ordered as lavaan orders them: the p means (with a mean
# structure), then the lower triangle of the covariance matrix column by
# column, (1,1), (2,1), ..., (p,1), (2,2), ...


@dataclass(frozen=True)
class _Pattern:
    """Cases that share their observed variables, with their moments.

    ``mean`` and ``cov`` (divisor n) are those of the pattern's own cases.
    ``rows`` contains the cases themselves and ``weights`` their sampling
    weights (None for unit weights).
    """

    observed: np.ndarray
    nobs: int
    mean: np.ndarray
    cov: np.ndarray
    rows: np.ndarray
    weights: np.ndarray | None


def _vech_positions(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the row and column of each vech element and the position of (i, j)."""
    rows = np.array([i for j in range(p) for i in range(j, p)], dtype=int)
    columns = np.array([j for j in range(p) for _ in range(j, p)], dtype=int)
    position = np.zeros((p, p), dtype=int)
    position[rows, columns] = np.arange(len(rows))
    position[columns, rows] = np.arange(len(rows))
    return rows, columns, position


def _group_patterns(engine: FittedEngine, group: int) -> list[_Pattern]:
    """Return the fit's cases of one group as missingness patterns.

    Complete data form one pattern whose moments are the (weighted) sample
    moments of the fit.
    """
    if engine.patterns is not None:
        return [_Pattern(pattern.observed, pattern.nobs, pattern.mean, pattern.cov,
                         pattern.data, None)
                for pattern in engine.patterns[group].patterns]
    sample = engine.stats.groups[group]
    p = len(sample.mean)
    rows = engine.frames[group][1] if engine.frames is not None else None
    weights = engine.weights[group] if engine.weights is not None else None
    return [_Pattern(np.arange(p), sample.nobs, sample.mean, sample.cov, rows,
                     weights)]


def _h1_information(patterns: list[_Pattern], mean: np.ndarray, cov: np.ndarray,
                    observed: bool) -> np.ndarray:
    """Compute the h1 information per case of (means, vech Sigma) at (mean, cov).

    Each pattern with n cases, observed set o, P = Sigma_oo^-1, mean
    residual d = ybar_o - mean_o and M = S_o + d d' adds, in vec(Sigma_oo)
    coordinates, n/2 (P kron P) to the covariance block and n P to the mean
    block (expected information). The observed information (the Hessian of
    minus the log-likelihood) adds n/2 [P kron (PMP) + (PMP) kron P - 2 P kron P]
    and the cross block n ((Pd)' kron P). A duplication matrix maps vec to
    vech. The sum is divided by the number of cases.
    """
    p = len(mean)
    _, _, position = _vech_positions(p)
    nvech = p * (p + 1) // 2
    size = p + nvech
    information = np.zeros((size, size))
    total = 0
    for pattern in patterns:
        o = pattern.observed
        n = pattern.nobs
        total += n
        precision = np.linalg.inv(cov[np.ix_(o, o)])
        # Column-major vec(Sigma_oo): entry (a, b) sits at a + b k.
        vech_index = p + position[np.ix_(o, o)].T.ravel()
        block = 0.5 * np.kron(precision, precision)
        cross = None
        if observed:
            residual = pattern.mean - mean[o]
            scatter = pattern.cov + np.outer(residual, residual)
            sandwich = precision @ scatter @ precision
            block = 0.5 * (np.kron(precision, sandwich)
                           + np.kron(sandwich, precision)) - block
            cross = np.kron((precision @ residual)[None, :], precision)
        covariance_block = np.zeros((nvech, nvech))
        np.add.at(covariance_block, np.ix_(vech_index - p, vech_index - p), block)
        information[p:, p:] += n * covariance_block
        information[np.ix_(o, o)] += n * precision
        if cross is not None:
            mean_cross = np.zeros((len(o), nvech))
            np.add.at(mean_cross, (slice(None), vech_index - p), cross)
            information[o, p:] += n * mean_cross
            information[p:, o] += n * mean_cross.T
    return information / total


def _h1_score_crossproduct(patterns: list[_Pattern], mean: np.ndarray,
                           cov: np.ndarray) -> np.ndarray:
    """Compute the crossproduct of the casewise h1 scores per case.

    This is lavaan's "first.order" h1 information.

    The score of a case with observed set o and r = P (y_o - mean_o) is r
    for the means and r_a r_b - P_ab (halved for a = b) for the covariances.
    With sampling weights each score is multiplied by the case's weight and
    the sum is divided by the sum of the weights.
    """
    p = len(mean)
    _, _, position = _vech_positions(p)
    size = p + p * (p + 1) // 2
    crossproduct = np.zeros((size, size))
    total = 0.0
    for pattern in patterns:
        o = pattern.observed
        precision = np.linalg.inv(cov[np.ix_(o, o)])
        k = len(o)
        a, b = np.tril_indices(k)
        halves = np.where(a == b, 0.5, 1.0)
        scaled = (pattern.rows - mean[o]) @ precision
        scores = np.hstack([scaled,
                            (scaled[:, a] * scaled[:, b] - precision[a, b]) * halves])
        if pattern.weights is not None:
            scores = scores * pattern.weights[:, None]
            total += float(pattern.weights.sum())
        else:
            total += len(pattern.rows)
        index = np.concatenate([o, p + position[o[a], o[b]]])
        crossproduct[np.ix_(index, index)] += scores.T @ scores
    return crossproduct / total


def _fixed_moments(engine: FittedEngine, p: int) -> np.ndarray:
    """Return the mask of the fixed-x covariates' moments, in h1 moment order."""
    frame = engine.model.table.frame
    variables = list(engine.stats.variables)
    fixed = [variables.index(name) for name in
             dict.fromkeys(frame.loc[frame["exo"] == 1, "lhs"]) if name in variables]
    rows, columns, _ = _vech_positions(p)
    is_fixed = np.isin(np.arange(p), fixed)
    return np.concatenate([is_fixed, is_fixed[rows] & is_fixed[columns]])


def _moment_se(engine: FittedEngine, group: int, information: str,
               sandwich: bool) -> tuple[np.ndarray, np.ndarray]:
    """Compute the standard errors of one group's h1 covariances and means.

    Builds lavaan's ``lav_model_h1_acov`` with unstructured h1 moments: the
    inverse of the h1 information of the fit's kind, as a sandwich around
    the score crossproduct for robust fits, divided by the group's N. The
    moments of fixed-x covariates get zero.
    """
    sample = engine.stats.groups[group]
    p = len(sample.mean)
    patterns = _group_patterns(engine, group)
    # At complete-data sample moments the observed information equals the
    # expected one; at the EM moments of a FIML fit it does not.
    info = _h1_information(patterns, sample.mean, sample.cov,
                           observed=information == "observed")
    if not engine.model.table.meanstructure:
        info[:p, :] = 0.0
        info[:, :p] = 0.0
    fixed = _fixed_moments(engine, p)
    keep = ~fixed & (np.abs(info).sum(axis=0) > 0)
    inverse = np.zeros_like(info)
    inverse[np.ix_(keep, keep)] = np.linalg.inv(info[np.ix_(keep, keep)])
    if sandwich:
        scores = _h1_score_crossproduct(patterns, sample.mean, sample.cov)
        acov = inverse @ scores @ inverse
    else:
        acov = inverse
    variance = np.diag(acov) / sample.nobs
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(variance >= 0, variance, np.nan))
    rows, columns, _ = _vech_positions(p)
    cov_se = np.zeros((p, p))
    cov_se[rows, columns] = se[p:]
    cov_se[columns, rows] = se[p:]
    return cov_se, se[:p]
