"""Command-line commands that prepare data: ``codebook`` and ``simulate``.

Each handler takes the parsed arguments and the raw argv and returns an exit
status; errors the user can fix are raised as LioInputError.
"""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["register", "HANDLERS"]

HANDLERS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {}


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the command line."""
