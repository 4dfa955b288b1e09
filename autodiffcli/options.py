"""The command line's vocabulary: shared options, grouped help, completions and usage hints.

Everything here is Typer/click declaration, kept apart so that ``cli.py`` reads as the three
commands. Choices come from :mod:`autodiffcli.limits`, where each list is written once.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated

import typer
from typer import _click as click
from typer._click.exceptions import NoSuchOption, UsageError
from typer.core import TyperCommand

from autodiffcli import lang, limits

RANGE, NUMERICS, OUTPUT, FIGURE, CHECKS = "Range", "Numerics", "Output", "Figure", "Verification"
VARIABLES, MAPS = "Variables", "Two variables"
PANELS = (RANGE, VARIABLES, NUMERICS, OUTPUT, FIGURE, MAPS, CHECKS)

# Python parameter names whose flag is not simply --name-with-dashes.
FLAGS = {
    "input_path": "--input",
    "fmt": "--format",
    "csv_path": "--csv",
    "trace_at": "--trace",
    "direction": "--dir",
}


def flag(parameter: str) -> str:
    """The CLI flag of a library parameter name, for error messages."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def choices(name: str, values: tuple[str, ...]) -> type[enum.Enum]:
    """A str Enum of ``values``: click shows and completes them as choices."""
    return enum.Enum(name, {value: value for value in values}, type=str)


Method = choices("Method", limits.METHODS)
DType = choices("DType", limits.DTYPES)
TableFormat = choices("TableFormat", limits.TABLE_FORMATS)
ExplainFormat = choices("ExplainFormat", limits.EXPLAIN_FORMATS)
MapKind = choices("MapKind", limits.MAP_KINDS)
FieldStyle = choices("FieldStyle", limits.FIELD_STYLES)
Background = choices("Background", limits.BACKGROUNDS)


def complete_device(incomplete: str) -> list[str]:
    return [name for name in (*limits.DEVICES, "cuda:0", "cuda:1") if name.startswith(incomplete)]


def _option(*names: str, panel: str, help: str, metavar: str | None = None, **extra):
    return typer.Option(*names, help=help, rich_help_panel=panel, metavar=metavar, **extra)


# ----- Options shared by derive, plot and explain -----
Expr = Annotated[
    str,
    typer.Argument(
        help="f(x) in the expression language, e.g. 'tanh(x)', 'x^3 - 1/x'. Quote it.",
        metavar="EXPR",
    ),
]
Start = Annotated[
    float | None,
    _option("--start", panel=RANGE, help="First x.", metavar="X", show_default="-5"),
]
Stop = Annotated[
    float | None,
    _option(
        "--stop",
        panel=RANGE,
        help="End of the range (excluded with --step).",
        metavar="X",
        show_default="5",
    ),
]
Step = Annotated[
    float | None,
    _option(
        "--step",
        panel=RANGE,
        help="Spacing of x, like numpy.arange.",
        metavar="S",
        show_default="0.01",
    ),
]
Num = Annotated[
    int | None,
    _option(
        "--num",
        panel=RANGE,
        metavar="N",
        help="N evenly spaced points including both ends (instead of --step).",
    ),
]
Input = Annotated[
    str | None,
    _option(
        "--input",
        panel=RANGE,
        metavar="FILE",
        help="Read x from FILE ('-': stdin): one per line, or a CSV with an 'x' column.",
    ),
]


def max_points(default: str) -> object:
    return _option(
        "--max-points",
        panel=RANGE,
        metavar="N",
        show_default=default,
        help="Refuse grids with more points than this.",
    )


Order = Annotated[
    int | None,
    _option(
        "--order",
        "-k",
        panel=NUMERICS,
        metavar="K",
        show_default="1",
        help=f"Highest derivative, 0 to {limits.REVERSE_MAX_ORDER} by reverse mode, "
        f"up to {limits.MAX_ORDER} by Taylor mode; with several variables, every partial "
        "derivative up to order K.",
    ),
]
MethodOption = Annotated[
    Method,
    _option(
        "--method",
        panel=NUMERICS,
        envvar="AUTODIFF_METHOD",
        help="auto: autograd's reverse mode at order 1 (forward mode for F: R^n -> R^m with "
        "n < m), Taylor mode above; or force one.",
    ),
]
Device = Annotated[
    str,
    _option(
        "--device",
        panel=NUMERICS,
        envvar="AUTODIFF_DEVICE",
        metavar="DEVICE",
        help="cpu, cuda, cuda:N, mps or auto.",
        autocompletion=complete_device,
    ),
]
DTypeOption = Annotated[DType, _option("--dtype", panel=NUMERICS, help="Floating-point precision.")]
MaxMemory = Annotated[
    float | None,
    _option(
        "--max-memory",
        panel=NUMERICS,
        metavar="BYTES",
        show_default="1/4 of RAM",
        help="Refuse jobs whose estimated memory exceeds this; chunks are sized to fit.",
    ),
]
Quiet = Annotated[
    bool, _option("--quiet", "-q", panel=OUTPUT, help="No messages or progress on stderr.")
]
Check = Annotated[
    bool,
    _option(
        "--check",
        panel=CHECKS,
        help="Compare with symbolic and numerical references; exit 1 on a difference.",
    ),
]
RTol = Annotated[
    float | None,
    _option(
        "--rtol",
        panel=CHECKS,
        metavar="R",
        show_default="1e-10, float32 1e-4",
        help="Relative tolerance of --check.",
    ),
]
ATol = Annotated[
    float | None,
    _option(
        "--atol",
        panel=CHECKS,
        metavar="A",
        show_default="0",
        help="Absolute tolerance of --check (where the reference is 0, rounding noise up to "
        "1e-12, float32 1e-5, passes anyway).",
    ),
]
CheckPoints = Annotated[
    str | None,
    _option(
        "--check-points",
        panel=CHECKS,
        metavar="N|all",
        show_default="2000",
        help="How many rows --check compares, spread evenly with both ends; all: every row.",
    ),
]
CheckTimeout = Annotated[
    float | None,
    _option(
        "--check-timeout",
        panel=CHECKS,
        metavar="SECONDS",
        show_default="5 per order",
        help="Time for each reference per order; past it, points are skipped as too expensive.",
    ),
]
TaylorAt = Annotated[
    list[str] | None,
    _option(
        "--taylor-at",
        panel=FIGURE,
        metavar="X0|x=..,y=..",
        help="Taylor polynomials of f around X0 (or a point x=-1,y=0), drawn over f; repeatable.",
    ),
]
TaylorCoefficientsAt = Annotated[
    list[float] | None,
    _option(
        "--taylor-at",
        panel=OUTPUT,
        metavar="X0",
        help="Write the Taylor coefficients of f around X0 instead of the table; repeatable.",
    ),
]


_PAREN_DEFAULT = re.compile(r"(?<=default: )\((.*?)\)(?=[;\]])")


class GroupedCommand(TyperCommand):
    """Help in sections (Range, Numerics, ...) with click's fast formatter, and a hint added to
    the usage errors people commonly meet."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                panel = "Arguments"
            else:
                panel = getattr(param, "rich_help_panel", None) or "Options"
            name, text = record
            sections.setdefault(panel, []).append((name, _PAREN_DEFAULT.sub(r"\1", text)))
        for panel in ("Arguments", *PANELS, "Options"):
            if panel in sections:
                with formatter.section(panel):
                    formatter.write_dl(sections[panel])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes args as it goes
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as error:
            token = next((a for a in given if a.startswith(error.option_name)), "")
            if re.match(r"-[\w.(]", token) and not error.possibilities:
                error.message += (
                    f". If {token!r} is the expression, put it after '--': "
                    f"autodiff {ctx.info_name} -- '{token}'"
                )
            raise
        except UsageError as error:
            extra = re.search(r"unexpected extra argument\S* \((.*)\)", error.message)
            if extra:
                words = f"{ctx.params.get('expression', '')} {extra.group(1)}".strip()
                error.message += (
                    f". Quote the whole expression: autodiff {ctx.info_name} '{_quoted(words)}'"
                )
            raise


# ----- Several variables -----
Var = Annotated[
    list[str] | None,
    _option(
        "--var",
        panel=VARIABLES,
        metavar="NAME=RANGE",
        help="A variable and its range: x=-2:2:0.1 (start:stop:step, stop excluded) or "
        "x=-2:2:41j (41 points, both ends); repeatable, in the order the points vary (first "
        "fastest). x, y, z need no declaration: default [-5, 5), 200 points per axis for two "
        "variables, 50 for three.",
    ),
]
At = Annotated[
    list[str] | None,
    _option(
        "--at",
        panel=VARIABLES,
        metavar="x=1,y=2",
        help="Fix the variables named: all of them gives a point, some a slice; repeatable "
        "(the same names each time) for several points.",
    ),
]
Param = Annotated[
    list[str] | None,
    _option(
        "--param",
        panel=VARIABLES,
        metavar="NAME=VALUE",
        help="A named constant, e.g. a=2; repeatable. derive's --wrt may name it (a sensitivity).",
    ),
]
Wrt = Annotated[
    str | None,
    _option(
        "--wrt",
        panel=VARIABLES,
        metavar="x,y",
        show_default="every variable",
        help="The variables (or parameters) to differentiate by.",
    ),
]
Grad = Annotated[bool, _option("--grad", panel=VARIABLES, help="The gradient: f_x, f_y, ...")]
Hessian = Annotated[
    bool,
    _option("--hessian", panel=VARIABLES, help="The distinct second partials: f_xx, f_xy, ..."),
]
Laplacian = Annotated[
    bool, _option("--laplacian", panel=VARIABLES, help="The Laplacian f_xx + f_yy + ...")
]
Direction = Annotated[
    str | None,
    _option(
        "--dir",
        panel=VARIABLES,
        metavar="1,2",
        help="The directional derivative along this vector, scaled to length 1 (column f_dir).",
    ),
]
Div = Annotated[
    bool, _option("--div", panel=VARIABLES, help="The divergence of a field [F1, F2(, F3)].")
]
Curl = Annotated[
    bool,
    _option("--curl", panel=VARIABLES, help="The curl of a field [F1, F2] or [F1, F2, F3]."),
]
TaylorTermsAt = Annotated[
    list[str] | None,
    _option(
        "--taylor-at",
        panel=OUTPUT,
        metavar="X0|x=..,y=..",
        help="Write the Taylor coefficients of f around this point instead of the table; "
        "repeatable.",
    ),
]


# ----- Each command's examples, shown under its --help ('\\b' keeps the lines as written) -----
DERIVE_EXAMPLES = """\b
Examples:
  autodiff derive 'tanh(x)' --start -3 --stop 3 | head
  autodiff derive 'x*exp(-x^2-y^2)' --var x=-2:2:0.1 --var y=-1:1:41j -k 2
  autodiff derive '[x*y, x + y^2]' --at x=1,y=2
  seq -5 0.5 5 | autodiff derive 'x**3' --input -
  autodiff derive 'exp(-x^2/2)' --num 1000000 -k 2 -o gauss.parquet
  autodiff derive 'sin(x)' -k 9 --taylor-at 0"""


PLOT_EXAMPLES = """\b
Examples:
  autodiff plot -o sin.png
  autodiff plot 'x**3 - 1/x' --start 0.2 --stop 2 --tangent-at 1 -o tangent.svg
  autodiff plot 'sin(x)' -k 7 --taylor-at 0 --ylim -2 2
  autodiff plot 'x*exp(-x^2 - y^2)' --var x=-2:2:0.02 --var y=-2:2:0.02 --taylor-at x=-1,y=0
  autodiff plot '[-y, x]' --background curl -o rotation.svg"""


EXPLAIN_EXAMPLES = """\b
Examples:
  autodiff explain
  autodiff explain 'log(x^2)*sin(x) + 1/x' --trace 1 --graph graph.png
  autodiff explain 'tanh(x)' -k 3 --format markdown > lesson.md
  autodiff explain '[x*y, x + y^2]' --at x=1,y=2 --trace x=1,y=2
\b
f of several variables or components is explained at one point: --at names every input
(with neither --at nor --var: the first input 1, the next 2, and so on)."""


# ----- Options of one command -----
TableOutput = Annotated[
    str | None,
    _option(
        "--output",
        "-o",
        panel=OUTPUT,
        metavar="FILE",
        help="Write to FILE (atomically) instead of stdout.",
    ),
]
TableFormatOption = Annotated[
    TableFormat | None,
    _option("--format", "-f", panel=OUTPUT, show_default="from -o, else csv", help="Table format."),
]
NoHeader = Annotated[bool, _option("--no-header", panel=OUTPUT, help="Omit the csv/tsv header.")]
ImageOutput = Annotated[
    str,
    _option(
        "--output",
        "-o",
        panel=OUTPUT,
        metavar="FILE",
        help="Image file; its extension picks the format (png, svg, pdf, ...).",
    ),
]
CsvPath = Annotated[
    str | None,
    _option("--csv", panel=OUTPUT, metavar="FILE", help="Also write the plotted table to FILE."),
]
Terminal = Annotated[bool, _option("--terminal", panel=OUTPUT, help="Draw in the terminal.")]
Show = Annotated[bool, _option("--show", panel=OUTPUT, help="Open a window.")]
Title = Annotated[str | None, _option("--title", panel=FIGURE, metavar="TEXT", help="Title.")]
Width = Annotated[
    float | None,
    _option(
        "--width",
        panel=FIGURE,
        metavar="IN",
        show_default="6.4; a map: 4.8 per panel column",
        help="Width in inches.",
    ),
]
Height = Annotated[
    float | None,
    _option(
        "--height",
        panel=FIGURE,
        metavar="IN",
        show_default="4.8; a map: fits its panels",
        help="Height in inches.",
    ),
]
Dpi = Annotated[float, _option("--dpi", panel=FIGURE, metavar="N", help="Dots per inch.")]
TangentAt = Annotated[
    list[float] | None,
    _option("--tangent-at", panel=FIGURE, metavar="X0", help="Tangent of f at X0; repeatable."),
]
YLim = Annotated[
    tuple[float, float] | None,
    _option("--ylim", panel=FIGURE, metavar="LO HI", help="y range of the f axes."),
]
LogY = Annotated[
    bool, _option("--logy", panel=FIGURE, help="Logarithmic y axes (values <= 0 not drawn).")
]
SymLog = Annotated[
    bool,
    _option(
        "--symlog",
        panel=FIGURE,
        help="Symmetric log y axes: linear near 0, log beyond, both signs.",
    ),
]
Panels = Annotated[
    bool | None,
    _option(
        "--panels/--no-panels",
        panel=FIGURE,
        show_default="panels from order 3",
        help="One panel per derivative order, sharing the x axis.",
    ),
]
Kind = Annotated[
    MapKind,
    _option("--kind", panel=MAPS, help="How f(x, y) is drawn (surface: 3-D)."),
]
Field = Annotated[
    FieldStyle | None,
    _option(
        "--field",
        panel=MAPS,
        show_default="quiver for the gradient, stream for a field",
        help="Arrows of the gradient of f, or of a field F: R^2 -> R^2.",
    ),
]
BackgroundOption = Annotated[
    Background | None,
    _option("--background", panel=MAPS, show_default="div", help="What colours a field's map."),
]
ZLim = Annotated[
    tuple[float, float] | None,
    _option(
        "--zlim",
        panel=MAPS,
        metavar="LO HI",
        show_default="robust percentiles",
        help="Colour limits of f (or a field's background).",
    ),
]
Wireframe = Annotated[
    bool, _option("--wireframe", panel=MAPS, help="Surfaces as wireframes (--kind surface).")
]
Definiteness = Annotated[
    bool,
    _option(
        "--hessian",
        panel=MAPS,
        help="A panel of where the Hessian of f is definite, indefinite or singular.",
    ),
]
Critical = Annotated[
    bool,
    _option(
        "--critical/--no-critical",
        panel=MAPS,
        help="Mark the critical points of f: min, max, saddle, degenerate.",
    ),
]
Reference = Annotated[
    bool,
    _option(
        "--reference",
        panel=CHECKS,
        help="Overlay the symbolic derivatives and plot |autograd - symbolic|.",
    ),
]
Points = Annotated[
    int | None,
    _option(
        "--points",
        "--num",
        panel=RANGE,
        metavar="N",
        show_default="5",
        help="N evenly spaced points.",
    ),
]
ExplainFormatOption = Annotated[
    ExplainFormat,
    _option("--format", "-f", panel=OUTPUT, help="text (rich on a terminal), markdown or json."),
]
Dot = Annotated[
    str | None,
    _option("--dot", panel=OUTPUT, metavar="FILE", help="Also write the graph as DOT to FILE."),
]
Graph = Annotated[
    str | None,
    _option(
        "--graph",
        panel=OUTPUT,
        metavar="FILE",
        help="Also draw the dependency graph to FILE (png, svg, pdf).",
    ),
]
Trace = Annotated[
    str | None,
    _option(
        "--trace",
        panel=OUTPUT,
        metavar="X0",
        help="The chain rule node by node at X0, a number; for f of several variables a "
        "point naming every input, x=1,y=2.",
    ),
]


def _quoted(words: str) -> str:
    """What the user most likely meant by unquoted words: 'sin x' is sin(x), 'x + 1' is x + 1."""
    head, _, rest = words.partition(" ")
    for candidate in (words, f"{head}({rest})"):
        try:
            lang.parse(candidate)
        except ValueError:
            continue
        return candidate
    return words
