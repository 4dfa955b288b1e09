"""A fixed set of commands whose outputs are recorded in tests/unchanged/ (see
test_unchanged_outputs.py), and the one way to run and normalise them: in-process through the
CLI's own app, with live timings made deterministic, SVG dates stripped and Parquet read back."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tempfile
import time
from pathlib import Path

EXPRESSIONS = [
    ("sin(x)", ["--num", "21"]),
    ("cos(x)*exp(-x^2/2)", ["--num", "21"]),
    ("tan(x)", ["--start", "-1.5", "--stop", "1.5", "--num", "21"]),
    ("asin(x) + acos(x/2)", ["--start", "-0.9", "--stop", "0.9", "--num", "21"]),
    ("atan(x) + sinh(x)", ["--num", "21"]),
    ("cosh(x) - tanh(x)", ["--num", "21"]),
    ("asinh(x) * acosh(x + 6)", ["--num", "21"]),
    ("atanh(x/6)", ["--num", "21"]),
    ("expm1(x) + log1p(x^2)", ["--num", "21"]),
    ("log(x)", ["--num", "21"]),
    ("log2(x^2 + 1) - log10(abs(x) + 1)", ["--num", "21"]),
    ("sqrt(x) + cbrt(x)", ["--num", "21"]),
    ("erf(x) * erfc(x)", ["--num", "21"]),
    ("sigmoid(x) + softplus(x)", ["--num", "21"]),
    ("relu(x) + sinc(x)", ["--num", "21"]),
    ("pow(x, 3) - x**x + 2^x", ["--start", "0.1", "--stop", "3", "--num", "21"]),
    ("1/x", ["--num", "21"]),
    ("3", ["--num", "5"]),
    ("x", ["--num", "5"]),
    ("-(pi*x)/e + +x", ["--num", "21"]),
]
EXPLAINED = [
    ("sin(x)", []),
    ("x", []),
    ("3", []),
    ("log(x)", []),
    ("abs(x)", ["--trace", "0"]),
    ("1/x", []),
    ("tanh(x)", ["-k", "3"]),
    ("x**2", ["-k", "2", "--trace", "1"]),
    ("log(x^2)*sin(x) + 1/x", ["--trace", "1"]),
    ("exp(-x^2/2) * sin(3*x)", ["-k", "2", "--points", "3"]),
]
BAD = [
    ["derive", "sin("],
    ["derive", "foo(x)"],
    ["derive", "2x"],
    ["derive", "x.y"],
    ["derive", "__import__('os')"],
    ["derive", "sinx"],
    ["derive", "x", "--start", "5", "--stop", "1", "--step", "1"],
    ["derive", "x", "--step", "0"],
    ["derive", "x", "--num", "0"],
    ["derive", "x", "--step", "nan"],
    ["derive", "x", "--device", "tpu"],
    ["derive", "x", "--dtype", "float16"],
    ["derive", "x", "--order", "99"],
    ["derive", "x", "--method", "reverse", "-k", "11"],
    ["derive", "x", "-o", "/nonexistent/dir/out.csv"],
    ["derive", "x", "--format", "xlsx"],
    ["plot", "x", "-o", "x.xyz"],
    ["explain", "x", "--points", "50"],
    ["derive", "x", "--max-memory", "10"],
    ["derive", "x", "--step", "0.1", "--num", "3"],
]


def cases() -> dict[str, dict]:
    """id -> {"args": [...], "stdin": str | None}."""
    out = {}
    for (text, grid), order, method in itertools.product(
        EXPRESSIONS, range(11), ("reverse", "taylor")
    ):
        args = ["derive", text, *grid, "-k", str(order), "--method", method]
        out[f"derive {text} {' '.join(grid)} -k {order} {method}"] = {"args": args}
    for fmt in ("tsv", "ndjson"):
        out[f"derive format {fmt}"] = {"args": ["derive", "log(x)", "--num", "7", "-f", fmt]}
    out["derive no header"] = {"args": ["derive", "x^2", "--num", "4", "--no-header"]}
    out["derive float32"] = {"args": ["derive", "exp(x)", "--num", "9", "--dtype", "float32"]}
    out["derive taylor-at"] = {
        "args": ["derive", "sin(x)", "-k", "5", "--taylor-at", "0", "--taylor-at", "1"]
    }
    out["derive stdin"] = {"args": ["derive", "x**3", "--input", "-"], "stdin": "1\n2.5\n-3\n"}
    for text, extra in EXPRESSIONS[:3] + EXPRESSIONS[16:18]:
        out[f"parquet {text}"] = {"args": ["derive", text, *extra, "-k", "2"], "parquet": True}
    for text, extra in EXPLAINED:
        for fmt in ("text", "json"):
            out[f"explain {text} {' '.join(extra)} {fmt}"] = {
                "args": ["explain", text, *extra, "-f", fmt]
            }
    for text, extra in [
        ("sin(x)", []),
        ("sin(x)", ["-k", "2"]),
        ("tan(x)", ["-k", "2"]),
        ("x^3 - 1/x", ["--start", "0.2", "--stop", "2", "--tangent-at", "1"]),
        ("sin(x)", ["-k", "5", "--taylor-at", "0", "--panels"]),
        ("exp(x)", ["--num", "50", "--reference"]),
    ]:
        out[f"plot {text} {' '.join(extra)}"] = {"args": ["plot", text, *extra], "svg": True}
    for args in BAD:
        out["bad " + " ".join(args)] = {"args": args}
    return out


def case_file(case_id: str) -> str:
    return hashlib.sha256(case_id.encode()).hexdigest()[:16] + ".json"


class _Clock:
    """A deterministic perf_counter: live timings vary run to run, their count does not."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


_DATE = re.compile(r"<dc:date>.*?</dc:date>")


def run_case(case: dict) -> dict:
    """The outputs of one case: exit code, stdout, stderr, and any file it wrote."""
    import matplotlib
    from typer.testing import CliRunner

    from autodiffcli.cli import app

    matplotlib.rcParams["svg.hashsalt"] = "autodiff-unchanged"
    real = time.perf_counter
    time.perf_counter = _Clock()
    try:
        with tempfile.TemporaryDirectory() as folder:
            args = list(case["args"])
            path = None
            if case.get("parquet"):
                path = Path(folder) / "out.parquet"
                args += ["-o", str(path), "-q"]
            if case.get("svg"):
                path = Path(folder) / "out.svg"
                args += ["-o", str(path), "-q"]
            result = CliRunner().invoke(app, args, input=case.get("stdin"))
            outcome = {"exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
            if path is not None and path.exists():
                outcome["file"] = _read_back(path)
    finally:
        time.perf_counter = real
    return outcome


def _read_back(path: Path):
    if path.suffix == ".svg":
        return _DATE.sub("", path.read_text())
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    columns = {
        name: hashlib.sha256(table.column(name).to_numpy().tobytes()).hexdigest()
        for name in table.column_names
    }
    return {"schema": str(table.schema.remove_metadata()), "metadata": metadata, "columns": columns}


def record(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for case_id, case in cases().items():
        outcome = {"id": case_id, **run_case(case)}
        (folder / case_file(case_id)).write_text(json.dumps(outcome, indent=1, sort_keys=True))
