"""Reading points from a file or stdin: one number per line, or a CSV column, bounded
whatever the source (an endless pipe, /dev/zero, a FIFO nobody writes to). Torch-free.
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import re
import select
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from autodiffcli.errors import GridError
from autodiffcli.limits import DEFAULT_MAX_POINTS, DTYPE_MAX, DTYPE_OVERFLOW

# --input: a longer line is refused (a number or CSV row is far shorter; /dev/zero has no end).
MAX_LINE_BYTES = 65_536
# --input: how long a FIFO may go without a writer before we give up instead of hanging.
FIFO_WAIT_SECONDS = 10.0
_SPARE_BLANK_LINES = 1024
_BOM = "\ufeff"


def parse_values(text: str, name: str = "input", max_points: int = DEFAULT_MAX_POINTS):
    """The x column of ``text`` as a float64 array, read as --input reads a file; an error
    names the line it cannot read.

    A leading byte order mark is dropped and CRLF line ends are accepted; a lone CR inside a
    line is an error, so line numbers are those an editor shows.
    """
    import numpy as np

    blocks = _values(io.BytesIO(text.encode()), _Parser(name, max_points), lambda size: None)
    return np.concatenate([np.empty(0), *blocks])


# --input: bytes read and parsed at a time: memory holds one slice's
# strings, not a Python string per line of the whole input (25 million lines were 2.8 GB).
PARSE_SLICE_BYTES = 1 << 22


class _Parser:
    """Turns slices of whole lines into x values, slice after slice, keeping what the first
    line with content decided (one value per line, or which CSV column) and the line count.
    With ``names`` (read_points), the rows of those columns, which a header must name.

    ``parse`` returns the values of a slice and, at a line it cannot read, the values before
    that line with the error, so that a stream can write the rows before a bad line.
    """

    def __init__(self, name: str, max_points: int, dtype: str = "float64", names=(), taken=None):
        self.name, self.max_points, self.dtype = name, max_points, dtype
        self.names, self.taken = tuple(names), dict(taken or {})
        self._unit = "points" if self.names else "x values"
        self.lines = 0  # lines parsed so far
        self.count = 0  # values (rows) parsed so far
        # (delimiter, the columns read, headed, fields in the header)
        self.layout: tuple[str, tuple[int, ...], bool, int] | None = None

    def parse(self, text: str):
        """(values, None), or (the values before a bad line, the error naming it)."""
        import numpy as np

        lines = _split_lines(text if self.lines else text.removeprefix(_BOM))
        first_line, self.lines = self.lines + 1, self.lines + len(lines)
        begin = 0
        if self.layout is None:
            begin = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
            if begin == len(lines):
                return np.empty(0), None
            try:
                self.layout = self._layout(lines[begin], first_line + begin)
            except GridError as error:
                return np.empty(0), error
            begin += self.layout[2]  # a header is not a value
        values = _plain_numbers(lines[begin:]) if self.layout[1] == (0,) else None
        if values is None and self.names:
            values = _plain_rows(lines[begin:], self.layout)
        if values is not None:
            return self._bounded(values, lambda i: first_line + begin + i)
        return self._careful(lines, begin, first_line)

    def finish(self) -> None:
        """At the end of the input: an error if it held no values."""
        if self.layout is None:
            what = f"a header such as {','.join(self.names)}, then one point per line"
            what = what if self.names else "one x value per line"
            raise GridError(f"{self.name} is empty; give {what}")
        if self.count == 0:
            raise GridError(f"{self.name} has a header but no {self._unit}")

    def _layout(self, line: str, number: int) -> tuple[str, tuple[int, ...], bool, int]:
        delimiter = "\t" if "\t" in line else ","
        width = len(_fields(line, delimiter, self.name, number))
        if self.names:
            columns, headed = _name_columns(line, delimiter, number, self)
        else:
            column, headed = _pick_column(line, delimiter, number, self.name)
            columns = (column,)
        return delimiter, columns, headed, width

    def _careful(self, lines: list[str], begin: int, first_line: int):
        """One number per line or CSV columns, read line by line so an error names its line."""
        import numpy as np

        delimiter, columns, headed, width = self.layout
        variables, last = self.names or ("x",), max(columns)
        pairs = list(zip(variables, columns, strict=True))
        values: list = []
        numbers: list[int] = []
        try:
            for index in range(begin, len(lines)):
                line, number = lines[index], first_line + index
                if not line.strip():
                    continue
                row = _fields(line, delimiter, self.name, number)
                if not headed and len(row) > 1:
                    raise _separator_without_header(line, delimiter, number, self.name)
                if len(row) > width:
                    raise _more_fields_than_the_header(line, len(row), width, number, self.name)
                if last >= len(row):
                    variable, column = next(p for p in pairs if p[1] >= len(row))
                    what = f"value for {variable}" if self.names else f"column {column + 1}"
                    raise GridError(f"{self.name} line {number} has no {what}: {row!r}")
                if self.names:
                    values.append([_number(row[c], self.name, number, v) for v, c in pairs])
                else:
                    values.append(_number(row[last], self.name, number))
                numbers.append(number)
        except GridError as error:
            kept, late = self._bounded(np.array(values), numbers.__getitem__)
            return kept, late or error
        return self._bounded(np.array(values), numbers.__getitem__)

    def _beyond_dtype(self, value: float, line: int, variable: str) -> GridError:
        return GridError(
            f"{self.name} line {line}: {variable} = {value:.9g} is beyond {self.dtype}'s "
            f"largest value {DTYPE_MAX[self.dtype]:.9g}; use {{opt.dtype}}=float64 or smaller "
            "values",
            parameter="dtype",
            value=self.dtype,
        )

    def _bounded(self, values, line_of):
        """``values`` up to the first one beyond the dtype or past max_points, with its error."""
        import numpy as np

        error = None
        room = self.max_points - self.count
        if len(values) > room:
            values = values[:room]
            error = GridError(
                f"{self.name} holds more than {{opt.max_points}} {self.max_points:,} "
                f"{self._unit} (stopped reading at line {line_of(room):,}); raise "
                f"{{opt.max_points}} or give fewer {self._unit.split()[-1]}",
                parameter="max_points",
                value=self.max_points,
            )
        overflow = DTYPE_OVERFLOW[self.dtype]
        if len(values) and not float(np.abs(values).max()) < overflow:
            rows = values.reshape(len(values), -1)
            first, at = divmod(int(np.flatnonzero(~(np.abs(rows) < overflow))[0]), rows.shape[1])
            variable = (self.names or ("x",))[at]
            error = self._beyond_dtype(rows[first, at], line_of(first), variable)
            values = values[:first]
        self.count += len(values)
        return values, error


def _split_lines(text: str) -> list[str]:
    """Lines split on LF only, without a CR before it or a trailing empty line."""
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


# --input, several variables: polars parses a slice of this many lines (2M: 0.4 s, not 7 s).
POLARS_ROWS = 10_000


def _plain_rows(lines: list[str], layout: tuple[str, tuple[int, ...], bool, int]):
    """A long slice's columns, by polars if plain (finite numbers, <= the header's width)."""
    if len(lines) < POLARS_ROWS:
        return None
    import numpy as np
    import polars as pl

    delimiter, columns, _, width = layout
    schema = {f"c{i}": pl.Float64 if i in columns else pl.String for i in range(width)}
    text = ("\n".join(lines) + "\n").encode()
    try:
        frame = pl.read_csv(text, has_header=False, separator=delimiter, schema=schema)
    except (pl.exceptions.PolarsError, ValueError):
        return None
    values = frame.select(f"c{i}" for i in columns).to_numpy().astype(np.float64)
    plain = len(values) == len(lines) and np.isfinite(values).all()
    return values.reshape(-1, len(columns)) if plain else None


def _fields(line: str, delimiter: str, name: str, number: int) -> list[str]:
    """The fields of one CSV line (quotes as the csv module reads them, within the line)."""
    if '"' not in line:
        return line.split(delimiter)
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise GridError(f"{name} line {number}: cannot read the CSV fields ({error})") from None


def _pick_column(line: str, delimiter: str, number: int, name: str) -> tuple[int, bool]:
    """(column index, whether ``line`` is a header): the 'x' column of a header line.

    A first line is a header only if it looks like column names; anything else that is not a
    number ('1.0.0', a stray control character) is an error, never silently dropped.
    """
    fields = [field.strip() for field in _fields(line, delimiter, name, number)]
    if _is_number(fields[0]):
        if len(fields) > 1:
            raise _separator_without_header(line, delimiter, number, name)
        return 0, False
    if not _looks_like_column_names(fields):
        raise GridError(
            f"{name} line {number}: {fields[0]!r} is not a number, and the line is not "
            "a header of column names (such as 'x' or 't,x,y')"
        )
    lowered = [field.lower() for field in fields]
    return (lowered.index("x") if "x" in lowered else 0), True


def _name_columns(line: str, delimiter: str, number: int, parser: _Parser):
    """(the columns of ``parser.names``, whether ``line`` is a header naming each once and
    none that ``parser.taken`` gives elsewhere); one name may come one value per line."""
    fields = [field.strip() for field in _fields(line, delimiter, parser.name, number)]
    example, name = ",".join(parser.names), parser.name
    if _is_number(fields[0]) and len(parser.names) == len(fields) == 1:
        return (0,), False
    if _is_number(fields[0]) or not _looks_like_column_names(fields):
        several = _is_number(fields[0]) and len(fields) > 1
        what = "several values" if several else repr(line.strip())
        raise GridError(
            f"{name} line {number} has {what} but the file has no header: the first line "
            f"must name the variables, e.g. {example}"
        )
    for field in fields:
        if field in parser.taken:
            option = f"{{opt.{parser.taken[field]}}}"
            raise GridError(
                f"{name} has a column {field}, and {option} gives {field} too; give each "
                f"variable one source: drop the column or {option} {field}",
                parameter="input_path",
                value=field,
            )
        if field in parser.names and fields.count(field) > 1:
            raise GridError(f"{name} line {number} names the column {field} twice")
    missing = [n for n in parser.names if n not in fields]
    if missing:
        raise GridError(
            f"{name} has no column {', '.join(missing)}: its header names {', '.join(fields)}, "
            f"and the points need a column for each of {', '.join(parser.names)}",
            parameter="input_path",
            value=missing[0],
        )
    return tuple(fields.index(n) for n in parser.names), True


def _separator_without_header(line: str, delimiter: str, number: int, name: str) -> GridError:
    """A line of several fields in input without a header: a decimal comma, or columns that
    nothing names; either way a value would be dropped."""
    separator = "a comma" if delimiter == "," else "a tab"
    return GridError(
        f"{name} line {number}: {line.strip()!r} has {separator} but the input has no header; "
        "give one x value per line (a decimal comma is not read: write 1.5), or name the "
        "columns in a first line such as 'x,y'"
    )


def _more_fields_than_the_header(
    line: str, fields: int, width: int, number: int, name: str
) -> GridError:
    """A row longer than its header: a decimal comma (x then 1,5), or a column with no name."""
    return GridError(
        f"{name} line {number}: {line.strip()!r} has {fields} fields but the header has "
        f"{width}; a decimal comma is not read (write 1.5), and every column needs a name"
    )


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


def _number(field: str, name: str, line: int, variable: str = "x") -> float:
    try:
        value = float(field)
    except ValueError:
        raise GridError(f"{name} line {line}: {field.strip()!r} is not a number") from None
    if math.isfinite(value):
        return value
    if _INFINITY_OR_NAN.fullmatch(field.strip()):
        raise GridError(f"{name} line {line}: {variable} must be finite, got {field.strip()!r}")
    raise GridError(
        f"{name} line {line}: {field.strip()!r} overflows a float64 (largest about 1.8e308)"
    )


_INFINITY_OR_NAN = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)


class InputValues:
    """The x values of a file or stdin, parsed a slice at a time as they are read, so that
    memory holds one slice whatever the input's length. Forward only: read once.

    Reading is bounded whatever the source (``/dev/zero``, an endless pipe, a FIFO nobody
    writes to): it stops after ``max_points`` values, at a line longer than MAX_LINE_BYTES,
    and after ``fifo_wait`` seconds without a writer on a FIFO.
    """

    def __init__(
        self,
        source: str,
        max_points: int = DEFAULT_MAX_POINTS,
        fifo_wait: float = FIFO_WAIT_SECONDS,
        dtype: str = "float64",
    ):
        self.name = display_name(source)
        self._stream, self._close = _open_input(source, fifo_wait)
        self._max_points, self._dtype = max_points, dtype
        self.size = _regular_file_size(self._stream)  # None for a pipe, FIFO or terminal
        self.bytes_read = 0  # of the slices parsed so far

    def __repr__(self) -> str:
        return f"InputValues({self.name!r})"

    def blocks(self) -> Iterator:
        """Each slice's values as a float64 array; at a line that cannot be read, the values
        before it and then its error, so that a stream can keep the rows before it."""
        try:
            parser = _Parser(self.name, self._max_points, self._dtype)
            yield from _values(self._stream, parser, self._count_bytes)
        finally:
            self._close()

    def _count_bytes(self, size: int) -> None:
        self.bytes_read += size


def _values(stream: BinaryIO, parser: _Parser, read: Callable[[int], None]) -> Iterator:
    """The values of ``stream`` slice by slice (see InputValues.blocks); ``read`` is told the
    size of each slice in bytes."""
    for text, size in _slices(stream, parser.name, parser.max_points):
        read(size)
        values, error = parser.parse(text)
        if len(values):
            yield values
        if error is not None:
            raise error
    parser.finish()


class _SliceEnd(Exception):
    """The text before a line that cannot be read, then that line's error."""

    def __init__(self, text: str, error: GridError):
        super().__init__(str(error))
        self.text, self.error = text, error


def _regular_file_size(stream: BinaryIO) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _slices(stream: BinaryIO, name: str, max_points: int) -> Iterator[tuple[str, int]]:
    """The text of ``stream`` in slices of whole lines, about PARSE_SLICE_BYTES bytes each,
    with their size in bytes; at a line too long or not UTF-8, the text before it and then
    its error."""
    pending, lines = b"", 0
    while True:
        try:
            block = stream.read(PARSE_SLICE_BYTES)
        except OSError as error:  # a device gone, a pipe reset
            raise GridError(f"cannot read {name}: {error.strerror or error}") from None
        data = pending + block
        cut = data.rfind(b"\n") + 1 if block else len(data)
        try:
            text = _checked_text(data[:cut], lines, name)
        except _SliceEnd as end:
            if end.text:
                yield end.text, len(end.text.encode())
            raise end.error from None
        if text:
            yield text, cut
        lines += _count_newlines(data[:cut])
        _check_line_count(lines, name, max_points)
        pending = data[cut:]
        if len(pending) > MAX_LINE_BYTES:
            raise _too_long(lines + 1, name)
        if not block:
            return


def _checked_text(data: bytes, before: int, name: str) -> str:
    """``data`` decoded, if every line fits MAX_LINE_BYTES and is UTF-8 (``before`` lines came
    earlier); else _SliceEnd with the text before the first bad line."""
    long = _long_line(data)
    try:
        text = data[: len(data) if long is None else long].decode("utf-8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        line = before + data.count(b"\n", 0, start) + 1
        problem = GridError(f"{name} is not UTF-8 text (line {line})")
        raise _SliceEnd(data[:start].decode("utf-8"), problem) from None
    if long is not None:
        raise _SliceEnd(text, _too_long(before + data.count(b"\n", 0, long) + 1, name))
    return text


def _too_long(line: int, name: str) -> GridError:
    return GridError(
        f"{name} line {line} is longer than {MAX_LINE_BYTES:,} bytes; "
        "give one x value (or one CSV row) per line"
    )


def _long_line(data: bytes) -> int | None:
    """Where the first line of ``data`` longer than MAX_LINE_BYTES starts (None if none).
    Scans in windows of that size: one pass at memchr speed."""
    start = 0
    while len(data) - start > MAX_LINE_BYTES:
        end = data.rfind(b"\n", start, start + MAX_LINE_BYTES + 1)
        if end < 0:
            return start
        start = end + 1
    return None


def _count_newlines(data: bytes) -> int:
    """In numpy: five times faster than bytes.count."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n")))


def _check_line_count(lines: int, name: str, max_points: int) -> None:
    """Lines with values are bounded by max_points; blank lines, by this (an endless pipe of
    empty lines would otherwise be read forever)."""
    if lines > 2 * (max_points + 1) + _SPARE_BLANK_LINES:
        raise GridError(
            f"{name} has more than {lines:,} lines, over twice {{opt.max_points}} "
            f"{max_points:,}, most of them blank; raise {{opt.max_points}} or remove the "
            "blank lines",
            parameter="max_points",
            value=max_points,
        )


def _open_input(source: str, fifo_wait: float) -> tuple[BinaryIO, Callable[[], None]]:
    """A binary stream of ``source`` and how to close it (stdin stays open); errors in the
    user's terms (missing, a folder...)."""
    if source == "-":
        return _stdin_bytes(), lambda: None
    try:
        stream = _open_path(source, fifo_wait)
    except FileNotFoundError:
        raise _input_error(f"{{opt.input_path}} file not found: {source!r}", source) from None
    except IsADirectoryError:
        raise _input_error(f"{{opt.input_path}} {source!r} is a directory", source) from None
    except PermissionError:
        raise _input_error(f"{{opt.input_path}} {source!r} is not readable", source) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise _input_error(f"cannot read {{opt.input_path}} {source!r}: {reason}", source) from None
    return stream, stream.close


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


def display_name(source: str) -> str:
    return "stdin" if source == "-" else source


def read_points(
    source: str,
    names: Sequence[str],
    max_points: int,
    max_bytes: int,
    *,
    taken: Mapping[str, str] | None = None,
    fifo_wait: float = FIFO_WAIT_SECONDS,
    dtype: str = "float64",
) -> dict:
    """A float64 array per name, read whole from a CSV or TSV whose header names the columns
    in any order (others ignored; one that ``taken`` maps to an option giving it refused); one
    name may come one value per line. At most ``max_points`` points and ``max_bytes`` held
    (two copies: slices, joined columns), refused early by a regular file's size."""
    import numpy as np

    stream, close = _open_input(source, fifo_wait)
    parser = _Parser(display_name(source), max_points, dtype, names, taken)
    size, read, blocks = _regular_file_size(stream), [0], []
    try:
        for block in _values(stream, parser, read.append):
            blocks.append(block.reshape(len(block), -1))
            count = max(parser.count, parser.count * (size or 0) // sum(read))
            if (need := 16 * len(parser.names) * count) > max_bytes:
                raise GridError(
                    f"{parser.name} holds {'about' if count > parser.count else 'at least'} "
                    f"{count:,} points of {len(names)} variables, which take about "
                    f"{need / 2**20:,.0f} MiB to read whole, more than {{opt.max_memory}} "
                    f"{max_bytes:,} bytes; raise {{opt.max_memory}} or give fewer points",
                    parameter="max_memory",
                    value=max_bytes,
                )
    finally:
        close()
    return {n: np.concatenate([b[:, i] for b in blocks]) for i, n in enumerate(parser.names)}
