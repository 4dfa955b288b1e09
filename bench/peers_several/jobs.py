"""The three several-variable jobs of bench/bench_several.py, shared by the harness and the peer
scripts (JAX, torch.func): each job's function, grid, columns and format, the grid as autodiff
lays it out, and the writer every peer script uses.

Pure Python at import (the harness imports this module and must stay small: a child's peak
RSS from wait4 includes its parent's at the fork); numpy, polars and pyarrow are imported
inside the functions that need them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    """One job: ``expression`` in autodiff's language (the peer scripts spell the same
    function in their own framework), its variables, each on [start, stop] as
    ``numpy.linspace(start, stop, n)``, the full and tiny grid shapes (points per axis, first
    varying fastest), the output format, autodiff's derivative flags, and the torch.func
    script's vmap chunk_size (None: all points at once)."""

    number: int
    title: str
    expression: str
    variables: tuple[str, ...]
    start: float
    stop: float
    full: tuple[int, ...]
    tiny: tuple[int, ...]
    fmt: str
    flags: tuple[str, ...]
    orders: tuple[int, ...]
    torchfunc_chunk: int | None = None

    def partials(self) -> list[tuple[int, ...]]:
        """The derivative columns in autodiff's canonical order: by order, then the sorted
        multi-indices of the variables (for x, y, z at order 2: xx, xy, xz, yy, yz, zz)."""
        count = len(self.variables)
        return [
            index
            for order in self.orders
            for index in itertools.combinations_with_replacement(range(count), order)
        ]

    def columns(self) -> list[str]:
        """The table's columns: the variables, f, then f_ + the variables of each partial."""
        names = [f"f_{''.join(self.variables[i] for i in p)}" for p in self.partials()]
        return [*self.variables, "f", *names]

    def var_options(self, shape: tuple[int, ...]) -> list[str]:
        """autodiff's --var options for a grid of this shape (N points with both ends)."""
        options = []
        for name, count in zip(self.variables, shape, strict=True):
            options += ["--var", f"{name}={self.start:g}:{self.stop:g}:{count}j"]
        return options


JOBS = {
    1: Job(
        number=1,
        title="gradient",
        expression="x*exp(-x^2-y^2) + sin(x*y)",
        variables=("x", "y"),
        start=-5.0,
        stop=5.0,
        full=(2000, 2000),
        # Over 10,000 rows (autodiff's PLAIN_TEXT_ROWS), so that autodiff imports polars for
        # its CSV at the tiny size too, as the full job and the peer scripts do; two axis
        # lengths that differ, so that a transposed grid shows in the comparison.
        tiny=(103, 101),
        fmt="csv",
        flags=("--grad",),
        orders=(1,),
    ),
    2: Job(
        number=2,
        title="Hessian",
        expression="exp(-x^2-y^2-z^2)*sin(x*y*z) + x*y*z",
        variables=("x", "y", "z"),
        start=-2.0,
        stop=2.0,
        full=(100, 100, 100),
        tiny=(23, 22, 21),
        fmt="parquet",
        flags=("--hessian",),
        orders=(2,),
    ),
    3: Job(
        number=3,
        title="all partials to order 6",
        expression="exp(x)*sin(y) + x^2*y^3/(1+x^2)",
        variables=("x", "y"),
        start=-2.0,
        stop=2.0,
        full=(317, 316),
        # Small: nested forward mode costs torch.func about 3 ms of CPU per point here (its
        # operations multiply with every level of nesting), so 10,000 points would take
        # 30 s and their work would not cancel in the marginal time.
        tiny=(23, 21),
        fmt="parquet",
        flags=("-k", "6"),
        orders=(1, 2, 3, 4, 5, 6),
        # torch.func's nested jacfwd holds about 70 KB per point (0.44 GB at 2,025 points,
        # 0.95 GB at 10,403): all 100,172 points at once would need about 7 GB, over the
        # quarter of RAM that autodiff is held to; chunks of 16,384 points keep it near 1 GB.
        torchfunc_chunk=16_384,
    ),
}

SUFFIX = {"csv": ".csv", "parquet": ".parquet"}


def scaled(shape: tuple[int, ...], factor: float) -> tuple[int, ...]:
    """A grid with about ``factor`` times the points: each axis times factor^(1/d), at least 2."""
    if factor == 1:
        return shape
    per_axis = factor ** (1 / len(shape))
    return tuple(max(2, round(n * per_axis)) for n in shape)


def points(shape: tuple[int, ...]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def grid(job: Job, shape: tuple[int, ...]):
    """The point columns as autodiff writes them: axis i is linspace(start, stop, n_i), the
    first variable varies fastest (row r has x = xs[r % nx], y = ys[(r // nx) % ny], ...)."""
    import numpy as np

    axes = [np.linspace(job.start, job.stop, n) for n in shape]
    # meshgrid 'ij' over the axes last-first gives arrays of shape (.., ny, nx): C order
    # ravels them with the first variable fastest.
    meshes = np.meshgrid(*reversed(axes), indexing="ij")
    return [np.ascontiguousarray(m.ravel()) for m in reversed(meshes)]


def write(job: Job, columns: list, path: str, row_group: int | None) -> None:
    """The table as a polars DataFrame, written as autodiff writes it.

    CSV: polars ``write_csv``, as autodiff's writers.TableWriter (the same shortest round-trip
    float text; autodiff formats tables of at most 10,000 rows itself, byte for byte as polars).

    Parquet: autodiff writes with pyarrow's ParquetWriter, one row group per chunk of points,
    with pyarrow's defaults except for dictionaries (writers._dictionary_columns). Matched
    here through polars' ``write_parquet(use_pyarrow=True)``, which hands the frame's Arrow
    table to ``pyarrow.parquet.write_table``, so the writer is the same library with the same
    settings: snappy compression at its default level (pyarrow's default, where polars' own
    writer would use zstd), statistics written (min, max, null count per column chunk: pyarrow's
    default), the same rows per row group as autodiff's file (``row_group``, read from its
    footer by the harness), no dictionary for a float column that varies within the first row
    group (autodiff's rule; a constant column keeps it), default data page size, format
    version and data page version. Not matched: autodiff's several-variable files also carry a
    few hundred bytes of key-value metadata (the expression, variables, grid shape), which is
    no writer setting and costs nothing measurable.
    """
    import polars as pl

    names = job.columns()
    frame = pl.DataFrame(dict(zip(names, columns, strict=True)))
    if job.fmt == "csv":
        frame.write_csv(path)
        return
    first = len(columns[0]) if row_group is None else row_group
    dictionary = [n for n, c in zip(names, columns, strict=True) if _is_constant(c[:first])]
    frame.write_parquet(
        path,
        use_pyarrow=True,
        compression="snappy",
        statistics=True,
        row_group_size=row_group,
        pyarrow_options={"use_dictionary": dictionary},
    )


def _is_constant(column) -> bool:
    """autodiff's test (writers._is_constant): every value equals the first, NaN equal to NaN."""
    import numpy as np

    return len(column) == 0 or bool(
        np.array_equal(column, np.broadcast_to(column[0], column.shape), equal_nan=True)
    )


def parse_shape(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(","))
