"""From a converged estimate to the tables: SEs, defined parameters, fit measures.

Standard errors come from the inverse of the information matrix divided by N
(lavaan's convention for normal-theory ML; N - G under the Wishart
likelihood). Defined parameters (``:=``) get delta-method SEs (Sobel, 1982)
from a numerical Jacobian of the expression.

References
----------
Sobel, M. E. (1982). Asymptotic confidence intervals for indirect effects in
structural equation models. Sociological Methodology, 13, 290-312.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lio_validate import fit_measures as fm
from lio_validate.exceptions import IdentificationError
from lio_validate.model import RamModel
from lio_validate.samplestats import SampleStatistics

__all__ = [
    "covariance_of_estimates",
    "parameter_rows",
    "defined_parameters",
    "ml_fit_measures",
    "r_squared",
    "parameter_name",
]

Z_95 = scipy_stats.norm.ppf(0.975)


def parameter_name(frame: pd.DataFrame, row: int) -> str:
    """Name a parameter-table row as written in lavaan syntax."""
    lhs, op, rhs = frame["lhs"].iat[row], frame["op"].iat[row], frame["rhs"].iat[row]
    return f"{lhs} ~1" if op == "~1" else f"{lhs} {op} {rhs}"


def covariance_of_estimates(
    model: RamModel, information: np.ndarray, nobs_divisor: float
) -> np.ndarray:
    """Invert the unit information and divide by N.

    Raises
    ------
    IdentificationError
        If the information matrix is singular, naming the parameters involved
        in the direction that the data cannot determine.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(information)
    largest = max(float(np.max(np.abs(eigenvalues), initial=0.0)), 1e-300)
    if eigenvalues.size and eigenvalues[0] <= largest * 1e-11:
        direction = np.abs(eigenvectors[:, 0])
        involved = np.argsort(direction)[::-1][:4]
        involved = [k for k in involved if direction[k] > 0.1 * direction.max()]
        frame = model.table.frame
        names = []
        for k in involved:
            row = int(np.flatnonzero(frame["free"].to_numpy() == k + 1)[0])
            line = frame["line"].iat[row]
            where = f" (line {line})" if line else " (a default parameter)"
            names.append(parameter_name(frame, row) + where)
        raise IdentificationError(
            "the model is not identified: the information matrix is singular "
            f"(smallest eigenvalue {eigenvalues[0]:.2e}), and the data cannot "
            f"separate {', '.join(names)}; fix one of them or add indicators, "
            "and check that every latent variable has a scale (a fixed loading "
            "or variance)"
        )
    return np.linalg.inv(information) / nobs_divisor


def parameter_rows(model: RamModel, x: np.ndarray, vcov: np.ndarray) -> pd.DataFrame:
    """est, se, z, pvalue and a 95% Wald interval for every table row."""
    frame = model.table.frame
    est = model.row_values(x)
    se = np.zeros(len(frame))
    free = model.free_index >= 0
    se[free] = np.sqrt(np.clip(np.diag(vcov), 0.0, None))[model.free_index[free]]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(free, est / se, np.nan)
    pvalue = 2.0 * scipy_stats.norm.sf(np.abs(z))
    return pd.DataFrame({
        "est": est, "se": se, "z": z, "pvalue": pvalue,
        "ci_lower": est - Z_95 * se, "ci_upper": est + Z_95 * se,
    })


def _label_values(frame: pd.DataFrame, values: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, value in zip(frame["label"], values):
        if label and label not in out:
            out[label] = value
    return out


def evaluate_definitions(model: RamModel, row_values: np.ndarray) -> np.ndarray:
    """Values of the defined parameters, in order, given the row values."""
    values = _label_values(model.table.frame, row_values)
    out = []
    for definition in model.table.definitions:
        value = float(np.real(definition.expression.evaluate(values)))
        values[definition.name] = value
        out.append(value)
    return np.array(out)


def defined_parameters(
    model: RamModel, x: np.ndarray, vcov: np.ndarray,
    std_lv_rows: np.ndarray, std_all_rows: np.ndarray,
) -> pd.DataFrame:
    """Estimates, delta-method SEs and standardized values of ``:=`` rows."""
    definitions = model.table.definitions
    if not definitions:
        return pd.DataFrame()
    est = evaluate_definitions(model, model.row_values(x))

    jacobian = np.zeros((len(definitions), len(x)))
    for k in range(len(x)):
        step = 1e-6 * max(1.0, abs(x[k]))
        offset = np.zeros(len(x))
        offset[k] = step
        jacobian[:, k] = (
            evaluate_definitions(model, model.row_values(x + offset))
            - evaluate_definitions(model, model.row_values(x - offset))
        ) / (2 * step)
    variance = np.sum((jacobian @ vcov) * jacobian, axis=1)
    se = np.sqrt(np.clip(variance, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    return pd.DataFrame({
        "lhs": [d.name for d in definitions],
        "op": ":=",
        # lavaan prints the expression without spaces.
        "rhs": ["".join(d.expression.source.split()) for d in definitions],
        "label": [d.name for d in definitions],
        "est": est, "se": se, "z": z,
        "pvalue": 2.0 * scipy_stats.norm.sf(np.abs(z)),
        "ci_lower": est - Z_95 * se, "ci_upper": est + Z_95 * se,
        "std_lv": evaluate_definitions(model, std_lv_rows),
        "std_all": evaluate_definitions(model, std_all_rows),
    })


def r_squared(model: RamModel, x: np.ndarray, group_names) -> pd.Series:
    """1 - residual variance / total variance for each variable with a predictor."""
    values, keys = [], []
    for group, index in enumerate(model.groups):
        moments = model.implied(x, group)
        total = np.diag(moments.B @ moments.S @ moments.B.T)
        residual = np.diag(moments.S)
        endogenous = np.unique(index.i[index.matrix == 0])
        for k in sorted(endogenous):
            values.append(1.0 - residual[k] / total[k])
            name = model.variables[k]
            keys.append((group_names[group], name) if len(model.groups) > 1 else name)
    if len(model.groups) > 1:
        return pd.Series(values, index=pd.MultiIndex.from_tuples(keys,
                         names=["group", "variable"]), name="r_squared", dtype=float)
    return pd.Series(values, index=pd.Index(keys, name="variable"), name="r_squared",
                     dtype=float)


def ml_fit_measures(
    model: RamModel, stats: SampleStatistics, x: np.ndarray, fmin_value: float
) -> dict[str, float]:
    """lavaan's ML fit measures for complete data (``fitMeasures()``)."""
    table = model.table
    roles = table.roles
    meanstructure = table.meanstructure
    ngroups = stats.ngroups
    nobs = stats.nobs
    wishart = stats.wishart
    position = {name: k for k, name in enumerate(stats.variables)}
    # The baseline keeps the covariances among exogenous covariates whether or
    # not they are fixed; only fixed ones leave the moments and the logl.
    x_index = [position[name] for name in roles.ov_x]
    fixed_x = bool((table.frame["exo"] == 1).any())
    nonx_index = [k for k in range(len(stats.variables)) if k not in x_index]

    chisq, baseline_chisq, logl, logl_h1, srmr = 0.0, 0.0, 0.0, 0.0, 0.0
    ndat, baseline_npar = 0, 0
    for group, sample in enumerate(stats.groups):
        moments = model.implied(x, group)
        p = len(sample.mean)
        residual = sample.mean - moments.mu if meanstructure else None
        inverse = np.linalg.inv(moments.sigma)
        _, logdet = np.linalg.slogdet(moments.sigma)
        f_ml = logdet + np.sum(sample.cov * inverse) - sample.logdet_cov - p
        if residual is not None:
            f_ml += residual @ inverse @ residual
        multiplier = sample.nobs - 1 if wishart else sample.nobs
        chisq += multiplier * f_ml

        # Independence model: free variances, covariances among fixed-x kept.
        diagonal = np.log(np.diag(sample.cov)[nonx_index]).sum()
        x_block = np.linalg.slogdet(sample.cov[np.ix_(x_index, x_index)])[1] \
            if x_index else 0.0
        baseline_chisq += multiplier * (diagonal + x_block - sample.logdet_cov)

        logl += fm.normal_logl(sample.nobs, sample.cov, moments.sigma, residual)
        logl_h1 += fm.normal_logl(sample.nobs, sample.cov, sample.cov)
        if fixed_x and x_index:
            s_xx = sample.cov[np.ix_(x_index, x_index)]
            marginal = fm.normal_logl(sample.nobs, s_xx, s_xx)
            logl -= marginal
            logl_h1 -= marginal

        srmr += sample.nobs / nobs * fm.srmr_bentler(
            sample.cov, moments.sigma,
            sample.mean if meanstructure else None,
            moments.mu if meanstructure else None,
        )
        nx = len(x_index)
        ndat += p * (p + 1) // 2 + (p if meanstructure else 0)
        if fixed_x:
            ndat -= nx * (nx + 1) // 2 + (nx if meanstructure else 0)
        else:
            baseline_npar += nx * (nx + 1) // 2 + (nx if meanstructure else 0)
        baseline_npar += len(nonx_index)

    npar = model.npar
    df = ndat - npar
    baseline_df = ndat - baseline_npar - (len(nonx_index) if meanstructure else 0) \
        * ngroups
    rmsea_n = nobs - ngroups if wishart else nobs
    ci_lower, ci_upper = fm.rmsea_ci(chisq, df, rmsea_n, ngroups)
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
        "rmsea": fm.rmsea(chisq, df, rmsea_n, ngroups),
        "rmsea_ci_lower": ci_lower,
        "rmsea_ci_upper": ci_upper,
        "rmsea_pvalue": fm.rmsea_pvalue(chisq, df, rmsea_n, ngroups, 0.05),
        "rmsea_notclose_pvalue": _notclose(chisq, df, rmsea_n, ngroups),
        "srmr": srmr,
    }


def _notclose(chisq: float, df: float, nobs: float, ngroups: int) -> float:
    """p-value of the test of not-close fit, H0: RMSEA >= 0.08."""
    if df <= 0:
        return np.nan
    ncp = nobs * df * 0.08**2 / ngroups
    return float(scipy_stats.ncx2.cdf(chisq, df, ncp))


def robust_fit_measures(
    measures: dict[str, float], test, nobs: int, ngroups: int
) -> dict[str, float]:
    """Scaled and robust fit measures for a scaled test (MLR, MLM).

    The ``*_scaled`` measures plug the scaled model and baseline statistics
    into the usual formulas, except the RMSEA, which keeps the unscaled
    statistic with df' = c df (lavaan's convention). The ``*_robust``
    measures follow Brosseau-Liard & Savalei (2014) and Brosseau-Liard,
    Savalei & Li (2012).
    """
    chisq, df = measures["chisq"], measures["df"]
    baseline_chisq, baseline_df = measures["baseline_chisq"], measures["baseline_df"]
    factor, baseline_factor = test.scaling_factor, test.baseline_scaling_factor
    scaled = test.chisq_scaled
    baseline_scaled = baseline_chisq / baseline_factor
    fractional_df = factor * df
    ci_scaled = fm.rmsea_ci(chisq, fractional_df, nobs, ngroups)
    ci_robust = fm.rmsea_ci_robust(scaled, df, factor, nobs, ngroups)
    return {
        "chisq_scaled": scaled,
        "df_scaled": df,
        "pvalue_scaled": fm.chisq_pvalue(scaled, df),
        "chisq_scaling_factor": factor,
        "scaling_factor_h1": test.scaling_factor_h1,
        "scaling_factor_h0": test.scaling_factor_h0,
        "baseline_chisq_scaled": baseline_scaled,
        "baseline_df_scaled": baseline_df,
        "baseline_pvalue_scaled": fm.chisq_pvalue(baseline_scaled, baseline_df),
        "baseline_chisq_scaling_factor": baseline_factor,
        "cfi_scaled": fm.cfi(scaled, df, baseline_scaled, baseline_df),
        "tli_scaled": fm.tli(scaled, df, baseline_scaled, baseline_df),
        "cfi_robust": fm.cfi_robust(chisq, df, factor, baseline_chisq, baseline_df,
                                    baseline_factor),
        "tli_robust": fm.tli_robust(chisq, df, factor, baseline_chisq, baseline_df,
                                    baseline_factor),
        "rmsea_scaled": fm.rmsea(chisq, fractional_df, nobs, ngroups),
        "rmsea_ci_lower_scaled": ci_scaled[0],
        "rmsea_ci_upper_scaled": ci_scaled[1],
        "rmsea_pvalue_scaled": fm.rmsea_pvalue(chisq, fractional_df, nobs, ngroups),
        "rmsea_notclose_pvalue_scaled": _notclose(chisq, fractional_df, nobs, ngroups),
        "rmsea_robust": fm.rmsea_robust(chisq, df, factor, nobs, ngroups),
        "rmsea_ci_lower_robust": ci_robust[0],
        "rmsea_ci_upper_robust": ci_robust[1],
        "rmsea_pvalue_robust": fm.rmsea_pvalue_robust(scaled, df, factor, nobs,
                                                      ngroups),
        "rmsea_notclose_pvalue_robust": fm.rmsea_pvalue_robust(
            scaled, df, factor, nobs, ngroups, close=0.08, not_close=True),
    }
