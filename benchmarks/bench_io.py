"""Time and memory of reading a large simulated survey into model-ready data.

The script simulates an NEA-style survey (``lio_validate.simulate``) with 60
items: the "full" organisation model (59 items) plus a fourth item on the
initiative scale. It writes the survey as an SPSS .sav file (row-compressed,
with value labels and user-missing codes) and its codebook, and then runs
``prepare_survey(sav, codebook)`` in a fresh Python process: reading,
missing codes, text answers, reverse keying and validation. It prints the
wall-clock time of each step and the peak memory of the preparation.

Usage::

    python benchmarks/bench_io.py [--nobs 1000000] [--seed 1]
                                  [--formats sav,parquet,csv] [--keep DIR]

Peak memory is the process's peak resident set size (VmHWM in
``/proc/self/status``, Linux only) after ``/proc/self/clear_refs`` reset it
once the imports were done, so the imports are not counted. The script also
prints the size of the model-ready frame and the ratio of the peak increase
to that size. ``lio_validate.codebook`` documents the bound that this ratio
should stay under.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A peak increase of more than this many times the model-ready frame is
# reported as over the documented bound.
MEMORY_BOUND_RATIO = 2.5


def build_design(n_items: int = 60):
    """Return the 60-item design: the "full" preset plus the item ini4."""
    from lio_validate.population import PopulationModel
    from lio_validate.simulate_design import SurveyDesign, nea_design

    base = nea_design("full")
    model = base.model
    factors = tuple(
        dataclasses.replace(f, items=(*f.items, "ini4"), loadings=(*f.loadings, 0.60))
        if f.name == "initiative"
        else f
        for f in model.factors
    )
    grown = PopulationModel(
        model.name,
        factors,
        model.regressions,
        model.exogenous_correlations,
        model.residual_covariances,
    )
    categories = {
        item: base.categories.get(item, base.categories["ini1"])
        for item in grown.item_names
    }
    thresholds = {
        item: base.thresholds.get(item, base.thresholds["ini2"])
        for item in grown.item_names
    }
    design = SurveyDesign(
        model=grown,
        categories=categories,
        thresholds=thresholds,
        reverse_keyed=base.reverse_keyed,
        text_items=base.text_items,
        mcar_rate=base.mcar_rate,
        mar_rate=base.mar_rate,
        mar_items=(*base.mar_items, "ini4"),
        icc=base.icc,
        mean_organisation_size=base.mean_organisation_size,
        path_differences=base.path_differences,
        intercept_shifts=base.intercept_shifts,
    )
    if len(design.items) != n_items:
        raise RuntimeError(f"expected {n_items} items, got {len(design.items)}")
    return design


def peak_resident_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def resident_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def measure(data: str, codebook: str) -> None:
    """Run prepare_survey once in this process and print a JSON line."""
    import warnings

    from lio_validate.codebook import prepare_survey

    # Reset the peak after the imports, so that only the preparation counts.
    Path("/proc/self/clear_refs").write_text("5")
    baseline = resident_mib()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare_survey(data, codebook)
    seconds = time.perf_counter() - start
    peak = peak_resident_mib()
    frame_mib = prepared.frame.memory_usage(deep=True).sum() / 2**20
    print(
        json.dumps(
            {
                "seconds": seconds,
                "baseline_mib": baseline,
                "peak_mib": peak,
                "frame_mib": frame_mib,
                "rows": prepared.nobs,
                "items": len(prepared.items),
                "warnings": [str(w.message) for w in caught],
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nobs",
        type=int,
        default=1_000_000,
        help="number of simulated respondents (default 1000000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--formats",
        default="sav",
        help="comma-separated formats to write and prepare "
        "(sav, parquet, csv; default sav)",
    )
    parser.add_argument(
        "--keep", type=Path, help="write the files to this folder and keep them"
    )
    parser.add_argument(
        "--measure", nargs=2, metavar=("DATA", "CODEBOOK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return 0

    from lio_validate.simulate_design import simulate_survey
    from lio_validate.simulate_write import write_survey

    formats = tuple(name.strip() for name in args.formats.split(",") if name.strip())
    print(
        f"python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} logical CPUs"
    )

    start = time.perf_counter()
    design = build_design()
    survey = simulate_survey(design, args.nobs, seed=args.seed)
    print(
        f"simulate {args.nobs} rows x {len(design.items)} items: "
        f"{time.perf_counter() - start:.1f} s"
    )

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        for name in formats:
            start = time.perf_counter()
            files = write_survey(survey, folder, formats=(name,), overwrite=True)
            size = files[name].stat().st_size / 2**20
            print(f"write .{name}: {time.perf_counter() - start:.1f} s, {size:.0f} MiB")
        del survey

        print()
        print("format  seconds  peak MiB  increase MiB  frame MiB  increase/frame")
        for name in formats:
            data = folder / f"survey.{name}"
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--measure",
                    str(data),
                    str(folder / "codebook.yaml"),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            record = json.loads(result.stdout.strip().splitlines()[-1])
            increase = record["peak_mib"] - record["baseline_mib"]
            ratio = increase / record["frame_mib"]
            flag = "" if ratio <= MEMORY_BOUND_RATIO else "  over the bound"
            print(
                f"{name:<7} {record['seconds']:7.1f}  {record['peak_mib']:8.0f}  "
                f"{increase:12.0f}  {record['frame_mib']:9.0f}  "
                f"{ratio:14.2f}{flag}"
            )
            for message in record["warnings"]:
                print(f"  warning: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
