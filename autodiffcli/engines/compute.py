"""The one path from a problem to numbers that derive, plot and explain share: the engine
chosen, the points chunked to fit the memory budget, and the columns named."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import torch

from autodiffcli import lang
from autodiffcli.engines import forward, reverse, taylor
from autodiffcli.engines.environment import Target, on_deep_stack
from autodiffcli.errors import BudgetError
from autodiffcli.lang import function_of


def column_names(problem) -> list[str]:
    """The points' columns, then f and its derivatives: ``x, f, df, d2f, ...`` for one
    variable; ``x, y, f, f_x, f_y, f_xx, ...`` (by multi-index) for several."""
    return problem.column_names()


def chunks(problem, target: Target, chunk_points: int | None = None) -> Iterator[list]:
    """Columns [points..., f, derivatives...] of the problem, one chunk of points at a time.

    ``problem.method`` is "reverse" (autograd, nested for higher orders), "forward"
    (forward-mode AD, order 1) or "taylor" (Taylor mode). Without ``chunk_points``, the chunk
    size comes from the engine's memory per point and the problem's memory budget, so memory
    stays bounded at any order; a job over budget raises BudgetError before any work. In
    float32, rows whose values are subnormal are computed again in float64 (see
    _subnormals_from_float64).
    """
    nodes = None
    if chunk_points is None:
        chunk_points, nodes = _chunk_points(problem, target)
    derive = _engine(problem)
    free = [problem.expression.variables.index(name) for name in problem.free]
    done = 0
    for inputs in problem.domain.chunks(chunk_points, target.dtype, target.device):
        if nodes is not None and problem.domain.streamed:  # its length was only an estimate
            done += len(inputs[0])
            reverse.check_graph_work(nodes, done, chunk_points)
        columns = derive(inputs)
        if target.dtype == torch.float32:
            _subnormals_from_float64(derive, inputs, columns)
        yield [*(inputs[i] for i in free), *columns]


def components_of(expression) -> Callable[..., list[torch.Tensor]]:
    """f as a function of one tensor per variable that returns the list of its components."""
    if len(expression.outputs) > 1:
        return lambda *inputs: lang.evaluate_outputs(expression, inputs)
    f = function_of(expression)
    return lambda *inputs: [f(*inputs)]


def _engine(problem) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """The problem's engine as a function of one chunk's inputs: its columns after the
    points. One variable's pure derivatives go through the univariate engines; everything
    else through the partials of the multivariate ones, combined per column. A partial that
    is 0 by structure (lang.structural_zeros: f_xx of x/y) is written 0, not computed."""
    plan = problem.plan
    axis = _one_axis(plan)
    if axis is not None:
        order = plan.order
        if problem.method == "taylor":
            return functools.partial(taylor.derivatives, problem.expression, order=order, wrt=axis)
        f = function_of(problem.expression)
        return lambda inputs: reverse.derivatives(f, inputs, order, axis)
    expression = problem.expression
    zeros = lang.structural_zeros(expression, plan.partials)
    wanted = [p for p in plan.partials if p not in zeros]
    if problem.method == "taylor":
        engine = functools.partial(taylor.partials, expression, wanted=wanted)
    elif problem.method == "forward":
        components = components_of(expression)
        engine = lambda inputs: forward.partials(components, inputs, wanted)  # noqa: E731
    else:
        components = components_of(expression)
        engine = lambda inputs: reverse.partials(components, inputs, wanted)  # noqa: E731

    def derive(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        values = engine(inputs) if wanted else {}
        values.update({p: torch.zeros_like(inputs[0]) for p in zeros})
        return evaluate_columns(plan, values, inputs[0])

    return derive


def _one_axis(plan) -> int | None:
    """The variable whose pure derivatives f, f', ..., f^(K) are exactly the plan's columns,
    in order; None for any other plan."""
    singles = [column.single for column in plan.columns]
    if any(p is None or p.output != 0 for p in singles) or singles[0].order != 0:
        return None
    involved = {i for p in singles for i in p.sequence}
    if len(involved) > 1:
        return None
    axis = involved.pop() if involved else (plan.wrt[0] if plan.wrt else 0)
    if [p.order for p in singles] != list(range(len(singles))):
        return None
    return axis


def evaluate_columns(plan, values: dict, like: torch.Tensor) -> list[torch.Tensor]:
    """Each column of the plan from the partials' ``values``: a partial as it is, any other
    column as its polynomial (a sum of products of partials)."""
    out = []
    for column in plan.columns:
        single = column.single
        if single is not None:
            out.append(values[single])
            continue
        total = torch.zeros_like(like)
        for coefficient, factors in column.terms:
            term = None
            for partial in factors:
                term = values[partial] if term is None else term * values[partial]
            if term is not None:
                total = total + (term if coefficient == 1.0 else coefficient * term)
        out.append(total)
    return out


def _chunk_points(problem, target: Target) -> tuple[int, int | None]:
    """Points per chunk, from the engine's memory per point and the problem's budget, and the
    nodes of reverse mode's graph (None for Taylor and forward mode)."""
    plan = problem.plan
    columns = len(plan.columns) + len(problem.expression.variables)
    if problem.method in ("taylor", "forward"):
        order = plan.order if problem.method == "taylor" else 1
        per_point = taylor.bytes_per_point(problem.expression, order, target.dtype)
        per_point += _held_series(problem, plan) * target.dtype.itemsize
        per_point += (len(plan.partials) + columns) * target.dtype.itemsize
        budget = min(reverse.GRAPH_ELEMENTS * 8, problem.max_memory)
        size = budget // max(per_point, 1)
        if problem.max_memory < reverse.MIN_CHUNK_POINTS * per_point:
            raise BudgetError(
                f"one chunk of {reverse.MIN_CHUNK_POINTS} points needs "
                f"{reverse.MIN_CHUNK_POINTS * per_point:,} bytes, more than {{opt.max_memory}} "
                f"{problem.max_memory:,}; raise the budget or ask for fewer derivatives",
                parameter="max_memory",
                value=problem.max_memory,
            )
        return max(reverse.MIN_CHUNK_POINTS, min(reverse.CHUNK_POINTS, size)), None
    arity = len(problem.expression.variables)
    axis = _one_axis(plan)
    if axis is not None:
        f = function_of(problem.expression)
        probe = functools.partial(reverse.graph_nodes, arity=arity, wrt=axis)
        nodes = on_deep_stack(probe, f, plan.order, target.dtype, target.device)
    else:
        components = components_of(problem.expression)
        guard = functools.partial(reverse.graph_nodes, arity=arity, wrt=plan.wrt[0])
        for k in range(problem.outputs):  # a pure partial's graph first: it stops early
            component = functools.partial(_component, components, k)
            on_deep_stack(guard, component, plan.order, target.dtype, target.device)
        probe = functools.partial(
            reverse.partial_graph_nodes, arity=arity, dtype=target.dtype, device=target.device
        )
        nodes = on_deep_stack(probe, components, plan.partials)
    chunk_points = reverse.chunk_points_for(nodes, problem.max_memory, target.dtype.itemsize)
    reverse.check_graph_work(nodes, problem.domain.expected, chunk_points)
    return chunk_points, nodes


def _component(components: Callable, k: int, *inputs: torch.Tensor) -> torch.Tensor:
    return components(*inputs)[k]


def _held_series(problem, plan) -> int:
    """Series values per point that Taylor mode keeps between its passes: one per direction,
    component and coefficient (none for pure partials along one axis)."""
    mixed = [p for p in plan.partials if len(set(p.sequence)) > 1]
    if not mixed or problem.method != "taylor":
        return 0
    involved = {i for p in plan.partials for i in p.sequence}
    directions = math.comb(len(involved) + plan.order - 1, plan.order)
    return directions * problem.outputs * (plan.order + 1)


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
