"""Least-squares estimation for ordinal items: WLSMV, DWLS, ULS and ULSMV.

:func:`fit_dwls` fits a model written in lavaan syntax to ordinal items as
lavaan 0.6.14 does with ``ordered = ...`` and ``parameterization =
"delta"``. The thresholds and polychoric correlations of each group are
computed first (:mod:`lio_validate.polychoric`). The model is then fitted to
them by diagonally weighted (DWLS) or unweighted (ULS) least squares
(:mod:`lio_validate.wls_model`). The robust standard errors, the
scaled-and-shifted test and the fit measures follow
(:mod:`lio_validate.wls_tests`).

| estimator | weights W       | standard errors | test                  |
|-----------|-----------------|-----------------|-----------------------|
| WLSMV     | diag(Gamma)^-1  | robust          | scaled and shifted    |
| DWLS      | diag(Gamma)^-1  | standard        | standard              |
| ULSMV     | identity        | robust          | scaled and shifted    |
| ULS       | identity        | standard        | standard              |

The parameter table gets the rows that lavaan adds for ordinal items
(:mod:`lio_validate.wls_table`). The thresholds ``item | t1, t2, ...`` are
free, the scale factors ``item ~*~ item`` are fixed at 1, and the intercepts
``item ~ 1`` and latent means are fixed at 0. The item residual variances
are not free but equal 1 minus the explained variance of the item's y*.

References
----------
Muthen, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using
weighted least squares and quadratic estimating equations in latent variable
modeling with categorical and continuous outcomes. Unpublished manuscript.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from lio_validate import ml, wls_model, wls_tests
from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import (
    ConvergenceWarning,
    HeywoodWarning,
    IdentificationError,
    LioInputError,
    ListwiseDeletionWarning,
    LioWarning,
)
from lio_validate.inference import (
    covariance_of_estimates,
    defined_parameters,
    parameter_name,
    parameter_rows,
)
from lio_validate.model import RamModel
from lio_validate.ordinal_data import MAX_CATEGORIES, encode_ordinal_items
from lio_validate.partable import ParameterTable, check_group_equal
from lio_validate.polychoric import OrdinalSampleStatistics, ordinal_sample_statistics
from lio_validate.samplestats import GroupStatistics, SampleStatistics
from lio_validate.standardize import standardize
from lio_validate.syntax import ParsedModel, parse_model
from lio_validate.wls_table import (
    build_ordinal_model,
    build_ordinal_table,
    check_ordinal_terms,
    ordinal_items,
    split_threshold_terms,
)

__all__ = ["ESTIMATORS", "DWLSFit", "fit_dwls", "standardized_solution"]

# Estimator name -> (weights, robust standard errors and scaled-shifted test).
ESTIMATORS = {
    "WLSMV": ("DWLS", True),
    "DWLS": ("DWLS", False),
    "ULSMV": ("ULS", True),
    "ULS": ("ULS", False),
}


@dataclass(frozen=True)
class DWLSFit:
    """A least-squares fit to ordinal items, with lavaan's tables and measures.

    Attributes
    ----------
    estimator : str
        The requested estimator ("WLSMV", "DWLS", "ULSMV" or "ULS").
    table : ParameterTable
        The parameter table, thresholds included; the ``value`` of each item
        residual variance is its estimate.
    model : RamModel
        The RAM model at the estimates (item residual variances filled in),
        so ``model.implied(x, g).sigma`` is the implied y* correlation matrix.
    structure : OrdinalModel
        The model as estimated, in which the item residual variances follow
        from the other parameters (:mod:`lio_validate.wls_model`).
    x : numpy.ndarray
        The free parameters, in the order of ``table.frame["free"]``.
    estimates : pandas.DataFrame
        ``lhs, op, rhs, group, label, est, se, z, pvalue, ci_lower, ci_upper,
        std_lv, std_all``, one row per table row, then the ``:=`` rows.
    vcov : pandas.DataFrame
        Covariance matrix of the free parameters, named as lavaan names them.
    fit_measures : Mapping[str, float]
        lavaan's ``fitMeasures()`` in snake_case (``chisq_scaled``,
        ``cfi_robust``, ...).
    sample : tuple of OrdinalSampleStatistics
        Thresholds, polychoric correlations and Gamma per group.
    sample_statistics : SampleStatistics
        The polychoric matrices as covariances with zero means, the form
        that lavaan's ``lavInspect(fit, "sampstat")`` shows.
    implied_thresholds : tuple of numpy.ndarray
        Implied thresholds per group on the scale of a unit-variance y*,
        delta (tau - mu*).
    group_names : tuple of str
        Group labels in order of first appearance ("" for one group).
    converged, iterations, max_abs_gradient, optimizer_message
        Outcome of the optimiser; ``converged`` is judged by the gradient.
    nobs_dropped : int
        Rows removed by listwise deletion.
    messages : tuple of str
        Every warning issued during the fit.
    information : numpy.ndarray
        E = sum_g f_g Delta_g' W_g Delta_g at the estimates.
    meat : numpy.ndarray or None
        B = sum_g f_g Delta_g' W_g Gamma_g W_g Delta_g, for the robust
        estimators.
    jacobians : tuple of numpy.ndarray
        Delta_g = d sigma_g / d x' per group at the estimates.
    """

    estimator: str
    table: ParameterTable
    model: RamModel
    structure: wls_model.OrdinalModel
    x: np.ndarray
    estimates: pd.DataFrame
    vcov: pd.DataFrame
    fit_measures: Mapping[str, float]
    sample: tuple[OrdinalSampleStatistics, ...]
    sample_statistics: SampleStatistics
    implied_thresholds: tuple[np.ndarray, ...]
    group_names: tuple[str, ...]
    converged: bool
    iterations: int
    max_abs_gradient: float
    optimizer_message: str
    nobs_dropped: int = 0
    messages: tuple[str, ...] = field(default_factory=tuple)
    information: np.ndarray | None = None
    meat: np.ndarray | None = None
    jacobians: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fit_measures",
                           MappingProxyType(dict(self.fit_measures)))

    @property
    def nobs(self) -> int:
        return sum(group.nobs for group in self.sample)

    def implied_cov(self, group: int = 0) -> np.ndarray:
        """Return the implied y* correlation matrix of one group."""
        return wls_model.correlation_structure(self.structure, self.x, group).sigma


def _emit(messages: list[str], text: str, category, stacklevel: int = 3) -> None:
    messages.append(text)
    warnings.warn(text, category, stacklevel=stacklevel)


def fit_dwls(
    model: str | ParsedModel,
    data: pd.DataFrame,
    ordered: Sequence[str] | bool,
    *,
    estimator: Literal["WLSMV", "DWLS", "ULSMV", "ULS"] = "WLSMV",
    group: str | None = None,
    std_lv: bool = False,
    max_categories: int = MAX_CATEGORIES,
    sampling_weights: str | None = None,
    cluster: str | None = None,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    identification: Literal["lavaan", "wu_estabrook"] = "lavaan",
) -> DWLSFit:
    """Fit a model to ordinal items by DWLS or ULS in the delta parameterization.

    Parameters
    ----------
    model : str or ParsedModel
        lavaan model syntax. Threshold lines (``A1 | t1 + t2``) are optional;
        they may fix (``0.5*t1``) or label thresholds.
    data : pandas.DataFrame
        One row per respondent. An item is numeric (its distinct values, in
        increasing order, are its categories) or a pandas Categorical (its
        declared categories, in order).
    ordered : sequence of str or True
        The ordinal items; ``True`` declares every observed variable of the
        model ordinal. Every observed variable must be ordinal.
    estimator : {"WLSMV", "DWLS", "ULSMV", "ULS"}, default "WLSMV"
        See the table in the module documentation.
    group : str, optional
        Column whose values define groups; each group gets its own
        thresholds, correlations and parameters unless labels equate them.
    std_lv : bool, default False
        Fix latent variances to 1 instead of the first loadings.
    max_categories : int, default 10
        Maximum number of categories of an item.
    sampling_weights : str, optional
        Column of sampling weights (lavaan's ``sampling.weights``).
    cluster : str, optional
        Column of cluster ids for cluster-robust standard errors and tests
        (WLSMV and ULSMV only). The estimates do not depend on it.
    group_equal : sequence of str, optional
        Kinds of parameters held equal across groups ("thresholds",
        "loadings", "intercepts", "means", "lv.variances", ...), as lavaan's
        ``group.equal``.
    group_partial : sequence of str, optional
        Parameters exempt from ``group_equal`` ("A1|t2", "A =~ A3").
    identification : {"lavaan", "wu_estabrook"}, default "lavaan"
        What equality constraints free in groups 2..G
        (:func:`lio_validate.wls_table.free_for_identification`).

    Returns
    -------
    DWLSFit

    Raises
    ------
    LioInputError
        For an unknown estimator or an invalid ``ordered``.
    ModelSyntaxError, ModelSpecificationError, IdentificationError, DataError
        For a model or data that cannot be estimated, naming the line, item or
        parameter.

    References
    ----------
    Muthen, B., du Toit, S. H. C., & Spisic, D. (1997), as above; Savalei, V.
    (2021). Improving fit indices in structural equation modeling with
    categorical data. Multivariate Behavioral Research, 56(3), 390-407.
    """
    weighting, robust = _check_options(estimator, max_categories)
    messages: list[str] = []

    # Parse and check the model before touching the data.
    parsed = parse_model(model) if isinstance(model, str) else model
    structural, threshold_terms = split_threshold_terms(parsed)
    items = ordinal_items(structural, ordered, threshold_terms)
    check_ordinal_terms(structural, items)

    # Code the categories of the items, keep complete rows, build the table.
    levels, prepared = _prepare_items(structural, data, items, group, max_categories,
                                      messages, sampling_weights, cluster)
    group_names = tuple(name for name, _ in prepared.frames)
    table = build_ordinal_table(structural, threshold_terms, levels,
                                ngroups=len(group_names), std_lv=std_lv,
                                group_equal=group_equal, group_partial=group_partial,
                                identification=identification)
    _check_group_equal_kinds(table, group_equal, messages)

    for category, text in wls_tests.check_clusters(prepared.clusters, cluster,
                                                   group_names, table.npar, robust):
        _emit(messages, text, category)
    if cluster is not None:
        # Stated for reviewers who compare with lavaan 0.6.14.
        _emit(messages,
              f"cluster={cluster!r}: the standard errors and the scaled test sum the "
              "casewise scores of the ordinal items within clusters, as Mplus "
              "(TYPE=COMPLEX) and lavaan 0.7 do; lavaan 0.6.14 ignores cluster for "
              "ordinal items, so its numbers for this fit are those without clusters",
              LioWarning)

    # Stage 1: thresholds, polychoric correlations and Gamma per group.
    sample = []
    for g, (name, group_frame) in enumerate(prepared.frames):
        codes = group_frame[list(items)].to_numpy().astype(int)
        statistics = ordinal_sample_statistics(
            codes, levels, group=name,
            weights=None if prepared.weights is None else prepared.weights[g],
            cluster=None if prepared.clusters is None else prepared.clusters[g],
        )
        for category, text in statistics.messages:
            _emit(messages, text, category)
        sample.append(statistics)
    sample = tuple(sample)

    # The model on the polychorics: RAM matrices, weights.
    stats = _correlations_as_moments(sample)
    ordinal_model = build_ordinal_model(table, stats)
    data_blocks = tuple(
        # With sampling weights lavaan 0.6.14 takes a group's N to be the sum
        # of its weights. The DWLS weights ignore clusters, as in lavaan 0.7-2.
        wls_model.LeastSquaresData(
            nobs=s.weighted_nobs, wls_obs=s.wls_obs,
            weights=(1.0 / s.independent_gamma_diagonal if weighting == "DWLS"
                     else np.ones(len(s.wls_obs))),
            gamma=s.gamma,
        )
        for s in sample
    )
    _check_degrees_of_freedom(table, data_blocks)

    # Stage 2: estimate and check convergence by the gradient.
    x0 = _start_values(ordinal_model, stats, sample)
    optimum = wls_model.fit_least_squares(ordinal_model, data_blocks, x0)
    if not optimum.converged:
        _emit(messages,
              f"the optimiser did not reach a stationary point after "
              f"{optimum.iterations} iterations (largest absolute gradient "
              f"{optimum.max_abs_gradient:.3g}, optimiser message: "
              f"{optimum.message}). Estimates and standard errors are not "
              "trustworthy, so check the model for identification",
              ConvergenceWarning)
    x = optimum.x

    # Stage 3: standard errors, tests and fit measures.
    deltas = [wls_model.jacobian(ordinal_model, x, g) for g in range(len(sample))]
    info = wls_tests.information(deltas, data_blocks)
    info_inverse = covariance_of_estimates(ordinal_model.ram, info, 1.0)
    divisor = sum(s.nobs for s in sample) - len(sample)
    products = meat = None
    if robust:
        products = wls_tests.gamma_products(deltas, data_blocks)
        meat = wls_tests.robust_meat(deltas, data_blocks, products)
        vcov = info_inverse @ meat @ info_inverse / divisor
    else:
        vcov = info_inverse / divisor
    vcov = (vcov + vcov.T) / 2.0

    final_table, final_ram = _at_estimates(ordinal_model, x)
    _check_residual_variances(ordinal_model, x, final_table, group_names, messages)
    fit_measures = _fit_measures(ordinal_model, data_blocks, sample, x, optimum,
                                 deltas, info_inverse, meat, products,
                                 chisq_has_pvalue=weighting != "ULS")
    estimates = _estimates(ordinal_model, final_ram, x, vcov, group_names)
    free_names = _free_parameter_names(final_table, group_names)
    return DWLSFit(
        estimator=estimator.upper(),
        table=final_table,
        model=final_ram,
        structure=ordinal_model,
        x=x,
        estimates=estimates,
        vcov=pd.DataFrame(vcov, index=free_names, columns=free_names),
        fit_measures=fit_measures,
        sample=sample,
        sample_statistics=stats,
        implied_thresholds=tuple(
            wls_model.implied_statistics(ordinal_model, x, g)[:len(s.thresholds)]
            for g, s in enumerate(sample)),
        group_names=group_names,
        converged=optimum.converged,
        iterations=optimum.iterations,
        max_abs_gradient=optimum.max_abs_gradient,
        optimizer_message=optimum.message,
        nobs_dropped=prepared.nobs_dropped,
        messages=tuple(messages),
        information=info,
        meat=meat,
        jacobians=tuple(deltas),
    )


# --------------------------------------------------------------------------
# Options and model text
# --------------------------------------------------------------------------


def _check_options(estimator, max_categories) -> tuple[str, bool]:
    name = str(estimator).upper()
    if name not in ESTIMATORS:
        raise LioInputError(
            f"unknown estimator {estimator!r} for ordinal items. Choose one of "
            f"{', '.join(ESTIMATORS)}"
        )
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) \
            or max_categories < 2:
        raise LioInputError(
            f"max_categories must be an integer of at least 2, not {max_categories!r}"
        )
    return ESTIMATORS[name]


def _prepare_items(parsed: ParsedModel, data, items, group, max_categories,
                   messages: list[str], sampling_weights=None, cluster=None):
    """Return the categories of the items and the complete rows per group."""
    frame = data.frame if hasattr(data, "frame") else data
    if not isinstance(frame, pd.DataFrame):
        raise LioInputError(
            f"data must be a pandas DataFrame, not {type(frame).__name__}"
        )
    if any(item not in frame.columns for item in items):
        prepare_data(parsed, frame, group=group)  # raises, with a spelling hint

    coded, levels, encoding_messages = encode_ordinal_items(
        frame, items, max_categories=max_categories)
    for category, text in encoding_messages:
        _emit(messages, text, category, stacklevel=4)
    prepared, data_messages = prepare_data(parsed, coded, group=group,
                                           weights=sampling_weights, cluster=cluster)
    for text in data_messages:
        # FIML is for continuous items, so that advice does not apply here.
        text = text.replace(
            "use missing='fiml' to keep them",
            "ordinal items are fitted to complete cases, as in lavaan; treat the "
            "items as continuous with missing='fiml' to keep them")
        _emit(messages, text, ListwiseDeletionWarning, stacklevel=4)
    return levels, prepared


# --------------------------------------------------------------------------
# Model and start values
# --------------------------------------------------------------------------


def _correlations_as_moments(sample) -> SampleStatistics:
    """Return the polychoric matrices as covariances with zero means."""
    groups = []
    for s in sample:
        sign, logdet = np.linalg.slogdet(s.correlation)
        groups.append(GroupStatistics(s.group, s.nobs, np.zeros(len(s.variables)),
                                      s.correlation.copy(),
                                      float(logdet) if sign > 0 else np.nan))
    return SampleStatistics(tuple(sample[0].variables), tuple(groups))


def _start_values(model: wls_model.OrdinalModel, stats: SampleStatistics,
                  sample) -> np.ndarray:
    """Return start values: ML starts on the polychorics, sample thresholds."""
    ram = model.ram
    x0 = ml.start_values(ram, stats)
    for rows, statistics in zip(model.threshold_rows, sample):
        positions = ram.free_index[rows]
        is_free = positions >= 0
        x0[positions[is_free]] = statistics.thresholds[is_free]
    for rows in model.scale_rows:
        positions = ram.free_index[rows]
        x0[positions[positions >= 0]] = 1.0
    return x0


def _check_degrees_of_freedom(table: ParameterTable, data_blocks) -> None:
    moments = sum(len(d.wls_obs) for d in data_blocks)
    if table.npar > moments:
        raise IdentificationError(
            f"the model has {table.npar} free parameters but the data give only "
            f"{moments} sample statistics, thresholds and polychoric correlations "
            f"(df = {moments - table.npar}). Fix parameters or add items"
        )


def _check_group_equal_kinds(table: ParameterTable, group_equal,
                             messages: list[str]) -> None:
    kinds = check_group_equal(group_equal)
    if table.ngroups == 1 and kinds:
        _emit(messages,
              f"group_equal={list(kinds)} has no effect without groups; give group=",
              LioWarning, stacklevel=4)
    if table.ngroups > 1 and "residuals" in kinds:
        _emit(messages,
              "group_equal 'residuals' constrains nothing for ordinal items in the "
              "delta parameterization, because their residual variances are not "
              "parameters (each is 1 / delta^2 minus the explained variance of its "
              "y*), so the constraint is ignored, as lavaan 0.6.14 ignores it",
              LioWarning, stacklevel=4)


def _ram_at(model: wls_model.OrdinalModel, x: np.ndarray) -> RamModel:
    """Return the RAM model with the item residual variances implied by ``x``."""
    ram = model.ram
    values = ram.values.copy()
    for g, positions in enumerate(model.residual_positions):
        theta = wls_model.correlation_structure(model, x, g).theta
        values[ram.groups[g].rows[positions]] = theta
    return dataclasses.replace(ram, values=values)


def _at_estimates(model: wls_model.OrdinalModel,
                  x: np.ndarray) -> tuple[ParameterTable, RamModel]:
    """Return the table and RAM model with the item residual variances filled in."""
    ram = _ram_at(model, x)
    old = model.ram.table
    frame = old.frame.copy()
    frame["value"] = np.where(ram.free_index >= 0, frame["value"].to_numpy(),
                              ram.values)
    table = ParameterTable(frame, old.roles, old.definitions, old.ngroups,
                           old.meanstructure)
    return table, dataclasses.replace(ram, table=table)


def _check_residual_variances(model, x, table, group_names, messages) -> None:
    frame = table.frame
    for g, positions in enumerate(model.residual_positions):
        rows = model.ram.groups[g].rows[positions]
        for row in rows[frame["value"].to_numpy()[rows] < 0]:
            where = f" in group {group_names[g]!r}" if len(group_names) > 1 else ""
            _emit(messages,
                  f"the residual variance {parameter_name(frame, row)}{where} is "
                  f"negative ({frame['value'].iat[row]:.4g}), so the model explains "
                  "more than all of the item's y* variance (a Heywood case). Check the "
                  "model for a weak or redundant indicator before interpreting it",
                  HeywoodWarning, stacklevel=4)


# --------------------------------------------------------------------------
# Tables of the result
# --------------------------------------------------------------------------


def _fit_measures(model, data_blocks, sample, x, optimum, deltas, info_inverse, meat,
                  products, chisq_has_pvalue: bool) -> dict[str, float]:
    """Return the fit measures, with the robust ones only if ``products`` are given."""
    nobs = sum(s.nobs for s in sample)
    ngroups = len(sample)
    nthresholds = [len(s.thresholds) for s in sample]

    chisq, baseline_chisq, srmr = 0.0, 0.0, 0.0
    implied_correlations = []
    for g, (block, s) in enumerate(zip(data_blocks, sample)):
        residual = block.wls_obs - wls_model.implied_statistics(model, x, g)
        chisq += (block.nobs - 1) * float(residual @ (block.weights * residual))
        correlations = s.correlations
        weights = block.weights[nthresholds[g]:]
        baseline_chisq += (block.nobs - 1) * float(
            correlations @ (weights * correlations))

        # SRMR: residual correlations only, but the divisor p(p+1)/2 counts
        # the (zero) diagonal, as lavaan 0.6.14 does for ordinal items.
        p = len(s.variables)
        pair_residual = residual[nthresholds[g]:]
        srmr += block.nobs / nobs * np.sqrt(
            np.sum(pair_residual**2) / (p * (p + 1) / 2))
        implied_correlations.append(wls_model.correlation_structure(model, x, g).sigma)

    df = sum(len(b.wls_obs) for b in data_blocks) - model.npar
    baseline_df = sum(len(b.wls_obs) - k for b, k in zip(data_blocks, nthresholds))
    scaled = baseline_scaled = catml = None
    if products is not None:
        scaled = wls_tests.scaled_shifted(chisq, df, data_blocks, info_inverse, meat,
                                          products)
        baseline_scaled = wls_tests.baseline_scaled_shifted(
            baseline_chisq, baseline_df, data_blocks, nthresholds)
        # lavaan 0.6.14 refits the model as a continuous one on the
        # polychorics for these indices ("catML"), which fails, and so gives
        # NA, once scale factors, y* intercepts or latent means are free (as
        # equal thresholds across groups free them).
        if not _has_free_location_or_scale(model):
            catml = wls_tests.catml_inputs(
                deltas, data_blocks, [s.correlation for s in sample],
                implied_correlations, nthresholds, info_inverse, df, baseline_df)
    return wls_tests.least_squares_fit_measures(
        npar=model.npar, fmin_value=optimum.fmin, chisq=chisq, df=df, nobs=nobs,
        ngroups=ngroups, baseline_chisq=baseline_chisq, baseline_df=baseline_df,
        srmr=srmr, scaled=scaled, baseline_scaled=baseline_scaled, robust=catml,
        chisq_has_pvalue=chisq_has_pvalue,
    )


def _standardize_ordinal(structure: wls_model.OrdinalModel, ram: RamModel,
                         x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return std_lv and std_all of every table row, thresholds included.

    ``ram`` has the item residual variances implied by ``x`` filled in. A
    threshold and a scale factor keep their values in std_lv. In std_all a
    threshold is divided by the standard deviation of its y*, 1 / delta (so
    multiplied by the scale factor delta), and a scale factor becomes 1, as
    in lavaan 0.6.14's ``standardizedSolution``.
    """
    std_lv, std_all = standardize(ram, x)
    values = ram.row_values(x)
    frame = ram.table.frame
    op = frame["op"].to_numpy()
    unchanged = (op == "|") | (op == "~*~")
    std_lv[unchanged] = values[unchanged]
    for rows, items, scale_rows in zip(structure.threshold_rows,
                                       structure.threshold_items,
                                       structure.scale_rows):
        std_all[rows] = values[rows] * values[scale_rows][items]
        std_all[scale_rows] = 1.0
    return std_lv, std_all


def _has_free_location_or_scale(model: wls_model.OrdinalModel) -> bool:
    """Return whether a scale factor, y* intercept or latent mean is free."""
    frame = model.ram.table.frame
    rows = frame["op"].isin(["~*~", "~1"]).to_numpy()
    return bool(np.any(model.ram.free_index[rows] >= 0))


def _estimates(structure: wls_model.OrdinalModel, ram: RamModel, x: np.ndarray,
               vcov: np.ndarray, group_names: tuple[str, ...]) -> pd.DataFrame:
    """Return lavaan's parameter table of estimates, with std_lv and std_all."""
    frame = ram.table.frame
    rows = parameter_rows(ram, x, vcov)
    std_lv, std_all = _standardize_ordinal(structure, ram, x)
    op = frame["op"].to_numpy()

    table = pd.DataFrame({
        "lhs": frame["lhs"].to_numpy(),
        "op": op,
        "rhs": frame["rhs"].to_numpy(),
        "group": [group_names[g] if len(group_names) > 1 else ""
                  for g in frame["group"]],
        "label": frame["label"].to_numpy(),
    })
    table = pd.concat([table, rows], axis=1)
    table["std_lv"] = std_lv
    table["std_all"] = std_all
    defined = defined_parameters(ram, x, vcov, std_lv, std_all)
    if len(defined):
        defined.insert(3, "group", "")
        table = pd.concat([table, defined[list(table.columns)]], ignore_index=True)
    return table


def _free_parameter_names(table: ParameterTable, group_names) -> list[str]:
    """Name the free parameters as lavaan's ``vcov`` does (``A=~A2``, ``A1|t1``)."""
    frame = table.frame
    free = frame["free"].to_numpy()
    names = []
    for k in range(1, table.npar + 1):
        row = int(np.flatnonzero(free == k)[0])
        name = "".join([frame["lhs"].iat[row], frame["op"].iat[row],
                        frame["rhs"].iat[row]])
        if len(group_names) > 1:
            name = f"{name} [{group_names[frame['group'].iat[row]]}]"
        names.append(name)
    return names


def standardized_solution(fit: DWLSFit) -> pd.DataFrame:
    """Return std_lv and std_all with delta-method standard errors.

    The columns are ``lhs, op, rhs, group, std_lv, se_std_lv, std_all,
    se_std_all``, one row per table row. The standardizing map is
    differentiated by central differences, and the item residual variances
    are recomputed from the parameters at every step, because in the delta
    parameterization they are functions of the other parameters. Thresholds
    and scale factors keep their values (y* has unit variance). As in
    lavaan, SEs below eps^(1/4) are numerical noise around an exact 0 and are
    set to 0.
    """
    frame = fit.table.frame

    def stacked(x: np.ndarray) -> np.ndarray:
        ram = _ram_at(fit.structure, x)
        std_lv, std_all = _standardize_ordinal(fit.structure, ram, x)
        return np.concatenate([std_lv, std_all])

    x = fit.x
    center = stacked(x)
    jacobian = np.zeros((len(center), len(x)))
    for k in range(len(x)):
        step = 1e-6 * max(1.0, abs(x[k]))
        offset = np.zeros(len(x))
        offset[k] = step
        jacobian[:, k] = (stacked(x + offset) - stacked(x - offset)) / (2.0 * step)
    jacobian = np.nan_to_num(jacobian)
    variance = np.einsum("ij,jk,ik->i", jacobian, fit.vcov.to_numpy(), jacobian)
    # A variance below eps^(1/2), rounding noise that may be negative, is an
    # SE below eps^(1/4) and so 0 by the rule above.
    noise = variance < np.sqrt(np.finfo(float).eps)
    se = np.sqrt(np.where(noise, 1.0, variance))
    se[noise] = 0.0
    se[~np.isfinite(center)] = np.nan

    nrows = len(frame)
    table = fit.estimates[["lhs", "op", "rhs", "group"]].iloc[:nrows].copy()
    table["std_lv"] = center[:nrows]
    table["se_std_lv"] = se[:nrows]
    table["std_all"] = center[nrows:]
    table["se_std_all"] = se[nrows:]
    return table.reset_index(drop=True)

