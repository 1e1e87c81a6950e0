"""Command-line command ``invariance``: the measurement-invariance ladder.

``python -m lio_validate invariance --data FILE --model FILE.lav --group COL``
fits the configural, metric, scalar and strict models, compares each with
the one before, and writes a results folder:

* ``invariance.csv``: one row per level with ``level, chisq, df, cfi, tli,
  rmsea, srmr, delta_chisq, delta_df, delta_pvalue, delta_cfi, delta_rmsea,
  decision``;
* ``invariance_details.csv``: the same levels with every column of the
  result (npar, AIC, BIC, unscaled chisq, scaling factors, the RMSEA of the
  difference test, the changes in TLI and SRMR);
* ``dmacs.csv``: dMACS per item and focal group, from the configural model or,
  with ``--partial``, from the final partial model (continuous items only);
* ``partial_invariance.csv`` and ``score_tests.csv`` (with ``--partial``): the
  release steps and the score tests of the final model (for ordinal items,
  the scaled difference tests of releasing each candidate);
* ``report.md``: the tables with a short reading of each;
* ``figures/invariance_ladder.*``: the fit of each level and its change;
* ``manifest.json``: versions, input checksums, the command, start and end time.

Each handler takes the parsed arguments and the raw argv and returns an exit
status; errors the user can fix are raised as LioInputError.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from lio_validate.exceptions import LioInputError, LioWarning

__all__ = ["HANDLERS", "register"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the command line."""
    invariance = commands.add_parser(
        "invariance", help="test measurement invariance across groups",
        description="Fit the configural, metric, scalar and strict models across "
        "the groups of --group, compare each level with the one before (chi-square "
        "difference test, change in CFI, RMSEA and SRMR with Chen's 2007 cut-offs) "
        "and write invariance.csv, dMACS per item, a report and a manifest.",
    )

    # Inputs.
    invariance.add_argument("--data", type=Path, required=True,
                            help="data file (.csv, .parquet, .sav, .dta)")
    invariance.add_argument("--model", type=Path, required=True,
                            help="model file in lavaan syntax (.lav)")
    invariance.add_argument("--group", required=True,
                            help="column whose values define the groups")
    invariance.add_argument("--codebook", type=Path,
                            help="YAML codebook of the data file (default: "
                            "<data>.codebook.yaml or codebook.yaml beside it), "
                            "applied as run-sem applies it")
    invariance.add_argument("--weights",
                            help="column of sampling weights (default: the "
                            "codebook's)")
    invariance.add_argument("--cluster",
                            help="column of cluster ids for cluster-robust tests "
                            "(default: the codebook's)")

    # Estimation and levels.
    invariance.add_argument("--estimator",
                            help="ML (default), MLR or MLM; MLR and MLM report scaled "
                            "difference tests (Satorra-Bentler 2001) and robust fit "
                            "indices. With --ordered: WLSMV (default), ULSMV, DWLS "
                            "or ULS")
    invariance.add_argument("--ordered",
                            help="'all' or comma-separated ordinal items; the ladder "
                            "is then configural, thresholds, metric, scalar with the "
                            "identification of Wu & Estabrook (2016)")
    invariance.add_argument("--missing", choices=("listwise", "fiml"),
                            default="listwise", help="missing-data treatment "
                            "(default listwise)")
    invariance.add_argument("--levels",
                            help="comma-separated levels in order (default "
                            "configural,metric,scalar,strict; also means)")
    invariance.add_argument("--reference",
                            help="reference group of dMACS (default: the first group "
                            "in the data)")

    # Partial invariance and output.
    invariance.add_argument("--partial", action="store_true",
                            help="release equality constraints of the first level "
                            "that fails, largest score test first (Holm-adjusted), "
                            "until the level is supported; with --ordered, smallest "
                            "p-value of the scaled difference test first")
    invariance.add_argument("--alpha", type=float, default=0.05,
                            help="significance level of the score tests of --partial "
                            "(default 0.05)")
    invariance.add_argument("--out", type=Path,
                            help="results folder to create; it must not exist or be "
                            "empty (default results/<data file name>-invariance-<UTC "
                            "time>)")


def _read_model(path: Path) -> str:
    if not path.is_file():
        raise LioInputError(
            f"the model file {str(path)!r} does not exist; check the path"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LioInputError(
            f"the model file {str(path)!r} is not UTF-8 text ({error.reason}); save it "
            "as UTF-8"
        ) from None


def _invariance(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate import figures, manifest, output
    from lio_validate.codebook import codebook_path_for, prepare_survey
    from lio_validate.invariance import INVARIANCE_COLUMNS, invariance
    from lio_validate.partial_invariance import partial_invariance
    from lio_validate.pipeline import codebook_ordered

    started = datetime.now(timezone.utc)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    out_dir = args.out or Path("results") / f"{args.data.stem}-invariance-{stamp}"
    output.check_output_directory(out_dir)
    levels = [part.strip() for part in args.levels.split(",") if part.strip()] \
        if args.levels else None

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LioWarning)
        model_text = _read_model(args.model)
        ordered = None
        if args.ordered:
            # The same check as run-sem's: every listed item is named if it is
            # not an observed variable of the model.
            from lio_validate.cli import _ordered_items

            ordered = _ordered_items(args.ordered, model_text, args.model)
            ordered = ordered if ordered is True else list(ordered)
        # The data go through the codebook (missing codes, text answers,
        # reverse-keyed items, design columns) as in run-sem.
        codebook_path = args.codebook or codebook_path_for(args.data)
        survey = prepare_survey(args.data, codebook_path, weight=args.weights,
                                cluster=args.cluster)
        frame = survey.frame
        weights = args.weights or survey.weight
        cluster = args.cluster or survey.cluster
        ordered = codebook_ordered(ordered, args.estimator, survey)
        result = invariance(model_text, frame, args.group, estimator=args.estimator,
                            levels=levels, ordered=ordered, missing=args.missing,
                            reference=args.reference, weights=weights,
                            cluster=cluster)
        partial = None
        failed = result.first_rejected_level
        if args.partial and failed is not None:
            partial = partial_invariance(
                model_text, frame, args.group, level=failed,
                levels=levels, estimator=result.estimator, alpha=args.alpha,
                reference=args.reference, ordered=ordered, weights=weights,
                cluster=cluster)
        drawn = {}
        if hasattr(figures, "plot_invariance_ladder"):
            drawn["invariance_ladder"] = result.plot()
    run_warnings = list(dict.fromkeys(str(w.message) for w in caught
                                      if issubclass(w.category, LioWarning)))
    for text in run_warnings:
        print(f"warning: {text}", file=sys.stderr)
    finished = datetime.now(timezone.utc)

    effect = partial.dmacs if partial is not None else result.dmacs
    files = {
        "invariance.csv": output.estimates_to_csv(
            result.table.loc[:, list(INVARIANCE_COLUMNS)]),
        "invariance_details.csv": output.estimates_to_csv(result.table),
    }
    if effect is not None:
        files["dmacs.csv"] = output.estimates_to_csv(effect.table)
    if partial is not None:
        files["partial_invariance.csv"] = output.estimates_to_csv(partial.steps)
        tests = partial.score_tests.by_parameter.copy()
        if "released" in tests:
            tests["released"] = tests["released"].map(", ".join)
        files["score_tests.csv"] = output.estimates_to_csv(tests)
    files["report.md"] = _report(result, partial, effect, args, list(drawn),
                                 run_warnings)
    record = manifest.build_manifest(
        command="invariance", argv=argv,
        options={"group": args.group, "estimator": result.estimator,
                 "missing": args.missing, "levels": list(result.levels),
                 "reference": args.reference, "partial": bool(args.partial),
                 "alpha": args.alpha, "ordered": ordered, "weights": weights,
                 "cluster": cluster,
                 "codebook": None if codebook_path is None else str(codebook_path),
                 "out": str(out_dir)},
        input_files={"data": args.data, "model": args.model,
                     **({"codebook": Path(codebook_path)} if codebook_path else {})},
        model_text=model_text, seed=None, started=started, finished=finished,
        warnings=run_warnings,
        convergence={level: {"converged": fit.converged, "iterations": fit.iterations,
                             "max_abs_gradient": fit.max_abs_gradient}
                     for level, fit in result.fits.items()},
        outputs=files,
    )
    files["manifest.json"] = manifest.manifest_to_json(record)
    output.write_results_folder(out_dir, files, drawn)
    print(f"results written to {out_dir}")
    return 0


# --------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------


def _number(value, decimals: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return f"{value:.{decimals}f}"


def _pvalue(value) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _report(result, partial, effect, args, figure_names, run_warnings) -> str:
    """Render report.md: the ladder, partial invariance, dMACS, figures, warnings."""
    sizes = ", ".join(f"{name} ({result.group_sizes[name]})"
                      for name in result.group_names)
    measures = ", ".join(f"`{name}`" for name in
                         dict.fromkeys(result.measure_names.values()))
    rows = []
    for row in result.table.itertuples(index=False):
        rows.append([
            row.level, _number(row.chisq, 2), f"{row.df:g}", _number(row.cfi),
            _number(row.tli), _number(row.rmsea), _number(row.srmr),
            _number(row.delta_chisq, 2),
            "" if pd.isna(row.delta_df) else f"{row.delta_df:g}",
            _pvalue(row.delta_pvalue), _number(row.delta_cfi),
            _number(row.delta_rmsea), str(row.decision),
        ])

    sections = [
        "# Measurement invariance",
        (f"Data `{args.data}`, model `{args.model}`, groups of `{args.group}`: "
         f"{sizes}. Estimator {result.estimator}; each level shows the fit "
         f"measures {measures}, and the comparison with the level before it uses "
         f"the {result.difference_test} chi-square difference test."),
        "## Ladder",
        _markdown_table(["level", "chisq", "df", "CFI", "TLI", "RMSEA", "SRMR",
                         "d chisq", "d df", "p", "d CFI", "d RMSEA", "decision"], rows),
        _ladder_reading(result),
    ]

    if partial is not None:
        sections += ["## Partial invariance", _partial_section(partial)]
    if effect is not None:
        sections += ["## Size of non-invariance (dMACS)",
                     _dmacs_section(effect, partial)]
    if figure_names:
        sections += ["## Figures"] + [f"![{name}](figures/{name}.png)"
                                      for name in figure_names]
    if run_warnings:
        sections += ["## Warnings", "\n".join(f"- {text}" for text in run_warnings)]

    references = (
        "- Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of "
        "measurement invariance. Structural Equation Modeling, 14(3), 464-504.\n"
        "- Nye, C. D., & Drasgow, F. (2011). Effect size indices for analyses of "
        "measurement equivalence. Journal of Applied Psychology, 96(5), 966-980.\n"
        "- Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test "
        "statistic for moment structure analysis. Psychometrika, 66(4), 507-514."
    )
    if result.difference_test == "satorra.2000" or "thresholds" in result.levels:
        references += (
            "\n- Satorra, A. (2000). Scaled and adjusted restricted tests in "
            "multi-sample analysis of moment structures. In R. D. H. Heijmans, D. S. G. "
            "Pollock, & A. Satorra (Eds.), Innovations in Multivariate Statistical "
            "Analysis (pp. 233-247). Kluwer.\n"
            "- Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor "
            "analysis models of different levels of invariance for ordered "
            "categorical outcomes. Psychometrika, 81(4), 1014-1045."
        )
    sections += ["## References", references]
    return "\n\n".join(sections) + "\n"


def _ladder_reading(result) -> str:
    highest = result.highest_supported_level
    failed = result.first_rejected_level
    text = (f"By the rule in the decision column, invariance holds up to the "
            f"{highest} level.")
    if failed is not None:
        text += (f" The {failed} level is not supported: its added constraints worsen "
                 "the fit by more than the cut-offs allow, so comparisons that need "
                 f"it (latent means need scalar invariance) should rest on a partial "
                 f"{failed} model (--partial).")
    significant = result.table["delta_pvalue"] < 0.05
    if significant.any():
        text += (" The chi-square difference test is significant (p < .05) for "
                 f"{', '.join(result.table.loc[significant, 'level'])}. It is "
                 "reported beside the decision, which rests on the change in fit "
                 "indices because with large groups the test also rejects "
                 "differences too small to matter.")
    return text


def _partial_section(partial) -> str:
    rows = []
    for row in partial.steps.itertuples(index=False):
        released = row.released if isinstance(row.released, str) else "(none)"
        rows.append([str(row.step), released, _number(row.X2, 2),
                     _pvalue(row.pvalue_adjusted), _number(row.chisq, 2),
                     f"{row.df_model:g}", _number(row.cfi), _number(row.delta_cfi),
                     _number(row.delta_rmsea), str(row.decision).split(" (")[0]])
    difference = getattr(partial.score_tests, "test", None)
    statistic = "score X2" if difference is None else "difference X2"
    table = _markdown_table(["step", "released", statistic, "p (Holm)", "chisq", "df",
                             "CFI", "d CFI", "d RMSEA", "decision"], rows)
    chosen = ("the largest significant score test" if difference is None else
              f"the smallest significant p-value of the {difference} difference "
              "test of releasing it")
    reading = (f"Starting from the full {partial.level} model, each step released the "
               f"parameter with {chosen} and refitted. "
               f"Stopped because {partial.stop_reason}. Final group_partial: "
               f"{', '.join(partial.group_partial) or 'none'}; the final model is "
               f"{'supported' if partial.supported else 'not supported'} against the "
               f"{partial.previous_level} model.")
    return table + "\n\n" + reading


def _dmacs_section(effect, partial) -> str:
    top = effect.largest(10)
    rows = [[row.item, row.factor, row.reference, row.focal, _number(row.dmacs),
             _number(row.mean_difference)] for row in top.itertuples(index=False)]
    source = "the final partial model" if partial is not None else \
        "the configural model, each factor anchored on its first item"
    reading = (f"dMACS from {source}: the difference between two groups' expected "
               "item scores at the same factor level, in pooled item SDs, averaged "
               "over the focal group's factor distribution. The ten largest are shown; "
               "dmacs.csv lists all.")
    return _markdown_table(["item", "factor", "reference", "focal", "dMACS",
                            "mean difference"], rows) + "\n\n" + reading


HANDLERS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "invariance": _invariance,
}
