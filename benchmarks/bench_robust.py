"""Time robust ML (MLR) in lio_validate and lavaan on the same data.

The data are the 59-item, 19-factor organisation model ("full" preset) drawn
by ``lio_validate.simulate`` with seed 1. With ``--missing-rate r`` above 0, a
fraction r of the item values is set to NaN completely at random, and both
engines fit by full information ML (FIML) instead of on complete data.

In one run, the script times ``--repeats`` fits of lio_validate after one
warm-up fit (unless ``--no-warmup``), and ``--lavaan-repeats`` fits of lavaan
without a warm-up, because one lavaan MLR fit at N = 100,000 takes many
minutes. It prints the wall-clock and CPU seconds, the speed ratio, whether
the project's targets are met, the peak memory of both engines and the
agreement of the two fits.

Usage::

    python benchmarks/bench_robust.py [--nobs 100000] [--missing-rate 0]
                                      [--repeats 3] [--no-warmup]
                                      [--lavaan-repeats 1] [--lavaan-timeout S]
                                      [--skip-lavaan] [--blas-threads N]

What each timed call contains:

* lio_validate: ``lio_validate.sem(text, data, estimator="MLR")``, plus
  ``missing="fiml"`` with missing values. The call includes the data checks,
  sample statistics, estimation, sandwich standard errors, the Yuan-Bentler
  scaled test and the robust fit indices.
* lavaan: ``sem(model, data, estimator = "MLR")``, plus ``missing = "ml"``
  with missing values, then ``fitMeasures()`` and ``parameterEstimates()``
  inside R's ``system.time()``, run by ``lavaan_robust_timing.R`` after it
  has read the CSV outside the timer.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# bench_ml.py sits in this directory, which Python puts first on sys.path when
# it runs this file as a script, so its helpers are shared rather than copied.
from bench_ml import (
    MEMORY_WARMUP_ROWS,
    NON_ITEM_COLUMNS,
    describe_machine,
    keyed,
    limit_blas_threads,
    read_status_kib,
    reset_peak_rss,
    selected_parameters,
)

import lio_validate
from lio_validate.simulate import organisation_model, simulate_responses

SEED = 1

# The project's targets at N = TARGET_NOBS: a lio_validate fit takes at most
# this fraction of lavaan's time, and its process peaks below this many bytes
# of resident memory (1 GB, read as 10**9 bytes, the stricter reading).
TARGET_NOBS = 100_000
TARGET_TIME_FRACTION = 0.01
TARGET_PEAK_BYTES = 10**9

# The fit measures printed side by side, as lio_validate names them. lavaan's
# names are the same with dots in place of underscores.
COMPARED_MEASURES = (
    "chisq", "df", "chisq_scaled", "chisq_scaling_factor", "cfi_robust",
    "rmsea_robust", "srmr",
)

# chisq_scaled of the two engines should agree to this relative difference.
CHISQ_RELATIVE_TOLERANCE = 1e-6

R_SCRIPT = Path(__file__).resolve().parent / "lavaan_robust_timing.R"
GNU_TIME = Path("/usr/bin/time")

MIB = 1024**2


@dataclass
class EngineRun:
    """Timings, memory and results of one engine, or the reason it did not run."""

    engine: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    warmup_seconds: float = float("nan")
    measures: dict[str, float] = field(default_factory=dict)
    estimates: pd.DataFrame | None = None
    memory: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    # Set when a fit was stopped by the timeout: seconds it had run by then.
    unfinished_seconds: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def median_cpu(self) -> float:
        if not self.cpu_seconds:
            return float("nan")
        return statistics.median(self.cpu_seconds)


# --------------------------------------------------------------------------
# Command line and inputs
# --------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line. The memory probe options are internal."""
    parser = argparse.ArgumentParser(
        description="Time MLR fits of the organisation model in lio_validate "
        "and lavaan, with FIML when values are missing, and print the ratio."
    )
    parser.add_argument(
        "--nobs", type=int, default=TARGET_NOBS,
        help=f"number of simulated respondents (rows); default {TARGET_NOBS}",
    )
    parser.add_argument(
        "--missing-rate", type=float, default=0.0,
        help="fraction of item values set to NaN completely at random, in "
        "[0, 1); above 0 both engines fit by FIML; default 0",
    )
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="timed lio_validate fits after one warm-up fit; default 3",
    )
    parser.add_argument(
        "--no-warmup", action="store_true",
        help="skip lio_validate's warm-up fit, for fits that take minutes",
    )
    parser.add_argument(
        "--lavaan-repeats", type=int, default=1,
        help="timed lavaan fits, with no warm-up fit; default 1",
    )
    parser.add_argument(
        "--lavaan-timeout", type=float, default=6 * 3600,
        help="seconds after which the R process is stopped; default 21600",
    )
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="do not run lavaan in R")
    parser.add_argument(
        "--blas-threads", type=int, default=None,
        help="limit numpy's and scipy's BLAS to this many threads while "
        "lio_validate is timed (needs threadpoolctl); default: the BLAS "
        "library's own setting",
    )
    parser.add_argument("--memory-probe", choices=("tracemalloc", "vmhwm"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--probe-data", help=argparse.SUPPRESS)
    parser.add_argument("--probe-model", help=argparse.SUPPRESS)
    parser.add_argument("--probe-missing", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    if arguments.nobs < 1:
        parser.error(f"--nobs must be at least 1, got {arguments.nobs}")
    if not 0.0 <= arguments.missing_rate < 1.0:
        parser.error(
            f"--missing-rate must be in [0, 1), got {arguments.missing_rate}"
        )
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}")
    if arguments.lavaan_repeats < 1:
        parser.error(
            f"--lavaan-repeats must be at least 1, got {arguments.lavaan_repeats}"
        )
    if arguments.lavaan_timeout <= 0:
        parser.error(
            f"--lavaan-timeout must be positive, got {arguments.lavaan_timeout}"
        )
    if arguments.blas_threads is not None and arguments.blas_threads < 1:
        parser.error(f"--blas-threads must be at least 1, got {arguments.blas_threads}")
    return arguments


def simulate_data(nobs: int) -> tuple[str, pd.DataFrame, list[str]]:
    """Draw the benchmark data.

    Returns
    -------
    model_text : str
        The lavaan syntax of the full organisation model, with comments.
    data : pandas.DataFrame
        ``nobs`` rows of Likert items 1..5 and the id/education/sector columns.
    items : list of str
        The item columns.
    """
    population = organisation_model("full")
    data = simulate_responses(population, nobs, seed=SEED)
    items = [name for name in data.columns if name not in NON_ITEM_COLUMNS]
    return population.to_lavaan(), data, items


def remove_values(
    data: pd.DataFrame, items: list[str], rate: float, seed: int,
) -> pd.DataFrame:
    """Set ``round(rate * cells)`` item values to NaN completely at random.

    The cells are drawn without replacement from all item cells, so the
    fraction is exact up to rounding. The other columns are left complete.
    """
    values = data[items].to_numpy(dtype=float, copy=True)
    count = round(rate * values.size)
    generator = np.random.default_rng(seed)
    cells = generator.choice(values.size, size=count, replace=False)
    values.reshape(-1)[cells] = np.nan

    result = data.copy()
    result[items] = values
    return result


def describe_missing(data: pd.DataFrame, items: list[str]) -> str:
    """Summarise the missing item values and the rows they leave."""
    missing = data[items].isna()
    complete_rows = int((~missing.any(axis=1)).sum())
    empty_rows = int(missing.all(axis=1).sum())
    patterns = len(missing.drop_duplicates())
    return (
        f"{missing.to_numpy().mean():.4f} of item values missing, "
        f"{complete_rows} complete rows, {empty_rows} rows with no item observed, "
        f"{patterns} distinct missing-data patterns"
    )


# --------------------------------------------------------------------------
# lio_validate
# --------------------------------------------------------------------------


def fit_lio_validate(model_text: str, data: pd.DataFrame, missing: str):
    """Run the timed call: one MLR fit with all its inference."""
    return lio_validate.sem(model_text, data, estimator="MLR", missing=missing)


def time_lio_validate(
    model_text: str, data: pd.DataFrame, missing: str, repeats: int, warmup: bool,
) -> EngineRun:
    """Time ``repeats`` MLR fits of ``lio_validate.sem``, after a warm-up fit.

    The warm-up fit is left out when ``warmup`` is False.

    Raises
    ------
    SystemExit
        If a fit does not converge, because its timing would not be
        comparable with lavaan's.
    """
    run = EngineRun("lio_validate")
    if warmup:
        start = time.perf_counter()
        fit_lio_validate(model_text, data, missing)
        run.warmup_seconds = time.perf_counter() - start

    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        start_cpu = time.process_time()
        fit = fit_lio_validate(model_text, data, missing)
        run.cpu_seconds.append(time.process_time() - start_cpu)
        run.seconds.append(time.perf_counter() - start)

        if not fit.converged:
            raise SystemExit(
                "lio_validate.sem did not converge after "
                f"{fit.iterations} iterations; the timing is not comparable"
            )

    run.measures = {
        name: float(fit.fit_measures.get(name, float("nan")))
        for name in COMPARED_MEASURES
    }
    run.estimates = fit.estimates[["lhs", "op", "rhs", "est", "se"]].copy()
    run.notes.append(
        f"converged in {fit.iterations} iterations, N used {fit.nobs}, "
        f"information {fit.information}"
    )
    return run


def run_memory_probe(
    method: str, data_path: str, model_path: str, missing: str,
) -> None:
    """Fit once in this (child) process and print its memory use as JSON.

    A warm-up fit on the first rows runs first, so that imports are not
    counted. The measured fit is the first full-size fit of the process.
    """
    data = pd.read_pickle(data_path)
    model_text = Path(model_path).read_text(encoding="utf-8")
    fit_lio_validate(model_text, data.head(MEMORY_WARMUP_ROWS), missing)
    gc.collect()

    if method == "tracemalloc":
        tracemalloc.start()
        fit_lio_validate(model_text, data, missing)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(json.dumps({"traced_peak_kib": peak / 1024}))
        return

    # resource.getrusage is not used because on Linux a child started by
    # subprocess begins with ru_maxrss at the parent's RSS, which hides the fit.
    if not reset_peak_rss():
        print(json.dumps({"vmhwm_error": "cannot reset VmHWM on this system"}))
        return
    rss_before = read_status_kib("VmRSS")
    fit_lio_validate(model_text, data, missing)
    print(json.dumps({
        "rss_before_kib": rss_before,
        "peak_rss_kib": read_status_kib("VmHWM"),
    }))


def measure_lio_memory(
    model_text: str, data: pd.DataFrame, missing: str, directory: Path,
) -> dict[str, float]:
    """Run both memory probes in fresh Python processes and merge their reports.

    Each probe runs in its own process, so tracemalloc's overhead touches
    neither the RSS probe nor the timings.
    """
    data_path = directory / "data.pkl"
    model_path = directory / "model_for_memory.lav"
    data.to_pickle(data_path)
    model_path.write_text(model_text, encoding="utf-8")

    report: dict[str, float] = {}
    for method in ("tracemalloc", "vmhwm"):
        command = [
            sys.executable, str(Path(__file__).resolve()), "--memory-probe", method,
            "--probe-data", str(data_path), "--probe-model", str(model_path),
            "--probe-missing", missing,
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            lines = completed.stderr.strip().splitlines()
            report[f"{method}_error"] = lines[-1] if lines else "no message"
            continue
        report.update(json.loads(completed.stdout.strip().splitlines()[-1]))
    return report


# --------------------------------------------------------------------------
# lavaan
# --------------------------------------------------------------------------


def time_lavaan(
    model_text: str, data: pd.DataFrame, items: list[str], missing: str,
    repeats: int, timeout: float, directory: Path,
) -> EngineRun:
    """Time lavaan through ``lavaan_robust_timing.R`` and parse its output.

    The R process runs under GNU time (``/usr/bin/time -v``) when it is
    installed, which reports the peak RSS of the whole process, reading the
    CSV included.
    """
    run = EngineRun("lavaan")
    rscript = shutil.which("Rscript")
    if rscript is None:
        run.skipped = "Rscript is not on PATH"
        return run

    # Inputs for R. Only the items are written, and NaN becomes an empty cell,
    # which read.csv reads as NA.
    data_path = directory / "data.csv"
    model_path = directory / "model.lav"
    estimates_path = directory / "lavaan_estimates.csv"
    data[items].to_csv(data_path, index=False)
    model_path.write_text(model_text, encoding="utf-8")

    lavaan_missing = "ml" if missing == "fiml" else "listwise"
    command = [
        rscript, str(R_SCRIPT), str(data_path), str(model_path), "MLR",
        lavaan_missing, str(repeats), str(estimates_path),
    ]
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-v", *command]

    # A new session puts GNU time and R in one process group, so a timeout
    # can stop both of them.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        peak_kib = peak_rss_of_process_tree(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()
        return describe_timeout(run, stdout, timeout, peak_kib)

    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return parse_lavaan_output(run, completed, estimates_path)


def peak_rss_of_process_tree(pid: int) -> float:
    """Return the max VmHWM, in KiB, of a process and its direct children.

    Under GNU time, R is the child of the started process. Returns NaN
    where /proc cannot be read.
    """
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids.extend(int(child) for child in children)
    except OSError:
        return float("nan")

    peak = float("nan")
    for process_id in pids:
        try:
            status = Path(f"/proc/{process_id}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = np.fmax(peak, float(line.split()[1]))
    return float(peak)


def describe_timeout(
    run: EngineRun, stdout: str, timeout: float, peak_kib: float,
) -> EngineRun:
    """Record how long the stopped lavaan fit had run and the RSS it reached.

    The R script prints its own elapsed seconds as each fit starts, so the
    fit in progress had run for the timeout minus that start time. The few
    moments before R's clock begins count as fit time, so the figure is
    slightly too high.
    """
    fit_started = float("nan")
    for line in stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "LAVAAN_FIT_START":
            fit_started = float(value.split()[1])
        elif key == "LAVAAN_TIME":
            _, elapsed, user, system = value.split()
            run.seconds.append(float(elapsed))
            run.cpu_seconds.append(float(user) + float(system))

    run.skipped = f"lavaan_robust_timing.R timed out after {timeout:g} s"
    run.unfinished_seconds = timeout - fit_started
    run.memory["stopped_peak_rss_mib"] = peak_kib / 1024
    return run


def parse_lavaan_output(
    run: EngineRun, completed: subprocess.CompletedProcess, estimates_path: Path,
) -> EngineRun:
    """Fill ``run`` from the ``KEY value`` lines of ``lavaan_robust_timing.R``."""
    fields = {}
    for line in completed.stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "LAVAAN_TIME":
            _, elapsed, user, system = value.split()
            run.seconds.append(float(elapsed))
            run.cpu_seconds.append(float(user) + float(system))
        elif key == "LAVAAN_MEASURE":
            name, number = value.split()
            run.measures[name.replace(".", "_")] = float(number)
        elif key:
            fields[key] = value.strip()

    if "LAVAAN_UNAVAILABLE" in fields:
        run.skipped = fields["LAVAAN_UNAVAILABLE"]
        return run
    if completed.returncode != 0 or not run.seconds or not run.measures:
        tail = completed.stderr.strip().splitlines()[-5:]
        run.skipped = (
            f"lavaan_robust_timing.R failed with exit status "
            f"{completed.returncode}: " + " | ".join(tail)
        )
        run.seconds.clear()
        return run

    run.estimates = pd.read_csv(estimates_path)
    run.memory = parse_lavaan_memory(fields, completed.stderr)
    run.notes.append(
        f"R {fields.get('R_VERSION', '?')}, lavaan "
        f"{fields.get('LAVAAN_VERSION', '?')}, BLAS {fields.get('R_BLAS', '?')}"
    )
    run.notes.append(
        f"converged: {fields.get('LAVAAN_CONVERGED', '?')}, "
        f"{fields.get('LAVAAN_ITERATIONS', '?')} iterations, "
        f"N used {fields.get('LAVAAN_NOBS', '?')}"
    )
    return run


def parse_lavaan_memory(fields: dict[str, str], stderr: str) -> dict[str, float]:
    """Collect the R process's memory figures: RSS in MiB, gc() in R's Mb."""
    memory = {}
    if "R_GC_MAX_USED_MB" in fields:
        memory["gc_max_used_mb"] = float(fields["R_GC_MAX_USED_MB"])
    if "R_PEAK_RSS_KIB" in fields:
        memory["rss_before_mib"] = float(fields["R_RSS_BEFORE_KIB"]) / 1024
        memory["peak_rss_mib"] = float(fields["R_PEAK_RSS_KIB"]) / 1024

    # GNU time writes its report after the R script's own stderr.
    for line in stderr.splitlines():
        if "Maximum resident set size (kbytes):" in line:
            memory["process_max_rss_mib"] = float(line.rsplit(":", 1)[1]) / 1024
    return memory


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def print_timings(lio: EngineRun, lavaan: EngineRun, nobs: int) -> None:
    """Print wall-clock and CPU seconds, the ratio and the speed target."""
    print("\nSeconds per fit (wall clock; CPU is user + system time of the "
          "process, all threads)")
    print(f"{'engine':<14}{'runs':>6}{'median wall':>13}{'median CPU':>12}")
    for run in (lio, lavaan):
        if run.skipped:
            print(f"{run.engine:<14}skipped: {run.skipped}")
            continue
        print(f"{run.engine:<14}{len(run.seconds):>6}{run.median:>13.3f}"
              f"{run.median_cpu:>12.3f}")
    for run in (lio, lavaan):
        if run.seconds:
            wall = ", ".join(f"{value:.3f}" for value in run.seconds)
            cpu = ", ".join(f"{value:.3f}" for value in run.cpu_seconds)
            warmup = (
                "" if np.isnan(run.warmup_seconds)
                else f"warm-up {run.warmup_seconds:.3f} s, then "
            )
            print(f"  {run.engine}: {warmup}runs in order {wall} s wall, "
                  f"{cpu} s CPU")
        for note in run.notes:
            print(f"  {run.engine}: {note}")

    if not np.isnan(lavaan.unfinished_seconds):
        print_unfinished_lavaan(lio, lavaan)
    if lavaan.skipped:
        return
    wall_ratio = lavaan.median / lio.median
    cpu_ratio = lavaan.median_cpu / lio.median_cpu
    fraction = lio.median / lavaan.median
    verdict = "met" if fraction <= TARGET_TIME_FRACTION else "NOT met"
    print(f"\nlavaan / lio_validate, ratio of medians: {wall_ratio:.1f} wall, "
          f"{cpu_ratio:.1f} CPU")
    print(f"Speed target, lio_validate at most {TARGET_TIME_FRACTION:.0%} of "
          f"lavaan's wall time: {fraction:.2%}, {verdict}")
    if nobs != TARGET_NOBS:
        print(f"  the target is stated for N = {TARGET_NOBS}, this run used "
              f"N = {nobs}")


def print_unfinished_lavaan(lio: EngineRun, lavaan: EngineRun) -> None:
    """Print the lower bound on the ratio that a stopped lavaan fit gives."""
    ratio = lavaan.unfinished_seconds / lio.median
    fraction = lio.median / lavaan.unfinished_seconds
    print(f"  lavaan: the fit in progress was stopped after about "
          f"{lavaan.unfinished_seconds:.0f} s, so lavaan / lio_validate "
          f"(wall) is at least {ratio:.1f}")
    if fraction <= TARGET_TIME_FRACTION:
        print(f"  speed target, lio_validate at most {TARGET_TIME_FRACTION:.0%} "
              f"of lavaan's wall time: at most {fraction:.2%}, met")
    else:
        print(f"  speed target, lio_validate at most {TARGET_TIME_FRACTION:.0%} "
              f"of lavaan's wall time: at most {fraction:.2%}, not decided "
              "because lavaan did not finish")


def print_memory(lio: EngineRun, lavaan: EngineRun) -> None:
    """Print the peak memory of both engines and the memory target."""
    print("\nPeak memory")
    report = lio.memory
    print("  lio_validate, one fit in a fresh process after a warm-up fit on "
          f"the first {MEMORY_WARMUP_ROWS} rows:")
    if "traced_peak_kib" in report:
        print("    tracemalloc, peak of memory allocated during the fit by "
              f"Python and numpy: {report['traced_peak_kib'] / 1024:.1f} MiB")
    if "peak_rss_kib" in report:
        before = report["rss_before_kib"] / 1024
        peak = report["peak_rss_kib"] / 1024
        print(f"    VmHWM, peak RSS of the process during the fit: {peak:.1f} MiB, "
              f"{peak - before:.1f} MiB above the {before:.1f} MiB before it")
        verdict = "met" if peak * MIB < TARGET_PEAK_BYTES else "NOT met"
        print(f"    memory target, process peak RSS below "
              f"{TARGET_PEAK_BYTES / MIB:.0f} MiB (1 GB): {verdict}")
    for key, message in report.items():
        if key.endswith("_error"):
            print(f"    {key.removesuffix('_error')} probe failed: {message}")

    memory = lavaan.memory
    if "stopped_peak_rss_mib" in memory:
        print("  lavaan, VmHWM of the R process just before the timeout stopped "
              f"it: {memory['stopped_peak_rss_mib']:.1f} MiB")
    if lavaan.skipped:
        return
    print(f"  lavaan, over its {len(lavaan.seconds)} timed fit(s):")
    if "gc_max_used_mb" in memory:
        print("    R gc() max used since the data were read (R's own heap "
              f"only): {memory['gc_max_used_mb']:.1f} Mb")
    if "peak_rss_mib" in memory:
        before = memory["rss_before_mib"]
        peak = memory["peak_rss_mib"]
        print(f"    VmHWM, peak RSS of the R process during the fits: "
              f"{peak:.1f} MiB, {peak - before:.1f} MiB above the {before:.1f} "
              "MiB after reading the data")
    if "process_max_rss_mib" in memory:
        print("    GNU time, max RSS of the whole Rscript process: "
              f"{memory['process_max_rss_mib']:.1f} MiB")


def print_agreement(lio: EngineRun, lavaan: EngineRun) -> None:
    """Print the fit measures, estimate differences and a few SEs of both fits."""
    print("\nAgreement")
    if lavaan.skipped:
        for name in COMPARED_MEASURES:
            print(f"  {name:<22}{lio.measures[name]:>18.6f}")
        print(f"  no lavaan results ({lavaan.skipped}), so nothing to compare "
              "against")
        return

    print(f"  {'measure':<22}{'lio_validate':>18}{'lavaan':>18}{'rel. diff':>12}")
    for name in COMPARED_MEASURES:
        mine = lio.measures[name]
        reference = lavaan.measures.get(name, float("nan"))
        relative = abs(mine - reference) / abs(reference) if reference else 0.0
        print(f"  {name:<22}{mine:>18.6f}{reference:>18.6f}{relative:>12.2e}")
    relative = abs(lio.measures["chisq_scaled"] - lavaan.measures["chisq_scaled"])
    relative /= abs(lavaan.measures["chisq_scaled"])
    verdict = "yes" if relative <= CHISQ_RELATIVE_TOLERANCE else "NO"
    print(f"  chisq_scaled within a relative {CHISQ_RELATIVE_TOLERANCE:g}: {verdict}")

    mine = keyed(lio.estimates)
    reference = keyed(lavaan.estimates)
    merged = mine.merge(reference, left_index=True, right_index=True,
                        suffixes=("_lio", "_lavaan"))

    # Fixed parameters have se 0 in both engines, so they are skipped.
    free = merged["se_lavaan"] > 0
    est_difference = (merged["est_lio"] - merged["est_lavaan"]).abs()
    se_difference = (merged.loc[free, "se_lio"] - merged.loc[free, "se_lavaan"]).abs()
    print(
        f"  merged on lhs/op/rhs: {len(merged)} rows matched, "
        f"{len(mine.index.difference(reference.index))} only in lio_validate, "
        f"{len(reference.index.difference(mine.index))} only in lavaan; max "
        f"|est diff| {est_difference.max():.2e}, max |se diff| "
        f"{se_difference.max():.2e}, max relative se diff "
        f"{(se_difference / merged.loc[free, 'se_lavaan']).max():.2e}"
    )

    print("\nSelected robust standard errors")
    print(f"  {'parameter':<50}{'lio_validate':>14}{'lavaan':>14}")
    for lhs, op, rhs in selected_parameters(lio.estimates):
        if op == "~~":
            lhs, rhs = sorted((lhs, rhs))
        label = f"{lhs} {op} {rhs}"
        if (lhs, op, rhs) not in merged.index:
            print(f"  {label:<50}not in lavaan's estimates")
            continue
        row = merged.loc[(lhs, op, rhs)]
        print(f"  {label:<50}{row['se_lio']:>14.6f}{row['se_lavaan']:>14.6f}")


def print_load(moment: str) -> None:
    """Print the load averages, because the machine may be shared."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average (1, 5, 15 min) at {moment}: {load}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.memory_probe:
        run_memory_probe(
            arguments.memory_probe, arguments.probe_data, arguments.probe_model,
            arguments.probe_missing,
        )
        return 0

    started = time.perf_counter()
    print(f"bench_robust.py, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    for line in describe_machine():
        print(line)
    print_load("start")

    # Data, simulated once and shared by both engines.
    model_text, data, items = simulate_data(arguments.nobs)
    missing = "listwise"
    print(f"data: organisation model 'full', {len(items)} items, N = "
          f"{arguments.nobs}, seed {SEED}")
    if arguments.missing_rate > 0:
        data = remove_values(data, items, arguments.missing_rate, SEED)
        missing = "fiml"
        print(f"missing values (seed {SEED}): {describe_missing(data, items)}")
    print(f"estimator MLR, missing = {missing!r} (lavaan: "
          f"{'ml' if missing == 'fiml' else 'listwise'})")

    # lio_validate first, then lavaan, then the memory probes, one at a time
    # so that no two measurements compete for the CPU.
    with tempfile.TemporaryDirectory(prefix="bench_robust_") as temporary:
        directory = Path(temporary)
        with limit_blas_threads(arguments.blas_threads):
            lio = time_lio_validate(
                model_text, data, missing, arguments.repeats,
                warmup=not arguments.no_warmup,
            )
        print(f"lio_validate timed, median {lio.median:.3f} s", flush=True)

        if arguments.skip_lavaan:
            lavaan = EngineRun("lavaan", skipped="--skip-lavaan")
        else:
            lavaan = time_lavaan(
                model_text, data, items, missing, arguments.lavaan_repeats,
                arguments.lavaan_timeout, directory,
            )
        lio.memory = measure_lio_memory(model_text, data, missing, directory)

    print_timings(lio, lavaan, arguments.nobs)
    print_memory(lio, lavaan)
    print_agreement(lio, lavaan)
    print()
    print_load("end")
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
