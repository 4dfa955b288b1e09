"""The expression language: an allow-listed parser from text to a postorder tape of nodes.

User text is parsed with :func:`ast.parse` in eval mode and only an allow-list of node types
is accepted; it is never evaluated. Every operation, operator or function, is one row of
:data:`OPS` (name, arity, torch op, sympy op, Python source template), so compiling to torch,
to sympy and to a runnable snippet is the same loop over the tape.

This module imports neither torch nor sympy at import time: expression errors answer at once.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autodiffcli.errors import ExpressionError

MAX_LENGTH = 10_000
MAX_DEPTH = 200
MAX_NODES = 5_000


@dataclass(frozen=True)
class Op:
    """One operation of the language.

    Attributes:
        name: the name users write (functions) or an internal name (operators).
        arity: the number of arguments.
        torch: ``(torch_module, *tensors) -> tensor``.
        sympy: ``(sympy_module, *exprs) -> expr``, the independent symbolic reference.
        code: a ``str.format`` template of the same operation in Python with ``torch``.
        taylor: ``(torch_module, *coefficients) -> coefficients``, the Taylor-mode rule:
            truncated Taylor series (shape (K+1, n)) of the arguments to that of the result.
        latex: a ``str.format`` template in matplotlib mathtext, for figure labels.
    """

    name: str
    arity: int
    torch: Callable[..., Any]
    sympy: Callable[..., Any]
    code: str
    taylor: Callable[..., Any] | None = None
    latex: str = ""

    def __repr__(self) -> str:
        return f"Op({self.name!r}, arity={self.arity})"


def _pow(t, a, b):
    """A constant exponent goes to torch as a Python number: torch's backward then treats
    exponent 0 exactly, so the 3rd derivative of x**2 is 0 at x = 0, not 0 * inf = NaN."""
    if b.dim() == 0 and not b.requires_grad:
        return t.pow(a, b.item())
    return t.pow(a, b)


def _cbrt(t, a):
    # The real cube root, defined for negative a (a ** (1/3) is NaN there).
    return t.sign(a) * t.abs(a) ** (1.0 / 3.0)


def _softplus(t, a):
    # logaddexp(a, 0) is exact for large a, where F.softplus switches to a linear branch.
    return t.logaddexp(a, t.zeros_like(a))


def _relu_sympy(s, a):
    return s.Piecewise((a, a > 0), (0, True))


# ----- Operators -----
_OPERATORS = [
    Op("add", 2, lambda t, a, b: a + b, lambda s, a, b: a + b, "({0} + {1})"),
    Op("sub", 2, lambda t, a, b: a - b, lambda s, a, b: a - b, "({0} - {1})"),
    Op("mul", 2, lambda t, a, b: a * b, lambda s, a, b: a * b, "({0} * {1})"),
    Op("div", 2, lambda t, a, b: a / b, lambda s, a, b: a / b, "({0} / {1})"),
    Op("neg", 1, lambda t, a: -a, lambda s, a: -a, "(-{0})"),
    Op("pos", 1, lambda t, a: a, lambda s, a: a, "(+{0})"),
]

# ----- Functions -----
_FUNCTIONS = [
    Op("sin", 1, lambda t, a: t.sin(a), lambda s, a: s.sin(a), "torch.sin({0})"),
    Op("cos", 1, lambda t, a: t.cos(a), lambda s, a: s.cos(a), "torch.cos({0})"),
    Op("tan", 1, lambda t, a: t.tan(a), lambda s, a: s.tan(a), "torch.tan({0})"),
    Op("asin", 1, lambda t, a: t.asin(a), lambda s, a: s.asin(a), "torch.asin({0})"),
    Op("acos", 1, lambda t, a: t.acos(a), lambda s, a: s.acos(a), "torch.acos({0})"),
    Op("atan", 1, lambda t, a: t.atan(a), lambda s, a: s.atan(a), "torch.atan({0})"),
    Op("sinh", 1, lambda t, a: t.sinh(a), lambda s, a: s.sinh(a), "torch.sinh({0})"),
    Op("cosh", 1, lambda t, a: t.cosh(a), lambda s, a: s.cosh(a), "torch.cosh({0})"),
    Op("tanh", 1, lambda t, a: t.tanh(a), lambda s, a: s.tanh(a), "torch.tanh({0})"),
    Op("asinh", 1, lambda t, a: t.asinh(a), lambda s, a: s.asinh(a), "torch.asinh({0})"),
    Op("acosh", 1, lambda t, a: t.acosh(a), lambda s, a: s.acosh(a), "torch.acosh({0})"),
    Op("atanh", 1, lambda t, a: t.atanh(a), lambda s, a: s.atanh(a), "torch.atanh({0})"),
    Op("exp", 1, lambda t, a: t.exp(a), lambda s, a: s.exp(a), "torch.exp({0})"),
    Op("expm1", 1, lambda t, a: t.expm1(a), lambda s, a: s.exp(a) - 1, "torch.expm1({0})"),
    Op("log", 1, lambda t, a: t.log(a), lambda s, a: s.log(a), "torch.log({0})"),
    Op("log1p", 1, lambda t, a: t.log1p(a), lambda s, a: s.log(1 + a), "torch.log1p({0})"),
    Op("log2", 1, lambda t, a: t.log2(a), lambda s, a: s.log(a, 2), "torch.log2({0})"),
    Op("log10", 1, lambda t, a: t.log10(a), lambda s, a: s.log(a, 10), "torch.log10({0})"),
    Op("sqrt", 1, lambda t, a: t.sqrt(a), lambda s, a: s.sqrt(a), "torch.sqrt({0})"),
    Op(
        "cbrt",
        1,
        _cbrt,
        lambda s, a: s.sign(a) * s.Abs(a) ** s.Rational(1, 3),
        "(torch.sign({0}) * torch.abs({0}) ** (1 / 3))",
    ),
    Op("abs", 1, lambda t, a: t.abs(a), lambda s, a: s.Abs(a), "torch.abs({0})"),
    Op("erf", 1, lambda t, a: t.special.erf(a), lambda s, a: s.erf(a), "torch.special.erf({0})"),
    Op(
        "erfc",
        1,
        lambda t, a: t.special.erfc(a),
        lambda s, a: s.erfc(a),
        "torch.special.erfc({0})",
    ),
    Op(
        "sigmoid",
        1,
        lambda t, a: t.sigmoid(a),
        lambda s, a: 1 / (1 + s.exp(-a)),
        "torch.sigmoid({0})",
    ),
    Op(
        "softplus",
        1,
        _softplus,
        lambda s, a: s.log(1 + s.exp(a)),
        "torch.logaddexp({0}, torch.zeros_like({0}))",
    ),
    Op("relu", 1, lambda t, a: t.relu(a), _relu_sympy, "torch.relu({0})"),
    Op(
        "sinc",
        1,
        lambda t, a: t.sinc(a),
        lambda s, a: s.sin(s.pi * a) / (s.pi * a),
        "torch.sinc({0})",
    ),
    Op("pow", 2, _pow, lambda s, a, b: a**b, "torch.pow({0}, {1})"),
]

FUNCTIONS: dict[str, Op] = {op.name: op for op in _FUNCTIONS}
# The operator ** is the function pow: one row serves both.
OPS: dict[str, Op] = {op.name: op for op in _OPERATORS} | FUNCTIONS
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
VARIABLE = "x"

_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_UNARY = {ast.USub: "neg", ast.UAdd: "pos"}
_FORBIDDEN = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "'if ... else'",
    ast.NamedExpr: "':='",
    ast.Starred: "'*' unpacking",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.JoinedStr: "strings",
    ast.Await: "'await'",
    ast.Slice: "slices",
}


@dataclass(frozen=True)
class Node:
    """One step of the tape: an op applied to earlier nodes, the variable, or a constant."""

    op: str  # "x", "const", or a key of OPS/FUNCTIONS
    args: tuple[int, ...] = ()
    value: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: the user's text and its postorder tape (the last node is the root)."""

    text: str
    nodes: tuple[Node, ...]

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, {len(self.nodes)} nodes)"

    def __str__(self) -> str:
        return self.text

    @property
    def depends_on_x(self) -> list[bool]:
        """For each node, whether its value depends on x."""
        return fold(self, True, lambda node: False, lambda node, op, args: any(args))


# ----- Parsing -----


def parse(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`, or raise :class:`ExpressionError`.

    ``^`` is accepted as a synonym of ``**``. Nothing in ``text`` is ever executed.
    """
    source = _check_text(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise _syntax_error(text, source, error) from None
    except (MemoryError, RecursionError):
        raise ExpressionError(
            f"expression is nested too deeply (at most {MAX_DEPTH} levels); simplify it"
        ) from None
    except ValueError as error:  # e.g. integer literals over Python's digit limit
        raise ExpressionError(f"cannot read a number in the expression: {error}") from None
    _check_size(tree)
    return Expression(text=text, nodes=tuple(_tape(tree.body, source)))


def _check_text(text: str) -> str:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}"
        )
    for column, char in enumerate(text):
        if not char.isascii():
            raise ExpressionError(
                f"non-ASCII character {char!r} at column {column + 1}; "
                "write the expression in plain ASCII (e.g. 'pi', not 'π')"
            )
    if not text.strip():
        raise ExpressionError("expression is empty; try 'sin(x)'")
    if "\n" in text or "\r" in text:
        raise ExpressionError("expression must be on one line")
    return text.replace("^", "**")


def _syntax_error(text: str, source: str, error: SyntaxError) -> ExpressionError:
    reason = (error.msg or "invalid syntax").split(" (")[0]
    if "Exceeds the limit" in reason:
        return ExpressionError(f"a number in the expression is too long: {reason}")
    offset = max(1, min(error.offset or 1, len(source) + 1))
    # Map the column in `source` (where each '^' became '**') back to `text`.
    column = offset - source[: offset - 1].count("**") + text[: offset - 1].count("**")
    column = max(1, min(column, len(text) + 1))
    hint, hint_column = _implicit_multiplication_hint(text)
    message = f"invalid syntax at column {column}: {reason}"
    if hint:
        column = hint_column
        message = f"invalid syntax at column {column}: {hint}"
    excerpt, caret = _excerpt(text, column)
    return ExpressionError(f"{message}\n  {excerpt}\n  {' ' * caret}^")


def _excerpt(text: str, column: int, width: int = 60) -> tuple[str, int]:
    """At most ``width`` characters of ``text`` around ``column``, and the caret offset."""
    begin = max(0, min(column - 1 - width // 2, len(text) - width))
    excerpt = text[begin : begin + width]
    caret = column - 1 - begin
    if begin > 0:
        excerpt, caret = "..." + excerpt, caret + 3
    if begin + width < len(text):
        excerpt += "..."
    return excerpt, caret


_IMPLICIT = re.compile(r"(?<![\w.])(\d+\.?\d*(?:[eE][+-]?\d+)?)([A-Za-z_]\w*|\()")


def _implicit_multiplication_hint(text: str) -> tuple[str, int]:
    """('write 2*x ...', column of the missing '*') for '2x', '3sin(x)', '2(x+1)'."""
    match = _IMPLICIT.search(text)
    if not match:
        return "", 0
    number, following = match.groups()
    hint = f"write '{number}*{following}' instead of '{number}{following}' to multiply"
    return hint, match.end(1) + 1


def _check_size(tree: ast.Expression) -> None:
    """Count nodes and depth with an explicit stack, so hostile input cannot recurse."""
    count = 0
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression is nested more than {MAX_DEPTH} levels deep; simplify it"
            )
        if count > MAX_NODES:
            raise ExpressionError(f"expression has more than {MAX_NODES:,} parts; simplify it")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _tape(root: ast.AST, source: str) -> list[Node]:
    """Flatten the AST into postorder with an explicit stack, checking each node once."""
    nodes: list[Node] = []
    index_of: dict[int, int] = {}
    stack: list[tuple[ast.AST, list[ast.AST] | None]] = [(root, None)]
    variable: int | None = None
    while stack:
        node, children = stack.pop()
        if children is None:
            children = _operands(node, source)
            if children:
                stack.append((node, children))
                stack.extend((child, None) for child in reversed(children))
                continue
        made = _leaf_or_op(node, tuple(index_of[id(c)] for c in children), source)
        if made.op == VARIABLE and variable is not None:
            index_of[id(node)] = variable  # x is one node, however often it is written
            continue
        if made.op == VARIABLE:
            variable = len(nodes)
        index_of[id(node)] = len(nodes)
        nodes.append(made)
    return nodes


def _operands(node: ast.AST, source: str) -> list[ast.AST]:
    """The sub-expressions of an allowed node; raises for anything outside the language."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return [node.operand]
    if isinstance(node, ast.Call):
        _check_call(node, source)
        return list(node.args)
    if isinstance(node, ast.Name):
        _check_name(node.id)
        return []
    if isinstance(node, ast.Constant):
        _check_constant(node.value)
        return []
    raise ExpressionError(_not_allowed(node))


def _leaf_or_op(node: ast.AST, args: tuple[int, ...], source: str) -> Node:
    if isinstance(node, ast.BinOp):
        return Node(_BINARY[type(node.op)], args)
    if isinstance(node, ast.UnaryOp):
        return Node(_UNARY[type(node.op)], args)
    if isinstance(node, ast.Call):
        return Node(node.func.id, args)  # type: ignore[attr-defined]
    if isinstance(node, ast.Name):
        if node.id == VARIABLE:
            return Node(VARIABLE, label="x")
        return Node("const", value=CONSTANTS[node.id], label=node.id)
    assert isinstance(node, ast.Constant)
    return Node("const", value=_as_float(node.value), label=_source_of(node, source))


def _check_call(node: ast.Call, source: str) -> None:
    if isinstance(node.func, ast.Constant):
        number = _source_of(node.func, source)
        raise ExpressionError(f"a number cannot be called; write '{number}*(...)' to multiply")
    if not isinstance(node.func, ast.Name):
        raise ExpressionError(_not_allowed(node.func))
    name = node.func.id
    if name not in FUNCTIONS:
        if name == VARIABLE or name in CONSTANTS:
            raise ExpressionError(f"'{name}' is not a function; write '{name}*(...)' to multiply")
        raise ExpressionError(f"unknown function '{name}'{_suggestion(name, FUNCTIONS)}")
    if node.keywords:
        raise ExpressionError(f"{name}() takes no keyword arguments")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ExpressionError(f"{name}() does not accept '*' unpacking")
    expected = FUNCTIONS[name].arity
    if len(node.args) != expected:
        plural = "argument" if expected == 1 else "arguments"
        raise ExpressionError(
            f"{name}() takes {expected} {plural}, got {len(node.args)}: "
            f"write {name}({', '.join(['x', 'y'][:expected])})"
        )


def _check_name(name: str) -> None:
    if name == VARIABLE or name in CONSTANTS:
        return
    if name in FUNCTIONS:
        raise ExpressionError(f"'{name}' is a function; call it as {name}(x)")
    known = {VARIABLE: None, **CONSTANTS, **FUNCTIONS}
    raise ExpressionError(
        f"unknown name '{name}'{_suggestion(name, known)}; "
        "the variable is 'x' and the constants are 'pi' and 'e'"
    )


def _check_constant(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "strings are" if isinstance(value, (str, bytes)) else f"{value!r} is"
        raise ExpressionError(f"{kind} not allowed in an expression; use numbers, x, pi and e")


def _as_float(value: int | float) -> float:
    """Constants are floats: a huge integer becomes inf, never Python big-int arithmetic."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _source_of(node: ast.AST, source: str) -> str:
    segment = ast.get_source_segment(source, node)
    return segment if segment else repr(getattr(node, "value", ""))


def _suggestion(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" - did you mean '{close[0]}'?" if close else ""


def _not_allowed(node: ast.AST) -> str:
    what = _FORBIDDEN.get(type(node))
    if what is None:
        what = type(node).__name__
    where = ""
    if hasattr(node, "col_offset"):
        where = f" (at column {node.col_offset + 1})"
    return (
        f"{what} not allowed in an expression{where}; "
        "use numbers, x, pi, e, + - * / ** ^ and the functions in the README"
    )


# ----- Compiling -----


def fold(expression: Expression, variable, constant, apply) -> list:
    """Compile the tape node by node: the one loop behind torch, sympy and source output.

    Args:
        variable: the value of x.
        constant: ``(node) -> value`` for a constant node.
        apply: ``(node, op, args) -> value`` for an operation on earlier values.

    Returns:
        One value per node; the last is the expression's.
    """
    values: list = []
    for node in expression.nodes:
        if node.op == VARIABLE:
            values.append(variable)
        elif node.op == "const":
            values.append(constant(node))
        else:
            values.append(apply(node, OPS[node.op], [values[i] for i in node.args]))
    return values


def evaluate_nodes(expression: Expression, x):
    """Evaluate every node of the tape on tensor ``x``; returns one tensor per node.

    Constants become 0-d tensors of x's dtype and device so that every op sees tensors and
    constant arithmetic happens in floating point (``9**9**9`` is inf, not a Python bigint).
    """
    import torch

    return fold(
        expression,
        x,
        lambda node: torch.tensor(node.value, dtype=x.dtype, device=x.device),
        lambda node, op, args: op.torch(torch, *args),
    )


def evaluate(expression: Expression, x):
    """f(x) for tensor ``x``, with x's shape even when f does not depend on x."""
    y = evaluate_nodes(expression, x)[-1]
    return y if y.shape == x.shape else y.expand_as(x)


def python_source(expression: Expression, variable: str = "x") -> str:
    """The expression as Python source with torch calls, built from the tape (not the text)."""
    depends = expression.depends_on_x

    def apply(node, op, args):
        # A function of a constant sub-expression needs a tensor: torch.sin(2.0) fails.
        wrapped = [
            code if node.op in _SCALAR_OK or depends[i] else _as_tensor_source(code)
            for code, i in zip(args, node.args, strict=True)
        ]
        return op.code.format(*wrapped)

    return fold(expression, variable, _constant_source, apply)[-1]


# Operators take Python floats on both sides; only functions need tensor arguments.
_SCALAR_OK = {"add", "sub", "mul", "div", "neg", "pos"}


def _constant_source(node: Node) -> str:
    if node.label in CONSTANTS:
        return f"math.{node.label}"
    return repr(node.value)


def _as_tensor_source(code: str) -> str:
    return f"torch.tensor({code}, dtype=x.dtype)"
