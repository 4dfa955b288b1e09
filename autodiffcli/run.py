"""The job layer's use cases, shared by the CLI and the Python API: each runs a checked
:class:`~autodiffcli.problem.Problem` (from :func:`autodiffcli.job.prepare`) through the engines
and the services, and returns data; none prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from autodiffcli import domain as domains
from autodiffcli.errors import AutodiffError, BudgetError, GridError, OptionError, printable
from autodiffcli.job import (
    NOISE_AT_ZERO,
    SUBNORMAL_STEPS,
    check_explain_points,
    check_finite_points,
)
from autodiffcli.limits import DEFAULT_CHECK_POINTS
from autodiffcli.problem import Problem


def target(problem: Problem):
    """The torch Target (device, dtype) of the problem: the first step that imports torch."""
    from autodiffcli.engines import environment

    return environment.target(problem.device, problem.dtype)


def column_names(problem: Problem) -> list[str]:
    from autodiffcli.engines import compute

    return compute.column_names(problem)


@dataclass(frozen=True)
class Streamed:
    """What streaming a table did: non-finite counts per column, rows written, and the
    error that ended a streamed input early, a bad line or a budget (None if it ran to the
    end)."""

    counts: list[int]
    rows: int
    stopped: AutodiffError | None = None


def stream_table(
    problem: Problem, writer, advance: Callable[[int], None] = lambda n: None, seen=None
) -> Streamed:
    """Compute the table chunk by chunk into ``writer`` (a writers.TableWriter) while a thread
    writes the previous chunk; ``seen`` (a verify.RunningSample) is offered each chunk's x.

    A bad line in a streamed input, or a budget it goes over, ends the table after the rows
    before it, which are all written; the caller decides what becomes of them
    (Streamed.stopped).
    """
    from autodiffcli import writers
    from autodiffcli.engines import compute, environment

    where = target(problem)
    if writer.fmt == "parquet":
        # Parquet's encoder keeps more memory than the text writers, which brought 1e8 rows
        # to 416-449 MB of peak RSS; this takes it to 346 MB for ~10% more time.
        environment.return_large_blocks()
    counts, rows, stopped = [0] * len(column_names(problem)), 0, None
    with writers.background(writer) as background, environment.one_compute_thread(where.device):
        chunks = compute.chunks(problem, where)
        while True:
            try:
                columns = next(chunks, None)
            except (GridError, BudgetError) as error:  # a bad line, or a stream over budget
                if not problem.domain.streamed:
                    raise
                stopped = error
                break
            if columns is None:
                break
            nonfinite = compute.count_nonfinite(columns)
            counts = [a + b for a, b in zip(counts, nonfinite, strict=True)]
            arrays = [column.cpu().numpy() for column in columns]
            background.write(arrays)
            if seen is not None:
                seen.add(arrays[0])
            rows += len(arrays[0])
            advance(len(arrays[0]))
    return Streamed(counts, rows, stopped)


def iter_table(problem: Problem) -> Iterator[dict]:
    """The table as an iterator of chunks, each a dict of numpy columns (x, f, df, ...)."""
    from autodiffcli.engines import compute

    names = column_names(problem)
    for columns in compute.chunks(problem, target(problem)):
        yield {name: c.cpu().numpy() for name, c in zip(names, columns, strict=True)}


def table(problem: Problem) -> dict:
    """The whole table in memory, as numpy columns keyed x, f, df, d2f, ..."""
    import numpy as np

    parts = list(iter_table(problem))
    return {name: np.concatenate([part[name] for part in parts]) for name in column_names(problem)}


def at_points(problem: Problem, points, **changes) -> Problem:
    """The same problem on the given points (and any other ``changes``): tangents, series,
    checks. ``points`` is a sequence of x values for one variable, or for several a mapping
    of each variable to its values (scattered points: one row per index)."""
    if not isinstance(points, dict):
        points = {problem.free[0]: list(points)}
    count = len(next(iter(points.values())))
    axes, together = [], []
    for i, (name, axis) in enumerate(zip(problem.domain.names, problem.domain.axes, strict=True)):
        if name in problem.parameters:
            axes.append(axis)
        else:
            axes.append(domains.from_values(list(points[name]), count))
            together.append(i)
    factors = [tuple(together)] + [(i,) for i in range(len(axes)) if i not in together]
    factors.sort(key=min)
    domain = domains.Domain(problem.domain.names, tuple(axes), tuple(factors))
    return dataclasses.replace(problem, domain=domain, **changes)


def tangents(problem: Problem, points: Sequence[float]) -> list[tuple[float, float, float]]:
    """(x0, f(x0), f'(x0)) at each point, by autograd's reverse mode as at order 1."""
    if not points:
        return []
    columns = table(at_points(problem, points, order=1, method="reverse"))
    return list(zip(*(columns[name].tolist() for name in column_names(problem)[:3]), strict=True))


def taylor_series(problem: Problem, points: Sequence[float]) -> dict:
    """The Taylor series of f around each point, up to the problem's order, in one pass of its
    engine: columns x0, k, f^(k)(x0)/k! and f^(k)(x0), one row per (x0, k)."""
    import numpy as np

    sub = at_points(problem, points)
    columns = table(sub)
    derivatives = np.stack([columns[name] for name in column_names(sub)[1:]], axis=1)
    factorials = np.array([math.factorial(k) for k in range(problem.order + 1)], dtype=np.float64)
    return {
        "x0": np.repeat(np.asarray(points, dtype=np.float64), problem.order + 1),
        "k": np.tile(np.arange(problem.order + 1, dtype=np.int64), len(points)),
        "coefficient": (derivatives / factorials).ravel(),
        "derivative": derivatives.ravel(),
    }


def taylor_terms(problem: Problem, points: Sequence[dict]) -> dict:
    """The multivariate Taylor series of f around each point, up to the problem's order:
    columns x0, y0, ..., k, power_x, power_y, ..., coefficient d^i f / i! and derivative
    d^i f, one row per (point, multi-index i), each order's terms in canonical order."""
    import numpy as np

    from autodiffcli import partials

    wrt = problem.wrt_indices
    names = problem.expression.variables
    plan = partials.plan(names, problem.outputs, problem.order, wrt)
    sub = at_points(problem, {n: [p[n] for p in points] for n in problem.free})
    columns = table(dataclasses.replace(sub, shortcuts=partials.NO_SHORTCUTS))
    out: dict[str, list] = {f"{n}0": [] for n in problem.free}
    out["k"] = []
    out.update({f"power_{names[i]}": [] for i in wrt})
    if problem.outputs > 1:
        out["component"] = []
    out["coefficient"], out["derivative"] = [], []
    for row, point in enumerate(points):
        for column in plan.columns:
            partial = column.single
            value = float(columns[column.name][row])
            for n in problem.free:
                out[f"{n}0"].append(point[n])
            out["k"].append(partial.order)
            for i in wrt:
                out[f"power_{names[i]}"].append(partial.counts[i])
            if problem.outputs > 1:
                out["component"].append(partial.output + 1)
            scale = math.prod(math.factorial(c) for c in partial.counts)
            out["coefficient"].append(value / scale)
            out["derivative"].append(value)
    integers = {"k", "component", *(f"power_{names[i]}" for i in wrt)}
    return {
        name: np.asarray(values, dtype=np.int64 if name in integers else np.float64)
        for name, values in out.items()
    }


@dataclass(frozen=True)
class CheckOutcome:
    """What --check found: the report to show and, if it failed, the one-line reason."""

    report: str
    failure: str | None


def check_sample(problem: Problem, points: int | None = DEFAULT_CHECK_POINTS):
    """What --check needs to see while a streamed table is written: a verify.RunningSample of
    ``points`` rows (None: all, as many as the memory budget holds); None for other domains,
    whose rows --check reads back."""
    from autodiffcli import verify

    if not problem.domain.streamed:
        return None
    return verify.RunningSample(points, problem.max_memory // 4 // 8)


def check(
    problem: Problem,
    rtol: float,
    atol: float,
    timeout: float | None = None,
    points: int | None = DEFAULT_CHECK_POINTS,
    seen=None,
) -> CheckOutcome:
    """Compare a sample of ``points`` rows of the table (None: all) with the symbolic and
    numerical references; for a streamed table, the sample ``seen`` while it was written."""
    from autodiffcli import verify
    from autodiffcli.engines import compute

    if seen is not None:
        xs = seen.points()
    else:
        xs = problem.domain.take(verify.sample_indices(len(problem.domain), points))[0]
    sample = at_points(problem, xs)
    columns = [c.numpy().astype("float64") for c in compute.table(sample, target(problem))]
    zero = NOISE_AT_ZERO[problem.dtype]
    rows = verify.check(
        problem.expression,
        columns,
        problem.order,
        rtol,
        atol + SUBNORMAL_STEPS[problem.dtype],  # the header leaves out this spacing (README)
        timeout=verify.DEFAULT_TIMEOUT if timeout is None else timeout,
        zero=zero,
    )
    report = verify.render(rows, rtol, atol, method=problem.method, zero=zero)
    if seen is not None and seen.capped:
        report = (
            f"every row was asked for, but the streamed input had more than {seen.max_values:,}"
            " rows, more x values than a quarter of the memory budget holds: checked an even "
            f"sample of {len(xs):,}\n{report}"
        )
    return CheckOutcome(report, verify.failure_message(rows))


@dataclass(frozen=True)
class Written:
    """What a table write produced: column names, non-finite counts per column, rows."""

    names: list[str]
    counts: list[int]
    rows: int


def write_table(
    problem: Problem,
    sink: tuple,
    fmt: str,
    header: bool = True,
    taylor_at: Sequence[float] | None = None,
    advance: Callable[[int], None] = lambda n: None,
    seen=None,
) -> Written:
    """derive's table, or with ``taylor_at`` its Taylor coefficients, to ``sink`` (the
    (binary stream, name) pair of writers.output_stream) in format ``fmt``; ``seen`` samples
    a streamed table for --check (see check_sample).

    A bad line of a streamed input raises its GridError once the rows before it are written,
    saying how many went out; a file output is then left as it was by writers.atomic_output.
    """
    from autodiffcli import writers

    def writer_for(names: list[str]):
        return writers.TableWriter(sink[0], fmt, names, header, sink[1])

    if taylor_at:
        several = isinstance(taylor_at[0], dict)
        series = (taylor_terms if several else taylor_series)(problem, taylor_at)
        names, columns = list(series), list(series.values())
        writer = writer_for(names)
        writer.write(columns)
        writer.close()
        return Written(names, [0] * len(names), len(columns[0]))
    names = column_names(problem)
    streamed = stream_table(problem, writer_for(names), advance, seen)
    if streamed.stopped is not None:
        raise _stopped_after(streamed.stopped, streamed.rows, sink[1])
    return Written(names, streamed.counts, streamed.rows)


def _stopped_after(error: AutodiffError, rows: int, name: str) -> AutodiffError:
    """A streamed input's error, with what became of the rows before it (as it is when it
    came before any row: a refusal)."""
    from autodiffcli import writers

    if rows == 0:
        return error
    if name == "stdout" or writers.writes_in_place(name):
        fate = f"the {rows:,} rows before it were written to {printable(name)}"
    else:
        fate = f"{printable(name)} is left as it was"
    return type(error)(f"{error.template}; {fate}", parameter=error.parameter, value=error.value)


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
    yscale: str = "linear"

    @property
    def file(self) -> str | None:
        """The image file to write; None when drawing in the terminal or a window."""
        return None if self.terminal or self.show else self.output


@dataclass(frozen=True)
class DrawnFigure:
    """What `plot` made: terminal text (if any), column names and their non-finite counts,
    and a hint for the user (or None)."""

    text: str | None
    names: list[str]
    counts: list[int]
    hint: str | None = None


def yscale(logy: bool, symlog: bool) -> str:
    """The y scale from --logy and --symlog, which exclude each other."""
    if logy and symlog:
        raise OptionError(
            "{opt.logy} and {opt.symlog} exclude each other: use {opt.logy} for a curve above "
            "0, {opt.symlog} for one that changes sign",
            parameter="symlog",
            value=True,
        )
    return "log" if logy else ("symlog" if symlog else "linear")


def check_figure(request: FigureRequest, dtype: str = "float64") -> None:
    """Paths, format, size, limits and points of a figure, before torch or matplotlib load."""
    from autodiffcli import writers
    from autodiffcli.plotting import files

    if request.csv_path is not None:
        writers.check_output_path(request.csv_path, "csv_path")
        writers.choose_format(request.csv_path, None)
    if request.file is not None:
        writers.check_output_path(request.file, "output")
        files.image_format(request.file)
        files.check_size(request.width, request.height, request.dpi)
    if request.show:
        files.check_display()
    check_finite_points("tangent_at", request.tangent_at, dtype)
    check_finite_points("taylor_at", request.taylor_at, dtype)
    files.check_ylim(request.ylim)
    files.check_yscale(request.yscale, request.ylim)
    files.check_title(request.title)


def draw(problem: Problem, request: FigureRequest) -> DrawnFigure:
    """Compute the table and draw it: to a file, a window, or terminal text.

    A function with no finite value on the range is refused (empty axes would say nothing),
    with the reason at one point and, where one is found, a range where it is defined."""
    import numpy as np

    from autodiffcli import writers
    from autodiffcli.engines import compute
    from autodiffcli.plotting import figure, files, terminal

    names = column_names(problem)
    tensors = _table_and_slope(problem)
    counts = compute.count_nonfinite(tensors[: len(names)])
    columns = [column.numpy() for column in tensors]
    columns, slope = (
        columns[: len(names)],
        (columns[len(names)] if len(columns) > len(names) else None),
    )
    if not np.isfinite(columns[1]).any():
        raise _nowhere_finite(problem, columns[0])
    if request.yscale == "log" and not (columns[1] > 0).any():
        raise OptionError(
            f"f(x) = {problem.expression.text} has no value above 0 on the range, so a log "
            "axis ({opt.logy}) has nothing to draw; use {opt.symlog}",
            parameter="logy",
            value=True,
        )
    if request.csv_path is not None:
        fmt = writers.choose_format(request.csv_path, None)
        writers.write_table(request.csv_path, fmt, names, columns)
    if request.terminal:
        text = terminal.terminal_plot(columns, problem.expression.text, request.title)
        return DrawnFigure(text, names, counts)
    # With Taylor polynomials the picture is f and its series: derivative curves would crowd it.
    drawn = figure.plot_figure(
        columns[:2] if request.taylor_at else columns,
        problem.expression.text,
        parsed=problem.expression,
        title=request.title,
        width=request.width,
        height=request.height,
        dpi=request.dpi,
        tangents=tuple(figure.Tangent(*row) for row in tangents(problem, request.tangent_at or ())),
        taylor=taylor_polynomials(problem, request.taylor_at or ()),
        reference=_symbolic_columns(problem, columns[0]) if request.reference else None,
        ylim=request.ylim,
        panels=request.panels,
        interactive=request.show,
        slope=columns[2] if request.taylor_at and len(columns) > 2 else slope,
        yscale=request.yscale,
    )
    if request.show:
        files.show_figure()
    else:
        count = 1 if request.taylor_at else len(columns) - 1
        text = problem.expression.text
        title = figure.plain_title(text, count, bool(request.taylor_at), request.title)
        about = figure.plain_description(text, count, drawn.axes[0].get_xlim())
        fmt = files.image_format(request.file)
        files.save_figure(drawn, request.file, fmt, request.dpi, title, about)
    return DrawnFigure(None, names, counts, _scale_hint(columns[1], request))


def _table_and_slope(problem: Problem) -> list:
    """The table and, where its engine reaches it within the budget, one more order: the
    plot tells jumps from steep rises with it, and does not draw it."""
    from autodiffcli.engines import compute
    from autodiffcli.job import REVERSE_MAX_ORDER
    from autodiffcli.limits import MAX_ORDER

    top = REVERSE_MAX_ORDER if problem.method == "reverse" else MAX_ORDER
    if problem.order < top:
        with contextlib.suppress(BudgetError):
            return compute.table(
                dataclasses.replace(problem, order=problem.order + 1), target(problem)
            )
    return compute.table(problem, target(problem))


def _scale_hint(f, request: FigureRequest) -> str | None:
    """A hint to use a log axis when f spans so many decades that linear axes flatten it."""
    import numpy as np

    from autodiffcli.plotting import curves

    decades = curves.decades_spanned(f)
    if request.yscale != "linear" or request.ylim or decades <= curves.WIDE_DECADES:
        return None
    scale = "{opt.logy}" if np.nanmin(f) > 0 else "{opt.symlog} (f changes sign or reaches 0)"
    return (
        f"f climbs {decades:.0f} decades above its median, so linear axes draw most of it "
        f"flat at 0; try {scale}"
    )


# Where a function undefined on the whole range is looked for: 0 and +-1, 2, 5 times each
# power of ten from 1e-3 to 1e6.
PROBE_POINTS = sorted(
    {0.0} | {sign * m * 10.0**e for sign in (-1, 1) for m in (1, 2, 5) for e in range(-3, 7)}
)


def _nowhere_finite(problem: Problem, xs) -> GridError:
    """The refusal of a plot whose f has no finite value: why, at the range's middle, and
    a range as wide as the user's from the nearest point where f is finite, if any."""
    import numpy as np

    from autodiffcli.lesson.reasons import why_not_finite
    from autodiffcli.numfmt import fmt

    low, high = float(np.min(xs)), float(np.max(xs))
    middle = float(xs[len(xs) // 2])
    reason = why_not_finite(problem.expression, middle) or "f is not finite there"
    found = table(at_points(problem, PROBE_POINTS, order=0))
    finite = np.asarray(PROBE_POINTS)[np.isfinite(found["f"])]
    text = (
        f"f(x) = {problem.expression.text} has no finite value from x = {fmt(low)} to "
        f"{fmt(high)}, so there is nothing to draw ({reason})"
    )
    if finite.size == 0:
        tried = f"from {fmt(PROBE_POINTS[0])} to {fmt(PROBE_POINTS[-1])}"
        text += f"; nor at any x tried {tried}: check the expression"
    else:
        near = float(finite[np.argmin(np.abs(finite - (low + high) / 2))])
        width = max(high - low, 1.0)
        start, stop = (near, near + width) if near > high else (near - width, near)
        text += f"; it is finite at x = {fmt(near)}: try "
        text += f"{{opt.start}} {fmt(start)} {{opt.stop}} {fmt(stop)}"
    return GridError(text, parameter="start", value=low)


def taylor_polynomials(problem: Problem, points: Sequence[float]) -> list:
    """plot --taylor-at: the Taylor series of f at each point, up to the problem's order."""
    from autodiffcli.plotting import figure

    if not points:
        return []
    rows = taylor_series(problem, points)["derivative"].reshape(len(points), problem.order + 1)
    return [
        figure.TaylorSeries.from_derivatives(x0, row.tolist())
        for x0, row in zip(points, rows, strict=True)
    ]


def _symbolic_columns(problem: Problem, xs) -> list:
    from autodiffcli import verify

    return verify.symbolic_columns(problem.expression, xs, problem.order)


# ----- explain -----


@dataclass(frozen=True)
class LessonRequest:
    """What `explain` should add to the lesson, and whether it may move undefined points."""

    trace_at: float | None = None
    dot: str | None = None
    graph: str | None = None
    move_undefined: bool = True


def check_lesson(problem: Problem, request: LessonRequest) -> None:
    """Points, trace point and output paths of a lesson, before torch loads."""
    from autodiffcli import writers
    from autodiffcli.lesson import picture

    check_explain_points(problem)
    if request.trace_at is not None:
        check_finite_points("trace_at", request.trace_at, problem.dtype)
    if request.dot is not None:
        writers.check_output_path(request.dot, "dot")
    if request.graph is not None:
        writers.check_output_path(request.graph, "graph")
        picture.check_picture_path(request.graph)
        picture.check_picture_size(problem.expression, request.trace_at is not None)


def lesson(problem: Problem, request: LessonRequest):
    """The explain report for the problem, with its trace, DOT file and graph picture.

    On the default points (``move_undefined``), a point where f or f' is not finite moves to
    a finite one nearby, and the lesson says which and why.
    """
    import functools

    import torch

    from autodiffcli import lang, writers
    from autodiffcli.engines import environment, reverse
    from autodiffcli.lesson import reasons, sections

    device, dtype = target(problem)
    f = lang.function_of(problem.expression)
    # The lesson builds autograd's nested graphs up to the order: refuse one too large first.
    try:
        environment.on_deep_stack(reverse.graph_nodes, f, problem.order + 1, dtype, device)
    except BudgetError:
        raise BudgetError(
            f"explain builds autograd's nested graph for every order, and order {problem.order} of "
            f"this expression needs more than {reverse.MAX_GRAPH_NODES:,} nodes; use a lower "
            "{opt.order}",
            parameter="order",
            value=problem.order,
        ) from None
    (x,) = problem.domain.points(0, len(problem.domain), dtype, device)
    notes: list[str] = []
    if request.move_undefined:
        points = x.tolist()
        chosen = reasons.default_points(problem.expression, points[0], points[-1], len(points))
        x, notes = torch.tensor(chosen.points, dtype=dtype, device=device), chosen.notes
    explain = functools.partial(sections.explain, trace_at=request.trace_at, notes=notes)
    report = environment.on_deep_stack(explain, problem.expression, x, problem.order)
    if request.dot is not None:
        writers.write_text(request.dot, sections.tape_dot(problem.expression, request.trace_at))
    if request.graph is not None:
        sections.save_graph_picture(problem.expression, request.graph, request.trace_at)
    return report
