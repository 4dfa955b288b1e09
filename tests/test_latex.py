"""lang.latex: the parsed expression as matplotlib mathtext, with the fewest parentheses."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from matplotlib.mathtext import MathTextParser
from strategies import expressions

from autodiffcli import lang

_MATHTEXT = MathTextParser("path")


def renders(latex: str) -> bool:
    """Whether matplotlib's mathtext (no LaTeX install) lays the string out without error."""
    _MATHTEXT.parse(f"${latex}$")
    return True


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("x**3 - 1/x", r"x^{3} - \frac{1}{x}"),
        ("sqrt(x)", r"\sqrt{x}"),
        ("exp(-x^2/2)", r"e^{-x^{2}/2}"),
        ("abs(x)", r"\left|x\right|"),
        ("log(x**2)*sin(x) + 1/x", r"\ln(x^{2})\,\sin(x) + \frac{1}{x}"),
        ("2*x", "2 x"),
        ("pi*x", r"\pi x"),
        ("e**x", "e^{x}"),
        ("cbrt(x)", r"\sqrt[3]{x}"),
        ("softplus(x)", r"\ln(1 + e^{x})"),
        ("log10(x)", r"\log_{10}(x)"),
        ("x^(1/2)", "x^{1/2}"),
        ("1/x^2", r"\frac{1}{x^{2}}"),
        ("1.5e10*x", r"1.5 \times 10^{10} x"),
    ],
)
def test_expressions_give_the_expected_latex(text, latex):
    assert lang.latex(lang.parse(text)) == latex


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("-(x+1)", "-(x + 1)"),
        ("x-(-x)", "x - (-x)"),
        ("x-(x+1)", "x - (x + 1)"),
        ("(x+1)*(x-1)", "(x + 1) (x - 1)"),
        ("(-x)^2", "(-x)^{2}"),
        ("-x^2", "-x^{2}"),
        ("(x^2)^3", "(x^{2})^{3}"),
        ("x^2^3", "x^{2^{3}}"),
        ("exp(x)^2", "(e^{x})^{2}"),
        ("(1/x)^2", r"\left(\frac{1}{x}\right)^{2}"),
        ("sin(x)^2", r"\sin(x)^{2}"),
        ("x + 2*x", "x + 2 x"),
    ],
)
def test_parentheses_appear_only_where_precedence_needs_them(text, latex):
    assert lang.latex(lang.parse(text)) == latex


@pytest.mark.parametrize(("text", "latex"), [("x*2", r"x \cdot 2"), ("2*3", r"2 \cdot 3")])
def test_a_product_before_a_digit_gets_a_dot_so_digits_do_not_merge(text, latex):
    assert lang.latex(lang.parse(text)) == latex


@pytest.mark.parametrize(
    ("text", "latex"),
    [("x*sin(x)", r"x\,\sin(x)"), ("2*log(x)", r"2\,\ln(x)"), ("x*sqrt(x)", r"x \sqrt{x}")],
)
def test_a_named_function_after_a_factor_gets_a_thin_space(text, latex):
    # LaTeX spaces \sin as an operator; mathtext does not, so x \sin(x) would read "xsin(x)".
    assert lang.latex(lang.parse(text)) == latex


def test_a_quotient_in_a_superscript_is_written_inline():
    assert lang.latex(lang.parse("2^(x/(x+1))")) == "2^{x/(x + 1)}"


def test_every_operation_has_a_latex_template():
    assert [name for name, op in lang.OPS.items() if not op.latex] == []


@pytest.mark.parametrize("name", sorted(lang.FUNCTIONS))
def test_every_function_renders_in_mathtext(name):
    arguments = ", ".join(
        ["x > 0" if name == "where" else "x", "2", "x"][: lang.FUNCTIONS[name].arity]
    )
    assert renders(lang.latex(lang.parse(f"{name}({arguments})")))


@pytest.mark.parametrize("name", ["pi", "e", "9**9**9"])
def test_constants_render_as_symbols(name):
    latex = lang.latex(lang.parse(name))
    assert renders(latex) and latex in {r"\pi", "e", "9^{9^{9}}"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions)
def test_random_expressions_render_in_mathtext(text):
    assert renders(lang.latex(lang.parse(text)))
