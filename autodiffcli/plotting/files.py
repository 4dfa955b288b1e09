"""Image files and windows: formats, sizes and titles checked before any drawing, and the
atomic save. matplotlib is imported only by the functions that need it, so a bad format or
size answers at once.
"""

from __future__ import annotations

import io
import math
import os
import sys
from pathlib import Path

import numpy as np

from autodiffcli.errors import OptionError, OutputError

MAX_PIXELS = 100_000_000
# The y axes' scales (matplotlib's names): linear, --logy, --symlog.
YSCALES = ("linear", "log", "symlog")
# Text stays text: SVG <text> elements and PDF TrueType (Type 42) fonts instead of Type 3.
FONT_RC = {"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42}
# The formats matplotlib writes (with pillow): checked without importing matplotlib.
COMMON_FORMATS = frozenset(
    ["avif", "eps", "gif", "jpeg", "jpg", "pdf", "pgf", "png", "ps", "raw", "rgba", "svg"]
    + ["svgz", "tif", "tiff", "webp"]
)
# Where each format keeps a title and a sentence about the image (savefig's metadata keys).
METADATA_KEYS = {
    "svg": ("Title", "Description"),
    "pdf": ("Title", "Subject"),
    "png": ("Title", "Description"),
}


def image_format(path: str) -> str:
    """The image format from ``path``'s extension, or a clear error listing the supported
    ones; without importing matplotlib (a second), whose formats are COMMON_FORMATS (test)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in COMMON_FORMATS:
        known = ", ".join(sorted(COMMON_FORMATS))
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


def check_yscale(yscale: str, ylim: tuple[float, float] | None) -> None:
    """A known scale; on a log axis, --ylim must be above 0."""
    if yscale not in YSCALES:
        raise OptionError(
            f"the y scale must be one of {', '.join(YSCALES)}, got {yscale!r}",
            parameter="yscale",
            value=yscale,
        )
    if yscale == "log" and ylim is not None and ylim[0] <= 0:
        raise OptionError(
            f"{{opt.ylim}} on a log axis ({{opt.logy}}) must be above 0, got {ylim[0]} "
            f"{ylim[1]}; use {{opt.symlog}} to show values at or below 0",
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
def save_figure(
    figure, path: str, fmt: str, dpi: float, title: str | None = None, about: str | None = None
) -> None:
    """Render ``figure`` to ``path`` atomically (no partial image on failure), text as text.

    ``title`` and ``about`` (one plain sentence) go into the file's metadata where its format
    has a place for them: an SVG's <title> and <desc>, which search tools and screen readers
    read, since the drawn maths is scattered glyphs; a PDF's Title and Subject; PNG text."""
    from matplotlib import rc_context

    from autodiffcli.writers import atomic_output

    metadata = _metadata(fmt, title, about)
    with rc_context(FONT_RC), atomic_output(path) as handle:
        if fmt == "svg" and about:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
            handle.write(_with_desc(buffer.getvalue(), about))
        else:
            figure.savefig(handle, format=fmt, dpi=dpi, metadata=metadata)


def _metadata(fmt: str, title: str | None, about: str | None) -> dict | None:
    """savefig's metadata for ``fmt``: each backend knows its own keys, and refuses others."""
    keys = METADATA_KEYS.get(fmt)
    if keys is None:
        return None
    pairs = zip(keys, (title, about), strict=True)
    return {key: text for key, text in pairs if text} or None


def _with_desc(svg: bytes, about: str) -> bytes:
    """The SVG with a <desc> after its <title> (matplotlib writes the title, not a desc)."""
    from xml.sax.saxutils import escape

    desc = f"<desc>{escape(about)}</desc>".encode()
    title = svg.find(b"</title>")
    end = title + len(b"</title>") if title >= 0 else svg.find(b">", svg.find(b"<svg")) + 1
    return svg[:end] + b"\n " + desc + svg[end:]


def check_display() -> None:
    """--show needs a window system: fail clearly (before any work) where there is none, or
    where DISPLAY names one that does not answer (matplotlib would fall back to a canvas
    without windows, warn, and show nothing)."""
    if not sys.platform.startswith("linux"):
        return
    x11, wayland = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
    if not (x11 or wayland):
        raise OutputError(
            "{opt.show} needs a display (DISPLAY is not set); use {opt.output} FILE instead",
            parameter="show",
        )
    if not any(_answers(address) for address in _display_sockets(x11, wayland)):
        shown = f"DISPLAY={x11!r}" if x11 else f"WAYLAND_DISPLAY={wayland!r}"
        raise OutputError(
            f"{{opt.show}} found no window system at {shown}; start one or use "
            "{opt.output} FILE instead",
            parameter="show",
        )


def _display_sockets(x11: str | None, wayland: str | None) -> list:
    """Where the X server of DISPLAY ([host]:n[.screen]) and the Wayland compositor listen:
    a path for a local socket, (host, port) for X over TCP."""
    addresses: list = []
    if wayland:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        addresses.append(wayland if os.path.isabs(wayland) else os.path.join(runtime, wayland))
    if x11:
        host, _, rest = x11.rpartition(":")
        number = rest.split(".")[0]
        if number.isdigit():
            if host in ("", "unix") or host.startswith("/"):
                addresses.append(f"/tmp/.X11-unix/X{number}")
                addresses.append(f"\0/tmp/.X11-unix/X{number}")  # the abstract socket
            else:
                addresses.append((host, 6000 + int(number)))
        elif x11.startswith("/"):  # macOS-style launchd socket path
            addresses.append(x11)
    return addresses


def _answers(address, timeout: float = 1.0) -> bool:
    """Whether something accepts a connection at ``address`` within ``timeout`` seconds."""
    import socket

    family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
    try:
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(address)
    except OSError:
        return False
    return True


def show_figure() -> None:
    """Open the window of the figure made with ``interactive=True``; an error where matplotlib
    found no window system after all (it falls back to a canvas without windows)."""
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template") or "inline" in backend:
        raise OutputError(
            f"{{opt.show}} cannot open a window: matplotlib found no window system and uses "
            f"the {backend} canvas; use {{opt.output}} FILE instead",
            parameter="show",
        )
    plt.show()
