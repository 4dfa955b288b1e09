"""`autodiff plot`: the figure holds the numbers derive computes, at the size asked for."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from strategies import expressions, noise
from support import invoke
from support import table as engine_table

from autodiffcli import domain as domains
from autodiffcli import errors, lang
from autodiffcli.limits import DEFAULT_MAX_POINTS
from autodiffcli.plotting import curves, files, terminal
from autodiffcli.plotting import figure as figures

# A figure may drop this share of data points under its legend (the placement's own limit).
LEGEND_COVER = figures.LEGEND_MAX_COVER


def table(text: str, order: int, start=-5.0, stop=5.0, step=0.01, num=None):
    if num is None:
        g = domains.from_range(start, stop, step, DEFAULT_MAX_POINTS)
    else:
        g = domains.from_num(start, stop, num, DEFAULT_MAX_POINTS)
    return [c.numpy() for c in engine_table(lang.parse(text), g, order, "cpu", torch.float64)]


def tangent_at(text: str, x0: float) -> figures.Tangent:
    x, f, df = engine_table(lang.parse(text), domains.from_values([x0], 1), 1, "cpu", torch.float64)
    return figures.Tangent(float(x[0]), float(f[0]), float(df[0]))


def legend_labels(figure) -> list[str]:
    """The legend's texts, whether the legend sits in the axes or below the figure."""
    legends = [axes.get_legend() for axes in figure.axes] + list(figure.legends)
    return [t.get_text() for legend in legends if legend for t in legend.get_texts()]


def labelled_lines(axes, prefix: str):
    return [line for line in axes.get_lines() if line.get_label().startswith(prefix)]


def test_plotted_lines_are_the_derive_values():
    columns = table("x*sin(x)", 2)
    figure = figures.plot_figure(columns, "x*sin(x)")
    lines = figure.axes[0].get_lines()
    for k in range(3):
        x, y = lines[k].get_data()
        np.testing.assert_array_equal(x, columns[0])
        np.testing.assert_array_equal(y, columns[k + 1])


def test_derive_and_plot_share_the_same_numbers(tmp_path):
    derived = invoke("derive", "tanh(x)", "--num", "9", "-k", "2")
    path = tmp_path / "t.csv"
    result = invoke(
        "plot",
        "tanh(x)",
        "--num",
        "9",
        "-k",
        "2",
        "-o",
        str(tmp_path / "p.png"),
        "--csv",
        str(path),
    )
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == derived.stdout


def test_legend_labels_name_f_and_each_derivative():
    figure = figures.plot_figure(table("sin(x)", 2), "sin(x)")
    assert legend_labels(figure) == [r"$f(x) = \sin(x)$", "$f'(x)$", "$f''(x)$"]


def test_non_finite_values_become_gaps_and_do_not_squash_the_axis():
    columns = table("1/x", 1, start=-1, stop=1, step=0.001)
    figure = figures.plot_figure(columns, "1/x")
    _, y = figure.axes[0].get_lines()[0].get_data()
    assert np.isnan(y[1000])  # x = 0
    low, high = figure.axes[0].get_ylim()
    assert high - low < 1e4  # 1/x' reaches -1e6 near 0; the axis keeps the curves readable


def test_tangent_line_uses_the_autograd_slope():
    parsed = lang.parse("x**3 - 1/x")
    g = domains.from_values([1.0], 1)
    x, f, df = engine_table(parsed, g, 1, "cpu", torch.float64)
    tangent = figures.Tangent(float(x), float(f), float(df))
    assert tangent.slope == 4.0 and tangent.f0 == 0.0
    figure = figures.plot_figure(table("x**3 - 1/x", 1, 0.2, 2), "x**3 - 1/x", tangents=(tangent,))
    assert "tangent $y = 4x - 4$" in legend_labels(figure)


def test_png_has_the_requested_size_and_dpi(tmp_path):
    path = tmp_path / "out.png"
    result = invoke("plot", "-o", str(path), "--width", "5", "--height", "3", "--dpi", "80")
    assert result.exit_code == 0, result.stderr
    with Image.open(path) as image:
        assert image.size == (400, 240)
        assert round(image.info["dpi"][0]) == 80


def test_svg_and_pdf_are_valid(tmp_path):
    assert invoke("plot", "-o", str(tmp_path / "a.svg")).exit_code == 0
    assert invoke("plot", "-o", str(tmp_path / "a.pdf")).exit_code == 0
    svg = (tmp_path / "a.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and svg.rstrip().endswith("</svg>")
    pdf = (tmp_path / "a.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


def test_default_output_is_plot_png_and_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("plot")
    assert result.exit_code == 0
    assert os.listdir(tmp_path) == ["plot.png"]
    assert "plot.png" in result.stderr


def test_unknown_image_extension_lists_the_supported_ones(tmp_path):
    result = invoke("plot", "-o", str(tmp_path / "a.xyz"))
    assert result.exit_code == 2
    assert "png" in result.stderr and "svg" in result.stderr and "pdf" in result.stderr


@pytest.mark.parametrize(
    "args", [["--width", "0"], ["--dpi", "-3"], ["--width", "nan"], ["--dpi", "100000"]]
)
def test_bad_sizes_are_rejected(tmp_path, args):
    result = invoke("plot", "-o", str(tmp_path / "a.png"), *args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_unwritable_folder_is_rejected(tmp_path):
    result = invoke("plot", "-o", str(tmp_path / "missing" / "a.png"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_terminal_mode_draws_and_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("plot", "x*sin(x)", "--terminal", "-k", "2")
    assert result.exit_code == 0
    assert "f(x) = x*sin(x)" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour codes
    for marker in terminal.TERMINAL_MARKERS[:3]:  # one marker per curve instead of colour
        assert result.stdout.count(marker) > 20
    assert os.listdir(tmp_path) == []


def test_show_without_a_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = invoke("plot", "--show")
    assert result.exit_code == 2 and "needs a display" in result.stderr


def test_plot_warns_about_non_finite_values(tmp_path):
    result = invoke("plot", "log(x)", "-o", str(tmp_path / "a.png"))
    assert "non-finite" in result.stderr


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(expressions, noise))
def test_plot_never_shows_a_traceback(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("plot") / "p.png"
    result = invoke("plot", "--num", "50", "-k", "2", "-o", str(path), "-q", "--", text)
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert path.exists() == (result.exit_code == 0)


def test_plot_refuses_tables_too_large_for_a_figure(tmp_path):
    result = invoke("plot", "--num", "20000000", "-o", str(tmp_path / "a.png"))
    assert result.exit_code == 2 and "--max-points 10,000,000" in result.stderr


def test_show_opens_a_pyplot_figure_holding_the_curves(monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")  # no real window in tests: capture what the window would show
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(files, "_answers", lambda address: True)
    shown = []
    monkeypatch.setattr(files, "show_figure", lambda: shown.append(plt.gcf()))
    result = invoke("plot", "x*sin(x)", "--num", "11", "--show")
    assert result.exit_code == 0, result.stderr
    lines = shown[0].axes[0].get_lines()
    x, y = lines[0].get_data()
    np.testing.assert_allclose(y, x * np.sin(x), rtol=1e-15)
    plt.close("all")


def test_show_where_matplotlib_found_no_window_system_is_an_error_not_a_warning():
    import matplotlib

    matplotlib.use("Agg")
    with pytest.raises(errors.OutputError, match="cannot open a window"):
        files.show_figure()


# ----- Figures read back: poles, ranges, tangents, undefined points -----


def poles_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether an odd multiple of pi/2 (a pole of tan) lies in each interval [a, b]."""
    return np.floor(a / np.pi - 0.5) != np.floor(b / np.pi - 0.5)


def drawn_segments(line) -> tuple[np.ndarray, np.ndarray]:
    """Start and end x of every segment matplotlib draws (both ends finite)."""
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    joined = np.isfinite(y[:-1]) & np.isfinite(y[1:])
    return x[:-1][joined], x[1:][joined]


def test_tan_draws_no_segment_across_a_pole():
    figure = figures.plot_figure(table("tan(x)", 2), "tan(x)", panels=False)
    for line in figure.axes[0].get_lines()[:3]:
        start, end = drawn_segments(line)
        assert not poles_between(start, end).any(), line.get_label()


def test_reciprocal_on_a_grid_without_zero_draws_no_vertical_connector():
    figure = figures.plot_figure(table("1/x", 1, num=1000), "1/x")
    start, end = drawn_segments(figure.axes[0].get_lines()[0])
    assert not ((start < 0) & (end > 0)).any()


@pytest.mark.parametrize("text", ["sin(x)", "x**3", "tanh(20*x)", "x*sin(x)"])
def test_continuous_curves_are_never_broken(text):
    x, f = table(text, 0, num=1000)
    _, y = curves.break_jumps(x, f)
    assert y.size == f.size and np.isfinite(y).all()


def test_jump_of_abs_derivative_is_broken():
    x, _, df = table("abs(x)", 1, num=1000)
    start, end = drawn_segments(figures.plot_figure([x, df], "abs(x)").axes[0].get_lines()[0])
    assert not ((start < 0) & (end > 0)).any()


def test_ylim_sets_the_axes_limits_exactly():
    figure = figures.plot_figure(table("tan(x)", 1), "tan(x)", ylim=(-3.5, 2.25))
    assert figure.axes[0].get_ylim() == (-3.5, 2.25)


def test_y_range_fits_f_when_a_derivative_is_far_larger():
    columns = table("tan(x)", 1)
    low, high = figures.plot_figure(columns, "tan(x)", panels=False).axes[0].get_ylim()
    f_low, f_high = curves.curve_range(columns[1])
    assert low <= f_low and high >= f_high
    assert high < 0.1 * np.nanmax(columns[2])  # f' (up to 1e5) does not set the scale


def test_y_range_takes_in_derivatives_of_similar_size():
    low, high = figures.plot_figure(table("x*sin(x)", 2), "x*sin(x)").axes[0].get_ylim()
    _, _, _, d2f = table("x*sin(x)", 2)
    assert low <= d2f.min() and high >= d2f.max()


def test_tangent_spans_the_documented_fraction_of_the_x_range():
    columns = table("sin(x)", 1)
    figure = figures.plot_figure(columns, "sin(x)", tangents=(tangent_at("sin(x)", 1.0),))
    (line,) = labelled_lines(figure.axes[0], "tangent")
    x, _ = line.get_data()
    span = columns[0].max() - columns[0].min()
    assert x.max() - x.min() == pytest.approx(figures.TANGENT_FRACTION * span)
    assert (x.min() + x.max()) / 2 == pytest.approx(1.0)


def test_tangents_never_widen_the_y_limits():
    columns = table("sin(x)", 1)
    plain = figures.plot_figure(columns, "sin(x)").axes[0].get_ylim()
    steep = (tangent_at("sin(x)", 0.0), figures.Tangent(0.0, 0.0, 50.0))
    assert figures.plot_figure(columns, "sin(x)", tangents=steep).axes[0].get_ylim() == plain


def test_each_tangent_has_its_own_colour_and_a_marked_point():
    tangents = tuple(tangent_at("sin(x)", x0) for x0 in (-2.0, 0.0, 2.0))
    axes = figures.plot_figure(table("sin(x)", 1), "sin(x)", tangents=tangents).axes[0]
    colours = [line.get_color() for line in labelled_lines(axes, "tangent")]
    curves = {line.get_color() for line in axes.get_lines()[:2]}
    assert len(set(colours)) == 3 and not curves & set(colours)
    points = [line for line in axes.get_lines() if line.get_marker() == "o"]
    assert sorted(float(p.get_xdata()[0]) for p in points) == [-2.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("slope", "intercept", "text"),
    [(2.0, -2.0, "2x - 2"), (-0.4161468, 1.9161468, "-0.416x + 1.92"), (1.0, 0.0, "x")],
)
def test_tangent_equations_use_clean_numbers(slope, intercept, text):
    assert figures.linear_text(slope, intercept) == text


def test_tangent_label_gives_the_equation():
    assert figures.Tangent(1.0, 0.0, 2.0).label == "tangent $y = 2x - 2$"


def test_log_derivative_is_not_drawn_where_log_is_undefined():
    figure = figures.plot_figure(table("log(x)", 1, start=-2, stop=5), "log(x)")
    x, y = figure.axes[0].get_lines()[1].get_data()
    assert not (np.isfinite(y) & (x <= 0)).any()
    assert np.isfinite(y[x > 0]).all()
    assert any("hidden where" in label for label in legend_labels(figure))


def test_no_note_when_f_is_defined_everywhere():
    figure = figures.plot_figure(table("sin(x)", 1), "sin(x)")
    assert not any("hidden" in label for label in legend_labels(figure))


def test_input_in_any_order_is_drawn_from_left_to_right():
    x = np.array([3.0, -1.0, 2.0, 0.0])
    figure = figures.plot_figure([x, x**2, 2 * x], "x**2")
    drawn, y = figure.axes[0].get_lines()[0].get_data()
    np.testing.assert_array_equal(drawn, [-1.0, 0.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [1.0, 0.0, 4.0, 9.0])


# ----- Labels, panels, legend, fonts -----


def test_title_and_axis_labels_are_maths():
    axes = figures.plot_figure(table("x**3 - 1/x", 1, 0.2, 2), "x**3 - 1/x").axes[0]
    assert axes.get_title() == r"$f(x) = x^{3} - \frac{1}{x}$ and its derivative"
    assert axes.get_ylabel() == "$f(x)$, $f'(x)$"
    assert axes.get_xlabel() == "$x$"


def test_derivatives_beyond_the_third_use_a_bracketed_order():
    assert figures.derivative_label(4) == "$f^{(4)}(x)$"


@pytest.mark.parametrize(("order", "panels", "count"), [(1, None, 1), (2, None, 1), (4, None, 5)])
def test_panels_by_default_from_order_three(order, panels, count):
    figure = figures.plot_figure(table("sin(x)", order), "sin(x)", panels=panels)
    assert len(figure.axes) == count


def test_panels_share_x_and_each_holds_one_order():
    figure = figures.plot_figure(table("sin(x)", 2), "sin(x)", panels=True)
    assert [axes.get_ylabel() for axes in figure.axes] == ["$f(x)$", "$f'(x)$", "$f''(x)$"]
    assert all(axes.get_shared_x_axes().joined(figure.axes[0], axes) for axes in figure.axes)


def test_panels_can_be_turned_off_at_high_orders():
    assert len(figures.plot_figure(table("sin(x)", 4), "sin(x)", panels=False).axes) == 1


def covered_points(figure) -> tuple[int, int]:
    """(data points of the first axes under the drawn legend, all its data points), in pixels."""
    figure.canvas.draw()
    legend = (
        next(a.get_legend() for a in figure.axes if a.get_legend())
        if not figure.legends
        else figure.legends[0]
    )
    box = legend.get_window_extent()
    axes = figure.axes[0]
    data = np.concatenate([np.column_stack(line.get_data()) for line in axes.get_lines()])
    pixels = axes.transData.transform(data[np.isfinite(data).all(axis=1)])
    frame = axes.get_window_extent()
    inside = (pixels[:, 1] >= frame.y0) & (pixels[:, 1] <= frame.y1)
    pixels = pixels[inside]
    under = (
        (pixels[:, 0] >= box.x0)
        & (pixels[:, 0] <= box.x1)
        & (pixels[:, 1] >= box.y0)
        & (pixels[:, 1] <= box.y1)
    )
    return int(np.count_nonzero(under)), len(pixels)


@pytest.mark.parametrize("tangents", [(), (-2.0, 0.0, 2.0)])
def test_legend_covers_almost_no_data_at_4_by_3_inches(tangents):
    lines = tuple(tangent_at("sin(x)", x0) for x0 in tangents)
    figure = figures.plot_figure(
        table("sin(x)", 1), "sin(x)", width=4, height=3, dpi=100, tangents=lines
    )
    under, total = covered_points(figure)
    assert under <= LEGEND_COVER * total


def test_svg_keeps_the_title_as_text(tmp_path):
    figure = figures.plot_figure(table("sin(x)", 1), "sin(x)", title="Sine and its slope")
    files.save_figure(figure, str(tmp_path / "a.svg"), "svg", 100)
    assert re.search(r"<text[^>]*>Sine and its slope</text>", (tmp_path / "a.svg").read_text())


def pdf_font_subtypes(data: bytes) -> list[str]:
    """The /Subtype of every font object of an (uncompressed-object) PDF, e.g. TrueType."""
    subtypes = []
    for body in re.findall(rb"\d+ 0 obj(.*?)endobj", data, flags=re.DOTALL):
        if re.search(rb"/Type\s*/Font\b", body):
            subtypes.append(re.search(rb"/Subtype\s*/(\w+)", body).group(1).decode())
    return subtypes


def test_pdf_embeds_no_type3_fonts(tmp_path):
    figure = figures.plot_figure(table("x**3 - 1/x", 1, 0.2, 2), "x**3 - 1/x")
    files.save_figure(figure, str(tmp_path / "a.pdf"), "pdf", 100)
    subtypes = pdf_font_subtypes((tmp_path / "a.pdf").read_bytes())
    assert subtypes and "Type3" not in subtypes


def test_saving_leaves_matplotlib_defaults_alone(tmp_path):
    import matplotlib

    before = {key: matplotlib.rcParams[key] for key in files.FONT_RC}
    files.save_figure(
        figures.plot_figure(table("sin(x)", 1), "sin(x)"), str(tmp_path / "a.pdf"), "pdf", 100
    )
    assert {key: matplotlib.rcParams[key] for key in files.FONT_RC} == before


# ----- Taylor polynomials -----


def sine_series(order: int, x0: float = 0.0) -> figures.TaylorSeries:
    g = domains.from_values([x0], 1)
    derivatives = engine_table(lang.parse("sin(x)"), g, order, "cpu", torch.float64)[1:]
    return figures.TaylorSeries.from_derivatives(x0, [float(d[0]) for d in derivatives])


def test_taylor_series_evaluates_the_polynomial_of_each_degree():
    series = sine_series(5)
    x = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(series(x, 3), x - x**3 / 6, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(series(x, 5), x - x**3 / 6 + x**5 / 120, rtol=1e-15, atol=1e-15)


def test_taylor_series_from_a_coefficient_table_has_one_series_per_point():
    table_ = np.array([[1.0, 2.0], [0.5, 0.25], [3.0, 4.0]])  # (K+1, n) = (3, 2)
    first, second = figures.TaylorSeries.from_columns([0.0, 1.0], table_)
    assert first == figures.TaylorSeries(0.0, (1.0, 0.5, 3.0)) and second.coefficients == (
        2.0,
        0.25,
        4.0,
    )


def test_taylor_polynomials_are_labelled_by_degree():
    figure = figures.plot_figure(table("sin(x)", 0), "sin(x)", taylor=[sine_series(3, 1.0)])
    labels = [line.get_label() for line in labelled_lines(figure.axes[0], "$T_")]
    assert labels == ["$T_{1}(x)$", "$T_{2}(x)$", "$T_{3}(x)$"]


def test_taylor_polynomials_that_coincide_are_drawn_once_with_both_names():
    figure = figures.plot_figure(table("sin(x)", 0), "sin(x)", taylor=[sine_series(4)])
    labels = [line.get_label() for line in labelled_lines(figure.axes[0], "$T_")]
    assert labels == ["$T_{1}(x) = T_{2}(x)$", "$T_{3}(x) = T_{4}(x)$"]  # sin's even terms: 0


def test_taylor_degrees_differ_in_colour_and_dash_pattern():
    figure = figures.plot_figure(table("sin(x)", 0), "sin(x)", taylor=[sine_series(3, 1.0)])
    lines = labelled_lines(figure.axes[0], "$T_")
    colours = {line.get_color() for line in lines}
    dashes = {tuple(line._dash_pattern[1] or ()) for line in lines}
    assert len(lines) == 3 and len(colours) == 3 and len(dashes) == 3


def test_taylor_legend_gives_the_point_x0():
    figure = figures.plot_figure(table("sin(x)", 0), "sin(x)", taylor=[sine_series(2, 1.5)])
    assert "$x_0 = 1.5$" in legend_labels(figure)


def test_taylor_polynomials_stay_within_the_y_limits():
    figure = figures.plot_figure(
        table("sin(x)", 0, -7, 7), "sin(x)", taylor=[sine_series(7)], ylim=(-2.0, 2.0)
    )
    for line in labelled_lines(figure.axes[0], "$T_"):
        _, y = line.get_data()
        assert y.size > 2
        assert (np.abs(y[1:-1]) <= 2.0).all()  # only the last point on each side leaves the frame
    assert figure.axes[0].get_ylim() == (-2.0, 2.0)


# ----- Checks that answer before heavy imports -----


def test_format_and_size_checks_do_not_import_matplotlib():
    code = (
        "import sys; from autodiffcli.plotting import files; files.image_format('a.png'); "
        "files.check_size(4, 3, 100); print('matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_formats_known_without_matplotlib_are_the_ones_it_writes():
    from matplotlib.backend_bases import FigureCanvasBase

    assert set(FigureCanvasBase.get_supported_filetypes()) == files.COMMON_FORMATS


def test_bad_size_error_names_the_parameter():
    with pytest.raises(errors.OptionError, match="width must be a positive number") as caught:
        files.check_size(0, 3, 100)
    assert caught.value.parameter == "width"


def test_terminal_plot_without_colour_gives_each_curve_a_marker_and_a_legend():
    x = np.linspace(-5, 5, 200)
    drawing = terminal.terminal_plot([x, np.sin(x), np.cos(x)], "sin(x)", None, colour=False)
    assert "\x1b[" not in drawing
    assert "f(x)" in drawing and "f'(x)" in drawing
    assert drawing.count(terminal.TERMINAL_MARKERS[0]) > 20
    assert drawing.count(terminal.TERMINAL_MARKERS[1]) > 20


@pytest.mark.parametrize("ylim", [(1.0, 0.0), (0.0, float("nan")), (2.0, 2.0)])
def test_unusable_ylim_is_an_option_error(ylim):
    with pytest.raises(errors.OptionError, match="ylim needs two finite numbers"):
        figures.plot_figure(table("sin(x)", 1), "sin(x)", ylim=ylim)


def test_title_with_broken_math_text_is_an_option_error_not_a_drawing_failure():
    with pytest.raises(errors.OptionError, match=r"title is not valid math text"):
        figures.plot_figure(table("sin(x)", 1), "sin(x)", title="costs $5")


def test_reference_in_panels_overlays_each_order_and_adds_an_error_panel():
    columns = table("sin(x)", 4)
    reference = [columns[1], *columns[2:]]
    figure = figures.plot_figure(columns, "sin(x)", reference=reference)
    assert len(figure.axes) == 6 and figure.axes[-1].get_yscale() == "log"
    assert [len(labelled_lines(a, "$f")) for a in figure.axes[:5]] == [1, 2, 2, 2, 2]


@pytest.mark.parametrize("text", ["1e308*x", "-1e308*sin(x)*1.7", "9**9**9", "log(-abs(x)-1)"])
@pytest.mark.parametrize("points", [[1.0], [-1.0, 0.5, 2.0]])
def test_huge_or_missing_values_still_give_finite_increasing_limits(text, points):
    parsed = lang.parse(text)
    columns = engine_table(parsed, domains.from_values(points, 3), 1, "cpu", torch.float64)
    low, high = figures.plot_figure([c.numpy() for c in columns], text).axes[0].get_ylim()
    assert np.isfinite([low, high]).all() and low < high


def test_terminal_plot_of_a_function_undefined_on_the_whole_range_is_refused():
    result = invoke("plot", "log(x)", "--start", "-2", "--stop", "-1", "--terminal")
    assert result.exit_code == 2 and result.stdout == ""
    assert "f(x) = log(x) has no finite value from x = -2 to -1.01" in result.stderr
