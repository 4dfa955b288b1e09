"""`autodiff derive` as a user runs it: tables on stdout, files, formats and clean failures."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pytest
import support
from support import invoke, run_cli

from autodiffcli import __version__


def table(stdout: str) -> np.ndarray:
    return np.loadtxt(io.StringIO(stdout), delimiter=",", skiprows=1, ndmin=2)


def test_default_table_is_sin_and_its_derivative_on_1000_points():
    result = invoke("derive", "--start", "-5", "--stop", "5", "--step", "0.01")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "x,f,df"
    rows = table(result.stdout)
    assert rows.shape == (1000, 3)
    np.testing.assert_allclose(rows[:, 1], np.sin(rows[:, 0]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows[:, 2], np.cos(rows[:, 0]), rtol=0, atol=1e-12)


def test_floats_round_trip_exactly():
    result = invoke("derive", "exp(x)/3", "--num", "50")
    import torch

    from autodiffcli import domain
    from autodiffcli.limits import DEFAULT_MAX_POINTS

    g = domain.from_num(-5, 5, 50, DEFAULT_MAX_POINTS)
    expected = support.table("exp(x)/3", g, 1, "cpu", torch.float64)
    rows = table(result.stdout)
    for i in range(3):
        assert rows[:, i].tolist() == expected[i].tolist()


def test_order_adds_columns():
    result = invoke("derive", "x**3", "--num", "3", "--order", "3")
    assert result.stdout.splitlines()[0] == "x,f,df,d2f,d3f"
    assert table(result.stdout)[:, 4].tolist() == [6.0, 6.0, 6.0]


def test_no_header():
    result = invoke("derive", "--num", "2", "--no-header")
    assert result.stdout.splitlines()[0].startswith("-5.0,")


def test_tsv_format():
    result = invoke("derive", "--num", "2", "--format", "tsv")
    assert result.stdout.splitlines()[0] == "x\tf\tdf"


def test_non_finite_values_are_written_and_warned_once():
    result = invoke("derive", "log(x)", "--start", "-1", "--stop", "1", "--num", "5")
    assert result.exit_code == 0
    assert [line.split(",")[1] for line in result.stdout.splitlines()[1:3]] == ["NaN", "NaN"]
    assert result.stdout.splitlines()[3] == "0.0,-inf,inf"
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1
    assert "3 in f" in warnings[0] and "1 in df" in warnings[0]


def test_quiet_silences_the_warning():
    result = invoke("derive", "log(x)", "--num", "3", "--quiet")
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sn(x)"], "did you mean 'sin'"),
        (["--step", "0"], "--step must not be zero"),
        (["--start", "nan"], "--start must be a finite number"),
        (["--start", "1", "--stop", "1"], "range is empty"),
        (["--step", "-0.1"], "goes away from --stop"),
        (["--max-points", "10"], "1,000 points, more than --max-points 10"),
        (["--num", "5", "--step", "0.1"], "use just one of --step, --num or --input"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["-o", "out.xlsx"], "cannot tell the format of 'out.xlsx'"),
        (["-o", "/nonexistent/dir/out.csv"], "does not exist"),
        (["--input", "/nonexistent.txt"], "not found"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_2(args, words):
    result = invoke("derive", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cuda_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke("derive", "--device", "cuda")
    assert result.exit_code == 2
    assert "needs CUDA" in result.stderr and torch.__version__ in result.stderr


def test_device_from_environment_variable(monkeypatch):
    monkeypatch.setenv("AUTODIFF_DEVICE", "nonsense")
    assert "unknown device 'nonsense'" in invoke("derive", "--num", "2").stderr


def test_output_directory_is_an_error(tmp_path):
    result = invoke("derive", "-o", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_file_output_by_extension(tmp_path):
    for name, reader in [
        ("t.csv", pl.read_csv),
        ("t.parquet", pl.read_parquet),
        ("t.ndjson", pl.read_ndjson),
        ("t.tsv", lambda p: pl.read_csv(p, separator="\t")),
    ]:
        path = tmp_path / name
        result = invoke("derive", "--num", "7", "-k", "2", "-o", str(path))
        assert result.exit_code == 0, result.stderr
        frame = reader(path)
        assert frame.columns == ["x", "f", "df", "d2f"]
        np.testing.assert_allclose(frame["df"].to_numpy(), np.cos(frame["x"].to_numpy()))


def test_parquet_keeps_float32(tmp_path):
    path = tmp_path / "t.parquet"
    invoke("derive", "--num", "4", "--dtype", "float32", "-o", str(path))
    assert pl.read_parquet(path).schema["f"] == pl.Float32


def test_ndjson_rows_are_objects():
    result = invoke("derive", "--num", "2", "--format", "ndjson")
    assert json.loads(result.stdout.splitlines()[0]).keys() == {"x", "f", "df"}


def test_file_written_atomically_leaves_no_temporary(tmp_path):
    path = tmp_path / "t.csv"
    invoke("derive", "--num", "10", "-o", str(path))
    assert os.listdir(tmp_path) == ["t.csv"]
    assert len(path.read_text().splitlines()) == 11


def test_failed_run_leaves_existing_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("precious\n")
    from autodiffcli import writers

    def explode(self, columns):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers.TableWriter, "_write", explode)
    result = invoke("derive", "--num", "10", "-o", str(path))
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert path.read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["t.csv"]


def test_input_from_a_csv_file(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("t,x\n0,1\n1,2\n")
    rows = table(invoke("derive", "x**3", "--input", str(source)).stdout)
    assert rows[:, 0].tolist() == [1.0, 2.0] and rows[:, 2].tolist() == [3.0, 12.0]


def test_non_numeric_input_names_the_line():
    result = invoke("derive", "--input", "-", input="1\n2\nx\n")
    assert result.exit_code == 2 and "stdin line 3" in result.stderr


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"autodiff {__version__}"


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0 and "derive" in result.stdout


# ----- Real processes: pipes, stdin, signals -----


def test_stdin_pipeline_from_seq():
    seq = subprocess.Popen(["seq", "-5", "0.5", "5"], stdout=subprocess.PIPE)
    result = run_cli("derive", "x**3", "--input", "-", stdin=seq.stdout)
    seq.wait()
    rows = table(result.stdout)
    assert result.returncode == 0 and rows.shape == (21, 3)
    np.testing.assert_array_equal(rows[:, 2], 3 * rows[:, 0] ** 2)


def test_closed_pipe_ends_quietly():
    pipeline = subprocess.run(
        f"{sys.executable} -m autodiffcli derive --num 20000000 | head -n 3",
        shell=True,
        capture_output=True,
        text=True,
        executable="/bin/bash",
    )
    assert pipeline.stdout.splitlines()[0] == "x,f,df"
    assert len(pipeline.stdout.splitlines()) == 3
    assert pipeline.stderr == ""


def test_disk_full_on_stdout_is_a_clean_exit_1():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "autodiffcli", "derive"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: cannot write stdout: No space left on device"


def test_interrupt_exits_130_and_leaves_no_partial_file(tmp_path):
    path = tmp_path / "big.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "autodiffcli", "derive", "--num", "300000000", "-o", str(path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        name.endswith(".partial") for name in os.listdir(tmp_path)
    ):
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert os.listdir(tmp_path) == []


def test_rejected_expression_does_not_import_torch():
    code = (
        "import sys\n"
        "from autodiffcli.cli import main\n"
        "sys.argv = ['autodiff', 'derive', 'sn(x)']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["2", "False"]


def test_csv_reader_sees_the_same_header_as_the_columns():
    result = invoke("derive", "--num", "2", "-k", "0")
    assert next(csv.reader(io.StringIO(result.stdout))) == ["x", "f"]


def test_verification_and_plotting_are_imported_only_when_asked():
    code = (
        "import sys\n"
        "from autodiffcli.cli import main\n"
        "sys.argv = ['autodiff', 'derive', '--num', '3']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('autodiffcli.verify', 'autodiffcli.plotting', 'matplotlib')"
        " if m in sys.modules), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stderr.strip() == "[]"


def test_progress_bar_is_drawn_on_a_terminal_stderr(tmp_path):
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autodiffcli",
            "derive",
            "--num",
            "3000000",
            "-o",
            str(tmp_path / "t.csv"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    process.wait()
    os.close(leader)
    assert process.returncode == 0
    assert b"computing" in seen and b"%" in seen


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    path = tmp_path / "t.csv"
    result = run_cli("derive", "--num", "3000000", "-o", str(path))
    assert result.returncode == 0
    assert result.stderr == f"Wrote: 3,000,000 rows to {path}\n"  # the summary line, no bar


def test_io_error_in_any_atomic_file_is_a_write_failure(tmp_path):
    from autodiffcli import writers
    from autodiffcli.errors import WriteFailure

    path = tmp_path / "t.txt"
    path.write_text("precious\n")
    with (
        pytest.raises(WriteFailure, match="No space left on device"),
        writers.atomic_output(path),
    ):
        raise OSError(28, "No space left on device")
    assert path.read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["t.txt"]


# ----- Issue 20: CLI details -----


def test_the_root_help_gives_each_command_whole():
    result = invoke("--help")
    commands = result.stdout[result.stdout.index("Commands:") :]
    assert "…" not in commands and "..." not in commands
    assert "Write x, f(x) and its derivatives as a table." in result.stdout


def test_derive_help_lists_taylor_at_with_the_output_options():
    text = invoke("derive", "--help").stdout
    output = text[text.index("Output:") :]
    assert "Figure:" not in text
    assert "--taylor-at" in output[: output.index("\n\n")]


def test_an_expression_that_ends_with_an_operator_points_past_its_end():
    lines = invoke("derive", "x**").stderr.splitlines()
    assert "ends with '**'" in lines[0]
    assert lines[2].index("^") == lines[1].index("x**") + 3


@pytest.mark.parametrize("text", ["floor(x)", "a*x", "round(x)"])
def test_no_hint_names_a_function_far_from_what_was_typed(text):
    assert "did you mean" not in invoke("derive", text).stderr


@pytest.mark.parametrize(
    ("text", "hint"), [("sinn(x)", "sin"), ("pii*x", "pi"), ("tnah(x)", "tanh")]
)
def test_a_typo_gets_the_name_it_was_meant_to_be(text, hint):
    assert f"did you mean '{hint}'?" in invoke("derive", text).stderr


def test_ndjson_says_that_nan_and_inf_are_written_as_null_and_wrote_comes_last(tmp_path):
    path = tmp_path / "t.ndjson"
    result = invoke("derive", "log(x)", "--num", "3", "-o", str(path))
    lines = result.stderr.splitlines()
    assert "NDJSON writes them as null" in lines[0]
    assert lines[-1].startswith("Wrote: 3 rows")
    assert '"f":null' in path.read_text().splitlines()[0]
