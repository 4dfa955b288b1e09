"""The command line: parse options, call the library, report. Nothing else lives here.

Heavy modules (torch, numpy, polars, matplotlib) are imported inside the commands, after the
expression and options are checked, so `--help` and input errors answer at once.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import math
import os
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from autodiffcli import __version__, devices
from autodiffcli.errors import AutodiffError, GridError, WriteFailure

app = typer.Typer(
    name="autodiff",
    help="Evaluate f(x) over a range, differentiate it with PyTorch autograd, "
    "write the table, plot it, and explain how autograd got it.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich help rendering costs 0.3 s per call
    context_settings={"help_option_names": ["-h", "--help"]},
)


@functools.cache
def stderr_console():
    """The rich console for messages; created on first use (rich.console costs 50 ms)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


class DType(str, enum.Enum):
    float64 = "float64"
    float32 = "float32"


class TableFormat(str, enum.Enum):
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"
    ndjson = "ndjson"


# ----- Options shared by derive, plot and explain -----
Expr = Annotated[
    str,
    typer.Argument(
        help="f(x) in the expression language, e.g. 'tanh(x)', 'x^3 - 1/x'. See README.",
        show_default=True,
    ),
]
Start = Annotated[
    float, typer.Option("--start", help="First x.", rich_help_panel="Range", allow_dash=True)
]
Stop = Annotated[
    float,
    typer.Option(
        "--stop", help="End of the range (excluded with --step).", rich_help_panel="Range"
    ),
]
Step = Annotated[
    float | None,
    typer.Option("--step", help="Spacing of x (default 0.01).", rich_help_panel="Range"),
]
Num = Annotated[
    int | None,
    typer.Option(
        "--num",
        help="N evenly spaced points including both ends (instead of --step).",
        rich_help_panel="Range",
    ),
]
Input = Annotated[
    str | None,
    typer.Option(
        "--input",
        help="Read x values from FILE ('-' for stdin): one per line, or a CSV with an 'x' column.",
        rich_help_panel="Range",
    ),
]
MaxPoints = Annotated[
    float,
    typer.Option(
        "--max-points", help="Refuse grids with more points than this.", rich_help_panel="Range"
    ),
]
Order = Annotated[
    int,
    typer.Option(
        "--order",
        "-k",
        min=0,
        max=10,
        help="Highest derivative to compute (0..10).",
        rich_help_panel="Numerics",
    ),
]
Device = Annotated[
    str,
    typer.Option(
        "--device",
        envvar="AUTODIFF_DEVICE",
        help="cpu, cuda, cuda:N, mps or auto.",
        rich_help_panel="Numerics",
    ),
]
DTypeOption = Annotated[
    DType, typer.Option("--dtype", help="Floating-point precision.", rich_help_panel="Numerics")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No warnings or progress on stderr.")]

Check = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Compare with symbolic and numerical references; exit 1 "
        "if any derivative is off by more than the tolerance.",
        rich_help_panel="Verification",
    ),
]
RTol = Annotated[
    float | None,
    typer.Option(
        "--rtol",
        help="Relative tolerance for --check (default 1e-10, float32 1e-4).",
        rich_help_panel="Verification",
    ),
]
ATol = Annotated[
    float | None,
    typer.Option(
        "--atol",
        help="Absolute tolerance for --check (default 1e-12, float32 1e-5).",
        rich_help_panel="Verification",
    ),
]


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


def _message(label: str, style: str, message: str) -> None:
    """One message on stderr: coloured on a terminal, plain text otherwise."""
    if not sys.stderr.isatty():
        sys.stderr.write(f"{label}: {message}\n")
        return
    from rich.markup import escape

    stderr_console().print(f"[{style}]{label}:[/{style}] {escape(message)}")


def _error(message: str) -> None:
    _message("Error", "bold red", message)


def _warn(message: str) -> None:
    _message("Warning", "yellow", message)


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
    try:
        yield
    except AutodiffError as error:
        if isinstance(error, WriteFailure):
            _silence_stdout()
        _error(str(error))
        raise typer.Exit(error.exit_code) from None
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as `yes | head` does.
        _silence_stdout()
        raise typer.Exit(141) from None
    except KeyboardInterrupt:
        _error("interrupted")
        raise typer.Exit(130) from None
    except Exception as error:  # a bug of ours: say so in one line rather than a traceback
        _error(f"internal error ({type(error).__name__}: {error}); please report it")
        raise typer.Exit(1) from None


# ----- Shared building blocks -----


def build_grid(start, stop, step, num, input_path, max_points, *, default_num=None):
    """The sample grid from the shared range options (the same for every command)."""
    from autodiffcli import grid

    return grid.build(
        start, stop, step, num, input_path, _max_points(max_points), default_num=default_num
    )


def _max_points(value: float) -> int:
    if not (value >= 1 and value != float("inf")):
        raise GridError(f"--max-points must be a finite number >= 1, got {value}")
    return int(value)


def torch_target(device: str, dtype: DType):
    """Import torch (the slow step) and resolve the device and dtype."""
    from autodiffcli import core

    resolved = core.resolve_device(device)
    return resolved, core.resolve_dtype(dtype.value, resolved)


def warn_nonfinite(names: list[str], counts: list[int], expression: str) -> None:
    """One line naming each column that holds NaN or inf, with its count."""
    bad = [f"{count:,} in {name}" for name, count in zip(names, counts, strict=True) if count]
    if bad:
        _warn(
            f"non-finite values (NaN or inf): {', '.join(bad)} - "
            f"f(x) = {expression} is undefined or infinite at some points"
        )


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool):
    """A rich progress bar on stderr, only when stderr is a terminal; yields advance(n)."""
    if not (enabled and sys.stderr.isatty() and total >= 1_000_000):
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(console=stderr_console(), transient=True) as progress:
        task = progress.add_task("computing", total=total)
        yield lambda n: progress.advance(task, n)


# ----- Commands -----


@app.command()
def derive(
    expression: Expr = "sin(x)",
    start: Start = -5.0,
    stop: Stop = 5.0,
    step: Step = None,
    num: Num = None,
    input_path: Input = None,
    max_points: MaxPoints = 1e9,
    order: Order = 1,
    device: Device = "cpu",
    dtype: DTypeOption = DType.float64,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE instead of stdout (atomically).",
            rich_help_panel="Output",
        ),
    ] = None,
    fmt: Annotated[
        TableFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="csv, tsv, parquet or ndjson (default: from the extension of -o, else csv).",
            rich_help_panel="Output",
        ),
    ] = None,
    no_header: Annotated[
        bool,
        typer.Option("--no-header", help="Omit the csv/tsv header row.", rich_help_panel="Output"),
    ] = False,
    quiet: Quiet = False,
    check: Check = False,
    rtol: RTol = None,
    atol: ATol = None,
) -> None:
    """Write x, f(x) and its derivatives (by autograd) as a table, to stdout by default.

    Example: autodiff derive 'tanh(x)' --start -3 --stop 3 --step 0.01 | head
    """
    with reported():
        from autodiffcli import expr, writers

        parsed = expr.parse(expression)
        grid = build_grid(start, stop, step, num, input_path, max_points)
        if output is not None and output != "-":
            writers.check_output_path(output)
        table_format = writers.choose_format(output, fmt.value if fmt else None)
        devices.check_name(device)

        from autodiffcli import core

        torch_device, torch_dtype = torch_target(device, dtype)
        names = core.column_names(order)
        counts = [0] * len(names)
        with (
            writers.output_stream(output) as (stream, target),
            progress_bar(len(grid), not quiet) as advance,
        ):
            table_writer = writers.TableWriter(stream, table_format, names, not no_header, target)
            with writers.background(table_writer) as writer, core.one_compute_thread(torch_device):
                for columns in core.table_chunks(parsed, grid, order, torch_device, torch_dtype):
                    nonfinite = core.count_nonfinite(columns)
                    counts = [a + b for a, b in zip(counts, nonfinite, strict=True)]
                    writer.write([column.cpu().numpy() for column in columns])
                    advance(len(columns[0]))
        if not quiet:
            warn_nonfinite(names, counts, expression)
        if check:
            run_check(parsed, grid, order, torch_device, torch_dtype, dtype, rtol, atol)


@app.command()
def plot(
    expression: Expr = "sin(x)",
    start: Start = -5.0,
    stop: Stop = 5.0,
    step: Step = None,
    num: Num = None,
    input_path: Input = None,
    max_points: MaxPoints = 1e7,  # a figure holds the whole table in memory
    order: Order = 1,
    device: Device = "cpu",
    dtype: DTypeOption = DType.float64,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Image file; the format comes from the extension (png, svg, pdf, ...).",
            rich_help_panel="Output",
        ),
    ] = "plot.png",
    title: Annotated[
        str | None, typer.Option("--title", help="Figure title.", rich_help_panel="Figure")
    ] = None,
    width: Annotated[
        float, typer.Option("--width", help="Width in inches.", rich_help_panel="Figure")
    ] = 6.4,
    height: Annotated[
        float, typer.Option("--height", help="Height in inches.", rich_help_panel="Figure")
    ] = 4.8,
    dpi: Annotated[
        float, typer.Option("--dpi", help="Dots per inch.", rich_help_panel="Figure")
    ] = 150.0,
    tangent_at: Annotated[
        list[float] | None,
        typer.Option(
            "--tangent-at",
            help="Draw the tangent of f at X0 (repeatable).",
            rich_help_panel="Figure",
        ),
    ] = None,
    csv_path: Annotated[
        str | None,
        typer.Option(
            "--csv", help="Also write the plotted table to this file.", rich_help_panel="Output"
        ),
    ] = None,
    terminal: Annotated[
        bool,
        typer.Option(
            "--terminal", help="Draw in the terminal instead of a file.", rich_help_panel="Output"
        ),
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Open an interactive window.", rich_help_panel="Output")
    ] = False,
    quiet: Quiet = False,
    check: Check = False,
    rtol: RTol = None,
    atol: ATol = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference",
            help="Overlay the symbolic derivatives (dashed) and add a "
            "panel of |autograd - symbolic|.",
            rich_help_panel="Verification",
        ),
    ] = False,
) -> None:
    """Plot f and its autograd derivatives to an image (default plot.png).

    Example: autodiff plot 'x**3 - 1/x' --start 0.2 --stop 2 --tangent-at 1 -o tangent.png
    """
    with reported():
        from autodiffcli import expr, writers

        parsed = expr.parse(expression)
        grid = build_grid(start, stop, step, num, input_path, max_points)
        devices.check_name(device)
        if csv_path is not None:
            writers.check_output_path(csv_path, "--csv")
            csv_format = writers.choose_format(csv_path, None)

        from autodiffcli import plotting

        image_format = None
        if show:
            plotting.check_display()
        if not terminal and not show:
            writers.check_output_path(output)
            image_format = plotting.image_format(output)
            plotting.check_size(width, height, dpi)

        from autodiffcli import core

        torch_device, torch_dtype = torch_target(device, dtype)
        tensors = core.table(parsed, grid, order, torch_device, torch_dtype)
        counts = core.count_nonfinite(tensors)
        columns = [c.numpy() for c in tensors]
        names = core.column_names(order)
        tangents = tangent_lines(parsed, tangent_at or [], torch_device, torch_dtype)
        if csv_path is not None:
            writers.write_table(csv_path, csv_format, names, columns)
        if terminal:
            print(plotting.terminal_plot(columns, expression, title))
        else:
            symbolic = None
            if reference:
                from autodiffcli import verify

                symbolic = verify.symbolic_columns(parsed, columns[0], order)
            figure = plotting.plot_figure(
                columns,
                expression,
                title=title,
                width=width,
                height=height,
                dpi=dpi,
                tangents=tangents,
                reference=symbolic,
                interactive=show,
            )
            if show:
                plotting.show_figure()
            else:
                plotting.save_figure(figure, output, image_format, dpi)
                if not quiet:
                    _message("Wrote", "green", output)
        if not quiet:
            warn_nonfinite(names, counts, expression)
        if check:
            run_check(parsed, grid, order, torch_device, torch_dtype, dtype, rtol, atol)


class ExplainFormat(str, enum.Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


MAX_EXPLAIN_POINTS = 20


@app.command()
def explain(
    expression: Expr = "sin(x)",
    start: Start = -5.0,
    stop: Stop = 5.0,
    step: Step = None,
    num: Annotated[
        int | None,
        typer.Option(
            "--points", "--num", help="N evenly spaced points (default 5).", rich_help_panel="Range"
        ),
    ] = None,
    input_path: Input = None,
    order: Order = 1,
    device: Device = "cpu",
    dtype: DTypeOption = DType.float64,
    fmt: Annotated[
        ExplainFormat,
        typer.Option(
            "--format",
            "-f",
            help="text (rich on a terminal), markdown or json.",
            rich_help_panel="Output",
        ),
    ] = ExplainFormat.text,
    dot: Annotated[
        str | None,
        typer.Option(
            "--dot",
            help="Also write the autograd graph as Graphviz DOT to FILE.",
            rich_help_panel="Output",
        ),
    ] = None,
    trace_at: Annotated[
        float | None,
        typer.Option(
            "--trace",
            help="Show every node's value and adjoint at x = X0.",
            rich_help_panel="Output",
        ),
    ] = None,
) -> None:
    """Explain, with live torch output, how autograd differentiates f over a vector of points.

    Example: autodiff explain 'log(x**2)*sin(x) + 1/x' --trace 2
    """
    with reported():
        from autodiffcli import expr, writers

        parsed = expr.parse(expression)
        grid = build_grid(start, stop, step, num, input_path, 1e9, default_num=5)
        if len(grid) > MAX_EXPLAIN_POINTS:
            raise GridError(
                f"explain prints {len(grid)}x{len(grid)} Jacobians; use at most "
                f"{MAX_EXPLAIN_POINTS} points (e.g. --points 5)"
            )
        devices.check_name(device)
        if dot is not None:
            writers.check_output_path(dot, "--dot")
        if trace_at is not None and not math.isfinite(trace_at):
            raise GridError(f"--trace must be a finite number, got {trace_at}")

        from autodiffcli import core
        from autodiffcli import explain as lesson

        torch_device, torch_dtype = torch_target(device, dtype)
        x = grid.points(0, len(grid), torch_dtype, torch_device)
        report = core.on_deep_stack(lesson.explain, parsed, x, order)
        if trace_at is not None:
            report.sections.insert(0, lesson.trace_section(parsed, trace_at))
        if dot is not None:
            writers.write_text(dot, lesson.graph_dot(expr.evaluate(parsed, x.requires_grad_(True))))
        show_report(report, fmt.value, lesson)


def show_report(report, fmt: str, lesson) -> None:
    """Rich markdown on a terminal; plain text, markdown or JSON otherwise."""
    if fmt == "text" and sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(lesson.render_markdown(report)))
        return
    sys.stdout.write(lesson.RENDERERS[fmt](report))
    sys.stdout.flush()


def run_check(parsed, grid, order, device, torch_dtype, dtype, rtol, atol) -> None:
    """--check: report the comparison on stderr; exit 1 (CheckFailed) if it fails."""
    from autodiffcli import verify
    from autodiffcli.errors import CheckFailed

    rtol, atol = verify.tolerances(dtype.value, rtol, atol)
    rows = verify.check_grid(parsed, grid, order, device, torch_dtype, rtol, atol)
    sys.stderr.write(verify.render(rows, rtol, atol) + "\n")
    failed = [row for row in rows if not row.passed]
    if failed:
        worst = max(failed, key=lambda row: row.max_rel)
        raise CheckFailed(
            f"--check failed: order {worst.order} differs from the {worst.reference} reference "
            f"by {worst.max_abs:.3g} (relative {worst.max_rel:.3g}) at x = {worst.worst_x:.6g}"
        )


def tangent_lines(parsed, points: list[float], device, dtype):
    """Tangents of f at each point, from the same autograd path as the table."""
    if not points:
        return ()
    from autodiffcli import core, grid
    from autodiffcli.plotting import Tangent

    x, f, df = core.table(parsed, grid.from_values(points, len(points)), 1, device, dtype)
    return tuple(Tangent(float(a), float(b), float(c)) for a, b, c in zip(x, f, df, strict=True))


def main() -> None:
    """Console-script entry point."""
    app()
