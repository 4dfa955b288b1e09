"""The one path from a problem to numbers that derive, plot and explain share: the engine
chosen, the points chunked to fit the memory budget, and the columns named."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch

from autodiffcli.engines import reverse, taylor
from autodiffcli.engines.environment import Target, on_deep_stack
from autodiffcli.lang import function_of


def column_names(problem) -> list[str]:
    """The axes, then f and its derivatives: ``x, f, df, d2f, ...`` for one variable;
    ``x, y, f, f_x, f_xx, ...`` by the variable ``wrt`` for several."""
    axes = list(problem.domain.names)
    if len(axes) == 1:
        derivatives = ["df"] if problem.order >= 1 else []
        derivatives += [f"d{k}f" for k in range(2, problem.order + 1)]
    else:
        wrt = axes[problem.wrt_index]
        derivatives = [f"f_{wrt * k}" for k in range(1, problem.order + 1)]
    return [*axes, "f", *derivatives]


def chunks(problem, target: Target, chunk_points: int | None = None) -> Iterator[list]:
    """Columns [axes..., f, f', ...] of the problem, one chunk of points at a time.

    ``problem.method`` is "reverse" (repeated autograd) or "taylor" (one Taylor-mode pass).
    Without ``chunk_points``, the chunk size comes from the engine's memory per point and the
    problem's memory budget, so memory stays bounded at any order; a job over budget raises
    BudgetError before any work.
    """
    if problem.method == "taylor":
        return _taylor_chunks(problem, target, chunk_points)
    return _reverse_chunks(problem, target, chunk_points)


def _reverse_chunks(problem, target: Target, chunk_points: int | None):
    f = function_of(problem.expression)
    arity, wrt = len(problem.domain.names), problem.wrt_index
    if chunk_points is None:
        probe = functools.partial(reverse.graph_nodes, arity=arity, wrt=wrt)
        nodes = on_deep_stack(probe, f, problem.order, target.dtype, target.device)
        chunk_points = reverse.chunk_points_for(nodes, problem.max_memory, target.dtype.itemsize)
        reverse.check_graph_work(nodes, problem.domain.known, chunk_points)
    for inputs in problem.domain.chunks(chunk_points, target.dtype, target.device):
        yield [*inputs, *reverse.derivatives(f, inputs, problem.order, wrt)]


def _taylor_chunks(problem, target: Target, chunk_points: int | None):
    if chunk_points is None:
        per_point = taylor.bytes_per_point(problem.expression, problem.order, target.dtype)
        budget = min(reverse.GRAPH_ELEMENTS * 8, problem.max_memory)
        chunk_points = max(
            reverse.MIN_CHUNK_POINTS, min(reverse.CHUNK_POINTS, budget // max(per_point, 1))
        )
    for inputs in problem.domain.chunks(chunk_points, target.dtype, target.device):
        derivatives = taylor.derivatives(
            problem.expression, inputs, problem.order, problem.wrt_index
        )
        yield [*inputs, *derivatives]


def table(problem, target: Target) -> list[torch.Tensor]:
    """The whole table in memory (on the CPU), for plots, checks and the Python API."""
    parts = list(chunks(problem, target))
    return [torch.cat([part[i].cpu() for part in parts]) for i in range(len(parts[0]))]


def count_nonfinite(columns: list[torch.Tensor]) -> list[int]:
    """How many NaN or infinite values each column holds."""
    return [_count_nonfinite(column) for column in columns]


def _count_nonfinite(column: torch.Tensor) -> int:
    # A finite sum proves every value finite, at a tenth of the cost of counting; only a
    # non-finite sum (a NaN, an inf, or an overflow of large values) pays for the count.
    if torch.isfinite(column.sum()):
        return 0
    return int((~torch.isfinite(column)).sum())
