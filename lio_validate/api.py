"""``cfa()`` and ``sem()``: fit a model written in lavaan syntax.

Both apply the defaults of lavaan 0.6's functions of the same names, so the
same model text gives the same numbers in both packages. Each call is a
short sequence of stages: validate options, prepare data, build the model,
estimate, then assemble the result.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from lio_validate import ml
from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import (
    ConvergenceWarning,
    HeywoodWarning,
    IdentificationError,
    LioInputError,
    ListwiseDeletionWarning,
    NonPositiveDefiniteWarning,
)
from lio_validate.fiml import FimlObjective, em_saturated, find_patterns, pattern_logl
from lio_validate.fiml_fit import fiml_fit_measures, fiml_robust_inference
from lio_validate.inference import (
    covariance_of_estimates,
    robust_fit_measures,
    defined_parameters,
    ml_fit_measures,
    parameter_name,
    parameter_rows,
    r_squared,
)
from lio_validate.model import build_ram_model
from lio_validate.partable import build_parameter_table
from lio_validate.results import ESTIMATE_COLUMNS, FitInternals, SEMResult
from lio_validate.robust_inference import robust_inference
from lio_validate.samplestats import (
    GroupStatistics,
    SampleStatistics,
    compute_sample_statistics,
)
from lio_validate.standardize import standardize, standardized_with_se
from lio_validate.syntax import parse_model

__all__ = ["cfa", "sem"]

_ESTIMATORS = ("ML", "MLR", "MLM")
_ORDINAL_ESTIMATORS = ("WLSMV", "DWLS", "ULSMV", "ULS")
_PLANNED_ESTIMATORS: tuple[str, ...] = ()
_INFORMATION = ("expected", "observed")
_MISSING = ("listwise", "fiml", "ml")
_LIKELIHOOD = ("normal", "wishart")


def _check_options(estimator, information, missing, likelihood, ordered, weights,
                   cluster, group_equal) -> tuple[str, str]:
    estimator = str(estimator).upper()
    if estimator not in _ESTIMATORS + _ORDINAL_ESTIMATORS:
        raise LioInputError(
            f"unknown estimator {estimator!r}; choose one of "
            f"{', '.join(_ESTIMATORS + _ORDINAL_ESTIMATORS)}"
        )
    if estimator in _ORDINAL_ESTIMATORS and not ordered:
        # lavaan 0.6 would treat the items as continuous here; a reviewer
        # expects WLSMV to mean ordinal items, so the request is rejected.
        raise LioInputError(
            f"estimator {estimator!r} is for ordinal items, but none are declared; "
            "give ordered=[...] or ordered=True (--ordered COL,COL or --ordered all "
            "on the command line), or use 'MLR' for items treated as continuous"
        )
    fiml = missing in ("fiml", "ml")
    if information is None:
        # lavaan's defaults: MLR, FIML, weights and clusters use the observed
        # information, ML and MLM on complete data the expected one.
        observed = estimator == "MLR" or fiml or weights or cluster
        information = "observed" if observed else "expected"
    if information not in _INFORMATION:
        raise LioInputError(
            f"unknown information {information!r}; choose 'expected' or 'observed'"
        )
    if missing not in _MISSING:
        raise LioInputError(
            f"unknown missing={missing!r}; choose 'listwise' or 'fiml' (lavaan's "
            "'ml')"
        )
    fiml = missing in ("fiml", "ml")
    if fiml and estimator == "MLM":
        raise LioInputError(
            "estimator='MLM' needs complete data; use estimator='MLR' with "
            "missing='fiml', as lavaan does"
        )
    if fiml and likelihood == "wishart":
        raise LioInputError("likelihood='wishart' is not defined with missing='fiml'")
    if likelihood not in _LIKELIHOOD:
        raise LioInputError(
            f"unknown likelihood {likelihood!r}; choose 'normal' or 'wishart'"
        )
    if (weights or cluster) and (fiml or estimator == "MLM"):
        design = " and ".join(f"{name} {value!r}" for name, value in
                              (("weights", weights), ("cluster", cluster)) if value)
        raise LioInputError(
            f"the sampling design ({design}, given as weights=/cluster= or "
            "--weights/--cluster, or taken from the codebook) works with estimator "
            "'ML' or 'MLR' on complete cases in this version, not with "
            f"{'missing=fiml' if fiml else 'estimator MLM'}. Use listwise deletion "
            "(the default) with MLR, or fit without the design"
        )
    if ordered and estimator in _ESTIMATORS:
        raise LioInputError(
            f"ordered items need estimator 'WLSMV', 'DWLS', 'ULSMV' or 'ULS', not "
            f"{estimator!r}; leave estimator unset to use WLSMV"
        )
    if ordered and fiml:
        # lavaan 0.6 has no full-information estimator for ordinal items under
        # WLSMV either; its categorical estimators use complete cases.
        raise LioInputError(
            "missing='fiml' is for continuous items; ordinal items are fitted to "
            "the complete cases (missing='listwise'). Treat the items as continuous "
            "(estimator='MLR', missing='fiml') to use every row"
        )
    return estimator, information, fiml


def _emit(messages: list[str], text: str, category, stacklevel: int = 4) -> None:
    messages.append(text)
    warnings.warn(text, category, stacklevel=stacklevel)


def sem(
    model: str,
    data,
    *,
    estimator: str | None = None,
    group: str | None = None,
    std_lv: bool = False,
    meanstructure: bool | None = None,
    fixed_x: bool = True,
    information: Literal["expected", "observed"] | None = None,
    likelihood: Literal["normal", "wishart"] = "normal",
    missing: Literal["listwise", "fiml"] = "listwise",
    ordered=None,
    weights: str | None = None,
    cluster: str | None = None,
    group_equal=None,
    group_partial=None,
    identification: Literal["lavaan", "wu_estabrook"] = "lavaan",
) -> SEMResult:
    """Fit a structural equation model written in lavaan syntax.

    Parameters
    ----------
    model : str
        lavaan model syntax (``=~``, ``~``, ``~~``, ``~ 1``, labels, ``:=``).
    data : pandas.DataFrame
        One row per respondent; the model's observed variables are columns.
    estimator : {"ML", "MLR", "MLM", "WLSMV", "DWLS", "ULSMV", "ULS"}, optional
        Default "ML", or "WLSMV" when ``ordered`` is given. The last four fit
        ordinal items from thresholds and polychoric correlations (delta
        parameterisation, lavaan's conventions). "MLR" adds Huber-White sandwich
        standard errors and the Yuan-Bentler scaled test (lavaan's
        ``yuan.bentler.mplus``); "MLM" adds robust standard errors from the
        expected information and the Satorra-Bentler scaled test.
    group : str, optional
        Column whose values define groups for a multi-group fit.
    std_lv : bool, default False
        Scale latent variables by fixing their variances to 1 instead of the
        first loading.
    meanstructure : bool, optional
        Estimate intercepts; by default only when the model has ``~ 1`` terms
        or several groups.
    fixed_x : bool, default True
        Fix the moments of observed exogenous covariates at their sample
        values (lavaan's ``fixed.x``).
    information : {"expected", "observed"}, optional
        Information matrix used for standard errors: observed for MLR,
        expected otherwise, as in lavaan.
    likelihood : {"normal", "wishart"}, default "normal"
        Divisor N (normal) or N - 1 (Wishart) of the sample covariance.
    group_equal : sequence of str, optional
        Parameters held equal across groups: "loadings", "intercepts",
        "means", "residuals", "residual.covariances", "lv.variances",
        "lv.covariances", "regressions" (lavaan's ``group.equal``).
    group_partial : sequence of str, optional
        Parameters exempt from ``group_equal`` ("visual =~ x2", "A1|t1").
    identification : {"lavaan", "wu_estabrook"}, default "lavaan"
        For ordinal items in several groups, what equality constraints free
        in groups 2..G. "lavaan": equal thresholds free the scale factors and
        latent means, as lavaan's ``group.equal``. "wu_estabrook": equal
        thresholds free the scale factors and item intercepts, and equal
        intercepts then free the latent means (Wu & Estabrook, 2016, as
        ``semTools::measEq.syntax``); use it with ``std_lv=True``.
    ordered : sequence of str or True, optional
        Items to treat as ordinal (True: every observed variable).
    weights : str, optional
        Column of sampling weights, normalized to sum to each group's number
        of rows (lavaan's ``sampling.weights`` with
        ``sampling.weights.normalization = "group"``, the Mplus convention;
        with one group lavaan's default gives the same). With continuous items the estimates are
        pseudo-ML with sandwich SEs and the Yuan-Bentler test. With ordinal
        items the thresholds, polychorics and Gamma come from weighted
        frequency tables and casewise scores.
    cluster : str, optional
        Column of cluster ids (e.g. organisations); SEs and the test are
        cluster-robust (lavaan's ``cluster`` for a single-level model). For
        ordinal items, casewise scores are summed within clusters as in
        Mplus TYPE=COMPLEX and lavaan 0.7, because lavaan 0.6.14 ignores
        ``cluster`` for them.
    missing : {"listwise", "fiml"}, default "listwise"
        "listwise" drops rows with a missing value on a model variable
        (reported as a ListwiseDeletionWarning). "fiml" (lavaan's "ml") keeps
        every row with at least one observed value and maximises the
        observed-data likelihood, valid under MAR.

    Returns
    -------
    SEMResult

    Raises
    ------
    ModelSyntaxError, ModelSpecificationError, IdentificationError, DataError
        For a model or data that cannot be estimated, naming the line,
        column or parameter.

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation
    modeling. Journal of Statistical Software, 48(2), 1-36.
    """
    if estimator is None:
        # lavaan's default: WLSMV when items are declared ordinal, else ML.
        estimator = "WLSMV" if ordered else "ML"
    if identification != "lavaan" and not ordered:
        raise LioInputError(
            f"identification={identification!r} applies to ordinal items only; "
            "declare them with ordered= or leave identification at 'lavaan'"
        )
    if ordered and str(estimator).upper() in _ORDINAL_ESTIMATORS:
        _check_options(estimator, information, missing, likelihood, ordered, weights,
                       cluster, group_equal)
        return _fit_ordinal(model, data, ordered, estimator=str(estimator).upper(),
                            group=group, std_lv=std_lv, weights=weights,
                            cluster=cluster, group_equal=group_equal or (),
                            group_partial=group_partial or (),
                            identification=identification)
    estimator, information, fiml = _check_options(
        estimator, information, missing, likelihood, ordered, weights, cluster,
        group_equal,
    )
    messages: list[str] = []

    # Parse, check the data, keep complete cases (or every case, under FIML).
    parsed = parse_model(model)
    prepared, data_messages = prepare_data(parsed, data, group=group,
                                           listwise=not fiml, weights=weights,
                                           cluster=cluster)
    for text in data_messages:
        _emit(messages, text, ListwiseDeletionWarning)

    # Build the model, its sample statistics and the discrepancy function.
    # lavaan adds the mean structure under FIML and with clustered data.
    table = build_parameter_table(
        parsed, ngroups=len(prepared.frames), std_lv=std_lv,
        meanstructure=True if fiml or cluster else meanstructure, fixed_x=fixed_x,
        group_equal=group_equal or (), group_partial=group_partial or (),
    )
    if fiml:
        ram, stats, objective = _fiml_setup(table, prepared, messages)
    else:
        stats = compute_sample_statistics(
            list(prepared.frames), table.roles.ov, wishart=likelihood == "wishart",
            weights=prepared.weights,
        )
        ram = build_ram_model(table, stats)
        objective = ml.MLObjective(ram, stats)
    _check_degrees_of_freedom(table, stats)

    # Estimate and check convergence by the gradient.
    optimum = ml.minimize(objective, ram, ml.start_values(ram, stats))
    if not optimum.converged:
        ml.warn_not_converged(optimum)
        messages.append("the optimiser did not converge")

    # Standard errors.
    if information == "expected":
        info = objective.information(optimum.x)
    elif fiml:
        # Closed-form Hessian of the FIML log-likelihood; lavaan takes it by
        # numerical differences, which cost 4 x npar passes over the patterns.
        info = objective.observed_information(optimum.x)
    else:
        info = ml.numerical_hessian(objective.gradient, optimum.x)
    divisor = stats.nobs - stats.ngroups if likelihood == "wishart" else stats.nobs
    vcov = covariance_of_estimates(ram, info, divisor)
    robust = None
    if estimator in ("MLR", "MLM") and fiml:
        robust = fiml_robust_inference(objective, stats, optimum.x, info)
    elif estimator in ("MLR", "MLM") or weights or cluster:
        # With sampling weights or clusters, ML estimates are pseudo-ML and
        # lavaan reports sandwich SEs and the Yuan-Bentler test, as for MLR.
        robust = robust_inference(
            ram, stats, optimum.x, info, "MLM" if estimator == "MLM" else "MLR",
            _group_arrays(prepared, table.roles.ov),
            None if prepared.weights is None else list(prepared.weights),
            None if prepared.clusters is None else list(prepared.clusters),
            # lavaan 0.6 quirk, kept for agreement: a clustered fit with
            # estimator "ML" takes the test's trace from the "h1" observed
            # information, while "MLR" uses the Hessian for both.
            test_information=ml.h1_observed_information(ram, stats, optimum.x)
            if cluster and estimator == "ML" and information == "observed" else None,
        )
    if robust is not None:
        vcov = robust.vcov

    _check_admissible(ram, optimum.x, messages, [g.name for g in stats.groups])
    return _assemble(
        ram, stats, optimum, vcov, parsed.text, prepared, messages, robust,
        objective if fiml else None,
        options=dict(estimator=estimator, group=group, std_lv=std_lv,
                     meanstructure=table.meanstructure, fixed_x=fixed_x,
                     information=information, likelihood=likelihood,
                     missing="fiml" if fiml else "listwise", weights=weights,
                     cluster=cluster, group_equal=list(table_group_equal(group_equal)),
                     group_partial=list(group_partial or ())),
    )


def cfa(model: str, data, **options) -> SEMResult:
    """Fit a confirmatory factor analysis; the same as :func:`sem` (as in lavaan)."""
    return sem(model, data, **options)


# --------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------


def _check_degrees_of_freedom(table, stats) -> None:
    frame = table.frame
    p = len(stats.variables)
    moments = stats.ngroups * (p * (p + 1) // 2 + (p if table.meanstructure else 0))
    moments -= int((frame["exo"] == 1).sum())
    if table.npar > moments:
        raise IdentificationError(
            f"the model has {table.npar} free parameters but the data give only "
            f"{moments} sample moments (df = {moments - table.npar}); fix parameters "
            "(for example residual covariances) or add indicators"
        )


def _check_admissible(ram, x, messages: list[str], group_names) -> None:
    frame = ram.table.frame
    values = ram.row_values(x)
    variance = (frame["op"] == "~~") & (frame["lhs"] == frame["rhs"]) & (frame["free"] > 0)
    for row in np.flatnonzero(variance.to_numpy() & (values < 0)):
        where = f" in group {group_names[frame['group'].iat[row]]!r}" \
            if len(group_names) > 1 else ""
        _emit(
            messages,
            f"the variance {parameter_name(frame, row)}{where} is estimated "
            f"negative ({values[row]:.4g}), a Heywood case; it is reported as "
            "estimated: check the model (a weak or redundant indicator) before "
            "interpreting it",
            HeywoodWarning, stacklevel=5,
        )
    nobserved = ram.nobserved
    for group in range(ram.table.ngroups):
        moments = ram.implied(x, group)
        latent_cov = (moments.B @ moments.S @ moments.B.T)[nobserved:, nobserved:]
        if latent_cov.size and np.linalg.eigvalsh(latent_cov)[0] <= 0:
            where = f" in group {group_names[group]!r}" if len(group_names) > 1 else ""
            _emit(
                messages,
                f"the covariance matrix of the latent variables{where} is not "
                "positive definite (a correlation beyond +-1 or a negative "
                "variance); the solution is inadmissible",
                NonPositiveDefiniteWarning, stacklevel=5,
            )


def _fit_measures(ram, stats, x, fmin_value, robust, fiml_objective) -> dict:
    if fiml_objective is None:
        measures = ml_fit_measures(ram, stats, x, fmin_value)
    else:
        measures = fiml_fit_measures(fiml_objective, stats, x, fmin_value, robust)
    if robust is not None:
        test = robust.scaled_test(measures["chisq"], measures["df"],
                                  measures["baseline_df"])
        extra = robust_fit_measures(measures, test, stats.nobs, stats.ngroups)
        if fiml_objective is not None:
            # With missing data lavaan's robust CFI, TLI and RMSEA are the
            # FIML-corrected ones (Zhang & Savalei, 2022) of fiml_fit_measures.
            extra = {k: v for k, v in extra.items() if not k.endswith("_robust")}
        measures.update(extra)
    return {name: _plain(value) for name, value in measures.items()}


def _plain(value):
    """Convert numpy scalars so that the mapping holds Python numbers only."""
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    return float(value)


def _fit_ordinal(model, data, ordered, *, estimator, group, std_lv, weights=None,
                 cluster=None, group_equal=(), group_partial=(),
                 identification="lavaan") -> SEMResult:
    """Fit ordinal items by DWLS/ULS and wrap the result as an SEMResult."""
    from lio_validate.wls import fit_dwls

    fit = fit_dwls(model, getattr(data, "frame", data), ordered, estimator=estimator,
                   group=group, std_lv=std_lv, sampling_weights=weights,
                   cluster=cluster, group_equal=group_equal,
                   group_partial=group_partial, identification=identification)
    options = dict(weights=weights, cluster=cluster,
                   group_equal=list(table_group_equal(group_equal)),
                   group_partial=list(group_partial or ()),
                   identification=identification)
    return ordinal_result(fit, model, ordered, group=group, std_lv=std_lv,
                          options=options)


def ordinal_result(fit, model, ordered, *, group: str | None, std_lv: bool,
                   options: dict | None = None) -> SEMResult:
    """Wrap a :class:`lio_validate.wls.DWLSFit` as an SEMResult.

    ``options`` adds entries (weights, cluster, group_equal, ...) to the
    options recorded on the result.
    """
    from lio_validate import __version__
    from lio_validate.wls import standardized_solution

    estimator = fit.estimator
    names = list(fit.sample_statistics.variables)
    implied = [pd.DataFrame(fit.implied_cov(g), index=names, columns=names)
               for g in range(len(fit.group_names))]
    sample = [pd.DataFrame(group_stats.cov, index=names, columns=names)
              for group_stats in fit.sample_statistics.groups]
    if len(fit.group_names) > 1:
        implied_cov = pd.concat(implied, keys=fit.group_names, names=["group", "variable"])
        sample_cov = pd.concat(sample, keys=fit.group_names, names=["group", "variable"])
    else:
        implied_cov, sample_cov = implied[0], sample[0]
    estimates = fit.estimates[list(ESTIMATE_COLUMNS)].reset_index(drop=True)
    return SEMResult(
        estimates=estimates,
        fit_measures={name: _plain(value) for name, value in fit.fit_measures.items()},
        standardized_factory=lambda: standardized_solution(fit),
        r_squared=r_squared(fit.model, fit.x, fit.group_names),
        vcov=fit.vcov,
        implied_cov=implied_cov,
        sample_cov=sample_cov,
        parameter_table=fit.table.frame.copy(),
        nobs=fit.nobs,
        ngroups=len(fit.group_names),
        group_names=fit.group_names,
        latent_variables=fit.table.roles.lv,
        observed_variables=fit.table.roles.ov,
        converged=fit.converged,
        iterations=fit.iterations,
        max_abs_gradient=fit.max_abs_gradient,
        estimator=estimator,
        information="expected",
        model_text=model if isinstance(model, str) else model.text,
        options={"estimator": estimator, "group": group, "std_lv": std_lv,
                 "ordered": ordered if isinstance(ordered, bool) else list(ordered),
                 "missing": "listwise", **(options or {}),
                 "version": __version__},
        nobs_dropped=fit.nobs_dropped,
        warnings=tuple(fit.messages),
    )


def table_group_equal(group_equal) -> tuple[str, ...]:
    if isinstance(group_equal, str):
        return tuple(part.strip() for part in group_equal.split(",") if part.strip())
    return tuple(group_equal or ())


def _fiml_setup(table, prepared, messages):
    """Patterns, EM moments and the FIML objective of every group."""
    if table.roles.ov_x and (table.frame["exo"] == 1).any():
        raise LioInputError(
            "missing='fiml' with observed exogenous covariates "
            f"({', '.join(table.roles.ov_x)}) needs fixed_x=False, so that their "
            "missing values are modelled too"
        )
    groups, moments = [], []
    for (name, _), values in zip(prepared.frames,
                                 _group_arrays(prepared, table.roles.ov)):
        patterns = find_patterns(values)
        if patterns.nobs_all_missing:
            where = f" in group {name!r}" if name else ""
            _emit(messages, f"{patterns.nobs_all_missing} row(s){where} with every "
                  "model variable missing were dropped", ListwiseDeletionWarning,
                  stacklevel=5)
        mean, cov, _ = em_saturated(patterns)
        groups.append(patterns)
        sign, logdet = np.linalg.slogdet(cov)
        moments.append(GroupStatistics(name, patterns.nobs, mean, cov, float(logdet)))
    stats = SampleStatistics(table.roles.ov, tuple(moments))
    h1_logl = sum(pattern_logl(g, m.mean, m.cov) for g, m in zip(groups, moments))
    ram = build_ram_model(table, stats)
    return ram, stats, FimlObjective(ram, tuple(groups), h1_logl)


def _group_arrays(prepared, variables) -> list[np.ndarray]:
    return [frame.loc[:, list(variables)].to_numpy(dtype=float)
            for _, frame in prepared.frames]


def _assemble(ram, stats, optimum, vcov, model_text, prepared, messages, robust,
              fiml_objective, options):
    from lio_validate import __version__

    table = ram.table
    frame = table.frame
    group_names = tuple(g.name for g in stats.groups)
    x = optimum.x

    rows = parameter_rows(ram, x, vcov)
    std_lv, std_all = standardize(ram, x)
    estimates = pd.DataFrame({
        "lhs": frame["lhs"].to_numpy(),
        "op": frame["op"].to_numpy(),
        "rhs": frame["rhs"].to_numpy(),
        "group": [group_names[g] if table.ngroups > 1 else "" for g in frame["group"]],
        "label": frame["label"].to_numpy(),
    })
    estimates = pd.concat([estimates, rows], axis=1)
    estimates["std_lv"] = std_lv
    estimates["std_all"] = std_all
    defined = defined_parameters(ram, x, vcov, std_lv, std_all)
    if len(defined):
        defined.insert(3, "group", "")
        estimates = pd.concat([estimates, defined[list(ESTIMATE_COLUMNS)]],
                              ignore_index=True)
    estimates = estimates[list(ESTIMATE_COLUMNS)]

    keys = estimates[["lhs", "op", "rhs", "group"]].iloc[: len(frame)].copy()

    def standardized_table() -> pd.DataFrame:
        # The delta-method Jacobian costs 2 x npar evaluations of the
        # standardizing map, so it runs only when the table is requested.
        solution = standardized_with_se(ram, x, vcov)
        table = keys.copy()
        table["std_lv"] = solution.std_lv
        table["se_std_lv"] = solution.se_std_lv
        table["std_all"] = solution.std_all
        table["se_std_all"] = solution.se_std_all
        return table

    names = list(stats.variables)
    implied, sample = [], []
    for group in range(table.ngroups):
        implied.append(pd.DataFrame(ram.implied(x, group).sigma, index=names,
                                    columns=names))
        sample.append(pd.DataFrame(stats.groups[group].cov, index=names, columns=names))
    if table.ngroups > 1:
        implied_cov = pd.concat(implied, keys=group_names, names=["group", "variable"])
        sample_cov = pd.concat(sample, keys=group_names, names=["group", "variable"])
    else:
        implied_cov, sample_cov = implied[0], sample[0]

    free = frame["free"].to_numpy()
    _, first_rows = np.unique(free, return_index=True)
    first_rows = [int(row) for row, number in zip(first_rows, np.unique(free))
                  if number > 0]
    lhs, op, rhs = frame["lhs"].tolist(), frame["op"].tolist(), frame["rhs"].tolist()
    free_names = [f"{lhs[row]} ~1" if op[row] == "~1" else
                  f"{lhs[row]} {op[row]} {rhs[row]}" for row in first_rows]
    if table.ngroups > 1:
        groups = frame["group"].to_numpy()
        free_names = [f"{name} [{group_names[groups[row]]}]"
                      for name, row in zip(free_names, first_rows)]

    return SEMResult(
        estimates=estimates,
        fit_measures=_fit_measures(ram, stats, x, optimum.fmin, robust, fiml_objective),
        standardized_factory=standardized_table,
        r_squared=r_squared(ram, x, group_names),
        vcov=pd.DataFrame(vcov, index=free_names, columns=free_names),
        implied_cov=implied_cov,
        sample_cov=sample_cov,
        parameter_table=frame.copy(),
        nobs=stats.nobs,
        ngroups=table.ngroups,
        group_names=group_names,
        latent_variables=table.roles.lv,
        observed_variables=table.roles.ov,
        converged=optimum.converged,
        iterations=optimum.iterations,
        max_abs_gradient=optimum.max_abs_gradient,
        estimator=options["estimator"],
        information=options["information"],
        model_text=model_text,
        options={**options, "version": __version__},
        nobs_dropped=prepared.nobs_dropped,
        warnings=tuple(messages),
        internals=FitInternals(
            ram=ram, stats=stats, x=x.copy(),
            objective=fiml_objective if fiml_objective is not None
            else ml.MLObjective(ram, stats),
            data=tuple(_group_arrays(prepared, table.roles.ov)),
        ),
    )
