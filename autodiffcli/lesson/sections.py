"""`autodiff explain`: the prose of the lesson, section by section, around the live numbers of
:mod:`autodiffcli.lesson.probes`. Nothing shown is typed in: every tensor, Jacobian, graph and
count comes from torch at run time on the user's own expression, and every claim from a
comparison. Where a value is undefined the lesson says so and says why.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import torch

from autodiffcli.engines.graph import count_nodes, graph_lines
from autodiffcli.lang import Expression, careful_definitions, function_of, python_source
from autodiffcli.lesson import picture
from autodiffcli.lesson.probes import (
    CLAIM_ATOL,
    CLAIM_RTOL,
    JACOBIAN_SIZE,
    MEMORY_POINTS,
    Agreement,
    JacobianCost,
    JacobianFacts,
    backward_twice_error,
    compare,
    derivative_at,
    finite_point,
    forward_saved_bytes,
    jacobian,
    jacobian_both_ways,
    jacobian_facts,
    naive_backward_error,
    nested_reverse,
    saved_bytes,
    sum_trick_grad,
    taylor_mode,
    trace,
    why_not_finite,
)
from autodiffcli.lesson.report import Report, Section
from autodiffcli.numfmt import CODE_INDENT, WIDTH, fmt, fmt_optional, matrix, number_rows, vector


def explain(
    expression: Expression,
    x: torch.Tensor,
    order: int = 1,
    *,
    trace_at: float | None = None,
    notes: Sequence[str] = (),
    width: int = WIDTH,
) -> Report:
    """Run every step of the lesson on ``expression`` at the points ``x`` (1-d tensor).

    Args:
        expression: the parsed expression.
        x: the points, a 1-d tensor.
        order: derivatives up to this order; above 1 adds the higher-orders section.
        trace_at: a point x0 for the chain-rule section (node by node), placed after the graph.
        notes: sentences about the points (from :func:`default_points`), shown with the goal.
        width: the text width; wider Jacobians have their middle columns elided.
    """

    f = function_of(expression)
    x = x.detach()
    J = jacobian_facts(f, x)
    reasons = {i: why_not_finite(expression, float(x[i])) for i in range(x.numel())}
    reasons = {i: r for i, r in reasons.items() if r is not None}
    sections = [
        _goal(expression, f, x, notes, reasons),
        _naive_call(f, x),
        _why(J, x, reasons, width),
        _fix(f, x, J),
        _misleading(f, x, width),
        _graph(f, x),
    ]
    if trace_at is not None:
        sections.append(trace_section(expression, trace_at))
    sections += [_backward_twice(f, x), _forward_and_reverse(expression, f, x, trace_at)]
    if order > 1:
        sections.append(_higher_orders(expression, f, x, order))
    sections.append(_try_it(expression, x, order))
    for number, section in enumerate(sections, 1):
        section.title = f"{number}. {section.title}"
    return Report(expression.text, sections)


def _goal(expression: Expression, f, x, notes, reasons) -> Section:
    y = f(x)
    section = Section("goal", "The goal")
    section.text(
        f"We want f'(x_i) at every point of the vector x, for f(x) = {expression.text}, "
        "without writing f' by hand: autograd must find it."
    )
    section.table(
        ["i", "x_i", "f(x_i)"],
        [
            [str(i), fmt(a), fmt(b)]
            for i, (a, b) in enumerate(zip(x.tolist(), y.tolist(), strict=True))
        ],
    )
    for note in notes:
        section.text(f"Default points: {note}")
    for i, reason in reasons.items():
        section.text(f"Row {i}: {reason}.")
    return (
        section.fact("x", x.tolist())
        .fact("f", y.tolist())
        .fact("notes", list(notes))
        .fact("undefined", {str(i): r for i, r in reasons.items()})
    )


def _naive_call(f, x) -> Section:
    section = Section("naive", "The naive call: y.backward()")
    section.code("x = torch.tensor(points, requires_grad=True)\ny = f(x)\ny.backward()")
    message = naive_backward_error(f, x)
    if message is None:
        section.text(
            f"With {x.numel()} point, y has a single element, so torch treats it as a scalar "
            "and y.backward() works. Use more points to see the error."
        )
    else:
        section.text("torch raises:").code(f"RuntimeError: {message}", "text")
    return section.fact("error", message)


def _why(J: JacobianFacts, x, reasons, width: int) -> Section:
    n = x.numel()
    section = Section("why", "Why: y is a vector, so dy/dx is a matrix")
    section.text(
        f"y has {n} elements, so dy/dx is the {n}x{n} Jacobian J with J[i, j] = dy_i/dx_j. "
        "backward(v) computes the vector-Jacobian product v^T J, and it needs v: only for a "
        "scalar output is v = 1 implied. Here is J, computed by "
        "torch.autograd.functional.jacobian:"
    )
    section.code(matrix(J.matrix.tolist(), width - CODE_INDENT), "text")
    if not J.diagonal:
        section.text(
            f"Off-diagonal entries reach {fmt(J.max_off_diagonal)}: f mixes points, and y_i "
            "depends on other x_j than x_i."
        )
    elif not J.nonfinite_columns:
        section.text(
            "Every entry off the diagonal is exactly 0: y_i depends on x_i alone (f is "
            "elementwise), so the diagonal holds f'(x_i)."
        )
    else:
        section.text(_nonfinite_columns_text(J, x, reasons))
    return (
        section.fact("jacobian", J.matrix.tolist())
        .fact("max_off_diagonal", J.max_off_diagonal)
        .fact("diagonal", J.diagonal)
        .fact("nonfinite_columns", list(J.nonfinite_columns))
    )


def _nonfinite_columns_text(J: JacobianFacts, x, reasons) -> str:
    points = ", ".join(fmt(float(x[j])) for j in J.nonfinite_columns)
    columns = ", ".join(str(j) for j in J.nonfinite_columns)
    why = " ".join(f"Here {reasons[j]}." for j in J.nonfinite_columns if j in reasons)
    return (
        "Every finite entry off the diagonal is exactly 0, so the Jacobian is still diagonal: "
        "y_i depends on x_i alone (f is elementwise), and the diagonal holds f'(x_i). "
        f"Column {columns} (x = {points}) holds non-finite entries off the diagonal too, but "
        "that is not dependence: row i of J is the backward pass seeded with 1 at y_i and 0 "
        "elsewhere, and where a local derivative is not finite, backward multiplies that "
        f"seed 0 by it, and 0 * inf = nan in floating point. {why}"
    ).rstrip()


def _where(agreement: Agreement, x) -> str:
    """' (both nan at x = 0)'-style tail naming the points a claim leaves out."""
    if not agreement.undefined:
        return ""
    points = ", ".join(fmt(float(x[i])) for i in agreement.undefined)
    return f" wherever finite (not at x = {points})"


def _fix(f, x, J: JacobianFacts) -> Section:
    by_sum, by_ones = sum_trick_grad(f, x), sum_trick_grad(f, x, seed_ones=True)
    diagonal = torch.diagonal(J.matrix)
    same = compare(by_sum, by_ones)
    on_diagonal = compare(by_sum, diagonal)
    section = Section("fix", "The fix: y.sum().backward() or y.backward(torch.ones_like(y))")
    section.text(
        "sum(y) is a scalar, and its gradient is 1^T J: the column sums of J. "
        + (
            "J is diagonal, so each column sum is the one diagonal entry, f'(x_i). "
            if J.diagonal
            else "J is not diagonal, so the column sums are not f'(x_i). "
        )
        + "Passing v = ones does the same product explicitly."
    )
    section.table(
        ["x_i", "y.sum().backward()", "y.backward(ones)", "diagonal of J"],
        number_rows(x.tolist(), by_sum.tolist(), by_ones.tolist(), diagonal.tolist()),
    )
    both = "identical x.grad" if same.equal else "different x.grad"
    if same.equal and same.undefined:
        both += ", non-finite at the same points"
    relation = "equals" if on_diagonal.where_finite else "differs from"
    section.text(
        f"Both calls give {both}, and it {relation} the diagonal of J{_where(on_diagonal, x)}."
    )
    return (
        section.fact("grad_sum", by_sum.tolist())
        .fact("grad_ones", by_ones.tolist())
        .fact("equal", same.equal)
        .fact("equals_diagonal", on_diagonal.where_finite)
        .fact("undefined_points", [float(x[i]) for i in on_diagonal.undefined])
    )


def _misleading(f, x, width: int) -> Section:
    def g(t):
        return torch.cumsum(f(t), 0)

    J = jacobian(g, x)
    trick = sum_trick_grad(g, x)
    per_point = torch.func.vmap(torch.func.grad(f))(x)
    column_sums = J.sum(0)
    upper = torch.triu(J, 1)
    lower_triangular = bool((upper[torch.isfinite(upper)] == 0).all())
    section = Section("misleading", "When the sum trick misleads")
    section.text(
        "The trick relies on J being diagonal. Take g(x) = torch.cumsum(f(x), 0): y_i = "
        "f(x_0) + ... + f(x_i) depends on every earlier point, and J is "
        + ("lower triangular:" if lower_triangular else "not even lower triangular:")
    )
    section.code(matrix(J.tolist(), width - CODE_INDENT), "text")
    section.table(
        ["x_i", "g: y.sum().backward()", "column sums of J_g", "f'(x_i) by vmap(grad(f))"],
        number_rows(x.tolist(), trick.tolist(), column_sums.tolist(), per_point.tolist()),
    )
    sums = compare(trick, column_sums, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    section.text(
        "The sum trick returns "
        + ("the column sums of J" if sums.where_finite else "something other than J's column sums")
        + f"{_where(sums, x)} (each x_i's effect on all outputs), not a per-point derivative. "
        "For a per-point derivative of a scalar function use "
        "torch.func.vmap(torch.func.grad(f)); for the whole matrix use torch.func.jacrev(g)."
    )
    return (
        section.fact("jacobian", J.tolist())
        .fact("sum_trick", trick.tolist())
        .fact("column_sums", column_sums.tolist())
        .fact("vmap_grad", per_point.tolist())
        .fact("lower_triangular", lower_triangular)
        .fact("sum_trick_is_column_sums", sums.where_finite)
    )


def _graph(f, x) -> Section:
    y = f(x.clone().requires_grad_(True))
    lines = graph_lines(y)
    section = Section("graph", "The graph autograd recorded")
    if not lines:
        section.text("f does not depend on x: torch recorded no graph, and every derivative is 0.")
        return section.fact("graph", [])
    section.text(
        "Each operation on a tensor that requires grad records a node (y.grad_fn); "
        "next_functions links it to the nodes of its inputs, down to AccumulateGrad, which "
        "adds the result into x.grad:"
    )
    section.code(
        "\n".join("  " * depth + ("<- " if depth else "") + name for depth, name in lines), "text"
    )
    return section.fact("graph", [{"depth": d, "node": n} for d, n in lines])


def _backward_twice(f, x) -> Section:
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    section = Section("twice", "Backward twice")
    if not y.requires_grad:
        section.text(
            "f does not depend on x, so torch recorded no graph: there is no backward to run, "
            "once or twice, and f' is 0."
        )
        return section.fact("error", None)
    message = backward_twice_error(f, x)
    section.code("s = y.sum()\ns.backward()\ns.backward()")
    if message is None:
        section.text(
            "No error here: this graph saved no intermediate tensors for backward, so there "
            "was nothing to free. Most graphs do save some (sin saves x for cos(x))."
        )
    else:
        section.text("The first backward frees the tensors the graph saved; the second fails:")
        section.code(textwrap.fill(f"RuntimeError: {message}", WIDTH - CODE_INDENT), "text")
    s = y.sum()
    s.backward(retain_graph=True)
    once = leaf.grad.clone()
    s.backward()
    doubled = compare(leaf.grad, 2 * once)
    section.text(
        "With s.backward(retain_graph=True) the second call works, and gradients "
        f"accumulate: x.grad = {vector(leaf.grad.tolist())}, "
        + ("twice f'(x)." if doubled.equal else "which is not twice f'(x).")
    )
    return section.fact("error", message).fact("accumulates", doubled.equal)


def _forward_and_reverse(expression, f, x, trace_at) -> Section:
    section = Section("modes", "Forward mode and reverse mode")
    _, forward = torch.func.jvp(f, (x,), (torch.ones_like(x),))
    reverse = sum_trick_grad(f, x)
    same = compare(forward, reverse, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    section.text(
        "Forward mode (torch.func.jvp with a tangent of ones) pushes dx = 1 through the "
        "computation alongside the values; reverse mode (backward) pulls dy = 1 back from the "
        "output."
    )
    section.table(
        ["x_i", "forward (jvp)", "reverse (backward)"],
        number_rows(x.tolist(), forward.tolist(), reverse.tolist()),
    )
    section.text(f"They {'agree' if same.where_finite else 'differ'}{_where(same, x)}.")
    low, high = float(x.min()), float(x.max())
    many = torch.linspace(low, high if high > low else low + 1, MEMORY_POINTS, dtype=x.dtype)
    kept = saved_bytes(f, many.clone().requires_grad_(True))
    forward_kept = forward_saved_bytes(f, many)
    section.text(_memory_text(kept, forward_kept))
    x0 = finite_point(expression, x, trace_at)
    scale = torch.arange(1, JACOBIAN_SIZE + 1, dtype=x.dtype)
    many_in = jacobian_both_ways(
        lambda t: f(t).sum(), torch.linspace(low, high, JACOBIAN_SIZE, dtype=x.dtype)
    )
    one_in = jacobian_both_ways(lambda s: f(s * scale), torch.tensor([x0], dtype=x.dtype))
    section.table(
        ["Jacobian of", "shape", "forward passes", "forward ms", "reverse passes", "reverse ms"],
        [_cost_row(f"sum of f over {JACOBIAN_SIZE} points", many_in)]
        + [_cost_row(f"f at {fmt(x0)}*(1..{JACOBIAN_SIZE})", one_in)],
    )
    section.text(_rule_text(many_in, one_in))
    return (
        section.fact("forward", forward.tolist())
        .fact("reverse", reverse.tolist())
        .fact("agree", same.where_finite)
        .fact("saved_tensors", {"reverse": list(kept), "forward": list(forward_kept)})
        .fact("many_in_one_out", _cost_fact(many_in))
        .fact("one_in_many_out", _cost_fact(one_in))
    )


def _memory_text(kept: tuple[int, int], forward_kept: tuple[int, int]) -> str:
    return (
        f"Memory, measured with torch.autograd.graph.saved_tensors_hooks on {MEMORY_POINTS:,} "
        f"points: to run backward later, autograd saved {kept[0]} tensors "
        f"({kept[1] / 1e6:.3g} MB) while computing f, and keeps them until backward runs. "
        f"Forward mode saved {forward_kept[0]} tensors ({forward_kept[1] / 1e6:.3g} MB): each "
        "tangent is computed beside its value and can be dropped with it, so it needs no tape."
    )


def _cost_row(name: str, cost: JacobianCost) -> list[str]:
    return [
        name,
        f"{cost.outputs}x{cost.inputs}",
        str(cost.forward_passes),
        f"{cost.forward_seconds * 1e3:.3g}",
        str(cost.reverse_passes),
        f"{cost.reverse_seconds * 1e3:.3g}",
    ]


def _cost_fact(cost: JacobianCost) -> dict:
    return {
        "inputs": cost.inputs,
        "outputs": cost.outputs,
        "forward_passes": cost.forward_passes,
        "reverse_passes": cost.reverse_passes,
        "forward_seconds": cost.forward_seconds,
        "reverse_seconds": cost.reverse_seconds,
        "same_jacobian": cost.agreement.where_finite,
    }


def _rule_text(many_in: JacobianCost, one_in: JacobianCost) -> str:
    both = many_in.agreement.where_finite and one_in.agreement.where_finite
    return (
        f"Both ways give {'the same' if both else 'different'} Jacobians. Forward mode needs "
        "one pass per input and reverse mode one pass per output: for many inputs and one "
        f"output reverse needed {many_in.reverse_passes} pass against forward's "
        f"{many_in.forward_passes} (forward took "
        f"{_ratio(many_in.forward_seconds, many_in.reverse_seconds)} as long), and for one "
        f"input and many outputs forward needed {one_in.forward_passes} against reverse's "
        f"{one_in.reverse_passes} (reverse took "
        f"{_ratio(one_in.reverse_seconds, one_in.forward_seconds)} as long). So: reverse "
        "mode for a loss of many parameters (training), forward mode for few inputs and many "
        "outputs, or when the tape reverse mode must keep does not fit in memory. Forward "
        "mode also runs in the same sweep as f, while reverse mode must wait for f to finish "
        "and then walk the graph back."
    )


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.3g}x" if fast > 0 else "many times"


def _higher_orders(expression, f, x, order: int) -> Section:
    derivatives, seconds = nested_reverse(f, x, order)
    counts = [count_nodes(d) for d in derivatives]
    section = Section("higher", "Higher orders")
    section.code(
        "(d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)\n"
        "(d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True, materialize_grads=True)"
    )
    section.text(
        "create_graph=True makes backward record its own operations, so f' is a function in "
        "the graph that can be differentiated again. That is why each order costs more: the "
        "graph of order k+1 holds the graph of order k and the backward of it, and here it "
        f"grows {_growth(counts)}. A derivative that stops depending on x (x**2 -> 2 -> 0) "
        "has no graph; materialize_grads=True (or zeros) keeps it from breaking."
    )
    names = ["f"] + [f"f{chr(39) * k}" if k <= 3 else f"f^({k})" for k in range(1, order + 1)]
    section.table(
        ["derivative", "values", "graph nodes", "ms so far"],
        [
            [name, vector(d.detach().tolist()), str(c), f"{t * 1e3:.3g}"]
            for name, d, c, t in zip(names, derivatives, counts, seconds, strict=True)
        ],
    )
    section.fact("graph_nodes", counts).fact("values", [d.detach().tolist() for d in derivatives])
    taylor = taylor_mode(expression, x, order)
    section.text(
        "Taylor mode (autodiffcli.engines.taylor) instead pushes the truncated Taylor series "
        "of every "
        "node forward in one sweep, and builds no graph. Its operations per point and time, "
        "beside the graph nested reverse mode builds:"
    )
    section.table(
        ["order", "Taylor operations per point", "Taylor ms", "reverse graph nodes"],
        [[str(k), str(w), f"{t * 1e3:.3g}", str(counts[k])] for k, w, t in taylor],
    )
    return section.fact("taylor_work", [w for _, w, _ in taylor])


def _growth(counts: list[int]) -> str:
    ratios = [b / a for a, b in zip(counts, counts[1:], strict=False) if a > 0]
    if not ratios:
        return "not at all"
    return "by " + ", ".join(f"{r:.3g}x" for r in ratios) + " per order"


def snippet(expression: Expression, x: torch.Tensor, order: int) -> str:
    """A runnable Python program printing the derivatives, built from the parsed expression by
    the very formulation the engines evaluate, careful forms included."""
    v = expression.variables[0]
    body = python_source(expression)
    if not expression.depends[-1]:
        body = f"{body} + 0 * {v}  # f does not depend on {v}: tie it to {v}"
    definitions = careful_definitions(expression)
    points = ", ".join(repr(value) for value in x.tolist())
    uses_math = "math." in body or "math." in definitions
    imports = "import math\n\nimport torch\n\n" if uses_math else "import torch\n\n"
    if definitions:
        imports += f"\n{definitions}\n\n\n"
    return (
        imports + f"{v} = torch.tensor([{points}], dtype=torch.float64, requires_grad=True)\n"
        f"y = {body}\n"
        "d = y\n"
        f"for k in range(1, {max(order, 1)} + 1):\n"
        "    if d.requires_grad:\n"
        "        (d,) = torch.autograd.grad(\n"
        f"            d.sum(), {v}, create_graph=True, materialize_grads=True\n"
        "        )\n"
        f"    else:  # d no longer depends on {v}: its derivative is 0\n"
        f"        d = torch.zeros_like({v})\n"
        "    # + zeros: autograd's lazy zeros (abs'' is one) become a tensor that can be listed\n"
        f'    print(f"order {{k}}:", (d + torch.zeros_like({v})).tolist())\n'
    )


def _try_it(expression: Expression, x, order: int) -> Section:
    section = Section("try", "Try it yourself")
    section.text(
        "This program, generated from your parsed expression by the formulation the engine "
        "runs (careful forms included, where torch's own rule loses digits), prints the same "
        "values:"
    )
    return section.code(snippet(expression, x, order))


def trace_section(expression: Expression, x0: float) -> Section:
    """The chain rule on the graph at x0: values, local partials, tangents and adjoints."""
    rows = trace(expression, x0)
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
        [_trace_row(row) for row in rows],
    )
    reason = why_not_finite(expression, x0)
    section.text(_chain_conclusion(rows, x0, reason, expression.variables[0]))
    return section.fact("nodes", rows)


def _trace_row(row: dict) -> list[str]:
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
        fmt(row["tangent"]),
        fmt_optional(row["adjoint"]),
    ]


def _chain_conclusion(rows: list[dict], x0: float, reason: str | None, variable: str) -> str:
    last, slope = rows[-1], derivative_at(rows, variable)
    if not any(row["op"] == variable for row in rows):
        return (
            f"f does not use x: the tangent of {last['node']} is {fmt(last['tangent'])}, no "
            f"adjoint reaches x, and f'({fmt(x0)}) = 0 both ways."
        )
    agreement = compare(last["tangent"], slope, rtol=CLAIM_RTOL)
    opening = (
        f"The tangent of the last node, {last['node']}, is {fmt(last['tangent'])}, and the "
        f"adjoint of x is {fmt(slope)}: "
    )
    if agreement.equal and not agreement.undefined:
        return opening + (
            f"both are f'({fmt(x0)}), found once from x to f (forward) and once from f back to "
            "x (reverse)."
        )
    why = f": {reason}" if reason else ""
    if agreement.equal:
        return opening + f"neither is finite{why}."
    return opening + (
        "they differ, since the two directions meet the non-finite values in a different "
        f"order{why}."
    )


def tape_dot(expression: Expression, trace_at: float | None = None) -> str:
    """The expression's dependency graph in DOT, labelled with the chain rule when traced."""
    return picture.tape_dot(expression, None if trace_at is None else trace(expression, trace_at))


def save_graph_picture(expression: Expression, path: str, trace_at: float | None = None) -> None:
    """``explain --graph FILE``: draw the dependency graph (png, svg, pdf)."""
    rows = None if trace_at is None else trace(expression, trace_at)
    picture.save_tape_picture(expression, path, rows)
