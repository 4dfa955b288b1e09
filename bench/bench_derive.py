"""Benchmark order-1 `autodiff derive` against its writer-bound limit (bench/limit.py).

Run: python bench/bench_derive.py [--sizes 1e6,1e7,1e8] [--runs 5] [--formats csv,parquet]
                                  [--sinks file,pipe,null] [--no-secondary] [--no-start-up]

Every figure is a whole process measured in this run, on this machine. A marginal time is the
wall time of an N-row job minus that of the same command at 10 rows, run back to back in one
round (see Rounds), so start-up (``import torch`` included) cancels; the figure is the median
over the rounds, and the ratio is autodiff's median marginal time over the limit's.
A 10-row CSV job is formatted without polars, so for CSV the column 'same imports' also gives
the ratio over a 10,001-row base job, which imports polars as the large jobs and the limit do.
The limit is numpy computing the same table and the same writer (polars for CSV, pyarrow for
Parquet) writing it whole, in one call. autodiff and the limit run alternately, so that drift
on this shared machine hits both. Sinks: a file (``-o``; the limit writes the path), a pipe
(stdout read by ``cat > /dev/null``), /dev/null (stdout). Spread: the lowest and highest value
over the rounds. Peak RSS comes from wait4. Before each run, earlier outputs are deleted
and ``sync`` writes out dirty pages (neither is timed).

Before measuring, the package is byte-compiled (``compileall``), as ``pip install .`` does;
an editable install under PYTHONDONTWRITEBYTECODE would otherwise compile it on every run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMIT = str(HERE / "limit.py")
AUTODIFF = [sys.executable, "-m", "autodiffcli"]
SUFFIX = {"csv": ".csv", "parquet": ".parquet"}

NAIVE_SAVETXT = """
import sys, numpy as np, torch
n = int(sys.argv[1])
x = torch.tensor(np.linspace(-5, 5, n), requires_grad=True)
y = torch.sin(x)
y.sum().backward()
np.savetxt(sys.argv[2], np.column_stack([x.detach().numpy(), y.detach().numpy(),
           x.grad.numpy()]), delimiter=",", header="x,f,df", comments="")
"""

NUMPY_PANDAS = """
import sys, numpy as np, pandas as pd
n = int(sys.argv[1])
x = np.linspace(-5, 5, n)
pd.DataFrame({"x": x, "f": np.sin(x), "df": np.cos(x)}).to_csv(sys.argv[2], index=False)
"""


@dataclass(frozen=True)
class Run:
    wall: float
    rss: int


def timed(argv: list[str], sink: str, expect: int = 0) -> Run:
    """Wall time and peak RSS of one process, which must exit with ``expect``; ``sink`` says
    where its stdout goes."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        if sink == "pipe":
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
            reader = subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)
            process.stdout.close()
        else:
            process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
            reader = None
        _, status, usage = os.wait4(process.pid, 0)
        if reader is not None:
            reader.wait()
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != expect:
            errors.seek(0)
            raise SystemExit(f"{argv} failed ({code}): {errors.read().decode()}")
    return Run(wall, usage.ru_maxrss * 1024)


def commands(fmt: str, sink: str, rows: int, folder: Path) -> tuple[list[str], list[str]]:
    """(autodiff's command, the limit's command) for one job."""
    ours = [*AUTODIFF, "derive", "sin(x)", "--num", str(rows)]
    if sink == "file":
        ours += ["-o", str(folder / f"autodiff{SUFFIX[fmt]}")]
        theirs = [sys.executable, LIMIT, str(rows), fmt, str(folder / f"limit{SUFFIX[fmt]}")]
    else:
        ours += ["--format", fmt]
        theirs = [sys.executable, LIMIT, str(rows), fmt, "-"]
    return ours, theirs


def settled(argv: list[str], sink: str, folder: Path) -> Run:
    """One timed run that starts from the same state as every other: the outputs of earlier
    runs deleted and their dirty pages written out (neither is timed), so that no run pays
    for the writeback or the freeing of another's file."""
    for old in folder.iterdir():
        old.unlink()
    os.sync()
    return timed(argv, sink)


def median(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def spread(runs: list[Run]) -> str:
    return f"{min(r.wall for r in runs):.2f}-{max(r.wall for r in runs):.2f}"


def peak(runs: list[Run]) -> float:
    return max(r.rss for r in runs) / 2**20


# The smallest table whose CSV is formatted by polars (see writers.PLAIN_TEXT_ROWS): a 10-row
# job no longer imports polars (0.2 s), so its start-up is not a large job's start-up.
POLARS_BASE_ROWS = 10_001


@dataclass
class Rounds:
    """The runs of one (format, sink, rows) cell, made in rounds: in each round autodiff and
    the limit at N rows, then both at 10 rows (and autodiff at 10,001 rows for CSV), back to
    back, so that a marginal time is a difference within one round and slow drift of this
    shared machine cancels."""

    ours: list[Run]
    limit: list[Run]
    ours_marginal: list[float]
    limit_marginal: list[float]
    same_marginal: list[float]


def rounds(fmt: str, sink: str, rows: int, runs: int, folder: Path) -> Rounds:
    ours, limit = commands(fmt, sink, rows, folder)
    ours_base, limit_base = commands(fmt, sink, 10, folder)
    same_base = commands(fmt, sink, POLARS_BASE_ROWS, folder)[0] if fmt == "csv" else ours_base
    found = Rounds([], [], [], [], [])
    for _ in range(runs):
        big_ours, big_limit = settled(ours, sink, folder), settled(limit, sink, folder)
        small_ours, small_limit = (
            settled(ours_base, sink, folder),
            settled(limit_base, sink, folder),
        )
        same = settled(same_base, sink, folder) if fmt == "csv" else small_ours
        found.ours.append(big_ours)
        found.limit.append(big_limit)
        found.ours_marginal.append(big_ours.wall - small_ours.wall)
        found.limit_marginal.append(big_limit.wall - small_limit.wall)
        found.same_marginal.append(big_ours.wall - same.wall)
    return found


def marginal_table(args, folder: Path) -> None:
    """Print, per cell: the N-row wall times (median and spread), the marginal times (median
    of the per-round differences, with their spread), the ratio of the median marginals, the
    same ratio for CSV over a base job that imports polars as the large jobs do ('same
    imports'), and peak RSS."""
    print(
        f"{'format':8s}{'sink':5s}{'rows':>6s} {'autodiff wall':>19s} {'limit wall':>19s}"
        f" {'autodiff marginal':>22s} {'limit marginal':>22s} {'ratio':>6s}"
        f" {'same imports':>12s} {'RSS MB':>11s}"
    )
    for fmt in args.formats:
        for sink in args.sinks:
            for rows in args.sizes:
                cell = rounds(fmt, sink, rows, args.runs, folder)
                ours_m = statistics.median(cell.ours_marginal)
                limit_m = statistics.median(cell.limit_marginal)
                same_m = statistics.median(cell.same_marginal)
                print(
                    f"{fmt:8s}{sink:5s}{rows:6.0e}"
                    f" {median(cell.ours):6.2f} ({spread(cell.ours):>11s})"
                    f" {median(cell.limit):6.2f} ({spread(cell.limit):>11s})"
                    f" {ours_m:6.2f} ({_range(cell.ours_marginal):>13s})"
                    f" {limit_m:6.2f} ({_range(cell.limit_marginal):>13s})"
                    f" {ours_m / limit_m:5.2f}x {same_m / limit_m:11.2f}x"
                    f" {peak(cell.ours):5.0f}/{peak(cell.limit):<5.0f}",
                    flush=True,
                )


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}..{max(values):.2f}"


def start_up(runs: int) -> None:
    """The default 1,000-row job against ``import torch`` alone, alternating."""
    pairs = [
        (
            timed([*AUTODIFF, "derive"], "null"),
            timed([sys.executable, "-c", "import torch"], "null"),
        )
        for _ in range(runs)
    ]
    job, torch = [p[0] for p in pairs], [p[1] for p in pairs]
    print(
        f"start-up: autodiff derive (1,000 rows to stdout) {median(job):.2f} s ({spread(job)}); "
        f"python -c 'import torch' {median(torch):.2f} s ({spread(torch)}); "
        f"difference of medians {median(job) - median(torch):+.2f} s"
    )
    helps = [timed([*AUTODIFF, "--help"], "null") for _ in range(runs)]
    rejects = [timed([*AUTODIFF, "derive", "sn(x)"], "null", expect=2) for _ in range(runs)]
    print(f"autodiff --help {median(helps):.2f} s; a rejected expression {median(rejects):.2f} s")


def secondary(rows: int, folder: Path) -> None:
    """The naive scripts a user would otherwise write: one whole run each, start-up included."""
    ours = timed([*AUTODIFF, "derive", "--num", str(rows), "-o", str(folder / "a.csv")], "null")
    naive = timed([sys.executable, "-c", NAIVE_SAVETXT, str(rows), str(folder / "b.csv")], "null")
    print(
        f"secondary, {rows:.0e} rows to a CSV file, whole processes: autodiff {ours.wall:.2f} s; "
        f"torch + np.savetxt {naive.wall:.2f} s ({naive.wall / ours.wall:.1f}x)",
        end="",
    )
    try:
        pandas = timed(
            [sys.executable, "-c", NUMPY_PANDAS, str(rows), str(folder / "c.csv")], "null"
        )
        print(f"; numpy + pandas to_csv {pandas.wall:.2f} s ({pandas.wall / ours.wall:.1f}x)")
    except SystemExit:
        print("; pandas not installed")
    gap = _max_difference(folder / "a.csv", folder / "b.csv")
    print(f"max |autodiff - np.savetxt script| over the first 1e5 rows: {gap:.1e}")


def _max_difference(ours: Path, reference: Path, rows: int = 100_000) -> float:
    """Largest |difference| between two CSVs of x,f,df over their first ``rows`` rows."""
    import numpy as np

    a = np.loadtxt(ours, delimiter=",", skiprows=1, max_rows=rows)
    b = np.loadtxt(reference, delimiter=",", skiprows=1, max_rows=rows)
    return float(np.abs(a - b).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,1e8")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--sinks", default="file,pipe,null")
    parser.add_argument("--no-secondary", action="store_true")
    parser.add_argument("--no-start-up", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(float(s)) for s in args.sizes.split(",")]
    args.formats = args.formats.split(",")
    args.sinks = args.sinks.split(",")
    import autodiffcli

    compileall.compile_dir(Path(autodiffcli.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as name:
        folder = Path(name)
        if not args.no_start_up:
            start_up(max(args.runs, 7))
        marginal_table(args, folder)
        if not args.no_secondary:
            secondary(10_000_000, folder)


if __name__ == "__main__":
    main()
