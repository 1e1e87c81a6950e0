"""Simulate an NEA-style employee survey from a known population model.

:func:`nea_design` builds a :class:`SurveyDesign` around a preset of the
organisation model (:func:`lio_validate.population.organisation_model`), and
:func:`simulate_survey` draws a :class:`SimulatedSurvey` from it: the rows
as a survey file stores them, with everything a researcher meets in a
national working-conditions survey:

* Likert items with 3 to 5 categories, cut at item-specific thresholds that
  skew the answers towards agreement;
* reverse-keyed items, stored reversed, so that the codebook's reverse
  keying restores the model's orientation;
* missing codes: 9 "no answer" completely at random (MCAR) on every item,
  and 8 "don't know" more often among the low educated on chosen items
  (missing at random, MAR, given education);
* survey weights that undo a sample in which the higher educated are over-
  represented;
* education (low, middle, high) with different structural paths per group,
  and item intercept shifts (differential item functioning) by education
  and by sector;
* employees clustered in organisations with a chosen intraclass correlation
  (ICC) of the factors. Each organisation belongs to one sector.

The factors follow the organisation model: outer levels act on the inner
ones (supervisor and organisation factors partly through task factors) and
all of them on the outcomes. The writers of the files are in
:mod:`lio_validate.simulate_write`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from lio_validate.exceptions import LioInputError
from lio_validate.population import PopulationModel, Regression, organisation_model

__all__ = [
    "EDUCATION_LEVELS",
    "MISSING_CODES",
    "SECTORS",
    "InterceptShift",
    "PathDifference",
    "SimulatedSurvey",
    "SurveyDesign",
    "answer_labels",
    "code_response_correlation",
    "nea_design",
    "simulate_survey",
]

# Round illustrative shares, not estimates from the NEA.
EDUCATION_LEVELS = ("low", "middle", "high")
_EDUCATION_POPULATION = (0.22, 0.42, 0.36)
# The higher educated respond more often, so the sample over-represents them.
_EDUCATION_SAMPLE = (0.15, 0.40, 0.45)
SECTORS = (
    "industry",
    "construction",
    "trade",
    "business services",
    "public sector",
    "care",
)
_SECTOR_SHARES = (0.15, 0.07, 0.17, 0.21, 0.14, 0.26)

# Codes written for non-answers, with their labels.
MISSING_CODES = {8: "don't know", 9: "no answer"}
_DONT_KNOW, _NO_ANSWER = 8, 9

# Rows drawn per block. The random streams are consumed block by block, so
# changing this value changes the data that a seed produces.
_BLOCK_ROWS = 65_536
_STREAMS = ("organisations", "background", "responses", "missing", "weights")
# Spread of the weights around their design value (log scale).
_WEIGHT_NOISE_SD = 0.25
# Spread of the organisations' sizes (log scale of their propensities).
_ORGANISATION_SIZE_SD = 0.6


# --------------------------------------------------------------------------
# Design
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PathDifference:
    """A structural path whose standardized value differs in one education group."""

    education: str
    lhs: str
    rhs: str
    std_all: float


@dataclass(frozen=True)
class InterceptShift:
    """A shift of one item's continuous response in one group, in SD units.

    ``variable`` is ``"education"`` or ``"sector"``. A positive shift moves
    the group's answers up the scale (differential item functioning).
    """

    variable: str
    value: str
    item: str
    shift: float


@dataclass(frozen=True)
class SurveyDesign:
    """Everything :func:`simulate_survey` needs besides the size and the seed.

    Parameters
    ----------
    model : PopulationModel
        The population model in the model's orientation (positive loadings).
    categories : mapping of {str: int}
        Number of answer categories per item, 3 to 5.
    thresholds : mapping of {str: tuple of float}
        Cut points per item on the standardized continuous response, one
        fewer than its categories, increasing.
    reverse_keyed : tuple of str
        Items stored reversed (code ``categories + 1 - code``).
    text_items : tuple of str
        Items stored as the label text of their answer.
    mcar_rate : float
        Probability that any answer is 9 "no answer", independent of all else.
    mar_rate : float
        Extra probability of 8 "don't know" on ``mar_items`` among the low
        educated.
    mar_items : tuple of str
        Items with education-dependent "don't know" answers.
    icc : float
        Share of each factor's variance that lies between organisations.
    mean_organisation_size : float
        Mean number of respondents per organisation.
    path_differences : tuple of PathDifference
        Paths that differ by education.
    intercept_shifts : tuple of InterceptShift
        Item intercepts that differ by education or sector.

    Raises
    ------
    LioInputError
        If an item or path is unknown, a rate, ICC or size is out of range,
        or the thresholds do not match the categories. A group model whose
        paths explain all variance raises ``ModelSpecificationError``.
    """

    model: PopulationModel
    categories: Mapping[str, int]
    thresholds: Mapping[str, tuple[float, ...]]
    reverse_keyed: tuple[str, ...] = ()
    text_items: tuple[str, ...] = ()
    mcar_rate: float = 0.004
    mar_rate: float = 0.03
    mar_items: tuple[str, ...] = ()
    icc: float = 0.10
    mean_organisation_size: float = 40.0
    path_differences: tuple[PathDifference, ...] = ()
    intercept_shifts: tuple[InterceptShift, ...] = ()
    _group_models: Mapping[str, PopulationModel] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        object.__setattr__(
            self,
            "thresholds",
            MappingProxyType({k: tuple(v) for k, v in self.thresholds.items()}),
        )
        _validate_design(self)
        object.__setattr__(
            self, "_group_models", MappingProxyType(_education_models(self))
        )

    @property
    def items(self) -> tuple[str, ...]:
        """Item names in the model's order."""
        return self.model.item_names

    def group_model(self, education: str) -> PopulationModel:
        """Return the population model of one education group."""
        return self._group_models[education]

    def attenuation(self) -> pd.DataFrame:
        """Return the expected attenuation of each item by its Likert coding.

        Returns
        -------
        pandas.DataFrame
            Columns ``item, categories, factor, loading, expected_std_all``:
            ``factor`` is the correlation between an item's code and its
            standard normal continuous response, and ``expected_std_all`` is
            ``factor * loading``, the standardized loading that a normal-theory
            ML fit to the codes approaches.

        Notes
        -----
        For a standard normal response z cut at thresholds t_1 < ... < t_K-1
        into codes 1 to K, E[z * code] = sum_k phi(t_k), because
        E[z 1{z > t}] = phi(t). The correlation of code and z is therefore
        sum_k phi(t_k) / sd(code). When two items are cut, their covariance
        is, to first order in their correlation, multiplied by the product of
        the two factors. ML on the codes therefore estimates loadings
        attenuated by the factor, and structural paths (correlations between
        factors) close to the truth. The factor ignores intercept shifts and
        the mixture of groups.
        """
        loadings = {
            item: loading
            for factor in self.model.factors
            for item, loading in zip(factor.items, factor.loadings)
        }
        rows = []
        for item in self.items:
            factor = code_response_correlation(self.thresholds[item])
            rows.append(
                (
                    item,
                    self.categories[item],
                    factor,
                    loadings[item],
                    factor * loadings[item],
                )
            )
        return pd.DataFrame(
            rows,
            columns=["item", "categories", "factor", "loading", "expected_std_all"],
        )


def code_response_correlation(thresholds: tuple[float, ...]) -> float:
    """Correlation between a standard normal response and its codes 1 to K."""
    cuts = np.asarray(thresholds, dtype=float)
    above = 1.0 - ndtr(cuts)
    # E[code] is 1 + sum_k P(z > t_k), and E[code^2] needs P(z > max(t_k, t_l)).
    mean = 1.0 + above.sum()
    second = (
        1.0 + 2.0 * above.sum() + sum(1.0 - ndtr(max(a, b)) for a in cuts for b in cuts)
    )
    variance = second - mean**2
    density = np.exp(-0.5 * cuts**2) / math.sqrt(2.0 * math.pi)
    return float(density.sum() / math.sqrt(variance))


def _validate_design(design: SurveyDesign) -> None:
    items = set(design.model.item_names)
    if set(design.categories) != items or set(design.thresholds) != items:
        raise LioInputError(
            "categories and thresholds must list every item of the model once: "
            f"{sorted(items)}."
        )
    for item in design.model.item_names:
        n_categories = design.categories[item]
        cuts = design.thresholds[item]
        if n_categories not in (3, 4, 5):
            raise LioInputError(
                f"Item {item!r} has {n_categories!r} categories. Use 3, 4 or 5."
            )
        increasing = all(b > a for a, b in zip(cuts, cuts[1:]))
        if len(cuts) != n_categories - 1 or not increasing:
            raise LioInputError(
                f"Item {item!r} needs {n_categories - 1} increasing thresholds for "
                f"its {n_categories} categories, got {cuts}."
            )
    for name, listed in (
        ("reverse_keyed", design.reverse_keyed),
        ("text_items", design.text_items),
        ("mar_items", design.mar_items),
    ):
        unknown = sorted(set(listed) - items)
        if unknown:
            raise LioInputError(f"{name} names unknown items {unknown}.")
    for name, rate in (("mcar_rate", design.mcar_rate), ("mar_rate", design.mar_rate)):
        if not (0.0 <= rate < 0.5):
            raise LioInputError(f"{name} must be at least 0 and below 0.5, got {rate}.")
    if not (0.0 <= design.icc < 1.0):
        raise LioInputError(f"icc must be at least 0 and below 1, got {design.icc}.")
    if not design.mean_organisation_size >= 1.0:
        raise LioInputError(
            "mean_organisation_size must be at least 1, got "
            f"{design.mean_organisation_size}."
        )

    paths = {(path.lhs, path.rhs) for path in design.model.regressions}
    for difference in design.path_differences:
        if difference.education not in EDUCATION_LEVELS:
            raise LioInputError(
                f"Path difference for education {difference.education!r}: use one of "
                f"{list(EDUCATION_LEVELS)}."
            )
        if (difference.lhs, difference.rhs) not in paths:
            raise LioInputError(
                f"Path difference {difference.lhs} ~ {difference.rhs} is not a path "
                f"of model {design.model.name!r}."
            )
    for shift in design.intercept_shifts:
        values = EDUCATION_LEVELS if shift.variable == "education" else SECTORS
        if shift.variable not in ("education", "sector") or shift.value not in values:
            raise LioInputError(
                f"Intercept shift for {shift.variable} = {shift.value!r}: use "
                f"education {list(EDUCATION_LEVELS)} or sector {list(SECTORS)}."
            )
        if shift.item not in items:
            raise LioInputError(f"Intercept shift names unknown item {shift.item!r}.")


def _education_models(design: SurveyDesign) -> dict[str, PopulationModel]:
    """Build one population model per education group from the path differences."""
    models = {}
    for level in EDUCATION_LEVELS:
        changes = {
            (d.lhs, d.rhs): d.std_all
            for d in design.path_differences
            if d.education == level
        }
        if not changes:
            models[level] = design.model
            continue
        regressions = tuple(
            Regression(p.lhs, p.rhs, changes.get((p.lhs, p.rhs), p.std_all))
            for p in design.model.regressions
        )
        models[level] = dataclasses.replace(
            design.model,
            name=f"{design.model.name}, education {level}",
            regressions=regressions,
        )
    return models


# --------------------------------------------------------------------------
# The preset design
# --------------------------------------------------------------------------

# Per preset: reverse-keyed items, the item stored as text, the path that
# differs by education with its value per group, and the intercept shifts.
_PRESET_CHOICES: dict[str, dict[str, Any]] = {
    "example": {
        "reverse_keyed": ("tra3", "cha2", "eff2", "iwb3"),
        "text_items": ("inl4",),
        "path": ("learning_motivation", "autonomy", {"low": 0.15, "high": 0.45}),
        "shifts": (
            ("education", "low", "mot2", 0.40),
            ("sector", "care", "aut1", -0.30),
        ),
    },
    "full": {
        "reverse_keyed": ("tra3", "cha2", "eff2", "wlb3", "iwb3"),
        "text_items": ("inl4",),
        "path": ("learning_motivation", "autonomy", {"low": 0.10, "high": 0.40}),
        "shifts": (
            ("education", "low", "mot2", 0.40),
            ("sector", "care", "aut1", -0.30),
        ),
    },
}

# Answer categories by level: task items are frequency questions (never to
# always), employee items three-point agreement, the rest five-point.
_CATEGORIES_BY_LEVEL = {2: 4, 1: 3}
_THRESHOLD_SPREAD = 1.4


def nea_design(
    preset: str = "example",
    *,
    icc: float = 0.10,
    group_differences: bool = True,
    mcar_rate: float = 0.004,
    mar_rate: float = 0.03,
    mean_organisation_size: float = 40.0,
    text_items: tuple[str, ...] | None = None,
) -> SurveyDesign:
    """Build the NEA-style survey design around a preset of the organisation model.

    Parameters
    ----------
    preset : {"example", "full"}, default "example"
        The population model: 10 factors and 32 items, or 19 factors and 59.
    icc : float, default 0.10
        Intraclass correlation of every factor across organisations.
    group_differences : bool, default True
        Include the path difference by education and the intercept shifts.
        Without them every group follows the preset model.
    mcar_rate, mar_rate : float
        See :class:`SurveyDesign`. The MAR items are the employee-level items.
    mean_organisation_size : float, default 40
        Mean number of respondents per organisation.
    text_items : tuple of str, optional
        Items stored as answer text. Default: the preset's (one outcome item).

    Returns
    -------
    SurveyDesign

    Notes
    -----
    Task items (level 2) get 4 categories, employee items (level 1) 3, and
    the others 5. The thresholds are 1.4 times the normal quantiles at k/K,
    shifted down by 0.2 to 0.6 depending on the item, which puts most
    answers in the upper categories, as in working-conditions surveys.
    """
    if preset not in _PRESET_CHOICES:
        raise LioInputError(
            f"Unknown preset {preset!r}. Use one of {sorted(_PRESET_CHOICES)}."
        )
    model = organisation_model(preset)
    choices = _PRESET_CHOICES[preset]

    categories: dict[str, int] = {}
    thresholds: dict[str, tuple[float, ...]] = {}
    for index, (item, level) in enumerate(_items_with_levels(model)):
        n_categories = _CATEGORIES_BY_LEVEL.get(level, 5)
        shift = -0.2 - 0.4 * ((3 * index) % 5) / 4
        quantiles = ndtri(np.arange(1, n_categories) / n_categories)
        categories[item] = n_categories
        thresholds[item] = tuple(
            float(q) for q in _THRESHOLD_SPREAD * quantiles + shift
        )

    paths: tuple[PathDifference, ...] = ()
    shifts: tuple[InterceptShift, ...] = ()
    if group_differences:
        lhs, rhs, values = choices["path"]
        paths = tuple(
            PathDifference(level, lhs, rhs, value) for level, value in values.items()
        )
        shifts = tuple(InterceptShift(*entry) for entry in choices["shifts"])

    mar_items = tuple(item for item, level in _items_with_levels(model) if level == 1)
    return SurveyDesign(
        model=model,
        categories=categories,
        thresholds=thresholds,
        reverse_keyed=choices["reverse_keyed"],
        text_items=choices["text_items"] if text_items is None else tuple(text_items),
        mcar_rate=mcar_rate,
        mar_rate=mar_rate,
        mar_items=mar_items,
        icc=icc,
        mean_organisation_size=mean_organisation_size,
        path_differences=paths,
        intercept_shifts=shifts,
    )


def _items_with_levels(model: PopulationModel) -> list[tuple[str, Any]]:
    return [(item, factor.level) for factor in model.factors for item in factor.items]


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedSurvey:
    """A simulated survey as a file stores it, with what generated it.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``respondent_id``, ``org_id``, ``sector`` (codes 1 to 6),
        ``education`` (1 low, 2 middle, 3 high), ``weight`` and one column per
        item: int8 codes with 8 "don't know" and 9 "no answer", reverse-keyed
        items reversed, text items as their answer labels.
    design : SurveyDesign
    seed : int
    scores : pandas.DataFrame or None
        With ``continuous=True``: the continuous responses in the model's
        orientation (not reversed, no missing values), one float64 column per
        item, before they were cut into codes.
    """

    frame: pd.DataFrame = field(repr=False)
    design: SurveyDesign = field(repr=False)
    seed: int
    scores: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def nobs(self) -> int:
        """Number of respondents."""
        return len(self.frame)

    def missing_counts(self) -> pd.DataFrame:
        """Count the missing codes per item: columns ``item, dont_know, no_answer``."""
        rows = []
        for item in self.design.items:
            column = self.frame[item]
            if item in self.design.text_items:
                counts = (
                    int((column == MISSING_CODES[_DONT_KNOW]).sum()),
                    int((column == MISSING_CODES[_NO_ANSWER]).sum()),
                )
            else:
                counts = (
                    int((column == _DONT_KNOW).sum()),
                    int((column == _NO_ANSWER).sum()),
                )
            rows.append((item, *counts))
        return pd.DataFrame(rows, columns=["item", "dont_know", "no_answer"])


def simulate_survey(
    design: SurveyDesign, n: int, *, seed: int, continuous: bool = False
) -> SimulatedSurvey:
    """Draw an NEA-style survey of ``n`` respondents from ``design``.

    Parameters
    ----------
    design : SurveyDesign
        For example ``nea_design("example")``.
    n : int
        Number of respondents.
    seed : int
        Non-negative seed. The same design, ``n`` and seed give the same
        data, also across the ``continuous`` setting.
    continuous : bool, default False
        Also return the continuous responses (``SimulatedSurvey.scores``),
        which costs 8 bytes per item and row.

    Returns
    -------
    SimulatedSurvey

    Notes
    -----
    The factors of employee i in organisation j are
    eta = (I - B_g)^-1 L_g (sqrt(icc) u_j + sqrt(1 - icc) e_i), with u_j and
    e_i standard normal vectors, B_g the paths of education group g and
    L_g L_g' its disturbance covariance. Within each group the factors thus
    have exactly the group model's covariance, and a share ``icc`` of it lies
    between organisations. Each item is its loading times its factor plus
    independent normal error and the intercept shifts of the respondent's
    groups, so its ICC is loading² * icc.
    """
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"design must be a SurveyDesign, got {type(design).__name__}.")
    _check_positive_integer(n, "n")
    _check_seed(seed)
    streams = dict(zip(_STREAMS, np.random.default_rng(seed).spawn(len(_STREAMS))))

    organisation, sector, n_organisations = _draw_organisations(
        design, n, streams["organisations"]
    )
    education = streams["background"].choice(3, size=n, p=_EDUCATION_SAMPLE)
    codes, scores = _draw_codes(
        design,
        organisation,
        n_organisations,
        sector,
        education,
        streams["responses"],
        continuous,
    )
    _insert_missing_codes(design, codes, education, streams["missing"])
    weight = _draw_weights(education, streams["weights"])

    frame = _assemble_frame(design, organisation, sector, education, weight, codes)
    score_frame = None
    if scores is not None:
        score_frame = pd.DataFrame(scores, columns=list(design.items), copy=False)
    return SimulatedSurvey(frame=frame, design=design, seed=seed, scores=score_frame)


def _draw_organisations(
    design: SurveyDesign, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Assign respondents to organisations (sorted by organisation) and sectors."""
    n_organisations = max(1, round(n / design.mean_organisation_size))
    propensity = rng.lognormal(0.0, _ORGANISATION_SIZE_SD, size=n_organisations)
    drawn = rng.choice(n_organisations, size=n, p=propensity / propensity.sum())
    drawn.sort()
    # Organisations without respondents are dropped and the rest renumbered.
    _, organisation = np.unique(drawn, return_inverse=True)
    n_present = int(organisation.max()) + 1
    sector_of_organisation = rng.choice(len(SECTORS), size=n_present, p=_SECTOR_SHARES)
    return organisation, sector_of_organisation[organisation], n_present


def _draw_codes(
    design: SurveyDesign,
    organisation: np.ndarray,
    n_organisations: int,
    sector: np.ndarray,
    education: np.ndarray,
    rng: np.random.Generator,
    continuous: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    items = design.items
    n, p = len(organisation), len(items)
    shock_loadings = [
        design.group_model(level)._solution.shock_loadings for level in EDUCATION_LEVELS
    ]
    base = design.model._solution
    error_sd = np.sqrt(1.0 - np.sum(base.loadings**2, axis=1))
    m = shock_loadings[0].shape[1]

    max_cuts = max(design.categories.values()) - 1
    cuts = np.full((p, max_cuts), np.inf)
    for column, item in enumerate(items):
        cuts[column, : design.categories[item] - 1] = design.thresholds[item]
    shifts = _shift_table(design, items)

    between = rng.standard_normal((n_organisations, m)) * math.sqrt(design.icc)
    within_sd = math.sqrt(1.0 - design.icc)
    codes = np.empty((n, p), dtype=np.int8)
    scores_out = np.empty((n, p)) if continuous else None

    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        shocks = rng.standard_normal((stop - start, m)) * within_sd
        shocks += between[organisation[start:stop]]
        scores = rng.standard_normal((stop - start, p)) * error_sd

        block_education = education[start:stop]
        for level, loadings in enumerate(shock_loadings):
            rows = block_education == level
            scores[rows] += shocks[rows] @ loadings.T
        for (variable, value), shift in shifts.items():
            group = block_education if variable == "education" else sector[start:stop]
            scores[group == value] += shift

        if scores_out is not None:
            scores_out[start:stop] = scores
        block_codes = np.ones(scores.shape, dtype=np.int8)
        for k in range(max_cuts):
            block_codes += scores > cuts[:, k]
        codes[start:stop] = block_codes

    for item in design.reverse_keyed:
        column = items.index(item)
        codes[:, column] = design.categories[item] + 1 - codes[:, column]
    return codes, scores_out


def _shift_table(design: SurveyDesign, items: tuple[str, ...]) -> dict:
    """Return {(variable, group code): shift vector over the items}."""
    table: dict[tuple[str, int], np.ndarray] = {}
    for shift in design.intercept_shifts:
        values = EDUCATION_LEVELS if shift.variable == "education" else SECTORS
        key = (shift.variable, values.index(shift.value))
        vector = table.setdefault(key, np.zeros(len(items)))
        vector[items.index(shift.item)] += shift.shift
    return table


def _insert_missing_codes(
    design: SurveyDesign,
    codes: np.ndarray,
    education: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Overwrite answers with 9 (MCAR) and 8 (MAR on education) in place."""
    mar_columns = np.isin(np.array(design.items), design.mar_items)
    low = EDUCATION_LEVELS.index("low")
    for start in range(0, len(codes), _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, len(codes))
        draw = rng.random((stop - start, codes.shape[1]))
        block = codes[start:stop]
        dont_know = (draw >= design.mcar_rate) & (
            draw < design.mcar_rate + design.mar_rate
        )
        dont_know &= mar_columns & (education[start:stop] == low)[:, None]
        block[dont_know] = _DONT_KNOW
        block[draw < design.mcar_rate] = _NO_ANSWER


def _draw_weights(education: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Weights that restore the population's education shares, with mean 1."""
    design_weight = np.array(_EDUCATION_POPULATION) / np.array(_EDUCATION_SAMPLE)
    noise = rng.lognormal(-0.5 * _WEIGHT_NOISE_SD**2, _WEIGHT_NOISE_SD, len(education))
    weight = design_weight[education] * noise
    return np.round(weight / weight.mean(), 4)


def _assemble_frame(
    design: SurveyDesign,
    organisation: np.ndarray,
    sector: np.ndarray,
    education: np.ndarray,
    weight: np.ndarray,
    codes: np.ndarray,
) -> pd.DataFrame:
    n = len(organisation)
    columns: dict[str, Any] = {
        "respondent_id": np.arange(1, n + 1, dtype=np.int64),
        "org_id": organisation.astype(np.int64) + 1,
        "sector": (sector + 1).astype(np.int8),
        "education": (education + 1).astype(np.int8),
        "weight": weight,
    }
    for column, item in enumerate(design.items):
        values = codes[:, column]
        if item in design.text_items:
            labels = answer_labels(design.categories[item])
            lookup = np.array(
                [labels.get(code, "") for code in range(10)], dtype=object
            )
            columns[item] = lookup[values]
        else:
            columns[item] = np.ascontiguousarray(values)
    return pd.DataFrame(columns, copy=False)


def answer_labels(n_categories: int) -> dict[int, str]:
    """Return the answer labels of an item with 3, 4 or 5 categories.

    The labels include the missing codes 8 "don't know" and 9 "no answer".
    """
    scales = {
        5: (
            "strongly disagree",
            "disagree",
            "neither agree nor disagree",
            "agree",
            "strongly agree",
        ),
        4: ("never", "sometimes", "often", "always"),
        3: ("disagree", "neither agree nor disagree", "agree"),
    }
    labels = dict(enumerate(scales[n_categories], start=1))
    labels.update(MISSING_CODES)
    return labels


def _check_positive_integer(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise LioInputError(f"{name} must be a positive integer, got {value!r}.")


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise LioInputError(
            f"seed must be a non-negative integer, got {seed!r}. Pass e.g. seed=1."
        )
