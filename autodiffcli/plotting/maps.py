"""Figures of f(x, y): filled or line contours, heatmaps and surfaces, with gradient arrows
or stream lines, critical points, Taylor overlays and the Hessian's definiteness; and fields
F: R^2 -> R^2 over their divergence or curl. A matplotlib Figure (no pyplot state) from numpy
arrays the use case computed; undefined values stay NaN and are masked, never interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autodiffcli.plotting.critical import CriticalSet

KINDS = ("contourf", "contour", "heatmap", "surface")
FIELD_STYLES = ("quiver", "stream", "none")
BACKGROUNDS = ("div", "curl", "none")


@dataclass(frozen=True)
class Panel:
    """One scalar map: f, a partial derivative, or a field's divergence or curl."""

    label: str  # mathtext: "$f$", r"$\partial f/\partial x$", r"$\nabla\cdot F$"
    z: np.ndarray | None  # (ny, nx), NaN where undefined; None: no background (a field alone)
    diverging: bool = False  # derivatives, div, curl: a diverging map centred at 0
    zlim: tuple[float, float] | None = None  # the user's --zlim; None: robust limits


@dataclass(frozen=True)
class Vectors:
    """Arrows on the first panel: the gradient of f, or a field F."""

    u: np.ndarray  # (ny, nx)
    v: np.ndarray
    style: str  # "quiver" | "stream"
    label: str  # mathtext: r"$\nabla f$" or "$F$"


@dataclass(frozen=True)
class Overlay:
    """A Taylor polynomial of f at a point, drawn over f near it."""

    point: tuple[float, float]
    z: np.ndarray  # (ny, nx) on the figure's grid, NaN outside the window where it is drawn
    label: str  # mathtext, e.g. "quadratic at $(-1, 0)$"


@dataclass(frozen=True)
class MapFigure:
    """Everything one figure of f(x, y) or F(x, y) shows."""

    x: np.ndarray  # (nx,) increasing, evenly spaced
    y: np.ndarray  # (ny,) increasing, evenly spaced
    panels: tuple[Panel, ...]  # the first is f (or a field's background)
    kind: str = "contourf"
    vectors: Vectors | None = None  # on the first panel
    critical: CriticalSet | None = None  # on the first panel
    overlays: tuple[Overlay, ...] = ()
    definiteness: np.ndarray | None = None  # (ny, nx) codes of critical.DEFINITENESS; a panel
    wireframe: bool = False  # surface: wireframes instead of shaded surfaces
    title: str = ""
    xlabel: str = "$x$"
    ylabel: str = "$y$"
    note: str | None = None  # e.g. "at $z = 0$", under the title
