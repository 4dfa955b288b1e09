"""The parser: an allow-listed reading of text into a postorder tape of nodes.

User text is parsed with :func:`ast.parse` in eval mode and only an allow-list of node types
is accepted; it is never evaluated. The names it knows are the operation table's functions and
constants (:mod:`autodiffcli.lang.ops`) and the variables the caller declares.

This module imports neither torch nor sympy: expression errors answer at once.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from autodiffcli.errors import ExpressionError, printable
from autodiffcli.lang.ops import CONSTANTS, FUNCTIONS

# Without a declaration, an expression is a function of x.
DEFAULT_VARIABLES = ("x",)
MAX_LENGTH = 10_000
MAX_DEPTH = 200
MAX_NODES = 5_000


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
    """One step of the tape: an op applied to earlier nodes, a variable, or a constant.

    A variable's node has op "var" and its name as label; a constant's, op "const".
    """

    op: str  # "var", "const", or a key of OPS
    args: tuple[int, ...] = ()
    value: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: the user's text and its postorder tape (the last node is the root)."""

    text: str
    nodes: tuple[Node, ...]
    variables: tuple[str, ...] = DEFAULT_VARIABLES

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, {len(self.nodes)} nodes)"

    def __str__(self) -> str:
        return self.text

    def depends_on(self, variable: str) -> list[bool]:
        """For each node, whether its value depends on ``variable``."""
        return self._mask(lambda node: node.label == variable)

    @property
    def depends(self) -> list[bool]:
        """For each node, whether its value depends on any variable."""
        return self._mask(lambda node: True)

    def _mask(self, counts) -> list[bool]:
        mask: list[bool] = []
        for node in self.nodes:
            if node.op == "var":
                mask.append(counts(node))
            else:
                mask.append(any(mask[i] for i in node.args))
        return mask


# ----- Parsing -----


def parse(text: str, variables: Sequence[str] = DEFAULT_VARIABLES) -> Expression:
    """Parse ``text`` into an :class:`Expression` of the declared ``variables``, or raise
    :class:`ExpressionError`.

    ``^`` is accepted as a synonym of ``**``. Nothing in ``text`` is ever executed.
    """
    variables = _check_variables(variables)
    source = _check_text(text)
    try:
        tree = _parse_quietly(source)
    except SyntaxError as error:
        raise _syntax_error(text, source, error) from None
    except (MemoryError, RecursionError):
        raise ExpressionError(
            f"expression is nested too deeply (at most {MAX_DEPTH} levels) or chains too many "
            "terms for Python's parser (about 2,000 in one sum); simplify it"
        ) from None
    except ValueError as error:  # e.g. integer literals over Python's digit limit
        raise ExpressionError(f"cannot read a number in the expression: {error}") from None
    _check_size(tree)
    return Expression(text, tuple(_tape(tree.body, source, variables)), variables)


def _check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    """The declared names, each a new identifier: not a function, constant or keyword."""
    names = tuple(variables)
    for name in names:
        taken = name in FUNCTIONS or name in CONSTANTS or keyword.iskeyword(name)
        if not name.isidentifier() or taken or names.count(name) > 1:
            raise ExpressionError(f"'{_shown(name)}' cannot be a variable name")
    if not names:
        raise ExpressionError("an expression needs at least one variable")
    return names


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
    hint, hint_column = _dangling_operator_hint(text)
    if not hint:
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


_DANGLING = re.compile(r"(\*\*|[-+*/^])\s*$")


def _dangling_operator_hint(text: str) -> tuple[str, int]:
    """('... ends with ...', column just past the end) for 'x**' or 'sin(x) +': Python's
    parser points at column 1 there."""
    match = _DANGLING.search(text)
    if match is None:
        return "", 0
    operator = match.group(1)
    return f"the expression ends with '{operator}'; write what it applies to", len(text) + 1


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
        stack.extend(
            (child, depth if _continues_chain(node, child) else depth + 1)
            for child in ast.iter_child_nodes(node)
        )


# Operators that a flat chain repeats (a + b - c + ..., a * b / c * ...): Python's parser
# nests such a chain to the left, one level per term, though nothing in it is nested.
_CHAINS = ({ast.Add, ast.Sub}, {ast.Mult, ast.Div})


def _continues_chain(node: ast.AST, child: ast.AST) -> bool:
    """Whether ``child`` is the left operand of ``node`` in one flat chain of + and - (or of
    * and /): depth counts nesting, not the length of a sum of 399 terms."""
    if not (isinstance(node, ast.BinOp) and isinstance(child, ast.BinOp) and child is node.left):
        return False
    return any(type(node.op) in chain and type(child.op) in chain for chain in _CHAINS)


def _tape(root: ast.AST, source: str, variables: tuple[str, ...]) -> list[Node]:
    """Flatten the AST into postorder with an explicit stack, checking each node once."""
    nodes: list[Node] = []
    index_of: dict[int, int] = {}
    stack: list[tuple[ast.AST, list[ast.AST] | None]] = [(root, None)]
    variable_nodes: dict[str, int] = {}
    while stack:
        node, children = stack.pop()
        if children is None:
            children = _operands(node, source, variables)
            if children:
                stack.append((node, children))
                stack.extend((child, None) for child in reversed(children))
                continue
        made = _leaf_or_op(node, tuple(index_of[id(c)] for c in children), source, variables)
        if made.op == "var" and made.label in variable_nodes:
            # A variable is one node, however often it is written.
            index_of[id(node)] = variable_nodes[made.label]
            continue
        if made.op == "var":
            variable_nodes[made.label] = len(nodes)
        index_of[id(node)] = len(nodes)
        nodes.append(made)
    return nodes


def _operands(node: ast.AST, source: str, variables: tuple[str, ...]) -> list[ast.AST]:
    """The sub-expressions of an allowed node; raises for anything outside the language."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return [node.operand]
    if isinstance(node, ast.Call):
        _check_call(node, source, variables)
        return list(node.args)
    if isinstance(node, ast.Name):
        _check_name(node.id, variables)
        return []
    if isinstance(node, ast.Constant):
        _check_constant(node.value, variables)
        return []
    raise ExpressionError(_not_allowed(node, variables))


def _leaf_or_op(
    node: ast.AST, args: tuple[int, ...], source: str, variables: tuple[str, ...]
) -> Node:
    if isinstance(node, ast.BinOp):
        return Node(_BINARY[type(node.op)], args)
    if isinstance(node, ast.UnaryOp):
        return Node(_UNARY[type(node.op)], args)
    if isinstance(node, ast.Call):
        return Node(node.func.id, args)  # type: ignore[attr-defined]
    if isinstance(node, ast.Name):
        if node.id in variables:
            return Node("var", label=node.id)
        return Node("const", value=CONSTANTS[node.id], label=node.id)
    assert isinstance(node, ast.Constant)
    return Node("const", value=_as_float(node.value), label=_source_of(node, source))


def _check_call(node: ast.Call, source: str, variables: tuple[str, ...]) -> None:
    if isinstance(node.func, ast.Constant):
        number = _shown(_source_of(node.func, source))
        raise ExpressionError(f"a number cannot be called; write '{number}*(...)' to multiply")
    if isinstance(node.func, (ast.BinOp, ast.UnaryOp, ast.Call)):
        raise ExpressionError(
            "expected an operator between ')' and '('; write '*' to multiply, as in (x+1)*(x-1)"
        )
    if not isinstance(node.func, ast.Name):
        raise ExpressionError(_not_allowed(node.func, variables))
    name = node.func.id
    if name not in FUNCTIONS:
        if name in variables or name in CONSTANTS:
            raise ExpressionError(f"'{name}' is not a function; write '{name}*(...)' to multiply")
        hint = _suggestion(name, FUNCTIONS) or f"; the functions are {', '.join(sorted(FUNCTIONS))}"
        raise ExpressionError(f"unknown function '{_shown(name)}'{hint}")
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


def _check_name(name: str, variables: tuple[str, ...]) -> None:
    if name in variables or name in CONSTANTS:
        return
    if name in FUNCTIONS:
        raise ExpressionError(f"'{name}' is a function; call it as {name}({variables[0]})")
    glued = _glued_call(name, variables)
    if glued:
        raise ExpressionError(f"unknown name '{_shown(name)}' - did you mean {glued}?")
    known = {**dict.fromkeys(variables), **CONSTANTS, **FUNCTIONS}
    raise ExpressionError(
        f"unknown name '{_shown(name)}'{_suggestion(name, known)}; "
        f"{_variables_text(variables)} and the constants are 'pi' and 'e'"
    )


def _variables_text(variables: tuple[str, ...]) -> str:
    """ "the variable is 'x'" or "the variables are 'x', 'y'"."""
    quoted = ", ".join(f"'{name}'" for name in variables)
    return f"the variable is {quoted}" if len(variables) == 1 else f"the variables are {quoted}"


def _glued_call(name: str, variables: tuple[str, ...]) -> str:
    """'sin(x)' for 'sinx', 'log(2)' for 'ln2': a function name run into its argument."""
    for written in sorted([*FUNCTIONS, *_ALIASES], key=len, reverse=True):
        argument = name[len(written) :]
        known = argument in variables or argument in CONSTANTS
        if name.startswith(written) and (known or argument.isdigit()):
            return f"{_ALIASES.get(written, written)}({argument})"
    return ""


def _check_constant(value: object, variables: tuple[str, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "strings are" if isinstance(value, (str, bytes)) else f"{value!r} is"
        raise ExpressionError(
            f"{kind} not allowed in an expression; use numbers, {', '.join(variables)}, pi and e"
        )


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
    near = [other for other in sorted(known) if _is_near(name.lower(), other)]
    return f" - did you mean '{near[0]}'?" if near else ""


def _is_near(name: str, other: str) -> bool:
    """A typo away: one letter added, dropped, changed or two swapped ('sinn', 'pii', 'tnah'),
    two for names of six letters or more; never a one-letter name ('a' is not 'e' mistyped)."""
    allowed = 2 if len(name) >= 6 else 1
    if len(name) < 2 or abs(len(name) - len(other)) > allowed:  # a 10,000-letter name: at once
        return False
    return _edit_distance(name, other) <= allowed


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    adjacent letters each cost 1."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _not_allowed(node: ast.AST, variables: tuple[str, ...]) -> str:
    what = _FORBIDDEN.get(type(node))
    if what is None:
        what = type(node).__name__
    where = ""
    if hasattr(node, "col_offset"):
        where = f" (at column {node.col_offset + 1})"
    return (
        f"{what} not allowed in an expression{where}; "
        f"use numbers, {', '.join(variables)}, pi, e, + - * / ** ^ and the functions in the README"
    )
