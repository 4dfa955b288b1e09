"""Sample points with named axes: per axis a range with a step, N evenly spaced points, or
values read from a file; a :class:`Domain` is the product of its axes' grids.

A domain yields its points chunk by chunk, so a table of 1e9 rows never exists in memory at
once; it knows its length, except while a long --input is still being read (a
:class:`StreamedValues` axis). Validation happens here, before torch is imported.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from autodiffcli.errors import GridError
from autodiffcli.limits import DEFAULT_MAX_POINTS
from autodiffcli.readers import FIFO_WAIT_SECONDS, InputValues, read_points

DEFAULT_STEP = 0.01
# A computed grid point within this many ulps of `stop` is taken to land on it exactly.
_ON_STOP_ULPS = 4
# No grid has more points: beyond 2**53 the index i of x_i = start + i*step is inexact.
MAX_COUNT = 2**53
# --input: slices read when the grid is built, plus one to see whether more follow (errors in
# them answer before any output).
READ_AHEAD_SLICES = 1


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
        """Yield the points as tensors of at most ``size`` elements."""
        for begin in range(0, self.count, size):
            yield self.points(begin, min(begin + size, self.count), dtype, device)

    def points(self, begin: int, end: int, dtype, device):
        """Points ``begin:end`` as a tensor; x_i = start + i*step with no accumulated drift,
        computed in float64 and rounded once to ``dtype`` (in float32, an index past 2**24 or
        a product i*step would round twice)."""
        import torch

        if self.values is not None:
            return torch.from_numpy(self.values[begin:end]).to(device=device, dtype=dtype)
        exact = "cpu" if torch.device(device).type == "mps" else device  # MPS has no float64
        x = torch.arange(begin, end, dtype=torch.float64, device=exact)
        x.mul_(self.step).add_(self.start)
        if self.last is not None and end == self.count and end > begin:
            x[-1] = self.last
        return x.to(device=device, dtype=dtype)

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


class StreamedValues:
    """The x values of an --input too long to read up front: the first slices are read (and
    checked) when the grid is built, the rest as the chunks are asked for. Read once.

    A line that cannot be read ends the chunks: the points before it come out first, then its
    error, so a table streamed to stdout keeps its rows up to the bad line.
    """

    def __init__(self, head: list, rest: Iterator, expected: int | None = None):
        self._head, self._rest = head, rest
        read = sum(len(values) for values in head)
        self.expected = max(read, expected or 0)  # estimated from the file's size, if known
        self._used = False

    def __repr__(self) -> str:
        return f"StreamedValues(about {self.expected} values)"

    def chunks(self, size: int, dtype, device) -> Iterator:
        """Yield the points as tensors of at most ``size`` elements, in the order read."""
        import numpy as np
        import torch

        def tensor(values):
            return torch.from_numpy(values).to(device=device, dtype=dtype)

        pending: list = []
        try:
            for values in self._values():
                pending.append(values)
                while sum(map(len, pending)) >= size:
                    joined = np.concatenate(pending)
                    yield tensor(joined[:size])
                    pending = [joined[size:]]
        except GridError:
            if sum(map(len, pending)):
                yield tensor(np.concatenate(pending))
            raise
        if sum(map(len, pending)):
            yield tensor(np.concatenate(pending))

    def read_all(self, max_points: int) -> Grid:
        """All the values as a Grid (plot and explain hold the whole table anyway)."""
        import numpy as np

        return from_values(np.concatenate(list(self._values())), max_points)

    def _values(self) -> Iterator:
        if self._used:
            raise RuntimeError("streamed input values can be read only once")
        self._used = True
        yield from self._head
        self._head = []
        yield from self._rest


@dataclass(frozen=True)
class Domain:
    """Points with named axes: every combination of its factors' points, the first factor
    varying fastest (so a column reshaped to (n_last, ..., n_first) is the grid's array).

    A factor is one axis (a grid of its own), or several axes whose grids have one length and
    are read together: the scattered points of an --input with several columns, or of --at
    naming some variables. By default every axis is its own factor.
    """

    names: tuple[str, ...]
    axes: tuple[Grid | StreamedValues, ...]
    factors: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if len(self.names) != len(self.axes) or not self.names:
            raise ValueError("a domain needs one grid per axis name, and at least one axis")
        if self.streamed and len(self.axes) > 1:
            raise ValueError("only a domain of one axis can be streamed")
        if not self.factors:
            object.__setattr__(self, "factors", tuple((i,) for i in range(len(self.axes))))
        if self.streamed:
            return
        if sorted(i for factor in self.factors for i in factor) != list(range(len(self.axes))):
            raise ValueError("each axis must belong to exactly one factor")
        for factor in self.factors:
            if len({len(self.axes[i]) for i in factor}) > 1:
                raise ValueError("the axes of one factor must have one length")

    def __len__(self) -> int:
        if self.streamed:
            raise TypeError("a streamed domain's length is known only once it is read")
        return math.prod(self.shape)

    @property
    def streamed(self) -> bool:
        """Whether the points are still being read (no length, no random access)."""
        return isinstance(self.axes[0], StreamedValues)

    @property
    def count(self) -> int | None:
        """The number of points; None while they are being read."""
        return None if self.streamed else len(self)

    @property
    def expected(self) -> int:
        """The number of points, or for a streamed domain an estimate: from the share of the
        file read so far, else the points read so far (a pipe has no size)."""
        return self.axes[0].expected if self.streamed else len(self)

    def read_all(self, max_points: int) -> Domain:
        """The domain with a streamed axis read whole; any other domain as it is."""
        if not self.streamed:
            return self
        return Domain(self.names, (self.axes[0].read_all(max_points),))

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}={a!r}" for n, a in zip(self.names, self.axes, strict=True))
        return f"Domain({axes})"

    @property
    def shape(self) -> tuple[int, ...]:
        """Points per factor, in factor order (per axis when every axis is its own factor)."""
        return tuple(len(self.axes[factor[0]]) for factor in self.factors)

    @property
    def gridded(self) -> bool:
        """Whether the points are a full grid: every axis its own factor of evenly spaced
        points (a table reshaped to the shape reversed is then the grid's array)."""
        return all(len(f) == 1 for f in self.factors) and all(
            isinstance(a, Grid) and a.values is None for a in self.axes
        )

    def chunks(self, size: int, dtype, device) -> Iterator[list]:
        """One tensor per axis for each chunk of at most ``size`` points."""
        if self.streamed:
            for x in self.axes[0].chunks(size, dtype, device):
                yield [x]
            return
        for begin in range(0, len(self), size):
            yield self.points(begin, min(begin + size, len(self)), dtype, device)

    def points(self, begin: int, end: int, dtype, device) -> list:
        """Points ``begin:end`` as one tensor per axis."""
        if len(self.axes) == 1:
            return [self.axes[0].points(begin, end, dtype, device)]
        import torch

        flat = torch.arange(begin, end, device=device)
        out: list = [None] * len(self.axes)
        for factor, length in zip(self.factors, self.shape, strict=True):
            index = flat % length
            for i in factor:
                out[i] = self.axes[i].at(index, dtype, device)
            flat = flat // length
        return out

    def take(self, indices) -> list:
        """The points at flat ``indices`` as one float64 numpy array per axis."""
        import numpy as np

        flat = np.asarray(indices, dtype=np.int64)
        out: list = [None] * len(self.axes)
        for factor, length in zip(self.factors, self.shape, strict=True):
            index = flat % length
            for i in factor:
                out[i] = self.axes[i].take(index)
            flat = flat // length
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
    dtype: str = "float64",
) -> Grid | StreamedValues:
    """The grid for the range options: just one of step, num or input (else the default);
    ``dtype`` bounds the values an input may hold."""
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
        return from_input(input_path, max_points, dtype=dtype)
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


def from_input(
    source: str,
    max_points: int,
    *,
    fifo_wait: float = FIFO_WAIT_SECONDS,
    dtype: str = "float64",
) -> Grid | StreamedValues:
    """Read x values from a file or '-' (stdin): one per line, or a CSV with an 'x' column.

    An input of at most READ_AHEAD_SLICES slices (see readers.InputValues) becomes a Grid;
    a longer one streams the rest as its chunks are asked for, so memory stays bounded. Any
    error in the slices read up front is raised here, before any work.
    """
    reader = InputValues(source, max_points, fifo_wait, dtype)
    blocks = reader.blocks()
    head = list(itertools.islice(blocks, READ_AHEAD_SLICES))
    ahead = next(blocks, None)
    if ahead is None:
        import numpy as np

        return from_values(np.concatenate(head), max_points)
    head.append(ahead)
    expected = None
    if reader.size and reader.bytes_read:
        read = sum(len(values) for values in head)
        expected = min(max_points, math.ceil(read * reader.size / reader.bytes_read))
    return StreamedValues(head, blocks, expected)


def from_points(
    source: str,
    names: Sequence[str],
    max_points: int,
    max_bytes: int,
    *,
    taken: Mapping[str, str] | None = None,
    fifo_wait: float = FIFO_WAIT_SECONDS,
    dtype: str = "float64",
) -> dict[str, Grid]:
    """The scattered points of several variables from a file or '-' (a CSV whose header names
    them; see readers.read_points), read whole: one Grid of values per name, all of one
    length, which a Domain reads together as one factor."""
    columns = read_points(
        source, names, max_points, max_bytes, taken=taken, fifo_wait=fifo_wait, dtype=dtype
    )
    return {name: from_values(values, max_points) for name, values in columns.items()}


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
