"""The Taylor engine through the CLI: --method, AUTODIFF_METHOD, high orders, --taylor-at."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import polars as pl
import pytest
import torch
from support import invoke

from autodiffcli import lang, series
from autodiffcli.engines import taylor
from autodiffcli.limits import MAX_ORDER

EXPRESSION = "log(x**2)*sin(x) + 1/x"


def off_at_order_three(t, u):
    w = series.sin(t, u)
    w[3] *= 1.001
    return w


def test_derive_with_taylor_writes_what_the_engine_computes(tmp_path):
    path = tmp_path / "out.csv"
    args = ["--start", "0.5", "--stop", "5", "--num", "101", "-k", "10", "--method", "taylor"]
    result = invoke("derive", EXPRESSION, *args, "-o", str(path))
    assert result.exit_code == 0, result.stderr
    table = pl.read_csv(path)
    x = torch.tensor(table["x"].to_numpy())
    expected = taylor.derivatives(lang.parse(EXPRESSION), [x], 10)
    assert table.columns[-1] == "d10f"
    for name, column in zip(table.columns[1:], expected, strict=True):
        np.testing.assert_allclose(table[name].to_numpy(), column.numpy(), rtol=1e-15)


def test_taylor_allows_order_20():
    result = invoke("derive", "sin(x)", "--num", "3", "-k", "20", "--method", "taylor", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(",d20f")


def test_orders_past_the_taylor_limit_are_refused():
    order = str(MAX_ORDER + 1)
    result = invoke("derive", "sin(x)", "-k", order, "--method", "taylor")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "--order" in result.stderr


def test_reverse_above_its_cap_suggests_taylor():
    result = invoke("derive", "sin(x)", "-k", "11", "--method", "reverse")
    assert result.exit_code == 2
    assert "--method" in result.stderr and "taylor" in result.stderr


def test_method_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUTODIFF_METHOD", "taylor")
    result = invoke("derive", "sin(x)", "--num", "3", "-k", "15", "-q")
    assert result.exit_code == 0, result.stderr


def test_check_passes_with_taylor_and_names_the_engine():
    result = invoke("derive", "x*sin(x)", "-k", "4", "--method", "taylor", "--check", "-q")
    assert result.exit_code == 0, result.stderr
    assert "taylor" in result.stderr.lower()


def test_check_fails_on_a_wrong_taylor_rule_at_its_order(monkeypatch):
    wrong = dataclasses.replace(lang.OPS["sin"], taylor=off_at_order_three)
    monkeypatch.setitem(lang.OPS, "sin", wrong)
    result = invoke("derive", "sin(x)", "-k", "4", "--method", "taylor", "--check", "-q")
    assert result.exit_code == 1
    assert "--check failed: order 3" in result.stderr


@pytest.mark.parametrize("x0", ["0", "1.5"])
def test_derive_taylor_at_prints_the_coefficients(x0):
    result = invoke("derive", "exp(x)", "--taylor-at", x0, "-k", "4", "--method", "taylor")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    column = lines[0].split(",").index("coefficient")
    coefficients = [float(line.split(",")[column]) for line in lines[1:]]
    expected = [math.exp(float(x0)) / math.factorial(k) for k in range(5)]
    np.testing.assert_allclose(coefficients, expected, rtol=1e-15)


def derived_at(text: str, x: str, *args: str) -> dict[str, float]:
    """The one row that derive writes for the point x read from --input."""
    result = invoke("derive", text, "--input", "-", *args, input=f"{x}\n")
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()
    return dict(zip(header.split(","), map(float, row.split(",")), strict=True))


def sinc_derivative(x: float, order: int) -> float:
    import mpmath

    with mpmath.workdps(60):
        return float(mpmath.diff(lambda t: mpmath.sincpi(t), mpmath.mpf(x), order))


# The wrong numbers of issue 20, items 1-3 and 5, each as its reproducer wrote it.
@pytest.mark.parametrize(
    ("text", "x", "args", "column", "true"),
    [
        ("asinh(x)", "1e200", ["-k", "2"], "df", 1e-200),
        ("asinh(x)", "1e200", ["-k", "1"], "df", 1e-200),
        ("acosh(x)", "1e155", ["-k", "2"], "df", 1e-155),
        ("asin(x)", "1e-12", ["-k", "2"], "d2f", 1e-12),
        ("asin(x)", "1e-16", ["-k", "2"], "d2f", 1e-16),
        ("asin(x)", "1e-200", ["-k", "2"], "d2f", 1e-200),
        ("acos(x)", "1e-12", ["-k", "2"], "d2f", -1e-12),
        ("atanh(x)", "1e-12", ["-k", "2"], "d2f", 2e-12),
        ("tanh(x)", "1e-100", ["-k", "2", "--method", "reverse"], "d2f", -2e-100),
        ("sinc(x)", "0.35", ["-k", "20"], "d20f", sinc_derivative(0.35, 20)),
    ],
)
def test_issue_20_reproducers_print_the_true_value(text, x, args, column, true):
    assert derived_at(text, x, *args)[column] == pytest.approx(true, rel=1e-9, abs=0)


@pytest.mark.parametrize(("text", "x"), [("asinh(x)", "1e20"), ("acosh(x)", "1e20")])
def test_asinh_and_acosh_keep_their_derivative_in_float32(text, x):
    assert derived_at(text, x, "-k", "2", "--dtype", "float32")["df"] == pytest.approx(
        1e-20, rel=1e-6, abs=0
    )
