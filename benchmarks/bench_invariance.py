"""Time the configural-metric-scalar invariance ladder in lio_validate and lavaan.

The data are the 59-item, 19-factor organisation model ("full" preset) drawn
by ``lio_validate.simulate`` with seed 1, and the groups are its three
education levels (low, middle, high). Each engine fits the ladder once as a
warm-up and then ``--repeats`` times, all in one run of this script. The
script prints the median and best wall-clock times, the ratio lavaan /
lio_validate, and the agreement of each level's chisq.

Usage::

    python benchmarks/bench_invariance.py [--nobs 30000] [--repeats 3]
                                          [--skip-lavaan] [--blas-threads N]

By default numpy's BLAS runs on one thread while lio_validate is timed,
because R's reference BLAS, which lavaan uses here, has one thread too. On
the shared 2-core machine of the first runs, OpenBLAS on its default 2
threads made single ladders up to 4 times slower whenever other processes
were busy (``--blas-threads 0`` keeps the library's own setting).

What each timed call contains:

* lio_validate: ``lio_validate.invariance.invariance(model, data,
  "education", levels=("configural", "metric", "scalar"))``: the group
  checks, three fits (sample statistics, estimation, standard errors, fit
  measures), the difference tests and the decisions, and dMACS of every item.
* lavaan: three ``cfa(model, data, group = "education", group.equal = ...)``
  calls, ``lavTestLRT()`` on them and ``fitMeasures()`` of each, inside R's
  ``system.time()``. R start-up and reading the CSV are not timed.

Both sides run the garbage collector before each timed call.
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
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import lio_validate
from lio_validate.exceptions import LioWarning
from lio_validate.invariance import invariance
from lio_validate.simulate import organisation_model, simulate_responses

SEED = 1
LEVELS = ("configural", "metric", "scalar")
GROUP = "education"

# The project's target: lavaan's median time over lio_validate's.
SPEED_TARGET = 10.0

# Expected agreement of each level's chisq with lavaan's.
CHISQ_RELATIVE_TOLERANCE = 1e-6

# A guard against a stuck R process, far above the 47 to 61 s per ladder
# that lavaan took at N = 30,000 on the 2-core machine of the first runs.
LAVAAN_TIMEOUT_SECONDS = 3_600

# Times the ladder in lavaan: one warm-up, then REPEATS timed runs. Output
# lines "KEY value ..." are parsed below. Arguments: DATA_CSV MODEL_FILE
# REPEATS. Exit status 3 means lavaan is not installed.
R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
data_path <- args[[1]]
model_path <- args[[2]]
repeats <- as.integer(args[[3]])
if (!requireNamespace("lavaan", quietly = TRUE)) {
  cat("LAVAAN_UNAVAILABLE the R package lavaan is not installed\n")
  quit(status = 3)
}
suppressPackageStartupMessages(library(lavaan))
cat("R_VERSION", paste(R.version$major, R.version$minor, sep = "."), "\n")
cat("LAVAAN_VERSION", as.character(packageVersion("lavaan")), "\n")
cat("R_BLAS", sessionInfo()$BLAS, "\n")

data <- read.csv(data_path, stringsAsFactors = FALSE)
model <- paste(readLines(model_path), collapse = "\n")

ladder <- function() {
  configural <- cfa(model, data = data, group = "education")
  metric <- cfa(model, data = data, group = "education", group.equal = "loadings")
  scalar <- cfa(model, data = data, group = "education",
                group.equal = c("loadings", "intercepts"))
  fits <- list(configural = configural, metric = metric, scalar = scalar)
  list(fits = fits, lrt = lavTestLRT(configural, metric, scalar),
       measures = lapply(fits, fitMeasures))
}

timing <- system.time(ladder())
cat(sprintf("LAVAAN_WARMUP %.6f\n", timing[["elapsed"]]))
for (run in seq_len(repeats)) {
  timing <- system.time(result <- ladder())
  cat(sprintf("LAVAAN_TIME %d %.6f %.6f\n", run, timing[["elapsed"]],
              timing[["user.self"]]))
}
for (level in names(result$measures)) {
  cat(sprintf("LAVAAN_CHISQ %s %.10f\n", level, result$measures[[level]][["chisq"]]))
  cat("LAVAAN_CONVERGED", level, lavInspect(result$fits[[level]], "converged"), "\n")
}
"""


@dataclass
class EngineRun:
    """Timings and chisq per level of one engine, or why it did not run."""

    engine: str
    seconds: list[float] = field(default_factory=list)
    warmup_seconds: float = float("nan")
    chisq: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Time the configural-metric-scalar invariance ladder of the "
        "organisation model in lio_validate and lavaan and print the speed ratio."
    )
    parser.add_argument("--nobs", type=int, default=30_000,
                        help="number of simulated respondents (rows); default 30000")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed ladders per engine; default 3")
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="do not run lavaan in R")
    parser.add_argument(
        "--blas-threads", type=int, default=1,
        help="limit numpy's and scipy's BLAS to this many threads while "
        "lio_validate is timed (needs threadpoolctl); 0 keeps the BLAS "
        "library's own setting; default 1, like lavaan on R's reference BLAS",
    )
    arguments = parser.parse_args(argv)
    if arguments.nobs < 1:
        parser.error(f"--nobs must be at least 1, got {arguments.nobs}")
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}")
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
        raise SystemExit("--blas-threads needs the threadpoolctl package") from None
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------


def run_ladder(model_text: str, data: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LioWarning)
        return invariance(model_text, data, GROUP, levels=LEVELS)


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
    return run


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
    script_path = workdir / "ladder_timing.R"
    data.to_csv(data_path, index=False)
    model_path.write_text(model_text, encoding="utf-8")
    script_path.write_text(R_SCRIPT, encoding="utf-8")
    try:
        completed = subprocess.run(
            [rscript, str(script_path), str(data_path), str(model_path),
             str(repeats)],
            capture_output=True, text=True, timeout=LAVAAN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        run.skipped = f"lavaan timed out after {LAVAAN_TIMEOUT_SECONDS} s"
        return run

    for line in completed.stdout.splitlines():
        key, _, rest = line.partition(" ")
        values = rest.split()
        if key == "LAVAAN_UNAVAILABLE":
            run.skipped = rest
        elif key == "LAVAAN_WARMUP":
            run.warmup_seconds = float(values[0])
        elif key == "LAVAAN_TIME":
            run.seconds.append(float(values[1]))
        elif key == "LAVAAN_CHISQ":
            run.chisq[values[0]] = float(values[1])
        elif key == "LAVAAN_CONVERGED" and values[1] != "TRUE":
            run.notes.append(f"lavaan: the {values[0]} model did not converge")
        elif key in ("R_VERSION", "LAVAAN_VERSION", "R_BLAS"):
            run.notes.append(f"{key.lower()}: {rest.strip()}")
    if completed.returncode != 0 and run.skipped is None:
        tail = completed.stderr.strip().splitlines()[-3:]
        run.skipped = f"Rscript failed with status {completed.returncode}: " + \
            " | ".join(tail)
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
    if hasattr(os, "getloadavg"):
        print("load average at start (1, 5, 15 min): "
              + ", ".join(f"{value:.2f}" for value in os.getloadavg()))
    threads = "BLAS default" if arguments.blas_threads == 0 \
        else f"{arguments.blas_threads}"
    print(f"N = {arguments.nobs}, {arguments.repeats} timed ladders per engine, "
          f"BLAS threads for lio_validate: {threads}")


def print_results(runs: list[EngineRun]) -> None:
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
    for run in runs:
        for note in run.notes:
            print(f"note: {note}")

    lavaan = runs[1] if len(runs) > 1 else None
    if lavaan is None or lavaan.skipped:
        return
    print()
    print(f"{'level':<12s}{'chisq lio_validate':>20s}{'chisq lavaan':>16s}"
          f"{'rel. diff':>12s}")
    agree = True
    for level in LEVELS:
        ours, theirs = base.chisq[level], lavaan.chisq.get(level, float("nan"))
        difference = abs(ours - theirs) / abs(theirs)
        agree &= difference <= CHISQ_RELATIVE_TOLERANCE
        print(f"{level:<12s}{ours:>20.6f}{theirs:>16.6f}{difference:>12.2e}")
    ratio = lavaan.median / base.median
    verdict = "met" if ratio >= SPEED_TARGET else "NOT met"
    print()
    print(f"lavaan / lio_validate = {ratio:.1f} (target {SPEED_TARGET:g}): {verdict}")
    print(f"chisq agreement within {CHISQ_RELATIVE_TOLERANCE:g} relative: "
          f"{'yes' if agree else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    print_environment(arguments)
    population = organisation_model("full")
    data = simulate_responses(population, arguments.nobs, seed=SEED)
    model_text = population.to_lavaan()

    with blas_threads(arguments.blas_threads):
        runs = [time_lio_validate(model_text, data, arguments.repeats)]
    if arguments.skip_lavaan:
        runs.append(EngineRun("lavaan", skipped="--skip-lavaan"))
    else:
        with tempfile.TemporaryDirectory(prefix="bench_invariance_") as workdir:
            runs.append(time_lavaan(model_text, data, arguments.repeats,
                                    Path(workdir)))
    print_results(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
