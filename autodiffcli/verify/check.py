"""`--check`: a bounded sample of the table compared with both references, order by order,
and the report of how far each order is from each.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from autodiffcli.lang import Expression
from autodiffcli.limits import DEFAULT_CHECK_POINTS
from autodiffcli.verify.references import (
    DEFAULT_TIMEOUT,
    OK,
    REASONS,
    TRUST_FRACTION,
    UNDEFINED,
    bounded,
    forks,
    numerical_orders,
    symbolic_orders,
)

MAX_CHECK_POINTS = DEFAULT_CHECK_POINTS


def sample_indices(count: int, limit: int | None = MAX_CHECK_POINTS) -> np.ndarray:
    """A deterministic, evenly spread sample of row indices, always with both ends; every
    index where ``limit`` is None."""
    if limit is None or count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))


class RunningSample:
    """An evenly spread sample of at most ``limit`` points (None: all) of a stream whose
    length is not known until it ends, always with both ends, like sample_indices.

    Keeps every stride-th point and doubles the stride until fewer than 2*limit are kept, so
    memory stays below 2*limit points after each add. ``all`` keeps every point up to
    ``max_values``; past that it samples max_values points and says so (``capped``).
    """

    def __init__(self, limit: int | None, max_values: int):
        self.limit, self.max_values, self.capped = limit, max_values, False
        self.stride, self.seen = 1, 0
        self._kept: list[np.ndarray] = []
        self._last: np.ndarray = np.empty(0)

    def __repr__(self) -> str:
        return f"RunningSample(limit={self.limit}, seen={self.seen}, stride={self.stride})"

    @property
    def held(self) -> int:
        """How many points the sample holds now."""
        return sum(map(len, self._kept))

    def add(self, values) -> None:
        """Offer the next points of the stream (a 1-d numpy array)."""
        values = np.asarray(values, dtype=np.float64)
        if not len(values):
            return
        self._kept.append(values[(-self.seen) % self.stride :: self.stride].copy())
        self._last, self.seen = values[-1:].copy(), self.seen + len(values)
        if self.limit is None and self.held > self.max_values:
            self.limit, self.capped = self.max_values, True
        if self.limit is not None and self.held >= 2 * self.limit:
            joined = np.concatenate(self._kept)
            while len(joined) >= 2 * self.limit:
                joined, self.stride = joined[::2], self.stride * 2
            self._kept = [joined]

    def points(self) -> np.ndarray:
        """The sample, in stream order."""
        kept = np.concatenate([*self._kept, np.empty(0)])
        if self.seen and (self.seen - 1) % self.stride:
            kept = np.concatenate([kept, self._last])
        return kept[sample_indices(len(kept), self.limit)]


@dataclass(frozen=True)
class CheckRow:
    """How far autograd's order-k column is from one reference.

    ``worst_*`` describe the point with the largest error relative to its allowance
    (``atol + rtol*|ref|``); ``reasons`` counts skipped points by why they were skipped.
    """

    order: int
    reference: str
    checked: int
    skipped: int
    max_abs: float
    max_rel: float
    worst_x: float
    failures: int
    worst_ratio: float = 0.0
    worst_ours: float = math.nan
    worst_reference: float = math.nan
    reasons: tuple[tuple[str, int], ...] = ()

    @property
    def passed(self) -> bool:
        return self.failures == 0


def compare(
    order: int,
    reference: str,
    xs,
    ours,
    exact,
    rtol: float,
    atol: float,
    reasons=None,
    zero: float = 0.0,
) -> CheckRow:
    """Points without a reference value are skipped (counted by reason); others must be
    within ``atol + rtol*|ref|``, or ``zero`` of a reference that is exactly 0 (rounding noise
    on a true zero), and NaN or inf from autograd there is a failure. No allowance hides an
    error in a tiny value: 0 against 1e-200 fails."""
    # The same infinity on both sides is checked and right (7^12345 overflows float64 in
    # both); any other non-finite reference cannot be compared.
    comparable = np.isfinite(exact) | (np.isinf(exact) & (ours == exact))
    if reasons is None:
        reasons = np.full(len(exact), OK, dtype=np.int8)
    reasons = np.where((reasons == OK) & ~comparable, UNDEFINED, reasons)
    usable = reasons == OK
    counts = tuple(
        (REASONS[code], int((reasons == code).sum()))
        for code in sorted(REASONS)
        if (reasons == code).any()
    )
    x, a, r = xs[usable], ours[usable], exact[usable]
    if x.size == 0:
        return CheckRow(
            order, reference, 0, int((~usable).sum()), 0.0, 0.0, math.nan, 0, reasons=counts
        )
    with np.errstate(invalid="ignore"):
        error = np.where(a == r, 0.0, np.abs(a - r))
    error = np.where(np.isfinite(error), error, np.inf)  # autograd NaN where reference is finite
    allowed = atol + rtol * np.where(np.isinf(r), 0.0, np.abs(r)) + np.where(r == 0, zero, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(r != 0, error / np.abs(r), np.where(error > 0, np.inf, 0.0))
        ratio = np.where(allowed > 0, error / allowed, np.where(error > 0, np.inf, 0.0))
    worst = int(np.argmax(ratio))
    return CheckRow(
        order,
        reference,
        int(x.size),
        int((~usable).sum()),
        float(error.max()),
        float(relative.max()),
        float(x[worst]),
        int((error > allowed).sum()),
        float(ratio[worst]),
        float(a[worst]),
        float(r[worst]),
        counts,
    )


def check(
    expression: Expression,
    columns: list[np.ndarray],
    order: int,
    rtol: float,
    atol: float,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    zero: float = 0.0,
) -> list[CheckRow]:
    """Compare columns [x, f, f', ...] with the symbolic and the numerical reference
    (tolerances as in :func:`compare`)."""
    xs = np.asarray(columns[0], dtype=np.float64)
    n = len(xs)
    # Forked references run side by side; in this process they share mpmath's global precision.
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=2 if forks(timeout) else 1) as pool:
        try:
            symbolic = pool.submit(
                bounded,
                lambda: symbolic_orders(expression, xs, order),
                range(order + 1),
                n,
                timeout,
                stop,
            )
            numerical = pool.submit(
                bounded,
                # Its estimates must agree to a tenth of the tolerance; near a zero of the
                # derivative that is the noise allowed at zero, not 0.
                lambda: numerical_orders(expression, xs, order, rtol, atol + zero),
                range(1, order + 1),
                n,
                timeout,
                stop,
            )
            symbolic, numerical = symbolic.result(), numerical.result()
        except BaseException:
            # Ctrl-C, SIGTERM or SIGHUP in the main thread: end the references now, or the
            # pool would wait for their whole budget before the exception could leave.
            stop.set()
            raise
    rows = []
    for k in range(order + 1):
        values, reasons = symbolic[k]
        rows.append(compare(k, "symbolic", xs, columns[k + 1], values, rtol, atol, reasons, zero))
        if k >= 1:
            values, reasons = numerical[k]
            # Below its trust level (a tenth of the noise allowed at zero) a finite difference
            # cannot tell a value from 0: it is 1e-68 where sin^2 + cos^2 has f' = 0.
            values = np.where(np.abs(values) <= TRUST_FRACTION * (atol + zero), 0.0, values)
            rows.append(
                compare(k, "numerical", xs, columns[k + 1], values, rtol, atol, reasons, zero)
            )
    return rows


def symbolic_columns(
    expression: Expression, xs: np.ndarray, order: int, timeout: float | None = DEFAULT_TIMEOUT
) -> list[np.ndarray]:
    """[f, f', ...] from the symbolic reference at every x (for plot --reference); NaN where
    it is undefined or did not finish within ``timeout`` seconds per order."""
    xs = np.asarray(xs, dtype=np.float64)
    orders = list(range(order + 1))
    results = bounded(lambda: symbolic_orders(expression, xs, order), orders, len(xs), timeout)
    return [results[k][0] for k in orders]


def worst_failure(rows: list[CheckRow]) -> CheckRow | None:
    """The failure to name: the lowest failing order (a wrong f' also spoils f'', f''', ...),
    and within it the reference whose worst point is furthest beyond its allowance."""
    failed = [row for row in rows if not row.passed]
    if not failed:
        return None
    lowest = min(row.order for row in failed)
    return max((row for row in failed if row.order == lowest), key=lambda row: row.worst_ratio)


def unchecked_orders(rows: list[CheckRow]) -> list[int]:
    """The orders at which no reference checked a single point."""
    orders = sorted({row.order for row in rows})
    return [k for k in orders if sum(row.checked for row in rows if row.order == k) == 0]


def failure_message(rows: list[CheckRow]) -> str | None:
    """One line naming the worst failure exactly (order, reference, x, both values), or the
    orders that nothing checked (a check that checked nothing does not pass); None if every
    order was checked somewhere and every row passed."""
    worst = worst_failure(rows)
    if worst is None:
        unchecked = unchecked_orders(rows)
        if not unchecked:
            return None
        reasons = sorted({why for row in rows if row.order in unchecked for why, _ in row.reasons})
        plural = "s" if len(unchecked) > 1 else ""
        return (
            f"{{opt.check}} checked nothing at order{plural} {', '.join(map(str, unchecked))}: "
            f"every point was skipped ({', '.join(reasons)}); give more time "
            "({opt.check_timeout}) or points where f is defined and finite"
        )
    orders = sorted({row.order for row in rows if not row.passed})
    error = abs(worst.worst_ours - worst.worst_reference)
    return (
        f"{{opt.check}} failed: order {worst.order} differs from the {worst.reference} "
        f"reference at x = {worst.worst_x!r}: autograd {worst.worst_ours!r}, reference "
        f"{worst.worst_reference!r} (error {error:.3g}, {worst.worst_ratio:.3g} times the "
        f"tolerance); failing orders: {', '.join(map(str, orders))}"
    )


def render(
    rows: list[CheckRow], rtol: float, atol: float, method: str | None = None, zero: float = 0.0
) -> str:
    """The check report: one line per order and reference, with why points were skipped."""
    bound = f"{atol:g} + {rtol:g}*|ref|" if atol else f"{rtol:g}*|ref|"
    header = f"check against independent references (pass: |autograd - ref| <= {bound}"
    header += f", or <= {zero:g} where ref = 0)" if zero else ")"
    if method is not None:
        header += f"; derivatives by {method} mode"
    lines = [
        header,
        f"{'order':>5}  {'reference':<9}  {'checked':>7}  {'skipped':>7}  "
        f"{'max abs err':>11}  {'max rel err':>11}  {'worst at x':>12}  result",
    ]
    for row in rows:
        lines.append(
            f"{row.order:>5}  {row.reference:<9}  {row.checked:>7}  {row.skipped:>7}  "
            f"{row.max_abs:>11.3e}  {row.max_rel:>11.3e}  {row.worst_x:>12.6g}  {result_text(row)}"
        )
    return "\n".join(lines)


def result_text(row: CheckRow) -> str:
    """A report row's last cell: ok, FAIL, or what was checked and why points were skipped."""
    text = "ok" if row.passed else f"FAIL ({row.failures} points)"
    if row.checked == 0:
        text = "nothing checked"
    elif row.skipped and row.passed:
        text = f"ok on {row.checked} of {row.checked + row.skipped} points"
    if row.reasons:
        text += " (skipped: " + ", ".join(f"{n} {why}" for why, n in row.reasons) + ")"
    return text
