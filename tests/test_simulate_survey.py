"""Tests of the NEA-style survey simulator, its files and the bundled example."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

import lio_validate as lv
from lio_validate.codebook import prepare_survey
from lio_validate.codebook_load import load_codebook
from lio_validate.exceptions import LioInputError, ModelSpecificationError
from lio_validate.simulate import (
    PathDifference,
    SurveyDesign,
    nea_design,
    simulate_survey,
    write_survey,
)
from lio_validate.simulate_design import (
    EDUCATION_LEVELS,
    answer_labels,
    code_response_correlation,
)
from lio_validate.simulate_write import (
    NEA_EXAMPLE_DIRECTORY,
    NEA_EXAMPLE_NOBS,
    write_nea_example,
)

BACKGROUND = ["respondent_id", "org_id", "sector", "education", "weight"]


@pytest.fixture(scope="module")
def design() -> SurveyDesign:
    return nea_design("example")


@pytest.fixture(scope="module")
def survey(design):
    return simulate_survey(design, 40_000, seed=21, continuous=True)


def prepared_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LioWarning)
        return prepare_survey(*args, **kwargs)


def fit_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LioWarning)
        return lv.sem(*args, **kwargs)


# --------------------------------------------------------------------------
# Design
# --------------------------------------------------------------------------


def test_design_categories_three_to_five(design):
    assert set(design.categories.values()) == {3, 4, 5}
    for factor in design.model.factors:
        assert len({design.categories[item] for item in factor.items}) == 1


def test_design_thresholds_skewed_to_agreement(design):
    for item in design.items:
        cuts = np.array(design.thresholds[item])
        # The middle of the cut points lies below 0, so the upper answers
        # are more common than the lower ones.
        assert cuts.mean() < -0.1, item


def test_design_path_difference_by_education(design):
    low = design.group_model("low")
    high = design.group_model("high")
    middle = design.group_model("middle")
    paths = {
        m: {(p.lhs, p.rhs): p.std_all for p in m.regressions}
        for m in (low, middle, high)
    }
    key = ("learning_motivation", "autonomy")
    assert paths[low][key] == 0.15
    assert paths[middle][key] == 0.30
    assert paths[high][key] == 0.45


def test_design_without_group_differences():
    design = nea_design("example", group_differences=False)
    assert design.path_differences == ()
    assert design.intercept_shifts == ()
    assert design.group_model("low") is design.model


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"icc": 1.0}, "icc"),
        ({"mcar_rate": -0.1}, "mcar_rate"),
        ({"reverse_keyed": ("nope",)}, "unknown items"),
        (
            {"path_differences": (PathDifference("low", "autonomy", "ext1", 0.2),)},
            "not a path",
        ),
        (
            {
                "path_differences": (
                    PathDifference("phd", "learning_motivation", "autonomy", 0.2),
                )
            },
            "education",
        ),
        ({"mean_organisation_size": 0.5}, "mean_organisation_size"),
    ],
)
def test_invalid_design_rejected(design, changes, expected):
    fields = {
        f: getattr(design, f)
        for f in (
            "model",
            "categories",
            "thresholds",
            "reverse_keyed",
            "text_items",
            "mcar_rate",
            "mar_rate",
            "mar_items",
            "icc",
            "mean_organisation_size",
            "path_differences",
            "intercept_shifts",
        )
    }
    fields.update(changes)
    with pytest.raises(LioInputError, match=expected):
        SurveyDesign(**fields)


def test_impossible_group_path_rejected(design):
    fields = {f: getattr(design, f) for f in ("model", "categories", "thresholds")}
    difference = PathDifference("high", "learning_motivation", "autonomy", 1.5)
    with pytest.raises(ModelSpecificationError, match="R²"):
        SurveyDesign(**fields, path_differences=(difference,))


def test_unknown_preset_rejected():
    with pytest.raises(LioInputError, match="'huge'"):
        nea_design("huge")


@pytest.mark.parametrize(("n", "seed"), [(0, 1), (2.5, 1), (10, -1), (10, None)])
def test_invalid_size_or_seed_rejected(design, n, seed):
    with pytest.raises(LioInputError):
        simulate_survey(design, n, seed=seed)


# --------------------------------------------------------------------------
# Drawn data
# --------------------------------------------------------------------------


def test_same_seed_identical(design):
    first = simulate_survey(design, 3000, seed=4)
    second = simulate_survey(design, 3000, seed=4)
    pd.testing.assert_frame_equal(first.frame, second.frame)


def test_continuous_flag_keeps_data(design):
    codes = simulate_survey(design, 2000, seed=4).frame
    both = simulate_survey(design, 2000, seed=4, continuous=True)
    pd.testing.assert_frame_equal(codes, both.frame)
    assert both.scores.shape == (2000, len(design.items))


def test_different_seeds_differ(design):
    first = simulate_survey(design, 3000, seed=4).frame
    second = simulate_survey(design, 3000, seed=5).frame
    assert not first["ext1"].equals(second["ext1"])


def test_columns_and_codes(design, survey):
    frame = survey.frame
    assert list(frame.columns) == BACKGROUND + list(design.items)
    for item in design.items:
        if item in design.text_items:
            labels = set(answer_labels(design.categories[item]).values())
            assert set(frame[item]) <= labels
            continue
        valid = set(range(1, design.categories[item] + 1)) | {9}
        if item in design.mar_items:
            valid.add(8)
        assert set(np.unique(frame[item])) == valid, item


def test_codes_cut_continuous_scores(design, survey):
    item = "ext1"
    answered = survey.frame[item] < 8
    cuts = design.thresholds[item]
    expected = 1 + np.searchsorted(cuts, survey.scores[item][answered])
    np.testing.assert_array_equal(survey.frame[item][answered], expected)


def test_reverse_keyed_stored_reversed(design, survey):
    answered = survey.frame[["tra1", "tra3"]].where(lambda x: x < 8).dropna()
    assert np.corrcoef(answered["tra1"], answered["tra3"])[0, 1] < -0.2
    stored = survey.frame["tra3"][survey.frame["tra3"] < 8]
    restored = 1 + np.searchsorted(
        design.thresholds["tra3"], survey.scores["tra3"][stored.index]
    )
    np.testing.assert_array_equal(stored, 6 - restored)


def test_mcar_rate(design, survey):
    share = (survey.frame["ext1"] == 9).mean()
    assert share == pytest.approx(design.mcar_rate, abs=0.0015)


def test_mar_depends_on_education(design, survey):
    frame = survey.frame
    item = design.mar_items[0]
    low = frame["education"] == 1
    assert (frame.loc[low, item] == 8).mean() == pytest.approx(
        design.mar_rate, abs=0.006
    )
    assert (frame.loc[~low, item] == 8).sum() == 0
    assert (frame["ext1"] == 8).sum() == 0


def test_weights_restore_population_shares(survey):
    frame = survey.frame
    assert (frame["weight"] > 0).all()
    assert frame["weight"].mean() == pytest.approx(1.0, abs=1e-3)
    weighted = frame.groupby("education")["weight"].sum() / frame["weight"].sum()
    np.testing.assert_allclose(weighted.to_numpy(), [0.22, 0.42, 0.36], atol=0.01)
    sample = frame["education"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(sample.to_numpy(), [0.15, 0.40, 0.45], atol=0.01)


def test_sector_constant_within_organisation(survey):
    per_organisation = survey.frame.groupby("org_id")["sector"].nunique()
    assert (per_organisation == 1).all()
    assert survey.frame["org_id"].is_monotonic_increasing
    sizes = survey.frame["org_id"].value_counts()
    assert sizes.mean() == pytest.approx(40, rel=0.1)


def test_item_icc_matches_design():
    design = nea_design("example", icc=0.2, group_differences=False)
    survey = simulate_survey(design, 60_000, seed=2, continuous=True)
    loadings = design.attenuation().set_index("item")["loading"]
    for item in ("par1", "inl1", "ext3"):
        icc = _anova_icc(survey.scores[item], survey.frame["org_id"])
        assert icc == pytest.approx(0.2 * loadings[item] ** 2, abs=0.03), item


def _anova_icc(values: pd.Series, cluster: pd.Series) -> float:
    """One-way ANOVA estimator of the ICC for unequal cluster sizes."""
    groups = values.groupby(cluster)
    sizes = groups.size().to_numpy()
    means = groups.mean().to_numpy()
    n, k = len(values), len(sizes)
    between = np.sum(sizes * (means - values.mean()) ** 2) / (k - 1)
    within = np.sum((values - groups.transform("mean")) ** 2) / (n - k)
    n0 = (n - np.sum(sizes**2) / n) / (k - 1)
    return float((between - within) / (between + (n0 - 1) * within))


def test_attenuation_factor_matches_sample(design, survey):
    for item in ("ext1", "cha1", "mot1"):
        answered = survey.frame[item] < 8
        sample = np.corrcoef(
            survey.frame[item][answered], survey.scores[item][answered]
        )[0, 1]
        expected = code_response_correlation(design.thresholds[item])
        # The intercept shifts make the groups' distributions differ slightly.
        assert sample == pytest.approx(expected, abs=0.01), item


# --------------------------------------------------------------------------
# Recovery of the truth by the ML fit
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recovered():
    design = nea_design("example", group_differences=False, icc=0.1)
    survey = simulate_survey(design, 200_000, seed=31, continuous=True)
    fit = fit_quietly(design.model.to_lavaan(), survey.scores)
    truth = design.model.truth()
    return fit, truth.merge(
        fit.estimates, on=["lhs", "op", "rhs"], suffixes=("_true", "")
    )


@pytest.mark.parametrize("op", ["=~", "~"])
def test_truth_recovered_bias_below_one_percent(recovered, op):
    fit, merged = recovered
    rows = merged[merged["op"] == op]
    assert len(rows) >= 17
    bias = np.mean(rows["std_all"] - rows["std_all_true"])
    assert abs(bias) < 0.01 * np.mean(rows["std_all_true"])
    # Clustering (ICC 0.1) inflates the sampling error above the naive SE.
    worst = np.max(np.abs(rows["std_all"] - rows["std_all_true"]))
    assert worst < 0.02


def test_truth_recovered_fit_exact(recovered):
    fit, _ = recovered
    assert fit.converged
    assert fit.fit_measures["rmsea"] < 0.005


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("survey")
    design = nea_design("example")
    survey = simulate_survey(design, 20_000, seed=17)
    files = write_survey(survey, directory)
    return survey, files


@pytest.fixture(scope="module")
def education_fit(written):
    """Fit the model per education group to the prepared .sav file."""
    survey, files = written
    prepared = prepared_quietly(files["sav"], files["codebook"])
    return fit_quietly(
        survey.design.model.to_lavaan(), prepared.frame, group="education"
    )


def test_ml_on_codes_matches_attenuation(written, education_fit):
    survey, _ = written
    design = survey.design
    fit = education_fit
    estimates = fit.estimates[fit.estimates["op"] == "=~"]
    expected = design.attenuation().set_index("item")["expected_std_all"]
    differences = (
        estimates["std_all"].to_numpy() - expected[estimates["rhs"]].to_numpy()
    )
    assert np.abs(np.mean(differences)) < 0.015
    assert np.max(np.abs(differences)) < 0.08


def test_group_differences_detectable(education_fit):
    table = education_fit.estimates.set_index(["lhs", "op", "rhs", "group"])
    table = table.sort_index()

    path = table.xs(("learning_motivation", "~", "autonomy"))
    z_path = (path.loc["high", "est"] - path.loc["low", "est"]) / np.hypot(
        path.loc["high", "se"], path.loc["low", "se"]
    )
    assert z_path > 5
    assert path.loc["low", "std_all"] < path.loc["middle", "std_all"]
    assert path.loc["middle", "std_all"] < path.loc["high", "std_all"]

    intercept = table.xs(("mot2", "~1", ""))
    z_intercept = (intercept.loc["low", "est"] - intercept.loc["middle", "est"]) / (
        np.hypot(intercept.loc["low", "se"], intercept.loc["middle", "se"])
    )
    assert z_intercept > 5


def test_sector_intercept_shift_detectable(written):
    survey, files = written
    prepared = prepared_quietly(files["parquet"], files["codebook"])
    frame = prepared.frame
    care = frame["sector"] == 6
    # Without the shift, aut1 would follow aut2 and aut3 in every sector.
    gap = frame.loc[care, "aut1"].mean() - frame.loc[~care, "aut1"].mean()
    others = frame.loc[care, "aut2"].mean() - frame.loc[~care, "aut2"].mean()
    assert gap - others < -0.15


# --------------------------------------------------------------------------
# Written files
# --------------------------------------------------------------------------


def test_written_formats_agree(written):
    _, files = written
    frames = {
        name: prepared_quietly(files[name], files["codebook"]).frame
        for name in ("sav", "parquet", "csv")
    }
    for name in ("parquet", "csv"):
        pd.testing.assert_frame_equal(frames["sav"], frames[name], check_dtype=False)


def test_written_sav_metadata(written):
    survey, files = written
    _, meta = pyreadstat.read_sav(files["sav"], metadataonly=True, user_missing=True)
    assert meta.missing_ranges["ext1"] == [
        {"lo": 8.0, "hi": 8.0},
        {"lo": 9.0, "hi": 9.0},
    ]
    assert meta.variable_value_labels["cha1"][1.0] == "never"
    assert meta.variable_value_labels["education"][3.0] == "high"
    assert meta.variable_measure["ext1"] == "ordinal"
    assert meta.number_rows == survey.nobs


def test_written_sav_missing_counts(written):
    survey, files = written
    prepared = prepared_quietly(files["sav"], files["codebook"])
    audit = prepared.audit.set_index("variable")
    counts = survey.missing_counts().set_index("item")
    for item in ("ext1", "mot1", "eff2"):
        expected = counts.loc[item, "dont_know"] + counts.loc[item, "no_answer"]
        assert audit.loc[item, "user_missing"] == expected, item
    text_item = survey.design.text_items[0]
    assert audit.loc[text_item, "codebook_missing"] == (
        counts.loc[text_item, "dont_know"] + counts.loc[text_item, "no_answer"]
    )


def test_written_codebook_and_truth(written):
    survey, files = written
    book = load_codebook(files["codebook"])
    assert set(book.items) == set(survey.design.items)
    assert set(book.reverse_items) == set(survey.design.reverse_keyed)
    assert (book.group, book.weight, book.cluster) == ("education", "weight", "org_id")

    truth = json.loads(files["truth"].read_text())
    assert truth["nobs"] == 20_000
    assert truth["seed"] == 17
    operators = {row["op"] for row in truth["parameters"]}
    assert {"=~", "~", "~~", "|", "r2"} <= operators
    assert set(truth["group_parameters"]["education"]) == set(EDUCATION_LEVELS)
    assert len(truth["attenuation"]) == len(survey.design.items)
    assert truth["path_differences"][0]["std_all_other_groups"] == 0.30


def test_write_refuses_to_overwrite(written):
    survey, files = written
    with pytest.raises(LioInputError, match="already exists"):
        write_survey(survey, files["sav"].parent)


def test_draft_codebook_finds_the_design(written):
    from lio_validate.codebook_draft import draft_codebook

    survey, files = written
    draft = yaml.safe_load(draft_codebook(files["sav"]))
    reverse = {
        item for scale in draft["scales"].values() for item in scale.get("reverse", [])
    }
    assert reverse == set(survey.design.reverse_keyed)
    items = [scale["items"] for scale in draft["scales"].values()]
    assert items == [list(f.items) for f in survey.design.model.factors]
    assert draft["weight"] == "weight"
    assert draft["cluster"] == "org_id"


# --------------------------------------------------------------------------
# Bundled example
# --------------------------------------------------------------------------


def test_bundled_nea_example_regenerates(tmp_path):
    fresh = write_nea_example(tmp_path)
    for name in ("codebook.yaml", "model.lav", "levels.json"):
        assert (tmp_path / name).read_bytes() == (
            NEA_EXAMPLE_DIRECTORY / name
        ).read_bytes(), name
    bundled, _ = pyreadstat.read_sav(
        NEA_EXAMPLE_DIRECTORY / "survey.sav", user_missing=True
    )
    regenerated, _ = pyreadstat.read_sav(fresh["sav"], user_missing=True)
    pd.testing.assert_frame_equal(bundled, regenerated)

    old = json.loads((NEA_EXAMPLE_DIRECTORY / "truth.json").read_text())
    new = json.loads(fresh["truth"].read_text())
    assert old.keys() == new.keys()
    for key in old:
        if key in ("parameters", "attenuation", "group_parameters"):
            continue
        assert old[key] == new[key], key
    pd.testing.assert_frame_equal(
        pd.DataFrame(old["parameters"]), pd.DataFrame(new["parameters"]), rtol=1e-12
    )


def test_bundled_nea_example_small_and_complete():
    names = {path.name for path in NEA_EXAMPLE_DIRECTORY.iterdir()}
    assert {
        "survey.sav",
        "codebook.yaml",
        "model.lav",
        "truth.json",
        "levels.json",
        "README.md",
    } <= names
    total = sum(path.stat().st_size for path in NEA_EXAMPLE_DIRECTORY.iterdir())
    assert total < 2_000_000


def test_bundled_nea_example_fits():
    data = NEA_EXAMPLE_DIRECTORY / "survey.sav"
    prepared = prepared_quietly(data, NEA_EXAMPLE_DIRECTORY / "codebook.yaml")
    assert prepared.nobs == NEA_EXAMPLE_NOBS
    assert prepared.warnings == ()
    model = (NEA_EXAMPLE_DIRECTORY / "model.lav").read_text()
    fit = fit_quietly(model, prepared.frame)
    assert fit.converged
    assert fit.fit_measures["cfi"] > 0.99
