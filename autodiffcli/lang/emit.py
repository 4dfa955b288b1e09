"""Compilers of the tape: each a fold over the nodes reading one column of the operation table.

:func:`evaluate` runs the torch column (what the engines differentiate), :func:`python_source`
writes the same formulation as runnable Python (with :func:`careful_definitions`, the source of
the careful forms it calls), and :func:`latex` writes mathtext for figure labels. The sympy
column is folded by :mod:`autodiffcli.verify`.
"""

from __future__ import annotations

import inspect
import math
import re
import types
from collections.abc import Sequence

from autodiffcli.lang.ops import CONSTANTS, OPS, Op
from autodiffcli.lang.parse import Expression, Node


def fold(expression: Expression, variables: Sequence, constant, apply) -> list:
    """Compile the tape node by node: the one loop behind torch, sympy, source and LaTeX.

    Args:
        variables: the value of each variable, in the order of ``expression.variables``.
        constant: ``(node) -> value`` for a constant node.
        apply: ``(node, op, args) -> value`` for an operation on earlier values.

    Returns:
        One value per node; the last is the expression's.
    """
    by_name = dict(zip(expression.variables, variables, strict=True))
    values: list = []
    for node in expression.nodes:
        if node.op == "var":
            values.append(by_name[node.label])
        elif node.op == "const":
            values.append(constant(node))
        else:
            values.append(apply(node, OPS[node.op], [values[i] for i in node.args]))
    return values


def evaluate_nodes(expression: Expression, inputs: Sequence):
    """Evaluate every node of the tape on the tensors ``inputs`` (one per variable, all of
    one shape); returns one tensor per node.

    Constants become 0-d tensors of the inputs' dtype and device so that every op sees tensors
    and constant arithmetic happens in floating point (``9**9**9`` is inf, not a Python bigint).
    """
    import torch

    like = inputs[0]
    return fold(
        expression,
        inputs,
        lambda node: torch.tensor(node.value, dtype=like.dtype, device=like.device),
        lambda node, op, args: op.compute(*args),
    )


def evaluate(expression: Expression, inputs: Sequence):
    """f at the tensors ``inputs``, shaped like them even where f is constant."""
    y = evaluate_nodes(expression, inputs)[-1]
    like = inputs[0]
    return y if y.shape == like.shape else y.expand_as(like)


def function_of(expression: Expression):
    """f as a Python function of one tensor per variable: ``f(x)``, ``f(x, y)``."""
    return lambda *inputs: evaluate(expression, inputs)


# ----- Python source -----


def python_source(expression: Expression) -> str:
    """The expression as Python source, built from the tape (not the text), by the formulation
    the engines run: torch functions, and the careful forms of :func:`careful_definitions`.

    As in :func:`evaluate`, every constant is a 0-d tensor: autograd records ``2 / x`` with a
    Python number as another operation than with a tensor (its derivatives differ in the last
    bit), ``1/0`` is inf rather than ZeroDivisionError, and ``sin(2)`` gets a tensor.
    """
    nodes = expression.nodes
    dtype = f"{expression.variables[0]}.dtype"

    def apply(node, op, args):
        args = [
            f"torch.tensor({code}, dtype={dtype})" if nodes[i].op == "const" else code
            for code, i in zip(args, node.args, strict=True)
        ]
        return op.source(*args)

    return fold(expression, expression.variables, _constant_source, apply)[-1]


def _constant_source(node: Node) -> str:
    if node.label in CONSTANTS:
        return f"math.{node.label}"
    return repr(node.value)


def careful_definitions(expression: Expression) -> str:
    """The source of every careful form the expression uses, with what they use in turn, in
    an order that runs: constants first, then definitions in their module's order."""
    from autodiffcli.lang import stable

    pending = [OPS[node.op].target for node in expression.nodes if _careful(node)]
    needed: dict[str, object] = {}
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed[name] = getattr(stable, name)
        pending.extend(_module_names(needed[name], stable))
    constants = sorted(n for n, v in needed.items() if isinstance(v, (int, float)))
    definitions = sorted(
        (n for n in needed if n not in constants),
        key=lambda n: inspect.getsourcelines(needed[n])[1],
    )
    parts = [f"{name} = {needed[name]!r}" for name in constants]
    parts += [inspect.getsource(needed[name]).rstrip("\n") for name in definitions]
    return "\n\n\n".join(parts)


def _careful(node: Node) -> bool:
    return node.op in OPS and OPS[node.op].kind == "careful"


def _module_names(value: object, module: types.ModuleType) -> list[str]:
    """Names of ``module``'s own definitions and constants that ``value``'s code uses."""
    codes = [value.__code__] if isinstance(value, types.FunctionType) else []
    if isinstance(value, type):
        codes = [
            item.__func__.__code__ if isinstance(item, staticmethod) else item.__code__
            for item in vars(value).values()
            if isinstance(item, (staticmethod, types.FunctionType))
        ]
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return [name for name in names if _defined_in(module, name)]


def _defined_in(module: types.ModuleType, name: str) -> bool:
    value = getattr(module, name, None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return name.isupper()
    return getattr(value, "__module__", None) == module.__name__


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

    def variable(name: str):
        atom = (name, _ATOM)
        return atom, atom

    forms = fold(
        expression,
        [variable(name) for name in expression.variables],
        number,
        lambda node, op, args: (form(op, args, False), form(op, args, True)),
    )
    return forms[-1][0][0]
