"""Issue 19, plot: no misleading figure. Each test reads back what was drawn (the Figure's
artists, or the written SVG) for one of the issue's cases."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.mathtext import MathTextParser
from support import invoke
from support import table as engine_table

from autodiffcli import domain as domains
from autodiffcli import lang
from autodiffcli.plotting import curves
from autodiffcli.plotting import figure as figures

POLE_EXAMPLE = "log(x^2)*sin(x)+1/x"


def table(text: str, order: int, start=-5.0, stop=5.0, step=0.01, num=None):
    """[x, f, f', ..., f^(order)] on the plot's default grid (-5 to 5 by 0.01, 0 included)."""
    if num is None:
        grid = domains.from_range(start, stop, step, 10**7)
    else:
        grid = domains.from_num(start, stop, num, 10**7)
    return [c.numpy() for c in engine_table(lang.parse(text), grid, order, "cpu", torch.float64)]


def line_of(axes, gid: str):
    return next(line for line in axes.get_lines() if line.get_gid() == gid)


def joined_segments(line) -> tuple[np.ndarray, np.ndarray]:
    """Start and end x of every segment drawn (both ends finite)."""
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    joined = np.isfinite(y[:-1]) & np.isfinite(y[1:])
    return x[:-1][joined], x[1:][joined]


def legend_labels(figure) -> list[str]:
    legends = [axes.get_legend() for axes in figure.axes] + list(figure.legends)
    return [t.get_text() for legend in legends if legend for t in legend.get_texts()]


def svg_of(tmp_path, *args: str):
    path = tmp_path / "p.svg"
    result = invoke("plot", *args, "-o", str(path))
    assert result.exit_code == 0, result.stderr
    return path.read_text(), result


def svg_path_points(svg: str, gid: str) -> np.ndarray:
    """The (x, y) pixel points of each subpath of the line with SVG id ``gid``, as an array
    of points with NaN rows between subpaths (each M starts a new one)."""
    group = re.search(rf'<g id="{re.escape(gid)}">\s*<path d="([^"]*)"', svg)
    assert group, gid
    rows = []
    for command, x, y in re.findall(r"([ML])\s*([-\d.e]+)\s+([-\d.e]+)", group.group(1)):
        if command == "M" and rows:
            rows.append((np.nan, np.nan))
        rows.append((float(x), float(y)))
    return np.array(rows)


# ----- |x|: its name, its jump, and f'' on the zero line -----


def test_abs_bars_are_drawn_at_full_size_in_the_title():
    title = figures.plot_figure(table("abs(x)", 1), "abs(x)").axes[0].get_title()
    glyphs = MathTextParser("path").parse(title, dpi=72).glyphs
    sizes = {chr(g[2]): g[1] for g in glyphs}
    assert "|" in sizes and sizes["|"] == sizes["x"]  # \left| shrank them to "ıxı"


def test_abs_derivative_breaks_at_its_jump_on_a_grid_through_zero():
    figure = figures.plot_figure(table("abs(x)", 2), "abs(x)")
    line = line_of(figure.axes[0], "order-1")
    start, end = joined_segments(line)
    assert not ((start < 0) & (end > 0)).any() and not ((start < 0) & (end >= 0)).any()
    x, y = line.get_data()
    assert np.isnan(y[(x > -0.011) & (x < 0.011)]).any()


def test_abs_derivative_svg_has_no_vertical_connector(tmp_path):
    svg, _ = svg_of(tmp_path, "abs(x)")  # order 1: the plot computes f'' only to find jumps
    points = svg_path_points(svg, "order-1")
    step = np.abs(np.diff(points[:, 1]))
    joined = np.isfinite(step)
    height = np.nanmax(points[:, 1]) - np.nanmin(points[:, 1])
    assert height > 0 and (step[joined] < 0.1 * height).all()
    assert np.isnan(points[:, 0]).sum() >= 1  # the line is split at the jump


@pytest.mark.parametrize("num", [None, 1000])  # through 0, and either side of the peak
def test_steep_tanh_is_not_broken(num):
    x, f, df = table("tanh(200*x)", 1, num=num)
    _, y = curves.break_jumps(x, f, df)
    assert y.size == f.size and np.isfinite(y).all()


def test_a_jump_between_nonzero_slopes_is_broken():
    x, _, df, d2f = table("abs(x) + x^2", 2, num=1000)
    _, y = curves.break_jumps(x, df, d2f)
    assert np.isnan(y).sum() == 1


def test_a_curve_sampled_at_its_peaks_only_is_not_broken():
    x, f, df = table("cos(pi*x) + 3", 1, -4.0, 4.0, 1.0)  # every slope 0, every step 2
    _, y = curves.break_jumps(x, f, df)
    assert np.isfinite(y).all()


def test_the_zero_line_lies_beneath_every_curve():
    axes = figures.plot_figure(table("abs(x)", 2), "abs(x)").axes[0]
    zero = next(line for line in axes.get_lines() if list(line.get_ydata()) == [0, 0])
    drawn = [line for line in axes.get_lines() if (line.get_gid() or "").startswith("order-")]
    assert len(drawn) == 3 and all(zero.get_zorder() < line.get_zorder() for line in drawn)


# ----- Nothing to draw: refused; never an undrawn curve in the legend -----


def test_a_function_undefined_everywhere_is_refused_with_a_reason(tmp_path):
    out = tmp_path / "p.png"
    result = invoke("plot", "sqrt(-1-x^2)", "-o", str(out))
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no finite value" in result.stderr and "sqrt(-1)" in result.stderr


def test_refusal_suggests_a_range_where_the_function_is_defined(tmp_path):
    out = tmp_path / "p.svg"
    result = invoke("plot", "log(x)", "--start", "-2", "--stop", "-1", "-o", str(out))
    assert result.exit_code == 2 and not out.exists()
    assert "try --start 0.001 --stop" in result.stderr


def test_legend_never_lists_a_curve_with_nothing_drawn():
    figure = figures.plot_figure(table("exp(-x)", 1), "exp(-x)", yscale="log")  # f' < 0
    assert legend_labels(figure) == ["$f(x) = e^{-x}$", "not drawn (no value above 0): $f'(x)$"]


def test_legend_lists_exactly_the_drawn_curves_and_notes():
    figure = figures.plot_figure(table("log(x)", 2), "log(x)")  # f undefined for x <= 0
    drawn, notes = set(), set()
    for line in figure.axes[0].get_lines():
        if line.get_label().startswith("_"):
            continue
        if line.get_linestyle() == "None":
            notes.add(line.get_label())
        elif np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any():
            drawn.add(line.get_label())
    assert len(drawn) == 3 and set(legend_labels(figure)) == drawn | notes


# ----- Wide ranges: --logy, --symlog and the hint -----


@pytest.mark.parametrize(("flag", "scale"), [("--logy", "log"), ("--symlog", "symlog")])
def test_log_flags_set_the_y_scale(tmp_path, flag, scale):
    svg, _ = svg_of(tmp_path, "exp(x)", "--start", "-50", "--stop", "50", flag)
    labels = re.findall(r'<g id="ytick_\d+">.*?<!-- (.*?) -->', svg, flags=re.DOTALL)
    assert any("10^{20}" in label for label in labels), labels
    figure = figures.plot_figure(table("exp(x)", 1, -50, 50, 0.1), "exp(x)", yscale=scale)
    assert figure.axes[0].get_yscale() == scale


def test_logy_and_symlog_together_are_refused(tmp_path):
    result = invoke("plot", "exp(x)", "--logy", "--symlog", "-o", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and "--logy and --symlog exclude each other" in result.stderr
    assert not (tmp_path / "p.png").exists()


def test_logy_with_a_ylim_reaching_zero_is_refused(tmp_path):
    result = invoke("plot", "exp(x)", "--logy", "--ylim", "0", "5", "-o", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and "must be above 0" in result.stderr


def test_logy_of_a_function_never_above_zero_is_refused(tmp_path):
    result = invoke("plot", "--logy", "-o", str(tmp_path / "p.png"), "--", "-exp(x)")
    assert result.exit_code == 2 and "use --symlog" in result.stderr
    assert not (tmp_path / "p.png").exists()


def test_a_curve_spanning_many_decades_gets_a_hint_on_stderr(tmp_path):
    svg, result = svg_of(tmp_path, "exp(x)", "--start", "-50", "--stop", "50")
    assert "Hint:" in result.stderr and "--logy" in result.stderr
    assert result.stdout == ""


def test_an_ordinary_curve_gets_no_hint(tmp_path):
    _, result = svg_of(tmp_path, "x^5")
    assert "Hint" not in result.stderr


# ----- Panel limits, legend placement, titles -----


def test_each_panel_of_the_pole_example_fits_its_curve_not_the_pole():
    columns = table(POLE_EXAMPLE, 3)
    figure = figures.plot_figure(columns, POLE_EXAMPLE)
    for axes, y in zip(figure.axes, columns[1:], strict=True):
        low, high = axes.get_ylim()
        inside = (y >= low) & (y <= high)
        assert np.count_nonzero(inside) >= 0.8 * np.count_nonzero(np.isfinite(y))
    low, high = figure.axes[3].get_ylim()
    assert -1000 < low < high < 1000 < 1e5 < np.nanmax(np.abs(columns[4]))  # was -500000


@pytest.mark.parametrize(
    ("order", "tail"), [(0, ""), (1, " and its derivative"), (2, " and its derivatives")]
)
def test_title_says_derivative_or_derivatives_as_drawn(order, tail):
    axes = figures.plot_figure(table("sin(x)", order), "sin(x)").axes[0]
    assert axes.get_title() == r"$f(x) = \sin(x)$" + tail


def test_no_branch_of_tan_runs_through_the_legend():
    figure = figures.plot_figure(table("tan(x)", 2), "tan(x)")
    figure.canvas.draw()
    legend = figure.legends[0] if figure.legends else figure.axes[0].get_legend()
    box = legend.get_window_extent()
    axes = figure.axes[0]
    for line in axes.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        t = np.linspace(0, 1, 50)[:, None]
        joined = np.isfinite(y[:-1]) & np.isfinite(y[1:])
        a = np.column_stack([x[:-1], y[:-1]])[joined]
        b = np.column_stack([x[1:], y[1:]])[joined]
        pixels = axes.transData.transform((a[None] + t[..., None] * (b - a)[None]).reshape(-1, 2))
        frame = axes.get_window_extent()
        seen = pixels[(pixels[:, 1] >= frame.y0) & (pixels[:, 1] <= frame.y1)]
        under = (seen[:, 0] > box.x0) & (seen[:, 0] < box.x1)
        under &= (seen[:, 1] > box.y0) & (seen[:, 1] < box.y1)
        assert not under.any(), line.get_label()


# ----- The SVG's plain text -----


def test_svg_has_a_title_and_desc_with_the_plain_expression(tmp_path):
    svg, _ = svg_of(tmp_path, "x^2 - 1", "-k", "2")
    assert "<title>f(x) = x^2 - 1 and its derivatives</title>" in svg
    desc = re.search(r"<desc>([^<]*)</desc>", svg)
    assert desc and "f(x) = x^2 - 1" in desc.group(1) and "f''(x)" in desc.group(1)


# ----- explain --graph pictures -----


def traced_rows(text: str, x0: float):
    """A trace as the lesson records it, with every number set (the picture's widest case)."""
    parsed = lang.parse(text)
    return parsed, [
        {"value": x0, "tangent": 1.0, "adjoint": 1.0, "partials": [0.5] * len(node.args)}
        | {"op": node.label if node.op == "var" else node.op}
        for node in parsed.nodes
    ]


def test_graph_caption_stays_within_the_picture():
    from autodiffcli.lesson import picture

    figure = picture.tape_figure(*traced_rows("abs(x)", 0.0))
    figure.canvas.draw()
    caption = figure.get_suptitle()
    extent = figure._suptitle.get_window_extent()
    assert "each edge is labelled" in caption.replace("\n", " ")
    assert extent.x0 >= 0 and extent.x1 <= figure.bbox.width and extent.y1 <= figure.bbox.height


def test_graph_arrows_end_at_their_boxes_without_a_trace():
    from autodiffcli.lesson import picture

    figure = picture.tape_figure(lang.parse("log(x^2)*sin(x) + 1/x"))
    figure.canvas.draw()
    axes = figure.axes[0]
    boxes = [t.get_bbox_patch().get_window_extent() for t in axes.texts if t.get_text()]
    lefts = sorted(box.x0 for box in boxes)
    for arrow in (t for t in axes.texts if not t.get_text()):
        tip = axes.transData.transform(arrow.xy)[0]
        assert min(abs(tip - left) for left in lefts) < 2.0  # pixels from a box's left side


def test_a_graph_too_large_to_read_is_refused_before_any_file(tmp_path):
    graph, dot = tmp_path / "g.png", tmp_path / "g.dot"
    text = "sin(cos(tan(exp(log(sqrt(x^2+1))))))"
    result = invoke("explain", text, "--trace", "1", "--graph", str(graph), "--dot", str(dot))
    assert result.exit_code == 2 and "unreadable unless zoomed" in result.stderr
    assert result.stdout == "" and not graph.exists() and not dot.exists()


def test_graph_pictures_that_are_drawn_stay_within_the_size_limit():
    from autodiffcli.lesson import picture

    figure = picture.tape_figure(*traced_rows("log(x^2)*sin(x) + 1/x", 1.0))
    assert max(figure.get_size_inches()) <= picture.MAX_PICTURE_INCHES


# ----- piecewise: a derivative jumps where a where() switches, f does not -----


def test_a_derivative_breaks_where_a_where_switches_and_f_stays_joined(tmp_path):
    svg, _ = svg_of(tmp_path, "where(x > 0, sqrt(x), x^2)", "--start", "-2", "--stop", "2")
    derivative = svg_path_points(svg, "order-1")
    assert np.isnan(derivative[:, 0]).sum() == 1  # split once, at 0: no connector up the pole
    assert not np.isnan(svg_path_points(svg, "order-0")[:, 0]).any()


def test_a_max_that_switches_with_a_jump_in_slope_breaks_only_the_slope():
    x, f, df, d2f = table("max(x^2, 1)", 2, num=1000, start=-2, stop=2)  # no tie on the grid
    branches = (x**2 >= 1).astype(int)
    switches = branches[:-1] != branches[1:]
    assert np.isfinite(curves.break_jumps(x, f, df, switches)[1]).all()
    assert np.isnan(curves.break_jumps(x, df, d2f, switches)[1]).sum() == 2


def test_a_switch_where_the_derivative_is_continuous_is_not_broken():
    x, _, df, d2f = table("where(x < 0, 0, x^2)", 2, num=1001, start=-2, stop=2)
    switches = np.diff((x < 0).astype(int)) != 0
    assert np.isfinite(curves.break_jumps(x, df, d2f, switches)[1]).all()
