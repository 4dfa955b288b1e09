"""Table writers (csv, tsv, parquet, ndjson) and atomic file output.

Writers take one chunk of numpy columns at a time, so output streams: ``| head`` sees rows at
once and memory does not grow with the table. Files are written to a temporary file beside the
target and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from autodiffcli.errors import OutputError, WriteFailure

FORMATS = ("csv", "tsv", "parquet", "ndjson")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


def choose_format(path: str | None, fmt: str | None) -> str:
    """``--format`` if given, else the output file's extension, else csv."""
    if fmt is not None:
        return fmt
    if path is None or path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        raise OutputError(
            f"cannot tell the format of '{path}' from its extension; "
            f"use one of {known} or pass --format {'|'.join(FORMATS)}"
        )
    return EXTENSIONS[suffix]


def check_output_path(path: str, option: str = "-o") -> Path:
    """Fail early (before any work) if ``path`` cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{option} {path} is a directory; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"{option} {path}: folder '{parent}' does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: folder '{parent}' is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{option} {path} exists and is read-only")
    return target


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only if the block completes without error.

    OS errors (disk full, permission lost) become WriteFailure, whoever writes the file.
    """
    path = Path(path)
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in the with below
            dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
        )
    except OSError as error:
        raise WriteFailure(f"cannot create a file beside {path}: {_reason(error)}") from None
    temporary = Path(handle.name)
    try:
        with handle:
            yield handle
        os.chmod(temporary, _default_mode(path))
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError) and not isinstance(error, BrokenPipeError):
            raise WriteFailure(f"cannot write {path}: {_reason(error)}") from None
        raise


def write_table(path: str, fmt: str, names: list[str], columns) -> None:
    """A whole in-memory table to ``path``, atomically, by the writer that derive streams with."""
    with atomic_output(path) as handle:
        writer = TableWriter(handle, fmt, names, True, path)
        writer.write(columns)
        writer.close()


def write_text(path: str, text: str) -> None:
    """A small text file, atomically."""
    with atomic_output(path) as handle:
        handle.write(text.encode())


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
    """Writes chunks of named numpy columns to a binary stream in one format."""

    def __init__(self, stream: BinaryIO, fmt: str, names: list[str], header: bool, target: str):
        self._stream = stream
        self._fmt = fmt
        self._names = names
        self._header = header and fmt in ("csv", "tsv")
        self._target = target
        self._parquet = None

    def __repr__(self) -> str:
        return f"TableWriter({self._fmt!r} to {self._target!r})"

    def write(self, columns) -> None:
        """Append one chunk; ``columns`` are 1-d numpy arrays in the order of ``names``."""
        with self._io_errors():
            self._write(columns)

    def close(self) -> None:
        """Finish the output (Parquet's footer) and flush."""
        with self._io_errors():
            if self._parquet is not None:
                self._parquet.close()
            self._stream.flush()

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
        import polars as pl

        frame = pl.DataFrame(dict(zip(self._names, columns, strict=True)))
        if self._fmt in ("csv", "tsv"):
            frame.write_csv(
                self._stream,
                include_header=self._header,
                separator="," if self._fmt == "csv" else "\t",
            )
            self._header = False
        elif self._fmt == "ndjson":
            frame.write_ndjson(self._stream)
        else:
            self._write_parquet(frame)

    def _write_parquet(self, frame) -> None:
        import pyarrow.parquet as pq

        table = frame.to_arrow()
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._stream, table.schema)
        self._parquet.write_table(table)


class BackgroundWriter:
    """Writes chunks on a worker thread, so that the next chunk is computed while this one
    is formatted and written (polars releases the GIL while it works)."""

    def __init__(self, writer: TableWriter, depth: int = 1):
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="autodiff-writer", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"BackgroundWriter({self._writer!r})"

    def write(self, columns) -> None:
        """Queue one chunk; raises the error that an earlier chunk met, if any."""
        self._raise_pending()
        self._queue.put(columns)

    def close(self) -> None:
        """Wait until every queued chunk is written, then finish the output."""
        self._queue.put(None)
        self._thread.join()
        self._raise_pending()
        self._writer.close()

    def abort(self) -> None:
        """Drop what is queued after a failure elsewhere; never wait on a stalled reader."""
        self._error = self._error or RuntimeError("aborted")
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while (columns := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(columns)
                except BaseException as error:  # handed over to the main thread
                    self._error = error

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def background(writer: TableWriter) -> Iterator[BackgroundWriter]:
    """A BackgroundWriter that is closed on success and aborted on any failure."""
    worker = BackgroundWriter(writer)
    try:
        yield worker
    except BaseException:
        worker.abort()
        raise
    worker.close()


def _reason(error: OSError) -> str:
    return error.strerror or str(error).split(" (os error")[0]
