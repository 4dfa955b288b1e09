"""What derivatives cost, from counts: passes of forward and reverse mode, tensors and bytes
saved for backward, graph nodes of each order, operations of the Taylor engine. Every claim
here is decided by those counts; the timings beside them are shown, and a sentence only says
whether they follow the counts, never rests on them.
"""

from __future__ import annotations

import torch

from autodiffcli.lesson.probes import (
    CLAIM_ATOL,
    CLAIM_RTOL,
    JACOBIAN_SIZE,
    MEMORY_POINTS,
    JacobianCost,
    NestedReverse,
    Saved,
    compare,
    forward_saved_bytes,
    jacobian_both_ways,
    saved_bytes,
    sum_trick_grad,
    taylor_mode,
)
from autodiffcli.lesson.reasons import primes
from autodiffcli.lesson.report import Section
from autodiffcli.numfmt import fmt, number_rows, vector


def forward_and_reverse(f, x, x0: float, where) -> Section:
    """Both modes on the points, the memory each keeps, and a Jacobian of each shape both
    ways; ``where`` names the points a comparison leaves out, ``x0`` is a finite point."""
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
    section.text(f"They {'agree' if same.where_finite else 'differ'}{where(same, x)}.")
    low, high = float(x.min()), float(x.max())
    many = torch.linspace(low, high if high > low else low + 1, MEMORY_POINTS, dtype=x.dtype)
    kept = saved_bytes(f, many.clone().requires_grad_(True))
    forward_kept = forward_saved_bytes(f, many)
    section.text(memory_text(kept, forward_kept))
    scale = torch.arange(1, JACOBIAN_SIZE + 1, dtype=x.dtype)
    many_in = jacobian_both_ways(
        lambda t: f(t).sum(), torch.linspace(low, high, JACOBIAN_SIZE, dtype=x.dtype)
    )
    one_in = jacobian_both_ways(lambda s: f(s * scale), torch.tensor([x0], dtype=x.dtype))
    section.text(
        f"Two Jacobians, each computed both ways: of the sum of f over {JACOBIAN_SIZE} points "
        f"({JACOBIAN_SIZE} inputs, 1 output), and of s -> (f(s), f(2s), ..., "
        f"f({JACOBIAN_SIZE}s)) at s = {fmt(x0)} (1 input, {JACOBIAN_SIZE} outputs)."
    )
    section.table(
        ["Jacobian of", "shape", "forward passes", "forward ms", "reverse passes", "reverse ms"],
        [cost_row(f"sum of f over {JACOBIAN_SIZE} points", many_in)]
        + [cost_row(f"f(k*s), k = 1..{JACOBIAN_SIZE}", one_in)],
    )
    section.text(rule_text(many_in, one_in))
    if many_in.reverse_passes or one_in.reverse_passes:
        section.text(timing_text(many_in, one_in))
    return (
        section.fact("forward", forward.tolist())
        .fact("reverse", reverse.tolist())
        .fact("agree", same.where_finite)
        .fact("saved_tensors", {"reverse": _saved_fact(kept), "forward": _saved_fact(forward_kept)})
        .fact("many_in_one_out", cost_fact(many_in))
        .fact("one_in_many_out", cost_fact(one_in))
        .fact("times_follow_counts", times_follow(many_in) and times_follow(one_in))
    )


def memory_text(kept: Saved, forward_kept: Saved) -> str:
    if kept.tensors == 0:
        return (
            f"Memory, measured with torch.autograd.graph.saved_tensors_hooks on "
            f"{MEMORY_POINTS:,} points: autograd saved no tensors while computing f, since "
            f"none of its operations needs one for backward; forward mode saved "
            f"{_saved(forward_kept)}."
        )
    return (
        f"Memory, measured with torch.autograd.graph.saved_tensors_hooks on {MEMORY_POINTS:,} "
        f"points: to run backward later, autograd saved {_saved(kept)} while computing f, and "
        f"keeps what it saved until backward runs. Forward mode saved {_saved(forward_kept)}: each "
        "tangent is computed beside its value and can be dropped with it, so it needs no tape."
    )


def _saved(saved: Saved) -> str:
    if saved.tensors == 0:
        return "no tensors"
    tensors = f"{saved.tensors} tensor{'s' * (saved.tensors != 1)}"
    size = f"{saved.nbytes / 1e6:.3g} MB"
    if saved.storages == saved.tensors:
        return f"{tensors} ({size})"
    return (
        f"{tensors}, views of {saved.storages} distinct block{'s' * (saved.storages != 1)} of "
        f"memory ({size}; a block saved by several operations is counted once)"
    )


def _saved_fact(saved: Saved) -> dict:
    return {"tensors": saved.tensors, "storages": saved.storages, "bytes": saved.nbytes}


def cost_row(name: str, cost: JacobianCost) -> list[str]:
    return [
        name,
        f"{cost.outputs}x{cost.inputs}",
        str(cost.forward_passes),
        f"{cost.forward_seconds * 1e3:.3g}",
        str(cost.reverse_passes),
        f"{cost.reverse_seconds * 1e3:.3g}",
    ]


def cost_fact(cost: JacobianCost) -> dict:
    return {
        "inputs": cost.inputs,
        "outputs": cost.outputs,
        "forward_passes": cost.forward_passes,
        "reverse_passes": cost.reverse_passes,
        "forward_seconds": cost.forward_seconds,
        "reverse_seconds": cost.reverse_seconds,
        "same_jacobian": cost.agreement.where_finite,
    }


def rule_text(many_in: JacobianCost, one_in: JacobianCost) -> str:
    """What the pass counts show; the rule of thumb follows from them alone."""
    opening = _same_text(many_in, one_in)
    if many_in.reverse_passes == 0 and one_in.reverse_passes == 0:
        return opening + (
            "f does not depend on x, so every output has no graph: reverse mode made no "
            f"backward pass, while forward mode still made its {many_in.forward_passes} and "
            f"{one_in.forward_passes} passes. Both Jacobians are 0, and this f shows nothing "
            "about which mode is cheaper; try a function of x."
        )
    return opening + (
        "Forward mode makes one pass per input and reverse mode one backward pass per output: "
        f"for {many_in.inputs} inputs and 1 output, forward made {many_in.forward_passes} "
        f"passes and reverse {many_in.reverse_passes}; for 1 input and {one_in.outputs} "
        f"outputs, forward made {one_in.forward_passes} and reverse {one_in.reverse_passes}. "
        "So, by the count of passes: reverse mode for a loss of many parameters (training), "
        "forward mode for few inputs and many outputs, or when the tape reverse mode must keep "
        "does not fit in memory."
    )


def _same_text(many_in: JacobianCost, one_in: JacobianCost) -> str:
    """Whether both ways gave the same Jacobians, as compared (NaN-aware)."""
    costs = (many_in, one_in)
    if all(len(c.agreement.undefined) == c.inputs * c.outputs for c in costs):
        return "Neither way gives a finite entry here, so there is nothing to compare. "
    same = all(c.agreement.where_finite for c in costs)
    tail = " wherever they are finite" if any(c.agreement.undefined for c in costs) else ""
    return f"Both ways give {'the same' if same else 'different'} Jacobians{tail}. "


def times_follow(cost: JacobianCost) -> bool:
    """The mode with fewer passes also took less time (or both counts are equal)."""
    if cost.forward_passes == cost.reverse_passes:
        return True
    if cost.forward_passes < cost.reverse_passes:
        return cost.forward_seconds < cost.reverse_seconds
    return cost.reverse_seconds < cost.forward_seconds


def timing_text(many_in: JacobianCost, one_in: JacobianCost) -> str:
    """Whether the measured times follow the counts, said as measured."""
    slowest_pass = max(
        cost.forward_seconds / max(cost.forward_passes, 1) for cost in (many_in, one_in)
    )
    if times_follow(many_in) and times_follow(one_in):
        return (
            "The times follow the counts here: in each case the mode with fewer passes "
            "took less time."
        )
    cases = [
        f"for {name}, {_faster(cost)}"
        for name, cost in (("many inputs", many_in), ("many outputs", one_in))
        if not times_follow(cost)
    ]
    return (
        f"The times do not follow the counts here: {'; '.join(cases)}. On {JACOBIAN_SIZE} "
        f"points a forward pass takes at most {_microseconds(slowest_pass)} microseconds, so the "
        "times measure the fixed cost of each torch call and timer noise more than the work, "
        "and do not decide; the counts are what grows with the problem."
    )


def _faster(cost: JacobianCost) -> str:
    forward = f"forward mode's {cost.forward_passes} pass{'es' * (cost.forward_passes != 1)}"
    reverse = f"reverse mode's {cost.reverse_passes}"
    if cost.forward_seconds == cost.reverse_seconds:
        return f"{forward} took as long as {reverse}"
    if cost.forward_seconds < cost.reverse_seconds:
        return f"{forward} took less time than {reverse}"
    return f"{forward} took more time than {reverse}"


def _microseconds(seconds: float) -> str:
    value = seconds * 1e6
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def higher_orders(expression, x, order: int, nested: NestedReverse, notes: list[str]) -> Section:
    """Nested reverse mode up to ``order``, its graphs, and Taylor mode beside it; ``notes``
    say where a value shown is not the derivative."""
    section = Section("higher", "Higher orders")
    section.code(
        "(d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)\n"
        "(d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True, materialize_grads=True)"
    )
    section.text(
        "create_graph=True makes backward record its own operations, so f' is itself a graph "
        "that can be differentiated again: the graph of order k+1 is built by the backward of "
        f"order k's graph. {growth_text(nested.nodes)}"
        + "".join(f" {sentence}" for sentence in graphless_text(nested.graphed))
    )
    names = [primes(k) for k in range(order + 1)]
    section.table(
        ["derivative", "values", "graph nodes", "ms so far"],
        [
            [name, vector(d.detach().tolist()), str(c), f"{t * 1e3:.3g}"]
            for name, d, c, t in zip(
                names, nested.derivatives, nested.nodes, nested.seconds, strict=True
            )
        ],
    )
    for note in notes:
        section.text(note)
    section.fact("graph_nodes", nested.nodes).fact("graphed", nested.graphed)
    section.fact("values", [d.detach().tolist() for d in nested.derivatives])
    taylor = taylor_mode(expression, x, order)
    section.text(
        "Taylor mode (autodiffcli.engines.taylor) instead pushes the truncated Taylor series "
        "of every node forward in one sweep, and builds no graph. Its operations per point, "
        "beside the graph nested reverse mode builds (times are of one warm run each and vary "
        "from run to run; the counts do not):"
    )
    section.table(
        ["order", "Taylor operations per point", "Taylor ms", "reverse graph nodes"],
        [[str(k), str(w), f"{t * 1e3:.3g}", str(nested.nodes[k])] for k, w, t in taylor],
    )
    return section.fact("taylor_work", [w for _, w, _ in taylor])


def growth_text(nodes: list[int]) -> str:
    """The node counts of f, f', ... (two orders or more), and how each order's compares with
    the one before, as counted."""
    listed = ", ".join(str(n) for n in nodes)
    names = f"{primes(0)} to {primes(len(nodes) - 1)}"
    more = [k for k in range(1, len(nodes)) if nodes[k] > nodes[k - 1]]
    fewer = [k for k in range(1, len(nodes)) if nodes[k] < nodes[k - 1]]
    same = [k for k in range(1, len(nodes)) if nodes[k] == nodes[k - 1]]
    parts = []
    for word, orders in (("more", more), ("fewer", fewer), ("as many", same)):
        if orders:
            parts.append(
                f"{word} {'than' if word != 'as many' else 'as'} the order before at "
                f"{_orders(orders)}"
            )
    return f"Here the graphs of {names} hold {listed} nodes: {'; '.join(parts)}."


def _orders(orders: list[int]) -> str:
    words = [f"order {k}" if len(orders) == 1 else str(k) for k in orders]
    if len(orders) == 1:
        return words[0]
    return "orders " + ", ".join(words[:-1]) + " and " + words[-1]


def graphless_text(graphed: list[bool]) -> list[str]:
    """A sentence for the first derivative that has no graph left, from requires_grad."""
    if not graphed[0]:
        return ["f does not depend on x: torch recorded nothing, and every derivative is 0."]
    for k in range(1, len(graphed)):
        if graphed[k]:
            continue
        opening = (
            f"{primes(k)} has no graph (torch computed it without any operation that depends "
            "on x), so "
        )
        if k + 1 < len(graphed):
            return [
                opening + f"{primes(k + 1)} and every order after it are 0; "
                "materialize_grads=True returns them as zeros instead of None."
            ]
        return [
            opening + "differentiated again it would give 0 (materialize_grads=True returns "
            "zeros instead of None)."
        ]
    return []
