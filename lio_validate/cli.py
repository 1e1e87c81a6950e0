"""The command line: ``python -m lio_validate COMMAND``.

Exit status: 0 on success, 2 on bad input (one line on stderr naming the file,
column, group or model line and what to do), 1 on an internal failure.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

from lio_validate import cli_data, cli_invariance, cli_reproduce
from lio_validate.exceptions import LioInputError

__all__ = ["main", "build_parser"]

ESTIMATORS = ("ML", "MLR", "MLM", "WLSMV", "DWLS", "ULSMV", "ULS")

# Each module has register(subparsers) and HANDLERS {command: function(args, argv)}.
_COMMAND_MODULES = (cli_invariance, cli_data, cli_reproduce)


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with status 2 on one line."""

    def error(self, message: str) -> None:  # pragma: no cover - argparse hook
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="python -m lio_validate",
        description="Validate the organisation model of the learning and innovative "
        "organisation: reliability, CFA and SEM with lavaan's numbers.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of an internal failure")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=_ArgumentParser)

    run = commands.add_parser(
        "run-sem", help="fit a model to a data file and write a results folder",
        description="Fit a CFA/SEM written in lavaan syntax and write estimates, fit "
        "measures, reliability, figures, a report and a manifest. Without --data "
        "and --model it runs the bundled organisation-model example.",
    )
    run.add_argument("--data", type=Path, help="data file (.csv, .parquet, .sav, .dta)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, help="model file in lavaan syntax (.lav)")
    source.add_argument("--spec", type=Path, help="YAML job specification")
    run.add_argument("--codebook", type=Path, help="YAML codebook of the data file "
                     "(default: <data>.codebook.yaml or codebook.yaml beside it)")
    run.add_argument("--estimator", choices=ESTIMATORS,
                     help="estimator (default ML; MLR and MLM add robust standard "
                     "errors and scaled tests)")
    run.add_argument("--missing", choices=("listwise", "fiml"),
                     help="missing-data treatment (default listwise; fiml keeps "
                     "incomplete rows, valid under MAR)")
    run.add_argument("--ordered", help="'all' or a comma-separated list of ordinal items")
    run.add_argument("--group", help="column defining groups for a multi-group fit")
    run.add_argument("--group-equal", help="comma-separated equality constraints "
                     "across groups (loadings, intercepts, ...)")
    run.add_argument("--weights", help="column of sampling weights")
    run.add_argument("--cluster", help="column of cluster (organisation) ids")
    run.add_argument("--reverse", help="comma-separated reverse-keyed items to recode "
                     "(min + max - x) before anything is computed")
    run.add_argument("--bootstrap", type=int, metavar="N",
                     help="number of bootstrap replicates for percentile and BCa "
                     "intervals (written to bootstrap.csv)")
    run.add_argument("--jobs", type=int, default=-1,
                     help="local worker processes for the bootstrap (default: all "
                     "cores)")
    run.add_argument("--scheduler", help="address of a Dask scheduler "
                     "(tcp://host:port) to run the bootstrap on")
    run.add_argument("--seed", type=int, help="random seed (recorded in the manifest)")
    run.add_argument("--out", type=Path, help="results folder to create; it must not "
                     "exist or be empty (default results/<data file name>-<UTC time>)")

    # Commands that live in their own modules register themselves here.
    for module in _COMMAND_MODULES:
        module.register(commands)
    return parser


def _default_out(stem: str) -> Path:
    """A new results folder per run, so that repeating a command never collides."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{stem}-{stamp}"


def _run_sem(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate.pipeline import JobSpec, example_spec, load_spec, run_sem_job

    if args.spec is not None:
        spec = load_spec(args.spec, args.out)
    elif args.data is None and args.model is None:
        spec = example_spec(args.out or _default_out("example"))
    elif args.data is None or args.model is None:
        raise LioInputError(
            "give both --data FILE and --model FILE.lav (or neither, to run the bundled "
            "example)"
        )
    else:
        from lio_validate.pipeline import _read_text

        spec = JobSpec(
            data_path=args.data,
            model_path=args.model,
            model_text=_read_text(args.model, "model"),
            out_dir=args.out or _default_out(args.data.stem),
        )
    changes = {}
    if args.estimator:
        changes["estimator"] = args.estimator
    for name in ("missing", "weights", "cluster"):
        if getattr(args, name, None):
            changes[name] = getattr(args, name)
    if args.bootstrap is not None:
        if args.bootstrap < 1:
            raise LioInputError(f"--bootstrap must be a positive count, not "
                                f"{args.bootstrap}")
        changes["bootstrap"] = args.bootstrap
        changes["jobs"] = args.jobs
        changes["scheduler"] = args.scheduler
    if args.codebook:
        changes["codebook_path"] = args.codebook
    if args.ordered is not None:
        changes["ordered"] = _ordered_items(args.ordered, spec.model_text,
                                            spec.model_path or spec.spec_path)
    if args.group_equal:
        changes["group_equal"] = tuple(
            part.strip() for part in args.group_equal.split(",") if part.strip())
    if args.group:
        changes["group"] = args.group
    if args.reverse:
        changes["reverse"] = tuple(s.strip() for s in args.reverse.split(",") if s.strip())
    if args.seed is not None:
        changes["seed"] = args.seed
    if changes:
        from dataclasses import replace

        spec = replace(spec, **changes)

    out = run_sem_job(spec, argv)
    print(f"results written to {out}")
    return 0


def _ordered_items(text: str, model_text: str,
                   model_source: Path | None) -> bool | tuple[str, ...]:
    """Parse --ordered: ``all`` in any letter case, or items of the model.

    Every listed item must be an observed variable of the model. The model's
    own check then names any of them that is not a column of the data, with
    its model line, so a listed item is never silently ignored.
    """
    from lio_validate.data_prep import model_variables
    from lio_validate.io_common import _describe_missing
    from lio_validate.syntax import parse_model

    if text.strip().lower() == "all":
        return True
    items = tuple(dict.fromkeys(part.strip() for part in text.split(",")
                                if part.strip()))
    if not items:
        raise LioInputError(
            f"--ordered {text!r} lists no item. Give 'all' or the ordinal items "
            "separated by commas, for example --ordered x1,x2,x3"
        )
    latent, first_line = model_variables(parse_model(model_text))
    observed = list(first_line)
    where = f" in {model_source}" if model_source is not None else ""
    latent_listed = [item for item in items if item in latent]
    if latent_listed:
        raise LioInputError(
            f"--ordered lists the latent variable(s) "
            f"{', '.join(map(repr, latent_listed))} of the model{where}. List the "
            "observed items that are ordinal, or use --ordered all"
        )
    unknown = [item for item in items if item not in observed]
    if unknown:
        if len(unknown) == 1:
            not_observed = "which is not an observed variable"
        else:
            not_observed = "which are not observed variables"
        observed_list = ", ".join(observed[:12])
        if len(observed) > 12:
            observed_list += f", ... ({len(observed)} in all)"
        raise LioInputError(
            f"--ordered lists {_describe_missing(unknown, observed)}, {not_observed} "
            f"of the model{where} (its observed variables: {observed_list}). Check "
            "the spelling, or use --ordered all"
        )
    return items


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handlers = {"run-sem": _run_sem}
    for module in _COMMAND_MODULES:
        handlers.update(module.HANDLERS)
    handler = handlers[args.command]
    try:
        return handler(args, argv)
    except LioInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; no results folder was written", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the command line's last resort
        if args.debug:
            traceback.print_exc()
        print(
            f"internal error: {type(error).__name__}: {error} (this is a bug in "
            "lio_validate; rerun with --debug for the traceback and report it)",
            file=sys.stderr,
        )
        return 1
