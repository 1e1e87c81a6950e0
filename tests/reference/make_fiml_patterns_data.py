"""Write tests/reference/sim_fiml_patterns.csv, the input of fiml_patterns_references.R.

1,000 simulated cases of 12 skewed items (three factors of four items) in two
sites, with values missing completely at random at rates of 5% to 25% per
item, and y10 to y12 also missing at random: more often when y1 is high.
The result has a few hundred distinct missing-data patterns, so the FIML
code paths that batch patterns are compared with lavaan on more than a
handful of them. Values are rounded to 4 decimals, which R and Python parse
to the same doubles.

Run from the repository root: python tests/reference/make_fiml_patterns_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

NOBS = 1000
SEED = 20240611
ITEMS = [f"y{j}" for j in range(1, 13)]


def simulate() -> pd.DataFrame:
    """Draw the cases, then remove values; see the module docstring."""
    rng = np.random.default_rng(SEED)
    loadings = np.zeros((12, 3))
    for factor in range(3):
        loadings[4 * factor:4 * factor + 4, factor] = rng.uniform(0.55, 0.85, 4)
    # Misfit for the three-factor model the R script fits: y5 also loads on
    # the first factor, and y11 and y12 share a residual term.
    loadings[4, 0] = 0.4
    factor_cov = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.5], [0.3, 0.5, 1.0]])
    scores = rng.multivariate_normal(np.zeros(3), factor_cov, NOBS)
    # Centred chi-square(3) errors, scaled to the residual variance: skewed
    # and heavy-tailed, so that MLR differs visibly from ML.
    residual_sd = np.sqrt(np.clip(1.0 - np.sum(loadings**2, axis=1), 0.2, None))
    errors = (rng.chisquare(3, (NOBS, 12)) - 3.0) / np.sqrt(6.0) * residual_sd
    shared = rng.standard_normal(NOBS)
    errors[:, 10:] += 0.5 * shared[:, None]
    values = 3.0 + scores @ loadings.T + errors

    rates = np.linspace(0.05, 0.25, 12)
    missing = rng.random((NOBS, 12)) < rates
    high = 1.0 / (1.0 + np.exp(-2.0 * (values[:, 0] - 3.5)))
    missing[:, 9:] |= rng.random((NOBS, 3)) < 0.3 * high[:, None]
    # Keep at least one observed item per case.
    missing[missing.all(axis=1), 0] = False
    values[missing] = np.nan

    frame = pd.DataFrame(np.round(values, 4), columns=ITEMS)
    frame["site"] = np.where(rng.random(NOBS) < 0.5, "north", "south")
    return frame


def main() -> None:
    path = Path(__file__).resolve().parent / "sim_fiml_patterns.csv"
    simulate().to_csv(path, index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
