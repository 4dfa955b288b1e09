"""The Taylor-mode engine: every derivative up to order K in one forward pass over the tape.

Each node carries the truncated Taylor series of its value around every point,
u(t) = u_0 + u_1 t + ... + u_K t^K, as one tensor of shape (K+1, n), starting from
x(t) = x + t; each operation maps its arguments' series to its result's by its ``taylor`` rule
(the operation table's Taylor column, :mod:`autodiffcli.series`). Then f^(k)(x) = k! w_k.
Nothing is kept for a backward pass, so the cost grows as K^2, not as the 3-4x per order of
repeated reverse mode (Griewank and Walther, *Evaluating Derivatives*, ch. 13).
"""

from __future__ import annotations

import math

import torch

from autodiffcli.errors import OptionError
from autodiffcli.expr import Expression, fold
from autodiffcli.run import MAX_ORDER  # the one limit, shared with the job layer

# On the CPU, points are computed in blocks whose series take about this many bytes each, so
# that a rule's working set stays in cache. Order 10 of log(x**2)*sin(x) + 1/x, 85,000 points,
# one thread, CPU time of 12 passes (a loaded 2-core machine, two runs): blocks of 4,096 points
# 0.57/0.56 s, 8,192 0.49/0.59 s, 16,384 0.58/0.63 s, 32,768 0.81/0.83 s, no blocks 0.85/0.87 s.
CPU_BLOCK_BYTES = 1 << 20
MIN_BLOCK_POINTS, MAX_BLOCK_POINTS = 1024, 1 << 16
# Series that a rule holds besides its arguments and result (the largest: sinc, asin, softplus).
RULE_TEMPORARIES = 8


def check_order(order: int) -> None:
    """Refuse an order the engine does not compute, naming the limit."""
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        raise OptionError(
            f"{{opt.order}} must be a whole number from 0 to {MAX_ORDER} for the Taylor engine, "
            f"got {order!r}",
            parameter="order",
            value=order,
        )


def seed(x: torch.Tensor, order: int) -> torch.Tensor:
    """The series of the variable: x(t) = x + t, as a (order+1, n) tensor."""
    series = torch.zeros((order + 1, x.numel()), dtype=x.dtype, device=x.device)
    series[0] = x.reshape(-1)
    if order >= 1:
        series[1] = 1.0
    return series


def node_series(expression: Expression, x: torch.Tensor, order: int) -> list[torch.Tensor]:
    """The series of every node: (order+1, n) tensors, or 0-d tensors for nodes that do not
    depend on x (those are computed by the torch column, exactly as the reverse engine does)."""

    def constant(node):
        return torch.tensor(node.value, dtype=x.dtype, device=x.device)

    def apply(node, op, args):
        if all(arg.dim() == 0 for arg in args):
            return op.torch(torch, *args)
        return op.taylor(torch, *args)

    with torch.no_grad():
        return fold(expression, seed(x, order), constant, apply)


def coefficients(expression: Expression, x: torch.Tensor, order: int) -> torch.Tensor:
    """f^(k)(x_i) / k! for k = 0..order, as a tensor of shape (order+1, n) (x flattened)."""
    check_order(order)
    root = node_series(expression, x, order)[-1]
    if root.dim() == 0:  # f does not depend on x
        out = torch.zeros((order + 1, x.numel()), dtype=x.dtype, device=x.device)
        out[0] = root
        return out
    return root


def derivatives(expression: Expression, x: torch.Tensor, order: int) -> list[torch.Tensor]:
    """[f(x), f'(x), ..., f^(order)(x)], each shaped like ``x`` (the contract of
    :func:`autodiffcli.core.derivatives`). On the CPU, computed in cache-sized blocks of
    points (:func:`block_points`), whatever the chunk size."""
    check_order(order)
    flat = x.reshape(-1)
    block = block_points(order, x.dtype) if x.device.type == "cpu" else max(flat.numel(), 1)
    out = torch.empty((order + 1, flat.numel()), dtype=x.dtype, device=x.device)
    for begin in range(0, flat.numel(), block):
        out[:, begin : begin + block] = coefficients(expression, flat[begin : begin + block], order)
    factorials = [float(math.factorial(k)) for k in range(order + 1)]
    out *= torch.tensor(factorials, dtype=x.dtype, device=x.device).unsqueeze(1)
    return [row.reshape(x.shape) for row in out]


def block_points(order: int, dtype: torch.dtype) -> int:
    """Points per CPU block: one series of the block takes about CPU_BLOCK_BYTES."""
    points = CPU_BLOCK_BYTES // ((order + 1) * dtype.itemsize)
    return max(MIN_BLOCK_POINTS, min(MAX_BLOCK_POINTS, points))


def bytes_per_point(expression: Expression, order: int, dtype: torch.dtype) -> int:
    """Memory one point takes during a pass, for chunk sizing: the series of every node that
    depends on x (the fold keeps them all), a rule's temporaries, and the output columns."""
    depends = sum(expression.depends_on_x)
    series = depends + RULE_TEMPORARIES + 2  # + the derivative columns and the variable's seed
    return series * (order + 1) * dtype.itemsize


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
    x = torch.ones(1, dtype=torch.float64)
    counter = _CountWork()
    with counter:
        node_series(expression, x, order)
    return counter.elements
