"""The job layer: one checked job, and the use cases that the CLI and the Python API share.

:func:`prepare` checks everything a job needs in a fixed, fail-fast order (expression, range,
numerics) without importing torch, so every mistake answers at once. The use cases
(:func:`stream_table`, :func:`table`, :func:`tangents`, :func:`taylor_series`, :func:`check`,
:func:`lesson`) then run the job through the core; they never print.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from autodiffcli import devices, expr
from autodiffcli import grid as grids
from autodiffcli.errors import BudgetError, GridError, OptionError

# ----- The choices, each listed once (the CLI builds its enums and completions from these) -----
METHODS = ("auto", "reverse", "taylor")
DTYPES = ("float64", "float32")
DEVICES = ("cpu", "auto", "cuda", "mps")  # and cuda:N
EXPLAIN_FORMATS = ("text", "markdown", "json")
# Repeated reverse mode grows the graph about 3-4x per order; past 10 it is hopeless.
REVERSE_MAX_ORDER = 10
MAX_ORDER = 30  # the Taylor engine's: values overflow to inf long before cost matters
# `auto` keeps autograd's reverse mode at order <= this (the mission's method), Taylor above:
# measured in bench/RESULTS.md, Taylor is faster from order 2 on.
AUTO_REVERSE_UP_TO = 1
MAX_EXPLAIN_POINTS = 20


def default_max_memory() -> int:
    """A quarter of this machine's memory: room for the job beside everything else."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 2 << 30


@dataclass(frozen=True)
class Job:
    """A checked job: what to differentiate, where, to which order, and by which engine."""

    expression: expr.Expression
    grid: grids.Grid
    order: int = 1
    method: str = "reverse"  # resolved: "reverse" or "taylor", never "auto"
    device: str = "cpu"
    dtype: str = "float64"
    max_memory: int = 2 << 30

    def __repr__(self) -> str:
        return (
            f"Job({self.expression.text!r}, {self.grid!r}, order={self.order}, "
            f"method={self.method!r}, device={self.device!r}, dtype={self.dtype!r})"
        )


def prepare(
    expression: str = "sin(x)",
    x=None,
    *,
    start: float = -5.0,
    stop: float = 5.0,
    step: float | None = None,
    num: int | None = None,
    input_path: str | None = None,
    max_points: float = grids.DEFAULT_MAX_POINTS,
    order: int = 1,
    method: str = "auto",
    device: str = "cpu",
    dtype: str = "float64",
    max_memory: float | None = None,
    default_num: int | None = None,
) -> Job:
    """Check everything a job needs, cheapest first, without importing torch.

    Order: the expression, the range (or the points ``x``), then order, method, device, dtype
    and the memory budget. Raises the errors of :mod:`autodiffcli.errors`.
    """
    parsed = expr.parse(expression)
    limit = check_max_points(max_points)
    if x is not None:
        grid = grids.from_values(x, limit)
    else:
        grid = grids.build(start, stop, step, num, input_path, limit, default_num=default_num)
    resolved = resolve_method(method, order)
    devices.check_name(device)
    check_choice("dtype", dtype, DTYPES)
    check_representable(grid, dtype)
    return Job(parsed, grid, order, resolved, device, dtype, check_max_memory(max_memory))


def check_choice(parameter: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise OptionError(
            f"{{opt.{parameter}}} must be one of {', '.join(choices)}, got {value!r}",
            parameter=parameter,
            value=value,
        )
    return value


# The largest finite value of each dtype (float64's is any finite Python float).
DTYPE_MAX = {"float64": math.inf, "float32": 3.4028234663852886e38}


def check_representable(grid: grids.Grid, dtype: str) -> None:
    """Every point must be finite in ``dtype``: 1e300 becomes inf in float32."""
    if grid.values is not None:
        biggest = float(abs(grid.values).max())
    else:
        last = grid.last if grid.last is not None else grid.start + (grid.count - 1) * grid.step
        biggest = max(abs(grid.start), abs(last))
    if biggest > DTYPE_MAX[dtype]:
        raise GridError(
            f"x reaches {biggest:.3g}, beyond {dtype}'s largest value {DTYPE_MAX[dtype]:.3g}; "
            "use {opt.dtype}=float64 or a narrower range",
            parameter="dtype",
            value=dtype,
        )


def check_max_points(value: float) -> int:
    if not (isinstance(value, (int, float)) and value >= 1 and math.isfinite(value)):
        raise GridError(
            f"{{opt.max_points}} must be a finite number >= 1, got {value}",
            parameter="max_points",
            value=value,
        )
    return int(min(value, 2**62))


def check_max_memory(value: float | None) -> int:
    if value is None:
        return default_max_memory()
    if not (value >= 1 << 20 and math.isfinite(value)):
        raise OptionError(
            f"{{opt.max_memory}} must be at least 1 MB (1e6 bytes), got {value:g}",
            parameter="max_memory",
            value=value,
        )
    return int(value)


def resolve_method(method: str, order: int) -> str:
    """The engine for ``order``: ``auto`` is reverse mode at order 1, Taylor mode above."""
    check_choice("method", method, METHODS)
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        raise OptionError(
            f"{{opt.order}} must be a whole number from 0 to {MAX_ORDER}, got {order!r}",
            parameter="order",
            value=order,
        )
    if method == "auto":
        return "reverse" if order <= AUTO_REVERSE_UP_TO else "taylor"
    if method == "reverse" and order > REVERSE_MAX_ORDER:
        raise OptionError(
            f"{{opt.method}}=reverse goes up to order {REVERSE_MAX_ORDER} (its graph grows "
            f"about 4x per order); for order {order} use {{opt.method}}=taylor",
            parameter="order",
            value=order,
        )
    return method


def check_explain_points(job: Job) -> None:
    if len(job.grid) > MAX_EXPLAIN_POINTS:
        raise GridError(
            f"explain prints {len(job.grid)}x{len(job.grid)} Jacobians; use at most "
            f"{MAX_EXPLAIN_POINTS} points (e.g. {{opt.num}}=5)",
            parameter="num",
            value=len(job.grid),
        )


def check_table_output(path: str | None, fmt: str | None, parameter: str = "output") -> str:
    """The table format for ``path`` (stdout when None or '-'), after checking the path."""
    from autodiffcli import writers

    if fmt is not None:
        check_choice("fmt", fmt, writers.FORMATS)
    if path is not None and path != "-":
        writers.check_output_path(path, parameter)
    return writers.choose_format(path, fmt)


def check_finite_points(parameter: str, values: Sequence[float] | float | None) -> None:
    """Points such as --tangent-at or --trace must be finite; checked before any work."""
    for value in [values] if isinstance(values, (int, float)) else values or ():
        if not math.isfinite(value):
            raise OptionError(
                f"{{opt.{parameter}}} must be a finite number, got {value}",
                parameter=parameter,
                value=value,
            )


# ----- Use cases (these import torch) -----


def target(job: Job):
    """(torch device, torch dtype) for the job: the first step that imports torch."""
    from autodiffcli import core

    device = core.resolve_device(job.device)
    return device, core.resolve_dtype(job.dtype, device)


def column_names(job: Job) -> list[str]:
    from autodiffcli import core

    return core.column_names(job.order)


def chunks(job: Job, device, dtype) -> Iterator[list]:
    """Column tensors [x, f, f', ...] chunk by chunk, within the job's memory budget."""
    from autodiffcli import core

    return core.table_chunks(
        job.expression,
        job.grid,
        job.order,
        device,
        dtype,
        method=job.method,
        max_memory=job.max_memory,
    )


def stream_table(job: Job, writer, advance: Callable[[int], None] = lambda n: None) -> list[int]:
    """Compute the table chunk by chunk into ``writer`` (a writers.TableWriter) while a thread
    writes the previous chunk; returns the count of non-finite values per column."""
    from autodiffcli import core, writers

    device, dtype = target(job)
    counts = [0] * (job.order + 2)
    with writers.background(writer) as background, core.one_compute_thread(device):
        for columns in chunks(job, device, dtype):
            counts = [a + b for a, b in zip(counts, core.count_nonfinite(columns), strict=True)]
            background.write([column.cpu().numpy() for column in columns])
            advance(len(columns[0]))
    return counts


def iter_table(job: Job) -> Iterator[dict]:
    """The table as an iterator of chunks, each a dict of numpy columns (x, f, df, ...)."""
    device, dtype = target(job)
    names = column_names(job)
    for columns in chunks(job, device, dtype):
        yield {name: c.cpu().numpy() for name, c in zip(names, columns, strict=True)}


def table(job: Job) -> dict:
    """The whole table in memory, as numpy columns keyed x, f, df, d2f, ..."""
    import numpy as np

    parts = list(iter_table(job))
    return {name: np.concatenate([part[name] for part in parts]) for name in column_names(job)}


def at_points(job: Job, points: Sequence[float], **changes) -> Job:
    """The same job on the given points (and any other ``changes``): tangents, series."""
    return dataclasses.replace(job, grid=grids.from_values(list(points), len(points)), **changes)


def tangents(job: Job, points: Sequence[float]) -> list[tuple[float, float, float]]:
    """(x0, f(x0), f'(x0)) at each point, by autograd's reverse mode as at order 1."""
    if not points:
        return []
    columns = table(at_points(job, points, order=1, method="reverse"))
    return list(zip(*(columns[name].tolist() for name in ("x", "f", "df")), strict=True))


def taylor_series(job: Job, points: Sequence[float]) -> dict:
    """The Taylor series of f around each point, up to the job's order, in one pass of its
    engine: columns x0, k, f^(k)(x0)/k! and f^(k)(x0), one row per (x0, k)."""
    import numpy as np

    sub = at_points(job, points)
    columns = table(sub)
    derivatives = np.stack([columns[name] for name in column_names(sub)[1:]], axis=1)
    factorials = np.array([math.factorial(k) for k in range(job.order + 1)], dtype=np.float64)
    return {
        "x0": np.repeat(np.asarray(points, dtype=np.float64), job.order + 1),
        "k": np.tile(np.arange(job.order + 1, dtype=np.int64), len(points)),
        "coefficient": (derivatives / factorials).ravel(),
        "derivative": derivatives.ravel(),
    }


@dataclass(frozen=True)
class CheckOutcome:
    """What --check found: the report to show and, if it failed, the one-line reason."""

    report: str
    failure: str | None


# --check's default (rtol, atol) per dtype.
TOLERANCES = {"float64": (1e-10, 1e-12), "float32": (1e-4, 1e-5)}


def check_tolerances(
    dtype: str, rtol: float | None, atol: float | None, timeout: float | None = None
) -> tuple[float, float, float | None]:
    """(rtol, atol, timeout) for --check, refused before any work if negative or not finite."""
    for name, value in (("rtol", rtol), ("atol", atol), ("check_timeout", timeout)):
        if value is not None and not (value >= 0 and math.isfinite(value)):
            raise OptionError(
                f"{{opt.{name}}} must be a finite number >= 0, got {value}",
                parameter=name,
                value=value,
            )
    defaults = TOLERANCES[dtype]
    return (
        defaults[0] if rtol is None else rtol,
        defaults[1] if atol is None else atol,
        timeout,
    )


def check(job: Job, rtol: float, atol: float, timeout: float | None = None) -> CheckOutcome:
    """Compare a bounded sample of the job's table with the symbolic and numerical references."""
    from autodiffcli import verify

    device, dtype = target(job)
    rows = verify.check_grid(
        job.expression,
        job.grid,
        job.order,
        device,
        dtype,
        rtol,
        atol,
        method=job.method,
        timeout=verify.DEFAULT_TIMEOUT if timeout is None else timeout,
    )
    report = verify.render(rows, rtol, atol, method=job.method)
    return CheckOutcome(report, verify.failure_message(rows))


@dataclass(frozen=True)
class Written:
    """What a table write produced: column names, non-finite counts per column, rows."""

    names: list[str]
    counts: list[int]
    rows: int


def write_table(
    job: Job,
    sink: tuple,
    fmt: str,
    header: bool = True,
    taylor_at: Sequence[float] | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> Written:
    """derive's table, or with ``taylor_at`` its Taylor coefficients, to ``sink`` (the
    (binary stream, name) pair of writers.output_stream) in format ``fmt``."""
    from autodiffcli import writers

    def writer_for(names: list[str]):
        return writers.TableWriter(sink[0], fmt, names, header, sink[1])

    if taylor_at:
        series = taylor_series(job, taylor_at)
        names, columns = list(series), list(series.values())
        writer = writer_for(names)
        writer.write(columns)
        writer.close()
        return Written(names, [0] * len(names), len(columns[0]))
    names = column_names(job)
    return Written(names, stream_table(job, writer_for(names), advance), len(job.grid))


# ----- plot -----


@dataclass(frozen=True)
class FigureRequest:
    """What `plot` should draw and where; checked by :func:`check_figure` before any work."""

    output: str = "plot.png"
    csv_path: str | None = None
    title: str | None = None
    width: float = 6.4
    height: float = 4.8
    dpi: float = 150.0
    tangent_at: Sequence[float] | None = ()
    taylor_at: Sequence[float] | None = ()
    ylim: tuple[float, float] | None = None
    panels: bool | None = None
    reference: bool = False
    terminal: bool = False
    show: bool = False

    @property
    def file(self) -> str | None:
        """The image file to write; None when drawing in the terminal or a window."""
        return None if self.terminal or self.show else self.output


@dataclass(frozen=True)
class DrawnFigure:
    """What `plot` made: terminal text (if any), column names and their non-finite counts."""

    text: str | None
    names: list[str]
    counts: list[int]


def check_figure(request: FigureRequest) -> None:
    """Paths, format, size, limits and points of a figure, before torch or matplotlib load."""
    from autodiffcli import plotting, writers

    if request.csv_path is not None:
        writers.check_output_path(request.csv_path, "csv_path")
        writers.choose_format(request.csv_path, None)
    if request.file is not None:
        writers.check_output_path(request.file, "output")
        plotting.image_format(request.file)
        plotting.check_size(request.width, request.height, request.dpi)
    if request.show:
        plotting.check_display()
    check_finite_points("tangent_at", request.tangent_at)
    check_finite_points("taylor_at", request.taylor_at)
    plotting.check_ylim(request.ylim)
    plotting.check_title(request.title)


def draw(job: Job, request: FigureRequest) -> DrawnFigure:
    """Compute the table and draw it: to a file, a window, or terminal text."""
    from autodiffcli import core, plotting, writers

    device, dtype = target(job)
    tensors = core.table(
        job.expression,
        job.grid,
        job.order,
        device,
        dtype,
        method=job.method,
        max_memory=job.max_memory,
    )
    counts = core.count_nonfinite(tensors)
    columns = [column.numpy() for column in tensors]
    names = column_names(job)
    if request.csv_path is not None:
        fmt = writers.choose_format(request.csv_path, None)
        writers.write_table(request.csv_path, fmt, names, columns)
    if request.terminal:
        text = plotting.terminal_plot(columns, job.expression.text, request.title)
        return DrawnFigure(text, names, counts)
    # With Taylor polynomials the picture is f and its series: derivative curves would crowd it.
    figure = plotting.plot_figure(
        columns[:2] if request.taylor_at else columns,
        job.expression.text,
        parsed=job.expression,
        title=request.title,
        width=request.width,
        height=request.height,
        dpi=request.dpi,
        tangents=tuple(plotting.Tangent(*row) for row in tangents(job, request.tangent_at or ())),
        taylor=taylor_polynomials(job, request.taylor_at or ()),
        reference=_symbolic_columns(job, columns[0]) if request.reference else None,
        ylim=request.ylim,
        panels=request.panels,
        interactive=request.show,
    )
    if request.show:
        plotting.show_figure()
    else:
        plotting.save_figure(figure, request.file, plotting.image_format(request.file), request.dpi)
    return DrawnFigure(None, names, counts)


def taylor_polynomials(job: Job, points: Sequence[float]) -> list:
    """plot --taylor-at: the Taylor series of f at each point, up to the job's order."""
    from autodiffcli import plotting

    if not points:
        return []
    rows = taylor_series(job, points)["derivative"].reshape(len(points), job.order + 1)
    return [
        plotting.TaylorSeries.from_derivatives(x0, row.tolist())
        for x0, row in zip(points, rows, strict=True)
    ]


def _symbolic_columns(job: Job, xs) -> list:
    from autodiffcli import verify

    return verify.symbolic_columns(job.expression, xs, job.order)


# ----- explain -----


def _function_of(job: Job) -> Callable:
    from autodiffcli.expr import evaluate

    return lambda x: evaluate(job.expression, x)


@dataclass(frozen=True)
class LessonRequest:
    """What `explain` should add to the lesson, and whether it may move undefined points."""

    trace_at: float | None = None
    dot: str | None = None
    graph: str | None = None
    move_undefined: bool = True


def check_lesson(job: Job, request: LessonRequest) -> None:
    """Points, trace point and output paths of a lesson, before torch loads."""
    from autodiffcli import graphs, writers

    check_explain_points(job)
    if request.trace_at is not None:
        check_finite_points("trace_at", request.trace_at)
    if request.dot is not None:
        writers.check_output_path(request.dot, "dot")
    if request.graph is not None:
        writers.check_output_path(request.graph, "graph")
        graphs.check_picture_path(request.graph)


def lesson(job: Job, request: LessonRequest):
    """The explain report for the job, with its trace, DOT file and graph picture.

    On the default points (``move_undefined``), a point where f or f' is not finite moves to
    a finite one nearby, and the lesson says which and why.
    """
    import functools

    import torch

    from autodiffcli import core, writers
    from autodiffcli import explain as lessons

    device, dtype = target(job)
    # The lesson builds autograd's nested graphs up to the order: refuse one too large first.
    try:
        core.on_deep_stack(core.graph_nodes, _function_of(job), job.order + 1, dtype, device)
    except BudgetError:
        raise BudgetError(
            f"explain builds autograd's nested graph for every order, and order {job.order} of "
            f"this expression needs more than {core.MAX_GRAPH_NODES:,} nodes; use a lower "
            "{opt.order}",
            parameter="order",
            value=job.order,
        ) from None
    x = job.grid.points(0, len(job.grid), dtype, device)
    notes: list[str] = []
    if request.move_undefined:
        points = x.tolist()
        chosen = lessons.default_points(job.expression, points[0], points[-1], len(points))
        x, notes = torch.tensor(chosen.points, dtype=dtype, device=device), chosen.notes
    explain = functools.partial(lessons.explain, trace_at=request.trace_at, notes=notes)
    report = core.on_deep_stack(explain, job.expression, x, job.order)
    if request.dot is not None:
        writers.write_text(request.dot, lessons.tape_dot(job.expression, request.trace_at))
    if request.graph is not None:
        lessons.save_graph_picture(job.expression, request.graph, request.trace_at)
    return report
