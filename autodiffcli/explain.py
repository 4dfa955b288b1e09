"""`autodiff explain`: a lesson on how autograd differentiates a vector, computed live.

Every error message, tensor, Jacobian, graph, partial derivative and timing in the report comes
from torch at run time on the user's own expression; nothing shown is typed in. Every claim the
prose makes (diagonal, equal, agrees) is decided by one NaN-aware comparison, :func:`compare`,
and where a value is undefined the lesson says so and says why, from the first node of the
tape that stops being finite. The report is data (sections of blocks), rendered as plain text,
markdown or JSON.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.autograd.forward_ad as fwad

from autodiffcli import core, graphs
from autodiffcli.expr import VARIABLE, Expression, evaluate, evaluate_nodes, python_source
from autodiffcli.run import EXPLAIN_FORMATS

# Text is wrapped at this width; code and matrices are indented by 4 within it.
WIDTH = 88
CODE_INDENT = 4
# Forward vs reverse: sizes of the measured problems.
MEMORY_POINTS = 10_000
JACOBIAN_SIZE = 32
# Default points: where f or f' is not finite at a default point, try these fractions of the
# spacing on either side, nearest first.
NUDGES = (0.1, 0.2, 0.3, 0.4)
# Two torch paths to the same number (forward and reverse mode, a sum and its column sums)
# count as agreeing within this; float64 rounding differs by far less.
CLAIM_RTOL = 1e-12
CLAIM_ATOL = 1e-12
OPERATOR_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}


@dataclass
class Section:
    """One step of the lesson: a title and blocks of ("text"|"code"|"table"|"fact", payload)."""

    key: str
    title: str
    blocks: list[dict] = field(default_factory=list)

    def text(self, body: str) -> Section:
        self.blocks.append({"kind": "text", "text": body})
        return self

    def code(self, body: str, language: str = "python") -> Section:
        self.blocks.append({"kind": "code", "language": language, "text": body})
        return self

    def table(self, header: list[str], rows: list[list[str]]) -> Section:
        self.blocks.append({"kind": "table", "header": header, "rows": rows})
        return self

    def fact(self, name: str, value) -> Section:
        """A machine-readable value kept in the JSON output beside the prose."""
        self.blocks.append({"kind": "fact", "name": name, "value": value})
        return self


@dataclass
class Report:
    """The whole lesson for one expression."""

    expression: str
    sections: list[Section]

    def __repr__(self) -> str:
        return f"Report({self.expression!r}, {len(self.sections)} sections)"


# ----- Numbers as shown -----


def fmt(value: float) -> str:
    """A number as shown in the lesson: 6 significant digits, and 0 never as -0."""
    if value == 0:
        return "0"
    return f"{value:.6g}"


def fmt_optional(value: float | None) -> str:
    """A number, or '-' where there is none (a constant has no adjoint)."""
    return "-" if value is None else fmt(value)


def number_rows(*columns: list[float]) -> list[list[str]]:
    """Table rows from equal-length columns of numbers."""
    return [[fmt(value) for value in row] for row in zip(*columns, strict=True)]


def vector(values) -> str:
    return "[" + ", ".join(fmt(v) for v in torch.as_tensor(values).tolist()) + "]"


def matrix(values: torch.Tensor, width: int = WIDTH - CODE_INDENT) -> str:
    """A matrix with aligned columns; beyond ``width`` characters the middle columns are
    elided as '...', keeping as many columns on each side as fit."""
    rows = [[fmt(v) for v in row] for row in values.tolist()]
    if not rows or not rows[0]:
        return "[]"
    cell = max(len(c) for row in rows for c in row)
    columns = len(rows[0])
    if 2 + columns * (cell + 2) - 2 > width:
        keep = max(1, (width - 2 - len("...") - 2) // (2 * (cell + 2)))
        rows = [[*row[:keep], "...", *row[-keep:]] for row in rows]
    return "\n".join("[" + "  ".join(c.rjust(cell) for c in row) + "]" for row in rows)


# ----- The one comparison behind every claim -----


@dataclass(frozen=True)
class Agreement:
    """How two arrays compare, NaN-aware.

    Attributes:
        equal: equal everywhere, a non-finite value matching the same non-finite value.
        where_finite: equal at every index where both are finite.
        undefined: flat indices where either side is not finite.
    """

    equal: bool
    where_finite: bool
    undefined: tuple[int, ...]


def compare(a, b, rtol: float = 0.0, atol: float = 0.0) -> Agreement:
    """Compare ``a`` and ``b`` elementwise within ``atol + rtol*|b|``; NaN matches NaN only."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    finite = torch.isfinite(a) & torch.isfinite(b)
    close = (a - b).abs() <= atol + rtol * b.abs()
    where_finite = bool(close[finite].all())
    same_nonfinite = (a.isnan() & b.isnan()) | (a == b)
    return Agreement(
        equal=where_finite and bool(same_nonfinite[~finite].all()),
        where_finite=where_finite,
        undefined=tuple(int(i) for i in torch.nonzero(~finite).flatten()),
    )


# ----- The chain rule at one point -----


def trace(expression: Expression, x0: float, dtype=torch.float64) -> list[dict]:
    """Each node of the tape at x0, in forward order, with the chain rule's three numbers.

    A row holds the node's op and inputs, its forward value, the local partial on each incoming
    edge (dv_i/dv_j by torch.autograd.grad on that one operation; None from a constant), the
    forward-mode tangent (torch.autograd.forward_ad, seed dx = 1) and the reverse-mode adjoint
    (df/dv_i from one backward pass, read with retain_grad; None where v_i does not depend on x).
    """
    # Shape (1,), not 0-d: the operation table passes a 0-d exponent to torch as a number,
    # which would drop a dual tensor's tangent.
    x = torch.tensor([x0], dtype=dtype)
    depends = expression.depends_on_x
    values = _values_and_adjoints(expression, x)
    tangents = _tangents(expression, x)
    rows = []
    for index, node in enumerate(expression.nodes):
        value, adjoint = values[index]
        rows.append(
            {
                "node": f"v{index}",
                "op": _op_label(node),
                "inputs": [f"v{i}" for i in node.args],
                "value": value,
                "partials": _local_partials(expression, index, values, depends),
                "tangent": tangents[index],
                "adjoint": adjoint,
            }
        )
    return rows


def _values_and_adjoints(expression: Expression, x: torch.Tensor) -> list[tuple[float, float]]:
    leaf = x.clone().requires_grad_(True)
    values = evaluate_nodes(expression, leaf)
    for value in values:
        if value.requires_grad and value is not leaf:
            value.retain_grad()
    root = values[-1]
    if root.requires_grad:
        root.sum().backward()
    out = []
    for value in values:
        grad = value.grad if value.requires_grad else None
        out.append((value.detach().item(), None if grad is None else grad.item()))
    if not root.requires_grad:  # f is constant: df/df = 1, and nothing else depends on x
        out[-1] = (out[-1][0], 1.0)
    return out


def _tangents(expression: Expression, x: torch.Tensor) -> list[float]:
    with fwad.dual_level():
        dual = fwad.make_dual(x, torch.ones_like(x))
        values = evaluate_nodes(expression, dual)
        tangents = [fwad.unpack_dual(value).tangent for value in values]
        return [0.0 if t is None else float(t.reshape(-1)[0]) for t in tangents]


def _local_partials(expression, index: int, values, depends) -> list[float | None]:
    """dv_index/dv_j for each input j of the node, by torch on that one operation."""
    from autodiffcli.expr import OPS

    node = expression.nodes[index]
    if not node.args:
        return []
    dtype = torch.float64
    leaves = [
        torch.tensor([values[j][0]], dtype=dtype, requires_grad=True)
        if depends[j]
        else torch.tensor(values[j][0], dtype=dtype)
        for j in node.args
    ]
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    if not wanted:
        return [None] * len(leaves)
    out = OPS[node.op].torch(torch, *leaves)
    grads = iter(torch.autograd.grad(out.sum(), wanted, allow_unused=True, materialize_grads=True))
    return [_scalar(next(grads)) if leaf.requires_grad else None for leaf in leaves]


def _scalar(value: torch.Tensor) -> float:
    if getattr(value, "_is_zerotensor", lambda: False)():
        return 0.0
    return float(value.reshape(-1)[0])


def _op_label(node) -> str:
    if node.op == VARIABLE:
        return "x"
    if node.op == "const":
        return f"const {node.label}"
    return node.op


def derivative_at(rows: list[dict]) -> float:
    """f'(x0) from a trace: the adjoint of x (0 when x does not occur in f)."""
    x_rows = [row for row in rows if row["op"] == "x"]
    adjoint = x_rows[0]["adjoint"] if x_rows else None
    return 0.0 if adjoint is None else adjoint


# ----- Why a value is undefined -----


def why_not_finite(expression: Expression, x0: float) -> str | None:
    """A plain sentence saying why f or f' is not finite at x0, from the tape; None if both are.

    The reason is the first node whose value (for f) or local partial (for f') stops being
    finite while its inputs are finite: e.g. "f is undefined at x = 0: v3 = log(0) = -inf".
    """
    rows = trace(expression, x0)
    value, slope = rows[-1]["value"], derivative_at(rows)
    if not math.isfinite(value):
        culprit = next(
            row
            for row in rows
            if not math.isfinite(row["value"])
            and all(math.isfinite(rows[_at(i)]["value"]) for i in row["inputs"])
        )
        kind = "undefined" if math.isnan(value) else "infinite"
        then = "" if culprit is rows[-1] else f", then f = {fmt(value)}"
        return (
            f"f is {kind} at x = {fmt(x0)} ({culprit['node']} = "
            f"{_computation(culprit, rows)} = {fmt(culprit['value'])}{then})"
        )
    if not math.isfinite(slope) or not math.isfinite(rows[-1]["tangent"]):
        for row in rows:
            for position, partial in enumerate(row["partials"]):
                if partial is not None and not math.isfinite(partial):
                    arg = rows[_at(row["inputs"][position])]
                    return (
                        f"f'(x) is not finite at x = {fmt(x0)} (the local derivative of "
                        f"{row['node']} = {_computation(row, rows)} with respect to "
                        f"{arg['node']} = {fmt(arg['value'])} is {fmt(partial)})"
                    )
        return f"f'(x) is not finite at x = {fmt(x0)} (the chain rule meets 0 * inf there)"
    return None


def _at(name: str) -> int:
    return int(name[1:])


def _computation(row: dict, rows: list[dict]) -> str:
    args = [fmt(rows[_at(i)]["value"]) for i in row["inputs"]]
    if not args:
        return row["op"]
    if row["op"] in OPERATOR_SYMBOLS and len(args) == 2:
        return f"{args[0]} {OPERATOR_SYMBOLS[row['op']]} {args[1]}"
    if row["op"] == "neg":
        return f"-({args[0]})"
    return f"{row['op']}({', '.join(args)})"


# ----- Default points -----


@dataclass(frozen=True)
class DefaultPoints:
    """Evenly spaced points, with those where f or f' is not finite moved when that helps.

    Attributes:
        points: the points to explain.
        notes: one sentence per point moved or kept, saying why.
    """

    points: list[float]
    notes: list[str]


def default_points(
    expression: Expression, start: float = -5.0, stop: float = 5.0, n: int = 5
) -> DefaultPoints:
    """``n`` points from ``start`` to ``stop``, each moved by a fraction of the spacing (within
    the range) where f or f' is not finite and a nearby point is finite. Only for ranges the
    user did not choose: their own points are explained as given."""
    step = (stop - start) / (n - 1) if n > 1 else 1.0
    points, notes = [], []
    for index in range(n):
        point = start + index * step if index < n - 1 else stop
        reason = why_not_finite(expression, point)
        if reason is None:
            points.append(point)
            continue
        better = _nearby_finite(expression, point, step, start, stop)
        if better is None:
            notes.append(f"x = {fmt(point)} kept, since no point near it is better: {reason}.")
            points.append(point)
        else:
            notes.append(f"x = {fmt(point)} moved to {fmt(better)}, since {reason}.")
            points.append(better)
    return DefaultPoints(points, notes)


def _nearby_finite(expression, point: float, step: float, start: float, stop: float):
    low, high = min(start, stop), max(start, stop)
    for fraction in NUDGES:
        for sign in (1, -1):
            candidate = point + sign * fraction * abs(step)
            if low <= candidate <= high and why_not_finite(expression, candidate) is None:
                return candidate
    return None


# ----- The lesson -----


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

    def f(t: torch.Tensor) -> torch.Tensor:
        return evaluate(expression, t)

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


# ----- The sections -----


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


def naive_backward_error(f, x) -> str | None:
    """The message of the error torch raises for y.backward() on a vector y (None if none)."""
    leaf = x.clone().requires_grad_(True)
    try:
        f(leaf).backward()
    except RuntimeError as error:
        return str(error)
    return None


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


def jacobian(f, x) -> torch.Tensor:
    """The n-by-n Jacobian dy_i/dx_j, from torch.autograd.functional.jacobian."""
    return torch.autograd.functional.jacobian(f, x)


@dataclass(frozen=True)
class JacobianFacts:
    """The Jacobian and what it shows about f.

    Attributes:
        matrix: J[i, j] = dy_i/dx_j, from torch.
        max_off_diagonal: the largest |J[i, j]|, i != j, among finite entries.
        nonfinite_columns: columns holding a non-finite entry off the diagonal.
    """

    matrix: torch.Tensor
    max_off_diagonal: float
    nonfinite_columns: tuple[int, ...]

    @property
    def diagonal(self) -> bool:
        """Every finite entry off the diagonal is exactly 0."""
        return self.max_off_diagonal == 0


def jacobian_facts(f, x) -> JacobianFacts:
    J = jacobian(f, x)
    off = ~torch.eye(x.numel(), dtype=torch.bool)
    finite = torch.isfinite(J)
    largest = J.abs()[off & finite].max().item() if bool((off & finite).any()) else 0.0
    columns = torch.nonzero((off & ~finite).any(0)).flatten().tolist()
    return JacobianFacts(J, largest, tuple(columns))


def _why(J: JacobianFacts, x, reasons, width: int) -> Section:
    n = x.numel()
    section = Section("why", "Why: y is a vector, so dy/dx is a matrix")
    section.text(
        f"y has {n} elements, so dy/dx is the {n}x{n} Jacobian J with J[i, j] = dy_i/dx_j. "
        "backward(v) computes the vector-Jacobian product v^T J, and it needs v: only for a "
        "scalar output is v = 1 implied. Here is J, computed by "
        "torch.autograd.functional.jacobian:"
    )
    section.code(matrix(J.matrix, width - CODE_INDENT), "text")
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


def sum_trick_grad(f, x, seed_ones: bool = False) -> torch.Tensor:
    """x.grad after y.sum().backward(), or after y.backward(torch.ones_like(y))."""
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    if y.requires_grad:
        if seed_ones:
            y.backward(torch.ones_like(y))
        else:
            y.sum().backward()
    return leaf.grad if leaf.grad is not None else torch.zeros_like(x)


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
    section.code(matrix(J, width - CODE_INDENT), "text")
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
    lines = graphs.graph_lines(y)
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


def backward_twice_error(f, x) -> str | None:
    """The error torch raises for a second backward through a freed graph (None if none)."""
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    if not y.requires_grad:
        return None
    s = y.sum()
    s.backward()
    try:
        s.backward()
    except RuntimeError as error:
        return str(error)
    return None


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
        f"accumulate: x.grad = {vector(leaf.grad)}, "
        + ("twice f'(x)." if doubled.equal else "which is not twice f'(x).")
    )
    return section.fact("error", message).fact("accumulates", doubled.equal)


# ----- Forward and reverse, argued with numbers -----


def saved_bytes(f, x) -> tuple[int, int]:
    """(tensors, bytes) that autograd saves for backward while computing f(x), counted with
    saved-tensor hooks; a storage saved twice counts once in the bytes."""
    storages: dict[int, int] = {}
    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        f(x)
    return count, sum(storages.values())


def forward_saved_bytes(f, x) -> tuple[int, int]:
    """(tensors, bytes) saved for backward while forward mode computes f and its tangent."""
    with fwad.dual_level():
        return saved_bytes(f, fwad.make_dual(x, torch.ones_like(x)))


@dataclass(frozen=True)
class JacobianCost:
    """A Jacobian computed both ways, with the passes and seconds each took."""

    inputs: int
    outputs: int
    forward_passes: int
    reverse_passes: int
    forward_seconds: float
    reverse_seconds: float
    agreement: Agreement


def jacobian_both_ways(g, x: torch.Tensor) -> JacobianCost:
    """The Jacobian of ``g`` at ``x`` by forward mode (one jvp per input) and by reverse mode
    (one backward per output), timed; each pass is a real torch call."""
    n = x.numel()
    # Warm up both ways first, so that the timings compare passes, not first calls.
    forward_pass(g, x, torch.ones_like(x))
    warm = x.clone().requires_grad_(True)
    _vjp_row(g(warm).sum(), warm)
    started = time.perf_counter()
    columns = [forward_pass(g, x, basis) for basis in torch.eye(n, dtype=x.dtype)]
    forward = torch.stack(columns, -1).reshape(-1, n)
    forward_seconds = time.perf_counter() - started
    started = time.perf_counter()
    leaf = x.clone().requires_grad_(True)
    y = g(leaf).reshape(-1)
    rows = [_vjp_row(y[i], leaf) for i in range(y.numel())]
    reverse = torch.stack(rows)
    reverse_seconds = time.perf_counter() - started
    return JacobianCost(
        n,
        y.numel(),
        len(columns),
        len(rows),
        forward_seconds,
        reverse_seconds,
        compare(forward, reverse, rtol=CLAIM_RTOL, atol=CLAIM_ATOL),
    )


def forward_pass(g, x: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    """One forward-mode pass: the Jacobian of ``g`` times ``tangent``, by forward_ad."""
    with fwad.dual_level():
        out = g(fwad.make_dual(x, tangent))
        derivative = fwad.unpack_dual(out).tangent
    return torch.zeros_like(out) if derivative is None else derivative


def _vjp_row(output: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """One reverse pass: d output / d leaf (zeros where the output does not depend on it)."""
    if not output.requires_grad:
        return torch.zeros_like(leaf)
    (grad,) = torch.autograd.grad(output, leaf, retain_graph=True, materialize_grads=True)
    return grad


def _finite_point(expression, x, trace_at) -> float:
    if trace_at is not None:
        return trace_at
    finite = [float(v) for v in x if why_not_finite(expression, float(v)) is None]
    return finite[0] if finite else float(x[0])


def _forward_and_reverse(expression, f, x, trace_at) -> Section:
    section = Section("modes", "Forward mode and reverse mode")
    _, forward = torch.func.jvp(f, (x,), (torch.ones_like(x),))
    reverse = sum_trick_grad(f, x)
    same = compare(forward, reverse, rtol=CLAIM_RTOL)
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
    x0 = _finite_point(expression, x, trace_at)
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


# ----- Higher orders -----


def _higher_orders(expression, f, x, order: int) -> Section:
    derivatives, seconds = _nested_reverse(f, x, order)
    counts = [graphs.count_nodes(d) for d in derivatives]
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
            [name, vector(d.detach()), str(c), f"{t * 1e3:.3g}"]
            for name, d, c, t in zip(names, derivatives, counts, seconds, strict=True)
        ],
    )
    section.fact("graph_nodes", counts).fact("values", [d.detach().tolist() for d in derivatives])
    taylor = _taylor_mode(expression, x, order)
    if taylor is None:
        return section.text(
            "(Taylor mode, which carries all orders in one forward sweep, is not in this "
            "build: autodiffcli.taylor is missing.)"
        )
    section.text(
        "Taylor mode (autodiffcli.taylor) instead pushes the truncated Taylor series of every "
        "node forward in one sweep, and builds no graph. Its operations per point and time, "
        "beside the graph nested reverse mode builds:"
    )
    section.table(
        ["order", "Taylor operations per point", "Taylor ms", "reverse graph nodes"],
        [[str(k), str(w), f"{t * 1e3:.3g}", str(counts[k])] for k, w, t in taylor],
    )
    return section.fact("taylor_work", [w for _, w, _ in taylor])


def _nested_reverse(f, x, order: int) -> tuple[list[torch.Tensor], list[float]]:
    """[f, f', ...] by nested reverse mode, with the seconds to reach each order."""
    leaf = x.clone().requires_grad_(True)
    started = time.perf_counter()
    with torch.enable_grad():
        outputs = [f(leaf)]
        seconds = [time.perf_counter() - started]
        for _ in range(order):
            outputs.append(core.next_derivative(outputs[-1], leaf, create_graph=True))
            seconds.append(time.perf_counter() - started)
    return outputs, seconds


def _growth(counts: list[int]) -> str:
    ratios = [b / a for a, b in zip(counts, counts[1:], strict=False) if a > 0]
    if not ratios:
        return "not at all"
    return "by " + ", ".join(f"{r:.3g}x" for r in ratios) + " per order"


def _taylor_mode(expression, x, order: int) -> list[tuple[int, int, float]] | None:
    """(order, operations per point, seconds) of the Taylor-mode engine, when it is present."""
    try:
        from autodiffcli import taylor
    except ImportError:
        return None
    if not (hasattr(taylor, "work") and hasattr(taylor, "derivatives")):
        return None
    rows = []
    for k in range(1, order + 1):
        started = time.perf_counter()
        taylor.derivatives(expression, x, k)
        rows.append((k, taylor.work(expression, k), time.perf_counter() - started))
    return rows


# ----- Try it -----


def snippet(expression: Expression, x: torch.Tensor, order: int) -> str:
    """A runnable Python program, built from the parsed expression, printing the derivatives."""
    body = python_source(expression)
    if not expression.depends_on_x[-1]:
        body = f"{body} + 0 * x  # f does not depend on x: tie it to x"
    points = ", ".join(repr(v) for v in x.tolist())
    imports = "import math\n\nimport torch\n\n" if "math." in body else "import torch\n\n"
    return (
        imports + f"x = torch.tensor([{points}], dtype=torch.float64, requires_grad=True)\n"
        f"y = {body}\n"
        "d = y\n"
        f"for k in range(1, {max(order, 1)} + 1):\n"
        "    if d.requires_grad:\n"
        "        (d,) = torch.autograd.grad(\n"
        "            d.sum(), x, create_graph=True, materialize_grads=True\n"
        "        )\n"
        "    else:  # d no longer depends on x: its derivative is 0\n"
        "        d = torch.zeros_like(x)\n"
        '    print(f"order {k}:", d.tolist())\n'
    )


def _try_it(expression: Expression, x, order: int) -> Section:
    section = Section("try", "Try it yourself")
    section.text("This program, generated from your parsed expression, prints the same values:")
    return section.code(snippet(expression, x, order))


# ----- The chain rule section -----


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
    section.text(_chain_conclusion(rows, x0, why_not_finite(expression, x0)))
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


def _chain_conclusion(rows: list[dict], x0: float, reason: str | None) -> str:
    last, slope = rows[-1], derivative_at(rows)
    if not any(row["op"] == "x" for row in rows):
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


# ----- Rendering -----


def render_markdown(report: Report) -> str:
    out = [f"# autodiff explain: f(x) = {report.expression}", ""]
    for section in report.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            out += _markdown_block(block)
    return "\n".join(out).rstrip() + "\n"


def _markdown_block(block: dict) -> list[str]:
    if block["kind"] == "text":
        return [block["text"], ""]
    if block["kind"] == "code":
        return [f"```{block['language']}", block["text"].rstrip("\n"), "```", ""]
    if block["kind"] == "table":
        header = block["header"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in block["rows"]]
        return [*lines, ""]
    return []


def render_text(report: Report) -> str:
    out = [f"autodiff explain: f(x) = {report.expression}", ""]
    for section in report.sections:
        out += [section.title, "-" * len(section.title)]
        for block in section.blocks:
            out += _text_block(block)
    return "\n".join(out).rstrip() + "\n"


def _text_block(block: dict) -> list[str]:
    indent = " " * CODE_INDENT
    if block["kind"] == "text":
        return [*textwrap.wrap(block["text"], WIDTH), ""]
    if block["kind"] == "code":
        return [*(indent + line for line in block["text"].rstrip("\n").splitlines()), ""]
    if block["kind"] == "table":
        rows = [block["header"], *block["rows"]]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
        ]
        return [indent + line for line in lines] + [""]
    return []


def render_json(report: Report) -> str:
    data = {
        "expression": report.expression,
        "sections": [{"key": s.key, "title": s.title, "blocks": s.blocks} for s in report.sections],
    }
    return json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n"


def _json_safe(value):
    """NaN and inf are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


# One renderer per format that run.EXPLAIN_FORMATS lists (the CLI's choices come from there).
RENDERERS: dict[str, Callable[[Report], str]] = {
    name: globals()[f"render_{name}"] for name in EXPLAIN_FORMATS
}


# ----- Graph files -----


def graph_dot(y: torch.Tensor) -> str:
    """y's autograd graph in Graphviz DOT (torch's node names); see also :func:`tape_dot`."""
    return graphs.autograd_dot(y)


def graph_lines(y: torch.Tensor) -> list[tuple[int, str]]:
    """(depth, node name) of y's autograd graph; kept for callers of the old name."""
    return graphs.graph_lines(y)


def tape_dot(expression: Expression, trace_at: float | None = None) -> str:
    """The expression's dependency graph in DOT, labelled with the chain rule when traced."""
    return graphs.tape_dot(expression, None if trace_at is None else trace(expression, trace_at))


def save_graph_picture(expression: Expression, path: str, trace_at: float | None = None) -> None:
    """``explain --graph FILE``: draw the dependency graph (png, svg, pdf)."""
    rows = None if trace_at is None else trace(expression, trace_at)
    graphs.save_tape_picture(expression, path, rows)
