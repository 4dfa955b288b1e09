"""Tables of several variables in and out: --input's scattered points, Parquet's key-value
metadata, and --format netcdf for grids."""

from __future__ import annotations

import numpy as np
import pytest
from support import invoke, modules_loaded_by

from autodiffcli import netcdf, readers


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
    args = ["u*v", "-k", "0", "--var", "u", "--var", "v", "--input", "-"]
    result = invoke("derive", *args, input="v,u\n2,3\n")
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


# ----- Parquet's key-value metadata -----


def parquet_metadata(path) -> dict[str, str]:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    return {key.decode(): value.decode() for key, value in metadata.items()}


def test_parquet_of_several_variables_records_the_grid_in_its_metadata(tmp_path):
    import json

    path = tmp_path / "t.parquet"
    args = ["x*exp(-x^2-y^2)", "--var", "x=-2:2:0.5", "--var", "y=-1:1:5j", "-k", "2"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    metadata = {key: json.loads(value) for key, value in parquet_metadata(path).items()}
    assert metadata == {
        "autodiff.expression": "x*exp(-x^2-y^2)",
        "autodiff.variables": ["x", "y"],
        "autodiff.gridded": True,
        "autodiff.factors": [["x"], ["y"]],
        "autodiff.shape": [8, 5],
        "autodiff.order": 2,
        "autodiff.parameters": {},
        "autodiff.columns": ["x", "y", "f", "f_x", "f_y", "f_xx", "f_xy", "f_yy"],
    }


def test_parquet_metadata_gives_the_parameters_and_their_values(tmp_path):
    path = tmp_path / "t.parquet"
    args = ["a*x*y", "--param", "a=2.5", "--var", "x=0:1:3j", "--var", "y=0:1:2j"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    assert parquet_metadata(path)["autodiff.parameters"] == '{"a": 2.5}'


def test_parquet_metadata_of_scattered_points_says_they_are_no_grid(tmp_path):
    path = tmp_path / "t.parquet"
    args = ["x*y*z", "--var", "z=0:1:3j", "--input", "-", "-q", "-o", str(path)]
    result = invoke("derive", *args, input="x,y\n1,2\n3,4\n")
    assert result.exit_code == 0, result.stderr
    metadata = parquet_metadata(path)
    assert metadata["autodiff.gridded"] == "false"
    assert metadata["autodiff.variables"] == '["z", "x", "y"]'
    assert metadata["autodiff.factors"] == '[["z"], ["x", "y"]]'
    assert metadata["autodiff.shape"] == "[3, 2]"


def test_parquet_of_one_variable_has_no_metadata(tmp_path):
    path = tmp_path / "t.parquet"
    assert invoke("derive", "sin(x)", "--num", "5", "-q", "-o", str(path)).exit_code == 0
    assert parquet_metadata(path) == {}


# ----- --format netcdf -----

needs_netcdf = pytest.mark.skipif(not netcdf.available(), reason="h5netcdf not installed")


def read_netcdf(path) -> dict:
    """Dimensions, variables with their dimensions and values, and attributes, as h5netcdf
    reads them."""
    import h5netcdf

    with h5netcdf.File(path, "r") as file:
        return {
            "dims": {name: len(dim) for name, dim in file.dimensions.items()},
            "variables": {
                name: (variable.dimensions, variable[...])
                for name, variable in file.variables.items()
            },
            "attrs": dict(file.attrs),
        }


@needs_netcdf
def test_netcdf_holds_each_column_on_the_grid_of_its_variables(tmp_path):
    from autodiffcli.api import derive

    path = tmp_path / "t.nc"
    args = ["x*exp(-x^2-y^2)", "--var", "x=-2:2:0.5", "--var", "y=-1:1:5j", "-k", "2"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    table = derive("x*exp(-x^2-y^2)", var={"x": "-2:2:0.5", "y": "-1:1:5j"}, order=2)
    found = read_netcdf(path)
    assert found["dims"] == {"x": 8, "y": 5}
    assert found["variables"]["x"][0] == ("x",)
    assert found["variables"]["x"][1].tolist() == table["x"][:8].tolist()
    assert found["variables"]["y"][1].tolist() == table["y"][::8].tolist()
    for name in ("f", "f_x", "f_y", "f_xx", "f_xy", "f_yy"):
        dims, values = found["variables"][name]
        assert dims == ("y", "x")
        assert np.array_equal(values, table[name].reshape(5, 8))


@needs_netcdf
def test_netcdf_attributes_give_the_expression_order_and_parameters(tmp_path):
    path = tmp_path / "t.nc"
    args = ["a*x*y", "--param", "a=2.5", "--var", "x=0:1:3j", "--var", "y=0:1:2j", "-k", "2"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    attrs = read_netcdf(path)["attrs"]
    assert attrs["expression"] == "a*x*y"
    assert attrs["order"] == 2
    assert attrs["parameters"] == '{"a": 2.5}'


@needs_netcdf
def test_netcdf_opens_in_xarray_as_f_of_y_and_x(tmp_path):
    xarray = pytest.importorskip("xarray")
    path = tmp_path / "t.nc"
    args = ["x*y", "--var", "x=0:1:3j", "--var", "y=0:1:2j"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    with xarray.open_dataset(path) as data:
        assert data["f"].dims == ("y", "x")
        assert data["f"].sel(x=1.0, y=1.0).item() == 1.0
        assert data.attrs["expression"] == "x*y"


@needs_netcdf
def test_netcdf_of_three_variables_in_float32_keeps_the_dtype(tmp_path):
    path = tmp_path / "t.nc"
    args = ["x*y*z", "--var", "x=0:1:3j", "--var", "y=0:1:4j", "--var", "z=0:1:2j"]
    result = invoke("derive", *args, "--dtype", "float32", "-q", "-o", str(path))
    assert result.exit_code == 0, result.stderr
    dims, values = read_netcdf(path)["variables"]["f_z"]
    assert dims == ("z", "y", "x") and values.dtype == np.float32 and values.shape == (2, 4, 3)


@needs_netcdf
def test_netcdf_of_one_variable_has_one_dimension(tmp_path):
    path = tmp_path / "t.nc"
    assert invoke("derive", "sin(x)", "--num", "5", "-q", "-o", str(path)).exit_code == 0
    found = read_netcdf(path)
    assert found["dims"] == {"x": 5}
    assert found["variables"]["df"][0] == ("x",)


@needs_netcdf
def test_netcdf_takes_a_variable_fixed_at_one_value_as_a_dimension_of_one(tmp_path):
    path = tmp_path / "t.nc"
    args = ["x*y", "--var", "x=0:1:3j", "--at", "y=2"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    found = read_netcdf(path)
    assert found["dims"] == {"x": 3, "y": 1}
    assert found["variables"]["f"][1].tolist() == [[0.0, 1.0, 2.0]]


@needs_netcdf
def test_netcdf_written_in_many_chunks_equals_the_table(tmp_path):
    from autodiffcli import writers

    x, y = np.meshgrid(np.arange(7.0), np.arange(5.0))
    x, y, f = x.ravel(), y.ravel(), (x * 10 + y).ravel()
    path = tmp_path / "t.nc"
    about = {"variables": ["x", "y"], "shape": [7, 5]}
    with writers.atomic_output(path) as handle:
        writer = netcdf.NetcdfWriter(handle, ["x", "y", "f"], about)
        for begin, end in [(0, 3), (3, 4), (4, 16), (16, 33), (33, 35)]:
            writer.write([x[begin:end], y[begin:end], f[begin:end]])
        writer.close()
    found = read_netcdf(path)["variables"]
    assert found["x"][1].tolist() == list(range(7)) and found["y"][1].tolist() == list(range(5))
    assert np.array_equal(found["f"][1], f.reshape(5, 7))


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), (3, 1, 2, 2)])
def test_hyperslabs_cover_a_flat_range_in_order(shape):
    from autodiffcli.netcdf import hyperslabs

    total = int(np.prod(shape))
    for begin in range(total):
        for end in range(begin + 1, total + 1):
            filled = np.full(shape, -1)
            boxes = list(hyperslabs(shape, begin, end))
            assert len(boxes) <= 2 * len(shape) - 1
            assert [low for _, low, _ in boxes] == [begin] + [high for _, _, high in boxes][:-1]
            for box, low, high in boxes:
                sizes = tuple(part.stop - part.start for part in box)
                filled[box] = np.arange(low, high).reshape(sizes)
            assert filled.ravel()[begin:end].tolist() == list(range(begin, end))
            assert (np.delete(filled.ravel(), range(begin, end)) == -1).all()


@needs_netcdf
def test_netcdf_of_scattered_input_points_is_refused(tmp_path):
    path = tmp_path / "t.nc"
    result = invoke("derive", "x*y", "--input", "-", "-o", str(path), input="x,y\n1,2\n3,4\n")
    assert result.exit_code == 2
    assert "netcdf holds a grid" in result.stderr and "write csv or parquet" in result.stderr
    assert not path.exists()


@needs_netcdf
def test_netcdf_of_at_with_several_values_is_refused(tmp_path):
    path = tmp_path / "t.nc"
    result = invoke("derive", "x*y", "--at", "x=1,y=2", "--at", "x=2,y=3", "-o", str(path))
    assert result.exit_code == 2 and "these points are scattered" in result.stderr


@needs_netcdf
def test_netcdf_of_taylor_series_is_refused(tmp_path):
    result = invoke("derive", "sin(x)", "--taylor-at", "0", "-o", str(tmp_path / "t.nc"))
    assert result.exit_code == 2 and "--taylor-at writes series" in result.stderr


@needs_netcdf
def test_netcdf_on_stdout_is_refused_before_torch_loads():
    loaded = modules_loaded_by("derive", "x*y", "-f", "netcdf", exit_code=2)
    assert "torch" not in loaded
    result = invoke("derive", "x*y", "-f", "netcdf")
    refused(result, "--format netcdf writes a file, not stdout: give --output FILE.nc")


@needs_netcdf
def test_netcdf_to_a_device_is_refused():
    result = invoke("derive", "x*y", "-f", "netcdf", "-o", "/dev/null")
    refused(result, "is not a regular file, and netCDF is written by seeking")


def test_netcdf_without_h5netcdf_asks_for_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(netcdf, "available", lambda: False)
    result = invoke("derive", "x*y", "-o", str(tmp_path / "t.nc"))
    extra = "pip install 'autodiffcli[netcdf]'"
    refused(result, f"--format netcdf needs h5netcdf, an optional extra: {extra}")
    assert not (tmp_path / "t.nc").exists()


@needs_netcdf
def test_a_failed_netcdf_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "t.nc"
    path.write_bytes(b"old")
    written = netcdf.NetcdfWriter.write

    def write_then_fail(self, columns):
        written(self, columns)  # the HDF5 file is open and holds data when the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(netcdf.NetcdfWriter, "write", write_then_fail)
    result = invoke("derive", "x*y", "--var", "x=0:1:3j", "--var", "y=0:1:2j", "-o", str(path))
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert path.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [path]


def test_parquet_metadata_order_is_the_highest_order_the_columns_hold(tmp_path):
    path = tmp_path / "t.parquet"
    args = ["x^2+y^2", "--laplacian", "--var", "x=0:1:3j", "--var", "y=0:1:2j"]
    assert invoke("derive", *args, "-q", "-o", str(path)).exit_code == 0
    assert parquet_metadata(path)["autodiff.order"] == "2"


def test_netcdf_of_scattered_points_is_refused_before_torch_loads():
    loaded = modules_loaded_by(
        "derive", "x*y", "--input", "-", "-o", "t.nc", exit_code=2, input="x,y\n1,2\n"
    )
    assert "torch" not in loaded
