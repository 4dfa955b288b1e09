"""What goes on a map of f(x, y): its frame, contour levels, gradient arrows or stream lines,
Taylor overlays, critical points and the Hessian's definiteness, drawn onto axes that
:mod:`maps` lays out. Each function takes the axes and numpy arrays (``spec`` is a
maps.MapFigure, read by its fields); matplotlib is imported inside the functions.
"""

from __future__ import annotations

import math

import numpy as np

from autodiffcli.plotting.critical import DEFINITENESS, CriticalSet

# Okabe-Ito colours, matched across the figure: a critical point's kind and the Hessian class
# that makes it (min: positive definite, max: negative definite, saddle: indefinite, ...).
KIND_COLOURS = {"min": "#56B4E9", "max": "#D55E00", "saddle": "#F0E442", "degenerate": "#CC79A7"}
KIND_MARKERS = {"min": "o", "max": "^", "saddle": "X", "degenerate": "D"}
KIND_NAMES = {
    "min": "minimum",
    "max": "maximum",
    "saddle": "saddle point",
    "degenerate": "degenerate point",
}
CURVE_NAMES = {"min": "minima (a curve)", "max": "maxima (a curve)"}
DEFINITENESS_COLOURS = [KIND_COLOURS[k] for k in ("min", "max", "saddle", "degenerate")]
UNDEFINED = "0.72"  # a neutral grey where z is NaN or infinite
ARROWS = "0.08"  # arrows and stream lines: dark on every colour of both maps
TAYLOR_COLOURS = ["#D55E00", "#E69F00", "#CC79A7", "#0072B2"]
# 12 to 18 filled contour levels at round values: MaxNLocator with steps at most 1.5x apart.
LEVELS, LEVEL_STEPS = 17, (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
ARROWS_PER_AXIS = 20
ARROW_FILL = 0.85  # the longest arrows span this share of the spacing between arrows
ARROW_PERCENTILE = 90  # arrows longer than this percentile of |F| are shortened to it
WIRES_PER_AXIS = 25
ANNOTATED = (
    9  # more critical points than this are marked (the legend names the shapes), not labelled
)
EQUAL_ASPECT_RATIO = 3.0  # x and y spans within this factor of each other: equal aspect


def crowded(spec) -> bool:
    """More than 3 panels: smaller titles, contour labels and fewer colour bar ticks."""
    return len(spec.panels) + (spec.definiteness is not None) > 3


def contour_levels(low: float, high: float, exact: bool) -> np.ndarray:
    """About LEVELS round levels over [low, high]: reaching just past it (robust limits) or,
    when ``exact`` (the user's --zlim), inside it with low and high themselves the ends."""
    from matplotlib.ticker import MaxNLocator

    levels = MaxNLocator(LEVELS, steps=LEVEL_STEPS).tick_values(low, high)
    step = float(np.min(np.diff(levels))) if levels.size > 1 else 1.0
    levels = np.where(np.abs(levels) < 1e-9 * step, 0.0, levels)  # 0, not 5.6e-17
    if exact:
        inside = levels[(levels > low + 1e-9 * step) & (levels < high - 1e-9 * step)]
        levels = np.concatenate([[low], inside, [high]])
    return levels


def level_text(value: float) -> str:
    """A contour label: 3 significant digits, no "-0"."""
    text = f"{value:.3g}"
    return "0" if text == "-0" else text


def frame(axes, spec) -> None:
    """Limits of the grid, axis labels, and equal aspect when the spans are comparable."""
    x, y = spec.x, spec.y
    axes.set_xlim(float(x[0]), float(x[-1]))
    axes.set_ylim(float(y[0]), float(y[-1]))
    axes.set_xlabel(spec.xlabel)
    axes.set_ylabel(spec.ylabel)
    spans = (float(x[-1] - x[0]), float(y[-1] - y[0]))
    comparable = min(spans) > 0 and max(spans) / min(spans) <= EQUAL_ASPECT_RATIO
    axes.set_aspect("equal" if comparable else "auto")


def extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """imshow's extent: each value fills the cell centred on its grid point."""
    dx = float(x[1] - x[0]) / 2 if x.size > 1 else 0.5
    dy = float(y[1] - y[0]) / 2 if y.size > 1 else 0.5
    return float(x[0]) - dx, float(x[-1]) + dx, float(y[0]) - dy, float(y[-1]) + dy


def rgb(colour) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def patch_handle(colour, **style):
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="0.4", linewidth=0.5, **style)


def line_handle(colour=None, **style):
    """A legend handle: a line or marker drawn nowhere."""
    from matplotlib.lines import Line2D

    return Line2D([], [], **({"color": colour} if colour is not None else {}), **style)


def within(z, low: float, high: float) -> np.ndarray:
    """z with NaN where it is undefined or beyond the colour limits (cut, not flattened)."""
    z = np.asarray(z, dtype=float)
    span = high - low
    return np.where(
        np.isfinite(z) & (z >= low - 1e-9 * span) & (z <= high + 1e-9 * span), z, np.nan
    )


def nearest(spec, z, px: float, py: float) -> float:
    j = int(np.clip(np.searchsorted(spec.x, px), 0, spec.x.size - 1))
    i = int(np.clip(np.searchsorted(spec.y, py), 0, spec.y.size - 1))
    return float(z[i, j])


def wireframe(axes, x, y, z, colour=None, cmap=None, norm=None):
    """Every k-th row and column of the grid as lines (about WIRES_PER_AXIS each way), at the
    grid's full resolution along them; segments with an undefined end are left out. Coloured
    by height through ``cmap`` and ``norm`` (a mappable for the colour bar), or ``colour``."""
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    points = np.stack([*np.meshgrid(x, y), z], axis=-1)  # (ny, nx, 3)
    rows = points[:: max(1, math.ceil(len(y) / WIRES_PER_AXIS))]
    columns = points[:, :: max(1, math.ceil(len(x) / WIRES_PER_AXIS))].transpose(1, 0, 2)
    segments = np.concatenate(
        [np.stack([p[:, :-1], p[:, 1:]], axis=2).reshape(-1, 2, 3) for p in (rows, columns)]
    )
    segments = segments[np.isfinite(segments).all(axis=(1, 2))]
    lines = Line3DCollection(segments, linewidths=0.6 if cmap else 0.9, colors=colour)
    if cmap is not None:
        lines.set_cmap(cmap)
        lines.set_norm(norm)
        lines.set_array(segments[:, :, 2].mean(axis=1))
    axes.add_collection3d(lines)
    return lines


def draw_vectors(axes, spec, legend) -> None:
    """Arrows or stream lines of spec.vectors where z, u and v are all finite."""
    vectors = spec.vectors
    if vectors is None or vectors.style == "none":
        return
    u, v = (np.asarray(c, dtype=float) for c in (vectors.u, vectors.v))
    valid = np.isfinite(u) & np.isfinite(v)
    if spec.panels[0].z is not None:
        valid &= np.isfinite(np.asarray(spec.panels[0].z, dtype=float))
    if vectors.style == "stream":
        masked = [np.ma.array(np.where(valid, c, 0.0), mask=~valid) for c in (u, v)]
        before = len(axes.patches)
        stream = axes.streamplot(
            spec.x, spec.y, *masked, density=1.0, color=ARROWS, linewidth=0.8, arrowsize=0.9,
            zorder=3,
        )  # fmt: skip
        stream.lines.set_gid("streamlines")
        for k, arrow in enumerate(axes.patches[before:]):  # drawn one by one, not as
            arrow.set_gid(f"streamarrow-{k}")  # stream.arrows (matplotlib #2341)
        legend[vectors.label] = line_handle(ARROWS, linewidth=0.8)
        return
    x, y, du, dv = quiver_arrows(spec.x, spec.y, u, v, valid)
    arrows = axes.quiver(
        x, y, du, dv, angles="xy", scale_units="xy", scale=1, pivot="mid", color=ARROWS,
        width=0.0045, headwidth=4, headlength=4.5, headaxislength=4, zorder=3,
    )  # fmt: skip
    arrows.set_gid("arrows")
    legend[vectors.label] = line_handle(ARROWS, marker=r"$\rightarrow$", linestyle="none", ms=14)


def quiver_arrows(x, y, u, v, valid) -> tuple[np.ndarray, ...]:
    """The arrows drawn: every k-th grid point (about ARROWS_PER_AXIS each way) where
    ``valid``, as centres and vectors in data units. Lengths are proportional to |(u, v)| up
    to its ARROW_PERCENTILE-th percentile, which spans ARROW_FILL of the arrows' spacing
    (longer ones are shortened to it: a pole does not shrink the rest to dots); an arrow
    whose tip or tail falls in an invalid cell is left out."""
    ny, nx = u.shape
    kx, ky = (max(1, math.ceil(n / ARROWS_PER_AXIS)) for n in (nx, ny))
    rows, columns = slice((ny - 1) % ky // 2, None, ky), slice((nx - 1) % kx // 2, None, kx)
    grid_x, grid_y = (g[rows, columns] for g in np.meshgrid(x, y))
    keep = valid[rows, columns]
    cx, cy, cu, cv = grid_x[keep], grid_y[keep], u[rows, columns][keep], v[rows, columns][keep]
    size = np.hypot(cu, cv)
    reference = float(np.percentile(size, ARROW_PERCENTILE)) if size.size else 1.0
    if not (math.isfinite(reference) and reference > 0):
        reference = float(size.max()) if size.size and size.max() > 0 else 1.0
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    dy = float(y[1] - y[0]) if y.size > 1 else 1.0
    spacing = ARROW_FILL * min(kx * dx, ky * dy)
    factor = spacing / np.maximum(size, reference)
    du, dv = cu * factor, cv * factor
    inside = np.ones(cx.shape, dtype=bool)
    for sign in (-0.5, 0.5):  # the tail and the tip
        j = np.clip(np.rint((cx + sign * du - x[0]) / dx), 0, nx - 1).astype(int)
        i = np.clip(np.rint((cy + sign * dv - y[0]) / dy), 0, ny - 1).astype(int)
        inside &= valid[i, j]
    return cx[inside], cy[inside], du[inside], dv[inside]


def draw_overlays(axes, spec, scale, legend) -> None:
    """Each Taylor polynomial as dashed contour lines at f's levels (those in its range; a
    few of its own when fewer than 3 fall there) where it is finite, and its point."""
    for k, overlay in enumerate(spec.overlays):
        colour = TAYLOR_COLOURS[k % len(TAYLOR_COLOURS)]
        z = np.ma.masked_invalid(np.asarray(overlay.z, dtype=float))
        values = z.compressed()
        if values.size and values.max() > values.min():
            low, high = float(values.min()), float(values.max())
            levels = scale.levels if scale is not None else np.array([])
            inside = levels[(levels > low) & (levels < high)]
            if inside.size < 3:
                own = contour_levels(low, high, exact=False)
                inside = own[(own > low) & (own < high)]
            lines = axes.contour(
                spec.x, spec.y, z, levels=inside, colors=colour, linewidths=1.3,
                linestyles="--", zorder=4,
            )  # fmt: skip
            lines.set_gid(f"taylor-{k}")
        axes.plot(
            *([c] for c in overlay.point),
            **point_style(colour),
            ls="none",
            gid=f"taylor-point-{k}",
        )
        legend[overlay.label] = line_handle(**point_style(colour), linestyle="--")


def point_style(colour) -> dict:
    return {"marker": "P", "color": colour, "mec": "0.1", "ms": 9, "zorder": 6}


def draw_critical(axes, critical: CriticalSet | None, legend, three_d: bool = False) -> None:
    """Critical curves as outlined lines, points as markers of their kind's shape and colour,
    each point labelled with its kind where there are at most ANNOTATED (more would crowd the
    map; the legend names each shape)."""
    from matplotlib import patheffects

    if critical is None:
        return
    outline = [patheffects.withStroke(linewidth=3.6, foreground="0.1")]
    for k, curve in enumerate(critical.curves):
        colour = KIND_COLOURS.get(curve.kind, "0.5")
        xy = np.asarray(curve.xy, dtype=float)
        style = {"color": colour, "linewidth": 2.2, "path_effects": outline}
        axes.plot(xy[:, 0], xy[:, 1], **style, zorder=5, gid=f"critical-curve-{k}")
        legend[CURVE_NAMES.get(curve.kind, f"{curve.kind} (a curve)")] = line_handle(**style)
    for kind in KIND_MARKERS:
        points = [p for p in critical.points if p.kind == kind]
        if not points:
            continue
        style = {"marker": KIND_MARKERS[kind], "color": KIND_COLOURS[kind], "mec": "0.1"}
        style |= {"mew": 0.8, "ms": 8, "linestyle": "none"}
        coordinates = [[p.x for p in points], [p.y for p in points]]
        if three_d:
            coordinates.append([p.value for p in points])
        axes.plot(*coordinates, **style, zorder=6, gid=f"critical-{kind}")
        legend[KIND_NAMES.get(kind, kind)] = line_handle(**style)
    box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75}
    labelled = critical.points if len(critical.points) <= ANNOTATED else ()
    for n, point in enumerate(labelled):
        if three_d:
            text = axes.text(point.x, point.y, point.value, f" {point.kind}", fontsize=7)
        else:  # to the left of points in the right quarter, below those in the top one
            (x0, x1), (y0, y1) = axes.get_xlim(), axes.get_ylim()
            left, below = point.x > x0 + 0.75 * (x1 - x0), point.y > y0 + 0.8 * (y1 - y0)
            text = axes.annotate(
                point.kind, (point.x, point.y), xytext=(-5 if left else 5, -4 if below else 4),
                textcoords="offset points", ha="right" if left else "left",
                va="top" if below else "bottom", fontsize=7, bbox=box, zorder=7,
                annotation_clip=True,
            )  # fmt: skip
        text.set_gid(f"critical-label-{n}")
        text.set_in_layout(False)  # a label past the frame must not push the colour bar away
    if critical.truncated:
        legend["more critical points than shown"] = line_handle("none", linestyle="none")


def definiteness_panel(figure, axes, spec, index: int, legend: dict) -> None:
    """The Hessian's class at each grid point in 4 colours, named in the figure's legend
    (a legend beside the panel would widen its column of the grid)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    frame(axes, spec)
    axes.set_gid(f"panel-{index}")
    axes.patch.set_gid(f"axes-{index}")
    codes = np.asarray(spec.definiteness)
    known = np.isin(codes, np.arange(len(DEFINITENESS)))
    shown = np.ma.array(np.where(known, codes, 0).astype(int), mask=~known)
    cmap = ListedColormap(DEFINITENESS_COLOURS).with_extremes(bad=UNDEFINED)
    norm = BoundaryNorm(np.arange(len(DEFINITENESS) + 1) - 0.5, cmap.N)
    image = axes.imshow(
        shown, origin="lower", extent=extent(spec.x, spec.y), cmap=cmap, norm=norm,
        interpolation="nearest",
    )  # fmt: skip
    image.set_gid("definiteness")
    axes.set_aspect(axes.get_aspect())
    for name, colour in zip(DEFINITENESS, DEFINITENESS_COLOURS, strict=True):
        legend[name] = patch_handle(colour)
    if not known.all():
        legend.setdefault("undefined", patch_handle(UNDEFINED))
    axes.set_title("Hessian", fontsize="small" if crowded(spec) else "medium")
