"""plot for several variables (issue 18), through the CLI: which problems draw a map, what the
map shows, and the one-line refusals of what it cannot draw."""

from __future__ import annotations

import pytest
from support import invoke


def plot(tmp_path, *args: str, name: str = "p.svg"):
    path = tmp_path / name
    result = invoke("plot", *args, "-o", str(path))
    return result, path


def refused(tmp_path, *args: str) -> str:
    result, path = plot(tmp_path, *args)
    assert result.exit_code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Grid:")]
    assert "Traceback" not in result.stderr and len(lines) == 1
    assert not path.exists()
    return result.stderr


def test_a_third_free_variable_is_refused_naming_it(tmp_path):
    error = refused(tmp_path, "x*y + z")
    assert "z is free too" in error and "--at z=0" in error


def test_a_fixed_third_variable_leaves_a_map_of_two(tmp_path):
    result, path = plot(
        tmp_path, "x*y + z^2", "--at", "z=0.5", "--var", "x=-1:1:21j", "--var", "y=-1:1:21j"
    )
    assert result.exit_code == 0, result.stderr
    assert "z = 0.5" in path.read_text()


def test_a_field_of_three_components_is_refused(tmp_path):
    assert "has 3 components" in refused(tmp_path, "[x, y, x*y]")


def test_a_slice_with_one_free_variable_is_refused(tmp_path):
    assert "leave two free" in refused(tmp_path, "x*y", "--at", "y=1")


@pytest.mark.parametrize(
    ("option", "values"),
    [
        ("--tangent-at", ["1"]),
        ("--ylim", ["0", "1"]),
        ("--reference", []),
        ("--logy", []),
        ("--panels", []),
        ("--terminal", []),
    ],
)
def test_options_of_curves_are_refused_for_a_map(tmp_path, option, values):
    error = refused(tmp_path, "x*y", option, *values)
    assert option in error


@pytest.mark.parametrize(
    ("option", "values"),
    [
        ("--kind", ["heatmap"]),
        ("--field", ["stream"]),
        ("--background", ["curl"]),
        ("--zlim", ["0", "1"]),
        ("--wireframe", []),
        ("--hessian", []),
        ("--no-critical", []),
    ],
)
def test_options_of_maps_are_refused_for_a_curve(tmp_path, option, values):
    error = refused(tmp_path, "sin(x)", option, *values)
    assert option in error


def test_background_of_a_scalar_is_refused(tmp_path):
    assert "--background" in refused(tmp_path, "x*y", "--background", "div")


def test_hessian_panel_of_a_field_is_refused(tmp_path):
    assert "--hessian" in refused(tmp_path, "[-y, x]", "--hessian")


def test_zlim_in_the_wrong_order_is_refused(tmp_path):
    assert "--zlim" in refused(tmp_path, "x*y", "--zlim", "1", "0")


def test_taylor_at_must_name_the_two_variables(tmp_path):
    assert "x=0,y=0" in refused(tmp_path, "x*y", "--taylor-at", "x=1")


def test_taylor_at_of_a_curve_takes_a_number(tmp_path):
    assert "must be a number" in refused(tmp_path, "sin(x)", "--taylor-at", "x=1")


def test_scattered_input_points_are_refused(tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x,y\n0,0\n1,1\n2,0\n")
    assert "--var" in refused(tmp_path, "x*y", "--input", str(points))


def test_a_map_nowhere_finite_is_refused(tmp_path):
    assert "no finite value" in refused(tmp_path, "log(-x^2 - y^2 - 1)")


GRID = ("--var", "x=-2:2:0.05", "--var", "y=-2:2:0.05")


def drawn(tmp_path, *args: str) -> str:
    result, path = plot(tmp_path, *args)
    assert result.exit_code == 0, result.stderr
    return path.read_text()


def test_a_saddle_is_found_and_labelled(tmp_path):
    svg = drawn(tmp_path, "x^2 - y^2", *GRID)
    assert 'id="critical-saddle"' in svg and ">saddle<" in svg
    assert 'id="critical-min"' not in svg and 'id="critical-max"' not in svg


def test_the_bump_has_its_minimum_and_maximum(tmp_path):
    svg = drawn(tmp_path, "x*exp(-x^2 - y^2)", *GRID)
    assert 'id="critical-min"' in svg and 'id="critical-max"' in svg


def test_a_ring_of_minima_is_one_curve(tmp_path):
    svg = drawn(tmp_path, "(x^2 + y^2 - 1)^2", *GRID)
    assert svg.count('id="critical-curve-') == 1 and "minima (a curve)" in svg


def test_no_critical_leaves_them_out(tmp_path):
    svg = drawn(tmp_path, "x^2 - y^2", *GRID, "--no-critical")
    assert "critical-" not in svg


def test_gradient_arrows_by_default_and_none_on_request(tmp_path):
    assert 'id="arrows"' in drawn(tmp_path, "x*y", *GRID)
    assert 'id="arrows"' not in drawn(tmp_path, "x*y", *GRID, "--field", "none")


def test_order_one_adds_a_panel_per_first_partial(tmp_path):
    svg = drawn(tmp_path, "x*y", *GRID, "-k", "1")
    assert all(f'id="panel-{i}"' in svg for i in range(3)) and 'id="panel-3"' not in svg


def test_hessian_adds_the_definiteness_panel(tmp_path):
    svg = drawn(tmp_path, "x*exp(-x^2 - y^2)", *GRID, "--hessian")
    assert 'id="definiteness"' in svg and "indefinite" in svg


def test_taylor_at_draws_the_quadratic_near_its_point(tmp_path):
    svg = drawn(tmp_path, "x*exp(-x^2 - y^2)", *GRID, "--taylor-at", "x=-1,y=0")
    assert 'id="taylor-0"' in svg and "quadratic at" in svg


def test_a_rotation_field_has_curl_2_everywhere(tmp_path):
    svg = drawn(tmp_path, "[-y, x]", *GRID, "--background", "curl")
    assert 'id="streamlines"' in svg and r"$\nabla\times F = 2$ everywhere" in svg


def test_a_rotation_field_has_divergence_0_by_default(tmp_path):
    svg = drawn(tmp_path, "[-y, x]", *GRID, "--field", "quiver")
    assert 'id="arrows"' in svg and r"$\nabla\cdot F = 0$ everywhere" in svg


@pytest.mark.parametrize("kind", ["contour", "heatmap", "surface"])
def test_each_kind_draws(tmp_path, kind):
    assert f'id="{kind}-0"' in drawn(tmp_path, "x*y", *GRID, "--kind", kind)


def test_csv_writes_the_plotted_table(tmp_path):
    table = tmp_path / "t.csv"
    drawn(tmp_path, "x*y", "--var", "x=0:1:3j", "--var", "y=0:1:3j", "--csv", str(table))
    lines = table.read_text().splitlines()
    assert lines[0] == "x,y,f,f_x,f_y" and len(lines) == 10


def test_the_svg_describes_the_map_in_words(tmp_path):
    svg = drawn(tmp_path, "x*y", *GRID)
    assert "<desc>f(x, y) = x*y over x from -2 to 1.95 and y from -2 to 1.95</desc>" in svg


def test_a_one_variable_figure_is_unchanged_by_the_map_options(tmp_path):
    svg = drawn(tmp_path, "sin(x)")
    assert "panel-0" not in svg and "<title>" in svg


def test_colour_bar_ticks_stay_within_zlim(tmp_path):
    import re

    svg = drawn(tmp_path, "x^2 - y^2", *GRID, "--zlim", "-3", "7")
    bar = svg[svg.index('id="colorbar-0"') : svg.index('id="legend"')]
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", bar)
    values = [float(label.replace("\u2212", "-")) for label in labels]
    assert values and max(values) <= 7 and min(values) >= -3


def test_hessian_with_order_one_adds_no_second_partial_panels(tmp_path):
    svg = drawn(tmp_path, "x*y", *GRID, "-k", "1", "--hessian")
    assert r"\partial^{2}" not in svg and 'id="definiteness"' in svg


def test_a_constant_partial_panel_says_its_value(tmp_path):
    svg = drawn(tmp_path, "x*y", *GRID, "-k", "2")
    assert r"$\partial^{2} f/\partial x\,\partial y = 1$ everywhere" in svg


def test_taylor_at_of_a_field_is_refused(tmp_path):
    assert "scalar f" in refused(tmp_path, "[-y, x]", "--taylor-at", "x=0,y=0")


def test_taylor_at_off_the_map_is_refused(tmp_path):
    assert "off the map" in refused(tmp_path, "x*y", *GRID, "--taylor-at", "x=10,y=0")


def test_wireframe_without_a_surface_is_refused(tmp_path):
    assert "--kind surface" in refused(tmp_path, "x*y", "--wireframe")


def test_arrows_on_a_surface_are_refused(tmp_path):
    assert "--field" in refused(tmp_path, "x*y", "--kind", "surface", "--field", "quiver")


def test_no_critical_on_a_field_is_refused(tmp_path):
    assert "--no-critical" in refused(tmp_path, "[-y, x]", "--no-critical")


def test_a_size_computed_from_many_panels_is_bounded(tmp_path):
    error = refused(tmp_path, "x*y", "-k", "3", "--width", "300", "--var", "x=-1:1:11j",
                    "--var", "y=-1:1:11j")  # fmt: skip
    assert "100,000,000 pixels" in error


def test_csv_as_parquet_records_the_grid_of_both_variables(tmp_path):
    import json

    import pyarrow.parquet as pq

    table = tmp_path / "t.parquet"
    drawn(tmp_path, "x*y", "--var", "x=0:1:3j", "--var", "y=0:1:2j", "--csv", str(table))
    metadata = pq.read_schema(table).metadata
    assert json.loads(metadata[b"autodiff.variables"]) == ["x", "y"]
    assert json.loads(metadata[b"autodiff.shape"]) == [3, 2]


def test_the_description_names_a_parameter_plainly(tmp_path):
    svg = drawn(tmp_path, "theta_1*x*y", *GRID, "--param", "theta_1=2")
    assert "theta_1 = 2</desc>" in svg
