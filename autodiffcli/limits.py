"""The choices and limits every layer shares, each written once; torch-free.

The CLI builds its enums and completions from these tuples, the job layer checks against them,
and the engines size their work by them. A constant that two layers need lives here, below both.
"""

from __future__ import annotations

import math

from autodiffcli.errors import OptionError

# ----- The choices -----
METHODS = ("auto", "reverse", "forward", "taylor")
DTYPES = ("float64", "float32")
DEVICES = ("cpu", "auto", "cuda", "mps")  # and cuda:N
EXPLAIN_FORMATS = ("text", "markdown", "json")
TABLE_FORMATS = ("csv", "tsv", "parquet", "ndjson", "netcdf")  # netcdf: an optional extra

# The largest finite value of each dtype (float64's is any finite Python float).
DTYPE_MAX = {"float64": math.inf, "float32": 3.4028234663852886e38}
# The smallest magnitude that rounds to inf in each dtype (float32's largest plus half an ulp):
# 3.4028235e38, as numpy prints float32's largest value, rounds to it and is kept.
DTYPE_OVERFLOW = {"float64": math.inf, "float32": 2.0**128 - 2.0**103}

# ----- Orders and engines -----
# Repeated reverse mode grows the graph about 3-4x per order; past 10 it is hopeless.
REVERSE_MAX_ORDER = 10
MAX_ORDER = 30  # the Taylor engine's: values overflow to inf long before cost matters
# `auto` keeps autograd's reverse mode at order <= this (the mission's method), Taylor above:
# measured in bench/RESULTS.md, Taylor is faster from order 2 on.
AUTO_REVERSE_UP_TO = 1
# ... and mixed partials of several variables by nested reverse mode up to this order, Taylor
# mode's interpolation above. Interpolated mixed partials are accurate relative to the largest
# partial of their order at the point, not to themselves (x/y's f_xxyy, exactly 0, came out
# 5.5e-12, and --check failed a 3-variable f_yyz by 2x its tolerance), while nested reverse
# mode keeps each partial's own digits. Measured (2026-12-06, this machine, whole processes,
# exp(x)*sin(y) + x^2*y^3/(1+x^2) on 1e5 points): order 4 2.42 s reverse against 2.52 s
# Taylor; order 6 6.02 s against 2.29 s.
AUTO_MIXED_REVERSE_UP_TO = 4

# ----- Sizes -----
DEFAULT_MAX_POINTS = 1_000_000_000
# --check compares this many rows by default (both references, every order), spread evenly.
DEFAULT_CHECK_POINTS = 2000
MAX_EXPLAIN_POINTS = 20


def check_order(order: int) -> int:
    """``order`` if it is a whole number from 0 to MAX_ORDER; the one order check."""
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        raise OptionError(
            f"{{opt.order}} must be a whole number from 0 to {MAX_ORDER}, got {order!r}",
            parameter="order",
            value=order,
        )
    return order


def check_choice(parameter: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``; an OptionError naming them if not."""
    if value not in choices:
        raise OptionError(
            f"{{opt.{parameter}}} must be one of {', '.join(choices)}, got {value!r}",
            parameter=parameter,
            value=value,
        )
    return value


# plot of two variables: how a map is drawn, the arrows over it, a field's background.
MAP_KINDS = ("contourf", "contour", "heatmap", "surface")
FIELD_STYLES = ("quiver", "stream", "none")
BACKGROUNDS = ("div", "curl", "none")
