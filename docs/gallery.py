"""Draw the README's gallery through the library: python docs/gallery.py [FOLDER].

Each figure is what `autodiff plot` draws with the options named beside it; the driver calls
the library directly so that options not yet on the command line (--ylim, --panels,
--taylor-at) can be shown.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from autodiffcli import core, expr, grid, plotting, taylor

DPI = 100


def columns(text: str, order: int, start: float, stop: float, num: int | None = None):
    """[x, f, f', ...] as numpy arrays, by the same autograd path as `autodiff derive`."""
    points = (
        grid.from_range(start, stop, 0.01, grid.DEFAULT_MAX_POINTS)
        if num is None
        else grid.from_num(start, stop, num, grid.DEFAULT_MAX_POINTS)
    )
    return [c.numpy() for c in core.table(expr.parse(text), points, order, "cpu", torch.float64)]


def tangents(text: str, points: list[float]) -> tuple[plotting.Tangent, ...]:
    x, f, df = core.table(expr.parse(text), grid.from_values(points, 10), 1, "cpu", torch.float64)
    return tuple(plotting.Tangent(*map(float, row)) for row in zip(x, f, df, strict=True))


def series(text: str, points: list[float], order: int) -> list[plotting.TaylorSeries]:
    x0 = torch.tensor(points, dtype=torch.float64)
    table = taylor.coefficients(expr.parse(text), x0, order).numpy()
    return plotting.TaylorSeries.from_columns(points, table)


def draw(folder: Path, name: str, text: str, table, **options) -> None:
    figure = plotting.plot_figure(table, text, parsed=expr.parse(text), dpi=DPI, **options)
    plotting.save_figure(figure, str(folder / name), "png", DPI)
    print(folder / name)


def main(folder: Path) -> None:
    # autodiff plot 'sin(x)'
    draw(folder, "sin.png", "sin(x)", columns("sin(x)", 1, -5, 5))
    # autodiff plot 'x*sin(x)' --order 2
    draw(folder, "x_sin_order2.png", "x*sin(x)", columns("x*sin(x)", 2, -5, 5))
    # autodiff plot 'x**3 - 1/x' --start 0.2 --stop 2 --tangent-at 0.5 --tangent-at 1.5
    cubic = "x**3 - 1/x"
    draw(
        folder,
        "tangent.png",
        cubic,
        columns(cubic, 1, 0.2, 2),
        tangents=tangents(cubic, [0.5, 1.5]),
    )
    # autodiff plot 'tan(x)'
    draw(folder, "tan.png", "tan(x)", columns("tan(x)", 1, -5, 5))
    # autodiff plot '1/x' --num 1000
    draw(folder, "reciprocal.png", "1/x", columns("1/x", 1, -5, 5, num=1000))
    # autodiff plot 'log(x)' --start -2 --stop 5
    draw(folder, "log_gaps.png", "log(x)", columns("log(x)", 1, -2, 5))
    # autodiff plot 'sin(x)' --order 4 --panels
    draw(folder, "sin_order4_panels.png", "sin(x)", columns("sin(x)", 4, -5, 5), panels=True)
    # autodiff plot 'sin(x)' --order 7 --start -7 --stop 7 --taylor-at 0 --ylim -2 2
    draw(
        folder,
        "sin_taylor.png",
        "sin(x)",
        columns("sin(x)", 0, -7, 7),
        taylor=series("sin(x)", [0.0], 7),
        ylim=(-2.0, 2.0),
    )
    # autodiff plot 'sin(x)' --tangent-at -2 --tangent-at 0 --tangent-at 2 --width 4 --height 3
    draw(
        folder,
        "sin_small.png",
        "sin(x)",
        columns("sin(x)", 1, -5, 5),
        tangents=tangents("sin(x)", [-2.0, 0.0, 2.0]),
        width=4,
        height=3,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
