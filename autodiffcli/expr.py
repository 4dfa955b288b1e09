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
import functools
import keyword
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autodiffcli import series
from autodiffcli.errors import ExpressionError, printable

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


# sinc: below this |x| a Taylor polynomial of this many terms (order 10 within 1e-13).
_SINC_SERIES_BELOW = 1.5
_SINC_TERMS = 32


def _pow(t, a, b):
    """a**b. A constant exponent goes to torch as a Python number (torch's backward then
    treats exponent 0 exactly: the 3rd derivative of x**2 at 0 is 0, not 0 * inf). An
    x-dependent exponent is exp(b*log(a)) where a > 0, since torch's rule masks exponent == 0
    and is wrong from order 2 at integer exponents; its value is torch.pow's (2**3 is 8)."""
    if b.dim() == 0 and not b.requires_grad:
        return t.pow(a, b.item())
    direct = t.pow(a, b)  # a <= 0: defined only at integer b, where d/db (log a) is NaN
    positive = a > 0
    smooth = t.exp(b * t.log(t.where(positive, a, t.ones_like(a))))  # double where: no NaN
    return t.where(positive, _with_value(t, smooth, direct), direct)


def _with_value(t, smooth, exact):
    """``smooth``'s derivatives with ``exact``'s value (where both are finite)."""
    correction = (exact - smooth).detach()
    return smooth + t.where(t.isfinite(correction), correction, t.zeros_like(correction))


def _cbrt(t, a):
    # Odd, by where: f'(0) is +inf, not sign(0)*inf = NaN. Our own rule f' = 1/(3 f**2) on the
    # Newton-refined root: m**(1/3) carries the rounded exponent (1e-14 off at 1e300), and its
    # chain g * y * m**(-2/3) underflows at 1e-300 where 1/(3 y**2) does not.
    negative = a < 0
    m = t.where(negative, -a, a)
    y = _cube_root(t).apply(m)
    return t.where(negative, -y, y)


@functools.cache
def _cube_root(t):
    """The autograd function cbrt(m) for m >= 0 (built on first use: torch loads lazily)."""

    class CubeRoot(t.autograd.Function):
        generate_vmap_rule = True  # torch.func (explain's forward mode) needs these forms

        @staticmethod
        def forward(m):
            y = m ** (1.0 / 3.0)
            refined = y + y * ((m / y / y / y) - 1) / 3  # one Newton step
            return t.where((m == 0) | t.isinf(m), y, refined)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)
            ctx.save_for_forward(output)

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad / (3 * y * y)

        @staticmethod
        def jvp(ctx, tangent):
            (y,) = ctx.saved_tensors
            return tangent / (3 * y * y)

    return CubeRoot


def _tanh(t, a):
    # Odd, derivatives from (1 - e)/(1 + e), e = exp(-2|a|), value from tanh: torch's rule
    # 1 - tanh**2 cancels for large |a| (tanh'(7) off by 1e-11, tanh'(20) = 0, truly 1.7e-17).
    negative = a < 0
    m = t.where(negative, -a, a)
    e = t.exp(-2 * m)
    y = _with_value(t, (1 - e) / (1 + e), t.tanh(m))
    return t.where(negative, -y, y)


def _expm1(t, a):
    # Derivatives from exp(a) - 1, value from expm1: torch's rule expm1 + 1 loses e^a for
    # a < -37 (expm1'(-40) = 0; the truth is 4.2e-18).
    return _with_value(t, t.exp(a) - 1, t.expm1(a))


def _atan(t, a):
    # Beyond |a| = 1, sign(a)*pi/2 - atan(1/a): torch's rule 1/(1 + a**2) overflows in the
    # higher derivatives (atan''(1e100) = 0; the truth is -2e-300).
    big = a.abs() > 1
    inverse = 1 / t.where(big, a, t.ones_like(a))
    outer = t.sign(a) * (math.pi / 2) - t.atan(inverse)
    inner = t.atan(t.where(big, t.zeros_like(a), a))
    return _with_value(t, t.where(big, outer, inner), t.atan(a))


def _asinh(t, a):
    # Odd; beyond |a| = 1, log(m) + log1p(sqrt(1 + (1/m)**2)): torch's rule 1/sqrt(1 + a**2)
    # overflows in the higher derivatives (asinh's 3rd at 1e100 has the wrong sign).
    negative = a < 0
    m = t.where(negative, -a, a)
    big = m > 1
    safe = t.where(big, m, t.ones_like(m))
    outer = t.log(safe) + t.log1p(t.sqrt(1 + (1 / safe) ** 2))
    y = t.where(big, outer, t.asinh(t.where(big, t.zeros_like(m), m)))
    y = _with_value(t, y, t.asinh(m))
    return t.where(negative, -y, y)


def _acosh(t, a):
    # Beyond a = 2, log(a) + log1p(sqrt(1 - (1/a)**2)): torch's rule 1/sqrt(a**2 - 1)
    # overflows in the higher derivatives (acosh's 3rd at 1e100 has the wrong sign).
    big = a > 2
    safe = t.where(big, a, 2 * t.ones_like(a))
    outer = t.log(safe) + t.log1p(t.sqrt(1 - (1 / safe) ** 2))
    y = t.where(big, outer, t.acosh(t.where(big, 2 * t.ones_like(a), a)))
    return _with_value(t, y, t.acosh(a))


def _softplus(t, a):
    # Split by sign so that both branches stay analytic and derivatives follow e^a on the
    # left (logaddexp's backward gives NaN at a = -800 from order 2).
    negative = a < 0
    left = t.log1p(t.exp(t.where(negative, a, t.zeros_like(a))))
    right_a = t.where(negative, t.zeros_like(a), a)
    right = right_a + t.log1p(t.exp(-right_a))
    return t.where(negative, left, right)


def _sigmoid(t, a):
    # Split by sign: torch's rule y*(1 - y) is 0 once y rounds to 1 (sigmoid'(40) = 4.2e-18).
    negative = a < 0
    left_exp = t.exp(t.where(negative, a, t.zeros_like(a)))
    right_exp = t.exp(-t.where(negative, t.zeros_like(a), a))
    return t.where(negative, left_exp / (1 + left_exp), 1 / (1 + right_exp))


def _sinc(t, a):
    # Near 0, a Taylor polynomial in (pi a)**2: sin(pi a)/(pi a) cancels catastrophically in
    # its derivatives there (torch's sinc gives f'' = 0 at 1e-12 and NaN at 0).
    small = a.abs() < _SINC_SERIES_BELOW
    near = t.where(small, a, t.zeros_like(a))
    far = t.where(small, t.ones_like(a), a)
    u = (math.pi * near) ** 2
    taylor = t.zeros_like(u)
    for n in range(_SINC_TERMS, -1, -1):
        taylor = taylor * u + (-1) ** n / math.factorial(2 * n + 1)
    return t.where(small, taylor, t.sin(math.pi * far) / (math.pi * far))


def _cfunction(name: str):
    """sympy's log1p or expm1: log(1 + u) absorbs a tiny u at any fixed precision, so the
    reference would agree with itself on 0 where softplus(-400) is e^-400."""
    from sympy.codegen import cfunctions

    return getattr(cfunctions, name)


def _relu_sympy(s, a):
    return s.Piecewise((a, a > 0), (0, True))


# ----- Operators -----
_OPERATORS = [
    Op(
        "add",
        2,
        lambda t, a, b: a + b,
        lambda s, a, b: a + b,
        "({0} + {1})",
        taylor=series.add,
        latex=r"{0} + {1}",
    ),
    Op(
        "sub",
        2,
        lambda t, a, b: a - b,
        lambda s, a, b: a - b,
        "({0} - {1})",
        taylor=series.sub,
        latex=r"{0} - {1}",
    ),
    Op(
        "mul",
        2,
        lambda t, a, b: a * b,
        lambda s, a, b: a * b,
        "({0} * {1})",
        taylor=series.mul,
        latex=r"{0} {1}",
    ),
    Op(
        "div",
        2,
        lambda t, a, b: a / b,
        lambda s, a, b: a / b,
        "({0} / {1})",
        taylor=series.div,
        latex=r"\frac{{{0}}}{{{1}}}",
    ),
    Op("neg", 1, lambda t, a: -a, lambda s, a: -a, "(-{0})", taylor=series.neg, latex=r"-{0}"),
    Op("pos", 1, lambda t, a: a, lambda s, a: a, "(+{0})", taylor=series.pos, latex=r"+{0}"),
]

# ----- Functions -----
_FUNCTIONS = [
    Op(
        "sin",
        1,
        lambda t, a: t.sin(a),
        lambda s, a: s.sin(a),
        "torch.sin({0})",
        taylor=series.sin,
        latex=r"\sin({0})",
    ),
    Op(
        "cos",
        1,
        lambda t, a: t.cos(a),
        lambda s, a: s.cos(a),
        "torch.cos({0})",
        taylor=series.cos,
        latex=r"\cos({0})",
    ),
    Op(
        "tan",
        1,
        lambda t, a: t.tan(a),
        lambda s, a: s.tan(a),
        "torch.tan({0})",
        taylor=series.tan,
        latex=r"\tan({0})",
    ),
    Op(
        "asin",
        1,
        lambda t, a: t.asin(a),
        lambda s, a: s.asin(a),
        "torch.asin({0})",
        taylor=series.asin,
        latex=r"\arcsin({0})",
    ),
    Op(
        "acos",
        1,
        lambda t, a: t.acos(a),
        lambda s, a: s.acos(a),
        "torch.acos({0})",
        taylor=series.acos,
        latex=r"\arccos({0})",
    ),
    Op(
        "atan",
        1,
        _atan,
        lambda s, a: s.atan(a),
        "torch.atan({0})",
        taylor=series.atan,
        latex=r"\arctan({0})",
    ),
    Op(
        "sinh",
        1,
        lambda t, a: t.sinh(a),
        lambda s, a: s.sinh(a),
        "torch.sinh({0})",
        taylor=series.sinh,
        latex=r"\sinh({0})",
    ),
    Op(
        "cosh",
        1,
        lambda t, a: t.cosh(a),
        lambda s, a: s.cosh(a),
        "torch.cosh({0})",
        taylor=series.cosh,
        latex=r"\cosh({0})",
    ),
    Op(
        "tanh",
        1,
        _tanh,
        lambda s, a: s.tanh(a),
        "torch.tanh({0})",
        taylor=series.tanh,
        latex=r"\tanh({0})",
    ),
    Op(
        "asinh",
        1,
        _asinh,
        lambda s, a: s.asinh(a),
        "torch.asinh({0})",
        taylor=series.asinh,
        latex=r"\operatorname{{arsinh}}({0})",
    ),
    Op(
        "acosh",
        1,
        _acosh,
        lambda s, a: s.acosh(a),
        "torch.acosh({0})",
        taylor=series.acosh,
        latex=r"\operatorname{{arcosh}}({0})",
    ),
    Op(
        "atanh",
        1,
        lambda t, a: t.atanh(a),
        lambda s, a: s.atanh(a),
        "torch.atanh({0})",
        taylor=series.atanh,
        latex=r"\operatorname{{artanh}}({0})",
    ),
    Op(
        "exp",
        1,
        lambda t, a: t.exp(a),
        lambda s, a: s.exp(a),
        "torch.exp({0})",
        taylor=series.exp,
        latex=r"e^{{{0}}}",
    ),
    Op(
        "expm1",
        1,
        _expm1,
        lambda s, a: _cfunction("expm1")(a),
        "torch.expm1({0})",
        taylor=series.expm1,
        latex=r"e^{{{0}}} - 1",
    ),
    Op(
        "log",
        1,
        lambda t, a: t.log(a),
        lambda s, a: s.log(a),
        "torch.log({0})",
        taylor=series.log,
        latex=r"\ln({0})",
    ),
    Op(
        "log1p",
        1,
        lambda t, a: t.log1p(a),
        lambda s, a: _cfunction("log1p")(a),
        "torch.log1p({0})",
        taylor=series.log1p,
        latex=r"\ln(1 + {0})",
    ),
    Op(
        "log2",
        1,
        lambda t, a: t.log2(a),
        lambda s, a: s.log(a, 2),
        "torch.log2({0})",
        taylor=series.log2,
        latex=r"\log_{{2}}({0})",
    ),
    Op(
        "log10",
        1,
        lambda t, a: t.log10(a),
        lambda s, a: s.log(a, 10),
        "torch.log10({0})",
        taylor=series.log10,
        latex=r"\log_{{10}}({0})",
    ),
    Op(
        "sqrt",
        1,
        lambda t, a: t.sqrt(a),
        lambda s, a: s.sqrt(a),
        "torch.sqrt({0})",
        taylor=series.sqrt,
        latex=r"\sqrt{{{0}}}",
    ),
    Op(
        "cbrt",
        1,
        _cbrt,
        lambda s, a: s.sign(a) * s.Abs(a) ** s.Rational(1, 3),
        "(torch.sign({0}) * torch.abs({0}) ** (1 / 3))",
        taylor=series.cbrt,
        latex=r"\sqrt[3]{{{0}}}",
    ),
    Op(
        "abs",
        1,
        lambda t, a: t.abs(a),
        lambda s, a: s.Abs(a),
        "torch.abs({0})",
        taylor=series.abs,
        latex=r"\left|{0}\right|",
    ),
    Op(
        "erf",
        1,
        lambda t, a: t.special.erf(a),
        lambda s, a: s.erf(a),
        "torch.special.erf({0})",
        taylor=series.erf,
        latex=r"\operatorname{{erf}}({0})",
    ),
    Op(
        "erfc",
        1,
        lambda t, a: t.special.erfc(a),
        lambda s, a: s.erfc(a),
        "torch.special.erfc({0})",
        taylor=series.erfc,
        latex=r"\operatorname{{erfc}}({0})",
    ),
    Op(
        "sigmoid",
        1,
        _sigmoid,
        lambda s, a: 1 / (1 + s.exp(-a)),
        "torch.sigmoid({0})",
        taylor=series.sigmoid,
        latex=r"\sigma({0})",
    ),
    Op(
        "softplus",
        1,
        _softplus,
        lambda s, a: _cfunction("log1p")(s.exp(a)),
        "torch.logaddexp({0}, torch.zeros_like({0}))",
        taylor=series.softplus,
        latex=r"\ln(1 + e^{{{0}}})",
    ),
    Op(
        "relu",
        1,
        lambda t, a: t.relu(a),
        _relu_sympy,
        "torch.relu({0})",
        taylor=series.relu,
        latex=r"\max(0, {0})",
    ),
    Op(
        "sinc",
        1,
        _sinc,
        lambda s, a: s.sin(s.pi * a) / (s.pi * a),
        "torch.sinc({0})",
        taylor=series.sinc,
        latex=r"\operatorname{{sinc}}({0})",
    ),
    Op(
        "pow",
        2,
        _pow,
        lambda s, a, b: a**b,
        "torch.pow({0}, {1})",
        taylor=series.pow,
        latex=r"{0}^{{{1}}}",
    ),
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
        tree = _parse_quietly(source)
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


def _parse_quietly(source: str) -> ast.Expression:
    """ast.parse without Python's SyntaxWarnings ('invalid decimal literal' for '1if'): the
    user gets our one-line error or nothing, never a warning about Python source."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, mode="eval")


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
    if "|" in text:
        column = text.index("|") + 1
        raise _pointing(
            f"'|' at column {column} is not an operator; write abs(x) for |x|", text, column
        )
    return text.replace("^", "**")


def _syntax_error(text: str, source: str, error: SyntaxError) -> ExpressionError:
    reason = (error.msg or "invalid syntax").split(" (")[0].split(". Perhaps")[0]
    if "Exceeds the limit" in reason:
        return ExpressionError(f"a number in the expression is too long: {reason}")
    offset = max(1, min(error.offset or 1, len(source) + 1))
    # Map the column in `source` (where each '^' became '**') back to `text`.
    column = offset - source[: offset - 1].count("**") + text[: offset - 1].count("**")
    column = max(1, min(column, len(text) + 1))
    hint, hint_column = _implicit_multiplication_hint(text)
    if not hint:
        hint, hint_column = _missing_operator_hint(text)
    if hint:
        column, reason = hint_column, hint
    return _pointing(f"invalid syntax at column {column}: {reason}", text, column)


def _pointing(message: str, text: str, column: int) -> ExpressionError:
    """The message, then the expression (or the part around ``column``) with a caret."""
    excerpt, caret = _excerpt(text, column)
    return ExpressionError(f"{message}\n  {excerpt}\n  {' ' * caret}^")


def _excerpt(text: str, column: int, width: int = 60) -> tuple[str, int]:
    """At most ``width`` characters of ``text`` around ``column``, and the caret offset.

    Control characters are shown escaped ('\x1b'), so echoing the text cannot drive the
    terminal; the caret still points at the character meant.
    """
    begin = max(0, min(column - 1 - width // 2, len(text) - width))
    shown = [printable(char) for char in text[begin : begin + width]]
    caret = sum(map(len, shown[: column - 1 - begin])) + max(0, column - 1 - begin - len(shown))
    excerpt = "".join(shown)
    if begin > 0:
        excerpt, caret = "..." + excerpt, caret + 3
    if begin + width < len(text):
        excerpt += "..."
    return excerpt, caret


def _shown(text: str, limit: int = 30) -> str:
    """User text quoted in a message: control characters escaped, long text cut short."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Possessive quantifiers: no backtracking, so a long run of digits is scanned once (linear).
_IMPLICIT = re.compile(r"(?<![\w.])(\d++(?:\.\d*+)?+(?:[eE][+-]?\d++)?+)([A-Za-z_]\w*+|\()")
_PREFIXED_INTEGER = re.compile(r"0[xX][0-9a-fA-F]|0[oO][0-7]|0[bB][01]")


def _implicit_multiplication_hint(text: str) -> tuple[str, int]:
    """('write 2*x ...', column of the missing '*') for '2x', '3sin(x)', '2(x+1)'.

    '0x1f', '0o17' and '0b101' are Python's integer literals, not 0 times a name.
    """
    for match in _IMPLICIT.finditer(text):
        if _PREFIXED_INTEGER.match(text, match.start()):
            continue
        number, following = _shown(match.group(1)), _shown(match.group(2))
        hint = f"write '{number}*{following}' instead of '{number}{following}' to multiply"
        return hint, match.end(1) + 1
    return "", 0


_TOKEN = re.compile(
    r"\s*+(?:(?P<number>0[xXoObB]\w++|\d++(?:\.\d*+)?+(?:[eE][+-]?\d++)?+|\.\d++"
    r"(?:[eE][+-]?\d++)?+)|(?P<name>[A-Za-z_]\w*+)|(?P<other>\S))"
)


def _missing_operator_hint(text: str) -> tuple[str, int]:
    """('expected an operator between ...', column) for 'sin x', '2 x', 'x x', '(x) x'.

    Given only where inserting the operator gets Python's parser past that point, so the
    hint never hides an earlier, different mistake.
    """
    pair = _juxtaposed(text)
    if pair is None:
        return "", 0
    left, right, column = pair
    if not _parses_past(text[: column - 1] + "*" + text[column - 1 :], column):
        return "", 0
    left, right = _shown(left), _shown(right)
    function = _ALIASES.get(left, left)
    if function in FUNCTIONS:
        fix = f"did you mean {function}({right})?"
    elif left == ")":
        fix = "write '*' to multiply"
    else:
        fix = f"did you mean {left}*{right}{'(...)' if right in FUNCTIONS else ''}?"
    return f"expected an operator between '{left}' and '{right}'; {fix}", column


def _juxtaposed(text: str) -> tuple[str, str, int] | None:
    """The first operand followed by another with only spaces (or a ')') between them:
    (left token, right token, column of the right one)."""
    previous = None  # (token, whether a space follows it) for a token that ends an operand
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        token = match.group(kind)
        operand = kind != "other" and not keyword.iskeyword(token)
        if operand and previous is not None and (previous[1] or previous[0] == ")"):
            return previous[0], token, match.start(kind) + 1
        if operand or token == ")":
            previous = (token, text[match.end() : match.end() + 1].isspace())
        else:
            previous = None
    return None


def _parses_past(source: str, column: int) -> bool:
    """Whether ``source`` parses, or fails only after ``column``."""
    try:
        _parse_quietly(source.replace("^", "**"))
    except SyntaxError as error:
        return (error.offset or 0) > column
    except (ValueError, MemoryError, RecursionError):
        return True
    return True


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
        number = _shown(_source_of(node.func, source))
        raise ExpressionError(f"a number cannot be called; write '{number}*(...)' to multiply")
    if isinstance(node.func, (ast.BinOp, ast.UnaryOp, ast.Call)):
        raise ExpressionError(
            "expected an operator between ')' and '('; write '*' to multiply, as in (x+1)*(x-1)"
        )
    if not isinstance(node.func, ast.Name):
        raise ExpressionError(_not_allowed(node.func))
    name = node.func.id
    if name not in FUNCTIONS:
        if name == VARIABLE or name in CONSTANTS:
            raise ExpressionError(f"'{name}' is not a function; write '{name}*(...)' to multiply")
        raise ExpressionError(f"unknown function '{_shown(name)}'{_suggestion(name, FUNCTIONS)}")
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
    glued = _glued_call(name)
    if glued:
        raise ExpressionError(f"unknown name '{_shown(name)}' - did you mean {glued}?")
    known = {VARIABLE: None, **CONSTANTS, **FUNCTIONS}
    raise ExpressionError(
        f"unknown name '{_shown(name)}'{_suggestion(name, known)}; "
        "the variable is 'x' and the constants are 'pi' and 'e'"
    )


def _glued_call(name: str) -> str:
    """'sin(x)' for 'sinx', 'log(2)' for 'ln2': a function name run into its argument."""
    for written in sorted([*FUNCTIONS, *_ALIASES], key=len, reverse=True):
        argument = name[len(written) :]
        if name.startswith(written) and (argument in (VARIABLE, *CONSTANTS) or argument.isdigit()):
            return f"{_ALIASES.get(written, written)}({argument})"
    return ""


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


# Names people type for our functions (other languages, textbooks).
_ALIASES = {
    "ln": "log",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
    "arsinh": "asinh",
    "arcosh": "acosh",
    "artanh": "atanh",
    "fabs": "abs",
    "power": "pow",
    "logistic": "sigmoid",
    "expit": "sigmoid",
}
# 'sqr' is the square in Pascal and the square root in BASIC: say both.
_SQUARE_OR_ROOT = {"sqr", "sq", "square"}


def _suggestion(name: str, known) -> str:
    if name.lower() in _SQUARE_OR_ROOT:
        return " - for a square write (...)^2, for a square root sqrt(...)"
    alias = _ALIASES.get(name.lower())
    if alias in known:
        return f" - did you mean '{alias}'?"
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


# ----- LaTeX labels -----

# Precedence of a LaTeX form, loosest first: a form binds as tightly as its number.
_SUM, _SIGNED, _PRODUCT, _FRACTION, _POWER, _ATOM = range(1, 7)
# op name -> (precedence of the result, least precedence each argument needs to go bare);
# rows not listed are function calls: atoms whose arguments sit in their own parentheses.
_LATEX_PRECEDENCE = {
    "add": (_SUM, (_SUM, _PRODUCT)),
    "sub": (_SUM, (_SUM, _PRODUCT)),
    "mul": (_PRODUCT, (_SIGNED, _PRODUCT)),
    "div": (_FRACTION, (0, 0)),
    "neg": (_SIGNED, (_PRODUCT,)),
    "pos": (_SIGNED, (_PRODUCT,)),
    "pow": (_POWER, (_ATOM, 0)),
    "exp": (_POWER, (0,)),
    "expm1": (_SUM, (0,)),
    "log1p": (_ATOM, (_PRODUCT,)),
}
# Inside a superscript a \frac would be unreadably small: e^{-x^{2}/2}, not e^{\frac{-x^{2}}{2}}.
_INLINE_DIVISION = (_PRODUCT, (_SIGNED, _POWER), "{0}/{1}")
_PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?")
_NAMED_FUNCTION = re.compile(r"\\(?!frac|sqrt|left|pi\b|sigma\b)[a-z]+")


def latex(expression: Expression) -> str:
    """The expression in matplotlib mathtext (no ``$``), with the fewest parentheses.

    One fold over the tape with the ``latex`` column: each node yields ``(text, precedence)``
    for display and for inline use (inside superscripts), and a parent wraps an argument in
    parentheses only where the argument binds more loosely than its place needs.
    """

    def form(op: Op, args: list, inline: bool) -> tuple[str, int]:
        precedence, bare = _LATEX_PRECEDENCE.get(op.name, (_ATOM, (0,) * op.arity))
        template = op.latex
        if inline and op.name == "div":
            precedence, bare, template = _INLINE_DIVISION
        raised = {i for i in range(op.arity) if "^{{{" + str(i) + "}}}" in template}
        texts = []
        for i, (arg, least) in enumerate(zip(args, bare, strict=True)):
            text, tightness = arg[1] if inline or i in raised else arg[0]
            if tightness < least:
                text = rf"\left({text}\right)" if "\\frac" in text else f"({text})"
            texts.append(text)
        if op.name == "mul" and texts[1][:1] in set("0123456789."):
            template = r"{0} \cdot {1}"  # 2 \cdot 3, x \cdot 2: juxtaposed digits would merge
        elif op.name == "mul" and _NAMED_FUNCTION.match(texts[1]):
            template = r"{0}\,{1}"  # mathtext, unlike LaTeX, puts no space before \sin
        return template.format(*texts), precedence

    def number(node: Node):
        if node.label in CONSTANTS:
            text = r"\pi" if node.label == "pi" else node.label
        elif _PLAIN_NUMBER.fullmatch(node.label):
            text = node.label
        elif math.isinf(node.value):
            text = r"\infty"
        else:
            mantissa, _, exponent = f"{node.value:.6g}".partition("e")
            text = mantissa if not exponent else rf"{mantissa} \times 10^{{{int(exponent)}}}"
        atom = (text, _ATOM if "times" not in text else _PRODUCT)
        return atom, atom

    atom = (VARIABLE, _ATOM)
    forms = fold(
        expression,
        (atom, atom),
        number,
        lambda node, op, args: (form(op, args, False), form(op, args, True)),
    )
    return forms[-1][0][0]
