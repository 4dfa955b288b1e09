"""Whether each number torch gives for a partial derivative is one: the one-sided look of the
lesson of several variables. Along each input x_j, f_i is evaluated with torch just left and
right of the point, near (2^-30 of |x_j|, or of 1 at 0) and far (2^-20), with torch's own
derivatives there. A partial exists where f_i is defined on both sides, does not jump, and its
slopes from the left and right meet: they differ by far less than either changes between its
near and far probes (as :mod:`autodiffcli.verify.partial_references` judges a kink with sympy).
Where they meet, torch's number at the point must be their common value.

The look runs in float64 on the CPU whatever the lesson's dtype and device: whether a
derivative exists is a question about f, asked at the best precision at hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from autodiffcli.lesson.reasons import EXACT_TOLERANCE, SIDE_STEP
from autodiffcli.numfmt import fmt

# The far probe, relative to the coordinate (the near one is reasons.SIDE_STEP).
FAR_STEP = 2.0**-20
# Sides meet, and a side is continuous, when its gap is within this share of what the far
# probe changes (a smooth f: 2^-10 of it), plus a relative slack for rounding.
MEET = 2.0**-5
SLACK = 2.0**-20

KINDS = {
    "derivative": "a derivative",
    "value_not_finite": "the output is not finite at the point",
    "not_finite": "torch's number is not finite",
    "corner": "the slopes from the left and right differ",
    "jump": "the output jumps there",
    "one_sided": "the output is defined on one side only",
    "isolated": "the output is not defined on either side",
    "differs": "both sides agree, on another number than torch's",
}


@dataclass(frozen=True)
class Entry:
    """One partial: d(output)/d(input) at the point, judged from both sides.

    Attributes:
        output, input: its indices.
        kind: a key of KINDS; "derivative" where torch's number is the partial derivative.
        torch: torch's number at the point.
        left, right: torch's derivative just left and right of the point (NaN where the
            output is not finite there).
        before, at, after: the output's value just left of, at and just right of the point.
    """

    output: int
    input: int
    kind: str
    torch: float
    left: float
    right: float
    before: float
    at: float
    after: float

    @property
    def exists(self) -> bool:
        return self.kind == "derivative"

    def fact(self, name: str) -> dict:
        sides = [_number(self.left), _number(self.right)]
        return {"entry": name, "kind": self.kind, "torch": _number(self.torch), "sides": sides}


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def probe_points(p: torch.Tensor) -> torch.Tensor:
    """(4n, n) points: for each input j, p + h e_j for h = +near, +far, -near, -far."""
    q = p.detach().to("cpu", torch.float64)
    rows = []
    for j in range(q.numel()):
        scale = abs(float(q[j])) or 1.0
        for step in (SIDE_STEP, FAR_STEP, -SIDE_STEP, -FAR_STEP):
            point = q.clone()
            point[j] += step * scale
            rows.append(point)
    return torch.stack(rows)


def judge(
    values: Callable[[torch.Tensor], torch.Tensor],
    slopes: Callable[[torch.Tensor], torch.Tensor],
    p: torch.Tensor,
    numbers: torch.Tensor,
    dtype: str = "float64",
) -> list[list[Entry]]:
    """Each entry of ``numbers`` (m x n, torch's partials of ``values`` at p, in the lesson's
    dtype) judged from both sides. ``values(q)``: the m outputs at one point q (n,), float64;
    ``slopes(q)``: torch's m x n partials there."""
    q = p.detach().to("cpu", torch.float64)
    points = probe_points(q)
    value_at = values(q).tolist()
    side_values = [values(point).tolist() for point in points]
    side_slopes = [slopes(point).tolist() for point in points]
    table = numbers.detach().to("cpu", torch.float64).tolist()
    tolerance = EXACT_TOLERANCE.get(dtype, EXACT_TOLERANCE["float32"])
    out = []
    for i, row in enumerate(table):
        entries = []
        for j, number in enumerate(row):
            near_r, far_r, near_l, far_l = (4 * j + k for k in range(4))
            entry = _judged(
                i,
                j,
                number,
                value_at[i],
                [side_values[k][i] for k in (near_r, far_r, near_l, far_l)],
                [side_slopes[k][i][j] for k in (near_r, far_r, near_l, far_l)],
                tolerance,
            )
            entries.append(entry)
        out.append(entries)
    return out


def _judged(i, j, number, value, sides, slopes, tolerance) -> Entry:
    vr, vrf, vl, vlf = sides
    sr, srf, sl, slf = slopes
    finite = math.isfinite

    def entry(kind):
        return Entry(i, j, kind, number, sl, sr, vl, value, vr)

    if not finite(value):
        return entry("value_not_finite")
    right, left = finite(vr) and finite(vrf), finite(vl) and finite(vlf)
    if not finite(number):
        return entry("not_finite")
    if not (right or left):
        return entry("isolated")
    if not (right and left):
        return entry("one_sided")
    if not (_continuous(value, vr, vrf) and _continuous(value, vl, vlf)):
        return entry("jump")
    if not all(finite(s) for s in slopes):
        return entry("corner")
    spread = abs(srf - sr) + abs(slf - sl)
    if abs(sr - sl) > MEET * spread + SLACK * max(abs(sr), abs(sl)):
        return entry("corner")
    middle = (sr + sl) / 2
    if abs(number - middle) > MEET * spread + tolerance * (1 + abs(middle)):
        return entry("differs")
    return entry("derivative")


def _continuous(value: float, near: float, far: float) -> bool:
    return abs(near - value) <= MEET * abs(far - value) + SLACK * abs(value)


def sides_text(entry: Entry, name: str, output: str, variable: str, at: str) -> str | None:
    """The sentence saying why torch's number for ``name`` (df1/dx) is not a derivative (None
    for a number that is not finite, where the sides have nothing to add)."""
    number = fmt(entry.torch)
    slopes = f"the slopes just left and right of it along {variable} are {fmt(entry.left)} and "
    slopes += fmt(entry.right)
    if entry.kind == "corner":
        return f"{name} does not exist at {at}: {slopes}; torch's {number} is its rule's convention"
    if entry.kind == "jump":
        return (
            f"{name} does not exist at {at}: {output} jumps along {variable} there "
            f"({fmt(entry.before)} just left, {fmt(entry.at)} at the point, {fmt(entry.after)} "
            f"just right); torch's {number} is its rule's convention"
        )
    if entry.kind == "one_sided":
        side, other = ("left", "right") if not math.isfinite(entry.before) else ("right", "left")
        slope = entry.right if other == "right" else entry.left
        return (
            f"{name} has one side only at {at}: {output} is not finite just {side} of it along "
            f"{variable}, so no two-sided derivative exists; torch gives {number} (and "
            f"{fmt(slope)} just {other} of it)"
        )
    if entry.kind == "isolated":
        return (
            f"{name} does not exist at {at}: {output} is not finite just either side of it "
            f"along {variable}; torch's {number} is its rules' number"
        )
    if entry.kind == "differs":
        return (
            f"{name} at {at} is {fmt((entry.left + entry.right) / 2)} from both sides along "
            f"{variable}, but torch gives {number}: torch's number is not the derivative"
        )
    if entry.kind == "not_finite":  # said "not finite" beside J; the sides may say more
        gap = abs(entry.left - entry.right)
        if not (gap > SLACK * max(abs(entry.left), abs(entry.right))):  # NaN, inf or meeting
            return None
        return f"{name} is {number} at {at}, and {slopes}"
    return f"{name} is not a derivative at {at}: {KINDS[entry.kind]}"


def missing(entries: Sequence[Sequence[Entry]]) -> list[Entry]:
    """The entries that are not derivatives, row by row."""
    return [e for row in entries for e in row if not e.exists]


def exists_mask(entries: Sequence[Sequence[Entry]]) -> torch.Tensor:
    return torch.tensor([[e.exists for e in row] for row in entries], dtype=torch.bool)
