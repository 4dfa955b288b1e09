"""Compilers of the tape: each a fold over the nodes reading one column of the operation table.

:func:`evaluate` runs the torch column (what the engines differentiate), :func:`python_source`
writes the same formulation as runnable Python (with :func:`careful_definitions`, the source of
the careful forms it calls), and :func:`latex` writes mathtext for figure labels. The sympy
column is folded by :mod:`autodiffcli.verify`.

**Branches.** In ``where(c, a, b)`` torch computes both branches at every point, and autograd's
backward through the branch not taken multiplies a zero gradient by that branch's local
derivative, which may be inf or NaN (sqrt at -1, sin(x)/x at 0): 0 * inf = NaN, at every
order of nested reverse mode. So, in the torch compiler (:func:`evaluate`, :func:`function_of`,
:func:`evaluate_outputs` and :func:`python_source`, which prints the same program), each
variable v that branch a reads is read as ``torch.where(c, v, v.detach())`` (in b:
``torch.where(c, v.detach(), v)``; inside nested wheres, the conditions along the way joined by
logical_and): torch.where's backward selects rather than multiplies, so the NaN of the branch
not taken is dropped, at every order, and the value is v's. Conditions read the variables
unguarded (no gradient flows through a comparison). The tape other compilers see is unchanged,
and an expression without where() is folded by the plain loop (:func:`fold`), at no cost.

**Vectors.** A vector-valued expression (``[x*y, x + y^2]``, :attr:`Expression.outputs`) is
evaluated in one fold by :func:`evaluate_outputs`, one tensor per component, each shared node
computed once; :func:`evaluate` and :func:`function_of` refuse it (a ValueError: use
``expression.component(k)``), :func:`latex` writes a bracketed list and :func:`python_source`
a tuple.
"""

from __future__ import annotations

import inspect
import math
import re
import types
from collections.abc import Sequence

from autodiffcli.lang.ops import CONDITIONS, CONSTANTS, OPS, Op, row
from autodiffcli.lang.parse import Expression, Node

# A guard context: the (condition node, branch) pairs of the wheres around a node, outermost
# first; () outside every where.
Context = tuple[tuple[int, bool], ...]


def fold(expression: Expression, variables: Sequence, constant, apply) -> list:
    """Compile the tape node by node: the one loop behind torch, sympy, source and LaTeX.

    Args:
        variables: the value of each variable, in the order of ``expression.variables``.
        constant: ``(node) -> value`` for a constant node.
        apply: ``(node, op, args) -> value`` for an operation on earlier values.

    Returns:
        One value per node; ``expression.outputs`` index the expression's (for a scalar
        expression, the last).
    """
    by_name = dict(zip(expression.variables, variables, strict=True))
    values: list = []
    for node in expression.nodes:
        if node.op == "var":
            values.append(by_name[node.label])
        elif node.op == "const":
            values.append(constant(node))
        else:
            op = OPS[node.op]  # ops.row, inline: this loop is hot
            values.append(apply(node, op, [values[i] for i in node.args]))
    return values


def guarded_fold(expression: Expression, variables: Sequence, constant, apply, guard) -> list:
    """:func:`fold` where each read of a variable inside a where() branch is guarded by
    ``guard(value, parts)`` (``parts``: (condition value, branch) pairs of the wheres around
    it, outermost first): see the module docstring. Each read gets its own guard, as in the
    printed source, so that both record the same operations in the same order. A node read
    in several contexts (a vector's shared node) is computed once in each. Returns one value
    per node: in the context () where the node has it (every root does), else in its first."""
    nodes = expression.nodes
    by_name = dict(zip(expression.variables, variables, strict=True))
    contexts = _contexts(expression)
    values: dict[tuple[int, Context], object] = {}

    def needs(index: int, context: Context) -> list[tuple[int, Context]]:
        node, out = nodes[index], []
        for arg, arg_context in zip(node.args, _argument_contexts(node, context), strict=True):
            if nodes[arg].op == "var":  # the variable itself and the conditions of its guard
                out += [(arg, ())] + [(condition, ()) for condition, _ in arg_context]
            else:
                out.append((arg, arg_context))
        return out

    def argument(arg: int, context: Context):
        if nodes[arg].op != "var":
            return values[(arg, context)]
        if not context:
            return values[(arg, ())]
        return guard(values[(arg, ())], [(values[(c, ())], branch) for c, branch in context])

    def compute(index: int, context: Context):
        node = nodes[index]
        if node.op == "var":
            return by_name[node.label]
        if node.op == "const":
            return constant(node)
        arg_contexts = _argument_contexts(node, context)
        args = [argument(a, c) for a, c in zip(node.args, arg_contexts, strict=True)]
        return apply(node, row(node.op), args)

    for index, wanted in enumerate(contexts):
        for context in wanted if nodes[index].op != "var" else [()]:
            stack = [(index, context)]  # depth first, explicitly: a tape may be deep
            while stack:
                item = stack[-1]
                if item in values:
                    stack.pop()
                    continue
                missing = [needed for needed in needs(*item) if needed not in values]
                if missing:
                    stack.extend(missing)
                    continue
                values[stack.pop()] = compute(*item)
    return [
        values[(i, () if () in wanted or nodes[i].op == "var" else wanted[0])]
        for i, wanted in enumerate(contexts)
    ]


def _contexts(expression: Expression) -> list[list[Context]]:
    """For each node, the guard contexts it is read in (each once, in the order found)."""
    nodes = expression.nodes
    wanted: list[dict[Context, None]] = [{} for _ in nodes]
    for root in expression.outputs:
        wanted[root][()] = None
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if not wanted[index]:
            wanted[index][()] = None  # read by no output: evaluated as it stands
        for context in list(wanted[index]):
            for arg, arg_context in zip(node.args, _argument_contexts(node, context), strict=True):
                wanted[arg][arg_context] = None
    return [list(found) for found in wanted]


def _argument_contexts(node: Node, context: Context) -> list[Context]:
    """The contexts a node reads its arguments in: a where()'s branches each in their own, a
    condition's arguments unguarded (no gradient flows through a comparison)."""
    if node.op == "where":
        condition = node.args[0]
        return [(), (*context, (condition, True)), (*context, (condition, False))]
    if node.op in CONDITIONS:
        return [()] * len(node.args)
    return [context] * len(node.args)


def evaluate_nodes(expression: Expression, inputs: Sequence):
    """Evaluate every node of the tape on the tensors ``inputs`` (one per variable, all of
    one shape); returns one tensor per node (a condition's is a bool tensor).

    Constants become 0-d tensors of the inputs' dtype and device so that every op sees tensors
    and constant arithmetic happens in floating point (``9**9**9`` is inf, not a Python bigint).
    With a where(), the branches read guarded variables (see the module docstring).
    """
    import torch

    like = inputs[0]

    def constant(node):
        return torch.tensor(node.value, dtype=like.dtype, device=like.device)

    def apply(node, op, args):
        return op.compute(*args)

    if not expression.has_where:
        return fold(expression, inputs, constant, apply)
    return guarded_fold(expression, inputs, constant, apply, _torch_guard)


def _torch_guard(value, parts):
    """v where its branch is taken, v.detach() elsewhere: no gradient, so no NaN, from there."""
    import torch

    if len(parts) == 1:
        condition, branch = parts[0]
        if branch:
            return torch.where(condition, value, value.detach())
        return torch.where(condition, value.detach(), value)
    mask = None
    for condition, branch in parts:
        part = condition if branch else torch.logical_not(condition)
        mask = part if mask is None else torch.logical_and(mask, part)
    return torch.where(mask, value, value.detach())


def evaluate_outputs(expression: Expression, inputs: Sequence) -> list:
    """Each component of the expression at the tensors ``inputs``, in one fold (each shared
    node computed once), each shaped like the inputs; one tensor for a scalar expression."""
    values = evaluate_nodes(expression, inputs)
    return [_shaped(values[i], inputs[0]) for i in expression.outputs]


def evaluate(expression: Expression, inputs: Sequence):
    """f at the tensors ``inputs``, shaped like them even where f is constant."""
    _check_scalar(expression)
    return _shaped(evaluate_nodes(expression, inputs)[expression.outputs[0]], inputs[0])


def _shaped(y, like):
    return y if y.shape == like.shape else y.expand_as(like)


def function_of(expression: Expression):
    """f as a Python function of one tensor per variable: ``f(x)``, ``f(x, y)``."""
    _check_scalar(expression)
    return lambda *inputs: evaluate(expression, inputs)


def _check_scalar(expression: Expression) -> None:
    if expression.is_vector:
        raise ValueError(
            f"{expression.text!r} is vector-valued ({len(expression.outputs)} components): "
            "evaluate each as expression.component(k), or all at once with evaluate_outputs"
        )


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

    def tensor(code: str, index: int) -> str:
        return f"torch.tensor({code}, dtype={dtype})" if nodes[index].op == "const" else code

    def apply(node, op, args):
        return op.source(*(tensor(code, i) for code, i in zip(args, node.args, strict=True)))

    if not expression.has_where:
        sources = fold(expression, expression.variables, _constant_source, apply)
    else:
        sources = guarded_fold(
            expression, expression.variables, _constant_source, apply, _source_guard
        )
    if not expression.is_vector:
        return sources[expression.outputs[0]]
    return f"({', '.join(tensor(sources[i], i) for i in expression.outputs)})"


def _source_guard(value: str, parts) -> str:
    """The source of :func:`_torch_guard`."""
    if len(parts) == 1:
        condition, branch = parts[0]
        if branch:
            return f"torch.where({condition}, {value}, {value}.detach())"
        return f"torch.where({condition}, {value}.detach(), {value})"
    mask = None
    for condition, branch in parts:
        part = condition if branch else f"torch.logical_not({condition})"
        mask = part if mask is None else f"torch.logical_and({mask}, {part})"
    return f"torch.where({mask}, {value}, {value}.detach())"


def _constant_source(node: Node) -> str:
    if node.label in CONSTANTS:
        return f"math.{node.label}"
    return repr(node.value)


def careful_definitions(expression: Expression) -> str:
    """The source of every careful form the expression uses, with what they use in turn, in
    an order that runs: constants first, then definitions in their module's order."""
    from autodiffcli.lang import stable

    pending = [row(node.op).target for node in expression.nodes if _careful(node)]
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
    return node.op not in ("var", "const") and row(node.op).kind == "careful"


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

# Precedence of a LaTeX form, loosest first: a form binds as tightly as its number. Conditions
# bind more loosely than any number (they appear only in where() and in each other).
_OR, _AND, _COMPARE = -3, -2, -1
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
    "where": (_ATOM, (_OR, 0, 0)),
    "and": (_AND, (_AND, _AND)),
    "or": (_OR, (_OR, _OR)),
    "not": (_ATOM, (_ATOM,)),
} | dict.fromkeys(("lt", "le", "gt", "ge", "eq", "ne"), (_COMPARE, (_SUM, _SUM)))
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

    nodes = expression.nodes

    def apply(node, op, args):
        if _chained(node, nodes):  # 0 < x < 1, not 0 < x \wedge x < 1
            first, second = (row(nodes[i].op).latex for i in node.args)
            middle = (args[0][0][0].partition(first.format("", "")))[2]
            text = args[0][0][0] + args[1][0][0][len(middle) :]
            return (text, _COMPARE), (text, _COMPARE)
        return form(op, args, False), form(op, args, True)

    forms = fold(expression, [variable(name) for name in expression.variables], number, apply)
    if not expression.is_vector:
        return forms[expression.outputs[0]][0][0]
    components = r",\ ".join(forms[i][0][0] for i in expression.outputs)
    return rf"\left[{components}\right]"


def _chained(node: Node, nodes) -> bool:
    """Whether the node is 'and' of two comparisons sharing the middle operand (a < b < c)."""
    if node.op != "and":
        return False
    first, second = (nodes[i] for i in node.args)
    comparisons = ("lt", "le", "gt", "ge", "eq", "ne")
    return first.op in comparisons and second.op in comparisons and first.args[1] == second.args[0]
