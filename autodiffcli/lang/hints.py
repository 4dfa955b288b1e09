"""The parser's messages: where a syntax error is and what was probably meant.

Hints for Python's syntax errors ('2x', 'sin x', a dangling '+'), the excerpt with a caret, and
suggestions for unknown names (typos, names from other languages). Nothing here imports torch
or sympy; nothing here evaluates user text.
"""

from __future__ import annotations

import ast
import keyword
import re
import warnings

from autodiffcli.errors import ExpressionError, printable
from autodiffcli.lang.ops import CONSTANTS, FUNCTIONS


def parse_quietly(source: str) -> ast.Expression:
    """ast.parse without Python's SyntaxWarnings ('invalid decimal literal' for '1if'): the
    user gets our one-line error or nothing, never a warning about Python source."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, mode="eval")


def syntax_error(text: str, source: str, error: SyntaxError) -> ExpressionError:
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
    return pointing(f"invalid syntax at column {column}: {reason}", text, column)


def pointing(message: str, text: str, column: int) -> ExpressionError:
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


def shown(text: str, limit: int = 30) -> str:
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
        number, following = shown(match.group(1)), shown(match.group(2))
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
    left, right = shown(left), shown(right)
    function = ALIASES.get(left, left)
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
        parse_quietly(source.replace("^", "**"))
    except SyntaxError as error:
        return (error.offset or 0) > column
    except (ValueError, MemoryError, RecursionError):
        return True
    return True


def glued_call(name: str, variables: tuple[str, ...]) -> str:
    """'sin(x)' for 'sinx', 'log(2)' for 'ln2': a function name run into its argument."""
    for written in sorted([*FUNCTIONS, *ALIASES], key=len, reverse=True):
        argument = name[len(written) :]
        known = argument in variables or argument in CONSTANTS
        if name.startswith(written) and (known or argument.isdigit()):
            return f"{ALIASES.get(written, written)}({argument})"
    return ""


# Names people type for our functions (other languages, textbooks).
ALIASES = {
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
    "minimum": "min",
    "maximum": "max",
    "fmin": "min",
    "fmax": "max",
}
# 'sqr' is the square in Pascal and the square root in BASIC: say both.
_SQUARE_OR_ROOT = {"sqr", "sq", "square"}


def suggestion(name: str, known) -> str:
    if name.lower() in _SQUARE_OR_ROOT:
        return " - for a square write (...)^2, for a square root sqrt(...)"
    alias = ALIASES.get(name.lower())
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
