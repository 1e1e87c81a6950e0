"""Figures of a fitted model: path diagram, standardized loadings, reliability, group
comparisons and the invariance ladder, and saving them for a journal.

Every function reads a table that estimation produces (the estimates table with
lavaan's columns, the reliability table or the invariance table) and returns a
:class:`matplotlib.figure.Figure` made without pyplot, so no global figure state is
kept. Sizes are in inches and font sizes in points. The loadings and reliability plots
fit one journal column (about 3.4 in) or, split in two panels, a double column (7 in).
The path diagram grows with the model. Factor names are shown with spaces for
underscores ("participative leadership").

Colours come from the Okabe-Ito palette, which stays distinguishable for readers with
the common forms of colour-vision deficiency. The path diagram is drawn in
:mod:`lio_validate.figures_path`, and the group plots in
:mod:`lio_validate.figures_groups`. Their public names are importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lio_validate.exceptions import LioInputError
from lio_validate.figures_groups import plot_group_forest, plot_invariance_ladder
from lio_validate.figures_path import plot_path_diagram
from lio_validate.figures_style import (
    _CATEGORY_COLOURS,
    _COLUMN_WIDTH,
    _DARK,
    _FONT_SIZE,
    _GREY_TEXT,
    _MAX_ROWS_PER_PANEL,
    _ROW_HEIGHT,
    _SMALL_FONT_SIZE,
    LEVEL_TITLES,
    OKABE_ITO,
    _add_legend,
    _format_coefficient,
    _group_labels,
    _new_figure,
    _require_columns,
    _root_figure,
    _select_group,
    display_name,
)

__all__ = [
    "FIGURE_FORMATS",
    "LEVEL_TITLES",
    "OKABE_ITO",
    "display_name",
    "plot_group_forest",
    "plot_invariance_ladder",
    "plot_loadings",
    "plot_path_diagram",
    "plot_reliability",
    "save_figure",
]

FIGURE_FORMATS = ("png", "svg", "pdf")

# Options of savefig per format. Dates are left out so that files are reproducible.
_SAVE_OPTIONS = {
    "png": {"dpi": 300},
    "svg": {"metadata": {"Date": None}},
    "pdf": {"metadata": {"CreationDate": None, "ModDate": None}},
}


# --------------------------------------------------------------------------------------
# Standardized loadings


def _split_factors(factors: list[str], rows: dict[str, int], panels: int) -> list[list]:
    """Split factors, in order, into panels with about equal numbers of rows."""
    total = sum(rows[factor] for factor in factors)
    groups: list[list[str]] = [[]]
    filled = 0
    for factor in factors:
        boundary = total * len(groups) / panels
        if groups[-1] and filled + rows[factor] / 2 > boundary and len(groups) < panels:
            groups.append([])
        groups[-1].append(factor)
        filled += rows[factor]
    return groups


def _draw_loading_panel(
    ax: Axes,
    loadings: pd.DataFrame,
    factors: list[str],
    groups: list[str],
    reference_loading: float,
    x_limits: tuple[float, float],
) -> None:
    """Draw the loadings of some factors as horizontal bars, one block per factor."""
    several_groups = len(groups) > 1
    bar_height = 0.72 / len(groups)
    ticks, tick_labels = [], []
    y = 0.0
    for factor_index, factor in enumerate(factors):
        ax.text(
            x_limits[0] + 0.01 * (x_limits[1] - x_limits[0]),
            y,
            display_name(factor),
            ha="left",
            va="center",
            fontsize=_FONT_SIZE,
            fontweight="bold",
            color=_DARK,
            zorder=4,
            bbox={
                "boxstyle": "square,pad=0.05",
                "facecolor": "white",
                "edgecolor": "none",
            },
        )
        rows = loadings[loadings["factor"] == factor]
        for item in dict.fromkeys(rows["item"]):
            y -= 1.0
            ticks.append(y)
            tick_labels.append(item)
            for group_index, group in enumerate(groups):
                match = rows[(rows["item"] == item) & (rows["group"] == group)]
                if match.empty:
                    continue
                value = float(match["std_all"].iloc[0])
                shift = (group_index - (len(groups) - 1) / 2) * bar_height
                colour = _CATEGORY_COLOURS[
                    (group_index if several_groups else factor_index)
                    % len(_CATEGORY_COLOURS)
                ]
                if np.isfinite(value):
                    ax.barh(
                        y - shift,
                        value,
                        height=bar_height * 0.92,
                        color=colour,
                        edgecolor="none",
                        zorder=2,
                    )
                if not several_groups:
                    text = _format_coefficient(value)
                    right = not np.isfinite(value) or value >= 0
                    position = value if np.isfinite(value) else 0.0
                    ax.text(
                        position + (0.015 if right else -0.015),
                        y,
                        text,
                        ha="left" if right else "right",
                        va="center",
                        fontsize=_SMALL_FONT_SIZE,
                        color=_DARK,
                        zorder=4,
                        bbox={
                            "boxstyle": "square,pad=0.05",
                            "facecolor": "white",
                            "edgecolor": "none",
                        },
                    )
        y -= 1.0

    ax.set_yticks(ticks, tick_labels, fontsize=_SMALL_FONT_SIZE)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=_SMALL_FONT_SIZE)
    ax.set_ylim(y + 0.4, 0.7)
    ax.set_xlim(*x_limits)
    ax.axvline(0.0, color=_DARK, linewidth=0.6, zorder=3)
    ax.axvline(
        reference_loading,
        color=_GREY_TEXT,
        linewidth=0.8,
        linestyle=(0, (4.0, 2.5)),
        zorder=3,
    )
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.5, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("Standardized loading (std_all)", fontsize=_FONT_SIZE)


def plot_loadings(
    estimates: pd.DataFrame,
    *,
    group: str | None = None,
    reference_loading: float = 0.5,
    ax: Axes | None = None,
) -> Figure:
    """Plot the standardized loadings (``std_all`` of ``=~`` rows) per factor.

    Each factor is a block of horizontal bars, one per item, under the factor's name
    in bold. With one group the bars take the factor's colour and carry their value.
    With several groups the bars of an item stand side by side, coloured by group.

    The dashed reference line is at 0.5 by default: an item whose standardized
    loading is below 0.5 shares less than a quarter of its variance with the factor
    (0.5² = 0.25), a common minimum for keeping an item in survey scales. The
    stricter 0.7 marks the point where the factor explains about half of the item's
    variance (0.7² = 0.49), the item-level counterpart of AVE ≥ .50. Pass
    ``reference_loading=0.7`` for it.

    Parameters
    ----------
    estimates : pandas.DataFrame
        Parameter table with at least the columns ``lhs, op, rhs, std_all``, and
        ``group`` when there are several groups.
    group : str, optional
        Plot only this group. By default all groups are plotted side by side.
    reference_loading : float, default 0.5
        Position of the dashed reference line.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Without it, a model with more than 44 bar rows is split
        into side-by-side panels that fill a double column.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    LioInputError
        If columns are missing, the group is unknown, or there are no loadings.
    """
    _require_columns(estimates, ["lhs", "op", "rhs", "std_all"], "estimates")
    table = _select_group(estimates, group)
    loadings = table[table["op"].astype(str) == "=~"]
    if loadings.empty:
        raise LioInputError(
            "The estimates contain no loadings (=~ rows), so there is nothing to plot. "
            "Fit a model with latent variables."
        )

    loadings = pd.DataFrame(
        {
            "factor": loadings["lhs"].astype(str).to_numpy(),
            "item": loadings["rhs"].astype(str).to_numpy(),
            "group": _group_labels(loadings).to_numpy(),
            "std_all": loadings["std_all"].astype(float).to_numpy(),
        }
    )
    groups = list(dict.fromkeys(loadings["group"]))
    factors = list(dict.fromkeys(loadings["factor"]))
    rows = {
        factor: 1 + loadings.loc[loadings["factor"] == factor, "item"].nunique()
        for factor in factors
    }
    # Room for the value written beyond the end of each bar.
    values = loadings["std_all"].to_numpy()
    values = values[np.isfinite(values)]
    low = min(0.0, float(values.min(initial=0.0)) - 0.15) if (values < 0).any() else 0.0
    high = max(1.0, float(values.max(initial=0.0)) + 0.15)

    if ax is not None:
        panels = [factors]
        axes = [ax]
        figure = _root_figure(ax)
    else:
        count = 1 if sum(rows.values()) <= _MAX_ROWS_PER_PANEL else 2
        panels = _split_factors(factors, rows, count)
        panel_rows = max(sum(rows[f] for f in panel) for panel in panels)
        figure = _new_figure(
            _COLUMN_WIDTH * len(panels),
            panel_rows * _ROW_HEIGHT + 0.75,
            layout="constrained",
        )
        axes = list(figure.subplots(1, len(panels), squeeze=False)[0])

    for panel_ax, panel in zip(axes, panels):
        _draw_loading_panel(
            panel_ax, loadings, panel, groups, reference_loading, (low, high)
        )

    handles = []
    if len(groups) > 1:
        handles += [
            Patch(color=_CATEGORY_COLOURS[i % len(_CATEGORY_COLOURS)], label=name)
            for i, name in enumerate(groups)
        ]
    handles.append(
        Line2D(
            [],
            [],
            color=_GREY_TEXT,
            linewidth=0.8,
            linestyle=(0, (4.0, 2.5)),
            label=f"Reference {reference_loading:g}",
        )
    )
    _add_legend(figure, axes[0], handles, own_figure=ax is None)
    return figure


# --------------------------------------------------------------------------------------
# Reliability


def plot_reliability(
    reliability: pd.DataFrame,
    *,
    reference: float = 0.7,
    ci_level: float = 0.95,
    ax: Axes | None = None,
) -> Figure:
    """Plot Cronbach's alpha with its confidence interval and McDonald's omega per
    scale.

    Alpha is a blue circle with a horizontal interval, omega a vermillion diamond
    just below it. The dashed line marks the conventional minimum of 0.7 for scales
    used to compare groups. Missing values (NaN) are left out.

    Parameters
    ----------
    reliability : pandas.DataFrame
        One row per scale with the columns ``scale, alpha, alpha_ci_lower,
        alpha_ci_upper, omega``, drawn top to bottom in the given order.
    reference : float, default 0.7
        Position of the dashed reference line.
    ci_level : float, default 0.95
        Level of the alpha interval, used only for the legend text.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    LioInputError
        If columns are missing or the table has no rows.
    """
    required = ["scale", "alpha", "alpha_ci_lower", "alpha_ci_upper", "omega"]
    _require_columns(reliability, required, "reliability")
    if reliability.empty:
        raise LioInputError(
            "The reliability table has no rows, so there is nothing to plot."
        )

    own_figure = ax is None
    if ax is None:
        figure = _new_figure(
            _COLUMN_WIDTH, 0.24 * len(reliability) + 0.9, layout="constrained"
        )
        ax = figure.add_subplot()
    else:
        figure = _root_figure(ax)

    table = reliability.reset_index(drop=True)
    y = -np.arange(len(table), dtype=float)
    alpha = table["alpha"].astype(float).to_numpy()
    lower = table["alpha_ci_lower"].astype(float).to_numpy()
    upper = table["alpha_ci_upper"].astype(float).to_numpy()
    omega = table["omega"].astype(float).to_numpy()

    has_interval = np.isfinite(alpha) & np.isfinite(lower) & np.isfinite(upper)
    ax.errorbar(
        alpha[has_interval],
        y[has_interval] + 0.13,
        xerr=[
            alpha[has_interval] - lower[has_interval],
            upper[has_interval] - alpha[has_interval],
        ],
        fmt="none",
        ecolor=OKABE_ITO["blue"],
        elinewidth=0.9,
        capsize=1.8,
        capthick=0.9,
        zorder=2,
    )
    handles = [
        ax.plot(
            alpha,
            y + 0.13,
            "o",
            color=OKABE_ITO["blue"],
            markersize=4,
            zorder=3,
            label=f"Cronbach's \u03b1 ({ci_level:.0%} CI)",
        )[0],
        ax.plot(
            omega,
            y - 0.13,
            "D",
            color=OKABE_ITO["vermillion"],
            markersize=3.6,
            zorder=3,
            label="McDonald's \u03c9",
        )[0],
        ax.axvline(
            reference,
            color=_GREY_TEXT,
            linewidth=0.8,
            linestyle=(0, (4.0, 2.5)),
            zorder=1,
            label=f"Reference {reference:g}",
        ),
    ]

    plotted = np.concatenate([alpha, lower, upper, omega])
    plotted = plotted[np.isfinite(plotted)]
    low = min(reference - 0.1, float(plotted.min(initial=1.0)) - 0.05)
    high = max(1.0, float(plotted.max(initial=0.0)) + 0.02)
    ax.set_xlim(np.floor(low * 10) / 10, high)
    ax.set_ylim(y[-1] - 0.6, 0.6)
    scale_names = [display_name(scale) for scale in table["scale"].astype(str)]
    ax.set_yticks(y, scale_names, fontsize=_SMALL_FONT_SIZE)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=_SMALL_FONT_SIZE)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.5, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("Reliability coefficient", fontsize=_FONT_SIZE)
    _add_legend(figure, ax, handles, own_figure=own_figure)
    return figure


# --------------------------------------------------------------------------------------
# Saving


def save_figure(
    fig: Figure,
    directory: str | Path,
    stem: str,
    formats: Sequence[str] = FIGURE_FORMATS,
) -> tuple[Path, ...]:
    """Write a figure as ``<stem>.png``, ``<stem>.svg`` and ``<stem>.pdf``.

    The PNG has 300 dpi, the resolution most journals ask of raster line art. The
    SVG and the PDF are vector files: the SVG draws text as paths, and the PDF
    embeds its fonts as TrueType (``pdf.fonttype`` 42), which journals that reject
    Type 3 fonts accept. Neither carries a date, and the SVG uses fixed element
    ids, so the same figure gives byte-identical files on every run with the same
    matplotlib. The directory is created if needed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    directory : str or path-like
        Folder of the files.
    stem : str
        File name without extension, such as ``"path_diagram"``.
    formats : sequence of {"png", "svg", "pdf"}, default ("png", "svg", "pdf")
        Formats to write, in this order.

    Returns
    -------
    tuple of pathlib.Path
        The paths of the written files, in the order of ``formats``.

    Raises
    ------
    LioInputError
        If ``stem`` is empty, starts with a dot or contains a path separator, or a
        format is unknown.
    """
    if not stem or stem.startswith(".") or "/" in stem or "\\" in stem:
        raise LioInputError(
            f"Figure name {stem!r} is invalid. Use a plain file name without a "
            "directory or extension, such as 'path_diagram'."
        )
    unknown = [name for name in formats if name not in _SAVE_OPTIONS]
    if unknown:
        raise LioInputError(
            f"Figure format(s) {unknown} are unknown. Use {list(_SAVE_OPTIONS)}."
        )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    style = {"svg.hashsalt": "lio_validate", "pdf.fonttype": 42}
    with matplotlib.rc_context(style):
        for name in formats:
            path = directory / f"{stem}.{name}"
            fig.savefig(
                path, bbox_inches="tight", pad_inches=0.04, **_SAVE_OPTIONS[name]
            )
            paths.append(path)
    return tuple(paths)
