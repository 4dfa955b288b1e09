"""Critical points of f(x, y) for plot: found on the grid, refined by Newton steps on the
gradient, and named from the Hessian's eigenvalues (min, max, saddle, degenerate). A curve of
critical points (a ring of minima) is returned as a curve, not as scattered dots.
Numpy only: the derivatives come from a callable the use case builds on the engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

KINDS = ("min", "max", "saddle", "degenerate")
# The Hessian's definiteness on the grid, as codes (-1: undefined there).
DEFINITENESS = ("positive definite", "negative definite", "indefinite", "singular")

# derivatives(xs, ys) -> (gradient (N, 2), hessian (N, 2, 2)) at the scattered points (xs, ys).
Derivatives = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class CriticalPoint:
    """An isolated point where the gradient vanishes, and what the Hessian says of it."""

    x: float
    y: float
    kind: str  # one of KINDS
    value: float  # f there
    eigenvalues: tuple[float, float]


@dataclass(frozen=True)
class CriticalCurve:
    """A curve along which the gradient vanishes, ordered along it (closed: last == first)."""

    xy: np.ndarray  # (n, 2)
    kind: str  # "min" | "max" | "degenerate": the sign of the Hessian across the curve


@dataclass(frozen=True)
class CriticalSet:
    points: tuple[CriticalPoint, ...] = ()
    curves: tuple[CriticalCurve, ...] = ()
    truncated: bool = False  # more were found than are kept
