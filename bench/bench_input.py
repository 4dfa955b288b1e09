"""Peak memory of `autodiff derive --input` as the input grows (issue 20): a long input is
streamed, so its peak should stay near that of a --num grid of the same size, whatever the
file's length.

Run: python bench/bench_input.py [--lines 3e6,12e6,36e6]

For each size, one file of that many lines (seq-style decimals, 0.0000001 apart) is written to
a temporary folder; then `derive 'sin(x)' --input FILE > /dev/null` and the same job on
`--num N` run back to back, once each, and their peak RSS (from wait4) and wall time are
printed. Each figure is a whole process, `import torch` included (about 220 MB here).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AUTODIFF = [sys.executable, "-m", "autodiffcli", "derive", "sin(x)"]


def measure(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one autodiff run with stdout to /dev/null."""
    began = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen([*AUTODIFF, *args], stdout=sink)
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"autodiff {' '.join(args)} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - began


def write_lines(path: Path, count: int) -> None:
    """``count`` lines 1e-7, 2e-7, ... as seq prints them, written a million at a time."""
    with open(path, "w") as stream:
        for begin in range(0, count, 1_000_000):
            end = min(begin + 1_000_000, count)
            stream.write("".join(f"{i * 1e-7:.7f}\n" for i in range(begin + 1, end + 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="3e6,12e6,36e6")
    sizes = [int(float(size)) for size in parser.parse_args().lines.split(",")]
    print("lines       file MB  input: peak MB  s     --num: peak MB  s")
    with tempfile.TemporaryDirectory() as folder:
        for count in sizes:
            path = Path(folder) / "x.txt"
            write_lines(path, count)
            streamed = measure(["--input", str(path)])
            grid = measure(["--num", str(count)])
            size = path.stat().st_size / 1e6
            print(
                f"{count:<11,} {size:7.0f}  {streamed[0]:14.0f}  {streamed[1]:4.1f}"
                f"  {grid[0]:14.0f}  {grid[1]:4.1f}",
                flush=True,
            )
            path.unlink()


if __name__ == "__main__":
    main()
