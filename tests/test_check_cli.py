"""--check and --reference at the CLI (issues 12 and 9): no false alarms, the right order and
x named, bounded time."""

from __future__ import annotations

import time

import pytest
from support import invoke

NEST6 = "exp(exp(exp(exp(exp(exp(x))))))"
BUDGET = 0.5  # --check-timeout for the bounded-work tests, seconds per reference and order
SLACK = 60  # seconds: autograd's own work at -k 6 plus the references' budgets


@pytest.mark.parametrize(
    "args",
    [
        ["relu(x)", "--step", "0.1"],
        ["abs(x)", "-k", "2", "--step", "0.1"],
        ["cbrt(x)", "--step", "0.1"],
        ["sinc(x)", "-k", "3", "--step", "0.1"],
        ["x^3", "--start", "1e20", "--stop", "2e20", "--num", "5", "-k", "3"],
        ["log(x)", "--start", "1e-43", "--stop", "1e-42", "--num", "5"],
        ["1/x", "--start", "-1", "--stop", "1.05", "--step", "0.1"],
        ["x**x", "--start", "0.5", "--stop", "1.5", "--step", "0.5", "-k", "4"],
        ["softplus(x)", "--start", "-800", "--stop", "-400", "--num", "3", "-k", "3"],
    ],
    ids=lambda args: " ".join(args),
)
def test_check_gives_no_false_alarm(args):
    result = invoke("derive", *args, "--check", "-q")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("text", ["9^9^9", "7^12345", "2^(2^(2^20))"])
def test_check_on_huge_constants_answers_without_big_integers(text):
    started = time.monotonic()
    result = invoke("derive", text, "--check", "--num", "3", "-q")
    assert time.monotonic() - started < SLACK
    assert result.exit_code == 0 and "internal error" not in result.stderr


def test_check_past_its_budget_says_too_expensive_and_passes():
    started = time.monotonic()
    result = invoke(
        "derive", NEST6, "-k", "6", "--num", "3", "--check", "--check-timeout", str(BUDGET), "-q"
    )
    assert time.monotonic() - started < SLACK
    assert result.exit_code == 0, result.stderr
    assert "too expensive" in result.stderr


def test_plot_reference_is_bounded(tmp_path):
    started = time.monotonic()
    result = invoke(
        "plot", NEST6, "-k", "6", "--reference", "--num", "50", "-o", str(tmp_path / "p.png")
    )
    assert time.monotonic() - started < SLACK
    assert result.exit_code == 0, result.stderr


def test_check_failure_names_the_order_and_the_exact_x():
    result = invoke(
        "derive",
        "(1 - cos(x))/x^2",
        "--start",
        "1e-25",
        "--stop",
        "1e-24",
        "--num",
        "3",
        "-k",
        "0",
        "--check",
        "-q",
    )
    assert result.exit_code == 1
    final = result.stderr.strip().splitlines()[-1]
    assert "--check failed: order 0 differs" in final and "at x = 1e-25:" in final
