"""Why a number in the lesson is not what it seems to be: where f or f' is not finite (a value
with no real result, a singularity, or an overflow of float64), and where torch's derivative
is not the derivative (a corner, where torch returns its rule's convention, or a value sympy's
exact derivative contradicts). Each reason is computed at its point: from the tape, from the
operation table's sympy column, and from the symbolic reference under a time budget.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from autodiffcli.lang import OPS, Expression
from autodiffcli.lesson.probes import compare, derivative_at, trace
from autodiffcli.numfmt import fmt

# Default points: where f or f' is not finite at a default point, try these fractions of the
# spacing on either side, nearest first.
NUDGES = (0.1, 0.2, 0.3, 0.4)
# sympy's exact derivatives get this many seconds per order; past it, no claim rests on them.
EXACT_SECONDS = 3.0
# torch's derivative is the derivative when within sqrt(eps) * (1 + |exact|) of sympy's: far
# more than rounding, far less than a convention (abs'(0) = 0 against slopes of -1 and 1).
EXACT_TOLERANCE = {"float64": 2.0**-26, "float32": 2.0**-12}
# One-sided slopes at a corner are torch's derivative this far (relative) from the point.
SIDE_STEP = 2.0**-30
# An overflowing value past 10^this is written as a power of ten, not with all its digits.
LONGEST_EXPONENT = 1e6
OPERATOR_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
# How a sentence names an argument of an operation by position.
ARGUMENT_NAMES = {
    "pow": ("base", "exponent"),
    "div": ("numerator", "denominator"),
}


def primes(k: int) -> str:
    """f, f', f'', f''', f^(4): the k-th derivative's name."""
    return "f" + "'" * k if k <= 3 else f"f^({k})"


def shown(value: float) -> str:
    """A number as an operand: negative ones in parentheses, so -2.5 ^ -2.5 reads right."""
    return f"({fmt(value)})" if value < 0 else fmt(value)


def computation(row: dict, rows: list[dict]) -> str:
    """The node's operation on its input values: ``(-2.5) ^ (-2.5)``, ``log(-5)``."""
    args = [rows[_at(i)]["value"] for i in row["inputs"]]
    if not args:
        return row["op"]
    if row["op"] in OPERATOR_SYMBOLS and len(args) == 2:
        return f"{shown(args[0])} {OPERATOR_SYMBOLS[row['op']]} {shown(args[1])}"
    if row["op"] == "neg":
        return f"-{shown(args[0])}"
    if row["op"] == "pos":
        return f"+{shown(args[0])}"
    return f"{row['op']}({', '.join(fmt(a) for a in args)})"


def _at(name: str) -> int:
    return int(name[1:])


def why_not_finite(expression: Expression, x0: float, rows: list[dict] | None = None) -> str | None:
    """A plain sentence saying why f or f' is not finite at x0, from the tape; None if both are.

    The reason is the first operation whose value (for f) or local partial (for f') stops being
    finite while its inputs are finite: "f is undefined at x = -5: log(-5) has no real value".
    An infinite value is an overflow where the exact result (the operation's sympy form) is a
    finite number beyond float64, and a singularity where it is not. ``rows``: the trace at x0,
    where the caller has it already.
    """
    rows = trace(expression, x0) if rows is None else rows
    slope = derivative_at(rows, expression.variables[0])
    finite_slope = math.isfinite(slope) and math.isfinite(rows[-1]["tangent"])
    return why_not_finite_at(rows, f"x = {fmt(x0)}", finite_slope)


def why_not_finite_at(
    rows: list[dict],
    at: str,
    derivative_finite: bool,
    name: str = "f",
    derivative: str = "f'(x)",
    dtype: str = "float64",
    largest: float = sys.float_info.max,
) -> str | None:
    """:func:`why_not_finite` from a trace whose last row is the root ``name``, at the point
    ``at`` ("x = 1", "(x, y) = (1, 2)"); ``derivative_finite`` says whether the derivative
    (named ``derivative``: f'(x), the gradient of f1) is finite there. ``dtype`` and
    ``largest``: the dtype the trace ran in and its largest finite value."""
    value = rows[-1]["value"]
    if not math.isfinite(value):
        culprit = next(
            row
            for row in rows
            if not math.isfinite(row["value"])
            and all(math.isfinite(rows[_at(i)]["value"]) for i in row["inputs"])
        )
        return _value_reason(culprit, rows, at, value, name, dtype, largest)
    if not derivative_finite:
        for row in rows:
            for position, partial in enumerate(row["partials"]):
                if partial is not None and not math.isfinite(partial):
                    return (
                        f"{derivative} is not finite at {at}: the derivative of "
                        f"{computation(row, rows)} with respect to "
                        f"{_argument_name(row, position)} is {fmt(partial)}"
                    )
        return f"{derivative} is not finite at {at}: the chain rule meets 0 * inf there"
    return None


def _value_reason(
    culprit: dict,
    rows: list[dict],
    at: str,
    value: float,
    name: str,
    dtype: str = "float64",
    largest: float = sys.float_info.max,
) -> str:
    then = "" if culprit is rows[-1] else f", and then {name} = {fmt(value)}"
    done = computation(culprit, rows)
    if math.isnan(culprit["value"]):
        return f"{name} is undefined at {at}: {done} has no real value{then}"
    exact = _exact_result(culprit, rows)
    if exact is None:
        return (
            f"{name} is undefined at {at}: {done} is a singularity, where torch gives "
            f"{fmt(culprit['value'])}{then}"
        )
    outcome = (
        f"{name} overflows {dtype}"
        if math.isinf(value)
        else f"{name} cannot be computed in {dtype}"
    )
    return (
        f"{outcome} at {at}: {done} is about {exact}, beyond {dtype}'s largest "
        f"value {fmt(largest)}, so torch gives {fmt(culprit['value'])}{then}"
    )


def _exact_result(row: dict, rows: list[dict]) -> str | None:
    """The operation's exact result on its (finite) inputs, as text, when it is a finite real
    number; None at a singularity (1 / 0 and log(0) are sympy's zoo)."""
    import mpmath
    import sympy

    args = [sympy.Float(rows[_at(i)]["value"], 30) for i in row["inputs"]]
    try:
        result = OPS[row["op"]].sympy(sympy, *args).evalf(15)
    except (ArithmeticError, ValueError, TypeError):  # Float(1) / Float(0): a singularity
        return None
    if not (result.is_number and result.is_real and result.is_finite):
        return None
    decades = float(mpmath.log10(abs(mpmath.mpf(sympy.Float(result)._mpf_))))
    if decades > LONGEST_EXPONENT:  # exp(exp(exp(6))): an exponent of 175 digits
        return f"{'-' if result < 0 else ''}10^{fmt(decades)}"
    return sympy.sstr(sympy.Float(result, 6), full_prec=False)


def _argument_name(row: dict, position: int) -> str:
    if len(row["inputs"]) == 1:
        return "its argument"
    names = ARGUMENT_NAMES.get(row["op"], ("its first operand", "its second operand"))
    name = names[position]
    return name if name.startswith("its") else f"the {name}"


@dataclass(frozen=True)
class DefaultPoints:
    """Evenly spaced points, with those where f or f' is not finite moved when that helps.

    Attributes:
        points: the points to explain.
        notes: one sentence per point moved or kept, saying what was done.
    """

    points: list[float]
    notes: list[str]


def default_points(
    expression: Expression, start: float = -5.0, stop: float = 5.0, n: int = 5
) -> DefaultPoints:
    """``n`` points from ``start`` to ``stop``, each moved by a fraction of the spacing (within
    the range) where f or f' is not finite and a nearby point is finite. Only for ranges the
    user did not choose: their own points are explained as given. The reason a kept point is
    not finite is the goal's to say, once."""
    step = (stop - start) / (n - 1) if n > 1 else 1.0
    points, notes = [], []
    for index in range(n):
        point = start + index * step if index < n - 1 else stop
        reason = why_not_finite(expression, point)
        if reason is None:
            points.append(point)
            continue
        better = _nearby_finite(expression, point, step, start, stop)
        if better is None:
            notes.append(
                f"The default point x = {fmt(point)} stays, though f or f' is not finite there: "
                f"f and f' are not finite at any point tried within "
                f"{fmt(max(NUDGES) * abs(step))} of it either."
            )
            points.append(point)
        else:
            notes.append(
                f"The default point x = {fmt(point)} was moved to {fmt(better)}, since {reason}."
            )
            points.append(better)
    return DefaultPoints(points, notes)


def _nearby_finite(expression, point: float, step: float, start: float, stop: float):
    low, high = min(start, stop), max(start, stop)
    for fraction in NUDGES:
        for sign in (1, -1):
            candidate = point + sign * fraction * abs(step)
            if low <= candidate <= high and why_not_finite(expression, candidate) is None:
                return candidate
    return None


# ----- torch's derivative against sympy's -----


@dataclass(frozen=True)
class Verdict:
    """Whether torch's k-th derivative at a point is the k-th derivative there.

    Attributes:
        kind: "exact" (sympy agrees), "unchecked" (sympy did not finish), "undefined" (f or a
            lower derivative has no value there), "corner" (a lower derivative has a corner:
            torch's value is its rule's convention) or "differs" (sympy's value is another).
        text: the sentence saying so, for every kind but "exact" and "unchecked".
    """

    kind: str
    text: str = ""

    @property
    def is_derivative(self) -> bool:
        return self.kind == "exact"

    @property
    def refuted(self) -> bool:
        """sympy shows that torch's value is not the derivative."""
        return self.kind not in ("exact", "unchecked")


@dataclass(frozen=True)
class Exact:
    """sympy's f, f', ... at each point (the symbolic reference of ``--check``).

    Attributes:
        points: the points.
        values: values[k][i], sympy's k-th derivative at points[i] (NaN where it has none).
        reasons: the reference's reason codes, 0 where values[k][i] is a value.
    """

    points: list[float]
    values: list[np.ndarray]
    reasons: list[np.ndarray]

    def __repr__(self) -> str:
        return f"Exact({len(self.points)} points, orders 0..{len(self.values) - 1})"


def exact_derivatives(
    expression: Expression, points, order: int, seconds: float = EXACT_SECONDS
) -> Exact:
    """sympy's derivatives up to ``order`` at ``points``, each order within ``seconds``."""
    from autodiffcli.verify import references

    xs = np.asarray(points, dtype=np.float64)
    orders = list(range(order + 1))
    results = references.bounded(
        lambda: references.symbolic_orders(expression, xs, order), orders, len(xs), seconds
    )
    return Exact(
        [float(v) for v in xs], [results[k][0] for k in orders], [results[k][1] for k in orders]
    )


def verdict(exact: Exact, k: int, point: float, value: float, dtype: str, sides=None) -> Verdict:
    """Whether ``value``, torch's k-th derivative at ``point``, is the k-th derivative there.

    ``sides``: torch's k-th derivative just left and right of the point, named at a corner.
    """
    from autodiffcli.verify import references as ref

    i = exact.points.index(point)
    at = fmt(point)
    if exact.reasons[0][i] == ref.UNDEFINED:
        return Verdict(
            "undefined", f"f is undefined at x = {at}, so {primes(k)}({at}) does not exist"
        )
    for j in range(1, k + 1):
        reason = exact.reasons[j][i]
        if reason == ref.KINK and j == k:
            return Verdict("corner", _corner_text(k, at, value, sides))
        if reason == ref.KINK:
            return Verdict(
                "undefined",
                f"{primes(j - 1)} has a corner at x = {at}, so {primes(j)}({at}) does not "
                f"exist, nor does {primes(k)}({at})",
            )
        if reason == ref.UNDEFINED:
            return Verdict(
                "undefined",
                f"sympy's {primes(j)} has no value at x = {at}, so {primes(k)} "
                f"does not exist there (torch gives {fmt(value)})",
            )
    if exact.reasons[k][i] != ref.OK:
        return Verdict("unchecked")
    truth = float(exact.values[k][i])
    tolerance = EXACT_TOLERANCE[dtype]
    if compare(value, truth, rtol=tolerance, atol=tolerance).equal:
        return Verdict("exact")
    return Verdict(
        "differs",
        f"torch gives {primes(k)}({at}) = {fmt(value)}, but sympy's exact {primes(k)} is "
        f"{fmt(truth)} there: torch's value is not the derivative",
    )


def _corner_text(k: int, at: str, value: float, sides) -> str:
    text = (
        f"{primes(k - 1)} has a corner at x = {at}, so {primes(k)}({at}) does not exist; "
        f"torch returns {fmt(value)} there, the convention of its rule"
    )
    if sides is None:
        return text
    left, right = sides
    text += f" (the slopes just left and right of it are {fmt(left)} and {fmt(right)}"
    if min(left, right) <= value <= max(left, right):
        text += f", and {fmt(value)} lies between them, as a subgradient does"
    return text + ")"


def side_step(point: float) -> float:
    """How far from a corner its one-sided slopes are taken."""
    return SIDE_STEP * max(1.0, abs(point))
