"""The language below the CLI: what explain prints as runnable code gives the engine's numbers
for every operation, and an expression of several declared variables is differentiated by
both engines along each of them, checked against the sympy reference."""

from __future__ import annotations

import contextlib
import io
import math

import mpmath
import numpy as np
import pytest
import torch

from autodiffcli import domain, lang
from autodiffcli.engines import compute, environment, reverse
from autodiffcli.lesson import sections
from autodiffcli.problem import Problem
from autodiffcli.verify import references

ORDER = 3
# Per operation: ordinary points and points in its tails, where careful forms differ from
# torch's own rules (tanh'(20), expm1'(-40), sigmoid'(40), atan''(1e100), ...).
POINTS = {
    "default": [-2.5, -0.7, 0.3, 1.9],
    "tails": [-40.0, -20.0, 20.0, 40.0, 1e100, -1e100, 1e-200],
}
# Expressions that reach each row of the table once, wrapped so the argument is in the domain.
CALLS = {name: f"{name}(x)" for name in lang.FUNCTIONS} | {
    "where": "where(x > 0, sqrt(x), x^2)",
    "min": "min(x, 1 - x)",
    "max": "max(x^2, 2*x)",
    "lt": "where(x < 0.3, x, 0)",
    "le": "where(x <= 0.3, x, 0)",
    "gt": "where(x > 0.3, x, 0)",
    "ge": "where(x >= 0.3, x, 0)",
    "eq": "where(x == 0.3, x, 0)",
    "ne": "where(x != 0.3, x, 0)",
    "and": "where(x > -1 and x < 1, x, 0)",
    "or": "where(x < -1 or x > 1, x, 0)",
    "not": "where(not x > 1, x, 0)",
    "pow": "pow(x, 3) + pow(2, x) + x**x",
    "add": "x + 2",
    "sub": "x - 2",
    "mul": "x * 2",
    "div": "2 / x",
    "neg": "-x",
    "pos": "+x",
}


def snippet_values(code: str) -> list[list[float]]:
    """Run the program explain prints; the lists it prints, one per order."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {})  # noqa: S102 - the program under test is our own output
    numbers = {"nan": math.nan, "inf": math.inf}
    lines = printed.getvalue().splitlines()
    return [eval(line.split(":", 1)[1], numbers) for line in lines]  # noqa: S307


def engine_values(parsed, x: torch.Tensor) -> list[list[float]]:
    columns = reverse.derivatives(lang.function_of(parsed), [x], ORDER)
    return [column.tolist() for column in columns[1:]]


@pytest.mark.parametrize("where", sorted(POINTS))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_printed_snippet_gives_the_engines_numbers(name, where):
    parsed = lang.parse(CALLS[name])
    x = torch.tensor(POINTS[where], dtype=torch.float64)
    with np.errstate(all="ignore"):
        printed = snippet_values(sections.snippet(parsed, x, ORDER))
    expected = engine_values(parsed, x)
    # Equal to the last bit, NaN where the engine gives NaN.
    np.testing.assert_array_equal(np.array(printed), np.array(expected))


def test_every_operation_of_the_table_is_covered():
    assert set(CALLS) == set(lang.OPS)


def test_the_snippet_carries_the_careful_form_it_calls():
    x = torch.tensor([1.0], dtype=torch.float64)
    code = sections.snippet(lang.parse("tanh(x)"), x, 1)
    assert "def tanh(a):" in code and "def with_value(" in code
    assert "y = tanh(x)" in code


# ----- Several variables, below the CLI -----

VARIABLES = ("x", "y", "t")
EXPRESSION = "x*y + sin(t)"


def three_axis_domain() -> domain.Domain:
    limit = 10_000
    axes = (
        domain.from_num(-1.5, 2.0, 4, limit),
        domain.from_num(-0.5, 1.0, 3, limit),
        domain.from_values([0.1, 2.0], limit),
    )
    return domain.Domain(VARIABLES, axes)


def sympy_partials(parsed, points: list[np.ndarray], wrt: int) -> np.ndarray:
    symbolic = references.symbolic_derivatives(parsed, 1, wrt)[1]
    function = references.mp_function(symbolic, references.symbols(parsed))
    with mpmath.workdps(40):
        return np.array([float(function(*map(mpmath.mpf, p))) for p in zip(*points, strict=True)])


def test_parsing_declares_the_variables_in_order():
    parsed = lang.parse(EXPRESSION, VARIABLES)
    assert parsed.variables == VARIABLES
    assert parsed.depends_on("t")[-1] and not parsed.depends_on("t")[0]


def test_a_domain_of_named_axes_varies_the_first_fastest():
    points = three_axis_domain()
    assert len(points) == 24 and points.shape == (4, 3, 2)
    x, y, t = (tensor.tolist() for tensor in points.points(0, 5, torch.float64, "cpu"))
    grid_x, grid_y, grid_t = points.axes
    assert x == grid_x.take([0, 1, 2, 3, 0]).tolist()
    assert y == grid_y.take([0, 0, 0, 0, 1]).tolist() and t == grid_t.take([0] * 5).tolist()


@pytest.mark.parametrize("method", ["reverse", "taylor"])
@pytest.mark.parametrize("wrt", VARIABLES)
def test_each_variables_first_derivative_matches_sympy(method, wrt):
    parsed = lang.parse(EXPRESSION, VARIABLES)
    points = three_axis_domain()
    problem = Problem(parsed, points, order=1, method=method, wrt=wrt)
    target = environment.Target(torch.device("cpu"), torch.float64)
    columns = compute.table(problem, target)
    assert compute.column_names(problem) == ["x", "y", "t", "f", f"f_{wrt}"]
    axes = [column.numpy() for column in columns[:3]]
    expected = sympy_partials(parsed, axes, VARIABLES.index(wrt))
    np.testing.assert_allclose(columns[4].numpy(), expected, rtol=1e-13, atol=1e-15)


def test_an_undeclared_name_is_refused_with_the_declared_variables():
    with pytest.raises(ValueError, match="the variables are 'x', 'y'"):
        lang.parse("x*z", ("x", "y"))


def test_a_variable_cannot_take_a_function_name():
    with pytest.raises(ValueError, match="cannot be a variable name"):
        lang.parse("sin*2", ("sin",))
