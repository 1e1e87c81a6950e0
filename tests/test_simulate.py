"""Tests of the population model, the response generator and the bundled example."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from lio_validate.exceptions import LioInputError, ModelSpecificationError
from lio_validate.simulate import (
    EXAMPLE_DIRECTORY,
    Covariance,
    Factor,
    PopulationModel,
    Regression,
    likert_thresholds,
    organisation_model,
    simulate_responses,
    write_example,
)

PRESETS = ("example", "full")
BACKGROUND = ["id", "education", "sector"]


@pytest.fixture(scope="module", params=PRESETS)
def model(request) -> PopulationModel:
    return organisation_model(request.param)


@pytest.fixture(scope="module")
def continuous_sample(model) -> pd.DataFrame:
    """Draw 200,000 continuous responses, enough for correlations within 0.01."""
    return simulate_responses(model, 200_000, seed=11, likert=False)


def _indicators(syntax: str) -> list[str]:
    """Return every item on the right of ``=~`` in ``syntax``, in order."""
    items = []
    for line in syntax.splitlines():
        line = line.split("#", 1)[0]
        if "=~" in line:
            items += [term.strip() for term in line.split("=~")[1].split("+")]
    return items


def _small_model(**changes) -> PopulationModel:
    """Build x -> m -> y with two exogenous factors, with fields replaced."""
    fields = dict(
        name="small",
        factors=(
            Factor("x", "x", 3, ("x1", "x2", "x3"), (0.7, 0.7, 0.7)),
            Factor("z", "z", 4, ("z1", "z2", "z3"), (0.7, 0.7, 0.7)),
            Factor("m", "m", 2, ("m1", "m2", "m3"), (0.7, 0.7, 0.7)),
            Factor("y", "y", "outcome", ("y1", "y2", "y3"), (0.7, 0.7, 0.7)),
        ),
        regressions=(Regression("m", "x", 0.5), Regression("y", "m", 0.5)),
        exogenous_correlations=(Covariance("x", "z", 0.3),),
    )
    fields.update(changes)
    return PopulationModel(**fields)


# --------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------


def test_example_preset_size():
    model = organisation_model("example")
    assert 8 <= len(model.factors) <= 10
    assert 30 <= len(model.item_names) <= 35


def test_full_preset_size():
    model = organisation_model("full")
    assert len(model.factors) == 19
    assert len(model.item_names) == 59


def test_preset_scales_three_or_four_items(model):
    for factor in model.factors:
        assert len(factor.items) in (3, 4), factor.name


def test_preset_covers_every_level(model):
    assert set(model.levels().values()) == {1, 2, 3, 4, 5, "outcome"}


def test_preset_outcomes(model):
    outcomes = [name for name, level in model.levels().items() if level == "outcome"]
    assert outcomes == ["informal_learning", "innovative_work_behaviour"]


def test_example_mediation_chain():
    paths = {(p.lhs, p.rhs) for p in organisation_model("example").regressions}
    assert ("autonomy", "participative_leadership") in paths
    assert ("learning_motivation", "autonomy") in paths
    assert ("informal_learning", "learning_motivation") in paths


def test_unknown_preset_rejected():
    with pytest.raises(LioInputError, match="'huge'.*example.*full"):
        organisation_model("huge")


def test_population_model_frozen():
    model = organisation_model("example")
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.name = "other"


# --------------------------------------------------------------------------
# Implied moments and true values
# --------------------------------------------------------------------------


def test_factor_correlation_unit_diagonal(model):
    phi = model.factor_correlation().to_numpy()
    np.testing.assert_allclose(np.diag(phi), 1.0, atol=1e-12)
    assert np.linalg.eigvalsh(phi).min() > 0


def test_implied_correlation_unit_diagonal(model):
    sigma = model.implied_correlation()
    assert list(sigma.index) == list(model.item_names)
    np.testing.assert_allclose(np.diag(sigma.to_numpy()), 1.0, atol=1e-12)


def test_implied_correlation_within_factor(model):
    # Two items of one factor correlate with the product of their loadings.
    sigma = model.implied_correlation()
    factor = model.factors[0]
    expected = factor.loadings[0] * factor.loadings[1]
    assert sigma.loc[factor.items[0], factor.items[1]] == pytest.approx(expected)


def test_implied_correlation_matches_sample(model, continuous_sample):
    items = continuous_sample[list(model.item_names)].to_numpy()
    sample = np.corrcoef(items, rowvar=False)
    implied = model.implied_correlation().to_numpy()
    assert np.abs(sample - implied).max() < 0.01


def test_truth_columns_and_operators(model):
    truth = model.truth()
    assert list(truth.columns) == ["lhs", "op", "rhs", "std_all"]
    assert set(truth["op"]) == {"=~", "~", "~~", "r2"}
    assert truth["std_all"].dtype == np.float64


def test_truth_loadings_and_paths(model):
    truth = model.truth()
    loadings = truth[truth["op"] == "=~"]
    assert list(loadings["rhs"]) == list(model.item_names)
    paths = truth[truth["op"] == "~"]
    assert len(paths) == len(model.regressions)


def test_truth_residual_variances_complement_r2(model):
    truth = model.truth().set_index(["lhs", "op", "rhs"])["std_all"]
    r2 = truth.xs("r2", level="op")
    for name, value in r2.items():
        variable = name[0]
        residual = truth[(variable, "~~", variable)]
        assert residual == pytest.approx(1.0 - value), variable


def test_truth_r2_matches_factor_correlation(model):
    # R² of an endogenous factor is b' Phi b over its predictors.
    phi = model.factor_correlation()
    truth = model.truth().set_index(["lhs", "op", "rhs"])["std_all"]
    for name in {p.lhs for p in model.regressions}:
        paths = {p.rhs: p.std_all for p in model.regressions if p.lhs == name}
        weights = pd.Series(paths)
        block = phi.loc[weights.index, weights.index]
        expected = float(weights @ block @ weights)
        assert truth[(name, "r2", name)] == pytest.approx(expected), name


def test_truth_exogenous_correlations(model):
    truth = model.truth()
    covariances = truth[(truth["op"] == "~~") & (truth["lhs"] != truth["rhs"])]
    phi = model.factor_correlation()
    exogenous = set(model.exogenous_factors)
    for row in covariances.itertuples():
        if row.lhs in exogenous:
            assert phi.loc[row.lhs, row.rhs] == pytest.approx(row.std_all)


def test_truth_thresholds():
    model = organisation_model("example")
    truth = model.truth(n_categories=5)
    thresholds = truth[truth["op"] == "|"]
    assert len(thresholds) == 4 * len(model.item_names)
    first = thresholds[thresholds["lhs"] == "ext1"]
    assert list(first["rhs"]) == ["t1", "t2", "t3", "t4"]
    assert tuple(first["std_all"]) == likert_thresholds(5)


# --------------------------------------------------------------------------
# lavaan syntax
# --------------------------------------------------------------------------


def test_syntax_names_every_item_once(model):
    indicators = _indicators(model.to_lavaan())
    assert sorted(indicators) == sorted(model.item_names)
    assert len(indicators) == len(set(indicators))


def test_syntax_structural_lines_match_paths(model):
    written = set()
    for line in model.to_lavaan().splitlines():
        match = re.fullmatch(r"(\w+) ~ (.+)", line.split("#", 1)[0].strip())
        if match:
            written |= {(match[1], rhs.strip()) for rhs in match[2].split("+")}
    assert written == {(p.lhs, p.rhs) for p in model.regressions}


def test_syntax_residual_covariance(model):
    lines = model.to_lavaan().splitlines()
    assert "informal_learning ~~ innovative_work_behaviour" in lines


def test_syntax_comments_per_level(model):
    syntax = model.to_lavaan()
    for heading in ("# Level 5: context", "# Level 1: employee", "# Outcomes"):
        assert heading in syntax


def test_syntax_parses_with_package_parser(model):
    syntax = pytest.importorskip("lio_validate.syntax")
    parsed = syntax.parse_model(model.to_lavaan())
    operators = [term.op for term in parsed.terms]
    assert operators.count("=~") == len(model.item_names)
    assert operators.count("~") == len(model.regressions)


# --------------------------------------------------------------------------
# Generated responses
# --------------------------------------------------------------------------


def test_same_seed_identical_data(model):
    first = simulate_responses(model, 500, seed=5)
    second = simulate_responses(model, 500, seed=5)
    pd.testing.assert_frame_equal(first, second)


def test_different_seeds_differ(model):
    first = simulate_responses(model, 500, seed=5)
    second = simulate_responses(model, 500, seed=6)
    items = list(model.item_names)
    assert not first[items].equals(second[items])
    assert not first["education"].equals(second["education"])


def test_columns_and_shape(model):
    data = simulate_responses(model, 300, seed=1)
    assert data.shape == (300, 3 + len(model.item_names))
    assert list(data.columns) == BACKGROUND + list(model.item_names)


def test_likert_codes_in_range(model):
    data = simulate_responses(model, 2000, seed=2)
    items = data[list(model.item_names)]
    assert all(dtype == np.int64 for dtype in items.dtypes)
    assert items.min().min() == 1
    assert items.max().max() == 5


def test_likert_three_categories():
    model = organisation_model("example")
    items = simulate_responses(model, 2000, seed=2, n_categories=3)[
        list(model.item_names)
    ]
    assert set(np.unique(items.to_numpy())) == {1, 2, 3}


def test_likert_codes_cut_continuous_scores():
    model = organisation_model("example")
    items = list(model.item_names)
    codes = simulate_responses(model, 1000, seed=4)[items].to_numpy()
    scores = simulate_responses(model, 1000, seed=4, likert=False)[items].to_numpy()
    expected = 1 + np.searchsorted(likert_thresholds(5), scores)
    np.testing.assert_array_equal(codes, expected)


def test_category_shares_match_thresholds():
    model = organisation_model("example")
    items = simulate_responses(model, 100_000, seed=8)[list(model.item_names)]
    codes = items.to_numpy().ravel()
    shares = np.bincount(codes, minlength=6)[1:] / codes.size
    cuts = np.concatenate([[-np.inf], likert_thresholds(5), [np.inf]])
    np.testing.assert_allclose(shares, np.diff(ndtr(cuts)), atol=0.003)


def test_continuous_items_standardized(model, continuous_sample):
    items = continuous_sample[list(model.item_names)]
    assert all(dtype == np.float64 for dtype in items.dtypes)
    assert np.abs(items.mean()).max() < 0.01
    assert np.abs(items.std() - 1.0).max() < 0.01


def test_background_columns():
    model = organisation_model("example")
    data = simulate_responses(model, 20_000, seed=3)
    assert list(data["id"]) == list(range(1, 20_001))
    assert list(data["education"].cat.categories) == ["low", "middle", "high"]
    assert data["education"].cat.ordered
    sectors = {
        "industry",
        "construction",
        "trade",
        "business services",
        "public sector",
        "care",
    }
    assert set(data["sector"].cat.categories) == sectors
    shares = data["education"].value_counts(normalize=True)
    assert shares["middle"] == pytest.approx(0.42, abs=0.015)


def test_background_independent_of_items():
    model = organisation_model("example")
    data = simulate_responses(model, 20_000, seed=3)
    high = data["education"] == "high"
    difference = data.loc[high, "inl1"].mean() - data.loc[~high, "inl1"].mean()
    assert abs(difference) < 0.06


def test_single_row():
    data = simulate_responses(organisation_model("example"), 1, seed=0)
    assert len(data) == 1


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "100"])
def test_invalid_n_rejected(n):
    with pytest.raises(LioInputError, match="n must be a positive integer"):
        simulate_responses(organisation_model("example"), n, seed=1)


@pytest.mark.parametrize("seed", [-1, 1.5, None, False])
def test_invalid_seed_rejected(seed):
    with pytest.raises(LioInputError, match="seed must be a non-negative integer"):
        simulate_responses(organisation_model("example"), 10, seed=seed)


@pytest.mark.parametrize("n_categories", [1, 0, 4.0])
def test_invalid_n_categories_rejected(n_categories):
    with pytest.raises(LioInputError, match="n_categories"):
        simulate_responses(
            organisation_model("example"), 10, seed=1, n_categories=n_categories
        )


def test_model_type_rejected():
    with pytest.raises(TypeError, match="PopulationModel"):
        simulate_responses("example", 10, seed=1)


# --------------------------------------------------------------------------
# Invalid population models
# --------------------------------------------------------------------------


def test_small_model_valid():
    model = _small_model()
    assert model.exogenous_factors == ("x", "z")


def test_cycle_rejected():
    regressions = (
        Regression("m", "x", 0.5),
        Regression("y", "m", 0.5),
        Regression("m", "y", 0.2),
    )
    with pytest.raises(ModelSpecificationError, match="cycle"):
        _small_model(regressions=regressions)


def test_r_squared_of_one_rejected():
    regressions = (Regression("m", "x", 0.8), Regression("m", "z", 0.8))
    with pytest.raises(ModelSpecificationError, match="R² = 1.664"):
        _small_model(regressions=regressions)


def test_unknown_factor_in_path_rejected():
    with pytest.raises(ModelSpecificationError, match="unknown factor 'w'"):
        _small_model(regressions=(Regression("m", "w", 0.5),))


def test_duplicate_item_rejected():
    factors = (
        Factor("x", "x", 3, ("x1", "x2"), (0.7, 0.7)),
        Factor("z", "z", 4, ("x2", "z2"), (0.7, 0.7)),
    )
    with pytest.raises(ModelSpecificationError, match="'x2' is used twice"):
        PopulationModel("bad", factors, (), ())


@pytest.mark.parametrize("loading", [1.0, 0.0, -1.2, float("nan")])
def test_invalid_loading_rejected(loading):
    factors = (Factor("x", "x", 3, ("x1", "x2"), (0.7, loading)),)
    with pytest.raises(ModelSpecificationError, match="'x2' has loading"):
        PopulationModel("bad", factors, (), ())


def test_invalid_level_rejected():
    factors = (Factor("x", "x", 6, ("x1",), (0.7,)),)
    with pytest.raises(ModelSpecificationError, match="invalid level 6"):
        PopulationModel("bad", factors, (), ())


def test_correlation_of_endogenous_factor_rejected():
    correlations = (Covariance("x", "m", 0.3),)
    with pytest.raises(ModelSpecificationError, match="'m', which is not exogenous"):
        _small_model(exogenous_correlations=correlations)


def test_residual_covariance_on_path_rejected():
    with pytest.raises(ModelSpecificationError, match="one directed path"):
        _small_model(residual_covariances=(Covariance("m", "y", 0.2),))


def test_non_positive_definite_correlations_rejected():
    factors = (
        Factor("a", "a", 5, ("a1",), (0.7,)),
        Factor("b", "b", 5, ("b1",), (0.7,)),
        Factor("c", "c", 5, ("c1",), (0.7,)),
    )
    correlations = (
        Covariance("a", "b", 0.9),
        Covariance("a", "c", 0.9),
        Covariance("b", "c", -0.9),
    )
    with pytest.raises(ModelSpecificationError, match="positive definite"):
        PopulationModel("bad", factors, (), correlations)


def test_negative_loading_allowed():
    # A negative loading is a reverse-keyed item.
    factors = (Factor("x", "x", 3, ("x1", "x2", "x3"), (0.7, -0.6, 0.7)),)
    model = PopulationModel("reverse", factors, (), ())
    sigma = model.implied_correlation()
    assert sigma.loc["x1", "x2"] == pytest.approx(-0.42)


# --------------------------------------------------------------------------
# Bundled example
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("example")
    write_example(directory)
    return directory


BYTE_IDENTICAL_FILES = ["organisation.csv", "organisation.lav", "levels.json"]


@pytest.mark.parametrize("name", BYTE_IDENTICAL_FILES)
def test_bundled_example_byte_identical(regenerated, name):
    bundled = (EXAMPLE_DIRECTORY / name).read_bytes()
    assert (regenerated / name).read_bytes() == bundled


def test_bundled_truth_matches_regenerated(regenerated):
    # Compared by value because the last digits of derived values such as R²
    # can differ between floating-point libraries.
    bundled = json.loads((EXAMPLE_DIRECTORY / "truth.json").read_text())
    fresh = json.loads((regenerated / "truth.json").read_text())
    bundled_table = pd.DataFrame(bundled.pop("parameters"))
    fresh_table = pd.DataFrame(fresh.pop("parameters"))
    assert bundled == fresh
    pd.testing.assert_frame_equal(bundled_table, fresh_table, rtol=1e-12)


def test_bundled_example_contents():
    data = pd.read_csv(EXAMPLE_DIRECTORY / "organisation.csv")
    model = organisation_model("example")
    assert data.shape == (2000, 3 + len(model.item_names))
    assert (EXAMPLE_DIRECTORY / "organisation.csv").stat().st_size < 300_000
    syntax = (EXAMPLE_DIRECTORY / "organisation.lav").read_text()
    assert sorted(_indicators(syntax)) == sorted(data.columns[3:])


def test_bundled_levels_match_model():
    levels = json.loads((EXAMPLE_DIRECTORY / "levels.json").read_text())
    assert levels == organisation_model("example").levels()
