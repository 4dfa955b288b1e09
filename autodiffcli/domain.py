"""Sample points with named axes: per axis a range with a step, N evenly spaced points, or
values read from a file; a :class:`Domain` is the product of its axes' grids.

A domain knows its length and yields its points chunk by chunk, so a table of 1e9 rows never
exists in memory at once. Validation happens here, before torch is imported.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import os
import re
import select
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from autodiffcli.errors import GridError
from autodiffcli.limits import DEFAULT_MAX_POINTS

DEFAULT_STEP = 0.01
# A computed grid point within this many ulps of `stop` is taken to land on it exactly.
_ON_STOP_ULPS = 4
# --input: a longer line is refused (a number or CSV row is far shorter; /dev/zero has no end).
MAX_LINE_BYTES = 65_536
# --input: how long a FIFO may go without a writer before we give up instead of hanging.
FIFO_WAIT_SECONDS = 10.0
# No grid has more points: beyond 2**53 the index i of x_i = start + i*step is inexact.
MAX_COUNT = 2**53
_BLOCK_BYTES = 1 << 20
_SPARE_BLANK_LINES = 1024
_BOM = "\ufeff"


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

    def at(self, indices, dtype, device):
        """The points at the index tensor ``indices``, by the same roundings as points()."""
        import torch

        if self.values is not None:
            values = torch.from_numpy(self.values).to(device=device)
            return values[indices].to(dtype)
        x = indices.to(torch.float64).mul_(self.step).add_(self.start)
        if self.last is not None:
            x[indices == self.count - 1] = self.last
        return x.to(dtype)

    def take(self, indices):
        """The points at ``indices`` as float64 numpy, by the same two roundings as points()."""
        import numpy as np

        indices = np.asarray(indices, dtype=np.int64)
        if self.values is not None:
            return self.values[indices]
        # Only the last index can overflow i*step (the span fits a float64), and it is pinned.
        with np.errstate(over="ignore", invalid="ignore"):
            x = indices.astype(np.float64) * self.step + self.start
        if self.last is not None:
            x[indices == self.count - 1] = self.last
        return x


@dataclass(frozen=True)
class Domain:
    """Points with named axes: every combination of the axes' grid points, the first axis
    varying fastest (so a column reshaped to (n_last, ..., n_first) is the grid's array)."""

    names: tuple[str, ...]
    axes: tuple[Grid, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.axes) or not self.names:
            raise ValueError("a domain needs one grid per axis name, and at least one axis")

    def __len__(self) -> int:
        return math.prod(len(axis) for axis in self.axes)

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}={a!r}" for n, a in zip(self.names, self.axes, strict=True))
        return f"Domain({axes})"

    @property
    def shape(self) -> tuple[int, ...]:
        """Points per axis, in axis order."""
        return tuple(len(axis) for axis in self.axes)

    def chunks(self, size: int, dtype, device) -> Iterator[list]:
        """One tensor per axis for each chunk of at most ``size`` points."""
        for begin in range(0, len(self), size):
            yield self.points(begin, min(begin + size, len(self)), dtype, device)

    def points(self, begin: int, end: int, dtype, device) -> list:
        """Points ``begin:end`` as one tensor per axis."""
        if len(self.axes) == 1:
            return [self.axes[0].points(begin, end, dtype, device)]
        import torch

        flat = torch.arange(begin, end, device=device)
        out = []
        for axis in self.axes:
            out.append(axis.at(flat % len(axis), dtype, device))
            flat = flat // len(axis)
        return out

    def take(self, indices) -> list:
        """The points at flat ``indices`` as one float64 numpy array per axis."""
        import numpy as np

        flat = np.asarray(indices, dtype=np.int64)
        out = []
        for axis in self.axes:
            out.append(axis.take(flat % len(axis)))
            flat = flat // len(axis)
        return out


def single(grid: Grid, name: str) -> Domain:
    """The domain of one axis."""
    return Domain((name,), (grid,))


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
        for name, value in (("step", step), ("num", num), ("input_path", input_path))
        if value is not None
    ]
    if len(chosen) > 1:
        given = ", ".join(f"{{opt.{name}}}" for name in chosen)
        raise GridError(
            f"use just one of {{opt.step}}, {{opt.num}} or {{opt.input_path}} (got {given})",
            parameter=chosen[-1],
        )
    if input_path is not None:
        return from_input(input_path, max_points)
    if num is not None:
        return from_num(start, stop, num, max_points)
    if step is None and default_num is not None:
        return from_num(start, stop, default_num, max_points)
    return from_range(start, stop, DEFAULT_STEP if step is None else step, max_points)


def from_range(start: float, stop: float, step: float, max_points: int) -> Grid:
    """Stop-exclusive points like ``numpy.arange``, with a count that does not drift."""
    _check_overflow(start, stop, step, max_points)
    if step == 0:
        raise GridError(
            "{opt.step} must not be zero; try {opt.step}=0.01", parameter="step", value=step
        )
    span = stop - start
    if span == 0:
        raise GridError(
            f"the range is empty: {{opt.start}} and {{opt.stop}} are both {start}",
            parameter="stop",
            value=stop,
        )
    if (span > 0) != (step > 0):
        direction = "positive" if span > 0 else "negative"
        raise GridError(
            f"{{opt.step}} {step} goes away from {{opt.stop}} {stop}; use a {direction} step "
            f"to go from {start} to {stop}",
            parameter="step",
            value=step,
        )
    count = _count_before_stop(start, stop, step)
    _check_count(count, max_points)
    return Grid(count=count, start=start, step=step)


def _count_before_stop(start: float, stop: float, step: float) -> int:
    """How many computed points x_i = start + i*step lie before ``stop``.

    numpy.arange counts ceil((stop - start)/step), so rounding of that quotient decides
    whether a point that lands on ``stop`` is kept (0.3/0.1 is 2.9999999999999996). Here a
    point within _ON_STOP_ULPS ulps of ``stop`` (the roundings of i*step, of the sum, and of
    the decimal inputs) is ``stop`` itself and excluded; any point farther before ``stop``,
    even by 1e-8 of a step, is kept, as numpy keeps it.
    """

    def before_stop(i: int) -> bool:
        offset = i * step
        x = start + offset
        slack = _ON_STOP_ULPS * math.ulp(max(abs(start), abs(offset), abs(stop)))
        return (stop - x) * math.copysign(1.0, step) > slack

    count = max(math.ceil((stop - start) / step), 1)
    while count > 1 and not before_stop(count - 1):
        count -= 1
    while before_stop(count):
        count += 1
    return count


def from_num(start: float, stop: float, num: int, max_points: int) -> Grid:
    """``num`` evenly spaced points including both ends, like ``numpy.linspace``."""
    _check_overflow(start, stop)
    if num < 1:
        raise GridError(f"{{opt.num}} must be at least 1, got {num}", parameter="num", value=num)
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


def from_input(source: str, max_points: int, *, fifo_wait: float = FIFO_WAIT_SECONDS) -> Grid:
    """Read x values from a file or '-' (stdin): one per line, or a CSV with an 'x' column.

    Reading is bounded whatever the source (``/dev/zero``, an endless pipe, a FIFO nobody
    writes to): it stops after ``max_points`` + 1 lines with content, at a line longer than
    MAX_LINE_BYTES, and after ``fifo_wait`` seconds without a writer on a FIFO.
    """
    text = _read_text(source, max_points, fifo_wait)
    return from_values(parse_values(text, _display_name(source)), max_points)


def parse_values(text: str, name: str = "input"):
    """The x column of ``text`` as a float64 array; an error names the line it cannot read.

    A leading byte order mark is dropped and CRLF line ends are accepted; a lone CR inside a
    line is an error, so line numbers are those an editor shows.
    """
    import numpy as np

    lines = _split_lines(text)
    plain = _plain_numbers(lines)
    return plain if plain is not None else np.array(_careful_values(lines, name))


def _split_lines(text: str) -> list[str]:
    """Lines split on LF only, without a CR before it, a trailing empty line or a BOM."""
    text = text.removeprefix(_BOM)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _plain_numbers(lines: list[str]):
    """The common case, one finite number on every line, parsed in C (about 5x faster);
    None for anything else, which the careful parser then reads or explains."""
    import numpy as np

    if not lines or "," in lines[0] or "\t" in lines[0]:
        return None
    try:
        values = np.array(lines, dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(values).all():
        return None
    return values


def _careful_values(lines: list[str], name: str) -> list[float]:
    """One number per line or a CSV column, read line by line so an error names its line."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise GridError(f"{name} is empty; give one x value per line")
    delimiter = "\t" if "\t" in lines[first] else ","
    column, data_from = _pick_column(lines[first], delimiter, first, name)
    values: list[float] = []
    for number in range(data_from + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip():
            continue
        row = _fields(line, delimiter, name, number)
        if column >= len(row):
            raise GridError(f"{name} line {number} has no column {column + 1}: {row!r}")
        values.append(_number(row[column], name, number))
    if not values:
        raise GridError(f"{name} has a header but no x values")
    return values


def _fields(line: str, delimiter: str, name: str, number: int) -> list[str]:
    """The fields of one CSV line (quotes as the csv module reads them, within the line)."""
    if '"' not in line:
        return line.split(delimiter)
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise GridError(f"{name} line {number}: cannot read the CSV fields ({error})") from None


def _pick_column(header: str, delimiter: str, line_index: int, name: str) -> tuple[int, int]:
    """(column index, first data line index): the 'x' column if the first line is a header.

    A first line is a header only if it looks like column names; anything else that is not a
    number ('1.0.0', a stray control character) is an error, never silently dropped.
    """
    fields = [field.strip() for field in _fields(header, delimiter, name, line_index + 1)]
    if _is_number(fields[0]):
        return 0, line_index
    if not _looks_like_column_names(fields):
        raise GridError(
            f"{name} line {line_index + 1}: {fields[0]!r} is not a number, and the line is not "
            "a header of column names (such as 'x' or 't,x,y')"
        )
    lowered = [field.lower() for field in fields]
    return (lowered.index("x") if "x" in lowered else 0), line_index + 1


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _looks_like_column_names(fields: list[str]) -> bool:
    """Each field empty (a pandas index column) or a name: a letter or '_' first, printable."""
    names = [field for field in fields if field]
    return bool(names) and all(_COLUMN_NAME.fullmatch(field) for field in names)


_COLUMN_NAME = re.compile(r"[A-Za-z_][^\x00-\x1f\x7f]*")


def _number(field: str, name: str, line: int) -> float:
    try:
        value = float(field)
    except ValueError:
        raise GridError(f"{name} line {line}: {field.strip()!r} is not a number") from None
    if math.isfinite(value):
        return value
    if _INFINITY_OR_NAN.fullmatch(field.strip()):
        raise GridError(f"{name} line {line}: x must be finite, got {field.strip()!r}")
    raise GridError(
        f"{name} line {line}: {field.strip()!r} overflows a float64 (largest about 1.8e308)"
    )


_INFINITY_OR_NAN = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)


def _read_text(
    source: str, max_points: int = DEFAULT_MAX_POINTS, fifo_wait: float = FIFO_WAIT_SECONDS
) -> str:
    """The text of ``source``, read with bounded memory and time (see from_input)."""
    name = _display_name(source)
    with _open_input(source, fifo_wait) as stream:
        data = _read_bounded(stream, name, max_points)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise GridError(f"{name} is not UTF-8 text (line {line})") from None


@contextlib.contextmanager
def _open_input(source: str, fifo_wait: float) -> Iterator[BinaryIO]:
    """A binary stream of ``source``; errors in the user's terms (missing, a folder...)."""
    if source == "-":
        yield _stdin_bytes()
        return
    try:
        with _open_path(source, fifo_wait) as stream:
            yield stream
    except FileNotFoundError:
        raise _input_error(f"{{opt.input_path}} file not found: {source!r}", source) from None
    except IsADirectoryError:
        raise _input_error(f"{{opt.input_path}} {source!r} is a directory", source) from None
    except PermissionError:
        raise _input_error(f"{{opt.input_path}} {source!r} is not readable", source) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise _input_error(f"cannot read {{opt.input_path}} {source!r}: {reason}", source) from None


def _input_error(message: str, source: str) -> GridError:
    return GridError(message, parameter="input_path", value=source)


def _stdin_bytes() -> BinaryIO:
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        raise GridError(
            "{opt.input_path} - reads stdin, but stdin is closed", parameter="input_path"
        )
    if hasattr(stdin, "buffer"):
        return stdin.buffer
    return io.BytesIO(stdin.read().encode())  # a text stream in memory (io.StringIO)


def _open_path(source: str, fifo_wait: float) -> BinaryIO:
    if Path(source).is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", source)
    if stat.S_ISFIFO(os.stat(source).st_mode):
        return _open_fifo(source, fifo_wait)
    return open(source, "rb")  # noqa: SIM115 - the caller closes it


def _open_fifo(source: str, wait: float) -> BinaryIO:
    """A FIFO opened without blocking, then given ``wait`` seconds to deliver data or an end.

    A blocking open would wait forever for a writer that may never come.
    """
    descriptor = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    if not poller.poll(max(0, int(wait * 1000))):
        os.close(descriptor)
        raise _input_error(
            f"{{opt.input_path}} {source!r} is a FIFO and nothing wrote to it within {wait:g} s;"
            " start the writer first, or pipe the values into {opt.input_path} -",
            source,
        )
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def _read_bounded(stream: BinaryIO, name: str, max_points: int) -> bytes:
    """Everything ``stream`` holds, stopping with an error at the first line longer than
    MAX_LINE_BYTES or when there are more lines with content than max_points values need."""
    parts: list[bytes] = []
    pending = b""
    lines = filled = 0  # filled: lines with content; counted as all lines until near the limit
    exact = False
    while block := stream.read(_BLOCK_BYTES):
        block = pending + block
        cut = block.rfind(b"\n") + 1
        complete, pending = block[:cut], block[cut:]
        _check_line_lengths(complete, lines, name)
        newlines = _count_newlines(complete)
        lines += newlines
        filled += _filled_lines(complete) if exact else newlines
        if not exact and filled > max_points + 1:
            exact, filled = True, sum(map(_filled_lines, [*parts, complete]))
        _check_line_count(filled, lines, name, max_points)
        parts.append(complete)
        _check_line_lengths(pending, lines, name)
    parts.append(pending)
    return b"".join(parts)


def _count_newlines(data: bytes) -> int:
    """In numpy: five times faster than bytes.count, a fifth of the whole read."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n")))


def _filled_lines(complete: bytes) -> int:
    """Lines of newline-terminated ``complete`` that are neither empty nor a lone CR."""
    import numpy as np

    data = np.frombuffer(b"\n" + complete, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    lengths = np.diff(ends) - 1
    carriage_return_only = (lengths == 1) & (data[ends[1:] - 1] == ord("\r"))
    blank = np.count_nonzero(lengths == 0) + np.count_nonzero(carriage_return_only)
    return len(lengths) - int(blank)


def _check_line_lengths(data: bytes, before: int, name: str) -> None:
    """An error naming the first line of ``data`` longer than MAX_LINE_BYTES (``before``
    lines came earlier). Scans in windows of that size: one pass at memchr speed."""
    start = 0
    while len(data) - start > MAX_LINE_BYTES:
        end = data.rfind(b"\n", start, start + MAX_LINE_BYTES + 1)
        if end >= 0:
            start = end + 1
            continue
        line = before + data.count(b"\n", 0, start) + 1
        raise GridError(
            f"{name} line {line} is longer than {MAX_LINE_BYTES:,} bytes; "
            "give one x value (or one CSV row) per line"
        )


def _check_line_count(filled: int, lines: int, name: str, max_points: int) -> None:
    """More lines with content than values plus a header: more values than max_points."""
    if filled > max_points + 1 or lines > 2 * (max_points + 1) + _SPARE_BLANK_LINES:
        raise GridError(
            f"{name} holds more than {{opt.max_points}} {max_points:,} x values "
            f"(stopped reading at line {lines:,}); raise {{opt.max_points}} or give fewer values",
            parameter="max_points",
            value=max_points,
        )


def _display_name(source: str) -> str:
    return "stdin" if source == "-" else source


def _check_finite(**bounds: float) -> None:
    for name, value in bounds.items():
        if not math.isfinite(value):
            raise GridError(
                f"{{opt.{name}}} must be a finite number, got {value}", parameter=name, value=value
            )


def _check_overflow(
    start: float, stop: float, step: float | None = None, max_points: float = math.inf
) -> None:
    """Refuse a range whose width or point count overflows float64 (x would be NaN or inf),
    or whose count is far beyond ``max_points`` (before any exact count is worked out)."""
    _check_finite(start=start, stop=stop, **({} if step is None else {"step": step}))
    if not math.isfinite(stop - start):
        raise GridError(
            f"the range from {{opt.start}} {start:g} to {{opt.stop}} {stop:g} is wider than "
            "float64 can hold (stop - start overflows); narrow it",
            parameter="stop",
            value=stop,
        )
    goes_to_stop = step and (stop > start) == (step > 0)
    if goes_to_stop and not math.isfinite((stop - start) / step):
        raise GridError(
            f"{{opt.step}} {step:g} is too small for the range {start:g} to {stop:g}: "
            "the number of points overflows; use a larger {opt.step}",
            parameter="step",
            value=step,
        )
    if goes_to_stop and abs((stop - start) / step) > max_points + 2:
        _check_count(math.ceil(abs((stop - start) / step)), max_points)


def _count_text(count: int) -> str:
    """1,000,001 as people write it; an astronomical count as 1.2e+300, not 301 digits."""
    return f"{count:,}" if count < 10**15 else f"about {count:.3g}"


def _check_count(count: int, max_points: int) -> None:
    if count > max_points:
        raise GridError(
            f"the grid has {_count_text(count)} points, more than {{opt.max_points}} "
            f"{_count_text(max_points)}; "
            "raise {opt.max_points} or use a larger {opt.step}",
            parameter="max_points",
            value=max_points,
        )
    if count > MAX_COUNT:
        raise GridError(
            f"the grid has {_count_text(count)} points; no grid can hold more than 2**53 "
            f"({MAX_COUNT:,}), where the point index stops being exact in float64",
            parameter="num",
            value=count,
        )
