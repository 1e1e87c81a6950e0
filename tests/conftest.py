"""Shared fixtures: the public data sets in data/ and the reference loader."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

BFI_REVERSED = ("A1", "C4", "C5", "E1", "E2", "O2", "O5")


def read_dataset(name: str) -> pd.DataFrame:
    """Read one of the bundled public data sets by file name."""
    return pd.read_csv(DATA / name)


def bfi_recoded() -> pd.DataFrame:
    """bfi with the reverse-keyed items recoded as 7 - x."""
    frame = read_dataset("bfi.csv")
    for item in BFI_REVERSED:
        frame[item] = 7 - frame[item]
    return frame


@pytest.fixture(scope="session")
def hs() -> pd.DataFrame:
    return read_dataset("holzinger_swineford_1939.csv")


@pytest.fixture(scope="session")
def political_democracy() -> pd.DataFrame:
    return read_dataset("political_democracy.csv")


@pytest.fixture(scope="session")
def bfi() -> pd.DataFrame:
    return read_dataset("bfi.csv")
