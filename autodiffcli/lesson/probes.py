"""The torch experiments behind the lesson, each run live on the user's own expression: the
chain rule node by node, Jacobians, the sum trick, saved tensors and the passes of each mode.
Every claim the prose makes is decided by one NaN-aware comparison, :func:`compare`, or by a
count (nodes, passes, tensors, bytes); timings are measured to be shown, never to decide.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwad

from autodiffcli.engines import reverse, taylor
from autodiffcli.engines.graph import count_nodes, node_name, walk
from autodiffcli.lang import CONDITIONS, OPS, Expression, evaluate_nodes

# Forward vs reverse: sizes of the measured problems.
MEMORY_POINTS = 10_000
JACOBIAN_SIZE = 32
# Two torch paths to the same number (forward and reverse mode, a sum and its column sums)
# count as agreeing within this; float64 rounding differs by far less.
CLAIM_RTOL = 1e-12
CLAIM_ATOL = 1e-12


@dataclass(frozen=True)
class Agreement:
    """How two arrays compare, NaN-aware.

    Attributes:
        equal: equal everywhere, a non-finite value matching the same non-finite value.
        where_finite: equal at every index where both are finite.
        undefined: flat indices where either side is not finite.
    """

    equal: bool
    where_finite: bool
    undefined: tuple[int, ...]


def compare(a, b, rtol: float = 0.0, atol: float = 0.0) -> Agreement:
    """Compare ``a`` and ``b`` elementwise within ``atol + rtol*|b|``; NaN matches NaN only."""
    a = torch.as_tensor(a).detach().to("cpu", torch.float64).flatten()
    b = torch.as_tensor(b).detach().to("cpu", torch.float64).flatten()
    finite = torch.isfinite(a) & torch.isfinite(b)
    close = (a - b).abs() <= atol + rtol * b.abs()
    where_finite = bool(close[finite].all())
    same_nonfinite = (a.isnan() & b.isnan()) | (a == b)
    return Agreement(
        equal=where_finite and bool(same_nonfinite[~finite].all()),
        where_finite=where_finite,
        undefined=tuple(int(i) for i in torch.nonzero(~finite).flatten()),
    )


def trace(expression: Expression, x0: float, dtype=torch.float64) -> list[dict]:
    """Each node of the tape at x0, in forward order, with the chain rule's three numbers.

    A row holds the node's op and inputs, its forward value, the local partial on each incoming
    edge (dv_i/dv_j by torch.autograd.grad on that one operation; None from a constant), the
    forward-mode tangent (torch.autograd.forward_ad, seed dx = 1) and the reverse-mode adjoint
    (df/dv_i from one backward pass, read with retain_grad; None where v_i does not depend on x).
    """
    # Shape (1,), not 0-d: the operation table passes a 0-d exponent to torch as a number,
    # which would drop a dual tensor's tangent.
    x = torch.tensor([x0], dtype=dtype)
    depends = expression.depends
    values = _values_and_adjoints(expression, x)
    tangents = _tangents(expression, x)
    rows = []
    for index, node in enumerate(expression.nodes):
        value, adjoint = values[index]
        rows.append(
            {
                "node": f"v{index}",
                "op": op_label(node),
                "inputs": [f"v{i}" for i in node.args],
                "value": value,
                "partials": local_partials(expression, index, values, depends),
                "tangent": tangents[index],
                "adjoint": adjoint,
            }
        )
    return rows


def _values_and_adjoints(expression: Expression, x: torch.Tensor) -> list[tuple[float, float]]:
    leaf = x.clone().requires_grad_(True)
    values = evaluate_nodes(expression, [leaf])
    for value in values:
        if value.requires_grad and value is not leaf:
            value.retain_grad()
    root = values[-1]
    if root.requires_grad:
        root.sum().backward()
    out = []
    for value in values:
        grad = value.grad if value.requires_grad else None
        out.append((value.detach().item(), None if grad is None else grad.item()))
    if not root.requires_grad:  # f is constant: df/df = 1, and nothing else depends on x
        out[-1] = (out[-1][0], 1.0)
    return out


def _tangents(expression: Expression, x: torch.Tensor) -> list[float]:
    with fwad.dual_level():
        dual = fwad.make_dual(x, torch.ones_like(x))
        values = evaluate_nodes(expression, [dual])
        tangents = [fwad.unpack_dual(value).tangent for value in values]
        return [0.0 if t is None else float(t.reshape(-1)[0]) for t in tangents]


def local_partials(expression, index: int, values, depends) -> list[float | None]:
    """dv_index/dv_j for each input j of the node, by torch on that one operation."""
    node = expression.nodes[index]
    if not node.args or node.op in CONDITIONS:  # a condition is true or false: no derivative
        return [None] * len(node.args)
    dtype = torch.float64
    leaves = [
        torch.tensor([bool(values[j][0])])
        if expression.nodes[j].op in CONDITIONS
        else torch.tensor([values[j][0]], dtype=dtype, requires_grad=True)
        if depends[j]
        else torch.tensor(values[j][0], dtype=dtype)
        for j in node.args
    ]
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    if not wanted:
        return [None] * len(leaves)
    out = OPS[node.op].compute(*leaves)
    grads = iter(torch.autograd.grad(out.sum(), wanted, allow_unused=True, materialize_grads=True))
    return [_scalar(next(grads)) if leaf.requires_grad else None for leaf in leaves]


def _scalar(value: torch.Tensor) -> float:
    if getattr(value, "_is_zerotensor", lambda: False)():
        return 0.0
    return float(value.reshape(-1)[0])


def op_label(node) -> str:
    if node.op == "var":
        return node.label
    if node.op == "const":
        return f"const {node.label}"
    return node.op


def derivative_at(rows: list[dict], variable: str) -> float:
    """f'(x0) from a trace: the adjoint of the variable (0 when it does not occur in f)."""
    x_rows = [row for row in rows if row["op"] == variable]
    adjoint = x_rows[0]["adjoint"] if x_rows else None
    return 0.0 if adjoint is None else adjoint


def naive_backward_error(f, x) -> str | None:
    """The message of the error torch raises for y.backward() on a vector y (None if none)."""
    leaf = x.clone().requires_grad_(True)
    try:
        f(leaf).backward()
    except RuntimeError as error:
        return str(error)
    return None


def jacobian(f, x) -> torch.Tensor:
    """The n-by-n Jacobian dy_i/dx_j, from torch.autograd.functional.jacobian."""
    return torch.autograd.functional.jacobian(f, x)


@dataclass(frozen=True)
class JacobianFacts:
    """The Jacobian and what it shows about f.

    Attributes:
        matrix: J[i, j] = dy_i/dx_j, from torch.
        max_off_diagonal: the largest |J[i, j]|, i != j, among finite entries.
        nonfinite_columns: columns holding a non-finite entry off the diagonal.
    """

    matrix: torch.Tensor
    max_off_diagonal: float
    nonfinite_columns: tuple[int, ...]

    @property
    def diagonal(self) -> bool:
        """Every finite entry off the diagonal is exactly 0."""
        return self.max_off_diagonal == 0


def jacobian_facts(f, x) -> JacobianFacts:
    J = jacobian(f, x)
    off = ~torch.eye(x.numel(), dtype=torch.bool)
    finite = torch.isfinite(J)
    largest = J.abs()[off & finite].max().item() if bool((off & finite).any()) else 0.0
    columns = torch.nonzero((off & ~finite).any(0)).flatten().tolist()
    return JacobianFacts(J, largest, tuple(columns))


def sum_trick_grad(f, x, seed_ones: bool = False) -> torch.Tensor:
    """x.grad after y.sum().backward(), or after y.backward(torch.ones_like(y))."""
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    if y.requires_grad:
        if seed_ones:
            y.backward(torch.ones_like(y))
        else:
            y.sum().backward()
    return leaf.grad if leaf.grad is not None else torch.zeros_like(x)


def backward_twice_error(f, x) -> str | None:
    """The error torch raises for a second backward through a freed graph (None if none)."""
    leaf = x.clone().requires_grad_(True)
    y = f(leaf)
    if not y.requires_grad:
        return None
    s = y.sum()
    s.backward()
    try:
        s.backward()
    except RuntimeError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class Saved:
    """What autograd saved for backward while computing f.

    Attributes:
        tensors: how many times a tensor was saved (once per operation that saved it).
        storages: how many distinct memory blocks those tensors are views of.
        nbytes: the size of those distinct blocks: a block saved twice is counted once.
    """

    tensors: int
    storages: int
    nbytes: int


def saved_bytes(f, x) -> Saved:
    """What autograd saves for backward while computing f(x), counted with saved-tensor
    hooks."""
    storages: dict[int, int] = {}
    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        f(x)
    return Saved(count, len(storages), sum(storages.values()))


def forward_saved_bytes(f, x) -> Saved:
    """(tensors, bytes) saved for backward while forward mode computes f and its tangent."""
    with fwad.dual_level():
        return saved_bytes(f, fwad.make_dual(x, torch.ones_like(x)))


@dataclass(frozen=True)
class JacobianCost:
    """A Jacobian computed both ways, with the torch passes and seconds each took.

    ``reverse_passes`` counts the backward calls made: an output with no graph (it does not
    depend on the input) needs none, and its row is zeros.
    """

    inputs: int
    outputs: int
    forward_passes: int
    reverse_passes: int
    forward_seconds: float
    reverse_seconds: float
    agreement: Agreement


def jacobian_both_ways(
    g, x: torch.Tensor, rtol: float = CLAIM_RTOL, atol: float = CLAIM_ATOL
) -> JacobianCost:
    """The Jacobian of ``g`` at ``x`` by forward mode (one jvp per input) and by reverse mode
    (one backward per output that has a graph), timed; each pass is a real torch call; the
    two compared within ``rtol`` and ``atol``."""
    n = x.numel()
    # Warm up both ways first, so that the timings compare passes, not first calls.
    forward_pass(g, x, torch.ones_like(x))
    warm = x.clone().requires_grad_(True)
    _vjp_row(g(warm).sum(), warm)
    started = time.perf_counter()
    columns = [forward_pass(g, x, basis) for basis in torch.eye(n, dtype=x.dtype, device=x.device)]
    forward = torch.stack(columns, -1).reshape(-1, n)
    forward_seconds = time.perf_counter() - started
    started = time.perf_counter()
    leaf = x.clone().requires_grad_(True)
    y = g(leaf).reshape(-1)
    rows = [_vjp_row(y[i], leaf) for i in range(y.numel())]
    reverse = torch.stack(rows)
    reverse_seconds = time.perf_counter() - started
    return JacobianCost(
        n,
        y.numel(),
        len(columns),
        y.numel() if y.requires_grad else 0,
        forward_seconds,
        reverse_seconds,
        compare(forward, reverse, rtol=rtol, atol=atol),
    )


def forward_pass(g, x: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    """One forward-mode pass: the Jacobian of ``g`` times ``tangent``, by forward_ad."""
    with fwad.dual_level():
        out = g(fwad.make_dual(x, tangent))
        derivative = fwad.unpack_dual(out).tangent
    return torch.zeros_like(out) if derivative is None else derivative


def _vjp_row(output: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """One reverse pass: d output / d leaf (zeros where the output does not depend on it)."""
    if not output.requires_grad:
        return torch.zeros_like(leaf)
    (grad,) = torch.autograd.grad(output, leaf, retain_graph=True, materialize_grads=True)
    return grad


@dataclass(frozen=True)
class NestedReverse:
    """f, f', ... by nested reverse mode, with what each order's graph holds.

    Attributes:
        derivatives: [f, f', ...] at the points.
        nodes: the autograd nodes reachable from each (0: it has no graph).
        graphed: whether each still has a graph (requires grad), so it can be differentiated.
        seconds: the time to reach each order, from the start.
    """

    derivatives: list[torch.Tensor]
    nodes: list[int]
    graphed: list[bool]
    seconds: list[float]


def nested_reverse(f, x, order: int) -> NestedReverse:
    """[f, f', ...] by nested reverse mode, with their graphs' sizes and the time taken."""
    started = time.perf_counter()
    outputs, seconds = [], []
    for output in reverse.graphed_derivatives(f, x.clone().requires_grad_(True), order):
        outputs.append(output)
        seconds.append(time.perf_counter() - started)
    nodes = [count_nodes(output) for output in outputs]
    graphed = [bool(output.requires_grad) for output in outputs]
    return NestedReverse(outputs, nodes, graphed, seconds)


def taylor_mode(expression, x, order: int) -> list[tuple[int, int, float]]:
    """(order, operations per point, seconds) of the Taylor-mode engine at each order; each
    order is run once untimed first, so the time is of a warm run."""
    rows = []
    for k in range(1, order + 1):
        taylor.derivatives(expression, [x], k)
        started = time.perf_counter()
        taylor.derivatives(expression, [x], k)
        rows.append((k, taylor.work(expression, k), time.perf_counter() - started))
    return rows


def careful_nodes(expression: Expression, x0: float) -> list[tuple[str, list[str], list[str]]]:
    """(function, nodes its careful formulation records, nodes torch's own function of that
    name records, or [] where torch has none) for each careful operation of the expression
    that records other nodes than torch's own, applied at x0 to its inputs as the expression
    gives them (constants as 0-d tensors, as the engines pass them)."""
    x = torch.tensor([x0], dtype=torch.float64)
    values = evaluate_nodes(expression, [x])
    depends = expression.depends
    found = []
    for node in expression.nodes:
        op = OPS.get(node.op)
        if op is None or op.kind != "careful":
            continue
        leaves = [
            values[j].detach().clone().requires_grad_(True) if depends[j] else values[j].detach()
            for j in node.args
        ]
        careful = _recorded(op.compute(*leaves))
        own_function = getattr(torch, node.op, None)
        own = [] if own_function is None else _recorded(own_function(*leaves))
        if _overloads(careful) != _overloads(own) and (node.op, careful, own) not in found:
            found.append((node.op, careful, own))
    return found


def _overloads(names: list[str]) -> list[str]:
    """Node names without torch's overload number: PowBackward0 (a number exponent) and
    PowBackward1 (a tensor one) record the same operation."""
    return [name.rstrip("0123456789") for name in names]


def _recorded(y: torch.Tensor) -> list[str]:
    """The distinct autograd node names reachable from y, root first, AccumulateGrad left out."""
    names: list[str] = []
    for visit in walk(y):
        name = node_name(visit.node)
        if visit.first and name != "AccumulateGrad" and name not in names:
            names.append(name)
    return names
