"""Relative importance of correlated predictors: general dominance weights.

For an outcome with predictors X_1..X_p, R^2(S) is the squared multiple
correlation of the outcome on a subset S of the predictors, computed here
from the model-implied correlations of the variables (latent or observed),
R^2(S) = r_yS' R_SS^-1 r_yS. The general dominance weight of X_j averages
its increment R^2(S + j) - R^2(S) first over the subsets S of each size k of
the other predictors, then over k = 0..p-1 (Budescu, 1993; Azen & Budescu,
2003). The weights add up to the R^2 of the full set, so each weight divided
by R^2 is the predictor's share of the explained variance, which stays
interpretable when predictors are correlated, unlike standardized
coefficients.

Working on implied latent correlations removes measurement error from the
weights, and a :class:`~lio_validate.bootstrap.BootstrapResult` of the same
fit gives them percentile or BCa intervals.

References
----------
Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for
comparing predictors in multiple regression. Psychological Methods, 8(2),
129-148.
Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of
relative importance of predictors in multiple regression. Psychological
Bulletin, 114(3), 542-551.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd

from lio_validate.engine import FittedEngine, fitted_engine
from lio_validate.exceptions import LioInputError
from lio_validate.model import RamModel

__all__ = [
    "MAX_PREDICTORS",
    "DominanceResult",
    "dominance_analysis",
    "general_dominance",
]

# Each outcome needs the R^2 of all 2^p subsets of its predictors. Fifteen
# predictors give 32,768 subsets, and more would make a bootstrap too slow.
MAX_PREDICTORS = 15


def general_dominance(correlation: np.ndarray) -> tuple[np.ndarray, float]:
    """General dominance weights from a correlation matrix.

    Parameters
    ----------
    correlation : numpy.ndarray, shape (p + 1, p + 1)
        Correlations of the p predictors followed by the outcome (last).

    Returns
    -------
    (numpy.ndarray, float)
        The p weights and the R^2 of all predictors, which they add up to.
    """
    p = len(correlation) - 1
    predictors, outcome = correlation[:p, :p], correlation[:p, p]
    r_squared = np.zeros(2**p)
    for mask in range(1, 2**p):
        members = [k for k in range(p) if mask >> k & 1]
        r = outcome[members]
        block = predictors[np.ix_(members, members)]
        r_squared[mask] = float(r @ np.linalg.solve(block, r))

    weights = np.zeros(p)
    for j in range(p):
        others = [k for k in range(p) if k != j]
        for size in range(p):
            increments = [r_squared[_mask(subset) | 1 << j] - r_squared[_mask(subset)]
                          for subset in itertools.combinations(others, size)]
            weights[j] += np.sum(increments) / comb(p - 1, size)
        weights[j] /= p
    return weights, float(r_squared[-1])


def _mask(members) -> int:
    return sum(1 << k for k in members)


@dataclass(frozen=True)
class _Outcome:
    group: int
    outcome: int
    predictors: tuple[int, ...]


def _outcomes(model: RamModel, outcome: str | None) -> list[_Outcome]:
    frame = model.table.frame
    position = {name: k for k, name in enumerate(model.variables)}
    if outcome is not None and outcome not in position:
        raise LioInputError(
            f"the outcome {outcome!r} is not a variable of the model; choose one of "
            f"{', '.join(model.variables)}"
        )
    found = []
    for group in range(model.table.ngroups):
        rows = frame[(frame["op"] == "~") & (frame["group"] == group)]
        for name in dict.fromkeys(rows["lhs"]):
            if outcome is not None and name != outcome:
                continue
            predictors = tuple(position[rhs] for rhs in
                               dict.fromkeys(rows.loc[rows["lhs"] == name, "rhs"]))
            if len(predictors) > MAX_PREDICTORS:
                raise LioInputError(
                    f"{name!r} has {len(predictors)} predictors; dominance analysis "
                    f"evaluates 2^p subsets and accepts at most {MAX_PREDICTORS}"
                )
            found.append(_Outcome(group, position[name], predictors))
    if not found:
        target = f"{outcome!r} is not regressed on anything" if outcome \
            else "the model has no regressions (~)"
        raise LioInputError(f"nothing to analyse: {target}")
    return found


def _weights(model: RamModel, x: np.ndarray, outcomes: list[_Outcome]) -> np.ndarray:
    values = []
    cache: dict[int, np.ndarray] = {}
    for item in outcomes:
        if item.group not in cache:
            moments = model.implied(x, item.group)
            total = moments.B @ moments.S @ moments.B.T
            sd = np.sqrt(np.diag(total))
            cache[item.group] = total / np.outer(sd, sd)
        index = [*item.predictors, item.outcome]
        weights, _ = general_dominance(cache[item.group][np.ix_(index, index)])
        values.append(weights)
    return np.concatenate(values)


@dataclass(frozen=True)
class DominanceResult:
    """General dominance weights of the predictors of each outcome.

    Attributes
    ----------
    table : pandas.DataFrame
        ``group, outcome, predictor, weight, share, rank``; with a bootstrap
        also ``se, ci_lower, ci_upper`` of the weight. ``share`` is the
        weight divided by the outcome's R^2, ``rank`` 1 for the largest
        weight of each outcome.
    r_squared : pandas.DataFrame
        ``group, outcome, r_squared`` from the implied correlations.
    interval_method : str or None
        ``"bca"`` or ``"percentile"`` when intervals were computed.
    level : float
    """

    table: pd.DataFrame
    r_squared: pd.DataFrame
    interval_method: str | None
    level: float

    def summary(self) -> str:
        """Return the weights per outcome as a text table."""
        lines = ["General dominance weights (model-implied correlations)", ""]
        with_ci = "ci_lower" in self.table
        for (group, outcome), block in self.table.groupby(["group", "outcome"],
                                                          sort=False):
            r2 = self.r_squared.loc[(self.r_squared["group"] == group)
                                    & (self.r_squared["outcome"] == outcome),
                                    "r_squared"].iloc[0]
            where = f" [{group}]" if group else ""
            lines.append(f"{outcome}{where}: R-squared {r2:.3f}")
            for row in block.sort_values("rank").itertuples(index=False):
                text = (f"  {row.rank:>2d}. {row.predictor:<34.34s}{row.weight:>8.3f}"
                        f"{100 * row.share:>7.1f}%")
                if with_ci:
                    text += f"  [{row.ci_lower:.3f}, {row.ci_upper:.3f}]"
                lines.append(text)
            lines.append("")
        if with_ci:
            lines.append(f"Intervals: {100 * self.level:g}% bootstrap "
                         f"({self.interval_method}).")
        return "\n".join(lines).rstrip()


def dominance_analysis(
    fit, outcome: str | None = None, *, bootstrap=None, method: str = "bca",
    level: float = 0.95,
) -> DominanceResult:
    """Rank the predictors of each outcome by their general dominance weights.

    Parameters
    ----------
    fit : SEMResult
        A fitted model with regressions (``~``).
    outcome : str, optional
        Analyse one outcome; by default every variable that is regressed on
        something, in every group.
    bootstrap : BootstrapResult, optional
        Replicates of the same fit (:func:`lio_validate.bootstrap.bootstrap`);
        adds bootstrap SEs and intervals.
    method : {"bca", "percentile"}, default "bca"
        Interval method with ``bootstrap``.
    level : float, default 0.95

    Returns
    -------
    DominanceResult

    References
    ----------
    Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for
    comparing predictors in multiple regression. Psychological Methods, 8(2),
    129-148.
    """
    engine = bootstrap.engine if bootstrap is not None else fitted_engine(fit)
    _check_same_fit(engine, fit)
    model = engine.model
    outcomes = _outcomes(model, outcome)
    weights = _weights(model, engine.x, outcomes)

    names = model.variables
    group_names = engine.group_names
    records, r2_records = [], []
    offset = 0
    for item in outcomes:
        block = weights[offset:offset + len(item.predictors)]
        offset += len(item.predictors)
        total = float(block.sum())
        group = group_names[item.group] if len(group_names) > 1 else ""
        ranks = (-block).argsort().argsort() + 1
        for predictor, weight, rank in zip(item.predictors, block, ranks):
            records.append((group, names[item.outcome], names[predictor], weight,
                            weight / total if total > 0 else np.nan, int(rank)))
        r2_records.append((group, names[item.outcome], total))
    table = pd.DataFrame(records, columns=["group", "outcome", "predictor", "weight",
                                           "share", "rank"])

    interval_method = None
    if bootstrap is not None:
        def statistic(x: np.ndarray) -> np.ndarray:
            return _weights(model, x, outcomes)

        labels = [f"{row.outcome} <- {row.predictor}" for row in table.itertuples()]
        intervals = bootstrap.intervals(statistic, labels, method=method, level=level)
        table["se"] = intervals["se"].to_numpy()
        table["ci_lower"] = intervals["ci_lower"].to_numpy()
        table["ci_upper"] = intervals["ci_upper"].to_numpy()
        interval_method = method
    r_squared = pd.DataFrame(r2_records, columns=["group", "outcome", "r_squared"])
    return DominanceResult(table, r_squared, interval_method, level)


def _check_same_fit(engine: FittedEngine, fit) -> None:
    estimates = fit.estimates["est"].to_numpy(dtype=float)[: len(engine.model.values)]
    free = engine.model.free_index >= 0
    if not np.allclose(engine.x[engine.model.free_index[free]], estimates[free],
                       rtol=0, atol=1e-12):
        raise LioInputError(
            "the bootstrap result belongs to another fit; pass the fit that was "
            "bootstrapped"
        )
