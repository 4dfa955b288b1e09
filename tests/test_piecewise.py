"""Piecewise functions: where(cond, a, b), min, max, and the conditions that where() takes.

What is checked: the parser's refusals, the tie convention of min/max at orders 1-3 in both
engines, that the branch not taken leaks no NaN into any derivative (orders 1-4, both engines),
that the engines agree with each other and with sympy away from switch points, that the Python
source explain prints gives the engine's numbers bit for bit, and that the labels render."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
import sympy as sp
import torch
from matplotlib.mathtext import MathTextParser

from autodiffcli import lang
from autodiffcli.engines import reverse, taylor
from autodiffcli.errors import ExpressionError
from autodiffcli.lesson import sections
from autodiffcli.verify import references


def message(text: str, variables=("x",)) -> str:
    with pytest.raises(ExpressionError) as caught:
        lang.parse(text, variables)
    return str(caught.value)


def both_engines(text: str, points, order: int, variables=("x",), wrt: int = 0, others=()):
    """[reverse columns, Taylor columns] at ``points`` of variable ``wrt`` (the other
    variables at ``others``, one value each), as lists of floats."""
    parsed = lang.parse(text, variables)
    x = torch.tensor(points, dtype=torch.float64)
    inputs = [torch.full_like(x, value) for value in others]
    inputs.insert(wrt, x)
    by_reverse = reverse.derivatives(lang.function_of(parsed), inputs, order, wrt)
    by_taylor = taylor.derivatives(parsed, inputs, order, wrt)
    return [[c.tolist() for c in by_reverse], [c.tolist() for c in by_taylor]]


# ----- The parser -----


def test_a_comparison_used_as_a_number_says_to_use_it_in_where():
    text = message("x + (x > 0)")
    assert text == (
        "a comparison gives true/false, not a number (at column 6): use it as where()'s "
        "condition, as in where(x > 0, x, 0)"
    )


def test_a_comparison_as_the_whole_expression_is_refused():
    assert message("x < 1").startswith("a comparison gives true/false, not a number")


def test_a_combined_condition_used_as_a_number_is_refused():
    assert message("sin(x > 0 and x < 1)").startswith("a condition gives true/false")


def test_a_condition_as_a_where_branch_is_refused():
    assert "(at column 14)" in message("where(x > 0, x > 1, 0)")


def test_a_number_as_where_condition_is_refused():
    assert message("where(x, 1, 0)") == (
        "where() needs a condition as its first argument, such as x > 0, not a number "
        "(at column 7): write where(x > 0, x, 0)"
    )


def test_and_or_not_refuse_numbers():
    assert message("where(x and 1, 1, 0)").startswith("'and' combines conditions")
    assert message("where(x > 0 or 2, 1, 0)").startswith("'or' combines conditions")
    assert "write where(not x > 0, x, 0)" in message("where(not x, 1, 0)")


def test_is_and_in_are_not_comparisons():
    assert "'is' does not compare numbers" in message("where(x is 1, 1, 0)")
    assert "'not in' does not compare numbers" in message("where(x not in 1, 1, 0)")


def test_where_takes_three_arguments():
    assert (
        message("where(x > 0, 1)") == "where() takes 3 arguments, got 2: write where(x > 0, x, 0)"
    )


def test_min_and_max_take_two_arguments():
    assert message("max(x)") == "max() takes 2 arguments, got 1: write max(x, y)"


def test_a_piecewise_function_named_without_a_call_says_how_to_call_it():
    assert message("max + 1") == "'max' is a function; call it as max(x, 0)"
    assert message("where") == "'where' is a function; call it as where(x > 0, x, 0)"


def test_other_languages_names_suggest_min_and_max():
    assert message("maximum(x, 1)") == "unknown function 'maximum' - did you mean 'max'?"
    assert message("fmin(x, 1)") == "unknown function 'fmin' - did you mean 'min'?"


def test_the_list_of_functions_names_where_min_and_max():
    assert ", max, min, pow," in message("foo(x)") and message("foo(x)").endswith(", where")


def test_min_max_and_where_cannot_be_variable_names():
    for name in ("min", "max", "where"):
        assert message("2", (name,)) == f"'{name}' cannot be a variable name"


def test_python_if_else_is_still_refused():
    assert "'if ... else' not allowed" in message("x if x > 0 else 0")


def test_a_chained_comparison_reads_its_middle_operand_once():
    parsed = lang.parse("where(0 < x < 1, 1, 0)")
    ops = [node.op for node in parsed.nodes]
    assert ops.count("var") == 1 and ops.count("lt") == 2 and ops.count("and") == 1


# ----- Conditions decide at the point -----


def test_a_chained_comparison_means_both():
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5], dtype=torch.float64)
    y = lang.evaluate(lang.parse("where(0 < x < 1, 1, 0)"), [x])
    assert y.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_and_or_not_combine_conditions():
    x = torch.tensor([-2.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    y = lang.evaluate(lang.parse("where(not (x > -1 and x < 1) or x == 0.5, 1, 0)"), [x])
    assert y.tolist() == [1.0, 0.0, 1.0, 1.0]


def test_a_comparison_with_nan_is_false_and_not_equal_is_true():
    x = torch.tensor([-1.0], dtype=torch.float64)
    assert lang.evaluate(lang.parse("where(log(x) > 0 or log(x) <= 0, 1, 2)"), [x]).item() == 2
    assert lang.evaluate(lang.parse("where(log(x) != log(x), 1, 2)"), [x]).item() == 1


@pytest.mark.parametrize("method", ["reverse", "taylor"])
def test_at_a_switch_point_the_derivatives_are_the_picked_branchs(method):
    by_reverse, by_taylor = both_engines("where(x < 0, 0, x^2)", [0.0], 4)
    columns = by_reverse if method == "reverse" else by_taylor
    assert columns == [[0.0], [0.0], [2.0], [0.0], [0.0]]


# ----- min and max: the tie convention -----

# a = x^2 + x and b = e^x - 1 tie at 0: a', a'', a''' = 1, 2, 0 and b', b'', b''' = 1, 1, 1.
TIE = {"max": "max(x^2 + x, exp(x) - 1)", "min": "min(x^2 + x, exp(x) - 1)"}


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
@pytest.mark.parametrize("name", sorted(TIE))
def test_at_a_tie_every_order_is_the_mean_of_both_sides(name, engine):
    columns = both_engines(TIE[name], [0.0], 3)[engine]
    assert columns == [[0.0], [1.0], [1.5], [0.5]]


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
def test_away_from_a_tie_min_and_max_take_one_side(engine):
    assert both_engines(TIE["max"], [1.0], 3)[engine][1:] == [[3.0], [2.0], [0.0]]
    assert both_engines(TIE["min"], [1.0], 3)[engine][1:] == [[math.e]] * 3


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
def test_max_of_x_and_0_has_slope_one_half_at_0_where_relu_has_0(engine):
    assert both_engines("max(x, 0)", [0.0], 3)[engine] == [[0.0], [0.5], [0.0], [0.0]]
    assert both_engines("relu(x)", [0.0], 1)[engine] == [[0.0], [0.0]]


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
def test_a_tie_of_two_variables_is_the_mean_along_each(engine):
    text = "max(x*y, x + y - 1)"  # at (1, 1) both are 1: d/dx is y = 1 and 1, d/dy x = 1 and 1
    along_x = both_engines(text, [1.0], 2, ("x", "y"), 0, [1.0])[engine]
    along_y = both_engines("max(x*y^2, x + y - 1)", [1.0], 2, ("x", "y"), 1, [1.0])[engine]
    assert along_x == [[1.0], [1.0], [0.0]]
    assert along_y == [[1.0], [1.5], [1.0]]  # (2 + 1)/2 and (2 + 0)/2


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
def test_a_nan_argument_of_min_or_max_gives_nan(engine):
    for text in ("max(log(x), x)", "min(x, log(x))"):
        assert math.isnan(both_engines(text, [-1.0], 1)[engine][0][0])


# ----- The branch not taken leaks nothing -----

NO_LEAK = [
    ("where(x > 0, sqrt(x), 0)", -1.0, [0.0, 0.0, 0.0, 0.0, 0.0]),
    ("where(x > 0, log(x), x)", -2.0, [-2.0, 1.0, 0.0, 0.0, 0.0]),
    ("where(x != 0, sin(x)/x, 1)", 0.0, [1.0, 0.0, 0.0, 0.0, 0.0]),
    # nested: at -1 the outer else; at 0.5 the inner then; at 4 the inner else (sqrt(1 - x),
    # log(x) and log(-x) are NaN or inf at one or other of these points)
    ("where(x > 0, where(x < 1, sqrt(1 - x) * log(x), log(x - 3)), x^2 + log(-x))", -1.0, None),
]
NESTED_BRANCHES = {-1.0: "x^2 + log(-x)", 0.5: "sqrt(1 - x) * log(x)", 4.0: "log(x - 3)"}


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
@pytest.mark.parametrize(("text", "point", "expected"), NO_LEAK[:3])
def test_the_branch_not_taken_leaks_no_nan_at_orders_1_to_4(text, point, expected, engine):
    assert [column[0] for column in both_engines(text, [point], 4)[engine]] == expected


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
def test_nested_wheres_give_the_picked_branchs_derivatives(engine):
    text = NO_LEAK[3][0]
    points = sorted(NESTED_BRANCHES)
    columns = np.array(both_engines(text, points, 4)[engine])
    for i, point in enumerate(points):
        branch = np.array(both_engines(NESTED_BRANCHES[point], [point], 4)[engine])[:, 0]
        assert np.isfinite(columns[:, i]).all()
        np.testing.assert_allclose(columns[:, i], branch, rtol=1e-14)


@pytest.mark.parametrize("engine", [0, 1], ids=["reverse", "taylor"])
def test_a_where_of_two_variables_leaks_no_nan_along_either(engine):
    text = "where(x > y, sqrt(x - y) * y, log(y - x) + x*y)"
    variables = ("x", "y")
    # (x, y) = (3, 1): the first branch; log(y - x) is NaN. (1, 3): sqrt(x - y) is NaN.
    for wrt, point, other in [(0, 3.0, 1.0), (1, 1.0, 3.0), (0, 1.0, 3.0), (1, 3.0, 1.0)]:
        columns = both_engines(text, [point], 4, variables, wrt, [other])[engine]
        assert all(math.isfinite(column[0]) for column in columns), (wrt, point)


def test_nested_reverse_mode_through_where_has_no_nan_at_order_4():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = lang.function_of(lang.parse("where(x > 0, sqrt(x) * log(x), 0)"))
    d = f(x)
    for _ in range(4):
        (d,) = torch.autograd.grad(d.sum(), x, create_graph=True)
    assert d[:2].tolist() == [0.0, 0.0] and math.isfinite(d[2].item())


def test_an_expression_without_where_is_folded_by_the_plain_loop(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the guarded fold ran")

    monkeypatch.setattr(lang.emit, "guarded_fold", refuse)
    x = torch.tensor([0.0, 1.0], dtype=torch.float64)
    lang.evaluate(lang.parse("max(x, 0) + sin(x)"), [x])
    lang.python_source(lang.parse("min(x, 1)"))


# ----- Agreement: reverse, Taylor and sympy away from switch points -----

AGREEING = [
    "where(x > 0, sqrt(x), 0)",
    "where(x > 0, log(x), x)",
    "where(x != 0, sin(x)/x, 1)",
    "where(x < 0, 0, x^2)",
    "max(x, 0) * sin(x)",
    "min(exp(x), 2 - x^2)",
    "where(0 < x < 1, x^3, cos(x))",
    "where(x > 1 or x < -1, 1/x, x^2 / 2)",
    "where(not x >= 0.5, tanh(x), exp(-x))",
    "max(min(x, 1), -1) + x",
    "where(x > 0, where(x < 2, sqrt(x) * log(x), log(x - 1)), exp(x))",
    "where(x <= -1, x, where(x == 0, 1, x^3)) * 2",
]
# No expression above switches within 0.1 of these points.
AWAY = [-1.7, -0.3, 0.35, 0.8, 1.3, 2.6]


def sympy_columns(parsed, points, order: int, wrt: int = 0, others=()) -> np.ndarray:
    f = references.sympy_expression(parsed)
    symbols = references.symbols(parsed)
    out = np.empty((order + 1, len(points)))
    for k in range(order + 1):
        derivative = sp.diff(f, symbols[wrt], k) if k else f
        for i, point in enumerate(points):
            values = [sp.Float(v, 30) for v in others]
            values.insert(wrt, sp.Float(point, 30))
            at = derivative.subs(dict(zip(symbols, values, strict=True)))
            out[k, i] = float(sp.re(at.evalf(30)))
    return out


@pytest.mark.parametrize("text", AGREEING)
def test_reverse_taylor_and_sympy_agree_away_from_switch_points(text):
    by_reverse, by_taylor = (np.array(c) for c in both_engines(text, AWAY, 3))
    expected = sympy_columns(lang.parse(text), AWAY, 3)
    np.testing.assert_allclose(by_reverse, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(by_taylor, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrt", [0, 1])
def test_a_piecewise_function_of_x_and_y_agrees_with_sympy_along_each(wrt):
    text = "where(x*y > 1, log(x*y) * y, max(x, y)^2 - x)"
    variables, points, other = ("x", "y"), [-1.3, 0.4, 2.2], [1.7]
    by_reverse, by_taylor = (
        np.array(c) for c in both_engines(text, points, 3, variables, wrt, other)
    )
    expected = sympy_columns(lang.parse(text, variables), points, 3, wrt, other)
    np.testing.assert_allclose(by_reverse, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(by_taylor, expected, rtol=1e-10, atol=1e-12)


def test_sympy_folds_conditions_of_constants_as_torch_does():
    parsed = lang.parse("where(log(-1) > 0, 1, x) + where(2 < 3, x, 0) + max(1, 2)")
    x = sp.Symbol("x", real=True)
    assert references.sympy_expression(parsed) == 2 * x + 2


# ----- The printed source -----

SOURCES = [
    "where(x > 0, sqrt(x), 0)",
    "where(x != 0, sin(x)/x, 1)",
    "where(x > 0, where(x < 1, sqrt(1 - x) * log(x), log(x - 3)), x^2 + log(-x))",
    "max(x, 0) + min(exp(x), 2 - x^2)",
    "where(0 < x < 1 or not x > -1, tanh(x), 2)",
]
SOURCE_POINTS = [-2.0, -1.0, 0.0, 0.5, 1.0, 4.0]


@pytest.mark.parametrize("text", SOURCES)
def test_python_source_gives_evaluates_values_bit_for_bit(text):
    parsed = lang.parse(text)
    x = torch.tensor(SOURCE_POINTS, dtype=torch.float64)
    namespace = {"torch": torch, "math": math, "x": x}
    exec(lang.careful_definitions(parsed), namespace)  # noqa: S102 - our own output
    printed = eval(lang.python_source(parsed), namespace)  # noqa: S307 - our own output
    expected = lang.evaluate(parsed, [x])
    np.testing.assert_array_equal(printed.numpy(), expected.numpy())


@pytest.mark.parametrize("text", SOURCES)
def test_the_printed_snippet_gives_the_engines_derivatives_bit_for_bit(text):
    parsed = lang.parse(text)
    x = torch.tensor(SOURCE_POINTS, dtype=torch.float64)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), np.errstate(all="ignore"):
        exec(sections.snippet(parsed, x, 4), {})  # noqa: S102 - our own output
    numbers = {"nan": math.nan, "inf": math.inf}
    lines = printed.getvalue().splitlines()
    values = [eval(line.split(":", 1)[1], numbers) for line in lines]  # noqa: S307
    expected = reverse.derivatives(lang.function_of(parsed), [x], 4)[1:]
    np.testing.assert_array_equal(np.array(values), np.array([c.tolist() for c in expected]))


def test_the_source_guards_each_branchs_variable():
    source = lang.python_source(lang.parse("where(x > 0, sqrt(x), 0)"))
    guard = "torch.where(torch.gt(x, torch.tensor(0.0, dtype=x.dtype)), x, x.detach())"
    assert source.startswith("torch.where(torch.gt(x,") and f"torch.sqrt({guard})" in source


# ----- LaTeX -----

_MATHTEXT = MathTextParser("path")


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("max(x, 0)", r"\max(x, 0)"),
        ("2*min(x, 1)", r"2\,\min(x, 1)"),
        (
            "where(x > 0, sqrt(x), 0)",
            r"\left\{\genfrac{}{}{0}{0}{\sqrt{x} \quad \mathrm{if}\ x > 0}"
            r"{0 \quad \mathrm{otherwise}}\right.",
        ),
    ],
)
def test_piecewise_functions_give_the_expected_latex(text, latex):
    assert lang.latex(lang.parse(text)) == latex


def test_a_chained_comparison_is_written_as_typed():
    assert r"\mathrm{if}\ 0 < x \leq 1}" in lang.latex(lang.parse("where(0 < x <= 1, x, 0)"))


def test_not_or_and_and_are_written_with_their_parentheses():
    latex = lang.latex(lang.parse("where(not (x > 0 or x < -1) and x != 2, x, 0)"))
    assert r"\neg (x > 0 \vee x < -1) \wedge x \neq 2}" in latex


@pytest.mark.parametrize(
    "text",
    [
        *AGREEING,
        "exp(where(x > 0, -x^2/2, x))",
        "where(x >= 1 and x <= 2 or x == -1, x, 0) / where(x > 0, 2, 3)",
    ],
)
def test_piecewise_latex_renders_in_mathtext(text):
    _MATHTEXT.parse(f"${lang.latex(lang.parse(text))}$")
