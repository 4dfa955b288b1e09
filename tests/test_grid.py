"""Sample grids: counts, exact points, and the errors for unusable ranges and inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autodiffcli import domain, readers
from autodiffcli.errors import GridError
from autodiffcli.limits import DEFAULT_MAX_POINTS

LIMIT = DEFAULT_MAX_POINTS


def points(g) -> np.ndarray:
    return torch.cat(list(g.chunks(7, torch.float64, "cpu"))).numpy()


def test_step_grid_excludes_stop_like_arange():
    assert len(domain.from_range(-5, 5, 0.01, LIMIT)) == 1000


def test_step_grid_count_is_robust_to_rounding():
    assert len(domain.from_range(0, 1, 0.1, LIMIT)) == 10
    assert len(domain.from_range(0, 0.3, 0.1, LIMIT)) == 3  # 0.3/0.1 = 2.9999999999999996


def test_step_grid_has_no_accumulated_drift():
    g = domain.from_range(0, 1000, 0.1, LIMIT)
    expected = 0 + np.arange(len(g)) * 0.1
    np.testing.assert_array_equal(points(g), expected)


def test_negative_step_counts_down():
    np.testing.assert_array_equal(
        points(domain.from_range(1, 0, -0.25, LIMIT)), [1, 0.75, 0.5, 0.25]
    )


def test_num_grid_includes_both_ends_exactly():
    x = points(domain.from_num(-1, 0.3, 11, LIMIT))
    assert x[0] == -1 and x[-1] == 0.3 and len(x) == 11


@pytest.mark.parametrize(
    ("start", "stop", "step", "words"),
    [
        (0, 1, 0, "must not be zero"),
        (0, 1, -0.1, "goes away from stop"),
        (1, 1, 0.1, "range is empty"),
        (float("nan"), 1, 0.1, "^start must be a finite number"),
        (0, float("inf"), 0.1, "^stop must be a finite number"),
        (0, 1, float("inf"), "^step must be a finite number"),
    ],
)
def test_bad_ranges_are_rejected(start, stop, step, words):
    with pytest.raises(GridError, match=words):
        domain.from_range(start, stop, step, LIMIT)


def test_max_points_message_gives_the_count_and_the_flag():
    with pytest.raises(GridError, match=r"1,000,001 points, more than max_points 1,000,000"):
        domain.from_range(0, 1000001, 1, 1_000_000)


def test_values_one_per_line():
    assert list(readers.parse_values("1\n2.5\n-3e2\n")) == [1.0, 2.5, -300.0]


def test_values_with_blank_lines_and_spaces():
    assert list(readers.parse_values("1\n  2.5 \n\n-3e2\n")) == [1.0, 2.5, -300.0]


def test_two_numbers_on_a_line_name_the_line():
    with pytest.raises(GridError, match="line 2: '2 3' is not a number"):
        readers.parse_values("1\n2 3\n")


def test_values_from_csv_use_the_x_column():
    assert list(readers.parse_values("t,x,y\n0,1.5,9\n1,2.5,9\n")) == [1.5, 2.5]


def test_values_from_headed_csv_without_x_use_the_first_column():
    assert list(readers.parse_values("a,b\n4,5\n6,7\n")) == [4.0, 6.0]


def test_non_numeric_input_names_the_line():
    with pytest.raises(GridError, match=r"line 3: 'abc' is not a number"):
        readers.parse_values("1\n2\nabc\n")


def test_non_finite_input_is_rejected():
    with pytest.raises(GridError, match="line 2: x must be finite"):
        readers.parse_values("1\nnan\n")


def test_missing_input_file(tmp_path):
    with pytest.raises(GridError, match="not found"):
        domain.from_input(str(tmp_path / "nope.txt"), LIMIT)


def test_empty_input():
    with pytest.raises(GridError, match="empty"):
        readers.parse_values("\n\n")


def test_input_that_is_a_directory_is_rejected(tmp_path):
    with pytest.raises(GridError, match="is a directory"):
        domain.from_input(str(tmp_path), LIMIT)


def test_input_csv_with_too_few_columns_names_the_line():
    with pytest.raises(GridError, match="line 3 has no column 2"):
        readers.parse_values("a,x\n1,2\n3\n")


@pytest.mark.parametrize(
    "g",
    [
        domain.from_range(-5, 5, 0.01, LIMIT),
        domain.from_num(-1, 0.3, 1001, LIMIT),
        domain.from_values([3.0, -1.5, 2.25], LIMIT),
    ],
)
def test_take_gives_exactly_the_points_the_chunks_give(g):
    indices = np.array([0, 1, len(g) // 2, len(g) - 1])
    np.testing.assert_array_equal(g.take(indices), points(g)[indices])


# ----- Issue 20: --input parsed a slice at a time -----


@pytest.fixture
def small_slices(monkeypatch):
    from autodiffcli import readers

    monkeypatch.setattr(readers, "PARSE_SLICE_BYTES", 64)
    return readers


def test_input_parsed_in_slices_gives_the_values_of_one_parse(small_slices):
    values = np.random.default_rng(7).standard_normal(500) * 10.0 ** np.arange(-250, 250)
    text = "\ufeff" + "\r\n".join(map(repr, values.tolist())) + "\n"
    parsed = small_slices.parse_values(text)
    np.testing.assert_array_equal(parsed, values)


@pytest.mark.parametrize(
    ("bad", "message"),
    [("2,5", "line 301: '2,5' has a comma"), ("\ufeff2", "line 301:"), ("two", "line 301:")],
)
def test_a_bad_line_in_a_later_slice_is_named_by_its_line(small_slices, bad, message):
    lines = [repr(float(i)) for i in range(1, 501)]
    lines[300] = bad
    with pytest.raises(GridError, match=message):
        small_slices.parse_values("\n".join(lines) + "\n", "input")


# ----- Issue 20: a long --input streams; a short one is read whole -----


def _write_lines(path, count: int):
    path.write_text("".join(f"{i}\n" for i in range(count)))
    return str(path)


def test_a_short_input_is_read_whole_into_a_grid(small_slices, tmp_path):
    read = domain.from_input(_write_lines(tmp_path / "x.txt", 3), LIMIT)
    assert isinstance(read, domain.Grid) and list(read.values) == [0.0, 1.0, 2.0]


def test_a_long_input_streams_its_values_in_the_order_read(small_slices, tmp_path):
    read = domain.from_input(_write_lines(tmp_path / "x.txt", 500), LIMIT)
    assert isinstance(read, domain.StreamedValues)
    np.testing.assert_array_equal(points(read), np.arange(500.0))


def test_a_streamed_input_can_be_read_only_once(small_slices, tmp_path):
    read = domain.from_input(_write_lines(tmp_path / "x.txt", 500), LIMIT)
    points(read)
    with pytest.raises(RuntimeError, match="only once"):
        points(read)


def test_a_streamed_domain_has_no_length_but_an_estimate_from_the_file_size(small_slices, tmp_path):
    from autodiffcli import job

    path = tmp_path / "x.txt"
    path.write_text("".join(f"{i % 10}\n" for i in range(500)))  # 2 bytes a line
    problem = job.prepare("x", input_path=str(path), stream=True)
    assert problem.domain.streamed and problem.domain.count is None
    assert problem.domain.expected == 500


def test_commands_that_hold_the_table_read_a_long_input_whole(small_slices, tmp_path):
    from autodiffcli import job

    problem = job.prepare("x", input_path=_write_lines(tmp_path / "x.txt", 500))
    assert not problem.domain.streamed and len(problem.domain) == 500
