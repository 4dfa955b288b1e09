"""Variables and parameters: which names an expression's points run over, and their grids.

``x``, ``y`` and ``z`` are variables without declaration; any other name is declared with
--var NAME=RANGE (a variable) or --param NAME=VALUE (a named constant, which --wrt may still
differentiate by). The variables' order is the order of the --var options, then the undeclared
x, y, z in that order; the first varies fastest. --at fixes the variables it names. All of it
is checked here, before torch is imported.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autodiffcli import domain as domains
from autodiffcli import lang
from autodiffcli.errors import ExpressionError, GridError, OptionError

# Variables that need no declaration, in their default order.
IMPLICIT = ("x", "y", "z")
# The default range of every axis is [-5, 5), stop excluded, with this many points per axis
# for this many variables (one variable keeps --step's default, 1,000 points).
DEFAULT_START, DEFAULT_STOP = -5.0, 5.0
DEFAULT_POINTS_PER_AXIS = {2: 200, 3: 50}
MANY_VARIABLES_POINTS = 20
_COUNT_FORM = re.compile(r"^\s*(\d+)\s*j\s*$")


@dataclass(frozen=True)
class Variables:
    """The resolved names: the parsed expression (its variables are the axes, parameters
    last), the domain, the parameters' names, and the positions differentiated by."""

    expression: lang.Expression
    domain: domains.Domain
    parameters: tuple[str, ...]
    wrt: tuple[int, ...]

    @property
    def free(self) -> tuple[str, ...]:
        """The variables, parameters left out: the table's point columns."""
        return tuple(n for n in self.expression.variables if n not in self.parameters)


def parse_range(name: str, text: str, max_points: int) -> domains.Grid:
    """START:STOP:STEP (stop excluded, like numpy.arange) or START:STOP:Nj (N points, both
    ends included, like numpy's mgrid -1:1:41j)."""
    parts = str(text).split(":")
    if len(parts) != 3:
        raise _range_error(name, text)
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise _range_error(name, text) from None
    count = _COUNT_FORM.match(parts[2])
    if count:
        return domains.from_num(start, stop, int(count.group(1)), max_points)
    try:
        step = float(parts[2])
    except ValueError:
        raise _range_error(name, text) from None
    return domains.from_range(start, stop, step, max_points)


def _range_error(name: str, text: str) -> GridError:
    return GridError(
        f"cannot read the range {name}={text!s}: write START:STOP:STEP (stop excluded, "
        f"e.g. {{opt.var}} {name}=-2:2:0.1) or START:STOP:Nj for N points with both ends "
        f"(e.g. {{opt.var}} {name}=-2:2:41j)",
        parameter="var",
        value=text,
    )


def parse_assignments(parameter: str, text: str) -> dict[str, float]:
    """'x=1,y=2' as {x: 1.0, y: 2.0}; each name once, each value a finite number."""
    out: dict[str, float] = {}
    for part in str(text).split(","):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not name:
            raise OptionError(
                f"cannot read {{opt.{parameter}}} {text!r}: write NAME=VALUE pairs separated "
                f"by commas, e.g. {{opt.{parameter}}} x=1,y=2",
                parameter=parameter,
                value=text,
            )
        if name in out:
            raise OptionError(
                f"{{opt.{parameter}}} {text!r} gives {name} twice; give each name once",
                parameter=parameter,
                value=text,
            )
        out[name] = _finite(parameter, name, value)
    return out


def _finite(parameter: str, name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise OptionError(
            f"{{opt.{parameter}}} {name}={value} is not a finite number",
            parameter=parameter,
            value=value,
        )
    return number


def parse_names(parameter: str, text: str | Sequence[str]) -> tuple[str, ...]:
    """'x,y' (or a sequence of names) as a tuple of names, each once."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    for name in names:
        if not name:
            raise OptionError(
                f"{{opt.{parameter}}} needs names separated by commas, e.g. x,y; got {text!r}",
                parameter=parameter,
                value=text,
            )
        if names.count(name) > 1:
            raise OptionError(
                f"{{opt.{parameter}}} names {name} twice; give each name once",
                parameter=parameter,
                value=text,
            )
    return tuple(names)


def check_new_name(parameter: str, name: str, taken: Mapping[str, str]) -> None:
    """A declared name: an identifier that is not a function, constant or keyword, and not
    declared before (``taken`` maps each name declared so far to the option that did)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise OptionError(
            f"{{opt.{parameter}}} {name!r} is not a name: use letters, digits and _, "
            "starting with a letter",
            parameter=parameter,
            value=name,
        )
    if name in lang.FUNCTIONS or name in lang.CONSTANTS:
        kind = "a function" if name in lang.FUNCTIONS else "a constant"
        raise OptionError(
            f"{{opt.{parameter}}} {name}: {name} is {kind} of the language; choose another name",
            parameter=parameter,
            value=name,
        )
    if name in taken:
        raise OptionError(
            f"{name} is declared twice ({{opt.{taken[name]}}} and {{opt.{parameter}}}); "
            "declare each name once",
            parameter=parameter,
            value=name,
        )


def parse_expression(
    text: str, declared: Sequence[str], parameters: Sequence[str]
) -> lang.Expression:
    """The expression, whose variables are the declared names, then the undeclared x, y, z it
    uses, then the parameters; a name it uses that is none of these is an error that says how
    to declare it."""
    implicit = tuple(n for n in IMPLICIT if n not in declared and n not in parameters)
    candidates = (*declared, *implicit, *parameters)
    try:
        parsed = lang.parse(text, variables=candidates)
    except ExpressionError as error:
        message = error.template
        if message.startswith("unknown name") and "; the variable" in message:
            name = message.split("'")[1]
            message += (
                f". A name other than x, y, z is declared with {{opt.var}} {name}=START:STOP:STEP "
                f"or {{opt.param}} {name}=VALUE"
            )
            raise ExpressionError(message, parameter=error.parameter, value=error.value) from None
        raise
    used = {node.label for node in parsed.nodes if node.op == "var"}
    variables = tuple(n for n in (*declared, *implicit) if n in used)
    if not variables:
        variables = declared[:1] or ("x",)  # a constant f is still a function of x
    return lang.parse(text, variables=(*variables, *parameters))


def default_grid(count: int, max_points: int) -> domains.Grid:
    """The default axis of a function of ``count`` variables: [-5, 5) with 200 points per axis
    for two variables, 50 for three, 20 beyond."""
    points = DEFAULT_POINTS_PER_AXIS.get(count, MANY_VARIABLES_POINTS)
    step = (DEFAULT_STOP - DEFAULT_START) / points
    return domains.from_range(DEFAULT_START, DEFAULT_STOP, step, max_points)


def check_used(parameter: str, names: Sequence[str], expression: lang.Expression) -> None:
    """A declared variable, parameter or --at name must appear in f: along an axis f does not
    use, every row would repeat."""
    used = {node.label for node in expression.nodes if node.op == "var"}
    for name in names:
        if name not in used:
            raise OptionError(
                f"f = {expression.text} does not use {name}, so it is constant along {name}; "
                f"remove {{opt.{parameter}}} {name}, or use {name} in the expression",
                parameter=parameter,
                value=name,
            )


def check_count(counts: Sequence[int], names: Sequence[str], max_points: int) -> None:
    """The product of the axes' point counts must stay within --max-points."""
    total = math.prod(counts)
    if total > max_points:
        product = " x ".join(f"{c:,} ({n})" for c, n in zip(counts, names, strict=True))
        raise GridError(
            f"the grid has {product} = {total:,} points, more than {{opt.max_points}} "
            f"{max_points:,}; use fewer points per axis or raise {{opt.max_points}}",
            parameter="max_points",
            value=max_points,
        )


def resolve(
    text: str,
    ranges: Mapping[str, str | domains.Grid],
    at: Sequence[Mapping[str, float]],
    parameters: Mapping[str, float],
    wrt: Sequence[str] | None,
    max_points: int,
    one_axis,
    range_options: Sequence[str] = (),
    read_points=None,
) -> Variables:
    """Every name of the expression resolved to an axis, checked cheapest first.

    ``ranges`` maps each --var name to its range text (or a Grid); ``at`` holds one mapping per
    --at, all naming the same variables; ``one_axis()`` builds the axis of a function of one
    variable from --start/--stop/--step/--num/--input, which ``range_options`` lists where the
    user gave them (refused with several variables, but for --input: ``read_points(names,
    taken)`` then reads the points of the variables no --var or --at gives, one Grid per name,
    refusing a column for a name that ``taken`` maps to the option giving it).
    """
    taken: dict[str, str] = {}
    for name in ranges:
        check_new_name("var", name, taken)
        taken[name] = "var"
    for name in parameters:
        check_new_name("param", name, taken)
        taken[name] = "param"
    expression = parse_expression(text, tuple(ranges), tuple(parameters))
    check_used("var", list(ranges), expression)
    check_used("param", list(parameters), expression)
    names = tuple(n for n in expression.variables if n not in parameters)
    fixed = _fixed_names(at, names, expression)
    free = [n for n in names if n not in fixed]
    read = _input_names(names, free, ranges, fixed) if "input_path" in range_options else ()
    if len(names) > 1 and (ranged := [o for o in range_options if o != "input_path"]):
        given = ", ".join(f"{{opt.{o}}}" for o in ranged)
        example = " ".join(f"{{opt.var}} {n}=-2:2:0.1" for n in names)
        raise GridError(
            f"f has several variables ({', '.join(names)}), so {given} cannot say which one "
            f"they mean: give each variable its range, e.g. {example}",
            parameter=ranged[0],
        )
    axes: dict[str, domains.Grid] = {}
    if len(names) > 1 and read:
        elsewhere = {n: "at" if n in fixed else "var" for n in names if n not in read}
        axes.update(read_points(read, {**elsewhere, **dict.fromkeys(parameters, "param")}))
    for name in (n for n in free if n not in axes):
        spec = ranges.get(name)
        if isinstance(spec, domains.Grid):
            axes[name] = spec
        elif spec is not None:
            axes[name] = parse_range(name, spec, max_points)
        elif len(names) == 1:
            axes[name] = one_axis()
            if parameters and not isinstance(axes[name], domains.Grid):
                axes[name] = axes[name].read_all(max_points)  # a streamed axis stands alone
        else:
            # a slice of one free variable gets a two-variable grid's axis
            axes[name] = default_grid(max(len(free), 2), max_points)
    for name in fixed:
        values = [point[name] for point in at]
        axes[name] = domains.from_values(values, max_points)
    for name, value in parameters.items():
        axes[name] = domains.from_values([value], 1)
    domain = product_domain(expression.variables, axes, [fixed, read if len(names) > 1 else ()])
    if not domain.streamed:
        check_count(list(domain.shape), _factor_names(domain), max_points)
    return Variables(expression, domain, tuple(parameters), _wrt(wrt, expression, names))


def _fixed_names(
    at: Sequence[Mapping[str, float]], names: Sequence[str], expression: lang.Expression
) -> tuple[str, ...]:
    """The variables --at fixes: every --at must name the same ones, each a variable of f."""
    if not at:
        return ()
    first = tuple(at[0])
    for point in at:
        if set(point) != set(first):
            raise OptionError(
                f"every {{opt.at}} must name the same variables: {','.join(first)} and "
                f"{','.join(point)} differ; give the others as ranges with {{opt.var}}",
                parameter="at",
                value=dict(point),
            )
    for name in first:
        if name not in names:
            raise OptionError(
                f"{{opt.at}} names {name}, which is not a variable of f = {expression.text} "
                f"(its variables: {', '.join(names)})",
                parameter="at",
                value=name,
            )
    return tuple(n for n in names if n in first)


def _input_names(
    names: Sequence[str], free: Sequence[str], ranges: Mapping[str, object], fixed: Sequence[str]
) -> tuple[str, ...]:
    """The variables --input gives: those with neither a --var range nor an --at value; at
    least one, since a variable given twice would leave one source unread."""
    read = tuple(n for n in free if ranges.get(n) is None)
    if not read:
        given = " and ".join(f"{{opt.{'at' if n in fixed else 'var'}}} {n}" for n in names)
        raise GridError(
            f"{{opt.input_path}} gives points, but {given} already "
            f"{'give' if len(names) > 1 else 'gives'} every variable of f; "
            "give each variable one source: remove {opt.input_path}, or the option of each "
            "variable whose values it holds",
            parameter="input_path",
        )
    return read


def product_domain(
    variables: Sequence[str], axes: Mapping[str, object], groups: Sequence[Sequence[str]]
) -> domains.Domain:
    """The product of the axes; the variables of each group (--at's fixed ones, --input's
    several) read together as one factor."""
    names = tuple(variables)
    grids = tuple(axes[n] for n in names)
    together = [tuple(names.index(n) for n in group) for group in groups if group]
    joined = {i for factor in together for i in factor}
    factors = [(i,) for i in range(len(names)) if i not in joined] + together
    factors.sort(key=min)
    return domains.Domain(names, grids, tuple(factors))


def _factor_names(domain: domains.Domain) -> list[str]:
    return ["+".join(domain.names[i] for i in factor) for factor in domain.factors]


def _wrt(
    wrt: Sequence[str] | None, expression: lang.Expression, names: Sequence[str]
) -> tuple[int, ...]:
    """The positions differentiated by: --wrt's names (variables or parameters), else every
    variable."""
    chosen = tuple(names) if not wrt else tuple(wrt)
    for name in chosen:
        if name not in expression.variables:
            known = ", ".join(expression.variables)
            raise OptionError(
                f"{{opt.wrt}} names {name}, which f = {expression.text} does not have; "
                f"its variables and parameters: {known}",
                parameter="wrt",
                value=name,
            )
    return tuple(sorted(expression.variables.index(n) for n in chosen))


def describe(domain: domains.Domain, parameters: Sequence[str]) -> str:
    """The resolved grid in words, for stderr: what was understood from the ranges."""
    from autodiffcli.numfmt import fmt

    parts = []
    for factor in domain.factors:
        names = [domain.names[i] for i in factor]
        axis = domain.axes[factor[0]]
        if names[0] in parameters:
            parts.append(f"parameter {names[0]} = {fmt(float(axis.take([0])[0]))}")
        elif len(factor) > 1 and len(axis) == 1:
            parts += [
                f"{n} = {fmt(float(domain.axes[i].take([0])[0]))}"
                for n, i in zip(names, factor, strict=True)
            ]
        elif len(factor) > 1:
            parts.append(f"({', '.join(names)}) at {len(axis):,} given points")
        elif len(axis) == 1:
            parts.append(f"{names[0]} = {fmt(float(axis.take([0])[0]))}")
        elif axis.values is not None:
            parts.append(f"{names[0]} at {len(axis):,} given values")
        else:
            last = float(axis.take([len(axis) - 1])[0])
            parts.append(
                f"{names[0]} from {fmt(axis.start)} to {fmt(last)} step {fmt(axis.step)} "
                f"({len(axis):,} points)"
            )
    total = len(domain)
    text = f"{'; '.join(parts)}: {total:,} point{'' if total == 1 else 's'}"
    moving = [f for f, n in zip(domain.factors, domain.shape, strict=True) if n > 1]
    if len(moving) > 1:
        text += f", {domain.names[moving[0][0]]} varying fastest"
    return text
