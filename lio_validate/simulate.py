"""Simulate NEA-style survey responses from a known population model.

:func:`simulate_responses` draws a sample from a
:class:`~lio_validate.population.PopulationModel` and cuts the items into Likert
codes, and :func:`write_example` regenerates the bundled example in
``examples/organisation``. The model classes and their presets are defined in
:mod:`lio_validate.population`, and this module re-exports them.

The full survey simulator, with organisations, missing codes, weights,
reverse-keyed and text items and group differences, is
:func:`simulate_survey` with :func:`nea_design`
(:mod:`lio_validate.simulate_design`), and :func:`write_survey` writes it as
.sav, .parquet and .csv files with a codebook (:mod:`lio_validate.simulate_write`).
This module re-exports them too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri

from lio_validate.exceptions import LioInputError
from lio_validate.population import (
    Covariance,
    Factor,
    PopulationModel,
    Regression,
    organisation_model,
)
from lio_validate.simulate_design import (
    InterceptShift,
    PathDifference,
    SimulatedSurvey,
    SurveyDesign,
    nea_design,
    simulate_survey,
)
from lio_validate.simulate_write import write_nea_example, write_survey

__all__ = [
    "Factor",
    "Regression",
    "Covariance",
    "PopulationModel",
    "organisation_model",
    "likert_thresholds",
    "simulate_responses",
    "write_example",
    "InterceptShift",
    "PathDifference",
    "SimulatedSurvey",
    "SurveyDesign",
    "nea_design",
    "simulate_survey",
    "write_survey",
    "write_nea_example",
    "EXAMPLE_DIRECTORY",
    "EXAMPLE_SEED",
    "EXAMPLE_NOBS",
]

EXAMPLE_DIRECTORY = Path(__file__).resolve().parent / "examples" / "organisation"
EXAMPLE_SEED = 20261204
EXAMPLE_NOBS = 2000

# Rows drawn per block. The random stream is consumed block by block, so
# changing this value changes the data that a seed produces.
_BLOCK_ROWS = 65_536

# Each stage of simulate_responses draws from its own child of the seed. A stage
# added later (group differences, missing codes, weights, clusters) takes the
# next child, so the columns drawn by the existing stages stay the same per seed.
_STREAMS = ("responses", "background")

# Round illustrative shares, not estimates from the NEA.
_EDUCATION = {"low": 0.22, "middle": 0.42, "high": 0.36}
_SECTOR = {
    "industry": 0.15,
    "construction": 0.07,
    "trade": 0.17,
    "business services": 0.21,
    "public sector": 0.14,
    "care": 0.26,
}


# --------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------


def likert_thresholds(n_categories: int = 5) -> tuple[float, ...]:
    """Return the cut points that turn a standard normal item into Likert codes.

    The cut points are 1.5 times the normal quantiles at ``k / n_categories``,
    shifted down by 0.3. The factor 1.5 puts fewer respondents in the extreme
    categories than equal shares would, and the shift skews the responses
    mildly towards agreement. For five categories the shares are about 6, 19, 28, 30
    and 17 percent.

    Raises
    ------
    LioInputError
        If ``n_categories`` is not an integer of at least 2.
    """
    if isinstance(n_categories, bool) or not isinstance(n_categories, int | np.integer):
        raise LioInputError(
            f"n_categories must be an integer of at least 2, got {n_categories!r}."
        )
    if n_categories < 2:
        raise LioInputError(
            f"n_categories must be at least 2, got {n_categories}."
        )
    quantiles = ndtri(np.arange(1, n_categories) / n_categories)
    return tuple(float(value) for value in 1.5 * quantiles - 0.3)


def simulate_responses(
    model: PopulationModel,
    n: int,
    *,
    seed: int,
    likert: bool = True,
    n_categories: int = 5,
) -> pd.DataFrame:
    """Draw a sample of survey responses from a population model.

    Factors are drawn from the structural model and each item is its loading
    times its factor plus normal error, so continuous items have mean 0 and
    variance 1. With ``likert=True`` the items are cut at
    :func:`likert_thresholds` into codes 1 to ``n_categories``.

    Parameters
    ----------
    model : PopulationModel
        The population, e.g. ``organisation_model("example")``.
    n : int
        Number of respondents (rows).
    seed : int
        Non-negative seed for :func:`numpy.random.default_rng`. The same seed,
        model and options give the same data.
    likert : bool, default True
        Return integer Likert codes. With ``False`` the continuous scores are
        returned, whose correlation estimates
        :meth:`PopulationModel.implied_correlation`. Both settings draw the
        same scores for a seed, so the codes are the cut continuous scores.
    n_categories : int, default 5
        Number of Likert categories, ignored when ``likert`` is False.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows with ``id`` (1 to n), ``education`` (ordered categorical:
        low, middle, high), ``sector`` (categorical) and one column per item in
        ``model.item_names`` (int64 codes, or float64 when ``likert`` is
        False). Education and sector are drawn independently of the responses.

    Raises
    ------
    LioInputError
        If ``n``, ``seed`` or ``n_categories`` is invalid.
    """
    if not isinstance(model, PopulationModel):
        raise TypeError(f"model must be a PopulationModel, got {type(model).__name__}.")
    _check_count(n)
    _check_seed(seed)
    thresholds = likert_thresholds(n_categories) if likert else None

    streams = dict(zip(_STREAMS, np.random.default_rng(seed).spawn(len(_STREAMS))))
    items = _draw_items(model, n, streams["responses"], thresholds)
    background = _draw_background(n, streams["background"])

    responses = pd.DataFrame(items, columns=list(model.item_names), copy=False)
    return pd.concat([background, responses], axis=1)


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise LioInputError(f"n must be a positive integer, got {n!r}.")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise LioInputError(
            f"seed must be a non-negative integer, got {seed!r}. Pass e.g. seed=1."
        )


def _draw_items(
    model: PopulationModel,
    n: int,
    rng: np.random.Generator,
    thresholds: tuple[float, ...] | None,
) -> np.ndarray:
    """Draw the item scores block by block and cut them when thresholds are given."""
    solution = model._solution
    shock_loadings = solution.shock_loadings
    error_sd = np.sqrt(1.0 - np.sum(solution.loadings**2, axis=1))
    n_factors = shock_loadings.shape[1]
    dtype = np.float64 if thresholds is None else np.int64
    items = np.empty((n, shock_loadings.shape[0]), dtype=dtype)

    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        shocks = rng.standard_normal((stop - start, n_factors))
        scores = rng.standard_normal((stop - start, len(error_sd)))
        scores *= error_sd
        scores += shocks @ shock_loadings.T

        if thresholds is None:
            items[start:stop] = scores
            continue
        codes = np.ones(scores.shape, dtype=np.int64)
        for threshold in thresholds:
            codes += scores > threshold
        items[start:stop] = codes
    return items


def _draw_background(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw id, education and sector, independent of the responses."""
    education = rng.choice(len(_EDUCATION), size=n, p=list(_EDUCATION.values()))
    sector = rng.choice(len(_SECTOR), size=n, p=list(_SECTOR.values()))
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "education": pd.Categorical.from_codes(
                education, categories=list(_EDUCATION), ordered=True
            ),
            "sector": pd.Categorical.from_codes(sector, categories=list(_SECTOR)),
        }
    )


# --------------------------------------------------------------------------
# Bundled example
# --------------------------------------------------------------------------


def write_example(directory: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Write the bundled example's data, model and true values to ``directory``.

    The data are ``simulate_responses(organisation_model("example"), 2000,
    seed=20261204)``: five-point Likert codes. The files are
    ``organisation.csv``, ``organisation.lav`` (the correct lavaan model),
    ``truth.json`` (:meth:`PopulationModel.truth` with the thresholds, plus the
    call) and ``levels.json`` (``{factor: level}``). The directory is created
    if it is missing, and existing files are overwritten.

    Returns
    -------
    tuple of pathlib.Path
        The four files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = organisation_model("example")
    n_categories = 5
    data = simulate_responses(
        model, EXAMPLE_NOBS, seed=EXAMPLE_SEED, n_categories=n_categories
    )

    truth = {
        "description": "True standardized values of the population model behind "
        "the synthetic organisation.csv. Loadings, paths and R-squared refer to the "
        "continuous responses before they were cut into Likert codes at the "
        "thresholds (op '|').",
        "call": f'simulate_responses(organisation_model("example"), {EXAMPLE_NOBS}, '
        f"seed={EXAMPLE_SEED}, likert=True, n_categories={n_categories})",
        "model": model.name,
        "nobs": EXAMPLE_NOBS,
        "seed": EXAMPLE_SEED,
        "n_categories": n_categories,
        "parameters": model.truth(n_categories=n_categories).to_dict("records"),
    }
    paths = (
        directory / "organisation.csv",
        directory / "organisation.lav",
        directory / "truth.json",
        directory / "levels.json",
    )
    data.to_csv(paths[0], index=False, lineterminator="\n")
    texts = (
        model.to_lavaan(),
        _format_truth_json(truth),
        json.dumps(model.levels(), indent=2) + "\n",
    )
    for path, text in zip(paths[1:], texts):
        path.write_text(text, encoding="utf-8", newline="\n")
    return paths


def _format_truth_json(truth: dict) -> str:
    """Format ``truth`` as indented JSON with one parameter per line."""
    header = {key: value for key, value in truth.items() if key != "parameters"}
    lines = ["{"]
    for key, value in header.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "parameters": [')
    records = [f"    {json.dumps(record)}" for record in truth["parameters"]]
    lines.append(",\n".join(records))
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"
