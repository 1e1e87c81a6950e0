"""Compare structural paths and latent means across the groups of one fit.

Each comparison is a Wald test on the estimates of a multi-group fit: for
two groups a and b, the difference d = theta_b - theta_a has variance
V_aa + V_bb - 2 V_ab, read from the fit's covariance matrix of the
estimates (robust for MLR and MLM fits), and z = d / se. An omnibus test
per parameter tests whether the parameter is equal in all groups,
W = (C theta)' (C V C')^-1 (C theta) on G - 1 degrees of freedom, with C
the contrasts of each group against the reference group. p-values are
adjusted for multiplicity over the whole call (Holm by default), so asking
about every path of a large model does not inflate the false positives.

Comparing latent means is meaningful only when the items measure the
factors in the same way in every group: loadings and intercepts held equal
(scalar invariance), or at least two items per factor with both equal
(partial scalar invariance). :func:`compare_latent_means` reads that from
the fit's parameter table and raises a LioInputError otherwise. Comparing
paths between factors needs equal loadings (metric invariance), so without
them a LioWarning is issued.

References
----------
Byrne, B. M., Shavelson, R. J., & Muthen, B. (1989). Testing for the
equivalence of factor covariance and mean structures: The issue of partial
measurement invariance. Psychological Bulletin, 105(3), 456-466.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
Scandinavian Journal of Statistics, 6(2), 65-70.
Wald, A. (1943). Tests of statistical hypotheses concerning several
parameters when the number of observations is large. Transactions of the
American Mathematical Society, 54(3), 426-482.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from lio_validate.effect_sizes import anchor_items, equal_across_groups
from lio_validate.exceptions import LioInputError, LioWarning

__all__ = [
    "GroupComparison",
    "check_scalar_invariance",
    "compare_groups",
    "compare_latent_means",
    "compare_paths",
]

_ADJUST_METHODS = ("holm", "bonferroni", "hommel", "fdr_bh", "none")

PAIR_COLUMNS = (
    "parameter", "lhs", "op", "rhs", "kind", "group_a", "group_b", "est_a", "est_b",
    "std_all_a", "std_all_b", "difference", "se", "z", "pvalue", "pvalue_adjusted",
    "ci_lower", "ci_upper", "significant", "note",
)
OMNIBUS_COLUMNS = (
    "parameter", "lhs", "op", "rhs", "kind", "X2", "df", "pvalue", "pvalue_adjusted",
    "significant", "note",
)


@dataclass(frozen=True)
class GroupComparison:
    """Wald tests of parameters across groups.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per parameter and pair of groups (:data:`PAIR_COLUMNS`):
        the estimates in groups a and b, ``difference`` = b - a with its
        ``se``, ``z``, ``pvalue``, adjusted p-value and an unadjusted
        ``level`` confidence interval. ``note`` explains rows without a
        test (held equal or fixed in the fit).
    omnibus : pandas.DataFrame
        One row per parameter (:data:`OMNIBUS_COLUMNS`): the Wald test that
        the parameter is equal in all groups.
    estimates : pandas.DataFrame
        The compared rows of the fit's estimates, for plots per group.
    adjust : str
        The multiplicity adjustment, applied over all rows of ``pairs`` and,
        separately, over all rows of ``omnibus``.
    alpha : float
    level : float
    """

    pairs: pd.DataFrame
    omnibus: pd.DataFrame
    estimates: pd.DataFrame
    adjust: str
    alpha: float
    level: float

    def summary(self) -> str:
        """Return the omnibus and pairwise tests as readable text."""
        lines = [
            (f"Group comparisons (Wald tests; p-values adjusted by {self.adjust} "
             f"over {len(self.pairs)} pairwise and {len(self.omnibus)} omnibus "
             "tests):"),
            "",
            f"  {'parameter':<36s}{'X2':>9s}{'df':>4s}{'p adj':>9s}",
        ]
        for row in self.omnibus.itertuples(index=False):
            x2 = "" if not np.isfinite(row.X2) else f"{row.X2:.3f}"
            p = "" if not np.isfinite(row.pvalue_adjusted) else \
                f"{row.pvalue_adjusted:.4f}"
            lines.append(f"  {row.parameter:<36s}{x2:>9s}{int(row.df):>4d}{p:>9s}")
        lines += ["", (f"  {'parameter':<36s}{'b - a':<26s}{'diff':>9s}{'se':>8s}"
                  f"{'p adj':>9s}")]
        for row in self.pairs.itertuples(index=False):
            pair = f"{row.group_b} - {row.group_a}"
            p = "" if not np.isfinite(row.pvalue_adjusted) else \
                f"{row.pvalue_adjusted:.4f}"
            lines.append(f"  {row.parameter:<36s}{pair:<26s}{row.difference:>9.3f}"
                         f"{row.se:>8.3f}{p:>9s}")
        return "\n".join(lines)

    def plot(self, kind: Literal["estimates", "differences"] = "estimates", *,
             ax=None):
        """Draw a forest plot of the estimates per group, or of the differences.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from lio_validate.figures import plot_group_forest

        if kind == "estimates":
            names = list(dict.fromkeys(self.pairs["parameter"]))
            return plot_group_forest(self.estimates, parameters=names,
                                     xlabel="Estimate with 95% confidence interval",
                                     ax=ax)
        if kind != "differences":
            raise LioInputError(
                f"unknown plot kind {kind!r}; choose 'estimates' or 'differences'"
            )
        tested = self.pairs[np.isfinite(self.pairs["se"]) & (self.pairs["se"] > 0)]
        if tested.empty:
            raise LioInputError("no compared parameter differs freely between groups, "
                                "so there are no differences to plot")
        table = pd.DataFrame({
            "lhs": tested["lhs"], "op": tested["op"], "rhs": tested["rhs"],
            "group": tested["group_b"] + " - " + tested["group_a"],
            "est": tested["difference"], "ci_lower": tested["ci_lower"],
            "ci_upper": tested["ci_upper"],
        })
        return plot_group_forest(
            table, parameters=list(dict.fromkeys(tested["parameter"])),
            xlabel=f"Difference between groups with {self.level:.0%} interval", ax=ax)


# --------------------------------------------------------------------------
# Invariance checks
# --------------------------------------------------------------------------


def _factors(fit) -> list[str]:
    frame = fit.parameter_table
    return list(dict.fromkeys(frame.loc[frame["op"] == "=~", "lhs"]))


def check_scalar_invariance(fit, factors: Sequence[str] | None = None, *,
                            min_anchor_items: int = 2) -> None:
    """Raise unless the fit constrains enough loadings and intercepts to compare means.

    Each factor needs at least ``min_anchor_items`` indicators whose loading
    and intercept are held equal across groups (a fixed marker loading
    counts as equal), and its mean must be free in some group.

    Raises
    ------
    LioInputError
        Naming the factor and the reason.
    """
    if fit.ngroups < 2:
        raise LioInputError("latent means are compared across groups; fit the model "
                            "with group=COL")
    frame = fit.parameter_table
    group_equal = list(fit.options.get("group_equal", ()))
    for factor in (factors or _factors(fit)):
        anchors = anchor_items(fit, factor)
        if len(anchors) < min_anchor_items:
            raise LioInputError(
                f"latent means of {factor!r} cannot be compared: only "
                f"{len(anchors)} of its items ({', '.join(anchors) or 'none'}) have "
                "loadings and intercepts (and thresholds, for ordinal items) held "
                "equal across groups, and comparing "
                f"means needs at least {min_anchor_items} (scalar or partial scalar "
                f"invariance; the fit has group_equal={group_equal}). Refit with "
                "group_equal=['loadings', 'intercepts'] (and group_partial for the "
                "non-invariant items) after checking invariance"
            )
        means = frame[(frame["lhs"] == factor) & (frame["op"] == "~1")]
        if means.empty or not (means["free"] > 0).any():
            raise LioInputError(
                f"the mean of {factor!r} is fixed in every group of the fit "
                f"(group_equal {group_equal}), so there is no latent mean difference "
                "to test; "
                "leave 'means' out of group_equal"
            )


def _warn_without_metric(fit, rows: pd.DataFrame) -> None:
    latent = set(fit.latent_variables)
    frame = fit.parameter_table
    involved = sorted({name for lhs, rhs in zip(rows["lhs"], rows["rhs"])
                       for name in (lhs, rhs) if name in latent})
    unequal = []
    for factor in involved:
        indicators = frame.loc[(frame["op"] == "=~") & (frame["lhs"] == factor), "rhs"]
        equal = [item for item in dict.fromkeys(indicators)
                 if equal_across_groups(frame, factor, "=~", item)]
        if len(equal) < min(2, len(set(indicators))):
            unequal.append(factor)
    if unequal:
        warnings.warn(
            f"paths of {unequal} are compared across groups although the loadings of "
            "these factors are not held equal (metric invariance), so their scales "
            "may differ between groups; refit with group_equal=['loadings'] after "
            "checking metric invariance",
            LioWarning, stacklevel=4,
        )


# --------------------------------------------------------------------------
# Wald tests
# --------------------------------------------------------------------------


def _select(fit, parameters, ops) -> pd.DataFrame:
    estimates = fit.estimates.iloc[: len(fit.parameter_table)].reset_index(drop=True)
    table = fit.parameter_table.reset_index(drop=True)
    names = [f"{lhs} ~1" if op == "~1" else f"{lhs} {op} {rhs}"
             for lhs, op, rhs in zip(table["lhs"], table["op"], table["rhs"])]
    rows = estimates.assign(parameter=names, free=table["free"].to_numpy(),
                            group_index=table["group"].to_numpy())
    if parameters is None:
        regressions = rows["op"].eq("~") & ("~" in ops)
        latent_means = rows["op"].eq("~1") & rows["lhs"].isin(fit.latent_variables) \
            & ("~1" in ops)
        return rows[regressions | latent_means]
    requested = [" ".join(str(name).split()) for name in parameters]
    unknown = [name for name in requested if name not in set(names)]
    if unknown:
        known = list(dict.fromkeys(n for n, op in zip(names, table["op"])
                                   if op in ("~", "~1")))[:12]
        raise LioInputError(
            f"parameter(s) {unknown} are not in the fit; name them as lavaan does, "
            f"for example {known}"
        )
    return rows[rows["parameter"].isin(requested)]


def _variance(vcov: np.ndarray, free_a: int, free_b: int) -> float:
    """Variance of theta_b - theta_a from the free indices (0 = fixed)."""
    value = 0.0
    if free_a > 0:
        value += vcov[free_a - 1, free_a - 1]
    if free_b > 0:
        value += vcov[free_b - 1, free_b - 1]
    if free_a > 0 and free_b > 0:
        value -= 2.0 * vcov[free_a - 1, free_b - 1]
    return value


def _pair_rows(rows: pd.DataFrame, groups: list[str], pairs: list[tuple[int, int]],
               vcov: np.ndarray, z_level: float, kind: str) -> list[dict]:
    out = []
    by_group = {g: row for g, (_, row) in zip(rows["group_index"], rows.iterrows())}
    for a, b in pairs:
        if a not in by_group or b not in by_group:
            continue
        row_a, row_b = by_group[a], by_group[b]
        difference = row_b["est"] - row_a["est"]
        note = ""
        if row_a["free"] > 0 and row_a["free"] == row_b["free"]:
            note = "held equal in the fit"
        elif row_a["free"] == 0 and row_b["free"] == 0:
            note = "fixed in both groups"
        se = 0.0
        if not note:
            variance = _variance(vcov, int(row_a["free"]), int(row_b["free"]))
            se = np.sqrt(max(variance, 0.0))
        z = difference / se if se > 0 else np.nan
        out.append({
            "parameter": row_a["parameter"], "lhs": row_a["lhs"], "op": row_a["op"],
            "rhs": row_a["rhs"], "kind": kind,
            "group_a": groups[a], "group_b": groups[b],
            "est_a": row_a["est"], "est_b": row_b["est"],
            "std_all_a": row_a["std_all"], "std_all_b": row_b["std_all"],
            "difference": difference, "se": se, "z": z,
            "pvalue": 2.0 * scipy_stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan,
            "ci_lower": difference - z_level * se if se > 0 else np.nan,
            "ci_upper": difference + z_level * se if se > 0 else np.nan,
            "note": note,
        })
    return out


def _omnibus_row(rows: pd.DataFrame, reference: int, vcov: np.ndarray,
                 kind: str) -> dict:
    """Wald test that the parameter is equal in all groups."""
    ordered = rows.sort_values("group_index")
    base = ordered[ordered["group_index"] == reference].iloc[0]
    contrasts, values = [], []
    npar = vcov.shape[0]
    for _, row in ordered.iterrows():
        if row["group_index"] == reference:
            continue
        if row["free"] == base["free"]:
            continue  # held equal or fixed alike: no free contrast
        vector = np.zeros(npar)
        if row["free"] > 0:
            vector[int(row["free"]) - 1] += 1.0
        if base["free"] > 0:
            vector[int(base["free"]) - 1] -= 1.0
        contrasts.append(vector)
        values.append(row["est"] - base["est"])
    out = {"parameter": base["parameter"], "lhs": base["lhs"], "op": base["op"],
           "rhs": base["rhs"], "kind": kind}
    if not contrasts:
        return {**out, "X2": np.nan, "df": 0, "pvalue": np.nan,
                "note": "held equal or fixed in every group"}
    contrast = np.array(contrasts)
    values = np.array(values)
    covariance = contrast @ vcov @ contrast.T
    statistic = float(values @ np.linalg.solve(covariance, values))
    return {**out, "X2": statistic, "df": len(values),
            "pvalue": float(scipy_stats.chi2.sf(statistic, len(values))), "note": ""}


def compare_groups(
    fit,
    *,
    paths: bool = True,
    latent_means: bool = False,
    parameters: Sequence[str] | None = None,
    reference: str | None = None,
    pairs: Literal["all", "reference"] = "all",
    adjust: str = "holm",
    alpha: float = 0.05,
    level: float = 0.95,
    min_anchor_items: int = 2,
) -> GroupComparison:
    """Compare paths and latent means of a multi-group fit with Wald tests.

    Parameters
    ----------
    fit : SEMResult
        A multi-group fit (``group=COL``).
    paths : bool, default True
        Compare every regression (``~``) of the model.
    latent_means : bool, default False
        Compare the latent means. This raises LioInputError unless the fit
        constrains loadings and intercepts to be equal across groups (see
        :func:`check_scalar_invariance`).
    parameters : sequence of str, optional
        Compare exactly these parameters instead, named as lavaan names them
        (``"informal_learning ~ autonomy"``, ``"autonomy ~1"``). A latent
        mean among them is checked as with ``latent_means``.
    reference : str, optional
        Reference group: group a of every pair that contains it, and the
        group the omnibus contrasts compare with. Default: the first group.
    pairs : {"all", "reference"}, default "all"
        Every pair of groups, or each group against ``reference``.
    adjust : str, default "holm"
        Multiplicity adjustment (``statsmodels.stats.multitest.multipletests``
        method, or "none") over all pairwise rows of the call, and separately
        over all omnibus rows.
    alpha : float, default 0.05
        Level for the ``significant`` column (adjusted p-value < alpha).
    level : float, default 0.95
        Coverage of the (unadjusted) intervals of the differences.
    min_anchor_items : int, default 2
        Invariant items per factor required for latent means.

    Returns
    -------
    GroupComparison

    Raises
    ------
    LioInputError
        For a single-group fit, unknown groups or parameters, invalid
        options, or latent means without (partial) scalar invariance.

    Notes
    -----
    The covariance of the estimates is the fit's ``vcov``: robust
    (sandwich) for MLR and MLM. For a latent mean fixed at 0 in the
    reference group, the difference is the other group's estimate and its
    test is that estimate's z test.
    A factor regressed on other factors has an intercept in its ``~1`` row,
    so for it the test compares intercepts (kind "latent intercept"), not
    means.

    References
    ----------
    Wald, A. (1943); Holm, S. (1979); see the module documentation.
    lavaan 0.6.14 ``lavTestWald`` computes the same statistics.
    """
    return _compare(fit, paths=paths, latent_means=latent_means,
                    parameters=parameters, reference=reference, pairs=pairs,
                    adjust=adjust, alpha=alpha, level=level,
                    min_anchor_items=min_anchor_items)


def _compare(fit, *, paths: bool = True, latent_means: bool = False,
             parameters: Sequence[str] | None = None, reference: str | None = None,
             pairs: str = "all", adjust: str = "holm", alpha: float = 0.05,
             level: float = 0.95, min_anchor_items: int = 2) -> GroupComparison:
    # Called directly by each public function, so that the warning of
    # _warn_without_metric points at the caller's line (stacklevel 4).
    if fit.ngroups < 2:
        raise LioInputError("group comparisons need a multi-group fit (group=COL)")
    if adjust not in _ADJUST_METHODS:
        raise LioInputError(
            f"unknown adjust={adjust!r}; choose one of {', '.join(_ADJUST_METHODS)}"
        )
    if pairs not in ("all", "reference"):
        raise LioInputError(f"unknown pairs={pairs!r}; choose 'all' or 'reference'")
    if not 0 < alpha < 1 or not 0 < level < 1:
        raise LioInputError(
            f"alpha and level must lie between 0 and 1, got {alpha!r} and {level!r}"
        )
    groups = list(fit.group_names)
    if reference is None:
        reference = groups[0]
    if reference not in groups:
        raise LioInputError(
            f"reference group {reference!r} is not a group of the fit; choose one of "
            f"{groups}"
        )
    reference_index = groups.index(reference)

    ops = (("~",) if paths else ()) + (("~1",) if latent_means else ())
    if parameters is None and not ops:
        raise LioInputError("nothing to compare: set paths=True, latent_means=True or "
                            "parameters=[...]")
    rows = _select(fit, parameters, ops)
    if rows.empty:
        raise LioInputError(
            "the fit has no parameters of the requested kind to compare (no "
            "regressions, or no latent means); pass parameters=[...]"
        )
    means = rows[(rows["op"] == "~1") & rows["lhs"].isin(fit.latent_variables)]
    if not means.empty:
        check_scalar_invariance(fit, list(dict.fromkeys(means["lhs"])),
                                min_anchor_items=min_anchor_items)
    regressions = rows[rows["op"] == "~"]
    if not regressions.empty:
        _warn_without_metric(fit, regressions)

    if pairs == "all":
        # The reference group comes first, so that it is group a in its pairs.
        order = [reference_index] + [g for g in range(len(groups))
                                     if g != reference_index]
        group_pairs = list(itertools.combinations(order, 2))
    else:
        group_pairs = [(reference_index, g) for g in range(len(groups))
                       if g != reference_index]
    vcov = fit.vcov.to_numpy(dtype=float)
    z_level = scipy_stats.norm.ppf(0.5 + level / 2.0)
    pair_rows, omnibus_rows = [], []
    for parameter, block in rows.groupby("parameter", sort=False):
        kind = _kind(fit, block.iloc[0])
        pair_rows.extend(_pair_rows(block, groups, group_pairs, vcov, z_level, kind))
        omnibus_rows.append(_omnibus_row(block, reference_index, vcov, kind))

    pair_table = pd.DataFrame(pair_rows, columns=[c for c in PAIR_COLUMNS
                                                  if c not in ("pvalue_adjusted",
                                                               "significant")])
    omnibus = pd.DataFrame(omnibus_rows, columns=[c for c in OMNIBUS_COLUMNS
                                                  if c not in ("pvalue_adjusted",
                                                               "significant")])
    for table in (pair_table, omnibus):
        table["pvalue_adjusted"] = _adjust(table["pvalue"].to_numpy(float), adjust)
        table["significant"] = table["pvalue_adjusted"] < alpha
    estimates = rows[list(fit.estimates.columns)].reset_index(drop=True)
    return GroupComparison(
        pairs=pair_table[list(PAIR_COLUMNS)],
        omnibus=omnibus[list(OMNIBUS_COLUMNS)],
        estimates=estimates,
        adjust=adjust,
        alpha=alpha,
        level=level,
    )


def _kind(fit, row) -> str:
    if row["op"] == "~1" and row["lhs"] in fit.latent_variables:
        # A factor regressed on others has an intercept, not a mean, in its row.
        frame = fit.parameter_table
        dependent = ((frame["op"] == "~") & (frame["lhs"] == row["lhs"])).any()
        return "latent intercept" if dependent else "latent mean"
    if row["op"] == "~1":
        return "intercept"
    if row["op"] == "~":
        return "regression"
    if row["op"] == "=~":
        return "loading"
    return "covariance"


def _adjust(pvalues: np.ndarray, method: str) -> np.ndarray:
    out = np.full(len(pvalues), np.nan)
    finite = np.isfinite(pvalues)
    if method == "none" or not finite.any():
        out[finite] = pvalues[finite]
        return out
    out[finite] = multipletests(pvalues[finite], method=method)[1]
    return out


def compare_paths(fit, **options) -> GroupComparison:
    """Compare every regression of a multi-group fit; see :func:`compare_groups`."""
    return _compare(fit, paths=True, latent_means=False, **options)


def compare_latent_means(fit, **options) -> GroupComparison:
    """Compare the latent means of a (partially) scalar-invariant fit.

    Raises
    ------
    LioInputError
        Unless loadings and intercepts are held equal across groups; see
        :func:`check_scalar_invariance`.
    """
    return _compare(fit, paths=False, latent_means=True, **options)
