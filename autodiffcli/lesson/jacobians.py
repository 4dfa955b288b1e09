"""The torch experiments behind the lesson of f of several variables (``explain '[x*y, x + y^2]'
--at x=1,y=2``): f as a map R^n -> R^m, its Jacobian, backward with and without a seed, the
stacked map of several points and its blocks, the passes of each mode on wide shapes, Hessians
both ways, and the chain rule node by node with a tangent per input. Every claim the prose makes
is decided by :func:`probes.compare` or by a count; timings are measured to be shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwad

from autodiffcli.lang import CONDITIONS, Expression, evaluate_nodes, evaluate_outputs
from autodiffcli.lesson.probes import (
    CLAIM_ATOL,
    CLAIM_RTOL,
    Agreement,
    Saved,
    compare,
    jacobian,
    local_partials,
    op_label,
    saved_bytes,
    sum_trick_grad,
)

# The wide shapes of the cost section: about this many outputs (R^n -> R^WIDE) and inputs
# (R^WIDE -> R), built from the user's f.
WIDE = 1000
# The stacked points of the block section: this many, spaced by BLOCK_STEP on every axis.
BLOCK_POINTS = 3
BLOCK_STEP = 0.25
# Where f is not finite at a stacked point, the step shrinks by these factors in turn.
BLOCK_SHRINK = (1.0, 0.5, 0.25, 0.1, 0.01, 0.001)
# The wide shapes spread their points over t in [-SPREAD, SPREAD] along direction() from p.
SPREAD = 0.5


class VectorFunction:
    """f as a torch function of one tensor ``p`` of shape (..., n), the free variables in
    order, returning shape (..., m): one column per component (m = 1 for a scalar f).
    Parameters (--param) are constants, never differentiated.

    Each variable is read as a slice of shape (..., 1), not a 0-d tensor: the operation table
    passes a 0-d exponent to torch as a number, which would drop a dual tensor's tangent.
    """

    def __init__(self, expression: Expression, free: tuple[str, ...], constants: dict):
        self.expression = expression
        self.free = tuple(free)
        self.constants = dict(constants)

    def __repr__(self) -> str:
        return f"VectorFunction({self.expression.text!r}, free={self.free})"

    @property
    def inputs(self) -> int:
        return len(self.free)

    @property
    def outputs(self) -> int:
        return len(self.expression.outputs)

    def columns(self, p: torch.Tensor) -> list[torch.Tensor]:
        """One tensor of shape (..., 1) per variable of the expression, parameters filled in."""
        out = []
        for name in self.expression.variables:
            if name in self.free:
                j = self.free.index(name)
                out.append(p[..., j : j + 1])
            else:
                out.append(torch.full_like(p[..., :1], self.constants[name]))
        return out

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        components = evaluate_outputs(self.expression, self.columns(p))
        return torch.cat(components, -1)


def components(g: VectorFunction) -> list[VectorFunction]:
    """Each component of f as a one-output function on its own graph
    (``expression.component(k)``). Its derivatives are its own: differentiating one output
    of the whole map seeds 0 on the others, and where their local derivatives are not finite,
    0 * inf = nan leaks into the output's row."""
    return [
        VectorFunction(g.expression.component(k), g.free, g.constants) for k in range(g.outputs)
    ]


def jacobian_by_rows(g: VectorFunction, p: torch.Tensor) -> torch.Tensor:
    """The m x n Jacobian, row k from component k's own graph (torch.autograd.functional
    .jacobian on it)."""
    return torch.cat([jacobian(c, p).reshape(1, -1) for c in components(g)])


def point_tensor(values, dtype=torch.float64, device="cpu") -> torch.Tensor:
    return torch.tensor([float(v) for v in values], dtype=dtype, device=device)


def depends_on_inputs(g: VectorFunction, p: torch.Tensor) -> bool:
    """Whether torch records a graph from the inputs to f (f is not constant in them)."""
    return bool(g(p.clone().requires_grad_(True)).requires_grad)


def backward_with(g, p: torch.Tensor, seed: torch.Tensor | None) -> torch.Tensor:
    """p.grad after y.backward(seed) (y.backward() where ``seed`` is None); zeros where y has
    no graph (f does not depend on p)."""
    leaf = p.clone().requires_grad_(True)
    y = g(leaf)
    if y.requires_grad:
        y.backward(seed)
    return leaf.grad if leaf.grad is not None else torch.zeros_like(p)


def seed_vector(m: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The v of backward(v): (1, -2, 3, -4, ...) for a vector f; (2,) for a scalar one, where
    v = 1 is what out.backward() already implies."""
    if m == 1:
        return torch.tensor([2.0], dtype=dtype, device=device)
    return torch.tensor([(-1.0) ** k * (k + 1) for k in range(m)], dtype=dtype, device=device)


def tangent_vector(n: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The u of a Jacobian-vector product: (1, -2, 3, ...), n entries."""
    return torch.tensor([(-1.0) ** k * (k + 1) for k in range(n)], dtype=dtype, device=device)


def jvp(g, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """J u by forward mode, torch.func.jvp."""
    _, out = torch.func.jvp(g, (p,), (u,))
    return out


@dataclass(frozen=True)
class OffDiagonal:
    """What the off-diagonal entries of a square J hold.

    Attributes:
        zero: every off-diagonal entry is exactly 0 (a NaN or inf is not 0).
        largest: the largest |entry| among the finite off-diagonal ones (0 when none).
        nonfinite: [i, j] of each off-diagonal entry that is NaN or inf.
    """

    zero: bool
    largest: float
    nonfinite: tuple[tuple[int, int], ...]


def off_diagonal(J: torch.Tensor) -> OffDiagonal:
    off = ~torch.eye(J.shape[0], dtype=torch.bool, device=J.device)
    finite = torch.isfinite(J)
    chosen = J[off & finite].abs()
    largest = float(chosen.max()) if chosen.numel() else 0.0
    nonfinite = tuple((int(i), int(j)) for i, j in torch.nonzero(off & ~finite).tolist())
    return OffDiagonal(bool((J[off] == 0).all()), largest, nonfinite)


def single_entry_columns(J: torch.Tensor) -> list[int]:
    """Columns whose entries are all finite, and all 0 but at most one: their sum is that one
    entry, the derivative of one output."""
    finite = torch.isfinite(J).all(0)
    nonzero = (J != 0).sum(0)
    return [j for j in range(J.shape[1]) if bool(finite[j]) and int(nonzero[j]) <= 1]


# ----- Several points stacked -----


def direction(n: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The direction the lesson's extra points lie along from p: (1, -2, 3, ...) / n, so that
    they leave a diagonal such as x = y (where 1/(x - y) is undefined) rather than run along it."""
    return tangent_vector(n, dtype, device) / n


def block_points(g: VectorFunction, p: torch.Tensor, count: int = BLOCK_POINTS) -> torch.Tensor:
    """``count`` points near p: p, p + h d, p + 2h d, ... with d = :func:`direction` (or -d)
    and h = BLOCK_STEP, shrunk by each of BLOCK_SHRINK in turn until f and torch's Jacobian
    are finite at every point; the first try where no such stack is found (the caller says
    which points are not finite)."""
    steps = torch.arange(count, dtype=p.dtype, device=p.device) * BLOCK_STEP
    d = direction(p.numel(), p.dtype, p.device)
    tries = [
        p.unsqueeze(0) + (sign * shrink) * steps.unsqueeze(1) * d
        for shrink in BLOCK_SHRINK
        for sign in (1.0, -1.0)
    ]
    for points in tries:
        if all(_finite_at(g, point) for point in points):
            return points
    return tries[0]


def _finite_at(g: VectorFunction, point: torch.Tensor) -> bool:
    return bool(torch.isfinite(g(point)).all() and torch.isfinite(jacobian_by_rows(g, point)).all())


@dataclass(frozen=True)
class Blocks:
    """The Jacobian of f applied to K points at once, X (K x n) -> Y (K x m), flattened.

    Attributes:
        matrix: the (K*m) x (K*n) Jacobian of the stacked map.
        off_block_zero: every entry outside the K diagonal blocks is exactly 0.
        off_block_largest: the largest |entry| outside the blocks among finite ones.
        off_block_nonfinite: the points (block columns) holding a NaN or inf outside the blocks.
        off_block_finite: how many entries outside the blocks are finite, of off_block_total.
        summed: X.grad after Y.sum().backward(), one row per point.
        own: each point's own 1^T J_k: the column sums of its Jacobian, computed at that point
            alone, row by row (:func:`jacobian_by_rows`).
        agreement: summed against own, NaN-aware.
    """

    values: torch.Tensor
    matrix: torch.Tensor
    off_block_zero: bool
    off_block_largest: float
    off_block_nonfinite: tuple[int, ...]
    off_block_finite: int
    off_block_total: int
    summed: torch.Tensor
    own: torch.Tensor
    agreement: Agreement


def stacked_blocks(
    g: VectorFunction, points: torch.Tensor, rtol: float = CLAIM_RTOL, atol: float = CLAIM_ATOL
) -> Blocks:
    """f on every row of ``points`` (K x n) at once, its full Jacobian by torch, and the sum
    trick on the stack (its agreement within ``rtol`` and ``atol``)."""
    k, n, m = points.shape[0], points.shape[1], g.outputs

    def stacked(flat):
        return g(flat.reshape(k, n)).reshape(-1)

    J = jacobian(stacked, points.reshape(-1))
    by_point = J.reshape(k, m, k, n)
    own_block = torch.eye(k, dtype=torch.bool, device=points.device)[:, None, :, None]
    own_block = own_block.expand(k, m, k, n)
    off = by_point[~own_block]
    finite = torch.isfinite(by_point) & ~own_block
    largest = by_point[finite].abs()
    nonfinite = (~torch.isfinite(by_point) & ~own_block).any(0).any(0).any(-1)
    summed = sum_trick_grad(stacked, points.reshape(-1)).reshape(k, n)
    own = torch.stack([jacobian_by_rows(g, point).sum(0) for point in points])
    return Blocks(
        g(points),
        J,
        bool((off == 0).all()),
        float(largest.max()) if largest.numel() else 0.0,
        tuple(int(i) for i in torch.nonzero(nonfinite).flatten()),
        int(torch.isfinite(off).sum()),
        off.numel(),
        summed,
        own,
        compare(summed, own, rtol=rtol, atol=atol),  # summed in another order
    )


# ----- Wide shapes for the count of passes -----


def line_points(p: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` points on the line through p along :func:`direction`, t in +-SPREAD."""
    t = torch.linspace(-SPREAD, SPREAD, count, dtype=p.dtype, device=p.device)
    return p.unsqueeze(0) + t.unsqueeze(1) * direction(p.numel(), p.dtype, p.device)


def many_outputs(g: VectorFunction, p: torch.Tensor):
    """R^n -> R^(K m), K = WIDE // m: s -> f at K points on a line through s (s = p), the
    components of every point concatenated."""
    count = max(1, WIDE // g.outputs)
    offsets = line_points(torch.zeros_like(p), count)

    def wide(s):
        return g(s.unsqueeze(0) + offsets).reshape(-1)

    return wide, count


def many_inputs(g: VectorFunction, p: torch.Tensor):
    """R^(K n) -> R, K = WIDE // n: the sum of f's components over K points whose coordinates
    are the inputs; returns the function, K and the inputs (points on a line through p)."""
    count = max(1, WIDE // g.inputs)
    n = g.inputs

    def summed(flat):
        return g(flat.reshape(count, n)).sum()

    return summed, count, line_points(p, count).reshape(-1)


# ----- Hessians -----


@dataclass(frozen=True)
class Hessian:
    """The Hessian of one component, two ways.

    Attributes:
        forward_over_reverse: torch.func.jacfwd(torch.func.grad(f_k)): the Jacobian of the
            gradient, one forward pass per input through the reverse pass.
        reverse_over_reverse: torch.autograd.functional.hessian (nested reverse mode).
        agreement: the two compared (NaN-aware, within CLAIM_RTOL/CLAIM_ATOL).
        symmetric: H equals its transpose where finite.
    """

    forward_over_reverse: torch.Tensor
    reverse_over_reverse: torch.Tensor
    agreement: Agreement
    symmetric: Agreement


def component_hessian(
    g: VectorFunction, p: torch.Tensor, rtol: float = CLAIM_RTOL, atol: float = CLAIM_ATOL
) -> Hessian:
    """The Hessian of a one-output ``g`` (a component on its own graph, see
    :func:`components`) at p."""
    by_forward = forward_over_reverse(g, p)
    by_reverse = torch.autograd.functional.hessian(lambda q: g(q).sum(), p)
    return Hessian(
        by_forward,
        by_reverse,
        compare(by_forward, by_reverse, rtol=rtol, atol=atol),
        compare(by_forward, by_forward.T, rtol=rtol, atol=atol),
    )


def forward_over_reverse(g: VectorFunction, p: torch.Tensor) -> torch.Tensor:
    """torch.func.jacfwd(torch.func.grad(g)) at p, for a one-output ``g``."""
    return torch.func.jacfwd(torch.func.grad(lambda q: g(q).sum()))(p)


@dataclass(frozen=True)
class HessianMemory:
    """What the Hessian of the wide sum (R^K*n -> R) costs to keep, against what autograd saves.

    Attributes:
        inputs: the number of inputs N.
        dense_bytes: N * N entries of the dtype: the whole Hessian stored.
        tape: what autograd saved while computing f (for the gradient).
        graphed_tape: what it saved computing f and its gradient with create_graph=True: the
            graph a second differentiation runs on.
        hvp_agreement: a Hessian-vector product by forward-over-reverse (torch.func.jvp of
            torch.func.grad) against nested reverse (torch.autograd.functional.hvp).
    """

    inputs: int
    dense_bytes: int
    tape: Saved
    graphed_tape: Saved
    hvp_agreement: Agreement


def hessian_memory(
    g: VectorFunction, p: torch.Tensor, rtol: float = CLAIM_RTOL, atol: float = CLAIM_ATOL
) -> HessianMemory:
    summed, _, flat = many_inputs(g, p)
    n = flat.numel()
    leaf = flat.clone().requires_grad_(True)
    tape = saved_bytes(summed, leaf)

    def with_gradient(x):
        y = summed(x)
        if y.requires_grad:
            torch.autograd.grad(y, x, create_graph=True)
        return y

    graphed = saved_bytes(with_gradient, flat.clone().requires_grad_(True))
    direction = torch.ones_like(flat)
    _, by_forward = torch.func.jvp(torch.func.grad(summed), (flat,), (direction,))
    _, by_reverse = torch.autograd.functional.hvp(summed, flat, direction)
    return HessianMemory(
        n,
        n * n * flat.element_size(),
        tape,
        graphed,
        compare(by_forward, by_reverse, rtol=rtol, atol=atol),
    )


# ----- The chain rule with several inputs -----


def trace_several(
    expression: Expression,
    point: dict[str, float],
    free: tuple[str, ...],
    seed: list[float],
    dtype=torch.float64,
    device="cpu",
) -> list[dict]:
    """Each node of the tape at ``point`` (every variable of the expression, parameters too),
    in forward order: its value, the local partial on each incoming edge (None from a node
    that depends on no free variable), one forward-mode tangent per free variable (seed 1 on
    that variable, 0 on the others) and the reverse-mode adjoint of the scalar
    sum_k seed[k] * f_k (one backward pass; None where the node depends on no free variable).
    """
    leaves = {
        name: torch.tensor(
            [float(point[name])], dtype=dtype, device=device, requires_grad=name in free
        )
        for name in expression.variables
    }
    inputs = [leaves[name] for name in expression.variables]
    values = evaluate_nodes(expression, inputs)
    for value in values:
        if value.requires_grad and not value.is_leaf:
            value.retain_grad()
    roots = [values[i] for i in expression.outputs]
    total = sum(
        (s * r.sum() for s, r in zip(seed, roots, strict=True) if r.requires_grad),
        start=torch.zeros((), dtype=dtype, device=device),
    )
    if total.requires_grad:
        total.backward()
    depends = [
        any(bits) for bits in zip(*(expression.depends_on(n) for n in free), strict=True)
    ] or [False] * len(expression.nodes)
    pairs = []
    for index, value in enumerate(values):
        grad = value.grad if value.requires_grad else None
        adjoint = None if not depends[index] else 0.0 if grad is None else float(grad.item())
        number = float(value.detach().reshape(-1)[0])
        pairs.append((number, adjoint))
    tangents = {name: _tangents_along(expression, leaves, name) for name in free}
    rows = []
    for index, node in enumerate(expression.nodes):
        rows.append(
            {
                "node": f"v{index}",
                "op": op_label(node),
                "inputs": [f"v{i}" for i in node.args],
                "value": pairs[index][0],
                "partials": local_partials(expression, index, pairs, depends),
                "tangents": {name: tangents[name][index] for name in free},
                "adjoint": pairs[index][1],
            }
        )
    return rows


def _tangents_along(expression: Expression, leaves: dict, name: str) -> list[float]:
    """Forward mode with tangent 1 on ``name`` and 0 on every other variable."""
    with fwad.dual_level():
        inputs = [
            fwad.make_dual(leaf.detach(), torch.ones_like(leaf)) if n == name else leaf.detach()
            for n, leaf in leaves.items()
        ]
        values = evaluate_nodes(expression, inputs)
        out = []
        for node, value in zip(expression.nodes, values, strict=True):
            tangent = None if node.op in CONDITIONS else fwad.unpack_dual(value).tangent
            out.append(0.0 if tangent is None else float(tangent.reshape(-1)[0]))
        return out
