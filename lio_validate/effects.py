"""Direct, indirect and total effects of one variable on another.

Every directed path from the predictor to the outcome through the model's
regressions (``~``) and loadings (``=~``) is listed with its effect, the
product of the coefficients along it. The total effect is the sum over all
paths. It is computed as the (outcome, predictor) element of (I - A)^-1 - I,
with A the matrix of direct effects, and the total indirect effect is the
total minus the direct effect (Bollen, 1987). Standard errors follow by the
delta method, J V J' with J the numerical Jacobian of the effects with
respect to the free parameters and V their covariance matrix. lavaan 0.6
applies the same rule to defined parameters (``:=``), so a path written as
``ind := a*b`` gets the same estimate and SE from both. Standardized effects
multiply by sd(predictor) / sd(outcome) with model-implied total standard
deviations, which equals the product of the standardized coefficients along
the path.

References
----------
Bollen, K. A. (1987). Total, direct, and indirect effects in structural
equation models. Sociological Methodology, 17, 37-69.
Sobel, M. E. (1982). Asymptotic confidence intervals for indirect effects in
structural equation models. Sociological Methodology, 13, 290-312.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lio_validate.data_prep import group_label
from lio_validate.engine import FittedEngine, fitted_engine
from lio_validate.exceptions import LioInputError, LioWarning
from lio_validate.model import RamModel

__all__ = [
    "EffectsResult",
    "NonRecursiveWarning",
    "effect_function",
    "enumerate_paths",
    "indirect_effects",
]

# Largest number of specific paths listed for one predictor-outcome pair. A
# dense model can have exponentially many, and their sum is the total anyway.
MAX_PATHS = 500

EFFECT_COLUMNS = ("group", "path", "kind", "est", "se", "z", "pvalue", "ci_lower",
                  "ci_upper", "std_lv", "std_all")


class NonRecursiveWarning(LioWarning):
    """The paths between predictor and outcome contain a feedback loop."""


@dataclass(frozen=True)
class EffectsResult:
    """Effects of ``predictor`` on ``outcome``.

    Attributes
    ----------
    predictor, outcome : str
        The variables, as named in the model.
    table : pandas.DataFrame
        One row per effect and group with the columns :data:`EFFECT_COLUMNS`.
        ``kind`` is ``"direct"``, ``"indirect"`` (one specific path),
        ``"total indirect"`` or ``"total"``.
    level : float
        Confidence level of ``ci_lower`` and ``ci_upper``.
    paths : tuple of tuple of str
        The specific indirect paths, each from predictor to outcome.
    recursive : bool
        False when a feedback loop makes the list of specific paths infinite;
        then only the direct, total indirect and total rows are given.
    """

    predictor: str
    outcome: str
    table: pd.DataFrame
    level: float
    paths: tuple[tuple[str, ...], ...]
    recursive: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """Return the effects as a fixed-width text table."""
        percent = f"{100 * self.level:g}%"
        lines = [f"Effects of {self.predictor} on {self.outcome} "
                 f"(delta-method SEs, {percent} Wald intervals)", ""]
        header = (f"  {'path':<48s}{'est':>9s}{'se':>9s}{'z':>9s}{'pvalue':>9s}"
                  f"{'ci_lower':>10s}{'ci_upper':>10s}{'std_all':>9s}")
        for group, block in self.table.groupby("group", sort=False):
            if group:
                lines.append(f"Group [{group}]:")
            lines.append(header)
            for row in block.itertuples(index=False):
                label = row.path if row.kind in ("direct", "indirect") else row.kind
                cells = [row.est, row.se, row.z, row.pvalue, row.ci_lower,
                         row.ci_upper, row.std_all]
                widths = [9, 9, 9, 9, 10, 10, 9]
                lines.append(f"  {label:<48.48s}" + "".join(
                    f"{_format(value):>{width}s}" for value, width in zip(cells, widths)
                ))
            lines.append("")
        lines += [f"Note: {text}" for text in self.notes]
        return "\n".join(lines).rstrip()


def _format(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.3f}"


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------


def _direct_effect_pattern(model: RamModel, group: int) -> np.ndarray:
    """Boolean matrix D with D[i, j] true where j has a direct effect on i."""
    index = model.groups[group]
    values = model.values[index.rows]
    free = model.free_index[index.rows] >= 0
    is_path = (index.matrix == 0) & (free | (values != 0))
    n = len(model.variables)
    pattern = np.zeros((n, n), dtype=bool)
    pattern[index.i[is_path], index.j[is_path]] = True
    return pattern


def enumerate_paths(
    pattern: np.ndarray, source: int, target: int, max_paths: int = MAX_PATHS
) -> tuple[list[list[int]], bool]:
    """List the simple directed paths from ``source`` to ``target``.

    Parameters
    ----------
    pattern : numpy.ndarray of bool, shape (n, n)
        ``pattern[i, j]`` is true where j has a direct effect on i.
    source, target : int
        Positions of the predictor and the outcome.
    max_paths : int
        The search stops with an error beyond this many paths.

    Returns
    -------
    (list of list of int, bool)
        The paths as position lists, and whether the variables on them are
        free of feedback loops (a loop makes the set of walks infinite).
    """
    children = [np.flatnonzero(pattern[:, j]).tolist() for j in range(len(pattern))]
    reaches_target = _ancestors(pattern, target) | {target}
    between = reaches_target & (_ancestors(pattern.T, source) | {source})
    recursive = not _has_cycle(pattern, between)
    paths: list[list[int]] = []

    def walk(node: int, trail: list[int]) -> None:
        if node == target:
            paths.append(list(trail))
            return
        for child in children[node]:
            if child not in reaches_target or child in trail:
                continue
            if len(paths) >= max_paths:
                raise LioInputError(
                    f"more than {max_paths} paths lead from the predictor to the "
                    "outcome; choose a predictor and outcome closer together"
                )
            trail.append(child)
            walk(child, trail)
            trail.pop()

    walk(source, [source])
    return paths, recursive


def _has_cycle(pattern: np.ndarray, nodes: set[int]) -> bool:
    """Return whether the direct effects among ``nodes`` form a loop (Kahn's sort)."""
    members = sorted(nodes)
    sub = pattern[np.ix_(members, members)]
    remaining = set(range(len(members)))
    while remaining:
        sources = [k for k in remaining if not sub[k, list(remaining)].any()]
        if not sources:
            return True
        remaining -= set(sources)
    return False


def _ancestors(pattern: np.ndarray, node: int) -> set[int]:
    found: set[int] = set()
    frontier = [node]
    while frontier:
        current = frontier.pop()
        for parent in np.flatnonzero(pattern[current]).tolist():
            if parent not in found:
                found.add(parent)
                frontier.append(parent)
    return found


# --------------------------------------------------------------------------
# Effects as functions of the free parameters
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _EffectRow:
    group: int
    kind: str
    path: tuple[int, ...]


def _effect_rows(model: RamModel, source: int, target: int, groups) -> tuple[
        list[_EffectRow], list[list[int]], bool]:
    rows: list[_EffectRow] = []
    all_recursive = True
    listed_paths: list[list[int]] = []
    for group in groups:
        pattern = _direct_effect_pattern(model, group)
        paths, recursive = enumerate_paths(pattern, source, target)
        all_recursive &= recursive
        if pattern[target, source]:
            rows.append(_EffectRow(group, "direct", (source, target)))
        indirect = [p for p in paths if len(p) > 2]
        if recursive:
            rows += [_EffectRow(group, "indirect", tuple(p)) for p in indirect]
        if not listed_paths:
            listed_paths = indirect
        rows.append(_EffectRow(group, "total indirect", ()))
        rows.append(_EffectRow(group, "total", ()))
    return rows, listed_paths, all_recursive


def _evaluate(model: RamModel, x: np.ndarray, rows: list[_EffectRow],
              source: int, target: int, scale: str | None) -> np.ndarray:
    out = np.empty(len(rows))
    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k, row in enumerate(rows):
        if row.group not in cache:
            A, S, _ = model.matrices(x, row.group)
            B = np.linalg.solve(np.eye(len(A)) - A, np.eye(len(A)))
            total_sd = np.sqrt(np.clip(np.diag(B @ S @ B.T), 0.0, None))
            cache[row.group] = (A, B, total_sd)
        A, B, total_sd = cache[row.group]
        if row.kind in ("direct", "indirect"):
            value = float(np.prod([A[b, a] for a, b in zip(row.path, row.path[1:])]))
        elif row.kind == "total":
            value = float(B[target, source])
        else:
            value = float(B[target, source] - A[target, source])
        out[k] = value * _scale_factor(model, total_sd, source, target, scale)
    return out


def _scale_factor(model: RamModel, total_sd: np.ndarray, source: int, target: int,
                  scale: str | None) -> float:
    if scale is None:
        return 1.0
    sd = total_sd.copy()
    if scale == "std_lv":
        # std.lv rescales latent variables only; observed ones keep their units.
        sd[: model.nobserved] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(sd[source] / sd[target])


def effect_function(
    engine: FittedEngine, predictor: str, outcome: str, *,
    group: str | None = None, scale: str | None = None,
) -> tuple[list[str], Callable[[np.ndarray], np.ndarray]]:
    """Return row names and a function x -> effects, for the bootstrap.

    ``scale`` is None (unstandardized), ``"std_lv"`` or ``"std_all"``.
    """
    model = engine.model
    source, target = _positions(model, predictor, outcome)
    rows, _, _ = _effect_rows(model, source, target, _groups(engine, group))
    names = [_row_name(model, row, engine.group_names) for row in rows]

    def function(x: np.ndarray) -> np.ndarray:
        return _evaluate(model, x, rows, source, target, scale)

    return names, function


def _row_name(model: RamModel, row: _EffectRow, group_names) -> str:
    label = " -> ".join(model.variables[k] for k in row.path) \
        if row.kind in ("direct", "indirect") else row.kind
    return f"{label} [{group_names[row.group]}]" if len(group_names) > 1 else label


def _positions(model: RamModel, predictor: str, outcome: str) -> tuple[int, int]:
    position = {name: k for k, name in enumerate(model.variables)}
    for role, name in (("predictor", predictor), ("outcome", outcome)):
        if name not in position:
            raise LioInputError(
                f"the {role} {name!r} is not a variable of the model; choose one "
                f"of {', '.join(model.variables)}"
            )
    if predictor == outcome:
        raise LioInputError(
            f"predictor and outcome are both {predictor!r}; choose two different "
            "variables"
        )
    return position[predictor], position[outcome]


def _groups(engine: FittedEngine, group: str | None) -> list[int]:
    if group is None:
        return list(range(len(engine.group_names)))
    names = [str(name) for name in engine.group_names]
    # group_label() names 7.0 and 7 both "7", as the fit named the groups.
    label = group_label(group)
    if label not in names:
        raise LioInputError(
            f"unknown group {group!r}; the model was fitted to the groups "
            f"{', '.join(map(repr, names))}"
        )
    return [names.index(label)]


# --------------------------------------------------------------------------
# Delta method
# --------------------------------------------------------------------------


def numerical_jacobian(function: Callable[[np.ndarray], np.ndarray],
                       x: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian with the step rule of ``inference``.

    The step is 1e-6 max(1, |x_k|), as for the defined parameters of a fit,
    whose SEs agree with lavaan's complex-step values to about 1e-9.
    """
    base = np.asarray(function(x))
    jacobian = np.zeros((len(base), len(x)))
    for k in range(len(x)):
        step = 1e-6 * max(1.0, abs(x[k]))
        offset = np.zeros(len(x))
        offset[k] = step
        jacobian[:, k] = (np.asarray(function(x + offset))
                          - np.asarray(function(x - offset))) / (2 * step)
    return jacobian


def delta_method_se(function: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                    vcov: np.ndarray) -> np.ndarray:
    """Standard errors sqrt(diag(J V J')) of ``function`` at ``x``."""
    jacobian = numerical_jacobian(function, x)
    variance = np.einsum("ij,jk,ik->i", jacobian, vcov, jacobian)
    return np.sqrt(np.clip(variance, 0.0, None))


def indirect_effects(
    fit, predictor: str, outcome: str, *, group: str | None = None,
    level: float = 0.95,
) -> EffectsResult:
    """List every direct and indirect effect of ``predictor`` on ``outcome``.

    Parameters
    ----------
    fit : SEMResult
        A fitted model.
    predictor, outcome : str
        Variable names (latent or observed).
    group : str, optional
        Restrict a multi-group fit to one group; by default every group.
    level : float, default 0.95
        Confidence level of the Wald intervals est +- z se.

    Returns
    -------
    EffectsResult
        ``table`` has one row per specific path (``kind`` "direct" or
        "indirect") and the "total indirect" and "total" rows, with
        delta-method SEs and standardized values.

    Notes
    -----
    With a feedback loop on the way from predictor to outcome, specific
    paths are not listed (there are infinitely many walks) and a
    :class:`NonRecursiveWarning` is issued. The total effect is then
    ((I - A)^-1 - I)[outcome, predictor], which is the sum of the series of
    walks only when it converges (Bollen, 1987).

    References
    ----------
    Bollen, K. A. (1987). Total, direct, and indirect effects in structural
    equation models. Sociological Methodology, 17, 37-69.
    """
    if not 0 < level < 1:
        raise LioInputError(f"level must lie between 0 and 1, not {level!r}")
    engine = fitted_engine(fit)
    model = engine.model
    source, target = _positions(model, predictor, outcome)
    rows, paths, recursive = _effect_rows(model, source, target,
                                          _groups(engine, group))
    notes: list[str] = []
    if not recursive:
        text = (f"a feedback loop lies between {predictor!r} and {outcome!r}, so "
                "specific indirect paths are not listed; the total effect assumes "
                "the loop converges")
        warnings.warn(text, NonRecursiveWarning, stacklevel=2)
        notes.append(text)

    def raw(x: np.ndarray) -> np.ndarray:
        return _evaluate(model, x, rows, source, target, None)

    est = raw(engine.x)
    se = delta_method_se(raw, engine.x, engine.vcov)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    critical = scipy_stats.norm.ppf(0.5 + level / 2)
    group_names = engine.group_names
    table = pd.DataFrame({
        "group": [group_names[r.group] if len(group_names) > 1 else "" for r in rows],
        "path": [_row_name(model, r, ("",)) for r in rows],
        "kind": [r.kind for r in rows],
        "est": est,
        "se": se,
        "z": z,
        "pvalue": 2.0 * scipy_stats.norm.sf(np.abs(z)),
        "ci_lower": est - critical * se,
        "ci_upper": est + critical * se,
        "std_lv": _evaluate(model, engine.x, rows, source, target, "std_lv"),
        "std_all": _evaluate(model, engine.x, rows, source, target, "std_all"),
    })
    named_paths = tuple(tuple(model.variables[k] for k in p) for p in paths)
    return EffectsResult(predictor, outcome, table, level, named_paths, recursive,
                         tuple(notes))
