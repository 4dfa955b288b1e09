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
from support import invoke, modules_loaded_by, run_cli

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


# ----- Issue 20: runs that stay bounded and clean -----

# A check whose references take about 20 s here (sympy differentiates a nest 8 times).
SLOW_CHECK = ["derive", "sin(sin(sin(sin(sin(sin(x))))))", "-k", "8", "--num", "3", "--check"]


def _forks(pid: int) -> list[int]:
    """The children of ``pid`` that are forks of it (same command line): its checkers, not
    the short-lived helpers that imports may start."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                same = (entry / "cmdline").read_bytes() == command
            except OSError:
                continue
            if int(fields[1]) == pid and same:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_check_with_its_checker() -> tuple[subprocess.Popen, list[int]]:
    """A --check whose references would take 1,000 s, once a forked checker has worked for
    half a second (the numerical reference of 3 points may finish sooner)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "autodiffcli", *SLOW_CHECK, "--check-timeout", "1000", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + START_SECONDS
    while not _forks(process.pid):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    checkers = _forks(process.pid)
    assert checkers and process.poll() is None
    return process, checkers


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)]
)
def test_a_signal_during_check_ends_the_run_and_its_checker_within_a_second(signum, code):
    process, checkers = _start_check_with_its_checker()
    process.send_signal(signum)
    assert _gone_within(checkers, 2.0)  # not after the references' 1,000 s budget
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == code and stderr.count("\n") == 1, stderr


def test_the_checker_dies_with_a_main_process_killed_outright():
    process, checkers = _start_check_with_its_checker()
    process.kill()
    process.wait()
    assert _gone_within(checkers, 2.0)


def test_a_check_timeout_beyond_a_day_is_refused_up_front():
    result = invoke("derive", "--num", "3", "--check", "--check-timeout", "3e6")
    assert "at most 86,400 seconds" in one_line_error(result)


def test_ctrl_c_while_the_command_line_loads_is_one_line_not_a_traceback():
    script = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'typer':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from autodiffcli.launch import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 130
    assert done.stderr == "Error: interrupted\n"


@pytest.mark.parametrize("lines", ["1,5\n2,5\n", "1\n2,5\n"])
def test_a_decimal_comma_in_one_value_per_line_input_is_an_error_naming_the_line(lines):
    result = invoke("derive", "x", "--input", "-", "-k", "0", input=lines)
    line = lines.splitlines().index(next(li for li in lines.splitlines() if "," in li)) + 1
    message = one_line_error(result)
    assert f"line {line}:" in message and "decimal comma" in message
    assert result.stdout == ""


def test_a_decimal_comma_after_a_one_column_header_is_an_error_naming_the_line():
    result = invoke("derive", "x", "--input", "-", "-k", "0", input="x\n1\n1,5\n")
    message = one_line_error(result)
    assert "line 3: '1,5' has 2 fields but the header has 1" in message
    assert "decimal comma" in message and result.stdout == ""


def test_several_columns_with_a_header_are_still_read():
    result = invoke("derive", "x", "--input", "-", "-k", "0", input="x,y\n1,5\n2,5\n")
    assert result.exit_code == 0 and result.stdout == "x,f\n1.0,1.0\n2.0,2.0\n"


def test_a_taylor_point_beyond_float32_is_refused_like_a_start():
    result = invoke("derive", "sin(x)", "--taylor-at", "1e39", "--dtype", "float32")
    assert "beyond float32's largest value" in one_line_error(result)


def test_show_with_a_display_that_does_not_answer_is_refused(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":97")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = invoke("plot", "--show")
    assert "no window system at DISPLAY=':97'" in one_line_error(result)


def test_output_onto_a_loop_of_symlinks_is_refused_and_the_links_stay(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    result = invoke("derive", "--num", "3", "-o", str(tmp_path / "a.csv"))
    assert "loop of symbolic links" in one_line_error(result)
    assert (tmp_path / "a.csv").is_symlink() and (tmp_path / "b.csv").is_symlink()


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "--graph", "/proc/version.png"],
        ["explain", "--dot", "/proc/autodiff-test.dot"],
        ["plot", "-o", "/proc/nope.png"],
        ["derive", "-o", "/proc/nope.csv"],
    ],
)
def test_an_output_in_a_folder_that_takes_no_files_is_refused_before_the_work(args):
    result = invoke(*args)
    assert "cannot create a file in folder '/proc'" in one_line_error(result)


def test_the_max_memory_message_states_the_limit_it_applies():
    assert "1048576 bytes" in one_line_error(invoke("derive", "--max-memory", "1e6"))
    assert invoke("derive", "--num", "3", "--max-memory", "1048576").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [["plot", "-o", "x.xyz"], ["plot", "--dpi", "nan"], ["plot", "--input", "-"]],
)
def test_a_rejected_plot_does_not_load_matplotlib(args):
    loaded = modules_loaded_by(*args, exit_code=2, input="1\n2\nthree\n")
    assert "matplotlib" not in loaded


# ----- Issue 20: a long --input is streamed chunk by chunk -----


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 64 bytes, so that a few hundred lines stream as a long input does."""
    from autodiffcli import readers

    monkeypatch.setattr(readers, "PARSE_SLICE_BYTES", 64)


def _lines_with_a_bad_one(count: int, bad_line: int, bad: str = "abc") -> str:
    lines = [repr(float(i)) for i in range(1, count + 1)]
    lines[bad_line - 1] = bad
    return "\n".join(lines) + "\n"


def test_a_bad_line_after_rows_went_out_keeps_them_on_stdout_and_says_how_many(small_slices):
    result = invoke("derive", "x", "-k", "0", "--input", "-", input=_lines_with_a_bad_one(300, 251))
    message = one_line_error(result)
    assert "stdin line 251: 'abc' is not a number" in message
    assert "the 250 rows before it were written to stdout" in message
    rows = result.stdout.splitlines()
    assert rows[0] == "x,f" and rows[1:] == [f"{float(i)!r},{float(i)!r}" for i in range(1, 251)]


def test_a_bad_line_after_rows_went_out_leaves_the_output_file_as_it_was(small_slices, tmp_path):
    out = tmp_path / "table.csv"
    out.write_text("kept\n")
    text = _lines_with_a_bad_one(300, 251)
    result = invoke("derive", "x", "--input", "-", "-o", str(out), input=text)
    assert f"{out} is left as it was" in one_line_error(result)
    assert out.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_bad_line_in_the_slices_read_up_front_writes_nothing(small_slices):
    result = invoke("derive", "x", "--input", "-", input=_lines_with_a_bad_one(300, 5))
    message = one_line_error(result)
    assert "stdin line 5: 'abc' is not a number" in message and "rows before" not in message
    assert result.stdout == ""


def test_a_value_beyond_float32_late_in_a_streamed_input_names_its_line(small_slices):
    text = _lines_with_a_bad_one(300, 280, "1e39")
    result = invoke("derive", "x", "--input", "-", "--dtype", "float32", input=text)
    message = one_line_error(result)
    assert "stdin line 280: x = 1e+39 is beyond float32's largest value" in message
    assert "the 279 rows before it" in message


def test_a_streamed_input_past_max_points_stops_at_the_limit(small_slices):
    text = "\n".join(map(str, range(1, 301))) + "\n"
    result = invoke("derive", "x", "-k", "0", "--input", "-", "--max-points", "200", input=text)
    message = one_line_error(result)
    assert "more than --max-points 200 x values (stopped reading at line 201)" in message
    assert len(result.stdout.splitlines()) == 201


def test_a_streamed_input_gives_the_table_of_the_same_values_given_whole(small_slices):
    values = [i / 7 for i in range(-150, 150)]
    text = "x,y\n" + "".join(f"{x!r},{i}\n" for i, x in enumerate(values))
    result = invoke("derive", "sin(x)", "--input", "-", input=text)
    assert result.exit_code == 0, result.stderr
    from autodiffcli import api

    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert [float(row[2]) for row in rows] == api.derive("sin(x)", values)["df"].tolist()


def test_check_of_a_streamed_input_samples_it_with_both_ends(small_slices):
    text = "\n".join(repr(i / 100) for i in range(1, 501)) + "\n"
    result = invoke(
        "derive", "sin(x)", "--input", "-", "--check", "--check-points", "7", input=text
    )
    assert result.exit_code == 0, result.stderr
    assert "symbolic         7" in result.stderr


@pytest.fixture
def tiny_graph_budget(monkeypatch):
    """Chunks of 16 points and a work budget of 10 chunks' graphs."""
    from autodiffcli.engines import reverse

    monkeypatch.setattr(reverse, "chunk_points_for", lambda *args, **kwargs: 16)
    monkeypatch.setattr(reverse, "MAX_GRAPH_WORK", 0)
    original = reverse.check_graph_work

    def ten_chunks(nodes, points, chunk):
        monkeypatch.setattr(reverse, "MAX_GRAPH_WORK", nodes * 10)
        return original(nodes, points, chunk)

    monkeypatch.setattr(reverse, "check_graph_work", ten_chunks)


def test_a_long_input_file_over_the_graph_work_budget_is_refused_before_any_row(
    small_slices, tiny_graph_budget, tmp_path
):
    path = tmp_path / "x.txt"
    path.write_text("".join(f"{i % 10}\n" for i in range(500)))
    result = invoke("derive", "sin(x)", "-k", "3", "--method", "reverse", "--input", str(path))
    message = one_line_error(result)
    assert "for each of 32 chunks" in message and "rows before" not in message
    assert result.stdout == ""


def test_a_long_pipe_over_the_graph_work_budget_stops_after_the_rows_it_allowed(
    small_slices, tiny_graph_budget
):
    text = "".join(f"{i % 10}\n" for i in range(500))
    result = invoke(
        "derive", "sin(x)", "-k", "3", "--method", "reverse", "--input", "-", input=text
    )
    message = one_line_error(result)
    assert "for each of 11 chunks" in message
    assert "the 160 rows before it were written to stdout" in message
    assert len(result.stdout.splitlines()) == 161


@pytest.mark.parametrize(
    "args",
    [
        ["--input", "-"],
        ["--start", "0", "--stop", "3.4028235e38", "--num", "2"],
    ],
)
def test_float32s_largest_value_as_numpy_prints_it_is_accepted(args):
    # 3.4028235e38 rounds to float32's largest value; only what rounds to inf is refused.
    result = invoke("derive", "x", "-k", "0", "--dtype", "float32", *args, input="3.4028235e38\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "3.4028235e+38,3.4028235e+38"


def test_a_value_that_rounds_to_inf_in_float32_is_refused_naming_its_line():
    result = invoke("derive", "x", "--dtype", "float32", "--input", "-", input="1\n3.4028236e38\n")
    assert "line 2: x = 3.4028236e+38 is beyond float32's largest value" in one_line_error(result)
