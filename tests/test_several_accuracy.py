"""Accuracy of the partial derivatives of functions of 2 and 3 variables: a corpus of products,
quotients, compositions, x^y, softmax's log-sum-exp, the d2l examples and vector fields, each
at a few points away from singularities, held against sympy.

The reference is independent of --check and of the engines: the test's own sympy form of each
function (sympify of the text, not the project's tape), differentiated by sympy.diff along the
canonical sequence of each multi-index, evaluated by lambdify(..., "mpmath") at 40 digits.
An error is measured relative to its column's scale: the largest |value| of that partial over
the function's points (1 where they are all 0).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import mpmath
import numpy as np
import pytest
import sympy as sp

from autodiffcli.api import derive
from autodiffcli.partials import Partial, partial_name

DIGITS = 40
LOW_ORDER, LOW_TOL = 4, 1e-12  # every partial to order 4, both engines
AGREE_TOL = 1e-12  # reverse and Taylor mode, orders 1-4, relative to the column's scale
HIGH_TOL = 1e-9  # mixed partials to order 6-8, Taylor mode


@dataclass(frozen=True)
class Case:
    """A function, its points, and any --param constants (name, value)."""

    text: str
    points: tuple[tuple[float, ...], ...]
    params: tuple[tuple[str, float], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return ("x", "y", "z")[: len(self.points[0])]

    def __str__(self) -> str:
        return self.text


P2 = ((0.5, -1.2), (1.3, 0.7), (-2.0, 0.3))  # general points of the plane
Q2 = ((0.6, 1.7), (1.3, 0.7), (2.2, 0.4))  # the quarter x, y > 0 (log, sqrt, powers)
P3 = ((0.5, -1.2, 0.8), (1.3, 0.7, -0.4), (-0.6, 0.3, 1.1))
Q3 = ((0.6, 1.7, 0.9), (1.3, 0.7, 0.2), (2.2, 0.4, 1.5))

CORPUS = [
    # the d2l examples: the worked Taylor example, the exercises' beta.x, |v|, log-sum-exp, and
    # x^2 y + x y^2 at its critical point
    Case("x*exp(-x^2-y^2)", ((-1.0, 0.0), (0.5, -0.7), (1.3, 0.4))),
    Case("b1*x + b2*y", P2, (("b1", 2.0), ("b2", -3.0))),
    Case("sqrt(x^2 + y^2 + z^2)", ((1.0, 2.0, 2.0), (0.5, -1.2, 0.8), (-0.6, 0.3, 1.1))),
    Case("log(exp(x) + exp(y))", ((0.0, 1.0), (-1.5, 0.5), (2.0, -0.3))),
    Case("x^2*y + x*y^2", ((0.0, 0.0), (0.1, 0.1), (-1.3, 0.7))),
    # products and quotients
    Case("x*y", P2),
    Case("x/y", P2),
    Case("exp(x)*sin(y)", P2),
    Case("cos(x)*cosh(y)", P2),
    Case("sinh(x)*atan(y)", P2),
    Case("log(x)*log(y)", Q2),
    Case("sqrt(x)*sin(y)", Q2),
    Case("exp(x*y)/(1 + x^2)", P2),
    Case("x*y/(x + y + 3)", P2),
    # rational functions and polynomials
    Case("(x^2 - y)/(1 + x^2 + y^2)", P2),
    Case("1/(x^2 + y^2 + 1)", P2),
    Case("(x + y)^5/(1 + x^2)", P2),
    Case("(x - y)^3*(x + 2*y)", P2),
    Case("pow(x, 3)*pow(y, 2) - 2*x*y", P2),
    # compositions
    Case("sin(x*y)", P2),
    Case("atan(y/x)", P2),
    Case("sqrt(x^2 + y^2)", P2),
    Case("tanh(x - 2*y)", P2),
    Case("erf(x*y)", ((0.5, -1.2), (1.3, 0.7), (-0.8, 0.3))),
    Case("log(1 + x^2 + y^2)", P2),
    Case("sin(x + y^2)*exp(-x)", P2),
    Case("atan(x*y) + sqrt(1 + x^2*y^2)", P2),
    Case("tanh(x*y)*log(2 + sin(x))", P2),
    Case("erf(x - y)*exp(y)", P2),
    Case("exp(sin(x)*cos(y))", P2),
    Case("sigmoid(x - y)*softplus(x*y)", P2),
    # powers with x in the exponent
    Case("x^y", ((1.5, 0.7), (0.6, 2.2), (2.3, -1.1))),
    Case("pow(x^2 + 1, y)", P2),
    Case("x*y^x", Q2),
    # three variables
    Case("sin(x*y*z)", P3),
    Case("x*y*z + exp(x - z)", P3),
    Case("log(exp(x) + exp(y) + exp(z))", P3),
    Case("x/(y^2 + z^2 + 1)", P3),
    Case("x*y*exp(-x^2 - y^2 - z^2)", P3),
    Case("atan(x + y*z)", P3),
    Case("(x + y + z)^4/(1 + x^2 + y^2 + z^2)", P3),
    Case("tanh(x*y - z)", P3),
    Case("erf(x*z)*cos(y)", P3),
    Case("x^y + z^2", Q3),
    Case("log(1 + x^2 + y^2 + z^2)*sin(z)", P3),
    # vector-valued
    Case("[x*y, x + y^2]", P2),
    Case("[exp(x)*cos(y), exp(x)*sin(y)]", P2),
    Case("[x*y*z, x + y + z, sin(x)*cos(z)]", P3),
]

# Mixed partials to order 8 of functions of 2 variables, and to order 6 or 8 of 3 variables.
HIGH = [
    (Case("exp(x)*sin(y)", P2), 8),
    (Case("x*exp(-x^2-y^2)", ((-1.0, 0.0), (0.5, -0.7), (1.3, 0.4))), 8),
    (Case("log(exp(x) + exp(y))", ((0.0, 1.0), (-1.5, 0.5), (2.0, -0.3))), 8),
    (Case("x^y", ((1.5, 0.7), (0.6, 2.2), (2.3, -1.1))), 8),
    (Case("sin(x*y)", P2), 8),
    (Case("atan(y/x)", P2), 8),
    (Case("tanh(x - 2*y)", P2), 8),
    (Case("1/(x^2 + y^2 + 1)", P2), 8),
    (Case("x/y", P2), 8),
    (Case("cos(x)*cosh(y)", P2), 8),
    (Case("[exp(x)*cos(y), exp(x)*sin(y)]", P2), 8),
    (Case("sin(x*y*z)", P3), 6),
    (Case("x/(y^2 + z^2 + 1)", P3), 6),
    (Case("x*y*z + exp(x - z)", P3), 8),
]

# Known: Taylor mode's mixed partials by interpolation are accurate relative to the largest
# partial of their order at the point, not to themselves. x/y at (-2, 0.3): f_yyyy is about
# 2e4 (f^(8) along y 4e9) while f_xxyy is exactly 0; the directional coefficients the weights
# combine are up to 2.1e5 at order 4 (1.7e12 at order 8), so the zero comes out 5.5e-12
# (f_xxxyyyyy 1.6e-5 at order 8): 2.7e-16 of the largest partial, but far beyond 1e-12
# (1e-9) of its own column's scale, 1. Nested reverse mode gives exactly 0. The engines now
# write 0 for a partial that is 0 by structure (lang.structural_zeros: x/y is of degree 1 in
# x), so x/y passes; a function whose small mixed partials are not structural zeros would
# still show the limit, and auto takes nested reverse mode for mixed partials up to order 4.
INTERPOLATION = pytest.mark.xfail(
    strict=True, reason="mixed partials by interpolation carry the error of the largest partial"
)
KNOWN: set[str] = set()


def marked(cases):
    """The cases as pytest params, the known interpolation failures marked (strictly)."""
    return [
        pytest.param(*case, marks=INTERPOLATION if case[0].text in KNOWN else ())
        if isinstance(case, tuple)
        else pytest.param(case, marks=INTERPOLATION if case.text in KNOWN else ())
        for case in cases
    ]


_FUNCTIONS = {
    "exp": sp.exp,
    "log": sp.log,
    "sin": sp.sin,
    "cos": sp.cos,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "atan": sp.atan,
    "sqrt": sp.sqrt,
    "erf": sp.erf,
    "pow": lambda a, b: a**b,
    "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
    "softplus": lambda a: sp.log(1 + sp.exp(a)),
}


@functools.cache
def components(case: Case) -> tuple:
    """The case's components as sympy expressions of real symbols, from its text."""
    local = {name: sp.Symbol(name, real=True) for name in case.names}
    local.update(_FUNCTIONS)
    local.update({name: sp.Rational(value) for name, value in case.params})
    parsed = sp.sympify(case.text.replace("^", "**"), locals=local)
    return tuple(parsed) if isinstance(parsed, list) else (parsed,)


@functools.cache
def formula(case: Case, output: int, counts: tuple[int, ...]):
    """d^counts of component ``output``, differentiated from the partial before it in the
    canonical sequence (f_xxy from f_xx), so each derivative is taken once."""
    if not any(counts):
        return components(case)[output]
    last = max(i for i, c in enumerate(counts) if c)
    before = tuple(c - (i == last) for i, c in enumerate(counts))
    return sp.diff(formula(case, output, before), sp.Symbol(case.names[last], real=True))


@functools.cache
def reference(case: Case, output: int, counts: tuple[int, ...]) -> np.ndarray:
    """The partial at each of the case's points, by mpmath at DIGITS digits."""
    symbols = [sp.Symbol(name, real=True) for name in case.names]
    function = sp.lambdify(symbols, formula(case, output, counts), "mpmath")
    with mpmath.workdps(DIGITS):
        return np.array([float(function(*map(mpmath.mpf, point))) for point in case.points])


def table(case: Case, order: int, method: str) -> dict:
    at = [dict(zip(case.names, point, strict=True)) for point in case.points]
    return derive(case.text, at=at, param=dict(case.params) or None, order=order, method=method)


def partials(case: Case, low: int, high: int):
    """(column name, output, counts) of every partial of orders low..high."""
    n, outputs = len(case.names), len(components(case))
    names = ["f"] if outputs == 1 else [f"f{k + 1}" for k in range(outputs)]
    for order in range(low, high + 1):
        for output in range(outputs):
            for sequence in itertools.combinations_with_replacement(range(n), order):
                counts = tuple(sequence.count(i) for i in range(n))
                # parameters are variables of f too: their long names join letters with _
                variables = (*case.names, *(name for name, _ in case.params))
                yield partial_name(Partial(output, counts), names, variables), output, counts


def scaled_errors(case: Case, columns: dict, low: int, high: int) -> dict[str, float]:
    """{column: max |engine - reference| / the column's scale} over the case's points."""
    out = {}
    for name, output, counts in partials(case, low, high):
        exact = reference(case, output, counts)
        scale = float(np.max(np.abs(exact))) or 1.0
        out[name] = float(np.max(np.abs(columns[name] - exact))) / scale
    return out


def beyond(errors: dict[str, float], tolerance: float) -> dict[str, str]:
    return {name: f"{error:.2e}" for name, error in errors.items() if not error <= tolerance}


def test_the_corpus_has_40_functions_of_two_and_three_variables_and_vector_fields():
    assert len(CORPUS) >= 40
    assert len({c.text for c in CORPUS}) == len(CORPUS)
    assert {len(c.names) for c in CORPUS} == {2, 3}
    assert sum(len(components(c)) > 1 for c in CORPUS) >= 2
    used = " ".join(c.text for c in CORPUS)
    for name in ["exp", "log", "sin", "atan", "sqrt", "tanh", "erf", "pow", "x^y"]:
        assert name in used


@pytest.mark.parametrize("case", marked(CORPUS), ids=str)
def test_every_partial_to_order_4_by_taylor_mode_is_within_1e_12_of_sympy(case):
    errors = scaled_errors(case, table(case, LOW_ORDER, "taylor"), 1, LOW_ORDER)
    assert not beyond(errors, LOW_TOL)


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_every_partial_to_order_4_by_nested_reverse_mode_is_within_1e_12_of_sympy(case):
    errors = scaled_errors(case, table(case, LOW_ORDER, "reverse"), 1, LOW_ORDER)
    assert not beyond(errors, LOW_TOL)


@pytest.mark.parametrize("case", marked(CORPUS), ids=str)
def test_reverse_and_taylor_mode_agree_on_every_partial_of_orders_1_to_4(case):
    by_reverse = table(case, LOW_ORDER, "reverse")
    by_taylor = table(case, LOW_ORDER, "taylor")
    disagree = {}
    for name, _, _ in partials(case, 1, LOW_ORDER):
        scale = float(np.max(np.abs(by_reverse[name]))) or 1.0
        error = float(np.max(np.abs(by_taylor[name] - by_reverse[name]))) / scale
        if not error <= AGREE_TOL:
            disagree[name] = f"{error:.2e}"
    assert not disagree


@pytest.mark.parametrize(("case", "order"), marked(HIGH), ids=[f"{c} -k {k}" for c, k in HIGH])
def test_mixed_partials_to_order_8_by_taylor_mode_are_within_1e_9_of_sympy(case, order):
    errors = scaled_errors(case, table(case, order, "taylor"), LOW_ORDER + 1, order)
    assert not beyond(errors, HIGH_TOL)


def test_the_high_order_cases_reach_order_8_in_two_and_6_to_8_in_three_variables():
    assert {k for c, k in HIGH if len(c.names) == 2} == {8}
    assert {k for c, k in HIGH if len(c.names) == 3} <= {6, 7, 8}
    assert any(len(components(c)) > 1 for c, _ in HIGH)
