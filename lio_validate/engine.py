"""Rebuild the estimation engine behind a fitted model for post-estimation work.

Indirect effects, modification indices, residuals, relative importance and the
bootstrap all need the RAM model, the vector of free parameters and, for some
of them, the sample statistics. :class:`~lio_validate.results.SEMResult` keeps
the model text, the options and the estimates, so the engine is rebuilt here
from those with the package's own building blocks (parser, parameter table,
sample statistics, RAM model), and checked against the fit before use.

NOTE: this rebuild is a stopgap. Once ``SEMResult`` carries its RamModel,
SampleStatistics and parameter vector, :func:`fitted_engine` can read them
instead of rebuilding them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import DataError, LioInputError
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
        Sample moments, or None when no data were given and the fit alone
        does not determine them (several groups or a mean structure).
    frames : tuple of (str, numpy.ndarray) or None
        Complete cases of the observed variables per group, in the order of
        ``model.table.roles.ov``; None without data.
    row_index : tuple of pandas.Index or None
        Index labels, in the data given, of the rows in ``frames``.
    group_names : tuple of str
        Group labels in the order of the fit.
    """

    model: RamModel
    x: np.ndarray
    vcov: np.ndarray
    stats: SampleStatistics | None
    frames: tuple[tuple[str, np.ndarray], ...] | None
    row_index: tuple[pd.Index, ...] | None
    group_names: tuple[str, ...]

    def require_stats(self, task: str) -> SampleStatistics:
        """Return the sample statistics or raise, naming the caller's task."""
        if self.stats is None:
            raise LioInputError(
                f"{task} needs the sample means or the group sizes, which the fit "
                "does not store for a model with several groups or a mean "
                "structure; pass the data the model was fitted to as data=..."
            )
        return self.stats


def free_parameter_names(fit) -> list[str]:
    """Names of the free parameters in the order of ``fit.vcov``."""
    return [str(name) for name in fit.vcov.index]


def fitted_engine(fit, data=None) -> FittedEngine:
    """Rebuild the engine of ``fit``; with ``data``, also its sample statistics.

    Parameters
    ----------
    fit : SEMResult
        A model fitted by :func:`lio_validate.sem` or :func:`lio_validate.cfa`.
    data : pandas.DataFrame, optional
        The data the model was fitted to. Needed for the bootstrap, and for
        diagnostics of fits with several groups or a mean structure.

    Raises
    ------
    LioInputError
        If the fit used an estimator other than ML, or its parameter table
        cannot be rebuilt from its model text.
    DataError
        If ``data`` do not give the sample covariances stored in the fit.
    """
    options = fit.options
    # MLR and MLM estimates equal ML's on complete, unweighted data; only the
    # covariance of the estimates differs, and fit.vcov already holds the
    # robust one, as lavaan uses it for defined parameters.
    if fit.estimator not in ("ML", "MLR", "MLM"):
        raise LioInputError(
            f"this analysis needs a maximum-likelihood fit (estimator 'ML', 'MLR' or "
            f"'MLM'), not {fit.estimator!r}; refit with one of them, or define the "
            "effect with ':=' in the model to get its delta-method SE"
        )
    unsupported = [name for name in ("weights", "cluster") if options.get(name)]
    if options.get("missing") == "fiml":
        unsupported.append("missing='fiml'")
    if unsupported:
        raise LioInputError(
            f"this analysis does not yet handle fits with {', '.join(unsupported)}; "
            "refit without them, or define the effect with ':=' in the model (its "
            "delta-method SE then uses the fit's robust covariance)"
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

    frames = row_index = None
    if data is not None:
        prepared, _ = prepare_data(parsed, data, group=options.get("group"))
        variables = list(table.roles.ov)
        frames = tuple((name, frame.loc[:, variables].to_numpy(dtype=float))
                       for name, frame in prepared.frames)
        row_index = tuple(frame.index for _, frame in prepared.frames)
        stats = compute_sample_statistics(list(prepared.frames), table.roles.ov,
                                          wishart=wishart)
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
                        row_index, tuple(fit.group_names))


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
            f"the data give {stats.nobs} complete rows but the model was fitted "
            f"to {fit.nobs}; pass the data the model was fitted to"
        )
    stored = fit.sample_cov.to_numpy(dtype=float)
    computed = np.vstack([group.cov for group in stats.groups])
    scale = max(float(np.max(np.abs(stored))), 1e-300)
    if stored.shape != computed.shape or \
            float(np.max(np.abs(stored - computed))) > _SAME_DATA_TOLERANCE * scale:
        raise DataError(
            "the sample covariances of the data differ from those the model was "
            "fitted to; pass the same data (same rows, same coding)"
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
