"""Partial invariance: score tests for equality constraints and a release search.

:func:`score_tests` computes lavaan's ``lavTestScore``. Each equality
constraint across groups makes a parameter of group g equal to that of the
first group, and the score (Lagrange multiplier) test measures how much
releasing it would improve the fit. Per parameter, a joint test releases
it in every group (df G - 1).

The statistic needs the gradient and the information in the parameter space
where the constrained pair is separated. That space is built from the fit's
own parameter table with every constrained parameter listed in
``group_partial``; the constrained estimate maps into it unchanged. With g
the gradient of fmin and I the expected unit information there, N0 the
columns spanning the constrained model and D the released directions,

    X2 = N [u; v]' M^-1 [u; v],   M = [[N0' I N0, N0' I D], [D' I N0, D' I D]],

u = N0' g and v = D' g. That is the top-left block of the inverse of
lavaan's bordered matrix [[I, R1'], [R1, 0]], with R1 the constraints kept,
written without the unconstrained information, which is singular for
scalar models. The expected parameter change of a released direction is
-S^-1 (v - B' A^-1 u), with A = N0' I N0, B = N0' I D and the Schur
complement S = D' I D - B' A^-1 B.

:func:`partial_invariance` releases constraints one at a time, the largest
significant score test first (after a multiplicity adjustment, Holm by
default), refitting after each release, until the decision rule accepts the
level or no constraint is significant.

References
----------
Byrne, B. M., Shavelson, R. J., & Muthen, B. (1989). Testing for the
equivalence of factor covariance and mean structures: The issue of partial
measurement invariance. Psychological Bulletin, 105(3), 456-466.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
Scandinavian Journal of Statistics, 6(2), 65-70.
Sorbom, D. (1989). Model modification. Psychometrika, 54(3), 371-384.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from lio_validate.api import sem
from lio_validate.effect_sizes import DMACSResult, dmacs, equal_across_groups
from lio_validate.engine import fitted_engine
from lio_validate.exceptions import LioInputError, LioWarning
from lio_validate.invariance import (
    DecisionRule,
    check_groups,
    compare_rows,
    level_row,
    resolve_levels,
)
from lio_validate.model import build_ram_model
from lio_validate.partable import build_parameter_table
from lio_validate.syntax import parse_model

__all__ = [
    "PartialInvarianceResult",
    "ScoreTests",
    "parameter_text",
    "partial_invariance",
    "score_tests",
]

# Smallest Schur complement, relative to the largest diagonal entry of the
# information, for which a released direction counts as identified.
_IDENTIFIED_TOLERANCE = 1e-10

_ADJUST_METHODS = ("holm", "bonferroni", "hommel", "fdr_bh", "none")


def parameter_text(lhs: str, op: str, rhs: str) -> str:
    """Write a parameter as lavaan syntax names it: ``"A1 ~1"``, ``"A =~ A2"``."""
    return f"{lhs} ~1" if op == "~1" else f"{lhs} {op} {rhs}"


@dataclass(frozen=True)
class ScoreTests:
    """Score tests for releasing equality constraints across groups.

    Attributes
    ----------
    univariate : pandas.DataFrame
        One row per constraint (lavaan's ``lavTestScore(fit)$uni``):
        ``parameter, lhs, op, rhs, kind, group, reference_group, X2, df,
        pvalue, pvalue_adjusted, epc``. ``group`` is the group whose
        parameter the test releases from equality with ``reference_group``
        (the first group). ``epc`` is the expected difference between the
        two after the release.
    by_parameter : pandas.DataFrame
        One row per constrained parameter, the joint test of releasing it in
        every group: ``parameter, lhs, op, rhs, kind, X2, df, pvalue,
        pvalue_adjusted``.
    adjust : str
        The multiplicity adjustment of ``pvalue_adjusted``, applied within
        each table over its rows (statsmodels' ``multipletests`` method).
    nobs : int
    """

    univariate: pd.DataFrame
    by_parameter: pd.DataFrame
    adjust: str
    nobs: int

    def summary(self, n: int = 10) -> str:
        """Return the ``n`` largest parameter tests as readable text."""
        top = self.by_parameter.sort_values("X2", ascending=False).head(n)
        lines = [
            (f"Score tests for releasing equality constraints (N = {self.nobs}; "
             f"p-values adjusted by {self.adjust}):"),
            "",
            f"  {'parameter':<24s}{'X2':>10s}{'df':>4s}{'p':>10s}{'p adj':>10s}",
        ]
        for row in top.itertuples(index=False):
            lines.append(f"  {row.parameter:<24s}{row.X2:>10.3f}{int(row.df):>4d}"
                         f"{row.pvalue:>10.4f}{row.pvalue_adjusted:>10.4f}")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# The separated parameter space
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReleaseSpace:
    gradient: np.ndarray          # of fmin, in the separated space
    information: np.ndarray       # expected unit information there
    embedding: np.ndarray         # N0: constrained -> separated parameters
    constraints: pd.DataFrame     # one row per constraint, with its column
    nobs: int


def _release_space(fit, data) -> _ReleaseSpace:
    options = fit.options
    if fit.estimator not in ("ML", "MLR", "MLM"):
        raise LioInputError(
            f"score tests are available for ML, MLR and MLM fits, not "
            f"{fit.estimator!r}; refit the items as continuous to test constraints"
        )
    design = [f"{name}={options[name]!r}" for name in ("weights", "cluster")
              if options.get(name)]
    if design:
        # NOTE: fitted_engine would give the weighted gradient and information
        # that modindices() uses. These fits stay rejected because no lavaan
        # reference of lavTestScore with a sampling design checks them yet.
        raise LioInputError(
            f"score tests are not available for fits with {' and '.join(design)}; "
            "refit without weights= and cluster= to test the constraints"
        )
    if fit.ngroups < 2:
        raise LioInputError("score tests for equality constraints need a multi-group "
                            "fit (group=COL with group_equal=...)")
    parsed = parse_model(fit.model_text)
    build = {"ngroups": fit.ngroups, "std_lv": bool(options["std_lv"]),
                 "meanstructure": bool(options["meanstructure"]),
                 "fixed_x": bool(options["fixed_x"]),
                 "group_equal": list(options.get("group_equal", ()))}
    partial = list(options.get("group_partial", ()))
    constrained = build_parameter_table(parsed, group_partial=partial, **build)
    frame_c = constrained.frame
    columns = ["lhs", "op", "rhs", "group", "free"]
    if not frame_c[columns].reset_index(drop=True).equals(
            fit.parameter_table[columns].reset_index(drop=True)):
        raise LioInputError(
            "the parameter table rebuilt from the fit's model text differs from "
            "the fit's own; refit the model with this version of lio_validate"
        )

    # Constraints: rows of groups 2..G sharing the free parameter of group 1
    # through an equality label that group_equal created.
    keys = list(zip(frame_c["lhs"], frame_c["op"], frame_c["rhs"]))
    groups = frame_c["group"].to_numpy()
    free_c = frame_c["free"].to_numpy()
    labels = frame_c["label"].tolist()
    first = {key: row for row, key in enumerate(keys) if groups[row] == 0}
    released_keys, pairs = [], []
    for row, key in enumerate(keys):
        anchor = first.get(key)
        if groups[row] == 0 or anchor is None or free_c[row] == 0:
            continue
        if free_c[row] == free_c[anchor] and labels[row].startswith(".p"):
            pairs.append((row, anchor))
            if key not in released_keys:
                released_keys.append(key)
    if not pairs:
        raise LioInputError(
            "the fit constrains no parameter to be equal across groups through "
            "group_equal, so there is no constraint to release; fit a metric or "
            "scalar model"
        )

    separated = build_parameter_table(
        parsed, group_partial=partial + [parameter_text(*key) for key in released_keys],
        **build)
    free_e = separated.frame["free"].to_numpy()
    if not np.array_equal(free_e > 0, free_c > 0):
        raise LioInputError(
            "releasing the equality constraints changed which parameters are free; "
            "score tests are not available for this model"
        )

    # Sample moments (EM moments and missingness patterns under FIML),
    # checked against the fit.
    engine = fitted_engine(fit, data)
    stats = engine.stats

    # N0 maps constrained to separated parameters; the estimate maps along.
    embedding = np.zeros((int(free_e.max()), int(free_c.max())))
    rows = np.flatnonzero(free_c > 0)
    embedding[free_e[rows] - 1, free_c[rows] - 1] = 1.0
    if np.any(embedding.sum(axis=1) != 1.0):
        raise LioInputError(
            "a parameter of the separated model maps to several constrained ones; "
            "score tests are not available for this model"
        )
    estimates = fit.estimates["est"].to_numpy(dtype=float)[: len(frame_c)]
    x_constrained = np.zeros(embedding.shape[1])
    x_constrained[free_c[rows] - 1] = estimates[rows]
    x = embedding @ x_constrained

    # The fit's discrepancy in the separated space: lavTestScore takes the
    # gradient of fmin and the expected information, the FIML ones under
    # missing="fiml" (lavaan 0.6.14, information = "expected").
    objective = engine.objective(build_ram_model(separated, stats))
    gradient = objective.gradient(x)
    information = objective.information(x)

    names = fit.group_names
    records = []
    # lavaan's order: parameter by parameter, then group by group.
    pairs.sort(key=lambda pair: (released_keys.index(keys[pair[0]]), groups[pair[0]]))
    for row, anchor in pairs:
        lhs, op, rhs = keys[row]
        records.append({
            "parameter": parameter_text(lhs, op, rhs), "lhs": lhs, "op": op,
            "rhs": rhs, "kind": _kind(fit, lhs, op, rhs),
            "group": names[groups[row]], "reference_group": names[groups[anchor]],
            "column": int(free_e[row] - 1),
        })
    return _ReleaseSpace(gradient, information, embedding, pd.DataFrame(records),
                         stats.nobs)


def _kind(fit, lhs: str, op: str, rhs: str) -> str:
    latent = set(fit.latent_variables)
    if op == "=~":
        return "loadings"
    if op == "~1":
        return "means" if lhs in latent else "intercepts"
    if op == "~":
        return "regressions"
    if lhs in latent and rhs in latent:
        return "lv.variances" if lhs == rhs else "lv.covariances"
    return "residuals" if lhs == rhs else "residual.covariances"


class _ScoreStatistic:
    """Score statistics for sets of released directions, sharing one factorization."""

    def __init__(self, space: _ReleaseSpace) -> None:
        info, embedding = space.information, space.embedding
        columns = space.constraints["column"].to_numpy()
        self.nobs = space.nobs
        self.scale = float(np.max(np.abs(np.diag(info))))
        reduced = embedding.T @ info @ embedding
        self.factor = linalg.cho_factor(reduced)
        self.u = embedding.T @ space.gradient
        self.a_u = linalg.cho_solve(self.factor, self.u)
        self.cross = embedding.T @ info[:, columns]          # B, one column each
        self.a_cross = linalg.cho_solve(self.factor, self.cross)
        self.within = info[np.ix_(columns, columns)]          # D' I D
        self.v = space.gradient[columns]

    def test(self, positions: Sequence[int]) -> tuple[float, np.ndarray]:
        """Return X2 and the expected parameter changes of the listed constraints."""
        positions = list(positions)
        cross = self.cross[:, positions]
        schur = self.within[np.ix_(positions, positions)] \
            - cross.T @ self.a_cross[:, positions]
        residual = self.v[positions] - cross.T @ self.a_u
        if np.linalg.eigvalsh(schur)[0] <= _IDENTIFIED_TOLERANCE * self.scale:
            return np.nan, np.full(len(positions), np.nan)
        solved = np.linalg.solve(schur, residual)
        statistic = self.nobs * float(self.u @ self.a_u + residual @ solved)
        return statistic, -solved


def score_tests(
    fit,
    data,
    *,
    kinds: Sequence[str] | None = None,
    adjust: str = "holm",
) -> ScoreTests:
    """Score tests for releasing each equality constraint of a multi-group fit.

    Parameters
    ----------
    fit : SEMResult
        A multi-group fit with ``group_equal`` constraints, on complete data
        or with ``missing="fiml"``.
    data : pandas.DataFrame
        The data the model was fitted to (the fit stores no sample means).
    kinds : sequence of str, optional
        Constraint kinds to test ("loadings", "intercepts", ...); default all.
    adjust : str, default "holm"
        Multiplicity adjustment of the p-values within each table: a method
        of ``statsmodels.stats.multitest.multipletests`` or "none".

    Returns
    -------
    ScoreTests

    Raises
    ------
    LioInputError
        For a single-group fit, a fit without group_equal constraints, a fit
        with sampling weights or a cluster column, or an unknown adjustment.
    DataError
        If ``data`` are not the data of the fit.

    Notes
    -----
    As in lavaan 0.6.14, the tests use the expected information and the
    normal-theory statistic for every estimator. For MLR and MLM fits they
    are therefore not robust to non-normal data. Under FIML the gradient and
    the expected information are those of the observed-data likelihood,
    summed over the missingness patterns. A direction that the remaining
    constraints do not identify gets X2 NaN.

    References
    ----------
    Sorbom, D. (1989). Model modification. Psychometrika, 54(3), 371-384.
    lavaan 0.6.14, ``lavTestScore(fit, release = ...)``.
    """
    if adjust not in _ADJUST_METHODS:
        raise LioInputError(
            f"unknown adjust={adjust!r}; choose one of {', '.join(_ADJUST_METHODS)}"
        )
    space = _release_space(fit, data)
    constraints = space.constraints
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        constraints = constraints[constraints["kind"].isin(kinds)]
        if constraints.empty:
            raise LioInputError(
                f"the fit has no equality constraints of kind(s) {kinds}; it "
                f"constrains {sorted(set(space.constraints['kind']))}"
            )
    statistic = _ScoreStatistic(space)

    univariate = []
    for position, row in constraints.iterrows():
        value, epc = statistic.test([position])
        univariate.append({**row.drop("column").to_dict(), "X2": value, "df": 1,
                           "epc": float(epc[0])})
    univariate = pd.DataFrame(univariate)

    by_parameter = []
    for parameter, rows in constraints.groupby("parameter", sort=False):
        value, _ = statistic.test(list(rows.index))
        first = rows.iloc[0]
        by_parameter.append({"parameter": parameter, "lhs": first["lhs"],
                             "op": first["op"], "rhs": first["rhs"],
                             "kind": first["kind"], "X2": value, "df": len(rows)})
    by_parameter = pd.DataFrame(by_parameter)

    for table in (univariate, by_parameter):
        table["pvalue"] = scipy_stats.chi2.sf(table["X2"], table["df"])
        table["pvalue_adjusted"] = _adjust(table["pvalue"].to_numpy(), adjust)
    univariate = univariate[["parameter", "lhs", "op", "rhs", "kind", "group",
                             "reference_group", "X2", "df", "pvalue",
                             "pvalue_adjusted", "epc"]]
    by_parameter = by_parameter[["parameter", "lhs", "op", "rhs", "kind", "X2", "df",
                                 "pvalue", "pvalue_adjusted"]]
    return ScoreTests(univariate.reset_index(drop=True),
                      by_parameter.reset_index(drop=True), adjust, space.nobs)


def _adjust(pvalues: np.ndarray, method: str) -> np.ndarray:
    out = np.full(len(pvalues), np.nan)
    finite = np.isfinite(pvalues)
    if method == "none" or not finite.any():
        out[finite] = pvalues[finite]
        return out
    out[finite] = multipletests(pvalues[finite], method=method)[1]
    return out


# --------------------------------------------------------------------------
# The release search
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PartialInvarianceResult:
    """Outcome of the search for a partially invariant model.

    Attributes
    ----------
    level : str
        The level whose constraints were released (e.g. "scalar").
    previous_level : str
        The less restricted level the changes in fit refer to (e.g. "metric").
    group_partial : tuple of str
        Parameters released by the search, in order, plus any given at the
        start; pass them as ``group_partial`` to refit the final model.
    steps : pandas.DataFrame
        Step 0 is the full level; each later step releases one parameter:
        ``step, released, X2, df, pvalue, pvalue_adjusted, chisq, df_model,
        cfi, tli, rmsea, srmr, delta_chisq, delta_df, delta_pvalue,
        delta_cfi, delta_rmsea, delta_srmr, decision``. X2 and the p-values
        are the score test of the released parameter before its release.
    fit : SEMResult
        The final (partial) model.
    previous_fit : SEMResult
        The fit of ``previous_level``.
    score_tests : ScoreTests or ReleaseTests
        The score tests of the final model.
    stop_reason : str
    dmacs : DMACSResult or None
        dMACS from the final model, on the scale its invariant items define.
    """

    level: str
    previous_level: str
    group_partial: tuple[str, ...]
    steps: pd.DataFrame
    fit: object
    previous_fit: object
    score_tests: ScoreTests
    stop_reason: str
    dmacs: DMACSResult | None = None
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def supported(self) -> bool:
        """Whether the decision rule accepts the final partial model."""
        return str(self.steps["decision"].iat[-1]).startswith("supported")

    def summary(self) -> str:
        """Return the release steps and the final model as readable text."""
        lines = [
            (f"Partial {self.level} invariance, compared with the "
             f"{self.previous_level} model; {len(self.steps) - 1} parameter(s) "
             "released:"),
            "",
            (f"  {'step':<5s}{'released':<22s}{'X2':>9s}{'p adj':>9s}{'chisq':>11s}"
             f"{'df':>6s}{'cfi':>7s}{'d_cfi':>8s}{'d_rmsea':>9s}  decision"),
        ]
        for row in self.steps.itertuples(index=False):
            released = row.released if isinstance(row.released, str) else "-"
            x2 = "" if not np.isfinite(row.X2) else f"{row.X2:.2f}"
            p = "" if not np.isfinite(row.pvalue_adjusted) else \
                f"{row.pvalue_adjusted:.4f}"
            lines.append(
                f"  {row.step:<5d}{released:<22s}{x2:>9s}{p:>9s}{row.chisq:>11.2f}"
                f"{int(row.df_model):>6d}{row.cfi:>7.3f}{row.delta_cfi:>+8.3f}"
                f"{row.delta_rmsea:>+9.3f}  {str(row.decision).split(' (')[0]}"
            )
        lines += ["", f"Stopped: {self.stop_reason}.",
                  f"group_partial = {list(self.group_partial)}"]
        return "\n".join(lines)


def partial_invariance(
    model: str,
    data,
    group: str,
    *,
    level: str = "scalar",
    levels: Sequence[str] | None = None,
    estimator: Literal["ML", "MLR", "MLM"] = "ML",
    std_lv: bool = False,
    group_partial: Sequence[str] = (),
    alpha: float = 0.05,
    adjust: str = "holm",
    rule: DecisionRule | None = None,
    stop_at_rule: bool = True,
    max_released: int | None = None,
    min_anchor_items: int = 2,
    reference: str | None = None,
    ordered: Sequence[str] | bool | None = None,
    weights: str | None = None,
    cluster: str | None = None,
) -> PartialInvarianceResult:
    """Release equality constraints of one level, largest score test first.

    The search starts from the full ``level`` model. Each step computes the
    score test of releasing every constrained parameter of the kinds that
    ``level`` adds (in all groups together, df G - 1) and adjusts the
    p-values for multiplicity. It then releases the parameter with the
    largest significant statistic and refits. The search stops at the first
    of these: the decision rule accepts the model against the previous level
    (with ``stop_at_rule``), no test is significant, ``max_released``
    parameters are released, or every remaining candidate would leave a
    factor with fewer than ``min_anchor_items`` invariant items.

    Parameters
    ----------
    model, data, group, estimator, std_lv
        As for :func:`lio_validate.invariance.invariance`; data must be
        complete (listwise deletion).
    level : str, default "scalar"
        The level to make partially invariant.
    levels : sequence, optional
        The ladder the level belongs to (default configural, metric, scalar,
        strict); the level before ``level`` is the comparison.
    group_partial : sequence of str, optional
        Parameters released before the search (kept released).
    alpha : float, default 0.05
        Significance level of the adjusted p-values.
    adjust : str, default "holm"
        Multiplicity adjustment over the candidates of a step.
    rule : DecisionRule, optional
        Default ``DecisionRule()`` (Chen 2007).
    stop_at_rule : bool, default True
        Stop as soon as the rule supports the level.
    max_released : int, optional
        Release at most this many parameters.
    min_anchor_items : int, default 2
        Invariant items each factor keeps: an item counts when its loading
        (and, for intercepts, its intercept) stays equal across groups. Two
        follows Byrne, Shavelson and Muthen (1989) and Steenkamp and
        Baumgartner (1998), who require at least two invariant items besides
        the identification.
    reference : str, optional
        Reference group of the final model's dMACS.
    ordered : sequence of str or True, optional
        Ordinal items: the search runs on the threshold-first ladder with
        difference tests instead of score tests
        (:func:`lio_validate.partial_invariance_ordinal.ordinal_partial_invariance`).
    weights, cluster : str, optional
        Columns of sampling weights and cluster ids. Score tests of such fits
        are not available for continuous items, which raises LioInputError;
        the ordinal search takes them.

    Returns
    -------
    PartialInvarianceResult

    Raises
    ------
    LioInputError
        For invalid options or a level without constraints to release.
    DataError
        For a group that cannot be estimated, naming it.

    References
    ----------
    Byrne, B. M., Shavelson, R. J., & Muthen, B. (1989). Psychological
    Bulletin, 105(3), 456-466. Holm, S. (1979). Scandinavian Journal of
    Statistics, 6(2), 65-70. Steenkamp, J.-B. E. M., & Baumgartner, H.
    (1998). Assessing measurement invariance in cross-national consumer
    research. Journal of Consumer Research, 25(1), 78-90.
    """
    if ordered:
        from lio_validate.partial_invariance_ordinal import ordinal_partial_invariance

        return ordinal_partial_invariance(
            model, data, group, ordered=ordered, level=level, levels=levels,
            estimator=None if estimator == "ML" else estimator,
            group_partial=group_partial, alpha=alpha, adjust=adjust, rule=rule,
            stop_at_rule=stop_at_rule, max_released=max_released,
            min_anchor_items=min_anchor_items, weights=weights, cluster=cluster)
    estimator = str(estimator).upper()
    if estimator not in ("ML", "MLR", "MLM"):
        raise LioInputError(
            f"unknown estimator {estimator!r}; choose one of ML, MLR, MLM"
        )
    if not 0 < alpha < 1:
        raise LioInputError(f"alpha must lie between 0 and 1, got {alpha!r}")
    if adjust not in _ADJUST_METHODS:
        raise LioInputError(
            f"unknown adjust={adjust!r}; choose one of {', '.join(_ADJUST_METHODS)}"
        )
    if max_released is not None and max_released < 0:
        raise LioInputError(f"max_released must be 0 or more, got {max_released!r}")
    resolved = dict(resolve_levels(levels))
    names = list(resolved)
    if level not in resolved or names.index(level) == 0:
        raise LioInputError(
            f"level {level!r} is not a constrained level of the ladder {names}; "
            f"choose one of {names[1:]}"
        )
    previous_level = names[names.index(level) - 1]
    added = [kind for kind in resolved[level] if kind not in resolved[previous_level]]
    rule = DecisionRule() if rule is None else rule
    frame = getattr(data, "frame", data)
    check_groups(model, frame, group)

    messages: list[str] = []
    problems: list[str] = []
    partial = list(group_partial)

    def fit_level(kinds, released):
        return sem(model, frame, estimator=estimator, group=group, std_lv=std_lv,
                   group_equal=list(kinds), group_partial=list(released),
                   weights=weights, cluster=cluster)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        previous_fit = fit_level(resolved[previous_level], partial)
        previous_row = level_row(previous_level, previous_fit,
                                 resolved[previous_level], estimator)
        current = fit_level(resolved[level], partial)
        steps, stop_reason = [], ""
        pending = {"released": None, "X2": np.nan, "df": np.nan, "pvalue": np.nan,
                   "pvalue_adjusted": np.nan}
        while True:
            row = level_row(level, current, resolved[level], estimator)
            comparison = compare_rows(previous_row, row, added, estimator=estimator,
                                      rule=rule, nobs=current.nobs,
                                      ngroups=current.ngroups, messages=problems)
            steps.append(step_record(len(steps), pending, row, comparison))
            tests = score_tests(current, frame, kinds=added, adjust=adjust)
            if stop_at_rule and comparison["decision"].startswith("supported"):
                stop_reason = "the decision rule supports the level"
                break
            if max_released is not None and len(steps) - 1 >= max_released:
                stop_reason = f"max_released={max_released} parameters released"
                break
            candidate = _next_release(tests.by_parameter, current, alpha,
                                      min_anchor_items)
            if candidate is None:
                significant = (tests.by_parameter["pvalue_adjusted"] < alpha).any()
                stop_reason = (
                    "every significant constraint anchors a factor "
                    f"(min_anchor_items={min_anchor_items})" if significant
                    else f"no constraint is significant at alpha={alpha} "
                    f"({adjust}-adjusted)")
                break
            partial.append(candidate["parameter"])
            pending = {"released": candidate["parameter"], "X2": candidate["X2"],
                       "df": candidate["df"], "pvalue": candidate["pvalue"],
                       "pvalue_adjusted": candidate["pvalue_adjusted"]}
            current = fit_level(resolved[level], partial)
    _reissue(caught, messages)
    for text in dict.fromkeys(problems):
        warnings.warn(text, LioWarning, stacklevel=2)
        messages.append(text)

    effect = dmacs(current, frame, reference=reference)
    return PartialInvarianceResult(
        level=level,
        previous_level=previous_level,
        group_partial=tuple(partial),
        steps=pd.DataFrame(steps),
        fit=current,
        previous_fit=previous_fit,
        score_tests=tests,
        stop_reason=stop_reason,
        dmacs=effect,
        messages=tuple(messages),
    )


def step_record(step: int, pending: dict, row: dict, comparison: dict) -> dict:
    return {
        "step": step, **pending,
        "chisq": row["chisq"], "df_model": row["df"], "cfi": row["cfi"],
        "tli": row["tli"], "rmsea": row["rmsea"], "srmr": row["srmr"],
        "delta_chisq": comparison["delta_chisq"], "delta_df": comparison["delta_df"],
        "delta_pvalue": comparison["delta_pvalue"],
        "delta_cfi": comparison["delta_cfi"], "delta_rmsea": comparison["delta_rmsea"],
        "delta_srmr": comparison["delta_srmr"], "decision": comparison["decision"],
    }


def _next_release(by_parameter: pd.DataFrame, fit, alpha: float,
                  min_anchor_items: int) -> dict | None:
    """Return the significant parameter with the smallest p-value that may go free."""
    candidates = by_parameter[by_parameter["pvalue_adjusted"] < alpha]
    candidates = candidates.sort_values(["pvalue", "X2"], ascending=[True, False])
    for _, candidate in candidates.iterrows():
        if _keeps_anchors(fit, candidate, min_anchor_items):
            return candidate.to_dict()
    return None


def _keeps_anchors(fit, candidate, min_anchor_items: int) -> bool:
    """Return whether each factor of the candidate's item keeps enough anchors."""
    kind = candidate["kind"]
    if kind not in ("loadings", "intercepts"):
        return True
    frame = fit.parameter_table
    item = candidate["rhs"] if kind == "loadings" else candidate["lhs"]
    factors = [candidate["lhs"]] if kind == "loadings" else list(dict.fromkeys(
        frame.loc[(frame["op"] == "=~") & (frame["rhs"] == item), "lhs"]))
    for factor in factors:
        indicators = list(dict.fromkeys(
            frame.loc[(frame["op"] == "=~") & (frame["lhs"] == factor), "rhs"]))
        invariant = [
            other for other in indicators if other != item
            and equal_across_groups(frame, factor, "=~", other)
            and (kind == "loadings" or equal_across_groups(frame, other, "~1", ""))
        ]
        if len(invariant) < min_anchor_items:
            return False
    return True


def _reissue(caught, messages: list[str]) -> None:
    seen = set()
    for record in caught:
        key = (record.category, str(record.message))
        if key in seen:
            continue
        seen.add(key)
        messages.append(str(record.message))
        warnings.warn(str(record.message), record.category, stacklevel=3)
