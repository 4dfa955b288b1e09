"""`autodiff plot`: the figure holds the numbers derive computes, at the size asked for."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from autodiffcli import core, expr, grid, plotting
from tests.conftest import invoke
from tests.strategies import expressions, noise


def table(text: str, order: int, start=-5.0, stop=5.0, step=0.01):
    g = grid.from_range(start, stop, step, grid.DEFAULT_MAX_POINTS)
    return [c.numpy() for c in core.table(expr.parse(text), g, order, "cpu", torch.float64)]


def test_plotted_lines_are_the_derive_values():
    columns = table("x*sin(x)", 2)
    figure = plotting.plot_figure(columns, "x*sin(x)")
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
    figure = plotting.plot_figure(table("sin(x)", 2), "sin(x)")
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["$f(x)$ = sin(x)", "$f'(x)$", "$f''(x)$"]


def test_non_finite_values_become_gaps_and_do_not_squash_the_axis():
    columns = table("1/x", 1, start=-1, stop=1, step=0.001)
    figure = plotting.plot_figure(columns, "1/x")
    _, y = figure.axes[0].get_lines()[0].get_data()
    assert np.isnan(y[1000])  # x = 0
    low, high = figure.axes[0].get_ylim()
    assert high - low < 1e4  # 1/x' reaches -1e6 near 0; the axis keeps the curves readable


def test_tangent_line_uses_the_autograd_slope():
    parsed = expr.parse("x**3 - 1/x")
    g = grid.from_values([1.0], 1)
    x, f, df = core.table(parsed, g, 1, "cpu", torch.float64)
    tangent = plotting.Tangent(float(x), float(f), float(df))
    assert tangent.slope == 4.0 and tangent.f0 == 0.0
    figure = plotting.plot_figure(table("x**3 - 1/x", 1, 0.2, 2), "x**3 - 1/x", tangents=(tangent,))
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "tangent at x = 1: y = 4x - 4" in labels


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
    assert sum(ch in "⠁⠂⠄⡀⢀⠈⠐⠠⣀⠤⠒⠉" for ch in result.stdout) > 50  # braille curve dots
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

    matplotlib.use("Agg")  # no real window in tests: capture what plt.show() would open
    monkeypatch.setenv("DISPLAY", ":99")
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    result = invoke("plot", "x*sin(x)", "--num", "11", "--show")
    assert result.exit_code == 0, result.stderr
    lines = shown[0].axes[0].get_lines()
    x, y = lines[0].get_data()
    np.testing.assert_allclose(y, x * np.sin(x), rtol=1e-15)
    plt.close("all")
