"""Benchmark `autodiff derive` with several variables against JAX and torch.func scripts.

Run: python bench/bench_several.py [--runs 5] [--jobs 1,2,3] [--tools autodiff,jax,torchfunc]
                                   [--tiny] [--scale F] [--max-memory BYTES] [--method M]
                                   [--chunk-size N]
Needs the benchmark-only dependencies for the JAX column: pip install -e '.[bench]'
(or pip install 'jax[cpu]'); without JAX that column is skipped, with a line saying so.

Three jobs (bench/peers_several/jobs.py), each done by three tools as whole processes that
write the same table (same columns, same row order, the first variable fastest):

1. the gradient of x*exp(-x^2-y^2) + sin(x*y) on a 2000x2000 grid of [-5, 5]^2 to CSV
   (x, y, f, f_x, f_y; autodiff --grad);
2. every second partial of exp(-x^2-y^2-z^2)*sin(x*y*z) + x*y*z on a 100^3 grid of [-2, 2]^3
   to Parquet (x, y, z, f, f_xx, f_xy, f_xz, f_yy, f_yz, f_zz; autodiff --hessian);
3. every partial to order 6 of exp(x)*sin(y) + x^2*y^3/(1+x^2) on a 317x316 grid of [-2, 2]^2
   to Parquet (x, y, f and its 27 partials of orders 1-6; autodiff -k 6).

The tools: autodiff's CLI (``python -m autodiffcli derive ... -q -o FILE``); a JAX script
(float64, jax.jit of jax.vmap of value_and_grad / hessian / jacfwd nested six deep, compile
time included); a torch.func script (float64, torch.func.vmap of grad_and_value / hessian /
nested jacfwd; vmap's chunk_size 16,384 for job 3, whose nested forward mode would otherwise
hold about 7 GB, none for jobs 1 and 2: --chunk-size overrides it). Both scripts write a
polars DataFrame with the writer autodiff uses and its settings (jobs.write says which).

Before anything is timed, every job is run once by every tool at its tiny size and the
outputs are read back with polars (in child processes) and compared, each peer's with
autodiff's and the peers' with each other: the same columns in the same order, the same rows,
NaN and infinities in the same places, and every value within 1e-10 relative to
max(|a|, |b|, 1). A failed check stops the benchmark before any timing.

How long it takes: job 3 dominates. Nested forward mode multiplies the operations with every
level of nesting (about 3^6 times f's at order 6), so the torch.func script takes several
minutes per full-size run of job 3 (about 4 ms of CPU per point: 4.7 s user at 400 points,
11.0 s at 2,025, on a loaded machine), and the JAX script likely minutes too (tracing and
compiling the nested jacfwd make most of its 20-30 s at 483 points; 5 s more for 1,542 more
points). Jobs 1 and 2 take seconds per run. `--jobs 1,2` leaves job 3 out; `--runs 3`
shortens every job.

Timing, as in bench_derive.py: rounds; in each round every tool runs the job at full size,
then every tool at the tiny size, back to back, so that a marginal time (full minus tiny:
imports, tracing and compiling cancel) is a difference within one round and slow drift of
this shared machine hits every tool alike. Each figure is the median over the rounds, with
the lowest and highest value in brackets. Ratios are autodiff's median over the peer's, end to
end (full-size wall time) and marginal. Peak RSS comes from wait4 (the largest over the
rounds); autodiff's is held against its --max-memory, whose default is a quarter of RAM.
Before each run, earlier outputs are deleted and ``sync`` writes out dirty pages (neither is
timed). The harness imports nothing heavy itself: a child's peak RSS as wait4 reports it
includes its parent's at the fork.

Before measuring, the package is byte-compiled (``compileall``), as ``pip install .`` does.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers_several"
sys.path.insert(0, str(PEERS))

import jobs  # noqa: E402  (bench/peers_several/jobs.py: pure Python, no numpy at import)

AUTODIFF = [sys.executable, "-m", "autodiffcli"]
TOOLS = ("autodiff", "jax", "torchfunc")
SCRIPT = {"jax": PEERS / "jax_several.py", "torchfunc": PEERS / "torchfunc_several.py"}
RTOL = 1e-10


@dataclass(frozen=True)
class Run:
    wall: float
    rss: int


class Failed(Exception):
    """A tool's process exited with an error: the command and what it printed."""


def timed(argv: list[str]) -> Run:
    """Wall time and peak RSS of one whole process, stdout to /dev/null; Failed if it does
    not exit 0."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip()
            raise Failed(f"exit {code}: {_shell(argv)}\n{text}")
    return Run(wall, usage.ru_maxrss * 1024)


def _shell(argv: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(str(a)) for a in argv)


@dataclass
class Setup:
    """What every command of one run of the harness shares."""

    folder: Path  # the outputs of the timed runs, emptied before each
    kept: Path  # the outputs of the check, kept for the comparison
    method: str | None
    max_memory: int | None
    chunk_size: int | None
    row_groups: dict = field(default_factory=dict)  # (job, shape) -> rows per row group

    def output(self, tool: str, job: jobs.Job) -> Path:
        return self.folder / f"{tool}{jobs.SUFFIX[job.fmt]}"

    def command(self, tool: str, job: jobs.Job, shape: tuple[int, ...]) -> list[str]:
        out = str(self.output(tool, job))
        if tool == "autodiff":
            argv = [*AUTODIFF, "derive", job.expression, *job.var_options(shape), *job.flags]
            if self.method is not None:
                argv += ["--method", self.method]
            if self.max_memory is not None:
                argv += ["--max-memory", str(self.max_memory)]
            return [*argv, "-q", "-o", out]
        argv = [sys.executable, str(SCRIPT[tool]), str(job.number), _shape(shape), out]
        rows = self.row_groups.get((job.number, shape))
        if rows is not None:
            argv += ["--row-group", str(rows)]
        chunk = job.torchfunc_chunk if self.chunk_size is None else self.chunk_size
        if tool == "torchfunc" and chunk:
            argv += ["--chunk-size", str(chunk)]
        return argv

    def run(self, tool: str, job: jobs.Job, shape: tuple[int, ...]) -> Run:
        """One timed run from the same state as every other: earlier outputs deleted and
        their dirty pages written out (neither timed). After autodiff's first Parquet run at
        a shape, its rows per row group are read from its file for the peer scripts."""
        for old in self.folder.iterdir():
            old.unlink()
        os.sync()
        found = timed(self.command(tool, job, shape))
        key = (job.number, shape)
        if tool == "autodiff" and job.fmt == "parquet" and key not in self.row_groups:
            self.row_groups[key] = _row_group(self.output(tool, job))
        return found


def _row_group(path: Path) -> int:
    """Rows in the first row group of a Parquet file (in a child process: see timed)."""
    code = (
        "import sys, pyarrow.parquet as pq\n"
        "print(pq.read_metadata(sys.argv[1]).row_group(0).num_rows)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def _shape(shape: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in shape)


def _grid_text(shape: tuple[int, ...]) -> str:
    return f"{'x'.join(str(n) for n in shape)} = {jobs.points(shape):,} rows"


def describe(job: jobs.Job, full: tuple[int, ...], tiny: tuple[int, ...]) -> str:
    box = f"[{job.start:g}, {job.stop:g}]^{len(job.variables)}"
    return (
        f"job {job.number}: {job.title} of {job.expression} on {box} ({' '.join(job.flags)}), "
        f"{_grid_text(full)} to {job.fmt.upper()} ({len(job.columns())} columns); "
        f"tiny {_grid_text(tiny)}"
    )


def check(job: jobs.Job, tools: list[str], setup: Setup) -> bool:
    """Run every tool once at the tiny size and compare each output with the first tool's
    (autodiff's when it runs); print the result. False if a tool failed or disagreed."""
    shape = job.tiny
    kept = {}
    for tool in tools:
        try:
            setup.run(tool, job, shape)
        except Failed as error:
            print(f"  check FAILED: {tool} did not run:\n{_indent(str(error))}")
            return False
        kept[tool] = setup.kept / f"{tool}{jobs.SUFFIX[job.fmt]}"
        setup.output(tool, job).rename(kept[tool])
    reference, others = tools[0], tools[1:]
    if not others:
        print(f"  check: only {reference} runs, nothing to compare")
        return True
    # Every pair: each peer against the reference, and the peers against each other.
    pairs = [(tool, reference) for tool in others]
    pairs += [(b, a) for i, a in enumerate(others) for b in others[i + 1 :]]
    good, parts = True, []
    for (tool, against), found in zip(pairs, _compare(kept, pairs), strict=True):
        if not (found["columns"] and found["rows"]):
            good = False
            parts.append(
                f"{tool} vs {against}: columns {found['other_columns']} and "
                f"{found['height'][1]} rows against {found['reference_columns']} and "
                f"{found['height'][0]} rows"
            )
            continue
        agree = found["max_relative"] <= RTOL and found["same_specials"]
        good &= agree
        specials = "" if found["same_specials"] else ", NaN/inf in other places"
        parts.append(
            f"{tool} vs {against} max {found['max_relative']:.1e} (column {found['column']})"
            f"{specials}"
        )
    for path in kept.values():
        path.unlink()
    rows = setup.row_groups.get((job.number, shape))
    groups = f"; Parquet row groups of {rows:,} rows as autodiff's" if rows else ""
    verdict = f"agree within {RTOL:.0e}" if good else f"DISAGREE (limit {RTOL:.0e})"
    print(f"  check at the tiny size: {'; '.join(parts)}: {verdict}{groups}")
    if not good:
        for tool in tools:
            print(f"    {tool}: {_shell(setup.command(tool, job, shape))}")
    return good


def _compare(kept: dict[str, Path], pairs: list[tuple[str, str]]) -> list[dict]:
    """compare.py's findings for each (tool, against) pair, in a child process."""
    found = []
    for tool, against in pairs:
        argv = [sys.executable, str(PEERS / "compare.py"), str(kept[against]), str(kept[tool])]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        found.append(json.loads(done.stdout))
    return found


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@dataclass
class Cell:
    """One tool's runs of one job: full size, tiny size, and the per-round differences."""

    full: list[Run] = field(default_factory=list)
    tiny: list[Run] = field(default_factory=list)
    marginal: list[float] = field(default_factory=list)


def measure(
    job: jobs.Job, tools: list[str], full: tuple[int, ...], runs: int, tiny_only: bool, setup
) -> dict[str, Cell]:
    cells = {tool: Cell() for tool in tools}
    for _ in range(runs):
        if not tiny_only:
            for tool in tools:
                cells[tool].full.append(setup.run(tool, job, full))
        for tool in tools:
            cells[tool].tiny.append(setup.run(tool, job, job.tiny))
        if not tiny_only:
            for tool in tools:
                cell = cells[tool]
                cell.marginal.append(cell.full[-1].wall - cell.tiny[-1].wall)
    return cells


def _walls(runs: list[Run]) -> str:
    walls = [r.wall for r in runs]
    return f"{statistics.median(walls):6.2f} ({min(walls):5.2f}-{max(walls):5.2f})"


def _values(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):5.2f}..{max(values):5.2f})"


def _peak(runs: list[Run]) -> float:
    return max(r.rss for r in runs) / 2**20


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "n/a (peer's figure <= 0)"


def report(job: jobs.Job, cells: dict[str, Cell], tiny_only: bool, budget: tuple[int, str]):
    if tiny_only:
        print(f"  {'tool':10s} {'tiny wall s':>20s} {'peak RSS MB':>12s}")
        for tool, cell in cells.items():
            print(f"  {tool:10s} {_walls(cell.tiny):>20s} {_peak(cell.tiny):12.0f}")
    else:
        print(
            f"  {'tool':10s} {'full wall s':>20s} {'tiny wall s':>20s} {'marginal s':>20s}"
            f" {'peak RSS MB full/tiny':>22s}"
        )
        for tool, cell in cells.items():
            print(
                f"  {tool:10s} {_walls(cell.full):>20s} {_walls(cell.tiny):>20s}"
                f" {_values(cell.marginal):>20s}"
                f" {_peak(cell.full):13.0f}/{_peak(cell.tiny):<8.0f}"
            )
    if "autodiff" not in cells:
        return
    ours = cells["autodiff"]
    for tool, cell in cells.items():
        if tool == "autodiff":
            continue
        if tiny_only:
            tiny = statistics.median(r.wall for r in ours.tiny)
            print(
                f"  autodiff/{tool}: tiny size end to end "
                f"{_ratio(tiny, statistics.median(r.wall for r in cell.tiny))}"
            )
            continue
        whole = _ratio(
            statistics.median(r.wall for r in ours.full),
            statistics.median(r.wall for r in cell.full),
        )
        marginal = _ratio(statistics.median(ours.marginal), statistics.median(cell.marginal))
        print(f"  autodiff/{tool}: end to end {whole}, marginal {marginal}")
    limit, how = budget
    peak = max(_peak(ours.full + ours.tiny), 0)
    within = "within it" if peak * 2**20 <= limit else "OVER IT"
    print(
        f"  autodiff peak RSS {peak:,.0f} MB; its --max-memory {limit / 2**20:,.0f} MB ({how}):"
        f" {within}"
    )


def versions() -> str:
    """The libraries' versions, from a child process (the harness imports none of them)."""
    code = (
        "import importlib.metadata as m, platform\n"
        "names = ['torch', 'jax', 'jaxlib', 'polars', 'pyarrow', 'numpy']\n"
        "found = []\n"
        "for n in names:\n"
        "    try: found.append(f'{n} {m.version(n)}')\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(f'Python {platform.python_version()}, ' + ', '.join(found))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", default="1,2,3")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--tiny", action="store_true", help="only the tiny size (validation)")
    parser.add_argument("--scale", type=float, default=1.0, help="full sizes times F points")
    parser.add_argument("--max-memory", type=int, default=None, help="autodiff's, in bytes")
    parser.add_argument("--method", default=None, help="autodiff's --method (default: its own)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="torch.func vmap's chunk_size for every job (0: none; default: per job, jobs.py)",
    )
    args = parser.parse_args()
    selected = [jobs.JOBS[int(n)] for n in args.jobs.split(",")]
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    unknown = set(args.tools.split(",")) - set(TOOLS)
    if unknown or not tools:
        raise SystemExit(f"unknown tools {sorted(unknown)}: use {','.join(TOOLS)}")
    if "jax" in tools and importlib.util.find_spec("jax") is None:
        print(
            "JAX is not installed (pip install -e '.[bench]', or pip install 'jax[cpu]'): "
            "the JAX column is skipped"
        )
        tools.remove("jax")

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    budget = (
        (args.max_memory, "given")
        if args.max_memory is not None
        else (ram // 4, "its default, 1/4 of RAM")
    )
    print(
        f"{os.cpu_count()} cores, {ram / 2**30:.1f} GiB RAM; {versions()}; "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )
    print(
        f"{args.runs} rounds; figures are medians (lowest-highest over the rounds); "
        f"marginal = full minus tiny within a round; sizes x{args.scale:g}"
        if not args.tiny
        else f"{args.runs} rounds at the tiny sizes only (validation)"
    )
    settings = sorted(name for name in os.environ if name.startswith("AUTODIFF_"))
    if settings:  # AUTODIFF_METHOD, AUTODIFF_DEVICE change what autodiff's runs do
        print(f"note: set in the environment, and seen by autodiff: {', '.join(settings)}")
    package = importlib.util.find_spec("autodiffcli").submodule_search_locations[0]
    compileall.compile_dir(package, quiet=1)

    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix="bench-several-") as name:
        (Path(name) / "out").mkdir()
        (Path(name) / "kept").mkdir()
        setup = Setup(
            Path(name) / "out", Path(name) / "kept", args.method, args.max_memory, args.chunk_size
        )
        fulls = {job.number: jobs.scaled(job.full, args.scale) for job in selected}
        good = True
        for job in selected:  # every check before any timing
            print(describe(job, fulls[job.number], job.tiny), flush=True)
            good &= check(job, tools, setup)
        if not good:
            raise SystemExit("the outputs differ or a tool failed: nothing was timed")
        print()
        for job in selected:
            print(describe(job, fulls[job.number], job.tiny), flush=True)
            try:
                cells = measure(job, tools, fulls[job.number], args.runs, args.tiny, setup)
            except Failed as error:
                print(f"  FAILED:\n{_indent(str(error))}")
                good = False
                continue
            report(job, cells, args.tiny, budget)
            sys.stdout.flush()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if not good:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
