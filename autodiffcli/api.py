"""The Python API: the same expression, grid and core path as the CLI, returning numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autodiffcli import grid as grids
from autodiffcli.expr import parse


def derive(
    expression: str = "sin(x)",
    x: Sequence[float] | np.ndarray | None = None,
    *,
    start: float = -5.0,
    stop: float = 5.0,
    step: float | None = None,
    num: int | None = None,
    order: int = 1,
    device: str = "cpu",
    dtype: str = "float64",
) -> dict[str, np.ndarray]:
    """f and its autograd derivatives up to ``order``, as numpy arrays keyed x, f, df, d2f, ...

    Points are ``x`` if given, else the range (``step`` like numpy.arange, default 0.01, or
    ``num`` evenly spaced points). Raises the errors of :mod:`autodiffcli.errors`.

    Example:
        >>> derive("x**2", [1.0, 2.0])["df"]
        array([2., 4.])
    """
    from autodiffcli import core

    parsed = parse(expression)
    if x is not None:
        grid = grids.from_values(np.asarray(x, dtype=np.float64), grids.DEFAULT_MAX_POINTS)
    else:
        grid = grids.build(start, stop, step, num)
    if not 0 <= order <= 10:
        raise ValueError(f"order must be 0..10, got {order}")
    torch_device = core.resolve_device(device)
    columns = core.table(parsed, grid, order, torch_device, core.resolve_dtype(dtype, torch_device))
    return {
        name: column.numpy() for name, column in zip(core.column_names(order), columns, strict=True)
    }
