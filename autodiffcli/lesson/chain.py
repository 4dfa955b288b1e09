"""The chain rule on the graph at one point (``explain --trace X0``): each operation of the
parsed expression, what the student wrote, with its value, its local partials as numbers
(torch, on that one operation) and as formulas (the operation table's sympy column), the
forward tangent and the reverse adjoint, and df/dx assembled by sympy beside them.
"""

from __future__ import annotations

from autodiffcli.lang import CONDITIONS, OPS, Expression
from autodiffcli.lesson.probes import CLAIM_RTOL, compare, derivative_at
from autodiffcli.lesson.reasons import Verdict
from autodiffcli.lesson.report import Section
from autodiffcli.numfmt import fmt, fmt_optional

# A formula longer than this is not printed, only its length: it would not be read.
MAX_FORMULA_CHARS = 600


def trace_section(
    expression: Expression,
    x0: float,
    rows: list[dict],
    reason: str | None,
    slope: Verdict,
    exact_slope: tuple[float, int],
) -> Section:
    """The chain rule on the graph at x0: values, local partials, tangents and adjoints.

    ``rows`` is :func:`probes.trace` at x0, and ``reason`` why f or f' is not finite there
    (None where both are); ``slope`` says whether torch's f'(x0) is the derivative (see
    :func:`reasons.verdict`); ``exact_slope`` is sympy's f'(x0) with the symbolic reference's
    reason code (0: a value).
    """
    section = Section("trace", f"The chain rule on the graph at x = {fmt(x0)}")
    section.text(
        "Every node v_i of the expression, in forward order. value is v_i at x0. Each edge "
        "v_j -> v_i carries the local partial dv_i/dv_j, computed by torch on that one "
        "operation. Forward mode (torch.autograd.forward_ad, seed dx/dx = 1) carries the "
        "tangent dv_i/dx = sum over inputs j of dv_i/dv_j * dv_j/dx, from x to f. Reverse mode "
        "(one backward pass) carries the adjoint df/dv_i = sum over users k of df/dv_k * "
        "dv_k/dv_i, from f back to x. Constants do not depend on x: their edges carry nothing."
    )
    section.table(
        ["node", "op", "inputs", "value", "local partials", "tangent dv/dx", "adjoint df/dv"],
        [trace_row(row) for row in rows],
    )
    if expression.has_where:
        section.text(
            "A condition's value is 1 (true) or 0 (false), and it has no derivative. Inside a "
            "where(), each branch reads x through a guard: where the branch is not taken at "
            "the point, it reads x detached from the graph, so its tangent and adjoint are 0 "
            "there, whatever its local partials say. This keeps a NaN or inf of the branch not "
            "taken out of the derivative."
        )
    formulas = local_formulas(expression, rows)
    if formulas:
        section.text(
            "The same local partials as formulas, each the derivative of one operation's row "
            "of the operation table (its sympy form), with the node's inputs put in:"
        )
        section.code("\n".join(formulas), "text")
    section.text(_assembled_text(expression, x0, rows, exact_slope))
    section.text(_chain_conclusion(rows, x0, reason, expression, slope))
    return section.fact("nodes", rows).fact("formulas", formulas)


def trace_row(row: dict, inputs=None) -> list[str]:
    """One node of the trace table: its tangent (one per input of ``inputs``, for a trace of
    several variables) and adjoint."""
    tangents = [row["tangent"]] if inputs is None else [row["tangents"][n] for n in inputs]
    partials = [
        f"d{row['node']}/d{name} = {fmt(p)}"
        for name, p in zip(row["inputs"], row["partials"], strict=True)
        if p is not None
    ]
    return [
        row["node"],
        row["op"],
        ", ".join(row["inputs"]),
        fmt(row["value"]),
        "; ".join(partials) or "-",
        *(fmt(tangent) for tangent in tangents),
        fmt_optional(row["adjoint"]),
    ]


def local_formulas(expression: Expression, rows: list[dict]) -> list[str]:
    """``v3 = log(v2): dv3/dv2 = 1/v2 = 1`` for each edge from a node that depends on x."""
    import sympy

    from autodiffcli.verify.references import sympy_constant

    depends = expression.depends
    lines = []
    for index, node in enumerate(expression.nodes):
        if not node.args or not depends[index]:
            continue
        arguments = [
            sympy.Symbol(f"v{j}")  # a condition: true or false
            if expression.nodes[j].op in CONDITIONS
            else sympy.Symbol(f"v{j}", real=True)
            if depends[j]
            else sympy_constant(expression.nodes[j])
            for j in node.args
        ]
        formula = OPS[node.op].sympy(sympy, *arguments)
        if node.op in CONDITIONS:
            lines.append(
                f"v{index} = {sympy.sstr(formula)}: a condition (true or false), with no derivative"
            )
            continue
        partials = []
        for position, j in enumerate(node.args):
            if not depends[j] or expression.nodes[j].op in CONDITIONS:
                continue
            # DiracDelta terms vanish off the corner, where the derivative is undefined anyway
            partial = sympy.diff(formula, arguments[position]).replace(
                sympy.DiracDelta, lambda *args: sympy.S.Zero
            )
            value = rows[index]["partials"][position]
            shown = "" if partial.is_number else f" = {fmt(value)}"
            partials.append(f"dv{index}/dv{j} = {sympy.sstr(partial)}{shown}")
        lines.append(f"v{index} = {sympy.sstr(formula)}: " + "; ".join(partials))
    return lines


def _assembled_text(
    expression: Expression, x0: float, rows: list[dict], exact: tuple[float, int]
) -> str:
    from autodiffcli.verify import references

    formula = str(references.symbolic_derivatives(expression, 1)[1])
    variable = expression.variables[0]
    if len(formula) > MAX_FORMULA_CHARS:
        formula = f"a formula of {len(formula):,} characters (too long to print)"
    opening = f"Assembled by sympy from the same operations, df/d{variable} = {formula}. "
    value, reason = exact
    at = fmt(x0)
    if reason == references.KINK:
        return opening + (
            f"At x = {at} it jumps: its values just left and right of {at} differ, so it "
            "gives no derivative there."
        )
    if reason == references.UNDEFINED:
        return opening + f"At x = {at} it has no real value."
    if reason != references.OK:
        return opening + f"sympy did not evaluate it at x = {at} in time."
    same = compare(derivative_at(rows, variable), value, rtol=1e-9, atol=1e-12)
    return (
        opening
        + f"At x = {at} it gives {fmt(value)}, "
        + ("the adjoint of x above." if same.equal else "which is not the adjoint of x above.")
    )


def _chain_conclusion(
    rows: list[dict], x0: float, reason: str | None, expression: Expression, slope: Verdict
) -> str:
    variable = expression.variables[0]
    last, adjoint = rows[-1], derivative_at(rows, variable)
    at = fmt(x0)
    if not any(row["op"] == variable for row in rows):
        return (
            f"f does not use x: the tangent of {last['node']} is {fmt(last['tangent'])}, no "
            f"adjoint reaches x, and f'({at}) = 0 both ways."
        )
    agreement = compare(last["tangent"], adjoint, rtol=CLAIM_RTOL)
    opening = (
        f"The tangent of the last node, {last['node']}, is {fmt(last['tangent'])}, and the "
        f"adjoint of x is {fmt(adjoint)}: "
    )
    if not agreement.equal:
        why = f" ({reason})" if reason else ""
        return opening + (
            "they differ, since the two directions meet the non-finite values in a different "
            f"order{why}."
        )
    if agreement.undefined:
        return opening + (f"neither is finite ({reason})." if reason else "neither is finite.")
    both = "found once from x to f (forward) and once from f back to x (reverse), the same number"
    if slope.is_derivative:
        return opening + f"both are f'({at}), {both}, and sympy's exact f'({at}) agrees."
    if slope.kind == "unchecked":
        return opening + (
            f"{both}. That is torch's derivative at {at}; sympy's check of it did not finish "
            "in time, so it is not confirmed here."
        )
    return opening + f"{both}, but not f'({at}): {slope.text}."
