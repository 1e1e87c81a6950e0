"""Time WLSMV estimation of ordinal items in lio_validate and lavaan.

The data are the 59 five-category items of the "full" organisation model
(19 factors, 36 structural paths), drawn by ``lio_validate.simulate`` with
seed 1. Both engines fit the model with every item declared ordered and
estimator WLSMV, in one run of this script, and the script prints the
timings, the speed ratio and the agreement of the two fits.

Usage::

    python benchmarks/bench_wlsmv.py [--nobs 10000] [--repeats 1]
                                     [--skip-lavaan] [--blas-threads N]

What each timed call contains:

* lio_validate: ``lio_validate.wls.fit_dwls(text, data, items)``: coding the
  items, thresholds, polychoric correlations, Gamma, the estimation, robust
  standard errors, the scaled-and-shifted test and the fit measures.
* lavaan: ``sem(model, data, ordered = items, estimator = "WLSMV")``,
  ``fitMeasures()`` and ``parameterEstimates()`` inside R's
  ``system.time()``, after R has read the CSV outside the timer.

Before the timed fits, each engine fits the model once to the first 2,000
rows, so that the code of both is loaded. Those fits are not timed. The
garbage collector runs before each timed fit in both languages.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lio_validate.simulate import organisation_model, simulate_responses
from lio_validate.wls import fit_dwls

SEED = 1
WARMUP_ROWS = 2_000
NON_ITEM_COLUMNS = ("id", "education", "sector")

# The project's speed target: lavaan's median time divided by lio_validate's
# at N = 10,000 must reach this ratio.
SPEED_TARGET = 10.0

# A guard against a stuck R process, far above the about 70 s that one
# lavaan fit at N = 10,000 took on a 2-core machine.
LAVAAN_TIMEOUT_SECONDS = 3_600

LAVAAN_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
data_path <- args[[1]]; model_path <- args[[2]]
repeats <- as.integer(args[[3]]); estimates_path <- args[[4]]
if (!requireNamespace("lavaan", quietly = TRUE)) {
  cat("LAVAAN_UNAVAILABLE the R package lavaan is not installed\n")
  quit(status = 3)
}
suppressPackageStartupMessages(library(lavaan))
cat("LAVAAN_VERSION", as.character(packageVersion("lavaan")), "\n")
cat("R_VERSION", paste(R.version$major, R.version$minor, sep = "."), "\n")

data <- read.csv(data_path)
model <- paste(readLines(model_path), collapse = "\n")
items <- setdiff(names(data), c("id", "education", "sector"))

fit_and_summarise <- function(frame) {
  fit <- sem(model, data = frame, ordered = items, estimator = "WLSMV")
  list(fit = fit, measures = fitMeasures(fit),
       estimates = parameterEstimates(fit))
}

invisible(fit_and_summarise(data[seq_len(min(nrow(data), WARMUP_ROWS)), ]))
for (run in seq_len(repeats)) {
  timing <- system.time(result <- fit_and_summarise(data))
  cat(sprintf("LAVAAN_TIME %d %.6f\n", run, timing[["elapsed"]]))
}
cat(sprintf("LAVAAN_CHISQ %.10f\n", result$measures[["chisq"]]))
cat(sprintf("LAVAAN_CHISQ_SCALED %.10f\n", result$measures[["chisq.scaled"]]))
cat("LAVAAN_CONVERGED", lavInspect(result$fit, "converged"), "\n")
write.csv(result$estimates[, c("lhs", "op", "rhs", "est", "se")], estimates_path,
          row.names = FALSE)
""".replace("WARMUP_ROWS", str(WARMUP_ROWS))


@dataclass
class EngineRun:
    """Timings and results of one engine, or the reason it did not run."""

    engine: str
    seconds: list[float] = field(default_factory=list)
    chisq: float = float("nan")
    chisq_scaled: float = float("nan")
    estimates: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(
        description="Time WLSMV fits of the organisation model's ordinal items in "
        "lio_validate and lavaan and print the speed ratio."
    )
    parser.add_argument("--nobs", type=int, default=10_000,
                        help="number of simulated respondents (rows); default 10000")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed fits per engine; the ratio uses the medians; "
                        "default 1")
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="do not run lavaan in R")
    parser.add_argument(
        "--blas-threads", type=int, default=None,
        help="limit numpy's and scipy's BLAS to this many threads while "
        "lio_validate is timed (needs threadpoolctl); default: the BLAS library's "
        "own setting",
    )
    arguments = parser.parse_args(argv)
    if arguments.nobs < WARMUP_ROWS:
        parser.error(f"--nobs must be at least {WARMUP_ROWS}, got {arguments.nobs}")
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}")
    if arguments.blas_threads is not None and arguments.blas_threads < 1:
        parser.error(f"--blas-threads must be at least 1, got {arguments.blas_threads}")
    return arguments


@contextlib.contextmanager
def blas_threads(count: int | None) -> Iterator[None]:
    """Limit the BLAS threads of numpy and scipy inside the block, if requested."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count, user_api="blas"):
        yield


def time_lio_validate(model_text: str, data: pd.DataFrame, items: list[str],
                      repeats: int, threads: int | None) -> EngineRun:
    """Time ``repeats`` fits of ``fit_dwls`` after an untimed small fit."""
    run = EngineRun("lio_validate")
    with blas_threads(threads):
        fit_dwls(model_text, data.iloc[:WARMUP_ROWS], items)
        for _ in range(repeats):
            gc.collect()
            start = time.perf_counter()
            fit = fit_dwls(model_text, data, items)
            run.seconds.append(time.perf_counter() - start)
    if not fit.converged:
        raise SystemExit(
            f"fit_dwls did not converge ({fit.optimizer_message}); the timing is not "
            "comparable"
        )
    run.chisq = float(fit.fit_measures["chisq"])
    run.chisq_scaled = float(fit.fit_measures["chisq_scaled"])
    run.estimates = fit.estimates[["lhs", "op", "rhs", "est", "se"]].copy()
    run.notes.append(f"converged in {fit.iterations} Gauss-Newton iterations, "
                     f"largest |gradient| {fit.max_abs_gradient:.1e}")
    return run


def time_lavaan(model_text: str, data: pd.DataFrame, repeats: int,
                directory: Path) -> EngineRun:
    """Time lavaan in a child Rscript process and parse its output lines."""
    run = EngineRun("lavaan")
    rscript = shutil.which("Rscript")
    if rscript is None:
        run.skipped = "Rscript is not on PATH"
        return run

    data_path = directory / "data.csv"
    model_path = directory / "model.lav"
    script_path = directory / "lavaan_wlsmv_timing.R"
    estimates_path = directory / "lavaan_estimates.csv"
    data.to_csv(data_path, index=False)
    model_path.write_text(model_text, encoding="utf-8")
    script_path.write_text(LAVAAN_SCRIPT, encoding="utf-8")

    command = [rscript, str(script_path), str(data_path), str(model_path),
               str(repeats), str(estimates_path)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True,
                                   check=False, timeout=LAVAAN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        run.skipped = f"lavaan timed out after {LAVAAN_TIMEOUT_SECONDS} s"
        return run

    fields = {}
    for line in completed.stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "LAVAAN_TIME":
            run.seconds.append(float(value.split()[1]))
        elif key:
            fields[key] = value.strip()
    if "LAVAAN_UNAVAILABLE" in fields:
        run.skipped = fields["LAVAAN_UNAVAILABLE"]
        return run
    if completed.returncode != 0 or len(run.seconds) != repeats:
        tail = completed.stderr.strip().splitlines()[-5:]
        run.skipped = (f"the lavaan script failed with exit status "
                       f"{completed.returncode}: " + " | ".join(tail))
        run.seconds.clear()
        return run

    run.chisq = float(fields["LAVAAN_CHISQ"])
    run.chisq_scaled = float(fields["LAVAAN_CHISQ_SCALED"])
    run.estimates = pd.read_csv(estimates_path, keep_default_na=False,
                                na_values=["NA"])
    run.notes.append(f"R {fields.get('R_VERSION', '?')}, lavaan "
                     f"{fields.get('LAVAAN_VERSION', '?')}, converged: "
                     f"{fields.get('LAVAAN_CONVERGED', '?')}")
    return run


def print_agreement(ours: EngineRun, lavaan: EngineRun) -> None:
    """Print the differences in chisq, chisq_scaled, estimates and SEs."""
    merged = lavaan.estimates.merge(ours.estimates, on=["lhs", "op", "rhs"],
                                    suffixes=("_lavaan", ""))
    estimate_gap = np.abs(merged["est"] - merged["est_lavaan"]).max()
    free = merged["se_lavaan"] > 0
    se_gap = (np.abs(merged.loc[free, "se"] - merged.loc[free, "se_lavaan"])
              / merged.loc[free, "se_lavaan"]).max()
    print("Agreement with lavaan:")
    print(f"  rows matched          {len(merged)} of {len(lavaan.estimates)}")
    print(f"  chisq                 {ours.chisq:.6f} vs {lavaan.chisq:.6f} "
          f"(relative difference {abs(ours.chisq / lavaan.chisq - 1):.1e})")
    scaled_gap = abs(ours.chisq_scaled / lavaan.chisq_scaled - 1)
    print(f"  chisq_scaled          {ours.chisq_scaled:.6f} vs "
          f"{lavaan.chisq_scaled:.6f} (relative difference {scaled_gap:.1e})")
    print(f"  largest |est| gap     {estimate_gap:.2e}")
    print(f"  largest relative SE gap {se_gap:.2e}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results."""
    arguments = parse_arguments(argv)
    population = organisation_model("full")
    data = simulate_responses(population, arguments.nobs, seed=SEED)
    items = [name for name in data.columns if name not in NON_ITEM_COLUMNS]
    model_text = population.to_lavaan()

    print(f"WLSMV benchmark: {arguments.nobs} rows, {len(items)} ordinal items, "
          f"{arguments.repeats} timed fit(s) per engine")
    print(f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPU(s), {platform.machine()}")
    if arguments.blas_threads is not None:
        print(f"BLAS threads for lio_validate: {arguments.blas_threads}")

    ours = time_lio_validate(model_text, data, items, arguments.repeats,
                             arguments.blas_threads)
    lavaan = EngineRun("lavaan", skipped="--skip-lavaan was given")
    if not arguments.skip_lavaan:
        with tempfile.TemporaryDirectory() as directory:
            lavaan = time_lavaan(model_text, data, arguments.repeats, Path(directory))

    print()
    print(f"{'engine':14s}{'median s':>10s}{'all runs (s)':>30s}")
    for run in (ours, lavaan):
        if run.skipped:
            print(f"{run.engine:14s}  skipped: {run.skipped}")
            continue
        runs = ", ".join(f"{value:.2f}" for value in run.seconds)
        print(f"{run.engine:14s}{run.median:10.2f}{runs:>30s}")
        for note in run.notes:
            print(f"{'':14s}  {note}")

    if lavaan.skipped:
        return 0
    ratio = lavaan.median / ours.median
    verdict = "meets" if ratio >= SPEED_TARGET else "misses"
    print()
    print(f"lavaan / lio_validate: {ratio:.1f}x ({verdict} the target of "
          f"{SPEED_TARGET:.0f}x)")
    print_agreement(ours, lavaan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
