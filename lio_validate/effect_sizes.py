"""Effect sizes of measurement non-invariance: dMACS per item and group pair.

A chi-square difference test rejects invariance at survey sample sizes even
when the groups' items differ by a trivial amount, so the size of a
difference has to be judged on its own. dMACS (Nye & Drasgow, 2011) is the
root mean squared difference between the expected item scores of a
reference and a focal group, averaged over the focal group's latent
distribution and divided by the item's pooled standard deviation:

    dMACS_j = sqrt( E_F[(y_hat_jF(eta) - y_hat_jR(eta))^2] ) / SD_pooled,j

with y_hat_jg(eta) = nu_jg + lambda_jg' eta. For a normal focal
distribution N(kappa_F, Phi_F) the expectation has the closed form

    (d_nu + d_lambda' kappa_F)^2 + d_lambda' Phi_F d_lambda,

d_nu = nu_jF - nu_jR and d_lambda = lambda_jF - lambda_jR, which is used
here in place of numerical integration. The pooled SD is
sqrt(((N_R - 1) s_R^2 + (N_F - 1) s_F^2) / (N_R + N_F - 2)) with s_g^2 the
item's sample variance (divisor N_g - 1) in group g.

The expected item scores are only comparable when both groups' factors are
on one scale. A fit with at least one invariant item per factor (equal
loading and intercept, as in a scalar or partial scalar model) provides
that scale. Otherwise (configural and metric fits) each group's factor is
re-expressed so that its marker item, the first indicator, has the
reference group's loading and intercept. That choice of anchor is an
assumption: a marker that is itself non-invariant shifts every other item's
dMACS.

References
----------
Nye, C. D., & Drasgow, F. (2011). Effect size indices for analyses of
measurement equivalence: Understanding the practical importance of
differences between groups. Journal of Applied Psychology, 96(5), 966-980.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import LioInputError
from lio_validate.model import RamModel, build_ram_model
from lio_validate.partable import ParameterTable, find_roles
from lio_validate.samplestats import GroupStatistics, SampleStatistics
from lio_validate.syntax import parse_model

__all__ = [
    "DMACSResult",
    "GroupMeasurement",
    "anchor_items",
    "anchor_on_markers",
    "dmacs",
    "equal_across_groups",
    "fitted_ram",
    "group_sizes",
    "has_common_scale",
    "measurement_parameters",
]

DMACS_COLUMNS = (
    "item", "factor", "reference", "focal", "dmacs", "mean_difference",
    "dmacs_signed", "sd_pooled", "loading_reference", "loading_focal",
    "intercept_reference", "intercept_focal",
)


@dataclass(frozen=True)
class GroupMeasurement:
    """The measurement model of one group, on the scale of one anchoring.

    Attributes
    ----------
    loadings : pandas.DataFrame
        Items (rows) by latent variables (columns); zero where an item does
        not load.
    intercepts : pandas.Series
        Item intercepts.
    latent_mean : pandas.Series
        Implied means of the latent variables.
    latent_cov : pandas.DataFrame
        Implied covariance matrix of the latent variables.
    item_variance : pandas.Series
        Sample variances of the items (divisor N, as stored in the fit).
    nobs : int
        Rows of the group used in the fit.
    """

    loadings: pd.DataFrame
    intercepts: pd.Series
    latent_mean: pd.Series
    latent_cov: pd.DataFrame
    item_variance: pd.Series
    nobs: int


@dataclass(frozen=True)
class DMACSResult:
    """dMACS of every item for each compared pair of groups.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per item and pair with the columns ``item, factor,
        reference, focal, dmacs, mean_difference, dmacs_signed, sd_pooled,
        loading_reference, loading_focal, intercept_reference,
        intercept_focal``. ``mean_difference`` is the expected item score of
        the focal group minus that of the reference group, averaged over the
        focal group's latent distribution, in item units. ``dmacs_signed`` is
        that difference divided by ``sd_pooled``. Loadings are NaN for items
        that load on more than one factor.
    scale_bias : pandas.DataFrame
        Per factor and pair, ``mean_difference``: the sum of the items'
        mean differences, i.e. the expected bias in the sum score of the
        factor's items that non-invariance causes.
    anchoring : str
        How the groups were put on one scale: ``"fit"`` (the fit's own
        invariant items) or ``"markers"`` (each factor's first indicator).
    """

    table: pd.DataFrame
    scale_bias: pd.DataFrame
    anchoring: str

    def largest(self, n: int = 10) -> pd.DataFrame:
        """Return the ``n`` rows with the largest dMACS."""
        return self.table.nlargest(n, "dmacs").reset_index(drop=True)

    def summary(self, n: int = 10) -> str:
        """Return the largest dMACS values as readable text."""
        lines = [
            (f"dMACS (Nye & Drasgow, 2011), groups anchored by "
             f"{'the fit' if self.anchoring == 'fit' else 'marker items'}; "
             f"{len(self.table)} item-pair rows, the {min(n, len(self.table))} "
             "largest:"),
            "",
            (f"  {'item':<12s}{'reference':>12s}{'focal':>12s}{'dMACS':>9s}"
             f"{'mean diff':>11s}"),
        ]
        for row in self.largest(n).itertuples(index=False):
            lines.append(f"  {row.item:<12s}{row.reference:>12s}{row.focal:>12s}"
                         f"{row.dmacs:>9.3f}{row.mean_difference:>11.3f}")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# The fit's RAM model, rebuilt from its parameter table and estimates
# --------------------------------------------------------------------------


def fitted_ram(fit) -> tuple[RamModel, np.ndarray]:
    """Rebuild the RAM model of a fit, with every row at its estimate.

    Fixed rows take their values from the fit's estimates, so fixed-x
    covariate moments are those the fit used.

    Returns
    -------
    (RamModel, numpy.ndarray)
        The model and its free parameters.
    """
    parsed = parse_model(fit.model_text)
    roles = find_roles(parsed.terms, fixed_x=bool(fit.options.get("fixed_x", True)))
    frame = fit.parameter_table.reset_index(drop=True)
    table = ParameterTable(frame, roles, parsed.definitions, fit.ngroups,
                           bool(fit.options.get("meanstructure", False)))

    # build_ram_model reads sample moments only for fixed-x rows, which are
    # overwritten with the fit's estimates right after.
    p = len(roles.ov)
    placeholder = SampleStatistics(
        tuple(roles.ov),
        tuple(GroupStatistics(name, 0, np.zeros(p), np.eye(p), 0.0)
              for name in fit.group_names),
    )
    ram = build_ram_model(table, placeholder)
    estimates = fit.estimates["est"].to_numpy(dtype=float)[: len(frame)]
    ram = replace(ram, values=estimates.copy())
    x = np.zeros(ram.npar)
    free = ram.free_index >= 0
    x[ram.free_index[free]] = estimates[free]
    return ram, x


def group_sizes(fit, data) -> dict[str, int]:
    """Count the rows of each group that the fit used, from the data it was fit to.

    Raises
    ------
    LioInputError
        If the counts do not add up to the fit's ``nobs`` (other data).
    """
    parsed = parse_model(fit.model_text)
    listwise = fit.options.get("missing", "listwise") != "fiml"
    prepared, _ = prepare_data(parsed, data, group=fit.options.get("group"),
                               listwise=listwise)
    ov = list(fit.observed_variables)
    sizes = {name: int(frame[ov].notna().any(axis=1).sum())
             for name, frame in prepared.frames}
    if sum(sizes.values()) != fit.nobs or set(sizes) != set(fit.group_names):
        raise LioInputError(
            f"the data give groups {sizes} ({sum(sizes.values())} rows) but the "
            f"model was fitted to {fit.nobs} rows in groups "
            f"{list(fit.group_names)}; pass the data the model was fitted to"
        )
    return sizes


def measurement_parameters(
    fit, sizes: Mapping[str, int]
) -> dict[str, GroupMeasurement]:
    """Extract loadings, intercepts and latent moments of every group of ``fit``.

    Raises
    ------
    LioInputError
        If the fit has no mean structure, or an indicator is also regressed
        on an observed variable (its expected score would depend on it).
    """
    if (fit.parameter_table["op"] == "|").any():
        raise LioInputError(
            "dMACS for ordinal items needs expected item scores through the "
            "thresholds, which this version does not compute; fit the items as "
            "continuous (estimator='ML' or 'MLR') for dMACS"
        )
    if not fit.options.get("meanstructure", False):
        raise LioInputError(
            "dMACS needs item intercepts; fit the model with several groups "
            "(which adds a mean structure) or with meanstructure=True"
        )
    ram, x = fitted_ram(fit)
    roles = ram.table.roles
    items = [name for name in roles.ov if name in roles.ov_ind]
    latent = list(roles.lv)
    position = {name: k for k, name in enumerate(ram.variables)}
    item_rows = [position[name] for name in items]
    latent_rows = [position[name] for name in latent]
    observed_rows = list(range(ram.nobserved))

    out = {}
    for g, name in enumerate(fit.group_names):
        A, _, m = ram.matrices(x, g)
        moments = ram.implied(x, g)
        other = A[np.ix_(item_rows, observed_rows)]
        if np.any(other != 0.0):
            bad = items[int(np.flatnonzero(np.any(other != 0.0, axis=1))[0])]
            raise LioInputError(
                f"item {bad!r} is regressed on an observed variable, so its "
                "expected score is not a function of the latent variables alone; "
                "dMACS is defined for items that only load on factors"
            )
        total_mean = moments.B @ moments.m
        total_cov = moments.B @ moments.S @ moments.B.T
        variance = _item_variances(fit, name, items)
        out[name] = GroupMeasurement(
            loadings=pd.DataFrame(A[np.ix_(item_rows, latent_rows)], index=items,
                                  columns=latent),
            intercepts=pd.Series(m[item_rows], index=items),
            latent_mean=pd.Series(total_mean[latent_rows], index=latent),
            latent_cov=pd.DataFrame(total_cov[np.ix_(latent_rows, latent_rows)],
                                    index=latent, columns=latent),
            item_variance=variance,
            nobs=int(sizes[name]),
        )
    return out


def _item_variances(fit, group: str, items: list[str]) -> pd.Series:
    cov = fit.sample_cov
    if fit.ngroups > 1:
        cov = cov.xs(group, level="group")
    return pd.Series(np.diag(cov.loc[items, items].to_numpy(dtype=float)), index=items)


# --------------------------------------------------------------------------
# Anchoring
# --------------------------------------------------------------------------


def has_common_scale(fit) -> bool:
    """Return whether every factor has an item with equal loading and intercept.

    Equal means the same free parameter (an equality constraint) or the
    same fixed value in every group of the parameter table.
    """
    frame = fit.parameter_table
    factors = list(dict.fromkeys(frame.loc[frame["op"] == "=~", "lhs"]))
    return all(anchor_items(fit, factor) for factor in factors)


def anchor_items(fit, factor: str) -> list[str]:
    """Return the indicators of ``factor`` whose loading and intercept are equal.

    An ordinal indicator also needs every threshold equal across groups.
    """
    frame = fit.parameter_table
    indicators = list(dict.fromkeys(
        frame.loc[(frame["op"] == "=~") & (frame["lhs"] == factor), "rhs"]))
    return [item for item in indicators
            if equal_across_groups(frame, factor, "=~", item)
            and equal_across_groups(frame, item, "~1", "")
            and _thresholds_equal(frame, item)]


def _thresholds_equal(frame: pd.DataFrame, item: str) -> bool:
    names = frame.loc[(frame["op"] == "|") & (frame["lhs"] == item), "rhs"]
    return all(equal_across_groups(frame, item, "|", name)
               for name in dict.fromkeys(names))


def equal_across_groups(frame: pd.DataFrame, lhs: str, op: str, rhs: str) -> bool:
    """Return whether a parameter is equal in all groups of the parameter table.

    Equal means one free parameter shared by every group, or the same fixed
    value in every group.
    """
    rows = frame[(frame["lhs"] == lhs) & (frame["op"] == op) & (frame["rhs"] == rhs)]
    if rows.empty:
        return False
    free = rows["free"].to_numpy()
    if np.all(free > 0):
        return len(set(free.tolist())) == 1
    if np.all(free == 0):
        values = rows["value"].to_numpy(dtype=float)
        return bool(np.all(values == values[0]))
    return False


def anchor_on_markers(
    parameters: Mapping[str, GroupMeasurement], reference: str,
    markers: Mapping[str, str],
) -> dict[str, GroupMeasurement]:
    """Re-express each group's factors so that each marker matches the reference.

    With eta* = a + b eta, the marker m of a factor gets the reference
    group's loading and intercept when b = lambda_mg / lambda_mR and
    a = (nu_mg - nu_mR) / lambda_mR. Loadings become lambda / b, intercepts
    nu - sum_f lambda_f a_f / b_f, latent means a + b kappa and latent
    covariances D Phi D with D = diag(b). The implied item moments do not
    change.
    """
    base = parameters[reference]
    out = {}
    for name, group in parameters.items():
        factors = list(group.latent_mean.index)
        shift = np.zeros(len(factors))
        scale = np.ones(len(factors))
        for k, factor in enumerate(factors):
            marker = markers.get(factor)
            if marker is None:
                continue
            loading_ref = base.loadings.at[marker, factor]
            scale[k] = group.loadings.at[marker, factor] / loading_ref
            shift[k] = (group.intercepts[marker] - base.intercepts[marker]) \
                / loading_ref
        loadings = group.loadings / scale
        intercepts = group.intercepts - (group.loadings * (shift / scale)).sum(axis=1)
        latent_mean = shift + scale * group.latent_mean.to_numpy()
        latent_cov = group.latent_cov.to_numpy() * np.outer(scale, scale)
        out[name] = GroupMeasurement(
            loadings=loadings,
            intercepts=intercepts,
            latent_mean=pd.Series(latent_mean, index=factors),
            latent_cov=pd.DataFrame(latent_cov, index=factors, columns=factors),
            item_variance=group.item_variance,
            nobs=group.nobs,
        )
    return out


# --------------------------------------------------------------------------
# dMACS
# --------------------------------------------------------------------------


def dmacs(
    fit,
    data=None,
    *,
    sizes: Mapping[str, int] | None = None,
    reference: str | None = None,
    pairs: bool = False,
    anchoring: Literal["auto", "fit", "markers"] = "auto",
) -> DMACSResult:
    """Compute dMACS (Nye & Drasgow, 2011) for every item of a multi-group fit.

    Parameters
    ----------
    fit : SEMResult
        A multi-group fit with a mean structure (any level of invariance).
    data : pandas.DataFrame, optional
        The data the model was fitted to, for the group sizes of the pooled
        SD. Give either ``data`` or ``sizes``.
    sizes : mapping of str to int, optional
        Rows per group used in the fit.
    reference : str, optional
        The reference group; every other group is a focal group compared
        with it. Default: the first group of the fit (lavaan's order, by
        first appearance in the data).
    pairs : bool, default False
        Compare every pair of groups (the earlier group of the fit as
        reference) instead of each group against ``reference``.
    anchoring : {"auto", "fit", "markers"}, default "auto"
        "fit" uses the fit's own scale and needs an invariant item per
        factor; "markers" re-anchors each factor on its first indicator;
        "auto" takes "fit" when every factor has an invariant item, else
        "markers".

    Returns
    -------
    DMACSResult

    Raises
    ------
    LioInputError
        For a single-group fit, an unknown reference group, a fit without an
        invariant item per factor when ``anchoring="fit"``, or missing
        group sizes.

    Notes
    -----
    dMACS is symmetric in the item parameters but averages over the focal
    group's latent distribution, so it depends on which group is the
    reference. Items that load on several factors use the full loading
    vector and latent covariance matrix.

    References
    ----------
    Nye, C. D., & Drasgow, F. (2011). Effect size indices for analyses of
    measurement equivalence. Journal of Applied Psychology, 96(5), 966-980,
    eq. 3 (dMACS) and the pooled SD defined with it.
    """
    names = list(fit.group_names)
    if fit.ngroups < 2:
        raise LioInputError("dMACS compares groups; fit the model with group=COL")
    if reference is None:
        reference = names[0]
    if reference not in names:
        raise LioInputError(
            f"reference group {reference!r} is not a group of the fit; choose one "
            f"of {names}"
        )
    if sizes is None:
        if data is None:
            raise LioInputError(
                "dMACS needs the group sizes for the pooled SD; pass the data the "
                "model was fitted to (data=...) or sizes={group: rows}"
            )
        sizes = group_sizes(fit, data)
    if anchoring not in ("auto", "fit", "markers"):
        raise LioInputError(
            f"unknown anchoring {anchoring!r}; choose 'auto', 'fit' or 'markers'"
        )

    parameters = measurement_parameters(fit, sizes)
    common = has_common_scale(fit)
    if anchoring == "fit" and not common:
        raise LioInputError(
            "anchoring='fit' needs, for every factor, an item whose loading and "
            "intercept are held equal across groups; fit a scalar or partial "
            "scalar model, or use anchoring='markers'"
        )
    used = "fit" if anchoring == "fit" or (anchoring == "auto" and common) \
        else "markers"
    if used == "markers":
        frame = fit.parameter_table
        markers = {}
        for lhs, op, rhs in zip(frame["lhs"], frame["op"], frame["rhs"]):
            if op == "=~" and lhs not in markers:
                markers[lhs] = rhs
        parameters = anchor_on_markers(parameters, reference, markers)

    if pairs:
        compared = list(itertools.combinations(names, 2))
    else:
        compared = [(reference, focal) for focal in names if focal != reference]
    rows = []
    for ref, focal in compared:
        rows.extend(_pair_rows(parameters[ref], parameters[focal], ref, focal))
    table = pd.DataFrame(rows, columns=list(DMACS_COLUMNS))
    return DMACSResult(table=table, scale_bias=_scale_bias(table), anchoring=used)


def _pair_rows(reference: GroupMeasurement, focal: GroupMeasurement,
               reference_name: str, focal_name: str) -> list[dict]:
    pooled = (reference.nobs * reference.item_variance
              + focal.nobs * focal.item_variance) \
        / (reference.nobs + focal.nobs - 2)
    kappa = focal.latent_mean.to_numpy()
    phi = focal.latent_cov.to_numpy()
    rows = []
    for item in reference.loadings.index:
        delta_loading = (focal.loadings.loc[item] - reference.loadings.loc[item]) \
            .to_numpy()
        delta_intercept = focal.intercepts[item] - reference.intercepts[item]

        # Closed form of E_F[(d_nu + d_lambda' eta)^2] for eta ~ N(kappa, Phi).
        mean_difference = float(delta_intercept + delta_loading @ kappa)
        squared = mean_difference**2 + float(delta_loading @ phi @ delta_loading)
        sd = float(np.sqrt(pooled[item]))
        loads_on = reference.loadings.columns[
            (reference.loadings.loc[item] != 0) | (focal.loadings.loc[item] != 0)]
        single = len(loads_on) == 1
        rows.append({
            "item": item,
            "factor": " + ".join(loads_on),
            "reference": reference_name,
            "focal": focal_name,
            "dmacs": np.sqrt(squared) / sd,
            "mean_difference": mean_difference,
            "dmacs_signed": mean_difference / sd,
            "sd_pooled": sd,
            "loading_reference": reference.loadings.at[item, loads_on[0]]
            if single else np.nan,
            "loading_focal": focal.loadings.at[item, loads_on[0]] if single else np.nan,
            "intercept_reference": reference.intercepts[item],
            "intercept_focal": focal.intercepts[item],
        })
    return rows


def _scale_bias(table: pd.DataFrame) -> pd.DataFrame:
    single = table[~table["factor"].str.contains(r"\+", regex=True)]
    grouped = single.groupby(["factor", "reference", "focal"], sort=False)
    out = grouped["mean_difference"].sum().reset_index()
    out["n_items"] = grouped.size().to_numpy()
    return out[["factor", "reference", "focal", "n_items", "mean_difference"]]
