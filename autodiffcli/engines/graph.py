"""The one walker over autograd graphs: node counts and the indented text graph are folds of
its visits. Torch-free itself: it reads ``grad_fn`` and ``next_functions`` of what it is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple


class Visit(NamedTuple):
    """One step of the walk: a node reached from ``parent`` (an index into the first visits).

    A named tuple, not a dataclass: walks of large graphs make millions of these.

    Attributes:
        node: the autograd node (a ``grad_fn`` object).
        index: the node's number, in order of first visit.
        depth: edges from the root along this path.
        parent: the index of the node this edge comes from (None for the root).
        first: whether this is the node's first visit; later visits are not expanded.
    """

    node: object
    index: int
    depth: int
    parent: int | None
    first: bool


def walk(y) -> Iterator[Visit]:
    """Depth-first, children in order, over the autograd graph of tensor ``y``.

    Every edge is visited once and every node expanded once, with an explicit stack: graphs of
    high derivatives have hundreds of thousands of nodes and would overflow recursion.
    """
    if getattr(y, "grad_fn", None) is None:
        return
    index_of: dict[int, int] = {}
    alive: list[object] = []  # holding every node keeps its id unique during the walk
    stack: list[tuple[object, int, int | None]] = [(y.grad_fn, 0, None)]
    pop, push = stack.pop, stack.extend
    while stack:
        node, depth, parent = pop()
        index = index_of.get(id(node))
        if index is not None:
            yield Visit(node, index, depth, parent, False)
            continue
        index = index_of[id(node)] = len(alive)
        alive.append(node)
        below = depth + 1
        push([(c, below, index) for c, _ in reversed(node.next_functions) if c is not None])
        yield Visit(node, index, depth, parent, True)


def node_name(node: object) -> str:
    """torch's class name of an autograd node, e.g. ``MulBackward0``."""
    return type(node).__name__


def count_nodes(y) -> int:
    """Distinct autograd nodes reachable from ``y.grad_fn`` (0 for a constant)."""
    return sum(visit.first for visit in walk(y))


def graph_lines(y) -> list[tuple[int, str]]:
    """(depth, name) per visit, for an indented text graph; a repeat is marked, not expanded."""
    return [
        (visit.depth, node_name(visit.node) + ("" if visit.first else " (shown above)"))
        for visit in walk(y)
    ]
