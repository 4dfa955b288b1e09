"""Tables of several variables in and out: --input's scattered points, Parquet's key-value
metadata, and --format netcdf for grids."""

from __future__ import annotations

import numpy as np
import pytest
from support import invoke, modules_loaded_by

from autodiffcli import readers


def header(result) -> list[str]:
    return result.stdout.splitlines()[0].split(",")


def rows(result) -> list[list[float]]:
    return [[float(v) for v in line.split(",")] for line in result.stdout.splitlines()[1:]]


def refused(result, text: str) -> None:
    """Exit 2 with one line on stderr that holds ``text``, and no table."""
    assert result.exit_code == 2, result.stderr
    assert text in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


# ----- --input with several variables -----


def test_input_with_a_header_gives_one_row_per_point():
    result = invoke("derive", "x*y", "--input", "-", input="x,y\n1,2\n3,4\n5,6\n")
    assert result.exit_code == 0, result.stderr
    assert header(result) == ["x", "y", "f", "f_x", "f_y"]
    assert rows(result) == [[1, 2, 2, 2, 1], [3, 4, 12, 4, 3], [5, 6, 30, 6, 5]]


def test_input_columns_may_come_in_any_order():
    result = invoke("derive", "x - y", "-k", "0", "--input", "-", input="y,x\n1,10\n2,20\n")
    assert header(result) == ["x", "y", "f"]
    assert rows(result) == [[10, 1, 9], [20, 2, 18]]


def test_input_columns_that_name_no_variable_are_ignored(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("label,x,y,f\na,1,2,7\nb,3,4,7\n")
    result = invoke("derive", "x*y", "-k", "0", "--input", str(path))
    assert rows(result) == [[1, 2, 2], [3, 4, 12]]


def test_input_reads_tab_separated_points():
    result = invoke("derive", "x*y", "-k", "0", "--input", "-", input="x\ty\n2\t3\n")
    assert rows(result) == [[2, 3, 6]]


def test_input_without_a_header_is_refused_naming_line_1():
    result = invoke("derive", "x*y", "--input", "-", input="1,2\n3,4\n")
    refused(
        result,
        "stdin line 1 has several values but the file has no header: the first line must "
        "name the variables, e.g. x,y",
    )


def test_input_with_one_value_per_line_is_refused_for_several_variables():
    result = invoke("derive", "x*y", "--input", "-", input="1\n2\n")
    refused(result, "line 1 has '1' but the file has no header")


def test_input_missing_a_variable_names_it():
    result = invoke("derive", "x*y*z", "--input", "-", input="x,y\n1,2\n")
    refused(result, "stdin has no column z: its header names x, y")


def test_input_column_that_var_also_gives_is_refused():
    result = invoke("derive", "x*y", "--var", "y=0:1:0.5", "--input", "-", input="x,y\n1,2\n")
    refused(result, "stdin has a column y, and --var gives y too; give each variable one source")


def test_input_column_that_at_also_gives_is_refused():
    result = invoke("derive", "x*y*z", "--at", "z=1", "--input", "-", input="x,y,z\n1,2,3\n")
    refused(result, "stdin has a column z, and --at gives z too")


def test_input_column_naming_a_parameter_is_refused():
    result = invoke("derive", "a*x*y", "--param", "a=2", "--input", "-", input="x,y,a\n1,2,3\n")
    refused(result, "stdin has a column a, and --param gives a too")


def test_input_with_every_variable_given_elsewhere_is_refused():
    result = invoke(
        "derive", "x*y", "--var", "x=0:1:0.5", "--at", "y=1", "--input", "-", input="x\n1\n"
    )
    refused(result, "--input gives points, but --var x and --at y already give every variable")


def test_input_and_var_for_the_one_variable_are_refused():
    result = invoke("derive", "x^2", "--var", "x=0:1:0.5", "--input", "-", input="1\n")
    refused(result, "--input gives points, but --var x already gives every variable of f")


def test_input_points_and_a_var_axis_make_a_product():
    result = invoke(
        "derive", "x*y", "-k", "0", "--var", "y=0:2:1", "--input", "-", input="x\n1\n5\n"
    )
    assert header(result) == ["y", "x", "f"]
    assert rows(result) == [[0, 1, 0], [1, 1, 1], [0, 5, 0], [1, 5, 5]]


def test_input_of_the_one_variable_left_free_by_at_may_hold_one_value_per_line():
    result = invoke("derive", "x*y", "-k", "0", "--at", "y=3", "--input", "-", input="1\n2\n")
    assert rows(result) == [[1, 3, 3], [2, 3, 6]]


def test_input_with_a_parameter_keeps_it_out_of_the_columns():
    result = invoke("derive", "a*x*y", "--param", "a=2", "--input", "-", input="x,y\n1,3\n")
    assert header(result) == ["x", "y", "f", "f_x", "f_y"]
    assert rows(result) == [[1, 3, 6, 6, 2]]


def test_input_declared_variable_comes_from_its_column():
    result = invoke("derive", "u*v", "-k", "0", "--var", "u", "--var", "v", "--input", "-",
                    input="v,u\n2,3\n")  # fmt: skip
    assert header(result) == ["u", "v", "f"]
    assert rows(result) == [[3, 2, 6]]


def test_input_bad_value_names_its_line_and_variable():
    result = invoke("derive", "x*y", "--input", "-", input="x,y\n1,2\n3,inf\n")
    refused(result, "stdin line 3: y must be finite, got 'inf'")


def test_input_value_beyond_float32_names_its_line_and_variable():
    result = invoke(
        "derive", "x*y", "--dtype", "float32", "--input", "-", input="x,y\n1,2\n1e39,1\n"
    )
    refused(result, "stdin line 3: x = 1e+39 is beyond float32's largest value")


def test_input_row_with_a_missing_value_names_its_line():
    result = invoke("derive", "x*y", "--input", "-", input="x,y\n1,2\n3\n")
    refused(result, "stdin line 3 has no value for y")


def test_input_past_max_points_is_refused_naming_the_line():
    result = invoke(
        "derive", "x*y", "--max-points", "2", "--input", "-", input="x,y\n1,2\n3,4\n5,6\n"
    )
    refused(result, "stdin holds more than --max-points 2 points (stopped reading at line 4)")


def test_input_too_large_for_the_memory_budget_is_refused_with_the_count(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x,y\n" + "1,2\n" * 40_000)
    result = invoke("derive", "x*y", "--max-memory", str(2**20), "--input", str(path))
    refused(result, "holds at least 40,000 points of 2 variables")


def test_a_long_file_over_the_memory_budget_is_refused_from_its_size(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x,y\n" + "1,2\n" * 3_000_000)  # 12 MB: refused after the first slice
    with pytest.raises(readers.GridError, match=r"holds about (2,99|3,00)\d,\d\d\d points"):
        readers.read_points(str(path), ["x", "y"], 10**9, 64 * 2**20)


def test_a_header_naming_a_variable_twice_is_refused():
    result = invoke("derive", "x*y", "--input", "-", input="x,y,x\n1,2,3\n")
    refused(result, "stdin line 1 names the column x twice")


def test_an_empty_input_asks_for_a_header():
    result = invoke("derive", "x*y", "--input", "-", input="\n\n")
    refused(result, "stdin is empty; give a header such as x,y, then one point per line")


def test_a_header_without_points_is_refused():
    result = invoke("derive", "x*y", "--input", "-", input="x,y\n")
    refused(result, "stdin has a header but no points")


def test_long_slices_parsed_by_polars_equal_the_line_by_line_reading(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    values = rng.normal(size=(readers.POLARS_ROWS + 7, 2)) * 10.0 ** rng.integers(-300, 300, 2)
    path = tmp_path / "points.csv"
    path.write_text("y,note,x\n" + "".join(f"{b!r},n,{a!r}\n" for a, b in values.tolist()))
    fast = readers.read_points(str(path), ["x", "y"], 10**9, 2**30)
    monkeypatch.setattr(readers, "POLARS_ROWS", 10**9)
    careful = readers.read_points(str(path), ["x", "y"], 10**9, 2**30)
    assert np.array_equal(fast["x"], values[:, 0]) and np.array_equal(fast["y"], values[:, 1])
    assert np.array_equal(careful["x"], fast["x"]) and np.array_equal(careful["y"], fast["y"])


def test_a_long_slice_with_a_bad_line_is_explained_by_the_line_by_line_reading(tmp_path):
    path = tmp_path / "points.csv"
    lines = ["1,2"] * readers.POLARS_ROWS
    lines[5000] = "1,2,3"
    path.write_text("x,y\n" + "\n".join(lines) + "\n")
    with pytest.raises(readers.GridError, match="line 5002: '1,2,3' has 3 fields"):
        readers.read_points(str(path), ["x", "y"], 10**9, 2**30)


def test_one_variable_input_is_read_as_before():
    result = invoke("derive", "x^2", "-k", "0", "--input", "-", input="t,x\n0,3\n1,4\n")
    assert rows(result) == [[3, 9], [4, 16]]


def test_a_refused_input_answers_before_torch_loads():
    loaded = modules_loaded_by("derive", "x*y", "--input", "-", exit_code=2, input="x\n1\n")
    assert "torch" not in loaded
