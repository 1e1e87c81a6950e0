"""Command-line commands that prepare data: ``codebook``, ``prepare`` and ``simulate``.

* ``codebook FILE`` drafts a starting codebook from a survey file.
* ``prepare FILE`` applies a codebook, validates the data, prints the audit
  and can write the model-ready data.
* ``simulate --out DIR`` writes a simulated NEA-style survey with its
  codebook, model and true values.

Each handler takes the parsed arguments and the raw argv and returns an exit
status. Errors the user can fix are raised as LioInputError, which the
command line prints as one line before it exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Callable

from lio_validate.exceptions import DataError, LioInputError, LioWarning

__all__ = ["register", "HANDLERS"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the command line."""
    codebook = commands.add_parser(
        "codebook",
        help="draft a starting codebook (YAML) from a survey file",
        description="Read a survey file and propose a codebook: answer scales from "
        "the value labels, missing codes, scales from the column names, reverse-"
        "keyed items from the correlations. Edit it before use.",
    )
    codebook.add_argument(
        "data",
        type=Path,
        metavar="FILE",
        help="survey file (.sav, .zsav, .por, .dta, .csv, .parquet)",
    )
    codebook.add_argument(
        "--out", type=Path, help="write the codebook to this file (default: stdout)"
    )
    codebook.add_argument(
        "--force", action="store_true", help="replace the --out file if it exists"
    )

    prepare = commands.add_parser(
        "prepare",
        help="apply a codebook, validate the data and print the audit",
        description="Read a survey file, apply its codebook (missing codes, text "
        "answers, reverse-keyed items), validate items, weights and groups, and "
        "print what was recoded per variable. The input file is never modified.",
    )
    prepare.add_argument("data", type=Path, metavar="FILE", help="survey file")
    prepare.add_argument(
        "--codebook",
        type=Path,
        help="codebook (YAML); default <FILE stem>.codebook.yaml or "
        "codebook.yaml next to FILE, if present",
    )
    prepare.add_argument(
        "--items",
        help="comma-separated items to check besides the codebook's scale items",
    )
    prepare.add_argument("--group", help="group column (overrides the codebook)")
    prepare.add_argument("--weights", help="weight column (overrides the codebook)")
    prepare.add_argument("--cluster", help="cluster column (overrides the codebook)")
    prepare.add_argument(
        "--out",
        type=Path,
        help="write the model-ready data to this .parquet or .csv file",
    )
    prepare.add_argument(
        "--audit", type=Path, help="write the audit table to this .csv file"
    )
    prepare.add_argument(
        "--strict",
        action="store_true",
        help="treat data warnings as errors (exit status 2)",
    )
    prepare.add_argument(
        "--force",
        action="store_true",
        help="replace the --out and --audit files if they exist",
    )

    simulate = commands.add_parser(
        "simulate",
        help="write a simulated NEA-style survey with its codebook and true values",
        description="Draw employees nested in organisations from the organisation "
        "model and write them as .sav, .parquet and .csv files, with codebook.yaml, "
        "model.lav, levels.json and truth.json.",
    )
    simulate.add_argument(
        "--out", type=Path, required=True, help="folder to write the files to"
    )
    simulate.add_argument(
        "--n", type=int, default=2000, help="number of respondents (default 2000)"
    )
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    simulate.add_argument(
        "--preset",
        default="example",
        choices=("example", "full"),
        help="population model: 32 items (example) or 59 (full)",
    )
    simulate.add_argument(
        "--icc",
        type=float,
        default=0.10,
        help="intraclass correlation of the factors across "
        "organisations (default 0.10)",
    )
    simulate.add_argument(
        "--mcar-rate",
        type=float,
        default=0.004,
        help="share of answers replaced by 9 'no answer' at random (default 0.004)",
    )
    simulate.add_argument(
        "--mar-rate",
        type=float,
        default=0.03,
        help="extra share of 8 'don't know' among the low educated "
        "on the employee items (default 0.03)",
    )
    simulate.add_argument(
        "--no-group-differences",
        action="store_true",
        help="give every education group and sector the same paths and intercepts",
    )
    simulate.add_argument(
        "--format",
        default="sav,parquet,csv",
        help="comma-separated data formats (default sav,parquet,csv)",
    )
    simulate.add_argument(
        "--force", action="store_true", help="replace files that exist in --out"
    )


# --------------------------------------------------------------------------
# codebook
# --------------------------------------------------------------------------


def _codebook(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate.codebook_draft import draft_codebook

    if args.out is not None:
        _check_output_path(args.out, args.data, args.force, "--out")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LioWarning)
        text = draft_codebook(args.data)
    _print_warnings(caught)

    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.write_text(text, encoding="utf-8", newline="\n")
    print(f"codebook written to {args.out}; check every entry before you use it")
    return 0


# --------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------


def _prepare(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate.codebook import codebook_path_for, prepare_survey

    for option, path in (("--out", args.out), ("--audit", args.audit)):
        if path is not None:
            _check_output_path(path, args.data, args.force, option)
    if args.out is not None and args.out.suffix.lower() not in (".parquet", ".csv"):
        raise LioInputError(
            f"--out {args.out}: the model-ready data can be written as .parquet or "
            ".csv. Give a file name with one of these suffixes."
        )
    codebook = args.codebook
    if codebook is None:
        codebook = codebook_path_for(args.data)
        if codebook is not None:
            print(f"using the codebook {codebook} (found next to the data file)")
    items = [name.strip() for name in (args.items or "").split(",") if name.strip()]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LioWarning)
        prepared = prepare_survey(
            args.data,
            codebook,
            items=items or None,
            group=args.group,
            weight=args.weights,
            cluster=args.cluster,
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, LioWarning)]
    if args.strict and messages:
        raise DataError(
            f"{messages[0]} (--strict turns data warnings into errors"
            + (f"; {len(messages) - 1} more warning(s)" if len(messages) > 1 else "")
            + ")"
        )
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)

    print(prepared.summary())
    if args.audit is not None:
        prepared.audit.to_csv(args.audit, index=False, lineterminator="\n")
        print(f"audit written to {args.audit}")
    if args.out is not None:
        if args.out.suffix.lower() == ".parquet":
            prepared.frame.to_parquet(args.out, index=False)
        else:
            prepared.frame.to_csv(args.out, index=False, lineterminator="\n")
        print(f"model-ready data written to {args.out}")
    return 0


# --------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------


def _simulate(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate.simulate_design import nea_design, simulate_survey
    from lio_validate.simulate_write import write_survey

    formats = tuple(
        name.strip().lower().lstrip(".")
        for name in args.format.split(",")
        if name.strip()
    )
    design = nea_design(
        args.preset,
        icc=args.icc,
        group_differences=not args.no_group_differences,
        mcar_rate=args.mcar_rate,
        mar_rate=args.mar_rate,
    )
    survey = simulate_survey(design, args.n, seed=args.seed)
    files = write_survey(survey, args.out, formats=formats, overwrite=args.force)
    for path in files.values():
        print(path)
    return 0


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _check_output_path(path: Path, data: Path, force: bool, option: str) -> None:
    """Refuse to write over the input file, or over any file without --force."""
    if path.resolve() == data.resolve():
        raise LioInputError(
            f"{option} {path} is the input file, which is never modified. Give "
            "another file name."
        )
    if path.exists() and not force:
        raise LioInputError(
            f"{option} {path} already exists. Give another file name, or add --force "
            "to replace it."
        )


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for warning in caught:
        if issubclass(warning.category, LioWarning):
            print(f"warning: {warning.message}", file=sys.stderr)


HANDLERS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "codebook": _codebook,
    "prepare": _prepare,
    "simulate": _simulate,
}
