"""Difference test between nested least-squares fits of ordinal items.

For WLSMV and ULSMV, lavaan 0.6.14's ``lavTestLRT`` compares two nested
models with the method of Satorra (2000), in its scaled-and-shifted form.
The unscaled difference T0 - T1 of the two standard statistics is
asymptotically a weighted sum of chi-squares with weights the eigenvalues of
U_d Gamma, where, at the estimates of the less restricted model M1,

    U_d Gamma ~ Q B,    Q = P^-1 A' (A P^-1 A')^-1 A P^-1,

P = sum_g f_g Delta_g' W_g Delta_g is the information of M1, B = sum_g f_g
Delta_g' W_g Gamma_g W_g Delta_g its robust "meat", and the rows of A span
the directions of M1's parameter space that the restrictions of M0 remove.
A is the orthogonal complement of H = Delta_1^+ Delta_0, the map from M0's
parameters to M1's implied by the two Jacobians ("A.method = delta" in
lavaan). With m the difference in df, the statistic is

    T_d = a (T0 - T1) + b,   a = sqrt(m / tr((Q B)^2)),   b = m - a tr(Q B),

referred to a chi-square with m df (Asparouhov & Muthen, 2010, applied to
the difference).

References
----------
Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample
analysis of moment structures. In R. D. H. Heijmans, D. S. G. Pollock, & A.
Satorra (Eds.), Innovations in Multivariate Statistical Analysis (pp.
233-247). Kluwer.
Asparouhov, T., & Muthen, B. (2010). Simple second order chi-square
correction. Mplus technical appendix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from lio_validate.exceptions import LioInputError

__all__ = ["DifferenceTest", "satorra_2000"]


@dataclass(frozen=True)
class DifferenceTest:
    """A scaled-and-shifted difference test: T_d = scale (T0 - T1) + shift."""

    statistic: float
    df: float
    pvalue: float
    scale: float
    shift: float
    trace_ugamma: float
    trace_ugamma2: float


def _orthogonal_complement(matrix: np.ndarray) -> np.ndarray:
    """Return an orthonormal basis (as columns) of the complement of matrix's columns."""
    left, singular, _ = np.linalg.svd(matrix, full_matrices=True)
    tolerance = max(matrix.shape) * np.finfo(float).eps * (
        singular[0] if len(singular) else 0.0)
    rank = int(np.sum(singular > tolerance))
    return left[:, rank:]


def satorra_2000(less, more) -> DifferenceTest:
    """Compare two nested DWLS/ULS fits as lavaan's ``lavTestLRT`` does.

    Parameters
    ----------
    less, more : lio_validate.wls.DWLSFit
        The less and the more restricted fit of the same items and groups,
        both with a robust estimator (WLSMV or ULSMV).

    Returns
    -------
    DifferenceTest
        The statistic is NaN when the two models have the same df.

    Raises
    ------
    LioInputError
        If a fit has no robust meat (DWLS or ULS), or the fits differ in
        their groups or sample statistics.
    """
    if less.meat is None or more.meat is None:
        raise LioInputError(
            "the scaled difference test needs robust fits (estimator WLSMV or "
            "ULSMV), not DWLS or ULS"
        )
    if [s.nobs for s in less.sample] != [s.nobs for s in more.sample]:
        raise LioInputError(
            "the two fits are not nested: they use different groups or rows"
        )
    chisq_less = less.fit_measures["chisq"]
    chisq_more = more.fit_measures["chisq"]
    m = more.fit_measures["df"] - less.fit_measures["df"]
    if m == 0:
        return DifferenceTest(chisq_more - chisq_less, 0.0, np.nan, np.nan, np.nan,
                              np.nan, np.nan)

    # The restrictions as directions in the parameter space of the less
    # restricted model.
    delta_less = np.vstack(less.jacobians)
    delta_more = np.vstack(more.jacobians)
    mapping = np.linalg.pinv(delta_less) @ delta_more
    restrictions = _orthogonal_complement(mapping).T

    information_inverse = np.linalg.inv(less.information)
    projected = restrictions @ information_inverse
    q = projected.T @ np.linalg.pinv(projected @ restrictions.T) @ projected
    product = q @ less.meat
    trace_ugamma = float(np.trace(product))
    trace_ugamma2 = float(np.sum(product * product.T))
    scale = np.sqrt(m / trace_ugamma2)
    shift = m - scale * trace_ugamma
    statistic = (chisq_more - chisq_less) * scale + shift
    return DifferenceTest(float(statistic), float(m),
                          float(scipy_stats.chi2.sf(statistic, m)), float(scale),
                          float(shift), trace_ugamma, trace_ugamma2)
