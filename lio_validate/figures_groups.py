"""Figures that compare groups or models: forest plots and the invariance ladder.

:func:`plot_group_forest` draws selected parameters of a multi-group fit, one point
with its confidence interval per group, so that a reader sees at once whether a path
differs between, say, the lower and the higher educated. :func:`plot_invariance_ladder`
draws the fit measures of the configural, metric, scalar and strict models with the
change from each level to the next.

Groups differ in marker shape as well as in colour (Okabe-Ito), so the figures
survive greyscale printing and the common forms of colour-vision deficiency.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lio_validate.exceptions import LioInputError
from lio_validate.figures_style import (
    _CATEGORY_COLOURS,
    _COLUMN_WIDTH,
    _DARK,
    _FONT_SIZE,
    _GREY_TEXT,
    _SMALL_FONT_SIZE,
    OKABE_ITO,
    _add_legend,
    _group_labels,
    _new_figure,
    _require_columns,
    _root_figure,
    display_name,
)

__all__ = ["parameter_name", "plot_group_forest", "plot_invariance_ladder"]

# Markers paired with the category colours, so groups differ in shape too.
_MARKERS = ["o", "s", "D", "^", "v", "P"]
_LABEL_WRAP = 26
_REFERENCE_STYLE = {"color": _GREY_TEXT, "linewidth": 0.8, "linestyle": (0, (4.0, 2.5))}

INVARIANCE_COLUMNS = [
    "level",
    "chisq",
    "df",
    "cfi",
    "tli",
    "rmsea",
    "srmr",
    "delta_cfi",
    "delta_rmsea",
    "decision",
]


# --------------------------------------------------------------------------------------
# Forest plot of parameters per group


def parameter_name(lhs: str, op: str, rhs: str) -> str:
    """Return a parameter's name as lavaan writes it: ``"y ~ x"``, ``"x ~1"``."""
    if op == "~1":
        return f"{lhs} ~1"
    return f"{lhs} {op} {rhs}"


def _parameter_label(lhs: str, op: str, rhs: str) -> str:
    """Describe a parameter in words for a figure, with spaces for underscores."""
    lhs_text, rhs_text = display_name(lhs), display_name(rhs)
    if op == "~":
        text = f"{rhs_text} \u2192 {lhs_text}"
    elif op == "=~":
        text = f"{lhs_text} \u2192 {rhs_text}"
    elif op == "~~" and lhs == rhs:
        text = f"variance of {lhs_text}"
    elif op == "~~":
        text = f"{lhs_text} \u2194 {rhs_text}"
    elif op == "~1":
        text = f"mean of {lhs_text}"
    elif op == ":=":
        text = lhs_text
    else:
        text = f"{lhs_text} {op} {rhs_text}"
    if len(text) <= _LABEL_WRAP:
        return text

    # A long label breaks after its arrow first, so that each name stays whole.
    parts = text.split(" \u2192 ", 1) if "\u2192" in text else [text]
    if len(parts) == 2:
        parts[0] += " \u2192"
    lines = []
    for part in parts:
        lines += textwrap.wrap(part, _LABEL_WRAP, break_long_words=False)
    return "\n".join(lines)


def _select_parameters(
    estimates: pd.DataFrame, parameters: Sequence[str] | None, ops: Sequence[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Return the requested rows with a ``name`` column, and the names in order."""
    table = estimates.copy()
    table["name"] = [
        parameter_name(str(lhs), str(op), str(rhs))
        for lhs, op, rhs in zip(table["lhs"], table["op"], table["rhs"])
    ]
    if parameters is None:
        chosen = table[table["op"].astype(str).isin(ops)]
        names = list(dict.fromkeys(chosen["name"]))
        if not names:
            raise LioInputError(
                f"The estimates contain no rows with op {list(ops)}, so there is no "
                "parameter to compare. Pass parameters= with names such as "
                "'informal_learning ~ autonomy'."
            )
        return chosen, names

    names = [" ".join(str(name).split()) for name in parameters]
    known = list(dict.fromkeys(table["name"]))
    unknown = [name for name in names if name not in known]
    if unknown:
        examples = ", ".join(repr(name) for name in known[:12])
        raise LioInputError(
            f"Parameter(s) {unknown} are not in the estimates. Write them as lavaan "
            f"names them, for example {examples}."
        )
    return table[table["name"].isin(names)], list(dict.fromkeys(names))


def _order_groups(labels: pd.Series, groups: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(labels))
    if groups is None:
        return present
    order = [str(group) for group in groups]
    unknown = [group for group in order if group not in present]
    if unknown:
        raise LioInputError(
            f"Group(s) {unknown} are not in the estimates. The groups are {present}."
        )
    return order


def plot_group_forest(
    estimates: pd.DataFrame,
    *,
    parameters: Sequence[str] | None = None,
    ops: Sequence[str] = ("~",),
    estimate: str = "est",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    groups: Sequence[str] | None = None,
    reference: float | None = 0.0,
    xlabel: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot parameters per group as a forest plot: an estimate with its interval.

    Each parameter is one row, labelled in words ("autonomy → informal learning"),
    with one point and one horizontal interval per group. Groups differ in colour
    and marker shape and keep the same order in every row. Intervals whose bounds
    are missing (fixed parameters) are left out and the point is still drawn.

    Parameters
    ----------
    estimates : pandas.DataFrame
        Parameter table with the columns ``lhs, op, rhs`` and the columns named
        by ``estimate``, ``lower`` and ``upper``, and ``group`` for several groups.
        The table of a multi-group fit (``lio_validate.sem(..., group=COL)``)
        qualifies as it is.
    parameters : sequence of str, optional
        Parameters to show, top to bottom, named as lavaan names them:
        ``"informal_learning ~ autonomy"``, ``"autonomy =~ aut2"``,
        ``"x ~~ y"``, ``"x ~1"`` or the name of a defined parameter with its
        expression (``"ab := a*b"``). By default every row whose op is in ``ops``.
    ops : sequence of str, default ("~",)
        Operators to show when ``parameters`` is not given: regressions by default.
    estimate, lower, upper : str, default "est", "ci_lower", "ci_upper"
        Columns of the point estimate and the interval bounds. For standardized
        paths, pass a table with ``std_all`` and its own interval columns.
    groups : sequence of str, optional
        Groups to show, in this order (for example low, middle, high). By default
        every group in order of appearance.
    reference : float or None, default 0.0
        Position of a dashed vertical reference line, or None for none.
    xlabel : str, optional
        Label of the horizontal axis. By default it names the ``estimate`` column.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Without it the figure is one journal column wide
        (3.4 in) and grows by about 0.1 in per group and parameter.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    LioInputError
        If columns are missing, a parameter or group is not in the estimates, or
        there is nothing to plot.
    """
    _require_columns(
        estimates, ["lhs", "op", "rhs", estimate, lower, upper], "estimates"
    )
    table, names = _select_parameters(estimates, parameters, ops)
    table = table.assign(group=_group_labels(table))
    group_order = _order_groups(table["group"], groups)
    table = table[table["group"].isin(group_order)]

    # One block per parameter, the groups stacked inside it from the top.
    count = len(group_order)
    step = 0.8 / max(count, 1)
    own_figure = ax is None
    if own_figure:
        height = len(names) * max(0.1 * count + 0.08, 0.26) + 0.75
        figure = _new_figure(_COLUMN_WIDTH, height, layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = _root_figure(ax)

    centres = -np.arange(len(names), dtype=float)
    for index, centre in enumerate(centres):
        if index % 2 == 0:
            ax.axhspan(centre - 0.5, centre + 0.5, color="#f2f2f2", zorder=0, lw=0)

    handles = []
    for group_index, group in enumerate(group_order):
        colour = _CATEGORY_COLOURS[group_index % len(_CATEGORY_COLOURS)]
        marker = _MARKERS[group_index % len(_MARKERS)]
        rows = table[table["group"] == group].drop_duplicates("name").set_index("name")
        rows = rows.reindex(names)
        y = centres + 0.4 - step * (group_index + 0.5)
        point = pd.to_numeric(rows[estimate], errors="coerce").to_numpy(float)
        low = pd.to_numeric(rows[lower], errors="coerce").to_numpy(float)
        high = pd.to_numeric(rows[upper], errors="coerce").to_numpy(float)

        bounded = np.isfinite(point) & np.isfinite(low) & np.isfinite(high)
        ax.hlines(
            y[bounded], low[bounded], high[bounded], color=colour, lw=1.0, zorder=2
        )
        label = group if group else "estimate"
        handles.append(
            ax.plot(
                point,
                y,
                linestyle="none",
                marker=marker,
                markersize=3.6,
                color=colour,
                markeredgecolor="white",
                markeredgewidth=0.3,
                zorder=3,
                label=label,
            )[0]
        )

    if reference is not None:
        ax.axvline(reference, zorder=1, **_REFERENCE_STYLE)
    labels = [
        _parameter_label(
            *table.loc[table["name"] == name, ["lhs", "op", "rhs"]].iloc[0]
        )
        for name in names
    ]
    ax.set_yticks(centres, labels, fontsize=_SMALL_FONT_SIZE)
    ax.set_ylim(centres[-1] - 0.5, 0.5)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=_SMALL_FONT_SIZE)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.5, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if xlabel is None:
        xlabel = f"Estimate ({estimate}) with confidence interval"
    ax.set_xlabel(xlabel, fontsize=_FONT_SIZE)
    if count > 1:
        _add_legend(figure, ax, handles, own_figure=own_figure)
    return figure


# --------------------------------------------------------------------------------------
# Invariance ladder


def _signed(value: float) -> str:
    """Format a change with its sign and without the leading zero: "+.004"."""
    if not np.isfinite(value):
        return ""
    text = f"{value:+.3f}".replace("0.", ".", 1)
    return text.replace("-", "\u2212")


def _cutoff(value: float) -> str:
    """Format a cut-off as it is usually cited: 0.95 becomes ".95"."""
    text = f"{value:g}"
    return text[1:] if text.startswith("0.") else text


def _level_label(row: pd.Series, first: bool) -> str:
    """Write a level's tick label: its name, the changes and the decision."""
    lines = [str(row["level"])]
    if first:
        lines += ["", ""]
    else:
        lines.append(f"\u0394CFI {_signed(row['delta_cfi'])}")
        lines.append(f"\u0394RMSEA {_signed(row['delta_rmsea'])}")
    decision = row["decision"]
    lines.append("" if pd.isna(decision) else str(decision))
    return "\n".join(lines)


def _draw_ladder_panel(
    ax: Axes,
    x: np.ndarray,
    series: list[tuple[str, np.ndarray, str, str]],
    worse: np.ndarray,
    references: list[tuple[float, str]],
    ylabel: str,
) -> list:
    handles = []
    for name, values, colour, marker in series:
        ax.plot(x, values, color=colour, linewidth=0.9, zorder=2)
        filled = ~worse & np.isfinite(values)
        hollow = worse & np.isfinite(values)
        handles.append(
            ax.plot(
                x[filled],
                values[filled],
                linestyle="none",
                marker=marker,
                markersize=4,
                color=colour,
                zorder=3,
                label=name,
            )[0]
        )
        ax.plot(
            x[hollow],
            values[hollow],
            linestyle="none",
            marker=marker,
            markersize=4,
            markerfacecolor="white",
            markeredgecolor=colour,
            markeredgewidth=1.0,
            zorder=3,
        )
    for value, text in references:
        ax.axhline(value, zorder=1, **_REFERENCE_STYLE)
        ax.annotate(
            text,
            (1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-2, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=_SMALL_FONT_SIZE,
            color=_GREY_TEXT,
        )
    ax.set_ylabel(ylabel, fontsize=_FONT_SIZE)
    ax.tick_params(labelsize=_SMALL_FONT_SIZE)
    ax.grid(axis="y", color="#e0e0e0", linewidth=0.5, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return handles


def plot_invariance_ladder(
    invariance: pd.DataFrame,
    *,
    good_cfi: float = 0.95,
    good_rmsea: float = 0.06,
    good_srmr: float = 0.08,
    max_cfi_drop: float = 0.01,
    max_rmsea_rise: float = 0.015,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Plot the fit of each invariance level and the change from the level before.

    The upper panel shows CFI and TLI, the lower RMSEA and SRMR, for each level in
    the order of the table (configural, metric, scalar, strict). Under each level
    are its ΔCFI and ΔRMSEA and the decision as written in the table. A level is
    drawn with open markers when CFI dropped by more than ``max_cfi_drop`` or RMSEA
    rose by more than ``max_rmsea_rise``: the changes that Cheung and Rensvold
    (2002) and Chen (2007) take as evidence against the added equality
    constraints. The dashed lines are the cut-offs for good fit of Hu and Bentler
    (1999).

    Parameters
    ----------
    invariance : pandas.DataFrame
        One row per level with the columns ``level, chisq, df, cfi, tli, rmsea,
        srmr, delta_cfi, delta_rmsea, decision`` (the table of ``invariance.csv``).
        ``delta_cfi`` is the level's CFI minus the previous level's, and
        ``delta_rmsea`` likewise.
    good_cfi, good_rmsea, good_srmr : float, default 0.95, 0.06, 0.08
        Positions of the reference lines.
    max_cfi_drop, max_rmsea_rise : float, default 0.01, 0.015
        Changes beyond which a level is drawn with open markers.
    axes : sequence of two matplotlib.axes.Axes, optional
        Axes for the CFI/TLI panel and the RMSEA/SRMR panel. Without them the
        figure is one journal column wide (3.4 in) and 3.6 in high.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    LioInputError
        If columns are missing, the table has no rows, or ``axes`` is not two Axes.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of
    measurement invariance. Structural Equation Modeling, 14(3), 464-504.
    Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes for
    testing measurement invariance. Structural Equation Modeling, 9(2), 233-255.
    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance
    structure analysis. Structural Equation Modeling, 6(1), 1-55.
    """
    _require_columns(invariance, INVARIANCE_COLUMNS, "invariance")
    if invariance.empty:
        raise LioInputError(
            "The invariance table has no rows, so there is nothing to plot."
        )
    if axes is not None and len(axes) != 2:
        raise LioInputError(
            f"axes= needs two Axes (CFI/TLI and RMSEA/SRMR); {len(axes)} were given."
        )

    table = invariance.reset_index(drop=True)
    numbers = {
        column: pd.to_numeric(table[column], errors="coerce").to_numpy(float)
        for column in INVARIANCE_COLUMNS[1:-1]
    }
    x = np.arange(len(table), dtype=float)
    worse = (numbers["delta_cfi"] < -max_cfi_drop) | (
        numbers["delta_rmsea"] > max_rmsea_rise
    )

    own_figure = axes is None
    if own_figure:
        figure = _new_figure(_COLUMN_WIDTH, 3.6, layout="constrained")
        top, bottom = figure.subplots(2, 1, sharex=True)
    else:
        top, bottom = axes
        figure = _root_figure(top)

    blue, orange = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
    handles = _draw_ladder_panel(
        top,
        x,
        [("CFI", numbers["cfi"], blue, "o"), ("TLI", numbers["tli"], orange, "s")],
        worse,
        [(good_cfi, _cutoff(good_cfi))],
        "CFI, TLI",
    )
    handles += _draw_ladder_panel(
        bottom,
        x,
        [
            ("RMSEA", numbers["rmsea"], OKABE_ITO["bluish_green"], "D"),
            ("SRMR", numbers["srmr"], OKABE_ITO["reddish_purple"], "^"),
        ],
        worse,
        [
            (good_rmsea, f"RMSEA {_cutoff(good_rmsea)}"),
            (good_srmr, f"SRMR {_cutoff(good_srmr)}"),
        ],
        "RMSEA, SRMR",
    )
    handles.append(
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=4,
            markerfacecolor="white",
            markeredgecolor=_DARK,
            label=f"\u0394CFI < \u2212{_cutoff(max_cfi_drop)} or "
            f"\u0394RMSEA > {_cutoff(max_rmsea_rise)}",
        )
    )

    labels = [_level_label(row, index == 0) for index, row in table.iterrows()]
    bottom.set_xticks(x, labels, fontsize=_SMALL_FONT_SIZE)
    top.tick_params(axis="x", labelbottom=False)
    for ax in (top, bottom):
        ax.set_xlim(x[0] - 0.4, x[-1] + 0.4)
    _add_legend(figure, top, handles, own_figure=own_figure)
    return figure
