"""The path diagram of a structural model, with the levels of the organisation model
as vertical bands.

Significance is shown by line style as well as by colour, so the diagram also
survives greyscale printing. The layout is computed in
:mod:`lio_validate.figures_path_layout`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Polygon, Rectangle

from lio_validate.exceptions import LioInputError
from lio_validate.figures_path_layout import (
    _BAND_TITLE_SPACE,
    _COLUMN_GAP,
    _HEAD_LENGTH,
    _LEGEND_SPACE,
    _MARGIN,
    _arrival_points,
    _arrow_head,
    _assign_columns,
    _bands_from_levels,
    _bands_from_structure,
    _collect_structure,
    _cut_at_length,
    _Edge,
    _edge_chains,
    _finish_path,
    _Node,
    _order_columns,
    _path_lengths,
    _place_nodes,
    _route_edge,
    _sample_cubic,
    _sample_segment,
    _size_nodes,
)
from lio_validate.figures_style import (
    _BAND_FILL,
    _DARK,
    _FONT_SIZE,
    _GREY,
    _GREY_TEXT,
    _SMALL_FONT_SIZE,
    _format_coefficient,
    _format_level,
    _group_labels,
    _new_figure,
    _require_columns,
    _root_figure,
    _select_group,
    _text_size,
)

__all__ = ["plot_path_diagram"]

# Line colour, line style and line width in points of each kind of path.
_PATH_STYLES = {
    "significant": (_DARK, "solid", 1.0),
    "nonsignificant": (_GREY, (0, (4.0, 2.5)), 0.9),
    "untested": (_GREY, (0, (1.0, 1.6)), 0.9),
}


# --------------------------------------------------------------------------------------
# Path diagram: drawing


def _draw_arrow(
    ax: Axes,
    points: np.ndarray,
    style: tuple,
    both_ends: bool = False,
    head_scale: float = 1.0,
    zorder: float = 2,
) -> None:
    colour, linestyle, linewidth = style
    tuck = 0.8 * head_scale * _HEAD_LENGTH
    shaft = _cut_at_length(points, tuck)
    heads = [_arrow_head(points, head_scale)]
    if both_ends:
        shaft = _cut_at_length(shaft[::-1], tuck)[::-1]
        heads.append(_arrow_head(points[::-1], head_scale))

    ax.add_line(
        Line2D(
            shaft[:, 0],
            shaft[:, 1],
            color=colour,
            linestyle=linestyle,
            linewidth=linewidth,
            solid_capstyle="butt",
            dash_capstyle="butt",
            zorder=zorder,
        )
    )
    for head in heads:
        ax.add_patch(Polygon(head, facecolor=colour, edgecolor="none", zorder=zorder))


def _draw_node(ax: Axes, node: _Node) -> None:
    size = (2 * node.half_width, 2 * node.half_height)
    if node.latent:
        shape = Ellipse((node.x, node.y), *size)
    else:
        shape = Rectangle((node.x - node.half_width, node.y - node.half_height), *size)
    shape.set(facecolor="white", edgecolor=_DARK, linewidth=0.9, zorder=3)
    ax.add_patch(shape)

    for (text, size), offset in zip(node.lines, node.line_offsets):
        is_name = size == _FONT_SIZE
        ax.text(
            node.x,
            node.y + offset,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color=_DARK if is_name else _GREY_TEXT,
            zorder=4,
            gid="node-name" if is_name else "node-caption",
        )


def _overlap_area(box: tuple, others: np.ndarray) -> float:
    """Return the summed overlap area of ``box`` with each row of ``others``."""
    if len(others) == 0:
        return 0.0
    width = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    height = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return float((np.clip(width, 0, None) * np.clip(height, 0, None)).sum())


def _place_labels(
    ax: Axes,
    figure: Figure,
    edges: list[_Edge],
    paths: list[tuple[np.ndarray, int]],
    obstacles: list[tuple],
) -> None:
    """Write each path's std_all on the path where it overlaps nothing else.

    Candidate spots lie on the part of the path that belongs to that edge alone,
    clear of both ends. The chosen spot avoids nodes, titles and earlier labels
    first, then the lines of other paths (the label's white box would hide them),
    and then stays close to 40 % of the way. Edges with the least room go first.
    """
    all_points = np.vstack([points for points, _ in paths])
    owner = np.concatenate([np.full(len(p), i) for i, (p, _) in enumerate(paths)])
    placed = list(obstacles)
    zones = [points[start:] for points, start in paths]
    order = np.argsort([_path_lengths(zone)[-1] for zone in zones], kind="stable")

    for index in order:
        edge = edges[index]
        text = _format_coefficient(edge.std_all)
        width, height = _text_size(figure, text, _SMALL_FONT_SIZE)
        width += 0.05
        height += 0.04

        zone = zones[index]
        distance = _path_lengths(zone)
        low = width / 2 + 0.03
        high = distance[-1] - _HEAD_LENGTH - width / 2 - 0.03
        if high <= low:
            candidates = np.array([distance[-1] / 2])
        else:
            candidates = np.linspace(low, high, 24)
        candidates = candidates[
            np.argsort(np.abs(candidates - 0.4 * distance[-1]), kind="stable")
        ]

        foreign = all_points[owner != index]
        best_key, best_centre = None, None
        for rank, spot in enumerate(candidates):
            centre = zone[min(int(np.searchsorted(distance, spot)), len(zone) - 1)]
            box = (
                centre[0] - width / 2,
                centre[1] - height / 2,
                centre[0] + width / 2,
                centre[1] + height / 2,
            )
            overlap = _overlap_area(box, np.array(placed).reshape(-1, 4))
            inside = (
                (foreign[:, 0] > box[0])
                & (foreign[:, 0] < box[2])
                & (foreign[:, 1] > box[1])
                & (foreign[:, 1] < box[3])
            )
            key = (round(overlap, 5), int(inside.sum()), rank)
            if best_key is None or key < best_key:
                best_key, best_centre = key, centre

        ax.text(
            best_centre[0],
            best_centre[1],
            text,
            ha="center",
            va="center",
            fontsize=_SMALL_FONT_SIZE,
            color=_DARK if edge.style == "significant" else _GREY_TEXT,
            zorder=5,
            gid="path-label",
            bbox={
                "boxstyle": "square,pad=0.1",
                "facecolor": "white",
                "edgecolor": "none",
            },
        )
        placed.append(
            (
                best_centre[0] - width / 2,
                best_centre[1] - height / 2,
                best_centre[0] + width / 2,
                best_centre[1] + height / 2,
            )
        )


def _draw_bands(
    ax: Axes,
    figure: Figure,
    titles: list[str],
    spans: list[range],
    column_x: list[float],
    half_widths: list[float],
    gaps: list[float],
    bottom: float,
    top: float,
) -> list[tuple]:
    """Shade every other level band, write the band titles and return their boxes."""
    boxes = []
    for index, (title, span) in enumerate(zip(titles, spans)):
        first, last = span[0], span[-1]
        left_gap = gaps[first - 1] if first > 0 else _COLUMN_GAP
        right_gap = gaps[last] if last < len(gaps) else _COLUMN_GAP
        left = column_x[first] - half_widths[first] - left_gap / 2
        right = column_x[last] + half_widths[last] + right_gap / 2
        x = (left + right) / 2
        if index % 2 == 0:
            ax.add_patch(
                Rectangle(
                    (left, bottom),
                    right - left,
                    top - bottom,
                    facecolor=_BAND_FILL,
                    edgecolor="none",
                    zorder=0,
                )
            )

        wrapped = title
        for characters in range(len(title), 4, -1):
            wrapped = textwrap.fill(title, characters)
            title_width = _text_size(figure, wrapped, _FONT_SIZE, fontweight="bold")[0]
            if title_width <= right - left - 0.06:
                break
        width, height = _text_size(figure, wrapped, _FONT_SIZE, fontweight="bold")
        ax.text(
            x,
            top - 0.05,
            wrapped,
            ha="center",
            va="top",
            fontsize=_FONT_SIZE,
            fontweight="bold",
            color=_DARK,
            zorder=4,
            gid="band-title",
        )
        boxes.append((x - width / 2, top - 0.05 - height, x + width / 2, top - 0.05))
    return boxes


def _draw_covariances(
    ax: Axes, nodes: dict[str, _Node], covariances: list[tuple[str, str]]
) -> None:
    """Draw covariances lightly: arcs on the left within a column, lines across."""
    style = ("#b3b3b3", "solid", 0.6)
    for first, second in covariances:
        a, b = nodes[first], nodes[second]
        if a.column == b.column:
            start = np.array([a.x - a.half_width, a.y])
            stop = np.array([b.x - b.half_width, b.y])
            bulge = min(0.25 + 0.1 * abs(a.y - b.y), 0.6)
            points = _sample_cubic(start, start - [bulge, 0], stop - [bulge, 0], stop)
        else:
            centre_a, centre_b = np.array([a.x, a.y]), np.array([b.x, b.y])
            start = a.ray_exit(centre_a, centre_b - centre_a)
            stop = b.ray_exit(centre_b, centre_a - centre_b)
            points = _sample_segment(start, stop)
        _draw_arrow(ax, points, style, both_ends=True, zorder=1)


def _legend_handles(edges: list[_Edge], significance_level: float) -> list[Line2D]:
    level = _format_level(significance_level)
    texts = {
        "significant": f"p < {level}",
        "nonsignificant": f"p \u2265 {level}",
        "untested": "no p-value (fixed)",
    }
    present = {edge.style for edge in edges}
    handles = []
    for style in ("significant", "nonsignificant", "untested"):
        if style == "untested" and style not in present:
            continue
        colour, linestyle, linewidth = _PATH_STYLES[style]
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linestyle=linestyle,
                linewidth=linewidth,
                label=texts[style],
            )
        )
    return handles


def plot_path_diagram(
    estimates: pd.DataFrame,
    *,
    levels: Mapping[str, int | str] | None = None,
    group: str | None = None,
    show_covariances: bool = False,
    significance_level: float = 0.05,
    ax: Axes | None = None,
) -> Figure:
    """Draw the structural model as a path diagram.

    Latent variables are ellipses and observed variables in regressions are boxes.
    Under each name are the number of measurement items and, for endogenous
    variables, R² (one minus the standardized residual variance). Each regression
    (``~`` row) and each loading of a factor on another factor is an arrow labelled
    with its ``std_all``. Significant paths are solid and dark, the others dashed and
    grey. Measurement items are not drawn. Paths that skip columns run through
    reserved slots between the nodes of the columns they cross.

    Parameters
    ----------
    estimates : pandas.DataFrame
        Parameter table with at least the columns ``lhs, op, rhs, pvalue, std_all``,
        and ``group`` when there are several groups.
    levels : mapping of str to {1, 2, 3, 4, 5, "outcome"}, optional
        Level of each variable in the organisation model: 1 employee, 2 task,
        3 supervisor and colleagues, 4 organisation, 5 context. With it, variables
        sit in labelled vertical bands, context on the left and outcomes on the
        right. Without it, each variable sits one column right of its furthest
        predictor, and variables that predict nothing sit in the last column. Every
        variable of the diagram needs a level, and extra keys are ignored.
    group : str, optional
        Group to draw. Required when the estimates have several groups.
    show_covariances : bool, default False
        Draw covariances between variables of the diagram as light double-headed
        arrows without labels. Off by default because 19 correlated factors give
        over a hundred of them.
    significance_level : float, default 0.05
        Paths with ``pvalue`` below it are drawn as significant.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. The layout is in inches at fixed font sizes, so give an
        Axes about as large as the figure made without it.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, sized so that fonts are 7 pt (names) and 6 pt (numbers) at
        its natural size. Six level bands with names of up to 14 characters per
        line make it about 8 in wide, so in a 7 in double column the fonts shrink
        to about 6 and 5 pt.

    Raises
    ------
    LioInputError
        If columns are missing, the group is unknown or not given for several groups,
        a level is invalid or missing, or there is nothing to draw.
    """
    _require_columns(estimates, ["lhs", "op", "rhs", "pvalue", "std_all"], "estimates")
    groups = list(dict.fromkeys(_group_labels(estimates)))
    if group is None and len(groups) > 1:
        raise LioInputError(
            f"The estimates have the groups {groups}. Pass group= with one of them to "
            "draw its path diagram."
        )
    table = _select_group(estimates, group).reset_index(drop=True)

    nodes, edges, covariances = _collect_structure(table, significance_level)
    if not nodes:
        raise LioInputError(
            "The estimates contain no latent variable (=~) and no regression (~), "
            "so there is no path diagram to draw."
        )
    titles: list[str] = []
    if levels is not None:
        band_of, titles = _bands_from_levels(nodes, levels)
    else:
        band_of = _bands_from_structure(nodes, edges)
    spans = _assign_columns(nodes, band_of)

    figure = _new_figure(6.0, 4.0) if ax is None else _root_figure(ax)
    node_height = _size_nodes(figure, nodes)
    chains = _edge_chains(nodes, edges)
    columns, neighbours = _order_columns(nodes, chains, node_height)

    # Level bands reach half a gap beyond their outer columns.
    margin = _COLUMN_GAP / 2 if titles else _MARGIN
    left = margin + (0.55 if show_covariances and covariances else 0.0)
    bottom = _LEGEND_SPACE
    positions, column_x, half_widths, gaps, height = _place_nodes(
        nodes, columns, neighbours, node_height, left, bottom
    )
    same_column = any(nodes[e.source].column == nodes[e.target].column for e in edges)
    width = column_x[-1] + half_widths[-1] + margin + (0.4 if same_column else 0.0)
    top = bottom + height + (_BAND_TITLE_SPACE if titles else _MARGIN)
    total_height = top + _MARGIN

    if ax is None:
        figure.set_size_inches(width, total_height)
        ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width)
    ax.set_ylim(0.0, total_height)
    ax.set_aspect("equal")
    ax.set_axis_off()

    obstacles = [node.box() for node in nodes.values()]
    if titles:
        obstacles += _draw_bands(
            ax,
            figure,
            titles,
            spans,
            column_x,
            half_widths,
            gaps,
            bottom - 0.08,
            top,
        )
    if show_covariances:
        _draw_covariances(ax, nodes, covariances)

    pairs = {(edge.source, edge.target) for edge in edges}
    routes = []
    for edge, chain in zip(edges, chains):
        # Opposite paths between two neighbouring nodes would coincide.
        reciprocal = (edge.target, edge.source) in pairs and len(chain) == 2
        offset = 0.0
        if reciprocal:
            backward = nodes[edge.target].column < nodes[edge.source].column
            offset = -0.05 if backward else 0.05
        routes.append(_route_edge(chain, nodes, positions, half_widths, offset))
    bends = [bend for _, _, bend in routes]
    arrivals = _arrival_points(edges, bends, nodes)
    paths = []
    head_scales = []
    for (pieces, label_start, bend), arrival in zip(routes, arrivals):
        if bend is None:
            paths.append((pieces[0], label_start))
            head_scales.append(1.0)
        else:
            stop, scale = arrival
            paths.append((_finish_path(pieces, bend, stop), label_start))
            head_scales.append(scale)
    for edge, (points, _), scale in zip(edges, paths, head_scales):
        _draw_arrow(ax, points, _PATH_STYLES[edge.style], head_scale=scale)
    for node in nodes.values():
        _draw_node(ax, node)
    if edges:
        _place_labels(ax, figure, edges, paths, obstacles)

    legend_title = "Standardized estimates (std_all)"
    if group is not None:
        legend_title = f"Group {group}: standardized estimates (std_all)"
    if covariances and not show_covariances:
        legend_title += ". Covariances are not drawn."
    ax.legend(
        handles=_legend_handles(edges, significance_level),
        loc="lower center",
        bbox_to_anchor=(width / 2, 0.03),
        bbox_transform=ax.transData,
        ncol=3,
        frameon=False,
        fontsize=_FONT_SIZE,
        title=legend_title,
        title_fontsize=_FONT_SIZE,
        handlelength=3.0,
    )
    return figure
