"""Figures drawn with characters (plotext), for ssh sessions and quick looks."""

from __future__ import annotations

import sys

import numpy as np

from autodiffcli.plotting.figure import derivative_symbol, hide_where_undefined, ordered_by_x

TERMINAL_MARKERS = ["•", "+", "x", "o", "*", "#", "@"]


def terminal_plot(
    columns: list[np.ndarray], expression: str, title: str | None, colour: bool | None = None
) -> str:
    """The same curves drawn with characters (plotext), for ssh sessions and quick looks.

    Colour codes go only to a terminal (``colour`` None: whether stdout is one). Without
    colour each curve gets its own marker character, named in the legend, so that f and
    f' stay apart in a pipe or a file.
    """
    import plotext

    if colour is None:
        colour = sys.stdout.isatty()
    plotext.clear_figure()
    x, curves, _ = ordered_by_x(columns, None)
    curves, _ = hide_where_undefined(curves)
    for k, y in enumerate(curves):
        finite = np.isfinite(y)
        if not finite.any():
            continue  # nothing to draw (plotext's legend fails on an empty curve)
        marker = "braille" if colour else TERMINAL_MARKERS[k % len(TERMINAL_MARKERS)]
        name = derivative_symbol(k).replace("^{(", "^(").replace(")}", ")")
        plotext.plot(x[finite].tolist(), y[finite].tolist(), label=f"{name}(x)", marker=marker)
    plotext.title(title if title is not None else f"f(x) = {expression}")
    plotext.xlabel("x")
    drawing = plotext.build()
    return drawing if colour else plotext.uncolorize(drawing)
