"""Where a curve is, where it breaks, and how far it spans: the numbers behind a figure's
y limits, its line breaks and its hints, kept apart from the drawing (no matplotlib here).
"""

from __future__ import annotations

import math

import numpy as np

# The y range of a curve ignores this percentage of its values at each end (poles)...
TAIL_PERCENT = 1.0
# ...and then each deeper share in turn while the range still shrinks by over OUTLIER_RATIO:
# the higher derivatives of a pole (1/x^4) are still stretched after the first 1%.
TRIM_PERCENTS = (TAIL_PERCENT, 2.5, 5.0, 10.0)
# A range is trimmed when it is more than this many times the range of the rest.
OUTLIER_RATIO = 10.0
# A derivative widens the shared y range (which fits f first) by at most this factor.
FIT_RATIO = 4.0
# A sign change is a pole or jump when the step is over this fraction of the curve's range.
JUMP_FRACTION = 0.5
# A step is a jump when it is over this many times what the next derivative allows
# (|f^(k+1)| * dx at either end): tanh(k x) sampled either side of its peak needs 1.7 at most
# while the whole rise falls between two samples (k dx < 3)...
STEP_SLACK = 4.0
# ...and it is over this fraction of the curve's range (steps in the rounding noise are not).
STEP_FRACTION = 0.05
# Beyond this share of steps flagged, the grid is too coarse for the derivative to bound the
# steps (sin sampled at its peaks only): no step is taken for a jump.
STEP_MAX_SHARE = 0.05
# Axis limits stay within this, so that spans and margins of values near 1e308 stay finite.
LARGEST_LIMIT = 1e300
# A curve whose top climbs more than this many decades above its median looks flat on linear
# axes but for its top (exp(x) from -50 to 50); the top leaves out this percentage (poles).
WIDE_DECADES = 6.0
SPAN_TAIL_PERCENT = 5.0


def curve_range(y: np.ndarray) -> tuple[float, float] | None:
    """The y range that shows a curve: all of it, or its middle when poles stretch it.

    Tails are trimmed a level of TRIM_PERCENTS at a time, each time the range without them
    is under 1/OUTLIER_RATIO of the range with them, so that a pole sets no limit."""
    finite = y[np.isfinite(y)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    trimmed = False
    for percent in TRIM_PERCENTS:
        inner_low, inner_high = np.percentile(finite, [percent, 100 - percent])
        inner = inner_high - inner_low
        if not (inner > 0 and high - low > OUTLIER_RATIO * inner):
            break
        low, high, trimmed = float(inner_low), float(inner_high), True
    if trimmed:
        margin = 0.15 * (high - low)
        return low - margin, high + margin
    return low, high


def fitted_range(curves: list[np.ndarray]) -> tuple[float, float]:
    """f's range, widened by each derivative only as far as f stays readable, plus margins."""
    ranges = [r for r in map(curve_range, curves) if r is not None]
    if not ranges:
        return -1.0, 1.0
    low, high = ranges[0]
    for other_low, other_high in ranges[1:]:
        wider = min(low, other_low), max(high, other_high)
        if wider[1] - wider[0] <= FIT_RATIO * max(high - low, 1e-300):
            low, high = wider
    low, high = np.clip([low, high], -LARGEST_LIMIT, LARGEST_LIMIT).tolist()
    span = high - low
    if span <= 0:
        pad = max(abs(low) * 0.1, 1.0)
        return low - pad, high + pad
    return low - 0.05 * span, high + 0.05 * span


def break_jumps(
    x: np.ndarray, y: np.ndarray, slope: np.ndarray | None = None, switches=None
) -> tuple[np.ndarray, np.ndarray]:
    """x and y with a NaN inserted wherever y jumps across a pole or a jump.

    Between two points where |y| does not fall towards the gap from either side (a curve
    crossing zero falls towards it), the line breaks when y changes sign by over
    JUMP_FRACTION of the curve's robust range (tan, 1/x), or when both points lie beyond
    that range on the same side and |y| at least doubles towards the gap from each side,
    as it does next to a pole and not at a sampled smooth peak (1/x^2, tan'). With
    ``slope``, y's own derivative, it also breaks at a step the slope cannot account for
    (abs'(x) at 0), which a steep smooth rise such as tanh(200x) can. Where ``switches``
    marks a step between two branches of a where/min/max, the slope on one side says nothing
    of the other: the line breaks if the tangent from each end misses the other end.
    """
    finite = y[np.isfinite(y)]
    if finite.size < 2:
        return x, y
    low, high = np.percentile(finite, [TAIL_PERCENT, 100 - TAIL_PERCENT])
    span = high - low
    if span <= 0:
        span = float(finite.max() - finite.min())
        if span <= 0:
            return x, y
    a, b = y[:-1], y[1:]
    before = np.abs(np.concatenate([[np.nan], y[:-2]]))
    after = np.abs(np.concatenate([y[2:], [np.nan]]))
    with np.errstate(invalid="ignore"):
        rising = ~(before > np.abs(a)) & ~(after > np.abs(b))
        crossing = (np.sign(a) * np.sign(b) < 0) & (np.abs(b - a) > JUMP_FRACTION * span)
        beyond = (np.minimum(a, b) > high) | (np.maximum(a, b) < low)
        exploding = (np.abs(a) > 2 * before) & (np.abs(b) > 2 * after)
    jumps = rising & crossing | beyond & exploding
    if slope is not None:
        jumps |= steps_beyond_slope(x, y, slope, span)
        if switches is not None:
            jumps |= switches & tangents_miss(x, y, slope, span)
    where = np.flatnonzero(jumps) + 1
    if where.size == 0:
        return x, y
    middle = (x[where - 1] + x[where]) / 2
    return np.insert(x, where, middle), np.insert(y, where, np.nan)


def steps_beyond_slope(x: np.ndarray, y: np.ndarray, slope: np.ndarray, span: float):
    """Mask of the steps of y larger than STEP_SLACK times the most its derivative ``slope``
    at either end allows over the step, and than STEP_FRACTION of ``span``: a jump, since a
    smooth curve's step is its slope somewhere between times dx."""
    slope = np.asarray(slope, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        step = np.abs(np.diff(y))
        allowed = STEP_SLACK * np.fmax(np.abs(slope[:-1]), np.abs(slope[1:])) * np.diff(x)
        flagged = (step > allowed) & (step > STEP_FRACTION * span)
    if np.count_nonzero(flagged) > max(2, STEP_MAX_SHARE * flagged.size):
        return np.zeros_like(flagged)
    return flagged


def tangents_miss(x: np.ndarray, y: np.ndarray, slope: np.ndarray, span: float):
    """Mask of the steps where the tangent from each end misses the other end's value by
    more than STEP_FRACTION of ``span``: across a switch between branches, a jump."""
    slope = np.asarray(slope, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        dx = np.diff(x)
        from_left = np.abs(y[:-1] + slope[:-1] * dx - y[1:])
        from_right = np.abs(y[1:] - slope[1:] * dx - y[:-1])
        return np.fmin(from_left, from_right) > STEP_FRACTION * span


def decades_spanned(y: np.ndarray) -> float:
    """How many decades |y| climbs from its median to its top (SPAN_TAIL_PERCENT left out,
    zeros too): about 1 for x^3 or sin(x), 19 for exp(x) from -50 to 50, whose lower 90%
    linear axes draw as a flat line at 0."""
    magnitude = np.abs(y[np.isfinite(y) & (y != 0)])
    if magnitude.size < 2:
        return 0.0
    typical, top = np.percentile(magnitude, [50, 100 - SPAN_TAIL_PERCENT])
    return math.log10(top / typical) if typical > 0 else 0.0
