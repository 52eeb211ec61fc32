"""A day's calls streamed to evidence a batch at a time (`SpooledTable`, `ingest.assets.spool_calls`):
the same files as the whole frame gives, the same write-once attempts, and nothing published when it
fails half-way. Local folder and moto's S3 server alike."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster_aws.s3 import S3Resource

from aircall_pipeline.compliance import rules
from aircall_pipeline.compliance.rule_table import RULES
from aircall_pipeline.evidence import formats
from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.evidence.store import EvidenceStore, SpooledTable
from aircall_pipeline.ingest import normalize
from aircall_pipeline.ingest.assets import spool_calls
from aircall_pipeline.resources.evidence import EvidenceResource
from aircall_pipeline.resources.evidence_io_manager import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY, EvidenceIOManager
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.evidence.days import seal_day
from aircall_pipeline_tests.evidence.test_manifest import CHECKS, fields

DAY, OTHER_DAY = "2026-03-14", "2026-03-15"
KEY = b"k" * 32
FOLDER = f"aircall/calls/date={DAY}"


def raw_calls(count: int) -> list[dict]:
    """Sandbox calls as `GET /v1/calls` returns them, with formula-looking text in some of them."""
    account = SandboxAccount(calls=count, days=1)
    calls = [account.call(i) for i in range(account.call_count)]
    for call in calls[::7]:
        call["country_code_a2"] = "=HYPERLINK(\"https://evil.invalid\")"
        call["tags"] = [{"name": "-1+1"}, {"name": "a,b \"quoted\"\nline"}]
    return calls


def pages(calls: list[dict], size: int = 50):
    for start in range(0, len(calls), size):
        yield calls[start:start + size]


def whole_frame(calls: list[dict]) -> pd.DataFrame:
    normalizer = normalize.CallNormalizer(KEY)
    normalizer.add_page(calls)
    return normalizer.frame()


def files(store: EvidenceStore, artifacts) -> tuple[bytes, bytes]:
    return store.backend.get(artifacts[0].path), store.backend.get(artifacts[1].path)


def test_streamed_calls_are_the_whole_frames_files_byte_for_byte(store: EvidenceStore):
    calls = raw_calls(700)
    streamed = store.write_table("calls", DAY, spool_calls(pages(calls), KEY, batch_rows=64))
    whole = store.write_table("calls", OTHER_DAY, whole_frame(calls))
    # One row group (the day is below ROW_GROUP_ROWS): what the non-streamed path always wrote.
    assert files(store, streamed) == files(store, whole)
    assert [(a.sha256, a.bytes, a.rows) for a in streamed] == [(a.sha256, a.bytes, a.rows) for a in whole]
    assert streamed[0].rows == len(calls)


def test_a_day_of_several_row_groups_round_trips_with_the_csv_conventions(store: EvidenceStore):
    calls = raw_calls(900)
    artifacts = store.write_table("calls", DAY, _spooled(calls, row_group_rows=200, batch_rows=50, page_size=37))
    parquet, csv_bytes = files(store, artifacts)
    assert pq.ParquetFile(io.BytesIO(parquet)).metadata.num_row_groups == 5  # 4 x 200 + 100
    expected = whole_frame(calls)
    pd.testing.assert_frame_equal(store.read_table("calls", DAY), expected)
    # The CSV is what the whole frame's CSV is: formula cells neutralised, ISO timestamps, big ids.
    assert csv_bytes == formats.csv_blob(formats.arrow_table(expected)).bytes()
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert len(rows) == len(calls)
    assert rows[0]["country_code_a2"] == "'=HYPERLINK(\"https://evil.invalid\")"
    assert rows[0]["started_at"].endswith("Z") and "T" in rows[0]["started_at"]
    # What the store reports is what is stored, as the manifest will hash it.
    assert [store.stored_artifact(a.path) for a in artifacts] == artifacts
    assert artifacts[0].rows == artifacts[1].rows == len(calls)


def _spooled(calls: list[dict], *, row_group_rows: int, batch_rows: int, page_size: int = 50) -> SpooledTable:
    table = SpooledTable(row_group_rows=row_group_rows)
    normalizer = normalize.CallNormalizer(KEY)
    for page in pages(calls, page_size):
        normalizer.add_page(page)
        while normalizer.pending >= batch_rows:
            table.write(normalizer.take(batch_rows))
    table.write(normalizer.take())
    return table


def test_the_bytes_do_not_depend_on_how_the_rows_were_batched(local_store: EvidenceStore):
    calls = raw_calls(650)
    one = _spooled(calls, row_group_rows=200, batch_rows=64, page_size=50)
    other = _spooled(calls, row_group_rows=200, batch_rows=333, page_size=7)
    a, b = one.finish(), other.finish()
    assert (a.sha256, a.size) == (b.sha256, b.size) and a.bytes() == b.bytes()
    assert one.csv_blob().bytes() == other.csv_blob().bytes()


def test_streamed_rerun_with_identical_data_is_a_no_op(store: EvidenceStore):
    calls = raw_calls(400)
    first = store.write_table("calls", DAY, spool_calls(pages(calls), KEY, batch_rows=100))
    again = store.write_table("calls", DAY, spool_calls(pages(calls, 13), KEY, batch_rows=77))
    assert again == first
    assert store.backend.list(FOLDER) == sorted(a.path for a in first)
    # Changed data is a new attempt next to the first, which stays as it was.
    changed = store.write_table("calls", DAY, spool_calls(pages(calls[:-1]), KEY))
    assert [a.path for a in changed] == [f"{FOLDER}/calls.attempt-2.parquet", f"{FOLDER}/calls.attempt-2.csv"]
    assert changed[0].rows == len(calls) - 1


def test_an_empty_day_streams_to_the_same_files_as_an_empty_frame(store: EvidenceStore):
    streamed = store.write_table("calls", DAY, spool_calls(iter([]), KEY))
    whole = store.write_table("calls", OTHER_DAY, whole_frame([]))
    assert files(store, streamed) == files(store, whole)
    assert streamed[0].rows == streamed[1].rows == 0
    assert store.read_table("calls", DAY).columns.tolist() == list(normalize.CALLS)


def nothing_published(store: EvidenceStore, tmp_path: Path) -> None:
    assert store.backend.list("aircall") == []
    if store.backend.uri.startswith("s3://"):
        listed = store.backend.client.list_objects_v2(Bucket=store.backend.bucket).get("Contents", [])
        assert listed == []
    else:
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # not even a hidden temporary file


def test_a_fetch_failing_mid_day_publishes_nothing(store: EvidenceStore, tmp_path):
    calls = raw_calls(300)

    def failing():
        yield from pages(calls[:200])
        raise ConnectionError("the API went away mid-day")

    with pytest.raises(ConnectionError):
        spool_calls(failing(), KEY, batch_rows=64)
    nothing_published(store, tmp_path)


def test_a_failure_while_writing_the_csv_publishes_nothing(store: EvidenceStore, tmp_path, monkeypatch):
    calls = raw_calls(500)
    table = _spooled(calls, row_group_rows=100, batch_rows=64)
    real, seen = formats._csv_ready, []

    def failing(batch):
        seen.append(batch.num_rows)
        if len(seen) == 3:
            raise OSError("disk full")
        return real(batch)

    monkeypatch.setattr(formats, "_csv_ready", failing)
    with pytest.raises(OSError, match="disk full"):
        store.write_table("calls", DAY, table)
    nothing_published(store, tmp_path)
    monkeypatch.setattr(formats, "_csv_ready", real)
    # The same day written again afterwards is a clean first attempt.
    artifacts = store.write_table("calls", DAY, _spooled(calls, row_group_rows=100, batch_rows=64))
    assert [a.path for a in artifacts] == [f"{FOLDER}/calls.parquet", f"{FOLDER}/calls.csv"]


def test_batches_with_other_columns_are_refused(local_store: EvidenceStore):
    table = SpooledTable()
    table.write(whole_frame(raw_calls(3)))
    with pytest.raises(EvidenceStoreError, match="same columns and types"):
        table.write(pd.DataFrame({"call_id": [1]}))
    with pytest.raises(EvidenceStoreError, match="no batch at all"):
        local_store.write_table("calls", DAY, SpooledTable())


def test_the_manifest_lists_the_streamed_files_as_stored(store: EvidenceStore):
    calls = raw_calls(450)
    manifest = seal_day(store, DAY, tables={"calls": _spooled(calls, row_group_rows=100, batch_rows=64)},
                        checks=CHECKS, fields=fields())
    listed = {a["path"]: a for a in json.loads(store.backend.get(manifest.path))["artifacts"]}
    for path in (f"{FOLDER}/calls.parquet", f"{FOLDER}/calls.csv"):
        data = store.backend.get(path)
        assert listed[path]["sha256"] == hashlib.sha256(data).hexdigest()
        assert listed[path]["bytes"] == len(data)
        assert listed[path]["rows"] == len(calls)
    assert store.verify(DAY).ok


def test_the_io_manager_stores_a_spooled_table_with_the_frames_metadata(tmp_path):
    calls = raw_calls(120)
    daily = dg.DailyPartitionsDefinition(start_date="2026-03-01")

    @dg.asset(key=["aircall", "calls"], partitions_def=daily)
    def streamed_calls():
        return spool_calls(pages(calls), KEY, batch_rows=50)

    @dg.asset(key=["aircall", "recorded"], partitions_def=daily,
              ins={"calls": dg.AssetIn(key=["aircall", "calls"], metadata={"columns": ["has_recording"]})})
    def recorded(calls: pd.DataFrame) -> pd.DataFrame:
        assert calls.columns.tolist() == ["has_recording"] and len(calls) == 120
        return calls

    root = tmp_path / "evidence"
    io_manager = EvidenceIOManager(evidence=EvidenceResource(evidence_uri=str(root), s3=S3Resource()))
    result = dg.materialize([streamed_calls, recorded], partition_key=DAY, resources={"io_manager": io_manager})
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["aircall", "calls"])]
    metadata = event.materialization.metadata
    assert metadata[ROW_COUNT_KEY].value == 120
    frame = whole_frame(calls)
    assert {c.name: c.type for c in metadata[COLUMN_SCHEMA_KEY].value.columns} == {
        str(c): str(t) for c, t in frame.dtypes.items()}
    assert "first 5 of 120 rows" in metadata["preview"].value
    store = EvidenceStore.from_uri(root)
    assert [a["sha256"] for a in metadata["artifacts"].value] == [
        store.stored_artifact(p).sha256 for p in (f"{FOLDER}/calls.parquet", f"{FOLDER}/calls.csv")]
    pd.testing.assert_frame_equal(store.read_table("calls", DAY), frame)
    # A rerun of the same day with the same calls is a no-op.
    before = sorted(p.name for p in (root / FOLDER).iterdir())
    assert dg.materialize([streamed_calls], partition_key=DAY, resources={"io_manager": io_manager}).success
    assert sorted(p.name for p in (root / FOLDER).iterdir()) == before


def test_ac10_reads_only_the_calls_columns_it_uses():
    [rule] = [r for r in RULES if r.spec.check_id == "AC-10"]
    assert set(rule.columns["calls"]) < set(normalize.CALLS)
    calls = whole_frame(raw_calls(200))
    full = rules.recording_posture(calls, policy="required", min_share=0.5)
    subset = rules.recording_posture(calls[list(rule.columns["calls"])], policy="required", min_share=0.5)
    assert (subset.status, subset.observed, subset.reason) == (full.status, full.observed, full.reason)
    pd.testing.assert_frame_equal(subset.findings, full.findings)


@pytest.mark.parametrize("tail", [64, 1024 * 1024])
def test_stored_parquet_rows_come_from_the_footer_whether_or_not_it_is_in_the_kept_tail(store, monkeypatch, tail):
    import aircall_pipeline.evidence.stored as store_module

    monkeypatch.setattr(store_module, "PARQUET_TAIL", tail)
    calls = raw_calls(300)
    artifacts = store.write_table("calls", DAY, _spooled(calls, row_group_rows=100, batch_rows=64))
    assert [store.stored_artifact(a.path) for a in artifacts] == artifacts
    assert store.stored_artifact(artifacts[0].path).rows == 300


def test_csv_rows_are_counted_in_one_pass_honouring_quoted_newlines():
    count = formats.count_csv_rows
    assert count(iter([])) == 0 and count(iter([b""])) == 0 and count(iter([b"a,b\n"])) == 0
    assert count(iter([b"a,b\n1,2"])) == 1  # a last record without its line end
    # A quoted value with a newline and a doubled quote, split across chunks, is one value.
    assert count(iter([b'a,b\n1,"x\n', b'y""z"\n2,3\n'])) == 2
    assert count(iter([b'a,b\n1,"x'])) is None  # ends inside a quoted value
    csv_bytes = formats.csv_blob(formats.arrow_table(whole_frame(raw_calls(300)))).bytes()
    assert count(csv_bytes[i:i + 1000] for i in range(0, len(csv_bytes), 1000)) == 300
