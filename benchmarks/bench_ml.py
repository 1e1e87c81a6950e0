"""Time ML estimation in lio_validate, semopy and lavaan on the same data.

The data are the 59-item, 19-factor organisation model ("full" preset) drawn
by ``lio_validate.simulate`` with seed 1. Each engine fits the model
once as a warm-up and then ``--repeats`` times, all in one run of this script.
The script prints the median and best wall-clock times of the repeats, the
speed ratios against lio_validate, the agreement of chisq and of the
estimates with lavaan, and the peak memory of one lio_validate fit. The
warm-up fit is timed and printed but left out of the table, because the first
full-size fit in a process was slower than the later ones for all three
engines in trial runs.

Usage::

    python benchmarks/bench_ml.py [--nobs 100000] [--repeats 3]
                                  [--skip-lavaan] [--skip-semopy]
                                  [--blas-threads N]

What each timed call contains:

* lio_validate: ``lio_validate.sem(text, data)``, which includes the data
  checks, the sample statistics, standard errors and fit measures.
* semopy: ``semopy.Model(text)``, ``.fit(items)``, ``semopy.calc_stats()``
  and ``.inspect()``. The item columns are converted to float beforehand,
  outside the timer. semopy minimises its default Wishart objective (MLW).
* lavaan: ``sem(model, data)``, ``fitMeasures()`` and
  ``parameterEstimates()`` inside R's ``system.time()``, run by
  ``lavaan_timing.R`` after it has read the CSV outside the timer.

The lavaan timings include no R start-up and no CSV reading. Both the R side
and the Python side run the garbage collector before each timed call.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import lio_validate
from lio_validate.simulate import organisation_model, simulate_responses

SEED = 1

# The memory probes warm up on this many rows, enough to import and run every
# code path once, so that the measured full-size fit is the process's first.
MEMORY_WARMUP_ROWS = 2_000

# The project's speed targets: at N = TARGET_NOBS, the median time of the
# engine divided by the median time of lio_validate must reach these ratios.
SPEED_TARGETS = {"lavaan": 10.0, "semopy": 5.0}
TARGET_NOBS = 100_000

# The agreement expected between lio_validate's and lavaan's chisq.
CHISQ_RELATIVE_TOLERANCE = 1e-6

# A guard against a stuck R process, far above a normal run of a few seconds
# per fit.
LAVAAN_TIMEOUT_SECONDS = 1_800

R_SCRIPT = Path(__file__).resolve().parent / "lavaan_timing.R"

NON_ITEM_COLUMNS = ("id", "education", "sector")


@dataclass
class EngineRun:
    """Timings and results of one engine, or the reason it did not run."""

    engine: str
    seconds: list[float] = field(default_factory=list)
    chisq: float = float("nan")
    estimates: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    warmup_seconds: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")


# --------------------------------------------------------------------------
# Command line and inputs
# --------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line. The memory probe options are internal."""
    parser = argparse.ArgumentParser(
        description="Time ML fits of the organisation model in lio_validate, "
        "semopy and lavaan and print the speed ratios."
    )
    parser.add_argument(
        "--nobs", type=int, default=100_000,
        help="number of simulated respondents (rows); default 100000",
    )
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="timed fits per engine; the table reports the median and the "
        "best; default 3",
    )
    parser.add_argument("--skip-lavaan", action="store_true",
                        help="do not run lavaan in R")
    parser.add_argument("--skip-semopy", action="store_true",
                        help="do not run semopy")
    parser.add_argument(
        "--blas-threads", type=int, default=None,
        help="limit numpy's and scipy's BLAS to this many threads while "
        "lio_validate and semopy are timed (needs threadpoolctl); default: the "
        "BLAS library's own setting",
    )
    parser.add_argument("--memory-probe", choices=("tracemalloc", "vmhwm"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--probe-data", help=argparse.SUPPRESS)
    parser.add_argument("--probe-model", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    if arguments.nobs < 1:
        parser.error(f"--nobs must be at least 1, got {arguments.nobs}")
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}")
    if arguments.blas_threads is not None and arguments.blas_threads < 1:
        parser.error(f"--blas-threads must be at least 1, got {arguments.blas_threads}")
    return arguments


def simulate_data(nobs: int) -> tuple[str, pd.DataFrame, list[str], list[str]]:
    """Draw the benchmark data.

    Returns
    -------
    model_text : str
        The lavaan syntax of the full organisation model, with comments.
    data : pandas.DataFrame
        ``nobs`` rows of Likert items 1..5 and the id/education/sector columns.
    items : list of str
        The item columns.
    factors : list of str
        The latent variables.
    """
    population = organisation_model("full")
    data = simulate_responses(population, nobs, seed=SEED)
    items = [name for name in data.columns if name not in NON_ITEM_COLUMNS]
    return population.to_lavaan(), data, items, list(population.factor_names)


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------


def time_lio_validate(model_text: str, data: pd.DataFrame, repeats: int) -> EngineRun:
    """Time a warm-up fit and ``repeats`` fits of ``lio_validate.sem``.

    Raises
    ------
    SystemExit
        If a fit does not converge, because its timing would not be
        comparable with the other engines.
    """
    run = EngineRun("lio_validate")
    start = time.perf_counter()
    lio_validate.sem(model_text, data)
    run.warmup_seconds = time.perf_counter() - start

    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fit = lio_validate.sem(model_text, data)
        run.seconds.append(time.perf_counter() - start)

        if not fit.converged:
            raise SystemExit(
                "lio_validate.sem did not converge after "
                f"{fit.iterations} iterations; the timing is not comparable"
            )

    run.chisq = float(fit.fit_measures["chisq"])
    run.estimates = fit.estimates[["lhs", "op", "rhs", "est", "se"]].copy()
    run.notes.append(f"converged in {fit.iterations} iterations")
    return run


def strip_comments(model_text: str) -> str:
    """Remove ``#`` comments and blank lines from lavaan model syntax."""
    lines = (line.split("#", 1)[0].rstrip() for line in model_text.splitlines())
    return "\n".join(line for line in lines if line)


def fit_semopy(model_text: str, items: pd.DataFrame):
    """Run one semopy fit with statistics and estimates, as timed."""
    import semopy

    model = semopy.Model(model_text)
    model.fit(items)
    statistics_table = semopy.calc_stats(model)
    estimates = model.inspect()
    return model, statistics_table, estimates


def semopy_estimates(estimates: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Convert ``Model.inspect()`` output to lavaan's lhs/op/rhs rows.

    semopy writes a loading ``f =~ x`` as ``x ~ f`` and marks fixed
    parameters with ``"-"`` in the standard error column.
    """
    table = pd.DataFrame({
        "lhs": estimates["lval"].astype(str),
        "op": estimates["op"].astype(str),
        "rhs": estimates["rval"].astype(str),
        "est": pd.to_numeric(estimates["Estimate"], errors="coerce"),
        "se": pd.to_numeric(estimates["Std. Err"], errors="coerce"),
    })

    loading = (table["op"] == "~") & table["rhs"].isin(factors)
    loading &= ~table["lhs"].isin(factors)
    lhs = table.loc[loading, "lhs"].copy()
    table.loc[loading, "lhs"] = table.loc[loading, "rhs"]
    table.loc[loading, "rhs"] = lhs
    table.loc[loading, "op"] = "=~"
    return table


def time_semopy(
    model_text: str, data: pd.DataFrame, items: list[str], factors: list[str],
    repeats: int,
) -> EngineRun:
    """Time semopy on the item columns as float.

    The warm-up fit first gets the model text unchanged. If it fails, it is
    retried once without comments and blank lines. A failure after that is
    reported in the returned run, so the benchmark continues without semopy.
    """
    run = EngineRun("semopy")
    item_data = data[items].astype(float)

    try:
        import semopy
    except ImportError as error:
        run.skipped = f"semopy could not be imported: {error}"
        return run
    run.notes.append(f"semopy {semopy.__version__}, objective MLW (its default)")

    # semopy documents no exception type for text it cannot parse (2.3.11
    # raises NotImplementedError for an unknown operator), so Exception is caught.
    text = model_text
    start = time.perf_counter()
    try:
        fit_semopy(text, item_data)
        run.notes.append("model text passed unchanged, comments included")
    except Exception as error:  # noqa: BLE001
        text = strip_comments(model_text)
        run.notes.append(
            f"model text rejected ({type(error).__name__}: {error}); "
            "passed without comments and blank lines"
        )
        start = time.perf_counter()
        try:
            fit_semopy(text, item_data)
        except Exception as retry_error:  # noqa: BLE001
            run.skipped = (
                f"semopy failed: {type(retry_error).__name__}: {retry_error}"
            )
            return run
    run.warmup_seconds = time.perf_counter() - start

    # A failure of the full-size fit is reported for the same reason.
    try:
        for _ in range(repeats):
            gc.collect()
            start = time.perf_counter()
            model, statistics_table, estimates = fit_semopy(text, item_data)
            run.seconds.append(time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001
        run.skipped = f"semopy failed: {type(error).__name__}: {error}"
        run.seconds.clear()
        return run

    run.chisq = float(statistics_table.loc["Value", "chi2"])
    run.estimates = semopy_estimates(estimates, factors)
    run.notes.append(f"optimiser message: {model.last_result.message}")
    return run


def time_lavaan(
    model_text: str, data: pd.DataFrame, repeats: int, directory: Path,
) -> EngineRun:
    """Time lavaan through ``lavaan_timing.R`` and parse its output lines."""
    run = EngineRun("lavaan")
    rscript = shutil.which("Rscript")
    if rscript is None:
        run.skipped = "Rscript is not on PATH"
        return run

    # Inputs for R.
    data_path = directory / "data.csv"
    model_path = directory / "model.lav"
    estimates_path = directory / "lavaan_estimates.csv"
    data.to_csv(data_path, index=False)
    model_path.write_text(model_text, encoding="utf-8")

    command = [
        rscript, str(R_SCRIPT), str(data_path), str(model_path), str(repeats),
        str(estimates_path),
    ]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False,
            timeout=LAVAAN_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        run.skipped = f"lavaan_timing.R timed out after {LAVAAN_TIMEOUT_SECONDS} s"
        return run

    return parse_lavaan_output(run, completed, estimates_path)


def parse_lavaan_output(
    run: EngineRun, completed: subprocess.CompletedProcess, estimates_path: Path,
) -> EngineRun:
    """Fill ``run`` from the ``KEY value`` lines of ``lavaan_timing.R``."""
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
    if completed.returncode != 0 or not run.seconds or "LAVAAN_WARMUP" not in fields:
        tail = completed.stderr.strip().splitlines()[-5:]
        run.skipped = (
            f"lavaan_timing.R failed with exit status {completed.returncode}: "
            + " | ".join(tail)
        )
        run.seconds.clear()
        return run

    run.warmup_seconds = float(fields["LAVAAN_WARMUP"])
    run.chisq = float(fields["LAVAAN_CHISQ"])
    run.estimates = pd.read_csv(estimates_path)
    versions = (
        f"R {fields.get('R_VERSION', '?')}, "
        f"lavaan {fields.get('LAVAAN_VERSION', '?')}, "
        f"BLAS {fields.get('R_BLAS', '?')}"
    )
    run.notes.append(versions)
    run.notes.append(
        f"converged: {fields.get('LAVAAN_CONVERGED', '?')}, "
        f"{fields.get('LAVAAN_ITERATIONS', '?')} iterations"
    )
    return run


# --------------------------------------------------------------------------
# Peak memory of one lio_validate fit, measured in child processes
# --------------------------------------------------------------------------


def read_status_kib(field_name: str) -> int | None:
    """Return a ``kB`` field of /proc/self/status in KiB, or None without /proc."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) and return whether that worked.

    Writing 5 to /proc/self/clear_refs resets the high-water mark on Linux.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_memory_probe(method: str, data_path: str, model_path: str) -> None:
    """Fit once in this (child) process and print its memory use as JSON.

    A warm-up fit on the first rows runs first, so that imports are not
    counted. The measured fit is the first full-size fit of the process.
    """
    data = pd.read_pickle(data_path)
    model_text = Path(model_path).read_text(encoding="utf-8")
    lio_validate.sem(model_text, data.head(MEMORY_WARMUP_ROWS))
    gc.collect()

    if method == "tracemalloc":
        tracemalloc.start()
        lio_validate.sem(model_text, data)
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
    lio_validate.sem(model_text, data)
    print(json.dumps({
        "rss_before_kib": rss_before,
        "peak_rss_kib": read_status_kib("VmHWM"),
    }))


def measure_memory(model_text: str, data: pd.DataFrame, directory: Path) -> dict:
    """Run both memory probes in fresh Python processes and merge their reports.

    Each probe runs in its own process, so tracemalloc's overhead touches
    neither the RSS probe nor the timings.
    """
    data_path = directory / "data.pkl"
    model_path = directory / "model_for_memory.lav"
    data.to_pickle(data_path)
    model_path.write_text(model_text, encoding="utf-8")

    report: dict = {}
    for method in ("tracemalloc", "vmhwm"):
        command = [
            sys.executable, str(Path(__file__).resolve()), "--memory-probe", method,
            "--probe-data", str(data_path), "--probe-model", str(model_path),
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
# Agreement between engines
# --------------------------------------------------------------------------


def keyed(estimates: pd.DataFrame) -> pd.DataFrame:
    """Index estimates by (lhs, op, rhs), with the two sides of ``~~`` sorted.

    Sorting makes ``a ~~ b`` and ``b ~~ a`` the same key, because the
    engines do not write covariances in the same order.
    """
    table = estimates[["lhs", "op", "rhs", "est", "se"]].copy()
    symmetric = table["op"] == "~~"
    first = table.loc[symmetric, ["lhs", "rhs"]].min(axis=1)
    second = table.loc[symmetric, ["lhs", "rhs"]].max(axis=1)
    table.loc[symmetric, "lhs"] = first
    table.loc[symmetric, "rhs"] = second
    return table.set_index(["lhs", "op", "rhs"])


def compare_with_lavaan(run: EngineRun, lavaan: EngineRun) -> dict:
    """Merge on lhs/op/rhs and return match counts and max abs differences."""
    mine = keyed(run.estimates)
    reference = keyed(lavaan.estimates)
    merged = mine.merge(
        reference, how="inner", left_index=True, right_index=True,
        suffixes=("_engine", "_lavaan"),
    )

    # Fixed parameters have se 0 in lavaan and NaN in semopy, so they are skipped.
    free = merged["se_lavaan"] > 0
    se_difference = merged.loc[free, "se_engine"] - merged.loc[free, "se_lavaan"]
    se_difference = se_difference.abs()
    return {
        "matched": len(merged),
        "only_engine": len(mine.index.difference(reference.index)),
        "only_lavaan": len(reference.index.difference(mine.index)),
        "max_est": float((merged["est_engine"] - merged["est_lavaan"]).abs().max()),
        "max_se": float(se_difference.max()),
    }


def selected_parameters(estimates: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Pick one free loading, path, residual variance and covariance."""
    free = estimates[estimates["se"] > 0]
    choices = [
        free[free["op"] == "=~"],
        free[free["op"] == "~"],
        free[(free["op"] == "~~") & (free["lhs"] == free["rhs"])],
        free[(free["op"] == "~~") & (free["lhs"] != free["rhs"])],
    ]
    return [tuple(rows.iloc[0][["lhs", "op", "rhs"]]) for rows in choices if len(rows)]


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def describe_machine() -> list[str]:
    """Describe the CPU, memory and Python libraries of this machine."""
    cpu = platform.processor() or platform.machine()
    memory = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass

    lines = [
        (
            f"machine: {cpu}, {os.cpu_count()} logical CPUs, {memory} RAM, "
            f"{platform.system()} {platform.release()}"
        ),
        (
            f"python {platform.python_version()}, numpy {np.__version__}, "
            f"pandas {pd.__version__}, lio_validate {lio_validate.__version__}"
        ),
    ]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return lines
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            package = Path(pool["filepath"]).parent.name
            lines.append(
                f"BLAS in {package}: {pool['internal_api']} {pool['version']}, "
                f"{pool['num_threads']} threads"
            )
    return lines


def format_seconds(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def print_timings(runs: list[EngineRun], repeats: int, nobs: int) -> None:
    """Print the timing table and whether each speed target is met."""
    lio = runs[0]
    print(f"\nWall-clock seconds per fit, {repeats} timed run(s) per engine")
    print(f"{'engine':<14}{'median s':>10}{'best s':>10}"
          f"{'median / lio':>14}{'best / lio':>12}")
    for run in runs:
        if run.skipped:
            print(f"{run.engine:<14}skipped: {run.skipped}")
            continue
        print(
            f"{run.engine:<14}{format_seconds(run.median):>10}"
            f"{format_seconds(run.best):>10}{run.median / lio.median:>14.1f}"
            f"{run.best / lio.best:>12.1f}"
        )
    for run in runs:
        if run.seconds:
            times = ", ".join(f"{value:.3f}" for value in run.seconds)
            print(f"  {run.engine}: warm-up {run.warmup_seconds:.3f} s, "
                  f"then runs in order {times} s")
        for note in run.notes:
            print(f"  {run.engine}: {note}")

    print("\nSpeed targets (ratio of medians), in this run:")
    if nobs != TARGET_NOBS:
        print(f"  the targets are stated for N = {TARGET_NOBS}, this run used "
              f"N = {nobs}")
    measured = {run.engine: run for run in runs if not run.skipped}
    for engine, target in SPEED_TARGETS.items():
        if engine not in measured:
            print(f"  {engine} / lio_validate >= {target:g}: not measured")
            continue
        ratio = measured[engine].median / lio.median
        verdict = "met" if ratio >= target else "NOT met"
        print(f"  {engine} / lio_validate >= {target:g}: {ratio:.1f}, {verdict}")


def print_agreement(runs: list[EngineRun]) -> None:
    """Print chisq, estimate differences against lavaan and a few estimates."""
    measured = {run.engine: run for run in runs if not run.skipped}
    lio = measured["lio_validate"]

    print("\nAgreement")
    for run in measured.values():
        print(f"  chisq {run.engine:<13}{run.chisq:.6f}")

    lavaan = measured.get("lavaan")
    if lavaan is None:
        print("  lavaan not run, so nothing to compare against")
    else:
        relative = abs(lio.chisq - lavaan.chisq) / abs(lavaan.chisq)
        verdict = "yes" if relative <= CHISQ_RELATIVE_TOLERANCE else "NO"
        print(f"  chisq relative difference lio_validate vs lavaan: {relative:.2e} "
              f"(within {CHISQ_RELATIVE_TOLERANCE:g}: {verdict})")
        for run in measured.values():
            if run is lavaan:
                continue
            summary = compare_with_lavaan(run, lavaan)
            print(
                f"  {run.engine} vs lavaan, merged on lhs/op/rhs: "
                f"{summary['matched']} rows matched, {summary['only_engine']} only "
                f"in {run.engine}, {summary['only_lavaan']} only in lavaan; max "
                f"|est diff| {summary['max_est']:.2e}, max |se diff| "
                f"{summary['max_se']:.2e}"
            )

    print("\nSelected estimates")
    print(f"  {'parameter':<50}" + "".join(f"{name:>14}" for name in measured))
    tables = {name: keyed(run.estimates) for name, run in measured.items()}
    for lhs, op, rhs in selected_parameters(lio.estimates):
        if op == "~~":
            lhs, rhs = sorted((lhs, rhs))
        cells = []
        for table in tables.values():
            value = table["est"].get((lhs, op, rhs), float("nan"))
            cells.append(f"{value:>14.6f}")
        print(f"  {f'{lhs} {op} {rhs}':<50}" + "".join(cells))


def print_memory(report: dict) -> None:
    """Print the memory probes' results in MiB."""
    print("\nPeak memory of one lio_validate fit (each probe in a fresh process, "
          f"after a warm-up fit on the first {MEMORY_WARMUP_ROWS} rows)")
    if "traced_peak_kib" in report:
        print("  tracemalloc, peak of memory allocated during the fit by Python "
              f"and numpy: {report['traced_peak_kib'] / 1024:.1f} MiB")
    if "peak_rss_kib" in report:
        before = report["rss_before_kib"] / 1024
        peak = report["peak_rss_kib"] / 1024
        print(f"  /proc/self/status VmHWM, peak RSS of the process during the fit: "
              f"{peak:.1f} MiB, {peak - before:.1f} MiB above the RSS of "
              f"{before:.1f} MiB before it")
    for key, message in report.items():
        if key.endswith("_error"):
            print(f"  {key.removesuffix('_error')} probe failed: {message}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


@contextlib.contextmanager
def limit_blas_threads(threads: int | None) -> Iterator[None]:
    """Limit the BLAS thread pools of this process, or do nothing for None.

    With two threads on a shared 2-core machine, OpenBLAS calls can slow
    down several times whenever another process takes a core, so a single
    thread can give steadier timings there.
    """
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as error:
        raise SystemExit(
            f"--blas-threads needs the threadpoolctl package: {error}"
        ) from error
    print(f"BLAS limited to {threads} thread(s) while lio_validate and semopy run")
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.memory_probe:
        run_memory_probe(
            arguments.memory_probe, arguments.probe_data, arguments.probe_model
        )
        return 0

    started = time.perf_counter()
    print(f"bench_ml.py, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    for line in describe_machine():
        print(line)
    print("load average (1, 5, 15 min) at start: "
          + ", ".join(f"{value:.2f}" for value in os.getloadavg()))

    # Data, simulated once and shared by all engines.
    model_text, data, items, factors = simulate_data(arguments.nobs)
    print(f"data: organisation model 'full', {len(items)} items, {len(factors)} "
          f"factors, N = {arguments.nobs}, seed {SEED}")

    with tempfile.TemporaryDirectory(prefix="bench_ml_") as temporary:
        directory = Path(temporary)
        with limit_blas_threads(arguments.blas_threads):
            runs = [time_lio_validate(model_text, data, arguments.repeats)]

            if arguments.skip_semopy:
                runs.append(EngineRun("semopy", skipped="--skip-semopy"))
            else:
                runs.append(
                    time_semopy(model_text, data, items, factors, arguments.repeats)
                )

        if arguments.skip_lavaan:
            runs.append(EngineRun("lavaan", skipped="--skip-lavaan"))
        else:
            runs.append(
                time_lavaan(model_text, data, arguments.repeats, directory)
            )

        memory = measure_memory(model_text, data, directory)

    print_timings(runs, arguments.repeats, arguments.nobs)
    print_agreement(runs)
    print_memory(memory)
    print("\nload average (1, 5, 15 min) at end: "
          + ", ".join(f"{value:.2f}" for value in os.getloadavg()))
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
