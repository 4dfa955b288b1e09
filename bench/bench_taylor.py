"""Benchmark the Taylor-mode engine against JAX's Taylor mode and against repeated reverse mode.

Run: python bench/bench_taylor.py [--points 1e6] [--order 10] [--repeats 3]
Needs the benchmark-only dependencies: pip install -r bench/requirements.txt

1. Order 10 of log(x**2)*sin(x) + 1/x at 1e6 points in [0.5, 5], to a CSV file, end to end as a
   whole process (start-up included): `autodiff derive --method taylor` against a JAX script
   (`jax.experimental.jet`, float64, jit) writing the same points and columns with the same polars
   CSV writer. Best of --repeats; the two files are compared number by number.
2. Orders 1..10 at 10,000 points for both engines, in-process (engines.compute.table).
3. Peak RSS of `autodiff derive --method taylor` at order 20 for 1e6 points.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

EXPRESSION = "log(x**2)*sin(x) + 1/x"
START, STOP = 0.5, 5.0

JAX_SCRIPT = """
import sys
import numpy as np, polars as pl
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from jax.experimental.jet import jet

n, order, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start, stop = float(sys.argv[4]), float(sys.argv[5])
# The points autodiff's grid makes: start + i*step, the last exactly stop.
x = start + np.arange(n, dtype=np.float64) * ((stop - start) / (n - 1))
x[-1] = stop

def f(x):
    return jnp.log(x**2) * jnp.sin(x) + 1 / x

@jax.jit
def all_orders(x):
    seed = (jnp.ones_like(x),) + (jnp.zeros_like(x),) * (order - 1)
    y, ys = jet(f, (x,), (seed,))
    return [y, *ys]

columns = [np.asarray(c) for c in all_orders(x)]
names = ["x", "f", "df"] + [f"d{k}f" for k in range(2, order + 1)]
pl.DataFrame(dict(zip(names, [x, *columns]))).write_csv(path)
"""

LIBRARY_SCRIPT = """
import sys
from autodiffcli import job, writers
from autodiffcli.engines import compute, environment
n, order, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start, stop = float(sys.argv[4]), float(sys.argv[5])
problem = job.prepare(sys.argv[6], start=start, stop=stop, num=n, max_points=n, order=order,
                      method="taylor")
names = compute.column_names(problem)
with open(path, "wb") as sink:
    writer = writers.TableWriter(sink, "csv", names, True, path)
    for columns in compute.chunks(problem, environment.target("cpu", "float64")):
        writer.write(columns)
    writer.close()
"""


def run(command: list[str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in bytes, CPU seconds) of one whole process; raises if it fails.
    CPU time (user + system) is reported beside wall time: on a shared machine it is the
    figure that other people's load disturbs least."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:4]} failed: {error}")
    return wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def best_of(repeats: int, command: list[str]) -> tuple[float, int, float]:
    runs = [run(command) for _ in range(repeats)]
    return (
        min(wall for wall, _, _ in runs),
        max(rss for _, rss, _ in runs),
        min(cpu for _, _, cpu in runs),
    )


def cli_has_method() -> bool:
    helptext = subprocess.run(
        [sys.executable, "-m", "autodiffcli", "derive", "--help"], capture_output=True, text=True
    ).stdout
    return "--method" in helptext


def autodiff_command(n: int, order: int, path: str) -> tuple[list[str], str]:
    """The end-to-end command: the CLI with --method taylor, or the library if it lacks it."""
    if cli_has_method():
        command = [sys.executable, "-m", "autodiffcli", "derive", EXPRESSION]
        command += ["--start", str(START), "--stop", str(STOP), "--num", str(n)]
        command += ["-k", str(order), "--method", "taylor", "-q", "-o", path]
        return command, "autodiff derive --method taylor"
    command = [sys.executable, "-c", LIBRARY_SCRIPT, str(n), str(order), path]
    return command + [str(START), str(STOP), EXPRESSION], "autodiff library (no --method yet)"


COMPARE_SCRIPT = """
import sys
import numpy as np, polars as pl
a, b = pl.read_csv(sys.argv[1]), pl.read_csv(sys.argv[2])
assert a.columns == b.columns and a.height == b.height, (a.columns, b.columns)
x, y = a.to_numpy(), b.to_numpy()
scale = np.maximum(np.abs(y), 1.0)
print(f"{(np.abs(x - y) / scale).max():.1e}")
"""


def compare_files(ours: str, theirs: str) -> str:
    """The largest difference between the two CSV files' numbers, relative to max(|value|, 1);
    in a separate process, so this one stays small: a child's peak RSS as wait4 reports it
    includes the parent's at the fork (Linux keeps the old image's high-water mark at exec)."""
    command = [sys.executable, "-c", COMPARE_SCRIPT, ours, theirs]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def end_to_end(n: int, order: int, repeats: int, folder: str) -> None:
    ours, theirs = os.path.join(folder, "autodiff.csv"), os.path.join(folder, "jax.csv")
    command, name = autodiff_command(n, order, ours)
    jax_command = [sys.executable, "-c", JAX_SCRIPT, str(n), str(order), theirs]
    jax_command += [str(START), str(STOP)]
    wall, rss, cpu = best_of(repeats, command)
    jax_wall, jax_rss, jax_cpu = best_of(repeats, jax_command)
    print(f"order {order} of {EXPRESSION} at {n:,} points to CSV, best of {repeats}:")
    print(f"  {'':40s} {'wall':>9} {'CPU':>9} {'peak RSS':>10}")
    print(f"  {name:40s} {wall:7.2f} s {cpu:7.2f} s {rss / 2**20:7.0f} MB")
    jax_name = "JAX jet + polars write_csv"
    print(f"  {jax_name:40s} {jax_wall:7.2f} s {jax_cpu:7.2f} s {jax_rss / 2**20:7.0f} MB")
    print(f"  autodiff / JAX: {wall / jax_wall:.2f}x wall time, {cpu / jax_cpu:.2f}x CPU time")
    gap = compare_files(ours, theirs)
    print(f"  max difference between the two files, relative to max(|value|, 1): {gap}")


def per_order(points: int, top: int, limit: float) -> None:
    """In-process time per order for both engines; reverse stops once an order passes limit."""
    import torch

    from autodiffcli import job
    from autodiffcli.engines import compute, environment, taylor

    torch.set_num_threads(1)
    target = environment.target("cpu", "float64")

    def problem(order: int, method: str):
        return job.prepare(
            EXPRESSION,
            start=START,
            stop=STOP,
            num=points,
            max_points=points,
            order=order,
            method=method,
        )

    print(f"\nper order, {points:,} points, in-process, one torch thread (best of 3 under 2 s):")
    print(f"{'order':>5} {'reverse':>10} {'taylor':>10} {'taylor work/point':>18}")
    reverse_on = True
    for order in range(1, top + 1):
        reverse = "-"
        if reverse_on:
            seconds = timed(compute.table, problem(order, "reverse"), target)
            reverse = f"{seconds:9.3f}s" if isinstance(seconds, float) else seconds
            reverse_on = isinstance(seconds, float) and seconds < limit
        taylor_problem = problem(order, "taylor")
        ours = timed(compute.table, taylor_problem, target)
        work = taylor.work(taylor_problem.expression, order)
        print(f"{order:>5} {reverse:>10} {ours:9.3f}s {work:>18,}", flush=True)


def timed(job, *args, **kwargs):
    """Best of up to 3 runs (one if the first takes over 2 s); the error's class if refused."""
    from autodiffcli.errors import AutodiffError

    best = None
    for _ in range(3):
        start = time.perf_counter()
        try:
            job(*args, **kwargs)
        except AutodiffError as error:
            return f"refused ({type(error).__name__})"
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
        if seconds > 2:
            break
    return best


def peak_rss(n: int, order: int, folder: str) -> None:
    path = os.path.join(folder, "order20.csv")
    command, name = autodiff_command(n, order, path)
    wall, rss, cpu = run(command)
    print(f"\n{name} -k {order}, {n:,} points to CSV: {wall:.2f} s wall, {cpu:.2f} s CPU, ", end="")
    print(f"peak RSS {rss / 2**20:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, default=1e6)
    parser.add_argument("--order", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--table-points", type=int, default=10_000)
    parser.add_argument("--reverse-limit", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # Whole processes first, while this one is small (see compare_files); in-process last.
        end_to_end(int(args.points), args.order, args.repeats, folder)
        peak_rss(int(args.points), 20, folder)
        per_order(args.table_points, args.order, args.reverse_limit)


if __name__ == "__main__":
    main()
