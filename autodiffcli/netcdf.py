"""netCDF-4 output of a table on a grid, through h5netcdf (the optional extra 'netcdf').

One dimension per variable with the variable as its coordinate, and f and every derivative
column as a data variable of dimensions (last variable, ..., first variable), so that xarray
shows f(y, x) for two variables. The table comes in chunks of rows in grid order (the first
variable fastest), so a chunk is a contiguous range of flat indices: it is written as at most
2*dims - 1 hyperslabs, and memory holds one chunk, never the grid.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

from autodiffcli.errors import OutputError

INSTALL = "pip install 'autodiffcli[netcdf]'"


def available() -> bool:
    """Whether h5netcdf and h5py are installed (found without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("h5netcdf", "h5py"))


def check_available() -> None:
    if not available():
        raise OutputError(
            f"{{opt.fmt}} netcdf needs h5netcdf, an optional extra: {INSTALL}",
            parameter="fmt",
            value="netcdf",
        )


class NetcdfWriter:
    """Writes chunks of a gridded table's columns (the variables, then f and its derivatives)
    into a netCDF-4 file on a seekable binary stream.

    ``about`` gives ``variables`` and ``shape`` (points per variable, first fastest), and may
    give ``expression``, ``order`` and ``parameters``, written as the file's attributes.
    """

    def __init__(self, stream: BinaryIO, names: Sequence[str], about: Mapping):
        self._stream, self._names = stream, list(names)
        self._variables = list(about["variables"])
        self._shape = [int(n) for n in about["shape"]]
        self._about = about
        self._file = self._own = None
        self._done = 0  # rows written so far

    def __repr__(self) -> str:
        return f"NetcdfWriter({'x'.join(map(str, self._shape))} grid)"

    def write(self, columns) -> None:
        """Write the next chunk of rows: the variables' columns give the coordinates they
        reach, the others the hyperslabs of their data variables."""
        if self._file is None:
            self._create([column.dtype for column in columns])
        begin, end = self._done, self._done + len(columns[0])
        for k, name in enumerate(self._variables):
            stride = math.prod(self._shape[:k])
            first = -(-begin // stride) * stride
            last = min(end, stride * self._shape[k])
            if first < last:
                rows = columns[k][first - begin : last - begin : stride]
                self._file.variables[name][first // stride : first // stride + len(rows)] = rows
        shape, count = self._shape[::-1], len(self._variables)
        for name, column in zip(self._names[count:], columns[count:], strict=True):
            variable = self._file.variables[name]
            for box, low, high in hyperslabs(shape, begin, end):
                sizes = tuple(part.stop - part.start for part in box)
                variable[box] = column[low - begin : high - begin].reshape(sizes)
        self._done = end

    def close(self) -> None:
        """Finish the file: every point must have been written."""
        total = math.prod(self._shape)
        if self._done != total:
            raise OutputError(f"the netCDF grid has {total:,} points but {self._done:,} came")
        self._file.close()
        self._close_own()

    def discard(self) -> None:
        """Give up an unfinished file (the atomic output deletes it): close it quietly, so
        that nothing is flushed later into a file that is gone."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            self._close_own()

    def _close_own(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None

    def _create(self, dtypes: list) -> None:
        import h5netcdf

        self._own = _readable(self._stream)
        self._file = h5netcdf.File(self._own or self._stream, "w")
        self._file.dimensions = dict(zip(self._variables, self._shape, strict=True))
        dims = tuple(self._variables[::-1])
        for name, dtype in zip(self._names, dtypes, strict=True):
            self._file.create_variable(name, (name,) if name in self._variables else dims, dtype)
        for key, value in _attributes(self._about).items():
            self._file.attrs[key] = value


def _readable(stream: BinaryIO) -> BinaryIO | None:
    """A read-write file object on ``stream``'s descriptor, for HDF5 reads back what it
    wrote (an atomic output's temporary file is opened O_RDWR, its Python file write-only);
    None where ``stream`` has no descriptor (then it is used as it is)."""
    try:
        return open(os.dup(stream.fileno()), "r+b")  # noqa: SIM115 - closed by the writer
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _attributes(about: Mapping) -> dict:
    """The file's attributes: what was differentiated, to which order, with which constants
    (as JSON, the form Parquet's metadata gives them too)."""
    out: dict = {}
    if about.get("expression") is not None:
        out["expression"] = about["expression"]
    if about.get("order") is not None:
        out["order"] = int(about["order"])
    out["parameters"] = json.dumps(dict(about.get("parameters") or {}))
    out["source"] = "autodiff"
    return out


def hyperslabs(shape: Sequence[int], begin: int, end: int) -> Iterator[tuple]:
    """(slices, low, high): boxes of an array of ``shape`` (C order) covering the flat indices
    begin..end-1 in order, each box the flat range low..high-1; at most 2*len(shape) - 1."""
    if begin >= end:
        return
    if len(shape) == 1:
        yield (slice(begin, end),), begin, end
        return
    inner = math.prod(shape[1:])
    first, offset = divmod(begin, inner)
    last, rest = divmod(end, inner)
    if first == last:
        yield from _within(first, inner, hyperslabs(shape[1:], offset, rest))
        return
    if offset:
        yield from _within(first, inner, hyperslabs(shape[1:], offset, inner))
        first += 1
    if first < last:
        whole = tuple(slice(0, n) for n in shape[1:])
        yield (slice(first, last), *whole), first * inner, last * inner
    if rest:
        yield from _within(last, inner, hyperslabs(shape[1:], 0, rest))


def _within(index: int, inner: int, boxes: Iterator[tuple]) -> Iterator[tuple]:
    """The boxes of one slab ``index`` of the first dimension, as boxes of the whole array."""
    for box, low, high in boxes:
        yield (slice(index, index + 1), *box), index * inner + low, index * inner + high
