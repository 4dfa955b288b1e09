"""Compare tables written by bench/bench_several.py's tools, read back with polars.

Run: python bench/peers_several/compare.py REFERENCE OTHER [OTHER...]

Prints one JSON object per OTHER: whether its columns (names and order) and row count equal the
reference's, the largest difference over all values relative to max(|reference|, |other|, 1)
(so relative above 1 in magnitude, absolute below), the column where it is, and whether NaN
and infinities sit in the same places. A separate process, so that the harness stays small
(see jobs.py).
"""

from __future__ import annotations

import json
import sys


def read(path: str):
    import polars as pl

    return pl.read_csv(path) if path.endswith(".csv") else pl.read_parquet(path)


def compare(reference, other) -> dict:
    import numpy as np

    found = {
        "columns": other.columns == reference.columns,
        "rows": other.height == reference.height,
        "reference_columns": reference.columns,
        "other_columns": other.columns,
        "height": [reference.height, other.height],
    }
    if not (found["columns"] and found["rows"]):
        return found
    worst, where, same_specials = 0.0, None, True
    for name in reference.columns:
        a = reference[name].to_numpy().astype(np.float64)
        b = other[name].to_numpy().astype(np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        same_specials &= bool(np.array_equal(a[~finite], b[~finite], equal_nan=True))
        if not finite.any():
            continue
        a, b = a[finite], b[finite]
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1.0)
        error = float((np.abs(a - b) / scale).max())
        if error > worst or where is None:
            worst, where = error, name
    found.update(max_relative=worst, column=where, same_specials=same_specials)
    return found


def main() -> None:
    reference = read(sys.argv[1])
    for path in sys.argv[2:]:
        print(json.dumps(compare(reference, read(path))))


if __name__ == "__main__":
    main()
