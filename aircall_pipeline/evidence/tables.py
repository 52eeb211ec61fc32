"""Day tables: storing a frame as a write-once Parquet + CSV attempt of `aircall/<table>/date=D/`,
finding a table's newest complete attempt and its dates, and reading it back."""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd
import pyarrow as pa

import aircall_pipeline.evidence.objects as objects
from aircall_pipeline.evidence.attempts import attempt_key, attempts_in, newest_complete, write_attempt
from aircall_pipeline.evidence.backends import Backend, Blob, LocalBackend
from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.evidence.formats import SpooledTable, arrow_table, csv_blob, parquet_bytes
from aircall_pipeline.evidence.layout import (
    ROOT,
    check_date,
    check_table,
    day_entry,
    parse_attempt_name,
    table_folder,
)
from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.evidence.stored import sha256_hex, stored_artifact

log = logging.getLogger(__name__)

# DataFrame.attrs key under which `read_table` records the stored file a frame was read from.
READ_FROM = "evidence_read_from"


def write_table(backend: Backend, table: str, date: Any, df: pd.DataFrame | SpooledTable) -> list[Artifact]:
    """Store `df` as `<table>.parquet` + `<table>.csv` for `date`, write-once (see `store.py`).

    `df` is a DataFrame, or a `SpooledTable` that was written a batch at a time (a big day's
    calls): its Parquet is already in a temporary file, the CSV is made from it a row group at a
    time, and nothing is published until both are complete. The spooled table is closed here.
    Returns the Parquet and CSV artifacts of the attempt that now holds this content.
    """
    table, date = check_table(table), check_date(date)
    if isinstance(df, SpooledTable):
        try:
            rows, parquet, csv_data = df.rows, df.finish(), df.csv_blob()
        except BaseException:
            df.close()
            raise
    else:
        arrow = arrow_table(df)
        rows = arrow.num_rows
        parquet = Blob.of(parquet_bytes(arrow))
        csv_data = csv_blob(arrow)
        del arrow
    folder = table_folder(table, date)
    bases = (f"{table}.parquet", f"{table}.csv")
    files = [(bases[0], parquet), (bases[1], csv_data)]
    try:
        number, wrote = write_attempt(backend, folder, bases, lambda _n: files)
    finally:
        csv_data.close()
        parquet.close()
    artifacts = [
        Artifact(attempt_key(folder, base, number), blob.sha256, blob.size, rows) for base, blob in files
    ]
    log.info(
        "%s %s for %s: attempt %d (%d rows) in %s",
        "wrote" if wrote else "unchanged, kept",
        table,
        date,
        number,
        rows,
        backend.full_uri(folder),
    )
    return artifacts


def newest_table_attempt(backend: Backend, table: str, date: Any) -> int | None:
    """The newest complete attempt number of `table` for `date`, or None."""
    table, date = check_table(table), check_date(date)
    bases = (f"{table}.parquet", f"{table}.csv")
    return newest_complete(attempts_in(backend, table_folder(table, date), bases), bases)


def table_paths(backend: Backend, table: str, date: Any) -> tuple[str, str] | None:
    """(parquet path, csv path) of the newest complete attempt, relative to the root; or None."""
    number = newest_table_attempt(backend, table, date)
    if number is None:
        return None
    folder = table_folder(table, check_date(date))
    return attempt_key(folder, f"{table}.parquet", number), attempt_key(folder, f"{table}.csv", number)


def read_table(backend: Backend, table: str, date: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """The newest complete attempt's Parquet for `table` on `date` (only `columns`, if given)."""
    paths = table_paths(backend, table, date)
    if paths is None:
        raise EvidenceStoreError(
            f"no {table} evidence for {check_date(date)} in {backend.uri}: materialize that partition first",
            kind="incomplete",
            uri=backend.full_uri(table_folder(check_table(table), check_date(date))),
        )
    info = backend.stat(paths[0])
    # A local file is hashed as it is read in chunks, then parsed from disk (only the columns asked
    # for): a big day's calls are never in memory as bytes. S3 fetches small objects in one GET.
    if info.size <= objects.WHOLE_OBJECT_LIMIT and not isinstance(backend, LocalBackend):
        data = backend.get(paths[0])
        sha256 = sha256_hex(data)
        source: Any = io.BytesIO(data)
    else:
        # Read only the columns asked for, with ranged reads; the hash is the one recorded when the
        # file was written (or computed, where storage keeps none), not a second full download.
        sha256 = info.recorded_sha256 or stored_artifact(backend, paths[0]).sha256
        source = backend.open_seekable(paths[0])
    with source as fh:
        try:
            frame = pd.read_parquet(fh, columns=list(columns) if columns is not None else None)
        except (pa.ArrowInvalid, KeyError, ValueError) as exc:
            raise EvidenceStoreError(
                f"cannot read {backend.full_uri(paths[0])}: {exc}", kind="storage"
            ) from None
    # Which stored file these rows came from, so a check can record what it judged and the day's
    # report can refuse to list anything else (see `write_report(judged=...)`).
    frame.attrs[READ_FROM] = {"path": paths[0], "sha256": sha256}
    return frame


def table_dates(backend: Backend, table: str) -> list[str]:
    """Evidence dates (sorted, oldest first) holding a complete attempt of `table`."""
    table = check_table(table)
    by_date: dict[str, dict[int, set[str]]] = {}
    for key in backend.list(f"{ROOT}/{table}"):
        if not (entry := day_entry(key, table)):
            continue
        day, name = entry
        parsed = parse_attempt_name(name)
        if parsed and parsed[0] == table and parsed[2] in ("parquet", "csv"):
            by_date.setdefault(day, {}).setdefault(parsed[1], set()).add(parsed[2])
    return sorted(
        d
        for d, attempts in by_date.items()
        if any({"parquet", "csv"} <= exts for exts in attempts.values())
    )
