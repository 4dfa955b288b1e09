"""Mixed partial derivatives from univariate Taylor series, by exact interpolation weights.

Propagating the series of f along a direction s (every variable v_i moving as v_i + s_i t)
gives coefficients c_d(s) = sum over |i| = d of (d^i f / i!) s^i: a homogeneous polynomial
of degree d in s whose coefficients are the partials of order d. Griewank, Utke and Walther
("Evaluating higher derivative tensors by forward propagation of univariate Taylor series",
Math. Comp. 69, 2000) take the integer directions |s| = K, C(m+K-1, K) of them for m
variables, and recover every partial of order K by a fixed linear combination. Here the same
K directions serve every order d <= K: the weights are the exact least-squares left inverse
of the interpolation matrix V_d[s, i] = s^i (full column rank for d <= K), worked out in
rational arithmetic once per (m, K, d) and rounded once to float64. Torch-free.
"""

from __future__ import annotations

import functools
import itertools
import math
from fractions import Fraction


@functools.cache
def multi_indices(m: int, d: int) -> tuple[tuple[int, ...], ...]:
    """Every i in N^m with |i| = d, in the canonical order of the partials (f_xx, f_xy, f_yy):
    reverse-lexicographic on the counts."""
    out = []
    for sequence in itertools.combinations_with_replacement(range(m), d):
        counts = [0] * m
        for k in sequence:
            counts[k] += 1
        out.append(tuple(counts))
    return tuple(out)


def directions(m: int, order: int) -> tuple[tuple[int, ...], ...]:
    """The integer directions s with |s| = ``order``: C(m+order-1, order) of them."""
    return multi_indices(m, order)


@functools.cache
def weights(m: int, order: int, d: int) -> tuple[tuple[float, ...], ...]:
    """W with d^i f / i! = sum_s W[i][s] c_d(s), rows i in multi_indices(m, d), columns s in
    directions(m, order)."""
    rows = directions(m, order)
    cols = multi_indices(m, d)
    V = [[Fraction(_power(s, i)) for i in cols] for s in rows]
    gram = [
        [sum(V[r][a] * V[r][b] for r in range(len(rows))) for b in range(len(cols))]
        for a in range(len(cols))
    ]
    right = [[V[r][a] for r in range(len(rows))] for a in range(len(cols))]
    solved = _solve(gram, right)
    return tuple(tuple(float(w) for w in row) for row in solved)


def _power(s: tuple[int, ...], i: tuple[int, ...]) -> int:
    return math.prod(base**exponent for base, exponent in zip(s, i, strict=True))


def _solve(a: list[list[Fraction]], b: list[list[Fraction]]) -> list[list[Fraction]]:
    """X with a X = b, by Gauss-Jordan elimination in exact arithmetic (a is invertible)."""
    n = len(a)
    rows = [a[r][:] + b[r][:] for r in range(n)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col][col]
        rows[col] = [v / head for v in rows[col]]
        for r in range(n):
            factor = rows[r][col]
            if r != col and factor != 0:
                rows[r] = [v - factor * p for v, p in zip(rows[r], rows[col], strict=True)]
    return [row[n:] for row in rows]
