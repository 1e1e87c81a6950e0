"""The measurement-invariance ladder: configural, metric, scalar, strict.

:func:`invariance` fits one multi-group model per level, each adding
equality constraints across groups to those of the level before (lavaan's
``group.equal``), and compares every level with the previous one:

* the chi-square difference test, as lavaan's ``lavTestLRT`` computes it:
  the plain difference for ML, and the Satorra-Bentler (2001) scaled
  difference for MLR and MLM (lavaan's default ``method =
  "satorra.bentler.2001"`` for those estimators);
* the changes in CFI, TLI, RMSEA and SRMR, and a decision by a stated
  cut-off rule (:class:`DecisionRule`, Chen 2007 by default), because at
  survey sample sizes every chi-square difference is significant;
* dMACS per item (:mod:`lio_validate.effect_sizes`) from the configural
  model, as the size of non-invariance.

Levels are named steps that each add kinds of constraints
(:data:`LEVEL_KINDS`). The defaults are :data:`CONTINUOUS_LEVELS` and, for
ordinal items, :data:`ORDINAL_LEVELS`, which constrain thresholds first.
Wu and Estabrook (2016) show that the identification conditions of an
ordinal configural model can become restrictions once invariance
constraints are added, so each ordinal level needs its own identification.

References
----------
Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of
measurement invariance. Structural Equation Modeling, 14(3), 464-504.
Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test
statistic for moment structure analysis. Psychometrika, 66(4), 507-514.
Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor
analysis models of different levels of invariance for ordered categorical
outcomes. Psychometrika, 81(4), 1014-1045.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lio_validate import fit_measures as fm
from lio_validate.api import sem
from lio_validate.data_prep import group_names, prepare_data
from lio_validate.effect_sizes import DMACSResult, dmacs
from lio_validate.exceptions import DataError, LioInputError, LioWarning
from lio_validate.syntax import parse_model

__all__ = [
    "CONTINUOUS_LEVELS",
    "INVARIANCE_COLUMNS",
    "LEVEL_KINDS",
    "ORDINAL_LEVELS",
    "DecisionRule",
    "InvarianceResult",
    "check_groups",
    "compare_rows",
    "invariance",
    "level_row",
    "measure_names",
    "resolve_levels",
    "scaled_difference_test",
]

# The kinds of group_equal constraints that each level adds to the levels
# before it in the ladder.
LEVEL_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "configural": (),
    "thresholds": ("thresholds",),
    "metric": ("loadings",),
    "scalar": ("intercepts",),
    "strict": ("residuals",),
    "means": ("means",),
    "lv.variances": ("lv.variances",),
    "lv.covariances": ("lv.covariances",),
    "regressions": ("regressions",),
})

CONTINUOUS_LEVELS = ("configural", "metric", "scalar", "strict")
ORDINAL_LEVELS = ("configural", "thresholds", "metric", "scalar")

# Columns of invariance.csv, in order.
INVARIANCE_COLUMNS = (
    "level", "chisq", "df", "cfi", "tli", "rmsea", "srmr", "delta_chisq",
    "delta_df", "delta_pvalue", "delta_cfi", "delta_rmsea", "decision",
)

_ESTIMATORS = ("ML", "MLR", "MLM")

# Estimators whose ladder compares the standard chi-squares directly.
_UNSCALED = ("ML", "DWLS", "ULS")

# Fit measures shown per level: the robust estimators report the scaled
# chi-square and the robust CFI, TLI and RMSEA of Brosseau-Liard and
# Savalei (2014), which lavaan's fitMeasures() names *.robust. Where a fit
# has no robust indices (MLR with missing="fiml" in this version), the
# scaled ones are shown instead.
_MEASURES = {
    "ML": {"chisq": "chisq", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
           "rmsea": "rmsea"},
    "robust": {"chisq": "chisq_scaled", "pvalue": "pvalue_scaled",
               "cfi": "cfi_robust", "tli": "tli_robust", "rmsea": "rmsea_robust"},
    "scaled": {"chisq": "chisq_scaled", "pvalue": "pvalue_scaled",
               "cfi": "cfi_scaled", "tli": "tli_scaled", "rmsea": "rmsea_scaled"},
}


def measure_names(fit, estimator: str) -> dict[str, str]:
    """Map the table's columns to the fit measures shown for ``estimator``."""
    if estimator == "ML":
        return dict(_MEASURES["ML"])
    if np.isfinite(fit.fit_measures.get("cfi_robust", np.nan)):
        return dict(_MEASURES["robust"])
    return dict(_MEASURES["scaled"])


@dataclass(frozen=True)
class DecisionRule:
    """Cut-offs on the change in fit from one level to the next.

    A level is "supported" when CFI drops by at most ``max_cfi_drop``, RMSEA
    rises by at most ``max_rmsea_rise`` and, when ``use_srmr``, SRMR rises
    by at most ``max_srmr_rise_loadings`` (a level adding equal loadings) or
    ``max_srmr_rise`` (equal intercepts, residuals or thresholds). The
    defaults are the cut-offs of Chen (2007) for total samples above 300.

    ``mode="all"`` (default) requires every criterion. ``mode="chen"`` reads
    the RMSEA and SRMR cut-offs as supplements to the CFI cut-off, as they
    are usually quoted from Chen (2007). A level is then rejected only when
    the CFI criterion and at least one of the others fail, so "all" is the
    stricter of the two.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of
    measurement invariance. Structural Equation Modeling, 14(3), 464-504.
    Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit
    indexes for testing measurement invariance. Structural Equation
    Modeling, 9(2), 233-255 (the CFI cut-off of .01).
    """

    max_cfi_drop: float = 0.010
    max_rmsea_rise: float = 0.015
    max_srmr_rise_loadings: float = 0.030
    max_srmr_rise: float = 0.010
    use_srmr: bool = True
    mode: Literal["all", "chen"] = "all"
    source: str = "Chen 2007"

    def __post_init__(self) -> None:
        if self.mode not in ("all", "chen"):
            raise LioInputError(
                f"unknown DecisionRule mode {self.mode!r}; choose 'all' or 'chen'"
            )
        for name in ("max_cfi_drop", "max_rmsea_rise", "max_srmr_rise_loadings",
                     "max_srmr_rise"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise LioInputError(
                    f"DecisionRule {name} must be a non-negative number, got {value!r}"
                )

    def srmr_cutoff(self, added: Sequence[str]) -> float | None:
        """Return the SRMR cut-off for a level adding ``added`` kinds, or None."""
        if not self.use_srmr:
            return None
        if "loadings" in added:
            return self.max_srmr_rise_loadings
        if set(added) & {"intercepts", "residuals", "thresholds"}:
            return self.max_srmr_rise
        return None

    def criteria(self, added: Sequence[str]) -> str:
        """State the rule for a level adding ``added`` kinds, for the table."""
        parts = [f"dCFI >= {-self.max_cfi_drop:.3f}",
                 f"dRMSEA <= {self.max_rmsea_rise:.3f}"]
        cutoff = self.srmr_cutoff(added)
        if cutoff is not None:
            parts.append(f"dSRMR <= {cutoff:.3f}")
        if self.mode == "chen":
            return f"{self.source}: {parts[0]}, or else {' and '.join(parts[1:])}"
        return f"{self.source}: {', '.join(parts)}"

    def decide(self, added: Sequence[str], delta_cfi: float, delta_rmsea: float,
               delta_srmr: float) -> str:
        """Return "supported (...)", "not supported (...)" or "undetermined (...)"."""
        checks = [
            ("dCFI", delta_cfi, -self.max_cfi_drop, delta_cfi >= -self.max_cfi_drop),
            ("dRMSEA", delta_rmsea, self.max_rmsea_rise,
             delta_rmsea <= self.max_rmsea_rise),
        ]
        cutoff = self.srmr_cutoff(added)
        if cutoff is not None:
            checks.append(("dSRMR", delta_srmr, cutoff, delta_srmr <= cutoff))
        if any(not np.isfinite(value) for _, value, _, _ in checks):
            return f"undetermined (a fit measure is missing; {self.criteria(added)})"
        failed = [f"{name} {value:+.3f} beyond {limit:+.3f}"
                  for name, value, limit, ok in checks if not ok]
        if self.mode == "all":
            supported = not failed
        else:
            supported = checks[0][3] or all(ok for *_, ok in checks[1:])
        if supported:
            return f"supported ({self.criteria(added)})"
        return f"not supported ({'; '.join(failed)}; {self.criteria(added)})"


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class InvarianceResult:
    """The fits of an invariance ladder and their comparison.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per level: ``level, group_equal, npar, chisq, df, pvalue,
        cfi, tli, rmsea, srmr, aic, bic, chisq_standard, scaling_factor``,
        then the comparison with the previous level: ``delta_chisq,
        delta_df, delta_pvalue, delta_scaling_factor, rmsea_d, delta_cfi,
        delta_tli, delta_rmsea, delta_srmr, decision``. For MLR and MLM,
        ``chisq`` is the scaled statistic and ``cfi, tli, rmsea`` are the
        robust indices; ``chisq_standard`` is always the unscaled statistic
        (lavTestLRT's "Chisq" column). ``rmsea_d`` is the RMSEA of the
        difference test (lavTestLRT's "RMSEA", ML only).
    fits : Mapping[str, SEMResult]
        The fit of each level.
    group_equal : Mapping[str, tuple of str]
        The equality constraints of each level.
    estimator : str
    difference_test : str
        "standard" or "satorra.bentler.2001" (lavaan's method names).
    rule : DecisionRule
    group_names : tuple of str
    group_sizes : Mapping[str, int]
        Rows per group used in the fits.
    dmacs : DMACSResult or None
        dMACS of every item against the reference group, from the
        configural model anchored on each factor's marker item.
    measure_names : Mapping[str, str]
        The fit measure behind each of the columns ``chisq, pvalue, cfi,
        tli, rmsea`` (for example ``cfi_robust`` for MLR).
    messages : tuple of str
        Warnings issued while fitting, once each.
    """

    table: pd.DataFrame
    fits: Mapping[str, object]
    group_equal: Mapping[str, tuple[str, ...]]
    estimator: str
    difference_test: str
    rule: DecisionRule
    group_names: tuple[str, ...]
    group_sizes: Mapping[str, int]
    dmacs: DMACSResult | None = None
    measure_names: Mapping[str, str] = field(default_factory=dict)
    messages: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("fits", "group_equal", "group_sizes", "measure_names"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.table["level"])

    def invariance_table(self) -> pd.DataFrame:
        """Return the table of ``invariance.csv`` (:data:`INVARIANCE_COLUMNS`)."""
        return self.table.loc[:, list(INVARIANCE_COLUMNS)].copy()

    @property
    def highest_supported_level(self) -> str:
        """The last level reached before the first one the rule rejects."""
        levels = self.levels
        for index in range(1, len(levels)):
            if not str(self.table["decision"].iat[index]).startswith("supported"):
                return levels[index - 1]
        return levels[-1]

    @property
    def first_rejected_level(self) -> str | None:
        """The first level the rule does not support, or None."""
        for index in range(1, len(self.levels)):
            if not str(self.table["decision"].iat[index]).startswith("supported"):
                return self.levels[index]
        return None

    def plot(self, *, axes=None):
        """Draw the fit of each level and its change (the invariance ladder).

        The decision under each level is shown without its rule, and levels
        beyond the rule's CFI and RMSEA cut-offs get open markers.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from lio_validate.figures import plot_invariance_ladder

        ladder = self.invariance_table()
        ladder["decision"] = ladder["decision"].str.split(" (", regex=False).str[0]
        return plot_invariance_ladder(ladder, max_cfi_drop=self.rule.max_cfi_drop,
                                      max_rmsea_rise=self.rule.max_rmsea_rise,
                                      axes=axes)

    def summary(self) -> str:
        """Return the ladder as readable text."""
        names = ", ".join(f"{name} ({self.group_sizes[name]})"
                          for name in self.group_names)
        measures = ", ".join(dict.fromkeys(self.measure_names.values()))
        lines = [
            f"Measurement invariance across {len(self.group_names)} groups: {names}",
            (f"Estimator {self.estimator}; difference test: {self.difference_test}; "
             f"decision rule: {self.rule.criteria(('loadings',))} "
             f"({self.rule.max_srmr_rise:.3f} for dSRMR after metric)"),
            f"Columns chisq, p, cfi, tli, rmsea show: {measures}",
            "",
            (f"  {'level':<12s}{'chisq':>11s}{'df':>6s}{'cfi':>8s}{'rmsea':>8s}"
             f"{'srmr':>8s}{'d_chisq':>10s}{'d_df':>6s}{'p':>9s}{'d_cfi':>8s}"
             f"{'d_rmsea':>9s}  decision"),
        ]
        for row in self.table.itertuples(index=False):
            first = pd.isna(row.delta_df)
            decision = str(row.decision).split(" (")[0]
            lines.append(
                f"  {row.level:<12s}{row.chisq:>11.2f}{int(row.df):>6d}{row.cfi:>8.3f}"
                f"{row.rmsea:>8.3f}{row.srmr:>8.3f}"
                + ("" if first else
                   f"{row.delta_chisq:>10.2f}{int(row.delta_df):>6d}"
                   f"{_format_p(row.delta_pvalue):>9s}{row.delta_cfi:>+8.3f}"
                   f"{row.delta_rmsea:>+9.3f}")
                + ("" if first else f"  {decision}")
            )
        lines += ["", f"Highest level supported: {self.highest_supported_level}"]
        if self.dmacs is not None:
            lines += ["", self.dmacs.summary(5)]
        return "\n".join(lines)


def _format_p(value: float) -> str:
    if not np.isfinite(value):
        return "NA"
    return "<.001" if value < 0.001 else f"{value:.3f}"


# --------------------------------------------------------------------------
# Levels
# --------------------------------------------------------------------------


def resolve_levels(levels, ordinal: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """Return (name, cumulative group_equal) for every requested level.

    Raises
    ------
    LioInputError
        For an unknown level, fewer than two levels, a level listed twice,
        or thresholds without ordinal items.
    """
    if levels is None:
        levels = ORDINAL_LEVELS if ordinal else CONTINUOUS_LEVELS
    if isinstance(levels, str):
        levels = [part.strip() for part in levels.split(",") if part.strip()]
    resolved, kinds = [], []
    for level in levels:
        if isinstance(level, str):
            if level not in LEVEL_KINDS:
                raise LioInputError(
                    f"unknown invariance level {level!r}; choose from "
                    f"{', '.join(LEVEL_KINDS)} or give (name, kinds) pairs"
                )
            name, added = level, LEVEL_KINDS[level]
        else:
            name, added = level
            added = (added,) if isinstance(added, str) else tuple(added)
        kinds.extend(kind for kind in added if kind not in kinds)
        resolved.append((str(name), tuple(kinds)))
    if len(resolved) < 2:
        raise LioInputError(
            f"an invariance ladder needs at least two levels, got {len(resolved)}"
        )
    names = [name for name, _ in resolved]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise LioInputError(f"invariance levels {duplicated} are listed twice")
    if not ordinal and any("thresholds" in kinds for _, kinds in resolved):
        raise LioInputError(
            "the 'thresholds' level needs ordinal items; pass ordered=... or leave "
            "the level out"
        )
    return resolved


# --------------------------------------------------------------------------
# Group checks
# --------------------------------------------------------------------------


def check_groups(model: str, data, group: str, *, missing: str = "listwise",
                 min_group_size: int | None = None) -> dict[str, int]:
    """Check that every group can be estimated; return the rows per group.

    Raises
    ------
    DataError
        Naming the group, if there are fewer than two groups, a group has
        no usable rows, fewer rows than the model's observed variables + 1
        (or ``min_group_size``), or an item is constant within it.
    """
    parsed = parse_model(model)
    frame = getattr(data, "frame", data)
    prepared, _ = prepare_data(parsed, frame, group=group,
                               listwise=missing == "listwise")
    variables = [name for name in _observed_in_order(parsed, frame)]
    p = len(variables)
    needed = p + 1 if min_group_size is None else max(p + 1, int(min_group_size))

    present = group_names(list(pd.unique(frame[group].dropna())), group)
    with_rows = [name for name, _ in prepared.frames]
    lost = [name for name in present if name not in with_rows]
    if lost:
        raise DataError(
            f"group(s) {lost} of {group!r} have no row with data on the model's "
            "variables; drop those rows or merge the groups"
        )
    if len(with_rows) < 2:
        raise DataError(
            f"the group column {group!r} has only {len(with_rows)} group(s) with data; "
            "invariance compares at least two groups"
        )

    sizes = {}
    for name, group_frame in prepared.frames:
        values = group_frame[variables]
        nobs = int(values.notna().any(axis=1).sum())
        sizes[name] = nobs
        if nobs < needed:
            raise DataError(
                f"group {name!r} of {group!r} has {nobs} usable rows, but each group "
                f"needs at least {needed} ({p} observed variables + 1"
                + ("" if min_group_size is None else ", or min_group_size") +
                "); merge it with a neighbouring group (for example recode the "
                "bands) or drop its rows"
            )
        spread = values.max() - values.min()
        constant = [name_ for name_, value in spread.items() if value == 0]
        if constant:
            answer = values[constant[0]].dropna().iloc[0]
            raise DataError(
                f"item(s) {constant} are constant in group {name!r} of {group!r} "
                f"(every answer to {constant[0]!r} is {answer:g}), so their variance "
                "and loadings cannot be estimated in that group; merge the group "
                "with a neighbouring one or leave the item(s) out of the model"
            )
    return sizes


def _observed_in_order(parsed, frame: pd.DataFrame) -> list[str]:
    latent = {t.lhs for t in parsed.terms if t.op == "=~"}
    names = []
    for term in parsed.terms:
        for name in (term.lhs, term.rhs):
            if name and name not in latent and name in frame.columns \
                    and name not in names:
                names.append(name)
    return names


# --------------------------------------------------------------------------
# Difference tests
# --------------------------------------------------------------------------


def scaled_difference_test(
    chisq_less: float, df_less: float, factor_less: float,
    chisq_more: float, df_more: float, factor_more: float,
) -> tuple[float, float, float]:
    """Satorra-Bentler (2001) scaled chi-square difference test.

    The less restricted model has ``chisq_less`` (unscaled), ``df_less``
    and scaling factor ``factor_less``; the more restricted model likewise.
    With m = df_more - df_less, the difference's scaling factor is
    c_d = (df_more c_more - df_less c_less) / m and the statistic
    (chisq_more - chisq_less) / c_d on m degrees of freedom. A model with
    df 0 has c = 1, as in lavaan.

    Returns
    -------
    (statistic, df, c_d)
        NaN for the statistic and c_d when c_d is negative, which happens in
        small samples; lavaan then also reports NA.

    References
    ----------
    Satorra, A., & Bentler, P. M. (2001). Psychometrika, 66(4), 507-514,
    eq. 8 (the scaled difference) with the scaling factor defined above it.
    """
    if df_less == 0:
        factor_less = 1.0
    m = df_more - df_less
    if m == 0:
        return chisq_more - chisq_less, 0.0, np.nan
    scale = (df_more * factor_more - df_less * factor_less) / m
    if not scale > 0:
        return np.nan, float(m), np.nan
    return (chisq_more - chisq_less) / scale, float(m), float(scale)


def level_row(level: str, fit, group_equal: Sequence[str], estimator: str,
              names: Mapping[str, str] | None = None) -> dict:
    """Collect the fit measures of one level for the ladder table.

    For MLR and MLM the chi-square is the scaled statistic and CFI, TLI and
    RMSEA are the robust indices (:func:`measure_names`); ``chisq_standard``
    is always unscaled. ``names`` overrides the choice of measures, so that
    every level of a ladder shows the same ones.
    """
    names = measure_names(fit, estimator) if names is None else names
    measures = fit.fit_measures
    return {
        "level": level,
        "group_equal": ", ".join(group_equal) if group_equal else "none",
        "npar": measures["npar"],
        "chisq": measures[names["chisq"]],
        "df": measures["df"],
        "pvalue": measures[names["pvalue"]],
        "cfi": measures[names["cfi"]],
        "tli": measures[names["tli"]],
        "rmsea": measures[names["rmsea"]],
        "srmr": measures["srmr"],
        "aic": measures.get("aic", np.nan),
        "bic": measures.get("bic", np.nan),
        "chisq_standard": measures["chisq"],
        "scaling_factor": measures.get("chisq_scaling_factor", np.nan)
        if names["chisq"] != "chisq" else np.nan,
    }


def compare_rows(previous: dict | None, row: dict, added: Sequence[str], *,
                 estimator: str, rule: DecisionRule, nobs: int, ngroups: int,
                 messages: list[str] | None = None, difference=None) -> dict:
    """Compare a level's row (:func:`level_row`) with the less restricted one before it.

    Returns the ``delta_*`` entries, ``rmsea_d`` and the ``decision``; for
    the first level (``previous`` None) the decision is "reference level".
    Problems (levels not nested, a negative scaling factor of the scaled
    difference) are appended to ``messages`` for the caller to issue. A
    ``difference`` (:class:`lio_validate.wls_difference.DifferenceTest`)
    replaces the difference test computed from the rows; its scaling factor
    is reported as 1 / scale, as lavaan reports that of a scaled-and-shifted
    statistic.
    """
    messages = [] if messages is None else messages
    empty = {name: np.nan for name in (
        "delta_chisq", "delta_df", "delta_pvalue", "delta_scaling_factor", "rmsea_d",
        "delta_cfi", "delta_tli", "delta_rmsea", "delta_srmr")}
    if previous is None:
        return {**empty, "decision": "reference level"}
    delta_df = row["df"] - previous["df"]
    if delta_df <= 0:
        text = (f"level {row['level']!r} has {row['df']:g} df, not more than "
                f"{previous['level']!r} ({previous['df']:g}); the levels are not "
                "nested as listed, so no difference test is reported")
        messages.append(text)
        return {**empty, "decision": "undetermined (levels not nested)"}

    if difference is not None:
        statistic = difference.statistic
        scale = 1.0 / difference.scale if difference.scale > 0 else np.nan
        rmsea_d = np.nan
    elif estimator in _UNSCALED:
        statistic = row["chisq_standard"] - previous["chisq_standard"]
        scale = np.nan
        # lavTestLRT's RMSEA column: the RMSEA of the difference test.
        rmsea_d = fm.rmsea(statistic, delta_df, nobs, ngroups)
    else:
        statistic, _, scale = scaled_difference_test(
            previous["chisq_standard"], previous["df"], previous["scaling_factor"],
            row["chisq_standard"], row["df"], row["scaling_factor"])
        rmsea_d = np.nan
        if not np.isfinite(scale):
            text = (f"the scaling factor of the difference between "
                    f"{previous['level']!r} and {row['level']!r} is negative, so "
                    "the Satorra-Bentler (2001) scaled difference test is not "
                    "defined; judge the step by the change in fit measures")
            messages.append(text)
    deltas = {name: row[name] - previous[name]
              for name in ("cfi", "tli", "rmsea", "srmr")}
    return {
        "delta_chisq": statistic,
        "delta_df": float(delta_df),
        "delta_pvalue": float(scipy_stats.chi2.sf(statistic, delta_df))
        if np.isfinite(statistic) else np.nan,
        "delta_scaling_factor": scale,
        "rmsea_d": rmsea_d,
        "delta_cfi": deltas["cfi"],
        "delta_tli": deltas["tli"],
        "delta_rmsea": deltas["rmsea"],
        "delta_srmr": deltas["srmr"],
        "decision": rule.decide(added, deltas["cfi"], deltas["rmsea"], deltas["srmr"]),
    }


def mark_levels_after_rejection(table: pd.DataFrame) -> pd.DataFrame:
    """Flag the levels above the first rejected one.

    Each level is compared with the one below it, so a level above a
    rejected level is tested against a model the rule did not support; its
    decision says so instead of reading as plain support.
    """
    table = table.copy()
    rejected = None
    for index in range(1, len(table)):
        decision = str(table["decision"].iat[index])
        if rejected is not None:
            table.iat[index, table.columns.get_loc("decision")] = (
                f"not reached ({rejected} not supported); against {rejected}: "
                f"{decision}")
        elif not decision.startswith("supported"):
            rejected = str(table["level"].iat[index])
    return table


def ladder_measure_names(fits: Mapping[str, object], estimator: str) -> dict[str, str]:
    """Return the measures shown for every level: robust ones only if all have them."""
    chosen = [measure_names(fit, estimator) for fit in fits.values()]
    if any(names != chosen[0] for names in chosen):
        return dict(_MEASURES["scaled"])
    return chosen[0]


def _ladder_table(fits: dict, kinds: dict, estimator: str, rule: DecisionRule,
                  messages: list[str]) -> pd.DataFrame:
    rows = []
    previous = None
    names = ladder_measure_names(fits, estimator)
    for level, fit in fits.items():
        row = level_row(level, fit, kinds[level], estimator, names)
        added = [] if previous is None else \
            [kind for kind in kinds[level] if kind not in kinds[previous["level"]]]
        row.update(compare_rows(previous, row, added, estimator=estimator, rule=rule,
                                nobs=fit.nobs, ngroups=fit.ngroups, messages=messages))
        rows.append(row)
        previous = row
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# The ladder
# --------------------------------------------------------------------------


def invariance(
    model: str,
    data,
    group: str,
    *,
    estimator: Literal["ML", "MLR", "MLM", "WLSMV", "ULSMV", "DWLS", "ULS"]
    | None = None,
    levels: Sequence[str | tuple[str, Sequence[str]]] | None = None,
    ordered: Sequence[str] | bool | None = None,
    missing: Literal["listwise", "fiml"] = "listwise",
    std_lv: bool = False,
    group_partial: Sequence[str] = (),
    rule: DecisionRule | None = None,
    reference: str | None = None,
    effect_sizes: bool = True,
    min_group_size: int | None = None,
    weights: str | None = None,
    cluster: str | None = None,
) -> InvarianceResult:
    """Fit and compare the levels of measurement invariance across groups.

    Parameters
    ----------
    model : str
        lavaan model syntax of the measurement model (a CFA, or an SEM
        whose measurement part is tested).
    data : pandas.DataFrame
        One row per respondent, with the model's items and ``group``.
    group : str
        Column whose values define the groups (ordered by first appearance,
        as lavaan orders them).
    estimator : {"ML", "MLR", "MLM", "WLSMV", "ULSMV", "DWLS", "ULS"}, optional
        Default "ML", or "WLSMV" with ``ordered``. With "MLR" or "MLM" the
        table shows the scaled chi-square, the robust CFI, TLI and RMSEA, and
        the Satorra-Bentler (2001) scaled difference tests. The last four
        are for ordinal items (:func:`lio_validate.invariance_ordinal.ordinal_invariance`).
    levels : sequence, optional
        Level names from :data:`LEVEL_KINDS`, or ``(name, kinds)`` pairs,
        each adding constraints to the levels before it. Default
        :data:`CONTINUOUS_LEVELS` (configural, metric, scalar, strict).
    ordered : sequence of str or True, optional
        Ordinal items: the ladder becomes :data:`ORDINAL_LEVELS`, thresholds
        first, with the identification of Wu and Estabrook (2016).
    missing : {"listwise", "fiml"}, default "listwise"
    std_lv : bool, default False
        Identify factors by unit variances instead of marker loadings.
    group_partial : sequence of str, optional
        Parameters left free at every level ("A1 ~1"), for a ladder of
        partial invariance.
    rule : DecisionRule, optional
        Cut-offs for the decision; default ``DecisionRule()`` (Chen 2007).
    reference : str, optional
        Reference group of dMACS; default the first group.
    effect_sizes : bool, default True
        Compute dMACS from the configural model.
    min_group_size : int, optional
        Smallest group accepted; groups must in any case have more rows than
        the model has observed variables.
    weights, cluster : str, optional
        Columns of sampling weights and cluster ids, as for
        :func:`lio_validate.api.sem`. With either, ML fits report the scaled
        test and robust indices, so the ladder compares them as for MLR.

    Returns
    -------
    InvarianceResult

    Raises
    ------
    LioInputError
        For invalid options or levels that are not known.
    DataError
        For a group that cannot be estimated (too small, an item constant
        in it), naming the group.

    Notes
    -----
    The decision uses only the changes in fit measures, because the
    chi-square difference test rejects trivial differences at large N; the
    test is reported beside it. dMACS comes from the configural model with
    each factor anchored on its first indicator, so it measures how far each
    item's expected scores differ between groups before any equality is
    imposed (see :func:`lio_validate.effect_sizes.dmacs`).

    References
    ----------
    Chen, F. F. (2007); Satorra, A., & Bentler, P. M. (2001); Wu, H., &
    Estabrook, R. (2016); see the module documentation. Nye, C. D., &
    Drasgow, F. (2011) for dMACS.
    """
    if ordered:
        from lio_validate.invariance_ordinal import ordinal_invariance

        if missing != "listwise":
            raise LioInputError(
                f"missing={missing!r} is for continuous items; the ordinal ladder "
                "uses the complete cases (missing='listwise')"
            )
        return ordinal_invariance(
            model, data, group, ordered=ordered, estimator=estimator, levels=levels,
            group_partial=group_partial, rule=rule, effect_sizes=effect_sizes,
            min_group_size=min_group_size, weights=weights, cluster=cluster)
    estimator = "ML" if estimator is None else str(estimator).upper()
    if estimator in ("WLSMV", "DWLS", "ULSMV", "ULS"):
        raise LioInputError(
            f"estimator {estimator!r} is for ordinal items, but none are declared; "
            "give ordered=[...] or ordered=True (--ordered COL,COL or --ordered all "
            "on the command line), or use 'MLR' for items treated as continuous"
        )
    if estimator not in _ESTIMATORS:
        raise LioInputError(
            f"unknown estimator {estimator!r} for the invariance ladder of continuous "
            f"items; choose one of {', '.join(_ESTIMATORS)}"
        )
    if missing not in ("listwise", "fiml"):
        raise LioInputError(f"unknown missing={missing!r}; choose 'listwise' or 'fiml'")
    resolved = resolve_levels(levels, ordinal=False)
    rule = DecisionRule() if rule is None else rule
    frame = getattr(data, "frame", data)
    sizes = check_groups(model, frame, group, missing=missing,
                         min_group_size=min_group_size)

    # Fit every level; warnings repeated by each fit are issued once.
    fits, kinds, messages = {}, {}, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, group_equal in resolved:
            fits[name] = sem(model, frame, estimator=estimator, group=group,
                             missing=missing, std_lv=std_lv,
                             group_equal=list(group_equal),
                             group_partial=list(group_partial),
                             weights=weights, cluster=cluster)
            kinds[name] = group_equal
    reissue_warnings(caught, messages)

    # With weights or clusters an ML fit is pseudo-ML with the Yuan-Bentler
    # test, and lavTestLRT then takes the scaled difference as for MLR.
    compared = "MLR" if estimator == "ML" and (weights or cluster) else estimator
    problems: list[str] = []
    table = mark_levels_after_rejection(
        _ladder_table(fits, kinds, compared, rule, problems))
    for text in problems:
        warnings.warn(text, LioWarning, stacklevel=2)
    messages.extend(problems)
    effect = None
    if effect_sizes:
        effect = dmacs(fits[resolved[0][0]], sizes=sizes, reference=reference,
                       anchoring="markers")
    return InvarianceResult(
        table=table,
        fits=fits,
        group_equal=kinds,
        estimator=estimator,
        difference_test="standard" if compared == "ML" else "satorra.bentler.2001",
        rule=rule,
        group_names=tuple(fits[resolved[0][0]].group_names),
        group_sizes=sizes,
        dmacs=effect,
        measure_names=ladder_measure_names(fits, compared),
        messages=tuple(messages),
    )


def reissue_warnings(caught, messages: list[str]) -> None:
    seen = set()
    for record in caught:
        key = (record.category, str(record.message))
        if key in seen:
            continue
        seen.add(key)
        messages.append(str(record.message))
        warnings.warn(str(record.message), record.category, stacklevel=3)
