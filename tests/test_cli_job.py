"""The job layer and the CLI's habits: fail-fast checks, library errors, help, completion, hints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import invoke

import autodiffcli
from autodiffcli import devices, job, limits
from autodiffcli.errors import (
    AutodiffError,
    BudgetError,
    ExpressionError,
    GridError,
    OptionError,
    OutputError,
)

COMMANDS = ("derive", "plot", "explain")
BAD_INPUTS = {
    "expression": (["sn(x)"], "did you mean 'sin'"),
    "range": (["--step", "0"], "--step must not be zero"),
    "path": (["--input", "/no/such/file"], "not found"),
}

NO_TORCH_SCRIPT = """
import json
import sys
from autodiffcli.cli import app
results = []
for args in {cases!r}:
    try:
        code = app(args, standalone_mode=False) or 0
    except SystemExit as stop:
        code = stop.code
    except Exception as error:
        code = getattr(error, "exit_code", repr(error))
    results.append([code, "torch" in sys.modules])
print(json.dumps(results))
"""


def test_every_command_refuses_bad_expression_range_and_path_before_importing_torch(tmp_path):
    cases = [[command, *args] for command in COMMANDS for args, _ in BAD_INPUTS.values()]
    cases += [["derive", "-o", str(tmp_path / "missing" / "t.csv")]]
    cases += [["plot", "-o", str(tmp_path / "missing" / "p.png")]]
    cases += [["explain", "--dot", str(tmp_path / "missing" / "g.dot")]]
    script = NO_TORCH_SCRIPT.format(cases=cases)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert json.loads(result.stdout) == [[2, False]] * len(cases), result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_every_command_answers_bad_input_with_one_line_and_exit_2(command, case):
    args, expected = BAD_INPUTS[case]
    result = invoke(command, *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_library_errors_name_python_parameters_and_the_cli_names_flags():
    with pytest.raises(GridError) as caught:
        autodiffcli.derive(step=0)
    assert caught.value.parameter == "step"
    assert str(caught.value).startswith("step must not be zero")
    assert "--" not in str(caught.value)
    assert invoke("derive", "--step", "0").stderr.startswith("Error: --step must not be zero")


def test_library_errors_are_value_errors():
    for error in (ExpressionError, GridError, OptionError, OutputError, BudgetError):
        assert issubclass(error, AutodiffError) and issubclass(error, ValueError)


@pytest.mark.parametrize(
    ("options", "error", "parameter"),
    [
        ({"expression": "sn(x)"}, ExpressionError, None),
        ({"num": 0}, GridError, None),
        ({"order": 31}, OptionError, "order"),
        ({"order": 11, "method": "reverse"}, OptionError, "order"),
        ({"method": "newton"}, OptionError, "method"),
        ({"dtype": "float16"}, OptionError, "dtype"),
        ({"max_points": 0}, GridError, "max_points"),
        ({"max_memory": 10}, OptionError, "max_memory"),
    ],
)
def test_python_api_raises_the_project_error_for_each_bad_option(options, error, parameter):
    with pytest.raises(error) as caught:
        autodiffcli.derive(**options)
    if parameter is not None:
        assert caught.value.parameter == parameter


def test_reverse_above_its_cap_suggests_the_taylor_method():
    result = invoke("derive", "-k", "12", "--method", "reverse", "--num", "3")
    assert result.exit_code == 2
    assert "--method=taylor" in result.stderr


def test_auto_method_is_reverse_mode_at_order_1_and_taylor_above():
    assert job.resolve_method("auto", 1) == "reverse"
    assert job.resolve_method("auto", 0) == "reverse"
    assert job.resolve_method("auto", 2) == "taylor"
    assert job.resolve_method("reverse", 5) == "reverse"


def test_python_api_streams_chunks_that_join_to_the_whole_table():
    whole = autodiffcli.derive("tanh(x)", num=1000, order=1)
    parts = list(autodiffcli.derive_chunks("tanh(x)", num=1000, order=1))
    assert sum(len(part["x"]) for part in parts) == 1000
    joined = {name: [v for part in parts for v in part[name].tolist()] for name in whole}
    assert joined == {name: column.tolist() for name, column in whole.items()}


def test_derive_to_a_file_says_what_it_wrote(tmp_path):
    path = tmp_path / "t.csv"
    result = invoke("derive", "--num", "7", "-o", str(path))
    assert result.exit_code == 0
    assert result.stderr == f"Wrote: 7 rows to {path}\n"
    assert invoke("derive", "--num", "7", "-o", str(path), "--quiet").stderr == ""


def test_help_shows_option_groups_metavars_and_plain_defaults():
    text = invoke("derive", "--help").stdout
    positions = [text.index(f"\n{group}:\n") for group in run_groups()]
    assert positions == sorted(positions)
    assert "--input FILE" in text and "--num N" in text and "--start X" in text
    assert "[default: 1e9]" in text
    assert "<str>" not in text and "x<=" not in text
    assert "Examples:" in text


def run_groups() -> list[str]:
    return ["Range", "Numerics", "Output", "Verification"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_an_example_block(command):
    assert f"autodiff {command}" in invoke(command, "--help").stdout.split("Examples:")[1]


def run_app(*args: str, **environment: str) -> str:
    """The app as the `autodiff` script runs it, in a process of its own (completion exits)."""
    process = subprocess.run(
        [sys.executable, "-c", "from autodiffcli.cli import app; app(prog_name='autodiff')", *args],
        env=dict(os.environ, **environment),
        capture_output=True,
        text=True,
    )
    return process.stdout


def completion(shell: str, words: str, **extra: str) -> str:
    environment = dict(_AUTODIFF_COMPLETE=f"complete_{shell}", **extra)
    if shell == "bash":
        environment.update(COMP_WORDS=words, COMP_CWORD=str(len(words.split(" ")) - 1))
    else:
        environment["_TYPER_COMPLETE_ARGS"] = words
    return run_app(**environment)


def test_bash_completion_offers_subcommands_and_method_values():
    assert completion("bash", "autodiff ").split() == ["derive", "plot", "explain"]
    assert completion("bash", "autodiff derive --method ").split() == list(limits.METHODS)


def test_zsh_completion_offers_format_and_device_values():
    assert all(
        f'"{fmt}"' in completion("zsh", "autodiff derive --format ") for fmt in run_formats()
    )
    assert '"cuda\\\\:0"' in completion("zsh", "autodiff derive --device c")


def run_formats() -> tuple[str, ...]:

    return limits.TABLE_FORMATS


def test_fish_completion_offers_options_and_dtype_values():
    options = completion("fish", "autodiff plot --yl", _TYPER_COMPLETE_FISH_ACTION="get-args")
    assert "--ylim" in options
    dtypes = completion("fish", "autodiff plot --dtype ", _TYPER_COMPLETE_FISH_ACTION="get-args")
    assert dtypes.split() == list(limits.DTYPES)


def test_show_completion_prints_a_script_for_each_shell():
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")):
        # Shell detection off, as in typer's own tests: the shell is then an argument.
        script = run_app(
            "--show-completion", shell, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"
        )
        assert marker in script and "autodiff" in script


def test_unquoted_expression_gets_a_quoting_hint():
    result = invoke("derive", "sin", "x")
    assert result.exit_code == 2
    assert "autodiff derive 'sin(x)'" in result.stderr
    assert "autodiff derive 'x + 1'" in invoke("derive", "x", "+", "1").stderr


def test_expression_starting_with_minus_gets_the_double_dash_hint():
    result = invoke("derive", "-x^2")
    assert result.exit_code == 2
    assert "autodiff derive -- '-x^2'" in result.stderr
    assert invoke("derive", "--num", "2", "--", "-x^2").exit_code == 0


def autodiff_process(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autodiffcli", *args], capture_output=True, text=True, **kwargs
    )


@pytest.mark.parametrize("args", [["derive", "--help"], ["--version"], ["explain", "--num", "3"]])
def test_output_to_a_full_disk_is_one_line_and_exit_1(args):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "autodiffcli", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr


def test_closed_stdout_is_one_line_and_exit_1():
    result = subprocess.run(
        [sys.executable, "-m", "autodiffcli", "derive", "--num", "3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "standard output is closed" in result.stderr


def test_closed_stdin_with_input_dash_is_a_user_error():
    result = autodiff_process("derive", "--input", "-", stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_device_name_with_a_trailing_newline_is_refused_escaped():
    result = invoke("derive", "--device", "cpu\n")
    assert result.exit_code == 2
    assert "unknown device 'cpu\\n'" in result.stderr


def test_negative_tolerance_is_refused_before_any_table_is_written(tmp_path):
    result = invoke("derive", "--check", "--rtol", "-1", "-o", str(tmp_path / "t.csv"))
    assert result.exit_code == 2 and "--rtol must be a finite number >= 0" in result.stderr
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.skipif(devices.torch_build()[1] is not None, reason="torch has CUDA here")
def test_cuda_on_a_cpu_build_is_refused_before_importing_torch():
    script = NO_TORCH_SCRIPT.format(cases=[["derive", "--device", "cuda"]])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert json.loads(result.stdout) == [[2, False]]


NEST = "sin(" * 40 + "x" + ")" * 40


def test_reverse_mode_refuses_a_graph_over_the_node_budget_and_suggests_taylor(monkeypatch):
    from autodiffcli.engines import reverse

    monkeypatch.setattr(reverse, "MAX_GRAPH_NODES", 20_000)
    result = invoke("derive", NEST, "-k", "10", "--num", "3", "--method", "reverse")
    assert result.exit_code == 2
    assert "more than 20,000 nodes" in result.stderr and "--method=taylor" in result.stderr
    assert result.stdout == ""


def test_taylor_mode_computes_what_reverse_mode_refuses(monkeypatch):
    from autodiffcli.engines import reverse

    monkeypatch.setattr(reverse, "MAX_GRAPH_NODES", 20_000)
    result = invoke("derive", NEST, "-k", "10", "--num", "3", "--method", "taylor")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4


def test_explain_refuses_an_order_whose_nested_graphs_are_over_budget(monkeypatch):
    from autodiffcli.engines import reverse

    monkeypatch.setattr(reverse, "MAX_GRAPH_NODES", 20_000)
    result = invoke("explain", NEST, "-k", "10")
    assert result.exit_code == 2 and "use a lower --order" in result.stderr


def test_memory_budget_too_small_for_one_chunk_is_refused():
    result = invoke(
        "derive", NEST, "-k", "6", "--num", "3", "--method", "reverse", "--max-memory", "2e6"
    )
    assert result.exit_code == 2 and "--max-memory" in result.stderr


def test_points_beyond_float32_are_refused_before_any_work():
    result = invoke(
        "plot", "x", "--start", "1e300", "--stop", "1e301", "--num", "3", "--dtype", "float32"
    )
    assert result.exit_code == 2
    assert "beyond float32's largest value" in result.stderr and "--dtype=float64" in result.stderr
    with pytest.raises(GridError):
        autodiffcli.derive("x", [1.0, 1e39], dtype="float32")
