"""The one path from a problem to numbers that derive, plot and explain share: the engine
chosen, the points chunked to fit the memory budget, and the columns named."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

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
    BudgetError before any work. In float32, rows whose values are subnormal are computed
    again in float64 (see _subnormals_from_float64).
    """
    nodes = None
    if chunk_points is None:
        chunk_points, nodes = _chunk_points(problem, target)
    derive = _engine(problem)
    done = 0
    for inputs in problem.domain.chunks(chunk_points, target.dtype, target.device):
        if nodes is not None and problem.domain.streamed:  # its length was only an estimate
            done += len(inputs[0])
            reverse.check_graph_work(nodes, done, chunk_points)
        columns = derive(inputs)
        if target.dtype == torch.float32:
            _subnormals_from_float64(derive, inputs, columns)
        yield [*inputs, *columns]


def _engine(problem) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """The problem's engine as a function of one chunk's inputs: [f, f', ..., f^(order)]."""
    order, wrt = problem.order, problem.wrt_index
    if problem.method == "taylor":
        return functools.partial(taylor.derivatives, problem.expression, order=order, wrt=wrt)
    f = function_of(problem.expression)
    return lambda inputs: reverse.derivatives(f, inputs, order, wrt)


def _chunk_points(problem, target: Target) -> tuple[int, int | None]:
    """Points per chunk, from the engine's memory per point and the problem's budget, and the
    nodes of reverse mode's graph (None for Taylor mode)."""
    if problem.method == "taylor":
        per_point = taylor.bytes_per_point(problem.expression, problem.order, target.dtype)
        budget = min(reverse.GRAPH_ELEMENTS * 8, problem.max_memory)
        size = budget // max(per_point, 1)
        return max(reverse.MIN_CHUNK_POINTS, min(reverse.CHUNK_POINTS, size)), None
    f = function_of(problem.expression)
    arity, wrt = len(problem.domain.names), problem.wrt_index
    probe = functools.partial(reverse.graph_nodes, arity=arity, wrt=wrt)
    nodes = on_deep_stack(probe, f, problem.order, target.dtype, target.device)
    chunk_points = reverse.chunk_points_for(nodes, problem.max_memory, target.dtype.itemsize)
    reverse.check_graph_work(nodes, problem.domain.expected, chunk_points)
    return chunk_points, nodes


def _subnormals_from_float64(derive, inputs: list[torch.Tensor], columns: list) -> None:
    """Replace, in place, the float32 rows holding a subnormal value by the same rows computed
    in float64 and rounded once.

    A subnormal float32 keeps few digits, and a derivative built on one loses them: erfc''(10)
    came out 1.5% off (8.52e-43 against 8.40e-43). Such rows are rare, so this costs one scan
    of the columns. A row whose values are normal but whose intermediates were subnormal is not
    caught; --check compares it with the references.
    """
    tiny = torch.finfo(torch.float32).tiny
    rows = None
    for column in columns:
        size = column.abs()
        if len(size) and not size.min() >= tiny:  # a cheap scan first (NaN: look closer)
            small = (size < tiny) & (size != 0)
            rows = small if rows is None else rows | small
    if rows is None or not bool(rows.any()):
        return
    where = rows.nonzero().squeeze(1)
    again = derive([tensor[where].to(torch.float64) for tensor in inputs])
    for k, wide in enumerate(again):  # out of place: a column may be a broadcast constant
        columns[k] = columns[k].index_put((where,), wide.to(torch.float32))


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
