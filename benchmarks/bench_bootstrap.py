"""Time the bootstrap of the organisation model serially, on 2 processes and in lavaan.

The data are the "example" organisation model of ``lio_validate.simulate``
(10 factors, 32 items, 17 structural paths), N rows drawn with seed 1. The
script fits the model once, then runs ``lio_validate.bootstrap.bootstrap``
with ``--nboot`` replicates and the same seed on each worker setting in
``--workers`` (local joblib processes; 1 means serial), and optionally on a
Dask LocalCluster on 127.0.0.1. It prints the wall time, the time per
replicate, the speed-up over one worker, the failed replicates, and whether
every setting gave identical replicate estimates.

With ``Rscript`` and lavaan available it also times
``sem(model, data, se = "bootstrap", bootstrap = R)`` for ``--lavaan-nboot``
replicates (fewer, because lavaan is slower) and scales that time linearly
to ``--nboot`` replicates. The scaled figure is an estimate. The bootstrap
SEs of both programs are compared: they come from different random draws,
so they agree only up to Monte Carlo error (about 1/sqrt(2 R) relative).

Usage::

    python benchmarks/bench_bootstrap.py [--nobs 10000] [--nboot 1000]
                                         [--workers 1 2] [--dask]
                                         [--lavaan-nboot 100] [--skip-lavaan]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lio_validate
from lio_validate.bootstrap import BootstrapWarning, bootstrap
from lio_validate.simulate import organisation_model, simulate_responses

SEED = 1

# A guard against a stuck R process; a 100-replicate lavaan run takes well
# under this on a 2-core machine.
LAVAAN_TIMEOUT_SECONDS = 3_600

LAVAAN_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
model <- paste(readLines(args[1]), collapse = "\n")
data <- read.csv(args[2])
set.seed(as.integer(args[4]))
timing <- system.time(
  fit <- sem(model, data = data, se = "bootstrap", bootstrap = as.integer(args[3]))
)
pe <- parameterEstimates(fit)
pe <- pe[pe$se > 0, c("lhs", "op", "rhs", "est", "se")]
write.csv(pe, args[5], row.names = FALSE)
boot <- lavInspect(fit, "boot")
cat(sprintf("elapsed %.3f\nsucceeded %d\n", timing[["elapsed"]], nrow(boot)))
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nobs", type=int, default=10_000,
                        help="simulated respondents (rows); default 10000")
    parser.add_argument("--nboot", type=int, default=1_000,
                        help="bootstrap replicates per run; default 1000")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="local worker processes to time; default 1 2")
    parser.add_argument("--dask", action="store_true",
                        help="also run on a Dask LocalCluster on 127.0.0.1 with "
                             "the largest --workers value of worker processes")
    parser.add_argument("--lavaan-nboot", type=int, default=100,
                        help="replicates for lavaan; default 100")
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="leave out lavaan")
    return parser.parse_args()


def _run(fit, data, nboot: int, **executor):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BootstrapWarning)
        started = time.perf_counter()
        result = bootstrap(fit, data, nboot=nboot, seed=SEED, progress=False,
                           **executor)
        seconds = time.perf_counter() - started
    for warning in caught:
        print(f"    warning: {warning.message}")
    return result, seconds


def _run_dask(fit, data, nboot: int, workers: int):
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        return _run(fit, data, nboot, scheduler=cluster.scheduler_address)


def _run_lavaan(text: str, data: pd.DataFrame, nboot: int):
    if shutil.which("Rscript") is None:
        print("lavaan: skipped, Rscript is not on PATH")
        return None
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "model.lav").write_text(text)
        (folder / "run.R").write_text(LAVAAN_SCRIPT)
        data.to_csv(folder / "data.csv", index=False)
        command = ["Rscript", str(folder / "run.R"), str(folder / "model.lav"),
                   str(folder / "data.csv"), str(nboot), str(SEED),
                   str(folder / "estimates.csv")]
        try:
            completed = subprocess.run(command, capture_output=True, text=True,
                                       timeout=LAVAAN_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            print(f"lavaan: timed out after {LAVAAN_TIMEOUT_SECONDS} s")
            return None
        if completed.returncode != 0:
            print(f"lavaan: failed (exit status {completed.returncode}): "
                  f"{completed.stderr.strip()[-500:]}")
            return None
        values = dict(line.split() for line in completed.stdout.strip().splitlines())
        estimates = pd.read_csv(folder / "estimates.csv")
    return float(values["elapsed"]), int(values["succeeded"]), estimates


def main() -> int:
    options = _arguments()
    print(f"lio_validate {lio_validate.__version__}, "
          f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPU(s), {platform.platform()}")

    model = organisation_model("example")
    data = simulate_responses(model, options.nobs, seed=SEED)
    text = model.to_lavaan()
    started = time.perf_counter()
    fit = lio_validate.sem(text, data)
    print(f"data: N = {options.nobs}, {len(fit.observed_variables)} items, "
          f"{int(fit.fit_measures['npar'])} free parameters; one fit "
          f"{time.perf_counter() - started:.3f} s")
    print(f"bootstrap: {options.nboot} replicates, seed {SEED}")
    print()

    runs = {}
    for workers in options.workers:
        print(f"  {workers} worker(s) ...")
        runs[f"{workers} worker(s)"] = _run(fit, data, options.nboot, n_jobs=workers)
    if options.dask:
        workers = max(options.workers)
        print(f"  Dask LocalCluster, {workers} worker process(es) ...")
        runs[f"dask, {workers} worker(s)"] = _run_dask(fit, data, options.nboot,
                                                       workers)

    baseline = next(iter(runs.values()))[1]
    print()
    print(f"  {'run':<24s}{'seconds':>10s}{'ms/replicate':>14s}{'speed-up':>10s}"
          f"{'failed':>8s}")
    for name, (result, seconds) in runs.items():
        print(f"  {name:<24s}{seconds:>10.2f}{1000 * seconds / options.nboot:>14.2f}"
              f"{baseline / seconds:>10.2f}{result.nfailed:>8d}")
    results = [result for result, _ in runs.values()]
    identical = all(np.array_equal(results[0].estimates, other.estimates)
                    for other in results[1:])
    print(f"  identical replicate estimates in every run: {identical}")

    ours = results[0].parameter_table(method="percentile")
    if not options.skip_lavaan:
        print()
        print(f"lavaan: sem(se = 'bootstrap', bootstrap = {options.lavaan_nboot}) ...")
        lavaan = _run_lavaan(text, data, options.lavaan_nboot)
        if lavaan is not None:
            seconds, succeeded, estimates = lavaan
            scaled = seconds * options.nboot / options.lavaan_nboot
            print(f"  {options.lavaan_nboot} replicates ({succeeded} succeeded) in "
                  f"{seconds:.1f} s; scaled to {options.nboot}: about {scaled:.0f} s, "
                  f"{scaled / baseline:.1f} x the first lio_validate run")
            merged = ours.merge(estimates, on=["lhs", "op", "rhs"],
                                suffixes=("", "_lavaan"))
            ratio = merged["se"] / merged["se_lavaan"]
            print(f"  bootstrap SEs, lio_validate / lavaan over {len(merged)} "
                  f"parameters: median {ratio.median():.3f}, range "
                  f"{ratio.min():.3f} to {ratio.max():.3f} (different random "
                  "draws; Monte Carlo error only)")
            print(f"  max |est difference|: "
                  f"{np.max(np.abs(merged['est'] - merged['est_lavaan'])):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
