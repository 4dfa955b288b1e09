"""Critical points of f(x, y) for plot: found on the grid, refined by Newton steps on the
gradient, and named from the Hessian's eigenvalues (min, max, saddle, degenerate). A curve of
critical points (a ring of minima) is returned as a curve, not as scattered dots.
Numpy only: the derivatives come from a callable the use case builds on the engines.

How it works. Seeds are the grid cells where fx and fy both change sign (or touch 0), or where
the gradient turns by more than 90 degrees between two corners. Each seed is refined twice by
Newton steps on the gradient, all iterates in one `derivatives` call per step: once by full
steps -H⁺∇f (pseudo-inverse: a singular H is no failure), which find the isolated points, and
once across only (along H's eigenvector of largest |eigenvalue|), which lands on a curve of
critical points without sliding along it. A refined point with a nonsingular Hessian is
isolated (implicit function theorem); those with a singular one are linked (within a few
cells) into groups, and a group spanning at least CURVE_MIN_CELLS cells is a curve, its points
ordered by walking from each to its nearest neighbour ahead, closed if the walk comes back.
Points are merged within a cell; isolated points on a curve are dropped (it is drawn once).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

KINDS = ("min", "max", "saddle", "degenerate")
# The Hessian's definiteness on the grid, as codes (-1: undefined there).
DEFINITENESS = ("positive definite", "negative definite", "indefinite", "singular")

# derivatives(xs, ys) -> (value (N,), gradient (N, 2), hessian (N, 2, 2)) of f at the scattered
# points (xs, ys), NaN where f is undefined. It is called with up to 2 * MAX_SEEDS points at
# once, at most NEWTON_STEPS + 1 times. A callable returning only (gradient, hessian) is accepted
# too: f at the refined points is then interpolated from the grid.
Derivatives = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]

# |∇f| at an accepted point, relative to the gradient's scale on the grid (its 90th percentile
# over the defined nodes: a percentile, so that a pole does not make everything critical).
# Newton converges quadratically at nondegenerate points, and even at a degenerate one
# (x^4 + y^4, linear convergence) NEWTON_STEPS steps go far below it.
GRADIENT_RTOL = 1e-8
# An eigenvalue with |lambda| <= HESSIAN_RTOL * (the Hessian's scale on the grid: the 90th
# percentile of its spectral norm) counts as 0. At a refined point on a curve of critical
# points, or at a degenerate point, the eigenvalue that vanishes there is O(distance) or less
# and the Newton iterates end far closer than a millionth of the grid's curvature.
HESSIAN_RTOL = 1e-6
SCALE_PERCENTILE = 90.0
PINV_RCOND = 1e-10  # the pseudo-inverse drops eigenvalues below this share of the largest
NEWTON_STEPS = 30
STEP_DONE_CELLS = 1e-10  # a point whose Newton step is this short (in cells) has converged
MAX_STEP_CELLS = 2.0  # a Newton step is cut to this length (in cells): no far jumps
MAX_SEEDS = 400  # seeds per derivatives call: the bound on the work
MAX_STRIDE = 8  # seeds are thinned to one per s x s block of cells, s up to this
MERGE_CELLS = 1.0  # refined isolated points closer than this (in cells) are one point
LINK_CELLS = 3.0  # singular points this close (in cells, times the stride) are one group
CURVE_MIN_CELLS = 3.0  # a group spanning this many cells is a curve, a smaller one a point
TURN_COS = 0.5  # walking along a curve, the next point lies within 60 degrees ahead


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
    value: float = math.nan  # f along it (the median over its vertices)

    @property
    def closed(self) -> bool:
        return len(self.xy) > 2 and bool(np.all(self.xy[0] == self.xy[-1]))


@dataclass(frozen=True)
class CriticalSet:
    points: tuple[CriticalPoint, ...] = ()
    curves: tuple[CriticalCurve, ...] = ()
    truncated: bool = False  # more were found than are kept


@dataclass(frozen=True)
class _Grid:
    """The grid's box and spacing; distances are measured in cells, fair on any aspect."""

    x: np.ndarray
    y: np.ndarray

    @property
    def step(self) -> np.ndarray:
        return np.array([self.x[1] - self.x[0], self.y[1] - self.y[0]])

    def cells(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return np.column_stack(((xs - self.x[0]), (ys - self.y[0]))) / self.step

    def inside(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return (xs >= self.x[0]) & (xs <= self.x[-1]) & (ys >= self.y[0]) & (ys <= self.y[-1])

    def bilinear(self, z: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """z (ny, nx) at scattered points inside the box (NaN corners give NaN)."""
        uv = self.cells(xs, ys)
        i = np.clip(np.floor(uv[:, 0]).astype(int), 0, len(self.x) - 2)
        j = np.clip(np.floor(uv[:, 1]).astype(int), 0, len(self.y) - 2)
        s, t = uv[:, 0] - i, uv[:, 1] - j
        bottom = z[j, i] * (1 - s) + z[j, i + 1] * s
        top = z[j + 1, i] * (1 - s) + z[j + 1, i + 1] * s
        return bottom * (1 - t) + top * t


@dataclass
class _Refined:
    """Refined points, the derivatives there and the Hessian's ascending eigenvalues."""

    xs: np.ndarray
    ys: np.ndarray
    value: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    eigenvalues: np.ndarray = field(init=False)  # (N, 2)

    def __post_init__(self) -> None:
        self.eigenvalues = np.linalg.eigvalsh(_symmetric(self.hessian))

    def take(self, keep: np.ndarray) -> _Refined:
        return _Refined(
            self.xs[keep], self.ys[keep], self.value[keep], self.gradient[keep], self.hessian[keep]
        )


def find_critical(
    x: np.ndarray,
    y: np.ndarray,
    fx: np.ndarray,
    fy: np.ndarray,
    f: np.ndarray,
    derivatives: Derivatives,
    *,
    max_seeds: int = MAX_SEEDS,
    newton_steps: int = NEWTON_STEPS,
) -> CriticalSet:
    """The critical points and curves of f inside the grid's box.

    x (nx,), y (ny,): evenly spaced increasing axes; fx, fy, f: (ny, nx), NaN where undefined.
    A region where the gradient is exactly 0 at every node (f constant there) is no candidate:
    every point of it is critical, and no dot or curve says that.
    """
    grid = _Grid(np.asarray(x, float), np.asarray(y, float))
    fx, fy, f = (np.asarray(a, float) for a in (fx, fy, f))
    if len(grid.x) < 2 or len(grid.y) < 2:
        return CriticalSet()
    gradient_scale = _robust_scale(np.hypot(fx, fy))
    if gradient_scale == 0:
        return CriticalSet()
    rows, cols, score = _candidate_cells(fx, fy)
    rows, cols, stride, truncated = _thin_seeds(rows, cols, score, max_seeds)
    if rows.size == 0:
        return CriticalSet(truncated=truncated)
    seeds_x = grid.x[0] + (cols + 0.5) * grid.step[0]
    seeds_y = grid.y[0] + (rows + 0.5) * grid.step[1]
    evaluate = _evaluator(derivatives, grid, f)
    refined = _refine(evaluate, grid, seeds_x, seeds_y, newton_steps)
    refined = refined.take(np.hypot(*refined.gradient.T) <= GRADIENT_RTOL * gradient_scale)
    tol = HESSIAN_RTOL * _robust_scale(_spectral_norm(*_grid_hessian(grid, fx, fy)))
    singular = np.abs(refined.eigenvalues).min(axis=1) <= tol
    link = LINK_CELLS * stride
    curves, loose = _curves(grid, refined.take(singular), link, tol)
    isolated = ~singular
    isolated[np.flatnonzero(singular)[loose]] = True
    points = _merge_points(grid, refined.take(isolated), tol)
    points = _off_curves(grid, points, curves, link / 2)
    points.sort(key=lambda p: (p.y, p.x))
    return CriticalSet(tuple(points), tuple(curves), truncated)


def definiteness(
    fxx: np.ndarray, fxy: np.ndarray, fyy: np.ndarray, *, rtol: float = HESSIAN_RTOL
) -> np.ndarray:
    """Codes indexing DEFINITENESS per point, -1 where an entry is NaN or infinite.

    An eigenvalue within rtol times the Hessian's scale over the field (the 90th percentile of
    its spectral norm: robust to a pole) counts as 0, so a Hessian singular by construction
    ((x - y)^2 everywhere) reads singular despite rounding.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(v, float) for v in (fxx, fxy, fyy)))
    finite = np.isfinite(a) & np.isfinite(b) & np.isfinite(c)
    with np.errstate(invalid="ignore", over="ignore"):
        low, high = _eigenvalues_2x2(a, b, c)
        scale = _robust_scale(np.where(finite, np.maximum(np.abs(low), np.abs(high)), np.nan))
    codes = _codes(low, high, rtol * scale)
    codes[~finite] = -1
    return codes


def _codes(low: np.ndarray, high: np.ndarray, tol: float) -> np.ndarray:
    """DEFINITENESS codes from ascending eigenvalues; they index KINDS the same way."""
    codes = np.full(np.shape(low), 3, dtype=int)
    codes[low > tol] = 0
    codes[high < -tol] = 1
    codes[(low < -tol) & (high > tol)] = 2
    return codes


def _eigenvalues_2x2(a, b, c) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues of [[a, b], [b, c]], elementwise (closed form)."""
    mean, radius = (a + c) / 2, np.hypot((a - c) / 2, b)
    return mean - radius, mean + radius


def _spectral_norm(a, b, c) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs((a + c) / 2) + np.hypot((a - c) / 2, b)


def _robust_scale(values: np.ndarray) -> float:
    """The 90th percentile of |values| where finite (their maximum if that is 0): one pole
    or one steep corner does not set the scale, and a mostly flat field still has one."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 0.0
    scale = float(np.percentile(finite, SCALE_PERCENTILE))
    return scale if scale > 0 else float(finite.max())


def _grid_hessian(grid: _Grid, fx: np.ndarray, fy: np.ndarray) -> tuple[np.ndarray, ...]:
    """The Hessian on the grid by differences of fx and fy: only for its scale."""
    dx, dy = grid.step
    with np.errstate(invalid="ignore", over="ignore"):
        fxx = np.gradient(fx, dx, axis=1)
        fyy = np.gradient(fy, dy, axis=0)
        fxy = (np.gradient(fx, dy, axis=0) + np.gradient(fy, dx, axis=1)) / 2
    return fxx, fxy, fyy


def _corners(z: np.ndarray) -> np.ndarray:
    """The four corner values of every cell, stacked: (4, ny - 1, nx - 1)."""
    return np.stack([z[:-1, :-1], z[:-1, 1:], z[1:, :-1], z[1:, 1:]])


def _candidate_cells(fx: np.ndarray, fy: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cells with four defined corners where fx and fy each change sign or touch 0, or where
    the gradient turns by more than 90 degrees between two corners (a curve of critical
    points along an axis: across (xy)^2's x axis fy flips but fx = 2xy^2 keeps its sign); less
    the flat ones (gradient exactly 0 at all corners). With the mean |∇f| at their corners."""
    cx, cy = _corners(fx), _corners(fy)
    defined = np.isfinite(cx).all(axis=0) & np.isfinite(cy).all(axis=0)
    spans = [(c.min(axis=0) <= 0) & (c.max(axis=0) >= 0) for c in (cx, cy)]
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    with np.errstate(invalid="ignore", over="ignore"):
        turns = np.any([cx[a] * cx[b] + cy[a] * cy[b] < 0 for a, b in pairs], axis=0)
    flat = ((cx == 0) & (cy == 0)).all(axis=0)
    rows, cols = np.nonzero(defined & ((spans[0] & spans[1]) | turns) & ~flat)
    score = np.hypot(cx, cy).mean(axis=0)[rows, cols]
    return rows, cols, score


def _thin_seeds(rows, cols, score, max_seeds: int) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """At most max_seeds cells: one per s x s block (the smallest s that fits, the cell with the
    smallest |∇f| in each), then the max_seeds best if even MAX_STRIDE leaves too many."""
    for stride in range(1, MAX_STRIDE + 1):
        keep = _one_per_block(rows, cols, score, stride)
        if keep.size <= max_seeds:
            return rows[keep], cols[keep], stride, False
    keep = keep[np.argsort(score[keep], kind="stable")[:max_seeds]]
    return rows[keep], cols[keep], MAX_STRIDE, True


def _one_per_block(rows, cols, score, stride: int) -> np.ndarray:
    """Indices of the cell with the least score in each stride x stride block."""
    if stride == 1:
        return np.arange(rows.size)
    block = (rows // stride) * (cols.max() // stride + 1) + cols // stride
    order = np.lexsort((score, block))
    return order[np.r_[True, block[order][1:] != block[order][:-1]]]


def _evaluator(derivatives: Derivatives, grid: _Grid, f: np.ndarray):
    """derivatives as (value, gradient, hessian) float arrays, whichever form it returns."""

    def evaluate(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, ...]:
        out = derivatives(xs, ys)
        if len(out) == 2:
            value = grid.bilinear(f, xs, ys)
            gradient, hessian = out
        else:
            value, gradient, hessian = out
        n = len(xs)
        value = np.broadcast_to(np.asarray(value, float), (n,))
        gradient = np.asarray(gradient, float).reshape(n, 2)
        return value, gradient, np.asarray(hessian, float).reshape(n, 2, 2)

    return evaluate


def _symmetric(h: np.ndarray) -> np.ndarray:
    return (h + np.swapaxes(h, -1, -2)) / 2


def _newton_steps(gradient, hessian, across: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-H⁺∇f per point, and where it is defined. The pseudo-inverse drops the eigenvalues
    below PINV_RCOND of the point's largest (where H is 0 it does not move); an `across` point
    keeps only its largest, stepping straight onto a curve of critical points. (Full Newton
    slides along such a curve when the curvature across it varies: (xy)^2 runs to 0.)"""
    ok = np.isfinite(gradient).all(axis=1) & np.isfinite(hessian).all(axis=(1, 2))
    step = np.zeros_like(gradient)
    if ok.any():
        w, v = np.linalg.eigh(_symmetric(hessian[ok]))
        largest = np.abs(w).max(axis=1, keepdims=True)
        keep = np.abs(w) > PINV_RCOND * largest
        keep &= ~across[ok, None] | (np.abs(w) == largest)
        along = np.einsum("nij,ni->nj", v, gradient[ok])
        coefficients = np.where(keep, along / np.where(keep, w, 1.0), 0.0)
        step[ok] = -np.einsum("nij,nj->ni", v, coefficients)
    return step, ok


def _refine(evaluate, grid: _Grid, xs: np.ndarray, ys: np.ndarray, steps: int) -> _Refined:
    """Newton steps from every seed twice over, full and across only, all in one evaluate call
    per step and one at the end; a point that leaves the box or meets an undefined value is
    dropped."""
    xs, ys = np.r_[xs, xs], np.r_[ys, ys]
    across = np.arange(xs.size) >= xs.size // 2
    alive = np.ones(xs.size, bool)
    moving = alive.copy()
    for _ in range(steps):
        idx = np.flatnonzero(moving)
        if idx.size == 0:
            break
        _, gradient, hessian = evaluate(xs[idx], ys[idx])
        step, ok = _newton_steps(gradient, hessian, across[idx])
        length = np.hypot(*(step / grid.step).T)
        step *= np.minimum(1.0, MAX_STEP_CELLS / np.maximum(length, 1e-300))[:, None]
        new_x, new_y = xs[idx] + step[:, 0], ys[idx] + step[:, 1]
        ok &= grid.inside(new_x, new_y)
        xs[idx], ys[idx] = new_x, new_y
        alive[idx[~ok]] = False
        moving[idx[~ok | (length <= STEP_DONE_CELLS)]] = False
    idx = np.flatnonzero(alive)
    if idx.size == 0:
        return _Refined(xs[:0], ys[:0], xs[:0], np.zeros((0, 2)), np.zeros((0, 2, 2)))
    value, gradient, hessian = evaluate(xs[idx], ys[idx])
    ok = np.isfinite(gradient).all(axis=1) & np.isfinite(hessian).all(axis=(1, 2))
    idx, value, gradient, hessian = idx[ok], value[ok], gradient[ok], hessian[ok]
    return _Refined(xs[idx], ys[idx], value, gradient, hessian)


def _point(refined: _Refined, i: int, tol: float) -> CriticalPoint:
    low, high = refined.eigenvalues[i]
    kind = KINDS[int(_codes(np.array(low), np.array(high), tol))]
    x, y, value = (float(a[i]) for a in (refined.xs, refined.ys, refined.value))
    return CriticalPoint(x, y, kind, value, (float(low), float(high)))


def _merge_points(grid: _Grid, refined: _Refined, tol: float) -> list[CriticalPoint]:
    """One point per cluster of refined points within MERGE_CELLS: the one where |∇f| is
    least (degenerate points converge slowly, so their seeds end a little apart)."""
    uv = grid.cells(refined.xs, refined.ys)
    kept: list[int] = []
    for i in np.argsort(np.hypot(*refined.gradient.T), kind="stable"):
        if not kept or np.hypot(*(uv[kept] - uv[i]).T).min() > MERGE_CELLS:
            kept.append(int(i))
    return [_point(refined, i, tol) for i in kept]


def _off_curves(grid: _Grid, points, curves, radius: float) -> list[CriticalPoint]:
    """The points not within radius cells of a curve's vertex: a curve is drawn once."""
    if not curves:
        return list(points)
    vertices = grid.cells(*np.concatenate([c.xy for c in curves]).T)
    kept = []
    for p in points:
        uv = grid.cells(np.array([p.x]), np.array([p.y]))
        if np.hypot(*(vertices - uv).T).min() > radius:
            kept.append(p)
    return kept


def _groups(uv: np.ndarray, radius: float) -> list[np.ndarray]:
    """Connected groups of points, linked when closer than radius (breadth first)."""
    near = np.hypot(*(uv[:, None, :] - uv[None, :, :]).transpose(2, 0, 1)) <= radius
    unseen = np.ones(len(uv), bool)
    groups = []
    for start in range(len(uv)):
        if not unseen[start]:
            continue
        unseen[start] = False
        members, frontier = [start], [start]
        while frontier:
            found = np.flatnonzero(near[frontier].any(axis=0) & unseen)
            unseen[found] = False
            members += found.tolist()
            frontier = found.tolist()
        groups.append(np.array(members))
    return groups


def _extent(uv: np.ndarray) -> float:
    return float(np.hypot(*(uv.max(axis=0) - uv.min(axis=0))))


def _curves(grid: _Grid, refined: _Refined, link: float, tol: float):
    """Curves from the refined points whose Hessian is singular, and which of those are left
    (groups too small to be a curve: degenerate isolated points)."""
    uv = grid.cells(refined.xs, refined.ys)
    curves, loose = [], np.zeros(len(uv), bool)
    for group in _groups(uv, link):
        if len(group) < 3 or _extent(uv[group]) < CURVE_MIN_CELLS:
            loose[group] = True
            continue
        group = group[_spread(uv[group], 0.5)]
        for path, closed in _chains(uv[group], link):
            members = group[path]
            if len(members) >= 3 and _extent(uv[members]) >= CURVE_MIN_CELLS:
                curves.append(_curve(refined, members, closed, tol))
    return curves, loose


def _spread(uv: np.ndarray, spacing: float) -> np.ndarray:
    """Indices of a subset at least spacing apart, in lexicographic order: seeds from
    neighbouring cells often land on the same spot of a curve."""
    kept: list[int] = []
    for i in np.lexsort((uv[:, 1], uv[:, 0])):
        if not kept or np.hypot(*(uv[kept] - uv[i]).T).min() >= spacing:
            kept.append(int(i))
    return np.array(kept)


def _walk(uv: np.ndarray, free: np.ndarray, start: int, heading, link: float):
    """From start, repeatedly to the nearest free point within link that lies ahead (within
    60 degrees of the heading, any direction at first); the path and its first heading."""
    path, here, first = [start], start, None
    while True:
        candidates = np.flatnonzero(free)
        offsets = uv[candidates] - uv[here]
        distance = np.hypot(*offsets.T)
        ok = (distance <= link) & (distance > 0)
        if heading is not None:
            ok &= offsets @ heading >= TURN_COS * distance
        if not ok.any():
            return path, first
        pick = np.flatnonzero(ok)[np.argmin(distance[ok])]
        heading = offsets[pick] / distance[pick]
        first = heading if first is None else first
        here = int(candidates[pick])
        free[here] = False
        path.append(here)


def _chains(uv: np.ndarray, link: float) -> list[tuple[list[int], bool]]:
    """Ordered paths through the points, each closed if its walk comes back to its start."""
    free = np.ones(len(uv), bool)
    chains = []
    while free.any():
        start = int(np.flatnonzero(free)[0])
        free[start] = False
        path, first = _walk(uv, free, start, None, link)
        closed = len(path) >= 4 and _comes_back(uv[path], link)
        if not closed and first is not None:
            back, _ = _walk(uv, free, start, -first, link)
            path = back[::-1] + path[1:]
        nearby = np.hypot(*(uv[:, None, :] - uv[None, path, :]).transpose(2, 0, 1))
        free &= nearby.min(axis=1) > link / 2
        chains.append((path, closed))
    return chains


def _comes_back(path_uv: np.ndarray, link: float) -> bool:
    """Whether a walk's start lies ahead of its end, within link: a closed curve."""
    offset = path_uv[0] - path_uv[-1]
    heading = path_uv[-1] - path_uv[-2]
    distance = np.hypot(*offset)
    return bool(distance <= link and offset @ heading >= TURN_COS * distance * np.hypot(*heading))


def _curve(refined: _Refined, members: np.ndarray, closed: bool, tol: float) -> CriticalCurve:
    """A curve, its kind from the eigenvalue across it (the larger in magnitude): min where it
    is positive at most vertices and negative at none, max the other way round."""
    low, high = refined.eigenvalues[members].T
    across = np.where(np.abs(high) >= np.abs(low), high, low)
    kind = "degenerate"
    if np.mean(across > tol) > 0.5 and not np.any(across < -tol):
        kind = "min"
    elif np.mean(across < -tol) > 0.5 and not np.any(across > tol):
        kind = "max"
    xy = np.column_stack((refined.xs[members], refined.ys[members]))
    if closed:
        xy = np.vstack((xy, xy[:1]))
    value = refined.value[members]
    value = float(np.median(value)) if np.isfinite(value).any() else math.nan
    return CriticalCurve(xy, kind, value)
