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

The parameter table gets the rows lavaan adds for ordinal items: thresholds
``item | t1, t2, ...`` (free), scale factors ``item ~*~ item`` (fixed at 1),
intercepts ``item ~ 1`` and latent means (fixed at 0), and item residual
variances that are not free but equal 1 minus the explained variance of the
item's y*.

References
----------
Muthen, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using
weighted least squares and quadratic estimating equations in latent variable
modeling with categorical and continuous outcomes. Unpublished manuscript.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from lio_validate import ml
from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import (
    ConvergenceWarning,
    HeywoodWarning,
    IdentificationError,
    LioInputError,
    ListwiseDeletionWarning,
    ModelSpecificationError,
)
from lio_validate.inference import (
    covariance_of_estimates,
    defined_parameters,
    parameter_name,
    parameter_rows,
)
from lio_validate.model import RamModel, build_ram_model
from lio_validate.partable import ParameterTable, build_parameter_table
from lio_validate.polychoric import (
    MAX_CATEGORIES,
    OrdinalLevels,
    OrdinalSampleStatistics,
    encode_ordinal_items,
    ordinal_sample_statistics,
    pair_indices,
)
from lio_validate.samplestats import GroupStatistics, SampleStatistics
from lio_validate.standardize import standardize
from lio_validate.syntax import FormulaTerm, ParsedModel, parse_model
from lio_validate import wls_model, wls_tests

__all__ = ["ESTIMATORS", "DWLSFit", "fit_dwls", "build_ordinal_table"]

# Estimator name -> (weights, robust standard errors and scaled-shifted test).
ESTIMATORS = {
    "WLSMV": ("DWLS", True),
    "DWLS": ("DWLS", False),
    "ULSMV": ("ULS", True),
    "ULS": ("ULS", False),
}

_RAM_S = 1  # RAM matrix code of a variance or covariance row (lio_validate.model)


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
        Implied thresholds per group.
    group_names : tuple of str
        Group labels in order of first appearance ("" for one group).
    converged, iterations, max_abs_gradient, optimizer_message
        Outcome of the optimiser; ``converged`` is judged by the gradient.
    nobs_dropped : int
        Rows removed by listwise deletion.
    messages : tuple of str
        Every warning issued during the fit.
    """

    estimator: str
    table: ParameterTable
    model: RamModel
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "fit_measures",
                           MappingProxyType(dict(self.fit_measures)))

    @property
    def nobs(self) -> int:
        return sum(group.nobs for group in self.sample)

    def implied_cov(self, group: int = 0) -> np.ndarray:
        """Return the implied y* correlation matrix of one group."""
        return self.model.implied(self.x, group).sigma


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
    structural, threshold_terms = _split_threshold_terms(parsed)
    items = _ordinal_items(structural, ordered, threshold_terms)
    _check_ordinal_terms(structural, items)

    # Code the categories of the items, keep complete rows, build the table.
    levels, prepared = _prepare_items(structural, data, items, group, max_categories,
                                      messages)
    group_names = tuple(name for name, _ in prepared.frames)
    table = build_ordinal_table(structural, threshold_terms, levels,
                                ngroups=len(group_names), std_lv=std_lv)

    # Stage 1: thresholds, polychoric correlations and Gamma per group.
    sample = []
    for name, group_frame in prepared.frames:
        codes = group_frame[list(items)].to_numpy().astype(int)
        statistics = ordinal_sample_statistics(codes, levels, group=name)
        for category, text in statistics.messages:
            _emit(messages, text, category)
        sample.append(statistics)
    sample = tuple(sample)

    # The model on the polychorics: RAM matrices, weights.
    stats = _correlations_as_moments(sample)
    ordinal_model = _ordinal_model(table, stats, levels)
    data_blocks = tuple(
        wls_model.LeastSquaresData(
            nobs=s.nobs, wls_obs=s.wls_obs,
            weights=(1.0 / np.diag(s.gamma) if weighting == "DWLS"
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

    final_table, final_ram = _at_estimates(ordinal_model, stats, x)
    _check_residual_variances(ordinal_model, x, final_table, group_names, messages)
    fit_measures = _fit_measures(ordinal_model, data_blocks, sample, x, optimum,
                                 deltas, info_inverse, meat, products,
                                 chisq_has_pvalue=weighting != "ULS")
    estimates = _estimates(final_ram, x, vcov, group_names)
    free_names = _free_parameter_names(final_table, group_names)
    return DWLSFit(
        estimator=estimator.upper(),
        table=final_table,
        model=final_ram,
        x=x,
        estimates=estimates,
        vcov=pd.DataFrame(vcov, index=free_names, columns=free_names),
        fit_measures=fit_measures,
        sample=sample,
        sample_statistics=stats,
        implied_thresholds=tuple(
            final_ram.row_values(x)[rows] for rows in ordinal_model.threshold_rows),
        group_names=group_names,
        converged=optimum.converged,
        iterations=optimum.iterations,
        max_abs_gradient=optimum.max_abs_gradient,
        optimizer_message=optimum.message,
        nobs_dropped=prepared.nobs_dropped,
        messages=tuple(messages),
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


def _split_threshold_terms(parsed: ParsedModel):
    """Return the model without ``|`` terms, and those terms."""
    thresholds = tuple(t for t in parsed.terms if t.op == "|")
    rest = tuple(t for t in parsed.terms if t.op != "|")
    return ParsedModel(rest, parsed.definitions, parsed.text), thresholds


def _ordinal_items(parsed: ParsedModel, ordered, threshold_terms) -> tuple[str, ...]:
    """Return the observed variables of the model, checking that all are ordinal."""
    roles = build_parameter_table(parsed, meanstructure=False, fixed_x=False).roles
    observed = roles.ov
    for term in threshold_terms:
        if term.lhs not in observed:
            raise ModelSpecificationError(
                f"line {term.line}: thresholds are given for {term.lhs!r} "
                f"({term.text!r}), which is not an observed variable of the model. "
                "Thresholds belong to ordinal indicators"
            )
    if ordered is True:
        return observed
    if ordered is False or ordered is None or isinstance(ordered, str):
        raise LioInputError(
            "ordered must be a list of item names or True (every observed variable "
            f"of the model), not {ordered!r}"
        )
    ordered = list(ordered)
    continuous = [name for name in observed if name not in ordered]
    if continuous:
        raise ModelSpecificationError(
            f"the observed variable(s) {', '.join(map(repr, continuous))} are not in "
            "ordered=, but this version fits ordinal items only. Declare every "
            "observed variable of the model ordinal, or fit continuous items with "
            "estimator='ML'"
        )
    if roles.ov_x:
        raise ModelSpecificationError(
            f"the observed predictor(s) {', '.join(map(repr, roles.ov_x))} would be "
            "exogenous covariates, which ordinal estimation does not support in this "
            "version. Measure them with a latent variable or remove them"
        )
    return observed


def _prepare_items(parsed: ParsedModel, data, items, group, max_categories,
                   messages: list[str]):
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
    prepared, data_messages = prepare_data(parsed, coded, group=group)
    for text in data_messages:
        _emit(messages, text, ListwiseDeletionWarning, stacklevel=4)
    return levels, prepared


# --------------------------------------------------------------------------
# Parameter table
# --------------------------------------------------------------------------


def build_ordinal_table(
    parsed: ParsedModel,
    threshold_terms: Sequence[FormulaTerm],
    levels: OrdinalLevels,
    *,
    ngroups: int = 1,
    std_lv: bool = False,
) -> ParameterTable:
    """Build the parameter table of an ordinal model, in lavaan's row order.

    Per group: the user's rows, the thresholds (item by item), the default
    variances and covariances, the scale factors ``~*~`` (fixed at 1) and the
    intercepts ``~1`` of items and latent variables (fixed at 0). Item
    residual variances are fixed rows with value 0; the estimator fills them
    in. Free parameters are numbered in row order, rows sharing a label
    sharing a number.

    Raises
    ------
    ModelSpecificationError
        For intercepts or item variances written by the user, or threshold
        terms that do not match an item's categories.
    """
    _check_ordinal_terms(parsed, levels.items)
    base = build_parameter_table(parsed, ngroups=ngroups, std_lv=std_lv,
                                 meanstructure=False, fixed_x=False)
    written = _written_thresholds(threshold_terms, levels, ngroups)
    roles = base.roles
    records = []
    for g in range(ngroups):
        rows = base.frame[base.frame["group"] == g]
        records.extend(rows[rows["user"] == 1].to_dict("records"))
        for item, categories in zip(levels.items, levels.categories):
            for t in range(1, len(categories)):
                records.append(_threshold_record(item, t, g, written))
        records.extend(rows[rows["user"] == 0].to_dict("records"))
        for item in levels.items:
            records.append(_fixed_record(item, "~*~", item, g, 1.0))
        for name in (*levels.items, *roles.lv):
            records.append(_fixed_record(name, "~1", "", g, 0.0))

    frame = pd.DataFrame.from_records(records)
    residual = ((frame["op"] == "~~") & (frame["lhs"] == frame["rhs"])
                & frame["lhs"].isin(levels.items)).to_numpy()
    is_free = (frame["free"] > 0).to_numpy() & ~residual
    frame.loc[residual, "value"] = 0.0
    frame["free"] = _number_free(frame["label"].tolist(), is_free)
    frame["id"] = np.arange(1, len(frame) + 1)
    frame = frame[["id", "lhs", "op", "rhs", "group", "user", "free", "value",
                   "label", "exo", "line"]].reset_index(drop=True)
    return ParameterTable(frame, roles, parsed.definitions, ngroups, True)


def _check_ordinal_terms(parsed: ParsedModel, items: Sequence[str]) -> None:
    for term in parsed.terms:
        if term.op == "~1":
            raise ModelSpecificationError(
                f"line {term.line}: {term.text!r} sets an intercept or mean. With "
                "ordinal items the intercepts of the y* and the latent means are "
                "fixed at 0 in the delta parameterization, and this version does not "
                "free them, so remove the line"
            )
        if term.op == "~~" and term.lhs == term.rhs and term.lhs in items:
            raise ModelSpecificationError(
                f"line {term.line}: {term.text!r} sets the residual variance of the "
                f"ordinal item {term.lhs!r}. In the delta parameterization it is 1 "
                "minus the explained variance of the item's y* and cannot be set, so "
                "remove the line"
            )


def _per_group(values: tuple, ngroups: int, term: FormulaTerm, what: str) -> list:
    if len(values) == 1:
        return list(values) * ngroups
    if len(values) != ngroups:
        raise ModelSpecificationError(
            f"line {term.line}: c(...) in {term.text!r} gives {len(values)} {what} "
            f"but the model has {ngroups} group(s). Give one value per group"
        )
    return list(values)


def _written_thresholds(threshold_terms, levels: OrdinalLevels, ngroups: int) -> dict:
    """Map (item, t, group) to the fixed value and label written by the user."""
    count = dict(zip(levels.items, levels.n_categories - 1))
    written = {}
    for term in threshold_terms:
        names = [f"t{k}" for k in range(1, count[term.lhs] + 1)]
        if term.rhs not in names:
            raise ModelSpecificationError(
                f"line {term.line}: {term.text!r} names threshold {term.rhs!r}, but "
                f"{term.lhs!r} has {count[term.lhs] + 1} categories in the data and "
                f"so the thresholds {', '.join(names)}"
            )
        if term.free or any(s is not None for s in term.start):
            raise ModelSpecificationError(
                f"line {term.line}: {term.text!r}: thresholds accept a fixed value "
                "(0.5*t1) or a label (a*t1) only"
            )
        fixed = _per_group(term.fixed, ngroups, term, "values")
        labels = _per_group(term.label, ngroups, term, "labels")
        t = int(term.rhs[1:])
        for g in range(ngroups):
            written[(term.lhs, t, g)] = (fixed[g], labels[g], term.line)
    return written


def _threshold_record(item: str, t: int, group: int, written: dict) -> dict:
    fixed, label, line = written.get((item, t, group), (None, None, 0))
    return dict(id=0, lhs=item, op="|", rhs=f"t{t}", group=group,
                user=int((item, t, group) in written),
                free=0 if fixed is not None else 1,
                value=np.nan if fixed is None else float(fixed),
                label=label or "", exo=0, line=line)


def _fixed_record(lhs: str, op: str, rhs: str, group: int, value: float) -> dict:
    return dict(id=0, lhs=lhs, op=op, rhs=rhs, group=group, user=0, free=0,
                value=value, label="", exo=0, line=0)


def _number_free(labels: list[str], is_free: np.ndarray) -> np.ndarray:
    numbers = np.zeros(len(labels), dtype=int)
    by_label: dict[str, int] = {}
    counter = 0
    for index in np.flatnonzero(is_free):
        label = labels[index]
        if label and label in by_label:
            numbers[index] = by_label[label]
            continue
        counter += 1
        numbers[index] = counter
        if label:
            by_label[label] = counter
    return numbers


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


def _ordinal_model(table: ParameterTable, stats: SampleStatistics,
                   levels: OrdinalLevels) -> wls_model.OrdinalModel:
    ram = build_ram_model(table, stats)
    frame = table.frame
    residual_positions, threshold_rows = [], []
    for g, index in enumerate(ram.groups):
        is_residual = ((index.matrix == _RAM_S) & (index.i == index.j)
                       & (index.i < ram.nobserved))
        positions = np.flatnonzero(is_residual)
        positions = positions[np.argsort(index.i[positions])]
        if len(positions) != ram.nobserved:
            raise ModelSpecificationError(
                "every ordinal item needs a residual variance row in the parameter "
                f"table, but {len(positions)} were found for {ram.nobserved} items"
            )
        residual_positions.append(positions)
        rows = np.flatnonzero(((frame["op"] == "|") & (frame["group"] == g)).to_numpy())
        threshold_rows.append(rows)
    return wls_model.OrdinalModel(ram, tuple(residual_positions), tuple(threshold_rows))


def _start_values(model: wls_model.OrdinalModel, stats: SampleStatistics,
                  sample) -> np.ndarray:
    """Return start values: ML starts on the polychorics, sample thresholds."""
    ram = model.ram
    x0 = ml.start_values(ram, stats)
    for rows, statistics in zip(model.threshold_rows, sample):
        positions = ram.free_index[rows]
        is_free = positions >= 0
        x0[positions[is_free]] = statistics.thresholds[is_free]
    return x0


def _check_degrees_of_freedom(table: ParameterTable, data_blocks) -> None:
    moments = sum(len(d.wls_obs) for d in data_blocks)
    if table.npar > moments:
        raise IdentificationError(
            f"the model has {table.npar} free parameters but the data give only "
            f"{moments} sample statistics, thresholds and polychoric correlations "
            f"(df = {moments - table.npar}). Fix parameters or add items"
        )


def _at_estimates(model: wls_model.OrdinalModel, stats: SampleStatistics,
                  x: np.ndarray) -> tuple[ParameterTable, RamModel]:
    """Return the table and RAM model with the item residual variances filled in."""
    frame = model.ram.table.frame.copy()
    values = frame["value"].to_numpy(dtype=float, copy=True)
    for g, positions in enumerate(model.residual_positions):
        theta = wls_model.correlation_structure(model, x, g).theta
        values[model.ram.groups[g].rows[positions]] = theta
    frame["value"] = values
    old = model.ram.table
    table = ParameterTable(frame, old.roles, old.definitions, old.ngroups,
                           old.meanstructure)
    return table, build_ram_model(table, stats)


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
        srmr += s.nobs / nobs * np.sqrt(np.sum(pair_residual**2) / (p * (p + 1) / 2))
        implied_correlations.append(wls_model.correlation_structure(model, x, g).sigma)

    df = sum(len(b.wls_obs) for b in data_blocks) - model.npar
    baseline_df = sum(len(b.wls_obs) - k for b, k in zip(data_blocks, nthresholds))
    scaled = baseline_scaled = catml = None
    if products is not None:
        scaled = wls_tests.scaled_shifted(chisq, df, data_blocks, info_inverse, meat,
                                          products)
        baseline_scaled = wls_tests.baseline_scaled_shifted(
            baseline_chisq, baseline_df, data_blocks, nthresholds)
        catml = wls_tests.catml_inputs(
            deltas, data_blocks, [s.correlation for s in sample], implied_correlations,
            nthresholds, info_inverse, df, baseline_df)
    return wls_tests.least_squares_fit_measures(
        npar=model.npar, fmin_value=optimum.fmin, chisq=chisq, df=df, nobs=nobs,
        ngroups=ngroups, baseline_chisq=baseline_chisq, baseline_df=baseline_df,
        srmr=srmr, scaled=scaled, baseline_scaled=baseline_scaled, robust=catml,
        chisq_has_pvalue=chisq_has_pvalue,
    )


def _estimates(ram: RamModel, x: np.ndarray, vcov: np.ndarray,
               group_names: tuple[str, ...]) -> pd.DataFrame:
    """Return lavaan's parameter table of estimates, with std_lv and std_all.

    A y* has variance 1, so a threshold keeps its value in both standardized
    solutions, as does a scale factor.
    """
    frame = ram.table.frame
    rows = parameter_rows(ram, x, vcov)
    std_lv, std_all = standardize(ram, x)
    op = frame["op"].to_numpy()
    unchanged = (op == "|") | (op == "~*~")
    std_lv[unchanged] = rows["est"].to_numpy()[unchanged]
    std_all[unchanged] = rows["est"].to_numpy()[unchanged]

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
