"""Shared helpers: the CLI in-process (fast) and as a real subprocess (pipes, signals)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from autodiffcli.cli import app

_runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    """Run the CLI in-process; stdout and stderr are kept apart."""
    return _runner.invoke(app, list(args), input=input)


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m autodiffcli`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "autodiffcli", *args], capture_output=True, text=True, **kwargs
    )


@pytest.fixture
def cli():
    return invoke
