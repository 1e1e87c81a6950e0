"""The threshold-first invariance ladder for ordinal items.

:func:`ordinal_invariance` fits the levels of :data:`ORDINAL_LEVELS` by
WLSMV (or ULSMV, DWLS, ULS) in the delta parameterization: configural, equal
thresholds, then equal loadings, then equal intercepts. Each level is
identified as Wu and Estabrook (2016) prescribe and as
``semTools::measEq.syntax(ID.cat = "Wu.Estabrook.2016", ID.fac =
"std.lv")`` writes it (:func:`lio_validate.wls_table.free_for_identification`):

==========  =================================================================
level       free in groups 2..G besides the group's own parameters
==========  =================================================================
configural  nothing: y* intercepts 0, scale factors 1, latent means 0 and
            latent variances 1 in every group
thresholds  scale factors and y* intercepts
metric      the same, and latent variances
scalar      scale factors, latent variances and latent means (the y*
            intercepts are equal again, at 0)
==========  =================================================================

Binary items keep their scale factors at 1 until the intercepts are equal.
With equal thresholds, free intercepts and scale factors absorb the location
and scale of each item's y*. So only the thresholds beyond the second of an
item restrict the model, and each item with c categories adds (c - 3)(G - 1)
degrees of freedom. With three categories the thresholds level is
equivalent to the configural model.

Consecutive levels are compared by lavaan's ``lavTestLRT`` method for these
estimators, the scaled-and-shifted difference test of Satorra (2000)
(:mod:`lio_validate.wls_difference`), and by the changes in the scaled CFI,
TLI and RMSEA and in SRMR. The scaled indices are shown because lavaan
0.6.14 gives no robust ("catML") indices once scale factors are free.

Strict invariance (equal residual variances) is not part of the ladder: in
the delta parameterization the residual variances are not parameters, and
``measEq.syntax`` also stops there.

References
----------
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

import pandas as pd

from lio_validate.api import ordinal_result
from lio_validate.exceptions import LioInputError, LioWarning
from lio_validate.invariance import (
    DecisionRule,
    InvarianceResult,
    check_groups,
    compare_rows,
    level_row,
    mark_levels_after_rejection,
    reissue_warnings,
    resolve_levels,
)
from lio_validate.wls import ESTIMATORS, fit_dwls
from lio_validate.wls_difference import satorra_2000

__all__ = ["ordinal_invariance"]

# Fit measures shown per level: the scaled ones for the robust estimators,
# the standard ones otherwise.
_SCALED = {"chisq": "chisq_scaled", "pvalue": "pvalue_scaled", "cfi": "cfi_scaled",
           "tli": "tli_scaled", "rmsea": "rmsea_scaled"}
_STANDARD = {"chisq": "chisq", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
             "rmsea": "rmsea"}


def _check_levels(resolved) -> None:
    for name, kinds in resolved:
        if "residuals" in kinds:
            raise LioInputError(
                f"level {name!r} constrains residual variances, which are not "
                "parameters of ordinal items in the delta parameterization (each is "
                "1 / delta^2 minus the explained variance of the item's y*); end the "
                "ordinal ladder at 'scalar'"
            )


def _equivalent_step(previous: str) -> dict:
    """Return the comparison of a thresholds level that restricts nothing."""
    nan = float("nan")
    return {
        "delta_chisq": nan, "delta_df": 0.0, "delta_pvalue": nan,
        "delta_scaling_factor": nan, "rmsea_d": nan, "delta_cfi": 0.0,
        "delta_tli": 0.0, "delta_rmsea": 0.0, "delta_srmr": 0.0,
        "decision": (f"supported (equivalent to {previous}: with at most three "
                     "categories per item, equal thresholds add no restriction "
                     "under this identification; Wu & Estabrook 2016)"),
    }


def ordinal_invariance(
    model: str,
    data,
    group: str,
    *,
    ordered: Sequence[str] | bool,
    estimator: str | None = None,
    levels: Sequence[str | tuple[str, Sequence[str]]] | None = None,
    group_partial: Sequence[str] = (),
    rule: DecisionRule | None = None,
    effect_sizes: bool = True,
    min_group_size: int | None = None,
    weights: str | None = None,
    cluster: str | None = None,
) -> InvarianceResult:
    """Fit and compare the threshold-first invariance ladder of ordinal items.

    Parameters
    ----------
    model : str
        lavaan model syntax of the measurement model.
    data : pandas.DataFrame
        One row per respondent, with the items and ``group``.
    group : str
        Column whose values define the groups.
    ordered : sequence of str or True
        The ordinal items (True: every observed variable of the model).
    estimator : {"WLSMV", "ULSMV", "DWLS", "ULS"}, default "WLSMV"
    levels : sequence, optional
        Default :data:`lio_validate.invariance.ORDINAL_LEVELS`; see
        :func:`lio_validate.invariance.resolve_levels`.
    group_partial : sequence of str, optional
        Parameters left free at every level ("A1|t2", "A =~ A3", "A1 ~1").
    rule : DecisionRule, optional
        Cut-offs for the decision; default ``DecisionRule()`` (Chen 2007).
    effect_sizes : bool, default True
        Not used: dMACS (Nye & Drasgow, 2011) is defined for continuous items,
        so no effect size is computed for ordinal ones. With True, the
        result's ``messages`` record that.
    min_group_size : int, optional
        Smallest group accepted.
    weights, cluster : str, optional
        Columns of sampling weights and cluster ids
        (:func:`lio_validate.wls.fit_dwls`).

    Returns
    -------
    InvarianceResult
        Its ``fits`` are identified by unit latent variances in the first
        group (``std_lv``), because the ladder is defined that way. The fit
        of every level does not depend on that choice.

    Raises
    ------
    LioInputError
        For an estimator that is not for ordinal items, or a level with
        equal residual variances.
    DataError
        For a group that cannot be estimated, naming it: too small, an item
        constant in it, or a category of an item empty in it (merge it with
        a neighbouring category).

    References
    ----------
    Wu, H., & Estabrook, R. (2016); Satorra, A. (2000); see the module
    documentation.
    """
    estimator = "WLSMV" if estimator is None else str(estimator).upper()
    if estimator not in ESTIMATORS:
        raise LioInputError(
            f"estimator {estimator!r} is not for ordinal items; choose one of "
            f"{', '.join(ESTIMATORS)} (default WLSMV)"
        )
    robust = ESTIMATORS[estimator][1]
    resolved = resolve_levels(levels, ordinal=True)
    _check_levels(resolved)
    rule = DecisionRule() if rule is None else rule
    frame = getattr(data, "frame", data)
    sizes = check_groups(model, frame, group, min_group_size=min_group_size)

    # Fit every level; warnings repeated by each fit are issued once.
    raw, fits, kinds, messages = {}, {}, {}, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, group_equal in resolved:
            fit = fit_dwls(model, frame, ordered, estimator=estimator, group=group,
                           std_lv=True, group_equal=group_equal,
                           group_partial=group_partial, identification="wu_estabrook",
                           sampling_weights=weights, cluster=cluster)
            raw[name] = fit
            fits[name] = ordinal_result(
                fit, model, ordered, group=group, std_lv=True,
                options={"group_equal": list(group_equal),
                         "group_partial": list(group_partial),
                         "identification": "wu_estabrook",
                         "weights": weights, "cluster": cluster})
            kinds[name] = group_equal
    reissue_warnings(caught, messages)
    if effect_sizes:
        # Recorded, not warned: effect_sizes is on by default, and a warning on
        # every ordinal ladder would only repeat the documentation.
        messages.append(
            "dMACS (Nye & Drasgow, 2011) is defined for continuous items, so the "
            "ordinal ladder reports no effect size of non-invariance. Judge the size "
            "of differences by the thresholds and loadings of the configural fit")

    # Compare consecutive levels.
    names = _SCALED if robust else _STANDARD
    rows, problems = [], []
    previous = None
    for level, fit in fits.items():
        row = level_row(level, fit, kinds[level], estimator, names)
        added = [] if previous is None else \
            [kind for kind in kinds[level] if kind not in kinds[previous["level"]]]
        difference = None
        if previous is not None and robust and row["df"] > previous["df"]:
            difference = satorra_2000(raw[previous["level"]], raw[level])
        if previous is not None and row["df"] == previous["df"] \
                and added == ["thresholds"]:
            row.update(_equivalent_step(previous["level"]))
        else:
            row.update(compare_rows(previous, row, added, estimator=estimator,
                                    rule=rule, nobs=fit.nobs, ngroups=fit.ngroups,
                                    messages=problems, difference=difference))
        row["delta_shift"] = difference.shift if difference is not None else float("nan")
        rows.append(row)
        previous = row
    table = mark_levels_after_rejection(pd.DataFrame(rows))
    for text in problems:
        warnings.warn(text, LioWarning, stacklevel=2)
    messages.extend(problems)

    first = fits[resolved[0][0]]
    return InvarianceResult(
        table=table,
        fits=fits,
        group_equal=kinds,
        estimator=estimator,
        difference_test="satorra.2000" if robust else "standard",
        rule=rule,
        group_names=tuple(first.group_names),
        group_sizes=sizes,
        dmacs=None,
        measure_names=dict(names),
        messages=tuple(messages),
    )
