"""Image files and windows: formats, sizes and titles checked before any drawing, and the
atomic save. matplotlib is imported only by the functions that need it, so a bad format or
size answers at once.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

from autodiffcli.errors import OptionError, OutputError

MAX_PIXELS = 100_000_000
# Text stays text: SVG <text> elements and PDF TrueType (Type 42) fonts instead of Type 3.
FONT_RC = {"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42}
# Formats every supported matplotlib writes: checked without importing matplotlib.
COMMON_FORMATS = frozenset(
    ["eps", "jpeg", "jpg", "pdf", "pgf", "png", "ps", "raw", "rgba", "svg", "svgz", "tif", "tiff"]
    + ["webp"]
)


def supported_formats() -> dict[str, str]:
    """Image formats matplotlib can write: extension -> description."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def image_format(path: str) -> str:
    """The image format from ``path``'s extension, or a clear error listing the supported ones.

    Common formats answer without importing matplotlib; others ask it.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in COMMON_FORMATS:
        return suffix
    formats = supported_formats()
    if suffix not in formats:
        known = ", ".join(sorted(formats))
        raise OutputError(
            f"cannot write a '{suffix or path}' image; use one of: {known} "
            "(e.g. {opt.output}=plot.png)",
            parameter="output",
            value=path,
        )
    return suffix


def check_size(width: float, height: float, dpi: float) -> None:
    """Reject sizes that are not positive or would need an absurd number of pixels."""
    for name, value in (("width", width), ("height", height), ("dpi", dpi)):
        if not (math.isfinite(value) and value > 0):
            raise OptionError(
                f"{{opt.{name}}} must be a positive number, got {value}",
                parameter=name,
                value=value,
            )
    if width * height * dpi * dpi > MAX_PIXELS:
        raise OptionError(
            f"{width}x{height} in at {dpi} dpi is over {MAX_PIXELS:,} pixels; "
            "lower {opt.dpi} or the size",
            parameter="dpi",
            value=dpi,
        )


def check_ylim(ylim: tuple[float, float] | None) -> None:
    """``ylim`` must be two finite numbers, low before high."""
    if ylim is None:
        return
    low, high = ylim
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise OptionError(
            f"{{opt.ylim}} needs two finite numbers, the lower first; got {low} {high}",
            parameter="ylim",
            value=ylim,
        )


def check_title(title: str | None) -> None:
    """A title with ``$`` must be valid mathtext; say so here rather than fail when drawing."""
    if title is None or "$" not in title:
        return
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(title)
    except ValueError as error:
        reason = str(error).strip().splitlines()[-1].split("  (at")[0]
        raise OptionError(
            f"{{opt.title}} is not valid math text ({reason}); write a literal dollar as \\$",
            parameter="title",
            value=title,
        ) from None


@np.errstate(over="ignore", invalid="ignore")
def save_figure(figure, path: str, fmt: str, dpi: float) -> None:
    """Render ``figure`` to ``path`` atomically (no partial image on failure), text as text."""
    from matplotlib import rc_context

    from autodiffcli.writers import atomic_output

    with rc_context(FONT_RC), atomic_output(path) as handle:
        figure.savefig(handle, format=fmt, dpi=dpi)


def check_display() -> None:
    """--show needs a window system: fail clearly (before any work) where there is none."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise OutputError(
            "{opt.show} needs a display (DISPLAY is not set); use {opt.output} FILE instead",
            parameter="show",
        )


def show_figure() -> None:
    """Open the window of the figure made with ``interactive=True``."""
    import matplotlib.pyplot as plt

    plt.show()
