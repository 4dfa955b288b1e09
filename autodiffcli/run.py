"""The job layer's use cases, shared by the CLI and the Python API: each runs a checked
:class:`~autodiffcli.problem.Problem` (from :func:`autodiffcli.job.prepare`) through the engines
and the services, and returns data; none prints.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from autodiffcli import domain as domains
from autodiffcli import variables
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
    axes = dict(zip(problem.domain.names, problem.domain.axes, strict=True))
    axes.update({name: domains.from_values(list(points[name]), count) for name in problem.free})
    domain = variables.product_domain(problem.domain.names, axes, [problem.free])
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
            if partial is None:  # det_J of a square Jacobian: not a term of the series
                continue
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
    numerical references, order by order for one variable and column by column otherwise;
    for a streamed table, the sample ``seen`` while it was written."""
    from autodiffcli import verify
    from autodiffcli.engines import compute

    if seen is not None:
        values = [seen.points()]
    else:
        values = problem.domain.take(verify.sample_indices(len(problem.domain), points))
    axes = dict(zip(problem.domain.names, values, strict=True))
    sample = at_points(problem, {name: axes[name] for name in problem.free})
    columns = [c.numpy().astype("float64") for c in compute.table(sample, target(problem))]
    budget = verify.DEFAULT_TIMEOUT if timeout is None else timeout
    zero, spacing = NOISE_AT_ZERO[problem.dtype], SUBNORMAL_STEPS[problem.dtype]  # see README
    report, failure = verify.outcome(problem, columns, values, rtol, atol, budget, zero, spacing)
    if seen is not None and seen.capped:
        report = (
            f"every row was asked for, but the streamed input had more than {seen.max_values:,}"
            " rows, more x values than a quarter of the memory budget holds: checked an even "
            f"sample of {len(values[0]):,}\n{report}"
        )
    return CheckOutcome(report, failure)


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
    Parquet records ``table_about`` in its metadata; netCDF is for a grid only.
    """
    from autodiffcli import writers

    about = table_about(problem)
    writers.check_fits(fmt, about, bool(taylor_at))  # as the CLI does before torch loads

    def writer_for(names: list[str], about: dict | None = None):
        return writers.TableWriter(sink[0], fmt, names, header, sink[1], about)

    if taylor_at:
        several = isinstance(taylor_at[0], dict)
        series = (taylor_terms if several else taylor_series)(problem, taylor_at)
        names, columns = list(series), list(series.values())
        writer = writer_for(names)
        writer.write(columns)
        writer.close()
        return Written(names, [0] * len(names), len(columns[0]))
    names = column_names(problem)
    streamed = stream_table(problem, writer_for(names, about), advance, seen)
    if streamed.stopped is not None:
        raise _stopped_after(streamed.stopped, streamed.rows, sink[1])
    return Written(names, streamed.counts, streamed.rows)


def table_about(problem: Problem) -> dict:
    """What a file records beside the table (Parquet's metadata, netCDF's layout): the
    expression, the variables, the factors (variables read together) and their points (None
    while streamed), whether each variable is its own axis of evenly spaced points (or one
    point), the highest order of the columns, the parameters' values, and whether the table
    is beyond one variable (``several``: only then does Parquet record it, so that one
    variable's file stays as it was)."""
    from autodiffcli.job import several

    domain = problem.domain
    factors = [f for f in domain.factors if domain.names[f[0]] in problem.free]
    axes = [domain.axes[f[0]] for f in factors]
    streamed = domain.streamed  # an axis still being read: scattered, its length unknown
    shape = None if streamed else [len(axis) for axis in axes]
    evenly = [] if streamed else [a.values is None or len(a) == 1 for a in axes]
    return {
        "expression": problem.expression.text,
        "variables": list(problem.free),
        "factors": [[domain.names[i] for i in factor] for factor in factors],
        "shape": shape,
        "gridded": not streamed and all(evenly) and all(len(f) == 1 for f in factors),
        "order": problem.plan.order,  # the highest the columns hold (--grad: 1)
        "parameters": {
            n: float(domain.axes[domain.names.index(n)].take([0])[0]) for n in problem.parameters
        },
        "several": several(problem),
    }


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


# ----- explain -----


@dataclass(frozen=True)
class LessonRequest:
    """What `explain` should add to the lesson, and whether it may move undefined points.

    ``trace_at`` is x0 for f(x) and a point naming every input for several variables (see
    :func:`trace_point`); ``chosen_points`` says the user chose the points (--at, --var, a
    range or --input), so that a lesson at one point does not replace them by its default.
    """

    trace_at: float | dict[str, float] | None = None
    dot: str | None = None
    graph: str | None = None
    move_undefined: bool = True
    chosen_points: bool = False


def one_variable_lesson(problem: Problem) -> bool:
    """Whether the lesson is the one of f(x) over a vector of points; every other problem (more
    inputs, more outputs, parameters, another variable's name) gets the lesson at one point."""
    return problem.free == ("x",) and problem.outputs == 1 and not problem.parameters


def trace_point(problem: Problem, text: str | None) -> float | dict[str, float] | None:
    """--trace: a number X0 for f(x), as before; else 'x=1,y=2' naming every input of f."""
    from autodiffcli.errors import OptionError
    from autodiffcli.job import _assignments

    if text is None:
        return None
    if one_variable_lesson(problem):
        try:
            return float(text)
        except ValueError:
            raise OptionError(
                f"{{opt.trace_at}} must be a number, the point x0 of f(x), got {text!r}",
                parameter="trace_at",
                value=text,
            ) from None
    point = _assignments("trace_at", text)
    if set(point) != set(problem.free):
        raise OptionError(
            f"{{opt.trace_at}} {text!r} must give every input of f, {', '.join(problem.free)}: "
            "e.g. {opt.trace_at} " + ",".join(f"{n}={i}" for i, n in enumerate(problem.free, 1)),
            parameter="trace_at",
            value=text,
        )
    check_finite_points("trace_at", list(point.values()), problem.dtype)
    return point


def lesson_point(problem: Problem, request: LessonRequest) -> tuple[dict[str, float], list[str]]:
    """The one point of a lesson of several variables (every variable of f, parameters too),
    with a note when it is the default: the domain's point where it has one, else, when the
    user chose no points, the first input 1, the next 2, and so on (distinct values, so that
    x - y and x/y stay away from their special points)."""
    domain = problem.domain
    names = problem.expression.variables
    fixed = {
        n: float(domain.axes[domain.names.index(n)].take([0])[0])
        for n in names
        if n not in problem.free or len(domain) == 1
    }
    if len(domain) == 1:
        return fixed, []
    inputs = f"f({', '.join(problem.free)})"
    if request.chosen_points:
        example = ",".join(f"{n}={i}" for i, n in enumerate(problem.free, 1))
        moving = [n for n, axis in zip(domain.names, domain.axes, strict=True) if len(axis) > 1]
        raise GridError(
            f"explain teaches {inputs} at one point, and {', '.join(moving)} "
            f"{'runs' if len(moving) == 1 else 'run'} over {len(domain):,} points; name every "
            f"input once with {{opt.at}}, e.g. {{opt.at}} {example}",
            parameter="at",
            value=len(domain),
        )
    chosen = {n: float(i) for i, n in enumerate(problem.free, 1)}
    given = ", ".join(f"{n} = {i}" for i, n in enumerate(problem.free, 1))
    note = (
        f"No --at was given, so the lesson is at its default point {given} (the first input "
        "1, the next 2, and so on); --at names another."
    )
    return {n: chosen.get(n, fixed.get(n)) for n in names}, [note]


def check_lesson(problem: Problem, request: LessonRequest) -> None:
    """Points, trace point and output paths of a lesson, before torch loads."""
    from autodiffcli import writers
    from autodiffcli.lesson import picture

    if one_variable_lesson(problem):
        check_explain_points(problem)
    else:
        lesson_point(problem, request)
        if not 1 <= problem.order <= 2:
            raise OptionError(
                f"explain of several variables shows J (order 1) and with {{opt.order}} 2 the "
                f"Hessian, and {{opt.order}} is {problem.order}; write other orders' partials "
                f"with autodiff derive -k {problem.order}",
                parameter="order",
                value=problem.order,
            )
    if isinstance(request.trace_at, float | int):
        check_finite_points("trace_at", request.trace_at, problem.dtype)
    if request.dot is not None:
        writers.check_output_path(request.dot, "dot")
    if request.graph is not None:
        writers.check_output_path(request.graph, "graph")
        picture.check_picture_path(request.graph)
        lines = 3 if one_variable_lesson(problem) else 2 + len(problem.free)
        picture.check_picture_size(problem.expression, request.trace_at is not None, lines)


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

    if not one_variable_lesson(problem):
        return _several_lesson(problem, request)
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


def _several_lesson(problem: Problem, request: LessonRequest):
    """The lesson of f: R^n -> R^m at one point (:func:`lesson_point`), with its trace, DOT
    file and graph picture."""
    from autodiffcli import writers
    from autodiffcli.engines import environment
    from autodiffcli.lesson import picture, several

    device, dtype = target(problem)
    point, notes = lesson_point(problem, request)
    traced = None if request.trace_at is None else point | dict(request.trace_at)
    report = environment.on_deep_stack(
        lambda: several.explain_several(
            problem.expression,
            problem.free,
            point,
            trace_at=traced,
            notes=notes,
            dtype=dtype,
            device=device,
            order=problem.order,
        )
    )
    rows = (
        None
        if traced is None
        else several.trace_rows(problem.expression, problem.free, traced, dtype, device)
    )
    if request.dot is not None:
        writers.write_text(request.dot, picture.tape_dot(problem.expression, rows))
    if request.graph is not None:
        picture.save_tape_picture(problem.expression, request.graph, rows)
    return report
