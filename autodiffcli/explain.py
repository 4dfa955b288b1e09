"""`autodiff explain`: a lesson on how autograd differentiates a vector, computed live.

Every error message, tensor, Jacobian and graph in the report comes from torch at run time on
the user's own expression; nothing shown is typed in. The report is data (sections of blocks),
rendered as plain text, markdown or JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from autodiffcli import core
from autodiffcli.expr import VARIABLE, Expression, evaluate, evaluate_nodes, python_source


@dataclass
class Section:
    """One step of the lesson: a title and blocks of ("text"|"code"|"table", payload)."""

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


def fmt(value: float) -> str:
    """A number as shown in the lesson: 6 significant digits."""
    return f"{value:.6g}"


def number_rows(*columns: list[float]) -> list[list[str]]:
    """Table rows from equal-length columns of numbers."""
    return [[fmt(value) for value in row] for row in zip(*columns, strict=True)]


def vector(values) -> str:
    return "[" + ", ".join(fmt(v) for v in torch.as_tensor(values).tolist()) + "]"


def matrix(values: torch.Tensor) -> str:
    rows = [[fmt(v) for v in row] for row in values.tolist()]
    width = max(len(cell) for row in rows for cell in row)
    return "\n".join("[" + "  ".join(cell.rjust(width) for cell in row) + "]" for row in rows)


def explain(expression: Expression, x: torch.Tensor, order: int = 1) -> Report:
    """Run every step of the lesson on ``expression`` at the points ``x`` (1-d tensor)."""

    def f(t: torch.Tensor) -> torch.Tensor:
        return evaluate(expression, t)

    x = x.detach()
    sections = [
        _goal(expression, f, x),
        _naive_call(f, x),
        _why(f, x),
        _fix(f, x),
        _misleading(f, x),
        _graph(expression, f, x),
        _backward_twice(f, x),
        _forward_and_reverse(f, x),
    ]
    if order > 1:
        sections.append(_higher_orders(f, x, order))
    sections.append(_try_it(expression, x, order))
    return Report(expression.text, sections)


# ----- The sections -----


def _goal(expression: Expression, f, x) -> Section:
    y = f(x)
    section = Section("goal", "1. The goal")
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
    return section.fact("x", x.tolist()).fact("f", y.tolist())


def naive_backward_error(f, x) -> str | None:
    """The message of the error torch raises for y.backward() on a vector y (None if none)."""
    leaf = x.clone().requires_grad_(True)
    try:
        f(leaf).backward()
    except RuntimeError as error:
        return str(error)
    return None


def _naive_call(f, x) -> Section:
    section = Section("naive", "2. The naive call: y.backward()")
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


def _why(f, x) -> Section:
    J = jacobian(f, x)
    off_diagonal = (J - torch.diag(torch.diagonal(J))).abs().max().item() if J.numel() else 0.0
    section = Section("why", "3. Why: y is a vector, so dy/dx is a matrix")
    section.text(
        f"y has {x.numel()} elements, so dy/dx is the {x.numel()}x{x.numel()} Jacobian J with "
        "J[i, j] = dy_i/dx_j. backward(v) computes the vector-Jacobian product v^T J, and it "
        "needs v: only for a scalar output is v = 1 implied. Here is J, computed by "
        "torch.autograd.functional.jacobian:"
    )
    section.code(matrix(J), "text")
    if off_diagonal == 0:
        section.text(
            "Every entry off the diagonal is exactly 0: y_i depends on x_i alone (f is "
            "elementwise), so the diagonal holds f'(x_i)."
        )
    else:
        section.text(f"Off-diagonal entries reach {fmt(off_diagonal)}: f mixes points.")
    return section.fact("jacobian", J.tolist()).fact("max_off_diagonal", off_diagonal)


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


def _fix(f, x) -> Section:
    by_sum, by_ones = sum_trick_grad(f, x), sum_trick_grad(f, x, seed_ones=True)
    diagonal = torch.diagonal(jacobian(f, x))
    same = torch.equal(by_sum, by_ones)
    on_diagonal = torch.allclose(by_sum, diagonal, equal_nan=True)
    section = Section("fix", "4. The fix: y.sum().backward() or y.backward(torch.ones_like(y))")
    section.text(
        "sum(y) is a scalar, and its gradient is 1^T J: the column sums of J. J is diagonal, "
        "so each column sum is the one diagonal entry, f'(x_i). Passing v = ones does the "
        "same product explicitly."
    )
    section.table(
        ["x_i", "y.sum().backward()", "y.backward(ones)", "diagonal of J"],
        number_rows(x.tolist(), by_sum.tolist(), by_ones.tolist(), diagonal.tolist()),
    )
    section.text(
        f"Both calls give {'identical' if same else 'different'} x.grad, and it "
        f"{'equals' if on_diagonal else 'differs from'} the diagonal of J."
    )
    return (
        section.fact("grad_sum", by_sum.tolist())
        .fact("grad_ones", by_ones.tolist())
        .fact("equal", same)
        .fact("equals_diagonal", on_diagonal)
    )


def _misleading(f, x) -> Section:
    def g(t):
        return torch.cumsum(f(t), 0)

    J = torch.func.jacrev(g)(x)
    trick = sum_trick_grad(g, x)
    per_point = torch.func.vmap(torch.func.grad(f))(x)
    column_sums = J.sum(0)
    section = Section("misleading", "5. When the sum trick misleads")
    section.text(
        "The trick relies on J being diagonal. Take g(x) = torch.cumsum(f(x), 0): y_i = "
        "f(x_0) + ... + f(x_i) depends on every earlier point, and J is lower triangular:"
    )
    section.code(matrix(J), "text")
    section.table(
        ["x_i", "g: y.sum().backward()", "column sums of J_g", "f'(x_i) by vmap(grad(f))"],
        number_rows(x.tolist(), trick.tolist(), column_sums.tolist(), per_point.tolist()),
    )
    section.text(
        "The sum trick returns the column sums of J (each x_i's effect on all outputs), not a "
        "per-point derivative. For a per-point derivative of a scalar function use "
        "torch.func.vmap(torch.func.grad(f)); for the whole matrix use torch.func.jacrev(g)."
    )
    return (
        section.fact("jacobian", J.tolist())
        .fact("sum_trick", trick.tolist())
        .fact("column_sums", column_sums.tolist())
        .fact("vmap_grad", per_point.tolist())
    )


def graph_lines(y: torch.Tensor) -> list[tuple[int, str]]:
    """(depth, node name) of y's autograd graph, depth-first from grad_fn, without recursion."""
    if y.grad_fn is None:
        return []
    lines: list[tuple[int, str]] = []
    stack = [(y.grad_fn, 0)]
    while stack:
        node, depth = stack.pop()
        lines.append((depth, type(node).__name__))
        children = [child for child, _ in node.next_functions if child is not None]
        stack.extend((child, depth + 1) for child in reversed(children))
    return lines


def graph_dot(y: torch.Tensor) -> str:
    """y's autograd graph in Graphviz DOT (each node once, edges towards the inputs)."""
    out = ["digraph autograd {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    seen: dict[int, str] = {}
    alive = []  # holding each node keeps its id unique while we walk
    stack = [y.grad_fn] if y.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        alive.append(node)
        seen[id(node)] = f"n{len(seen)}"
        out.append(f'  {seen[id(node)]} [label="{type(node).__name__}"];')
        stack.extend(child for child, _ in node.next_functions if child is not None)
    stack = [y.grad_fn] if y.grad_fn is not None else []
    done: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        for child, _ in node.next_functions:
            if child is not None:
                out.append(f"  {seen[id(child)]} -> {seen[id(node)]};")
                stack.append(child)
    out.append("}")
    return "\n".join(out) + "\n"


def _graph(expression: Expression, f, x) -> Section:
    y = f(x.clone().requires_grad_(True))
    lines = graph_lines(y)
    section = Section("graph", "6. The graph autograd recorded")
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
    message = backward_twice_error(f, x)
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    section = Section("twice", "7. Backward twice")
    section.code("s = y.sum()\ns.backward()\ns.backward()")
    if message is None:
        section.text(
            "No error here: this graph saved no intermediate tensors for backward, so there "
            "was nothing to free. Most graphs do save some (sin saves x for cos(x))."
        )
    else:
        section.text("The first backward frees the tensors the graph saved; the second fails:")
        section.code(f"RuntimeError: {message}", "text")
    if y.requires_grad:
        s = y.sum()
        s.backward(retain_graph=True)
        s.backward()
        section.text(
            "With s.backward(retain_graph=True) the second call works, and gradients "
            f"accumulate: x.grad = {vector(leaf.grad)}, twice f'(x)."
        )
    return section.fact("error", message)


def _forward_and_reverse(f, x) -> Section:
    _, forward = torch.func.jvp(f, (x,), (torch.ones_like(x),))
    reverse = sum_trick_grad(f, x)
    same = torch.allclose(forward, reverse, equal_nan=True)
    section = Section("modes", "8. Forward mode and reverse mode")
    section.text(
        "Forward mode (torch.func.jvp with a tangent of ones) pushes dx = 1 through the "
        "computation alongside the values; reverse mode (backward) pulls dy = 1 back from the "
        "output."
    )
    section.table(
        ["x_i", "forward (jvp)", "reverse (backward)"],
        number_rows(x.tolist(), forward.tolist(), reverse.tolist()),
    )
    section.text(
        f"They {'agree' if same else 'differ'}. Forward mode is cheaper with few inputs and many "
        "outputs; reverse mode with many inputs and few outputs (a loss), which is why "
        "training uses backward."
    )
    return section.fact("forward", forward.tolist()).fact("reverse", reverse.tolist())


def _higher_orders(f, x, order: int) -> Section:
    derivatives = core.graphed_derivatives(f, x.clone().requires_grad_(True), order)
    counts = [core.count_nodes(d) for d in derivatives]
    section = Section("higher", "9. Higher orders")
    section.code(
        "(d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)\n"
        "(d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True, materialize_grads=True)"
    )
    section.text(
        "create_graph=True makes backward record its own operations, so f' is a function in "
        "the graph that can be differentiated again. That is why each order costs more: the "
        "graph grows. A derivative that stops depending on x (x**2 -> 2 -> 0) has no graph; "
        "materialize_grads=True (or zeros) keeps it from breaking."
    )
    names = ["f"] + [f"f{chr(39) * k}" if k <= 3 else f"f^({k})" for k in range(1, order + 1)]
    section.table(
        ["derivative", "values", "graph nodes"],
        [
            [name, vector(d.detach()), str(c)]
            for name, d, c in zip(names, derivatives, counts, strict=True)
        ],
    )
    return section.fact("graph_nodes", counts).fact(
        "values", [d.detach().tolist() for d in derivatives]
    )


def snippet(expression: Expression, x: torch.Tensor, order: int) -> str:
    """A runnable Python program, built from the parsed expression, printing the derivatives."""
    body = python_source(expression)
    if not expression.depends_on_x[-1]:
        body = f"{body} + 0 * x  # f does not depend on x: tie it to x"
    points = ", ".join(repr(v) for v in x.tolist())
    return (
        "import math\n\nimport torch\n\n"
        f"x = torch.tensor([{points}], dtype=torch.float64, requires_grad=True)\n"
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
    section = Section("try", "10. Try it yourself")
    section.text("This program, generated from your parsed expression, prints the same values:")
    return section.code(snippet(expression, x, order))


# ----- Trace -----


def trace(expression: Expression, x0: float, dtype=torch.float64) -> list[dict]:
    """Each node of the expression at x0, in forward order: op, inputs, value and adjoint.

    The adjoint of a node is df/dnode from one backward pass, read with retain_grad().
    """
    x = torch.tensor(x0, dtype=dtype, requires_grad=True)
    values = evaluate_nodes(expression, x)
    for value in values:
        if value.requires_grad and value is not x:
            value.retain_grad()
    root = values[-1]
    if root.requires_grad:
        root.backward()
    rows = []
    for index, (node, value) in enumerate(zip(expression.nodes, values, strict=True)):
        grad = value.grad if value.requires_grad else None
        rows.append(
            {
                "node": f"v{index}",
                "op": _op_label(node),
                "inputs": [f"v{i}" for i in node.args],
                "value": value.item(),
                "adjoint": None if grad is None else grad.item(),
            }
        )
    if not root.requires_grad:
        rows[-1]["adjoint"] = 1.0
    return rows


def _op_label(node) -> str:
    if node.op == VARIABLE:
        return "x"
    if node.op == "const":
        return f"const {node.label}"
    return node.op


def trace_section(expression: Expression, x0: float) -> Section:
    rows = trace(expression, x0)
    section = Section("trace", f"Trace at x = {fmt(x0)}")
    section.text(
        "Every node in forward order. value is the forward result; adjoint is df/dnode from "
        "the backward pass (the chain rule, node by node). The adjoint of x is f'(x0)."
    )
    section.table(
        ["node", "op", "inputs", "value", "adjoint df/dnode"],
        [
            [
                r["node"],
                r["op"],
                ", ".join(r["inputs"]),
                fmt(r["value"]),
                "-" if r["adjoint"] is None else fmt(r["adjoint"]),
            ]
            for r in rows
        ],
    )
    return section.fact("nodes", rows)


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
    import textwrap

    if block["kind"] == "text":
        return [*textwrap.wrap(block["text"], 88), ""]
    if block["kind"] == "code":
        return [*("    " + line for line in block["text"].rstrip("\n").splitlines()), ""]
    if block["kind"] == "table":
        rows = [block["header"], *block["rows"]]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
        ]
        return ["    " + line for line in lines] + [""]
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
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}
