"""The command line: parse options, call the job layer, report. Nothing else lives here.

Every command first calls :func:`autodiffcli.job.prepare` (and checks its outputs), which
imports no torch, so `--help` and every input error answer at once.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from autodiffcli import figures, figures_several, job, run
from autodiffcli import options as o
from autodiffcli.errors import AutodiffError, WriteFailure, render
from autodiffcli.problem import Problem
from autodiffcli.version import __version__

app = typer.Typer(
    name="autodiff",
    help="Evaluate f(x) over a range, differentiate it with PyTorch autograd, "
    "write the table, plot it, and explain how autograd got it.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich help rendering costs 0.3 s per call
    context_settings={"help_option_names": ["-h", "--help"]},
)
command = functools.partial(app.command, cls=o.GroupedCommand)


@functools.cache
def stderr_console():
    """The rich console for messages; created on first use (rich.console costs 50 ms)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        print(f"autodiff {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Evaluate f(x), differentiate it with PyTorch autograd, and write, plot or explain it."""


# ----- Reporting -----


def message(label: str, style: str, text: str) -> None:
    """One message on stderr: coloured on a terminal, plain text otherwise."""
    if not sys.stderr.isatty():
        sys.stderr.write(f"{label}: {text}\n")
        return
    from rich.markup import escape

    stderr_console().print(f"[{style}]{label}:[/{style}] {escape(text)}")


def error_line(text: str) -> None:
    message("Error", "bold red", text)


def _silence_stdout() -> None:
    """After stdout failed (closed pipe, full disk), stop Python's exit-time flush from
    printing 'Exception ignored' by pointing fd 1 at /dev/null."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """The one place where errors become messages and exit codes."""
    from autodiffcli import signals

    try:
        with signals.terminations():
            yield
    except AutodiffError as error:
        if isinstance(error, WriteFailure):
            _silence_stdout()
        error_line(error.render(o.flag))
        raise typer.Exit(error.exit_code) from None
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head`): stop quietly, like `yes | head`
        raise typer.Exit(141) from None
    except signals.Terminated as stop:
        error_line(f"stopped by {stop.name}")
        raise typer.Exit(stop.exit_code) from None
    except KeyboardInterrupt:
        error_line("interrupted")
        raise typer.Exit(130) from None
    except Exception as error:  # a bug of ours: say so in one line rather than a traceback
        error_line(f"internal error ({type(error).__name__}: {error}); please report it")
        raise typer.Exit(1) from None


@contextlib.contextmanager
def progress_bar(total: int | None, enabled: bool):
    """A rich progress bar on stderr, only when stderr is a terminal; yields advance(n).
    Without a ``total`` (an input still being read) the bar counts rows without an end."""
    if not (enabled and sys.stderr.isatty() and (total is None or total >= 1_000_000)):
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(console=stderr_console(), transient=True) as progress:
        task = progress.add_task("computing", total=total)
        yield lambda n: progress.advance(task, n)


def warn_nonfinite(
    names: list[str], counts: list[int], problem: Problem, table_format: str | None = None
) -> None:
    """One line naming each column that holds NaN or inf, with its count."""
    bad = ", ".join(f"{n:,} in {name}" for name, n in zip(names, counts, strict=True) if n)
    if bad:
        variables = ", ".join(problem.expression.variables)
        text = f"f({variables}) = {problem.expression.text} is undefined or infinite at some points"
        if table_format == "ndjson":
            text += "; JSON has no NaN or inf, so NDJSON writes them as null"
        message("Warning", "yellow", f"non-finite values (NaN or inf): {bad} - {text}")


def report_check(problem: Problem, rtol, atol, timeout, points, seen=None) -> None:
    """--check: the comparison on stderr; exit 1 (CheckFailed) if it fails."""
    from autodiffcli.errors import CheckFailed

    outcome = run.check(problem, rtol, atol, timeout, points, seen)
    sys.stderr.write(outcome.report + "\n")
    if outcome.failure:
        raise CheckFailed(outcome.failure)


# ----- Commands -----


@command(epilog=o.DERIVE_EXAMPLES, short_help="Write x, f(x) and its derivatives as a table.")
def derive(
    expression: o.Expr = "sin(x)",
    start: o.Start = None,
    stop: o.Stop = None,
    step: o.Step = None,
    num: o.Num = None,
    input_path: o.Input = None,
    max_points: Annotated[float, o.max_points("1e9")] = 1e9,
    var: o.Var = None,
    at: o.At = None,
    param: o.Param = None,
    wrt: o.Wrt = None,
    grad: o.Grad = False,
    hessian: o.Hessian = False,
    laplacian: o.Laplacian = False,
    direction: o.Direction = None,
    div: o.Div = False,
    curl: o.Curl = False,
    order: o.Order = None,
    method: o.MethodOption = o.Method.auto,
    device: o.Device = "cpu",
    dtype: o.DTypeOption = o.DType.float64,
    max_memory: o.MaxMemory = None,
    output: o.TableOutput = None,
    fmt: o.TableFormatOption = None,
    no_header: o.NoHeader = False,
    taylor_at: o.TaylorTermsAt = None,
    quiet: o.Quiet = False,
    check: o.Check = False,
    rtol: o.RTol = None,
    atol: o.ATol = None,
    check_timeout: o.CheckTimeout = None,
    check_points: o.CheckPoints = None,
) -> None:
    """Write the points, f and its derivatives as a table (CSV on stdout by default)."""
    with reported():
        problem = job.prepare(
            expression,
            start=start,
            stop=stop,
            step=step,
            num=num,
            input_path=input_path,
            max_points=max_points,
            order=order,
            method=method.value,
            device=device,
            dtype=dtype.value,
            max_memory=max_memory,
            stream=not taylor_at,  # a long --input is read as the table goes out
            var=var,
            at=at,
            param=param,
            wrt=wrt,
            grad=grad,
            hessian=hessian,
            laplacian=laplacian,
            direction=direction,
            div=div,
            curl=curl,
        )
        table_format = job.check_table_output(output, fmt.value if fmt else None)
        from autodiffcli import writers

        writers.check_fits(table_format, run.table_about(problem), bool(taylor_at))
        tolerances = job.check_tolerances(dtype.value, rtol, atol, check_timeout) if check else None
        sampled = job.check_points(check_points)
        series_at = job.taylor_points(problem, taylor_at)
        seen = run.check_sample(problem, sampled) if tolerances else None

        if not quiet and job.several(problem) and not series_at:
            message("Grid", "cyan", job.describe_points(problem))
        run.target(problem)  # torch loads before the file opens: Ctrl-C mid-import leaves nothing
        with (
            writers.output_stream(output) as sink,
            progress_bar(problem.domain.count, not quiet and not series_at) as advance,
        ):
            written = run.write_table(
                problem, sink, table_format, not no_header, series_at, advance, seen
            )
        if not quiet:
            warn_nonfinite(written.names, written.counts, problem, table_format)
        try:
            if tolerances:
                report_check(problem, *tolerances, sampled, seen)
        finally:
            if not quiet and output not in (None, "-"):
                message("Wrote", "green", f"{written.rows:,} rows to {output}")


@command(
    epilog=o.PLOT_EXAMPLES, short_help="Plot f and its derivatives to an image or the terminal."
)
def plot(
    expression: o.Expr = "sin(x)",
    start: o.Start = None,
    stop: o.Stop = None,
    step: o.Step = None,
    num: o.Num = None,
    input_path: o.Input = None,
    max_points: Annotated[float, o.max_points("1e7")] = 1e7,  # a figure holds its table
    var: o.Var = None,
    at: o.At = None,
    param: o.Param = None,
    order: o.Order = None,
    method: o.MethodOption = o.Method.auto,
    device: o.Device = "cpu",
    dtype: o.DTypeOption = o.DType.float64,
    max_memory: o.MaxMemory = None,
    output: o.ImageOutput = "plot.png",
    csv_path: o.CsvPath = None,
    terminal: o.Terminal = False,
    show: o.Show = False,
    title: o.Title = None,
    width: o.Width = None,
    height: o.Height = None,
    dpi: o.Dpi = 150.0,
    tangent_at: o.TangentAt = None,
    taylor_at: o.TaylorAt = None,
    ylim: o.YLim = None,
    logy: o.LogY = False,
    symlog: o.SymLog = False,
    panels: o.Panels = None,
    kind: o.Kind = o.MapKind.contourf,
    field: o.Field = None,
    background: o.BackgroundOption = None,
    zlim: o.ZLim = None,
    wireframe: o.Wireframe = False,
    hessian: o.Definiteness = False,
    critical: o.Critical = True,
    quiet: o.Quiet = False,
    check: o.Check = False,
    rtol: o.RTol = None,
    atol: o.ATol = None,
    check_timeout: o.CheckTimeout = None,
    check_points: o.CheckPoints = None,
    reference: o.Reference = False,
) -> None:
    """Plot f and its derivatives to an image (default plot.png) or the terminal."""
    with reported():
        problem = job.prepare(
            expression,
            start=start,
            stop=stop,
            step=step,
            num=num,
            input_path=input_path,
            max_points=max_points,
            order=order,
            method=method.value,
            device=device,
            dtype=dtype.value,
            max_memory=max_memory,
            var=var,
            at=at,
            param=param,
        )
        figure = figures.FigureRequest(
            output=output,
            csv_path=csv_path,
            title=title,
            width=width,
            height=height,
            dpi=dpi,
            tangent_at=tangent_at,
            ylim=ylim,
            panels=panels,
            reference=reference,
            terminal=terminal,
            show=show,
            yscale=figures.yscale(logy, symlog),
            kind=kind.value,
            field=field.value if field else None,
            background=background.value if background else None,
            zlim=zlim,
            wireframe=wireframe,
            hessian=hessian,
            critical=critical,
            panel_order=order,
        )
        problem, figure = figures_several.check_plot(problem, figure, taylor_at)
        tolerances = job.check_tolerances(dtype.value, rtol, atol, check_timeout) if check else None
        sampled = job.check_points(check_points)
        if not quiet and job.several(problem):
            message("Grid", "cyan", job.describe_points(problem))
        drawn = figures_several.plot(problem, figure)
        if drawn.text is not None:
            write_stdout(drawn.text + "\n")
        if not quiet:
            if figure.file:
                message("Wrote", "green", figure.file)
            warn_nonfinite(drawn.names, drawn.counts, problem)
            if drawn.hint:
                message("Hint", "cyan", render(drawn.hint, o.flag))
        if tolerances:
            report_check(problem, *tolerances, sampled)


@command(
    epilog=o.EXPLAIN_EXAMPLES,
    short_help="Explain how autograd differentiates f, with live torch output.",
)
def explain(
    expression: o.Expr = "sin(x)",
    start: o.Start = None,
    stop: o.Stop = None,
    step: o.Step = None,
    num: o.Points = None,
    input_path: o.Input = None,
    order: o.Order = None,
    device: o.Device = "cpu",
    dtype: o.DTypeOption = o.DType.float64,
    fmt: o.ExplainFormatOption = o.ExplainFormat.text,
    dot: o.Dot = None,
    graph: o.Graph = None,
    trace_at: o.Trace = None,
    var: o.Var = None,
    at: o.At = None,
    param: o.Param = None,
) -> None:
    """Explain, with live torch output, how autograd differentiates f over a vector of points,
    or, for f of several variables or components, its Jacobian at one point."""
    with reported():
        problem = job.prepare(
            expression,
            start=start,
            stop=stop,
            step=step,
            num=num,
            input_path=input_path,
            order=order,
            device=device,
            dtype=dtype.value,
            default_num=5,
            var=var,
            at=at,
            param=param,
        )
        given = (-5.0 if start is None else start, 5.0 if stop is None else stop)
        ranged = (*given, step, num, input_path) != (-5.0, 5.0, None, None, None)
        request = run.LessonRequest(
            run.trace_point(problem, trace_at),
            dot,
            graph,
            move_undefined=not ranged,
            chosen_points=ranged or bool(at) or bool(var),
        )
        run.check_lesson(problem, request)
        show_report(run.lesson(problem, request), fmt.value)


def show_report(lesson, fmt: str) -> None:
    """Rich markdown on a terminal; plain text, markdown or JSON otherwise."""
    from autodiffcli.lesson import report

    if fmt == "text" and sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(report.render_markdown(lesson)))
        return
    write_stdout(report.RENDERERS[fmt](lesson))


def write_stdout(text: str) -> None:
    """Text to stdout; a full disk or closed stream is a WriteFailure (exit 1), a closed pipe
    stays BrokenPipeError (exit 141)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise WriteFailure(f"cannot write stdout: {error.strerror or error}") from None


class _ClosedStream(io.RawIOBase):
    """Stands in for a closed stdout (`>&-`): the first write fails as writing to fd 1 would;
    later ones (the exit-time flush, after the error was reported) are dropped."""

    failed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.failed:
            return len(data)
        self.failed = True
        raise OSError(errno.EBADF, "standard output is closed")


def main() -> None:
    """Console-script entry point: stream failures outside a command end in one line too."""
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedStream()))
    try:
        app()
    except OSError as error:  # e.g. --help or --version into a full disk
        _silence_stdout()
        sys.stderr.write(f"Error: cannot write to standard output: {error.strerror or error}\n")
        sys.exit(1)
