"""Sample points: a range with a step, N evenly spaced points, or x values read from a file.

A grid knows its length and yields its points chunk by chunk, so a table of 1e9 rows never
exists in memory at once. Validation happens here, before torch is imported.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autodiffcli.errors import GridError

DEFAULT_MAX_POINTS = 1_000_000_000
DEFAULT_STEP = 0.01
# A step that lands within this relative distance of `stop` is taken to land on it exactly.
_ON_STOP_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Grid:
    """Points x_i = start + i * step for i < count (``values`` is None), or explicit values.

    ``last`` pins the final point exactly (linspace-style grids end on ``stop``, not on
    start + (n-1)*step, which may differ in the last bit).
    """

    count: int
    start: float = 0.0
    step: float = 0.0
    last: float | None = None
    values: object = None  # a float64 numpy array when read from input

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        if self.values is not None:
            return f"Grid({self.count} values)"
        return f"Grid(start={self.start}, step={self.step}, count={self.count})"

    def chunks(self, size: int, dtype, device) -> Iterator:
        """Yield the points as tensors of at most ``size`` elements, computed in float64."""
        import torch

        for begin in range(0, self.count, size):
            end = min(begin + size, self.count)
            yield self.points(begin, end, torch.float64, device).to(dtype)

    def points(self, begin: int, end: int, dtype, device):
        """Points ``begin:end`` as a tensor; x_i = start + i*step with no accumulated drift."""
        import torch

        if self.values is not None:
            return torch.from_numpy(self.values[begin:end]).to(device=device, dtype=dtype)
        x = torch.arange(begin, end, dtype=dtype, device=device).mul_(self.step).add_(self.start)
        if self.last is not None and end == self.count and end > begin:
            x[-1] = self.last
        return x

    def take(self, indices):
        """The points at ``indices`` as float64 numpy, by the same two roundings as points()."""
        import numpy as np

        indices = np.asarray(indices, dtype=np.int64)
        if self.values is not None:
            return self.values[indices]
        x = indices.astype(np.float64) * self.step + self.start
        if self.last is not None:
            x[indices == self.count - 1] = self.last
        return x


def build(
    start: float = -5.0,
    stop: float = 5.0,
    step: float | None = None,
    num: int | None = None,
    input_path: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    *,
    default_num: int | None = None,
) -> Grid:
    """The grid for the range options: just one of step, num or input (else the default)."""
    chosen = [
        name
        for name, value in (("--step", step), ("--num", num), ("--input", input_path))
        if value is not None
    ]
    if len(chosen) > 1:
        raise GridError(f"use just one of --step, --num or --input (got {', '.join(chosen)})")
    if input_path is not None:
        return from_input(input_path, max_points)
    if num is not None:
        return from_num(start, stop, num, max_points)
    if step is None and default_num is not None:
        return from_num(start, stop, default_num, max_points)
    return from_range(start, stop, DEFAULT_STEP if step is None else step, max_points)


def from_range(start: float, stop: float, step: float, max_points: int) -> Grid:
    """Stop-exclusive points like ``numpy.arange``, with a count that does not drift."""
    _check_finite(start=start, stop=stop, step=step)
    if step == 0:
        raise GridError("--step must not be zero; try --step 0.01")
    span = stop - start
    if span == 0:
        raise GridError(f"the range is empty: --start and --stop are both {start}")
    if (span > 0) != (step > 0):
        direction = "positive" if span > 0 else "negative"
        raise GridError(
            f"--step {step} goes away from --stop {stop}; use a {direction} step "
            f"to go from {start} to {stop}"
        )
    ratio = span / step
    nearest = round(ratio)
    on_stop = abs(ratio - nearest) <= _ON_STOP_TOLERANCE * max(1.0, abs(ratio))
    count = int(nearest if on_stop else math.ceil(ratio))
    _check_count(count, max_points)
    return Grid(count=count, start=start, step=step)


def from_num(start: float, stop: float, num: int, max_points: int) -> Grid:
    """``num`` evenly spaced points including both ends, like ``numpy.linspace``."""
    _check_finite(start=start, stop=stop)
    if num < 1:
        raise GridError(f"--num must be at least 1, got {num}")
    _check_count(num, max_points)
    if num == 1:
        return Grid(count=1, start=start, step=0.0)
    return Grid(count=num, start=start, step=(stop - start) / (num - 1), last=stop)


def from_values(values, max_points: int) -> Grid:
    """A grid of explicit x values (a 1-d float64 array)."""
    import numpy as np

    array = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise GridError("no x values given")
    _check_count(int(array.size), max_points)
    return Grid(count=int(array.size), values=array)


def from_input(source: str, max_points: int) -> Grid:
    """Read x values from a file or '-' (stdin): one per line, or a CSV with an 'x' column."""
    text = _read_text(source)
    return from_values(parse_values(text, _display_name(source)), max_points)


def parse_values(text: str, name: str = "input"):
    """The x column of ``text`` as a float64 array; an error names the line it cannot read."""
    import numpy as np

    plain = _plain_numbers(text)
    return plain if plain is not None else np.array(_careful_values(text, name))


def _plain_numbers(text: str):
    """The common case, one finite number on every line, parsed in C (about 5x faster);
    None for anything else, which the careful parser then reads or explains."""
    import numpy as np

    first = text[: text.find("\n")] if "\n" in text else text
    if "," in first or "\t" in first:
        return None
    try:
        values = np.array(text.splitlines(), dtype=np.float64)
    except ValueError:
        return None
    if values.size == 0 or not np.isfinite(values).all():
        return None
    return values


def _careful_values(text: str, name: str) -> list[float]:
    """One number per line or a CSV column, read line by line so an error names its line."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise GridError(f"{name} is empty; give one x value per line")
    delimiter = "\t" if "\t" in lines[first] else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    column, data_from = _pick_column(lines[first], delimiter, first)
    values: list[float] = []
    for number, row in enumerate(rows, start=1):
        if number - 1 < data_from or not row or not "".join(row).strip():
            continue
        if column >= len(row):
            raise GridError(f"{name} line {number} has no column {column + 1}: {row!r}")
        values.append(_number(row[column], name, number))
    if not values:
        raise GridError(f"{name} has a header but no x values")
    return values


def _pick_column(header: str, delimiter: str, line_index: int) -> tuple[int, int]:
    """(column index, first data line index): the 'x' column if there is a header."""
    fields = [field.strip() for field in next(csv.reader([header], delimiter=delimiter))]
    try:
        float(fields[0])
    except ValueError:
        lowered = [field.lower() for field in fields]
        return (lowered.index("x") if "x" in lowered else 0), line_index + 1
    return 0, line_index


def _number(field: str, name: str, line: int) -> float:
    try:
        value = float(field)
    except ValueError:
        raise GridError(f"{name} line {line}: {field.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise GridError(f"{name} line {line}: x must be finite, got {field.strip()!r}")
    return value


def _read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if path.is_dir():
        raise GridError(f"--input {source} is a directory; give a file of x values")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError(f"--input file not found: {source}") from None
    except PermissionError:
        raise GridError(f"--input file is not readable (permission denied): {source}") from None
    except UnicodeDecodeError:
        raise GridError(f"--input {source} is not a UTF-8 text file") from None
    except OSError as error:
        raise GridError(f"cannot read --input {source}: {error.strerror}") from None


def _display_name(source: str) -> str:
    return "stdin" if source == "-" else source


def _check_finite(**bounds: float) -> None:
    for name, value in bounds.items():
        if not math.isfinite(value):
            raise GridError(f"--{name} must be a finite number, got {value}")


def _check_count(count: int, max_points: int) -> None:
    if count > max_points:
        raise GridError(
            f"the grid has {count:,} points, more than --max-points {max_points:,}; "
            "raise --max-points or use a larger --step"
        )
