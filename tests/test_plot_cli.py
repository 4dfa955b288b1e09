"""CLI tests for `plot --ylim`, `--panels/--no-panels`, `--taylor-at` (issues 11, 8).
Each reads the written SVG back (text stays text: svg.fonttype is none).
"""

from __future__ import annotations

import re

from support import invoke


def svg_of(tmp_path, *args: str) -> str:
    path = tmp_path / "p.svg"
    result = invoke("plot", *args, "-o", str(path))
    assert result.exit_code == 0, result.stderr
    return path.read_text()


def y_tick_labels(svg: str) -> list[str]:
    """The y tick labels in drawing order (text stays text: svg.fonttype is none)."""
    ticks = re.findall(r'<g id="ytick_\d+">.*?<text[^>]*>([^<]*)</text>', svg, flags=re.DOTALL)
    return [label.replace("\u2212", "-") for label in ticks]


def test_ylim_sets_the_exact_limits(tmp_path):
    svg = svg_of(tmp_path, "tan(x)", "--ylim", "-3", "3")
    labels = y_tick_labels(svg)
    assert labels[0] == "-3" and labels[-1] == "3"


def test_ylim_in_the_wrong_order_is_a_one_line_error(tmp_path):
    result = invoke("plot", "--ylim", "3", "-3", "-o", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "--ylim needs two finite numbers" in result.stderr


def test_panels_draws_one_axes_per_order(tmp_path):
    svg = svg_of(tmp_path, "sin(x)", "-k", "2", "--panels")
    assert len(re.findall(r'<g id="axes_\d+"', svg)) == 3


def test_no_panels_keeps_high_orders_on_one_axes(tmp_path):
    svg = svg_of(tmp_path, "sin(x)", "-k", "4", "--no-panels")
    assert len(re.findall(r'<g id="axes_\d+"', svg)) == 1


def test_taylor_at_draws_polynomials_up_to_the_order(tmp_path):
    svg = svg_of(tmp_path, "sin(x)", "-k", "3", "--taylor-at", "1")
    assert "and its Taylor polynomials -->" in svg
    for degree in (1, 2, 3):
        assert f"<!-- $T_{{{degree}}}(x)$ -->" in svg
    assert "<!-- $T_{4}(x)$ -->" not in svg


def test_taylor_at_twice_labels_each_point(tmp_path):
    svg = svg_of(tmp_path, "sin(x)", "-k", "2", "--taylor-at", "0", "--taylor-at", "1")
    assert "<!-- $T_{1}(x) = T_{2}(x)$ at $x_0 = 0$ -->" in svg  # sin's x^2 term at 0 is 0
    assert "<!-- $T_{2}(x)$ at $x_0 = 1$ -->" in svg


def test_bad_title_math_is_a_one_line_error(tmp_path):
    result = invoke("plot", "--title", "costs $5", "-o", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and "--title is not valid math text" in result.stderr
