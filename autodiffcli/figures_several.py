"""plot's use case for a function of two variables, f(x, y), or a field F: R^2 -> R^2: the
grid's table (to the order the figure needs), critical points refined with exact
derivatives, Taylor polynomials around points, the Hessian's definiteness, and the figure
drawn by :mod:`autodiffcli.plotting.maps`. Further variables are fixed with --at. Its
:func:`check_plot` and :func:`plot` are plot's entry points, handing f(x) to
:mod:`autodiffcli.figures`. Returns data; prints nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from autodiffcli import figures, partials
from autodiffcli.errors import GridError, OptionError
from autodiffcli.figures import DrawnFigure, FigureRequest
from autodiffcli.job import check_finite_points, several, taylor_points
from autodiffcli.problem import Problem
from autodiffcli.run import at_points, column_names, table, table_about, taylor_terms

# The order of the Taylor polynomial --taylor-at draws when -k is not given: the quadratic.
DEFAULT_TAYLOR_ORDER = 2
# A Taylor polynomial is drawn within this fraction of each axis's span around its point.
TAYLOR_WINDOW = 0.25

# A map's width when the user gives none: one panel, and each column of several.
SINGLE_MAP_WIDTH, MAP_COLUMN_WIDTH = 6.4, 4.8

# Options of a one-variable figure that a map of two variables has no use for.
CURVE_ONLY = {
    "tangent_at": "draws tangent lines of f(x)",
    "ylim": "sets the y axis of f(x); colour limits are {opt.zlim}",
    "reference": "draws sympy's curves of f(x)",
    "terminal": "draws f(x) in the terminal; write an image with {opt.output} FILE",
    "show": "opens f(x) in a window for now; write an image with {opt.output} FILE",
}


def check_plot(
    problem: Problem, request: FigureRequest, taylor_at: Sequence[str] | None
) -> tuple[Problem, FigureRequest]:
    """Everything plot checks before torch loads, for curves of f(x) or a map: the options
    that apply, --taylor-at's points (numbers, or x=..,y=..), the paths and the size."""
    if several(problem):
        problem = prepare_map(problem, request)
        points = taylor_point_values(problem, taylor_at or ())
    else:
        figures.check_curve_options(request)
        points = taylor_points(problem, taylor_at)
    request = dataclasses.replace(request, taylor_at=points)
    figures.check_figure(request, problem.dtype)
    return problem, request


def plot(problem: Problem, request: FigureRequest) -> DrawnFigure:
    """The figure of a checked request: curves of f(x), or a map of f(x, y) or F(x, y)."""
    return draw(problem, request) if several(problem) else figures.draw(problem, request)


def varying(problem: Problem) -> tuple[str, ...]:
    """The variables that run over more than one value, in the grid's order (first fastest)."""
    domain = problem.domain
    return tuple(
        n
        for n, axis in zip(domain.names, domain.axes, strict=True)
        if n in problem.free and len(axis) > 1
    )


def prepare_map(problem: Problem, request: FigureRequest) -> Problem:
    """The problem a map draws, checked before torch loads: two variables run over a grid,
    any others are fixed with --at, f is scalar or a field of two components, and the
    derivatives are taken by the two that run."""
    _check_map_options(request)
    names = varying(problem)
    fixed = [n for n in problem.free if n not in names]
    if len(problem.domain.factors) < len(problem.domain.names) and any(
        len(factor) > 1 and len(problem.domain.axes[factor[0]]) > 1
        for factor in problem.domain.factors
    ):
        raise OptionError(
            "plot draws f over a grid, and --input gives scattered points; give each variable "
            "a range with {opt.var}, e.g. {opt.var} x=-2:2:0.05",
            parameter="input_path",
        )
    if len(names) > 2:
        extra = names[2:]
        raise OptionError(
            f"plot draws f over two variables, and {', '.join(extra)} "
            f"{'is' if len(extra) == 1 else 'are'} free too: fix "
            f"{'it' if len(extra) == 1 else 'them'} with {{opt.at}} "
            + ",".join(f"{n}=0" for n in extra),
            parameter="at",
        )
    if len(names) < 2:
        fixed_text = ", ".join(fixed) or "none"
        raise OptionError(
            f"plot draws f over two variables, and only {', '.join(names) or 'none'} "
            f"{'runs' if len(names) == 1 else 'run'} over a range (fixed: {fixed_text}); "
            "leave two free, or write the slice's table with autodiff derive",
            parameter="at",
        )
    if problem.outputs not in (1, 2):
        raise OptionError(
            f"plot draws a scalar f(x, y) or a field F: R^2 -> R^2, and "
            f"f = {problem.expression.text} has {problem.outputs} components; write its table "
            "with autodiff derive",
            parameter="expression",
            value=problem.expression.text,
        )
    if problem.outputs == 1 and request.background is not None:
        raise OptionError(
            "{opt.background} colours a field's divergence or curl, and f is scalar; "
            "drop it, or give a field such as '[-y, x]'",
            parameter="background",
            value=request.background,
        )
    if problem.outputs == 2 and not request.critical:
        raise OptionError(
            "{opt.no_critical} drops the critical points of a scalar f, and f is a field; drop it",
            parameter="critical",
            value=False,
        )
    if problem.outputs == 2 and request.hessian:
        raise OptionError(
            "{opt.hessian} shows where the Hessian of a scalar f is definite, and f is a "
            "field; drop it",
            parameter="hessian",
            value=True,
        )
    order = _grid_order(problem, request)
    return dataclasses.replace(
        problem,
        wrt=names,
        order=order,
        shortcuts=_field_shortcuts(problem, request),
    )


def _check_map_options(request: FigureRequest) -> None:
    for name, what in CURVE_ONLY.items():
        if getattr(request, name) not in (None, (), [], False):
            raise OptionError(
                f"{{opt.{name}}} {what}; a map of two variables does not take it",
                parameter=name,
            )
    if request.yscale != "linear":
        option = "logy" if request.yscale == "log" else "symlog"
        raise OptionError(
            f"{{opt.{option}}} scales the y axis of f(x); a map of two variables does not take it",
            parameter=option,
        )
    if request.panels is not None:
        raise OptionError(
            "{opt.panels} splits the curves of f(x); a map of two variables gets a panel per "
            "partial derivative from {opt.order}",
            parameter="panels",
        )
    if request.wireframe and request.kind != "surface":
        raise OptionError(
            "{opt.wireframe} draws a surface as wires: add {opt.kind} surface, or drop it",
            parameter="wireframe",
        )
    if request.kind == "surface" and request.field not in (None, "none"):
        raise OptionError(
            f"{{opt.field}} {request.field} draws arrows on a flat map, and {{opt.kind}} "
            "surface is 3-D; drop it, or use {opt.kind} contourf",
            parameter="field",
            value=request.field,
        )
    if request.zlim is not None:
        check_finite_points("zlim", request.zlim)
        if not request.zlim[0] < request.zlim[1]:
            raise OptionError(
                f"{{opt.zlim}} must be LOW HIGH with LOW < HIGH, got {request.zlim[0]:g} "
                f"{request.zlim[1]:g}",
                parameter="zlim",
            )


def _grid_order(problem: Problem, request: FigureRequest) -> int:
    """The order of the grid's table: the panels asked for, the gradient for the arrows, the
    Hessian for its definiteness."""
    panels = request.panel_order or 0
    if problem.outputs == 2:
        return panels
    return max(panels, 2 if request.hessian else 1)


def _field_shortcuts(problem: Problem, request: FigureRequest) -> partials.Shortcuts:
    if problem.outputs != 2:
        return partials.NO_SHORTCUTS
    background = request.background or "div"
    return partials.Shortcuts(div=background == "div", curl=background == "curl")


def taylor_order(request: FigureRequest) -> int:
    """--taylor-at's order: -k, else the quadratic."""
    return DEFAULT_TAYLOR_ORDER if request.panel_order is None else request.panel_order


def draw(problem: Problem, request: FigureRequest) -> DrawnFigure:
    """Compute the grid's table and draw the map to the request's file; ``problem`` is the one
    check_plot prepared."""
    import numpy as np

    from autodiffcli import writers
    from autodiffcli.plotting import figure as curves_figure
    from autodiffcli.plotting import files, maps

    names = column_names(problem)
    columns = table(problem)
    counts = [int(np.count_nonzero(~np.isfinite(columns[n]))) for n in names]
    a, b = varying(problem)
    nx = len(problem.domain.axes[problem.domain.names.index(a)])
    x, y = columns[a][:nx], columns[b][::nx]
    grid = {n: columns[n].reshape(len(y), nx) for n in names}
    first = grid["f" if problem.outputs == 1 else "f1"]
    if not np.isfinite(first).any():
        raise GridError(
            f"f = {problem.expression.text} has no finite value on the grid, so there is "
            "nothing to draw; check the expression or give other ranges with {opt.var}",
            parameter="var",
        )
    if request.csv_path is not None:
        fmt = writers.choose_format(request.csv_path, None)
        about = table_about(problem)
        writers.write_table(request.csv_path, fmt, names, [columns[n] for n in names], about)
    fixed = _fixed_note(problem, (a, b))
    latex = curves_figure.expression_latex(problem.expression.text, problem.expression)
    if problem.outputs == 1:
        spec = _scalar_map(problem, request, grid, x, y, (a, b))
        what = "f"
    else:
        spec = _field_map(problem, request, grid, (a, b))
        what = "F"
    head = f"${what}({a}, {b}) = {latex}$" if latex else f"{what}({a}, {b}) = "
    head += "" if latex else problem.expression.text
    spec = dataclasses.replace(
        spec,
        x=x,
        y=y,
        title=request.title or head,
        xlabel=f"${_symbol(a)}$",
        ylabel=f"${_symbol(b)}$",
        note=fixed,
    )
    width, height = map_size(spec, request)
    files.check_size(width, height, request.dpi)  # a size computed from many panels too
    drawn = maps.map_figure(spec, width, height, request.dpi)
    fmt = files.image_format(request.file)
    about = (
        f"{what}({a}, {b}) = {problem.expression.text} over {a} from {x[0]:g} to {x[-1]:g} "
        f"and {b} from {y[0]:g} to {y[-1]:g}" + (f", {_plain(fixed)}" if fixed else "")
    )
    files.save_figure(drawn, request.file, fmt, request.dpi, request.title or about, about)
    return DrawnFigure(None, names, counts)


def map_size(spec, request: FigureRequest) -> tuple[float, float]:
    """The user's size, else 4.8 inches per column of panels (6.4 for one) and the height
    that fits them."""
    from autodiffcli.plotting import maps

    columns = maps.grid_shape(spec)[1]
    width = request.width
    if width is None:
        width = MAP_COLUMN_WIDTH * columns if columns > 1 else SINGLE_MAP_WIDTH
    height = maps.natural_height(spec, width) if request.height is None else request.height
    return width, height


def _scalar_map(problem: Problem, request: FigureRequest, grid, x, y, axes) -> object:
    """f with its gradient arrows, critical points, Taylor polynomials and panels."""
    from autodiffcli.plotting import critical, maps

    a, b = axes
    named = _partial_columns(problem, axes)
    panels = [maps.Panel("$f$", grid["f"], zlim=request.zlim)]
    if request.panel_order and not request.taylor_at:
        for counts, name in named.items():
            if 0 < sum(counts) <= request.panel_order:
                label = _constant_label(_partial_label(counts, axes), grid[name])
                panels.append(maps.Panel(label, grid[name], True))
    fx, fy = grid[named[(1, 0)]], grid[named[(0, 1)]]
    style = request.field or "quiver"
    vectors = None if style == "none" else maps.Vectors(fx, fy, style, r"$\nabla f$")
    found = None
    if request.critical:
        derivatives = _derivatives_at(problem, axes)
        found = critical.find_critical(x, y, fx, fy, grid["f"], derivatives)
    definiteness = None
    if request.hessian:
        definiteness = critical.definiteness(
            grid[named[(2, 0)]], grid[named[(1, 1)]], grid[named[(0, 2)]]
        )
    overlays = tuple(
        _taylor_overlay(problem, request, point, x, y, axes) for point in request.taylor_at
    )
    return maps.MapFigure(
        x,
        y,
        tuple(panels),
        kind=request.kind,
        vectors=vectors,
        critical=found,
        overlays=overlays,
        definiteness=definiteness,
        wireframe=request.wireframe,
    )


def _field_map(problem: Problem, request: FigureRequest, grid, axes) -> object:
    """F's stream lines or arrows over its divergence or curl."""
    from autodiffcli.plotting import maps

    background = request.background or "div"
    labels = {"div": r"$\nabla\cdot F$", "curl": r"$\nabla\times F$"}
    first = (
        maps.Panel(
            _constant_label(labels[background], grid[background]),
            grid[background],
            True,
            request.zlim,
        )
        if background != "none"
        else maps.Panel("$F$", None)
    )
    panels = [first]
    if request.panel_order:
        for column in problem.plan.columns:
            partial = column.single
            if partial is not None and partial.order > 0:
                counts = _counts(partial, problem, axes)
                label = _partial_label(counts, axes, f"F_{partial.output + 1}")
                label = _constant_label(label, grid[column.name])
                panels.append(maps.Panel(label, grid[column.name], True))
    style = request.field or "stream"
    vectors = None if style == "none" else maps.Vectors(grid["f1"], grid["f2"], style, "$F$")
    return maps.MapFigure(
        grid["f1"][0], grid["f1"][:, 0], tuple(panels), kind=request.kind, vectors=vectors
    )


def _constant_label(label: str, z) -> str:
    """A background's label, with its value where it is the same at every point of the grid
    (the curl of a rotation, 2): a colour alone would not say so."""
    import numpy as np

    finite = z[np.isfinite(z)]
    if finite.size and finite.min() == finite.max():
        return label[:-1] + f" = {float(finite[0]):g}$ everywhere"
    return label


def _counts(partial: partials.Partial, problem: Problem, axes: Sequence[str]) -> tuple[int, int]:
    """A partial's counts by the map's two variables, in the grid's order."""
    a, b = axes
    variables = problem.expression.variables
    return partial.counts[variables.index(a)], partial.counts[variables.index(b)]


def _partial_columns(problem: Problem, axes: Sequence[str]) -> dict[tuple[int, int], str]:
    """The table's columns of f's partials, keyed by their counts (by x, by y)."""
    out = {}
    for column in problem.plan.columns:
        partial = column.single
        if partial is not None:
            out[_counts(partial, problem, axes)] = column.name
    return out


def _symbol(name: str) -> str:
    """A variable's name in mathtext: one letter in italics, a longer name upright."""
    return name if len(name) == 1 else r"\mathrm{" + name.replace("_", r"\_") + "}"


def _partial_label(counts: tuple[int, int], axes: Sequence[str], what: str = "f") -> str:
    r"""Mathtext of a partial: $\partial^2 f/\partial x\,\partial y$."""
    order = sum(counts)
    top = r"\partial " if order == 1 else rf"\partial^{{{order}}} "
    parts = []
    for name, count in zip(axes, counts, strict=True):
        if count:
            parts.append(rf"\partial {_symbol(name)}" + (f"^{{{count}}}" if count > 1 else ""))
    return f"${top}{what}/" + r"\,".join(parts) + "$"


def _fixed_note(problem: Problem, axes: Sequence[str]) -> str | None:
    """What --at and --param fixed, as mathtext for the figure: 'at $z = 0$'."""
    domain = problem.domain
    parts = []
    for name, axis in zip(domain.names, domain.axes, strict=True):
        if name not in axes:
            value = float(axis.take([0])[0])
            parts.append(f"${_symbol(name)} = {value:g}$")
    return ("at " + ", ".join(parts)) if parts else None


def _plain(text: str) -> str:
    """Mathtext of _fixed_note as plain text, for the SVG's description."""
    plain = text.replace("$", "").replace(r"\mathrm{", "").replace("}", "")
    return plain.replace("\\_", "_")


def _derivatives_at(problem: Problem, axes: Sequence[str]):
    """critical.Derivatives on the engines: f, its gradient and Hessian at scattered points,
    by autograd's reverse mode."""
    import numpy as np

    a, b = axes

    def derivatives(xs, ys):
        points = _points(problem, {a: xs, b: ys})
        sub = at_points(problem, points, order=2, method="reverse", shortcuts=partials.NO_SHORTCUTS)
        columns = table(sub)
        names = _partial_columns(sub, axes)
        gradient = np.stack([columns[names[(1, 0)]], columns[names[(0, 1)]]], axis=-1)
        hessian = np.stack(
            [
                np.stack([columns[names[(2, 0)]], columns[names[(1, 1)]]], axis=-1),
                np.stack([columns[names[(1, 1)]], columns[names[(0, 2)]]], axis=-1),
            ],
            axis=-2,
        )
        return columns["f"], gradient, hessian

    return derivatives


def _points(problem: Problem, given: dict) -> dict:
    """Scattered points for run.at_points: the varying variables' values, the fixed ones'
    repeated."""
    count = len(next(iter(given.values())))
    points = {}
    for name, axis in zip(problem.domain.names, problem.domain.axes, strict=True):
        if name in given:
            points[name] = [float(v) for v in given[name]]
        elif name in problem.free:
            points[name] = [float(axis.take([0])[0])] * count
    return points


def taylor_point_values(problem: Problem, texts: Sequence[str]) -> list[dict]:
    """--taylor-at's points for a map: 'x=-1,y=0' naming the two variables that run."""
    from autodiffcli.job import _assignments

    names = varying(problem)
    if texts and problem.outputs != 1:
        raise OptionError(
            "{opt.taylor_at} draws Taylor polynomials of a scalar f, and f is a field; drop it",
            parameter="taylor_at",
        )
    points = []
    for text in texts:
        point = _assignments("taylor_at", text)
        if set(point) != set(names):
            raise OptionError(
                f"{{opt.taylor_at}} {text!r} must give the point in {' and '.join(names)}: "
                "e.g. {opt.taylor_at} " + ",".join(f"{n}=0" for n in names),
                parameter="taylor_at",
                value=text,
            )
        check_finite_points("taylor_at", list(point.values()), problem.dtype)
        _check_on_the_map(problem, point, text)
        points.append(point)
    return points


def _check_on_the_map(problem: Problem, point: dict, text: str) -> None:
    """A Taylor point must lie on the map: its polynomial is drawn around it."""
    domain = problem.domain
    for name, value in point.items():
        axis = domain.axes[domain.names.index(name)]
        low, high = sorted(float(axis.take([i])[0]) for i in (0, len(axis) - 1))
        if not low <= value <= high:
            raise OptionError(
                f"{{opt.taylor_at}} {text} lies off the map: {name} runs from {low:g} to "
                f"{high:g}; choose a point on it, or widen {{opt.var}} {name}",
                parameter="taylor_at",
                value=text,
            )


def _taylor_overlay(problem: Problem, request: FigureRequest, point: dict, x, y, axes):
    """The order-K Taylor polynomial of f at the point, on the grid near it (NaN beyond)."""
    import numpy as np

    from autodiffcli.plotting import maps

    a, b = axes
    order = taylor_order(request)
    sub = dataclasses.replace(problem, order=order, shortcuts=partials.NO_SHORTCUTS)
    # taylor_terms takes every free variable: the fixed ones keep their --at values.
    full = {n: values[0] for n, values in _points(problem, {a: [point[a]], b: [point[b]]}).items()}
    terms = taylor_terms(sub, [full])
    X, Y = np.meshgrid(x - point[a], y - point[b])
    z = np.zeros_like(X)
    powers = zip(terms["coefficient"], terms[f"power_{a}"], terms[f"power_{b}"], strict=True)
    for c, pa, pb in powers:
        z += c * X**pa * Y**pb
    half_x, half_y = TAYLOR_WINDOW * (x[-1] - x[0]), TAYLOR_WINDOW * (y[-1] - y[0])
    z[(np.abs(X) > half_x) | (np.abs(Y) > half_y)] = math.nan
    name = {1: "linear", 2: "quadratic", 3: "cubic"}.get(order, f"order-{order} Taylor")
    label = f"{name} at $({point[a]:g}, {point[b]:g})$"
    return maps.Overlay((point[a], point[b]), z, label)
