"""The expression's tape as a picture (``explain --graph FILE``) and as Graphviz DOT.

The picture lays the parsed expression out left to right, one layer per step from the
variables, so the chain rule can be read along its edges. Neither matplotlib nor torch is
imported at module level: path checks answer at once.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autodiffcli.errors import OutputError
from autodiffcli.numfmt import fmt, fmt_optional

PICTURE_FORMATS = ("png", "svg", "pdf")
# Figure geometry in inches: one column per layer, one row per node of the fullest layer.
# A traced column holds numbers and edge labels; an untraced one only its boxes' formulas,
# at about CHAR_WIDTH a character, with COLUMN_GAP between boxes for the arrows.
LAYER_WIDTH = 3.0
CHAR_WIDTH = 0.075
COLUMN_GAP = 0.7
ROW_HEIGHT = 1.0
MARGIN = 0.6
MAX_PICTURE_NODES = 200
# A picture larger than this (inches; 3600 px at 150 dpi) is unreadable unless zoomed.
MAX_PICTURE_INCHES = 24.0
# The caption: its font size (points), and the width of a character as a share of it.
CAPTION_POINTS = 9
CAPTION_CHAR_SHARE = 0.62
# Edge labels sit this far along their edge, from tail to head.
EDGE_LABEL_AT = 0.6


def _dot_escape(text: str) -> str:
    return text.replace('"', '\\"')


# ----- The expression's tape as a graph -----


@dataclass(frozen=True)
class TapeNode:
    """One node of the tape as drawn: its name, what it computes, and its numbers (if traced)."""

    name: str
    formula: str
    inputs: tuple[int, ...]
    numbers: tuple[str, ...] = ()
    partials: tuple[str | None, ...] = ()

    @property
    def label(self) -> str:
        return "\n".join([f"{self.name} = {self.formula}", *self.numbers])


def tape_nodes(expression, trace: Sequence[dict] | None = None) -> list[TapeNode]:
    """The drawable nodes of ``expression``; with a trace (rows of
    :func:`autodiffcli.lesson.probes.trace`), each
    node also carries its value, tangent and adjoint, and each edge its local partial."""
    nodes = []
    for index, node in enumerate(expression.nodes):
        row = trace[index] if trace is not None else None
        nodes.append(
            TapeNode(
                name=f"v{index}",
                formula=_formula(node),
                inputs=tuple(node.args),
                numbers=_numbers(row) if row else (),
                partials=tuple(_partial_text(p) for p in row["partials"]) if row else (),
            )
        )
    return nodes


def _formula(node) -> str:
    if node.op == "var":
        return node.label
    if node.op == "const":
        return node.label
    return f"{node.op}({', '.join(f'v{i}' for i in node.args)})"


def _numbers(row: dict) -> tuple[str, ...]:
    if "tangents" in row:  # several inputs: a tangent per input
        tangents = tuple(
            f"tangent d/d{name} {fmt_optional(value)}" for name, value in row["tangents"].items()
        )
        return (
            f"value {fmt_optional(row['value'])}",
            *tangents,
            f"adjoint {fmt_optional(row['adjoint'])}",
        )
    return (
        f"value {fmt_optional(row['value'])}",
        f"tangent {fmt_optional(row['tangent'])}",
        f"adjoint {fmt_optional(row['adjoint'])}",
    )


def _partial_text(partial: float | None) -> str | None:
    return None if partial is None else fmt_optional(partial)


def edge_label(nodes: list[TapeNode], head: int, position: int) -> str | None:
    """The local partial on the edge into ``nodes[head]`` from its ``position``-th input."""
    node = nodes[head]
    if not node.partials or node.partials[position] is None:
        return None
    return f"d{node.name}/d{nodes[node.inputs[position]].name} = {node.partials[position]}"


def tape_dot(expression, trace: Sequence[dict] | None = None) -> str:
    """Graphviz DOT of the tape: x, constants and operations, with numbers when traced."""
    nodes = tape_nodes(expression, trace)
    out = ["digraph tape {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for node in nodes:
        out.append(f'  {node.name} [label="{_dot_escape(node.label)}"];'.replace("\n", "\\n"))
    for head, node in enumerate(nodes):
        for position, tail in enumerate(node.inputs):
            label = edge_label(nodes, head, position)
            attrs = f' [label="{_dot_escape(label)}"]' if label else ""
            out.append(f"  {nodes[tail].name} -> {node.name}{attrs};")
    out.append("}")
    return "\n".join(out) + "\n"


def layers(expression) -> list[int]:
    """The column of each tape node: x at 0, an operation one right of its latest input, and
    a constant just left of the operation that uses it."""
    column: list[int] = []
    for node in expression.nodes:
        column.append(1 + max((column[i] for i in node.args), default=-1) if node.args else 0)
    for index, node in enumerate(expression.nodes):
        for arg in node.args:
            if expression.nodes[arg].op == "const":
                column[arg] = max(column[arg], column[index] - 1)
    return column


@dataclass(frozen=True)
class Layout:
    """Where to draw the tape.

    Attributes:
        where: (column, row) of each tape node.
        routes: (tail, head, position, points) per edge: the points run from the tail node to
            the head node through one waypoint per column the edge crosses, so a long edge
            keeps its own row and passes no node.
    """

    where: list[tuple[float, float]]
    routes: list[tuple[int, int, int, list[tuple[float, float]]]]


def layout(expression) -> Layout:
    """A layered layout (Sugiyama style): columns from :func:`layers`, a waypoint in every
    column a long edge crosses, and rows by the barycentre heuristic: sweep left to right
    placing each item near the mean row of its inputs, right to left near its users, and left
    to right again."""
    column = layers(expression)
    inputs: list[list[int]] = [list(node.args) for node in expression.nodes]
    chains = []
    for head, node in enumerate(expression.nodes):
        for position, tail in enumerate(node.args):
            chain = [tail]
            for between in range(column[tail] + 1, column[head]):
                column.append(between)
                inputs.append([chain[-1]])
                chain.append(len(column) - 1)
            chains.append((tail, head, position, [*chain, head]))
            if len(chain) > 1:  # the head's input is now the last waypoint
                inputs[head] = [chain[-1] if i == tail else i for i in inputs[head]]
    users: list[list[int]] = [[] for _ in column]
    for item, sources in enumerate(inputs):
        for source in sources:
            users[source].append(item)
    row = _barycentre_rows(column, inputs, users)
    where = [(float(c), r) for c, r in zip(column, row, strict=True)]
    routes = [(t, h, p, [where[i] for i in chain]) for t, h, p, chain in chains]
    return Layout(where[: len(expression.nodes)], routes)


def _barycentre_rows(column: list[int], inputs, users) -> list[float]:
    row = [float(i) for i in range(len(column))]
    order = range(max(column) + 1)
    for neighbours, sweep in ((inputs, order), (users, reversed(order)), (inputs, order)):
        for layer in sweep:
            members = [i for i, c in enumerate(column) if c == layer]
            members.sort(key=lambda i, n=neighbours: (_mean_row(n[i], row, i), i))
            for rank, i in enumerate(members):
                row[i] = rank - (len(members) - 1) / 2
    return row


def _mean_row(neighbours: list[int], row: list[float], own: int) -> float:
    return sum(row[n] for n in neighbours) / len(neighbours) if neighbours else row[own]


def check_picture_path(path: str) -> str:
    """The picture format from ``path``'s extension (png, svg, pdf), or a clear OutputError."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PICTURE_FORMATS:
        raise OutputError(
            f"cannot draw the graph as '{suffix or path}'; name the {{opt.graph}} file "
            f"with one of: {', '.join('.' + f for f in PICTURE_FORMATS)}",
            parameter="graph",
            value=path,
        )
    return suffix


@dataclass(frozen=True)
class PictureSize:
    """The picture's grid (columns of layers, rows of the fullest layer) and its inches."""

    columns: int
    rows: int
    width: float
    height: float


def picture_size(expression, traced: bool, lines: int = 3) -> PictureSize:
    """The size of the graph picture, without drawing it (checked before any work); a traced
    node holds ``lines`` lines of numbers (value, a tangent per input, adjoint)."""
    plan = layout(expression)
    points = plan.where + [p for *_, route in plan.routes for p in route]
    columns = int(max(c for c, _ in points)) + 1
    rows = max(len({r for c, r in points if c == k}) for k in range(columns))
    if traced:
        column_width = LAYER_WIDTH
    else:
        longest = max(len(node.label) for node in tape_nodes(expression))
        column_width = CHAR_WIDTH * longest + COLUMN_GAP
    tall = 1.0 + 0.25 * (lines if traced else 0)
    return PictureSize(columns, rows, column_width * columns + MARGIN, ROW_HEIGHT * tall * rows)


def check_picture_size(expression, traced: bool, lines: int = 3) -> None:
    """Refuse a graph too large to read: it would only be seen zoomed."""
    nodes = len(expression.nodes)
    if nodes > MAX_PICTURE_NODES:
        raise OutputError(
            f"the expression has {nodes} nodes; the graph picture draws at most "
            f"{MAX_PICTURE_NODES}: simplify the expression or drop {{opt.graph}}",
            parameter="graph",
        )
    size = picture_size(expression, traced, lines)
    if max(size.width, size.height) > MAX_PICTURE_INCHES:
        untraced = " without {opt.trace}, or" if traced else ""
        raise OutputError(
            f"the graph is {size.columns} steps deep and {size.rows} wide: its picture would be "
            f"{size.width:.0f} x {size.height:.0f} in, over {MAX_PICTURE_INCHES:.0f} in and "
            f"unreadable unless zoomed; draw it{untraced} for a part of the expression, or "
            "write {opt.dot} FILE and lay it out with Graphviz (dot -Tsvg FILE)",
            parameter="graph",
        )


def tape_figure(expression, trace: Sequence[dict] | None = None):
    """A matplotlib Figure (Agg, no pyplot) of the expression's dependency graph, left to right,
    under its caption wrapped to the picture's width."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = len(_numbers(trace[0])) if trace else 3
    check_picture_size(expression, trace is not None, lines)
    nodes = tape_nodes(expression, trace)
    plan = layout(expression)
    size = picture_size(expression, trace is not None, lines)
    caption = _wrapped(_caption(expression, trace), size.width)
    top = (caption.count("\n") + 1) * CAPTION_POINTS * 1.4 / 72 + 0.15
    height = size.height + MARGIN + top
    figure = Figure(figsize=(size.width, height), layout="none")
    FigureCanvasAgg(figure)  # a renderer, to measure the boxes the arrows run to
    axes = figure.add_axes((0, 0, 1, 1 - top / height))
    axes.set_axis_off()
    axes.set_xlim(-0.6, size.columns - 0.4)
    axes.set_ylim(-(size.rows / 2) - 0.1, size.rows / 2 + 0.1)
    boxes = _draw_nodes(axes, expression, nodes, plan.where)
    _draw_edges(axes, nodes, plan.routes, _half_widths(figure, axes, boxes))
    figure.suptitle(caption, x=0.01, y=0.99, ha="left", va="top", fontsize=CAPTION_POINTS)
    return figure


def _wrapped(caption: str, width: float) -> str:
    """The caption in lines that fit ``width`` inches (matplotlib does not wrap a title)."""
    per_line = max(20, int((width - 0.2) * 72 / (CAPTION_POINTS * CAPTION_CHAR_SHARE)))
    return "\n".join(textwrap.wrap(caption, per_line))


def _half_widths(figure, axes, boxes) -> list[float]:
    """Half the width of each node's drawn box, in data units (columns)."""
    renderer = figure.canvas.get_renderer()
    to_data = axes.transData.inverted()
    widths = []
    for box in boxes:
        box.update_bbox_position_size(renderer)
        extent = box.get_bbox_patch().get_window_extent(renderer)
        (x0, _), (x1, _) = to_data.transform([(extent.x0, 0), (extent.x1, 0)])
        widths.append((x1 - x0) / 2)
    return widths


def _caption(expression, trace: Sequence[dict] | None) -> str:
    caption = f"f({', '.join(expression.variables)}) = {expression.text}"
    x_rows = [row for row in trace or () if row["op"] in expression.variables]
    if x_rows and "tangents" in x_rows[0]:  # several inputs
        names = list(x_rows[0]["tangents"])
        values = {row["op"]: row["value"] for row in x_rows}
        at = ", ".join(f"{n} = {fmt(values[n])}" for n in names if n in values)
        caption += (
            f" at {at}: a tangent dv/d(input) per input (forward, from that input), adjoint "
            "(reverse, from the scalar the lesson traces); each edge is labelled with its "
            "local partial"
        )
    elif x_rows:
        caption += (
            f" at x = {fmt(x_rows[0]['value'])}: tangent dv/dx (forward, from x), adjoint "
            "df/dv (reverse, from f); each edge is labelled with its local partial"
        )
    return caption


def _draw_nodes(axes, expression, nodes, where) -> list:
    """The boxes, one text artist per node, in tape order."""
    colours = {"var": "#cfe8ff", "const": "#eeeeee"}
    boxes = []
    for node, tape_node, (column, row) in zip(nodes, expression.nodes, where, strict=True):
        box = axes.text(
            column,
            -row,
            node.label,
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            gid=node.name,
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": colours.get(tape_node.op, "#fff3d6"),
                "edgecolor": "#555555",
            },
            zorder=3,
        )
        boxes.append(box)
    return boxes


def _draw_edges(axes, nodes, routes, half_widths) -> None:
    """Each edge from the right side of its tail's box to the left side of its head's."""
    for tail, head, position, route in routes:
        start, end = route[0][0] + half_widths[tail], route[-1][0] - half_widths[head]
        xs = [start] + [x for x, _ in route[1:-1]] + [end]
        ys = [-y for _, y in route]
        axes.plot(xs[:-1], ys[:-1], color="#555555", lw=1.0, zorder=1)
        axes.annotate(
            "",
            xy=(xs[-1], ys[-1]),
            xytext=(xs[-2], ys[-2]),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "#555555",
                "lw": 1.0,
                "shrinkA": 0,
                "shrinkB": 0,
            },
            zorder=1,
        )
        label = edge_label(nodes, head, position)
        if label:
            # On the last segment, near the head, where edges into one node have fanned apart.
            axes.text(
                xs[-2] + EDGE_LABEL_AT * (xs[-1] - xs[-2]),
                ys[-2] + EDGE_LABEL_AT * (ys[-1] - ys[-2]),
                label,
                ha="center",
                va="center",
                fontsize=7,
                color="#8a3b00",
                gid=f"{nodes[tail].name}->{nodes[head].name}",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "lw": 0},
                zorder=2,
            )


def drawn_labels(figure) -> list[str]:
    """Every text drawn on the figure, read back from its artists (for checks and tests)."""
    texts = (text.get_text() for axes in figure.axes for text in axes.texts)
    return [text for text in texts if text]  # arrows are annotations with empty text


def save_tape_picture(expression, path: str, trace: Sequence[dict] | None = None) -> None:
    """Draw the dependency graph to ``path`` (png, svg or pdf), atomically."""
    from autodiffcli.plotting.files import save_figure

    fmt = check_picture_path(path)
    save_figure(tape_figure(expression, trace), path, fmt, dpi=150)
