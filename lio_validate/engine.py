"""Rebuild the estimation engine behind a fitted model for post-estimation work.

Indirect effects, modification indices, residuals, relative importance and the
bootstrap all need the RAM model, the vector of free parameters and, for some
of them, the sample statistics. :class:`~lio_validate.results.SEMResult` keeps
the model text, the options and the estimates, so the engine is rebuilt here
from those with the package's own building blocks (parser, parameter table,
sample statistics, RAM model), and checked against the fit before use.

The sample statistics are those the fit was estimated from: weighted moments
(divisor sum of the weights) for a fit with sampling weights, and the EM
estimates of the saturated moments (lavaan's "h1") for a FIML fit, whose
missingness patterns are kept for its discrepancy function. A cluster column
changes only the standard errors and tests of a fit, not its estimates, so
the engine of a clustered fit is that of an ML fit with a mean structure
plus the cluster ids.

NOTE: this rebuild is a stopgap. Once ``SEMResult`` carries its RamModel,
SampleStatistics and parameter vector, :func:`fitted_engine` can read them
instead of rebuilding them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lio_validate import ml
from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import DataError, LioInputError
from lio_validate.fiml import (
    FimlObjective,
    GroupPatterns,
    em_saturated,
    find_patterns,
    pattern_logl,
)
from lio_validate.model import RamModel, build_ram_model
from lio_validate.partable import build_parameter_table
from lio_validate.samplestats import (
    GroupStatistics,
    SampleStatistics,
    compute_sample_statistics,
)
from lio_validate.syntax import parse_model

__all__ = ["FittedEngine", "fitted_engine", "free_parameter_names"]

# Largest relative difference between the sample covariances of the data given
# to a post-estimation function and those stored in the fit. Recomputing the
# same moments from the same rows agrees to rounding error.
_SAME_DATA_TOLERANCE = 1e-8


@dataclass(frozen=True)
class FittedEngine:
    """The RAM model, estimates and (optionally) data behind a fitted model.

    Attributes
    ----------
    model : RamModel
        The model, with fixed values (including fixed-x covariate moments)
        equal to those of the fit.
    x : numpy.ndarray, shape (npar,)
        Free parameters at the estimate.
    vcov : numpy.ndarray, shape (npar, npar)
        Covariance matrix of the free parameters.
    stats : SampleStatistics or None
        Sample moments (weighted moments with sampling weights, EM moments
        under FIML), or None when no data were given and the fit alone does
        not determine them (several groups or a mean structure).
    frames : tuple of (str, numpy.ndarray) or None
        The rows the fit used, per group, in the order of
        ``model.table.roles.ov``: complete cases, or under FIML every row
        with at least one observed value (NaN where missing); None without
        data.
    row_index : tuple of pandas.Index or None
        Index labels, in the data given, of the rows in ``frames``.
    group_names : tuple of str
        Group labels in the order of the fit.
    weights : tuple of numpy.ndarray or None
        Sampling weights of the rows in ``frames``, normalized as in the fit
        (they sum to the total N over all groups); None without weights.
    clusters : tuple of numpy.ndarray or None
        Integer cluster codes of the rows in ``frames``; None without a
        cluster column.
    patterns : tuple of GroupPatterns or None
        Missingness patterns of each group of a FIML fit, else None.
    """

    model: RamModel
    x: np.ndarray
    vcov: np.ndarray
    stats: SampleStatistics | None
    frames: tuple[tuple[str, np.ndarray], ...] | None
    row_index: tuple[pd.Index, ...] | None
    group_names: tuple[str, ...]
    weights: tuple[np.ndarray, ...] | None = None
    clusters: tuple[np.ndarray, ...] | None = None
    patterns: tuple[GroupPatterns, ...] | None = None

    @property
    def fiml(self) -> bool:
        """Whether the fit used full-information ML (``missing="fiml"``)."""
        return self.patterns is not None

    def require_stats(self, task: str) -> SampleStatistics:
        """Return the sample statistics or raise, naming the caller's task."""
        if self.stats is None:
            raise LioInputError(
                f"{task} needs the sample means or the group sizes, which the fit "
                "does not store for a model with several groups, a mean structure, "
                "a cluster column or missing='fiml'; pass the data the model was "
                "fitted to as data=..."
            )
        return self.stats

    def objective(self, model: RamModel | None = None
                  ) -> ml.MLObjective | FimlObjective:
        """Return the fit's discrepancy function, for ``model`` or the fit's own.

        ``model`` may be any RamModel over the same observed variables and
        groups, such as the model extended by the candidates of
        :func:`~lio_validate.modindices.modindices`. The object has
        ``value``, ``gradient`` and ``information`` (the expected unit
        information) of lavaan's ``fmin``: the FIML objective over the
        missingness patterns for a FIML fit, else the ML discrepancy of the
        (weighted) sample moments.
        """
        model = self.model if model is None else model
        stats = self.require_stats("this analysis")
        if self.patterns is None:
            return ml.MLObjective(model, stats)
        h1_logl = sum(pattern_logl(group, moments.mean, moments.cov)
                      for group, moments in zip(self.patterns, stats.groups))
        return FimlObjective(model, self.patterns, h1_logl)


def free_parameter_names(fit) -> list[str]:
    """Names of the free parameters in the order of ``fit.vcov``."""
    return [str(name) for name in fit.vcov.index]


def fitted_engine(fit, data=None) -> FittedEngine:
    """Rebuild the engine of ``fit``; with ``data``, also its sample statistics.

    Parameters
    ----------
    fit : SEMResult
        A model fitted by :func:`lio_validate.sem` or :func:`lio_validate.cfa`
        with estimator ML, MLR or MLM, optionally with sampling weights, a
        cluster column or ``missing="fiml"``.
    data : pandas.DataFrame, optional
        The data the model was fitted to, with the fit's weight and cluster
        columns. Needed for the bootstrap, and for diagnostics of fits with
        several groups, a mean structure, a cluster column or FIML.

    Raises
    ------
    LioInputError
        If the fit used an estimator other than ML, MLR or MLM, or its
        parameter table cannot be rebuilt from its model text.
    DataError
        If ``data`` do not give the sample covariances stored in the fit.
    """
    options = fit.options
    # MLR and MLM estimates equal ML's. Only the covariance of the estimates
    # differs, and fit.vcov already contains the robust one, which lavaan
    # also uses for defined parameters.
    if fit.estimator not in ("ML", "MLR", "MLM"):
        raise LioInputError(
            f"this analysis needs a maximum-likelihood fit (estimator 'ML', 'MLR' or "
            f"'MLM'), not {fit.estimator!r}; refit with one of them, or define the "
            "effect with ':=' in the model to get its delta-method SE"
        )
    parsed = parse_model(fit.model_text)
    table = build_parameter_table(
        parsed, ngroups=fit.ngroups, std_lv=bool(options["std_lv"]),
        meanstructure=bool(options["meanstructure"]),
        fixed_x=bool(options["fixed_x"]),
        group_equal=options.get("group_equal") or (),
        group_partial=options.get("group_partial") or (),
    )
    _check_same_table(table.frame, fit.parameter_table)
    wishart = options.get("likelihood") == "wishart"

    frames = row_index = weights = clusters = patterns = None
    if data is not None:
        frames, row_index, weights, clusters, patterns, stats = _data_moments(
            parsed, table, data, options, wishart)
        _check_same_data(stats, fit)
    elif fit.ngroups == 1 and not table.meanstructure:
        stats = _stats_from_fit(fit, table.roles.ov, wishart)
    else:
        stats = None

    model = build_ram_model(table, stats if stats is not None
                            else _placeholder_stats(fit, table.roles.ov, wishart))

    # Fixed rows take their values from the fit, so fixed-x covariate moments
    # are exactly those the fit used even when no data were given.
    nrows = len(table.frame)
    estimates = fit.estimates["est"].to_numpy(dtype=float)[:nrows]
    values = model.values.copy()
    fixed = model.free_index < 0
    values[fixed] = estimates[fixed]
    model = replace(model, values=values)

    x = np.zeros(model.npar)
    free = model.free_index >= 0
    x[model.free_index[free]] = estimates[free]
    return FittedEngine(model, x, fit.vcov.to_numpy(dtype=float), stats, frames,
                        row_index, tuple(fit.group_names), weights, clusters,
                        patterns)


def _data_moments(parsed, table, data, options, wishart: bool):
    """Rows, design columns and sample moments of the data, as the fit used them."""
    fiml = options.get("missing") == "fiml"
    prepared, _ = prepare_data(parsed, data, group=options.get("group"),
                               listwise=not fiml, weights=options.get("weights"),
                               cluster=options.get("cluster"))
    variables = list(table.roles.ov)
    values = [frame.loc[:, variables].to_numpy(dtype=float)
              for _, frame in prepared.frames]
    indexes = [frame.index for _, frame in prepared.frames]
    weights, clusters = prepared.weights, prepared.clusters
    patterns = None
    if fiml:
        # The fit leaves out rows with every model variable missing.
        keep = [~np.isnan(block).all(axis=1) for block in values]
        values = [block[rows] for block, rows in zip(values, keep)]
        indexes = [index[rows] for index, rows in zip(indexes, keep)]
        if clusters is not None:
            clusters = tuple(codes[rows] for codes, rows in zip(clusters, keep))
        if weights is not None:
            weights = tuple(w[rows] for w, rows in zip(weights, keep))
        patterns = tuple(find_patterns(block) for block in values)
        groups = []
        for (name, _), group_patterns in zip(prepared.frames, patterns):
            mean, cov, _ = em_saturated(group_patterns)
            _, logdet = np.linalg.slogdet(cov)
            groups.append(GroupStatistics(name, group_patterns.nobs, mean, cov,
                                          float(logdet)))
        stats = SampleStatistics(tuple(variables), tuple(groups), wishart)
    else:
        stats = compute_sample_statistics(list(prepared.frames), table.roles.ov,
                                          wishart=wishart, weights=weights)
    frames = tuple((name, block) for (name, _), block in zip(prepared.frames, values))
    return frames, tuple(indexes), weights, clusters, patterns, stats


def _check_same_table(rebuilt: pd.DataFrame, stored: pd.DataFrame) -> None:
    columns = ["lhs", "op", "rhs", "group", "free"]
    if len(rebuilt) != len(stored) or not rebuilt[columns].reset_index(drop=True) \
            .equals(stored[columns].reset_index(drop=True)):
        raise LioInputError(
            "the parameter table rebuilt from the fit's model text differs from "
            "the fit's own; refit the model with this version of lio_validate"
        )


def _check_same_data(stats: SampleStatistics, fit) -> None:
    names = tuple(group.name for group in stats.groups)
    if fit.ngroups > 1 and names != tuple(fit.group_names):
        raise DataError(
            f"the data give the groups {list(names)} but the model was fitted to "
            f"{list(fit.group_names)}; pass the data the model was fitted to"
        )
    if stats.nobs != fit.nobs:
        raise DataError(
            f"the data give {stats.nobs} usable rows (complete cases, or under "
            f"FIML rows with an observed value) but the model was fitted to "
            f"{fit.nobs}; pass the data the model was fitted to"
        )
    stored = fit.sample_cov.to_numpy(dtype=float)
    computed = np.vstack([group.cov for group in stats.groups])
    scale = max(float(np.max(np.abs(stored))), 1e-300)
    if stored.shape != computed.shape or \
            float(np.max(np.abs(stored - computed))) > _SAME_DATA_TOLERANCE * scale:
        raise DataError(
            "the sample covariances of the data differ from those the model was "
            "fitted to; pass the same data (same rows, same coding, same weight "
            "column)"
        )


def _stats_from_fit(fit, variables, wishart: bool) -> SampleStatistics:
    cov = fit.sample_cov.loc[list(variables), list(variables)].to_numpy(dtype=float)
    _, logdet = np.linalg.slogdet(cov)
    # Without a mean structure the means never enter the ML discrepancy.
    group = GroupStatistics("", int(fit.nobs), np.zeros(len(variables)), cov,
                            float(logdet))
    return SampleStatistics(tuple(variables), (group,), wishart)


def _placeholder_stats(fit, variables, wishart: bool) -> SampleStatistics:
    # build_ram_model reads sample moments only to fill fixed-x rows, which
    # fitted_engine overwrites with the fit's values right after.
    p = len(variables)
    groups = tuple(GroupStatistics(name, 0, np.zeros(p), np.eye(p), 0.0)
                   for name in fit.group_names)
    return SampleStatistics(tuple(variables), groups, wishart)
