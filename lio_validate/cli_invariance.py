"""Command-line command ``invariance``: the measurement-invariance ladder.

Each handler takes the parsed arguments and the raw argv and returns an exit
status; errors the user can fix are raised as LioInputError.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from lio_validate.exceptions import LioInputError

__all__ = ["register", "HANDLERS"]


def _invariance(args: argparse.Namespace, argv: list[str]) -> int:
    raise LioInputError(
        "the invariance command is not available in this version; fit each level "
        "with run-sem --group COL --group-equal loadings,intercepts meanwhile"
    )


HANDLERS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "invariance": _invariance,
}


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the command line."""
    invariance = commands.add_parser(
        "invariance", help="test measurement invariance across groups",
        description="Fit the configural, metric, scalar and strict models and "
        "compare them.",
    )
    invariance.add_argument("--data", type=Path, required=True)
    invariance.add_argument("--model", type=Path, required=True)
    invariance.add_argument("--group", required=True)
    invariance.add_argument("--estimator", default="ML")
    invariance.add_argument("--ordered")
    invariance.add_argument("--out", type=Path)
