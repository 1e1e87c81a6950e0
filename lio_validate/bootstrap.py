"""Nonparametric bootstrap of a fitted model and the Bollen-Stine test.

Each replicate resamples cases with replacement, within each group for a
multi-group model and by whole clusters when a cluster column is given (by
default the fit's own), and refits the model by the fit's own estimator,
starting from the full-sample estimate:

* complete data without weights: ML on the replicate's sample moments;
* sampling weights: every resampled row carries its weight, the weights are
  rescaled to sum to the replicate's number of rows (as :func:`lio_validate.sem`
  scales the fit's), and the model is refitted to the weighted moments;
* ``missing="fiml"``: incomplete rows are resampled like complete ones, and
  each replicate is refitted by FIML from its own EM moments.

Replicate r draws from its own random generator,
``SeedSequence(seed, spawn_key=(r,))`` (the r-th child of
``SeedSequence(seed).spawn``), so a seed gives the same replicates whether
they run serially, on local processes or on a Dask cluster.

The weighted bootstrap is the naive with-replacement bootstrap of a weighted
estimator: clusters (or rows, without a cluster column) are drawn as if the
first-stage units had been sampled with replacement, and the weights are
carried along unchanged up to a common factor. It does not rescale the
weights as Rao and Wu's (1988) bootstrap does, and it knows no strata,
finite-population correction or calibration; see :func:`bootstrap` for the
variance it estimates.

A replicate fails when its sample covariance matrix (or, under FIML, its EM
covariance matrix) is singular or the optimiser does not reach a stationary
point. Failures are counted with their reasons, a :class:`BootstrapWarning`
is issued, and the intervals use the replicates that succeeded.

Intervals are computed afterwards from the stored replicate estimates, for
any function of the free parameters: the parameters themselves, defined
parameters, indirect effects, standardized values or dominance weights.
Percentile and BCa intervals are offered. The BCa acceleration uses
empirical influence values from the casewise scores, l_i = grad g' H^-1 s_i
with H the Hessian of ``fmin`` (the infinitesimal jackknife), which costs no
refits. With weights s_i is the case's score times its weight, and with
clusters the influence of a cluster is the sum over its cases.

References
----------
Bollen, K. A., & Stine, R. A. (1992). Bootstrapping goodness-of-fit measures
in structural equation models. Sociological Methods & Research, 21(2),
205-229.
Efron, B. (1987). Better bootstrap confidence intervals. Journal of the
American Statistical Association, 82(397), 171-185.
Efron, B., & Tibshirani, R. J. (1993). An Introduction to the Bootstrap.
Chapman & Hall, chapters 13 and 14 (percentile and BCa intervals).
Rao, J. N. K., & Wu, C. F. J. (1988). Resampling inference with complex
survey data. Journal of the American Statistical Association, 83(401),
231-241, as the surveysd vignette "Rao-Wu Bootstrap in surveysd" (CRAN)
states their replicate weights, with m_h = n_h - 1 units drawn per stratum.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lio_validate import ml
from lio_validate.api import _fiml_setup
from lio_validate.data_prep import PreparedData
from lio_validate.effects import numerical_jacobian
from lio_validate.engine import FittedEngine, fitted_engine, free_parameter_names
from lio_validate.exceptions import (
    DataError,
    LioInputError,
    LioWarning,
    NonPositiveDefiniteWarning,
)
from lio_validate.fiml import fiml_casewise_scores
from lio_validate.inference import evaluate_definitions
from lio_validate.model import build_ram_model
from lio_validate.parallel import ExecutorInfo, resolve_n_jobs, run_chunks
from lio_validate.partable import ParameterTable
from lio_validate.samplestats import (
    GroupStatistics,
    SampleStatistics,
    compute_sample_statistics,
)

__all__ = [
    "BollenStineResult",
    "BootstrapResult",
    "BootstrapWarning",
    "ReplicateFailure",
    "bollen_stine",
    "bootstrap",
    "bootstrap_interval",
]

INTERVAL_METHODS = ("bca", "percentile")

# Chunks per worker: enough for a smooth progress bar and load balance,
# few enough that per-task overhead stays small.
_CHUNKS_PER_WORKER = 8


class BootstrapWarning(LioWarning):
    """Bootstrap replicates failed, or an interval could not be computed."""


@dataclass(frozen=True)
class ReplicateFailure:
    """A replicate that produced no estimate, and why."""

    replicate: int
    reason: str


# --------------------------------------------------------------------------
# Replicates: the work shipped to the executors
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs to run replicates, shipped once per worker.

    ``weights`` contains the sampling weights of the rows in ``groups`` (None
    for an unweighted fit). ``fiml`` marks a fit with ``missing="fiml"``,
    whose rows may contain NaN.
    """

    table: ParameterTable
    variables: tuple[str, ...]
    groups: tuple[tuple[str, np.ndarray], ...]
    clusters: tuple[tuple[np.ndarray, ...] | None, ...]
    wishart: bool
    start: np.ndarray
    entropy: int
    weights: tuple[np.ndarray, ...] | None = None
    fiml: bool = False


@dataclass(frozen=True)
class _ChunkResult:
    replicates: np.ndarray
    estimates: np.ndarray
    chisq: np.ndarray
    failures: tuple[ReplicateFailure, ...]


def replicate_generator(entropy: int, replicate: int) -> np.random.Generator:
    """Return the random generator of one replicate, independent of the others."""
    sequence = np.random.SeedSequence(entropy, spawn_key=(replicate,))
    return np.random.default_rng(sequence)


def _resample_rows(rng: np.random.Generator, nrows: int,
                   clusters: tuple[np.ndarray, ...] | None) -> np.ndarray:
    if clusters is None:
        return rng.integers(0, nrows, size=nrows)
    chosen = rng.integers(0, len(clusters), size=len(clusters))
    return np.concatenate([clusters[k] for k in chosen])


def _group_statistics(name: str, values: np.ndarray, wishart: bool) -> GroupStatistics:
    nobs = len(values)
    mean = values.mean(axis=0)
    centred = values - mean
    cov = centred.T @ centred / (nobs - 1 if wishart else nobs)
    cov = (cov + cov.T) / 2
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        raise np.linalg.LinAlgError(
            "the resampled covariance matrix is not positive definite"
        )
    return GroupStatistics(name, nobs, mean, cov, float(logdet))


def _chisq(model, stats: SampleStatistics, x: np.ndarray) -> float:
    """Return the likelihood-ratio statistic, the sum over groups of N_g F_ML,g
    (N_g - 1 under the Wishart likelihood)."""
    total = 0.0
    for group, sample in enumerate(stats.groups):
        moments = model.implied(x, group)
        inverse = np.linalg.inv(moments.sigma)
        _, logdet = np.linalg.slogdet(moments.sigma)
        value = logdet + np.sum(sample.cov * inverse) - sample.logdet_cov \
            - len(sample.mean)
        if model.table.meanstructure:
            residual = sample.mean - moments.mu
            value += residual @ inverse @ residual
        total += (sample.nobs - 1 if stats.wishart else sample.nobs) * value
    return float(total)


def _weighted_statistics(task: _Task, rows: list[np.ndarray]) -> SampleStatistics:
    """Weighted moments of a resample, computed as :func:`lio_validate.sem` does."""
    drawn = [weights[chosen] for weights, chosen in zip(task.weights, rows)]
    # prepare_data scales the fit's weights to sum to its number of rows over
    # all groups; the replicate's weights get the same scaling.
    nobs = sum(len(chosen) for chosen in rows)
    scale = nobs / sum(float(weights.sum()) for weights in drawn)
    frames = [(name, pd.DataFrame(values[chosen], columns=list(task.variables)))
              for (name, values), chosen in zip(task.groups, rows)]
    with warnings.catch_warnings():
        # A singular resample becomes a failed replicate below, not a warning.
        warnings.simplefilter("ignore", NonPositiveDefiniteWarning)
        stats = compute_sample_statistics(
            frames, task.variables, wishart=task.wishart,
            weights=tuple(weights * scale for weights in drawn))
    if not all(np.isfinite(group.logdet_cov) for group in stats.groups):
        raise np.linalg.LinAlgError(
            "the resampled weighted covariance matrix is not positive definite")
    return stats


def _fiml_objective(task: _Task, rows: list[np.ndarray]):
    """Set up the model, FIML objective and chi-square function of a resample.

    The setup is that of :func:`lio_validate.sem` for ``missing="fiml"``.
    """
    frames = []
    for (name, values), chosen in zip(task.groups, rows):
        resampled = values[chosen]
        # EM needs every variable observed; without this check a variable
        # missing from the whole resample would run EM to its iteration limit.
        observed = np.sum(~np.isnan(resampled), axis=0)
        if observed.min() < 2:
            column = task.variables[int(np.argmin(observed))]
            where = f" in group {name!r}" if name else ""
            raise ValueError(f"the resample has fewer than 2 observed values of "
                             f"{column!r}{where}")
        frames.append((name, pd.DataFrame(resampled, columns=list(task.variables))))
    prepared = PreparedData(tuple(frames), sum(len(chosen) for chosen in rows), 0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model, _, objective = _fiml_setup(task.table, prepared, [])
    if not np.isfinite(objective.h1_logl):
        raise np.linalg.LinAlgError(
            "the EM covariance matrix of the resample is not positive definite")
    return model, objective, lambda x: 2.0 * objective.nobs * objective.value(x)


def _replicate_objective(task: _Task, rows: list[np.ndarray]):
    """Return the model, discrepancy function and chi-square function of a resample.

    The stages are those :func:`lio_validate.sem` runs for the fit's options,
    with the parameter table of the fit.
    """
    if task.fiml:
        return _fiml_objective(task, rows)
    if task.weights is None:
        groups = tuple(_group_statistics(name, values[chosen], task.wishart)
                       for (name, values), chosen in zip(task.groups, rows))
        stats = SampleStatistics(task.variables, groups, task.wishart)
    else:
        stats = _weighted_statistics(task, rows)
    model = build_ram_model(task.table, stats)
    return model, ml.MLObjective(model, stats), lambda x: _chisq(model, stats, x)


def run_replicates(task: _Task, replicates: Sequence[int]) -> _ChunkResult:
    """Resample, refit and record every replicate in ``replicates``."""
    done, estimates, chisq, failures = [], [], [], []
    for replicate in replicates:
        rng = replicate_generator(task.entropy, replicate)
        try:
            rows = [_resample_rows(rng, len(values), clusters)
                    for (_, values), clusters in zip(task.groups, task.clusters)]
            model, objective, chisq_at = _replicate_objective(task, rows)
            optimum = ml.minimize(objective, model, task.start.copy())
            if not optimum.converged:
                failures.append(ReplicateFailure(
                    replicate, "the optimiser did not converge (largest |gradient| "
                    f"{optimum.max_abs_gradient:.2g})"))
                continue
            statistic = chisq_at(optimum.x)
        except (np.linalg.LinAlgError, ArithmeticError, ValueError) as error:
            failures.append(ReplicateFailure(replicate, f"{type(error).__name__}: "
                                                        f"{error}"))
            continue
        done.append(replicate)
        estimates.append(optimum.x)
        chisq.append(statistic)
    npar = len(task.start)
    return _ChunkResult(np.array(done, dtype=int),
                        np.array(estimates, dtype=float).reshape(-1, npar),
                        np.array(chisq, dtype=float), tuple(failures))


# --------------------------------------------------------------------------
# Preparing the task
# --------------------------------------------------------------------------


def _cluster_members(data: pd.DataFrame, cluster: str, engine: FittedEngine):
    if cluster not in data.columns:
        raise DataError(f"the cluster column {cluster!r} is not in the data")
    members = []
    for (name, _), index in zip(engine.frames, engine.row_index):
        labels = data.loc[index, cluster]
        if labels.isna().any():
            where = f" in group {name!r}" if name else ""
            raise DataError(
                f"{int(labels.isna().sum())} row(s){where} used by the model have no "
                f"value in the cluster column {cluster!r}; fill or drop them"
            )
        codes, _ = pd.factorize(labels, sort=True)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        members.append(tuple(np.split(order, bounds)))
    return tuple(members)


def _check_design(fit, cluster: str | None, *, test: bool = False) -> str | None:
    """Reject fits the replicates cannot refit; return the resampling cluster.

    ``test=True`` checks for the Bollen-Stine test, whose transformation of
    the data assumes complete, unweighted data. A fit with a cluster column
    resamples whole clusters of that column unless ``cluster`` names another
    one.
    """
    options = fit.options
    weights = options.get("weights")
    fiml = options.get("missing") == "fiml"
    if weights and fiml:
        # lio_validate.sem rejects this combination; a fit from elsewhere
        # would need a weighted FIML refit, which does not exist here.
        raise LioInputError(
            f"the bootstrap cannot refit a fit with sampling weights (column "
            f"{weights!r}) and missing='fiml' together; refit with one of them")
    if test and weights:
        raise LioInputError(
            f"the Bollen-Stine bootstrap cannot test a fit with sampling weights "
            f"(column {weights!r}): its transformation makes the unweighted moments "
            "of complete data equal the model's, so the replicates would test the "
            "unweighted model, not the weighted one. Use the fit's scaled test "
            "(fit_measures['chisq_scaled']), or bootstrap the parameters with "
            "bootstrap()"
        )
    if test and fiml:
        raise LioInputError(
            "the Bollen-Stine bootstrap cannot test a fit with missing='fiml': its "
            "transformation of the data to fit the model exactly needs complete "
            "rows, and no version for missingness patterns is implemented. Use the "
            "scaled test of an estimator='MLR' fit, or bootstrap the parameters "
            "with bootstrap()"
        )
    return cluster if cluster is not None else options.get("cluster")


def _prepare(fit, data, cluster: str | None, seed: int | None, transform):
    if data is None:
        raise LioInputError("the bootstrap resamples cases: pass the data as data=...")
    if cluster is not None and not data.index.is_unique:
        data = data.reset_index(drop=True)
    engine = fitted_engine(fit, data)
    entropy = _entropy(seed)
    frames = engine.frames if transform is None else transform(engine)
    clusters = _cluster_members(data, cluster, engine) if cluster is not None \
        else tuple(None for _ in frames)
    task = _Task(engine.model.table, tuple(engine.model.table.roles.ov), frames,
                 clusters, engine.stats.wishart, engine.x.copy(), entropy,
                 engine.weights, engine.fiml)
    return engine, task


def _entropy(seed: int | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LioInputError(
            f"seed must be a non-negative integer or None, not {seed!r}")
    return int(seed)


def _check_nboot(nboot: int) -> int:
    if isinstance(nboot, bool) or not isinstance(nboot, (int, np.integer)) \
            or nboot < 2:
        raise LioInputError(f"nboot must be an integer of at least 2, not {nboot!r}")
    return int(nboot)


def _chunks(nboot: int, workers: int, chunk_size: int | None) -> list[list[int]]:
    if chunk_size is None:
        chunk_size = max(1, math.ceil(nboot / (workers * _CHUNKS_PER_WORKER)))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) \
            or chunk_size < 1:
        raise LioInputError(
            f"chunk_size must be a positive integer, not {chunk_size!r}")
    return [list(range(start, min(start + chunk_size, nboot)))
            for start in range(0, nboot, chunk_size)]


def _collect(results: list[_ChunkResult], npar: int):
    replicates = np.concatenate([r.replicates for r in results])
    order = np.argsort(replicates, kind="stable")
    estimates = np.vstack([r.estimates for r in results]).reshape(-1, npar)[order]
    chisq = np.concatenate([r.chisq for r in results])[order]
    failures = tuple(sorted((f for r in results for f in r.failures),
                            key=lambda f: f.replicate))
    return replicates[order], estimates, chisq, failures


def _warn_failures(failures: tuple[ReplicateFailure, ...], nboot: int) -> None:
    if failures:
        reasons = pd.Series([f.reason.split(" (")[0] for f in failures]).value_counts()
        detail = "; ".join(f"{count} x {reason}" for reason, count in reasons.items())
        warnings.warn(
            f"{len(failures)} of {nboot} bootstrap replicates failed and are left "
            f"out of the intervals ({detail}); see .failures for each replicate",
            BootstrapWarning, stacklevel=3,
        )


# --------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------


def bootstrap_interval(
    replicates: np.ndarray, estimate: np.ndarray, influence: np.ndarray | None,
    *, method: str = "bca", level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute percentile or BCa limits for each column of ``replicates``.

    Parameters
    ----------
    replicates : numpy.ndarray, shape (B, k)
        Bootstrap values of k statistics.
    estimate : numpy.ndarray, shape (k,)
        Full-sample values.
    influence : numpy.ndarray, shape (n, k) or None
        Empirical influence values per resampled unit; required for BCa.
    method : {"bca", "percentile"}
    level : float

    Returns
    -------
    (lower, upper) : numpy.ndarray
        NaN where BCa's bias correction is infinite (every replicate on one
        side of the estimate).

    Notes
    -----
    Percentile: the alpha/2 and 1 - alpha/2 quantiles. BCa (Efron, 1987):
    z0 = Phi^-1(#{t* < t} / B), a = sum l^3 / (6 (sum l^2)^(3/2)), and the
    quantiles Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q))) for q = alpha/2 and
    1 - alpha/2 (Efron & Tibshirani, 1993, chapter 14).
    """
    alpha = 1 - level
    lower_q = np.full(replicates.shape[1], alpha / 2)
    upper_q = np.full(replicates.shape[1], 1 - alpha / 2)
    if method == "bca":
        below = np.mean(replicates < estimate, axis=0)
        with np.errstate(divide="ignore"):
            z0 = scipy_stats.norm.ppf(below)
        squares = np.sum(influence**2, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            acceleration = np.where(squares > 0, np.sum(influence**3, axis=0)
                                    / (6 * squares**1.5), 0.0)
        lower_q = _bca_quantile(z0, acceleration, scipy_stats.norm.ppf(alpha / 2))
        upper_q = _bca_quantile(z0, acceleration, scipy_stats.norm.ppf(1 - alpha / 2))
    lower = np.full(replicates.shape[1], np.nan)
    upper = np.full(replicates.shape[1], np.nan)
    for k in range(replicates.shape[1]):
        if np.isfinite(lower_q[k]) and np.isfinite(upper_q[k]):
            lower[k], upper[k] = np.quantile(replicates[:, k], [lower_q[k], upper_q[k]])
    return lower, upper


def _bca_quantile(z0: np.ndarray, acceleration: np.ndarray, z: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        shifted = z0 + z
        return scipy_stats.norm.cdf(z0 + shifted / (1 - acceleration * shifted))


def case_scores(engine: FittedEngine) -> list[np.ndarray]:
    """Return casewise gradients of the log-likelihood, one (n_g, npar) array per group.

    For case i with residual r_i = y_i - mu and P = Sigma^-1, the derivative
    along a row with dSigma = U V' + V U' and dmu is
    -U'PV + (U'P r_i)(V'P r_i) + dmu'P r_i. Without a mean structure mu is the
    sample mean, as in the fit (the weighted mean for a fit with sampling
    weights). The scores are those of complete data and are not multiplied
    by the weights.
    """
    model = engine.model
    scores = []
    for group, (_, values) in enumerate(engine.frames):
        moments = model.implied(engine.x, group)
        inverse = np.linalg.inv(moments.sigma)
        if model.table.meanstructure:
            mu = moments.mu
        elif engine.weights is not None:
            weights = engine.weights[group]
            mu = weights @ values / weights.sum()
        else:
            mu = values.mean(axis=0)
        weighted = (values - mu) @ inverse
        U, V, dmu = model.sigma_factors(moments, group)
        rows = -np.einsum("kp,pq,kq->k", U, inverse, V) \
            + (weighted @ U.T) * (weighted @ V.T)
        if model.table.meanstructure:
            rows = rows + weighted @ dmu.T
        scores.append(rows @ model.jacobian_free(group))
    return scores


def _fiml_case_scores(engine: FittedEngine) -> list[np.ndarray]:
    """Return the FIML casewise scores per group, in the row order of ``engine.frames``.

    :func:`lio_validate.fiml.fiml_casewise_scores` returns them sorted as
    :func:`lio_validate.fiml.find_patterns` sorts the cases: by the number of
    observed values, then by pattern (the order of ``numpy.unique`` over the
    rows of the observed-value mask), keeping the row order within a pattern.
    """
    scores = []
    for group, (_, values) in enumerate(engine.frames):
        sorted_scores = fiml_casewise_scores(engine.model, engine.x, group,
                                             engine.patterns[group])
        scores.append(sorted_scores[np.argsort(_pattern_order(values))])
    return scores


def _pattern_order(values: np.ndarray) -> np.ndarray:
    """Row order of :func:`lio_validate.fiml.find_patterns` for rows with a value."""
    observed = ~np.isnan(values)
    _, pattern = np.unique(observed, axis=0, return_inverse=True)
    # lexsort is stable and sorts by its last key first.
    return np.lexsort((pattern.reshape(-1), observed.sum(axis=1)))


def _within_group_weights(weights: np.ndarray) -> np.ndarray:
    """Scale one group's sampling weights to sum to its number of rows."""
    return weights * len(weights) / weights.sum()


def unit_influence(engine: FittedEngine) -> list[np.ndarray]:
    """Return the empirical influence of every row on the free parameters, per group.

    Row i of group g gets N d theta / d f_i, the derivative of the estimate
    with respect to the row's frequency f_i (the infinitesimal jackknife).
    It equals H^-1 s_i, with H the Hessian of ``fmin`` and s_i the row's
    contribution to the estimating equations. That contribution is the
    casewise score for complete data and under FIML. With sampling weights
    it is the score times the row's weight scaled to sum to n_g within the
    group, because the weighted moments of group g divide by the group's
    weight total while ``fmin`` weights the group by n_g / N.
    """
    if engine.fiml:
        hessian = engine.objective().observed_information(engine.x)
        scores = _fiml_case_scores(engine)
    else:
        hessian = ml.observed_information(engine.model, engine.stats, engine.x)
        scores = case_scores(engine)
        if engine.weights is not None:
            scores = [block * _within_group_weights(weights)[:, None]
                      for block, weights in zip(scores, engine.weights)]
    return [np.linalg.solve(hessian, block.T).T for block in scores]


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate estimates of a case-resampling bootstrap.

    Attributes
    ----------
    estimates : numpy.ndarray, shape (B_ok, npar)
        Free parameters of each successful replicate, by replicate number.
    replicates : numpy.ndarray, shape (B_ok,)
        Numbers of the successful replicates.
    chisq : numpy.ndarray, shape (B_ok,)
        Test statistic of each successful replicate.
    failures : tuple of ReplicateFailure
        Replicates without an estimate and the reason for each.
    nboot, seed : int
        Replicates requested and the seed (entropy) they derive from.
    cluster : str or None
        The resampling unit's column, if cases were resampled by cluster.
    executor : ExecutorInfo
        Where the replicates ran and how long they took.
    parameter_names : tuple of str
        Names of the free parameters, in the order of ``estimates``.
    """

    estimates: np.ndarray
    replicates: np.ndarray
    chisq: np.ndarray
    failures: tuple[ReplicateFailure, ...]
    nboot: int
    seed: int
    cluster: str | None
    executor: ExecutorInfo
    parameter_names: tuple[str, ...]
    engine: FittedEngine = field(repr=False, compare=False)
    cluster_members: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def nfailed(self) -> int:
        return len(self.failures)

    @cached_property
    def _influence_of_parameters(self) -> np.ndarray:
        """Influence of each resampled unit on the free parameters, (n, npar)."""
        blocks = []
        for group, influence in enumerate(unit_influence(self.engine)):
            if self.cluster_members is not None:
                influence = np.vstack([influence[rows].sum(axis=0)
                                       for rows in self.cluster_members[group]])
            blocks.append(influence)
        return np.vstack(blocks)

    def intervals(
        self, function: Callable[[np.ndarray], np.ndarray] | None = None,
        names: Sequence[str] | None = None, *, method: str = "bca",
        level: float = 0.95,
    ) -> pd.DataFrame:
        """Compute bootstrap SEs and intervals of any function of the free parameters.

        Parameters
        ----------
        function : callable, optional
            Maps the free-parameter vector to a vector of statistics; by
            default the free parameters themselves.
        names : sequence of str, optional
            Row labels of the statistics.
        method : {"bca", "percentile"}, default "bca"
        level : float, default 0.95

        Returns
        -------
        pandas.DataFrame
            ``name, est, se, ci_lower, ci_upper`` with the bootstrap SE (the
            standard deviation of the replicates, divisor B - 1).
        """
        if method not in INTERVAL_METHODS:
            raise LioInputError(f"unknown method {method!r}; choose one of "
                                f"{', '.join(INTERVAL_METHODS)}")
        if not 0 < level < 1:
            raise LioInputError(f"level must lie between 0 and 1, not {level!r}")
        if function is None:
            function = _identity
            names = list(self.parameter_names)
        x = self.engine.x
        estimate = np.atleast_1d(np.asarray(function(x), dtype=float))
        values = np.array([np.atleast_1d(function(row)) for row in self.estimates],
                          dtype=float).reshape(len(self.estimates), len(estimate))
        if names is None:
            names = [str(k) for k in range(len(estimate))]
        if len(values) < 2:
            nan = np.full(len(estimate), np.nan)
            warnings.warn("fewer than 2 bootstrap replicates succeeded; no interval "
                          "can be computed", BootstrapWarning, stacklevel=2)
            return pd.DataFrame({"name": list(names), "est": estimate, "se": nan,
                                 "ci_lower": nan, "ci_upper": nan})
        influence = None
        if method == "bca":
            gradient = numerical_jacobian(function, x)
            influence = self._influence_of_parameters @ gradient.T
        lower, upper = bootstrap_interval(values, estimate, influence, method=method,
                                          level=level)
        undefined = [str(n) for n, lo in zip(names, lower) if not np.isfinite(lo)]
        if undefined:
            warnings.warn(
                f"no BCa interval for {', '.join(undefined)}: every replicate lies "
                "on one side of the estimate; use method='percentile'",
                BootstrapWarning, stacklevel=2)
        return pd.DataFrame({
            "name": list(names), "est": estimate, "se": values.std(axis=0, ddof=1),
            "ci_lower": lower, "ci_upper": upper,
        })

    def parameter_table(self, *, method: str = "bca",
                        level: float = 0.95) -> pd.DataFrame:
        """Compute bootstrap SEs and intervals of every free and defined parameter.

        Returns
        -------
        pandas.DataFrame
            ``lhs, op, rhs, group, label, est, se, ci_lower, ci_upper``, one
            row per free parameter (its first row in the parameter table) and
            per defined parameter (``:=``).
        """
        model = self.engine.model
        frame = model.table.frame
        free = frame["free"].to_numpy()
        first = [int(np.flatnonzero(free == k + 1)[0]) for k in range(model.npar)]
        definitions = model.table.definitions

        def statistic(x: np.ndarray) -> np.ndarray:
            if not definitions:
                return x
            return np.concatenate([x, evaluate_definitions(model, model.row_values(x))])

        table = self.intervals(statistic, None, method=method, level=level)
        group_names = self.engine.group_names
        keys = pd.DataFrame({
            "lhs": [frame["lhs"].iat[r] for r in first] + [d.name for d in definitions],
            "op": [frame["op"].iat[r] for r in first] + [":="] * len(definitions),
            "rhs": [frame["rhs"].iat[r] for r in first]
            + ["".join(d.expression.source.split()) for d in definitions],
            "group": [group_names[frame["group"].iat[r]] if len(group_names) > 1 else ""
                      for r in first] + [""] * len(definitions),
            "label": [frame["label"].iat[r] for r in first]
            + [d.name for d in definitions],
        })
        return pd.concat([keys, table.drop(columns="name")], axis=1)

    def summary(self) -> str:
        """Return the settings, the failures and the free parameters' intervals."""
        unit = f"clusters of {self.cluster!r}" if self.cluster else "cases"
        within = " within groups" if len(self.engine.group_names) > 1 else ""
        lines = [
            f"Bootstrap: {self.nboot} replicates (seed {self.seed}), "
            f"{len(self.estimates)} succeeded, {self.nfailed} failed",
            f"  resampling: {unit}{within}",
        ]
        if self.engine.weights is not None:
            lines.append("  refit: weighted ML, each row with its sampling weight "
                         "(rescaled to sum to the replicate's N)")
        elif self.engine.fiml:
            lines.append("  refit: FIML, incomplete rows resampled with the others")
        lines += [f"  ran on: {self.executor.describe()}", ""]
        table = self.parameter_table(method="percentile")
        lines.append(f"  {'parameter':<36s}{'est':>9s}{'boot se':>9s}"
                     f"{'2.5%':>9s}{'97.5%':>9s}")
        for row in table.itertuples(index=False):
            name = f"{row.lhs} {row.op} {row.rhs}"
            if row.group:
                name += f" [{row.group}]"
            lines.append(f"  {name:<36.36s}{row.est:>9.3f}{row.se:>9.3f}"
                         f"{row.ci_lower:>9.3f}{row.ci_upper:>9.3f}")
        if self.failures:
            lines += ["", "Failed replicates:"]
            lines += [f"  {f.replicate}: {f.reason}" for f in self.failures[:10]]
            if len(self.failures) > 10:
                lines.append(f"  ... and {len(self.failures) - 10} more")
        return "\n".join(lines)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def bootstrap(
    fit, data: pd.DataFrame, *, nboot: int = 1000, seed: int | None = None,
    cluster: str | None = None, n_jobs: int = 1, scheduler=None,
    progress: bool | None = None, chunk_size: int | None = None,
) -> BootstrapResult:
    """Resample cases, refit the model and keep every replicate's estimates.

    Parameters
    ----------
    fit : SEMResult
        A model fitted with estimator ML, MLR or MLM, optionally with sampling
        weights, a cluster column or ``missing="fiml"``.
    data : pandas.DataFrame
        The data the model was fitted to, with its weight and cluster columns.
    nboot : int, default 1000
        Number of replicates.
    seed : int, optional
        Seed of the replicates; None draws one from the operating system and
        stores it in the result.
    cluster : str, optional
        Column of cluster ids (for example organisations): whole clusters are
        resampled, within groups for a multi-group model. Defaults to the
        fit's own cluster column, if it has one.
    n_jobs : int, default 1
        Local worker processes (joblib); -1 uses every core.
    scheduler : str or dask.distributed.Client, optional
        Run on a Dask cluster instead, given its address or a client.
    progress : bool, optional
        Show a progress bar; by default only when stderr is a terminal.
    chunk_size : int, optional
        Replicates per task; by default about eight tasks per worker. The
        results do not depend on it.

    Returns
    -------
    BootstrapResult
        Call ``.parameter_table()`` or ``.intervals(function)`` for intervals.

    Raises
    ------
    LioInputError
        For invalid options, a fit by another estimator, or a fit with both
        sampling weights and ``missing="fiml"``.

    Warns
    -----
    BootstrapWarning
        If replicates failed; they are counted in ``.failures``.

    Notes
    -----
    Every replicate is refitted by the fit's estimator: ML to the sample
    moments, ML to the weighted moments for a fit with sampling weights, or
    FIML for ``missing="fiml"``, whose resamples include the incomplete
    rows. A resampled row keeps its sampling weight, and the replicate's
    weights are rescaled to sum to its number of rows, as for the fit.

    NOTE: with sampling weights this is the naive bootstrap of a weighted
    estimator. It estimates the variance of the estimate under
    with-replacement sampling of the resampled units (clusters, or rows
    without a cluster column) within each group. The fit's sandwich SEs,
    cluster-robust with a cluster column, estimate the same variance. It is
    not a full design-based variance: strata, finite-population corrections
    and the calibration of the weights are ignored, and the weights are not
    rescaled as in Rao and Wu's (1988) bootstrap, which draws n_h - 1 of the
    n_h units of stratum h. For a linear statistic the naive bootstrap
    variance is (n - 1) / n times the usual with-replacement variance
    estimate for n resampled units, so it is slightly too small when the
    clusters are few; the cluster-robust sandwich includes the factor
    G / (G - 1) for G clusters instead.

    References
    ----------
    Rao, J. N. K., & Wu, C. F. J. (1988), as stated in the surveysd vignette
    "Rao-Wu Bootstrap in surveysd"; see the module documentation.
    """
    nboot = _check_nboot(nboot)
    cluster = _check_design(fit, cluster)
    engine, task = _prepare(fit, data, cluster, seed, None)
    results, executor = run_chunks(
        run_replicates, task, _chunks(nboot, _workers(n_jobs, scheduler), chunk_size),
        n_jobs=n_jobs, scheduler=scheduler, progress=progress, description="bootstrap",
    )
    replicates, estimates, chisq, failures = _collect(results, engine.model.npar)
    _warn_failures(failures, nboot)
    return BootstrapResult(
        estimates, replicates, chisq, failures, nboot, task.entropy, cluster, executor,
        tuple(free_parameter_names(fit)), engine,
        task.clusters if cluster is not None else None,
    )


def _workers(n_jobs: int, scheduler) -> int:
    # Only sizes the chunks: a Dask cluster's size is unknown before
    # connecting, so four workers are assumed.
    if scheduler is not None:
        return 4
    return resolve_n_jobs(n_jobs)


# --------------------------------------------------------------------------
# Bollen-Stine
# --------------------------------------------------------------------------


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues**power) @ eigenvectors.T


def _bollen_stine_frames(engine: FittedEngine):
    """Transform each group's data so that its sample moments equal the model's.

    Z = (Y - ybar) S^-1/2 Sigma^1/2 (+ mu under a mean structure), with
    symmetric square roots (Bollen & Stine, 1992), as lavaan's
    ``bootstrapLavaan`` does.
    """
    frames = []
    for group, (name, values) in enumerate(engine.frames):
        sample = engine.stats.groups[group]
        moments = engine.model.implied(engine.x, group)
        centred = values - values.mean(axis=0)
        transformed = centred @ _symmetric_power(sample.cov, -0.5) \
            @ _symmetric_power(moments.sigma, 0.5)
        if engine.model.table.meanstructure:
            transformed = transformed + moments.mu
        frames.append((name, transformed))
    return tuple(frames)


@dataclass(frozen=True)
class BollenStineResult:
    """The Bollen-Stine bootstrap p-value of the model's chi-square test.

    ``pvalue`` is the share of successful replicates whose statistic exceeds
    the sample's, lavaan's definition (``bootstrapLavaan``,
    ``test = "bollen.stine"``).
    """

    chisq: float
    df: float
    pvalue: float
    chisq_replicates: np.ndarray
    replicates: np.ndarray
    failures: tuple[ReplicateFailure, ...]
    nboot: int
    seed: int
    executor: ExecutorInfo

    def summary(self) -> str:
        """Return the statistic, its bootstrap p-value and the replicate counts."""
        return "\n".join([
            "Bollen-Stine bootstrap test of exact fit",
            f"  chisq {self.chisq:.3f} on {self.df:g} df",
            f"  bootstrap p-value {self.pvalue:.4f} "
            f"({int(np.sum(self.chisq_replicates > self.chisq))} of "
            f"{len(self.chisq_replicates)} replicates larger)",
            f"  replicates: {self.nboot} requested (seed {self.seed}), "
            f"{len(self.failures)} failed",
            f"  ran on: {self.executor.describe()}",
        ])


def bollen_stine(
    fit, data: pd.DataFrame, *, nboot: int = 1000, seed: int | None = None,
    cluster: str | None = None, n_jobs: int = 1, scheduler=None,
    progress: bool | None = None, chunk_size: int | None = None,
) -> BollenStineResult:
    """Bootstrap the chi-square test from data transformed to fit the model exactly.

    Parameters are those of :func:`bootstrap`.

    Returns
    -------
    BollenStineResult

    References
    ----------
    Bollen, K. A., & Stine, R. A. (1992). Bootstrapping goodness-of-fit
    measures in structural equation models. Sociological Methods & Research,
    21(2), 205-229.
    """
    nboot = _check_nboot(nboot)
    cluster = _check_design(fit, cluster, test=True)
    engine, task = _prepare(fit, data, cluster, seed, _bollen_stine_frames)
    results, executor = run_chunks(
        run_replicates, task, _chunks(nboot, _workers(n_jobs, scheduler), chunk_size),
        n_jobs=n_jobs, scheduler=scheduler, progress=progress,
        description="Bollen-Stine",
    )
    replicates, _, chisq, failures = _collect(results, engine.model.npar)
    _warn_failures(failures, nboot)
    statistic = float(fit.fit_measures["chisq"])
    pvalue = float(np.mean(chisq > statistic)) if len(chisq) else np.nan
    return BollenStineResult(statistic, float(fit.fit_measures["df"]), pvalue, chisq,
                             replicates, failures, nboot, task.entropy, executor)
