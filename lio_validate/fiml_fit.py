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
    saturated_h1_trace,
    univariate_logl,
)
from lio_validate.model import RamModel
from lio_validate.robust_inference import RobustInference
from lio_validate.samplestats import SampleStatistics

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

    h1_traces = sum(
        saturated_h1_trace(group, moments.mean, moments.cov)
        for group, moments in zip(objective.groups, stats.groups)
    )

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
