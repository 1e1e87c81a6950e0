"""Tests of lio_validate.reliability against psych 2.2.9 and semTools 0.5-6.

Reference values come from tests/reference/reliability_psych_semtools.R, which
wrote reliability_psych_semtools.json beside it from data/bfi.csv with A1, C4,
C5, E1, E2, O2 and O5 recoded as 7 - x. R is not needed to run these tests.

Tolerances: 1e-6 relative for alpha, its intervals and the item statistics,
and for the factor-model formulas given lavaan's own estimates (all closed
form). 1e-4 relative for omega, composite reliability, AVE and standardized
loadings from a fit made here, because those depend on the optimiser.

Tests that fit a CFA use the package's estimator, ``lio_validate.cfa``.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lio_validate.exceptions import DataError, LioInputError, ReliabilityWarning
from lio_validate.reliability import (
    ITEM_COLUMNS,
    TABLE_COLUMNS,
    alpha_ci_duhachek,
    alpha_ci_feldt,
    alpha_if_item_deleted,
    alpha_se_duhachek,
    average_variance_extracted,
    composite_reliability,
    cronbach_alpha,
    item_rest_correlations,
    omega_total,
    reliability,
    standardized_alpha,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_PATH = ROOT / "tests" / "reference" / "reliability_psych_semtools.json"
BFI_PATH = ROOT / "data" / "bfi.csv"

REVERSE = ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]
BIG_FIVE = {name: [f"{name}{i}" for i in range(1, 6)] for name in "ACENO"}

CLOSED_FORM_RTOL = 1e-6
OPTIMISER_RTOL = 1e-4


# ---------------------------------------------------------------------------
# Data and reference values
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> dict:
    with REFERENCE_PATH.open() as handle:
        return json.load(handle)["scales"]


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(BFI_PATH)


@pytest.fixture(scope="module")
def bfi_recoded(bfi) -> pd.DataFrame:
    recoded = bfi.copy()
    for item in REVERSE:
        recoded[item] = 7 - recoded[item]
    return recoded


def reference_scales(reference: dict) -> dict[str, list[str]]:
    return {scale: entry["items"] for scale, entry in reference.items()}


def complete_cov(data: pd.DataFrame, items: list[str]) -> tuple[np.ndarray, int]:
    complete = data[items].dropna().to_numpy(dtype=float)
    return np.cov(complete, rowvar=False), len(complete)


@pytest.fixture(scope="module")
def bfi_result(bfi, reference):
    scales = reference_scales(reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReliabilityWarning)
        return reliability(bfi, scales, reverse=REVERSE, scale_min=1, scale_max=6)


# ---------------------------------------------------------------------------
# Alpha and item statistics as pure functions, against psych
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["A", "C", "E", "N", "O", "A_three", "N_two"])
def test_alpha_functions_match_psych(scale, reference, bfi_recoded):
    expected = reference[scale]
    cov, nobs = complete_cov(bfi_recoded, expected["items"])
    alpha = cronbach_alpha(cov)
    alpha_se = alpha_se_duhachek(cov, nobs)

    assert nobs == expected["nobs"]
    np.testing.assert_allclose(alpha, expected["alpha"], rtol=CLOSED_FORM_RTOL)
    np.testing.assert_allclose(
        standardized_alpha(cov), expected["std_alpha"], rtol=CLOSED_FORM_RTOL
    )
    np.testing.assert_allclose(alpha_se, expected["alpha_se"], rtol=CLOSED_FORM_RTOL)
    np.testing.assert_allclose(
        alpha_ci_feldt(alpha, nobs, len(expected["items"])),
        [expected["feldt_ci_lower"], expected["feldt_ci_upper"]],
        rtol=CLOSED_FORM_RTOL,
    )
    np.testing.assert_allclose(
        alpha_ci_duhachek(alpha, alpha_se),
        [expected["duhachek_ci_lower"], expected["duhachek_ci_upper"]],
        rtol=CLOSED_FORM_RTOL,
    )
    np.testing.assert_allclose(
        item_rest_correlations(cov),
        list(expected["item_rest_r"].values()),
        rtol=CLOSED_FORM_RTOL,
    )


@pytest.mark.parametrize("scale", ["A", "C", "E", "N", "O", "A_three"])
def test_alpha_if_deleted_matches_psych(scale, reference, bfi_recoded):
    expected = reference[scale]
    cov, _ = complete_cov(bfi_recoded, expected["items"])
    np.testing.assert_allclose(
        alpha_if_item_deleted(cov),
        list(expected["alpha_if_deleted"].values()),
        rtol=CLOSED_FORM_RTOL,
    )


def test_alpha_ci_feldt_90_percent(reference, bfi_recoded):
    expected = reference["A"]
    cov, nobs = complete_cov(bfi_recoded, expected["items"])
    lower, upper = alpha_ci_feldt(cronbach_alpha(cov), nobs, 5, confidence_level=0.90)
    np.testing.assert_allclose(lower, expected["feldt_ci_90_lower"], rtol=1e-6)
    np.testing.assert_allclose(upper, expected["feldt_ci_90_upper"], rtol=1e-6)


def test_duhachek_print_uses_rounded_z(reference):
    # psych prints alpha -/+ 1.96 * ase, but the exact quantile is 1.959964.
    for scale in ["A", "C", "E", "N", "O"]:
        expected = reference[scale]
        lower, upper = alpha_ci_duhachek(expected["alpha"], expected["alpha_se"])
        gap = (1.96 - stats.norm.ppf(0.975)) * expected["alpha_se"]
        np.testing.assert_allclose(
            expected["duhachek_ci_lower_printed"], lower - gap, rtol=1e-12
        )
        np.testing.assert_allclose(
            expected["duhachek_ci_upper_printed"], upper + gap, rtol=1e-12
        )


def test_item_rest_r_equals_direct_correlation(bfi_recoded):
    complete = bfi_recoded[BIG_FIVE["C"]].dropna()
    cov = np.cov(complete.to_numpy(), rowvar=False)
    for i, item in enumerate(BIG_FIVE["C"]):
        rest = complete.drop(columns=item).sum(axis=1)
        direct = np.corrcoef(complete[item], rest)[0, 1]
        np.testing.assert_allclose(item_rest_correlations(cov)[i], direct, rtol=1e-12)


def test_parallel_items_alpha_is_spearman_brown():
    # k parallel items with inter-item correlation r: alpha = k r / (1 + (k-1) r).
    n_items, r = 4, 0.3
    cov = np.full((n_items, n_items), r) + (1 - r) * np.eye(n_items)
    expected = n_items * r / (1 + (n_items - 1) * r)
    np.testing.assert_allclose(cronbach_alpha(cov), expected, rtol=1e-12)
    np.testing.assert_allclose(standardized_alpha(4.0 * cov), expected, rtol=1e-12)


def test_alpha_functions_reject_one_item():
    with pytest.raises(LioInputError, match="at least 2 items"):
        cronbach_alpha(np.array([[1.0]]))
    with pytest.raises(LioInputError, match="square"):
        cronbach_alpha(np.ones((2, 3)))


def test_alpha_if_deleted_is_nan_for_two_items():
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert np.isnan(alpha_if_item_deleted(cov)).all()


# ---------------------------------------------------------------------------
# Factor-model formulas given lavaan's estimates, against semTools
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["A", "C", "E", "N", "O", "A_three"])
def test_factor_formulas_match_semtools(scale, reference):
    expected = reference[scale]
    loadings = list(expected["loadings"].values())
    thetas = list(expected["residual_variances"].values())
    psi = expected["latent_variance"]
    sample_cov = np.array(expected["sample_cov"])

    np.testing.assert_allclose(
        omega_total(loadings, psi, sample_cov), expected["omega"], rtol=CLOSED_FORM_RTOL
    )
    np.testing.assert_allclose(
        composite_reliability(loadings, thetas, psi),
        expected["omega_implied"],
        rtol=CLOSED_FORM_RTOL,
    )
    np.testing.assert_allclose(
        average_variance_extracted(loadings, psi, np.diag(sample_cov)),
        expected["ave"],
        rtol=CLOSED_FORM_RTOL,
    )


def test_composite_reliability_uses_implied_variance(reference):
    # compRelSEM's default divides by the observed total variance. With df > 0
    # that differs from composite reliability; with df = 0 they coincide.
    n_scale = reference["N"]
    assert abs(n_scale["omega"] - n_scale["composite_reliability"]) > 0.01

    three = reference["A_three"]
    np.testing.assert_allclose(
        three["omega"], three["composite_reliability"], rtol=1e-7
    )


def test_composite_reliability_keeps_heywood_case():
    # A negative residual variance is used as estimated, not clipped to 0.
    value = composite_reliability([1.0, 1.0, 1.0], [0.5, 0.5, -0.2], 1.0)
    np.testing.assert_allclose(value, 9.0 / 9.8, rtol=1e-12)


# ---------------------------------------------------------------------------
# reliability() on bfi, against psych and semTools
# ---------------------------------------------------------------------------


def test_table_has_reliability_csv_columns(bfi_result):
    assert tuple(bfi_result.table.columns) == TABLE_COLUMNS
    assert tuple(bfi_result.items.columns) == ITEM_COLUMNS
    assert bfi_result.ci_method == "feldt"


def test_table_alpha_matches_psych(bfi_result, reference):
    table = bfi_result.table.set_index("scale")
    for scale, expected in reference.items():
        row = table.loc[scale]
        assert row["n_items"] == len(expected["items"])
        assert row["nobs"] == expected["nobs"]
        np.testing.assert_allclose(row["alpha"], expected["alpha"], rtol=1e-6)
        np.testing.assert_allclose(
            row["alpha_ci_lower"], expected["feldt_ci_lower"], rtol=1e-6
        )
        np.testing.assert_allclose(
            row["alpha_ci_upper"], expected["feldt_ci_upper"], rtol=1e-6
        )


def test_alpha_details_match_psych(bfi_result, reference):
    details = bfi_result.alpha_details.set_index("scale")
    for scale, expected in reference.items():
        row = details.loc[scale]
        for column in ["std_alpha", "alpha_se", "duhachek_ci_lower"]:
            np.testing.assert_allclose(
                row[column], expected[column], rtol=1e-6, err_msg=f"{scale} {column}"
            )


def test_item_statistics_match_psych(bfi_result, reference):
    items = bfi_result.items.set_index(["scale", "item"])
    for scale, expected in reference.items():
        for item, value in expected["item_rest_r"].items():
            np.testing.assert_allclose(
                items.loc[(scale, item), "item_rest_r"], value, rtol=1e-6
            )
        for item, value in expected.get("alpha_if_deleted", {}).items():
            np.testing.assert_allclose(
                items.loc[(scale, item), "alpha_if_deleted"], value, rtol=1e-6
            )


def test_factor_coefficients_match_semtools(bfi_result, reference):
    table = bfi_result.table.set_index("scale")
    for scale, expected in reference.items():
        if "omega" not in expected:
            continue
        row = table.loc[scale]
        for column in ["omega", "composite_reliability", "ave"]:
            np.testing.assert_allclose(
                row[column],
                expected[column],
                rtol=OPTIMISER_RTOL,
                err_msg=f"{scale} {column}",
            )


def test_std_loadings_match_lavaan(bfi_result, reference):
    items = bfi_result.items.set_index(["scale", "item"])
    for scale, expected in reference.items():
        for item, value in expected.get("std_loadings", {}).items():
            np.testing.assert_allclose(
                items.loc[(scale, item), "std_loading"], value, rtol=OPTIMISER_RTOL
            )


def test_matches_reliability_bfi_reference(bfi_result):
    # reliability_bfi.json comes from reliability_references.R, a second R
    # script that computes the five scales' statistics separately.
    path = ROOT / "tests" / "reference" / "reliability_bfi.json"
    if not path.exists():
        pytest.skip("tests/reference/reliability_bfi.json is missing")
    with path.open() as handle:
        shared = json.load(handle)["scales"]
    table = bfi_result.table.set_index("scale")
    items = bfi_result.items.set_index(["scale", "item"])

    for scale in ["A", "C", "E", "N", "O"]:
        expected = shared[scale]
        row = table.loc[scale]
        feldt = expected["alpha"]["confidence_bounds"]["feldt"]
        assert row["nobs"] == expected["nobs"]
        np.testing.assert_allclose(
            row["alpha"], expected["alpha"]["total"]["raw_alpha"], rtol=1e-6
        )
        np.testing.assert_allclose(row["alpha_ci_lower"], feldt["lower"], rtol=1e-6)
        np.testing.assert_allclose(row["alpha_ci_upper"], feldt["upper"], rtol=1e-6)
        np.testing.assert_allclose(
            row["omega"], expected["comp_rel_sem"], rtol=OPTIMISER_RTOL
        )
        np.testing.assert_allclose(
            row["composite_reliability"],
            expected["comp_rel_sem_implied_var"],
            rtol=OPTIMISER_RTOL,
        )
        np.testing.assert_allclose(row["ave"], expected["ave"], rtol=OPTIMISER_RTOL)

        item_stats = expected["alpha"]["item_stats"]
        alpha_drop = expected["alpha"]["alpha_drop"]
        for i, item in enumerate(item_stats["item"]):
            np.testing.assert_allclose(
                items.loc[(scale, item), "item_rest_r"],
                item_stats["r.drop"][i],
                rtol=1e-6,
            )
            np.testing.assert_allclose(
                items.loc[(scale, item), "alpha_if_deleted"],
                alpha_drop["raw_alpha"][i],
                rtol=1e-6,
            )


def test_two_item_scale_lacks_omega(bfi):
    with pytest.warns(ReliabilityWarning, match="'N_two' has 2 items"):
        result = reliability(bfi, {"N_two": ["N1", "N2"]})
    row = result.table.iloc[0]
    assert np.isfinite(row["alpha"])
    assert np.isnan(row["omega"])
    assert np.isnan(row["composite_reliability"])
    assert np.isnan(row["ave"])
    assert result.items["std_loading"].isna().all()


# ---------------------------------------------------------------------------
# Reverse coding
# ---------------------------------------------------------------------------


def test_reverse_coding_is_recorded(bfi):
    result = reliability(bfi, BIG_FIVE, reverse=REVERSE, scale_min=1, scale_max=6)
    record = result.reversed_items.set_index("item")
    assert list(record.index) == REVERSE
    assert (record["scale_min"] == 1).all()
    assert (record["scale_max"] == 6).all()
    assert (record["min_source"] == "argument").all()
    assert (record["max_source"] == "argument").all()

    flagged = result.items.set_index("item")["reversed"]
    assert flagged[REVERSE].all()
    assert not flagged.drop(REVERSE).any()


def test_reverse_bounds_default_to_observed(bfi):
    result = reliability(bfi, {"A": BIG_FIVE["A"]}, reverse=["A1"])
    record = result.reversed_items.iloc[0]
    assert record["scale_min"] == bfi["A1"].min()
    assert record["scale_max"] == bfi["A1"].max()
    assert record["min_source"] == "observed"
    assert record["max_source"] == "observed"


def test_reverse_coding_equals_prerecoded_data(bfi, bfi_recoded):
    recoded_here = reliability(bfi, BIG_FIVE, reverse=REVERSE, scale_min=1, scale_max=6)
    recoded_before = reliability(bfi_recoded, BIG_FIVE)
    pd.testing.assert_frame_equal(recoded_here.table, recoded_before.table, rtol=1e-10)
    assert recoded_before.reversed_items.empty


def test_unrecoded_reverse_item_warns(bfi):
    # A1 is the marker item, so the check must still point at A1, not A2..A5.
    with pytest.warns(ReliabilityWarning) as record:
        result = reliability(bfi, {"A": BIG_FIVE["A"]})
    messages = [str(warning.message) for warning in record]
    assert len(messages) == 1
    assert "scale 'A': item 'A1'" in messages[0]
    assert "probably reverse-keyed" in messages[0]
    assert "list it in reverse" in messages[0]

    loadings = result.items.set_index("item")["std_loading"]
    assert loadings["A1"] < 0
    assert (loadings.drop("A1") > 0).all()


def test_wrongly_reversed_item_warns(bfi):
    with pytest.warns(ReliabilityWarning, match="item 'A2'.*remove it from reverse"):
        reliability(bfi, {"A": BIG_FIVE["A"]}, reverse=["A1", "A2"])


def test_negatively_correlated_pair_warns(bfi):
    with pytest.warns(ReliabilityWarning) as record:
        reliability(bfi, {"pair": ["A1", "A2"]})
    messages = [str(warning.message) for warning in record]
    assert any("'pair' has 2 items" in message for message in messages)
    assert any(
        "items 'A1' and 'A2' correlate negatively" in message for message in messages
    )


def test_no_warning_when_correctly_reversed(bfi):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReliabilityWarning)
        reliability(bfi, BIG_FIVE, reverse=REVERSE, scale_min=1, scale_max=6)


def test_reverse_values_outside_bounds_raise(bfi):
    with pytest.raises(DataError, match="'A1'.*outside scale_min=1 and scale_max=5"):
        reliability(bfi, {"A": BIG_FIVE["A"]}, reverse=["A1"], scale_min=1, scale_max=5)


def test_reverse_item_outside_scales_raises(bfi):
    with pytest.raises(DataError, match=r"\['C4'\] that belong to no scale"):
        reliability(bfi, {"A": BIG_FIVE["A"]}, reverse=["A1", "C4"])


def test_reverse_as_string_raises(bfi):
    with pytest.raises(DataError, match="list of item names"):
        reliability(bfi, {"A": BIG_FIVE["A"]}, reverse="A1")


def test_scale_min_above_max_raises(bfi):
    with pytest.raises(DataError, match="scale_min"):
        reliability(bfi, {"A": BIG_FIVE["A"]}, reverse=["A1"], scale_min=6, scale_max=1)


# ---------------------------------------------------------------------------
# Invalid and degenerate input
# ---------------------------------------------------------------------------


def test_one_item_scale_raises(bfi):
    with pytest.raises(DataError, match="scale 'A' has 1 item"):
        reliability(bfi, {"A": ["A1"]})


def test_constant_item_raises_naming_it(bfi):
    data = bfi.copy()
    data["A3"] = 4
    with pytest.raises(DataError, match="scale 'A': item 'A3' is constant"):
        reliability(data, {"A": BIG_FIVE["A"]}, reverse=["A1"])


def test_missing_column_raises(bfi):
    with pytest.raises(DataError, match=r"\['A9'\] not found"):
        reliability(bfi, {"A": ["A1", "A2", "A9"]})


def test_text_column_raises(bfi):
    data = bfi.copy()
    data["A2"] = data["A2"].astype(str)
    with pytest.raises(DataError, match="item 'A2' has dtype"):
        reliability(data, {"A": BIG_FIVE["A"]})


def test_infinite_value_raises(bfi):
    data = bfi.copy()
    data.loc[0, "A2"] = np.inf
    with pytest.raises(DataError, match="item 'A2' contains infinite"):
        reliability(data, {"A": BIG_FIVE["A"]})


def test_non_text_item_name_raises(bfi):
    data = bfi.rename(columns={"A2": 2})
    with pytest.raises(DataError, match="column names must be strings"):
        reliability(data, {"A": ["A1", 2, "A3"]})


def test_duplicate_item_raises(bfi):
    with pytest.raises(DataError, match="more than once"):
        reliability(bfi, {"A": ["A1", "A2", "A2"]})


def test_too_few_complete_rows_raises():
    data = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [np.nan, 2.0, 3.0]})
    with pytest.raises(DataError, match="1 row"):
        reliability(data, {"s": ["x", "y"]})


def test_invalid_confidence_level_raises(bfi):
    with pytest.raises(LioInputError, match="confidence_level"):
        reliability(bfi, {"A": BIG_FIVE["A"]}, confidence_level=95)


def test_empty_scales_raise(bfi):
    with pytest.raises(DataError, match="non-empty mapping"):
        reliability(bfi, {})


# ---------------------------------------------------------------------------
# Invariants and the result object
# ---------------------------------------------------------------------------


def test_row_order_does_not_change_results(bfi):
    shuffled = bfi.sample(frac=1.0, random_state=20240).reset_index(drop=True)
    kwargs = {"reverse": REVERSE, "scale_min": 1, "scale_max": 6}
    original = reliability(bfi, BIG_FIVE, **kwargs)
    permuted = reliability(shuffled, BIG_FIVE, **kwargs)

    pd.testing.assert_frame_equal(
        original.alpha_details, permuted.alpha_details, rtol=1e-10
    )
    pd.testing.assert_frame_equal(original.table, permuted.table, rtol=OPTIMISER_RTOL)
    pd.testing.assert_frame_equal(original.items, permuted.items, rtol=OPTIMISER_RTOL)


def test_confidence_level_sets_feldt_interval(bfi, reference):
    result = reliability(
        bfi, {"A": BIG_FIVE["A"]}, reverse=["A1"], confidence_level=0.9
    )
    row = result.table.iloc[0]
    np.testing.assert_allclose(
        row["alpha_ci_lower"], reference["A"]["feldt_ci_90_lower"], rtol=1e-6
    )
    np.testing.assert_allclose(
        row["alpha_ci_upper"], reference["A"]["feldt_ci_90_upper"], rtol=1e-6
    )
    assert result.confidence_level == 0.9


def test_result_is_frozen(bfi_result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        bfi_result.ci_method = "duhachek"


def test_summary_names_scales_and_interval(bfi_result):
    text = bfi_result.summary()
    first_words = {line.split()[0] for line in text.splitlines() if line.strip()}
    for scale in ["A", "C", "E", "N", "O", "A_three", "N_two"]:
        assert scale in first_words
    assert "Feldt" in text
    assert "95%" in text
    assert "A1" in text
