"""Shared test helpers: the CLI in-process (fast) and as a real subprocess (pipes, signals),
and problems built the way the job layer builds them. Imported as ``from support import ...``:
pytest puts this folder on sys.path, so the suite runs from any working directory."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from autodiffcli import domain, lang
from autodiffcli.cli import app
from autodiffcli.problem import Problem

_runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    """Run the CLI in-process; stdout and stderr are kept apart."""
    return _runner.invoke(app, list(args), input=input)


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m autodiffcli`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "autodiffcli", *args], capture_output=True, text=True, **kwargs
    )


def problem(
    expression,
    points,
    order: int = 1,
    method: str = "reverse",
    *,
    max_memory: int | None = None,
    dtype: str = "float64",
    device: str = "cpu",
) -> Problem:
    """A Problem of one variable: ``expression`` (text or parsed) on ``points`` (a Grid or a
    sequence of x values)."""
    parsed = lang.parse(expression) if isinstance(expression, str) else expression
    grid = points if isinstance(points, domain.Grid) else domain.from_values(points, len(points))
    budget = {} if max_memory is None else {"max_memory": max_memory}
    return Problem(
        parsed, domain.single(grid, parsed.variables[0]), order, method, device, dtype, **budget
    )


def table(expression, grid, order, device, dtype, *, method="reverse", max_memory=None):
    """The table's CPU columns [x, f, f', ...], as the engines compute it for a one-variable
    problem on torch ``device`` and ``dtype``."""
    from autodiffcli.engines import compute, environment

    built = problem(expression, grid, order, method, max_memory=max_memory)
    return compute.table(built, environment.Target(device, dtype))


def check_grid(
    expression, grid, order, device, dtype, rtol, atol, *, method="reverse", timeout=5.0
):
    """--check's rows for a one-variable problem: a sample of the table against both
    references (what :func:`autodiffcli.run.check` reports)."""
    import numpy as np

    from autodiffcli import verify

    points = domain.single(grid, "x").take(verify.sample_indices(len(grid)))[0]
    columns = [
        c.numpy().astype(np.float64)
        for c in table(expression, points, order, device, dtype, method=method)
    ]
    return verify.check(expression, columns, order, rtol, atol, timeout=timeout)


def modules_loaded_by(*arguments: str, exit_code: int = 0, input: str | None = None) -> set[str]:
    """The top-level modules that a real ``autodiff`` process has imported when it exits."""
    script = (
        "import atexit, os, sys\n"
        "atexit.register(lambda: os.write(2, ('\\n' + ' '.join(sorted(sys.modules))).encode()))\n"
        "from autodiffcli.cli import main\n"
        f"sys.argv = ['autodiff', *{list(arguments)!r}]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, input=input
    )
    assert done.returncode == exit_code, done.stderr
    return {name.split(".")[0] for name in done.stderr.splitlines()[-1].split()}
