"""The reliability reproducers of issue 9 through the CLI (the library-level suite is
tests/test_reliability.py).

Every case gives exit 2 (user error) or 1 (I/O) with one line on stderr, or succeeds, and no
case damages a device, a link or a file.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import invoke, run_cli

# /dev/zero and an over-long line must be refused within this (the process included).
GIVE_UP_SECONDS = 15.0
# A subprocess that writes a big table gets this long to start writing before the signal.
START_SECONDS = 60.0

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root (os.mknod)")


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "internal error" not in result.stderr
    return result.stderr


# ----- Grids whose points overflow -----


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "-1e308", "--stop", "1e308", "--num", "3"],
        ["--step", "5e-324"],
        ["--start", "-1e308", "--stop", "1e308", "--step", "1e300"],
        ["--num", "99999999999999999999", "--max-points", "1e300"],
    ],
)
def test_a_grid_whose_points_overflow_is_a_user_error(args):
    one_line_error(invoke("derive", *args))


# ----- Input -----


def test_a_lone_carriage_return_in_stdin_names_its_line():
    assert "stdin line 2" in one_line_error(invoke("derive", "--input", "-", input="x\n1\r2\n"))


def test_a_byte_order_mark_keeps_the_first_value(tmp_path):
    source = tmp_path / "x.csv"
    source.write_bytes(b"\xef\xbb\xbfx\r\n0.5\r\n1.5\r\n")
    result = invoke("derive", "x", "-k", "0", "--input", str(source))
    assert result.exit_code == 0 and result.stdout.splitlines()[1:] == ["0.5,0.5", "1.5,1.5"]


def test_a_line_over_the_csv_field_limit_is_a_user_error(tmp_path):
    source = tmp_path / "x.txt"
    source.write_text("1" * 131_073 + "\n")
    assert "line 1 is longer" in one_line_error(invoke("derive", "--input", str(source)))


def test_dev_zero_with_max_points_10_is_refused_quickly():
    began = time.monotonic()
    result = run_cli("derive", "--input", "/dev/zero", "--max-points", "10")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert time.monotonic() - began < GIVE_UP_SECONDS


# ----- Outputs -----


@as_root
def test_derive_output_to_a_device_node_keeps_the_device(tmp_path):
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    assert invoke("derive", "--num", "3", "-o", str(node), "--format", "csv").exit_code == 0
    assert stat.S_ISCHR(os.stat(node).st_mode)


@as_root
def test_explain_dot_to_a_device_node_keeps_the_device(tmp_path):
    node = tmp_path / "full"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    assert invoke("explain", "--points", "2", "--dot", str(node)).exit_code == 0
    assert stat.S_ISCHR(os.stat(node).st_mode)


def test_derive_output_through_a_symlink_keeps_the_link(tmp_path):
    target = tmp_path / "data.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert invoke("derive", "--num", "3", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and target.read_text().startswith("x,f,df\n")


def test_derive_to_dev_stdout_prints_the_table():
    result = run_cli("derive", "--num", "2", "-o", "/dev/stdout")
    assert result.returncode == 0 and result.stdout.startswith("x,f,df\n")


# ----- Signals -----


def _start_big_write(folder: Path, name: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "autodiffcli", "derive", "--num", "100000000"]
    process = subprocess.Popen(
        [*command, "-o", str(folder / name)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + START_SECONDS
    while not any(p.stat().st_size for p in folder.glob("*.partial")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    return process


def test_sighup_during_derive_output_exits_129_and_leaves_no_partial_file(tmp_path):
    process = _start_big_write(tmp_path, "big.csv")
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=START_SECONDS)
    assert process.returncode == 129 and stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_sigint_during_a_parquet_write_prints_one_line(tmp_path):
    process = _start_big_write(tmp_path, "big.parquet")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=START_SECONDS)
    assert process.returncode == 130
    assert "Exception ignored" not in stderr and stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# ----- Expressions -----


def test_python_syntax_warnings_do_not_reach_stderr():
    result = run_cli("derive", "--", "1if x else 2")
    assert result.returncode == 2 and "SyntaxWarning" not in result.stderr


def test_control_characters_are_not_echoed_raw():
    result = invoke("derive", "sin(x)\x1b]0;T\x07")
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_sin_x_gets_a_hint_in_words():
    assert "did you mean sin(x)?" in invoke("derive", "sin x").stderr


# ----- Random option values never reach "internal error" -----

NUMBERS = st.sampled_from(
    [
        "0",
        "-0",
        "1",
        "-1",
        "2.5",
        "1e400",
        "-1e400",
        "5e-324",
        "1e308",
        "-1e308",
        "nan",
        "inf",
        "-inf",
        "99999999999999999999",
        "abc",
        "",
        " ",
        "1_0",
        "0x10",
        "\x00",
        "é",
    ]
)
OPTIONS = st.sampled_from(
    ["--start", "--stop", "--step", "--num", "--max-points", "--order", "--rtol", "--atol"]
)
SMALL_MAX_POINTS = st.sampled_from(["0", "-1", "nan", "inf", "1e400", "abc", "10", "500"])
CHOICES = st.sampled_from(
    [
        ["--dtype", "float16"],
        ["--dtype", "float32"],
        ["--device", "cpu\n"],
        ["--device", "cuda:99"],
        ["--format", "xml"],
        ["--input", "/dev/zero"],
        ["--input", "/nonexistent"],
        ["--input", "/"],
        ["-o", "/nonexistent/x.csv"],
        ["-o", "/dev/null"],
        ["--check"],
        [],
    ]
)
EXPRESSIONS = st.sampled_from(
    ["sin(x)", "x", "1/x", "log(x)", "sin x", "ln(x)", "|x|", "", "x" * 10_001]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    expression=EXPRESSIONS,
    options=st.lists(st.tuples(OPTIONS, NUMBERS), max_size=4),
    max_points=SMALL_MAX_POINTS,
    choice=CHOICES,
)
def test_random_option_values_never_produce_an_internal_error(
    expression, options, max_points, choice
):
    args = [arg for pair in options for arg in pair]
    result = invoke("derive", *args, "--max-points", max_points, *choice, "--", expression)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.exit_code in (0, 1, 2), result.stderr
