"""The operation table, the spine of the language: one short row per operation.

Every compiler of the tape reads one column of a row: the torch formulation the engines run
(and the snippet ``explain`` prints), the sympy form the checks build, the Taylor rule
(:mod:`autodiffcli.series`) and the mathtext label. Rows are written through three helpers, as
JAX's ``jet`` writes its rules: :func:`operator` for + - * / and signs, :func:`function` for a
torch function used as it is, :func:`careful` for one whose numerically careful form lives in
:mod:`autodiffcli.lang.stable`. Adding a function means adding its row, every column filled.

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
# fmt: on

FUNCTIONS: dict[str, Op] = {op.name: op for op in _FUNCTIONS}
# The operator ** is the function pow: one row serves both.
OPS: dict[str, Op] = {op.name: op for op in _OPERATORS} | FUNCTIONS
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
