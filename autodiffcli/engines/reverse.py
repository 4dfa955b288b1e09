"""Autograd's reverse mode: tensors in, tensors out. It never prints and never imports the CLI.

For an elementwise f, the Jacobian of y = f(x) over the points is diagonal, so the gradient of
sum(y) with respect to x is exactly f'(x_i) at every point: one reverse pass gives the whole
column. The same holds for each input of a function of several variables, since points stay
independent. Higher orders repeat this on the previous derivative, with ``create_graph=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from autodiffcli.engines.graph import count_nodes
from autodiffcli.errors import BudgetError

# Tensor elements that one chunk's autograd graphs may hold: about 200 MB in float64.
GRAPH_ELEMENTS = 1 << 24
MIN_CHUNK_POINTS = 16
# Points per chunk: large enough that per-chunk overhead and the writer's start-up per call
# vanish (measured: 1<<18 gave 7.9 M rows/s, 1<<20 9.7 M), small enough that a chunk and its
# autograd graph stay near 100 MB whatever the table's length.
CHUNK_POINTS = 1 << 20
# Measured on the 190-level sin nest: about 900 bytes and 12 microseconds per autograd node.
NODE_BYTES = 1000
# The largest graph the reverse engine may build: about 0.5 GB and 6 s to build, per chunk.
MAX_GRAPH_NODES = 500_000
# Node visits a whole reverse-mode job may make (graph size x chunks): about a minute.
MAX_GRAPH_WORK = 5_000_000


def derivatives(f: Callable, inputs: Sequence[torch.Tensor], order: int, wrt: int = 0):
    """[f, df/dv, ..., d^order f/dv^order] for an elementwise ``f`` of the tensors ``inputs``,
    v = inputs[wrt]; each shaped like the inputs.

    A derivative that no longer depends on v (f = 3, or x**2 at order 3) is all zeros.
    """
    if order == 0:
        with torch.no_grad():
            return [f(*inputs)]
    inputs = [tensor.detach() for tensor in inputs]
    leaf = inputs[wrt].requires_grad_(True)
    with torch.enable_grad():
        outputs = [f(*inputs)]
        for k in range(1, order + 1):
            outputs.append(next_derivative(outputs[-1], leaf, create_graph=k < order))
    return [output.detach() for output in outputs]


def next_derivative(y: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """dy_i/dx_i for an elementwise y(x): the gradient of sum(y), zeros where y is constant."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(y.sum(), x, create_graph=create_graph, materialize_grads=True)
    if getattr(grad, "_is_zerotensor", lambda: False)():
        # Autograd's lazy zeros (from abs, sign, relu...) cannot become numpy: materialize.
        return torch.zeros_like(x)
    return grad


def graphed_derivatives(f: Callable, x: torch.Tensor, order: int) -> Iterator[torch.Tensor]:
    """f(x), f'(x), ..., f^(order)(x) for a leaf ``x`` that requires grad, each as it is made,
    every one with its graph kept (create_graph=True), so it can be differentiated again or
    inspected."""
    with torch.enable_grad():
        output = f(x)
        yield output
        for _ in range(order):
            output = next_derivative(output, x, create_graph=True)
            yield output


def graph_nodes(
    f: Callable,
    order: int,
    dtype,
    device,
    max_nodes: int | None = None,
    *,
    arity: int = 1,
    wrt: int = 0,
) -> int:
    """Nodes in the largest graph that computing ``order`` derivatives keeps alive, probed on
    one point order by order (``arity`` inputs, differentiating by input ``wrt``). Graphs grow
    3-4x per order, so the probe stops (BudgetError) before building a graph it predicts to
    exceed ``max_nodes`` (default MAX_GRAPH_NODES): it never builds much more."""
    max_nodes = MAX_GRAPH_NODES if max_nodes is None else max_nodes
    inputs = [torch.ones(1, dtype=dtype, device=device) for _ in range(arity)]
    x = inputs[wrt].requires_grad_(True)
    with torch.enable_grad():
        y = f(*inputs)
        nodes, previous = count_nodes(y), 0
        for k in range(1, order):
            growth = nodes / previous if previous else 1.0
            if nodes > max_nodes or nodes * growth > max_nodes:
                raise _graph_too_large(k, order, max_nodes)
            y = next_derivative(y, x, create_graph=True)
            nodes, previous = count_nodes(y), nodes
    if nodes > max_nodes:
        raise _graph_too_large(order - 1, order, max_nodes)
    return nodes


def _graph_too_large(reached: int, order: int, max_nodes: int) -> BudgetError:
    return BudgetError(
        f"repeated reverse mode would build an autograd graph of more than {max_nodes:,} nodes "
        f"for order {order} of this expression (already near that at order {reached}); use "
        f"{{opt.method}}=taylor, which computes every order in one pass, or a lower {{opt.order}}",
        parameter="order",
        value=order,
    )


def chunk_points_for(nodes: int, max_memory: int | None = None, itemsize: int = 8) -> int:
    """Points per chunk so that a chunk's graph holds about GRAPH_ELEMENTS tensor elements, and
    graph plus tensors stay within ``max_memory``."""
    elements = GRAPH_ELEMENTS
    if max_memory is not None:
        room = max_memory - nodes * NODE_BYTES
        if room < MIN_CHUNK_POINTS * nodes * itemsize * 4:
            raise BudgetError(
                f"an autograd graph of {nodes:,} nodes does not fit in {{opt.max_memory}} "
                f"{max_memory:,} bytes; use {{opt.method}}=taylor, a lower {{opt.order}}, or "
                "raise the budget",
                parameter="max_memory",
                value=max_memory,
            )
        elements = min(elements, room // (itemsize * 4))
    return max(MIN_CHUNK_POINTS, min(CHUNK_POINTS, elements // max(nodes, 1)))


def check_graph_work(nodes: int, points: int, chunk: int) -> None:
    """Refuse a job that would rebuild a large graph for very many chunks."""
    chunks = -(-points // chunk)
    if chunks > 1 and nodes * chunks > MAX_GRAPH_WORK:
        raise BudgetError(
            f"repeated reverse mode would rebuild a graph of {nodes:,} nodes for each of "
            f"{chunks:,} chunks of points (minutes of work); use {{opt.method}}=taylor, fewer "
            "points, or a lower {opt.order}",
            parameter="order",
        )


def partials(
    f: Callable, inputs: Sequence[torch.Tensor], wanted: Sequence, create_graph: bool = False
) -> dict:
    """{partial: tensor} for each partials.Partial in ``wanted``, by nested reverse mode.

    ``f`` maps one tensor per variable to the list of f's components. Partials are taken in
    canonical order (by the first variable, then the next: f -> f_x -> f_xy), so each
    intermediate partial is differentiated once, by every variable its descendants need, in
    one backward pass: a gradient of any length costs one pass, which is reverse mode's point.
    Points stay independent, so the sum trick is exact at each of them.
    """
    needed = _prefixes(wanted)
    inputs = [tensor.detach() for tensor in inputs]
    leaves = sorted({i for seq in needed for i in seq[1]})
    for i in leaves:
        inputs[i].requires_grad_(True)
    values: dict = {}
    with torch.enable_grad():
        components = f(*inputs)
        for output, y in enumerate(components):
            if (output, ()) in needed:
                values[(output, ())] = y
        for key in sorted(needed, key=lambda k: (len(k[1]), k)):
            y = values.get(key)
            children = [key[1] + (i,) for i in leaves if not key[1] or i >= key[1][-1]]
            children = [c for c in children if (key[0], c) in needed]
            if y is None or not children:
                continue
            deeper = create_graph or any(
                (key[0], c + (i,)) in needed for c in children for i in leaves
            )
            grads = _gradients(y, [inputs[c[-1]] for c in children], deeper)
            for child, grad in zip(children, grads, strict=True):
                values[(key[0], child)] = grad
    out = {}
    for partial in wanted:
        value = values[(partial.output, partial.sequence)]
        out[partial] = value if create_graph else value.detach()
    return out


def _prefixes(wanted: Sequence) -> set:
    """(output, sequence) of every partial on the way to those ``wanted``, f itself included."""
    needed = set()
    for partial in wanted:
        sequence = partial.sequence
        for k in range(len(sequence) + 1):
            needed.add((partial.output, sequence[:k]))
    return needed


def _gradients(y: torch.Tensor, leaves: list[torch.Tensor], create_graph: bool) -> list:
    """dy_i/dv_i for each leaf v, by one backward pass of sum(y); zeros where y is constant."""
    if not y.requires_grad:
        return [torch.zeros_like(leaf) for leaf in leaves]
    grads = torch.autograd.grad(
        y.sum(), leaves, create_graph=create_graph, retain_graph=True, materialize_grads=True
    )
    return [
        torch.zeros_like(leaf) if getattr(g, "_is_zerotensor", lambda: False)() else g
        for g, leaf in zip(grads, leaves, strict=True)
    ]


def partial_graph_nodes(f: Callable, wanted: Sequence, arity: int, dtype, device) -> int:
    """Nodes of the autograd graphs that computing ``wanted`` keeps alive, probed on one
    point, for chunk sizing: at order 1, f's graph; above, the partials on the way are built
    (with their graphs), and the last order, not built, is taken to grow the largest 4x."""
    inputs = [torch.ones(1, dtype=dtype, device=device) for _ in range(arity)]
    deepest = max(p.order for p in wanted)
    n = len(wanted[0].counts)
    below = [
        type(wanted[0])(output, tuple(sequence.count(i) for i in range(n)))
        for output, sequence in _prefixes(wanted)
        if len(sequence) < deepest
    ]
    if deepest == 1:  # the graph is f's own, which one backward pass walks
        with torch.enable_grad():
            leaves = [tensor.requires_grad_(True) for tensor in inputs]
            return max(max(count_nodes(y) for y in f(*leaves)), 1)
    values = partials(f, inputs, below, create_graph=True)
    nodes = max((count_nodes(v) for v in values.values()), default=0)
    return max(nodes * 4, 1)
