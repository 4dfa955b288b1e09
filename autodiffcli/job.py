"""The job layer's checks: one :class:`~autodiffcli.problem.Problem` built from the options, in
a fixed, fail-fast order, without importing torch, so every mistake answers at once.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence

from autodiffcli import devices, partials, variables
from autodiffcli import domain as domains
from autodiffcli.errors import GridError, OptionError
from autodiffcli.limits import (
    AUTO_MIXED_REVERSE_UP_TO,
    AUTO_REVERSE_UP_TO,
    DEFAULT_CHECK_POINTS,
    DEFAULT_MAX_POINTS,
    DTYPE_MAX,
    DTYPE_OVERFLOW,
    DTYPES,
    MAX_EXPLAIN_POINTS,
    METHODS,
    REVERSE_MAX_ORDER,
    TABLE_FORMATS,
    check_choice,
    check_order,
)
from autodiffcli.problem import Problem

# --check's default (rtol, atol) per dtype: no absolute tolerance, which would pass any error
# in a value smaller than itself (0 against 1e-200, or exp(x) - 1 = 0 at 1e-20).
TOLERANCES = {"float64": (1e-10, 0.0), "float32": (1e-4, 0.0)}
# What --check allows where the reference is exactly 0: rounding noise on a true zero.
NOISE_AT_ZERO = {"float64": 1e-12, "float32": 1e-5}
# ... and everywhere: two steps of the dtype's smallest subnormal, the spacing of the values
# a table can hold there (float32's sigmoid(-100) is 3.78e-44, the nearest float32 to 3.72e-44).
SUBNORMAL_STEPS = {"float64": 2 * 5e-324, "float32": 2 * 1.401298464324817e-45}
# --check-timeout's largest value: a day per reference and order (3e6 s overflowed a wait).
MAX_CHECK_TIMEOUT = 86_400.0


def default_max_memory() -> int:
    """A quarter of this machine's memory: room for the job beside everything else."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def prepare(
    expression: str = "sin(x)",
    x=None,
    *,
    start: float | None = None,
    stop: float | None = None,
    step: float | None = None,
    num: int | None = None,
    input_path: str | None = None,
    max_points: float = DEFAULT_MAX_POINTS,
    order: int | None = None,
    method: str = "auto",
    device: str = "cpu",
    dtype: str = "float64",
    max_memory: float | None = None,
    default_num: int | None = None,
    stream: bool = False,
    var: Mapping[str, object] | Sequence[str] | None = None,
    at: Sequence[str | Mapping[str, float]] | Mapping[str, float] | str | None = None,
    param: Mapping[str, float] | Sequence[str] | None = None,
    wrt: str | Sequence[str] | None = None,
    grad: bool = False,
    hessian: bool = False,
    laplacian: bool = False,
    direction: str | Sequence[float] | None = None,
    div: bool = False,
    curl: bool = False,
) -> Problem:
    """Check everything a problem needs, cheapest first, without importing torch.

    Order: the declarations (--var, --param, --at, --wrt) and the expression, the dtype (which
    bounds the values an input may hold), the ranges (or the points ``x``), then order,
    method, device and the memory budget. Raises the errors of :mod:`autodiffcli.errors`.
    With ``stream``, a long --input is read as the table is computed (see
    domain.StreamedValues); else it is read whole here. ``start``/``stop`` default to -5 and
    5; giving them (or step, num, input) with several variables is an error.
    """
    limit = check_max_points(max_points)
    check_choice("dtype", dtype, DTYPES)
    ranges = _ranges(var)
    parameters = _assignments("param", param)
    points = [_assignments("at", a) for a in _listed(at)]
    given = [
        name
        for name, value in (
            ("start", start),
            ("stop", stop),
            ("step", step),
            ("num", num),
            ("input_path", input_path),
        )
        if value is not None
    ]

    def one_axis():
        if x is not None:
            return domains.from_values(x, limit)
        low = -5.0 if start is None else start
        high = 5.0 if stop is None else stop
        return domains.build(
            low, high, step, num, input_path, limit, default_num=default_num, dtype=dtype
        )

    def read_points(wanted, taken):  # --input's points of several variables, read whole
        memory = check_max_memory(max_memory)
        return domains.from_points(input_path, wanted, limit, memory, taken=taken, dtype=dtype)

    names = variables.parse_names("wrt", wrt) if wrt else None
    resolved = variables.resolve(
        expression,
        ranges,
        points,
        parameters,
        names,
        limit,
        one_axis,
        [*given, *(["x"] if x is not None else [])],
        read_points,
    )
    domain = resolved.domain
    if not stream:
        domain = domain.read_all(limit)
    shortcuts = partials.Shortcuts(grad, hessian, laplacian, _direction(direction), div, curl)
    order = (0 if shortcuts.any() else 1) if order is None else order
    check_order(order)
    problem = Problem(
        resolved.expression,
        domain,
        order,
        "reverse",
        device,
        dtype,
        wrt=tuple(resolved.expression.variables[i] for i in resolved.wrt),
        parameters=resolved.parameters,
        shortcuts=shortcuts,
    )
    plan = problem.plan  # refuses a shortcut that does not fit f (div of a scalar...)
    mixed = any(len(set(p.sequence)) > 1 for p in plan.partials)
    chosen = resolve_method(method, plan.order, problem.outputs, len(resolved.wrt), mixed)
    devices.check_name(device)
    check_representable(domain, dtype)
    memory = check_max_memory(max_memory)
    return dataclasses.replace(problem, method=chosen, max_memory=memory)


def _listed(value) -> list:
    """A repeatable option's values as a list (one value alone is a list of one)."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping)):
        return [value]
    return list(value)


def _assignments(parameter: str, value) -> dict[str, float]:
    """NAME=VALUE pairs from 'a=1,b=2' texts (repeatable) or a mapping."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {}
        for name, number in value.items():
            out[str(name)] = variables.parse_assignments(parameter, f"{name}={number}")[name]
        return out
    out: dict[str, float] = {}
    for text in _listed(value):
        for name, number in variables.parse_assignments(parameter, text).items():
            if name in out:
                raise OptionError(
                    f"{{opt.{parameter}}} gives {name} twice; give each name once",
                    parameter=parameter,
                    value=name,
                )
            out[name] = number
    return out


def _ranges(value) -> dict[str, object]:
    """--var's NAME=RANGE texts (repeatable), or a mapping of name to a range text, a
    (start, stop, step) tuple or the points themselves."""
    if value is None:
        return {}
    out: dict[str, object] = {}
    if isinstance(value, Mapping):
        for name, spec in value.items():
            out[str(name)] = _range_value(spec)
        return out
    for text in _listed(value):
        name, equals, spec = str(text).partition("=")
        name = name.strip()
        if name in out:
            raise OptionError(
                f"{name} is declared twice with {{opt.var}}; declare each name once",
                parameter="var",
                value=name,
            )
        out[name] = spec.strip() if equals else None
    return out  # NAME alone (None): the default range, chosen by variables.resolve


def _range_value(spec) -> object:
    if isinstance(spec, str) or spec is None:
        return spec
    if isinstance(spec, tuple) and len(spec) == 3:
        return ":".join(repr(float(v)) for v in spec)
    return domains.from_values(list(spec), DEFAULT_MAX_POINTS)


def _direction(value) -> tuple[float, ...] | None:
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        raise OptionError(
            f"{{opt.direction}} must be numbers separated by commas, e.g. 1,2; got {value!r}",
            parameter="direction",
            value=value,
        ) from None


def several(problem: Problem) -> bool:
    """Whether the problem goes beyond one variable and one component: its grid is then
    described on stderr, plot draws a map and explain teaches J at one point."""
    return len(problem.free) > 1 or problem.outputs > 1 or bool(problem.parameters)


def describe_points(problem: Problem) -> str:
    """The resolved grid in words: what derive understood from --var, --at and --param."""
    text = variables.describe(problem.domain, problem.parameters)
    if problem.shortcuts.direction:
        names = [problem.expression.variables[i] for i in problem.wrt_indices]
        unit = partials.unit_direction(problem.shortcuts.direction, names)
        text += "; f_dir along the unit vector (" + ", ".join(f"{u:.6g}" for u in unit) + ")"
    return text


def taylor_points(problem: Problem, texts: Sequence[str] | None) -> list:
    """--taylor-at's points: numbers X0 for a function of one variable (as before), else
    'x=-1,y=0' naming every variable; checked finite in the problem's dtype."""
    if not texts:
        return []
    if not several(problem) and problem.univariate:
        numbers = []
        for text in texts:
            try:
                numbers.append(float(text))
            except (TypeError, ValueError):
                raise OptionError(
                    f"{{opt.taylor_at}} must be a number, got {text!r}",
                    parameter="taylor_at",
                    value=text,
                ) from None
        check_finite_points("taylor_at", numbers, problem.dtype)
        return numbers
    points = []
    for text in texts:
        point = _assignments("taylor_at", text)
        if set(point) != set(problem.free):
            raise OptionError(
                f"{{opt.taylor_at}} {text!r} must give every variable of f, "
                f"{', '.join(problem.free)}: e.g. {{opt.taylor_at}} "
                + ",".join(f"{n}=0" for n in problem.free),
                parameter="taylor_at",
                value=text,
            )
        check_finite_points("taylor_at", list(point.values()), problem.dtype)
        points.append(point)
    return points


def check_representable(points: domains.Domain, dtype: str) -> None:
    """Every point must be finite in ``dtype``: 1e300 becomes inf in float32 (a streamed
    input's reader checks each value as it reads it)."""
    if points.streamed:
        return
    for name, grid in zip(points.names, points.axes, strict=True):
        if grid.values is not None:
            biggest = float(abs(grid.values).max())
        else:
            last = grid.last if grid.last is not None else grid.start + (grid.count - 1) * grid.step
            biggest = max(abs(grid.start), abs(last))
        if biggest >= DTYPE_OVERFLOW[dtype]:
            raise GridError(
                f"{name} reaches {biggest:.9g}, beyond {dtype}'s largest value "
                f"{DTYPE_MAX[dtype]:.9g}; use {{opt.dtype}}=float64 or a narrower range",
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
            f"{{opt.max_memory}} must be at least 1 MiB (1048576 bytes), got {value:g}",
            parameter="max_memory",
            value=value,
        )
    return int(value)


def resolve_method(
    method: str, order: int, outputs: int = 1, inputs: int = 1, mixed: bool = False
) -> str:
    """The engine for ``order``: ``auto`` is autograd's reverse mode at order 1 (forward mode
    when f has fewer inputs than outputs: n forward passes against m reverse ones), Taylor
    mode above, except that ``mixed`` partials of several variables stay with nested reverse
    mode up to order AUTO_MIXED_REVERSE_UP_TO (see limits)."""
    check_choice("method", method, METHODS)
    check_order(order)
    if method == "auto":
        if order <= AUTO_REVERSE_UP_TO:
            return "forward" if inputs < outputs else "reverse"
        return "reverse" if mixed and order <= AUTO_MIXED_REVERSE_UP_TO else "taylor"
    if method == "reverse" and order > REVERSE_MAX_ORDER:
        raise OptionError(
            f"{{opt.method}}=reverse goes up to order {REVERSE_MAX_ORDER} (its graph grows "
            f"about 4x per order); for order {order} use {{opt.method}}=taylor",
            parameter="order",
            value=order,
        )
    if method == "forward" and order > 1:
        raise OptionError(
            f"{{opt.method}}=forward computes first derivatives (Jacobians); for order {order} "
            "use {opt.method}=taylor, Taylor mode being forward mode carried to any order",
            parameter="method",
            value=method,
        )
    return method


def check_explain_points(problem: Problem) -> None:
    count = len(problem.domain)
    if count > MAX_EXPLAIN_POINTS:
        raise GridError(
            f"explain prints {count}x{count} Jacobians; use at most "
            f"{MAX_EXPLAIN_POINTS} points (e.g. {{opt.num}}=5)",
            parameter="num",
            value=count,
        )


def check_table_output(path: str | None, fmt: str | None, parameter: str = "output") -> str:
    """The table format for ``path`` (stdout when None or '-'), after checking the path."""
    from autodiffcli import writers

    if fmt is not None:
        check_choice("fmt", fmt, TABLE_FORMATS)
    if path is not None and path != "-":
        writers.check_output_path(path, parameter)
    return writers.choose_format(path, fmt)


def check_finite_points(
    parameter: str, values: Sequence[float] | float | None, dtype: str = "float64"
) -> None:
    """Points such as --tangent-at or --trace must be finite, in ``dtype`` too (1e39 is inf
    in float32); checked before any work."""
    for value in [values] if isinstance(values, (int, float)) else values or ():
        if not math.isfinite(value):
            raise OptionError(
                f"{{opt.{parameter}}} must be a finite number, got {value}",
                parameter=parameter,
                value=value,
            )
        if abs(value) >= DTYPE_OVERFLOW[dtype]:
            raise OptionError(
                f"{{opt.{parameter}}} {value:.9g} is beyond {dtype}'s largest value "
                f"{DTYPE_MAX[dtype]:.9g}; use {{opt.dtype}}=float64 or a smaller point",
                parameter=parameter,
                value=value,
            )


def check_points(value: str | None) -> int | None:
    """--check-points: a whole number of rows >= 1, or 'all' (None: every row)."""
    if value is None:
        return DEFAULT_CHECK_POINTS
    if value.strip().lower() == "all":
        return None
    try:
        count = float(value)
    except ValueError:
        count = math.nan
    if not (math.isfinite(count) and count >= 1 and count == int(count)):
        raise OptionError(
            f"{{opt.check_points}} must be a whole number >= 1 or 'all', got {value!r}",
            parameter="check_points",
            value=value,
        )
    return int(count)


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
    if timeout is not None and timeout > MAX_CHECK_TIMEOUT:
        raise OptionError(
            f"{{opt.check_timeout}} is at most {MAX_CHECK_TIMEOUT:,.0f} seconds (a day), got "
            f"{timeout:g}",
            parameter="check_timeout",
            value=timeout,
        )
    defaults = TOLERANCES[dtype]
    return (
        defaults[0] if rtol is None else rtol,
        defaults[1] if atol is None else atol,
        timeout,
    )
