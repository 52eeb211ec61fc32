"""EvidenceIOManager: every daily-partitioned DataFrame asset output becomes write-once evidence.

`handle_output` stores the frame as `<EVIDENCE_URI>/aircall/<asset name>/date=<partition>/` Parquet +
CSV through `EvidenceStore.write_table` (a rerun writes a new attempt or is a no-op, never an
overwrite) and attaches the row count and the columns with their types (Dagster's standard
`dagster/row_count` and `dagster/column_schema`, which the UI shows), location, hashes and a preview to
the materialization. Every evidence table goes through here, raw and findings alike, so every one of
them shows its columns without the assets repeating their schemas.
A table too big to hold whole (a busy day's calls) arrives as a `SpooledTable` instead, written a
batch at a time by the asset into a temporary Parquet file; it is stored the same way (same names,
attempts, hashes and metadata, preview and column types from its first rows).
A run over several days (a backfill chunk) hands it `{day: frame}` with one frame per day of the
run: each day is written to its own folder, and each day's materialization gets its own metadata.
`load_input` reads the newest attempt of the upstream asset's partition back; an input may ask for a
column subset with `AssetIn(metadata={"columns": [...]})`.

Partitions are `<account>|<date>` (ingest/partitions.py): the account picks the store (that
account's `evidence_uri`, through the registry), the date the folder. A plain daily key (an asset
partitioned by date only) is filed in the resource's own `evidence_uri`.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError, SpooledTable, check_date
from aircall_pipeline.ingest.partitions import accounts_of, day_of
from aircall_pipeline.registry import AccountsResource
from aircall_pipeline.resources.evidence import EvidenceResource

PREVIEW_ROWS = 5
# Dagster's standard metadata keys (the UI reads them: the row count, the Columns tab).
ROW_COUNT_KEY = "dagster/row_count"
COLUMN_SCHEMA_KEY = "dagster/column_schema"
PREVIEW_CELL_CHARS = 60

# Every ASCII punctuation character may be backslash-escaped in CommonMark and then renders as
# itself. Escaping all of them means a value from the API can form no link, image, autolink,
# HTML tag, emphasis or table cell break in the Dagster UI, whatever syntax it tries.
_MARKDOWN_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


def markdown_text(value: Any) -> str:
    """`value` as Markdown that renders as exactly its text, on one line (for table cells too)."""
    text = " ".join(str(value).splitlines())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def markdown_preview(df: pd.DataFrame, rows: int = PREVIEW_ROWS, total: int | None = None) -> str:
    """A small Markdown table of the first rows (cells cut, Markdown syntax escaped) for the Dagster UI.
    `total`: the table's row count when `df` holds only its first rows."""

    def cell(value: Any) -> str:
        text = "" if value is None or (not isinstance(value, list | dict) and pd.isna(value)) else str(value)
        if len(text) > PREVIEW_CELL_CHARS:
            text = text[: PREVIEW_CELL_CHARS - 1] + "…"
        return markdown_text(text)

    columns = [str(c) for c in df.columns]
    if not columns:
        return f"_{len(df) if total is None else total} rows, no columns_"
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for record in df.head(rows).itertuples(index=False, name=None):
        lines.append("| " + " | ".join(cell(v) for v in record) + " |")
    total = len(df) if total is None else total
    if total > rows:
        lines.append(f"\n_first {rows} of {total:,} rows_")
    return "\n".join(lines)


def column_schema(df: pd.DataFrame) -> dg.TableSchema:
    """The stored table's columns and their types, as the frame holds them (`Int64`, `str`, `boolean`,
    `datetime64[us, UTC]`...): the raw tables' come from `ingest/normalize.SCHEMAS`, the findings
    tables' from the rules that built them."""
    return dg.TableSchema(columns=[dg.TableColumn(str(name), str(dtype)) for name, dtype in df.dtypes.items()])


def _unretryable(exc: EvidenceStoreError) -> dg.Failure:
    """A step failure that skips the step's retries; raise it `from exc` to keep the store's error."""
    return dg.Failure(description=str(exc), metadata={"error_class": type(exc).__name__, "kind": exc.kind},
                      allow_retries=False)


class EvidenceIOManager(dg.ConfigurableIOManager):
    """Stores daily-partitioned DataFrame outputs as write-once Parquet + CSV evidence.

    `evidence`: the EvidenceResource that says where the evidence lives (and how it is locked).
    """

    evidence: dg.ResourceDependency[EvidenceResource]
    accounts: dg.ResourceDependency[AccountsResource]

    def _store(self, keys: list[str]) -> EvidenceStore:
        """The store of the account the partition keys name (the resource's own for plain dates)."""
        if not any("|" in str(k) for k in keys):
            if self.evidence.evidence_uri:
                return self.evidence.store()
            # An asset partitioned by date only: the registry's only account.
            return self.evidence.store_for(self.accounts.settings().account(None))
        accounts = accounts_of(keys)
        if len(accounts) != 1:
            raise EvidenceStoreError(f"one run writes one account's evidence; these partitions name {sorted(accounts)}",
                                     kind="invalid_input")
        return self.evidence.store_for(self.accounts.account(accounts.pop()))

    @staticmethod
    def _partition_date(context: dg.OutputContext | dg.InputContext, key: str, asset: str) -> str:
        try:
            return check_date(day_of(key) if "|" in str(key) else key)
        except EvidenceStoreError:
            raise EvidenceStoreError(
                f"asset {asset} has partition key {key!r}; the evidence store files tables per day, so "
                "give the asset the daily partitions definition (keys like 2026-01-31)",
                kind="invalid_input",
            ) from None

    def handle_output(self, context: dg.OutputContext,
                      obj: pd.DataFrame | SpooledTable | Mapping[str, pd.DataFrame | SpooledTable] | None) -> None:
        if obj is None:
            return  # nothing to store (e.g. an asset that only records metadata)
        asset = context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            raise EvidenceStoreError(
                f"asset {asset} is not partitioned: every evidence table is filed under a day, so give "
                "it the daily partitions definition (aircall_pipeline.ingest.partitions)",
                kind="invalid_input",
            )
        try:
            frames = self._frames_by_day(context, obj, asset)
        except EvidenceStoreError as exc:
            raise _unretryable(exc) from exc  # the same output would be refused again
        table = context.asset_key.path[-1]
        store = self._store(list(frames))
        metadata = {key: self._write(store, table, self._partition_date(context, key, asset), df)
                    for key, df in frames.items()}
        if len(metadata) == 1:
            [day_metadata] = metadata.values()
            context.add_output_metadata(day_metadata)
            return
        # Several days in one run: Dagster records one materialization per day; each gets its own
        # rows, paths and hashes (metadata scoped to its partition), the run's summary the rest.
        for key, day_metadata in metadata.items():
            context.step_context.add_asset_metadata(day_metadata, asset_key=context.asset_key, partition_key=key)
        context.add_output_metadata({"days": len(metadata),
                                     "rows_all_days": sum(m[ROW_COUNT_KEY].value for m in metadata.values())})

    def _frames_by_day(self, context: dg.OutputContext, obj: Any, asset: str) -> dict[str, pd.DataFrame | SpooledTable]:
        """{partition key: frame} for every day of the run, oldest first; refuses anything else.
        The asset may key its frames by partition key or by evidence date."""
        keys = sorted(context.asset_partition_keys, key=lambda k: day_of(k) if "|" in str(k) else str(k))
        if isinstance(obj, Mapping):
            by_day = {(day_of(k) if "|" in str(k) else str(k)): k for k in keys}
            obj = {by_day.get(str(k), k): v for k, v in obj.items()}
        if isinstance(obj, pd.DataFrame | SpooledTable):
            if len(keys) != 1:
                raise EvidenceStoreError(
                    f"asset {asset} materializes {len(keys)} days in one run ({keys[0]} to {keys[-1]}) but "
                    "returned one DataFrame; return {day: DataFrame} with one frame per day, so that each "
                    "day is filed in its own folder",
                    kind="invalid_input",
                )
            obj = {keys[0]: obj}
        if not isinstance(obj, Mapping):
            raise EvidenceStoreError(
                f"asset {asset} returned {type(obj).__name__}; the evidence IO manager stores pandas "
                "DataFrames, or {day: DataFrame} for a run over several days (return None to store nothing)",
                kind="invalid_input",
            )
        missing, extra = sorted(set(keys) - set(obj)), sorted(set(map(str, obj)) - set(keys))
        if missing or extra:
            # A day of the run without its frame would be recorded as materialized with no evidence.
            raise EvidenceStoreError(
                f"asset {asset} returned days that do not match the run's: missing {missing or 'none'}, "
                f"not in the run {extra or 'none'}",
                kind="invalid_input",
            )
        not_frames = sorted(k for k in keys if not isinstance(obj[k], pd.DataFrame | SpooledTable))
        if not_frames:
            raise EvidenceStoreError(
                f"asset {asset} returned something other than a DataFrame for {', '.join(not_frames)}",
                kind="invalid_input",
            )
        for key in keys:
            self._partition_date(context, key, asset)  # a key that is not a day is refused here
        return {key: obj[key] for key in keys}

    @staticmethod
    def _write(store: EvidenceStore, table: str, date: str, df: pd.DataFrame | SpooledTable) -> dict[str, Any]:
        """Write one day's table; the metadata of that day's materialization."""
        # What the metadata shows of a spooled table: its first rows (and their dtypes) and its count.
        head, total = (df.head, df.rows) if isinstance(df, SpooledTable) else (df, len(df))
        try:
            artifacts = store.write_table(table, date, df)
        except EvidenceStoreError as exc:
            if exc.retryable:
                raise
            # A missing bucket or a denied write will not fix itself: fail now rather than after
            # the step's retries, keeping the store's error (and its advice) as the cause.
            raise _unretryable(exc) from exc
        parquet, csv = artifacts
        return {
            ROW_COUNT_KEY: dg.MetadataValue.int(parquet.rows or 0),
            COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(column_schema(head)),
            "evidence_path": dg.MetadataValue.path(store.full_uri(parquet.path)),
            "evidence_csv": dg.MetadataValue.path(store.full_uri(csv.path)),
            "sha256": dg.MetadataValue.text(parquet.sha256),
            "artifacts": dg.MetadataValue.json([a.as_dict() for a in artifacts]),
            "preview": dg.MetadataValue.md(markdown_preview(head, total=total)),
        }

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        asset = context.asset_key.to_user_string()
        table = context.asset_key.path[-1]
        if not context.has_asset_partitions:
            raise EvidenceStoreError(
                f"input {asset} is not partitioned; the evidence store only holds daily tables",
                kind="invalid_input",
            )
        columns = (context.definition_metadata or {}).get("columns")
        keys = list(context.asset_partition_keys)
        if not keys:
            raise EvidenceStoreError(
                f"input {asset}: no partition of it maps to this run", kind="invalid_input"
            )
        store = self._store(keys)
        frames = [
            store.read_table(table, self._partition_date(context, key, asset), columns=columns)
            for key in keys
        ]
        if len(frames) == 1:
            return frames[0]
        context.log.info(f"loaded {asset} for {len(frames)} days: {json.dumps(keys[:5])}…")
        return pd.concat(frames, ignore_index=True)
