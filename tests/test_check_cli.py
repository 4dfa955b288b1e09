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


def test_check_past_its_budget_says_too_expensive_and_an_order_it_could_not_check_fails():
    started = time.monotonic()
    result = invoke(
        "derive", NEST6, "-k", "6", "--num", "3", "--check", "--check-timeout", str(BUDGET), "-q"
    )
    assert time.monotonic() - started < SLACK
    assert "too expensive" in result.stderr
    assert result.exit_code == 1
    assert "--check checked nothing at order" in result.stderr.splitlines()[-1]


def test_a_check_with_no_time_checks_nothing_and_fails():
    result = invoke("derive", "sin(x)", "--num", "3", "--check", "--check-timeout", "0", "-q")
    assert result.exit_code == 1
    assert "checked nothing at orders 0, 1" in result.stderr.splitlines()[-1]


def test_partial_coverage_is_reported_as_such():
    result = invoke("derive", "log(x)", "--num", "3", "--check", "-q")
    assert result.exit_code == 0
    assert "ok on 2 of 3 points (skipped: 1 not real or not finite)" in result.stderr


def off_near(x0: float):
    """sin's Taylor rule with f'' off by 0.1% on the rows within 1e-5 of x0 only."""
    from autodiffcli import series

    def rule(t, u):
        w = series.sin(t, u)
        w[2] = t.where(t.abs(u[0] - x0) < 1e-5, w[2] * 1.001, w[2])
        return w

    return rule


def test_check_points_all_finds_a_fault_on_one_row_between_the_sampled_ones(monkeypatch):
    import dataclasses

    from autodiffcli import lang

    # --num 20001 on [-5, 5]: row 10001 is x = 5e-4, between two of the 2,000 sampled rows.
    sin = dataclasses.replace(lang.OPS["sin"], taylor=off_near(5e-4))
    monkeypatch.setitem(lang.OPS, "sin", sin)
    args = ["derive", "sin(x)", "--num", "20001", "-k", "2", "--check", "-q"]
    sampled = invoke(*args, "--check-timeout", "60")
    assert sampled.exit_code == 0, sampled.stderr
    every = invoke(*args, "--check-points", "all", "--check-timeout", "600")
    assert every.exit_code == 1
    assert (
        "order 2 differs" in every.stderr.splitlines()[-1] and "at x = 0.000499999" in every.stderr
    )


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "some"])
def test_check_points_must_be_a_whole_number_or_all(value):
    result = invoke("derive", "--check", "--check-points", value)
    assert result.exit_code == 2 and "--check-points must be" in result.stderr
