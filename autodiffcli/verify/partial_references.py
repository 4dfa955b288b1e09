"""The references for partial derivatives (:mod:`several`'s check): sympy's formula of each
partial, evaluated with mpmath as in one variable, judged one-sidedly at the points where a
condition switches; and finite differences of f along each variable at high precision. Each runs
in a forked process with a time budget per column, as :mod:`references` runs its orders.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import mpmath
import numpy as np
import sympy as sp

from autodiffcli.partials import Column, Partial
from autodiffcli.verify.references import (
    CHUNK,
    CONSTANT_DIGITS,
    CONVERGENCE_BITS,
    KINK,
    NUMERIC_DIGITS,
    NUMERIC_REACH,
    OK,
    PROBE_DIGITS,
    STEP_BITS,
    TRUST_FRACTION,
    UNCONVERGED,
    UNDEFINED,
    UNRESOLVED,
    _real,
    _store,
    bounded,
    converged_value,
    mp_function,
    symbols,
    sympy_expression,
)

NEAR_BITS, FAR_BITS = 60, 20  # one-sided probes at |v| 2**-60 and 2**-20 from the point
SWITCH_BITS = 120  # a comparison's sides equal to this many bits: the condition switches here
ADDPREC_BITS = 20  # as the one-variable reference's mpmath.diff(..., addprec=20)


class Note(NamedTuple):
    """A sampled point where a condition switches (``condition``; ``tie``: min or max tie
    there). Where the column is not differentiable there, ``variable`` is the one along which
    the sides of the partial (output, sequence) differ: its values jump (``jump``) or its
    one-sided derivatives differ, ``left`` and ``right``; else ``variable`` is None."""

    index: int
    condition: str
    tie: bool
    variable: int | None = None
    output: int = 0
    sequence: tuple[int, ...] = ()
    jump: bool = False
    left: float = math.nan
    right: float = math.nan


def column_order(column: Column) -> int:
    """The highest order of the partials in a column."""
    return max((p.order for p in column.partials), default=0)


# ----- the symbolic reference -----


class Formulas:
    """The sympy formulas of an expression's partials, each differentiated once from the
    partial before it in canonical order, and their mpmath functions."""

    def __init__(self, expression):
        self.expression = expression
        self.symbols = symbols(expression)
        self.components = [
            sympy_expression(expression.component(k)) for k in range(len(expression.outputs))
        ]
        self._formulas: dict = {}
        self._functions: dict = {}

    def partial(self, output: int, sequence: tuple[int, ...]):
        key = (output, sequence)
        if key not in self._formulas:
            if not sequence:
                formula = self.components[output]
            else:
                formula = sp.diff(self.partial(output, sequence[:-1]), self.symbols[sequence[-1]])
                # DiracDelta terms vanish away from a kink, where the derivative is undefined
                formula = formula.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
            self._formulas[key] = formula
        return self._formulas[key]

    def function(self, output: int, sequence: tuple[int, ...]):
        key = (output, sequence)
        if key not in self._functions:
            self._functions[key] = mp_function(self.partial(output, sequence), self.symbols)
        return self._functions[key]

    def column(self, column: Column):
        """The column's polynomial of partials, as one formula."""
        total = sp.S.Zero
        for coefficient, factors in column.terms:
            term = _number(coefficient)
            for p in factors:
                term = term * self.partial(p.output, p.sequence)
            total = total + term
        return total

    @functools.cache  # noqa: B019 - one Formulas per reference process
    def rough(self, output: int, sequence: tuple[int, ...]) -> bool:
        """Whether the partial's formula, or one on the way to it, may jump or be 0/0 at a
        point (abs, sign, a fractional power), so that every point is probed."""
        return any(_rough(self.partial(output, sequence[:k])) for k in range(len(sequence) + 1))


def _number(value: float):
    if float(value).is_integer():
        return sp.Integer(int(value))
    return sp.Float(value, CONSTANT_DIGITS)  # the float64 the engine multiplies by


def _rough(formula) -> bool:
    if formula.has(sp.Abs, sp.sign):
        return True
    return any(p.exp.is_Rational and not p.exp.is_Integer for p in formula.atoms(sp.Pow))


def switches(formula) -> list[tuple[str, bool, object, object]]:
    """(text, tie, a, b) for each comparison in the formula's conditions (text: x > 0) and each
    pair of arguments of min and max (tie, text: max(x, 0)): where a = b at a point, the
    formula switches there."""
    out = []
    for relation in formula.atoms(sp.core.relational.Relational):
        text = f"{relation.lhs} {relation.rel_op} {relation.rhs}"
        out.append((text, False, relation.lhs, relation.rhs))
    for extremum in formula.atoms(sp.Min, sp.Max):
        args = extremum.args
        for i in range(len(args)):
            for k in range(i + 1, len(args)):
                out.append((str(extremum).lower(), True, args[i], args[k]))
    return out


class Switches:
    """Which condition, if any, switches at a point (per component, cached by point)."""

    def __init__(self, formulas: Formulas):
        self.sides = []
        for formula in formulas.components:
            found = [
                (
                    text,
                    tie,
                    mp_function(a - b, formulas.symbols),
                    mp_function(abs(a) + abs(b), formulas.symbols),
                )
                for text, tie, a, b in switches(formula)
            ]
            self.sides.append(found)
        self._cache: dict = {}

    def at(self, output: int, index: int, point) -> tuple[str, bool] | None:
        key = (output, index)
        if key not in self._cache:
            self._cache[key] = self._find(output, point)
        return self._cache[key]

    def _find(self, output: int, point):
        with mpmath.workdps(PROBE_DIGITS):
            args = [mpmath.mpf(v) for v in point]
            for text, tie, difference, size in self.sides[output]:
                gap, scale = _mp(difference, args), _mp(size, args)
                if gap is None or scale is None:
                    continue
                if gap == 0 or abs(gap) <= mpmath.ldexp(scale, -SWITCH_BITS):
                    return text, tie
        return None


def symbolic_chunks(expression, columns: Sequence[Column], points: np.ndarray) -> Iterator:
    """(column, begin, values, reasons, notes) for each chunk of points, column by column;
    a :class:`Note` for each point where a condition switches."""
    formulas = Formulas(expression)
    switched = Switches(formulas)
    for j, column in enumerate(columns):
        single = column.single
        function = None
        if single is None:
            function = mp_function(formulas.column(column), formulas.symbols)
        order = column_order(column)
        for begin in range(0, len(points), CHUNK):
            chunk = points[begin : begin + CHUNK]
            values = np.empty(len(chunk))
            reasons = np.zeros(len(chunk), dtype=np.int8)
            notes = []
            for i, point in enumerate(chunk):
                index = begin + i
                if single is not None:
                    value, reason, note = partial_at(formulas, switched, single, index, point)
                else:
                    value, reason, note = _column_at(
                        formulas, switched, column, function, order, index, point
                    )
                values[i], reasons[i] = value, reason
                if note is None and order >= 1:
                    outputs = {p.output for p in column.partials}
                    found = (switched.at(k, index, point) for k in outputs)
                    switch = next(filter(None, found), None)
                    note = None if switch is None else Note(index, *switch)
                if note is not None:
                    notes.append(note)
            yield j, begin, values, reasons, notes


def _column_at(formulas, switched, column, function, order, index, point):
    """A polynomial column: its formula's value, unless a partial in it must be judged from
    both sides at the point (then the polynomial of the partials' judged values)."""
    if not any(
        formulas.rough(p.output, p.sequence) or switched.at(p.output, index, point)
        for p in column.partials
    ):
        value, reason = converged(function, point, order)
        return value, reason, None
    judged = {}
    for p in column.partials:
        value, reason, kink = partial_at(formulas, switched, p, index, point)
        if reason != OK:
            return math.nan, reason, kink
        judged[p] = value
    total = sum(c * math.prod(judged[p] for p in factors) for c, factors in column.terms)
    return total, OK, None


def converged(function, point, order: int) -> tuple[float, int]:
    """function(*point) as references.converged_value gives it: the precision grows with the
    coordinate of most decades."""
    decades = [abs(math.log10(abs(v))) if v != 0 else 0.0 for v in point]
    widest = float(point[int(np.argmax(decades))])
    return converged_value(
        lambda _: function(*(mpmath.mpf(float(v)) for v in point)), widest, order
    )


def partial_at(formulas, switched, partial: Partial, index: int, point):
    """(value, reason, note) of one partial at one point; the note (a :class:`Note`) where a
    switching condition makes it not differentiable."""
    output, sequence = partial.output, partial.sequence
    value, reason = converged(formulas.function(output, sequence), point, partial.order)
    if reason != OK:
        return value, reason, None
    rough = formulas.rough(output, sequence)
    switch = switched.at(output, index, point)
    if partial.order == 0:  # f is defined at the point, whatever its sides
        if rough:
            axes = [i for i, s in enumerate(formulas.symbols) if formulas.components[output].has(s)]
            return (*_limit_along(formulas.function(output, ()), point, value, axes), None)
        return value, OK, None
    if not (rough or switch):
        return value, OK, None
    # Each partial on the way exists: the one before it is continuous along the variable it
    # is differentiated by, and its own sides along that variable meet (the one-sided
    # derivatives agree).
    for k in range(1, len(sequence) + 1):
        variable = sequence[k - 1]
        before = formulas.function(output, sequence[: k - 1])
        sides = _sides(before, point, variable)
        at = _probe_value(before, point)  # a formula 0/0 at the point: its sides must meet
        if sides is not None and not (
            _continuous(at, sides) if mpmath.isfinite(at) else _meet(sides)
        ):
            return (
                math.nan,
                KINK,
                _kink(index, output, variable, sequence[: k - 1], True, sides, switch),
            )
        sides = _sides(formulas.function(output, sequence[:k]), point, variable)
        if sides is not None and not _meet(sides):
            return (
                math.nan,
                KINK,
                _kink(index, output, variable, sequence[:k], False, sides, switch),
            )
    limit, why = _limit_along(formulas.function(output, sequence), point, value, [sequence[-1]])
    return limit, why, None


def _kink(index, output, variable, sequence, jump, sides, switch) -> Note | None:
    if switch is None or sides is None:
        return None
    (right, _), (left, _) = sides
    return Note(index, *switch, variable, output, sequence, jump, float(left), float(right))


def _limit_along(function, point, value: float, axes) -> tuple[float, int]:
    """(value, OK) where the formula is continuous at the point along each axis; its limit
    where both sides meet elsewhere (a formula that is 0/0 there); (NaN, KINK) where the
    sides differ (as references._probed, along several axes)."""
    if not math.isfinite(value):
        return value, OK  # beyond float64, as the table holds it
    at = _probe_value(function, point)
    at = at if mpmath.isfinite(at) else mpmath.mpf(value)
    limits = []
    for axis in axes:
        sides = _sides(function, point, axis)
        if sides is None or _continuous(at, sides):
            continue
        if not _meet(sides):
            return math.nan, KINK
        (right, right_far), (left, left_far) = sides
        limits.append(_extrapolated(right, right_far) / 2 + _extrapolated(left, left_far) / 2)
    if not limits:
        return value, OK
    if any(abs(a - limits[0]) > mpmath.ldexp(abs(limits[0]), -30) for a in limits):
        return math.nan, KINK
    return float(limits[0]), OK


def _extrapolated(near, far):
    """The limit at distance 0 of values at distances 2**-NEAR_BITS and 2**-FAR_BITS, linearly;
    0 where it is negligible beside the change over the far probe."""
    with mpmath.workdps(PROBE_DIGITS):
        r = mpmath.ldexp(1, FAR_BITS - NEAR_BITS)
        limit = near - (far - near) * r / (1 - r)
        if abs(limit) <= mpmath.ldexp(max(abs(far), abs(near)), -30):
            return mpmath.mpf(0)
        return limit


def _probe_value(function, point):
    with mpmath.workdps(PROBE_DIGITS):
        value = _mp(function, [mpmath.mpf(float(v)) for v in point])
    return mpmath.nan if value is None else value


def _sides(function, point, axis: int):
    """((near, far) on the right, (near, far) on the left) along ``axis``, at PROBE_DIGITS;
    None where a side is undefined (outside the domain: nothing to compare)."""
    scale = abs(float(point[axis])) or 1.0
    out = []
    with mpmath.workdps(PROBE_DIGITS):
        for direction in (1, -1):
            side = []
            for bits in (NEAR_BITS, FAR_BITS):
                args = [mpmath.mpf(float(v)) for v in point]
                args[axis] += direction * mpmath.ldexp(scale, -bits)
                value = _mp(function, args)
                if value is None:
                    return None
                side.append(value)
            out.append(tuple(side))
    return tuple(out)


def _meet(sides) -> bool:
    """Whether both sides tend to one limit: they differ by far less than either changes
    between its probes (or by 2**-30 relatively)."""
    (right, right_far), (left, left_far) = sides
    spread = abs(right_far - right) + abs(left_far - left)
    size = max(abs(right), abs(left))
    return abs(right - left) <= mpmath.ldexp(spread, -FAR_BITS) + mpmath.ldexp(size, -30)


def _continuous(value, sides) -> bool:
    if not mpmath.isfinite(value):
        return False
    return all(abs(near - value) <= mpmath.ldexp(abs(far - value), -20) for near, far in sides)


def _mp(function, args):
    """function(*args) as a real mpf; None where it fails, is complex or not finite."""
    try:
        value = function(*args)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError, ArithmeticError):
        return None
    if isinstance(value, mpmath.mpc):
        if abs(value.imag) > 1e-30 * max(1, abs(value.real)):
            return None
        value = value.real
    try:
        value = mpmath.mpf(value)
    except (TypeError, ValueError):
        return None
    return value if mpmath.isfinite(value) else None


# ----- the numerical reference -----


def numerical_chunks(
    expression, columns: Sequence[Column], points: np.ndarray, rtol: float, atol: float
) -> Iterator:
    """(column, begin, values, reasons, []) for each chunk of points, column by column: each
    column's polynomial of the partials' finite-difference estimates, at their precision."""
    functions = [
        mp_function(sympy_expression(expression.component(k)), symbols(expression))
        for k in range(len(expression.outputs))
    ]
    for j, column in enumerate(columns):
        for begin in range(0, len(points), CHUNK):
            chunk = points[begin : begin + CHUNK]
            pairs = [_column_difference(functions, column, p, rtol, atol) for p in chunk]
            values = np.array([value for value, _ in pairs])
            reasons = np.array([reason for _, reason in pairs], dtype=np.int8)
            yield j, begin, values, reasons, []


def _column_difference(functions, column: Column, point, rtol, atol) -> tuple[float, int]:
    estimates = {}
    for p in column.partials:
        value, reason = mixed_difference(functions[p.output], point, p.counts, rtol, atol)
        if reason != OK:
            return math.nan, reason
        estimates[p] = value
    with mpmath.workdps(NUMERIC_DIGITS):
        total = mpmath.mpf(0)
        for coefficient, factors in column.terms:
            term = mpmath.mpf(coefficient)
            for p in factors:
                term *= estimates[p]
            total += term
        return float(total), OK


def mixed_difference(
    function, point, counts: Sequence[int], rtol: float, atol: float
) -> tuple[object, int]:
    """(d^counts f at the point as an mpf, OK), or (NaN, why not), by finite differences: the
    central stencil of each variable's order, multiplied (a tensor product, as nested central
    differences give), each step relative to its coordinate. As references.finite_difference
    in one variable, the estimate counts only if one with steps 2**CONVERGENCE_BITS times
    smaller, and the one-sided ones, agree with it to a tenth of ``atol + rtol*|value|``: for a
    mixed partial, one-sided along each variable in every combination of sides (f_xy across
    the line x = y: forward in x and backward in y differs from the reverse)."""
    involved = [i for i, c in enumerate(counts) if c]
    for i in involved:
        v = float(point[i])
        if v != 0 and not NUMERIC_REACH[0] < abs(v) < NUMERIC_REACH[1]:
            return math.nan, UNRESOLVED
    with mpmath.workdps(NUMERIC_DIGITS):
        args = [mpmath.mpf(float(v)) for v in point]
        if not math.isfinite(_real(function, *args)):
            return math.nan, UNDEFINED
        steps = [
            (abs(args[i]) if args[i] != 0 else mpmath.mpf(1)) * mpmath.ldexp(1, -STEP_BITS)
            for i in range(len(args))
        ]
        memo: dict = {}  # the stencils share points: f at each is computed once
        central = _stencil(function, args, counts, steps, [0] * len(args), memo)
        if central is None:
            return math.nan, UNDEFINED
        allowed = TRUST_FRACTION * (atol + rtol * abs(central))
        smaller = [s * mpmath.ldexp(1, -CONVERGENCE_BITS) for s in steps]
        again = _stencil(function, args, counts, smaller, [0] * len(args), memo)
        if again is None or not abs(again - central) <= allowed:
            return math.nan, UNCONVERGED
        for signs in itertools.product((1, -1), repeat=len(involved)):
            directions = [0] * len(args)
            for i, sign in zip(involved, signs, strict=True):
                directions[i] = sign
            side = _stencil(function, args, counts, steps, directions, memo)
            if side is None or not abs(side - central) <= allowed:
                return math.nan, KINK
    return central, OK


def _stencil(function, args, counts, steps, directions, memo: dict):
    """The finite difference of f of order counts[i] along each variable i at ``args``: where
    directions[i] is 0 central (offsets -n, -n+2, ..., n steps, norm 2h), else one-sided
    (offsets 0..n steps that way, norm h), as mpmath.diff; None where a value fails. ``memo``
    holds f at the points already computed, by step list and offsets."""
    order = sum(counts)
    bits = (mpmath.mp.prec + 2 * ADDPREC_BITS) * (order + 1)
    stencils = []
    with mpmath.workprec(bits):
        norm = mpmath.mpf(1)
        for i, n in enumerate(counts):
            if not n:
                continue
            direction = directions[i]
            offsets = range(n + 1) if direction else range(-n, n + 1, 2)
            h = steps[i] * (direction or 1)
            norm *= (h if direction else 2 * h) ** n
            weights = [(-1) ** (n - k) * math.comb(n, k) for k in range(n + 1)]
            signed = [o * (direction or 1) for o in offsets]  # in steps of steps[i]
            stencils.append([(i, o, w) for o, w in zip(signed, weights, strict=True)])
        total = mpmath.mpf(0)
        for combination in itertools.product(*stencils):
            key = (id(steps), *((i, o) for i, o, _ in combination))
            if key not in memo:
                shifted = list(args)
                for i, o, _ in combination:
                    shifted[i] = shifted[i] + o * steps[i]
                memo[key] = _mp(function, shifted)
            if memo[key] is None:
                return None
            total += math.prod(w for _, _, w in combination) * memo[key]
        return total / norm


# ----- running both under a budget -----


def bounded_columns(chunks, keys, n: int, timeout: float | None, stop=None):
    """({key: (values, reasons)}, notes) from what ``chunks()`` yields, each key (column)
    given at most ``timeout`` seconds in a forked process, by references.bounded; notes are
    (key, :class:`Note`) of the switch points, which each message carries last."""
    keys = list(keys)
    notes: list = []
    if not keys:
        return {}, notes

    def store(results, k, begin, values, reasons, found):
        _store(results, k, begin, values, reasons)
        notes.extend((k, note) for note in found)

    return bounded(chunks, keys, n, timeout, stop, store), notes
