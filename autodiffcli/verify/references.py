"""Independent checks of autograd's derivatives: symbolic (sympy + mpmath) and numerical.

The symbolic reference turns the parsed tape into a sympy expression node by node (the sympy
column of the function table; no string is ever sympified), differentiates it, and evaluates
it with mpmath, raising the working precision until two evaluations agree. The numerical
reference differentiates f by mpmath's high-precision finite differences with a step relative
to |x|, and skips points where the one-sided and central estimates disagree (a kink, a pole, an
infinite derivative). Each reference runs in a forked process under a time budget per order;
what does not finish is reported as skipped, "too expensive", never a hang. Imported only by
``--check`` and ``--reference``: sympy is slow to import.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import mpmath
import numpy as np
import sympy as sp

from autodiffcli.lang import PIECEWISE, Expression, fold

DIGITS = 40  # the symbolic reference's first working precision (plus one digit per decade of x)
ZERO_DIGITS = 320  # a value that is 0 at this precision and twice it is 0 (see _agree)
MAX_DIGITS = 8_000  # past this, a value whose evaluations still disagree is "did not converge"
CONSTANT_DIGITS = 60  # constant sub-expressions (7^12345) are folded to floats this precise
CONSTANT_EXPONENT = 1e6  # ... unless their decimal exponent would pass this (see below)
NUMERIC_DIGITS = 30  # the numerical reference's target precision
PROBE_DIGITS = 80  # the symbolic reference's probe of both sides of a point
STEP_BITS = 64  # finite-difference step: |x| * 2**-STEP_BITS (1 * 2**-STEP_BITS at x = 0)
CONVERGENCE_BITS = 16  # a second central estimate with a step this many bits smaller
TRUST_FRACTION = 0.1  # estimates must agree within this fraction of the check's tolerance
DEFAULT_TIMEOUT = 5.0  # seconds per reference and order
CHUNK = 64  # points per message from a reference process
EXP_LIMIT = 1e9  # exp(a) for |a| beyond this saturates to inf or 0 (float64 ends at 710)
WAKE_SECONDS = 0.1  # how often a wait for a reference looks whether it should stop
_PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies


# Why a point has no reference value (0: it has one).
OK, UNDEFINED, KINK, UNCONVERGED, EXPENSIVE, FAILED, UNRESOLVED = range(7)
REASONS = {
    UNDEFINED: "not real or not finite",
    KINK: "not differentiable",
    UNCONVERGED: "did not converge",
    EXPENSIVE: "too expensive",
    FAILED: "reference failed",
    UNRESOLVED: "beyond the numerical reference's reach",
}
# Where finite differences at NUMERIC_DIGITS cannot resolve x: sin(1e100) needs 100 digits to
# reduce its argument, and a step of 1e-100 * 2**-64 vanishes beside f(1e-100) = 1 (exp).
NUMERIC_REACH = (1e-100, 1e50)


def symbols(expression: Expression) -> tuple:
    """The expression's variables as real sympy symbols, in order."""
    return tuple(sp.Symbol(name, real=True) for name in expression.variables)


def sympy_expression(expression: Expression):
    """The expression as sympy, built node by node from the tape. A vector-valued expression
    is refused (ValueError): its reference is that of each component, expression.component(k),
    a scalar expression of its own."""
    if expression.is_vector:
        raise ValueError(
            f"{expression.text!r} is vector-valued: build each component's reference, "
            "sympy_expression(expression.component(k))"
        )
    values = fold(expression, symbols(expression), sympy_constant, _sympy_apply)
    return values[expression.outputs[0]]


def sympy_constant(node):
    if node.label == "pi":
        return sp.pi
    if node.label == "e":
        return sp.E
    value = node.value
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.Float(value, CONSTANT_DIGITS)  # the float64 torch uses, not the decimal typed


def _sympy_apply(node, op, args):
    if any(arg.free_symbols for arg in args) or op.name in PIECEWISE:
        # where, min, max and conditions of constants: sympy compares exact numbers itself
        # (the table's column answers NaN comparisons as torch does).
        return op.sympy(sp, *args)
    return _folded_constant(op, args)


def _folded_constant(op, args):
    """A constant sub-expression as a float: sympy would raise 7^12345 or 9^9^9 to an exact
    integer (unbounded time and memory, and Python's 4300-digit limit on printing it). One
    whose decimal exponent would pass CONSTANT_EXPONENT (2^2^2^20) is not evaluated, since
    mpmath would spend memory in proportion to it: it is +-inf where its sign is plain, as
    float64 holds it, else NaN (see _beyond_float64)."""
    if _log10_magnitude(op, args) > CONSTANT_EXPONENT:
        return _beyond_float64(op, args)
    with sp.evaluate(False):
        unevaluated = op.sympy(sp, *args)
    value = unevaluated.evalf(CONSTANT_DIGITS)
    if value.is_Number or (value.is_number and value.free_symbols == set()):
        if value in (sp.oo, -sp.oo):
            return value  # beyond float64, as the table holds it
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            return sp.nan
        return value
    return sp.nan


def _beyond_float64(op, args):
    """A constant too large to evaluate, as float64 holds it: +-oo where its sign is plain
    (2^2^2^20, exp of a huge positive number), 0 for exp of a huge negative one, else NaN."""
    values = [arg.evalf(15) for arg in args]
    if not all(value.is_real for value in values):
        return sp.nan
    if op.name == "pow":
        base, exponent = values
        if base > 1 and exponent > 0:
            return sp.oo
        return sp.nan
    if op.name in ("exp", "expm1", "softplus", "cosh"):
        return sp.oo if values[0] > 0 or op.name == "cosh" else sp.S.Zero
    if op.name == "sinh":
        return sp.oo if values[0] > 0 else -sp.oo
    return sp.nan


def _log10_magnitude(op, args) -> float:
    """An upper estimate of log10 |op(*args)| for the operations that can explode."""
    sizes = [_log10_abs(arg) for arg in args]
    if op.name == "pow":
        base, exponent = sizes
        return 10.0**exponent * max(abs(base), 1.0) if exponent < 300 else math.inf
    if op.name in ("exp", "sinh", "cosh", "expm1", "softplus"):
        return 10.0 ** sizes[0] if sizes[0] < 300 else math.inf
    return max(sizes, default=0.0) + 1


def _log10_abs(value) -> float:
    """log10 |value| of a sympy number, from its binary exponent (no big arithmetic)."""
    number = value.evalf(15)
    if not number.is_Number or number == 0 or not number.is_finite:
        return 0.0
    return float(mpmath.log10(abs(mpmath.mpf(number._mpf_))))


def symbolic_derivatives(expression: Expression, order: int, wrt: int = 0) -> list:
    """[f, f', ..., f^(order)] as sympy expressions, by the variable at position ``wrt``.

    DiracDelta terms (from abs, sign and relu) are dropped: they vanish away from the kink,
    and at the kink the derivative is undefined anyway.
    """
    return list(_symbolic_iter(expression, order, wrt))


def _symbolic_iter(expression: Expression, order: int, wrt: int = 0) -> Iterator:
    current = sympy_expression(expression)
    by = symbols(expression)[wrt]
    yield current
    for _ in range(order):
        current = sp.diff(current, by).replace(sp.DiracDelta, lambda *args: sp.S.Zero)
        yield current


def mp_function(symbolic, variables: tuple) -> Callable:
    """A function of one mpf per symbol of ``variables``, evaluating ``symbolic`` with mpmath
    (generated by sympy)."""
    return sp.lambdify(variables, symbolic, modules=[_SATURATING, "mpmath"])


def _saturating(function: Callable, huge, tiny) -> Callable:
    """``function`` that answers ``huge`` or ``tiny`` for |a| > EXP_LIMIT: mpmath would spend
    precision in proportion to a's exponent (exp(exp(1e100)) never returns), and the answer
    is far outside float64 anyway."""

    def bounded_function(a):
        if isinstance(a, mpmath.mpf) and abs(a) > EXP_LIMIT:
            return huge(a) if a > 0 else tiny(a)
        return function(a)

    return bounded_function


_SATURATING = {
    "exp": _saturating(mpmath.exp, lambda a: mpmath.inf, lambda a: mpmath.mpf(0)),
    "sinh": _saturating(mpmath.sinh, lambda a: mpmath.inf, lambda a: -mpmath.inf),
    "cosh": _saturating(mpmath.cosh, lambda a: mpmath.inf, lambda a: mpmath.inf),
}


def reference_values(function: Callable, xs: np.ndarray, order: int = 0) -> np.ndarray:
    """function(x) at each x, at a precision raised until two evaluations agree; NaN where
    it is undefined, not real, or did not converge. ``order``: of the derivative that
    ``function`` is (its terms grow like x**-(order + 1))."""
    return _values_and_reasons(function, xs, order)[0]


def _values_and_reasons(function: Callable, xs, order: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.empty(len(xs))
    reasons = np.zeros(len(xs), dtype=np.int8)
    for i, x in enumerate(xs):
        values[i], reasons[i] = converged_value(function, float(x), order)
    return values, reasons


def converged_value(function: Callable, x: float, order: int = 0) -> tuple[float, int]:
    """(function(x), OK) once evaluations at d and 2d digits agree, d starting at DIGITS plus
    order + 1 digits per decade of |x|: the k-th derivative of sin(x)/x at 1e-300 cancels
    terms of 1e1500 to give 20."""
    digits = DIGITS + (order + 1) * (int(abs(math.log10(abs(x)))) if x != 0 else 0)
    previous = _real_at(function, x, digits)
    while 2 * digits <= MAX_DIGITS:
        current = _real_at(function, x, 2 * digits)
        if _agree(previous, current, digits):
            # inf: a value beyond float64 (7^12345), which the table holds as inf too
            return (current, OK) if not math.isnan(current) else (math.nan, UNDEFINED)
        digits, previous = 2 * digits, current
    return math.nan, UNCONVERGED


def _agree(low: float, high: float, digits: int) -> bool:
    """Two evaluations (as float64) agree far below float64's resolution.

    Equal zeros count only from ZERO_DIGITS on: cancellation that ``digits`` digits cannot
    resolve gives 0 (softplus''(400) = e^-400 - ... is 0 up to 175 digits), while from there
    on a value that still rounds to 0 is beneath what float64 can hold (sin(pi) at 40 digits
    is 1e-41, at 680 digits 0).
    """
    if math.isnan(low) or math.isnan(high):
        return math.isnan(low) and math.isnan(high)
    if low == high:
        return low != 0 or digits >= ZERO_DIGITS
    return abs(low - high) <= 2.0**-70 * abs(high)


def _real_at(function: Callable, x: float, digits: int) -> float:
    with mpmath.workdps(digits):
        return _real(function, mpmath.mpf(x))


def _real(compute: Callable, *args) -> float:
    """compute(*args) as a float; NaN where it fails or is complex."""
    try:
        value = compute(*args)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError, ArithmeticError):
        return math.nan
    if isinstance(value, mpmath.mpc):
        if abs(value.imag) > 1e-30 * max(1, abs(value.real)):
            return math.nan
        value = value.real
    try:
        return float(value)
    except (TypeError, OverflowError, ValueError):
        return math.nan


def numerical_derivative(
    function: Callable, xs: np.ndarray, order: int, rtol: float = 1e-10, atol: float = 1e-12
) -> np.ndarray:
    """The order-th derivative by finite differences at high precision; NaN where it cannot
    be trusted to a tenth of ``atol + rtol*|value|`` (see :func:`finite_difference`)."""
    return np.array([finite_difference(function, float(x), order, rtol, atol)[0] for x in xs])


def finite_difference(
    function: Callable, x: float, order: int, rtol: float, atol: float
) -> tuple[float, int]:
    """(f^(order)(x), OK), or (NaN, why not).

    The step is relative to |x| (an absolute step vanishes at 1e20 and straddles 0 at 1e-43).
    The central estimate counts only if the forward and backward ones and a central one with a
    step 2**CONVERGENCE_BITS times smaller agree with it: they part at a kink (abs at 0), and
    at an infinite derivative (cbrt at 0) the estimate grows as the step shrinks.
    """
    if x != 0 and not NUMERIC_REACH[0] < abs(x) < NUMERIC_REACH[1]:
        return math.nan, UNRESOLVED
    with mpmath.workdps(NUMERIC_DIGITS):
        point = mpmath.mpf(x)
        if not math.isfinite(_real(function, point)):
            return math.nan, UNDEFINED
        step = (abs(point) if x != 0 else mpmath.mpf(1)) * mpmath.ldexp(1, -STEP_BITS)
        central = _difference(function, point, order, step, 0)
        if not math.isfinite(central):
            return math.nan, UNDEFINED
        allowed = TRUST_FRACTION * (atol + rtol * abs(central))
        smaller = step * mpmath.ldexp(1, -CONVERGENCE_BITS)
        if not abs(_difference(function, point, order, smaller, 0) - central) <= allowed:
            return math.nan, UNCONVERGED
        for direction in (1, -1):
            if not abs(_difference(function, point, order, step, direction) - central) <= allowed:
                return math.nan, KINK
    return central, OK


def _difference(function: Callable, x, order: int, step, direction: int) -> float:
    # mpmath works at (prec + 2*addprec)*(n+1) bits: more than the n*(STEP_BITS +
    # CONVERGENCE_BITS) bits that the n-th difference cancels.
    return _real(lambda: mpmath.diff(function, x, order, h=step, direction=direction, addprec=20))


def symbolic_orders(expression: Expression, xs, order: int) -> Iterator:
    """(order, begin, values, reasons) for each chunk of points, order by order. Where the
    derivative's formula is not smooth (abs, sign, a fractional power), each value is probed
    from both sides (see :func:`_probed`)."""
    for k, symbolic in enumerate(_symbolic_iter(expression, order)):
        function = mp_function(symbolic, symbols(expression))
        rough = _may_jump(symbolic)
        for begin in range(0, len(xs), CHUNK):
            chunk = xs[begin : begin + CHUNK]
            values, reasons = _values_and_reasons(function, chunk, k)
            if rough:
                for i, x in enumerate(chunk):
                    if reasons[i] == OK:
                        values[i], reasons[i] = _probed(function, float(x), values[i])
            yield k, begin, values, reasons


def _may_jump(symbolic) -> bool:
    """Whether a formula can be discontinuous or 0/0 at a point: abs, sign, Heaviside, a
    piecewise form, or a fractional power (the real cube root |x^3|^(1/3))."""
    if symbolic.has(sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.Max, sp.Min):
        return True
    return any(
        power.exp.is_Rational and not power.exp.is_Integer for power in symbolic.atoms(sp.Pow)
    )


def _probed(function: Callable, x: float, value: float) -> tuple[float, int]:
    """(value, OK) where the formula is continuous at x, judged from both sides: a value
    2**-60 |x| away differs from it 2**40 times less than one 2**-20 away. Where both sides
    meet but not at the value, the formula is 0/0 there and their limit is the reference
    (cbrt(x^3)' at 0: sympy gives 0, the truth is 1); where the sides differ, x is a kink
    and nothing is checked (abs'(0): torch's convention 0 is a subgradient, not f'(0))."""
    scale = abs(x) if x != 0 else 1.0
    sides = []
    with mpmath.workdps(PROBE_DIGITS):
        for direction in (1, -1):
            near = _real(function, mpmath.mpf(x) + direction * mpmath.ldexp(scale, -60))
            far = _real(function, mpmath.mpf(x) + direction * mpmath.ldexp(scale, -20))
            sides.append((near, far))
    if any(math.isnan(v) for side in sides for v in side):
        return value, OK  # one side is outside the domain (sqrt at 0): nothing to compare
    if all(abs(near - value) <= 2.0**-20 * abs(far - value) for near, far in sides):
        return value, OK
    (right, _), (left, _) = sides
    if abs(right - left) <= 2.0**-30 * max(abs(right), abs(left)):
        return (right + left) / 2, OK
    return math.nan, KINK


def numerical_orders(expression: Expression, xs, order: int, rtol, atol) -> Iterator:
    function = mp_function(sympy_expression(expression), symbols(expression))
    for k in range(1, order + 1):
        for begin in range(0, len(xs), CHUNK):
            pairs = [
                finite_difference(function, float(x), k, rtol, atol)
                for x in xs[begin : begin + CHUNK]
            ]
            values = np.array([value for value, _ in pairs])
            reasons = np.array([reason for _, reason in pairs], dtype=np.int8)
            yield k, begin, values, reasons


def bounded(
    chunks: Callable[[], Iterator],
    orders: Iterable[int],
    n: int,
    timeout: float | None,
    stop: threading.Event | None = None,
    store: Callable | None = None,
):
    """{order: (values, reasons)} from the chunks ``chunks()`` yields, each order given at most
    ``timeout`` seconds (None: no limit, computed here). Past the budget, or once ``stop`` is
    set (the main thread was interrupted), the work is stopped (a forked process is killed)
    and the points not done are marked too expensive. ``store(results, *message)`` puts one
    message's values in place (default: a message is (order, begin, values, reasons))."""
    store = store or _store
    results = {k: (np.full(n, math.nan), np.full(n, EXPENSIVE, dtype=np.int8)) for k in orders}
    if not forks(timeout):
        for message in chunks():
            store(results, *message)
        return results
    with _forked(chunks) as receive:
        for message in _until_budget(receive, orders, n, timeout, stop or threading.Event()):
            if message[0] == "error":
                for _, reasons in results.values():
                    reasons[reasons == EXPENSIVE] = FAILED
                break
            store(results, *message)
    return results


def forks(timeout: float | None) -> bool:
    """Whether a reference runs in a forked process (it can then be stopped at any point)."""
    return timeout is not None and "fork" in multiprocessing.get_all_start_methods()


def _store(results, k, begin, values, reasons) -> None:
    end = begin + len(values)
    results[k][0][begin:end] = values
    results[k][1][begin:end] = reasons


def _until_budget(
    receive, orders: Iterable[int], n: int, timeout: float, stop: threading.Event
) -> Iterator:
    """Messages from the worker until every order is done, one order exceeds ``timeout``, or
    ``stop`` is set; waits in slices of WAKE_SECONDS so that a stop is seen at once."""
    for _ in orders:
        deadline = time.monotonic() + timeout
        done = 0
        while done < n:
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                return
            message = receive(min(left, WAKE_SECONDS))
            if message is None:
                continue
            yield message
            if message[0] == "error":
                return
            done += len(message[2])


@contextlib.contextmanager
def _forked(chunks: Callable[[], Iterator]):
    """A forked worker sending what ``chunks()`` yields; killed on leaving the block."""
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    worker = context.Process(target=_produce, args=(chunks, writer, os.getpid()), daemon=True)
    worker.start()
    writer.close()

    def receive(seconds: float):
        if not reader.poll(seconds):
            return None
        try:
            return reader.recv()
        except EOFError:
            return ("error", "the reference process ended")

    try:
        yield receive
    finally:
        worker.kill()
        worker.join()
        reader.close()


def _produce(chunks: Callable[[], Iterator], writer, parent: int) -> None:
    _die_with_parent(parent)
    try:
        for message in chunks():
            writer.send(message)
    except BaseException as error:  # reported to the parent, which marks the rest as failed
        writer.send(("error", repr(error)))
    finally:
        writer.close()


def _die_with_parent(parent: int) -> None:
    """In the forked reference: be killed when the process that forked it dies, even by
    SIGKILL, which no cleanup of the parent's can follow (Linux's PR_SET_PDEATHSIG); a parent
    already gone by then ends it at once."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)
