"""The table writers: the same bytes whichever formatter writes a chunk, and start-up that
does not pay for what a run does not use."""

import io
import threading
import weakref

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from support import modules_loaded_by

from autodiffcli import writers

NAMES = ["x", "f", "df"]


def polars_text(columns, fmt="csv", header=True) -> bytes:
    frame = pl.DataFrame(dict(zip(NAMES, columns, strict=True)))
    separator = "," if fmt == "csv" else "\t"
    return frame.write_csv(include_header=header, separator=separator).encode()


def written(chunks, fmt="csv") -> bytes:
    stream = io.BytesIO()
    writer = writers.TableWriter(stream, fmt, NAMES, True, "memory")
    for chunk in chunks:
        writer.write(chunk)
    writer.close()
    return stream.getvalue()


float64s = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(float64s, float64s, float64s), min_size=1, max_size=40))
def test_small_chunks_are_the_bytes_polars_writes(rows):
    columns = [np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)]
    for fmt in ("csv", "tsv"):
        assert written([columns], fmt) == polars_text(columns, fmt)


def test_every_power_of_ten_is_written_as_polars_writes_it():
    powers = np.array([float(f"1e{p}") for p in range(-324, 309)] + [5e-324])
    with np.errstate(over="ignore"):
        values = np.concatenate([powers, -3.7 * powers, np.nextafter(powers, 0)])
    columns = [values, values[::-1].copy(), -values]
    assert written([columns]) == polars_text(columns)


def test_negative_nan_and_nan_payloads_are_written_as_nan():
    payloads = np.array([0xFFF8000000000001, 0x7FF0000000000001], dtype=np.uint64)
    values = np.concatenate([[-np.nan], payloads.view(np.float64)])
    columns = [values, values, values]
    assert written([columns]) == polars_text(columns)


def test_a_table_of_small_and_large_chunks_is_one_polars_table(tmp_path):
    small, large = 5, writers.PLAIN_TEXT_ROWS + 1  # formatted here, formatted by polars
    x = np.linspace(-5, 5, 2 * small + 2 * large)
    columns = [x, np.sin(x), np.cos(x)]
    cuts = [0, small, small + large, 2 * small + large, len(x)]
    chunks = [[c[a:b] for c in columns] for a, b in zip(cuts, cuts[1:], strict=False)]
    path = tmp_path / "t.csv"
    with writers.atomic_output(path) as handle:
        writer = writers.TableWriter(handle, "csv", NAMES, True, str(path))
        for chunk in chunks:
            writer.write(chunk)
        writer.close()
    assert path.read_bytes() == polars_text(columns)


def test_float32_and_integer_columns_are_left_to_polars():
    values = np.array([0.1, 1e-5, 3.4e38], dtype=np.float32)
    columns = [values, values, values]
    assert written([columns]) == polars_text(columns)
    counts = [np.arange(3), np.arange(3), np.arange(3)]
    assert written([counts]) == polars_text(counts)


def test_parquet_holds_the_values_schema_and_metadata_that_polars_and_pyarrow_wrote():
    import pyarrow.parquet as pq

    x = np.linspace(-5, 5, 3000)
    columns = [x, x.astype(np.float32), np.arange(3000)]
    expected = io.BytesIO()
    table = pl.DataFrame(dict(zip(NAMES, columns, strict=True))).to_arrow()
    with pq.ParquetWriter(expected, table.schema) as writer:
        writer.write_table(table.slice(0, 1000))
        writer.write_table(table.slice(1000))
    ours = pq.read_table(
        io.BytesIO(written([[c[:1000] for c in columns], [c[1000:] for c in columns]], "parquet"))
    )
    theirs = pq.read_table(expected)
    assert ours.schema.equals(theirs.schema, check_metadata=True)
    assert ours.equals(theirs)


def column_encodings(data: bytes) -> dict[str, tuple]:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    return {NAMES[i]: metadata.column(i).encodings for i in range(metadata.num_columns)}


def test_parquet_builds_a_dictionary_only_for_columns_that_do_not_vary():
    x = np.linspace(-5, 5, 3000)
    encodings = column_encodings(
        written([[x, np.full_like(x, 2.0), np.full_like(x, np.nan)]], "parquet")
    )
    assert "RLE_DICTIONARY" not in encodings["x"]
    assert "RLE_DICTIONARY" in encodings["f"]
    assert "RLE_DICTIONARY" in encodings["df"]


def test_a_file_output_is_a_plain_io_file_that_polars_writes_directly(tmp_path):
    # tempfile's wrapper made polars format into Python write() calls: 2x slower CSV
    with writers.atomic_output(tmp_path / "t.csv") as handle:
        assert isinstance(handle, io.BufferedWriter)


def test_the_default_job_imports_neither_polars_nor_pyarrow_nor_rich_nor_matplotlib():
    loaded = modules_loaded_by("derive")
    assert "torch" in loaded
    assert not loaded & {"polars", "pyarrow", "rich", "matplotlib", "sympy", "mpmath"}


def test_a_parquet_job_does_not_import_polars():
    loaded = modules_loaded_by(
        "derive", "--num", "100000", "--format", "parquet", "-o", "/dev/null"
    )
    assert "pyarrow" in loaded
    assert "polars" not in loaded


def test_a_large_csv_job_imports_polars():
    rows = writers.PLAIN_TEXT_ROWS + 1
    assert "polars" in modules_loaded_by("derive", "--num", str(rows))


class SlowWriter:
    """A TableWriter stand-in whose write() waits until the test lets it finish."""

    fmt = "csv"

    def __init__(self):
        self.release = threading.Event()
        self.written = []

    def write(self, columns):
        self.release.wait(10)
        self.written.append(len(columns[0]))

    def close(self):
        pass

    def discard(self):
        pass


def test_a_chunk_is_handed_over_only_once_the_previous_one_is_written():
    slow = SlowWriter()
    with writers.background(slow) as background:
        background.write([np.zeros(1)])
        second = threading.Thread(target=background.write, args=([np.zeros(2)],))
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waiting: two chunks alive at most
        slow.release.set()
        second.join(10)
        assert not second.is_alive()
    assert slow.written == [1, 2]


def test_the_writer_thread_lets_go_of_a_chunk_once_written():
    slow = SlowWriter()
    slow.release.set()
    chunk = np.zeros(3)
    alive = weakref.ref(chunk)
    with writers.background(slow) as background:
        background.write([chunk])
        del chunk
        background._wait_until_idle()
        assert alive() is None
