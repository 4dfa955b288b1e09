"""Table writers (csv, tsv, parquet, ndjson; netcdf through autodiffcli.netcdf) and atomic
file output.

Writers take one chunk of numpy columns at a time, so output streams: ``| head`` sees rows at
once and memory does not grow with the table. A regular file is written to a temporary file
beside it and renamed into place only when complete (through a symlink, the link's target is
replaced, the link kept); anything else that exists (a device, a FIFO, ``/dev/stdout``) is
written in place, never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from autodiffcli import netcdf
from autodiffcli.errors import OutputError, WriteFailure, printable
from autodiffcli.limits import TABLE_FORMATS

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".nc": "netcdf",
}


def choose_format(path: str | None, fmt: str | None) -> str:
    """``--format`` if given, else the output file's extension, else csv (for stdout and for
    a device, FIFO or ``/dev/stdout``, which have no extension to go by). netcdf needs its
    extra installed and a regular file to seek in."""
    chosen = _format(path, fmt)
    if chosen == "netcdf":
        netcdf.check_available()
        if path is None or path == "-":
            raise OutputError(
                "{opt.fmt} netcdf writes a file, not stdout: give {opt.output} FILE.nc",
                parameter="fmt",
                value=chosen,
            )
        if writes_in_place(path):
            raise OutputError(
                f"{{opt.output}} {printable(path)} is not a regular file, and netCDF is "
                "written by seeking in one: give a file name such as out.nc",
                parameter="output",
                value=path,
            )
    return chosen


def check_fits(fmt: str, about: dict, taylor: bool = False) -> None:
    """netCDF holds a grid: refuse Taylor series and scattered points (``about``, as
    run.table_about gives it) before any work."""
    if fmt != "netcdf":
        return
    if taylor:
        raise OutputError(
            "{opt.taylor_at} writes series, not a table on a grid: write them as csv or "
            "parquet, not {opt.fmt} netcdf",
            parameter="fmt",
            value=fmt,
        )
    if not about["gridded"]:
        raise OutputError(
            "{opt.fmt} netcdf holds a grid (each variable an evenly spaced axis, or one value), "
            "and these points are scattered (from {opt.input_path}, or {opt.at} with several "
            "values): write csv or parquet (e.g. {opt.output} out.parquet)",
            parameter="fmt",
            value=fmt,
        )


def _format(path: str | None, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if path is None or path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS and writes_in_place(path):
        return "csv"
    if suffix not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        raise OutputError(
            f"cannot tell the format of '{printable(path)}' from its extension; "
            f"use one of {known} or pass --format {'|'.join(TABLE_FORMATS)}"
        )
    return EXTENSIONS[suffix]


def check_output_path(path: str, parameter: str = "output") -> Path:
    """Fail early (before any work) if ``path`` cannot be written; ``parameter`` names the
    option in the message."""
    target = Path(path)
    name = f"{{opt.{parameter}}} {printable(path)}"
    if target.is_dir():
        raise OutputError(f"{name} is a directory; give a file name", parameter=parameter)
    if writes_in_place(target):
        if not os.access(target, os.W_OK):
            raise OutputError(f"{name} is not writable", parameter=parameter)
        return target
    parent = replaced_file(target).parent
    if not parent.is_dir():
        raise OutputError(
            f"{name}: folder '{printable(str(parent))}' does not exist; create it first",
            parameter=parameter,
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"{name}: folder '{printable(str(parent))}' is not writable", parameter=parameter
        )
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{name} exists and is read-only", parameter=parameter)
    _probe_folder(parent, name, parameter)
    return target


def _probe_folder(parent: Path, name: str, parameter: str) -> None:
    """Create and remove an empty file where the output's temporary file will go: access()
    says yes to root everywhere, yet /proc and /sys take no new files, and finding that out
    only after the work would cost the whole run."""
    try:
        descriptor, probe = tempfile.mkstemp(dir=parent, prefix=".autodiff-probe-")
    except OSError as error:
        raise OutputError(
            f"{name}: cannot create a file in folder '{printable(str(parent))}' "
            f"({_reason(error)}); write elsewhere",
            parameter=parameter,
        ) from None
    os.close(descriptor)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def writes_in_place(path: str | Path) -> bool:
    """Whether ``path`` must be opened and written rather than replaced by a rename.

    True for anything that exists and is not a regular file (a character or block device, a
    FIFO, a socket) and for the aliases of an open descriptor (``/dev/stdout``, ``/dev/fd/N``),
    whatever they point at: renaming over those would destroy a device or a shell redirection.
    """
    if str(path).startswith(_DESCRIPTOR_ALIASES):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode)


_DESCRIPTOR_ALIASES = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")


def replaced_file(path: str | Path) -> Path:
    """The file an atomic write replaces: a symlink's final target, so the link survives.
    A loop of links has no target: an OutputError (realpath would return the link itself,
    and the rename would replace the link with a file)."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # a new file, or a link to one not made yet
    except OSError as error:
        if error.errno != errno.ELOOP:
            return Path(os.path.realpath(path))
        raise OutputError(
            f"'{printable(str(path))}' is a loop of symbolic links with no file at its end; "
            "remove the link or write elsewhere"
        ) from None


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only if the block completes without error.

    A device, FIFO or descriptor alias is written in place instead (see writes_in_place); a
    symlink's target is replaced; an existing file keeps its permission bits and, when we may
    set it, its owner. OS errors (disk full, permission lost) become WriteFailure.
    """
    if writes_in_place(path):
        with _in_place_output(Path(path)) as handle:
            yield handle
        return
    path = replaced_file(path)
    try:
        descriptor, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".partial"
        )
    except OSError as error:
        raise WriteFailure(f"cannot create a file beside {path}: {_reason(error)}") from None
    temporary = Path(name)
    try:
        # A plain io file, not tempfile's wrapper: polars writes to a real file's descriptor
        # from its own threads, but formats into Python write() calls for anything else,
        # which took CSV from 0.7 s to 1.6 s per 1e7 rows.
        with open(descriptor, "wb") as handle:
            yield handle
        _copy_owner(path, temporary)
        os.chmod(temporary, _default_mode(path))
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError) and not isinstance(error, BrokenPipeError):
            raise WriteFailure(f"cannot write {path}: {_reason(error)}") from None
        raise


def write_table(path: str, fmt: str, names: list[str], columns, about: dict | None = None) -> None:
    """A whole in-memory table to ``path``, atomically, by the writer that derive streams
    with; ``about`` is run.table_about's description (default: a table of one variable)."""
    about = about or {"variables": names[:1], "shape": [len(columns[0])]}
    with atomic_output(path) as handle:
        writer = TableWriter(handle, fmt, names, True, path, about)
        try:
            writer.write(columns)
            writer.close()
        except BaseException:
            writer.discard()
            raise


def write_text(path: str, text: str) -> None:
    """A small text file, atomically."""
    with atomic_output(path) as handle:
        handle.write(text.encode())


@contextlib.contextmanager
def _in_place_output(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for appending (a device or FIFO ignores the offset; a file behind
    ``/dev/stdout`` keeps what the shell's ``>>`` put there)."""
    try:
        handle = open(path, "ab")  # noqa: SIM115 - closed in the with below
    except OSError as error:
        raise WriteFailure(f"cannot write {printable(str(path))}: {_reason(error)}") from None
    try:
        with handle:
            yield handle
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            raise
        raise WriteFailure(f"cannot write {printable(str(path))}: {_reason(error)}") from None


def _copy_owner(existing: Path, new: Path) -> None:
    """Give ``new`` the owner and group of ``existing`` where we may (root may set both, others
    only a group they belong to); a file that does not exist yet has nothing to copy."""
    try:
        info = os.stat(existing)
    except OSError:
        return
    owner = info.st_uid if os.geteuid() == 0 else -1
    with contextlib.suppress(OSError):
        os.chown(new, owner, info.st_gid)


def _default_mode(path: Path) -> int:
    """Keep an existing file's mode; a new one gets the usual 0666 less the umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[tuple[BinaryIO, str]]:
    """(binary stream, name for messages): stdout, or an atomic file at ``path``."""
    if path is None or path == "-":
        yield sys.stdout.buffer, "stdout"
        return
    with atomic_output(path) as handle:
        yield handle, path


class TableWriter:
    """Writes chunks of named numpy columns to a binary stream in one format.

    ``about`` (run.table_about) describes the table: Parquet records it in its key-value
    metadata when ``about['several']``, netCDF lays out its grid by it.
    """

    def __init__(
        self,
        stream: BinaryIO,
        fmt: str,
        names: list[str],
        header: bool,
        target: str,
        about: dict | None = None,
    ):
        self._stream = stream
        self._fmt = fmt
        self._names = names
        self._header = header and fmt in ("csv", "tsv")
        self._target = target
        self._about = about
        self._parquet = None
        self._netcdf = netcdf.NetcdfWriter(stream, names, about) if fmt == "netcdf" else None

    def __repr__(self) -> str:
        return f"TableWriter({self._fmt!r} to {self._target!r})"

    @property
    def fmt(self) -> str:
        """The format written: csv, tsv, parquet, ndjson or netcdf."""
        return self._fmt

    def write(self, columns) -> None:
        """Append one chunk; ``columns`` are 1-d numpy arrays in the order of ``names``."""
        with self._io_errors():
            self._write(columns)

    def close(self) -> None:
        """Finish the output (Parquet's footer) and flush."""
        with self._io_errors():
            if self._parquet is not None:
                self._parquet.close()
            if self._netcdf is not None:
                self._netcdf.close()
            self._stream.flush()

    def discard(self) -> None:
        """Give up an unfinished output: no Parquet footer is written, and the Parquet writer's
        finalizer has nothing left to do (else it prints 'Exception ignored' after an interrupt,
        writing its footer to a file that is already closed and deleted)."""
        if self._parquet is not None:
            self._parquet.is_open = False
            self._parquet = None
        if self._netcdf is not None:
            self._netcdf.discard()

    @contextlib.contextmanager
    def _io_errors(self) -> Iterator[None]:
        """OS errors become WriteFailure; a closed pipe stays BrokenPipeError for the CLI.

        polars reports OS errors as a plain OSError whose text ends in '(os error N)'.
        """
        try:
            yield
        except OSError as error:
            if isinstance(error, BrokenPipeError) or "(os error 32)" in str(error):
                raise BrokenPipeError(errno.EPIPE, "Broken pipe") from None
            raise WriteFailure(f"cannot write {self._target}: {_reason(error)}") from None

    def _write(self, columns) -> None:
        if self._fmt == "parquet":
            self._write_parquet(columns)
            return
        if self._netcdf is not None:
            self._netcdf.write(columns)
            return
        if self._fmt in ("csv", "tsv") and _plain_text_fits(self._names, columns):
            self._stream.write(_plain_csv(self._names, columns, self._header, self._fmt))
            self._stream.flush()  # polars may write the next chunk to the descriptor itself
            self._header = False
            return
        import polars as pl

        # Columns keep their dtype: a float32 table is written as float32's shortest digits,
        # which read back as float32 give the identical value (no digits float32 never had).
        frame = pl.DataFrame(dict(zip(self._names, columns, strict=True)))
        if self._fmt in ("csv", "tsv"):
            frame.write_csv(
                self._stream,
                include_header=self._header,
                separator="," if self._fmt == "csv" else "\t",
            )
            self._header = False
        else:
            frame.write_ndjson(self._stream)

    def _write_parquet(self, columns) -> None:
        """Arrow columns straight from numpy, without copies and without importing polars;
        the schema (double, float, int64) is the one polars' to_arrow gave, with metadata
        only for a table beyond one variable (see parquet_metadata)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(dict(zip(self._names, columns, strict=True)))
        if self._parquet is None:
            dictionary = _dictionary_columns(self._names, columns)
            schema = table.schema
            if self._about is not None and self._about.get("several"):
                schema = schema.with_metadata(parquet_metadata(self._names, self._about))
            self._parquet = pq.ParquetWriter(self._stream, schema, use_dictionary=dictionary)
        self._parquet.write_table(table)


def parquet_metadata(names: list[str], about: dict) -> dict[str, str]:
    """Parquet's key-value metadata of a table beyond one variable, every value JSON: the
    expression, the variables in order, whether the points are a grid, the factors (the
    variables read together) and their points (the first fastest), the order, the
    parameters and their values, and the columns."""
    import json

    keys = ("expression", "variables", "gridded", "factors", "shape", "order", "parameters")
    values = {**{key: about[key] for key in keys}, "columns": list(names)}
    return {f"autodiff.{key}": json.dumps(value) for key, value in values.items()}


def _dictionary_columns(names: list[str], columns) -> list[str]:
    """The columns worth pyarrow's dictionary encoding, judged on the first chunk: all but
    the float columns whose values vary. A grid or a derivative that varies has about as many
    distinct values as rows, so the dictionary that pyarrow builds for each row group is
    thrown away, and building it took a third of the time of a Parquet job (1e8 rows of
    sin(x): 10-14 s with it, 6.6-6.9 s without). A constant column (d2f of x**2) keeps it:
    there it shrinks the column to almost nothing."""
    return [
        name
        for name, column in zip(names, columns, strict=True)
        if column.dtype.kind != "f" or _is_constant(column)
    ]


def _is_constant(column) -> bool:
    """Whether every value equals the first (NaN counts as equal to NaN)."""
    import numpy as np

    return len(column) == 0 or bool(
        np.array_equal(column, np.broadcast_to(column[0], column.shape), equal_nan=True)
    )


# Up to this many rows, a CSV chunk of float64 columns is formatted here, byte for byte as
# polars formats it: importing polars (0.2 s) would cost more than formatting in Python
# (about 1 ms per 1,000 rows), and the default 1,000-row job should start as fast as torch.
PLAIN_TEXT_ROWS = 10_000


def _plain_text_fits(names: list[str], columns) -> bool:
    """Whether a chunk is small enough to format here and holds only float64 columns whose
    names polars would not quote."""
    return (
        len(columns[0]) <= PLAIN_TEXT_ROWS
        and all(column.dtype.kind == "f" and column.dtype.itemsize == 8 for column in columns)
        and all(name.isidentifier() for name in names)
    )


def _plain_csv(names: list[str], columns, header: bool, fmt: str) -> bytes:
    """CSV or TSV text of float64 columns, identical to polars' write_csv."""
    separator = "," if fmt == "csv" else "\t"
    lines = [separator.join(names)] if header else []
    rows = zip(*(column.tolist() for column in columns), strict=True)
    lines += [separator.join(map(_polars_float_text, row)) for row in rows]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _polars_float_text(value: float) -> str:
    """A float64 as polars writes it: the shortest round-trip digits (Python's repr), NaN
    for nan, positional from 1e-5 to below 1e16 and 'e' notation with an unpadded exponent
    outside (repr switches below 1e-4 and pads to two digits)."""
    text = repr(value)
    if "e" not in text:
        return "NaN" if text == "nan" else text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if power == -5:
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


# How often the main thread wakes up while it waits on the writer thread (see _put).
_WAKE_SECONDS = 0.1


class BackgroundWriter:
    """Writes chunks on a worker thread, so that the next chunk is computed while this one
    is formatted and written (polars releases the GIL while it works).

    A chunk is handed over only once the previous one is written, so at most two chunks are
    alive: the one being written and the one being computed. Computing is several times
    faster than writing, so a third, queued chunk would only cost memory.
    """

    def __init__(self, writer: TableWriter):
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._idle = threading.Event()
        self._idle.set()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="autodiff-writer", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"BackgroundWriter({self._writer!r})"

    def write(self, columns) -> None:
        """Hand over one chunk once the previous one is written; raises the error that an
        earlier chunk met, if any."""
        self._wait_until_idle()
        self._raise_pending()
        self._idle.clear()
        self._queue.put(columns)

    def close(self) -> None:
        """Wait until every chunk is written, then finish the output."""
        self._wait_until_idle()
        self._queue.put(None)
        while self._thread.is_alive():
            self._thread.join(timeout=_WAKE_SECONDS)
        self._raise_pending()
        self._writer.close()

    def _wait_until_idle(self) -> None:
        """Wait for the writer, waking up now and then: a signal that the kernel hands to one
        of polars' threads runs its Python handler (Ctrl-C, SIGTERM) only when the main thread
        runs Python code, which a plain blocking wait would delay until the writer is done,
        or forever if the writer is stuck."""
        while not self._idle.wait(_WAKE_SECONDS):
            continue

    def abort(self) -> None:
        """Drop what is queued after a failure elsewhere; never wait on a stalled reader."""
        self._error = self._error or RuntimeError("aborted")
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=1.0)
        self._writer.discard()

    def _run(self) -> None:
        while (columns := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(columns)
                except BaseException as error:  # handed over to the main thread
                    self._error = error
            del columns  # the chunk is freed now, not when the next one arrives
            self._idle.set()

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def background(writer: TableWriter) -> Iterator[BackgroundWriter]:
    """A BackgroundWriter that is closed on success and aborted on any failure."""
    worker = BackgroundWriter(writer)
    try:
        yield worker
        worker.close()  # inside: an interrupt while the last chunk is written aborts too
    except BaseException:
        worker.abort()
        raise


def _reason(error: OSError) -> str:
    return error.strerror or str(error).split(" (os error")[0]
