"""Critical points of f(x, y) (plotting.critical): found on the grid, refined by Newton steps on
exact derivatives (numpy formulas here), named from the Hessian; curves of critical points."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from autodiffcli.plotting import critical
from autodiffcli.plotting.critical import definiteness, find_critical

AXIS = np.arange(-2, 2, 0.02)  # 200 points, 0 among them


@dataclass(frozen=True)
class Function:
    """f with its gradient and Hessian as numpy formulas of (x, y)."""

    f: object
    fx: object
    fy: object
    fxx: object
    fxy: object
    fyy: object

    def derivatives(self, xs, ys):
        with np.errstate(all="ignore"):
            value = np.broadcast_to(self.f(xs, ys), xs.shape)
            parts = [np.broadcast_to(d(xs, ys), xs.shape) for d in self._partials]
        gradient = np.stack(parts[:2], axis=-1)
        hessian = np.stack([parts[2], parts[3], parts[3], parts[4]], axis=-1).reshape(-1, 2, 2)
        return value, gradient, hessian

    @property
    def _partials(self):
        return (self.fx, self.fy, self.fxx, self.fxy, self.fyy)

    def critical(self, x=AXIS, y=AXIS, derivatives=None, **options):
        gx, gy = np.meshgrid(x, y)
        with np.errstate(all="ignore"):
            f, fx, fy = (np.broadcast_to(d(gx, gy), gx.shape) for d in (self.f, self.fx, self.fy))
        return find_critical(x, y, fx, fy, f, derivatives or self.derivatives, **options)


def zero(x, y):
    return 0.0 * x


def const(c):
    return lambda x, y: c + 0.0 * x


SADDLE = Function(
    lambda x, y: x**2 - y**2, lambda x, y: 2 * x, lambda x, y: -2 * y, const(2), zero, const(-2)
)
BOWL = Function(
    lambda x, y: x**2 + y**2, lambda x, y: 2 * x, lambda x, y: 2 * y, const(2), zero, const(2)
)
DOME = Function(
    lambda x, y: -(x**2) - y**2,
    lambda x, y: -2 * x,
    lambda x, y: -2 * y,
    const(-2),
    zero,
    const(-2),
)


def gauss(x, y):
    return np.exp(-(x**2) - y**2)


X_GAUSS = Function(
    lambda x, y: x * gauss(x, y),
    lambda x, y: (1 - 2 * x**2) * gauss(x, y),
    lambda x, y: -2 * x * y * gauss(x, y),
    lambda x, y: (4 * x**3 - 6 * x) * gauss(x, y),
    lambda x, y: (4 * x**2 * y - 2 * y) * gauss(x, y),
    lambda x, y: (4 * x * y**2 - 2 * x) * gauss(x, y),
)


def ring(sign):
    """sign * (x^2 + y^2 - 1)^2: a circle of minima (sign 1) or maxima (sign -1)."""

    def u(x, y):
        return x**2 + y**2 - 1

    return Function(
        lambda x, y: sign * u(x, y) ** 2,
        lambda x, y: sign * 4 * x * u(x, y),
        lambda x, y: sign * 4 * y * u(x, y),
        lambda x, y: sign * (4 * u(x, y) + 8 * x**2),
        lambda x, y: sign * 8 * x * y,
        lambda x, y: sign * (4 * u(x, y) + 8 * y**2),
    )


VALLEY = Function(
    lambda x, y: (x - y) ** 2,
    lambda x, y: 2 * (x - y),
    lambda x, y: -2 * (x - y),
    const(2),
    const(-2),
    const(2),
)
FLAT_X = Function(lambda x, y: y**2, zero, lambda x, y: 2 * y, zero, zero, const(2))
CUBIC = Function(
    lambda x, y: x**2 * y + x * y**2,
    lambda x, y: 2 * x * y + y**2,
    lambda x, y: x**2 + 2 * x * y,
    lambda x, y: 2 * y,
    lambda x, y: 2 * x + 2 * y,
    lambda x, y: 2 * x,
)
QUARTIC = Function(
    lambda x, y: x**4 + y**4,
    lambda x, y: 4 * x**3,
    lambda x, y: 4 * y**3,
    lambda x, y: 12 * x**2,
    zero,
    lambda x, y: 12 * y**2,
)
EGG_BOX = Function(
    lambda x, y: np.sin(x) * np.sin(y),
    lambda x, y: np.cos(x) * np.sin(y),
    lambda x, y: np.sin(x) * np.cos(y),
    lambda x, y: -np.sin(x) * np.sin(y),
    lambda x, y: np.cos(x) * np.cos(y),
    lambda x, y: -np.sin(x) * np.sin(y),
)


def r2(x, y):
    return x**2 + y**2


LOG = Function(
    lambda x, y: np.log(r2(x, y)),
    lambda x, y: 2 * x / r2(x, y),
    lambda x, y: 2 * y / r2(x, y),
    lambda x, y: 2 / r2(x, y) - 4 * x**2 / r2(x, y) ** 2,
    lambda x, y: -4 * x * y / r2(x, y) ** 2,
    lambda x, y: 2 / r2(x, y) - 4 * y**2 / r2(x, y) ** 2,
)


def cap(x, y):
    return np.sqrt(1 - r2(x, y))


HEMISPHERE = Function(
    cap,
    lambda x, y: -x / cap(x, y),
    lambda x, y: -y / cap(x, y),
    lambda x, y: -1 / cap(x, y) - x**2 / cap(x, y) ** 3,
    lambda x, y: -x * y / cap(x, y) ** 3,
    lambda x, y: -1 / cap(x, y) - y**2 / cap(x, y) ** 3,
)
PLANE = Function(lambda x, y: x + 2 * y, const(1), const(2), zero, zero, zero)


def kinds(found):
    return sorted(p.kind for p in found.points)


def test_x2_minus_y2_has_one_saddle_at_the_origin():
    found = SADDLE.critical()
    assert kinds(found) == ["saddle"] and found.curves == ()
    point = found.points[0]
    assert (point.x, point.y) == pytest.approx((0, 0), abs=1e-12)
    assert point.eigenvalues == pytest.approx((-2, 2))


def test_x_exp_has_a_min_and_a_max_to_1e_8():
    found = X_GAUSS.critical()
    assert kinds(found) == ["max", "min"]
    by_kind = {p.kind: p for p in found.points}
    h = 1 / math.sqrt(2)
    assert (by_kind["min"].x, by_kind["min"].y) == pytest.approx((-h, 0), abs=1e-8)
    assert (by_kind["max"].x, by_kind["max"].y) == pytest.approx((h, 0), abs=1e-8)
    assert by_kind["max"].value == pytest.approx(h * math.exp(-0.5), rel=1e-12)


def test_bowl_has_one_min():
    found = BOWL.critical()
    assert kinds(found) == ["min"] and found.points[0].value == pytest.approx(0, abs=1e-20)


def test_dome_has_one_max():
    assert kinds(DOME.critical()) == ["max"]


def test_ring_of_minima_is_one_closed_curve_near_the_unit_circle_and_a_max_at_0():
    found = ring(1).critical()
    assert len(found.curves) == 1
    curve = found.curves[0]
    assert curve.kind == "min" and curve.closed and len(curve.xy) > 100
    assert np.hypot(*curve.xy.T) == pytest.approx(1, abs=1e-9)
    angles = np.sort(np.arctan2(curve.xy[:-1, 1], curve.xy[:-1, 0]))
    assert np.diff(np.r_[angles, angles[0] + 2 * np.pi]).max() < 0.2  # all the way round
    assert [(p.kind, round(p.x, 9), round(p.y, 9)) for p in found.points] == [("max", 0, 0)]


def test_ring_vertices_are_in_order_along_the_circle():
    curve = ring(1).critical().curves[0]
    steps = np.hypot(*np.diff(curve.xy, axis=0).T)
    assert steps.max() < 0.15  # no jump across the ring


def test_ring_of_maxima_is_a_curve_of_kind_max():
    found = ring(-1).critical()
    assert [c.kind for c in found.curves] == ["max"] and kinds(found) == ["min"]


def test_line_of_minima_is_one_open_curve_along_y_equals_x():
    found = VALLEY.critical()
    assert found.points == () and len(found.curves) == 1
    curve = found.curves[0]
    assert curve.kind == "min" and not curve.closed
    assert curve.xy[:, 0] == pytest.approx(curve.xy[:, 1], abs=1e-12)
    ends = sorted(curve.xy[[0, -1], 0])
    assert ends[0] < -1.9 and ends[1] > 1.9  # the whole diagonal
    assert np.all(np.diff(curve.xy[:, 0]) > 0) or np.all(np.diff(curve.xy[:, 0]) < 0)


def test_line_of_minima_along_an_axis_is_found_though_fx_is_0_everywhere():
    found = FLAT_X.critical()
    assert found.points == () and [c.kind for c in found.curves] == ["min"]
    assert found.curves[0].xy[:, 1] == pytest.approx(0, abs=1e-12)


CROSS = Function(
    lambda x, y: (x * y) ** 2,
    lambda x, y: 2 * x * y**2,
    lambda x, y: 2 * x**2 * y,
    lambda x, y: 2 * y**2,
    lambda x, y: 4 * x * y,
    lambda x, y: 2 * x**2,
)


def test_crossing_lines_of_minima_of_xy_squared_are_curves_not_one_point():
    found = CROSS.critical()  # the curvature across the axes, 2x^2, vanishes at 0
    assert found.points == () and {c.kind for c in found.curves} == {"min"}
    xy = np.concatenate([c.xy for c in found.curves])
    off = np.abs(xy).max(axis=1) > 0.1  # near 0 the gradient, about x^2 y, is small anyway
    assert np.abs(xy[off]).min(axis=1) == pytest.approx(0, abs=1e-9)  # on an axis
    assert np.abs(xy[:, 0]).max() > 1.9 and np.abs(xy[:, 1]).max() > 1.9  # along both


def test_tilted_ring_has_a_min_a_saddle_and_a_max_and_no_curve():
    base = ring(1)
    tilted = Function(
        lambda x, y: base.f(x, y) + 0.1 * x,
        lambda x, y: base.fx(x, y) + 0.1,
        base.fy,
        base.fxx,
        base.fxy,
        base.fyy,
    )
    found = tilted.critical()
    assert found.curves == () and kinds(found) == ["max", "min", "saddle"]


def test_ring_cut_by_an_undefined_region_is_one_open_arc():
    base = ring(1)

    def cut(d):
        return lambda x, y: np.where(x < -0.3, np.nan, d(x, y))

    parts = (base.f, base.fx, base.fy, base.fxx, base.fxy, base.fyy)
    found = Function(*(cut(d) for d in parts)).critical()
    assert len(found.curves) == 1 and not found.curves[0].closed
    assert found.curves[0].xy[:, 0].min() >= -0.3
    assert [p.kind for p in found.points] == ["max"]


def test_x2y_plus_xy2_has_one_degenerate_point_at_0():
    found = CUBIC.critical(x=AXIS + 0.007, y=AXIS - 0.003)  # 0 off the nodes
    assert kinds(found) == ["degenerate"] and found.curves == ()
    assert (found.points[0].x, found.points[0].y) == pytest.approx((0, 0), abs=1e-6)


def test_x4_plus_y4_is_degenerate_at_0():
    found = QUARTIC.critical()
    assert kinds(found) == ["degenerate"] and found.curves == ()
    assert (found.points[0].x, found.points[0].y) == pytest.approx((0, 0), abs=1e-3)


def test_sin_sin_has_9_saddles_2_min_and_2_max():
    axis = np.arange(-4, 4, 0.04)
    found = EGG_BOX.critical(x=axis, y=axis)
    assert kinds(found) == ["max"] * 2 + ["min"] * 2 + ["saddle"] * 9
    assert found.curves == () and not found.truncated
    for p in found.points:
        expected = (np.pi / 2) if p.kind != "saddle" else np.pi
        assert (p.x / expected, p.y / expected) == pytest.approx(
            (round(p.x / expected), round(p.y / expected)), abs=1e-12
        )


def test_log_r2_has_no_critical_point():
    axis = np.linspace(-2, 2, 200)  # 0 in the middle of a cell, whose seed runs off
    found = LOG.critical(x=axis, y=axis)
    assert found == critical.CriticalSet()


def test_hemisphere_has_its_max_and_nothing_from_the_undefined_region():
    found = HEMISPHERE.critical()
    assert [(p.kind, p.x, p.y) for p in found.points] == [("max", 0, 0)]
    assert found.curves == ()


def test_plane_has_no_critical_point():
    assert PLANE.critical() == critical.CriticalSet()


def test_constant_function_gives_the_empty_set():
    flat = Function(const(3), zero, zero, zero, zero, zero)
    assert flat.critical() == critical.CriticalSet()


def test_derivatives_are_called_once_per_newton_step_with_all_points():
    calls = []

    def counted(xs, ys):
        calls.append(len(xs))
        return EGG_BOX.derivatives(xs, ys)

    axis = np.arange(-4, 4, 0.04)
    EGG_BOX.critical(x=axis, y=axis, derivatives=counted)
    assert len(calls) <= critical.NEWTON_STEPS + 1
    assert calls[0] >= 13 and max(calls) <= critical.MAX_SEEDS


def test_many_candidates_are_truncated_to_max_seeds():
    axis = np.arange(-4, 4, 0.04)
    calls = []

    def counted(xs, ys):
        calls.append(len(xs))
        return EGG_BOX.derivatives(xs, ys)

    found = EGG_BOX.critical(x=axis, y=axis, derivatives=counted, max_seeds=5)
    assert found.truncated and max(calls) <= 2 * 5 and 0 < len(found.points) <= 5


def test_gradient_and_hessian_only_derivatives_take_f_from_the_grid():
    def two(xs, ys):
        return BOWL.derivatives(xs, ys)[1:]

    found = BOWL.critical(x=AXIS + 0.01, y=AXIS + 0.01, derivatives=two)
    assert kinds(found) == ["min"]
    assert found.points[0].value == pytest.approx(0, abs=1e-3)  # bilinear, near 0


def test_definiteness_codes_of_four_hessians():
    codes = definiteness(
        np.array([2.0, -2.0, 2.0, 2.0]), np.array([0.0, 0.0, 0.0, -2.0]), np.array([1, -1, -1, 2])
    )
    assert codes.tolist() == [0, 1, 2, 3]
    assert [critical.DEFINITENESS[c] for c in codes] == list(critical.DEFINITENESS)


def test_definiteness_is_minus_1_where_undefined():
    nan, inf = math.nan, math.inf
    codes = definiteness(np.array([nan, 1.0, inf]), np.array([0.0, nan, 0.0]), np.ones(3))
    assert codes.tolist() == [-1, -1, -1]


def test_definiteness_tolerance_is_relative_to_the_fields_scale():
    gx, gy = np.meshgrid(AXIS, AXIS)
    fxx, fxy, fyy = QUARTIC.fxx(gx, gy), 0 * gx, QUARTIC.fyy(gx, gy)
    codes = definiteness(fxx * 1e-9, fxy, fyy * 1e-9)  # a small scale changes no code
    assert np.array_equal(codes, definiteness(fxx, fxy, fyy))
    assert set(np.unique(codes)) == {0, 3}  # singular on the axes, where 12 x^2 or 12 y^2 = 0
    assert codes[100, 100] == 3 and codes[0, 0] == 0
