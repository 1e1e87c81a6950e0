"""Partial invariance of ordinal items: release tests and a release search.

For continuous items :mod:`lio_validate.partial_invariance` ranks the
constraints by score tests. For WLSMV fits lavaan 0.6.14's ``lavTestScore``
gives only the ordinary score test of the DWLS discrepancy, which is not
robust (lavaan warns that it falls back to it). Here each candidate is
instead released in a refitted model and tested against the constrained one
by the scaled-and-shifted difference test of Satorra (2000), the test that
lavaan's ``lavTestLRT`` applies to WLSMV fits
(:func:`lio_validate.wls_difference.satorra_2000`). A candidate is one
constrained parameter released in every group at once, except thresholds,
which are released per item. The thresholds of an item then anchor it
across groups or not, because releasing a single threshold changes the
identification of the item's intercept and scale factor (Wu & Estabrook,
2016).

:func:`ordinal_partial_invariance` releases candidates one at a time, the
smallest adjusted p-value first, refitting after each release, until the
decision rule accepts the level against the level before it, or no
candidate is significant. The fits use the identification of Wu and
Estabrook (2016), which the threshold-first ladder uses.

References
----------
Byrne, B. M., Shavelson, R. J., & Muthen, B. (1989). Testing for the
equivalence of factor covariance and mean structures: The issue of partial
measurement invariance. Psychological Bulletin, 105(3), 456-466.
Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample
analysis of moment structures. In R. D. H. Heijmans, D. S. G. Pollock, & A.
Satorra (Eds.), Innovations in Multivariate Statistical Analysis (pp.
233-247). Kluwer.
Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor
analysis models of different levels of invariance for ordered categorical
outcomes. Psychometrika, 81(4), 1014-1045.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from lio_validate.api import ordinal_result
from lio_validate.effect_sizes import equal_across_groups
from lio_validate.exceptions import LioInputError, LioWarning
from lio_validate.invariance import (
    DecisionRule,
    check_groups,
    compare_rows,
    level_row,
    reissue_warnings,
    resolve_levels,
)
from lio_validate.wls import ESTIMATORS, DWLSFit, fit_dwls
from lio_validate.wls_difference import satorra_2000

__all__ = ["ReleaseTests", "ordinal_partial_invariance", "release_tests"]

_ADJUST_METHODS = ("holm", "bonferroni", "hommel", "fdr_bh", "none")

# Fit measures of the steps: scaled for the robust estimators.
_SCALED = {"chisq": "chisq_scaled", "pvalue": "pvalue_scaled", "cfi": "cfi_scaled",
           "tli": "tli_scaled", "rmsea": "rmsea_scaled"}
_STANDARD = {"chisq": "chisq", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
             "rmsea": "rmsea"}


@dataclass(frozen=True)
class ReleaseTests:
    """Difference tests for releasing each constrained parameter of a fit.

    Attributes
    ----------
    by_parameter : pandas.DataFrame
        One row per candidate: ``parameter, lhs, op, rhs, kind, released, X2,
        df, pvalue, pvalue_adjusted``. ``released`` lists the
        ``group_partial`` entries of the candidate (all thresholds of an
        item, or one parameter).
    adjust : str
        The multiplicity adjustment of ``pvalue_adjusted`` over the rows.
    test : str
        "satorra.2000" (WLSMV, ULSMV) or "standard" (DWLS, ULS).
    nobs : int
    """

    by_parameter: pd.DataFrame
    adjust: str
    test: str
    nobs: int

    def summary(self, n: int = 10) -> str:
        """Return the ``n`` largest tests as readable text."""
        top = self.by_parameter.sort_values("X2", ascending=False).head(n)
        lines = [
            (f"Difference tests ({self.test}) for releasing equality constraints "
             f"(N = {self.nobs}; p-values adjusted by {self.adjust}):"),
            "",
            f"  {'parameter':<24s}{'X2':>10s}{'df':>4s}{'p':>10s}{'p adj':>10s}",
        ]
        for row in top.itertuples(index=False):
            lines.append(f"  {row.parameter:<24s}{row.X2:>10.3f}{int(row.df):>4d}"
                         f"{row.pvalue:>10.4f}{row.pvalue_adjusted:>10.4f}")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Candidates and their tests
# --------------------------------------------------------------------------


def _kind_of(lhs: str, op: str, latent: set[str]) -> str | None:
    if op == "|":
        return "thresholds"
    if op == "=~":
        return "loadings"
    if op == "~1":
        return "means" if lhs in latent else "intercepts"
    if op == "~":
        return "regressions"
    if op == "~~":
        return "lv.variances" if lhs in latent else None
    return None


def candidates(fit: DWLSFit, kinds: Sequence[str]) -> list[dict]:
    """Return the constrained parameters of ``kinds`` that can be released.

    A parameter is constrained when a row of group 2..G carries the equality
    label that ``group_equal`` gave the first group's row. Intercepts of
    ordinal items are fixed at 0 in every group instead, so an intercept
    counts as constrained when ``intercepts`` is among ``kinds`` and the
    item's intercept is fixed in every group.
    """
    frame = fit.table.frame
    latent = set(fit.table.roles.lv)
    out: dict[tuple, dict] = {}
    later = frame[frame["group"] > 0]
    for row in later.itertuples(index=False):
        kind = _kind_of(row.lhs, row.op, latent)
        if kind not in kinds or kind == "intercepts":
            continue
        if not (row.free > 0 and str(row.label).startswith(".p")):
            continue
        if kind == "thresholds":
            key = (row.lhs, "|", "")
            entry = out.setdefault(key, {
                "parameter": f"{row.lhs} | thresholds", "lhs": row.lhs, "op": "|",
                "rhs": "", "kind": kind, "released": []})
            name = f"{row.lhs}|{row.rhs}"
            if name not in entry["released"]:
                entry["released"].append(name)
            continue
        key = (row.lhs, row.op, row.rhs)
        text = f"{row.lhs} {row.op} {row.rhs}"
        out.setdefault(key, {"parameter": text, "lhs": row.lhs, "op": row.op,
                             "rhs": row.rhs, "kind": kind, "released": [text]})
    if "intercepts" in kinds:
        for item in fit.table.roles.ov:
            intercepts = frame[(frame["lhs"] == item) & (frame["op"] == "~1")]
            # With every threshold of the item released, its intercept is
            # fixed for identification, not by the constraint.
            if equal_across_groups(frame, item, "~1", "") and \
                    (intercepts["free"] == 0).all() and \
                    _some_threshold_equal(frame, item):
                out[(item, "~1", "")] = {
                    "parameter": f"{item} ~1", "lhs": item, "op": "~1", "rhs": "",
                    "kind": "intercepts", "released": [f"{item} ~1"]}
    return list(out.values())


def _some_threshold_equal(frame: pd.DataFrame, item: str) -> bool:
    names = frame.loc[(frame["op"] == "|") & (frame["lhs"] == item), "rhs"]
    return any(equal_across_groups(frame, item, "|", name)
               for name in dict.fromkeys(names))


def _difference(less: DWLSFit, more: DWLSFit, robust: bool) -> tuple[float, float]:
    """Return (statistic, df) of the difference between two nested fits."""
    if robust:
        test = satorra_2000(less, more)
        return test.statistic, test.df
    statistic = more.fit_measures["chisq"] - less.fit_measures["chisq"]
    return statistic, more.fit_measures["df"] - less.fit_measures["df"]


def release_tests(fit_function, current: DWLSFit, partial: Sequence[str],
                  kinds: Sequence[str], *, robust: bool,
                  adjust: str = "holm") -> tuple[ReleaseTests, dict]:
    """Test releasing every candidate of ``kinds`` in a refitted model.

    ``fit_function(group_partial)`` refits the level with the given released
    parameters. Returns the tests and the refitted models by parameter.
    """
    rows, fits = [], {}
    for candidate in candidates(current, kinds):
        released = list(partial) + candidate["released"]
        refit = fit_function(released)
        statistic, df = _difference(refit, current, robust)
        pvalue = float(scipy_stats.chi2.sf(statistic, df)) if df > 0 else np.nan
        rows.append({**candidate, "released": tuple(candidate["released"]),
                     "X2": float(statistic), "df": float(df), "pvalue": pvalue})
        fits[candidate["parameter"]] = refit
    table = pd.DataFrame(rows, columns=["parameter", "lhs", "op", "rhs", "kind",
                                        "released", "X2", "df", "pvalue"])
    table["pvalue_adjusted"] = _adjusted(table["pvalue"].to_numpy(), adjust)
    return ReleaseTests(table, adjust, "satorra.2000" if robust else "standard",
                        int(current.nobs)), fits


def _adjusted(pvalues: np.ndarray, adjust: str) -> np.ndarray:
    out = np.full(len(pvalues), np.nan)
    finite = np.isfinite(pvalues)
    if adjust == "none" or not finite.any():
        out[finite] = pvalues[finite]
        return out
    out[finite] = multipletests(pvalues[finite], method=adjust)[1]
    return out


def _keeps_anchors(fit: DWLSFit, candidate, min_anchor_items: int,
                   kinds: Sequence[str]) -> bool:
    """Return whether each factor of the candidate's item keeps enough anchors.

    An anchor is an indicator whose constrained kinds (thresholds, loading,
    intercept) all stay equal across groups.
    """
    if candidate["kind"] not in ("thresholds", "loadings", "intercepts"):
        return True
    frame = fit.table.frame
    item = candidate["rhs"] if candidate["kind"] == "loadings" else candidate["lhs"]
    loadings = frame[frame["op"] == "=~"]
    factors = list(dict.fromkeys(loadings.loc[loadings["rhs"] == item, "lhs"]))
    for factor in factors:
        indicators = dict.fromkeys(loadings.loc[loadings["lhs"] == factor, "rhs"])
        anchors = [other for other in indicators if other != item
                   and _is_anchor(frame, factor, other, kinds)]
        if len(anchors) < min_anchor_items:
            return False
    return True


def _is_anchor(frame: pd.DataFrame, factor: str, item: str,
               kinds: Sequence[str]) -> bool:
    if "loadings" in kinds and not equal_across_groups(frame, factor, "=~", item):
        return False
    if "intercepts" in kinds and not equal_across_groups(frame, item, "~1", ""):
        return False
    if "thresholds" in kinds:
        names = frame.loc[(frame["op"] == "|") & (frame["lhs"] == item), "rhs"]
        if not all(equal_across_groups(frame, item, "|", name)
                   for name in dict.fromkeys(names)):
            return False
    return True


# --------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------


def ordinal_partial_invariance(
    model: str,
    data,
    group: str,
    *,
    ordered: Sequence[str] | bool,
    level: str = "scalar",
    levels: Sequence[str] | None = None,
    estimator: str | None = None,
    group_partial: Sequence[str] = (),
    alpha: float = 0.05,
    adjust: str = "holm",
    rule: DecisionRule | None = None,
    stop_at_rule: bool = True,
    max_released: int | None = None,
    min_anchor_items: int = 2,
    weights: str | None = None,
    cluster: str | None = None,
):
    """Release equality constraints of one ordinal level, smallest p-value first.

    Parameters
    ----------
    model, data, group, ordered
        As for :func:`lio_validate.invariance.invariance`.
    level : str, default "scalar"
        The level of the threshold-first ladder to make partially invariant.
    levels : sequence, optional
        The ladder (default configural, thresholds, metric, scalar).
    estimator : {"WLSMV", "ULSMV", "DWLS", "ULS"}, default "WLSMV"
    group_partial : sequence of str, optional
        Parameters released before the search ("A1|t2", "A1 ~1").
    alpha, adjust, rule, stop_at_rule, max_released, min_anchor_items
        As for :func:`lio_validate.partial_invariance.partial_invariance`;
        an anchor item keeps every constrained kind of the level equal.
    weights, cluster : str, optional
        Columns of sampling weights and cluster ids
        (:func:`lio_validate.wls.fit_dwls`).

    Returns
    -------
    lio_validate.partial_invariance.PartialInvarianceResult
        Its ``score_tests`` are the :class:`ReleaseTests` of the final model
        and its ``dmacs`` is None (dMACS is defined for continuous items).

    Raises
    ------
    LioInputError
        For invalid options, or a level without constraints to release.

    References
    ----------
    Byrne, Shavelson & Muthen (1989); Satorra (2000); Wu & Estabrook (2016);
    see the module documentation.
    """
    from lio_validate.partial_invariance import (
        PartialInvarianceResult,
        step_record,
    )

    estimator = "WLSMV" if estimator is None else str(estimator).upper()
    if estimator not in ESTIMATORS:
        raise LioInputError(
            f"estimator {estimator!r} is not for ordinal items; choose one of "
            f"{', '.join(ESTIMATORS)} (default WLSMV)"
        )
    robust = ESTIMATORS[estimator][1]
    if not 0 < alpha < 1:
        raise LioInputError(f"alpha must lie between 0 and 1, got {alpha!r}")
    if adjust not in _ADJUST_METHODS:
        raise LioInputError(
            f"unknown adjust={adjust!r}; choose one of {', '.join(_ADJUST_METHODS)}"
        )
    if max_released is not None and max_released < 0:
        raise LioInputError(f"max_released must be 0 or more, got {max_released!r}")
    resolved = dict(resolve_levels(levels, ordinal=True))
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
    measures = _SCALED if robust else _STANDARD

    def fit_level(kinds, released) -> DWLSFit:
        return fit_dwls(model, frame, ordered, estimator=estimator, group=group,
                        std_lv=True, group_equal=list(kinds),
                        group_partial=list(released), identification="wu_estabrook",
                        sampling_weights=weights, cluster=cluster)

    def wrap(fit: DWLSFit, kinds, released):
        return ordinal_result(fit, model, ordered, group=group, std_lv=True,
                              options={"group_equal": list(kinds),
                                       "group_partial": list(released),
                                       "identification": "wu_estabrook",
                                       "weights": weights, "cluster": cluster})

    messages: list[str] = []
    problems: list[str] = []
    partial = list(group_partial)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        previous_fit = fit_level(resolved[previous_level], partial)
        previous_result = wrap(previous_fit, resolved[previous_level], partial)
        previous_row = level_row(previous_level, previous_result,
                                 resolved[previous_level], estimator, measures)
        current = fit_level(resolved[level], partial)
        steps, stop_reason = [], ""
        pending = {"released": None, "X2": np.nan, "df": np.nan, "pvalue": np.nan,
                   "pvalue_adjusted": np.nan}
        while True:
            result = wrap(current, resolved[level], partial)
            row = level_row(level, result, resolved[level], estimator, measures)
            difference = satorra_2000(previous_fit, current) \
                if robust and row["df"] > previous_row["df"] else None
            comparison = compare_rows(previous_row, row, added, estimator=estimator,
                                      rule=rule, nobs=result.nobs,
                                      ngroups=result.ngroups, messages=problems,
                                      difference=difference)
            steps.append(step_record(len(steps), pending, row, comparison))
            tests, refits = release_tests(
                lambda released: fit_level(resolved[level], released), current,
                partial, added, robust=robust, adjust=adjust)
            if stop_at_rule and comparison["decision"].startswith("supported"):
                stop_reason = "the decision rule supports the level"
                break
            if max_released is not None and len(steps) - 1 >= max_released:
                stop_reason = f"max_released={max_released} parameters released"
                break
            candidate = _next_release(tests.by_parameter, current, alpha,
                                      min_anchor_items, added)
            if candidate is None:
                significant = (tests.by_parameter["pvalue_adjusted"] < alpha).any()
                stop_reason = (
                    "every significant constraint anchors a factor "
                    f"(min_anchor_items={min_anchor_items})" if significant
                    else f"no constraint is significant at alpha={alpha} "
                    f"({adjust}-adjusted)")
                break
            partial.extend(candidate["released"])
            pending = {"released": candidate["parameter"], "X2": candidate["X2"],
                       "df": candidate["df"], "pvalue": candidate["pvalue"],
                       "pvalue_adjusted": candidate["pvalue_adjusted"]}
            current = refits[candidate["parameter"]]
    reissue_warnings(caught, messages)
    for text in dict.fromkeys(problems):
        warnings.warn(text, LioWarning, stacklevel=2)
        messages.append(text)

    return PartialInvarianceResult(
        level=level,
        previous_level=previous_level,
        group_partial=tuple(partial),
        steps=pd.DataFrame(steps),
        fit=wrap(current, resolved[level], partial),
        previous_fit=previous_result,
        score_tests=tests,
        stop_reason=stop_reason,
        dmacs=None,
        messages=tuple(messages),
    )


def _next_release(by_parameter: pd.DataFrame, fit: DWLSFit, alpha: float,
                  min_anchor_items: int, kinds: Sequence[str]) -> dict | None:
    """Return the significant candidate with the smallest p-value that may go free."""
    significant = by_parameter[by_parameter["pvalue_adjusted"] < alpha]
    significant = significant.sort_values(["pvalue", "X2"], ascending=[True, False])
    for _, candidate in significant.iterrows():
        if _keeps_anchors(fit, candidate, min_anchor_items, kinds):
            return candidate.to_dict()
    return None
