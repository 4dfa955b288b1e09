"""The engines on a CUDA device against the CPU, in one process: compute only (no writer).

Run: python bench/bench_gpu.py [--scale 1.0]

For each job, the same Problem runs through engines.compute.chunks on the CPU (all of torch's
threads) and on CUDA; each is timed after one warm-up run (best of 3; CUDA synchronised before
the clock stops), and the two tables are compared value by value. Peak CUDA memory is torch's
max_memory_allocated. Figures are ratios within this run; bench/RESULTS.md records them.
"""

from __future__ import annotations

import argparse
import time

import torch

from autodiffcli import job
from autodiffcli.engines import compute, environment

JOBS = [  # expression, order, method, points
    ("sin(x)", 1, "reverse", 10_000_000),
    ("exp(-x^2/2) * sin(3*x)", 1, "reverse", 10_000_000),
    ("exp(-x^2/2) * sin(3*x)", 4, "taylor", 10_000_000),
    ("log(x^2)*sin(x) + 1/x", 10, "taylor", 1_000_000),
]


def run(problem, target) -> tuple[float, list[torch.Tensor]]:
    """(seconds, the columns' sums and a strided sample, on the CPU) of one full pass."""
    start = time.perf_counter()
    kept = []
    for columns in compute.chunks(problem, target):
        kept.append([c[:: max(1, len(c) // 1000)].cpu() for c in columns])
    if target.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, [torch.cat([part[i] for part in kept]) for i in range(len(kept[0]))]


def best(problem, target, repeats: int = 3) -> tuple[float, list[torch.Tensor]]:
    run(problem, target)  # warm-up: CUDA context, kernels, caches
    results = [run(problem, target) for _ in range(repeats)]
    return min(r[0] for r in results), results[0][1]


def column_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to the column's largest |b|, where both are finite; inf if they
    are not finite at the same places."""
    finite = torch.isfinite(a) & torch.isfinite(b)
    if not torch.equal(finite, torch.isfinite(b)):
        return float("inf")
    if not finite.any():
        return 0.0
    scale = b[finite].abs().max().clamp_min(1e-300)
    return float((a[finite] - b[finite]).abs().max() / scale)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every job's points")
    scale = parser.parse_args().scale
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name() if cuda else "none"
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, CUDA: {name}")
    print(
        f"{'job':<44} {'points':>11} {'cpu s':>8} {'cuda s':>8} {'speed-up':>8} "
        f"{'col rel diff':>12} {'cuda peak MB':>12}"
    )
    for text, order, method, points in JOBS:
        n = max(16, int(points * scale))
        problem = job.prepare(text, num=n, max_points=n, order=order, method=method)
        cpu_seconds, cpu_columns = best(problem, environment.target("cpu", "float64"))
        row = f"{text + f' -k {order} {method}':<44} {n:>11,} {cpu_seconds:>8.3f}"
        if not cuda:
            print(row + "        -        -            -            -")
            continue
        torch.cuda.reset_peak_memory_stats()
        gpu_seconds, gpu_columns = best(problem, environment.target("cuda", "float64"))
        peak = torch.cuda.max_memory_allocated() / 1e6
        gap = max(column_gap(a, b) for a, b in zip(gpu_columns, cpu_columns, strict=True))
        print(
            f"{row} {gpu_seconds:>8.3f} {cpu_seconds / gpu_seconds:>7.1f}x {gap:>12.2e} "
            f"{peak:>12.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
