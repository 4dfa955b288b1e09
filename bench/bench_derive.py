"""Benchmark `autodiff derive` against the scripts a user would otherwise write.

Run: python bench/bench_derive.py [--points 1e7] [--big 1e8]

Every figure is measured in this run, on this machine, as a whole process (start-up included):
wall time, rows/s and peak RSS (from wait4). Ratios compare against baselines from the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

POLARS_WRITER_RATE = """
import sys, time, numpy as np, polars as pl
n, repeats = int(sys.argv[1]), int(sys.argv[2])
x = np.linspace(-5, 5, n)
frame = pl.DataFrame({"x": x, "f": np.sin(x), "df": np.cos(x)})
with open(sys.argv[3], "wb") as sink:
    start = time.perf_counter()
    for _ in range(repeats):
        frame.write_csv(sink, include_header=False)
    print(n * repeats / (time.perf_counter() - start))
"""


def run(command: list[str], stdout_path: str | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in bytes, stdout text) of one whole process."""
    stdout = open(stdout_path, "wb") if stdout_path else subprocess.PIPE  # noqa: SIM115
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    output = "" if stdout_path else process.stdout.read().decode()
    error = process.stderr.read().decode()
    if stdout_path:
        stdout.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise SystemExit(f"{command} failed ({code}): {error}")
    return wall, usage.ru_maxrss * 1024, output


def row(name: str, wall: float, rows: int, rss: int) -> None:
    rate = f"{rows / wall / 1e6:8.2f} M rows/s" if rows else " " * 17
    print(f"{name:44s} {wall:8.2f} s {rate} {rss / 2**20:8.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, default=1e7)
    parser.add_argument("--small", type=float, default=1e6)
    parser.add_argument("--big", type=float, default=1e8)
    args = parser.parse_args()
    n, small, big = int(args.points), int(args.small), int(args.big)
    autodiff = [sys.executable, "-m", "autodiffcli"]
    python = sys.executable

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        out = Path(folder)
        print(f"{'':44s} {'wall':>10s} {'rate':>17s} {'peak RSS':>11s}")
        ours, ours_rss, _ = run([*autodiff, "derive", "--num", str(n), "-o", str(out / "a.csv")])
        row(f"autodiff derive, {n:.0e} points to CSV", ours, n, ours_rss)
        naive, naive_rss, _ = run([python, "-c", NAIVE_SAVETXT, str(n), str(out / "b.csv")])
        row("naive torch + np.savetxt", naive, n, naive_rss)
        pandas, pandas_rss, _ = run([python, "-c", NUMPY_PANDAS, str(n), str(out / "c.csv")])
        row("numpy + pandas to_csv", pandas, n, pandas_rss)
        gap = _max_difference(out / "a.csv", out / "c.csv")
        print(f"max |autodiff - numpy sin/cos| over the first 1e5 rows: {gap:.1e}")
        print(
            f"speed-up vs np.savetxt script: {naive / ours:.1f}x   vs pandas: {pandas / ours:.1f}x"
        )

        # Steady state: best of 3 for each run and for the writer, so that the ratio reflects
        # the code rather than this shared 2-core machine's noise.
        t_small = min(
            run([*autodiff, "derive", "--num", str(small)], os.devnull)[0] for _ in range(3)
        )
        big_runs = [run([*autodiff, "derive", "--num", str(big)], os.devnull) for _ in range(3)]
        t_big, big_rss = min(r[0] for r in big_runs), max(r[1] for r in big_runs)
        steady = (big - small) / (t_big - t_small)
        row(f"autodiff derive, {big:.0e} points to stdout (best of 3)", t_big, big, big_rss)
        writer_rate = max(
            float(run([python, "-c", POLARS_WRITER_RATE, str(small), "20", os.devnull])[2])
            for _ in range(3)
        )
        print(
            f"steady rate {steady / 1e6:.2f} M rows/s = {steady / writer_rate:.0%} of polars "
            f"write_csv's own {writer_rate / 1e6:.2f} M rows/s on the same columns"
        )
        print(f"peak RSS for {big:.0e} points streamed to stdout: {big_rss / 2**20:.0f} MB")

    help_wall, _, _ = run([*autodiff, "--help"])
    reject_wall, _, _ = run([*autodiff, "derive", "sn(x)"])
    print(f"autodiff --help: {help_wall:.2f} s   rejected expression: {reject_wall:.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        plots = [run([*autodiff, "plot", "-o", f"{folder}/out.png"]) for _ in range(3)]
    plot_wall, plot_rss = min(p[0] for p in plots), max(p[1] for p in plots)
    row("autodiff plot -o out.png, 1000 points (best of 3)", plot_wall, 0, plot_rss)
    torch_import = min(run([python, "-c", "import torch"])[0] for _ in range(3))
    print(f"for scale: python -c 'import torch' alone takes {torch_import:.2f} s (best of 3)")


def _max_difference(ours: Path, reference: Path, rows: int = 100_000) -> float:
    """Largest |difference| between two CSVs of x,f,df over their first ``rows`` rows."""
    import numpy as np

    a = np.loadtxt(ours, delimiter=",", skiprows=1, max_rows=rows)
    b = np.loadtxt(reference, delimiter=",", skiprows=1, max_rows=rows)
    return float(np.abs(a - b).max())


if __name__ == "__main__":
    main()
