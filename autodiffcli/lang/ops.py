"""The operation table, the spine of the language: one short row per operation.

Every compiler of the tape reads one column of a row: the torch formulation the engines run
(and the snippet ``explain`` prints), the sympy form the checks build, the Taylor rule
(:mod:`autodiffcli.series`) and the mathtext label. Rows are written through three helpers, as
JAX's ``jet`` writes its rules: :func:`operator` for + - * / and signs, :func:`function` for a
torch function used as it is, :func:`careful` for one whose numerically careful form lives in
:mod:`autodiffcli.lang.stable`. Adding a function means adding its row, every column filled.

The piecewise rows (:data:`PIECEWISE`: ``where``, ``min``, ``max``, the comparisons and
``and``/``or``/``not``) are rows of the same table. Their semantics:

- A comparison, or a combination of comparisons, is a *condition*: a true/false value per point,
  allowed only as ``where()``'s first argument. It is decided by the values at the point (in the
  Taylor engine, the order-0 coefficients), so at a switch point every derivative is that of the
  branch the condition picks there: ``where(x < 0, 0, x^2)`` at 0 takes x^2 (f' = 0, f'' = 2).
  A comparison with NaN is false (``!=`` true), as in torch.
- ``where(c, a, b)`` uses the branch it picks as it is, and the branch not taken never leaks NaN
  or inf into f or any derivative (the torch compiler guards the variables each branch reads:
  :mod:`autodiffcli.lang.emit`): ``where(x != 0, sin(x)/x, 1)`` at 0 is 1, every derivative 0.
- ``min(a, b)``, ``max(a, b)``: at a tie (a == b) the value is the common value and every
  derivative is the mean of the two branches' derivatives, at every order. This is what
  torch.minimum/maximum's backward does (half the gradient to each side), nested reverse mode
  included; the Taylor rule does the same. So max(x, 0)'(0) is 1/2, while relu'(0) is 0 by
  torch's convention for relu. A NaN argument gives NaN (the derivatives there are those of the
  sum of the branches, as torch's backward gives each side the whole gradient).

This module imports neither torch nor sympy: the table resolves them on first use.
"""

from __future__ import annotations

import functools
import math
import operator as python_operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autodiffcli import series


@dataclass(frozen=True)
class Op:
    """One operation of the language.

    Attributes:
        name: the name users write (functions) or an internal name (operators).
        arity: the number of arguments.
        kind: where the torch formulation comes from: "operator" (a Python operator),
            "torch" (the torch function ``target``) or "careful" (``lang.stable.<target>``).
        target: the operator's symbol, the torch function's dotted path, or the careful
            form's name.
        sympy: ``(sympy_module, *exprs) -> expr``, the independent symbolic reference.
        taylor: ``(torch_module, *series) -> series``, the Taylor-mode rule: truncated Taylor
            series (shape (K+1, n)) of the arguments to that of the result.
        latex: a ``str.format`` template in matplotlib mathtext, for figure labels.
    """

    name: str
    arity: int
    kind: str
    target: str
    sympy: Callable[..., Any]
    taylor: Callable[..., Any]
    latex: str

    def __repr__(self) -> str:
        return f"Op({self.name!r}, arity={self.arity})"

    def compute(self, *tensors):
        """The operation on tensors, by the formulation the engines run."""
        return _torch_callable(self)(*tensors)

    def source(self, *arguments: str) -> str:
        """The same formulation as Python source, on argument sources."""
        if self.kind == "operator":
            if self.arity == 1:
                return f"({self.target}{arguments[0]})"
            return f"({arguments[0]} {self.target} {arguments[1]})"
        prefix = "torch." if self.kind == "torch" else ""
        return f"{prefix}{self.target}({', '.join(arguments)})"


_OPERATOR_FUNCTIONS = {
    "add": python_operator.add,
    "sub": python_operator.sub,
    "mul": python_operator.mul,
    "div": python_operator.truediv,
    "neg": python_operator.neg,
    "pos": python_operator.pos,
}


@functools.cache
def _torch_callable(op: Op) -> Callable:
    if op.kind == "operator":
        return _OPERATOR_FUNCTIONS[op.name]
    if op.kind == "careful":
        from autodiffcli.lang import stable

        return getattr(stable, op.target)
    import torch

    return python_operator.attrgetter(op.target)(torch)


def _sympy_named(name: str) -> Callable:
    return lambda s, *args: getattr(s, name)(*args)


def operator(name: str, symbol: str, latex: str, arity: int = 2) -> Op:
    """A Python operator; sympy and the Taylor rule take the same name."""
    sympy = {
        "add": lambda s, a, b: a + b,
        "sub": lambda s, a, b: a - b,
        "mul": lambda s, a, b: a * b,
        "div": lambda s, a, b: a / b,
        "neg": lambda s, a: -a,
        "pos": lambda s, a: a,
    }[name]
    return Op(name, arity, "operator", symbol, sympy, getattr(series, name), latex)


def function(
    name: str, latex: str, *, torch: str | None = None, sympy: Callable | None = None
) -> Op:
    """A torch function used as it is (``torch.<torch or name>``)."""
    sympy = sympy or _sympy_named(name)
    return Op(name, 1, "torch", torch or name, sympy, getattr(series, name), latex)


def careful(name: str, latex: str, *, arity: int = 1, sympy: Callable | None = None) -> Op:
    """A function whose torch form is ``lang.stable.<name>``, careful where torch's is not."""
    sympy = sympy or _sympy_named(name)
    return Op(name, arity, "careful", name, sympy, getattr(series, name), latex)


def _cfunction(name: str) -> Callable:
    """sympy's log1p or expm1: log(1 + u) absorbs a tiny u at any fixed precision, so the
    reference would agree with itself on 0 where softplus(-400) is e^-400."""

    def build(s, a):
        from sympy.codegen import cfunctions

        return getattr(cfunctions, name)(a)

    return build


def _relu_sympy(s, a):
    return s.Piecewise((a, a > 0), (0, True))


def _cbrt_sympy(s, a):
    return s.sign(a) * s.Abs(a) ** s.Rational(1, 3)


def _sigmoid_sympy(s, a):
    return 1 / (1 + s.exp(-a))


def _softplus_sympy(s, a):
    return _cfunction("log1p")(s, s.exp(a))


def _sinc_sympy(s, a):
    return s.sin(s.pi * a) / (s.pi * a)


def _comparison_sympy(name: str) -> Callable:
    """sympy's Lt, Eq, ...: false where an argument is NaN or not real (sympy raises), as
    torch's comparison is false there (!= true)."""

    def build(s, a, b):
        try:
            return getattr(s, name)(a, b)
        except TypeError:
            return s.true if name == "Ne" else s.false

    return build


def _extremum_sympy(name: str) -> Callable:
    """sympy's Min or Max: NaN where an argument is NaN or not real (sympy raises there)."""

    def build(s, a, b):
        try:
            return getattr(s, name)(a, b)
        except (TypeError, ValueError):
            return s.nan

    return build


def comparison(name: str, torch_name: str, sympy_name: str, latex: str) -> Op:
    """A comparison: a condition decided by the values (torch.lt ...), in every column."""
    return Op(
        name,
        2,
        "torch",
        torch_name,
        _comparison_sympy(sympy_name),
        lambda t, a, b: series.condition(t, getattr(t, torch_name), a, b),
        latex,
    )


def logical(name: str, arity: int, sympy_name: str, latex: str) -> Op:
    """and, or, not: conditions combined (torch.logical_and ...)."""
    target = f"logical_{name}"

    def taylor(t, *conditions):
        return series.condition(t, getattr(t, target), *conditions)

    return Op(name, arity, "torch", target, _sympy_named(sympy_name), taylor, latex)


def extremum(name: str, torch_name: str, larger: bool) -> Op:
    """min or max by torch.minimum/maximum, whose backward halves the gradient at a tie."""
    return Op(
        name,
        2,
        "torch",
        torch_name,
        _extremum_sympy(name.capitalize()),
        lambda t, a, b: series.extremum(t, a, b, larger),
        rf"\{name}({{0}}, {{1}})",
    )


def _where_sympy(s, c, a, b):
    return s.Piecewise((a, c), (b, True))


# fmt: off
# ----- Operators -----
_OPERATORS = [
    operator("add", "+", r"{0} + {1}"),
    operator("sub", "-", r"{0} - {1}"),
    operator("mul", "*", r"{0} {1}"),
    operator("div", "/", r"\frac{{{0}}}{{{1}}}"),
    operator("neg", "-", r"-{0}", arity=1),
    operator("pos", "+", r"+{0}", arity=1),
]

# ----- Functions -----
_FUNCTIONS = [
    function("sin", r"\sin({0})"),
    function("cos", r"\cos({0})"),
    function("tan", r"\tan({0})"),
    function("asin", r"\arcsin({0})"),
    function("acos", r"\arccos({0})"),
    careful("atan", r"\arctan({0})"),
    function("sinh", r"\sinh({0})"),
    function("cosh", r"\cosh({0})"),
    careful("tanh", r"\tanh({0})"),
    careful("asinh", r"\operatorname{{arsinh}}({0})"),
    careful("acosh", r"\operatorname{{arcosh}}({0})"),
    function("atanh", r"\operatorname{{artanh}}({0})"),
    function("exp", r"e^{{{0}}}"),
    careful("expm1", r"e^{{{0}}} - 1", sympy=_cfunction("expm1")),
    function("log", r"\ln({0})"),
    function("log1p", r"\ln(1 + {0})", sympy=_cfunction("log1p")),
    function("log2", r"\log_{{2}}({0})", sympy=lambda s, a: s.log(a, 2)),
    function("log10", r"\log_{{10}}({0})", sympy=lambda s, a: s.log(a, 10)),
    function("sqrt", r"\sqrt{{{0}}}"),
    careful("cbrt", r"\sqrt[3]{{{0}}}", sympy=_cbrt_sympy),
    function("abs", r"\left|{0}\right|", sympy=_sympy_named("Abs")),
    function("erf", r"\operatorname{{erf}}({0})", torch="special.erf"),
    function("erfc", r"\operatorname{{erfc}}({0})", torch="special.erfc"),
    careful("sigmoid", r"\sigma({0})", sympy=_sigmoid_sympy),
    careful("softplus", r"\ln(1 + e^{{{0}}})", sympy=_softplus_sympy),
    function("relu", r"\max(0, {0})", sympy=_relu_sympy),
    careful("sinc", r"\operatorname{{sinc}}({0})", sympy=_sinc_sympy),
    careful("pow", r"{0}^{{{1}}}", arity=2, sympy=lambda s, a, b: a**b),
]

# ----- Piecewise -----
# where as cases: both lines in display style, 'if' and 'otherwise' upright.
_CASES = (
    r"\left\{{\genfrac{{}}{{}}{{0}}{{0}}{{{1} \quad \mathrm{{if}}\ {0}}}"
    r"{{{2} \quad \mathrm{{otherwise}}}}\right."
)
_PIECEWISE = [
    Op("where", 3, "torch", "where", _where_sympy, series.where, _CASES),
    extremum("min", "minimum", larger=False),
    extremum("max", "maximum", larger=True),
    comparison("lt", "lt", "Lt", r"{0} < {1}"),
    comparison("le", "le", "Le", r"{0} \leq {1}"),
    comparison("gt", "gt", "Gt", r"{0} > {1}"),
    comparison("ge", "ge", "Ge", r"{0} \geq {1}"),
    comparison("eq", "eq", "Eq", r"{0} = {1}"),
    comparison("ne", "ne", "Ne", r"{0} \neq {1}"),
    logical("and", 2, "And", r"{0} \wedge {1}"),
    logical("or", 2, "Or", r"{0} \vee {1}"),
    logical("not", 1, "Not", r"\neg {0}"),
]
# fmt: on

# The piecewise rows: where, min, max, the comparisons, and/or/not (see the module docstring).
PIECEWISE: dict[str, Op] = {op.name: op for op in _PIECEWISE}
# The functions users call: the table's functions, where, min and max.
FUNCTIONS: dict[str, Op] = {op.name: op for op in _FUNCTIONS} | {
    name: PIECEWISE[name] for name in ("where", "min", "max")
}
# Every row. The operator ** is the function pow: one row serves both.
OPS: dict[str, Op] = {op.name: op for op in _OPERATORS} | FUNCTIONS | PIECEWISE
# The rows whose result is a condition (true/false per point), not a number.
CONDITIONS: frozenset[str] = frozenset(PIECEWISE) - {"where", "min", "max"}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def row(name: str) -> Op:
    """The row of an operation of the tape: what the compilers read (looked up at each use, so
    a row replaced in OPS, as tests do, is the row they run)."""
    return OPS[name]
