"""Time an MLR fit with FIML (many missing-data patterns) in lio_validate and lavaan.

The data are simulated here: a CFA of ``--items`` skewed items on
``--factors`` correlated factors (loadings 0.5 to 0.85, factor correlations
0.3), with a fraction ``--missing-rate`` of the item values set to NaN
completely at random. At N = 10,000, 30 items and 5% missing, the data have
about 2,200 distinct missing-data patterns.

One run times ``--repeats`` lio_validate fits of
``lio_validate.cfa(model, data, estimator="MLR", missing="fiml")`` (the whole
call: patterns, EM, estimation, sandwich SEs, the scaled test and the fit
measures, robust ones included). When ``Rscript`` is on PATH, it then times
one lavaan fit through ``lavaan_robust_timing.R``: ``sem(model, data,
estimator = "MLR", missing = "ml")``, ``fitMeasures()`` and
``parameterEstimates()`` inside ``system.time()``. For a CFA model lavaan's
``sem()`` and ``cfa()`` apply the same defaults. The script prints both
times, their ratio, and the largest differences of the estimates, the SEs
and the scaled chi-square.

Usage::

    python benchmarks/bench_fiml.py [--nobs 10000] [--items 30] [--factors 3]
                                    [--missing-rate 0.05] [--repeats 1]
                                    [--skip-lavaan] [--lavaan-timeout 3600]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lio_validate

SEED = 1
R_SCRIPT = Path(__file__).resolve().parent / "lavaan_robust_timing.R"

# Fit measures printed by lavaan_robust_timing.R, as lio_validate names them.
COMPARED_MEASURES = ("chisq", "df", "chisq_scaled", "chisq_scaling_factor",
                     "cfi_robust", "rmsea_robust", "srmr")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(
        description="Time MLR fits with FIML in lio_validate and lavaan on simulated "
        "data with many missing-data patterns.")
    parser.add_argument("--nobs", type=int, default=10_000,
                        help="number of simulated cases; default 10000")
    parser.add_argument("--items", type=int, default=30,
                        help="number of items, a multiple of --factors; default 30")
    parser.add_argument("--factors", type=int, default=3,
                        help="number of factors; default 3")
    parser.add_argument("--missing-rate", type=float, default=0.05,
                        help="fraction of item values set to NaN completely at "
                        "random, in [0, 1); default 0.05")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed lio_validate fits; default 1")
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="do not run lavaan in R")
    parser.add_argument("--lavaan-timeout", type=float, default=3600.0,
                        help="seconds after which the R process is stopped; "
                        "default 3600")
    arguments = parser.parse_args(argv)
    if arguments.nobs < 10:
        parser.error(f"--nobs must be at least 10, got {arguments.nobs}")
    if arguments.factors < 1 or arguments.items % arguments.factors:
        parser.error(f"--items ({arguments.items}) must be a positive multiple of "
                     f"--factors ({arguments.factors})")
    if arguments.items // arguments.factors < 3:
        parser.error("each factor needs at least 3 items")
    if not 0.0 <= arguments.missing_rate < 1.0:
        parser.error(f"--missing-rate must be in [0, 1), got {arguments.missing_rate}")
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}")
    if arguments.lavaan_timeout <= 0:
        parser.error(f"--lavaan-timeout must be positive, got {arguments.lavaan_timeout}")
    return arguments


def simulate(nobs: int, items: int, factors: int, rate: float) -> tuple[str, pd.DataFrame]:
    """Return the model syntax and the data with values missing completely at random."""
    rng = np.random.default_rng(SEED)
    per_factor = items // factors
    loadings = np.zeros((items, factors))
    for factor in range(factors):
        block = slice(factor * per_factor, (factor + 1) * per_factor)
        loadings[block, factor] = rng.uniform(0.5, 0.85, per_factor)
    factor_cov = np.full((factors, factors), 0.3)
    np.fill_diagonal(factor_cov, 1.0)
    scores = rng.multivariate_normal(np.zeros(factors), factor_cov, nobs)
    # Centred chi-square(4) errors: skewed, so that MLR differs from ML.
    residual_sd = np.sqrt(1.0 - np.sum(loadings**2, axis=1))
    errors = (rng.chisquare(4, (nobs, items)) - 4.0) / np.sqrt(8.0) * residual_sd
    values = 3.0 + scores @ loadings.T + errors
    values[rng.random(values.shape) < rate] = np.nan

    names = [f"y{j + 1}" for j in range(items)]
    lines = [f"f{factor + 1} =~ " + " + ".join(names[factor * per_factor:
                                                       (factor + 1) * per_factor])
             for factor in range(factors)]
    return "\n".join(lines), pd.DataFrame(np.round(values, 6), columns=names)


def describe_missing(data: pd.DataFrame) -> str:
    """Summarise the missing values and the patterns they form."""
    missing = data.isna()
    patterns = len(missing.drop_duplicates())
    complete = int((~missing.any(axis=1)).sum())
    return (f"{missing.to_numpy().mean():.4f} of values missing, {complete} complete "
            f"rows, {patterns} distinct missing-data patterns")


def time_lio(model: str, data: pd.DataFrame, repeats: int):
    """Return the wall-clock seconds of each fit and the last fit."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lio_validate.LioWarning)
            fit = lio_validate.cfa(model, data, estimator="MLR", missing="fiml")
        seconds.append(time.perf_counter() - start)
    if not fit.converged:
        raise SystemExit(f"lio_validate did not converge after {fit.iterations} "
                         "iterations; the timing is not comparable")
    return seconds, fit


def time_lavaan(model: str, data: pd.DataFrame, timeout: float, directory: Path):
    """Run lavaan_robust_timing.R once; return (seconds, measures, estimates) or a reason."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript is not on PATH"
    data_path = directory / "data.csv"
    model_path = directory / "model.lav"
    estimates_path = directory / "lavaan_estimates.csv"
    data.to_csv(data_path, index=False)
    model_path.write_text(model, encoding="utf-8")
    command = [rscript, str(R_SCRIPT), str(data_path), str(model_path), "MLR", "ml",
               "1", str(estimates_path)]
    # Its own session, so that a timeout can stop R and whatever R started.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return f"lavaan did not finish within {timeout:g} s and was stopped"
    seconds, measures = None, {}
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "LAVAAN_TIME":
            seconds = float(value.split()[1])
        elif key == "LAVAAN_MEASURE":
            name, number = value.split()
            measures[name.replace(".", "_")] = float(number)
        elif key == "LAVAAN_UNAVAILABLE":
            return value
    if process.returncode != 0 or seconds is None:
        tail = " | ".join(stderr.strip().splitlines()[-5:])
        return f"lavaan_robust_timing.R failed with exit status {process.returncode}: {tail}"
    return seconds, measures, pd.read_csv(estimates_path)


def keyed(estimates: pd.DataFrame) -> pd.DataFrame:
    """Return lhs/op/rhs/est/se, with the two sides of ~~ in sorted order."""
    frame = estimates[["lhs", "op", "rhs", "est", "se"]].copy()
    # read_csv turns the empty rhs of intercept rows into NaN.
    frame["rhs"] = frame["rhs"].fillna("").astype(str)
    covariance = frame["op"] == "~~"
    pairs = np.sort(frame.loc[covariance, ["lhs", "rhs"]].to_numpy(dtype=str), axis=1)
    frame.loc[covariance, "lhs"] = pairs[:, 0]
    frame.loc[covariance, "rhs"] = pairs[:, 1]
    return frame


def print_agreement(fit, measures: dict[str, float], estimates: pd.DataFrame) -> None:
    """Print the fit measures side by side and the largest estimate and SE gaps."""
    print(f"{'measure':<24}{'lio_validate':>16}{'lavaan':>16}{'rel. diff':>12}")
    for name in COMPARED_MEASURES:
        ours, theirs = float(fit.fit_measures[name]), measures.get(name, np.nan)
        relative = abs(ours - theirs) / abs(theirs) if theirs else abs(ours - theirs)
        print(f"{name:<24}{ours:>16.6f}{theirs:>16.6f}{relative:>12.2e}")
    joined = keyed(fit.estimates).merge(keyed(estimates), on=["lhs", "op", "rhs"],
                                        suffixes=("", "_lavaan"))
    free = joined["se_lavaan"] > 0
    print(f"{len(joined)} of {len(estimates)} lavaan parameter rows matched")
    print(f"max |est difference|        {np.max(np.abs(joined.est - joined.est_lavaan)):.3g}")
    print(f"max |SE difference|         "
          f"{np.max(np.abs(joined.se[free] - joined.se_lavaan[free])):.3g}")
    print(f"max relative SE difference  "
          f"{np.max(np.abs(joined.se[free] / joined.se_lavaan[free] - 1)):.3g}")


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    model, data = simulate(arguments.nobs, arguments.items, arguments.factors,
                           arguments.missing_rate)
    print(f"N = {arguments.nobs}, {arguments.items} items, {arguments.factors} "
          f"factors: {describe_missing(data)}")

    seconds, fit = time_lio(model, data, arguments.repeats)
    print("lio_validate fits, wall s: " + ", ".join(f"{s:.2f}" for s in seconds))
    print(f"lio_validate converged in {fit.iterations} iterations; chisq_scaled "
          f"{fit.fit_measures['chisq_scaled']:.6f}, cfi_robust "
          f"{fit.fit_measures['cfi_robust']:.6f}")
    if arguments.skip_lavaan:
        return

    with tempfile.TemporaryDirectory(prefix="bench_fiml_") as directory:
        result = time_lavaan(model, data, arguments.lavaan_timeout, Path(directory))
    if isinstance(result, str):
        print(f"lavaan not timed: {result}")
        return
    lavaan_seconds, measures, estimates = result
    median = float(np.median(seconds))
    print(f"lavaan fit, wall s: {lavaan_seconds:.2f}")
    print(f"lavaan / lio_validate: {lavaan_seconds / median:.1f}")
    print_agreement(fit, measures, estimates)


if __name__ == "__main__":
    main()
