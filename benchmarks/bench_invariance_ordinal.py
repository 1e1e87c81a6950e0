"""Time the ordinal invariance ladder (thresholds first) in lio_validate and lavaan.

The data are the 59 five-category items of the "full" organisation model,
drawn by ``lio_validate.simulate.simulate_responses`` with seed 1, and the
groups are its three education levels (low, middle, high). The model is the
measurement part of that model (19 correlated factors, the ``=~`` lines),
because ``semTools::measEq.syntax`` accepts CFA models only. Both engines
fit the four levels configural, thresholds, metric and scalar by WLSMV in
the delta parameterization, each identified as Wu and Estabrook (2016)
prescribe, and compare consecutive levels by the scaled-and-shifted
difference test of Satorra (2000). The script prints the median and best
wall-clock times, the ratio lavaan / lio_validate, and each level's chisq
and chisq.scaled and each difference test of both engines side by side.

Usage::

    python benchmarks/bench_invariance_ordinal.py [--nobs 10000] [--repeats 3]
        [--lavaan-repeats 1] [--skip-lavaan] [--blas-threads N]

What each timed call contains:

* lio_validate: ``lio_validate.invariance.invariance(model, data,
  "education", ordered=True)``: the group checks, four WLSMV fits (coding
  the items, thresholds, polychoric correlations, Gamma, estimation, robust
  standard errors, the scaled-and-shifted test, fit measures), the three
  difference tests and the decisions. One ladder on all rows runs first as
  a warm-up, then ``--repeats`` timed ladders.
* lavaan: for each level ``semTools::measEq.syntax(model, data, ordered,
  parameterization = "delta", ID.fac = "std.lv", ID.cat =
  "Wu.Estabrook.2016", group = "education", group.equal = ...)``, then
  ``cfa(syntax, data, ordered, group = "education", estimator = "WLSMV",
  parameterization = "delta")`` and ``fitMeasures()``. Then ``lavTestLRT()``
  on the four fits, whose default method for WLSMV is "satorra.2000". All of
  this runs inside R's ``system.time()``. R start-up and reading the CSV are
  not timed. One untimed ladder of the first two factors on the first 2,000
  rows runs first, so that the code of lavaan and semTools is loaded, then
  ``--lavaan-repeats`` timed ladders of the whole model on all rows. Each
  step is also timed on its own. R prints these times while it runs, and
  the report gives their sums and the ratios without fitMeasures, and with
  cfa and lavTestLRT only.

Both sides run the garbage collector before each timed ladder. By default
numpy's BLAS runs on one thread while lio_validate is timed, like lavaan on
R's single-threaded reference BLAS (``--blas-threads 0`` keeps the BLAS
library's own setting).

References
----------
Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample
analysis of moment structures. In R. D. H. Heijmans, D. S. G. Pollock, & A.
Satorra (Eds.), Innovations in Multivariate Statistical Analysis (pp.
233-247). Kluwer.
Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor
analysis models of different levels of invariance for ordered categorical
outcomes. Psychometrika, 81(4), 1014-1045.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import lio_validate
from lio_validate.exceptions import LioWarning
from lio_validate.invariance import ORDINAL_LEVELS, InvarianceResult, invariance
from lio_validate.reproduce_analyses import measurement_model
from lio_validate.simulate import organisation_model, simulate_responses

SEED = 1
GROUP = "education"
N_CATEGORIES = 5
LEVELS = tuple(ORDINAL_LEVELS)
WARMUP_ROWS = 2_000

# The project's speed target: lavaan's median time over lio_validate's.
SPEED_TARGET = 10.0

# Agreement expected from the tolerances of the test suite: 1e-4 relative for
# the standard chisq (a fit measure) and 1e-3 relative for scaled statistics.
STANDARD_RELATIVE_TOLERANCE = 1e-4
SCALED_RELATIVE_TOLERANCE = 1e-3

# A guard against a stuck R process. In a trial run on the shared 2-core
# machine of the first runs, lavaan needed more than 30 min for the ladder at
# N = 2,000, most of it in steps whose cost does not grow with N.
LAVAAN_TIMEOUT_SECONDS = 12 * 3_600

# The steps of lavaan's ladder, timed one by one inside the timed ladder.
LAVAAN_STEPS = ("measEq.syntax", "cfa", "fitMeasures", "lavTestLRT")

# Seconds between two looks at the R process's output, whose progress lines
# are echoed while it runs.
PROGRESS_POLL_SECONDS = 10

# Times the ladder in lavaan. Arguments: DATA_CSV MODEL_FILE WARMUP_MODEL_FILE
# REPEATS WARMUP_ROWS. time_lavaan() parses the output lines "KEY value ...",
# and run_rscript() echoes the LAVAAN_PROGRESS lines while R runs. Exit status
# 3 means that lavaan or semTools is not installed.
R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
data_path <- args[[1]]
model_path <- args[[2]]
warmup_model_path <- args[[3]]
repeats <- as.integer(args[[4]])
warmup_rows <- as.integer(args[[5]])
for (package in c("lavaan", "semTools")) {
  if (!requireNamespace(package, quietly = TRUE)) {
    cat("LAVAAN_UNAVAILABLE the R package", package, "is not installed\n")
    quit(status = 3)
  }
}
suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
})
say <- function(...) {
  cat(..., "\n", sep = "")
  flush(stdout())
}
say("R_VERSION ", paste(R.version$major, R.version$minor, sep = "."))
say("LAVAAN_VERSION ", as.character(packageVersion("lavaan")))
say("SEMTOOLS_VERSION ", as.character(packageVersion("semTools")))
say("R_BLAS ", sessionInfo()$BLAS)

data <- read.csv(data_path, stringsAsFactors = FALSE)
model <- paste(readLines(model_path), collapse = "\n")
warmup_model <- paste(readLines(warmup_model_path), collapse = "\n")
steps <- list(
  configural = "",
  thresholds = "thresholds",
  metric = c("thresholds", "loadings"),
  scalar = c("thresholds", "loadings", "intercepts")
)

seconds_since <- function(start) (proc.time() - start)[["elapsed"]]

# Writes the level's syntax with semTools, fits it and computes its fit
# measures, timing each of the three steps.
fit_level <- function(text, frame, constraints, label) {
  items <- lavNames(lavaanify(text), "ov")
  start <- proc.time()
  syntax <- as.character(measEq.syntax(
    text, data = frame, ordered = items, parameterization = "delta",
    ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", group = "education",
    group.equal = constraints
  ))
  syntax_seconds <- seconds_since(start)
  start <- proc.time()
  fit <- cfa(syntax, data = frame, ordered = items, group = "education",
             estimator = "WLSMV", parameterization = "delta")
  fit_seconds <- seconds_since(start)
  start <- proc.time()
  measures <- fitMeasures(fit)
  seconds <- c(syntax_seconds, fit_seconds, seconds_since(start))
  say(sprintf(
    "LAVAAN_PROGRESS %s: measEq.syntax %.1f s, cfa %.1f s, fitMeasures %.1f s",
    label, seconds[1], seconds[2], seconds[3]
  ))
  list(fit = fit, measures = measures, seconds = seconds)
}

ladder <- function(text, frame, label) {
  levels <- lapply(names(steps), function(level)
    fit_level(text, frame, steps[[level]], paste(label, level)))
  names(levels) <- names(steps)
  start <- proc.time()
  lrt <- do.call(lavTestLRT, unname(lapply(levels, function(level) level$fit)))
  lrt_seconds <- seconds_since(start)
  say(sprintf("LAVAAN_PROGRESS %s: lavTestLRT %.1f s", label, lrt_seconds))
  list(levels = levels, lrt = lrt, lrt_seconds = lrt_seconds)
}

warmup_rows <- seq_len(min(nrow(data), warmup_rows))
timing <- system.time(ladder(warmup_model, data[warmup_rows, ], "warm-up"))
say(sprintf("LAVAAN_WARMUP %.6f", timing[["elapsed"]]))
for (run in seq_len(repeats)) {
  timing <- system.time(result <- ladder(model, data, paste("run", run)))
  say(sprintf("LAVAAN_TIME %d %.6f %.6f", run, timing[["elapsed"]],
              timing[["user.self"]]))
}

for (level in names(result$levels)) {
  entry <- result$levels[[level]]
  say(sprintf("LAVAAN_LEVEL %s %.17g %.17g %.17g %s", level,
              entry$measures[["chisq"]], entry$measures[["df"]],
              entry$measures[["chisq.scaled"]],
              lavInspect(entry$fit, "converged")))
  say(sprintf("LAVAAN_STEP_SECONDS %s %.6f %.6f %.6f", level, entry$seconds[1],
              entry$seconds[2], entry$seconds[3]))
}
say(sprintf("LAVAAN_LRT_SECONDS %.6f", result$lrt_seconds))
lrt <- result$lrt
scale <- attr(lrt, "scale")
shift <- attr(lrt, "shift")
for (row in seq_len(nrow(lrt))[-1]) {
  say(sprintf("LAVAAN_LRT %s %.17g %.17g %.17g %.17g %.17g", names(steps)[row],
              lrt[row, "Chisq diff"], lrt[row, "Df diff"], lrt[row, "Pr(>Chisq)"],
              scale[row], shift[row]))
}
"""


@dataclass
class DifferenceTest:
    """One scaled-and-shifted difference test between consecutive levels."""

    statistic: float
    df: float
    pvalue: float
    scale: float
    shift: float


@dataclass
class EngineRun:
    """Timings and results of one engine, or the reason it did not run."""

    engine: str
    seconds: list[float] = field(default_factory=list)
    warmup_seconds: float = float("nan")
    chisq: dict[str, float] = field(default_factory=dict)
    chisq_scaled: dict[str, float] = field(default_factory=dict)
    df: dict[str, float] = field(default_factory=dict)
    tests: dict[str, DifferenceTest] = field(default_factory=dict)
    # Seconds of the last timed ladder per step, summed over the levels
    # (lavaan only): measEq.syntax, cfa, fitMeasures and lavTestLRT.
    step_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(
        description="Time the threshold-first invariance ladder of the organisation "
        "model's ordinal items in lio_validate and lavaan and print the speed ratio "
        "and the agreement."
    )
    parser.add_argument("--nobs", type=int, default=10_000,
                        help="number of simulated respondents (rows); default 10000")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed lio_validate ladders after one warm-up ladder; "
                        "default 3")
    parser.add_argument("--lavaan-repeats", type=int, default=1,
                        help="timed lavaan ladders; default 1, because one ladder "
                        "takes minutes")
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="do not run lavaan in R")
    parser.add_argument(
        "--blas-threads", type=int, default=1,
        help="limit numpy's and scipy's BLAS to this many threads while "
        "lio_validate is timed (needs threadpoolctl); 0 keeps the BLAS "
        "library's own setting; default 1, like lavaan on R's reference BLAS",
    )

    arguments = parser.parse_args(argv)
    if arguments.nobs < WARMUP_ROWS:
        parser.error(f"--nobs must be at least {WARMUP_ROWS}, got {arguments.nobs}")
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}")
    if arguments.lavaan_repeats < 1:
        parser.error(
            f"--lavaan-repeats must be at least 1, got {arguments.lavaan_repeats}")
    if arguments.blas_threads < 0:
        parser.error(f"--blas-threads must be 0 or more, got {arguments.blas_threads}")
    return arguments


@contextlib.contextmanager
def blas_threads(limit: int) -> Iterator[None]:
    """Limit the BLAS thread pools while the block runs; 0 means no limit."""
    if limit == 0:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--blas-threads needs the threadpoolctl package; install "
                         "it or pass --blas-threads 0") from None
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def simulate_data(nobs: int) -> tuple[str, pd.DataFrame]:
    """Draw the items and groups and return the CFA syntax and the data.

    Raises
    ------
    SystemExit
        If a category of an item is empty in a group, because neither engine
        can then estimate that group's thresholds.
    """
    population = organisation_model("full")
    data = simulate_responses(population, nobs, seed=SEED, n_categories=N_CATEGORIES)
    items = list(population.item_names)
    data = data.loc[:, [GROUP, *items]]
    categories = range(1, N_CATEGORIES + 1)
    for label, rows in data.groupby(GROUP, observed=True, sort=False):
        for item in items:
            counts = rows[item].value_counts()
            empty = [code for code in categories if counts.get(code, 0) == 0]
            if empty:
                raise SystemExit(
                    f"category {empty[0]} of item {item} is empty in education group "
                    f"{label!r} ({len(rows)} rows); increase --nobs"
                )
    return measurement_model(population.to_lavaan()), data


def describe_data(data: pd.DataFrame) -> None:
    """Print the group sizes and the smallest category count in each group."""
    items = [name for name in data.columns if name != GROUP]
    parts = []
    for label, rows in data.groupby(GROUP, observed=True, sort=False):
        smallest = min(int(rows[item].value_counts().min()) for item in items)
        parts.append(f"{label} {len(rows)} (smallest category count {smallest})")
    print(f"groups in order of first appearance: {', '.join(parts)}")


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------


def run_ladder(model_text: str, data: pd.DataFrame) -> InvarianceResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        return invariance(model_text, data, GROUP, ordered=True)


def time_lio_validate(model_text: str, data: pd.DataFrame, repeats: int) -> EngineRun:
    """Time a warm-up ladder and ``repeats`` ladders of ``invariance``.

    Raises
    ------
    SystemExit
        If a level does not converge, because its timing would not be
        comparable with lavaan's.
    """
    run = EngineRun("lio_validate")
    start = time.perf_counter()
    run_ladder(model_text, data)
    run.warmup_seconds = time.perf_counter() - start

    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = run_ladder(model_text, data)
        run.seconds.append(time.perf_counter() - start)

    for level, fit in result.fits.items():
        if not fit.converged:
            raise SystemExit(f"lio_validate: the {level} model did not converge; "
                             "the timing is not comparable")
        run.chisq[level] = float(fit.fit_measures["chisq"])
        run.chisq_scaled[level] = float(fit.fit_measures["chisq_scaled"])
        run.df[level] = float(fit.fit_measures["df"])
    table = result.table.set_index("level")
    for level in LEVELS[1:]:
        row = table.loc[level]
        run.tests[level] = DifferenceTest(
            statistic=float(row["delta_chisq"]), df=float(row["delta_df"]),
            pvalue=float(row["delta_pvalue"]),
            # lio_validate stores the statistic's multiplier, lavaan its inverse.
            scale=1.0 / float(row["delta_scaling_factor"]),
            shift=float(row["delta_shift"]),
        )
    return run


def warmup_model(model_text: str) -> str:
    """Return the first two ``=~`` lines: a small ladder that loads lavaan's code."""
    lines = [line for line in model_text.splitlines() if "=~" in line]
    return "\n".join(lines[:2]) + "\n"


def run_rscript(command: list[str], stdout_path: Path,
                stderr_path: Path) -> int | None:
    """Run R, echo its progress lines while it runs, and return its exit status.

    Returns None when the process ran past ``LAVAAN_TIMEOUT_SECONDS`` and was
    killed.
    """
    echoed = 0
    deadline = time.monotonic() + LAVAAN_TIMEOUT_SECONDS
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        while True:
            try:
                status = process.wait(timeout=PROGRESS_POLL_SECONDS)
            except subprocess.TimeoutExpired:
                status = None
            lines = stdout_path.read_text(encoding="utf-8").splitlines()
            # The last line may still be incomplete while R runs.
            complete = lines if status is not None else lines[:-1]
            for line in complete[echoed:]:
                if line.startswith("LAVAAN_PROGRESS "):
                    print(f"lavaan progress: {line.split(' ', 1)[1]}", flush=True)
            echoed = max(echoed, len(complete))
            if status is not None:
                return status
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                return None


def time_lavaan(model_text: str, data: pd.DataFrame, repeats: int,
                workdir: Path) -> EngineRun:
    """Run the embedded R script on the same data and parse its output."""
    run = EngineRun("lavaan")
    rscript = shutil.which("Rscript")
    if rscript is None:
        run.skipped = "Rscript is not on PATH"
        return run

    data_path = workdir / "data.csv"
    model_path = workdir / "model.lav"
    warmup_model_path = workdir / "warmup_model.lav"
    script_path = workdir / "ordinal_ladder_timing.R"
    stdout_path = workdir / "stdout.txt"
    stderr_path = workdir / "stderr.txt"
    data.to_csv(data_path, index=False)
    model_path.write_text(model_text, encoding="utf-8")
    warmup_model_path.write_text(warmup_model(model_text), encoding="utf-8")
    script_path.write_text(R_SCRIPT, encoding="utf-8")
    command = [rscript, str(script_path), str(data_path), str(model_path),
               str(warmup_model_path), str(repeats), str(WARMUP_ROWS)]
    status = run_rscript(command, stdout_path, stderr_path)
    if status is None:
        run.skipped = f"lavaan timed out after {LAVAAN_TIMEOUT_SECONDS} s"
        return run

    steps = dict.fromkeys(LAVAAN_STEPS, 0.0)
    for line in stdout_path.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.strip().partition(" ")
        values = rest.split()
        if key == "LAVAAN_UNAVAILABLE":
            run.skipped = rest
        elif key == "LAVAAN_WARMUP":
            run.warmup_seconds = float(values[0])
        elif key == "LAVAAN_TIME":
            run.seconds.append(float(values[1]))
        elif key == "LAVAAN_LEVEL":
            level = values[0]
            run.chisq[level] = float(values[1])
            run.df[level] = float(values[2])
            run.chisq_scaled[level] = float(values[3])
            if values[4] != "TRUE":
                run.notes.append(f"lavaan: the {level} model did not converge")
        elif key == "LAVAAN_STEP_SECONDS":
            for step, seconds in zip(LAVAAN_STEPS[:3], values[1:4], strict=True):
                steps[step] += float(seconds)
        elif key == "LAVAAN_LRT_SECONDS":
            steps["lavTestLRT"] = float(values[0])
        elif key == "LAVAAN_LRT":
            run.tests[values[0]] = DifferenceTest(*(float(v) for v in values[1:6]))
        elif key in ("R_VERSION", "LAVAAN_VERSION", "SEMTOOLS_VERSION", "R_BLAS"):
            run.notes.append(f"{key.lower()}: {rest.strip()}")
    if run.skipped is None and (status != 0 or len(run.seconds) != repeats):
        tail = stderr_path.read_text(encoding="utf-8").strip().splitlines()[-5:]
        run.skipped = (f"the lavaan script failed with exit status {status}: "
                       + " | ".join(tail))
        run.seconds.clear()
    run.step_seconds = steps
    return run


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def print_environment(arguments: argparse.Namespace) -> None:
    print(f"lio_validate {lio_validate.__version__}, Python "
          f"{platform.python_version()}, numpy {np.__version__}, pandas "
          f"{pd.__version__}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"{platform.platform()}")
    print_load("at start")
    threads = "BLAS default" if arguments.blas_threads == 0 \
        else f"{arguments.blas_threads}"
    print(f"N = {arguments.nobs}, {N_CATEGORIES} categories per item, "
          f"{arguments.repeats} timed lio_validate ladders, "
          f"{arguments.lavaan_repeats} timed lavaan ladder(s), BLAS threads for "
          f"lio_validate: {threads}")


def print_load(moment: str) -> None:
    if hasattr(os, "getloadavg"):
        print(f"load average {moment} (1, 5, 15 min): "
              + ", ".join(f"{value:.2f}" for value in os.getloadavg()))


def print_timings(runs: list[EngineRun]) -> None:
    base = runs[0]
    print()
    print(f"{'engine':<14s}{'median s':>10s}{'best s':>10s}{'ratio':>8s}"
          f"{'warm-up s':>11s}  runs in order, s")
    for run in runs:
        if run.skipped:
            print(f"{run.engine:<14s} skipped: {run.skipped}")
            continue
        ratio = run.median / base.median
        runs_text = ", ".join(f"{value:.2f}" for value in run.seconds)
        print(f"{run.engine:<14s}{run.median:>10.2f}{run.best:>10.2f}{ratio:>8.1f}"
              f"{run.warmup_seconds:>11.2f}  {runs_text}")
    print(f"lavaan's warm-up ladder fits the first two factors to the first "
          f"{WARMUP_ROWS} rows; lio_validate's fits the whole model to all rows")
    for run in runs:
        for note in run.notes:
            print(f"note: {note}")


def relative_difference(ours: float, theirs: float) -> float:
    if ours == theirs:
        return 0.0
    return abs(ours - theirs) / abs(theirs) if theirs != 0 else math.inf


def print_agreement(ours: EngineRun, lavaan: EngineRun) -> bool:
    """Print both engines' statistics side by side; return whether they agree."""
    rows = []
    for level in LEVELS:
        rows.append((level, "df", ours.df[level], lavaan.df.get(level, math.nan),
                     0.0))
        rows.append((level, "chisq", ours.chisq[level],
                     lavaan.chisq.get(level, math.nan), STANDARD_RELATIVE_TOLERANCE))
        rows.append((level, "chisq.scaled", ours.chisq_scaled[level],
                     lavaan.chisq_scaled.get(level, math.nan),
                     SCALED_RELATIVE_TOLERANCE))
    nan_test = DifferenceTest(*([math.nan] * 5))
    for level in LEVELS[1:]:
        mine, theirs = ours.tests[level], lavaan.tests.get(level, nan_test)
        label = f"-> {level}"
        rows.append((label, "delta df", mine.df, theirs.df, 0.0))
        rows.append((label, "delta chisq", mine.statistic, theirs.statistic,
                     SCALED_RELATIVE_TOLERANCE))
        rows.append((label, "p", mine.pvalue, theirs.pvalue, SCALED_RELATIVE_TOLERANCE))
        rows.append((label, "scale", mine.scale, theirs.scale,
                     SCALED_RELATIVE_TOLERANCE))
        rows.append((label, "shift", mine.shift, theirs.shift,
                     SCALED_RELATIVE_TOLERANCE))

    print()
    print(f"{'level / test':<14s}{'quantity':<14s}{'lio_validate':>20s}"
          f"{'lavaan':>20s}{'rel. diff':>12s}")
    largest = (0.0, "")
    agree = True
    for label, quantity, mine, theirs, tolerance in rows:
        difference = relative_difference(mine, theirs)
        # NaN compares False, so a missing lavaan value counts as disagreement.
        agree &= difference <= tolerance
        if not difference <= largest[0]:
            largest = (difference, f"{quantity} of {label}")
        print(f"{label:<14s}{quantity:<14s}{mine:>20.8g}{theirs:>20.8g}"
              f"{difference:>12.2e}")
    print()
    print(f"largest relative difference: {largest[0]:.2e} ({largest[1]})")
    return agree


def print_lavaan_steps(lavaan: EngineRun, lio_median: float) -> None:
    """Print where lavaan's last timed ladder spent its time, and partial ratios.

    measEq.syntax builds a lavaan model, sample statistics included, before
    it writes the syntax, and fitMeasures fits the baseline model. So ratios
    without these steps are printed as well.
    """
    steps = lavaan.step_seconds
    print("lavaan's last timed ladder, summed over the four levels: "
          + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items()))
    without_measures = steps["measEq.syntax"] + steps["cfa"] + steps["lavTestLRT"]
    fits_and_tests = steps["cfa"] + steps["lavTestLRT"]
    print(f"lavaan / lio_validate without fitMeasures = "
          f"{without_measures / lio_median:.1f}, with cfa and lavTestLRT only = "
          f"{fits_and_tests / lio_median:.1f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results."""
    arguments = parse_arguments(argv)
    print_environment(arguments)
    model_text, data = simulate_data(arguments.nobs)
    describe_data(data)

    with blas_threads(arguments.blas_threads):
        runs = [time_lio_validate(model_text, data, arguments.repeats)]
    if arguments.skip_lavaan:
        runs.append(EngineRun("lavaan", skipped="--skip-lavaan was given"))
    else:
        with tempfile.TemporaryDirectory(prefix="bench_invariance_ordinal_") as workdir:
            runs.append(time_lavaan(model_text, data, arguments.lavaan_repeats,
                                    Path(workdir)))
    print_timings(runs)
    print_load("at end")

    ours, lavaan = runs
    if lavaan.skipped:
        return 0
    agree = print_agreement(ours, lavaan)
    ratio = lavaan.median / ours.median
    verdict = "met" if ratio >= SPEED_TARGET else "NOT met"
    print(f"lavaan / lio_validate = {ratio:.1f} (target {SPEED_TARGET:g}): {verdict}")
    print_lavaan_steps(lavaan, ours.median)
    print(f"agreement within the test tolerances ({STANDARD_RELATIVE_TOLERANCE:g} "
          f"relative for chisq, {SCALED_RELATIVE_TOLERANCE:g} for the scaled "
          f"statistics and p, equal df): {'yes' if agree else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
