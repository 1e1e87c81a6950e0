"""The parameter table and RAM model of a model for ordinal items.

lavaan 0.6 adds rows to the parameter table of a model with ordered items,
as its ``parTable()`` shows. The thresholds ``item | t1, t2, ...`` are free.
The scale factors ``item ~*~ item`` are fixed at 1 in the delta
parameterization, and the intercepts ``~ 1`` of the items and latent
variables are fixed at 0. The item residual variances stay in the table as
fixed rows, whose values the estimator computes. This module builds that table on top of
:func:`lio_validate.partable.build_parameter_table`, which itself rejects
threshold terms, and maps it onto the RAM matrices of
:mod:`lio_validate.model`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from lio_validate.exceptions import LioInputError, ModelSpecificationError
from lio_validate.model import build_ram_model
from lio_validate.ordinal_data import OrdinalLevels
from lio_validate.partable import (
    ParameterTable,
    build_parameter_table,
    check_group_equal,
    check_group_partial,
    equality_labels,
    find_roles,
)
from lio_validate.samplestats import SampleStatistics
from lio_validate.syntax import FormulaTerm, ParsedModel
from lio_validate.wls_model import OrdinalModel

__all__ = [
    "split_threshold_terms",
    "ordinal_items",
    "check_ordinal_terms",
    "build_ordinal_table",
    "build_ordinal_model",
    "free_for_identification",
    "IDENTIFICATIONS",
]

_RAM_S = 1  # RAM matrix code of a variance or covariance row (lio_validate.model)


# --------------------------------------------------------------------------
# Model text
# --------------------------------------------------------------------------


def split_threshold_terms(parsed: ParsedModel):
    """Return the model without ``|`` terms, and those terms."""
    thresholds = tuple(t for t in parsed.terms if t.op == "|")
    rest = tuple(t for t in parsed.terms if t.op != "|")
    return ParsedModel(rest, parsed.definitions, parsed.text), thresholds


def ordinal_items(parsed: ParsedModel, ordered, threshold_terms) -> tuple[str, ...]:
    """Return the observed variables of the model, checking that all are ordinal."""
    roles = find_roles(parsed.terms, fixed_x=False)
    observed = roles.ov
    for term in threshold_terms:
        if term.lhs not in observed:
            raise ModelSpecificationError(
                f"line {term.line}: thresholds are given for {term.lhs!r} "
                f"({term.text!r}), which is not an observed variable of the model. "
                "Thresholds belong to ordinal indicators"
            )
    if roles.ov_x:
        raise ModelSpecificationError(
            f"the observed predictor(s) {', '.join(map(repr, roles.ov_x))} would be "
            "exogenous covariates, which ordinal estimation does not support in this "
            "version. Measure them with a latent variable or remove them"
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
    return observed


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
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    identification: str = "lavaan",
) -> ParameterTable:
    """Build the parameter table of an ordinal model, in lavaan's row order.

    Per group: the user's rows, the thresholds (item by item), the default
    variances and covariances, the scale factors ``~*~`` (fixed at 1) and the
    intercepts ``~1`` of items and latent variables (fixed at 0). Item
    residual variances are fixed rows with value 0, which the estimator
    replaces. Free parameters are numbered in row order, rows sharing a label
    sharing a number.

    With several groups, ``group_equal`` gives the constrained kinds the
    shared labels of lavaan (``.p<id>.``) and frees what identification
    allows in groups 2..G (:func:`free_for_identification`).

    Raises
    ------
    ModelSpecificationError
        For intercepts or item variances written by the user, threshold
        terms that do not match an item's categories, or an unknown
        ``identification``.
    """
    check_ordinal_terms(parsed, levels.items)
    group_equal = check_group_equal(group_equal)
    partial = check_group_partial(group_partial)
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
    frame["id"] = np.arange(1, len(frame) + 1)
    residual = ((frame["op"] == "~~") & (frame["lhs"] == frame["rhs"])
                & frame["lhs"].isin(levels.items)).to_numpy()
    is_free = (frame["free"] > 0).to_numpy() & ~residual
    frame.loc[residual, "value"] = 0.0
    if ngroups > 1:
        freed = free_for_identification(frame, roles, levels, group_equal,
                                        partial, std_lv=std_lv,
                                        identification=identification)
        is_free |= freed
        frame.loc[freed, "value"] = np.nan
        if group_equal:
            frame["label"] = equality_labels(frame, is_free, roles, group_equal,
                                             partial)
    frame["free"] = _number_free(frame["label"].tolist(), is_free)
    frame = frame[["id", "lhs", "op", "rhs", "group", "user", "free", "value",
                   "label", "exo", "line"]].reset_index(drop=True)
    return ParameterTable(frame, roles, parsed.definitions, ngroups, True)


IDENTIFICATIONS = ("lavaan", "wu_estabrook")


def free_for_identification(frame: pd.DataFrame, roles, levels: OrdinalLevels,
                            group_equal: Sequence[str], partial: set, *,
                            std_lv: bool, identification: str) -> np.ndarray:
    """Return the default-fixed rows of groups 2..G that equality constraints free.

    ``"lavaan"`` follows lavaan 0.6.14 for ordinal items in the delta
    parameterization: equal thresholds or intercepts free the scale factors
    and, unless means are equal too, the latent means of groups 2..G.
    ``"wu_estabrook"`` follows Wu and Estabrook (2016) as
    ``semTools::measEq.syntax(ID.cat = "Wu.Estabrook.2016")`` writes it.
    With equal thresholds, an item with e of its thresholds held equal
    (those not in ``group_partial``) gets, in groups 2..G, a free scale
    factor and a free intercept when e >= 2, one of the two when e = 1 (the
    scale factor if its intercept is held equal, else the intercept), and
    neither when e = 0. Equal intercepts also free the latent means. In both
    rules, equal loadings with ``std_lv`` free the latent variances of
    groups 2..G unless they are equal too.

    References
    ----------
    Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor
    analysis models of different levels of invariance for ordered
    categorical outcomes. Psychometrika, 81(4), 1014-1045.
    """
    if identification not in IDENTIFICATIONS:
        raise ModelSpecificationError(
            f"unknown identification {identification!r}; choose one of "
            f"{', '.join(IDENTIFICATIONS)}"
        )
    lhs, op, rhs = (frame[c].to_numpy() for c in ("lhs", "op", "rhs"))
    later = (frame["group"] > 0).to_numpy() & (frame["user"] == 0).to_numpy()
    is_lv = np.isin(lhs, roles.lv)
    thresholds = "thresholds" in group_equal
    intercepts = "intercepts" in group_equal
    freed = np.zeros(len(frame), dtype=bool)

    if identification == "lavaan":
        if thresholds or intercepts:
            freed |= later & (op == "~*~")
            if "means" not in group_equal:
                freed |= later & (op == "~1") & is_lv
    else:
        if not std_lv:
            raise ModelSpecificationError(
                "the identification of Wu and Estabrook (2016) is defined here with "
                "unit latent variances in the first group, as semTools' measEq.syntax "
                "writes it by default (ID.fac = 'std.lv'); pass std_lv=True"
            )
        if intercepts and not thresholds:
            raise ModelSpecificationError(
                "the identification of Wu and Estabrook (2016) constrains the "
                "thresholds before the intercepts; add 'thresholds' to group_equal"
            )
        if thresholds:
            free_scale, free_intercept = _wu_estabrook_items(levels, partial,
                                                             intercepts)
            freed |= later & (op == "~*~") & np.isin(lhs, free_scale)
            freed |= later & (op == "~1") & np.isin(lhs, free_intercept)
        if intercepts and "means" not in group_equal:
            freed |= later & (op == "~1") & is_lv
    if std_lv and "loadings" in group_equal and "lv.variances" not in group_equal:
        freed |= later & (op == "~~") & (lhs == rhs) & is_lv
    return freed & (frame["free"] == 0).to_numpy()


def _wu_estabrook_items(levels: OrdinalLevels, partial: set,
                        intercepts: bool) -> tuple[list[str], list[str]]:
    """Return the items whose scale factor, and whose intercept, go free."""
    free_scale, free_intercept = [], []
    for item, count in zip(levels.items, levels.n_categories):
        equal = sum((item, "|", f"t{t}") not in partial for t in range(1, count))
        intercept_equal = intercepts and (item, "~1", "") not in partial
        if equal >= 2:
            free_scale.append(item)
            if not intercept_equal:
                free_intercept.append(item)
        elif equal == 1:
            (free_scale if intercept_equal else free_intercept).append(item)
    return free_scale, free_intercept


def check_ordinal_terms(parsed: ParsedModel, items: Sequence[str]) -> None:
    """Raise ModelSpecificationError for user intercepts or item variances."""
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
                f"line {term.line}: {term.text!r} gives a threshold a start value or "
                "NA*, but thresholds accept only a fixed value (0.5*t1) or a label "
                "(a*t1)"
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
# RAM model
# --------------------------------------------------------------------------


def build_ordinal_model(table: ParameterTable,
                        stats: SampleStatistics) -> OrdinalModel:
    """Map an ordinal parameter table onto RAM matrices.

    ``stats`` supplies the variable order (the polychoric matrices serve as
    covariances). Returns the model with, per group, the positions of the
    item residual variances and the table rows of the thresholds.
    """
    ram = build_ram_model(table, stats)
    frame = table.frame
    position = {name: k for k, name in enumerate(ram.variables[:ram.nobserved])}
    residual_positions, threshold_rows, threshold_items, scale_rows = [], [], [], []
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
        in_group = (frame["group"] == g).to_numpy()
        rows = np.flatnonzero((frame["op"] == "|").to_numpy() & in_group)
        threshold_rows.append(rows)
        threshold_items.append(np.array([position[name]
                                         for name in frame["lhs"].to_numpy()[rows]],
                                        dtype=int))
        scale = np.flatnonzero((frame["op"] == "~*~").to_numpy() & in_group)
        order = np.array([position[name] for name in frame["lhs"].to_numpy()[scale]],
                         dtype=int)
        if sorted(order.tolist()) != list(range(ram.nobserved)):
            raise ModelSpecificationError(
                "every ordinal item needs one scale factor row (~*~) per group in "
                "the parameter table"
            )
        scale_rows.append(scale[np.argsort(order)])
    return OrdinalModel(ram, tuple(residual_positions), tuple(threshold_rows),
                        tuple(threshold_items), tuple(scale_rows))
