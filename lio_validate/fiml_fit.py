"""Fit measures and robust inference of FIML fits (``missing = "fiml"``).

The chi-square compares the model with the EM-fitted saturated model, and
the baseline is the independence model fitted by FIML, whose log-likelihood
is the sum of each variable's available-case log-likelihood. MLR with FIML
uses casewise scores of each case's observed variables; its scaled test
takes the h1 traces from the saturated model's observed information and
casewise scores at the EM moments (Yuan & Bentler, 2000).

References
----------
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean
and covariance structure analysis with nonnormal missing data. Sociological
Methodology, 30(1), 165-200.
"""

from __future__ import annotations

import numpy as np

from lio_validate import fit_measures as fm
from lio_validate.fiml import (
    FimlObjective,
    GroupPatterns,
    fiml_casewise_scores,
    univariate_logl,
)
from lio_validate.ml import numerical_hessian
from lio_validate.model import RamModel, build_ram_model
from lio_validate.partable import build_parameter_table
from lio_validate.robust_inference import RobustInference
from lio_validate.samplestats import SampleStatistics
from lio_validate.syntax import parse_model

__all__ = ["fiml_fit_measures", "fiml_robust_inference"]


def fiml_fit_measures(
    objective: FimlObjective, stats: SampleStatistics, x: np.ndarray, fmin_value: float
) -> dict[str, float]:
    """lavaan's fit measures of a FIML fit; ``stats`` holds the EM moments."""
    model = objective.model
    ngroups = stats.ngroups
    nobs = objective.nobs
    p = len(stats.variables)

    logl = objective.logl(x)
    logl_h1 = objective.h1_logl
    logl_baseline = sum(univariate_logl(group) for group in objective.groups)
    chisq = 2.0 * (logl_h1 - logl)
    baseline_chisq = 2.0 * (logl_h1 - logl_baseline)
    ndat = ngroups * (p * (p + 1) // 2 + p)
    npar = model.npar
    df = ndat - npar
    baseline_df = ngroups * p * (p - 1) // 2

    # SRMR with the EM moments in place of the sample moments.
    srmr = 0.0
    for g, group_stats in enumerate(stats.groups):
        moments = model.implied(x, g)
        srmr += objective.groups[g].nobs / nobs * fm.srmr_bentler(
            group_stats.cov, moments.sigma, group_stats.mean, moments.mu)

    ci_lower, ci_upper = fm.rmsea_ci(chisq, df, nobs, ngroups)
    return {
        "npar": npar,
        "fmin": fmin_value,
        "chisq": chisq,
        "df": df,
        "pvalue": fm.chisq_pvalue(chisq, df),
        "baseline_chisq": baseline_chisq,
        "baseline_df": baseline_df,
        "baseline_pvalue": fm.chisq_pvalue(baseline_chisq, baseline_df),
        "cfi": fm.cfi(chisq, df, baseline_chisq, baseline_df),
        "tli": fm.tli(chisq, df, baseline_chisq, baseline_df),
        "logl": logl,
        "unrestricted_logl": logl_h1,
        "aic": fm.aic(logl, npar),
        "bic": fm.bic(logl, npar, nobs),
        "bic2": fm.bic2(logl, npar, nobs),
        "nobs": nobs,
        "ngroups": ngroups,
        "rmsea": fm.rmsea(chisq, df, nobs, ngroups),
        "rmsea_ci_lower": ci_lower,
        "rmsea_ci_upper": ci_upper,
        "rmsea_pvalue": fm.rmsea_pvalue(chisq, df, nobs, ngroups, 0.05),
        "srmr": srmr,
    }


def _saturated_model(stats: SampleStatistics) -> tuple[RamModel, np.ndarray]:
    """The saturated model as a RamModel, with x at the EM moments."""
    names = list(stats.variables)
    lines = [f"{first} ~~ " + " + ".join(names[k:]) for k, first in enumerate(names)]
    lines += [f"{name} ~ 1" for name in names]
    table = build_parameter_table(parse_model("\n".join(lines)),
                                  ngroups=stats.ngroups, meanstructure=True)
    ram = build_ram_model(table, stats)
    position = {name: k for k, name in enumerate(ram.variables)}
    frame = table.frame
    x = np.zeros(ram.npar)
    for row in np.flatnonzero(frame["free"].to_numpy() > 0):
        group = stats.groups[frame["group"].iat[row]]
        lhs, op, rhs = frame["lhs"].iat[row], frame["op"].iat[row], frame["rhs"].iat[row]
        if op == "~~":
            value = group.cov[position[lhs], position[rhs]]
        else:
            value = group.mean[position[lhs]]
        x[frame["free"].iat[row] - 1] = value
    return ram, x


def _score_crossproduct(model: RamModel, x: np.ndarray,
                        groups: tuple[GroupPatterns, ...]) -> np.ndarray:
    total = np.zeros((model.npar, model.npar))
    nobs = sum(group.nobs for group in groups)
    for g, group in enumerate(groups):
        scores = fiml_casewise_scores(model, x, g, group)
        total += scores.T @ scores
    return total / nobs


def _available_case_trace(group: GroupPatterns) -> float:
    """tr(A^-1 B) of the FIML independence model: sum_j [1 + (kurtosis_j - 1) / 2]."""
    total = 0.0
    for column in group.data.T:
        present = column[~np.isnan(column)]
        centred = present - present.mean()
        m2, m4 = np.mean(centred**2), np.mean(centred**4)
        total += 1.0 + (m4 / m2**2 - 1.0) / 2.0
    return total


def fiml_robust_inference(
    objective: FimlObjective, stats: SampleStatistics, x: np.ndarray,
    information: np.ndarray,
) -> RobustInference:
    """Sandwich covariance and Yuan-Bentler traces of an MLR fit with FIML."""
    model = objective.model
    bread = np.linalg.inv(information)
    meat = _score_crossproduct(model, x, objective.groups)
    vcov = bread @ meat @ bread / objective.nobs

    saturated, x_saturated = _saturated_model(stats)
    saturated_objective = FimlObjective(saturated, objective.groups, objective.h1_logl)
    h1_information = numerical_hessian(saturated_objective.gradient, x_saturated)
    h1_meat = _score_crossproduct(saturated, x_saturated, objective.groups)
    h1_traces = float(np.trace(np.linalg.solve(h1_information, h1_meat)))

    p = len(stats.variables)
    return RobustInference(
        method="yuan.bentler.mplus",
        vcov=vcov,
        model_trace=float(np.trace(bread @ meat)),
        h1_traces=h1_traces,
        baseline_h1_traces=h1_traces,
        baseline_model_trace=sum(_available_case_trace(g) for g in objective.groups),
        npar=model.npar,
        nstatistics=stats.ngroups * (p * (p + 1) // 2 + p),
    )
