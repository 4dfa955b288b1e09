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
