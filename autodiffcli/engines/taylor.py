"""The Taylor-mode engine: every derivative up to order K in one forward pass over the tape.

Each node carries the truncated Taylor series of its value around every point,
u(t) = u_0 + u_1 t + ... + u_K t^K, as one tensor of shape (K+1, n), starting from
v(t) = v + t for the variable v differentiated by (every other variable is constant in t,
so the result holds the pure partial derivatives along v); each operation maps its arguments'
series to its result's by its ``taylor`` rule
(the operation table's Taylor column, :mod:`autodiffcli.series`). Then f^(k)(x) = k! w_k.
Nothing is kept for a backward pass, so the cost grows as K^2, not as the 3-4x per order of
repeated reverse mode (Griewank and Walther, *Evaluating Derivatives*, ch. 13).
"""

from __future__ import annotations

import math

import torch

from autodiffcli.engines import interpolation
from autodiffcli.lang import Expression, fold
from autodiffcli.limits import check_order

# On the CPU, points are computed in blocks whose series take about this many bytes each, so
# that a rule's working set stays in cache. Order 10 of log(x**2)*sin(x) + 1/x, 85,000 points,
# one thread, CPU time of 12 passes (a loaded 2-core machine, two runs): blocks of 4,096 points
# 0.57/0.56 s, 8,192 0.49/0.59 s, 16,384 0.58/0.63 s, 32,768 0.81/0.83 s, no blocks 0.85/0.87 s.
CPU_BLOCK_BYTES = 1 << 20
MIN_BLOCK_POINTS, MAX_BLOCK_POINTS = 1024, 1 << 16
# Series that a rule holds besides its arguments and result (the largest: sinc, asin, softplus).
RULE_TEMPORARIES = 8


def seed(v: torch.Tensor, order: int, moving: bool | float = True) -> torch.Tensor:
    """The series of a variable as a (order+1, n) tensor: v(t) = v + s t, s = ``moving``
    (True: 1, False: 0)."""
    series = torch.zeros((order + 1, v.numel()), dtype=v.dtype, device=v.device)
    series[0] = v.reshape(-1)
    if order >= 1 and moving:
        series[1] = float(moving)
    return series


def node_series(
    expression: Expression,
    inputs: list[torch.Tensor],
    order: int,
    wrt: int = 0,
    direction=None,
) -> list[torch.Tensor]:
    """The series of every node: (order+1, n) tensors, or 0-d tensors for nodes that depend
    on no variable (those are computed by the torch column, exactly as the reverse engine
    does). ``inputs`` holds one tensor per variable; the series move along ``inputs[wrt]``,
    or along ``direction`` (one speed per variable) when it is given."""
    like = inputs[0]
    if direction is None:
        direction = [i == wrt for i in range(len(inputs))]

    def constant(node):
        return torch.tensor(node.value, dtype=like.dtype, device=like.device)

    def apply(node, op, args):
        if all(arg.dim() == 0 for arg in args):
            return op.compute(*args)
        return op.taylor(torch, *args)

    seeds = [seed(v, order, moving=s) for v, s in zip(inputs, direction, strict=True)]
    with torch.no_grad():
        return fold(expression, seeds, constant, apply)


def coefficients(
    expression: Expression, inputs: list[torch.Tensor], order: int, wrt: int = 0
) -> torch.Tensor:
    """d^k f/dv^k / k! for k = 0..order, v = inputs[wrt], as a tensor of shape (order+1, n)
    (the inputs flattened). Order 0 runs at order 1: a rule written through the series of
    u' (log: u'/u) needs two terms."""
    check_order(order)
    root = node_series(expression, inputs, max(order, 1), wrt)[-1]
    if root.dim() == 0:  # f depends on no variable
        like = inputs[0]
        out = torch.zeros((order + 1, like.numel()), dtype=like.dtype, device=like.device)
        out[0] = root
        return out
    return root[: order + 1]


def derivatives(
    expression: Expression, inputs: list[torch.Tensor], order: int, wrt: int = 0
) -> list[torch.Tensor]:
    """[f, df/dv, ..., d^order f/dv^order], v = inputs[wrt], each shaped like the inputs (the
    contract of :func:`autodiffcli.engines.reverse.derivatives`). On the CPU, computed in
    cache-sized blocks of points (:func:`block_points`), whatever the chunk size."""
    check_order(order)
    like = inputs[0]
    flat = [v.reshape(-1) for v in inputs]
    count = flat[0].numel()
    block = block_points(order, like.dtype) if like.device.type == "cpu" else max(count, 1)
    out = torch.empty((order + 1, count), dtype=like.dtype, device=like.device)
    for begin in range(0, count, block):
        part = [v[begin : begin + block] for v in flat]
        out[:, begin : begin + block] = coefficients(expression, part, order, wrt)
    factorials = [float(math.factorial(k)) for k in range(order + 1)]
    out *= torch.tensor(factorials, dtype=like.dtype, device=like.device).unsqueeze(1)
    return [row.reshape(like.shape) for row in out]


def block_points(order: int, dtype: torch.dtype) -> int:
    """Points per CPU block: one series of the block takes about CPU_BLOCK_BYTES."""
    points = CPU_BLOCK_BYTES // ((max(order, 1) + 1) * dtype.itemsize)  # order 0 runs at 1
    return max(MIN_BLOCK_POINTS, min(MAX_BLOCK_POINTS, points))


def bytes_per_point(expression: Expression, order: int, dtype: torch.dtype) -> int:
    """Memory one point takes during a pass, for chunk sizing: the series of every node that
    depends on a variable (the fold keeps them all), a rule's temporaries, and the output
    columns."""
    depends = sum(expression.depends)
    series = depends + RULE_TEMPORARIES + 1 + len(expression.variables)  # + columns and seeds
    return series * (max(order, 1) + 1) * dtype.itemsize  # order 0 runs at order 1


# Calls that make views, allocate or inspect: no arithmetic on the data.
_NOT_WORK = {
    "__getitem__",
    "__setitem__",
    "__get__",
    "dim",
    "size",
    "numel",
    "item",
    "flip",
    "reshape",
    "view",
    "unsqueeze",
    "flatten",
    "nonzero",
    "broadcast_to",
    "broadcast_shapes",
    "expand",
    "as_tensor",
    "tensor",
    "empty",
    "empty_like",
    "zeros",
    "zeros_like",
    "ones_like",
    "arange",
    "cat",
    "to",
}


class _CountWork(torch.overrides.TorchFunctionMode):
    """Counts the elements that arithmetic torch calls read or write (the larger of the two)."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if getattr(func, "__name__", "") not in _NOT_WORK and isinstance(result, torch.Tensor):
            read = max((a.numel() for a in args if isinstance(a, torch.Tensor)), default=0)
            self.elements += max(read, result.numel())
        return result


def work(expression: Expression, order: int) -> int:
    """Elementary operations per point for one pass at ``order`` (counted on one point): the
    engine's cost per order, which grows as order^2 rather than exponentially."""
    check_order(order)
    inputs = [torch.ones(1, dtype=torch.float64) for _ in expression.variables]
    counter = _CountWork()
    with counter:
        node_series(expression, inputs, order)
    return counter.elements


def partials(expression: Expression, inputs: list[torch.Tensor], wanted) -> dict:
    """{partial: tensor} for each partials.Partial in ``wanted``, by Taylor mode.

    Pure partials come from one pass along each variable's axis. Mixed ones come from passes
    along the C(m+K-1, K) integer directions of the m variables involved, and the exact
    interpolation weights of :mod:`autodiffcli.engines.interpolation`. On the CPU, computed
    in cache-sized blocks of points.
    """
    like = inputs[0]
    flat = [v.reshape(-1) for v in inputs]
    count = flat[0].numel()
    top = max(max(p.order for p in wanted), 1)
    block = block_points(top, like.dtype) if like.device.type == "cpu" else max(count, 1)
    out = {p: torch.empty(count, dtype=like.dtype, device=like.device) for p in wanted}
    for begin in range(0, count, block):
        part = [v[begin : begin + block] for v in flat]
        for partial, value in _partials_of_block(expression, part, wanted).items():
            out[partial][begin : begin + block] = value
    return {p: value.reshape(like.shape) for p, value in out.items()}


def _partials_of_block(expression: Expression, inputs: list[torch.Tensor], wanted) -> dict:
    involved = sorted({i for p in wanted for i in p.sequence})
    mixed = any(len(set(p.sequence)) > 1 for p in wanted)
    found: dict = {}
    if not mixed:
        for variable in involved or [0]:
            top = max([p.order for p in wanted if set(p.sequence) <= {variable}] + [1])
            roots = _roots(expression, inputs, top, [i == variable for i in range(len(inputs))])
            for p in wanted:
                if set(p.sequence) <= {variable}:
                    found[p] = roots[p.output][p.order] * math.factorial(p.order)
        return found
    m, top = len(involved), max(p.order for p in wanted)
    lattice = interpolation.directions(m, top)
    series = []  # per direction: per output, (top+1, n)
    for s in lattice:
        speeds = [0] * len(inputs)
        for k, i in enumerate(involved):
            speeds[i] = s[k]
        series.append(_roots(expression, inputs, top, speeds))
    for p in wanted:
        counts = tuple(p.counts[i] for i in involved)
        if p.order == 0:
            found[p] = series[0][p.output][0]
        elif max(counts) == p.order:  # pure: read from the axis direction top * e_i
            axis = lattice.index(tuple(top if c else 0 for c in counts))
            scale = math.factorial(p.order) / float(top) ** p.order
            found[p] = series[axis][p.output][p.order] * scale
        else:
            found[p] = _interpolated(series, m, top, p.output, counts)
    return found


def _interpolated(series: list, m: int, top: int, output: int, counts: tuple[int, ...]):
    """d^i f for a mixed multi-index i = ``counts``, from the series along every direction of
    the lattice and the exact interpolation weights."""
    order = sum(counts)
    row = interpolation.multi_indices(m, order).index(counts)
    weights = interpolation.weights(m, top, order)[row]
    total = None
    for w, roots in zip(weights, series, strict=True):
        if w:
            term = roots[output][order] * w
            total = term if total is None else total + term
    return total * math.prod(math.factorial(c) for c in counts)


def _roots(expression: Expression, inputs, order: int, direction) -> list[torch.Tensor]:
    """The series of each component of f along ``direction``: (order+1, n) tensors."""
    nodes = node_series(expression, inputs, order, direction=direction)
    like = inputs[0]
    out = []
    for index in expression.outputs:
        root = nodes[index]
        if root.dim() == 0:  # this component depends on no variable
            full = torch.zeros((order + 1, like.numel()), dtype=like.dtype, device=like.device)
            full[0] = root
            root = full
        out.append(root)
    return out
