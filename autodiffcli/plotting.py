"""Figures of f and its derivatives: a matplotlib Figure (no pyplot state) or terminal text.

matplotlib is imported only here, and only by `autodiff plot`. Figures use the Agg canvas;
`--show` alone asks pyplot for an interactive window.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autodiffcli.errors import OutputError

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
LINESTYLES = ["-", "--", "-.", ":"]
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class Tangent:
    """The tangent of f at x0: y = f0 + slope * (x - x0)."""

    x0: float
    f0: float
    slope: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.f0 + self.slope * (x - self.x0)

    @property
    def label(self) -> str:
        intercept = self.f0 - self.slope * self.x0
        sign = "-" if intercept < 0 else "+"
        return f"tangent at x = {self.x0:g}: y = {self.slope:.4g}x {sign} {abs(intercept):.4g}"


def supported_formats() -> dict[str, str]:
    """Image formats matplotlib can write: extension -> description."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def image_format(path: str) -> str:
    """The image format from ``path``'s extension, or a clear error listing the supported ones."""
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = supported_formats()
    if suffix not in formats:
        known = ", ".join(sorted(formats))
        raise OutputError(f"cannot write a '{suffix or path}' image; use one of: {known}")
    return suffix


def check_size(width: float, height: float, dpi: float) -> None:
    """Reject sizes that are not positive or would need an absurd number of pixels."""
    for name, value in (("--width", width), ("--height", height), ("--dpi", dpi)):
        if not (math.isfinite(value) and value > 0):
            raise OutputError(f"{name} must be a positive number, got {value}")
    if width * height * dpi * dpi > MAX_PIXELS:
        raise OutputError(
            f"{width}x{height} in at {dpi} dpi is over {MAX_PIXELS:,} pixels; "
            "lower --dpi or the size"
        )


def derivative_label(k: int) -> str:
    """Math-text legend label of the k-th derivative: f(x), f'(x), f''(x), f'''(x), f^(4)(x)."""
    if k <= 3:
        return f"$f{chr(39) * k}(x)$"
    return f"$f^{{({k})}}(x)$"


def plot_figure(
    columns: list[np.ndarray],
    expression: str,
    *,
    title: str | None = None,
    width: float = 6.4,
    height: float = 4.8,
    dpi: float = 150,
    tangents: tuple[Tangent, ...] = (),
    reference: list[np.ndarray] | None = None,
    interactive: bool = False,
):
    """A Figure of f and its derivatives; ``columns`` is [x, f, f', ...] as numpy arrays.

    Non-finite values become gaps, and the y range ignores the extreme tails so that a pole
    (1/x near 0) does not squash the curves into a flat line. ``reference``, when given,
    adds the symbolic derivatives as dashed lines and a lower panel with |error| (log scale).
    ``interactive`` makes the figure through pyplot, so that show_figure() can open it.
    """
    if interactive:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(width, height), dpi=dpi, layout="constrained")
    else:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    if reference is None:
        axes = figure.add_subplot()
        error_axes = None
    else:
        axes, error_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x = columns[0]
    for k, y in enumerate(columns[1:]):
        label = derivative_label(k) + (f" = {expression}" if k == 0 else "")
        axes.plot(x, _gaps(y), color=_colour(k), linestyle=LINESTYLES[k % 4], label=label)
    for k, y in enumerate(reference or []):
        if k:
            axes.plot(
                x,
                _gaps(y),
                color=_colour(k),
                linestyle=(0, (2, 2)),
                linewidth=2.5,
                alpha=0.5,
                label=derivative_label(k) + " symbolic",
            )
    for i, tangent in enumerate(tangents):
        axes.plot(
            x,
            tangent(x),
            color="0.35",
            linewidth=1,
            linestyle=LINESTYLES[(i + 1) % 4],
            label=tangent.label,
        )
        axes.plot([tangent.x0], [tangent.f0], "o", color="0.15", markersize=5)
    axes.axhline(0, color="0.2", linewidth=0.8)
    axes.grid(True, alpha=0.3)
    axes.set_ylabel("y")
    axes.set_title(title if title is not None else f"f(x) = {expression} and its derivatives")
    axes.legend(loc="best", fontsize="small")
    _robust_ylim(axes, columns[1:])
    if error_axes is not None:
        _error_panel(error_axes, x, columns[2:], reference[1:])
        error_axes.set_xlabel("x")
    else:
        axes.set_xlabel("x")
    return figure


def save_figure(figure, path: str, fmt: str, dpi: float) -> None:
    """Render ``figure`` to ``path`` atomically (no partial image on failure)."""
    from autodiffcli.writers import atomic_output

    with atomic_output(path) as handle:
        figure.savefig(handle, format=fmt, dpi=dpi)


def check_display() -> None:
    """--show needs a window system: fail clearly (before any work) where there is none."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise OutputError("--show needs a display (DISPLAY is not set); use -o FILE instead")


def show_figure() -> None:
    """Open the window of the figure made with ``interactive=True``."""
    import matplotlib.pyplot as plt

    plt.show()


def terminal_plot(columns: list[np.ndarray], expression: str, title: str | None) -> str:
    """The same curves drawn with characters (plotext), for ssh sessions and quick looks."""
    import plotext

    plotext.clear_figure()
    x = columns[0]
    for k, y in enumerate(columns[1:]):
        finite = np.isfinite(y)
        plotext.plot(
            x[finite].tolist(),
            y[finite].tolist(),
            label=derivative_label(k).strip("$"),
            marker="braille",
        )
    plotext.title(title if title is not None else f"f(x) = {expression}")
    plotext.xlabel("x")
    drawing = plotext.build()
    # Colour codes only for a terminal: a pipe or file gets plain characters.
    return drawing if sys.stdout.isatty() else plotext.uncolorize(drawing)


def _colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _gaps(y: np.ndarray) -> np.ndarray:
    """NaN where y is not finite: matplotlib leaves a gap there instead of a spike."""
    return np.where(np.isfinite(y), y, np.nan)


def _robust_ylim(axes, curves: list[np.ndarray]) -> None:
    values = np.concatenate([y[np.isfinite(y)] for y in curves])
    if values.size == 0:
        return
    low, high = np.percentile(values, [1, 99])
    full = values.max() - values.min()
    robust = high - low
    if robust > 0 and full > 10 * robust:
        margin = 0.15 * robust
        axes.set_ylim(low - margin, high + margin)


def _error_panel(axes, x, derivatives, reference) -> None:
    for k, (ours, exact) in enumerate(zip(derivatives, reference, strict=True), start=1):
        error = np.abs(ours - exact)
        shown = np.where(np.isfinite(error) & (error > 0), error, np.nan)
        axes.semilogy(x, shown, color=_colour(k), label=derivative_label(k))
    axes.set_ylabel("|autograd - symbolic|")
    axes.grid(True, alpha=0.3, which="both")
