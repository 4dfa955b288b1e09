"""plot's use case: a checked figure request, the table with one order more (to tell jumps
from steep rises), and the figure drawn to a file, a window or the terminal. Returns data;
prints nothing. Built on :mod:`autodiffcli.run`'s tables.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from autodiffcli.errors import BudgetError, GridError, OptionError
from autodiffcli.job import check_finite_points
from autodiffcli.problem import Problem
from autodiffcli.run import at_points, column_names, table, tangents, target, taylor_series

CURVE_SIZE = (6.4, 4.8)  # inches, matplotlib's default


@dataclass(frozen=True)
class FigureRequest:
    """What `plot` should draw and where; checked by :func:`check_figure` before any work."""

    output: str = "plot.png"
    csv_path: str | None = None
    title: str | None = None
    width: float | None = None  # None: 6.4 inches for curves; a map sizes itself to its panels
    height: float | None = None  # None: 4.8 inches for curves
    dpi: float = 150.0
    tangent_at: Sequence[float] | None = ()
    taylor_at: Sequence[float] | None = ()
    ylim: tuple[float, float] | None = None
    panels: bool | None = None
    reference: bool = False
    terminal: bool = False
    show: bool = False
    yscale: str = "linear"
    # A map of two variables (figures_several): what to draw and how.
    kind: str = "contourf"
    field: str | None = None  # quiver for a gradient, stream for a field
    background: str | None = None  # a field's: div (the default), curl or none
    zlim: tuple[float, float] | None = None
    wireframe: bool = False
    hessian: bool = False
    critical: bool = True
    panel_order: int | None = None  # -k as given: a panel per partial up to it

    @property
    def size(self) -> tuple[float, float]:
        """(width, height) in inches of a figure of curves: the user's, else 6.4 by 4.8."""
        return (
            CURVE_SIZE[0] if self.width is None else self.width,
            CURVE_SIZE[1] if self.height is None else self.height,
        )

    @property
    def file(self) -> str | None:
        """The image file to write; None when drawing in the terminal or a window."""
        return None if self.terminal or self.show else self.output


@dataclass(frozen=True)
class DrawnFigure:
    """What `plot` made: terminal text (if any), column names and their non-finite counts,
    and a hint for the user (or None)."""

    text: str | None
    names: list[str]
    counts: list[int]
    hint: str | None = None


def yscale(logy: bool, symlog: bool) -> str:
    """The y scale from --logy and --symlog, which exclude each other."""
    if logy and symlog:
        raise OptionError(
            "{opt.logy} and {opt.symlog} exclude each other: use {opt.logy} for a curve above "
            "0, {opt.symlog} for one that changes sign",
            parameter="symlog",
            value=True,
        )
    return "log" if logy else ("symlog" if symlog else "linear")


# Options of a map of two variables that a curve of f(x) has no use for, and their defaults.
MAP_ONLY = {
    "kind": "contourf",
    "field": None,
    "background": None,
    "zlim": None,
    "wireframe": False,
    "hessian": False,
    "critical": True,
}


def check_curve_options(request: FigureRequest) -> None:
    """A figure of f(x) refuses the options of a map of two variables, by name."""
    for name, default in MAP_ONLY.items():
        if getattr(request, name) != default:
            flag = "{opt.no_critical}" if name == "critical" else f"{{opt.{name}}}"
            raise OptionError(
                f"{flag} draws a function of two variables, and f has one; drop it, "
                "or give f a second variable",
                parameter=name,
            )


def check_figure(request: FigureRequest, dtype: str = "float64") -> None:
    """Paths, format, size, limits and points of a figure, before torch or matplotlib load."""
    from autodiffcli import writers
    from autodiffcli.plotting import files

    if request.csv_path is not None:
        writers.check_output_path(request.csv_path, "csv_path")
        writers.choose_format(request.csv_path, None)
    if request.file is not None:
        writers.check_output_path(request.file, "output")
        files.image_format(request.file)
        files.check_size(*request.size, request.dpi)
    if request.show:
        files.check_display()
    check_finite_points("tangent_at", request.tangent_at, dtype)  # --taylor-at's: check_plot
    files.check_ylim(request.ylim)
    files.check_yscale(request.yscale, request.ylim)
    files.check_title(request.title)


def draw(problem: Problem, request: FigureRequest) -> DrawnFigure:
    """Compute the table and draw it: to a file, a window, or terminal text.

    A function with no finite value on the range is refused (empty axes would say nothing),
    with the reason at one point and, where one is found, a range where it is defined."""
    import numpy as np

    from autodiffcli import writers
    from autodiffcli.engines import compute
    from autodiffcli.plotting import figure, files, terminal

    names = column_names(problem)
    tensors = _table_and_slope(problem)
    counts = compute.count_nonfinite(tensors[: len(names)])
    columns = [column.numpy() for column in tensors]
    columns, slope = (
        columns[: len(names)],
        (columns[len(names)] if len(columns) > len(names) else None),
    )
    if not np.isfinite(columns[1]).any():
        raise _nowhere_finite(problem, columns[0])
    if request.yscale == "log" and not (columns[1] > 0).any():
        raise OptionError(
            f"f(x) = {problem.expression.text} has no value above 0 on the range, so a log "
            "axis ({opt.logy}) has nothing to draw; use {opt.symlog}",
            parameter="logy",
            value=True,
        )
    if request.csv_path is not None:
        fmt = writers.choose_format(request.csv_path, None)
        writers.write_table(request.csv_path, fmt, names, columns)
    if request.terminal:
        text = terminal.terminal_plot(columns, problem.expression.text, request.title)
        return DrawnFigure(text, names, counts)
    # With Taylor polynomials the picture is f and its series: derivative curves would crowd it.
    drawn = figure.plot_figure(
        columns[:2] if request.taylor_at else columns,
        problem.expression.text,
        parsed=problem.expression,
        title=request.title,
        width=request.size[0],
        height=request.size[1],
        dpi=request.dpi,
        tangents=tuple(figure.Tangent(*row) for row in tangents(problem, request.tangent_at or ())),
        taylor=taylor_polynomials(problem, request.taylor_at or ()),
        reference=_symbolic_columns(problem, columns[0]) if request.reference else None,
        ylim=request.ylim,
        panels=request.panels,
        interactive=request.show,
        slope=columns[2] if request.taylor_at and len(columns) > 2 else slope,
        yscale=request.yscale,
        branches=_branches(problem, columns[0]),
    )
    if request.show:
        files.show_figure()
    else:
        count = 1 if request.taylor_at else len(columns) - 1
        text = problem.expression.text
        title = figure.plain_title(text, count, bool(request.taylor_at), request.title)
        about = figure.plain_description(text, count, drawn.axes[0].get_xlim())
        fmt = files.image_format(request.file)
        files.save_figure(drawn, request.file, fmt, request.dpi, title, about)
    return DrawnFigure(None, names, counts, _scale_hint(columns[1], request))


def _branches(problem: Problem, xs):
    """A code per point for the branch of every where/min/max of f it takes (the values of
    its conditions, and which side of each min/max is larger); None for f without them."""
    import numpy as np
    import torch

    from autodiffcli import lang

    nodes = problem.expression.nodes
    picks = [i for i, node in enumerate(nodes) if node.op in lang.CONDITIONS]
    sides = [i for i, node in enumerate(nodes) if node.op in ("min", "max")]
    if not picks and not sides:
        return None
    with torch.no_grad():
        values = lang.evaluate_nodes(problem.expression, [torch.from_numpy(np.asarray(xs))])
    bits = [values[i].expand(len(xs)).numpy() for i in picks]
    for i in sides:
        a, b = (values[j].expand(len(xs)) for j in nodes[i].args)
        bits.append((a >= b).numpy())
    return np.unique(np.stack(bits, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def _table_and_slope(problem: Problem) -> list:
    """The table and, where its engine reaches it within the budget, one more order: the
    plot tells jumps from steep rises with it, and does not draw it."""
    from autodiffcli.engines import compute
    from autodiffcli.job import REVERSE_MAX_ORDER
    from autodiffcli.limits import MAX_ORDER

    top = REVERSE_MAX_ORDER if problem.method == "reverse" else MAX_ORDER
    if problem.order < top:
        with contextlib.suppress(BudgetError):
            return compute.table(
                dataclasses.replace(problem, order=problem.order + 1), target(problem)
            )
    return compute.table(problem, target(problem))


def _scale_hint(f, request: FigureRequest) -> str | None:
    """A hint to use a log axis when f spans so many decades that linear axes flatten it."""
    import numpy as np

    from autodiffcli.plotting import curves

    decades = curves.decades_spanned(f)
    if request.yscale != "linear" or request.ylim or decades <= curves.WIDE_DECADES:
        return None
    scale = "{opt.logy}" if np.nanmin(f) > 0 else "{opt.symlog} (f changes sign or reaches 0)"
    return (
        f"f climbs {decades:.0f} decades above its median, so linear axes draw most of it "
        f"flat at 0; try {scale}"
    )


# Where a function undefined on the whole range is looked for: 0 and +-1, 2, 5 times each
# power of ten from 1e-3 to 1e6.
PROBE_POINTS = sorted(
    {0.0} | {sign * m * 10.0**e for sign in (-1, 1) for m in (1, 2, 5) for e in range(-3, 7)}
)


def _nowhere_finite(problem: Problem, xs) -> GridError:
    """The refusal of a plot whose f has no finite value: why, at the range's middle, and
    a range as wide as the user's from the nearest point where f is finite, if any."""
    import numpy as np

    from autodiffcli.lesson.reasons import why_not_finite
    from autodiffcli.numfmt import fmt

    low, high = float(np.min(xs)), float(np.max(xs))
    middle = float(xs[len(xs) // 2])
    reason = why_not_finite(problem.expression, middle) or "f is not finite there"
    found = table(at_points(problem, PROBE_POINTS, order=0))
    finite = np.asarray(PROBE_POINTS)[np.isfinite(found["f"])]
    text = (
        f"f(x) = {problem.expression.text} has no finite value from x = {fmt(low)} to "
        f"{fmt(high)}, so there is nothing to draw ({reason})"
    )
    if finite.size == 0:
        tried = f"from {fmt(PROBE_POINTS[0])} to {fmt(PROBE_POINTS[-1])}"
        text += f"; nor at any x tried {tried}: check the expression"
    else:
        near = float(finite[np.argmin(np.abs(finite - (low + high) / 2))])
        width = max(high - low, 1.0)
        start, stop = (near, near + width) if near > high else (near - width, near)
        text += f"; it is finite at x = {fmt(near)}: try "
        text += f"{{opt.start}} {fmt(start)} {{opt.stop}} {fmt(stop)}"
    return GridError(text, parameter="start", value=low)


def taylor_polynomials(problem: Problem, points: Sequence[float]) -> list:
    """plot --taylor-at: the Taylor series of f at each point, up to the problem's order."""
    from autodiffcli.plotting import figure

    if not points:
        return []
    rows = taylor_series(problem, points)["derivative"].reshape(len(points), problem.order + 1)
    return [
        figure.TaylorSeries.from_derivatives(x0, row.tolist())
        for x0, row in zip(points, rows, strict=True)
    ]


def _symbolic_columns(problem: Problem, xs) -> list:
    from autodiffcli import verify

    return verify.symbolic_columns(problem.expression, xs, problem.order)
