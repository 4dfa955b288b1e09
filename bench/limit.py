"""The writer-bound limit of `autodiff derive --num N` at order 1 (issue 21).

Run: python bench/limit.py N csv|parquet PATH|-

numpy computes the same table as ``autodiff derive 'sin(x)' --num N`` (x on the same grid,
x_i = -5 + i*step with the last point pinned to 5; f = sin x; df = cos x, which autograd
computes) and the same writer writes it whole, in one call: polars ``write_csv`` for CSV (the
same shortest round-trip float text) and pyarrow ``write_table`` for Parquet (the same schema:
polars' frame converted to Arrow). PATH ``-`` writes to stdout. Nothing streams, nothing is
atomic, no check is made: this is what the job costs when only the writer is paid for.
"""

from __future__ import annotations

import sys

import numpy as np


def grid(count: int, start: float = -5.0, stop: float = 5.0) -> np.ndarray:
    """The points of ``--num count`` on [start, stop], as autodiff makes them."""
    if count == 1:
        return np.array([start])
    x = np.arange(count, dtype=np.float64) * ((stop - start) / (count - 1)) + start
    x[-1] = stop
    return x


def main() -> None:
    count, fmt, path = int(float(sys.argv[1])), sys.argv[2], sys.argv[3]
    import polars as pl

    x = grid(count)
    frame = pl.DataFrame({"x": x, "f": np.sin(x), "df": np.cos(x)})
    sink = sys.stdout.buffer if path == "-" else path
    if fmt == "csv":
        frame.write_csv(sink)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(frame.to_arrow(), sink)
    else:
        raise SystemExit(f"unknown format {fmt!r}: use csv or parquet")


if __name__ == "__main__":
    main()
