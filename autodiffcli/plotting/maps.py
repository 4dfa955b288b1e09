"""Figures of f(x, y): filled or line contours, heatmaps and surfaces, with gradient arrows
or stream lines, critical points, Taylor overlays and the Hessian's definiteness; and fields
F: R^2 -> R^2 over their divergence or curl. A matplotlib Figure (no pyplot state) from numpy
arrays the use case computed; undefined values stay NaN and are masked, never interpolated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autodiffcli import limits
from autodiffcli.plotting.critical import CriticalSet
from autodiffcli.plotting.mapparts import (
    TAYLOR_COLOURS,
    UNDEFINED,
    contour_levels,
    crowded,
    definiteness_panel,
    draw_critical,
    draw_overlays,
    draw_vectors,
    extent,
    frame,
    level_text,
    line_handle,
    nearest,
    patch_handle,
    point_style,
    rgb,
    wireframe,
    within,
)

KINDS, FIELD_STYLES = limits.MAP_KINDS, limits.FIELD_STYLES


@dataclass(frozen=True)
class Panel:
    """One scalar map: f, a partial derivative, or a field's divergence or curl."""

    label: str  # mathtext: "$f$", r"$\partial f/\partial x$", r"$\nabla\cdot F$"
    z: np.ndarray | None  # (ny, nx), NaN where undefined; None: no background (a field alone)
    diverging: bool = False  # derivatives, div, curl: a diverging map centred at 0
    zlim: tuple[float, float] | None = None  # the user's --zlim; None: robust limits


@dataclass(frozen=True)
class Vectors:
    """Arrows on the first panel: the gradient of f, or a field F."""

    u: np.ndarray  # (ny, nx)
    v: np.ndarray
    style: str  # "quiver" | "stream"
    label: str  # mathtext: r"$\nabla f$" or "$F$"


@dataclass(frozen=True)
class Overlay:
    """A Taylor polynomial of f at a point, drawn over f near it."""

    point: tuple[float, float]
    z: np.ndarray  # (ny, nx) on the figure's grid, NaN outside the window where it is drawn
    label: str  # mathtext, e.g. "quadratic at $(-1, 0)$"


@dataclass(frozen=True)
class MapFigure:
    """Everything one figure of f(x, y) or F(x, y) shows."""

    x: np.ndarray  # (nx,) increasing, evenly spaced
    y: np.ndarray  # (ny,) increasing, evenly spaced
    panels: tuple[Panel, ...]  # the first is f (or a field's background)
    kind: str = "contourf"
    vectors: Vectors | None = None  # on the first panel
    critical: CriticalSet | None = None  # on the first panel
    overlays: tuple[Overlay, ...] = ()
    definiteness: np.ndarray | None = None  # (ny, nx) codes of critical.DEFINITENESS; a panel
    wireframe: bool = False  # surface: wireframes instead of shaded surfaces
    title: str = ""
    xlabel: str = "$x$"
    ylabel: str = "$y$"
    note: str | None = None  # e.g. "at $z = 0$", under the title


SEQUENTIAL = "viridis"  # perceptually uniform: f, and any panel not centred at 0
DIVERGING = "RdBu_r"  # colour-blind safe (ColorBrewer), white at 0: derivatives, div, curl
# robust_limits: the middle LOW..HIGH percent of the finite values, unless the full range is
# at most WIDEN times as wide (then all of it, so a smooth f keeps its extremes).
LOW_PERCENT, HIGH_PERCENT, WIDEN = 1.0, 99.0, 1.5
LARGEST = 1e300


def robust_limits(z: np.ndarray, diverging: bool) -> tuple[float, float]:
    """Colour limits of a map: the LOW_PERCENT-th to HIGH_PERCENT-th percentiles (1st to 99th)
    of the finite values, or their whole range when it is at most WIDEN (1.5) times as wide,
    so that a pole does not wash out the picture. Diverging maps are symmetric about 0: +-
    the 99th percentile of |z| (or its maximum, by the same rule). Never empty: a constant
    is widened around itself, nothing finite gives (0, 1), or (-1, 1) when diverging."""
    values = np.asarray(z, dtype=float)
    values = values[np.isfinite(values)]
    values = np.clip(values, -LARGEST, LARGEST)
    if diverging:
        size = np.abs(values)
        top = float(np.percentile(size, HIGH_PERCENT)) if size.size else 0.0
        full = float(size.max()) if size.size else 0.0
        top = full if full <= WIDEN * top else top
        top *= 2 if size.size and size.min() >= top * (1 - 1e-9) else 1  # a constant: not an end
        return (-top, top) if top > 0 else (-1.0, 1.0)
    if not values.size:
        return 0.0, 1.0
    low, high = (float(p) for p in np.percentile(values, [LOW_PERCENT, HIGH_PERCENT]))
    first, last = float(values.min()), float(values.max())
    if last - first <= WIDEN * (high - low):
        low, high = first, last
    if high > low:
        return low, high
    step = abs(low) * 0.1 or 1.0
    return low - step, high + step


def colour_norm(low: float, high: float, diverging: bool):
    """Normalize over [low, high]; centred at 0 (TwoSlopeNorm) for a diverging map that
    spans 0 unevenly (an asymmetric --zlim)."""
    from matplotlib.colors import Normalize, TwoSlopeNorm

    if diverging and low < 0 < high and not math.isclose(-low, high):
        return TwoSlopeNorm(0.0, low, high)
    return Normalize(low, high)


def colour_map(diverging: bool):
    """The panel's colour map, with the UNDEFINED grey for masked values."""
    import matplotlib

    return matplotlib.colormaps[DIVERGING if diverging else SEQUENTIAL].with_extremes(bad=UNDEFINED)


def extend_of(z: np.ndarray, low: float, high: float) -> str:
    """Which ends of the colour bar get arrows: the finite values beyond the limits."""
    finite = z[np.isfinite(z)]
    below = bool(finite.size and finite.min() < low)
    above = bool(finite.size and finite.max() > high)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (below, above), "neither"
    )


@dataclass
class _Scale:
    """How a panel's values become colours."""

    levels: np.ndarray
    norm: object
    cmap: object
    extend: str

    @classmethod
    def of(cls, panel: Panel) -> _Scale:
        z = np.asarray(panel.z, dtype=float)
        exact = panel.zlim is not None
        low, high = panel.zlim if exact else robust_limits(z, panel.diverging)
        levels = contour_levels(low, high, exact)
        low, high = float(levels[0]), float(levels[-1])
        return cls(
            levels, colour_norm(low, high, panel.diverging), colour_map(panel.diverging),
            extend_of(z, low, high),
        )  # fmt: skip


def grid_shape(spec: MapFigure) -> tuple[int, int]:
    """(rows, columns) of the panels: up to 3 in a row, 4 as 2 x 2."""
    count = len(spec.panels) + (spec.definiteness is not None)
    columns = count if count <= 3 else (2 if count == 4 else 3)
    return math.ceil(count / columns), columns


def natural_height(spec: MapFigure, width: float) -> float:
    """A figure height (inches) for ``width`` that fits the panels without wide margins:
    square-ish cells (3-D ones a little taller), the heading and the legend rows."""
    rows, columns = grid_shape(spec)
    cell = width / columns * (0.85 if spec.kind == "surface" else 0.66)
    heading = 0.35 * bool(spec.title) + 0.25 * bool(spec.note)
    entries = len(spec.overlays) + 2 * (spec.vectors is not None) + 3 * bool(spec.critical)
    entries += 5 * (spec.definiteness is not None)
    return round(rows * (cell + 0.45) + heading + 0.25 * math.ceil(entries / 4) + 0.1, 2)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")
def map_figure(spec: MapFigure, width: float, height: float, dpi: float):
    """The Figure of ``spec`` (see MapFigure): one axes per panel, up to 3 to a row, each with
    its colour bar; arrows, critical points and Taylor overlays on the first; the Hessian's
    definiteness as a last panel; a legend under the panels, the title and note above."""
    check_kind(spec)
    figure = _new_figure(width, height, dpi)
    rows, columns = grid_shape(spec)
    legend: dict[str, object] = {}
    first_scale = None
    for index, panel in enumerate(spec.panels):
        three_d = spec.kind == "surface" and panel.z is not None
        axes = figure.add_subplot(rows, columns, index + 1, projection="3d" if three_d else None)
        axes.set_gid(f"panel-{index}")
        axes.patch.set_gid(f"axes-{index}")
        scale = None if panel.z is None else _Scale.of(panel)
        if index == 0:
            first_scale = scale
        if three_d:
            _surface_panel(figure, axes, spec, panel, scale, index, legend)
        else:
            _flat_panel(figure, axes, spec, panel, scale, index, legend)
        axes.set_title(panel.label, fontsize="small" if crowded(spec) else "medium")
    first = figure.axes[0]
    if spec.kind != "surface" or spec.panels[0].z is None:
        draw_vectors(first, spec, legend)
        draw_overlays(first, spec, first_scale, legend)
        draw_critical(first, spec.critical, legend)
    if spec.definiteness is not None:
        axes = figure.add_subplot(rows, columns, len(spec.panels) + 1)
        definiteness_panel(figure, axes, spec, len(spec.panels), legend)
    if legend:
        figure.legend(
            list(legend.values()), list(legend), loc="outside lower center", frameon=False,
            ncols=min(len(legend), 4), fontsize="small",
        ).set_gid("legend")  # fmt: skip
    _heading(figure, spec.title, spec.note)
    return figure


def check_kind(spec: MapFigure) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {spec.kind!r}")
    if spec.vectors is not None and spec.vectors.style not in FIELD_STYLES:
        raise ValueError(f"vector style must be one of {', '.join(FIELD_STYLES)}")


def _new_figure(width: float, height: float, dpi: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, layout="compressed")
    FigureCanvasAgg(figure)  # a renderer, to measure the heading with
    return figure


def _touching(mask: np.ndarray) -> np.ndarray:
    """The mask grown by one point each way: contours leave blank every cell with an
    undefined corner, and the grey beneath must fill that blank (what is drawn covers the
    rest)."""
    padded = np.pad(mask, 1)
    rows, columns = mask.shape
    shifts = [padded[i : i + rows, j : j + columns] for i in range(3) for j in range(3)]
    return np.logical_or.reduce(shifts)


def _flat_panel(figure, axes, spec, panel, scale, index, legend) -> None:
    """One 2-D map: filled contours, contour lines or a heatmap, and its colour bar."""
    frame(axes, spec)
    if panel.z is None:
        return
    z = np.ma.masked_invalid(np.asarray(panel.z, dtype=float))
    cells = extent(spec.x, spec.y)
    if np.ma.is_masked(z):  # the undefined cells in grey, beneath whatever is drawn
        grey = np.zeros((*z.shape, 4))
        grey[_touching(np.ma.getmaskarray(z))] = (*rgb(UNDEFINED), 1.0)
        axes.imshow(grey, origin="lower", extent=cells, interpolation="nearest", zorder=0.5)
        axes.images[-1].set_gid(f"undefined-{index}")
        legend.setdefault("undefined", patch_handle(UNDEFINED))
    shared = {"cmap": scale.cmap, "norm": scale.norm}
    mappable = None
    if spec.kind == "heatmap":
        mappable = axes.imshow(
            z, origin="lower", extent=cells, interpolation="nearest", **shared, zorder=1
        )
        mappable.set_gid(f"heatmap-{index}")
    elif spec.kind in ("contourf", "surface"):  # a field's background on surface: filled
        mappable = axes.contourf(spec.x, spec.y, z, levels=scale.levels, extend=scale.extend,
                                 **shared, zorder=1)  # fmt: skip
        mappable.set_gid(f"contourf-{index}")
    if spec.kind in ("contourf", "contour"):
        lines = spec.kind == "contour"
        style = {"linewidths": 1.0, **shared} if lines else {"colors": "0.1", "linewidths": 0.4}
        _contour_lines(axes, spec, z, scale.levels, style, f"contour-{index}")
    _colorbar(figure, axes, mappable, scale, index, spec)
    axes.set_aspect(axes.get_aspect())


def _contour_lines(axes, spec, z, levels, style, gid) -> None:
    """Labelled contour lines (every other level labelled); none through masked cells."""
    import warnings

    from matplotlib import patheffects

    with warnings.catch_warnings():  # a constant map has no line: the colour bar says why
        warnings.simplefilter("ignore", UserWarning)
        lines = axes.contour(spec.x, spec.y, z, levels=levels, zorder=2, **style)
    lines.set_gid(gid)
    if "cmap" in style:  # coloured lines: a dark edge keeps those near white visible
        lines.set_path_effects([patheffects.withStroke(linewidth=1.7, foreground="0.35")])
    else:
        lines.set_alpha(0.55)
    labels = axes.clabel(
        lines, levels[1::2], fmt=level_text, fontsize=6 if crowded(spec) else 7, inline=True,
        inline_spacing=2, colors="0.1",
    )  # fmt: skip
    for k, label in enumerate(labels):
        label.set_gid(f"{gid}-label-{k}")
        label.set_alpha(None)  # the lines are faint, their numbers are not


def _colorbar(figure, axes, mappable, scale, index: int, spec):
    """The panel's colour bar: its filled contours or image, else the scale itself; arrows
    at an end beyond which there are values; a few round ticks on small panels."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import MaxNLocator

    if mappable is None:
        mappable = ScalarMappable(norm=scale.norm, cmap=scale.cmap)
    bar = figure.colorbar(mappable, ax=axes, extend=scale.extend, aspect=25)
    # Ticks within the levels only: one beyond them would be drawn on an end arrow, labelling
    # a colour with a value it does not have.
    low, high = float(scale.levels[0]), float(scale.levels[-1])
    ticks = MaxNLocator(5 if crowded(spec) else 8).tick_values(low, high)
    span = high - low
    bar.set_ticks([t for t in ticks if low - 1e-9 * span <= t <= high + 1e-9 * span])
    bar.ax.set_gid(f"colorbar-{index}")
    bar.ax.tick_params(labelsize="small")
    return bar


def _surface_panel(figure, axes, spec, panel, scale, index, legend) -> None:
    """A 3-D surface (or coloured wireframe) cut to the colour limits, and its colour bar;
    on the first panel, Taylor overlays as wireframes of their own and the critical points."""
    low, high = float(scale.levels[0]), float(scale.levels[-1])
    z = within(panel.z, low, high)
    if spec.wireframe or (index == 0 and spec.overlays):
        drawn = wireframe(axes, spec.x, spec.y, z, cmap=scale.cmap, norm=scale.norm)
        drawn.set_gid(f"wireframe-{index}")
    else:
        grid_x, grid_y = np.meshgrid(spec.x, spec.y)
        drawn = axes.plot_surface(
            # faint edges: a plane at 0 on a diverging map is white on the pane without them
            grid_x, grid_y, z, cmap=scale.cmap, norm=scale.norm, linewidth=0.2,
            edgecolor=(0, 0, 0, 0.15),
            rcount=min(z.shape[0], 60), ccount=min(z.shape[1], 60), antialiased=False,
        )  # fmt: skip
        drawn.set_gid(f"surface-{index}")
    axes.set(xlim=(spec.x[0], spec.x[-1]), ylim=(spec.y[0], spec.y[-1]), zlim=(low, high))
    axes.set_xlabel(spec.xlabel)
    axes.set_ylabel(spec.ylabel)
    axes.tick_params(labelsize="small")
    if index == 0:
        for k, overlay in enumerate(spec.overlays):
            colour = TAYLOR_COLOURS[k % len(TAYLOR_COLOURS)]
            polynomial = within(overlay.z, low, high)
            wireframe(axes, spec.x, spec.y, polynomial, colour=colour).set_gid(f"taylor-{k}")
            (px, py), at = overlay.point, nearest(spec, polynomial, *overlay.point)
            axes.plot([px], [py], [at], **point_style(colour), ls="none", gid=f"taylor-point-{k}")
            legend[overlay.label] = line_handle(**point_style(colour), linestyle="-")
        draw_critical(axes, spec.critical, legend, three_d=True)
    bar = _colorbar(figure, axes, drawn, scale, index, spec)
    bar.ax.set_box_aspect(20)


def _heading(figure, title: str, note: str | None) -> None:
    """The title and, under it in a smaller font, the note; the panels start below them."""
    if not (title or note):
        return
    renderer = figure.canvas.get_renderer()
    height = figure.bbox.height
    gap = 4 * figure.dpi / 72 / height
    top = 1 - gap
    for text, size, gid in ((title, "large", "title"), (note, "small", "note")):
        if text:
            artist = figure.text(0.5, top, text, ha="center", va="top", fontsize=size, gid=gid)
            top -= artist.get_window_extent(renderer).height / height + gap
    figure.get_layout_engine().set(rect=(0, 0, 1, top - gap))  # clear of the panel titles
