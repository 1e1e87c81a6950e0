"""Shared style of the figures: palette, fonts, sizes and small helpers.

Colours come from the Okabe-Ito palette, which stays distinguishable for readers with
the common forms of colour-vision deficiency. Sizes are in inches and font sizes in
points, chosen so that a figure stays legible at its natural size in one journal
column (about 3.4 in) or a double column (7 in).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lio_validate.exceptions import LioInputError

__all__ = ["LEVEL_TITLES", "OKABE_ITO", "display_name"]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}

# Yellow is left out because it is hard to see on white paper.
_CATEGORY_COLOURS = [
    OKABE_ITO[name]
    for name in (
        "blue",
        "orange",
        "bluish_green",
        "vermillion",
        "sky_blue",
        "reddish_purple",
    )
]

LEVEL_TITLES: dict[int | str, str] = {
    5: "5 Context",
    4: "4 Organisation",
    3: "3 Supervisor and colleagues",
    2: "2 Task",
    1: "1 Employee",
    "outcome": "Outcomes",
}

_FONT_SIZE = 7.0
_SMALL_FONT_SIZE = 6.0
_DARK = "#1a1a1a"
_GREY = "#8c8c8c"
_GREY_TEXT = "#595959"
_BAND_FILL = "#f0f0f0"

# Loadings, reliability and group plots.
_COLUMN_WIDTH = 3.4
_ROW_HEIGHT = 0.15
_MAX_ROWS_PER_PANEL = 44


# --------------------------------------------------------------------------------------
# Shared helpers


def _require_columns(table: pd.DataFrame, required: list[str], table_name: str) -> None:
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise LioInputError(
            f"The {table_name} table is missing the column(s) {missing}. It has the "
            f"columns {list(table.columns)}. Pass the table that estimation returns."
        )


def _group_labels(table: pd.DataFrame) -> pd.Series:
    if "group" not in table.columns:
        return pd.Series("", index=table.index)
    return table["group"].fillna("").astype(str)


def _select_group(table: pd.DataFrame, group: str | None) -> pd.DataFrame:
    """Return the rows of one group, or all rows when ``group`` is None."""
    if group is None:
        return table

    labels = _group_labels(table)
    names = list(dict.fromkeys(labels))
    if str(group) not in names:
        raise LioInputError(
            f"Group {group!r} is not in the estimates. The groups are {names}."
        )
    return table[labels == str(group)]


def _new_figure(width: float, height: float, layout: str | None = None) -> Figure:
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _root_figure(ax: Axes) -> Figure:
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib before 3.10 has no root argument
        return ax.figure


def _format_level(significance_level: float) -> str:
    """Format a significance level as journals print it: 0.05 becomes ".05"."""
    text = f"{significance_level:g}"
    return text[1:] if text.startswith("0.") else text


def _format_coefficient(value: float) -> str:
    if not np.isfinite(value):
        return "NA"
    return f"{value:.2f}".replace("-", "\u2212")


def _text_size(
    figure: Figure, text: str, fontsize: float, **style
) -> tuple[float, float]:
    """Measure a text in inches as the figure's renderer draws it."""
    artist = figure.text(0, 0, text, fontsize=fontsize, **style)
    extent = artist.get_window_extent()
    artist.remove()
    return extent.width / figure.dpi, extent.height / figure.dpi


def display_name(name: str) -> str:
    """Return a variable name as figures show it, with spaces for underscores.

    ``"participative_leadership"`` becomes ``"participative leadership"``. Error
    messages keep the name as it is written in the model and the data.
    """
    return str(name).replace("_", " ")


def _add_legend(figure: Figure, ax: Axes, handles: list, own_figure: bool) -> None:
    """Put the legend above the plot, or in the best corner of a caller's Axes."""
    style = {
        "handles": handles,
        "frameon": False,
        "fontsize": _SMALL_FONT_SIZE,
        "handletextpad": 0.5,
        "columnspacing": 1.2,
    }
    if own_figure:
        columns = len(handles) if len(handles) <= 4 else 3
        figure.legend(loc="outside upper center", ncol=columns, **style)
    else:
        ax.legend(loc="best", **style)
