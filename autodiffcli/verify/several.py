"""`--check` of a table of several variables, several components or a parameter: every column
of the plan (each partial f_xy, and the columns built from partials: laplacian, f_dir, div,
curl, det_J) against the symbolic and the numerical reference, on the sampled rows.

The symbolic reference differentiates each component's sympy form by the partial's multi-index
(one variable at a time, in the canonical order the engines follow: f -> f_x -> f_xy) and
evaluates it with mpmath as the one-variable check does; a column built from partials is the
same polynomial of their formulas, evaluated as one formula (so that a Laplacian which is 0 is
found exactly 0). The numerical reference is finite differences of f at high precision: central
along each variable, the stencils multiplied for a mixed partial (a tensor product, as nested
central differences give), steps relative to each coordinate; a point where a smaller step or
the one-sided stencils disagree is skipped, as in one variable.

Piecewise functions: at a point where a condition of ``where`` switches, or where ``min`` and
``max`` tie (the two sides of a comparison are equal there), each partial's one-sided values
are compared along the variables it differentiates by, and each lower partial on the way must
be continuous there. Where the sides differ the point is "not differentiable": skipped, and the
report says so with the convention the engine used (the branch the condition picks; the mean
of both sides at a tie of min or max).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from autodiffcli.partials import Column, Partial, partial_name
from autodiffcli.verify.check import CheckRow, check, compare, failure_message, render, result_text
from autodiffcli.verify.partial_references import (
    Note,
    bounded_columns,
    column_order,
    numerical_chunks,
    symbolic_chunks,
)
from autodiffcli.verify.references import TRUST_FRACTION, forks

PIECEWISE_OPS = frozenset({"where", "min", "max"})


def checks_by_order(problem) -> bool:
    """Whether --check compares the table order by order, as it always has for one variable:
    columns x, f, df, d2f, ... and no where, min or max (those have switch points, which the
    column check judges one-sidedly)."""
    singles = [column.single for column in problem.plan.columns]
    return (
        problem.univariate
        and len(problem.expression.variables) == 1  # a parameter is a variable of f too
        and all(p is not None for p in singles)
        and [p.order for p in singles] == list(range(len(singles)))
        and not piecewise(problem.expression)
    )


def piecewise(expression) -> bool:
    """Whether the expression holds where, min or max."""
    return any(node.op in PIECEWISE_OPS for node in expression.nodes)


@dataclass(frozen=True)
class ColumnRow:
    """How far one column is from one reference: ``row`` is :func:`check.compare`'s, whose
    ``worst_x`` is the index of the worst point in the sample."""

    column: str
    row: CheckRow

    @property
    def passed(self) -> bool:
        return self.row.passed


@dataclass(frozen=True)
class SwitchKink:
    """A point where a condition switches and a column is not differentiable: ``what`` (that
    column, or a lower partial on the way to it) has different values on the two sides along
    ``variable``."""

    column: str
    index: int
    variable: str
    what: str
    jump: bool  # ``what`` itself jumps (True) or its one-sided derivatives differ (False)
    left: float
    right: float
    condition: str
    tie: bool  # a tie of min or max (the engine takes the mean), else where()'s condition
    points: int = 1


@dataclass(frozen=True)
class ColumnCheck:
    """What the column check found: a row per column and reference, the switch points that
    are not differentiable, and the sample's points (``names``: the table's variables)."""

    rows: list[ColumnRow]
    kinks: list[SwitchKink]
    names: tuple[str, ...]
    points: np.ndarray  # (points, len(names))
    ours: dict
    switched: dict  # index: (condition, tie) of the points where a condition switches

    def at(self, index: int, sep: str = "=", form=repr) -> str:
        if math.isnan(index):
            return "-"
        values = self.points[int(index)]
        return ", ".join(
            f"{n}{sep}{form(float(v))}" for n, v in zip(self.names, values, strict=True)
        )


def outcome(
    problem,
    columns: list,
    values: Sequence[np.ndarray],
    rtol: float,
    atol: float,
    timeout: float | None,
    zero: float,
    spacing: float,
) -> tuple[str, str | None]:
    """--check's report and, if it failed, the one line saying why: the sample's ``columns``
    (the table's, points first) at the points ``values`` (one array per axis of the domain)
    compared with both references, order by order for one variable (check.check) and column by
    column otherwise (:func:`check_columns`). ``zero`` is the noise allowed where a reference is 0,
    and ``spacing`` is added to ``atol`` everywhere but in the report's header (two subnormal
    steps of the dtype)."""
    if checks_by_order(problem):
        rows = check(
            problem.expression,
            columns,
            problem.order,
            rtol,
            atol + spacing,
            timeout=timeout,
            zero=zero,
        )
        return render(rows, rtol, atol, method=problem.method, zero=zero), failure_message(rows)
    table = dict(zip(problem.column_names(), columns, strict=True))
    found = check_columns(problem, table, values, rtol, atol + spacing, timeout=timeout, zero=zero)
    report = render_columns(found, rtol, atol, method=problem.method, zero=zero)
    return report, columns_failure(found, rtol, atol, zero)


def check_columns(
    problem,
    table: dict,
    values: Sequence[np.ndarray],
    rtol: float,
    atol: float,
    *,
    timeout: float | None,
    zero: float = 0.0,
) -> ColumnCheck:
    """Compare every column of ``table`` (the sample's columns by name) with both references;
    ``values`` holds the sample's points, one array per variable of the expression (the
    domain's axes, parameters included). Tolerances as in :func:`check.compare`, per column."""
    expression, plan = problem.expression, problem.plan
    points = np.stack([np.asarray(v, dtype=np.float64) for v in values], axis=1)
    n, columns = len(points), plan.columns
    differentiated = [j for j, c in enumerate(columns) if column_order(c) >= 1]
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=2 if forks(timeout) else 1) as pool:
        try:
            symbolic = pool.submit(
                bounded_columns,
                lambda: symbolic_chunks(expression, columns, points),
                range(len(columns)),
                n,
                timeout,
                stop,
            )
            numerical = pool.submit(
                bounded_columns,
                lambda: numerical_chunks(
                    expression, [columns[j] for j in differentiated], points, rtol, atol + zero
                ),
                range(len(differentiated)),
                n,
                timeout,
                stop,
            )
            (symbolic, notes), (numerical, _) = symbolic.result(), numerical.result()
        except BaseException:
            stop.set()  # Ctrl-C or a signal: end the references now (see check.check)
            raise
    indices = np.arange(n, dtype=np.float64)
    rows, ours = [], {}
    for j, column in enumerate(columns):
        order = column_order(column)
        ours[column.name] = np.asarray(table[column.name], dtype=np.float64)
        exact, reasons = symbolic[j]
        row = compare(
            order, "symbolic", indices, ours[column.name], exact, rtol, atol, reasons, zero
        )
        rows.append(ColumnRow(column.name, row))
        if j in differentiated:
            exact, reasons = numerical[differentiated.index(j)]
            # Below its trust level a finite difference cannot tell a value from 0 (check.py).
            exact = np.where(np.abs(exact) <= TRUST_FRACTION * (atol + zero), 0.0, exact)
            row = compare(
                order, "numerical", indices, ours[column.name], exact, rtol, atol, reasons, zero
            )
            rows.append(ColumnRow(column.name, row))
    free = [i for i, name in enumerate(expression.variables) if name in problem.free]
    kinks = _kinks(notes, columns, expression.variables, problem.univariate)
    switched = {note.index: (note.condition, note.tie) for _, note in notes}
    return ColumnCheck(rows, kinks, tuple(problem.free), points[:, free], ours, switched)


def _kinks(notes: list, columns: Sequence[Column], variables, legacy: bool) -> list[SwitchKink]:
    """The first switch point where each column is not differentiable, with how many points
    of it are such."""
    outputs = max((p.output for c in columns for p in c.partials), default=0) + 1
    names = ["f"] if outputs == 1 else [f"f{k + 1}" for k in range(outputs)]
    first: dict[str, Note] = {}
    count: dict[str, int] = {}
    for j, note in notes:
        if note.variable is None:
            continue
        name = columns[j].name
        count[name] = count.get(name, 0) + 1
        if name not in first or note.index < first[name].index:
            first[name] = note
    out = []
    for name, note in first.items():
        counts = tuple(note.sequence.count(i) for i in range(len(variables)))
        what = partial_name(Partial(note.output, counts), names, variables, legacy)
        sides = (note.jump, note.left, note.right, note.condition, note.tie, count[name])
        out.append(SwitchKink(name, note.index, variables[note.variable], what, *sides))
    return out


# ----- the report -----


def render_columns(result: ColumnCheck, rtol: float, atol: float, method=None, zero=0.0) -> str:
    """The report: the rule, how the numerical reference differentiates, one line per column
    and reference (as check.render's per order), and the switch points not differentiable."""
    lines = [
        render([], rtol, atol, method, zero).splitlines()[0],
        "numerical reference: finite differences of f at 30 digits (mpmath), central along each "
        "variable with steps |v|*2^-64, the stencils multiplied for mixed partials",
    ]
    wide = max([len("column")] + [len(r.column) for r in result.rows])
    places = [result.at(r.row.worst_x, "=", lambda v: f"{v:.6g}") for r in result.rows]
    at_wide = max([len("worst at")] + [len(p) for p in places])
    lines.append(
        f"{'column':<{wide}}  {'reference':<9}  {'checked':>7}  {'skipped':>7}  "
        f"{'max abs err':>11}  {'max rel err':>11}  {'worst at':<{at_wide}}  result"
    )
    for r, place in zip(result.rows, places, strict=True):
        row = r.row
        lines.append(
            f"{r.column:<{wide}}  {row.reference:<9}  {row.checked:>7}  {row.skipped:>7}  "
            f"{row.max_abs:>11.3e}  {row.max_rel:>11.3e}  {place:<{at_wide}}  {result_text(row)}"
        )
    if result.kinks:
        lines.append("not differentiable where a condition switches (skipped, not failed):")
        lines += [f"  {kink_text(result, kink)}" for kink in result.kinks]
    return "\n".join(lines)


def switch_text(condition: str, tie: bool) -> str:
    return f"the arguments of {condition} tie" if tie else f"{condition} switches"


def convention(tie: bool) -> str:
    """What the engine differentiates at a switch point."""
    if tie:
        return "the mean of the two sides' derivatives, as min and max take at a tie"
    return "the derivative of the branch the condition picks at the point"


def kink_text(result: ColumnCheck, kink: SwitchKink) -> str:
    """One switch point where a column has no derivative, and what the engine gave there."""
    place = result.at(kink.index, "=", lambda v: f"{v:.6g}")
    beside = math.isclose(kink.left, kink.right, rel_tol=1e-9)
    if kink.jump and beside and kink.what in result.ours:
        at = float(result.ours[kink.what][kink.index])
        sides = (
            f"{kink.what} is {kink.left:.6g} just beside the point on both sides along "
            f"{kink.variable}, but {at:.6g} at it"
        )
    elif kink.jump:
        sides = (
            f"{kink.what} jumps from {kink.left:.6g} (left) to {kink.right:.6g} (right) along "
            f"{kink.variable}"
        )
    else:
        sides = (
            f"{kink.what} is {kink.left:.6g} on the left and {kink.right:.6g} on the right "
            f"along {kink.variable}"
        )
    ours = float(result.ours[kink.column][kink.index])
    more = kink.points - 1
    tail = f" ({more} more such point{'s' if more > 1 else ''})" if more else ""
    return (
        f"{kink.column} at {place}, where {switch_text(kink.condition, kink.tie)}: {sides}; "
        f"autograd gives {kink.column} = {ours:.6g}, taking {convention(kink.tie)}{tail}"
    )


def columns_failure(result: ColumnCheck, rtol: float, atol: float, zero: float) -> str | None:
    """One line naming the worst failure exactly (column, reference, point, both values and
    the rule), or the columns that nothing checked; None if every column passed."""
    failed = [r for r in result.rows if not r.passed]
    if not failed:
        unchecked = _unchecked(result)
        if not unchecked:
            return None
        rows = [r.row for r in result.rows if r.column in unchecked]
        reasons = sorted({why for row in rows for why, _ in row.reasons})
        plural = "s" if len(unchecked) > 1 else ""
        return (
            f"{{opt.check}} checked nothing in column{plural} {', '.join(unchecked)}: every "
            f"point was skipped ({', '.join(reasons)}); give more time ({{opt.check_timeout}}) "
            "or points where f is defined and finite"
        )
    # The lowest failing order first: a wrong f_x also spoils f_xx, the Laplacian, ...
    lowest = min(r.row.order for r in failed)
    worst = max((r for r in failed if r.row.order == lowest), key=lambda r: r.row.worst_ratio)
    row = worst.row
    error = abs(row.worst_ours - row.worst_reference)
    if row.worst_reference == 0:
        rule = f"{atol:g} + {zero:g} where ref = 0" if atol else f"{zero:g} where ref = 0"
    else:
        rule = f"{atol:g} + {rtol:g}*|ref|" if atol else f"{rtol:g}*|ref|"
        rule += f" = {atol + rtol * abs(row.worst_reference):.3g}"
    names = list(dict.fromkeys(r.column for r in failed))
    text = (
        f"{{opt.check}} failed: column {worst.column} differs from the {row.reference} "
        f"reference at {result.at(row.worst_x, ' = ')}: autograd {row.worst_ours!r}, "
        f"reference {row.worst_reference!r} (error {error:.3g}, allowed {rule}: "
        f"{row.worst_ratio:.3g} times the tolerance); failing columns: {', '.join(names)}"
    )
    switch = result.switched.get(int(row.worst_x))
    if switch is not None:
        text += (
            f"; at that point {switch_text(*switch)} and both sides agree, but the engine "
            f"gives {convention(switch[1])}"
        )
    return text


def _unchecked(result: ColumnCheck) -> list[str]:
    """Columns no reference checked at any point, but for those whose every skipped point
    is a switch point where they are not differentiable (nothing there to check)."""
    explained = {k.column: k.points for k in result.kinks}
    out = []
    for name in dict.fromkeys(r.column for r in result.rows):
        rows = [r.row for r in result.rows if r.column == name]
        if sum(row.checked for row in rows) > 0:
            continue
        symbolic = rows[0]
        if symbolic.reasons and dict(symbolic.reasons).get("not differentiable", 0) == (
            symbolic.skipped
        ) == explained.get(name, -1):
            continue
        out.append(name)
    return out
