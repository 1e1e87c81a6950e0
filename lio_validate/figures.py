"""Figures of a fitted model: path diagram, standardized loadings and reliability.

Every function reads a table that estimation produces (the estimates table with
lavaan's columns, or the reliability table) and returns a
:class:`matplotlib.figure.Figure` made without pyplot, so no global figure state is
kept. Sizes are in inches and font sizes in points. The loadings and reliability plots
fit one journal column (about 3.4 in) or, split in two panels, a double column (7 in).
The path diagram grows with the model.

Colours come from the Okabe-Ito palette, which stays distinguishable for readers with
the common forms of colour-vision deficiency. Significance is shown by line style as
well as by colour, so the path diagram also survives greyscale printing.
"""

from __future__ import annotations

import itertools
import textwrap
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Patch, Polygon, Rectangle

from lio_validate.exceptions import LioInputError

__all__ = [
    "LEVEL_TITLES",
    "OKABE_ITO",
    "plot_loadings",
    "plot_path_diagram",
    "plot_reliability",
    "save_figure",
]

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

# Outermost level on the left, outcomes on the right.
_LEVEL_ORDER: list[int | str] = [5, 4, 3, 2, 1, "outcome"]

_FONT_SIZE = 7.0
_SMALL_FONT_SIZE = 6.0
_DARK = "#1a1a1a"
_GREY = "#8c8c8c"
_GREY_TEXT = "#595959"
_BAND_FILL = "#f0f0f0"

# Line colour, line style and line width in points of each kind of path.
_PATH_STYLES = {
    "significant": (_DARK, "solid", 1.0),
    "nonsignificant": (_GREY, (0, (4.0, 2.5)), 0.9),
    "untested": (_GREY, (0, (1.0, 1.6)), 0.9),
}

# Path diagram geometry, in inches.
_COLUMN_GAP = 0.54
_NODE_GAP = 0.16
_NODE_DUMMY_GAP = 0.13
_DUMMY_GAP = 0.12
_MARGIN = 0.08
_BAND_TITLE_SPACE = 0.36
_LEGEND_SPACE = 0.5
_HEAD_LENGTH = 0.07
_HEAD_HALF_WIDTH = 0.028
_SAMPLE_STEP = 0.01
_NAME_WRAP = 11
_MAX_COLUMN_NODES = 8

# Loadings and reliability plots.
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


# --------------------------------------------------------------------------------------
# Path diagram: structure and columns


@dataclass
class _Node:
    name: str
    latent: bool
    lines: list[tuple[str, float]]
    column: int = 0
    x: float = 0.0
    y: float = 0.0
    half_width: float = 0.0
    half_height: float = 0.0
    line_offsets: list[float] = field(default_factory=list)

    def box(self) -> tuple[float, float, float, float]:
        return (
            self.x - self.half_width,
            self.y - self.half_height,
            self.x + self.half_width,
            self.y + self.half_height,
        )

    def ray_exit(self, origin: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Return where a ray from ``origin`` inside the node crosses its border."""
        scale = np.array([self.half_width, self.half_height])
        start = (origin - np.array([self.x, self.y])) / scale
        step = direction / scale
        if self.latent:
            a = step @ step
            b = 2 * start @ step
            c = start @ start - 1.0
            t = (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
        else:
            limits = [
                (np.sign(component) - position) / component
                for position, component in zip(start, step)
                if abs(component) > 1e-12
            ]
            t = min(limits)
        return origin + t * direction


@dataclass
class _Edge:
    source: str
    target: str
    std_all: float
    style: str


def _wrap_name(name: str) -> list[str]:
    """Break a long variable name after underscores, keeping every character."""
    if len(name) <= _NAME_WRAP or "_" not in name:
        return [name]

    lines: list[str] = []
    current = ""
    for part in name.split("_"):
        piece = part if not current else "_" + part
        if current and len(current) + len(piece) > _NAME_WRAP:
            lines.append(current + "_")
            current = part
        else:
            current += piece
    lines.append(current)
    return lines


def _path_style(pvalue: float, significance_level: float) -> str:
    if not np.isfinite(pvalue):
        return "untested"
    if pvalue < significance_level:
        return "significant"
    return "nonsignificant"


def _collect_structure(
    table: pd.DataFrame, significance_level: float
) -> tuple[dict[str, _Node], list[_Edge], list[tuple[str, str]]]:
    """Collect the nodes, directed paths and covariances of the structural model.

    Nodes are the latent variables plus every variable in a regression, in order of
    first appearance. Directed paths are regressions (predictor to outcome) and
    loadings of a latent variable on another one (higher-order factor to factor).
    """
    ops = table["op"].astype(str)
    lhs = table["lhs"].astype(str)
    rhs = table["rhs"].astype(str)
    latent = set(lhs[ops == "=~"])

    order: list[str] = []
    structural = ops.isin(["=~", "~"])
    for left, op, right in zip(lhs[structural], ops[structural], rhs[structural]):
        for name in (left, right):
            is_item = op == "=~" and name == right and name not in latent
            if not is_item and name not in order:
                order.append(name)

    is_path = (ops == "~") | ((ops == "=~") & rhs.isin(latent))
    edges = []
    for index in table.index[is_path]:
        source, target = (rhs[index], lhs[index])
        if ops[index] == "=~":
            source, target = target, source
        if source != target:
            style = _path_style(float(table.at[index, "pvalue"]), significance_level)
            edges.append(
                _Edge(source, target, float(table.at[index, "std_all"]), style)
            )

    items = (ops == "=~") & ~rhs.isin(latent)
    item_counts = rhs[items].groupby(lhs[items]).nunique()
    endogenous = {edge.target for edge in edges}
    r_squared = {}
    for index in table.index[(ops == "~~") & (lhs == rhs) & lhs.isin(endogenous)]:
        residual = float(table.at[index, "std_all"])
        if np.isfinite(residual):
            r_squared[lhs[index]] = 1.0 - residual

    nodes = {}
    for name in order:
        lines = [(line, _FONT_SIZE) for line in _wrap_name(name)]
        count = int(item_counts.get(name, 0))
        if count:
            lines.append(
                (f"{count} item" + ("s" if count > 1 else ""), _SMALL_FONT_SIZE)
            )
        if name in r_squared:
            value = f"{r_squared[name]:.2f}".replace("0.", ".", 1)
            lines.append(
                ("R\u00b2 = " + value.replace("-", "\u2212"), _SMALL_FONT_SIZE)
            )
        nodes[name] = _Node(name, name in latent, lines)

    is_covariance = (ops == "~~") & (lhs != rhs) & lhs.isin(nodes) & rhs.isin(nodes)
    covariances = list(zip(lhs[is_covariance], rhs[is_covariance]))
    return nodes, edges, covariances


def _bands_from_levels(
    nodes: dict[str, _Node], levels: Mapping[str, int | str]
) -> tuple[dict[str, int], list[str]]:
    """Return the band of each node by its level, and the band titles."""
    for factor, level in levels.items():
        hashable = isinstance(level, (int, str, np.integer))
        if isinstance(level, bool) or not hashable or level not in LEVEL_TITLES:
            raise LioInputError(
                f"Level {level!r} of {factor!r} is invalid. Use 1 (employee), "
                "2 (task), 3 (supervisor and colleagues), 4 (organisation), "
                "5 (context) or 'outcome'."
            )

    missing = [name for name in nodes if name not in levels]
    if missing:
        raise LioInputError(
            f"levels has no level for {missing}. Add each of them to levels with a "
            "value from 1 to 5 or 'outcome'."
        )

    occupied = [
        level for level in _LEVEL_ORDER if any(levels[n] == level for n in nodes)
    ]
    band_of = {name: occupied.index(levels[name]) for name in nodes}
    return band_of, [LEVEL_TITLES[level] for level in occupied]


def _feedback_edges(nodes: dict[str, _Node], edges: list[_Edge]) -> set[tuple]:
    """Return the edges that close a feedback loop, found by depth-first search.

    Removing them leaves an acyclic graph. The search starts from exogenous nodes
    and follows the order of appearance, so that the first-written direction of a
    loop stays forward.
    """
    successors: dict[str, list[str]] = {name: [] for name in nodes}
    has_predecessor = set()
    for edge in edges:
        successors[edge.source].append(edge.target)
        has_predecessor.add(edge.target)

    state: dict[str, str] = {}
    feedback = set()

    def visit(name: str) -> None:
        state[name] = "open"
        for successor in successors[name]:
            if state.get(successor) == "open":
                feedback.add((name, successor))
            elif successor not in state:
                visit(successor)
        state[name] = "done"

    starts = [n for n in nodes if n not in has_predecessor] + list(nodes)
    for name in starts:
        if name not in state:
            visit(name)
    return feedback


def _bands_from_structure(
    nodes: dict[str, _Node], edges: list[_Edge]
) -> dict[str, int]:
    """Put each node one band right of its furthest predictor.

    Exogenous variables go in the first band and outcomes (variables that predict
    nothing) in the last. Edges that close a feedback loop are left out of the
    layering, so they are drawn from right to left.
    """
    feedback = _feedback_edges(nodes, edges)
    predecessors: dict[str, set[str]] = {name: set() for name in nodes}
    successors: dict[str, set[str]] = {name: set() for name in nodes}
    for edge in edges:
        if (edge.source, edge.target) not in feedback:
            predecessors[edge.target].add(edge.source)
            successors[edge.source].add(edge.target)

    # Kahn's topological order, taking the longest chain to each node.
    layer = {name: 0 for name in nodes}
    remaining = {name: len(predecessors[name]) for name in nodes}
    ready = [name for name in nodes if remaining[name] == 0]
    while ready:
        name = ready.pop(0)
        for successor in successors[name]:
            layer[successor] = max(layer[successor], layer[name] + 1)
            remaining[successor] -= 1
            if remaining[successor] == 0:
                ready.append(successor)

    predicts = {edge.source for edge in edges}
    last = max(layer.values())
    for name in nodes:
        if predecessors[name] and name not in predicts:
            layer[name] = last

    occupied = sorted(set(layer.values()))
    return {name: occupied.index(layer[name]) for name in nodes}


def _assign_columns(nodes: dict[str, _Node], band_of: dict[str, int]) -> list[range]:
    """Set each node's column and return the columns of each band.

    A band with more than _MAX_COLUMN_NODES nodes gets several columns, and its
    nodes alternate between them in order of appearance, so that one level with
    many factors does not make the diagram very tall.
    """
    members = defaultdict(list)
    for name in nodes:
        members[band_of[name]].append(name)

    spans = []
    first = 0
    for band in range(1 + max(band_of.values())):
        count = -(-len(members[band]) // _MAX_COLUMN_NODES)
        for position, name in enumerate(members[band]):
            nodes[name].column = first + position % count
        spans.append(range(first, first + count))
        first += count
    return spans


# --------------------------------------------------------------------------------------
# Path diagram: order within columns


def _edge_chains(nodes: dict[str, _Node], edges: list[_Edge]) -> list[list]:
    """Give each path a placeholder slot in every column that it crosses.

    A placeholder ``("dummy", edge_index, column)`` reserves room between the nodes of
    a column, so that a long path runs between nodes instead of through them.
    """
    chains = []
    for index, edge in enumerate(edges):
        start = nodes[edge.source].column
        stop = nodes[edge.target].column
        step = 1 if stop >= start else -1
        dummies = [
            ("dummy", index, column) for column in range(start + step, stop, step)
        ]
        chains.append([edge.source, *dummies, edge.target])
    return chains


def _slot_height(key, node_height: float) -> float:
    return node_height if isinstance(key, str) else 0.0


def _slot_gap(key, previous) -> float:
    if isinstance(key, str) and isinstance(previous, str):
        return _NODE_GAP
    if isinstance(key, str) or isinstance(previous, str):
        return _NODE_DUMMY_GAP
    return _DUMMY_GAP


def _stack_column(keys: list, node_height: float) -> tuple[dict, float]:
    """Return the y of each key, first key on top and centred on 0, and the height."""
    if not keys:
        return {}, 0.0

    positions = {keys[0]: 0.0}
    for previous, key in itertools.pairwise(keys):
        half_heights = (
            _slot_height(key, node_height) + _slot_height(previous, node_height)
        ) / 2
        positions[key] = positions[previous] - _slot_gap(key, previous) - half_heights

    top = _slot_height(keys[0], node_height) / 2
    bottom = positions[keys[-1]] - _slot_height(keys[-1], node_height) / 2
    middle = (top + bottom) / 2
    return {key: value - middle for key, value in positions.items()}, top - bottom


def _count_crossings(columns: list[list], segments: list, node_height: float) -> int:
    positions = {}
    for keys in columns:
        positions.update(_stack_column(keys, node_height)[0])

    by_gap = defaultdict(list)
    for left, right, gap in segments:
        by_gap[gap].append((positions[left], positions[right]))

    crossings = 0
    for pairs in by_gap.values():
        left_y = np.array([pair[0] for pair in pairs])
        right_y = np.array([pair[1] for pair in pairs])
        sign = np.sign(left_y[:, None] - left_y[None, :]) * np.sign(
            right_y[:, None] - right_y[None, :]
        )
        crossings += int((sign < 0).sum()) // 2
    return crossings


def _order_columns(
    nodes: dict[str, _Node], chains: list[list], node_height: float
) -> tuple[list[list], dict]:
    """Order each column by the barycentre heuristic, keeping the fewest crossings.

    Alternate sweeps sort each column by the mean height of its neighbours in the
    column before it (left to right) or after it (right to left). Return the columns,
    top to bottom, and the neighbours of each slot in the adjacent columns.
    """
    n_columns = 1 + max(node.column for node in nodes.values())
    columns: list[list] = [[] for _ in range(n_columns)]
    for name, node in nodes.items():
        columns[node.column].append(name)
    for chain in chains:
        for dummy in chain[1:-1]:
            columns[dummy[2]].append(dummy)

    column_of = {key: index for index, keys in enumerate(columns) for key in keys}
    segments = []
    neighbours = defaultdict(list)
    for chain in chains:
        for first, second in itertools.pairwise(chain):
            if abs(column_of[first] - column_of[second]) != 1:
                continue
            left, right = sorted((first, second), key=column_of.get)
            segments.append((left, right, column_of[left]))
            neighbours[first].append(second)
            neighbours[second].append(first)

    best = [list(keys) for keys in columns]
    best_crossings = _count_crossings(best, segments, node_height)
    for sweep in range(16):
        forward = sweep % 2 == 0
        indices = range(1, n_columns) if forward else range(n_columns - 2, -1, -1)
        for index in indices:
            reference = index - 1 if forward else index + 1
            reference_y = _stack_column(columns[reference], node_height)[0]
            own_y = _stack_column(columns[index], node_height)[0]
            barycentre = {}
            for key in columns[index]:
                ys = [reference_y[m] for m in neighbours[key] if m in reference_y]
                barycentre[key] = float(np.mean(ys)) if ys else own_y[key]
            columns[index] = sorted(columns[index], key=lambda key: -barycentre[key])

        crossings = _count_crossings(columns, segments, node_height)
        if crossings < best_crossings:
            best = [list(keys) for keys in columns]
            best_crossings = crossings
    return best, neighbours


# --------------------------------------------------------------------------------------
# Path diagram: sizes, positions and paths


def _size_nodes(figure: Figure, nodes: dict[str, _Node]) -> float:
    """Size the shapes so that their text fits, and return the slot height.

    Ellipses share one height, and the ellipses of a column share one width. A line
    at height y in an ellipse with half axes a and b may be at most
    2 a sqrt(1 - (y/b)^2) wide, which sets a from the widest line for its height.
    Boxes of observed variables fit their own text.
    """
    sizes = {
        name: [_text_size(figure, text, size) for text, size in node.lines]
        for name, node in nodes.items()
    }
    block_height = max(sum(h for _, h in lines) for lines in sizes.values())
    half_height = block_height / 2 + 0.1

    half_widths = defaultdict(float)
    for name, node in nodes.items():
        total = sum(h for _, h in sizes[name])
        top = total / 2
        node.line_offsets = []
        node.half_height = half_height if node.latent else total / 2 + 0.06
        required = half_height if node.latent else 0.0
        for width, height in sizes[name]:
            node.line_offsets.append(top - height / 2)
            far = max(abs(top), abs(top - height)) / half_height
            half_text = width / 2 + 0.035
            if node.latent:
                required = max(required, half_text / np.sqrt(1.0 - far**2))
            else:
                required = max(required, half_text + 0.04)
            top -= height
        node.half_width = required
        half_widths[node.column] = max(half_widths[node.column], required)

    for node in nodes.values():
        if node.latent:
            node.half_width = half_widths[node.column]
    return 2 * half_height


def _isotonic_fit(values: np.ndarray) -> np.ndarray:
    """Return the least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []
    for value in values:
        blocks.append([float(value), 1.0])
        while (
            len(blocks) > 1
            and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]
        ):
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    return np.concatenate(
        [np.full(int(count), total / count) for total, count in blocks]
    )


def _align_free_columns(
    columns: list[list],
    positions: dict,
    neighbours: dict,
    node_height: float,
    bottom: float,
    height: float,
) -> None:
    """Move the nodes of columns without placeholders towards their neighbours.

    Stacked columns are centred, so a short column such as the outcomes would pull
    every path towards the middle. Each node of a column without placeholders moves
    to the mean height of its neighbours, as close as the node gap and the order
    allow (least squares under the order constraints).
    """
    lowest = bottom + node_height / 2
    highest = bottom + height - node_height / 2
    for _ in range(2):
        for keys in columns:
            if not all(isinstance(key, str) for key in keys):
                continue
            targets = []
            for key in keys:
                ys = [positions[m][1] for m in neighbours[key]]
                targets.append(np.mean(ys) if ys else positions[key][1])

            # Depths grow downwards. Node k must sit at least k pitches below node 0.
            pitch = node_height + _NODE_GAP
            offsets = pitch * np.arange(len(keys))
            depths = _isotonic_fit(-np.array(targets) - offsets) + offsets
            depths += max(0.0, -highest - depths[0])
            depths -= max(0.0, depths[-1] + lowest)
            for key, depth in zip(keys, depths):
                positions[key] = (positions[key][0], -depth)


def _place_nodes(
    nodes: dict[str, _Node],
    columns: list[list],
    neighbours: dict,
    node_height: float,
    left: float,
    bottom: float,
) -> tuple[dict, list[float], list[float], list[float], float]:
    """Set the node centres and return the slot positions, the x and half width of
    each column, the gaps between columns, and the height of the drawing.

    A gap widens with the steepest path that crosses it, so that steep paths do not
    crowd into a narrow gap.
    """
    stacks = [_stack_column(keys, node_height) for keys in columns]
    height = max(stack_height for _, stack_height in stacks)
    middle = bottom + height / 2
    positions = {}
    for stack, _ in stacks:
        for key, y in stack.items():
            positions[key] = (0.0, middle + y)
    _align_free_columns(columns, positions, neighbours, node_height, bottom, height)

    gaps = []
    for keys, following in itertools.pairwise(columns):
        next_keys = set(following)
        rise = max(
            (
                abs(positions[key][1] - positions[other][1])
                for key in keys
                for other in neighbours[key]
                if other in next_keys
            ),
            default=0.0,
        )
        gaps.append(min(max(_COLUMN_GAP, 0.2 * rise), 1.3))

    half_widths = [
        max(nodes[key].half_width for key in keys if isinstance(key, str))
        for keys in columns
    ]
    column_x = []
    x = left
    for index, half_width in enumerate(half_widths):
        column_x.append(x + half_width)
        x += 2 * half_width + (gaps[index] if index < len(gaps) else 0.0)
    column_of = {key: index for index, keys in enumerate(columns) for key in keys}
    for key, (_, y) in positions.items():
        positions[key] = (column_x[column_of[key]], y)

    for name, node in nodes.items():
        node.x, node.y = positions[name]
    return positions, column_x, half_widths, gaps, height


def _sample_segment(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    length = float(np.hypot(*(stop - start)))
    count = max(2, int(np.ceil(length / _SAMPLE_STEP)) + 1)
    fractions = np.linspace(0.0, 1.0, count)[:, None]
    return start + fractions * (stop - start)


def _sample_cubic(start, control1, control2, stop, count: int = 48) -> np.ndarray:
    t = np.linspace(0.0, 1.0, count)[:, None]
    return (
        (1 - t) ** 3 * start
        + 3 * (1 - t) ** 2 * t * control1
        + 3 * (1 - t) * t**2 * control2
        + t**3 * stop
    )


def _route_edge(
    chain: list,
    nodes: dict[str, _Node],
    positions: dict,
    half_widths: list[float],
    offset: float,
) -> tuple[list[np.ndarray], int, np.ndarray | None]:
    """Sample the path of one edge up to its final bend.

    Return the sampled pieces, the index from which the points belong to this edge
    alone (where its label may go), and the point where the final bend towards the
    target starts. The path leaves the source horizontally and crosses each
    placeholder slot as a horizontal line. A path within one column is complete and
    has no final bend (None).
    """
    source = nodes[chain[0]]
    target = nodes[chain[-1]]
    if source.column == target.column:
        # A path within a column bulges into the gap on the right. It leaves and
        # enters 45 degrees off the rightmost points, where other paths start.
        turn = np.radians(45.0) * (1.0 if target.y > source.y else -1.0)
        start_direction = np.array([np.cos(turn), np.sin(turn)])
        stop_direction = np.array([np.cos(turn), -np.sin(turn)])
        start = source.ray_exit(np.array([source.x, source.y]), start_direction)
        stop = target.ray_exit(np.array([target.x, target.y]), stop_direction)
        bulge = min(0.8 * _COLUMN_GAP, 0.3 + 0.15 * abs(source.y - target.y))
        arc = _sample_cubic(
            start,
            start + bulge * np.array([1.0, 0.3 * np.sign(turn)]),
            stop + bulge * np.array([1.0, -0.3 * np.sign(turn)]),
            stop,
        )
        return [arc], 0, None

    step = 1.0 if target.column > source.column else -1.0
    centre = np.array([source.x, source.y + offset])
    current = source.ray_exit(centre, np.array([step, 0.0]))
    pieces = []
    label_start = 0
    for dummy in chain[1:-1]:
        x, y = positions[dummy]
        entry = np.array([x - step * half_widths[dummy[2]], y])
        exit_ = np.array([x + step * half_widths[dummy[2]], y])
        reach = (entry[0] - current[0]) / 2
        pieces.append(
            _sample_cubic(current, current + [reach, 0], entry - [reach, 0], entry)
        )
        label_start = sum(len(piece) for piece in pieces)
        pieces.append(_sample_segment(entry, exit_))
        current = exit_
    return pieces, label_start, current


def _arrival_points(
    edges: list[_Edge], bends: list[np.ndarray | None], nodes: dict[str, _Node]
) -> list[tuple[np.ndarray, float] | None]:
    """Choose where each path meets its target's border, and its arrowhead scale.

    Paths arrive horizontally on the side of the target that faces them, at the
    height of their final bend but within 55 degrees of that side's midpoint, so
    that no path passes another node of the target's column. Paths that reach one
    side are spaced at least an arrowhead's width apart, in order. When a side has
    too little room, the arrowheads shrink to fit.
    """
    by_side = defaultdict(list)
    for index, (edge, bend) in enumerate(zip(edges, bends)):
        if bend is not None:
            from_left = bend[0] < nodes[edge.target].x
            by_side[(edge.target, from_left)].append(index)

    arrivals: list[tuple[np.ndarray, float] | None] = [None] * len(edges)
    for (name, from_left), indices in by_side.items():
        node = nodes[name]
        reach = node.half_height * np.sin(np.radians(55.0))
        heights = np.clip([bends[i][1] - node.y for i in indices], -reach, reach)
        order = np.argsort(heights, kind="stable")

        gap = 2.4 * _HEAD_HALF_WIDTH
        if len(indices) > 1:
            gap = min(gap, 2 * reach / (len(indices) - 1))
        # The k-th lowest arrival leaves room for k arrivals below it and for the
        # others above it. Within those bounds it stays near its bend's height.
        count = len(indices)
        lower = -reach + gap * np.arange(count)
        upper = reach - gap * np.arange(count)[::-1]
        spread = np.clip(heights[order].astype(float), lower, upper)
        for k in range(1, count):
            spread[k] = max(spread[k], spread[k - 1] + gap)

        side = -1.0 if from_left else 1.0
        scale = min(1.0, gap / (2.4 * _HEAD_HALF_WIDTH))
        for k, height in zip(order, spread):
            depth = node.half_width
            if node.latent:
                depth *= np.sqrt(max(0.0, 1.0 - (height / node.half_height) ** 2))
            stop = np.array([node.x + side * depth, node.y + height])
            arrivals[indices[k]] = (stop, scale)
    return arrivals


def _finish_path(
    pieces: list[np.ndarray], bend: np.ndarray, stop: np.ndarray
) -> np.ndarray:
    """Add the final bend, an S-curve from ``bend`` that arrives level at ``stop``."""
    reach = (stop[0] - bend[0]) / 2
    final = _sample_cubic(bend, bend + [reach, 0], stop - [reach, 0], stop)
    return np.concatenate([*pieces, final])


def _path_lengths(points: np.ndarray) -> np.ndarray:
    steps = np.hypot(*np.diff(points, axis=0).T)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _cut_at_length(points: np.ndarray, length: float) -> np.ndarray:
    """Return the part of a path that ends ``length`` inches before its end."""
    distance = _path_lengths(points)
    stop = distance[-1] - length
    if stop <= 0:
        return points[:1]
    index = int(np.searchsorted(distance, stop))
    fraction = (stop - distance[index - 1]) / (distance[index] - distance[index - 1])
    end = points[index - 1] + fraction * (points[index] - points[index - 1])
    return np.vstack([points[:index], end])


def _arrow_head(points: np.ndarray, scale: float = 1.0) -> np.ndarray:
    tip = points[-1]
    length = scale * _HEAD_LENGTH
    direction = tip - _cut_at_length(points, length)[-1]
    direction = direction / max(np.hypot(*direction), 1e-12)
    normal = scale * _HEAD_HALF_WIDTH * np.array([-direction[1], direction[0]])
    base = tip - length * direction
    return np.array([tip, base + normal, base - normal])


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
        The figure, about 7-9 in wide for six level bands.

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
            factor,
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
    ax.set_yticks(y, table["scale"].astype(str), fontsize=_SMALL_FONT_SIZE)
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


def save_figure(fig: Figure, directory: str | Path, stem: str) -> tuple[Path, Path]:
    """Write a figure as ``<stem>.png`` (200 dpi) and ``<stem>.svg`` in ``directory``.

    The directory is created if needed. The SVG carries no date and fixed element
    ids, so the same figure gives the same file on every run.

    Returns
    -------
    tuple of pathlib.Path
        The paths of the PNG and the SVG file.

    Raises
    ------
    LioInputError
        If ``stem`` is empty, starts with a dot or contains a path separator.
    """
    if not stem or stem.startswith(".") or "/" in stem or "\\" in stem:
        raise LioInputError(
            f"Figure name {stem!r} is invalid. Use a plain file name without a "
            "directory or extension, such as 'path_diagram'."
        )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png = directory / f"{stem}.png"
    svg = directory / f"{stem}.svg"
    with matplotlib.rc_context({"svg.hashsalt": "lio_validate"}):
        fig.savefig(png, dpi=200, bbox_inches="tight", pad_inches=0.04)
        fig.savefig(svg, bbox_inches="tight", pad_inches=0.04, metadata={"Date": None})
    return png, svg
