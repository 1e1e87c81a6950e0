"""Layout of the path diagram: nodes, level bands, columns, positions and routes.

The structural model is laid out in columns, left to right from the outermost level
(or from the exogenous variables) to the outcomes. Paths that skip columns get
placeholder slots in the columns they cross (as in Sugiyama-style layered drawing),
the order within columns follows the barycentre heuristic, and every path is sampled
as a polyline in inches. Drawing happens in :mod:`lio_validate.figures_path`.
"""

from __future__ import annotations

import itertools
import textwrap
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lio_validate.exceptions import LioInputError
from lio_validate.figures_style import (
    _FONT_SIZE,
    _SMALL_FONT_SIZE,
    LEVEL_TITLES,
    _text_size,
    display_name,
)

# Outermost level on the left, outcomes on the right.
_LEVEL_ORDER: list[int | str] = [5, 4, 3, 2, 1, "outcome"]

# Path diagram geometry, in inches.
_COLUMN_GAP = 0.46
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
    """Show a variable name with spaces for underscores, broken between words.

    A word longer than the wrap width stays whole on its own line.
    """
    text = display_name(name)
    return textwrap.wrap(text, _NAME_WRAP, break_long_words=False) or [text]


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
    half_height = block_height / 2 + 0.16

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
