"""Population model of the learning and innovative organisation: its factors,
paths and correlations, their validation, the implied moments and the presets.

A :class:`PopulationModel` is the organisation model of the learning and
innovative organisation written down as data. Its factors lie on five nested
levels (1 employee, 2 task, 3 supervisor and colleagues, 4 organisation,
5 context), and two outcomes follow: informal learning and innovative work
behaviour. Three or four items measure each factor. Each factor and each
continuous item has total variance 1, so the loadings, regression coefficients
and correlations of the model are the ``std_all`` values that a correct fit
recovers. :func:`organisation_model` builds the preset models.

References
----------
TIBCO Statistica 14.0 User's Guide, "Models and Methods - The LISREL Model",
https://docs.tibco.com/pub/stat/14.0.0/doc/html/UsersGuide/GUID-E7119438-1AA3-4EB2-84F1-61A9C8857BDA.html.
Equations 1 to 7 give the structural equation eta = B eta + zeta and the
implied covariances. With all latent variables in eta they reduce to
Phi = (I - B)^-1 Psi (I - B)^-T and Sigma = Lambda Phi Lambda^T + Theta.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from lio_validate.exceptions import LioInputError, ModelSpecificationError

__all__ = [
    "Covariance",
    "Factor",
    "PopulationModel",
    "Regression",
    "organisation_model",
]

Level = int | Literal["outcome"]

LEVEL_NAMES: dict[Level, str] = {
    5: "Level 5: context",
    4: "Level 4: organisation",
    3: "Level 3: supervisor and colleagues",
    2: "Level 2: task",
    1: "Level 1: employee",
    "outcome": "Outcomes",
}


# --------------------------------------------------------------------------
# Model components
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    """A latent factor, its level and its items with standardized loadings.

    ``level`` is 1 (employee) to 5 (context), or ``"outcome"``. A negative
    loading makes a reverse-keyed item.
    """

    name: str
    label: str
    level: Level
    items: tuple[str, ...]
    loadings: tuple[float, ...]


@dataclass(frozen=True)
class Regression:
    """A structural path ``lhs ~ rhs`` with its standardized coefficient."""

    lhs: str
    rhs: str
    std_all: float


@dataclass(frozen=True)
class Covariance:
    """A correlation ``lhs ~~ rhs`` between two factors (or their disturbances)."""

    lhs: str
    rhs: str
    std_all: float


@dataclass(frozen=True)
class _Solution:
    """Matrices derived from a validated model, in the model's factor order."""

    beta: np.ndarray  # B: beta[j, k] is the path from factor k to factor j
    psi: np.ndarray  # Psi: covariance of the disturbances
    phi: np.ndarray  # Phi: implied correlation of the factors
    loadings: np.ndarray  # Lambda: items x factors
    r_squared: np.ndarray  # per factor, 0 for exogenous factors
    shock_loadings: np.ndarray  # items x factors, maps N(0, I) draws to items


# --------------------------------------------------------------------------
# Population model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PopulationModel:
    """A standardized structural equation model of the organisation factors.

    Parameters
    ----------
    name : str
        Name of the preset or of the user's model, used in comments.
    factors : tuple of Factor
        Factors in the order that :meth:`to_lavaan` declares them.
    regressions : tuple of Regression
        Structural paths. The path diagram must be recursive (no cycles).
    exogenous_correlations : tuple of Covariance
        Correlations among exogenous factors (those that no path points to).
        Pairs not listed are uncorrelated.
    residual_covariances : tuple of Covariance, default ()
        Correlations between disturbances of endogenous factors, on the scale
        of the factors' total variance 1. Neither factor of a pair may lie on a
        path to the other.

    Raises
    ------
    ModelSpecificationError
        If a name is unknown or repeated, a loading is not in (-1, 1), the
        paths form a cycle, a correlation matrix is not positive definite, or
        the paths explain all the variance of a factor (R² >= 1).

    Notes
    -----
    The disturbance variance of an endogenous factor is set to ``1 - R²`` so
    that its total variance is 1, and the residual variance of an item to
    ``1 - loading²``.

    References
    ----------
    TIBCO Statistica 14.0 User's Guide, "Models and Methods - The LISREL
    Model" (equations 1 to 7), the implied covariance of a LISREL model.
    """

    name: str
    factors: tuple[Factor, ...]
    regressions: tuple[Regression, ...]
    exogenous_correlations: tuple[Covariance, ...]
    residual_covariances: tuple[Covariance, ...] = ()
    _solution: _Solution = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_factors(self.factors)
        _validate_regressions(self.factors, self.regressions)
        _validate_covariances(self)
        object.__setattr__(self, "_solution", _solve(self))

    # ---- names ---------------------------------------------------------

    @property
    def factor_names(self) -> tuple[str, ...]:
        """Factor names in declaration order."""
        return tuple(factor.name for factor in self.factors)

    @property
    def item_names(self) -> tuple[str, ...]:
        """Item names in declaration order."""
        return tuple(item for factor in self.factors for item in factor.items)

    @property
    def exogenous_factors(self) -> tuple[str, ...]:
        """Factors that no structural path points to."""
        endogenous = {path.lhs for path in self.regressions}
        return tuple(name for name in self.factor_names if name not in endogenous)

    def levels(self) -> dict[str, Level]:
        """Return ``{factor name: level}`` with levels 1-5 or ``"outcome"``."""
        return {factor.name: factor.level for factor in self.factors}

    # ---- implied moments -----------------------------------------------

    def factor_correlation(self) -> pd.DataFrame:
        """Return the implied correlation matrix of the factors (Phi)."""
        names = list(self.factor_names)
        return pd.DataFrame(self._solution.phi.copy(), index=names, columns=names)

    def implied_correlation(self) -> pd.DataFrame:
        """Return the implied correlation matrix of the continuous items.

        Sigma = Lambda Phi Lambda^T + Theta with Theta = diag(1 - loading²),
        the population correlation that ``likert=False`` samples estimate.
        """
        solution = self._solution
        loadings = solution.loadings
        sigma = loadings @ solution.phi @ loadings.T
        sigma[np.diag_indices_from(sigma)] += 1.0 - np.sum(loadings**2, axis=1)
        names = list(self.item_names)
        return pd.DataFrame(sigma, index=names, columns=names)

    # ---- lavaan --------------------------------------------------------

    def to_lavaan(self) -> str:
        """Write the model in lavaan syntax, grouped and commented by level.

        Exogenous factors are left to covary freely, which is the default of
        lavaan's ``sem()`` and ``cfa()``. The residual covariances are written
        out, so the text is the correct model for data from
        :func:`simulate_responses`.
        """
        lines = [
            f"# Organisation model of the learning and innovative organisation "
            f'("{self.name}").',
            "# Factors run from the outer level (5, context) inwards to the outcomes.",
            "",
            "# Measurement model",
        ]
        lines += _lines_by_level(
            self.factors,
            {factor.name: f"{factor.name} =~ {' + '.join(factor.items)}"
             for factor in self.factors},
        )

        lines += [
            "",
            "# Structural model: paths run from the outer levels inwards, some within "
            "a level",
        ]
        structural = {}
        for factor in self.factors:
            predictors = [p.rhs for p in self.regressions if p.lhs == factor.name]
            if predictors:
                structural[factor.name] = f"{factor.name} ~ {' + '.join(predictors)}"
        lines += _lines_by_level(self.factors, structural)

        exogenous = "Exogenous factors covary freely: " + ", ".join(
            self.exogenous_factors
        )
        lines.append("")
        lines += [f"# {line}" for line in textwrap.wrap(exogenous, width=78)]
        if self.residual_covariances:
            lines += ["", "# Residual covariances"]
            for pair in self._ordered_pairs(self.residual_covariances):
                lines.append(f"{pair.lhs} ~~ {pair.rhs}")
        return "\n".join(lines) + "\n"

    def truth(self, *, n_categories: int | None = None) -> pd.DataFrame:
        """Return the true standardized parameters in lavaan's naming.

        Parameters
        ----------
        n_categories : int, optional
            Also list the thresholds ``item | t1``, ... that
            :func:`simulate_responses` uses for this many categories. They are
            the true thresholds of an ordinal fit with unit-variance latent
            responses (lavaan's delta parameterization).

        Returns
        -------
        pandas.DataFrame
            Columns ``lhs, op, rhs, std_all``: loadings (``=~``), paths
            (``~``), variances and covariances (``~~``, residual variances are
            ``1 - R²``), thresholds (``|``) and R² (``r2``, as in lavaan's
            ``parameterEstimates(rsquare = TRUE)``). A fit's estimates compare
            with one merge on ``lhs, op, rhs``. A covariance row puts the factor
            declared first on the left, so sort each ``~~`` pair of the
            estimates the same way if they list it the other way round.
        """
        solution = self._solution
        rows = []
        for factor in self.factors:
            for item, loading in zip(factor.items, factor.loadings):
                rows.append((factor.name, "=~", item, loading))
        for path in self.regressions:
            rows.append((path.lhs, "~", path.rhs, path.std_all))

        for factor in self.factors:
            for item, loading in zip(factor.items, factor.loadings):
                rows.append((item, "~~", item, 1.0 - loading**2))
        for index, name in enumerate(self.factor_names):
            rows.append((name, "~~", name, 1.0 - solution.r_squared[index]))
        for pair in self._ordered_pairs(self.exogenous_correlations):
            rows.append((pair.lhs, "~~", pair.rhs, pair.std_all))
        for pair in self._ordered_pairs(self.residual_covariances):
            rows.append((pair.lhs, "~~", pair.rhs, pair.std_all))

        if n_categories is not None:
            # Imported here because lio_validate.simulate imports this module.
            from lio_validate.simulate import likert_thresholds

            thresholds = likert_thresholds(n_categories)
            for item in self.item_names:
                for number, value in enumerate(thresholds, start=1):
                    rows.append((item, "|", f"t{number}", value))

        for factor in self.factors:
            for item, loading in zip(factor.items, factor.loadings):
                rows.append((item, "r2", item, loading**2))
        endogenous = {path.lhs for path in self.regressions}
        for index, name in enumerate(self.factor_names):
            if name in endogenous:
                rows.append((name, "r2", name, float(solution.r_squared[index])))

        table = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "std_all"])
        table["std_all"] = table["std_all"].astype(float)
        return table

    def _ordered_pairs(self, pairs: tuple[Covariance, ...]) -> list[Covariance]:
        position = {name: index for index, name in enumerate(self.factor_names)}
        ordered = []
        for pair in pairs:
            if position[pair.lhs] > position[pair.rhs]:
                pair = Covariance(pair.rhs, pair.lhs, pair.std_all)
            ordered.append(pair)
        return ordered


def _lines_by_level(factors: tuple[Factor, ...], lines: dict[str, str]) -> list[str]:
    """Return ``lines`` in factor order with a comment where the level changes."""
    output = []
    current_level = None
    for factor in factors:
        if factor.name not in lines:
            continue
        if factor.level != current_level:
            output.append(f"# {LEVEL_NAMES[factor.level]}")
            current_level = factor.level
        output.append(lines[factor.name])
    return output


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _validate_factors(factors: tuple[Factor, ...]) -> None:
    if not factors:
        raise ModelSpecificationError("A population model needs at least one factor.")
    seen: set[str] = set()
    for factor in factors:
        valid_level = factor.level == "outcome" or (
            type(factor.level) is int and 1 <= factor.level <= 5
        )
        if not valid_level:
            raise ModelSpecificationError(
                f"Factor {factor.name!r} has invalid level {factor.level!r}. "
                f"Use one of {list(LEVEL_NAMES)}."
            )
        if not factor.items or len(factor.items) != len(factor.loadings):
            raise ModelSpecificationError(
                f"Factor {factor.name!r} has {len(factor.items)} items and "
                f"{len(factor.loadings)} loadings. Give one loading per item "
                "and at least one item."
            )
        for name in (factor.name, *factor.items):
            if name in seen:
                raise ModelSpecificationError(
                    f"Name {name!r} is used twice. Factor and item names must be "
                    "unique."
                )
            seen.add(name)
        for item, loading in zip(factor.items, factor.loadings):
            if not (np.isfinite(loading) and 0.0 < abs(loading) < 1.0):
                raise ModelSpecificationError(
                    f"Item {item!r} has loading {loading!r}. A standardized "
                    "loading must be nonzero and between -1 and 1."
                )


def _validate_regressions(
    factors: tuple[Factor, ...], regressions: tuple[Regression, ...]
) -> None:
    names = {factor.name for factor in factors}
    seen: set[tuple[str, str]] = set()
    for path in regressions:
        for name in (path.lhs, path.rhs):
            if name not in names:
                raise ModelSpecificationError(
                    f"Path {path.lhs} ~ {path.rhs} names unknown factor {name!r}. "
                    f"Known factors: {sorted(names)}."
                )
        if path.lhs == path.rhs:
            raise ModelSpecificationError(
                f"Path {path.lhs} ~ {path.rhs} regresses a factor on itself. "
                "Remove it."
            )
        if (path.lhs, path.rhs) in seen:
            raise ModelSpecificationError(
                f"Path {path.lhs} ~ {path.rhs} is listed twice. Keep one."
            )
        if not np.isfinite(path.std_all):
            raise ModelSpecificationError(
                f"Path {path.lhs} ~ {path.rhs} has non-finite value {path.std_all!r}."
            )
        seen.add((path.lhs, path.rhs))
    _topological_order(tuple(factor.name for factor in factors), regressions)


def _topological_order(
    names: tuple[str, ...], regressions: tuple[Regression, ...]
) -> list[str]:
    """Order factors so that every predictor precedes its outcome."""
    predictors = {name: {p.rhs for p in regressions if p.lhs == name} for name in names}
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(names):
        ready = [n for n in names if n not in placed and predictors[n] <= placed]
        if not ready:
            cycle = sorted(n for n in names if n not in placed)
            raise ModelSpecificationError(
                f"The paths among {cycle} form a cycle, but the population model must "
                "be recursive."
            )
        order += ready
        placed.update(ready)
    return order


def _ancestors(name: str, regressions: tuple[Regression, ...]) -> set[str]:
    """Return every factor with a directed path to ``name``."""
    found: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for path in regressions:
            if path.lhs == current and path.rhs not in found:
                found.add(path.rhs)
                frontier.append(path.rhs)
    return found


def _validate_covariances(model: PopulationModel) -> None:
    exogenous = set(model.exogenous_factors)
    groups = (
        ("exogenous correlation", model.exogenous_correlations, True),
        ("residual covariance", model.residual_covariances, False),
    )
    seen: set[frozenset[str]] = set()
    for kind, pairs, needs_exogenous in groups:
        for pair in pairs:
            where = f"The {kind} {pair.lhs} ~~ {pair.rhs}"
            for name in (pair.lhs, pair.rhs):
                if (name in exogenous) != needs_exogenous:
                    role = "exogenous" if needs_exogenous else "endogenous"
                    raise ModelSpecificationError(
                        f"{where} names {name!r}, which is not {role}. This kind "
                        f"of pair must join two {role} factors."
                    )
            key = frozenset((pair.lhs, pair.rhs))
            if pair.lhs == pair.rhs:
                raise ModelSpecificationError(
                    f"{where} names one factor twice. Remove it, because factor "
                    "variances follow from the paths."
                )
            if key in seen:
                raise ModelSpecificationError(f"{where} is listed twice. Keep one.")
            if not (np.isfinite(pair.std_all) and abs(pair.std_all) < 1.0):
                raise ModelSpecificationError(
                    f"{where} has value {pair.std_all!r}, but it must be between -1 "
                    "and 1."
                )
            seen.add(key)
            if not needs_exogenous and (
                pair.lhs in _ancestors(pair.rhs, model.regressions)
                or pair.rhs in _ancestors(pair.lhs, model.regressions)
            ):
                raise ModelSpecificationError(
                    f"{where} joins two factors on one directed path. Remove the "
                    "covariance or the path."
                )


# --------------------------------------------------------------------------
# Solving for the disturbance variances
# --------------------------------------------------------------------------


def _solve(model: PopulationModel) -> _Solution:
    """Derive B, Psi, Phi and Lambda with every factor at total variance 1."""
    names = model.factor_names
    position = {name: index for index, name in enumerate(names)}
    m = len(names)

    beta = np.zeros((m, m))
    for path in model.regressions:
        beta[position[path.lhs], position[path.rhs]] = path.std_all
    psi = np.zeros((m, m))
    for name in model.exogenous_factors:
        psi[position[name], position[name]] = 1.0
    for pair in (*model.exogenous_correlations, *model.residual_covariances):
        i, j = position[pair.lhs], position[pair.rhs]
        psi[i, j] = psi[j, i] = pair.std_all

    exogenous = [position[name] for name in model.exogenous_factors]
    if not _is_positive_definite(psi[np.ix_(exogenous, exogenous)]):
        raise ModelSpecificationError(
            f"The exogenous correlations of model {model.name!r} do not form a "
            "positive definite matrix. Make them smaller or mutually consistent."
        )

    # Along the topological order the predictors of a factor already have their
    # final variances, so R² = b' Phi_pp b is known before its own disturbance
    # variance is set. Residual covariances never join a factor to its own
    # predictors (validated above), so no covariance term enters R².
    inverse = np.linalg.inv(np.eye(m) - beta)
    r_squared = np.zeros(m)
    for name in _topological_order(names, model.regressions):
        j = position[name]
        if not beta[j].any():
            continue
        phi = inverse @ psi @ inverse.T
        r_squared[j] = beta[j] @ phi @ beta[j]
        if r_squared[j] >= 1.0:
            raise ModelSpecificationError(
                f"The paths to {name!r} explain R² = {r_squared[j]:.3f} of its "
                "variance. Make its standardized paths smaller so that R² < 1."
            )
        psi[j, j] = 1.0 - r_squared[j]

    if not _is_positive_definite(psi):
        raise ModelSpecificationError(
            f"The residual covariances of model {model.name!r} do not form a "
            "positive definite matrix with the disturbance variances (1 - R²). "
            "Make them smaller."
        )
    psi_root = np.linalg.cholesky(psi)
    phi = inverse @ psi @ inverse.T

    loadings = np.zeros((len(model.item_names), m))
    row = 0
    for factor in model.factors:
        for loading in factor.loadings:
            loadings[row, position[factor.name]] = loading
            row += 1

    arrays = dict(
        beta=beta,
        psi=psi,
        phi=phi,
        loadings=loadings,
        r_squared=r_squared,
        # eta = (I - B)^-1 zeta with zeta = L z, so items = Lambda (I-B)^-1 L z.
        shock_loadings=loadings @ inverse @ psi_root,
    )
    for array in arrays.values():
        array.flags.writeable = False
    return _Solution(**arrays)


def _is_positive_definite(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


# --------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------


# Scales of the organisation model: name, level, item prefix and loadings. The
# loadings are chosen values between 0.60 and 0.82.
_SCALES = (
    ("external_orientation", 5, "ext", (0.72, 0.68, 0.63)),
    ("knowledge_sharing", 5, "ksh", (0.70, 0.66, 0.61)),
    ("shared_vision", 4, "vis", (0.75, 0.71, 0.66)),
    ("supportive_technology", 4, "tec", (0.71, 0.67, 0.60)),
    ("transparency", 4, "tra", (0.78, 0.74, 0.69)),
    ("training", 4, "trn", (0.73, 0.70, 0.62)),
    ("participative_leadership", 3, "par", (0.82, 0.78, 0.72)),
    ("supervisor_support", 3, "sup", (0.80, 0.76, 0.70)),
    ("psychological_safety", 3, "saf", (0.79, 0.74, 0.68)),
    ("feedback_culture", 3, "fbk", (0.76, 0.72, 0.65)),
    ("varied_work", 2, "var", (0.74, 0.69, 0.63)),
    ("challenging_work", 2, "cha", (0.77, 0.72, 0.66)),
    ("autonomy", 2, "aut", (0.81, 0.77, 0.70)),
    ("workload_balance", 2, "wlb", (0.72, 0.66, 0.60)),
    ("learning_motivation", 1, "mot", (0.80, 0.75, 0.70)),
    ("self_efficacy", 1, "eff", (0.78, 0.73, 0.67)),
    ("initiative", 1, "ini", (0.74, 0.70, 0.64)),
    ("informal_learning", "outcome", "inl", (0.79, 0.76, 0.71, 0.65)),
    ("innovative_work_behaviour", "outcome", "iwb", (0.82, 0.78, 0.73, 0.68)),
)

# Short descriptions of the stimulating factors, for tables and figures.
_LABELS = {
    "external_orientation": "Contact with clients, suppliers, partners, schools",
    "knowledge_sharing": "Flexible workers who get to share knowledge",
    "shared_vision": "Long-term orientation and a shared vision",
    "supportive_technology": "Technology that supports rather than controls",
    "transparency": "Transparency about results, access to information",
    "training": "Formal training linked to learning at work",
    "participative_leadership": "Participative leadership, small power distance",
    "supervisor_support": "Supervisor support for learning and experimenting",
    "psychological_safety": "Psychological safety and trust",
    "feedback_culture": "A feedback culture",
    "varied_work": "Varied work",
    "challenging_work": "Challenging work: new, complex tasks",
    "autonomy": "Autonomy",
    "workload_balance": "Workload in balance with capacity",
    "learning_motivation": "Learning motivation and interest in the field",
    "self_efficacy": "Self-efficacy for learning",
    "initiative": "Initiative and curiosity",
    "informal_learning": "Informal learning",
    "innovative_work_behaviour": "Generating, promoting and realising ideas",
}

_CATALOGUE = {
    name: Factor(
        name=name,
        label=_LABELS[name],
        level=level,
        items=tuple(f"{prefix}{number}" for number in range(1, len(loadings) + 1)),
        loadings=loadings,
    )
    for name, level, prefix, loadings in _SCALES
}

# Standardized paths per preset, written as {outcome: {predictor: value}}.
_PATHS = {
    "example": {
        "feedback_culture": {"transparency": 0.30, "participative_leadership": 0.35},
        "challenging_work": {
            "external_orientation": 0.30,
            "participative_leadership": 0.20,
        },
        "autonomy": {"participative_leadership": 0.40, "transparency": 0.20},
        "learning_motivation": {
            "autonomy": 0.30,
            "challenging_work": 0.30,
            "feedback_culture": 0.20,
        },
        "self_efficacy": {"challenging_work": 0.25, "feedback_culture": 0.30},
        "informal_learning": {
            "learning_motivation": 0.40,
            "self_efficacy": 0.25,
            "autonomy": 0.15,
        },
        "innovative_work_behaviour": {
            "learning_motivation": 0.25,
            "self_efficacy": 0.30,
            "external_orientation": 0.15,
        },
    },
    "full": {
        "transparency": {"shared_vision": 0.35, "supportive_technology": 0.30},
        "training": {"shared_vision": 0.30, "external_orientation": 0.20},
        "supervisor_support": {"participative_leadership": 0.45, "training": 0.20},
        "psychological_safety": {
            "participative_leadership": 0.40,
            "shared_vision": 0.20,
        },
        "feedback_culture": {
            "transparency": 0.25,
            "psychological_safety": 0.35,
            "knowledge_sharing": 0.15,
        },
        "varied_work": {"external_orientation": 0.25, "supportive_technology": 0.25},
        "challenging_work": {"external_orientation": 0.20, "supervisor_support": 0.30},
        "autonomy": {"participative_leadership": 0.35, "transparency": 0.20},
        "workload_balance": {"supervisor_support": 0.30, "shared_vision": 0.15},
        "learning_motivation": {
            "challenging_work": 0.30,
            "autonomy": 0.25,
            "feedback_culture": 0.20,
        },
        "self_efficacy": {
            "varied_work": 0.20,
            "challenging_work": 0.25,
            "psychological_safety": 0.25,
        },
        "initiative": {
            "autonomy": 0.30,
            "workload_balance": 0.15,
            "psychological_safety": 0.20,
        },
        "informal_learning": {
            "learning_motivation": 0.35,
            "self_efficacy": 0.20,
            "autonomy": 0.15,
            "training": 0.15,
        },
        "innovative_work_behaviour": {
            "initiative": 0.30,
            "self_efficacy": 0.25,
            "challenging_work": 0.15,
            "external_orientation": 0.10,
        },
    },
}

_EXOGENOUS_CORRELATIONS = {
    "example": {
        ("external_orientation", "transparency"): 0.30,
        ("external_orientation", "participative_leadership"): 0.20,
        ("transparency", "participative_leadership"): 0.40,
    },
    "full": {
        ("external_orientation", "knowledge_sharing"): 0.35,
        ("external_orientation", "shared_vision"): 0.25,
        ("external_orientation", "supportive_technology"): 0.20,
        ("external_orientation", "participative_leadership"): 0.15,
        ("knowledge_sharing", "shared_vision"): 0.20,
        ("knowledge_sharing", "supportive_technology"): 0.25,
        ("knowledge_sharing", "participative_leadership"): 0.20,
        ("shared_vision", "supportive_technology"): 0.30,
        ("shared_vision", "participative_leadership"): 0.35,
        ("supportive_technology", "participative_leadership"): 0.20,
    },
}

# Both outcomes share causes that the model leaves out (e.g. personality).
_OUTCOME_RESIDUAL_CORRELATION = {"example": 0.30, "full": 0.25}


def organisation_model(preset: str = "example") -> PopulationModel:
    """Build a preset population model of the organisation model.

    Parameters
    ----------
    preset : {"example", "full"}, default "example"
        ``"example"``: 10 factors and 32 items covering all five levels and
        both outcomes, the model of the bundled example. ``"full"``: 19
        factors and 59 items, used by the benchmark.

    Returns
    -------
    PopulationModel
        Paths run from the outer levels through the task and the employee to
        the outcomes (e.g. participative leadership -> autonomy -> learning
        motivation -> informal learning), with some direct paths as well.

    Raises
    ------
    LioInputError
        If ``preset`` is not a known preset.
    """
    if preset not in _PATHS:
        raise LioInputError(
            f"Unknown population model preset {preset!r}. Use one of "
            f"{sorted(_PATHS)}."
        )
    paths = _PATHS[preset]
    correlations = _EXOGENOUS_CORRELATIONS[preset]

    used = set(paths)
    for predictors in paths.values():
        used.update(predictors)
    factors = tuple(f for name, f in _CATALOGUE.items() if name in used)

    regressions = tuple(
        Regression(outcome, predictor, value)
        for outcome, predictors in paths.items()
        for predictor, value in predictors.items()
    )
    exogenous = tuple(Covariance(a, b, r) for (a, b), r in correlations.items())
    outcomes = Covariance(
        "informal_learning",
        "innovative_work_behaviour",
        _OUTCOME_RESIDUAL_CORRELATION[preset],
    )
    return PopulationModel(preset, factors, regressions, exogenous, (outcomes,))
