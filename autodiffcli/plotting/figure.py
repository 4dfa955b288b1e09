"""Figures of f and its derivatives: a matplotlib Figure (no pyplot state) or terminal text.

matplotlib is imported only inside the functions that draw, so that checking a format or a
size answers before any heavy import. Figures use the Agg canvas; `--show` alone asks pyplot
for an interactive window. A figure is meant to go into a report as it is: maths labels from
the parsed expression, poles broken instead of joined, a y range that fits f, and text that
stays text in SVG and PDF.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autodiffcli import lang
from autodiffcli.errors import ExpressionError
from autodiffcli.plotting.curves import break_jumps, fitted_range
from autodiffcli.plotting.files import check_title, check_ylim

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
LINESTYLES = ["-", "--", "-.", ":"]
# Taylor polynomials: a colour (f's blue left out) and a dash pattern of their own per degree,
# so that neighbouring degrees differ in both.
TAYLOR_COLOURS = PALETTE[1:]
TAYLOR_DASHES = [(0, (6, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)), (0, (3, 3)), (0, (9, 2, 2, 2))]
# The y = 0 line: light and beneath the curves, so that a curve lying on it (abs'') shows.
ZERO_LINE = {"color": "0.6", "linewidth": 0.8, "zorder": 0.5}
# Long segments are sampled at this spacing (axes fraction) when placing the legend, so that
# a steep branch with few points counts where it runs; at most this many samples a segment.
LEGEND_SAMPLE_STEP = 0.01
LEGEND_SAMPLES_PER_SEGMENT = 300
# A tangent segment spans this fraction of the plotted x range, centred on its point.
TANGENT_FRACTION = 0.3
# Orders from which each curve gets its own panel by default: f, f', f'', f''' on one axes
# already crowd it, and each order of a function like sin(3x) is 3x larger than the one before.
PANELS_FROM_ORDER = 3
# The legend moves outside the axes when every place inside covers more of the data than this
# share (points, and samples along the lines between them): none, so no branch runs through it.
LEGEND_MAX_COVER = 0.0
# Short enough for the legend: longer expressions appear in the title only.
LEGEND_EXPRESSION_CHARS = 40
# Longer LaTeX than this is unreadable in a title; the plain text is shown instead.
TITLE_LATEX_CHARS = 160
# Figures narrower than this (inches) get a smaller legend font.
SMALL_FIGURE_INCHES = 5.0
# Taylor polynomials closer than this share of the y range everywhere drawn are one curve.
SAME_TAYLOR_FRACTION = 0.002
SMOOTH_POINTS = 512  # points on which tangents and Taylor polynomials are drawn


@dataclass(frozen=True)
class Tangent:
    """The tangent of f at x0: y = f0 + slope * (x - x0)."""

    x0: float
    f0: float
    slope: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.f0 + self.slope * (x - self.x0)

    @property
    def equation(self) -> str:
        """Mathtext of the line with 3 significant digits: ``y = -0.416x + 1.92``."""
        return "y = " + linear_text(self.slope, self.f0 - self.slope * self.x0)

    @property
    def label(self) -> str:
        """The legend entry; the point itself is marked in the same colour."""
        return f"tangent ${self.equation}$"

    def segment(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        """The drawn part: TANGENT_FRACTION of the x range [low, high] centred on x0."""
        half = TANGENT_FRACTION * (high - low) / 2
        x = np.linspace(self.x0 - half, self.x0 + half, 64)  # points the legend can avoid
        return x, self(x)


@dataclass(frozen=True)
class TaylorSeries:
    """Taylor coefficients c_k = f^(k)(x0)/k!, k = 0..K, of f at one point x0."""

    x0: float
    coefficients: tuple[float, ...]

    @classmethod
    def from_derivatives(cls, x0: float, derivatives: Sequence[float]) -> TaylorSeries:
        """From f(x0), f'(x0), ..., f^(K)(x0), e.g. one row of a derive table."""
        return cls(x0, tuple(float(d) / math.factorial(k) for k, d in enumerate(derivatives)))

    @classmethod
    def from_columns(cls, x0: Sequence[float], coefficients) -> list[TaylorSeries]:
        """One series per point from an array of shape (K+1, n), as taylor.coefficients gives."""
        table = np.asarray(coefficients, dtype=float)
        return [cls(float(a), tuple(table[:, i])) for i, a in enumerate(x0)]

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1

    def __call__(self, x: np.ndarray, degree: int) -> np.ndarray:
        """T_degree(x) by Horner's rule in (x - x0)."""
        result = np.zeros_like(x, dtype=float)
        for c in reversed(self.coefficients[: degree + 1]):
            result = result * (x - self.x0) + c
        return result


def clean_number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits in mathtext: 2, -0.416, 1.5 \\times 10^{-7}."""
    if not math.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else "NaN")
    text = f"{value:.{digits}g}"
    mantissa, _, exponent = text.partition("e")
    if mantissa == "-0":
        mantissa = "0"
    return rf"{mantissa} \times 10^{{{int(exponent)}}}" if exponent else mantissa


def linear_text(slope: float, intercept: float) -> str:
    """``m x + b`` with clean numbers and no ``1x``, ``+ -`` or ``+ 0``."""
    m = clean_number(slope)
    term = {"0": "", "1": "x", "-1": "-x"}.get(m, f"{m}x")
    b = clean_number(abs(intercept))
    if b == "0":
        return term or "0"
    if not term:
        return clean_number(intercept)
    return f"{term} {'-' if intercept < 0 else '+'} {b}"


def derivative_label(k: int) -> str:
    """Math-text legend label of the k-th derivative: f(x), f'(x), f''(x), f'''(x), f^(4)(x)."""
    return f"${derivative_symbol(k)}(x)$"


def derivative_symbol(k: int) -> str:
    """Mathtext of the k-th derivative's name: f, f', f'', f''', f^{(4)}."""
    return "f" + "'" * k if k <= 3 else f"f^{{({k})}}"


def expression_latex(expression: str, parsed: lang.Expression | None = None) -> str | None:
    """Mathtext of the expression (no ``$``), or None when it cannot be shown as maths."""
    try:
        text = lang.latex(parsed if parsed is not None else lang.parse(expression))
    except ExpressionError:
        return None
    if len(text) > TITLE_LATEX_CHARS:
        return None
    # mathtext's \left| shrinks the bar to the height of what it holds: |x| read as "ıxı".
    return text.replace(r"\left|", "|").replace(r"\right|", "|")


@np.errstate(over="ignore", invalid="ignore")  # spans near 1e308: limits are clamped
def plot_figure(
    columns: list[np.ndarray],
    expression: str,
    *,
    title: str | None = None,
    width: float = 6.4,
    height: float = 4.8,
    dpi: float = 150,
    tangents: Sequence[Tangent] = (),
    reference: list[np.ndarray] | None = None,
    interactive: bool = False,
    parsed: lang.Expression | None = None,
    ylim: tuple[float, float] | None = None,
    panels: bool | None = None,
    taylor: Sequence[TaylorSeries] = (),
    slope: np.ndarray | None = None,
    yscale: str = "linear",
    branches: np.ndarray | None = None,
):
    """A Figure of f and its derivatives; ``columns`` is [x, f, f', ...] as numpy arrays.

    Args:
        columns: x and the derivative columns of order 0..K, as derive computes them.
        expression: the user's text; its LaTeX (from ``parsed``, else parsed here) labels
            the title and legend.
        title: replaces the default title.
        width, height, dpi: the figure's size in inches and its resolution.
        tangents: tangents drawn as segments of TANGENT_FRACTION of the x range.
        reference: symbolic derivatives [f, f', ...]: dashed overlays and an |error| panel.
        interactive: make the figure through pyplot, so that show_figure() can open it.
        parsed: the parsed expression, if the caller has it.
        ylim: exact y limits of f's axes; by default a robust range that fits f first.
        panels: one panel per order sharing x; by default from order PANELS_FROM_ORDER.
        taylor: Taylor series at points x0, drawn as T_1..T_K within the y limits.
        slope: the derivative of order K+1, not drawn: it tells a jump of the last curve
            from a steep rise, as each drawn derivative does for the curve before it.
        yscale: "linear", "log" (values <= 0 are not drawn) or "symlog".
        branches: which branch of f's where/min/max each point takes (a code per point):
            between two points on different branches, a curve may jump where it is steep.

    Points where f is not finite hide the derivatives there too (a note says so), a line
    breaks at a pole or a jump instead of joining its two sides, and the legend lists only
    curves with something drawn.
    """
    check_ylim(ylim)
    check_title(title)
    extra = [c for c in (slope, branches) if c is not None]
    x, curves, reference = ordered_by_x([*columns, *extra], reference)
    if branches is not None:
        *curves, branches = curves
    if slope is not None:
        *curves, slope = curves
    switches = None if branches is None else branches[:-1] != branches[1:]
    curves, hidden = hide_where_undefined(curves)
    if panels is None:
        panels = len(curves) - 1 >= PANELS_FROM_ORDER
    figure, value_axes, error_axes = _make_axes(
        width, height, dpi, len(curves) if panels else 1, reference is not None, interactive
    )
    latex = expression_latex(expression, parsed)
    groups = [[k] for k in range(len(curves))] if panels else [list(range(len(curves)))]
    x_range = _x_range(x, tangents, taylor)
    slopes = [*curves[1:], slope]
    for axes, orders in zip(value_axes, groups, strict=True):
        limits = ylim if axes is value_axes[0] else None
        _set_yscale(axes, yscale, [curves[k] for k in orders])
        _draw_orders(axes, x, curves, slopes, reference, orders, latex, limits, switches)
        axes.set_xlim(x_range)
    top = value_axes[0]
    _draw_taylor(top, taylor, x_range)
    _draw_tangents(top, tangents, x_range, first_colour=len(groups[0]))
    if hidden:
        top.plot(
            [], [], " ", label=f"derivatives hidden where ${derivative_symbol(0)}$ is undefined"
        )
    heading = (
        title if title is not None else _default_title(expression, latex, len(curves), bool(taylor))
    )
    # A where() is drawn as two stacked lines, which hang below a baseline title into the axes.
    top.set_title(heading, va="bottom" if r"\genfrac" in heading else "baseline")
    for axes in value_axes:
        _unlist_undrawn(axes)
        _place_legend(figure, axes)
    if error_axes is not None:
        _error_panel(error_axes, x, curves[1:], reference[1:])
    (error_axes or value_axes[-1]).set_xlabel("$x$")
    return figure


def ordered_by_x(columns, reference):
    """x increasing (``--input`` may give any order), so that lines join neighbours only."""
    x = np.asarray(columns[0])
    curves = [np.asarray(c) for c in columns[1:]]
    if x.size > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, curves = x[order], [c[order] for c in curves]
        if reference is not None:
            reference = [np.asarray(r)[order] for r in reference]
    return x, curves, reference


def hide_where_undefined(curves: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Derivatives as NaN where f is not finite: autograd's value there is not a derivative
    of anything drawn. Returns the curves and how many derivative points were hidden."""
    undefined = ~np.isfinite(curves[0])
    if not undefined.any() or len(curves) == 1:
        return curves, 0
    hidden = sum(int(np.count_nonzero(np.isfinite(y[undefined]))) for y in curves[1:])
    return [curves[0]] + [np.where(undefined, np.nan, y) for y in curves[1:]], hidden


def _x_range(x, tangents, taylor) -> tuple[float, float]:
    """The data's x range, stretched to include the points of tangents and series."""
    points = [float(x.min()), float(x.max())] if x.size else [-1.0, 1.0]
    points += [t.x0 for t in tangents if math.isfinite(t.x0)]
    points += [s.x0 for s in taylor if math.isfinite(s.x0)]
    low, high = min(points), max(points)
    return (low - 0.5, high + 0.5) if low == high else (low, high)


def _make_axes(width, height, dpi, count, with_errors, interactive):
    """The figure, its value axes (one per panel, sharing x) and the |error| axes or None."""
    if interactive:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(width, height), dpi=dpi, layout="constrained")
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
        FigureCanvasAgg(figure)  # a renderer to measure the legend with
    ratios = [3] * count + ([max(count, 1)] if with_errors else [])
    axes = figure.subplots(len(ratios), 1, sharex=True, height_ratios=ratios, squeeze=False)
    axes = list(axes[:, 0])
    return figure, axes[:count], (axes[count] if with_errors else None)


def _draw_orders(axes, x, curves, slopes, reference, orders, latex, ylim, switches) -> None:
    """One axes: the curves of ``orders`` (and their references), y limits, labels, grid."""
    _draw_curves(axes, x, curves, slopes, orders, latex, switches, single=len(orders) == 1)
    if reference is not None:
        _draw_reference(axes, x, reference, orders)
    with warnings.catch_warnings():  # a log axis with nothing above 0: the legend says so
        warnings.simplefilter("ignore", UserWarning)
        axes.set_ylim(ylim or _scaled_range(axes, [curves[k] for k in orders]))
    axes.set_ylabel(", ".join(derivative_label(k) for k in orders))
    if axes.get_yscale() != "log":
        axes.axhline(0, **ZERO_LINE)
    axes.grid(True, alpha=0.3)


def _set_yscale(axes, yscale: str, curves: list[np.ndarray]) -> None:
    """--logy or --symlog; symlog is linear within the decade of the curves' median size."""
    if yscale == "log":
        axes.set_yscale("log", nonpositive="mask")
    elif yscale == "symlog":
        values = np.abs(np.concatenate(curves))
        values = values[np.isfinite(values) & (values > 0)]
        typical = float(np.median(values)) if values.size else 1.0
        axes.set_yscale("symlog", linthresh=10.0 ** math.floor(math.log10(typical)))


def _scaled_range(axes, curves: list[np.ndarray]) -> tuple[float, float]:
    """fitted_range in the axes' scale (log or symlog), so that f fills a log axis as it
    fills a linear one."""
    if axes.get_yscale() == "linear":
        return fitted_range(curves)
    forward = axes.yaxis.get_transform()
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = [np.asarray(forward.transform(np.asarray(y, dtype=float))) for y in curves]
    scaled = [np.where(np.isfinite(y), y, np.nan) for y in scaled]
    if not any(np.isfinite(y).any() for y in scaled):
        return (0.1, 10.0) if axes.get_yscale() == "log" else (-1.0, 1.0)
    low, high = forward.inverted().transform(np.array(fitted_range(scaled)))
    return float(low), float(high)


def _draw_curves(axes, x, curves, slopes, orders, latex, switches, *, single):
    for k in orders:
        label = derivative_label(k)
        if k == 0 and latex and not single and len(latex) <= LEGEND_EXPRESSION_CHARS:
            label = f"$f(x) = {latex}$"
        xs, ys = break_jumps(x, curves[k], slopes[k], switches)
        style = {"color": _colour(k), "linestyle": LINESTYLES[k % 4], "gid": f"order-{k}"}
        axes.plot(xs, ys, label=label, **style)


def _draw_reference(axes, x, reference, orders):
    for k in orders:
        if k:
            axes.plot(
                *break_jumps(x, reference[k], reference[k + 1] if k + 1 < len(reference) else None),
                color=_colour(k),
                linestyle=(0, (2, 2)),
                linewidth=2.5,
                alpha=0.5,
                label=derivative_label(k) + " symbolic",
            )


def _draw_tangents(axes, tangents, x_range, first_colour):
    for i, tangent in enumerate(tangents):
        colour = _colour(first_colour + i)
        if not (math.isfinite(tangent.f0) and math.isfinite(tangent.slope)):
            axes.plot([], [], " ", label=f"no tangent at ${clean_number(tangent.x0)}$")
            continue
        xs, ys = tangent.segment(*x_range)
        axes.plot(xs, ys, color=colour, linewidth=1.5, label=tangent.label, scalex=False)
        axes.plot([tangent.x0], [tangent.f0], "o", color=colour, markersize=5, zorder=3)


def _draw_taylor(axes, taylor, x_range):
    """T_1..T_K of each series, each only over its stretch around x0 inside the y limits."""
    if not taylor:
        return
    grid = np.linspace(*x_range, SMOOTH_POINTS)
    limits = axes.get_ylim()
    for i, series in enumerate(taylor):
        point = f"$x_0 = {clean_number(series.x0)}$"
        where = "" if len(taylor) == 1 else f" at {point}"
        for first, degrees in _distinct_degrees(series, grid, limits):
            y = series(grid, first)
            keep = _stretch_inside(grid, y, series.x0, limits)
            axes.plot(
                grid[keep],
                y[keep],
                color=TAYLOR_COLOURS[(first - 1) % len(TAYLOR_COLOURS)],
                linestyle=TAYLOR_DASHES[(first - 1) % len(TAYLOR_DASHES)],
                linewidth=1.4,
                label="$" + " = ".join(f"T_{{{d}}}(x)" for d in degrees) + "$" + where,
                gid=f"taylor-{i}-{first}",  # an SVG group id, for tools and tests
            )
        axes.plot(
            [series.x0], [series.coefficients[0]], "o", color="0.15", markersize=4, label=point
        )


def _distinct_degrees(series, grid, limits) -> list[tuple[int, list[int]]]:
    """Degrees 1..K in runs whose polynomials would be drawn on top of each other (T_2 = T_1
    for sin at 0): each run is drawn once, labelled T_1(x) = T_2(x)."""
    runs: list[tuple[int, list[int]]] = []
    tolerance = SAME_TAYLOR_FRACTION * (limits[1] - limits[0])
    for degree in range(1, series.degree + 1):
        if runs:
            first = runs[-1][0]
            y = series(grid, first)
            keep = _stretch_inside(grid, y, series.x0, limits)
            with np.errstate(invalid="ignore", over="ignore"):
                gap = np.abs(series(grid[keep], degree) - y[keep])
            if keep.any() and bool(np.all(gap <= tolerance)):
                runs[-1][1].append(degree)
                continue
        runs.append((degree, [degree]))
    return runs


def _stretch_inside(grid, y, x0, limits) -> np.ndarray:
    """Mask of the run of grid points around x0 where y is inside ``limits``, plus one point
    beyond each end so that the line leaves through the frame rather than stopping short."""
    low, high = limits
    with np.errstate(invalid="ignore"):
        inside = (y >= low) & (y <= high)
    start = int(np.argmin(np.abs(grid - x0)))
    keep = np.zeros_like(inside)
    if not inside[start]:
        return keep
    outside = np.flatnonzero(~inside)
    left = outside[outside < start]
    right = outside[outside > start]
    first = left[-1] if left.size else 0
    last = right[0] if right.size else grid.size - 1
    keep[first : last + 1] = True
    return keep & np.isfinite(y)


def _default_title(expression: str, latex: str | None, count: int, taylor: bool) -> str:
    name = f"$f(x) = {latex}$" if latex else "f(x) = " + expression.replace("$", r"\$")
    return name + _title_tail(count, taylor)


def _title_tail(count: int, taylor: bool) -> str:
    """What follows f(x) = ... in a title: the Taylor polynomials, or the derivatives drawn."""
    if taylor:
        return " and its Taylor polynomials"
    return {1: "", 2: " and its derivative"}.get(count, " and its derivatives")


def plain_title(expression: str, count: int, taylor: bool, title: str | None = None) -> str:
    """The title in plain text, for an image's metadata (searchable, read aloud): the
    drawn title's maths glyphs are scattered pieces of text in SVG."""
    return title if title is not None else "f(x) = " + expression + _title_tail(count, taylor)


def plain_description(expression: str, count: int, x_range: tuple[float, float]) -> str:
    """One sentence saying what the figure shows, for screen readers and search tools."""
    names = ", ".join(
        derivative_symbol(k).replace("^{(", "^(").replace(")}", ")") + "(x)" for k in range(count)
    )
    low, high = (f"{v:.6g}" for v in x_range)
    return f"Plot of {names} for f(x) = {expression}, x from {low} to {high}."


def _unlist_undrawn(axes) -> None:
    """Take out of the legend each curve with nothing drawn (no finite value, or none above 0
    on a log axis), and say in one note which they are and why."""
    log = axes.get_yscale() == "log"
    missing = []
    for line in axes.get_lines():
        label = line.get_label()
        if label.startswith("_") or _is_note(line):
            continue
        y = np.asarray(line.get_ydata(), dtype=float)
        with np.errstate(invalid="ignore"):
            drawn = np.isfinite(y) & (y > 0) if log else np.isfinite(y)
        if not drawn.any():
            line.set_label("_" + label)
            missing.append(label)
    if missing:
        why = "no value above 0" if log else "undefined everywhere"
        axes.plot([], [], " ", label=f"not drawn ({why}): " + ", ".join(missing))


def _is_note(line) -> bool:
    """Whether a legend entry is a note (a line with nothing to draw: no stroke, no marker)."""
    return line.get_linestyle() == "None" and line.get_marker() in ("None", " ", "")


def _place_legend(figure, axes) -> None:
    """The legend (when there are two entries or more) where it covers the fewest data
    points, or outside the axes when every place inside covers over LEGEND_MAX_COVER."""
    handles, labels = axes.get_legend_handles_labels()
    if len(handles) < 2 and not any(map(_is_note, handles)):
        return
    font = "small" if figure.get_figwidth() >= SMALL_FIGURE_INCHES else "x-small"
    if not hasattr(figure.canvas, "get_renderer"):  # a window backend that cannot measure
        axes.legend(fontsize=font, loc="best")
        return
    legend = axes.legend(fontsize=font, loc="upper right")
    points = _points_in_axes(axes)
    width, height, share = _legend_size(figure, axes, legend)
    boxes = _legend_boxes(width, height)  # in order of preference where they tie
    cover, _, loc = min((_cover(points, box), i, loc) for i, (loc, box) in enumerate(boxes))
    legend.remove()
    if points.shape[0] and cover / points.shape[0] > LEGEND_MAX_COVER:
        # Below the figure, in as many columns as fit side by side across it.
        columns = max(1, min(len(handles), int(0.95 / share)))
        figure.legend(handles, labels, fontsize=font, loc="outside lower center", ncols=columns)
    else:
        axes.legend(fontsize=font, loc=loc)


def _legend_size(figure, axes, legend) -> tuple[float, float, float]:
    """The legend's width and height as fractions of the axes (before layout: a bit more),
    and its width as a fraction of the figure's."""
    renderer = figure.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    frame = axes.get_window_extent(renderer)
    slack = 1.15  # constrained layout shrinks the axes for titles and labels afterwards
    spacing = legend.columnspacing * legend.get_texts()[0].get_fontsize() * figure.dpi / 72
    share = (box.width + spacing) / figure.bbox.width  # a column's share, with the gap after it
    return slack * box.width / frame.width, slack * box.height / frame.height, share


def _legend_boxes(width: float, height: float) -> list[tuple[str, tuple[float, ...]]]:
    """Candidate places, upper corners first: (loc name, (x0, y0, x1, y1) in axes fractions)."""
    pad = 0.02
    xs = {"right": 1 - pad - width, "left": pad, "center": (1 - width) / 2}
    ys = {"upper": 1 - pad - height, "lower": pad, "center": (1 - height) / 2}
    boxes = []
    for vertical, y0 in ys.items():
        for horizontal, x0 in xs.items():
            name = "center" if vertical == horizontal == "center" else f"{vertical} {horizontal}"
            boxes.append((name, (x0, y0, x0 + width, y0 + height)))
    return boxes


def _points_in_axes(axes) -> np.ndarray:
    """Every drawn point (and midpoints of long steps) in axes fractions, inside the frame."""
    transform = axes.transScale + axes.transLimits
    chunks = []
    for line in axes.get_lines():
        xy = np.column_stack(line.get_data()).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = transform.transform(xy)
        chunks.append(_along_segments(xy))
    if not chunks:
        return np.empty((0, 2))
    points = np.concatenate(chunks)
    inside = (points >= 0).all(axis=1) & (points <= 1).all(axis=1)
    return points[inside]


def _along_segments(xy: np.ndarray) -> np.ndarray:
    """The finite points of a line in axes fractions, and samples every LEGEND_SAMPLE_STEP
    along each segment between two of them (steep branches have few points of their own)."""
    finite = np.isfinite(xy).all(axis=1)
    joined = finite[:-1] & finite[1:]
    start = np.clip(xy[:-1][joined], -1.0, 2.0)  # far outside: only the part inside counts
    end = np.clip(xy[1:][joined], -1.0, 2.0)
    length = np.hypot(*(end - start).T)
    counts = np.minimum(np.ceil(length / LEGEND_SAMPLE_STEP), LEGEND_SAMPLES_PER_SEGMENT)
    counts = counts.astype(int)
    where = np.repeat(np.arange(counts.size), counts)
    offsets = np.arange(where.size) - np.repeat(np.cumsum(counts) - counts, counts)
    fractions = (offsets / np.repeat(np.maximum(counts, 1), counts))[:, None]
    samples = start[where] + fractions * (end[where] - start[where])
    return np.concatenate([xy[finite], samples])


def _cover(points: np.ndarray, box: tuple[float, ...]) -> int:
    x0, y0, x1, y1 = box
    return int(
        np.count_nonzero(
            (points[:, 0] >= x0)
            & (points[:, 0] <= x1)
            & (points[:, 1] >= y0)
            & (points[:, 1] <= y1)
        )
    )


def _colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _error_panel(axes, x, derivatives, reference) -> None:
    for k, (ours, exact) in enumerate(zip(derivatives, reference, strict=True), start=1):
        error = np.abs(ours - exact)
        shown = np.where(np.isfinite(error) & (error > 0), error, np.nan)
        axes.semilogy(x, shown, color=_colour(k), label=derivative_label(k))
    axes.set_ylabel("|autograd - symbolic|")
    axes.grid(True, alpha=0.3, which="both")
