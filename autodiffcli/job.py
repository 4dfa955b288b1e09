"""The job layer's checks: one :class:`~autodiffcli.problem.Problem` built from the options, in
a fixed, fail-fast order, without importing torch, so every mistake answers at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from autodiffcli import devices, lang
from autodiffcli import domain as domains
from autodiffcli.errors import GridError, OptionError
from autodiffcli.limits import (
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
    start: float = -5.0,
    stop: float = 5.0,
    step: float | None = None,
    num: int | None = None,
    input_path: str | None = None,
    max_points: float = DEFAULT_MAX_POINTS,
    order: int = 1,
    method: str = "auto",
    device: str = "cpu",
    dtype: str = "float64",
    max_memory: float | None = None,
    default_num: int | None = None,
    stream: bool = False,
) -> Problem:
    """Check everything a problem needs, cheapest first, without importing torch.

    Order: the expression, the dtype (which bounds the values an input may hold), the range
    (or the points ``x``), then order, method, device and the memory budget. Raises the errors
    of :mod:`autodiffcli.errors`. With ``stream``, a long --input is read as the table is
    computed (see domain.StreamedValues); else it is read whole here.
    """
    parsed = lang.parse(expression)
    limit = check_max_points(max_points)
    check_choice("dtype", dtype, DTYPES)
    if x is not None:
        grid = domains.from_values(x, limit)
    else:
        grid = domains.build(
            start, stop, step, num, input_path, limit, default_num=default_num, dtype=dtype
        )
    points = domains.single(grid, parsed.variables[0])
    if not stream:
        points = points.read_all(limit)
    resolved = resolve_method(method, order)
    devices.check_name(device)
    check_representable(points, dtype)
    memory = check_max_memory(max_memory)
    return Problem(parsed, points, order, resolved, device, dtype, memory)


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


def resolve_method(method: str, order: int) -> str:
    """The engine for ``order``: ``auto`` is reverse mode at order 1, Taylor mode above."""
    check_choice("method", method, METHODS)
    check_order(order)
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
