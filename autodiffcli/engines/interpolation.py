"""Mixed partial derivatives from univariate Taylor series, by exact interpolation weights.

Propagating the series of f along a direction s (every variable v_i moving as v_i + s_i t)
gives coefficients c_d(s) = sum over |i| = d of (d^i f / i!) s^i: a homogeneous polynomial
of degree d in s whose coefficients are the partials of order d. Griewank, Utke and Walther
("Evaluating higher derivative tensors by forward propagation of univariate Taylor series",
Math. Comp. 69, 2000) take the integer directions |s| = K, C(m+K-1, K) of them for m
variables, and recover every partial of order K by a fixed linear combination. Here the same
K directions serve every order d <= K: the weights are the exact least-squares left inverse
of the interpolation matrix V_d[s, i] = s^i (full column rank for d <= K), worked out in
exact integer arithmetic once per (m, K, d) and rounded once to float64. Torch-free.
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
    directions(m, order): V_d's inverse when it is square (d = order), else the exact
    least-squares left inverse (V^T V)^-1 V^T."""
    rows = directions(m, order)
    cols = multi_indices(m, d)
    V = [[_power(s, i) for i in cols] for s in rows]
    if len(rows) == len(cols):
        identity = [[int(r == c) for c in range(len(rows))] for r in range(len(rows))]
        return _solve(V, identity)
    transposed = [list(column) for column in zip(*V, strict=True)]
    gram = [[sum(a * b for a, b in zip(u, v, strict=True)) for v in transposed] for u in transposed]
    return _solve(gram, transposed)


def _power(s: tuple[int, ...], i: tuple[int, ...]) -> int:
    return math.prod(base**exponent for base, exponent in zip(s, i, strict=True))


def _solve(a: list[list[int]], b: list[list[int]]) -> tuple[tuple[float, ...], ...]:
    """X with a X = b for integer matrices (a invertible), each entry the float64 nearest
    the exact rational: Bareiss's fraction-free elimination keeps every number an integer
    (each division is exact), and det(a) X is integral, so the back substitution is exact
    too; only the final quotients round."""
    n, width = len(a), len(b[0])
    rows = [a[r][:] + b[r][:] for r in range(n)]
    previous = 1
    for k in range(n - 1):
        if rows[k][k] == 0:
            swap = next(r for r in range(k + 1, n) if rows[r][k] != 0)
            rows[k], rows[swap] = rows[swap], rows[k]
        pivot = rows[k][k]
        for r in range(k + 1, n):
            lead = rows[r][k]
            rows[r] = [
                (value * pivot - lead * above) // previous
                for value, above in zip(rows[r], rows[k], strict=True)
            ]
        previous = pivot
    det = rows[n - 1][n - 1]
    scaled = [[0] * width for _ in range(n)]  # det * X, integral
    for i in range(n - 1, -1, -1):
        for c in range(width):
            total = det * rows[i][n + c] - sum(rows[i][j] * scaled[j][c] for j in range(i + 1, n))
            scaled[i][c] = total // rows[i][i]
    return tuple(tuple(float(Fraction(v, det)) for v in row) for row in scaled)
