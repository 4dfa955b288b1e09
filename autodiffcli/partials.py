"""What a table holds beyond its points: partial derivatives named by multi-index, and the
quantities built from them (gradient, Hessian, Laplacian, directional derivative, divergence,
curl, Jacobian determinant). Torch-free: the job layer plans the columns before any work, and
the engines compute the partials each column needs.

A partial is (component, counts): the component of a vector-valued f, and how many times it is
differentiated by each of the expression's variables. Every column is a polynomial in partials
(a Laplacian is a sum, a determinant a sum of products), so one evaluator computes them all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from autodiffcli.errors import OptionError


@dataclass(frozen=True, order=True)
class Partial:
    """d^|counts| f_output / dv_1^counts[0] ... dv_n^counts[n-1]."""

    output: int
    counts: tuple[int, ...]

    @property
    def order(self) -> int:
        return sum(self.counts)

    @property
    def sequence(self) -> tuple[int, ...]:
        """The variables differentiated by, in increasing position: (0, 0, 1) for f_xxy."""
        return tuple(i for i, count in enumerate(self.counts) for _ in range(count))

    def by(self, variable: int) -> Partial:
        """This partial differentiated once more, by the variable at ``variable``."""
        counts = list(self.counts)
        counts[variable] += 1
        return Partial(self.output, tuple(counts))


@dataclass(frozen=True)
class Column:
    """One column of the table: ``name`` and the polynomial sum(coefficient * prod(partials))."""

    name: str
    terms: tuple[tuple[float, tuple[Partial, ...]], ...]

    @property
    def partials(self) -> tuple[Partial, ...]:
        return tuple(dict.fromkeys(p for _, factors in self.terms for p in factors))

    @property
    def single(self) -> Partial | None:
        """The partial this column is, if it is one partial as it is."""
        if len(self.terms) == 1 and self.terms[0][0] == 1.0 and len(self.terms[0][1]) == 1:
            return self.terms[0][1][0]
        return None


@dataclass(frozen=True)
class Shortcuts:
    """The named quantities asked for besides --order's partials."""

    grad: bool = False
    hessian: bool = False
    laplacian: bool = False
    direction: tuple[float, ...] | None = None
    div: bool = False
    curl: bool = False

    def any(self) -> bool:
        return any((self.grad, self.hessian, self.laplacian, self.div, self.curl)) or bool(
            self.direction
        )


NO_SHORTCUTS = Shortcuts()


@dataclass(frozen=True)
class Plan:
    """Every column of a table beyond its points, in order, and the partials they need."""

    columns: tuple[Column, ...]
    wrt: tuple[int, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def partials(self) -> tuple[Partial, ...]:
        return tuple(dict.fromkeys(p for c in self.columns for p in c.partials))

    @property
    def order(self) -> int:
        return max((p.order for p in self.partials), default=0)


def plan(
    variables: Sequence[str],
    outputs: int,
    order: int,
    wrt: Sequence[int],
    shortcuts: Shortcuts = NO_SHORTCUTS,
    legacy: bool = False,
) -> Plan:
    """The columns: each component, its partials of orders 1..``order`` by the variables at
    ``wrt`` (each order's in canonical order: f_xx, f_xy, f_yy), the Jacobian's determinant
    when it is square, then the shortcuts. With ``legacy`` (one variable, one component, as
    every table was before several variables), the names are f, df, d2f, ..."""
    n = len(variables)
    names = _component_names(outputs)
    zero = (0,) * n
    columns = [_partial_column(Partial(k, zero), names, variables, legacy) for k in range(outputs)]
    for k in range(1, order + 1):
        for output in range(outputs):
            for partial in partials_of_order(output, k, wrt, n):
                columns.append(_partial_column(partial, names, variables, legacy))
        if k == 1 and outputs > 1 and outputs == len(wrt) and not shortcuts.any():
            columns.append(determinant(wrt, n))  # after the Jacobian it is the determinant of
    columns += _shortcut_columns(shortcuts, variables, outputs, wrt, names)
    unique = list({column.name: column for column in columns}.values())
    return Plan(tuple(unique), tuple(wrt))


def partials_of_order(output: int, order: int, wrt: Sequence[int], n: int) -> list[Partial]:
    """Every distinct partial of ``order`` by the variables at ``wrt``, canonical order."""
    out = []
    for sequence in itertools.combinations_with_replacement(sorted(wrt), order):
        counts = [0] * n
        for i in sequence:
            counts[i] += 1
        out.append(Partial(output, tuple(counts)))
    return out


def _component_names(outputs: int) -> list[str]:
    return ["f"] if outputs == 1 else [f"f{k + 1}" for k in range(outputs)]


def partial_name(
    partial: Partial, names: Sequence[str], variables: Sequence[str], legacy: bool = False
) -> str:
    """f, f_x, f_xxy (f_alpha_beta when a variable's name is longer than one letter); f, df,
    d2f in a legacy one-variable table."""
    component = names[partial.output]
    if partial.order == 0:
        return component
    if legacy:
        return "df" if partial.order == 1 else f"d{partial.order}f"
    letters = [variables[i] for i in partial.sequence]
    joined = "".join(letters) if all(len(v) == 1 for v in variables) else "_".join(letters)
    return f"{component}_{joined}"


def _partial_column(partial: Partial, names, variables, legacy: bool) -> Column:
    return Column(partial_name(partial, names, variables, legacy), ((1.0, (partial,)),))


def _unit(n: int, i: int, output: int = 0, times: int = 1) -> Partial:
    counts = [0] * n
    counts[i] = times
    return Partial(output, tuple(counts))


def determinant(wrt: Sequence[int], n: int) -> Column:
    """det J of a square Jacobian (components by the variables at ``wrt``), by Leibniz's sum."""
    size = len(wrt)
    terms = []
    for permutation in itertools.permutations(range(size)):
        sign = _permutation_sign(permutation)
        factors = tuple(_unit(n, wrt[j], output=i) for i, j in enumerate(permutation))
        terms.append((float(sign), factors))
    return Column("det_J", tuple(terms))


def _permutation_sign(permutation: Sequence[int]) -> int:
    inversions = sum(
        1
        for a, b in itertools.combinations(range(len(permutation)), 2)
        if permutation[a] > permutation[b]
    )
    return -1 if inversions % 2 else 1


def _shortcut_columns(
    shortcuts: Shortcuts, variables: Sequence[str], outputs: int, wrt: Sequence[int], names
) -> list[Column]:
    n = len(variables)
    columns: list[Column] = []
    for output in range(outputs):
        if shortcuts.grad:
            columns += [
                _partial_column(p, names, variables, False)
                for p in partials_of_order(output, 1, wrt, n)
            ]
        if shortcuts.hessian:
            columns += [
                _partial_column(p, names, variables, False)
                for p in partials_of_order(output, 2, wrt, n)
            ]
    if shortcuts.laplacian:
        for output in range(outputs):
            terms = tuple((1.0, (_unit(n, i, output, 2),)) for i in wrt)
            prefix = "" if outputs == 1 else f"{names[output]}_"
            columns.append(Column(f"{prefix}laplacian", terms))
    if shortcuts.direction:
        unit = unit_direction(shortcuts.direction, [variables[i] for i in wrt])
        for output in range(outputs):
            terms = tuple(
                (u, (_unit(n, i, output),)) for u, i in zip(unit, wrt, strict=True) if u != 0
            )
            columns.append(Column(f"{names[output]}_dir", terms or ((0.0, ()),)))
    if shortcuts.div:
        _check_field("div", outputs, wrt, (2, 3))
        terms = tuple((1.0, (_unit(n, i, k),)) for k, i in enumerate(wrt))
        columns.append(Column("div", terms))
    if shortcuts.curl:
        _check_field("curl", outputs, wrt, (2, 3))
        columns += _curl(wrt, n, variables)
    return columns


def _curl(wrt: Sequence[int], n: int, variables: Sequence[str]) -> list[Column]:
    """curl F: dF2/dx - dF1/dy in the plane; three components in space."""

    def term(output: int, by: int, sign: float):
        return (sign, (_unit(n, wrt[by], output),))

    if len(wrt) == 2:
        return [Column("curl", (term(1, 0, 1.0), term(0, 1, -1.0)))]
    columns = []
    for k in range(3):
        a, b = (k + 1) % 3, (k + 2) % 3  # curl_k = dF_b/dv_a - dF_a/dv_b
        columns.append(Column(f"curl_{variables[wrt[k]]}", (term(b, a, 1.0), term(a, b, -1.0))))
    return columns


def _check_field(name: str, outputs: int, wrt: Sequence[int], sizes: tuple[int, ...]) -> None:
    if outputs != len(wrt) or outputs not in sizes:
        raise OptionError(
            f"{{opt.{name}}} needs a field F: R^n -> R^n with n = 2 or 3, like '[-y, x]'; "
            f"f has {outputs} component{'s' if outputs > 1 else ''} and is differentiated by "
            f"{len(wrt)} variable{'s' if len(wrt) > 1 else ''}",
            parameter=name,
            value=True,
        )


def unit_direction(direction: Sequence[float], names: Sequence[str]) -> tuple[float, ...]:
    """--dir's vector scaled to length 1 (the directional derivative D_u f = grad f . u)."""
    if len(direction) != len(names):
        raise OptionError(
            f"{{opt.direction}} has {len(direction)} component"
            f"{'s' if len(direction) != 1 else ''}, but f is differentiated by {len(names)} "
            f"variable{'s' if len(names) != 1 else ''} ({', '.join(names)}); give one number "
            f"each, e.g. {{opt.direction}} {','.join(['1'] * len(names))}",
            parameter="direction",
            value=direction,
        )
    length = math.hypot(*direction)
    if not (math.isfinite(length) and length > 0):
        raise OptionError(
            f"{{opt.direction}} must be a finite, nonzero vector, got {list(direction)}",
            parameter="direction",
            value=direction,
        )
    return tuple(v / length for v in direction)
