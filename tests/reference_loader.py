"""Read the stored lavaan reference values in ``tests/reference``.

Each JSON file there contains one lavaan fit, or a summary over several fits
(reliability per scale, invariance ladders), written by the R script named in
``tests/reference/README.md``. The test suite reads these files and never calls R.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

# Text and partable-integer columns of the estimates table. Every other column
# is read as float.
_TEXT_COLUMNS = ("lhs", "op", "rhs", "group", "label")
_INTEGER_COLUMNS = ("free", "exo", "user")


def reference_names() -> list[str]:
    """Return the names of all stored reference files, without ``.json``."""
    return sorted(path.stem for path in REFERENCE_DIR.glob("*.json"))


def load_reference(name: str) -> dict[str, Any]:
    """Load one reference file by name.

    Parameters
    ----------
    name : str
        File name in ``tests/reference``, with or without ``.json``
        (for example ``"hs_cfa_ml"``).

    Returns
    -------
    dict
        The JSON content. Every ``estimates`` entry, at the top level or nested
        (as in ``reliability_bfi``), becomes a DataFrame with one row per lavaan
        parameter row; JSON ``null`` (lavaan's ``NA``) becomes NaN in its
        numeric columns. Everything else is returned as parsed, so JSON
        ``null`` stays ``None``.

    Raises
    ------
    FileNotFoundError
        If no reference file has that name; the message lists the names that
        exist.
    """
    stem = name.removesuffix(".json")
    path = REFERENCE_DIR / f"{stem}.json"
    if not path.is_file():
        known = ", ".join(reference_names())
        raise FileNotFoundError(
            f"Reference file {path.name} not found in {REFERENCE_DIR}. "
            f"Known names: {known}"
        )

    with path.open(encoding="utf-8") as handle:
        reference = json.load(handle)

    return _convert_estimates(reference)


def reference_matrix(record: dict[str, Any]) -> pd.DataFrame:
    """Convert a stored matrix record (rownames, colnames, values) to a DataFrame.

    Missing values (JSON ``null``) become NaN.
    """
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in record["values"]],
        dtype=float,
    )
    return pd.DataFrame(values, index=record["rownames"], columns=record["colnames"])


def _convert_estimates(value: Any) -> Any:
    if isinstance(value, list):
        return [_convert_estimates(item) for item in value]
    if not isinstance(value, dict):
        return value

    converted = {}
    for key, item in value.items():
        if key == "estimates" and isinstance(item, dict) and "lhs" in item:
            converted[key] = _estimates_frame(item)
        else:
            converted[key] = _convert_estimates(item)
    return converted


def _estimates_frame(columns: dict[str, list]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for column in frame.columns:
        if column in _TEXT_COLUMNS:
            frame[column] = frame[column].astype(str)
        elif column in _INTEGER_COLUMNS:
            frame[column] = frame[column].astype(int)
        else:
            frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame
