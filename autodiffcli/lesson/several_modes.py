"""The second half of the lesson of f of several variables (see
:mod:`autodiffcli.lesson.several`): forward and reverse mode with their passes counted, the
chain rule node by node with a tangent per input, the Hessian as the Jacobian of the gradient
and what it costs in memory, and a program to try; with the setting and phrases every section
of that lesson shares. Every claim rests on a comparison or a count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from autodiffcli.lang import Expression, careful_definitions, python_source
from autodiffcli.lesson.costs import cost_fact, cost_row, times_follow
from autodiffcli.lesson.jacobians import (
    VectorFunction,
    component_hessian,
    components,
    hessian_memory,
    jacobian_by_rows,
    jvp,
    many_inputs,
    many_outputs,
    point_tensor,
    seed_vector,
    tangent_vector,
    trace_several,
)
from autodiffcli.lesson.probes import (
    CLAIM_ATOL,
    CLAIM_RTOL,
    Agreement,
    compare,
    jacobian_both_ways,
)
from autodiffcli.lesson.report import Section
from autodiffcli.numfmt import fmt, fmt_optional, vector


class Setting:
    """What every section of the lesson reads: f, the point, J, the seed v, and how to name
    them (inputs by their variables, outputs f or f1, f2, ...)."""

    def __init__(self, expression, g: VectorFunction, p, width: int):
        self.expression, self.g, self.p, self.width = expression, g, p, width
        self.m, self.n, self.free = g.outputs, g.inputs, g.free
        self.J = jacobian_by_rows(g, p)
        self.values = g(p)
        self.outputs = ["f"] if self.m == 1 else [f"f{k + 1}" for k in range(self.m)]
        self.at = at_text(self.free, p.tolist())
        self.v = seed_vector(self.m)

    @property
    def undefined(self) -> list[str]:
        """The outputs whose value is not finite at the point: they have no derivative there,
        whatever numbers torch's rules give."""
        finite = torch.isfinite(self.values).tolist()
        return [name for name, ok in zip(self.outputs, finite, strict=True) if not ok]

    def caveat(self) -> str:
        """' (torch's numbers, not derivatives, for f2: undefined here)' where some are."""
        if not self.undefined:
            return ""
        return (
            f" (torch's numbers, not derivatives, for {', '.join(self.undefined)}: undefined here)"
        )

    def __repr__(self) -> str:
        return f"Setting({self.expression.text!r} at {self.at})"

    def by_input(self, label: str, values) -> list[str]:
        """A table row: a label, then one number per input."""
        return [label, *(fmt(v) for v in values)]

    def inputs_header(self, corner: str = "") -> list[str]:
        return [corner, *(f"d/d{name}" for name in self.free)]


def at_text(names: Sequence[str], values: Sequence[float]) -> str:
    """'x = 1' for one input, '(x, y) = (1, 2)' for several."""
    if len(names) == 1:
        return f"{names[0]} = {fmt(values[0])}"
    return f"({', '.join(names)}) = ({', '.join(fmt(v) for v in values)})"


def listed(indices, names: Sequence[str]) -> str:
    return ", ".join(names[i] for i in indices)


def where_text(agreement: Agreement, labels: Sequence[str]) -> str:
    """' wherever both are finite (not at d/dx)'-style tail naming the entries left out."""
    if not agreement.undefined:
        return ""
    left_out = ", ".join(labels[i] for i in agreement.undefined)
    return f" wherever both are finite (not at {left_out})"


def agree_text(same: Agreement, labels, a: str, b: str) -> str:
    """The sentence of a comparison: the same or different wherever both are finite, or
    nothing to compare where no entry is finite on both sides."""
    if len(same.undefined) == len(labels):
        return f"{a} and {b} have no entry finite in both, so there is nothing to compare."
    verb = "are the same" if same.where_finite else "differ"
    return f"{a} and {b} {verb}{where_text(same, labels)}."


def comparable(same: Agreement, count: int) -> bool:
    """Whether some entry was finite on both sides (a claim was really checked)."""
    return len(same.undefined) < count


def modes_section(lesson: Setting) -> Section:
    g, p = lesson.g, lesson.p
    u = tangent_vector(lesson.n)
    forward = jvp(g, p, u)
    by_matrix = lesson.J @ u
    same = compare(forward, by_matrix, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    section = Section("modes", "Forward mode (J u) and reverse mode (v^T J)")
    section.text(
        "Reverse mode pulls a weight v on the outputs back through the graph: one backward "
        "pass gives v^T J (a VJP, as above). Forward mode pushes a direction u on the inputs "
        "forward beside the values: one pass gives J u (a JVP), here by torch.func.jvp with "
        f"u = {vector(u.tolist())}:"
    )
    section.table(
        ["", *lesson.outputs],
        [
            ["jvp(f, (p,), (u,))", *map(fmt, forward.tolist())],
            ["J @ u", *map(fmt, by_matrix.tolist())],
        ],
    )
    section.text(agree_text(same, lesson.outputs, "The JVP", "J @ u (J of section 2)"))
    wide_out, count_out = many_outputs(g, p)
    wide_in, count_in, flat = many_inputs(g, p)
    costs = {
        "own": jacobian_both_ways(g, p),
        "many_outputs": jacobian_both_ways(wide_out, p),
        "many_inputs": jacobian_both_ways(wide_in, flat),
    }
    named = {
        "own": f"f at {lesson.at}",
        "many_outputs": f"f at {count_out} points on a line through p",
        "many_inputs": f"sum of f over {count_in} points (their coordinates)",
    }
    section.text(
        "A whole Jacobian is n JVPs (one per input, u = each unit vector: its columns) or m "
        "VJPs (one per output: its rows). Counted live, on f and on two shapes built from it:"
    )
    section.table(
        ["Jacobian of", "shape", "forward passes", "forward ms", "reverse passes", "reverse ms"],
        [cost_row(named[key], cost) for key, cost in costs.items()],
    )
    follows_inputs = all(c.forward_passes == c.inputs for c in costs.values())
    follows_outputs = all(c.reverse_passes == c.outputs for c in costs.values())
    agree = all(c.agreement.where_finite for c in costs.values())
    text = f"Both ways give {'the same' if agree else 'different'} Jacobians" + (
        " wherever finite. " if any(c.agreement.undefined for c in costs.values()) else ". "
    )
    if follows_inputs and follows_outputs:
        wide, tall = costs["many_inputs"], costs["many_outputs"]
        text += (
            "Forward mode made one pass per input and reverse mode one per output, in every "
            f"case: {wide.inputs} inputs and 1 output took {wide.forward_passes} forward passes "
            f"against {wide.reverse_passes} reverse; {tall.inputs} inputs and {tall.outputs} "
            f"outputs took {tall.forward_passes} forward against {tall.reverse_passes} reverse. "
            "So, by the count: reverse mode for many inputs and few outputs (a loss and its "
            "gradient), forward mode for few inputs and many outputs."
        )
    else:
        text += "The counts are in the table; they do not follow one pass per input or output."
    section.text(text)
    follow = all(times_follow(c) for c in costs.values())
    section.text(
        "The times follow the counts here: the mode with fewer passes took less time."
        if follow
        else "The times do not follow the counts in every row: each torch call has a fixed "
        "cost and the timer has noise, so times do not decide; the counts are what grows "
        "with the problem."
    )
    return (
        section.fact("u", u.tolist())
        .fact("jvp", forward.tolist())
        .fact("J_u", by_matrix.tolist())
        .fact("jvp_is_Ju", same.where_finite)
        .fact("costs", {key: cost_fact(cost) for key, cost in costs.items()})
        .fact("forward_passes_are_inputs", follows_inputs)
        .fact("reverse_passes_are_outputs", follows_outputs)
        .fact("times_follow_counts", follow)
    )


def trace_section(lesson: Setting, trace_at: dict[str, float]) -> Section:
    free, names = lesson.free, lesson.outputs
    at = at_text(free, [trace_at[n] for n in free])
    seed = [1.0] if lesson.m == 1 else lesson.v.tolist()
    rows = trace_several(lesson.expression, trace_at, free, seed)  # as several.trace_rows
    section = Section("trace", f"The chain rule on the graph at {at}")
    scalar = (
        "f itself (y.backward())"
        if lesson.m == 1
        else f"v^T f with v = {vector(seed)} of the backward(v) section"
    )
    section.text(
        "Every node v_i of the expression in forward order, with its value and the local "
        "partial on each incoming edge (torch, on that one operation). Forward mode runs once "
        "per input, seeding 1 on that input and 0 on the others: one tangent column each. "
        f"Reverse mode runs once, from the scalar {scalar}: the adjoint column, d(scalar)/dv_i."
    )
    header = ["node", "op", "inputs", "value", "local partials"]
    header += [f"tangent dv/d{n}" for n in free] + ["adjoint"]
    section.table(header, [_trace_row(row, free) for row in rows])
    roots = [f"{name} is v{i}" for name, i in zip(names, lesson.expression.outputs, strict=True)]
    p = point_tensor([trace_at[n] for n in free])
    traced = VectorFunction(lesson.expression, free, _constants(trace_at, free))
    J = jacobian_by_rows(traced, p)
    tangents = torch.tensor(
        [[rows[i]["tangents"][n] for n in free] for i in lesson.expression.outputs],
        dtype=torch.float64,
    )
    adjoints = torch.tensor([_input_adjoint(rows, n) for n in free], dtype=torch.float64)
    by_matrix = torch.tensor(seed, dtype=torch.float64) @ J
    tangent_same = compare(tangents, J, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    adjoint_same = compare(adjoints, by_matrix, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    section.text(
        f"{'; '.join(roots)}. The tangents of the output nodes "
        + ("are" if tangent_same.where_finite else "are not")
        + " J at this point (row per output, column per input)"
        + (" wherever finite" if tangent_same.undefined else "")
        + ", and the adjoints of the inputs "
        + ("are" if adjoint_same.where_finite else "are not")
        + (" J's one row" if lesson.m == 1 else " v^T J")
        + (" wherever finite" if adjoint_same.undefined else "")
        + f": forward mode needed {lesson.n} pass{'es' * (lesson.n != 1)} for all of J's "
        "columns here, reverse mode one pass for this one weighted row."
    )
    return (
        section.fact("nodes", rows)
        .fact("seed", seed)
        .fact("tangents_are_J", tangent_same.where_finite)
        .fact("adjoints_are_vJ", adjoint_same.where_finite)
    )


def _constants(point: dict[str, float], free) -> dict[str, float]:
    return {n: v for n, v in point.items() if n not in free}


def _input_adjoint(rows: list[dict], name: str) -> float:
    found = [row["adjoint"] for row in rows if row["op"] == name]
    return 0.0 if not found or found[0] is None else found[0]


def _trace_row(row: dict, free) -> list[str]:
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
        *(fmt(row["tangents"][n]) for n in free),
        fmt_optional(row["adjoint"]),
    ]


def hessians_section(lesson: Setting) -> Section:
    section = Section("hessian", "Second derivatives: the Hessian is the Jacobian of the gradient")
    section.text(
        "The gradient of an output f_k is itself a map R^n -> R^n, and its Jacobian is the "
        "Hessian H[i, j] = d^2 f_k / dx_i dx_j. Forward-over-reverse, "
        "torch.func.jacfwd(torch.func.grad(f_k)), pushes one tangent per input through the "
        "reverse pass; nested reverse, torch.autograd.functional.hessian, runs one backward "
        "per input through a gradient recorded with create_graph=True."
        + (
            f" f has {lesson.m} outputs, so each has its own {lesson.n}x{lesson.n} Hessian "
            f"({lesson.m}x{lesson.n}x{lesson.n} numbers in all): all of them, one by one."
            if lesson.m > 1
            else ""
        )
    )
    facts = []
    if lesson.undefined:
        section.text(
            f"{', '.join(lesson.undefined)} {'is' if len(lesson.undefined) == 1 else 'are'} "
            "undefined here (section 1): the numbers torch gives for "
            f"{'its' if len(lesson.undefined) == 1 else 'their'} Hessian are its rules' "
            "numbers, not second derivatives."
        )
    for name, component in zip(lesson.outputs, components(lesson.g), strict=True):
        h = component_hessian(component, lesson.p)
        section.table(
            lesson.inputs_header(f"H of {name}"),
            [
                lesson.by_input(f"d/d{n}", row)
                for n, row in zip(lesson.free, h.forward_over_reverse.tolist(), strict=True)
            ],
        )
        cells = [f"d2/d{a}d{b}" for a in lesson.free for b in lesson.free]
        both = agree_text(h.agreement, cells, "forward-over-reverse", "nested reverse")
        symmetric = (
            "H " + ("is" if h.symmetric.where_finite else "is not") + " symmetric"
            if comparable(h.symmetric, len(cells))
            else "H has no finite entry to check its symmetry by"
        )
        section.text(
            f"For {name}: {both[0].lower()}{both[1:-1]}; {symmetric}"
            + (
                " wherever finite."
                if h.symmetric.undefined and "no finite" not in symmetric
                else "."
            )
        )
        facts.append(
            {
                "output": name,
                "forward_over_reverse": h.forward_over_reverse.tolist(),
                "reverse_over_reverse": h.reverse_over_reverse.tolist(),
                "agree": h.agreement.where_finite,
                "symmetric": h.symmetric.where_finite,
            }
        )
    memory = hessian_memory(lesson.g, lesson.p)
    smaller = memory.graphed_tape.nbytes < memory.dense_bytes
    section.text(
        f"Memory, on the sum of f over points from the count of passes ({memory.inputs:,} "
        f"inputs): its whole Hessian would be {memory.inputs:,}x{memory.inputs:,} numbers, "
        f"{_bytes(memory.dense_bytes)}. A Hessian-vector product needs none of it: computing "
        f"f, autograd saved {_bytes(memory.tape.nbytes)} for backward, and computing f and "
        f"its gradient with create_graph=True (the graph the product differentiates again) "
        f"{_bytes(memory.graphed_tape.nbytes)}, measured with saved_tensors_hooks: "
        + (
            f"{memory.dense_bytes / max(memory.graphed_tape.nbytes, 1):,.0f} times less than "
            "the whole Hessian. "
            if smaller
            else "not less than the whole Hessian here. "
        )
        + "The product with u = ones by forward-over-reverse (torch.func.jvp of "
        "torch.func.grad) "
        + ("agrees with" if memory.hvp_agreement.where_finite else "differs from")
        + " nested reverse (torch.autograd.functional.hvp)"
        + (" wherever finite." if memory.hvp_agreement.undefined else ".")
    )
    return section.fact("hessians", facts).fact(
        "memory",
        {
            "inputs": memory.inputs,
            "dense_bytes": memory.dense_bytes,
            "tape_bytes": memory.tape.nbytes,
            "graphed_tape_bytes": memory.graphed_tape.nbytes,
            "tape_smaller_than_hessian": smaller,
            "hvp_agree": memory.hvp_agreement.where_finite,
        },
    )


def _bytes(count: int) -> str:
    return f"{count:,} bytes" if count < 1e6 else f"{count / 1e6:.3g} MB"


def snippet(expression: Expression, free: Sequence[str], point: dict[str, float]) -> str:
    """A runnable program printing J (row by row, each output on its own graph, as the lesson
    computes it) and the backward call of the lesson, from the parsed expression by the
    formulation the engines run (careful forms included)."""
    m = len(expression.outputs)
    names = ["f"] if m == 1 else [f"f{k + 1}" for k in range(m)]
    arguments = ", ".join(free)
    params = "".join(
        f"    {n} = torch.tensor({float(v)!r}, dtype=torch.float64)  # --param\n"
        for n, v in point.items()
        if n not in free
    )
    functions = []
    for k, name in enumerate(names):
        component = expression.component(k)
        body = python_source(component)
        if not component.depends[-1]:  # a constant output: still a float64 tensor
            body = f"torch.as_tensor({body}, dtype=torch.float64)"
        functions.append(f"def {name}({arguments}):\n{params}    return {body}\n")
    if m > 1:
        calls = ", ".join(f"{n}({arguments})" for n in names)
        functions.append(f"def f({arguments}):\n    return torch.stack([{calls}])\n")
    source = "\n\n".join(functions)
    definitions = careful_definitions(expression)
    uses_math = "math." in source or "math." in definitions
    imports = "import math\n\nimport torch\n\n\n" if uses_math else "import torch\n\n\n"
    if definitions:
        imports += f"{definitions}\n\n\n"
    coordinates = ", ".join(repr(float(point[n])) for n in free)
    weights = list(map(float, seed_vector(m).tolist()))
    seed = "" if m == 1 else f"torch.tensor({weights}, dtype=torch.float64)"
    jacobian_line = (
        "J = torch.autograd.functional.jacobian(lambda q: f(*q), p)\n"
        if m == 1
        else "J = torch.stack(  # row by row: each output on its own graph\n"
        "    [torch.autograd.functional.jacobian(lambda q, g=g: g(*q), p) for g in "
        f"({', '.join(names)})]\n"
        ")\n"
    )
    return (
        imports + source + "\n\n"
        f"p = torch.tensor([{coordinates}], dtype=torch.float64, requires_grad=True)\n"
        + jacobian_line
        + 'print("J =", J.tolist())\n'
        "y = f(*p)\n"
        f"y.backward({seed})\n"
        f'print("{"gradient" if m == 1 else "v^T J"} =", p.grad.tolist())\n'
    )


def try_it_section(lesson: Setting, constants: dict) -> Section:
    point = dict(zip(lesson.free, lesson.p.tolist(), strict=True)) | constants
    section = Section("try", "Try it yourself")
    section.text(
        "This program, generated from your parsed expression by the formulation the engine "
        "runs, prints J and the backward call above:"
    )
    return section.code(snippet(lesson.expression, lesson.free, point))
