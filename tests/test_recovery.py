"""The ML fit recovers the simulator's population values at large N."""

from __future__ import annotations

import numpy as np
import pytest

import lio_validate as lv
from lio_validate.simulate import organisation_model, simulate_responses


@pytest.fixture(scope="module")
def recovered():
    model = organisation_model("example")
    # Continuous responses: the population values are defined on that scale
    # (Likert codes attenuate correlations, which ML on codes does not undo).
    data = simulate_responses(model, 200_000, seed=11, likert=False)
    fit = lv.sem(model.to_lavaan(), data)
    truth = model.truth()
    merged = truth.merge(fit.estimates, on=["lhs", "op", "rhs"],
                         suffixes=("_true", ""))
    return fit, merged


def test_fit_is_exact_in_population(recovered):
    fit, _ = recovered
    assert fit.converged
    assert fit.fit_measures["rmsea"] < 0.005
    assert fit.fit_measures["cfi"] > 0.999


@pytest.mark.parametrize("op", ["=~", "~"])
def test_standardized_values_recovered(recovered, op):
    # Each standardized value lies within 4 delta-method SEs of the truth;
    # at N = 200,000 an SE is about 0.003.
    fit, merged = recovered
    merged = merged.merge(fit.standardized[["lhs", "op", "rhs", "se_std_all"]],
                          on=["lhs", "op", "rhs"])
    rows = merged[merged["op"] == op]
    assert len(rows) > 10
    z = np.abs(rows["std_all"] - rows["std_all_true"]) / rows["se_std_all"]
    worst = rows.assign(z=z).sort_values("z").iloc[-1]
    assert z.max() < 4, worst.to_string()


def test_bias_of_loadings_below_one_percent(recovered):
    _, merged = recovered
    rows = merged[merged["op"] == "=~"]
    bias = np.mean(rows["std_all"] - rows["std_all_true"])
    assert abs(bias) < 0.01 * np.mean(rows["std_all_true"])
