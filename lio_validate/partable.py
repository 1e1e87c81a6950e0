"""Build the parameter table of a model: the user's terms plus lavaan's defaults.

The defaults are those that lavaan 0.6's ``cfa()`` and ``sem()`` apply
(``auto.fix.first``, ``auto.fix.single``, ``auto.var``, ``auto.cov.lv.x``,
``auto.cov.y``, ``int.ov.free``, ``fixed.x``), so that the same model text
gives the same free parameters in both packages. Variable roles follow
lavaan's definitions: an observed exogenous covariate (``ov_x``) is a
predictor in a regression that is neither an indicator nor itself regressed
on anything; a dependent variable (``ov_y``, ``lv_y``) is regressed on
something and predicts nothing.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from lio_validate.exceptions import ModelSpecificationError, ModelSyntaxError
from lio_validate.syntax import Definition, FormulaTerm, ParsedModel

__all__ = ["VariableRoles", "ParameterTable", "build_parameter_table", "find_roles",
           "GROUP_EQUAL_KINDS", "check_group_equal", "check_group_partial",
           "equality_labels"]


@dataclass(frozen=True)
class VariableRoles:
    """Names of the model's variables by role, in lavaan's order."""

    lv: tuple[str, ...]
    ov: tuple[str, ...]
    ov_x: tuple[str, ...]
    ov_y: tuple[str, ...]
    lv_x: tuple[str, ...]
    lv_y: tuple[str, ...]
    ov_ind: tuple[str, ...]

    @property
    def ov_nox(self) -> tuple[str, ...]:
        return tuple(name for name in self.ov if name not in self.ov_x)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def find_roles(terms: tuple[FormulaTerm, ...], *, fixed_x: bool) -> VariableRoles:
    """Classify the model's variables as lavaan's ``lav_partable_vnames`` does."""
    lv = _unique(t.lhs for t in terms if t.op == "=~")
    eqs_y = _unique(t.lhs for t in terms if t.op == "~")
    eqs_x = _unique(t.rhs for t in terms if t.op == "~")
    indicators = _unique(t.rhs for t in terms if t.op == "=~")

    ov_ind = [v for v in indicators if v not in lv]
    ov_y_order = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y_order]

    # Variables mentioned only in ~~, ~1 or | formulas come last.
    extra = []
    for term in terms:
        if term.op == "~~":
            extra.extend(v for v in (term.lhs, term.rhs) if v not in lv)
        elif term.op in ("~1", "|") and term.lhs not in lv:
            extra.append(term.lhs)
    ov = _unique([*ov_ind, *ov_y_order, *ov_x, *extra])

    # A covariate with a user-written variance, covariance or intercept is no
    # longer treated as a fixed exogenous covariate (lavaan warns and drops it).
    mentioned = set()
    for term in terms:
        if term.op == "~~":
            mentioned.update((term.lhs, term.rhs))
        elif term.op == "~1":
            mentioned.add(term.lhs)
    ov_x = [v for v in ov_x if v not in mentioned]

    lv_x = [v for v in lv if v not in indicators and v not in eqs_y]
    ov_y = [v for v in eqs_y if v not in indicators and v not in eqs_x and v not in lv]
    lv_y = [v for v in eqs_y if v not in indicators and v not in eqs_x and v in lv]
    return VariableRoles(
        lv=tuple(lv), ov=tuple(ov), ov_x=tuple(ov_x), ov_y=tuple(ov_y),
        lv_x=tuple(lv_x), lv_y=tuple(lv_y), ov_ind=tuple(ov_ind),
    )


@dataclass(frozen=True)
class ParameterTable:
    """The model's parameters, one row each, as a read-only DataFrame.

    Columns: ``id, lhs, op, rhs, group`` (0-based group index), ``user`` (1 if
    written by the user), ``free`` (0 for fixed, else the 1-based index of the
    free parameter; rows sharing a label share the index), ``value`` (the fixed
    value or start value, NaN where the sample fills it in), ``label``,
    ``exo`` (1 for moments of fixed exogenous covariates), ``line`` (model line,
    0 for defaults).
    """

    frame: pd.DataFrame
    roles: VariableRoles
    definitions: tuple[Definition, ...]
    ngroups: int
    meanstructure: bool

    @cached_property
    def npar(self) -> int:
        return int(self.frame["free"].max()) if len(self.frame) else 0

    def free_rows(self) -> pd.DataFrame:
        return self.frame[self.frame["free"] > 0]


# --------------------------------------------------------------------------
# Default rows
# --------------------------------------------------------------------------


def _default_rows(roles: VariableRoles, *, meanstructure: bool) -> list[tuple]:
    rows: list[tuple[str, str, str]] = []

    # (Residual) variances of all non-exogenous observed and all latent variables.
    for name in (*roles.ov_nox, *roles.lv):
        rows.append((name, "~~", name))

    # Covariances among exogenous latent variables (auto.cov.lv.x).
    for first, second in itertools.combinations(roles.lv_x, 2):
        rows.append((first, "~~", second))

    # Residual covariances among dependent variables (auto.cov.y).
    for first, second in itertools.combinations((*roles.lv_y, *roles.ov_y), 2):
        rows.append((first, "~~", second))

    # Variances and covariances of exogenous covariates, column by column of
    # the lower triangle, the order lavaan uses.
    for j, first in enumerate(roles.ov_x):
        for second in roles.ov_x[j:]:
            rows.append((first, "~~", second))

    if meanstructure:
        for name in (*roles.ov, *roles.lv):
            rows.append((name, "~1", ""))
    return rows


def _same_parameter(a: tuple[str, str, str], b: tuple[str, str, str]) -> bool:
    if a == b:
        return True
    return a[1] == "~~" and b[1] == "~~" and (a[0], a[2]) == (b[2], b[0])


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------


def _per_group(values: tuple, ngroups: int, term: FormulaTerm, what: str) -> list:
    if len(values) == 1:
        return list(values) * ngroups
    if len(values) != ngroups:
        raise ModelSyntaxError(
            f"line {term.line}: c(...) in {term.text!r} gives {len(values)} {what} "
            f"but the model has {ngroups} group(s); give one value per group"
        )
    return list(values)


def build_parameter_table(
    parsed: ParsedModel,
    *,
    ngroups: int = 1,
    std_lv: bool = False,
    meanstructure: bool | None = None,
    fixed_x: bool = True,
    auto: bool = True,
    group_equal: tuple[str, ...] | list[str] = (),
    group_partial: tuple[str, ...] | list[str] = (),
) -> ParameterTable:
    """Build the parameter table with the defaults of lavaan's ``cfa()``/``sem()``.

    Parameters
    ----------
    parsed : ParsedModel
        The parsed model text.
    ngroups : int, default 1
        Number of groups; rows are repeated per group.
    std_lv : bool, default False
        Fix latent variances to 1 instead of the first loading.
    meanstructure : bool or None, default None
        Add intercepts. ``None`` adds them when the model has a ``~ 1`` term
        or more than one group, as lavaan does.
    fixed_x : bool, default True
        Fix the moments of observed exogenous covariates at their sample values.
    auto : bool, default True
        Apply lavaan's ``auto.*`` defaults; ``False`` gives lavaan's
        ``lavaan()`` behaviour (only what is written).
    group_equal : sequence of str
        Kinds of parameters held equal across groups: any of
        :data:`GROUP_EQUAL_KINDS`.
    group_partial : sequence of str
        Parameters exempt from ``group_equal``, written as in the model
        ("visual =~ x2", "x3 ~1").

    Returns
    -------
    ParameterTable
    """
    terms = parsed.terms
    if meanstructure is None:
        meanstructure = ngroups > 1 or any(t.op == "~1" for t in terms)
    roles = find_roles(terms, fixed_x=fixed_x)
    _check_roles(terms, roles)

    user_rows = [(t.lhs, t.op, t.rhs) for t in terms if t.op != "|"]
    defaults = []
    if auto:
        defaults = [
            row for row in _default_rows(roles, meanstructure=meanstructure)
            if not any(_same_parameter(row, user) for user in user_rows)
        ]
    elif meanstructure:
        defaults = []

    records = []
    first_indicator: dict[str, str] = {}
    for term in terms:
        if term.op == "=~" and term.lhs not in first_indicator:
            first_indicator[term.lhs] = term.rhs
    single = {
        lv for lv in roles.lv
        if sum(1 for t in terms if t.op == "=~" and t.lhs == lv) == 1
    }
    single_indicators = {
        t.rhs for t in terms
        if t.op == "=~" and t.lhs in single and t.rhs not in roles.lv
        and sum(1 for u in terms if u.op == "=~" and u.rhs == t.rhs) == 1
    }

    for group in range(ngroups):
        for term in terms:
            if term.op == "|":
                raise ModelSpecificationError(
                    f"line {term.line}: thresholds ({term.text!r}) need ordinal "
                    "estimation, which this version does not offer yet; remove the "
                    "threshold formulas to treat the items as continuous"
                )
            records.append(_row_from_term(term, group, ngroups))
        for lhs, op, rhs in defaults:
            records.append(dict(lhs=lhs, op=op, rhs=rhs, group=group, user=0,
                                fixed=None, free_forced=False, label=None,
                                start=None, line=0))

    frame = pd.DataFrame.from_records(records)
    free = np.ones(len(frame), dtype=bool)
    value = np.full(len(frame), np.nan)
    exo = np.zeros(len(frame), dtype=int)
    lhs, op, rhs = frame["lhs"].to_numpy(), frame["op"].to_numpy(), frame["rhs"].to_numpy()
    user = frame["user"].to_numpy() == 1

    # Scale each latent variable: its variance fixed to 1, or its first loading.
    if auto and std_lv:
        mask = (op == "~~") & (lhs == rhs) & np.isin(lhs, roles.lv)
        free[mask], value[mask] = False, 1.0
    if auto and not std_lv:
        mask = np.array([
            o == "=~" and first_indicator.get(left) == right
            for left, o, right in zip(lhs, op, rhs)
        ], dtype=bool)
        free[mask], value[mask] = False, 1.0

    # A single indicator measures its factor without error (auto.fix.single).
    if auto:
        mask = ((op == "~~") & (lhs == rhs) & np.isin(lhs, list(single_indicators))
                & ~user)
        free[mask], value[mask] = False, 0.0

    # Latent means are zero; observed intercepts are free (int.ov.free).
    if meanstructure:
        mask = (op == "~1") & np.isin(lhs, roles.lv) & ~user
        free[mask], value[mask] = False, 0.0

    # Moments of exogenous covariates are fixed at their sample values.
    if fixed_x and roles.ov_x:
        mask = ((op == "~~") & np.isin(lhs, roles.ov_x) & np.isin(rhs, roles.ov_x)
                & ~user)
        mask |= (op == "~1") & np.isin(lhs, roles.ov_x) & ~user
        free[mask], value[mask], exo[mask] = False, np.nan, 1

    # Identification of multi-group models with equality constraints
    # (lavaan's conventions): latent means are free in groups 2..G once
    # intercepts are equal but means are not; with std_lv and equal loadings,
    # latent variances are free in groups 2..G.
    group_index = frame["group"].to_numpy()
    group_equal = check_group_equal(group_equal)
    if ngroups > 1 and meanstructure and "intercepts" in group_equal \
            and "means" not in group_equal:
        mask = (op == "~1") & np.isin(lhs, roles.lv) & ~user & (group_index > 0)
        free[mask], value[mask] = True, np.nan
    if ngroups > 1 and std_lv and "loadings" in group_equal \
            and "lv.variances" not in group_equal:
        mask = (op == "~~") & (lhs == rhs) & np.isin(lhs, roles.lv) & ~user \
            & (group_index > 0)
        free[mask], value[mask] = True, np.nan

    # The user's modifiers override every default.
    for index, record in enumerate(records):
        if record["fixed"] is not None:
            free[index], value[index] = False, record["fixed"]
        elif record["free_forced"]:
            free[index], value[index] = True, np.nan
        if record["start"] is not None and free[index]:
            value[index] = record["start"]

    frame = frame.drop(columns=["fixed", "free_forced", "start"])
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["label"] = frame["label"].fillna("").astype(str)
    if ngroups > 1 and group_equal:
        frame["label"] = equality_labels(frame, free, roles, group_equal,
                                          check_group_partial(group_partial))
    frame["exo"] = exo
    frame["value"] = value
    frame["free"] = _number_free(frame, free)
    frame = frame[["id", "lhs", "op", "rhs", "group", "user", "free", "value",
                   "label", "exo", "line"]]
    _check_definitions(parsed, frame)
    return ParameterTable(frame, roles, parsed.definitions, ngroups, meanstructure)


GROUP_EQUAL_KINDS = (
    "loadings", "intercepts", "means", "thresholds", "regressions", "residuals",
    "residual.covariances", "lv.variances", "lv.covariances",
)


def check_group_equal(kinds) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = kinds.split(",")
    # An empty entry means no constraint, as lavaan's group.equal = "".
    kinds = [str(kind).strip() for kind in kinds if str(kind).strip()]
    unknown = [kind for kind in kinds if kind not in GROUP_EQUAL_KINDS]
    if unknown:
        raise ModelSpecificationError(
            f"unknown group_equal kind(s) {unknown}; choose from "
            f"{', '.join(GROUP_EQUAL_KINDS)}"
        )
    return tuple(kinds)


def check_group_partial(parameters) -> set[tuple[str, str, str]]:
    if isinstance(parameters, str):
        parameters = [part for part in parameters.split(",") if part.strip()]
    out = set()
    for text in parameters:
        for op in ("=~", "~~", "~1", "~", "|"):
            if op in text:
                left, right = text.split(op, 1)
                out.add((left.strip(), op, right.strip()))
                if op == "~~":
                    out.add((right.strip(), op, left.strip()))
                break
        else:
            raise ModelSpecificationError(
                f"cannot read the group_partial entry {text!r}; write it as in the "
                "model, e.g. 'visual =~ x2' or 'x3 ~1'"
            )
    return out


def _kind_of(lhs: str, op: str, rhs: str, roles: VariableRoles) -> str | None:
    lv = set(roles.lv)
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "|":
        return "thresholds"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    if op == "~~":
        if lhs in lv and rhs in lv:
            return "lv.variances" if lhs == rhs else "lv.covariances"
        if lhs not in lv and rhs not in lv:
            return "residuals" if lhs == rhs else "residual.covariances"
    return None


def equality_labels(frame, free, roles, group_equal, partial) -> list[str]:
    """Give the rows that group_equal constrains a shared label across groups.

    A free parameter of the first group keeps its own label or gets lavaan's
    ``.p<id>.`` label, and the same parameter in the other groups takes it
    over unless the user labelled it or listed it in group_partial.
    """
    labels = frame["label"].tolist()
    keys = list(zip(frame["lhs"], frame["op"], frame["rhs"]))
    groups = frame["group"].to_numpy()
    users = frame["user"].to_numpy()
    first_group = {}
    for row, key in enumerate(keys):
        if groups[row] == 0:
            first_group[key] = row
    for row, key in enumerate(keys):
        if groups[row] == 0 or key in partial:
            continue
        if _kind_of(*key, roles) not in group_equal:
            continue
        anchor = first_group.get(key)
        if anchor is None or not free[anchor] or not free[row]:
            continue
        if labels[row] and users[row] == 1 and labels[row] != labels[anchor]:
            continue
        if not labels[anchor]:
            labels[anchor] = f".p{frame['id'].iat[anchor]}."
        labels[row] = labels[anchor]
    return labels


def _row_from_term(term: FormulaTerm, group: int, ngroups: int) -> dict:
    fixed = _per_group(term.fixed, ngroups, term, "values")[group]
    label = _per_group(term.label, ngroups, term, "labels")[group]
    start = _per_group(term.start, ngroups, term, "start values")[group]
    return dict(lhs=term.lhs, op=term.op, rhs=term.rhs, group=group, user=1,
                fixed=fixed, free_forced=term.free, label=label, start=start,
                line=term.line)


def _number_free(frame: pd.DataFrame, free: np.ndarray) -> np.ndarray:
    """Number the free rows; rows with the same label share one number."""
    numbers = np.zeros(len(frame), dtype=int)
    by_label: dict[str, int] = {}
    counter = 0
    for index in np.flatnonzero(free):
        label = frame["label"].iat[index]
        if label and label in by_label:
            numbers[index] = by_label[label]
            continue
        counter += 1
        numbers[index] = counter
        if label:
            by_label[label] = counter
    return numbers


def _check_roles(terms: tuple[FormulaTerm, ...], roles: VariableRoles) -> None:
    for term in terms:
        if term.op == "=~" and term.lhs == term.rhs:
            raise ModelSyntaxError(
                f"line {term.line}: {term.text!r} makes {term.lhs!r} an indicator of "
                "itself"
            )
        if term.op == "~" and term.lhs == term.rhs:
            raise ModelSyntaxError(
                f"line {term.line}: {term.text!r} regresses {term.lhs!r} on itself"
            )


def _check_definitions(parsed: ParsedModel, frame: pd.DataFrame) -> None:
    labels = set(frame["label"]) - {""}
    defined: set[str] = set()
    for definition in parsed.definitions:
        if definition.name in labels:
            raise ModelSyntaxError(
                f"line {definition.line}: {definition.name!r} is already a parameter "
                "label; give the defined parameter another name"
            )
        unknown = [n for n in definition.expression.names
                   if n not in labels and n not in defined]
        if unknown:
            raise ModelSyntaxError(
                f"line {definition.line}: {definition.text!r} uses "
                f"{', '.join(map(repr, unknown))}, which no parameter carries as a "
                "label; label the parameters first (e.g. 'y ~ a*x')"
            )
        defined.add(definition.name)
