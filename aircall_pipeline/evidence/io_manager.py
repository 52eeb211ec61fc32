"""EvidenceIOManager: every daily-partitioned DataFrame asset output becomes write-once evidence.

`handle_output` stores the frame as `<EVIDENCE_URI>/aircall/<asset name>/date=<partition>/` Parquet +
CSV through `EvidenceStore.write_table` (a rerun writes a new attempt or is a no-op, never an
overwrite) and attaches the row count and the columns with their types (Dagster's standard
`dagster/row_count` and `dagster/column_schema`, which the UI shows), location, hashes and a preview to
the materialization. Every evidence table goes through here, raw and findings alike, so every one of
them shows its columns without the assets repeating their schemas.
`load_input` reads the newest attempt of the upstream asset's partition back; an input may ask for a
column subset with `AssetIn(metadata={"columns": [...]})`.
"""

import json
import re
from typing import Any

import dagster as dg
import pandas as pd

from aircall_pipeline.evidence.resource import EvidenceResource
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError, check_date

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


def markdown_preview(df: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A small Markdown table of the first rows (cells cut, Markdown syntax escaped) for the Dagster UI."""

    def cell(value: Any) -> str:
        text = "" if value is None or (not isinstance(value, list | dict) and pd.isna(value)) else str(value)
        if len(text) > PREVIEW_CELL_CHARS:
            text = text[: PREVIEW_CELL_CHARS - 1] + "…"
        return markdown_text(text)

    columns = [str(c) for c in df.columns]
    if not columns:
        return f"_{len(df)} rows, no columns_"
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for record in df.head(rows).itertuples(index=False, name=None):
        lines.append("| " + " | ".join(cell(v) for v in record) + " |")
    if len(df) > rows:
        lines.append(f"\n_first {rows} of {len(df):,} rows_")
    return "\n".join(lines)


def column_schema(df: pd.DataFrame) -> dg.TableSchema:
    """The stored table's columns and their types, as the frame holds them (`Int64`, `str`, `boolean`,
    `datetime64[us, UTC]`...): the raw tables' come from `ingest/normalize.SCHEMAS`, the findings
    tables' from the rules that built them."""
    return dg.TableSchema(columns=[dg.TableColumn(str(name), str(dtype)) for name, dtype in df.dtypes.items()])


class EvidenceIOManager(dg.ConfigurableIOManager):
    """Stores daily-partitioned DataFrame outputs as write-once Parquet + CSV evidence.

    `evidence`: the EvidenceResource that says where the evidence lives (and how it is locked).
    """

    evidence: dg.ResourceDependency[EvidenceResource]

    def _store(self) -> EvidenceStore:
        return self.evidence.store()

    @staticmethod
    def _partition_date(context: dg.OutputContext | dg.InputContext, key: str, asset: str) -> str:
        try:
            return check_date(key)
        except EvidenceStoreError:
            raise EvidenceStoreError(
                f"asset {asset} has partition key {key!r}; the evidence store files tables per day, so "
                "give the asset the daily partitions definition (keys like 2026-01-31)",
                kind="invalid_input",
            ) from None

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return  # nothing to store (e.g. an asset that only records metadata)
        asset = context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            raise EvidenceStoreError(
                f"asset {asset} is not partitioned: every evidence table is filed under a day, so give "
                "it the daily partitions definition (aircall_pipeline.ingest.partitions)",
                kind="invalid_input",
            )
        if not isinstance(obj, pd.DataFrame):
            raise EvidenceStoreError(
                f"asset {asset} returned {type(obj).__name__}; the evidence IO manager stores pandas "
                "DataFrames (return None to store nothing)",
                kind="invalid_input",
            )
        date = self._partition_date(context, context.asset_partition_key, asset)
        table = context.asset_key.path[-1]
        store = self._store()
        try:
            artifacts = store.write_table(table, date, obj)
        except EvidenceStoreError as exc:
            if exc.retryable:
                raise
            # A missing bucket or a denied write will not fix itself: fail now rather than after
            # the step's retries, keeping the store's error (and its advice) as the cause.
            raise dg.Failure(description=str(exc), metadata={"error_class": type(exc).__name__,
                                                             "kind": exc.kind}, allow_retries=False) from exc
        parquet, csv = artifacts
        context.add_output_metadata(
            {
                ROW_COUNT_KEY: dg.MetadataValue.int(parquet.rows or 0),
                COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(column_schema(obj)),
                "evidence_path": dg.MetadataValue.path(store.full_uri(parquet.path)),
                "evidence_csv": dg.MetadataValue.path(store.full_uri(csv.path)),
                "sha256": dg.MetadataValue.text(parquet.sha256),
                "artifacts": dg.MetadataValue.json([a.as_dict() for a in artifacts]),
                "preview": dg.MetadataValue.md(markdown_preview(obj)),
            }
        )

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
        store = self._store()
        frames = [
            store.read_table(table, self._partition_date(context, key, asset), columns=columns)
            for key in keys
        ]
        if len(frames) == 1:
            return frames[0]
        context.log.info(f"loaded {asset} for {len(frames)} days: {json.dumps(keys[:5])}…")
        return pd.concat(frames, ignore_index=True)
