"""Exploratory factor analysis with parallel analysis for the number of factors.

Before a confirmatory model is written, :func:`parallel_analysis` suggests how
many factors the items support and :func:`efa` estimates a minres (unweighted
least squares) solution with a varimax or oblimin rotation, using
factor_analyzer. :meth:`EFAResult.to_lavaan` turns the salient loadings into a
starting CFA model.

Parallel analysis (Horn, 1965) compares each eigenvalue of the items'
correlation matrix with the same eigenvalue of random normal data of the same
size. Factors are retained while the observed eigenvalue exceeds the 95th
percentile of the random ones (Glorfeld, 1995). Components use the
eigenvalues of the correlation matrix, factors those of the reduced matrix
with squared multiple correlations on the diagonal (Humphreys & Ilgen, 1969).

References
----------
Glorfeld, L. W. (1995). An improvement on Horn's parallel analysis
methodology for selecting the correct number of factors to retain.
Educational and Psychological Measurement, 55(3), 377-393.
Horn, J. L. (1965). A rationale and test for the number of factors in factor
analysis. Psychometrika, 30(2), 179-185.
Humphreys, L. G., & Ilgen, D. R. (1969). Note on a criterion for the number
of common factors. Educational and Psychological Measurement, 29(3), 571-578.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.exceptions import DataError, LioInputError

__all__ = ["EFAResult", "ParallelAnalysis", "efa", "parallel_analysis"]

ROTATIONS = ("oblimin", "varimax", "promax", "none")


def _items(data: pd.DataFrame, items) -> tuple[np.ndarray, list[str]]:
    frame = getattr(data, "frame", data)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    names = list(items) if items is not None else [
        str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise DataError(f"item column(s) {missing} are not in the data")
    if len(names) < 3:
        raise DataError(f"factor analysis needs at least 3 items, got {len(names)}")
    values = frame[names].apply(pd.to_numeric, errors="coerce").dropna()
    if len(values) <= len(names):
        raise DataError(
            f"only {len(values)} complete rows for {len(names)} items; factor "
            "analysis needs more rows than items"
        )
    constant = [name for name in names if values[name].std() == 0]
    if constant:
        raise DataError(f"item(s) {constant} are constant; drop them")
    return values.to_numpy(dtype=float), names


def _reduced(correlation: np.ndarray) -> np.ndarray:
    """Correlation matrix with squared multiple correlations on the diagonal."""
    reduced = correlation.copy()
    np.fill_diagonal(reduced, 1 - 1 / np.diag(np.linalg.inv(correlation)))
    return reduced


@dataclass(frozen=True)
class ParallelAnalysis:
    """Observed and random eigenvalues and the numbers of factors they suggest.

    Attributes
    ----------
    eigenvalues : pandas.DataFrame
        One row per position: ``pc`` and ``fa`` observed eigenvalues and the
        ``pc_random`` and ``fa_random`` quantiles of the random ones.
    n_components, n_factors : int
        Leading observed eigenvalues above their random quantile.
    quantile : float
    n_iter, seed : int
    """

    eigenvalues: pd.DataFrame
    n_components: int
    n_factors: int
    quantile: float
    n_iter: int
    seed: int

    def summary(self) -> str:
        """Return the eigenvalue table and the suggested numbers."""
        lines = [f"Parallel analysis ({self.n_iter} random data sets, "
                 f"{100 * self.quantile:g}th percentile, seed {self.seed})", "",
                 f"  {'':>4s}{'pc':>9s}{'random':>9s}{'fa':>9s}{'random':>9s}"]
        for k, row in enumerate(self.eigenvalues.itertuples(index=False), start=1):
            lines.append(f"  {k:>4d}{row.pc:>9.3f}{row.pc_random:>9.3f}"
                         f"{row.fa:>9.3f}{row.fa_random:>9.3f}")
        lines += ["", f"Suggested: {self.n_factors} factor(s), "
                  f"{self.n_components} component(s)."]
        return "\n".join(lines)


def _count_above(observed: np.ndarray, random: np.ndarray) -> int:
    above = observed > random
    return int(np.argmin(above)) if not above.all() else len(above)


def parallel_analysis(
    data: pd.DataFrame, *, items=None, n_iter: int = 100, quantile: float = 0.95,
    seed: int | None = None,
) -> ParallelAnalysis:
    """Suggest the number of factors by Horn's parallel analysis.

    Parameters
    ----------
    data : pandas.DataFrame
    items : list of str, optional
        Item columns; by default every numeric column.
    n_iter : int, default 100
        Random data sets of the same size as the complete cases.
    quantile : float, default 0.95
        Quantile of the random eigenvalues to exceed (Glorfeld, 1995); 0.5
        gives the median, close to Horn's original mean.
    seed : int, optional
        Seed of the random data; drawn and stored when None.

    Returns
    -------
    ParallelAnalysis
    """
    if not 0 < quantile < 1:
        raise LioInputError(f"quantile must lie between 0 and 1, not {quantile!r}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise LioInputError(f"n_iter must be a positive integer, not {n_iter!r}")
    values, _ = _items(data, items)
    nobs, p = values.shape
    correlation = np.corrcoef(values, rowvar=False)
    observed_pc = np.linalg.eigvalsh(correlation)[::-1]
    observed_fa = np.linalg.eigvalsh(_reduced(correlation))[::-1]

    entropy = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
    rng = np.random.default_rng(entropy)
    random_pc = np.empty((n_iter, p))
    random_fa = np.empty((n_iter, p))
    for k in range(n_iter):
        simulated = np.corrcoef(rng.standard_normal((nobs, p)), rowvar=False)
        random_pc[k] = np.linalg.eigvalsh(simulated)[::-1]
        random_fa[k] = np.linalg.eigvalsh(_reduced(simulated))[::-1]
    pc_random = np.quantile(random_pc, quantile, axis=0)
    fa_random = np.quantile(random_fa, quantile, axis=0)
    table = pd.DataFrame({"pc": observed_pc, "pc_random": pc_random,
                          "fa": observed_fa, "fa_random": fa_random},
                         index=pd.RangeIndex(1, p + 1, name="position"))
    return ParallelAnalysis(table, _count_above(observed_pc, pc_random),
                            _count_above(observed_fa, fa_random), quantile, n_iter,
                            entropy)


@dataclass(frozen=True)
class EFAResult:
    """A rotated minres factor solution.

    Attributes
    ----------
    loadings : pandas.DataFrame
        Pattern loadings, items by factors (``F1``, ``F2``, ...), factors
        ordered by their sum of squared loadings and signed so that each
        column sums to a positive value.
    factor_correlations : pandas.DataFrame
        Correlations of the factors (the identity for orthogonal rotations).
    communalities, uniquenesses : pandas.Series
        diag(L Phi L') and 1 minus it.
    rotation : str
    nobs : int
    parallel : ParallelAnalysis or None
        The analysis that chose the number of factors, if one did.
    """

    loadings: pd.DataFrame
    factor_correlations: pd.DataFrame
    communalities: pd.Series
    uniquenesses: pd.Series
    rotation: str
    nobs: int
    parallel: ParallelAnalysis | None = None

    def to_lavaan(self, threshold: float = 0.3) -> str:
        """Return CFA syntax with each item on the factors it loads at least
        ``threshold`` (in absolute value) on."""
        lines = []
        for factor in self.loadings.columns:
            salient = self.loadings.index[self.loadings[factor].abs() >= threshold]
            if len(salient):
                lines.append(f"{factor} =~ " + " + ".join(salient))
        return "\n".join(lines)

    def summary(self, threshold: float = 0.3) -> str:
        """Return the loadings, with those below ``threshold`` blanked."""
        columns = list(self.loadings.columns)
        lines = [f"Exploratory factor analysis: minres, {self.rotation} rotation, "
                 f"N = {self.nobs}", "",
                 f"  {'item':<16s}" + "".join(f"{c:>8s}" for c in columns)
                 + f"{'h2':>8s}"]
        for item, row in self.loadings.iterrows():
            cells = "".join(f"{v:>8.3f}" if abs(v) >= threshold else f"{'':>8s}"
                            for v in row)
            lines.append(f"  {item:<16.16s}{cells}{self.communalities[item]:>8.3f}")
        if self.rotation in ("oblimin", "promax"):
            lines += ["", "Factor correlations:",
                      self.factor_correlations.round(3).to_string()]
        if self.parallel is not None:
            lines += ["", self.parallel.summary()]
        return "\n".join(lines)


def efa(
    data: pd.DataFrame, n_factors: int | None = None, *, items=None,
    rotation: str = "oblimin", n_iter: int = 100, seed: int | None = None,
) -> EFAResult:
    """Estimate a minres factor solution, choosing the number of factors if needed.

    Parameters
    ----------
    data : pandas.DataFrame
    n_factors : int, optional
        Number of factors; by default the number parallel analysis suggests.
    items : list of str, optional
        Item columns; by default every numeric column.
    rotation : {"oblimin", "varimax", "promax", "none"}, default "oblimin"
    n_iter, seed
        Settings of the parallel analysis when ``n_factors`` is None.

    Returns
    -------
    EFAResult
    """
    if rotation not in ROTATIONS:
        raise LioInputError(f"unknown rotation {rotation!r}; choose one of "
                            f"{', '.join(ROTATIONS)}")
    values, names = _items(data, items)
    parallel = None
    if n_factors is None:
        parallel = parallel_analysis(data, items=names, n_iter=n_iter, seed=seed)
        n_factors = max(1, parallel.n_factors)
    if isinstance(n_factors, bool) or not isinstance(n_factors, int) \
            or not 1 <= n_factors < len(names):
        raise LioInputError(
            f"n_factors must be an integer from 1 to {len(names) - 1}, not "
            f"{n_factors!r}"
        )
    loadings, phi = _fit_minres(values, n_factors, rotation)

    # Order factors by their sum of squared loadings and make each column's
    # sum positive, so that solutions compare across runs and programs.
    order = np.argsort(-np.sum(loadings**2, axis=0), kind="stable")
    signs = np.sign(loadings[:, order].sum(axis=0))
    signs[signs == 0] = 1
    loadings = loadings[:, order] * signs
    phi = phi[np.ix_(order, order)] * np.outer(signs, signs)

    communality = np.einsum("ij,jk,ik->i", loadings, phi, loadings)
    factors = [f"F{k + 1}" for k in range(n_factors)]
    return EFAResult(
        pd.DataFrame(loadings, index=names, columns=factors),
        pd.DataFrame(phi, index=factors, columns=factors),
        pd.Series(communality, index=names, name="communality"),
        pd.Series(1 - communality, index=names, name="uniqueness"),
        rotation, len(values), parallel,
    )


def _fit_minres(values: np.ndarray, n_factors: int,
                rotation: str) -> tuple[np.ndarray, np.ndarray]:
    """Minres loadings, rotated, and the factor correlations of the rotation.

    The factor correlations are derived from the rotation itself: with A the
    unrotated and L the rotated loadings, L = A M and Phi = M^-1 M^-T.
    factor_analyzer 0.5.1's own ``phi_`` is not used, because for oblimin on
    the Holzinger-Swineford items its columns were ordered differently from
    those of the loadings (diag(L Phi L') then missed the communalities).
    """
    from factor_analyzer import FactorAnalyzer
    from factor_analyzer.rotator import Rotator

    analyzer = FactorAnalyzer(n_factors=n_factors, rotation=None, method="minres")
    with warnings.catch_warnings():
        # factor_analyzer 0.5.1 passes scikit-learn's deprecated
        # force_all_finite argument, which only triggers a FutureWarning on
        # scikit-learn 1.6 and 1.7.
        warnings.filterwarnings("ignore", message=".*force_all_finite.*",
                                category=FutureWarning)
        analyzer.fit(values)
    unrotated = np.asarray(analyzer.loadings_, dtype=float)
    if rotation == "none" or n_factors == 1:
        return unrotated, np.eye(n_factors)
    rotated = np.asarray(Rotator(method=rotation).fit_transform(unrotated), dtype=float)
    transform = np.linalg.lstsq(unrotated, rotated, rcond=None)[0]
    inverse = np.linalg.inv(transform)
    phi = inverse @ inverse.T
    scale = np.sqrt(np.diag(phi))
    return rotated, phi / np.outer(scale, scale)
