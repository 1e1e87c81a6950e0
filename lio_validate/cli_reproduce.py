"""Command-line commands for reviewers: ``rerun`` and ``reproduce``.

Each handler takes the parsed arguments and the raw argv and returns an exit
status; errors the user can fix are raised as LioInputError.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from lio_validate.exceptions import LioInputError

__all__ = ["register", "HANDLERS"]

DEFAULT_CONFIG_DIRECTORY = Path("analyses")


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the command line."""
    reproduce = commands.add_parser(
        "reproduce",
        help="rebuild every table and figure of a paper from a YAML config",
        description="Run the analyses of a YAML config (reliability, CFA, SEM, group "
        "comparison) and write their tables (CSV and LaTeX), figures (PNG, SVG, PDF), "
        "a README and a manifest. Two runs give byte-identical tables.",
    )
    reproduce.add_argument(
        "config",
        nargs="?",
        type=Path,
        default=DEFAULT_CONFIG_DIRECTORY,
        help="YAML config, or a folder whose *.yaml configs are all run, each into "
        "its own subfolder of --out (default ./analyses)",
    )
    reproduce.add_argument(
        "--out",
        type=Path,
        required=True,
        help="results folder to create; it must not exist or be empty",
    )

    rerun = commands.add_parser(
        "rerun",
        help="repeat the run recorded in a manifest and compare the tables",
        description="Check the SHA-256 of the input files recorded in MANIFEST, run "
        "the recorded command again into a new folder and compare every table (CSV, "
        "LaTeX and JSON) with the original. Exit 0 if all are identical, 1 if any "
        "differs.",
    )
    rerun.add_argument(
        "manifest", type=Path, help="manifest.json of a results folder, or the folder"
    )
    rerun.add_argument(
        "--out",
        type=Path,
        help="folder for the repeated run (default results/rerun-<UTC time>)",
    )


def _config_files(config: Path) -> list[Path]:
    if config.is_dir():
        files = sorted(config.glob("*.yaml")) + sorted(config.glob("*.yml"))
        if not files:
            raise LioInputError(
                f"the folder {str(config)!r} contains no *.yaml file; give a config "
                "file"
            )
        return files
    if not config.exists():
        hint = (
            "run the command in the project folder, which has analyses/, or give the "
            "config file"
            if config == DEFAULT_CONFIG_DIRECTORY
            else "check the path"
        )
        raise LioInputError(f"the config {str(config)!r} does not exist; {hint}")
    return [config]


def _reproduce(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate.reproduce import reproduce

    configs = _config_files(args.config)
    if len(configs) == 1 and not args.config.is_dir():
        reproduce(configs[0], args.out, argv)
        print(f"results written to {args.out}")
        return 0

    # Each config gets its own folder, and its manifest records the command that
    # rebuilds that folder alone, so that rerun can repeat it.
    for config in configs:
        out = args.out / config.stem
        reproduce(config, out, ["reproduce", str(config), "--out", str(out)])
        print(f"results of {config.name} written to {out}")
    return 0


def _rerun(args: argparse.Namespace, argv: list[str]) -> int:
    from lio_validate.reproduce import rerun

    out = args.out
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = Path("results") / f"rerun-{stamp}"
    result = rerun(args.manifest, out)

    print(f"repeated run written to {result.out_dir}")
    for note in result.notes:
        print(f"note: {note}")
    if result.identical:
        print(f"all {result.compared} tables are identical")
        return 0
    print(f"{len(result.differences)} of {result.compared} tables differ:")
    for difference in result.differences:
        print(f"  {difference.name}: {difference.reason}")
    return 1


HANDLERS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "reproduce": _reproduce,
    "rerun": _rerun,
}
