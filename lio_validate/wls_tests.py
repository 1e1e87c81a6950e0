"""Standard errors, test statistics and fit measures of a DWLS or ULS fit.

Everything follows lavaan 0.6.14 for ordinal items in a fit without
covariates:

- robust ("sandwich") covariance of the estimates, (N - G)^-1 E^-1 B E^-1,
  with E = sum_g f_g Delta' W Delta and B = sum_g f_g Delta' W Gamma W Delta
  (Muthen, du Toit & Spisic, 1997), or the plain (N - G)^-1 E^-1;
- the test statistic sum_g (N_g - 1)(s - sigma)' W (s - sigma) and its
  scaled-and-shifted version (Asparouhov & Muthen, 2010);
- the baseline model of zero polychoric correlations, CFI, TLI, RMSEA with
  N - G, their scaled versions and SRMR on the correlations;
- the robust CFI, TLI and RMSEA of Savalei (2021), which evaluate the
  normal-theory ML discrepancy of the DWLS solution ("catML").

Here f_g = N_g / N, and the trace formulas work on (rows x parameters)
products only, so no square matrix of the size of s is multiplied by another.

References
----------
Asparouhov, T., & Muthen, B. (2010). Simple second order chi-square
correction. Mplus technical appendix.
Muthen, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using
weighted least squares and quadratic estimating equations in latent variable
modeling with categorical and continuous outcomes. Unpublished manuscript.
Satorra, A., & Bentler, P. M. (1994). Corrections to test statistics and
standard errors in covariance structure analysis. In A. von Eye & C. C. Clogg
(Eds.), Latent Variables Analysis (pp. 399-419). Sage.
Savalei, V. (2021). Improving fit indices in structural equation modeling
with categorical data. Multivariate Behavioral Research, 56(3), 390-407.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from lio_validate import fit_measures as fm
from lio_validate.exceptions import DataError, DataWarning, LioInputError
from lio_validate.ordinal_data import Message
from lio_validate.polychoric import pair_indices
from lio_validate.wls_model import LeastSquaresData

__all__ = [
    "ScaledShiftedTest",
    "RobustIndexInputs",
    "information",
    "gamma_products",
    "robust_meat",
    "scaled_shifted",
    "baseline_scaled_shifted",
    "catml_inputs",
    "check_clusters",
    "least_squares_fit_measures",
]


@dataclass(frozen=True)
class ScaledShiftedTest:
    """The scaled-and-shifted statistic T = a X2 + b and its ingredients.

    ``scaling_factor`` is 1 / a and ``shift_parameter`` is b, as lavaan
    reports them. ``trace_ugamma`` and ``trace_ugamma2`` are tr(U Gamma) and
    tr((U Gamma)^2).
    """

    chisq: float
    df: float
    scaling_factor: float
    shift_parameter: float
    trace_ugamma: float
    trace_ugamma2: float

    @property
    def pvalue(self) -> float:
        return fm.chisq_pvalue(self.chisq, self.df)


@dataclass(frozen=True)
class RobustIndexInputs:
    """The catML statistics of Savalei (2021) behind the robust indices."""

    chisq: float
    scaling_factor: float
    baseline_chisq: float
    baseline_scaling_factor: float


def _fractions(data: tuple[LeastSquaresData, ...]) -> list[float]:
    total = sum(d.nobs for d in data)
    return [d.nobs / total for d in data]


def information(deltas, data: tuple[LeastSquaresData, ...]) -> np.ndarray:
    """Return E = sum_g f_g Delta_g' W_g Delta_g (lavaan's expected information)."""
    out = 0.0
    for delta, group_data, fraction in zip(deltas, data, _fractions(data)):
        out = out + fraction * (delta.T @ (group_data.weights[:, None] * delta))
    return (out + out.T) / 2.0


def gamma_products(deltas, data: tuple[LeastSquaresData, ...]) -> list[np.ndarray]:
    """Return Gamma_g W_g Delta_g per group, shared by the SEs and the test."""
    return [group_data.gamma @ (group_data.weights[:, None] * delta)
            for delta, group_data in zip(deltas, data)]


def robust_meat(deltas, data: tuple[LeastSquaresData, ...], products) -> np.ndarray:
    """Return B = sum_g f_g Delta_g' W_g Gamma_g W_g Delta_g.

    ``products`` are the Gamma_g W_g Delta_g of :func:`gamma_products`.
    """
    out = 0.0
    for delta, group_data, product, fraction in zip(deltas, data, products,
                                                     _fractions(data)):
        out = out + fraction * ((group_data.weights[:, None] * delta).T @ product)
    return (out + out.T) / 2.0


def scaled_shifted(chisq: float, df: float, data, information_inverse,
                   meat: np.ndarray, products) -> ScaledShiftedTest:
    """Return the scaled-and-shifted test (Asparouhov & Muthen, 2010).

    With U = V - V Delta E^-1 Delta' V over all groups (V block diagonal with
    f_g W_g, Gamma block diagonal with Gamma_g / f_g), a = sqrt(df /
    tr((U Gamma)^2)), b = df - a tr(U Gamma) and T = a X2 + b. The traces
    expand into tr(W Gamma) - tr(E^-1 B) and tr((W Gamma)^2) - 2 tr(E^-1 L'
    W L) + tr((E^-1 B)^2), with L_g = Gamma_g W_g Delta_g (``products``) and
    the f_g folded in.
    """
    trace_wg, trace_wg2 = 0.0, 0.0
    cross = 0.0
    for group_data, product, fraction in zip(data, products, _fractions(data)):
        weights, gamma = group_data.weights, group_data.gamma
        weighted_gamma = weights[:, None] * gamma
        trace_wg += float(np.trace(weighted_gamma))
        trace_wg2 += float(np.sum(weighted_gamma * weighted_gamma.T))
        cross = cross + fraction * (product.T @ (weights[:, None] * product))
    product = information_inverse @ meat
    trace_ugamma = trace_wg - float(np.trace(product))
    trace_ugamma2 = (trace_wg2 - 2.0 * float(np.sum(information_inverse * cross))
                     + float(np.sum(product * product.T)))
    return _scaled_shifted_from_traces(chisq, df, trace_ugamma, trace_ugamma2)


def _scaled_shifted_from_traces(chisq, df, trace_ugamma, trace_ugamma2):
    if df <= 0 or trace_ugamma2 <= 0:
        return ScaledShiftedTest(np.nan, df, np.nan, np.nan, trace_ugamma,
                                 trace_ugamma2)
    a = np.sqrt(df / trace_ugamma2)
    shift = df - a * trace_ugamma
    return ScaledShiftedTest(float(a * chisq + shift), df, float(1.0 / a),
                             float(shift), float(trace_ugamma), float(trace_ugamma2))


def baseline_scaled_shifted(chisq: float, df: float, data,
                            nthresholds: list[int]) -> ScaledShiftedTest:
    """Return the scaled-and-shifted test of the baseline model.

    The baseline model frees the thresholds and fixes the correlations at 0,
    so it reproduces the thresholds exactly and U is W on the correlation
    rows and 0 elsewhere: the traces are those of W_r Gamma_rr per group.
    """
    trace_ugamma, trace_ugamma2 = 0.0, 0.0
    for group_data, skip in zip(data, nthresholds):
        weighted_gamma = (group_data.weights[skip:, None]
                          * group_data.gamma[skip:, skip:])
        trace_ugamma += float(np.trace(weighted_gamma))
        trace_ugamma2 += float(np.sum(weighted_gamma * weighted_gamma.T))
    return _scaled_shifted_from_traces(chisq, df, trace_ugamma, trace_ugamma2)


# --------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------


def check_clusters(clusters, column: str | None, group_names, npar: int,
                   robust: bool) -> list[Message]:
    """Check the clusters of a fit before stage 1 and return warnings about them.

    With G clusters a cluster-robust Gamma is a sum of G outer products, so
    the robust covariance matrix of the estimates has rank at most the total
    number of clusters. Fewer clusters than free parameters therefore leave
    some combinations of the estimates with zero estimated variance, which
    the returned DataWarning reports.

    Parameters
    ----------
    clusters : sequence of numpy.ndarray or None
        Per group, the cluster code of each row (from
        :func:`lio_validate.data_prep.prepare_data`).
    column : str or None
        Name of the cluster column, for messages.
    group_names : sequence of str
        Group labels ("" for a single group).
    npar : int
        Number of free parameters.
    robust : bool
        Whether the estimator has robust standard errors (WLSMV, ULSMV).

    Returns
    -------
    list of (warning class, str)

    Raises
    ------
    LioInputError
        If clusters are given to DWLS or ULS, whose standard errors do not use
        Gamma. NOTE: lavaan 0.6.14 instead gives DWLS with ``cluster`` robust
        standard errors and a Satorra-Bentler test, which is not implemented
        here.
    DataError
        If a group has a single cluster.
    """
    if clusters is None:
        return []
    if not robust:
        raise LioInputError(
            f"cluster={column!r} needs cluster-robust standard errors, which DWLS "
            "and ULS do not compute. Use estimator='WLSMV' (or 'ULSMV'), or drop "
            "cluster="
        )
    total = 0
    for codes, name in zip(clusters, group_names):
        count = len(np.unique(codes))
        if count < 2:
            where = f" in group {name!r}" if name else ""
            raise DataError(
                f"every row{where} has the same value of the cluster column "
                f"{column!r}, and cluster-robust standard errors need at least two "
                "clusters per group. Check the column, or drop cluster= if the rows "
                "are independent"
            )
        total += count
    if total < npar:
        counted = (f"defines {total} clusters" if len(group_names) == 1 else
                   f"defines {total} clusters in all (counted within each of the "
                   f"{len(group_names)} groups)")
        return [(DataWarning, (
            f"the cluster column {column!r} {counted}, fewer than the "
            f"{npar} free parameters. The cluster-robust covariance matrix of the "
            f"estimates then has rank at most {total}, so some standard errors and "
            "the scaled test are unreliable. Use more clusters or a model with fewer "
            "parameters"
        ))]
    return []


# --------------------------------------------------------------------------
# Robust (catML) indices
# --------------------------------------------------------------------------


def _normal_theory_weights(sigma: np.ndarray) -> np.ndarray:
    """Return the normal-theory ML weight matrix of the correlations at sigma.

    (1/2) D'(P kron P) D restricted to the off-diagonal elements, with
    P = sigma^-1: the entry for pairs (i, j) and (k, l) is
    P_ik P_jl + P_il P_jk.
    """
    precision = np.linalg.inv(sigma)
    first, second = pair_indices(sigma.shape[0])
    return (precision[np.ix_(first, first)] * precision[np.ix_(second, second)]
            + precision[np.ix_(first, second)] * precision[np.ix_(second, first)])


def catml_inputs(deltas, data, sample_correlations, implied_correlations,
                 nthresholds: list[int], information_inverse, df: float,
                 baseline_df: float) -> RobustIndexInputs | None:
    """Return Savalei's (2021) catML statistics, or None if a matrix is not PD.

    X2_c = sum_g N_g F_ML(R_g; Sigma_g) at the DWLS estimates, with F_ML =
    log|Sigma| + tr(R Sigma^-1) - log|R| - p, and its baseline -sum_g N_g
    log|R_g|. The scaling factor of X2_c is tr(U' V U Gamma_r) / df with
    U = I - Delta_r E^-1 Delta_r' W_r on the correlation rows and V the
    normal-theory weights at Sigma. The scaling factor of the baseline is
    tr(Gamma_r) / df0. As in lavaan 0.6.14 (``lav_fit_catml_dwls``), the indices are not
    computed when a polychoric matrix has an eigenvalue below sqrt(eps).
    """
    fractions = _fractions(data)

    # The correlations do not depend on the thresholds, so only the columns
    # of the other parameters enter the traces.
    columns = np.flatnonzero(np.any(
        [np.any(delta[skip:] != 0, axis=0) for delta, skip in zip(deltas, nthresholds)],
        axis=0))
    information_inverse = information_inverse[np.ix_(columns, columns)]

    chisq, baseline_chisq = 0.0, 0.0
    trace_vg, trace_gamma = 0.0, 0.0
    cross, inner, meat = 0.0, 0.0, 0.0
    for delta, group_data, fraction, sample, implied, skip in zip(
            deltas, data, fractions, sample_correlations, implied_correlations,
            nthresholds):
        if np.linalg.eigvalsh(sample)[0] < np.sqrt(np.finfo(float).eps):
            return None
        p = sample.shape[0]
        _, logdet_sample = np.linalg.slogdet(sample)
        sign, logdet_implied = np.linalg.slogdet(implied)
        if sign <= 0:
            return None
        f_ml = (logdet_implied + np.trace(sample @ np.linalg.inv(implied))
                - logdet_sample - p)
        chisq += group_data.nobs * f_ml
        baseline_chisq -= group_data.nobs * logdet_sample

        # Traces over the correlation rows. The f_g of V, W and Gamma / f_g
        # leave one f_g on each term below.
        delta_r = delta[skip:, columns]
        weights = group_data.weights[skip:]
        gamma = group_data.gamma[skip:, skip:]
        normal = _normal_theory_weights(implied)
        trace_vg += float(np.sum(normal * gamma))
        trace_gamma += float(np.trace(gamma)) / fraction
        normal_delta = normal @ delta_r
        weighted_delta = weights[:, None] * delta_r
        cross = cross + fraction * (normal_delta.T @ (gamma @ weighted_delta))
        inner = inner + fraction * (delta_r.T @ normal_delta)
        meat = meat + fraction * (weighted_delta.T @ (gamma @ weighted_delta))

    trace = (trace_vg - 2.0 * float(np.sum(information_inverse * cross.T))
             + float(np.sum((information_inverse @ inner)
                            * (information_inverse @ meat).T)))
    return RobustIndexInputs(float(chisq), trace / df, float(baseline_chisq),
                             trace_gamma / baseline_df)


def _robust_cfi(chisq, df, baseline_chisq, baseline_df, c_hat, c_hat_null) -> float:
    if not np.all(np.isfinite([chisq, baseline_chisq, c_hat, c_hat_null])):
        return np.nan
    model_term = max(chisq - c_hat * df, 0.0)
    denominator = max(chisq - c_hat * df, baseline_chisq - c_hat_null * baseline_df,
                      0.0)
    if denominator == 0.0:
        return 1.0
    return 1.0 - model_term / denominator


def _robust_tli(chisq, df, baseline_chisq, baseline_df, c_hat, c_hat_null) -> float:
    if not np.all(np.isfinite([chisq, baseline_chisq, c_hat, c_hat_null])):
        return np.nan
    model_term = (chisq - c_hat * df) * baseline_df
    baseline_term = (baseline_chisq - c_hat_null * baseline_df) * df
    if df > 0 and abs(baseline_term) > 0:
        return 1.0 - model_term / baseline_term
    return 1.0


# --------------------------------------------------------------------------
# Fit measures
# --------------------------------------------------------------------------


def _notclose_pvalue(chisq, df, nobs, ngroups, c_hat=1.0, h0=0.08) -> float:
    if df <= 0:
        return np.nan
    ncp = nobs * df * h0**2 / (c_hat * ngroups)
    return float(scipy_stats.ncx2.cdf(chisq, df, ncp))


def _rmsea_measures(suffix: str, chisq, df, nobs, ngroups, c_hat=1.0,
                    chisq_for_ci=None) -> dict[str, float]:
    """Return RMSEA, its 90% CI and close/not-close p-values, with Savalei's c_hat.

    With c_hat, RMSEA = sqrt(G) sqrt(max(X2 / (N df) - c_hat / N, 0)). The CI
    and p-values invert the noncentral chi-square at ``chisq_for_ci`` (the
    scaled statistic) and map a noncentrality lambda to sqrt(c_hat lambda /
    (N df)), as lavaan 0.6.14 does.
    """
    statistic = chisq if chisq_for_ci is None else chisq_for_ci
    names = ("rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue",
             "rmsea_notclose_pvalue")
    if not np.all(np.isfinite([chisq, statistic, c_hat])):
        return {f"{name}{suffix}": np.nan for name in names}
    scale = np.sqrt(c_hat)
    lower, upper = fm.rmsea_ci(statistic, df, nobs, ngroups)
    return {
        f"rmsea{suffix}": scale * fm.rmsea(chisq / c_hat, df, nobs, ngroups),
        f"rmsea_ci_lower{suffix}": scale * lower,
        f"rmsea_ci_upper{suffix}": scale * upper,
        f"rmsea_pvalue{suffix}": fm.rmsea_pvalue(statistic, df, nobs / c_hat, ngroups,
                                                 0.05),
        f"rmsea_notclose_pvalue{suffix}": _notclose_pvalue(statistic, df, nobs,
                                                           ngroups, c_hat),
    }


def least_squares_fit_measures(
    *, npar: int, fmin_value: float, chisq: float, df: float, nobs: int,
    ngroups: int, baseline_chisq: float, baseline_df: float, srmr: float,
    scaled: ScaledShiftedTest | None, baseline_scaled: ScaledShiftedTest | None,
    robust: RobustIndexInputs | None, chisq_has_pvalue: bool = True,
) -> dict[str, float]:
    """Assemble lavaan's fit measures (snake_case names) of a DWLS or ULS fit.

    RMSEA uses N - G, as lavaan does for every estimator outside the ML
    family. ``scaled`` is None for a fit without a robust test, and the
    scaled and robust measures are then left out. With a robust test but
    ``robust`` None (a polychoric matrix that is not positive definite), the
    robust measures are NaN, as in lavaan 0.6.14. With ``chisq_has_pvalue``
    False (ULS: lavaan 0.6.14 marks the distribution of the unscaled ULS
    statistic as unknown) the p-values of the model and baseline statistics
    are NaN.
    """
    rmsea_n = nobs - ngroups
    out: dict[str, float] = {
        "npar": npar,
        "fmin": fmin_value,
        "chisq": chisq,
        "df": df,
        "pvalue": fm.chisq_pvalue(chisq, df) if chisq_has_pvalue else np.nan,
    }
    if scaled is not None:
        out.update({
            "chisq_scaled": scaled.chisq,
            "df_scaled": scaled.df,
            "pvalue_scaled": scaled.pvalue,
            "chisq_scaling_factor": scaled.scaling_factor,
            "chisq_shift_parameter": scaled.shift_parameter,
        })
    out.update({
        "baseline_chisq": baseline_chisq,
        "baseline_df": baseline_df,
        "baseline_pvalue": (fm.chisq_pvalue(baseline_chisq, baseline_df)
                            if chisq_has_pvalue else np.nan),
    })
    if baseline_scaled is not None:
        out.update({
            "baseline_chisq_scaled": baseline_scaled.chisq,
            "baseline_df_scaled": baseline_scaled.df,
            "baseline_pvalue_scaled": baseline_scaled.pvalue,
            "baseline_chisq_scaling_factor": baseline_scaled.scaling_factor,
        })
    out["cfi"] = fm.cfi(chisq, df, baseline_chisq, baseline_df)
    out["tli"] = fm.tli(chisq, df, baseline_chisq, baseline_df)
    if scaled is not None and baseline_scaled is not None:
        out["cfi_scaled"] = fm.cfi(scaled.chisq, df, baseline_scaled.chisq, baseline_df)
        out["tli_scaled"] = fm.tli(scaled.chisq, df, baseline_scaled.chisq, baseline_df)
    if scaled is not None and robust is None:
        robust = RobustIndexInputs(np.nan, np.nan, np.nan, np.nan)
    if robust is not None:
        out["cfi_robust"] = _robust_cfi(robust.chisq, df, robust.baseline_chisq,
                                        baseline_df, robust.scaling_factor,
                                        robust.baseline_scaling_factor)
        out["tli_robust"] = _robust_tli(robust.chisq, df, robust.baseline_chisq,
                                        baseline_df, robust.scaling_factor,
                                        robust.baseline_scaling_factor)
    out["nobs"] = nobs
    out["ngroups"] = ngroups
    out.update(_rmsea_measures("", chisq, df, rmsea_n, ngroups))
    if scaled is not None:
        out.update(_rmsea_measures("_scaled", scaled.chisq, df, rmsea_n, ngroups))
    if robust is not None:
        out.update(_rmsea_measures(
            "_robust", robust.chisq, df, rmsea_n, ngroups,
            c_hat=robust.scaling_factor,
            chisq_for_ci=robust.chisq / robust.scaling_factor,
        ))
    out["srmr"] = srmr
    return out
