"""The setting and phrases every section of the lesson of f of several variables shares (see
:mod:`autodiffcli.lesson.several`), with two of its sections: forward and reverse mode with
their passes counted, and the chain rule node by node with a tangent per input. Every claim
rests on a comparison or a count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from autodiffcli.lesson.chain import trace_row
from autodiffcli.lesson.costs import cost_fact, cost_row, times_follow
from autodiffcli.lesson.jacobians import (
    VectorFunction,
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
from autodiffcli.lesson.reasons import why_not_finite_at
from autodiffcli.lesson.report import Section
from autodiffcli.lesson.sides import exists_mask, judge, missing
from autodiffcli.numfmt import fmt, vector


def claim_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) within which two torch paths to one number agree: CLAIM_RTOL and
    CLAIM_ATOL in float64, 64 rounding units in a shorter dtype."""
    eps = 64 * torch.finfo(dtype).eps
    return max(CLAIM_RTOL, eps), max(CLAIM_ATOL, eps)


class Setting:
    """What every section of the lesson reads: f, the point, J, which of J's numbers are
    derivatives, the seed v, the dtype's tolerance, the order, and how to name them (inputs by
    their variables, outputs f or f1, f2, ...)."""

    def __init__(self, expression, g: VectorFunction, p, width: int, order: int = 1):
        self.expression, self.g, self.p, self.width = expression, g, p, width
        self.order = order
        self.m, self.n, self.free = g.outputs, g.inputs, g.free
        self.dtype_name = str(p.dtype).removeprefix("torch.")
        self.rtol, self.atol = claim_tolerance(p.dtype)
        self.J = jacobian_by_rows(g, p)
        self.values = g(p)
        self.outputs = ["f"] if self.m == 1 else [f"f{k + 1}" for k in range(self.m)]
        self.at = at_text(self.free, p.tolist())
        self.v = seed_vector(self.m, p.dtype, p.device)
        self.entries = judge(g, lambda q: jacobian_by_rows(g, q), p, self.J, self.dtype_name)
        self.exists = exists_mask(self.entries)

    @property
    def undefined(self) -> list[str]:
        """The outputs whose value is not finite at the point: they have no derivative there,
        whatever numbers torch's rules give."""
        finite = torch.isfinite(self.values).tolist()
        return [name for name, ok in zip(self.outputs, finite, strict=True) if not ok]

    def caveat(self) -> str:
        """' (torch's numbers, not derivatives, for f2: not finite here)' where some are."""
        if not self.undefined:
            return ""
        return (
            f" (torch's numbers, not derivatives, for {', '.join(self.undefined)}: not finite "
            "here, section 1 says why)"
        )

    def entry_name(self, entry) -> str:
        return f"d{self.outputs[entry.output]}/d{self.free[entry.input]}"

    @property
    def not_derivatives(self) -> list:
        """The entries of J that are not derivatives (an output not finite there included)."""
        return missing(self.entries)

    def not_a_derivative(self, entries) -> str:
        """'df1/dx is not a derivative' or 'df1/dx, df2/dy are not derivatives'."""
        names = ", ".join(self.entry_name(e) for e in entries)
        return f"{names} " + ("is not a derivative" if len(entries) == 1 else "are not derivatives")

    def compared(self, a, b, labels, first: str, second: str) -> tuple[Agreement, str]:
        """The comparison of ``a`` and ``b`` within the dtype's tolerance and its sentence,
        saying where they agree only to rounding (the numbers shown differ)."""
        same = compare(a, b, rtol=self.rtol, atol=self.atol)
        text = agree_text(same, labels, first, second)
        exact = compare(a, b)
        if same.where_finite and not exact.where_finite and comparable(same, len(labels)):
            text = text.removesuffix(".") + (
                f" up to rounding (within {self.atol:.0e} + {self.rtol:.0e} x size): the last "
                "digits differ."
            )
        return same, text

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
    u = tangent_vector(lesson.n, p.dtype, p.device)
    forward = jvp(g, p, u)
    by_matrix = lesson.J @ u
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
    same, text = lesson.compared(forward, by_matrix, lesson.outputs, "The JVP", "J @ u")
    section.text(text.replace("J @ u", "J @ u (J of section 2)", 1))
    wide_out, count_out = many_outputs(g, p)
    wide_in, count_in, flat = many_inputs(g, p)
    costs = {
        "own": jacobian_both_ways(g, p, lesson.rtol, lesson.atol),
        "many_outputs": jacobian_both_ways(wide_out, p, lesson.rtol, lesson.atol),
        "many_inputs": jacobian_both_ways(wide_in, flat, lesson.rtol, lesson.atol),
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
    text = _both_ways(costs, named)
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


def _both_ways(costs: dict, named: dict) -> str:
    """Whether forward and reverse mode gave the same Jacobians, over the entries finite both
    ways; nothing claimed where none is."""
    checked = {k: c for k, c in costs.items() if comparable(c.agreement, c.inputs * c.outputs)}
    if not checked:
        return "No entry of these Jacobians is finite both ways, so there is nothing to compare. "
    agree = all(c.agreement.where_finite for c in checked.values())
    text = f"Both ways give {'the same' if agree else 'different'} Jacobians"
    if any(c.agreement.undefined for c in checked.values()):
        text += " wherever both are finite"
    unchecked = [named[k] for k in costs if k not in checked]
    if unchecked:
        text += f" (that of {' and '.join(unchecked)} has no entry finite both ways)"
    return text + ". "


def trace_section(lesson: Setting, trace_at: dict[str, float]) -> Section:
    free, names = lesson.free, lesson.outputs
    at = at_text(free, [trace_at[n] for n in free])
    seed = [1.0] if lesson.m == 1 else lesson.v.tolist()
    dtype, device = lesson.p.dtype, lesson.p.device
    rows = trace_several(lesson.expression, trace_at, free, seed, dtype, device)
    section = Section("trace", f"The chain rule on the graph at {at}")
    scalar = (
        "f itself (out.backward())"
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
    section.table(header, [trace_row(row, free) for row in rows])
    roots = [f"{name} is v{i}" for name, i in zip(names, lesson.expression.outputs, strict=True)]
    p = point_tensor([trace_at[n] for n in free], dtype, device)
    traced = VectorFunction(lesson.expression, free, _constants(trace_at, free))
    J = jacobian_by_rows(traced, p)
    why = not_finite_reasons(lesson.expression, free, trace_at, J, names, at)
    undefined = [
        n for n, ok in zip(names, torch.isfinite(traced(p)).tolist(), strict=True) if not ok
    ]
    tangents = torch.tensor(
        [[rows[i]["tangents"][n] for n in free] for i in lesson.expression.outputs],
        dtype=torch.float64,
    )
    adjoints = torch.tensor([_input_adjoint(rows, n) for n in free], dtype=torch.float64)
    by_matrix = torch.tensor(seed, dtype=torch.float64) @ J.to("cpu", torch.float64)
    tangent_same = compare(tangents, J, rtol=lesson.rtol, atol=lesson.atol)
    adjoint_same = compare(adjoints, by_matrix, rtol=lesson.rtol, atol=lesson.atol)
    facts = {"tangents_are_J": None, "adjoints_are_vJ": None, "undefined": why}
    if undefined:
        reasons = "; ".join(why[n] for n in undefined if n in why)
        reasons = reasons[0].upper() + reasons[1:] if reasons.startswith("the ") else reasons
        section.text(
            f"{'; '.join(roots)}. {reasons}. So at this point the "
            "tangents and adjoints above are the numbers of torch's rules, not derivatives "
            f"of {', '.join(undefined)}, and nothing here is compared with J."
        )
    elif not comparable(tangent_same, tangents.numel()):
        section.text(
            f"{'; '.join(roots)}. No tangent of an output node is finite beside a finite entry "
            "of torch's J at this point, so there is nothing to compare."
        )
    else:
        entries = missing(
            judge(traced, lambda q: jacobian_by_rows(traced, q), p, J, lesson.dtype_name)
        )
        section.text(
            f"{'; '.join(roots)}. The tangents of the output nodes "
            + ("are" if tangent_same.where_finite else "are not")
            + " torch's J at this point (row per output, column per input)"
            + (" wherever both are finite" if tangent_same.undefined else "")
            + ", and the adjoints of the inputs "
            + ("are" if adjoint_same.where_finite else "are not")
            + (" its one row" if lesson.m == 1 else " v^T J")
            + (" wherever both are finite" if adjoint_same.undefined else "")
            + f": forward mode needed {lesson.n} pass{'es' * (lesson.n != 1)} for all of J's "
            "columns here, reverse mode one pass for this one weighted row."
            + (
                f" At this point {lesson.not_a_derivative(entries)} (the look from "
                "both sides of section 2, here): those tangents are torch's numbers only."
                if entries
                else ""
            )
        )
        facts["tangents_are_J"] = tangent_same.where_finite
        facts["adjoints_are_vJ"] = adjoint_same.where_finite
        facts["not_derivatives"] = [lesson.entry_name(e) for e in entries]
    section.fact("nodes", rows).fact("seed", seed)
    for name, value in facts.items():
        section.fact(name, value)
    return section


def not_finite_reasons(expression, free, point: dict, J, names, at: str) -> dict[str, str]:
    """Why each output whose value or row of J is not finite at ``point`` is so, from its own
    tape in J's dtype (reasons.why_not_finite_at)."""
    out = {}
    dtype = str(J.dtype).removeprefix("torch.")
    for k, name in enumerate(names):
        rows = trace_several(expression.component(k), point, tuple(free), [1.0], J.dtype, J.device)
        row_finite = bool(torch.isfinite(J[k]).all())
        reason = why_not_finite_at(
            rows,
            at,
            row_finite,
            name=name,
            derivative=f"the gradient of {name}",
            dtype=dtype,
            largest=torch.finfo(J.dtype).max,
        )
        if reason is not None:
            out[name] = reason
    return out


def _constants(point: dict[str, float], free) -> dict[str, float]:
    return {n: v for n, v in point.items() if n not in free}


def _input_adjoint(rows: list[dict], name: str) -> float:
    found = [row["adjoint"] for row in rows if row["op"] == name]
    return 0.0 if not found or found[0] is None else found[0]
