"""`autodiff explain`: the prose of the lesson, section by section, around the live numbers of
:mod:`autodiffcli.lesson.probes`. Nothing shown is typed in: every tensor, Jacobian, graph and
count comes from torch at run time on the user's own expression, and every claim from a
comparison. Where a value is undefined the lesson says so and says why.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import torch

from autodiffcli.engines.graph import graph_lines
from autodiffcli.lang import Expression, careful_definitions, function_of, python_source
from autodiffcli.lesson import picture
from autodiffcli.lesson.chain import trace_section
from autodiffcli.lesson.costs import forward_and_reverse, higher_orders
from autodiffcli.lesson.probes import (
    CLAIM_ATOL,
    CLAIM_RTOL,
    Agreement,
    JacobianFacts,
    backward_twice_error,
    careful_nodes,
    compare,
    derivative_at,
    jacobian,
    jacobian_facts,
    naive_backward_error,
    nested_reverse,
    sum_trick_grad,
    trace,
)
from autodiffcli.lesson.reasons import (
    Exact,
    Verdict,
    exact_derivatives,
    side_step,
    verdict,
    why_not_finite,
)
from autodiffcli.lesson.report import Report, Section
from autodiffcli.numfmt import CODE_INDENT, WIDTH, fmt, matrix, number_rows, vector


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
        notes: sentences about the points (from :func:`reasons.default_points`), shown with
            the goal.
        width: the text width; wider Jacobians have their middle columns elided.
    """

    f = function_of(expression)
    x = x.detach()
    J = jacobian_facts(f, x)
    reasons = {i: why_not_finite(expression, float(x[i])) for i in range(x.numel())}
    reasons = {i: r for i, r in reasons.items() if r is not None}
    judged_order = max(order, 1)  # the lesson is about f' even at --order 0
    nested = nested_reverse(f, x, judged_order)
    traced = None if trace_at is None else trace(expression, trace_at)
    trace_reason = None if trace_at is None else why_not_finite(expression, trace_at, traced)
    x0 = trace_at if trace_at is not None and trace_reason is None else _finite_point(x, reasons)
    extra = [] if trace_at is None or trace_at in x.tolist() else [trace_at]
    exact = exact_derivatives(expression, x.tolist() + extra, judged_order)
    judged = _judge(f, x, nested.derivatives, exact)
    sections = [
        _goal(expression, f, x, notes, reasons, judged[1], nested.derivatives[1]),
        _naive_call(f, x),
        _why(J, x, reasons, width, judged[1]),
        _fix(f, x, J),
        _misleading(f, x, width),
        _graph(expression, f, x, x0),
    ]
    if trace_at is not None:
        adjoint = derivative_at(traced, expression.variables[0])
        slope = _with_sides(f, 1, trace_at, adjoint, exact, _dtype_name(x))
        index = exact.points.index(trace_at)
        exact_slope = (float(exact.values[1][index]), int(exact.reasons[1][index]))
        sections.append(
            trace_section(expression, trace_at, traced, trace_reason, slope, exact_slope)
        )
    sections += [_backward_twice(f, x), forward_and_reverse(f, x, x0, _where)]
    if order > 1:
        notes_higher = [
            f"{judged[k][i].text}."  # it opens with f, a name kept lower case
            for k in range(2, order + 1)
            for i in range(x.numel())
            if judged[k][i].refuted and not _refuted_below(judged, k, i)
        ]
        sections.append(higher_orders(expression, x, order, nested, notes_higher))
    sections.append(_try_it(expression, x, order))
    for number, section in enumerate(sections, 1):
        section.title = f"{number}. {section.title}"
    return Report(expression.text, sections)


def _judge(f, x, derivatives, exact: Exact) -> dict[int, list[Verdict]]:
    """verdicts[k][i]: whether torch's k-th derivative at x[i] is the derivative there."""
    dtype = _dtype_name(x)
    judged = {}
    for k in range(1, len(derivatives)):
        values = derivatives[k].detach().tolist()
        judged[k] = [
            _with_sides(f, k, point, values[i], exact, dtype) for i, point in enumerate(x.tolist())
        ]
    return judged


def _dtype_name(x) -> str:
    return str(x.dtype).removeprefix("torch.")


def _with_sides(f, k: int, point: float, value: float, exact: Exact, dtype: str) -> Verdict:
    """The verdict, with torch's one-sided values named where it is a corner."""
    first = verdict(exact, k, point, value, dtype)
    if first.kind != "corner":
        return first
    h = side_step(point)
    sides = torch.tensor([point - h, point + h], dtype=torch.float64)
    left, right = nested_reverse(f, sides, k).derivatives[k].detach().tolist()
    return verdict(exact, k, point, value, dtype, sides=(left, right))


def _refuted_below(judged, k: int, i: int) -> bool:
    """A lower order (from 2) already says why x[i]'s derivatives are not shown true."""
    return any(judged[j][i].refuted for j in range(2, k))


def _finite_point(x, reasons) -> float:
    """The first point where f and f' are finite, else the first point."""
    finite = [float(v) for i, v in enumerate(x.tolist()) if i not in reasons]
    return finite[0] if finite else float(x[0])


def _goal(
    expression: Expression, f, x, notes, reasons, slopes: list[Verdict], slope_values
) -> Section:
    """The points and f there, with a sentence per row whose f or f' is not what it seems;
    ``slope_values`` is torch's f' at the points, ``slopes`` the verdicts on it."""
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
        section.text(note)
    refuted = {}
    slope_values = slope_values.detach().tolist()
    for i in range(x.numel()):
        if i in reasons:
            section.text(f"Row {i}: {reasons[i]}{_rule_outside(y[i], slope_values[i], x[i])}.")
        elif slopes and slopes[i].refuted:
            refuted[i] = slopes[i].text
            section.text(f"Row {i}: {slopes[i].text}.")
    return (
        section.fact("x", x.tolist())
        .fact("f", y.tolist())
        .fact("notes", list(notes))
        .fact("undefined", {str(i): r for i, r in reasons.items()})
        .fact("not_derivative", {str(i): text for i, text in refuted.items()})
        .fact("slope_verdicts", [v.kind for v in slopes])
    )


def _rule_outside(value, slope: float, point) -> str:
    """Where f is not finite but torch's f' is, say that this number is not a derivative."""
    if math.isfinite(float(value)) or not math.isfinite(slope):
        return ""
    at = fmt(float(point))
    return (
        f"; so f'({at}) does not exist either, though torch's rules still give {fmt(slope)} there"
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


def _why(J: JacobianFacts, x, reasons, width: int, slopes: list[Verdict]) -> Section:
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
            f"elementwise), so {_diagonal_holds(x, reasons, slopes)}."
        )
    else:
        section.text(_nonfinite_columns_text(J, x, reasons, slopes))
    return (
        section.fact("jacobian", J.matrix.tolist())
        .fact("max_off_diagonal", J.max_off_diagonal)
        .fact("diagonal", J.diagonal)
        .fact("nonfinite_columns", list(J.nonfinite_columns))
    )


def _diagonal_holds(x, reasons, slopes: list[Verdict]) -> str:
    """What the diagonal holds, as far as sympy's exact f' confirms it point by point."""
    points = x.tolist()
    wrong = [i for i, v in enumerate(slopes) if v.refuted or i in reasons]
    unchecked = [i for i, v in enumerate(slopes) if v.kind == "unchecked" and i not in wrong]
    if not wrong and not unchecked:
        return "the diagonal holds f'(x_i), as sympy's exact f' confirms at every point"
    text = "the diagonal holds torch's derivative at each x_i"
    if wrong:
        listed = ", ".join(fmt(points[i]) for i in wrong)
        rows = ", ".join(str(i) for i in wrong)
        text += (
            f", which is f'(x_i) except at x = {listed}, where f' does not exist or is not "
            f"what torch gives (see row{'s' * (len(wrong) > 1)} {rows} of section 1)"
        )
    if unchecked:
        listed = ", ".join(fmt(points[i]) for i in unchecked)
        text += f" (sympy's check of x = {listed} did not finish in time)"
    return text


def _nonfinite_columns_text(J: JacobianFacts, x, reasons, slopes: list[Verdict]) -> str:
    points = ", ".join(fmt(float(x[j])) for j in J.nonfinite_columns)
    columns = ", ".join(str(j) for j in J.nonfinite_columns)
    plural = len(J.nonfinite_columns) > 1
    return (
        "Every finite entry off the diagonal is exactly 0, so the Jacobian is still diagonal: "
        f"y_i depends on x_i alone (f is elementwise), and {_diagonal_holds(x, reasons, slopes)}. "
        f"Column{'s' * plural} {columns} (x = {points}) hold{'' if plural else 's'} non-finite "
        "entries off the diagonal too, but that is not dependence: row i of J is the backward "
        "pass seeded with 1 at y_i and 0 elsewhere, and where a local derivative is not "
        "finite, backward multiplies that seed 0 by it, and 0 * inf = nan in floating point "
        "(section 1 says why each of these points is not finite)."
    )


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
            "J is diagonal, so each column sum is the one diagonal entry, torch's derivative "
            "at x_i. "
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
    per_point_same = compare(trick, per_point, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    section.text(
        "On g, the sum trick returns "
        + (
            "the column sums of J_g"
            if sums.where_finite
            else "something other than J_g's column sums"
        )
        + f"{_where(sums, x)}: each x_i's effect on all of g's outputs, not a derivative of "
        f"one output. {_coincidence_text(per_point_same, x)} For a per-point derivative of a "
        "scalar function use torch.func.vmap(torch.func.grad(f)); for the whole matrix use "
        "torch.func.jacrev(g)."
    )
    return (
        section.fact("jacobian", J.tolist())
        .fact("sum_trick", trick.tolist())
        .fact("column_sums", column_sums.tolist())
        .fact("vmap_grad", per_point.tolist())
        .fact("lower_triangular", lower_triangular)
        .fact("sum_trick_is_column_sums", sums.where_finite)
        .fact("sum_trick_is_per_point", per_point_same.where_finite)
    )


def _coincidence_text(same: Agreement, x) -> str:
    """Whether g's sum trick happens to equal f' on these points, as compared."""
    if not same.where_finite:
        return "Here it differs from f' (the last two columns)."
    return (
        "Here it happens to equal torch's f' at every point shown" + _where(same, x) + ": "
        "column i of J_g holds f'(x_i) in each of its n - i rows from row i down, so its sum "
        "is (n - i) f'(x_i), which equals f'(x_i) only where f'(x_i) = 0 or i is the last "
        "point, as here."
    )


def _graph(expression: Expression, f, x, x0: float) -> Section:
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    lines = graph_lines(y)
    section = Section("graph", "The graph autograd recorded")
    if not y.requires_grad:
        section.text("f does not depend on x: torch recorded no graph, and every derivative is 0.")
        return section.fact("graph", []).fact("is_x", False)
    if y is leaf or not lines:
        section.text(
            "f is x itself: y = f(x) is the leaf x, so torch recorded no operation, and "
            "y.grad_fn is None. backward still works: y.sum() records SumBackward0, which "
            "hands each x_i a 1, so f' = 1 (the identity J of section 3)."
        )
        return section.fact("graph", []).fact("is_x", True)
    section.text(
        "Each operation on a tensor that requires grad records a node (y.grad_fn); "
        "next_functions links it to the nodes of its inputs, down to AccumulateGrad, which "
        "adds the result into x.grad:"
    )
    section.code(
        "\n".join("  " * depth + ("<- " if depth else "") + name for depth, name in lines), "text"
    )
    for sentence in _careful_nodes_text(expression, x0):
        section.text(sentence)
    return section.fact("graph", [{"depth": d, "node": n} for d, n in lines]).fact("is_x", False)


def _careful_nodes_text(expression: Expression, x0: float) -> list[str]:
    """For each function whose careful formulation torch records in place of its own nodes:
    what was recorded, and what torch's own function records (both measured at x0)."""
    sentences = []
    for name, careful, own in careful_nodes(expression, x0):
        sentence = (
            f"{name} is computed by a numerically careful formulation, whose source is in the "
            f"program of the last section, so torch recorded its operations: {', '.join(careful)}"
        )
        if own:
            sentence += f"; torch.{name} alone records {', '.join(own)}"
        sentences.append(sentence + ".")
    return sentences


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
        + (
            "twice the x.grad of one backward."
            if doubled.equal
            else "which is not twice the x.grad of one backward."
        )
    )
    return section.fact("error", message).fact("accumulates", doubled.equal)


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


def tape_dot(expression: Expression, trace_at: float | None = None) -> str:
    """The expression's dependency graph in DOT, labelled with the chain rule when traced."""
    return picture.tape_dot(expression, None if trace_at is None else trace(expression, trace_at))


def save_graph_picture(expression: Expression, path: str, trace_at: float | None = None) -> None:
    """``explain --graph FILE``: draw the dependency graph (png, svg, pdf)."""
    rows = None if trace_at is None else trace(expression, trace_at)
    picture.save_tape_picture(expression, path, rows)
