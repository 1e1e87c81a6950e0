"""Modification indices and expected parameter changes, as lavaan's ``modindices()``.

The model is extended by every parameter that lavaan 0.6.14 considers for
release: each fixed parameter of the model (marker loadings, fixed variances,
latent means) and each absent loading, residual covariance, regression and
intercept that ``lav_partable_full`` generates. Let I be the expected unit
information of the extended model at the estimate, which lavaan uses after
MLR, FIML or observed-information fits too, and g the gradient of lavaan's
``fmin`` (half the ML discrepancy). Partitioned into the new parameters (1)
and the free ones (2),

    V = I_11 - I_12 I_22^-1 I_21,   MI = N g_1^2 / diag V,   EPC = -g_1 / diag V

(Saris, Satorra & Sorbom, 1987; Sorbom, 1989). A parameter whose diag V is
below eps^(1/3) cannot be identified once freed (a marker loading, a feedback
path), so lavaan drops it, and so does this module. Under fixed.x, lavaan
also reports no MI for candidates that change the covariates' moments.
Standardized EPCs pass |EPC| through lavaan's std.lv and std.all maps with
the current estimates in place of the variances, and keep the EPC's sign.

fmin and I are those of the fit's own discrepancy, and N is the number of
rows it used. With sampling weights, fmin compares the model with the
weighted sample moments, while I depends on the implied moments only. A
cluster column changes neither. Under FIML, fmin is minus the observed-data
log-likelihood per case (relative to the EM-fitted saturated model), and I
sums the expected information of each missingness pattern at the implied
moments (lavaan 0.6.14, h1.information = "structured").

References
----------
Saris, W. E., Satorra, A., & Sorbom, D. (1987). The detection and correction
of specification errors in structural equation models. Sociological
Methodology, 17, 105-129.
Sorbom, D. (1989). Model modification. Psychometrika, 54(3), 371-384.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate import ml
from lio_validate.engine import FittedEngine, fitted_engine
from lio_validate.exceptions import LioInputError
from lio_validate.model import RamModel, build_ram_model
from lio_validate.partable import ParameterTable

__all__ = ["MODINDICES_COLUMNS", "ModificationIndices", "modindices"]

MODINDICES_COLUMNS = ("lhs", "op", "rhs", "group", "mi", "epc", "sepc_lv",
                      "sepc_all", "sepc_nox")

# lavaan 0.6.14 treats diag V below eps^(1/3) as zero: the parameter is not
# identified when freed (0.6-13 and earlier used eps^(1/2)).
_NOT_IDENTIFIED = np.finfo(float).eps ** (1 / 3)
_OPERATORS = ("=~", "~~", "~", "~1")


@dataclass(frozen=True)
class ModificationIndices:
    """Modification indices of the parameters a model could free.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate with :data:`MODINDICES_COLUMNS`; ``group`` is
        ``""`` for a single group. Rows are in lavaan's order unless sorted.
    nobs : int
        N used in MI = N g^2 / diag V.
    not_identified : int
        Candidates left out because freeing them would leave the model
        unidentified (diag V below eps^(1/3)) or would change the moments of
        fixed-x covariates, which lavaan treats as known.
    """

    table: pd.DataFrame
    nobs: int
    not_identified: int

    def summary(self, max_rows: int = 20) -> str:
        """Return the candidates with the largest MI as a text table."""
        top = self.table.sort_values("mi", ascending=False).head(max_rows)
        lines = [f"Modification indices (expected information, N = {self.nobs}); "
                 f"the {len(top)} largest of {len(self.table)}:", "",
                 f"  {'parameter':<40s}{'mi':>10s}{'epc':>10s}{'sepc_lv':>10s}"
                 f"{'sepc_all':>10s}"]
        for row in top.itertuples(index=False):
            name = f"{row.lhs} {row.op} {row.rhs}".rstrip()
            if row.group:
                name += f" [{row.group}]"
            lines.append(f"  {name:<40.40s}{row.mi:>10.3f}{row.epc:>10.3f}"
                         f"{row.sepc_lv:>10.3f}{row.sepc_all:>10.3f}")
        if self.not_identified:
            lines += ["", f"{self.not_identified} candidate(s) left out: freeing "
                      "them would leave the model unidentified or change the "
                      "moments of fixed-x covariates."]
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------


def _lower_triangle(names) -> list[tuple[str, str]]:
    # Column by column of the lower triangle, diagonal included: lavaan's order.
    return [(first, second) for j, first in enumerate(names) for second in names[j:]]


def _candidate_terms(table: ParameterTable) -> list[tuple[str, str, str]]:
    """Terms of one group in the order of lavaan's ``lav_partable_full``."""
    roles = table.roles
    frame = table.frame
    regressions = frame[frame["op"] == "~"]
    eqs = list(dict.fromkeys([*regressions["lhs"], *regressions["rhs"]]))
    ov_nox = [name for name in roles.ov if name not in roles.ov_x]
    terms: list[tuple[str, str, str]] = []

    # Loadings, except on variables that appear in regressions.
    terms += [(lv, "=~", ov) for lv in roles.lv for ov in ov_nox if ov not in eqs]

    # Residual covariances among indicators; lavaan 0.6-14 leaves out every
    # pair with an observed variable that indicates no factor.
    others = {name for name in roles.ov if name not in roles.ov_ind}
    terms += [(a, "~~", b) for a, b in _lower_triangle(ov_nox)
              if a not in others and b not in others]
    terms += [(a, "~~", b) for a, b in _lower_triangle(list(roles.ov_x))]
    terms += [(a, "~~", b) for a, b in _lower_triangle(list(roles.lv))]

    # Regressions among all variables that take part in regressions.
    terms += [(lhs, "~", rhs) for lhs in eqs for rhs in eqs
              if lhs != rhs and not (lhs in roles.ov_ind and rhs in roles.lv)]
    if table.meanstructure:
        terms += [(name, "~1", "") for name in (*roles.ov, *roles.lv)]
    return terms


def _key(lhs: str, op: str, rhs: str, group: int) -> tuple:
    if op == "~~":
        # NOTE: lavaan matches rows on lhs/op/rhs as written, so a user's
        # "y5 ~~ y1" would also get a candidate "y1 ~~ y5" there. Here the two
        # are the same parameter.
        lhs, rhs = sorted((lhs, rhs))
    return lhs, op, rhs, group


# --------------------------------------------------------------------------
# Extended model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Extended:
    model: RamModel
    x: np.ndarray
    frame: pd.DataFrame
    candidate_rows: np.ndarray


def _extend(engine: FittedEngine) -> _Extended:
    """Free every fixed row and append every absent candidate, as lavaan does."""
    model = engine.model
    table = model.table
    frame = table.frame.copy()
    frame["value"] = model.values.copy()
    npar = model.npar

    fixed_rows = np.flatnonzero((frame["free"].to_numpy() == 0)
                                & frame["op"].isin(_OPERATORS).to_numpy())
    free = frame["free"].to_numpy().copy()
    free[fixed_rows] = npar + 1 + np.arange(len(fixed_rows))
    frame["free"] = free

    existing = {_key(l, o, r, g) for l, o, r, g in
                zip(frame["lhs"], frame["op"], frame["rhs"], frame["group"])}
    new_records = []
    for group in range(table.ngroups):
        for lhs, op, rhs in _candidate_terms(table):
            key = _key(lhs, op, rhs, group)
            if key in existing:
                continue
            existing.add(key)
            new_records.append({"lhs": lhs, "op": op, "rhs": rhs, "group": group,
                                "user": 10, "value": 0.0, "label": "", "exo": 0,
                                "line": 0})
    added = pd.DataFrame.from_records(new_records, columns=[
        "lhs", "op", "rhs", "group", "user", "value", "label", "exo", "line"])
    start = int(free.max()) + 1 if len(free) else 1
    added["free"] = np.arange(start, start + len(added))
    added["id"] = np.arange(len(frame) + 1, len(frame) + 1 + len(added))
    extended = pd.concat([frame, added[frame.columns]], ignore_index=True)

    extended_table = ParameterTable(extended, table.roles, table.definitions,
                                    table.ngroups, table.meanstructure)
    stats = engine.stats
    extended_model = build_ram_model(extended_table, stats)
    # Fixed-x rows are free now, so their values come from x below. Every row
    # value equals the fitted model's, and the new rows start at zero.
    values = extended["value"].to_numpy(dtype=float)
    x = np.zeros(int(extended["free"].max()))
    positions = extended["free"].to_numpy() - 1
    mask = positions >= 0
    x[positions[mask]] = values[mask]
    x[:npar] = engine.x
    candidate_rows = np.concatenate([fixed_rows,
                                     len(frame) + np.arange(len(added))])
    return _Extended(extended_model, x, extended, candidate_rows)


# --------------------------------------------------------------------------
# Score test
# --------------------------------------------------------------------------


def _score_statistics(extended: _Extended, stats, npar: int, objective=None):
    # objective: the fit's discrepancy for the extended model (FittedEngine.
    # objective); by default the ML discrepancy of the complete-data moments.
    if objective is None:
        objective = ml.MLObjective(extended.model, stats)
    information = objective.information(extended.x)
    gradient = objective.gradient(extended.x)
    new = np.arange(npar, len(extended.x))
    old = np.arange(npar)
    I11 = information[np.ix_(new, new)]
    I12 = information[np.ix_(new, old)]
    I22 = information[np.ix_(old, old)]
    V = I11 - I12 @ np.linalg.solve(I22, I12.T)
    diag = np.diag(V).copy()
    identified = diag >= _NOT_IDENTIFIED
    diag[~identified] = np.nan
    g = gradient[new]
    mi = stats.nobs * g**2 / diag
    epc = -g / diag
    return mi, epc, identified


def _standardize_epc(engine: FittedEngine, frame: pd.DataFrame, rows: np.ndarray,
                     epc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lavaan's std.lv / std.all / std.all.nox maps applied to |EPC|, sign kept.

    Residual covariances are divided by the square roots of the current
    variance estimates (lavaan's ``cov.std = TRUE``), other rows use the
    model-implied total standard deviations at the estimate.
    """
    model = engine.model
    roles = model.table.roles
    lv, ov_x = set(roles.lv), set(roles.ov_x)
    values = model.row_values(engine.x)
    base = model.table.frame
    out_lv, out_all, out_nox = (np.full(len(rows), np.nan) for _ in range(3))

    for group in range(model.table.ngroups):
        moments = model.implied(engine.x, group)
        total = np.diag(moments.B @ moments.S @ moments.B.T)
        with np.errstate(invalid="ignore"):
            sd = dict(zip(model.variables, np.sqrt(np.where(total > 0, total, np.nan))))
        variance = dict(zip(model.variables, total))
        in_group = (base["group"] == group) & (base["op"] == "~~") \
            & (base["lhs"] == base["rhs"])
        residual_sd = {name: np.sqrt(abs(value)) for name, value in
                       zip(base.loc[in_group, "lhs"], values[in_group.to_numpy()])}

        for k, row in enumerate(rows):
            if frame["group"].iat[row] != group:
                continue
            lhs, op, rhs = frame["lhs"].iat[row], frame["op"].iat[row], \
                frame["rhs"].iat[row]
            value = abs(epc[k])
            if op == "~~" and lhs == rhs and value < np.sqrt(np.finfo(float).eps):
                out_lv[k] = out_all[k] = out_nox[k] = 0.0
                continue
            std_lv, std_all, std_nox = _standardize_row(
                lhs, op, rhs, value, lv, ov_x, sd, variance, residual_sd)
            sign = np.sign(epc[k])
            out_lv[k], out_all[k], out_nox[k] = sign * std_lv, sign * std_all, \
                sign * std_nox
    return out_lv, out_all, out_nox


def _standardize_row(lhs, op, rhs, value, lv, ov_x, sd, variance, residual_sd):
    std_lv = value
    if op == "=~":
        std_lv = value * sd[lhs] / (sd[rhs] if rhs in lv else 1.0)
        std_all = std_lv / sd[rhs] if rhs not in lv else std_lv
        return std_lv, std_all, std_all
    if op == "~":
        std_lv = value
        if lhs in lv:
            std_lv = std_lv / sd[lhs]
        if rhs in lv:
            std_lv = std_lv * sd[rhs]
        scale_lhs = 1.0 if lhs in lv else sd[lhs]
        std_all = std_lv / scale_lhs * (1.0 if rhs in lv else sd[rhs])
        std_nox = std_lv / scale_lhs * (1.0 if rhs in lv or rhs in ov_x else sd[rhs])
        return std_lv, std_all, std_nox
    if op == "~~" and lhs == rhs:
        if lhs in lv:
            std_lv = value / variance[lhs]
            return std_lv, std_lv, std_lv
        std_all = value / variance[lhs]
        return value, std_all, value if lhs in ov_x else std_all
    if op == "~~":
        # Each side is divided by its residual SD: latent sides in std.lv,
        # observed sides in std.all.
        std_lv = value
        for name in (lhs, rhs):
            if name in lv:
                std_lv = std_lv / residual_sd[name]
        std_all = std_lv
        for name in (lhs, rhs):
            if name not in lv:
                std_all = std_all / residual_sd[name]
        std_nox = std_all if not (lhs in ov_x or rhs in ov_x) else std_lv
        return std_lv, std_all, std_nox
    # Intercepts and latent means.
    std_lv = value / sd[lhs] if lhs in lv else value
    std_all = std_lv if lhs in lv else value / sd[lhs]
    return std_lv, std_all, std_lv if lhs in ov_x else std_all


def modindices(
    fit, data=None, *, sort: bool = False, minimum_value: float = 0.0,
    op: str | tuple[str, ...] | None = None,
) -> ModificationIndices:
    """Compute modification indices and (standardized) expected parameter changes.

    Parameters
    ----------
    fit : SEMResult
        A model fitted with ML, MLR or MLM, optionally with sampling weights,
        a cluster column or ``missing="fiml"``.
    data : pandas.DataFrame, optional
        The data the model was fitted to. Only fits with several groups or a
        mean structure need it, because the fit does not store their sample
        means and group sizes; clustered and FIML fits always have a mean
        structure.
    sort : bool, default False
        Sort by decreasing MI; otherwise lavaan's row order.
    minimum_value : float, default 0.0
        Keep only rows with an MI above this value.
    op : str or tuple of str, optional
        Keep only these operators (``"=~"``, ``"~~"``, ``"~"``, ``"~1"``).

    Returns
    -------
    ModificationIndices

    References
    ----------
    Sorbom, D. (1989). Model modification. Psychometrika, 54(3), 371-384.
    """
    operators = (op,) if isinstance(op, str) else op
    if operators is not None and not set(operators) <= set(_OPERATORS):
        raise LioInputError(
            f"unknown operator(s) in op={op!r}; choose from {', '.join(_OPERATORS)}"
        )
    engine = fitted_engine(fit, data)
    stats = engine.require_stats("modindices()")

    extended = _extend(engine)
    mi, epc, identified = _score_statistics(extended, stats, engine.model.npar,
                                            engine.objective(extended.model))
    rows = extended.candidate_rows
    sepc_lv, sepc_all, sepc_nox = _standardize_epc(engine, extended.frame, rows, epc)

    frame = extended.frame
    group_names = engine.group_names
    table = pd.DataFrame({
        "lhs": frame["lhs"].to_numpy()[rows],
        "op": frame["op"].to_numpy()[rows],
        "rhs": frame["rhs"].to_numpy()[rows],
        "group": [group_names[g] if len(group_names) > 1 else ""
                  for g in frame["group"].to_numpy()[rows]],
        "mi": mi, "epc": epc, "sepc_lv": sepc_lv, "sepc_all": sepc_all,
        "sepc_nox": sepc_nox,
    })
    keep = identified & ~_fixed_x_rows(engine, frame, rows)
    table = table[keep].reset_index(drop=True)
    if operators is not None:
        table = table[table["op"].isin(operators)]
    if minimum_value > 0:
        table = table[table["mi"] > minimum_value]
    if sort:
        table = table.sort_values("mi", ascending=False, kind="stable")
    return ModificationIndices(table.reset_index(drop=True), int(stats.nobs),
                               int((~keep).sum()))


def _fixed_x_rows(engine: FittedEngine, frame: pd.DataFrame,
                  rows: np.ndarray) -> np.ndarray:
    """Candidates that change the moments of fixed-x covariates.

    lavaan 0.6.14 treats those moments as known under fixed.x = TRUE and
    reports no MI for such a candidate (NA, then dropped): the covariates'
    variances and covariances, and regressions of a covariate on anything.
    """
    fixed_x = set(engine.model.table.frame.loc[
        engine.model.table.frame["exo"] == 1, "lhs"])
    lhs = frame["lhs"].to_numpy()[rows]
    op = frame["op"].to_numpy()[rows]
    rhs = frame["rhs"].to_numpy()[rows]
    touches = np.array([
        (o in ("~", "~1") and left in fixed_x)
        or (o == "~~" and (left in fixed_x or right in fixed_x))
        for left, o, right in zip(lhs, op, rhs)
    ], dtype=bool)
    return touches if len(touches) else np.zeros(0, dtype=bool)
