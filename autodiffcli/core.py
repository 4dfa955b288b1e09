"""The autograd core: tensors in, tensors out. It never prints and never imports the CLI.

For an elementwise f, the Jacobian of y = f(x) is diagonal, so the gradient of sum(y) with
respect to x is exactly f'(x_i) at every point: one reverse pass gives the whole column.
Higher orders repeat this on the previous derivative, with ``create_graph=True``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import torch

from autodiffcli import run
from autodiffcli.devices import check_name
from autodiffcli.errors import BudgetError, DeviceError

DTYPES = {name: getattr(torch, name) for name in run.DTYPES}  # the choices: run.DTYPES
# Tensor elements that one chunk's autograd graphs may hold: about 200 MB in float64.
GRAPH_ELEMENTS = 1 << 24
MIN_CHUNK_POINTS = 16
# Points per chunk: large enough that per-chunk overhead and the writer's start-up per call
# vanish (measured: 1<<18 gave 7.9 M rows/s, 1<<20 9.7 M), small enough that a chunk and its
# autograd graph stay near 100 MB whatever the table's length.
CHUNK_POINTS = 1 << 20


def column_names(order: int) -> list[str]:
    """``x, f, df, d2f, ...`` for derivatives up to ``order``."""
    names = ["x", "f"]
    if order >= 1:
        names.append("df")
    names.extend(f"d{k}f" for k in range(2, order + 1))
    return names


def derivatives(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, order: int):
    """[f(x), f'(x), ..., f^(order)(x)] for an elementwise ``f``, each shaped like ``x``.

    A derivative that no longer depends on x (f = 3, or x**2 at order 3) is all zeros.
    """
    if order == 0:
        with torch.no_grad():
            return [f(x)]
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = [f(x)]
        for k in range(1, order + 1):
            outputs.append(next_derivative(outputs[-1], x, create_graph=k < order))
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


def derivative_chunks(
    f: Callable[[torch.Tensor], torch.Tensor],
    x_chunks: Iterator[torch.Tensor],
    order: int,
) -> Iterator[list[torch.Tensor]]:
    """For each chunk of points, the columns [x, f, f', ...]; memory is bounded by one chunk."""
    for x in x_chunks:
        yield [x, *derivatives(f, x, order)]


@contextlib.contextmanager
def one_compute_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, compute with one thread so that a writer thread has the other core.

    Measured on 2 cores: 11.4-12.2 M rows/s pipelined this way against 9.8-10.1 M rows/s
    computing and writing in turn.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def count_nonfinite(columns: list[torch.Tensor]) -> list[int]:
    """How many NaN or infinite values each column holds."""
    return [_count_nonfinite(column) for column in columns]


def _count_nonfinite(column: torch.Tensor) -> int:
    # A finite sum proves every value finite, at a tenth of the cost of counting; only a
    # non-finite sum (a NaN, an inf, or an overflow of large values) pays for the count.
    if torch.isfinite(column.sum()):
        return 0
    return int((~torch.isfinite(column)).sum())


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name``; a clear error if this torch build cannot provide it."""
    check_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        return _cuda_device(name)
    if name == "mps" and not _mps_available():
        raise DeviceError(
            f"--device mps is not available in this torch build ({torch.__version__}); "
            "use --device cpu"
        )
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype for ``name``; MPS has no float64."""
    dtype = DTYPES[name]
    if device.type == "mps" and dtype == torch.float64:
        raise DeviceError("--device mps does not support float64; add --dtype float32")
    return dtype


def _cuda_device(name: str) -> torch.device:
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}"
        reason = "a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        raise DeviceError(f"--device {name} needs CUDA, but {build} is {reason}; use --device cpu")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(
            f"--device {name}: only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})"
        )
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


DEEP_STACK_BYTES = 512 * 2**20


def on_deep_stack(function: Callable, *args):
    """function(*args) on a thread with a 512 MB stack (address space; pages are used only
    as touched). Freeing a graph whose nodes Python has walked recurses in C++ once per level:
    at order 10 that is hundreds of thousands of levels, and the 8 MB main stack overflows
    (a segfault, seen with explain -k 10)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    previous = threading.stack_size(DEEP_STACK_BYTES)
    try:
        thread = threading.Thread(target=run, name="autodiff-graph", daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def count_nodes(y: torch.Tensor) -> int:
    """Distinct autograd nodes reachable from y.grad_fn (0 for a constant), by the one walker."""
    from autodiffcli.graphs import count_nodes as walked_count

    return walked_count(y)


def graphed_derivatives(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, order: int):
    """[f(x), f'(x), ..., f^(order)(x)] for a leaf ``x`` that requires grad, every one with its
    graph kept (create_graph=True), so each can be differentiated again or inspected."""
    with torch.enable_grad():
        outputs = [f(x)]
        for _ in range(order):
            outputs.append(next_derivative(outputs[-1], x, create_graph=True))
    return outputs


# Measured on the 190-level sin nest: about 900 bytes and 12 microseconds per autograd node.
NODE_BYTES = 1000
# The largest graph the reverse engine may build: about 0.5 GB and 6 s to build, per chunk.
MAX_GRAPH_NODES = 500_000
# Node visits a whole reverse-mode job may make (graph size x chunks): about a minute.
MAX_GRAPH_WORK = 5_000_000


def graph_nodes(
    f: Callable[[torch.Tensor], torch.Tensor],
    order: int,
    dtype,
    device,
    max_nodes: int | None = None,
) -> int:
    """Nodes in the largest graph that computing ``order`` derivatives keeps alive, probed on
    one point order by order. Graphs grow 3-4x per order, so the probe stops (BudgetError)
    before building a graph it predicts to exceed ``max_nodes`` (default MAX_GRAPH_NODES): it
    never builds much more."""
    max_nodes = MAX_GRAPH_NODES if max_nodes is None else max_nodes
    x = torch.ones(1, dtype=dtype, device=device, requires_grad=True)
    with torch.enable_grad():
        y = f(x)
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


def _check_graph_work(nodes: int, points: int, chunk: int) -> None:
    chunks = -(-points // chunk)
    if chunks > 1 and nodes * chunks > MAX_GRAPH_WORK:
        raise BudgetError(
            f"repeated reverse mode would rebuild a graph of {nodes:,} nodes for each of "
            f"{chunks:,} chunks of points (minutes of work); use {{opt.method}}=taylor, fewer "
            "points, or a lower {opt.order}",
            parameter="order",
        )


def table_chunks(
    expression,
    grid,
    order: int,
    device,
    dtype,
    chunk_points: int | None = None,
    *,
    method: str = "reverse",
    max_memory: int | None = None,
):
    """Columns [x, f, f', ...] of ``expression`` over ``grid``, one chunk of points at a time.

    This is the one path from (expression, grid) to numbers that derive, plot and explain share.
    ``method`` is "reverse" (repeated autograd) or "taylor" (one Taylor-mode pass). Without
    ``chunk_points``, the chunk size comes from the engine's memory per point and
    ``max_memory``, so memory stays bounded at any order; a job over budget raises BudgetError
    before any work.
    """
    if method == "taylor":
        return _taylor_chunks(expression, grid, order, device, dtype, chunk_points, max_memory)
    from autodiffcli.expr import evaluate

    def f(x: torch.Tensor) -> torch.Tensor:
        return evaluate(expression, x)

    if chunk_points is None:
        nodes = on_deep_stack(graph_nodes, f, order, dtype, device)
        chunk_points = chunk_points_for(nodes, max_memory, dtype.itemsize)
        _check_graph_work(nodes, len(grid), chunk_points)
    return derivative_chunks(f, grid.chunks(chunk_points, dtype, device), order)


def _taylor_chunks(expression, grid, order, device, dtype, chunk_points, max_memory):
    from autodiffcli import taylor

    if chunk_points is None:
        per_point = taylor.bytes_per_point(expression, order, dtype)
        budget = GRAPH_ELEMENTS * 8 if max_memory is None else min(GRAPH_ELEMENTS * 8, max_memory)
        chunk_points = max(MIN_CHUNK_POINTS, min(CHUNK_POINTS, budget // max(per_point, 1)))
    for x in grid.chunks(chunk_points, dtype, device):
        yield [x, *taylor.derivatives(expression, x, order)]


def table(
    expression, grid, order: int, device, dtype, *, method: str = "reverse", max_memory=None
) -> list[torch.Tensor]:
    """The whole table in memory (on the CPU), for plots, checks and the Python API."""
    chunks = list(
        table_chunks(expression, grid, order, device, dtype, method=method, max_memory=max_memory)
    )
    return [torch.cat([chunk[i].cpu() for chunk in chunks]) for i in range(order + 2)]
