"""Fit measures and robust inference of FIML fits (``missing = "fiml"``).

The chi-square compares the model with the EM-fitted saturated model, and
the baseline is the independence model fitted by FIML, whose log-likelihood
is the sum of each variable's available-case log-likelihood. MLR with FIML
uses casewise scores of each case's observed variables; its scaled test
takes the h1 traces from the saturated model's observed information and
casewise scores at the EM moments (Yuan & Bentler, 2000).

The robust CFI, TLI and RMSEA of a FIML fit are those of lavaan 0.6.14
(``lav_fit_fiml_corrected``), which follows Zhang and Savalei's FIML-corrected
("FIML-C") statistics: a complete-data chi-square of the model evaluated at
the EM moments, rescaled by the trace that corrects it for the information
lost to missing values. ML fits use the normal-theory trace (lavaan's "V6"),
MLR fits the one that also corrects for nonnormality ("V3").

References
----------
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean
and covariance structure analysis with nonnormal missing data. Sociological
Methodology, 30(1), 165-200.
Zhang, X., & Savalei, V. (2022). New computations for RMSEA and CFI following
FIML and TS estimation with missing data. Psychological Methods (advance
online publication).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from lio_validate import fit_measures as fm
from lio_validate import ml
from lio_validate.exceptions import LioWarning
from lio_validate.fiml import (
    FimlObjective,
    GroupPatterns,
    fiml_casewise_scores,
    h1_information,
    moment_jacobian,
    moment_score_crossproduct,
    normal_information,
    univariate_logl,
    vech_position,
)
from lio_validate.model import RamModel
from lio_validate.robust_inference import RobustInference
from lio_validate.samplestats import SampleStatistics

__all__ = [
    "FimlCorrectedStatistics",
    "FimlRobustInference",
    "fiml_corrected_statistics",
    "fiml_fit_measures",
    "fiml_robust_inference",
]


@dataclass(frozen=True)
class FimlRobustInference(RobustInference):
    """Robust inference of an MLR fit with FIML, with the saturated-model matrices.

    ``h1_information`` and ``h1_crossproduct`` contain, per group, the observed
    information and the casewise score crossproduct of the saturated model
    at the EM moments, per case, in (mu, vech Sigma) coordinates.
    """

    h1_information: tuple[np.ndarray, ...] = ()
    h1_crossproduct: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class FimlCorrectedStatistics:
    """Ingredients of the robust CFI, TLI and RMSEA of a FIML fit.

    ``chisq`` is the complete-data ML statistic of the model at the EM
    moments and ``scaling_factor`` its trace over df. The ``baseline_*``
    fields are the same for the independence model. lavaan names them XX3,
    df3, c.hat3, XX3.null, df3.null and c.hat3.null.
    """

    chisq: float
    df: int
    scaling_factor: float
    baseline_chisq: float
    baseline_df: int
    baseline_scaling_factor: float

    @property
    def chisq_scaled(self) -> float:
        return self.chisq / self.scaling_factor


def fiml_fit_measures(
    objective: FimlObjective, stats: SampleStatistics, x: np.ndarray,
    fmin_value: float, robust: FimlRobustInference | None = None,
) -> dict[str, float]:
    """lavaan's fit measures of a FIML fit; ``stats`` holds the EM moments.

    Besides the standard measures, the result has lavaan's FIML-corrected
    ``cfi_robust``, ``tli_robust`` and ``rmsea_robust`` (with the interval and
    the tests of close and not-close fit): with ``robust`` (an MLR fit) they
    also correct for nonnormality, without it they assume normal data.
    """
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
    measures = {
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
        "rmsea_notclose_pvalue": fm.rmsea_pvalue_robust(
            chisq, df, 1.0, nobs, ngroups, close=0.08, not_close=True),
        "srmr": srmr,
    }
    measures.update(_robust_measures(objective, stats, x, robust))
    return measures


def _robust_measures(objective: FimlObjective, stats: SampleStatistics, x: np.ndarray,
                     robust: FimlRobustInference | None) -> dict[str, float]:
    """FIML-corrected robust CFI, TLI and RMSEA, as lavaan's fitMeasures() names them."""
    try:
        corrected = fiml_corrected_statistics(
            objective, stats, x,
            None if robust is None else robust.h1_information,
            None if robust is None else robust.h1_crossproduct)
    except (np.linalg.LinAlgError, ValueError) as error:
        warnings.warn(
            "the robust CFI, TLI and RMSEA of this FIML fit could not be computed "
            f"({error}); they are reported as NaN. A saturated covariance matrix "
            "or information that is not positive definite is the usual cause: "
            "check for items without variance or with few observed values",
            LioWarning, stacklevel=4)
        corrected = None
    names = ("cfi_robust", "tli_robust", "rmsea_robust", "rmsea_ci_lower_robust",
             "rmsea_ci_upper_robust", "rmsea_pvalue_robust",
             "rmsea_notclose_pvalue_robust")
    out = dict.fromkeys(names, np.nan)
    if corrected is None:
        return out
    nobs, ngroups = objective.nobs, stats.ngroups
    chisq, df, factor = corrected.chisq, corrected.df, corrected.scaling_factor
    if df <= 0:
        # lavaan 0.6.14: with df = 0 the trace is 0 / 0, so every robust
        # index is NA except the RMSEA, which is 0 by definition.
        out["rmsea_robust"] = 0.0
        return out
    baseline = (corrected.baseline_chisq, corrected.baseline_df,
                corrected.baseline_scaling_factor)
    scaled = corrected.chisq_scaled
    ci = fm.rmsea_ci_robust(scaled, df, factor, nobs, ngroups)
    out.update({
        "cfi_robust": fm.cfi_robust(chisq, df, factor, *baseline),
        "tli_robust": fm.tli_robust(chisq, df, factor, *baseline),
        "rmsea_robust": fm.rmsea_robust(chisq, df, factor, nobs, ngroups),
        "rmsea_ci_lower_robust": ci[0],
        "rmsea_ci_upper_robust": ci[1],
        "rmsea_pvalue_robust": fm.rmsea_pvalue_robust(scaled, df, factor, nobs,
                                                      ngroups),
        "rmsea_notclose_pvalue_robust": fm.rmsea_pvalue_robust(
            scaled, df, factor, nobs, ngroups, close=0.08, not_close=True),
    })
    return out


def fiml_corrected_statistics(
    objective: FimlObjective, stats: SampleStatistics, x: np.ndarray,
    h1_informations: tuple[np.ndarray, ...] | None = None,
    h1_crossproducts: tuple[np.ndarray, ...] | None = None,
) -> FimlCorrectedStatistics:
    """Compute the FIML-corrected statistics of the model and the baseline.

    Parameters
    ----------
    h1_informations : tuple of ndarray, optional
        Per group, the saturated model's observed information per case at
        the EM moments; computed when not given.
    h1_crossproducts : tuple of ndarray, optional
        Per group, the saturated model's casewise score crossproduct per
        case. With them the trace also corrects for nonnormality (lavaan's
        "V3", used for MLR); without them it assumes normality ("V6").

    Notes
    -----
    Per group g with weight f_g = n_g / N, W_g is the saturated observed
    information of the incomplete data, C_g the complete-data information
    at the EM moments and J_g the score crossproduct, all per case. Stacked
    block-diagonally (f_g W_g, f_g C_g, f_g J_g) with Delta the Jacobian of
    the moments, E = Delta' W Delta and Z = W^-1 - Delta E^-1 Delta'. The
    trace is k = tr(C Z) for V6 and k = tr(C Z J Z) for V3; lavaan writes
    the same quantities as tr(C W^-1 U W^-1) and tr(U W^-1 C W^-1 U Gamma)
    with U = W - W Delta E^-1 Delta' W and Gamma = W^-1 J W^-1. The
    baseline uses the same formulas with the Jacobian of the independence
    model (its means and variances). The scaling factors are k / df.
    """
    model = objective.model
    nobs = objective.nobs
    groups = objective.groups
    p = len(stats.variables)
    weights = [group.nobs / nobs for group in groups]
    if h1_informations is None:
        h1_informations = tuple(h1_information(group, moments.mean, moments.cov)
                                for group, moments in zip(groups, stats.groups))

    # Complete-data chi-squares at the EM moments: the model at its FIML
    # estimates, the independence model at the available-case moments.
    chisq = 2.0 * nobs * ml.fmin(model, stats, x)
    baseline_chisq = sum(_independence_discrepancy(group, moments)
                         for group, moments in zip(groups, stats.groups))
    df = stats.ngroups * (p * (p + 1) // 2 + p) - model.npar
    baseline_df = stats.ngroups * p * (p - 1) // 2

    information = linalg.block_diag(*[w * a for w, a in zip(weights, h1_informations)])
    inverse = linalg.block_diag(*[np.linalg.inv(a) / w
                                  for w, a in zip(weights, h1_informations)])
    complete = linalg.block_diag(*[w * normal_information(moments.cov)
                                   for w, moments in zip(weights, stats.groups)])
    crossproduct = None
    if h1_crossproducts is not None:
        crossproduct = linalg.block_diag(*[w * b for w, b in zip(weights,
                                                                  h1_crossproducts)])

    jacobian = np.vstack([moment_jacobian(model, x, g) for g in range(stats.ngroups)])
    baseline_jacobian = linalg.block_diag(*[_independence_jacobian(p)] * stats.ngroups)
    trace = _corrected_trace(information, inverse, complete, jacobian, crossproduct)
    baseline_trace = _corrected_trace(information, inverse, complete,
                                      baseline_jacobian, crossproduct)
    return FimlCorrectedStatistics(
        chisq=float(chisq), df=int(df),
        scaling_factor=trace / df if df > 0 else np.nan,
        baseline_chisq=float(baseline_chisq), baseline_df=int(baseline_df),
        baseline_scaling_factor=baseline_trace / baseline_df if baseline_df > 0
        else np.nan,
    )


def _corrected_trace(information: np.ndarray, inverse: np.ndarray, complete: np.ndarray,
                     jacobian: np.ndarray, crossproduct: np.ndarray | None) -> float:
    """k = tr(C Z) or tr(C Z J Z) with Z = W^-1 - Delta (Delta' W Delta)^-1 Delta'."""
    bread = jacobian.T @ information @ jacobian
    projection = inverse - jacobian @ np.linalg.solve(bread, jacobian.T)
    if crossproduct is None:
        return float(np.sum(complete * projection))
    middle = projection @ crossproduct @ projection
    return float(np.sum(complete * middle))


def _independence_discrepancy(group: GroupPatterns, moments) -> float:
    """n [F_ML] of the independence model at the available-case moments vs the EM ones.

    F_ML = log|D| + tr(S D^-1) - log|S| - p + (m - a)' D^-1 (m - a), with
    D and a the available-case variances (divisor n_j) and means, S and m
    the EM covariance and mean.
    """
    data = group.data
    means = np.nanmean(data, axis=0)
    variances = np.nanvar(data, axis=0)
    p = len(means)
    value = (np.sum(np.log(variances)) + np.sum(np.diag(moments.cov) / variances)
             - moments.logdet_cov - p + np.sum((moments.mean - means) ** 2 / variances))
    return group.nobs * float(value)


def _independence_jacobian(p: int) -> np.ndarray:
    """d(mu, vech Sigma) / d(means, variances) of the independence model."""
    position = vech_position(p)
    out = np.zeros((p + p * (p + 1) // 2, 2 * p))
    out[np.arange(p), np.arange(p)] = 1.0
    out[p + position[np.arange(p), np.arange(p)], p + np.arange(p)] = 1.0
    return out


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
) -> FimlRobustInference:
    """Sandwich covariance and Yuan-Bentler traces of an MLR fit with FIML."""
    model = objective.model
    bread = np.linalg.inv(information)
    meat = _score_crossproduct(model, x, objective.groups)
    vcov = bread @ meat @ bread / objective.nobs

    h1_informations = tuple(h1_information(group, moments.mean, moments.cov)
                            for group, moments in zip(objective.groups, stats.groups))
    h1_crossproducts = tuple(
        moment_score_crossproduct(group, moments.mean, moments.cov)
        for group, moments in zip(objective.groups, stats.groups))
    h1_traces = sum(float(np.trace(np.linalg.solve(a, b)))
                    for a, b in zip(h1_informations, h1_crossproducts))

    p = len(stats.variables)
    return FimlRobustInference(
        method="yuan.bentler.mplus",
        vcov=vcov,
        model_trace=float(np.trace(bread @ meat)),
        h1_traces=h1_traces,
        baseline_h1_traces=h1_traces,
        baseline_model_trace=sum(_available_case_trace(g) for g in objective.groups),
        npar=model.npar,
        nstatistics=stats.ngroups * (p * (p + 1) // 2 + p),
        h1_information=h1_informations,
        h1_crossproduct=h1_crossproducts,
    )
