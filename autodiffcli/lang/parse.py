"""The parser: an allow-listed reading of text into a postorder tape of nodes.

User text is parsed with :func:`ast.parse` in eval mode and only an allow-list of node types
is accepted; it is never evaluated. The names it knows are the operation table's functions and
constants (:mod:`autodiffcli.lang.ops`) and the variables the caller declares.

Piecewise functions: ``where(cond, a, b)``, ``min(a, b)``, ``max(a, b)``. A condition is a
comparison (``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``; chained, ``0 < x < 1`` means both, with
x read once) or conditions combined by ``and``, ``or``, ``not``; it is allowed only as
``where()``'s first argument, and a number is not a condition: either mistake is an error that
says how to write it. What a condition decides is in :mod:`autodiffcli.lang.ops`.

Vector-valued functions: a top-level list of two or more components, ``[x*y, x + y^2]``. Its
tape is shared: a sub-expression that two components have in common is one node, computed
once (within one component, as in a scalar expression, only each variable is: a component's
tape is the tree its text gives), and :attr:`Expression.outputs` holds each component's root.
A list anywhere else, an empty list and a one-element list are errors (``[f]`` is not read as
f: a scalar is written without brackets).

This module imports neither torch nor sympy: expression errors answer at once.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import keyword
import math
from collections.abc import Sequence
from dataclasses import dataclass

from autodiffcli.errors import ExpressionError
from autodiffcli.lang.hints import (
    glued_call,
    parse_quietly,
    pointing,
    shown,
    suggestion,
    syntax_error,
)
from autodiffcli.lang.ops import CONDITIONS, CONSTANTS, FUNCTIONS

# Without a declaration, an expression is a function of x.
DEFAULT_VARIABLES = ("x",)
MAX_LENGTH = 10_000
MAX_DEPTH = 200
MAX_NODES = 5_000


_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_UNARY = {ast.USub: "neg", ast.UAdd: "pos", ast.Not: "not"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_NOT_COMPARISONS = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_FORBIDDEN = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.IfExp: "'if ... else'",
    ast.NamedExpr: "':='",
    ast.Starred: "'*' unpacking",
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
    """A parsed expression: the user's text and its postorder tape.

    ``outputs`` holds the tape index of each component's root: for a scalar expression one, by
    default the last node; for a vector-valued one (``[x*y, x + y^2]``) one per component,
    whose roots need not be last (a component may be a node another one uses).
    """

    text: str
    nodes: tuple[Node, ...]
    variables: tuple[str, ...] = DEFAULT_VARIABLES
    outputs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.outputs:
            object.__setattr__(self, "outputs", (len(self.nodes) - 1,))

    def __repr__(self) -> str:
        if self.is_vector:
            return (
                f"Expression({self.text!r}, {len(self.nodes)} nodes, {len(self.outputs)} outputs)"
            )
        return f"Expression({self.text!r}, {len(self.nodes)} nodes)"

    def __str__(self) -> str:
        return self.text

    @property
    def is_vector(self) -> bool:
        """Whether the expression is vector-valued (two or more components)."""
        return len(self.outputs) > 1

    @functools.cached_property
    def has_where(self) -> bool:
        """Whether the tape holds a where(): only then does the torch compiler guard branches."""
        return any(node.op == "where" for node in self.nodes)

    def component(self, k: int) -> Expression:
        """Component ``k`` as a scalar expression: its own text (``x*y`` of ``[x*y, x + y]``)
        and the tape pruned to the nodes it needs, re-indexed, with the same variables. The
        nodes are in the order that parsing the component's text alone gives (where that text
        gives this very tree, as it does for a parsed vector), so the component records the
        same operations in the same order as the scalar expression, and autograd rounds its
        derivatives alike; else in tape order. A scalar expression is its own component 0."""
        root = self.outputs[k]
        if not self.is_vector:
            return self
        needed = {root}
        for index in range(root, -1, -1):
            if index in needed:
                needed.update(self.nodes[index].args)
        kept = sorted(needed)
        new = {old: i for i, old in enumerate(kept)}
        nodes = tuple(
            dataclasses.replace(node, args=tuple(new[a] for a in node.args))
            for node in (self.nodes[old] for old in kept)
        )
        pruned = Expression(component_texts(self.text, len(self.outputs))[k], nodes, self.variables)
        try:
            alone = parse(pruned.text, self.variables)
        except ExpressionError:
            return pruned
        return alone if _same_tree(alone, pruned) else pruned

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
        tree = parse_quietly(source)
    except SyntaxError as error:
        raise syntax_error(text, source, error) from None
    except (MemoryError, RecursionError):
        raise ExpressionError(
            f"expression is nested too deeply (at most {MAX_DEPTH} levels) or chains too many "
            "terms for Python's parser (about 2,000 in one sum); simplify it"
        ) from None
    except ValueError as error:  # e.g. integer literals over Python's digit limit
        raise ExpressionError(f"cannot read a number in the expression: {error}") from None
    _check_size(tree)
    nodes, outputs = _tape(tree.body, text, source, variables)
    return Expression(text, tuple(nodes), variables, outputs)


def component_texts(text: str, count: int) -> list[str]:
    """The text of each component of a vector written as ``[f, g, ...]`` (``f`` and ``g``
    as typed); ``text[k]`` where the text is not such a list of ``count`` components."""
    try:
        body = parse_quietly(text.replace("^", "**")).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        body = None
    if not (isinstance(body, ast.List) and len(body.elts) == count):
        return [f"{text}[{k}]" for k in range(count)]
    return [
        text[_text_index(text, e.col_offset) : _text_index(text, e.end_col_offset)]
        for e in body.elts
    ]


def _same_tree(a: Expression, b: Expression) -> bool:
    """Whether two scalar tapes compute the same tree of operations, whatever their order."""
    ids: dict[tuple, int] = {}

    def root_id(expression: Expression) -> int:
        found: list[int] = []
        for node in expression.nodes:
            key = (node.op, node.value, node.label, tuple(found[i] for i in node.args))
            found.append(ids.setdefault(key, len(ids)))
        return found[expression.outputs[0]]

    return len(a.nodes) == len(b.nodes) and root_id(a) == root_id(b)


def _text_index(text: str, index: int | None) -> int:
    """The index in ``text`` of the character at ``index`` of its source, where each '^'
    became '**'."""
    position = 0
    for i, char in enumerate(text):
        if position >= (index or 0):
            return i
        position += 2 if char == "^" else 1
    return len(text)


def _check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    """The declared names, each a new identifier: not a function, constant or keyword."""
    names = tuple(variables)
    for name in names:
        taken = name in FUNCTIONS or name in CONSTANTS or keyword.iskeyword(name)
        if not name.isidentifier() or taken or names.count(name) > 1:
            raise ExpressionError(f"'{shown(name)}' cannot be a variable name")
    if not names:
        raise ExpressionError("an expression needs at least one variable")
    return names


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
        raise pointing(
            f"'|' at column {column} is not an operator; write abs(x) for |x|", text, column
        )
    return text.replace("^", "**")


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


def _tape(
    body: ast.AST, text: str, source: str, variables: tuple[str, ...]
) -> tuple[list[Node], tuple[int, ...]]:
    """Flatten the AST into postorder with an explicit stack, checking each node once; returns
    the tape and the index of each component's root."""
    roots = _roots(body, variables)
    shared = isinstance(body, ast.List)
    nodes: list[Node] = []
    index_of: dict[int, int] = {}
    copies_of: dict[Node, list[int]] = {}  # the tape's nodes equal to a node
    claimed: set[int] = set()  # the nodes the component being read already uses

    def add(made: Node) -> int:
        # A variable is one node, however often it is written. The components of a vector
        # share every sub-expression they have in common; within one component, as in a scalar
        # expression, each written sub-expression is a node of its own (its tape is a tree).
        copies = copies_of.setdefault(made, []) if shared or made.op == "var" else []
        if made.op == "var" and copies:
            return copies[0]
        index = next((i for i in copies if i not in claimed), None)
        if index is None:
            index = len(nodes)
            nodes.append(made)
            copies.append(index)
        claimed.add(index)
        return index

    for root in roots:
        claimed.clear()
        stack: list[tuple[ast.AST, list[ast.AST] | None]] = [(root, None)]
        while stack:
            node, children = stack.pop()
            if children is None:
                children = _operands(node, text, source, variables)
                if children:
                    stack.append((node, children))
                    stack.extend((child, None) for child in reversed(children))
                    continue
            args = tuple(index_of[id(c)] for c in children)
            conditions = [nodes[i].op in CONDITIONS for i in args]
            _check_kinds(node, children, conditions, text, variables)
            index_of[id(node)] = _append(node, args, add, source, variables)
    for root in roots:
        if nodes[index_of[id(root)]].op in CONDITIONS:
            raise ExpressionError(_condition_as_number(root, text, variables))
    return nodes, tuple(index_of[id(root)] for root in roots)


def _roots(body: ast.AST, variables: tuple[str, ...]) -> list[ast.AST]:
    """The expression, or the components of a top-level list."""
    if not isinstance(body, ast.List):
        return [body]
    if len(body.elts) >= 2:
        return list(body.elts)
    what = "an empty list" if not body.elts else "a list of one component"
    raise ExpressionError(
        f"{what} is not a function: write a scalar function without brackets, and a "
        f"vector-valued one as a list of two or more components, as in {_vector_example(variables)}"
    )


def _operands(node: ast.AST, text: str, source: str, variables: tuple[str, ...]) -> list[ast.AST]:
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
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ExpressionError(
                    f"'{_NOT_COMPARISONS.get(type(op), type(op).__name__)}' does not compare "
                    f"numbers{_at(node, text)}; the comparisons are <, <=, >, >=, ==, !="
                )
        return [node.left, *node.comparators]
    if isinstance(node, ast.BoolOp):
        return list(node.values)
    if isinstance(node, ast.List):
        raise ExpressionError(
            f"a list{_at(node, text)} is allowed only around the whole expression, where it "
            f"makes a vector-valued function, as in {_vector_example(variables)}"
        )
    raise ExpressionError(_not_allowed(node, variables))


def _append(node: ast.AST, args: tuple[int, ...], add, source: str, variables) -> int:
    """Add the node's tape nodes with ``add``; returns the index of its value. A chained
    comparison is its comparisons joined by 'and' (each operand read once), and 'and'/'or' of
    several conditions a left-nested chain of two-argument nodes."""
    if isinstance(node, ast.Compare):
        tests = [add(Node(_COMPARE[type(op)], args[k : k + 2])) for k, op in enumerate(node.ops)]
        return _chain(add, "and", tests)
    if isinstance(node, ast.BoolOp):
        return _chain(add, "and" if isinstance(node.op, ast.And) else "or", list(args))
    return add(_leaf_or_op(node, args, source, variables))


def _chain(add, op: str, parts: list[int]) -> int:
    index = parts[0]
    for part in parts[1:]:
        index = add(Node(op, (index, part)))
    return index


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


# ----- Conditions and numbers -----


def _check_kinds(node, children, conditions: list[bool], text: str, variables) -> None:
    """A condition only where a condition goes (where()'s first argument, and/or/not), a
    number everywhere else."""
    if isinstance(node, ast.BoolOp) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    ):
        wanted = [True] * len(children)
    elif isinstance(node, ast.Call) and node.func.id == "where":
        wanted = [True, False, False]
    else:
        wanted = [False] * len(children)
    for child, want, is_condition in zip(children, wanted, conditions, strict=True):
        if is_condition and not want:
            raise ExpressionError(_condition_as_number(child, text, variables))
        if want and not is_condition:
            raise ExpressionError(_number_as_condition(node, child, text, variables))


def _condition_as_number(node: ast.AST, text: str, variables) -> str:
    what = "a comparison" if isinstance(node, ast.Compare) else "a condition"
    return (
        f"{what} gives true/false, not a number{_at(node, text)}: use it as where()'s "
        f"condition, as in {_where_example(variables)}"
    )


def _number_as_condition(node: ast.AST, child: ast.AST, text: str, variables) -> str:
    v = variables[0]
    if isinstance(node, ast.Call):
        return (
            f"where() needs a condition as its first argument, such as {v} > 0, not a "
            f"number{_at(child, text)}: write {_where_example(variables)}"
        )
    word = "not" if isinstance(node, ast.UnaryOp) else type(node.op).__name__.lower()
    example = f"not {v} > 0" if word == "not" else f"{v} > 0 {word} {v} < 1"
    return (
        f"'{word}' combines conditions, such as {v} > 0, not numbers{_at(child, text)}: "
        f"write where({example}, {v}, 0)"
    )


def _where_example(variables: tuple[str, ...]) -> str:
    v = variables[0]
    return f"where({v} > 0, {v}, 0)"


def _vector_example(variables: tuple[str, ...]) -> str:
    a, b = variables[0], variables[-1]
    return f"[{a}*{b}, {a} + {b}]" if a != b else f"[{a}, {a}^2]"


def _at(node: ast.AST, text: str) -> str:
    """' (at column N)' for the node, N counted in the text as typed."""
    return f" (at column {_text_index(text, node.col_offset) + 1})"


def _check_call(node: ast.Call, source: str, variables: tuple[str, ...]) -> None:
    if isinstance(node.func, ast.Constant):
        number = shown(_source_of(node.func, source))
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
        hint = suggestion(name, FUNCTIONS) or f"; the functions are {', '.join(sorted(FUNCTIONS))}"
        raise ExpressionError(f"unknown function '{shown(name)}'{hint}")
    if node.keywords:
        raise ExpressionError(f"{name}() takes no keyword arguments")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ExpressionError(f"{name}() does not accept '*' unpacking")
    expected = FUNCTIONS[name].arity
    if len(node.args) != expected:
        plural = "argument" if expected == 1 else "arguments"
        example = f"{name}({', '.join(['x', 'y'][:expected])})"
        raise ExpressionError(
            f"{name}() takes {expected} {plural}, got {len(node.args)}: "
            f"write {_where_example(variables) if name == 'where' else example}"
        )


def _check_name(name: str, variables: tuple[str, ...]) -> None:
    if name in variables or name in CONSTANTS:
        return
    if name in FUNCTIONS:
        arity = FUNCTIONS[name].arity
        call = f"{name}({variables[0]})" if arity == 1 else f"{name}({variables[0]}, 0)"
        if name == "where":
            call = _where_example(variables)
        raise ExpressionError(f"'{name}' is a function; call it as {call}")
    glued = glued_call(name, variables)
    if glued:
        raise ExpressionError(f"unknown name '{shown(name)}' - did you mean {glued}?")
    known = {**dict.fromkeys(variables), **CONSTANTS, **FUNCTIONS}
    raise ExpressionError(
        f"unknown name '{shown(name)}'{suggestion(name, known)}; "
        f"{_variables_text(variables)} and the constants are 'pi' and 'e'"
    )


def _variables_text(variables: tuple[str, ...]) -> str:
    """ "the variable is 'x'" or "the variables are 'x', 'y'"."""
    quoted = ", ".join(f"'{name}'" for name in variables)
    return f"the variable is {quoted}" if len(variables) == 1 else f"the variables are {quoted}"


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
