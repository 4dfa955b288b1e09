"""Issue 18, plot of f(x, y) and of fields: maps.map_figure draws MapFigures built here from
numpy arrays. Most tests save an SVG and read back what it shows: the groups carry the gids
map_figure sets, and the axes' patch maps SVG points back to data coordinates."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_plot_truth import svg_path_points

from autodiffcli.plotting import files, mapparts, maps
from autodiffcli.plotting.critical import (
    DEFINITENESS,
    CriticalCurve,
    CriticalPoint,
    CriticalSet,
)

N = 60
X1 = np.linspace(-2.0, 2.0, N)
Y1 = np.linspace(-2.0, 2.0, N)
X, Y = np.meshgrid(X1, Y1)
HALF_CELL = (X1[1] - X1[0]) / 2
BUMP = X * np.exp(-(X**2) - Y**2)  # a min at (-1/sqrt 2, 0), a max at (1/sqrt 2, 0)
BUMP_X = (1 - 2 * X**2) * np.exp(-(X**2) - Y**2)
BUMP_Y = -2 * X * Y * np.exp(-(X**2) - Y**2)


def svg_of(figure, tmp_path) -> str:
    path = tmp_path / "map.svg"
    files.save_figure(figure, str(path), "svg", 72)
    return path.read_text()


def element(svg: str, gid: str) -> ET.Element:
    found = [e for e in ET.fromstring(svg).iter() if e.get("id") == gid]
    assert len(found) == 1, gid
    return found[0]


def texts(svg: str) -> list[str]:
    return ["".join(e.itertext()) for e in ET.fromstring(svg).iter() if e.tag.endswith("text")]


def group_points(svg: str, gid: str) -> np.ndarray:
    """Every vertex (M or L) of every path inside the element ``gid``, in SVG pixels."""
    points = [
        (float(x), float(y))
        for e in element(svg, gid).iter()
        if e.tag.endswith("path")
        for x, y in re.findall(r"[ML]\s*([-\d.e]+)\s+([-\d.e]+)", e.get("d", ""))
    ]
    return np.array(points).reshape(-1, 2)


def to_data(svg: str, figure, index: int, points: np.ndarray) -> np.ndarray:
    """SVG pixels -> data coordinates of panel ``index``, through its axes patch (gid)."""
    box = svg_path_points(svg, f"axes-{index}")
    left, right = np.nanmin(box[:, 0]), np.nanmax(box[:, 0])
    top, bottom = np.nanmin(box[:, 1]), np.nanmax(box[:, 1])
    axes = figure.axes[0] if index == 0 else next(
        a for a in figure.axes if a.get_gid() == f"panel-{index}"
    )  # fmt: skip
    (x0, x1), (y0, y1) = axes.get_xlim(), axes.get_ylim()
    x = x0 + (points[:, 0] - left) / (right - left) * (x1 - x0)
    y = y0 + (bottom - points[:, 1]) / (bottom - top) * (y1 - y0)
    return np.column_stack([x, y])


def label_points(svg: str, prefix: str) -> np.ndarray:
    """The anchors of the texts in groups whose id starts with ``prefix``: x and y, or the
    translate(x y) of a rotated text."""
    points = []
    for e in ET.fromstring(svg).iter():
        if (e.get("id") or "").startswith(prefix):
            for t in (t for t in e.iter() if t.tag.endswith("text")):
                moved = re.search(r"translate\(([-\d.e]+)[ ,]+([-\d.e]+)\)", t.get("transform", ""))
                points.append(moved.groups() if moved else (t.get("x"), t.get("y")))
    return np.array(points, dtype=float).reshape(-1, 2)


def bump_figure(**changes) -> maps.MapFigure:
    spec = maps.MapFigure(X1, Y1, (maps.Panel("$f$", BUMP),), title=r"$x\,e^{-x^2-y^2}$")
    return maps.MapFigure(**{**spec.__dict__, **changes})


def draw(spec: maps.MapFigure, width=6.4, height=4.8):
    return maps.map_figure(spec, width, height, 72)


# ----- undefined values are masked, never drawn over -----

# z = log(x^2 + y^2) with a NaN disk of radius 0.5; sqrt(1 - x^2 - y^2), NaN outside the disk.
with np.errstate(divide="ignore", invalid="ignore"):
    R2 = X**2 + Y**2
    HOLE = np.where(R2 < 0.25, np.nan, np.log(R2))
    DOME = np.sqrt(1 - R2)
MASKED_CASES = {
    "hole": (HOLE, 2 * X / R2, 2 * Y / R2, lambda r: r < 0.5 - HALF_CELL),
    "dome": (DOME, -X / DOME, -Y / DOME, lambda r: r > 1 + HALF_CELL),
}


@pytest.mark.parametrize(
    "case, kind, style",
    [
        ("hole", "contourf", "quiver"),
        ("hole", "contour", "stream"),
        ("dome", "contourf", "stream"),
        ("dome", "contour", "quiver"),
    ],
)
def test_nothing_is_drawn_inside_a_masked_region(tmp_path, case, kind, style):
    z, u, v, masked = MASKED_CASES[case]
    spec = maps.MapFigure(
        X1, Y1, (maps.Panel("$f$", z),), kind=kind, vectors=maps.Vectors(u, v, style, "$g$")
    )
    figure = draw(spec)
    svg = svg_of(figure, tmp_path)
    groups = ["contour-0", "arrows" if style == "quiver" else "streamlines"]
    groups += ["contourf-0"] if kind == "contourf" else []
    for gid in groups:
        xy = to_data(svg, figure, 0, group_points(svg, gid))
        r = np.hypot(xy[:, 0], xy[:, 1])
        assert len(r) > 20, gid
        assert not masked(r).any(), (gid, xy[masked(r)][:5])
        assert (np.abs(r - (0.5 if case == "hole" else 1.0)) < 0.15).any(), gid  # it got close
    labels = to_data(svg, figure, 0, label_points(svg, "contour-0-label"))
    assert len(labels) and not masked(np.hypot(labels[:, 0], labels[:, 1])).any()


def test_heatmap_shows_undefined_values_in_the_neutral_grey(tmp_path):
    figure = draw(maps.MapFigure(X1, Y1, (maps.Panel("$f$", HOLE),), kind="heatmap"))
    image = next(i for i in figure.axes[0].images if i.get_gid() == "heatmap-0")
    hole = R2 < 0.25
    assert np.ma.getmaskarray(image.get_array())[hole].all()
    assert not np.ma.getmaskarray(image.get_array())[~hole].any()
    grey = tuple(float(c) for c in image.get_cmap().get_bad())
    assert grey == pytest.approx((*mapparts.rgb(mapparts.UNDEFINED), 1.0))
    assert "undefined" in texts(svg_of(figure, tmp_path))  # named in the legend


def test_infinite_values_are_masked_like_nan():
    z = np.where(X > 1.5, np.inf, BUMP)
    figure = draw(maps.MapFigure(X1, Y1, (maps.Panel("$f$", z),)))
    filled = next(c for c in figure.axes[0].collections if c.get_gid() == "contourf-0")
    assert np.isfinite(filled.levels).all() and filled.levels[-1] < 1


# ----- colour limits -----


def test_robust_limits_ignore_a_pole():
    pole = 1 / np.hypot(X - 0.01, Y)  # 1/r near a point: 100 at the nearest grid point
    low, high = maps.robust_limits(pole, diverging=False)
    assert high < 10 < np.nanmax(pole) and low < 0.4
    low, high = maps.robust_limits(pole, diverging=True)
    assert -10 < low == -high
    low, high = maps.robust_limits(np.log(R2 + 1e-12), diverging=False)
    assert low > -10  # the 1st percentile, not log(1e-12) = -27.6


def test_robust_limits_keep_the_whole_range_of_a_smooth_function():
    assert maps.robust_limits(BUMP, diverging=False) == (BUMP.min(), BUMP.max())


@pytest.mark.parametrize("z", [BUMP_X + 0.3, 2 * BUMP_Y - 0.1, np.full_like(X, 2.0)])
def test_diverging_panels_have_colour_limits_symmetric_about_zero(z):
    low, high = maps.robust_limits(z, diverging=True)
    assert low == -high and high > 0 and high >= np.abs(z).max() * 0.5
    figure = draw(maps.MapFigure(X1, Y1, (maps.Panel("$g$", z, diverging=True),)))
    filled = next(c for c in figure.axes[0].collections if c.get_gid() == "contourf-0")
    assert filled.norm.vmin == -filled.norm.vmax
    assert filled.get_cmap().name.startswith(maps.DIVERGING)


def test_zlim_sets_the_colour_limits_and_extends_the_colour_bar():
    figure = draw(bump_figure(panels=(maps.Panel("$f$", BUMP, zlim=(-0.2, 0.3)),)))
    filled = next(c for c in figure.axes[0].collections if c.get_gid() == "contourf-0")
    assert (filled.levels[0], filled.levels[-1]) == (-0.2, 0.3)
    assert filled.extend == "both"
    assert figure.axes[1].get_gid() == "colorbar-0" and figure.axes[1]._colorbar.extend == "both"


def test_diverging_zlim_off_centre_keeps_white_at_zero():
    panel = maps.Panel("$g$", BUMP_X, diverging=True, zlim=(-0.5, 2.0))
    filled = draw(maps.MapFigure(X1, Y1, (panel,))).axes[0].collections[0]
    assert filled.norm(0.0) == pytest.approx(0.5)


def test_filled_contours_have_12_to_18_round_levels():
    for high in np.geomspace(1e-3, 1e3, 97):
        for low in (-high, -high / 3, 0.0, high / 2):
            levels = mapparts.contour_levels(low, high, exact=False)
            assert 12 <= len(levels) - 1 <= 18, (low, high)
            assert levels[0] <= low and levels[-1] >= high


# ----- kinds and panels -----


@pytest.mark.parametrize(
    "kind, wireframe, gid",
    [
        ("contourf", False, "contourf-0"),
        ("contour", False, "contour-0"),
        ("heatmap", False, "heatmap-0"),
        ("surface", False, "surface-0"),
        ("surface", True, "wireframe-0"),
    ],
)
def test_each_kind_draws_its_artist_and_a_colour_bar(tmp_path, kind, wireframe, gid):
    svg = svg_of(draw(bump_figure(kind=kind, wireframe=wireframe)), tmp_path)
    element(svg, gid)
    element(svg, "colorbar-0")


def test_text_stays_text_in_the_svg(tmp_path):
    critical = CriticalSet((CriticalPoint(0.7, 0.0, "max", 0.43, (-1.0, -1.0)),))
    spec = bump_figure(note="gradient arrows", critical=critical, xlabel="$x_1$")
    svg = svg_of(draw(spec), tmp_path)
    words = texts(svg)
    assert {"gradient arrows", "max", "maximum"} <= set(words)
    assert "<text" in svg and 'id="title"' in svg


def test_panels_are_laid_out_up_to_three_to_a_row():
    six = tuple(maps.Panel(f"$p_{k}$", BUMP, k > 0) for k in range(6))
    cases = {1: (1, 1), 3: (1, 3), 4: (2, 2), 6: (2, 3), 7: (3, 3)}
    for count, shape in cases.items():
        spec = maps.MapFigure(X1, Y1, six[: min(count, 6)])
        if count == 7:
            spec = maps.MapFigure(X1, Y1, six, definiteness=np.zeros_like(X, dtype=int))
        assert maps.grid_shape(spec) == shape
    figure = draw(maps.MapFigure(X1, Y1, six[:3]), width=9, height=3.4)
    figure.canvas.draw()
    boxes = [a.get_position() for a in figure.axes if (a.get_gid() or "").startswith("panel")]
    assert len(boxes) == 3 and len({round(b.y0, 3) for b in boxes}) == 1
    assert boxes[0].x1 < boxes[1].x0 and boxes[1].x1 < boxes[2].x0
    assert all(b.width * 9 == pytest.approx(b.height * 3.4, rel=0.02) for b in boxes)  # equal


def test_title_and_note_sit_above_the_panels():
    figure = draw(bump_figure(note="at $z = 0$"))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    title, note = (next(t for t in figure.texts if t.get_gid() == g) for g in ("title", "note"))
    title_box, note_box = (t.get_window_extent(renderer) for t in (title, note))
    axes_top = figure.axes[0].get_tightbbox(renderer).y1
    assert title_box.y0 >= note_box.y1 - 1 and note_box.y0 >= axes_top - 1
    assert note.get_fontsize() < title.get_fontsize()


def test_a_field_without_background_is_plain_axes_with_stream_lines(tmp_path):
    spec = maps.MapFigure(
        X1, Y1, (maps.Panel("$F$", None),), vectors=maps.Vectors(-Y, X, "stream", "$F$")
    )
    figure = draw(spec)
    svg = svg_of(figure, tmp_path)
    assert len(group_points(svg, "streamlines")) > 100
    assert 'id="streamarrow-0"' in svg and 'id="colorbar-0"' not in svg
    assert "$F$" not in texts(svg)  # mathtext is drawn, not left as source


def test_quiver_draws_about_20_arrows_per_axis(tmp_path):
    spec = bump_figure(vectors=maps.Vectors(np.ones_like(X), 0.5 + Y**2, "quiver", "$g$"))
    svg = svg_of(draw(spec), tmp_path)
    arrows = [e for e in element(svg, "arrows").iter() if e.tag.endswith("path")]
    assert 18**2 <= len(arrows) <= 21**2


def test_quiver_arrows_are_shortened_near_a_pole_not_the_rest_to_dots():
    u, v = 2 * X / R2, 2 * Y / R2
    x, y, du, dv = mapparts.quiver_arrows(X1, Y1, u, v, np.isfinite(HOLE))
    length = np.hypot(du, dv)
    spacing = 3 * (X1[1] - X1[0])  # every 3rd of 60 points: 20 arrows
    assert length.max() <= mapparts.ARROW_FILL * spacing * (1 + 1e-9)
    assert np.median(length) > 0.3 * spacing


# ----- critical points, overlays, definiteness -----


def test_critical_points_are_marked_by_kind_and_annotated(tmp_path):
    ring = np.column_stack([np.cos(np.linspace(0, 2 * np.pi, 40)), np.sin(np.linspace(0, 7, 40))])
    points = (
        CriticalPoint(-0.7, 0.0, "min", -0.43, (1.0, 1.0)),
        CriticalPoint(0.7, 0.0, "max", 0.43, (-1.0, -1.0)),
        CriticalPoint(0.0, 1.2, "saddle", 0.0, (-1.0, 1.0)),
        CriticalPoint(1.9, 1.9, "degenerate", 0.0, (0.0, 1.0)),
    )
    spec = bump_figure(critical=CriticalSet(points, (CriticalCurve(ring, "min"),), True))
    figure = draw(spec)
    svg = svg_of(figure, tmp_path)
    markers = {k: figure.axes[0].get_lines()[i] for i, k in enumerate(["curve", *maps.KINDS])}
    shapes = {line.get_marker() for line in list(markers.values())[1:]}
    colours = {line.get_color() for line in list(markers.values())[1:]}
    assert len(shapes) == len(colours) == 4
    for kind in ("min", "max", "saddle", "degenerate"):
        element(svg, f"critical-{kind}")
    words = texts(svg)
    assert {"min", "max", "saddle", "degenerate"} <= set(words)
    assert {"minima (a curve)", "more critical points than shown"} <= set(words)
    label = to_data(svg, figure, 0, label_points(svg, "critical-label-3"))
    assert label[0, 0] < 1.9 and label[0, 1] < 1.9  # turned inwards at the corner
    element(svg, "critical-curve-0")


def test_taylor_overlay_is_drawn_only_where_it_is_finite(tmp_path):
    window = (np.abs(X + 1) < 0.6) & (np.abs(Y) < 0.6)
    quadratic = np.where(window, -0.37 + 0.3 * (X + 1) ** 2 - 0.37 * Y**2, np.nan)
    overlay = maps.Overlay((-1.0, 0.0), quadratic, "quadratic at $(-1, 0)$")
    figure = draw(bump_figure(overlays=(overlay,)))
    svg = svg_of(figure, tmp_path)
    xy = to_data(svg, figure, 0, group_points(svg, "taylor-0"))
    assert len(xy) > 10
    inside = (np.abs(xy[:, 0] + 1) < 0.6 + HALF_CELL) & (np.abs(xy[:, 1]) < 0.6 + HALF_CELL)
    assert inside.all()
    element(svg, "taylor-point-0")
    lines = next(c for c in figure.axes[0].collections if c.get_gid() == "taylor-0")
    filled = next(c for c in figure.axes[0].collections if c.get_gid() == "contourf-0")
    assert set(lines.levels) <= set(filled.levels)  # f's own levels, to compare with


def test_surface_with_an_overlay_draws_two_wireframes(tmp_path):
    window = (np.abs(X + 1) < 0.6) & (np.abs(Y) < 0.6)
    quadratic = np.where(window, -0.37 + 0.3 * (X + 1) ** 2, np.nan)
    spec = bump_figure(kind="surface", overlays=(maps.Overlay((-1.0, 0.0), quadratic, "q"),))
    figure = draw(spec)
    svg = svg_of(figure, tmp_path)
    element(svg, "wireframe-0")
    element(svg, "taylor-0")
    wire = next(c for c in figure.axes[0].collections if c.get_gid() == "taylor-0")
    ends = np.concatenate([np.asarray(s) for s in wire._segments3d])
    assert (np.abs(ends[:, 0] + 1) < 0.6).all() and (np.abs(ends[:, 1]) < 0.6).all()


def test_definiteness_panel_names_each_class(tmp_path):
    codes = np.where(X > 0, 0, np.where(Y > 0, 1, 2))
    codes[:5, :5], codes[-5:, -5:] = 3, -1
    figure = draw(bump_figure(definiteness=codes))
    svg = svg_of(figure, tmp_path)
    image = element(svg, "definiteness")
    assert image.tag.endswith("image")
    assert set(DEFINITENESS) | {"undefined", "Hessian"} <= set(texts(svg))
    drawn = next(a for a in figure.axes if a.get_gid() == "panel-1").images[0]
    assert np.ma.getmaskarray(drawn.get_array())[-5:, -5:].all()
    assert len({tuple(drawn.cmap(drawn.norm(k))) for k in range(4)}) == 4


def test_a_constant_background_draws_without_warnings():
    spec = maps.MapFigure(
        X1, Y1, (maps.Panel(r"$\nabla\times F$", np.full_like(X, 2.0), True),),
        vectors=maps.Vectors(-Y, X, "stream", "$F$"),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = draw(spec)
        figure.canvas.draw()
