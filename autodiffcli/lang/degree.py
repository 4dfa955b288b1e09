"""Polynomial degree of each node in each variable, read from the tape: which partials are
exactly 0 by structure (x/y is of degree 1 in x, so every partial with two or more x's is 0).

An engine that knows a partial is structurally 0 writes 0 rather than computing it: exact,
where Taylor mode's interpolation would leave rounding noise of the largest partial of that
order (5.5e-12 for f_xxyy of x/y at (-2, 0.3)), and free. A degree is a whole number, or
infinity for anything that is not a polynomial in that variable.
"""

from __future__ import annotations

import math

from autodiffcli.lang.parse import Expression

_SAME = {"neg", "pos"}
_LARGER = {"add", "sub"}


def degrees(expression: Expression, variable: str) -> list[float]:
    """For each node, its degree as a polynomial in ``variable`` (0: does not depend on it;
    math.inf: not a polynomial in it)."""
    nodes = expression.nodes
    out: list[float] = []
    for node in nodes:
        args = [out[i] for i in node.args]
        if node.op == "var":
            out.append(1.0 if node.label == variable else 0.0)
        elif all(a == 0 for a in args):  # constants too
            out.append(0.0)
        elif node.op in _SAME:
            out.append(args[0])
        elif node.op in _LARGER:
            out.append(max(args))
        elif node.op == "mul":
            out.append(args[0] + args[1])
        elif node.op == "div":
            out.append(args[0] if args[1] == 0 else math.inf)
        elif node.op == "pow":
            out.append(_power_degree(args[0], nodes[node.args[1]]))
        elif node.op == "where":
            out.append(max(args[1:]) if args[0] == 0 else math.inf)
        else:  # any other function of something that depends on the variable
            out.append(math.inf)
    return out


def _power_degree(base: float, exponent) -> float:
    """a**n is of degree n*deg(a) for a literal whole exponent n >= 0."""
    if exponent.op == "const" and exponent.value >= 0 and float(exponent.value).is_integer():
        return base * exponent.value
    return math.inf


def structural_zeros(expression: Expression, partials) -> list:
    """The partials (each with ``output`` and ``counts``, one count per variable of the
    expression) that are exactly 0 because f is a polynomial of lower degree in one of the
    variables; the tape is read once per variable."""
    by_variable = [degrees(expression, variable) for variable in expression.variables]
    return [
        partial
        for partial in partials
        if any(
            count and by_variable[i][expression.outputs[partial.output]] < count
            for i, count in enumerate(partial.counts)
        )
    ]
