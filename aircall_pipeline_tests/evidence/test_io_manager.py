"""EvidenceIOManager through real `dg.materialize` runs: upstream -> downstream, local and S3."""

import dagster as dg
import pandas as pd
import pytest
from dagster_aws.s3 import S3Resource

from aircall_pipeline.evidence.s3_client import s3_client_from_resource
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline.resources.evidence import EvidenceResource
from aircall_pipeline.resources.evidence_io_manager import (
    COLUMN_SCHEMA_KEY,
    ROW_COUNT_KEY,
    EvidenceIOManager,
    markdown_preview,
)
from aircall_pipeline_tests.evidence.conftest import BIG_ID, users_frame

DAY = "2026-03-14"
daily = dg.DailyPartitionsDefinition(start_date="2026-03-01")


@dg.asset(key=["aircall", "users"], partitions_def=daily)
def users(context: dg.AssetExecutionContext) -> pd.DataFrame:
    df = users_frame(("Ada", "Grace", "<b>Linus|</b>"))
    df["day"] = context.partition_key
    return df


@dg.asset(key=["aircall", "user_emails"], partitions_def=daily, ins={"users": dg.AssetIn(key=["aircall", "users"])})
def user_emails(users: pd.DataFrame) -> pd.DataFrame:
    assert users["user_id"].iloc[0] == BIG_ID  # the int64 id survived the round trip exactly
    return users[["user_id", "email"]]


@dg.asset(
    key=["aircall", "ids_only"],
    partitions_def=daily,
    ins={"users": dg.AssetIn(key=["aircall", "users"], metadata={"columns": ["user_id"]})},
)
def ids_only(users: pd.DataFrame) -> pd.DataFrame:
    assert users.columns.tolist() == ["user_id"]
    return users


@dg.asset(key=["aircall", "nothing"], partitions_def=daily)
def nothing() -> None:
    return None


@dg.asset(key=["aircall", "unpartitioned"])
def unpartitioned() -> pd.DataFrame:
    return users_frame()


def materialize(io_manager: EvidenceIOManager, assets=(users, user_emails, ids_only, nothing), **kwargs):
    return dg.materialize(list(assets), partition_key=DAY, resources={"io_manager": io_manager}, **kwargs)


def check_run(result, store: EvidenceStore, uri_prefix: str) -> None:
    assert result.success
    assert store.read_table("user_emails", DAY).columns.tolist() == ["user_id", "email"]
    assert store.read_table("users", DAY)["day"].unique().tolist() == [DAY]
    assert store.dates("nothing") == []  # a None output stores nothing
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == dg.AssetKey(["aircall", "users"])]
    metadata = event.materialization.metadata
    assert metadata[ROW_COUNT_KEY].value == 3
    # The columns, with the stored frame's types, under Dagster's standard key (the UI's Columns tab).
    columns = {c.name: c.type for c in metadata[COLUMN_SCHEMA_KEY].value.columns}
    assert columns == {str(c): str(t) for c, t in users_frame().assign(day=DAY).dtypes.items()}
    [emails] = [e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(["aircall", "user_emails"])]
    assert [c.name for c in emails.materialization.metadata[COLUMN_SCHEMA_KEY].value.columns] == ["user_id", "email"]
    assert metadata["evidence_path"].value == f"{uri_prefix}/aircall/users/date={DAY}/users.parquet"
    assert len(metadata["sha256"].value) == 64
    assert [a["path"] for a in metadata["artifacts"].value] == [
        f"aircall/users/date={DAY}/users.parquet", f"aircall/users/date={DAY}/users.csv"]
    assert "Linus\\|" in metadata["preview"].value  # pipes in cells cannot break the Markdown table


def test_materialize_to_a_local_folder(tmp_path):
    root = tmp_path / "evidence"
    io_manager = EvidenceIOManager(evidence=EvidenceResource(evidence_uri=str(root), s3=S3Resource()))
    result = materialize(io_manager)
    check_run(result, EvidenceStore.from_uri(root), str(root))
    # A rerun of the same partition with the same content is a no-op; files are never replaced.
    before = sorted(p.name for p in (root / "aircall" / "users" / f"date={DAY}").iterdir())
    assert materialize(io_manager).success
    assert sorted(p.name for p in (root / "aircall" / "users" / f"date={DAY}").iterdir()) == before


def test_materialize_to_s3_over_http(s3_env, s3_bucket, s3_client):
    io_manager = EvidenceIOManager(evidence=EvidenceResource(evidence_uri=f"s3://{s3_bucket}/prod", s3=S3Resource()))
    result = materialize(io_manager)
    check_run(result, EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=s3_client), f"s3://{s3_bucket}/prod")
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert f"prod/aircall/user_emails/date={DAY}/user_emails.csv" in keys


def test_missing_bucket_fails_the_step_clearly(s3_env):
    io_manager = EvidenceIOManager(evidence=EvidenceResource(evidence_uri="s3://no-such-bucket-here/prod", s3=S3Resource()))
    result = materialize(io_manager, assets=(users,), raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.event_specific_data.error
    messages = []
    while error is not None:
        messages.append(f"{error.cls_name}: {error.message}")
        error = error.cause
    assert any("EvidenceStoreError" in m and "bucket no-such-bucket-here does not exist" in m for m in messages)


def test_unpartitioned_asset_is_refused(tmp_path):
    io_manager = EvidenceIOManager(evidence=EvidenceResource(evidence_uri=str(tmp_path), s3=S3Resource()))
    with pytest.raises(EvidenceStoreError, match="not partitioned"):
        dg.materialize([unpartitioned], resources={"io_manager": io_manager})


def test_client_from_resource_is_bounded(s3_env):
    client = s3_client_from_resource(S3Resource(max_attempts=10, region_name="eu-west-3"))
    config = client.meta.config
    assert config.retries["total_max_attempts"] == 3
    assert config.connect_timeout == 5.0
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.endpoint_url == s3_env  # AWS_ENDPOINT_URL_S3 is honoured


def test_markdown_preview():
    df = pd.DataFrame({"a": range(10), "b": ["x|y"] * 10})
    text = markdown_preview(df, rows=2)
    assert text.splitlines()[:4] == ["| a | b |", "|---|---|", "| 0 | x\\|y |", "| 1 | x\\|y |"]
    assert "first 2 of 10 rows" in text


HOSTILE = ("[x](https://evil.invalid)", "![i](https://evil.invalid/i.png)", "<https://evil.invalid/login>",
           "https://evil.invalid/raw", "<img src=x onerror=alert(1)>", "a|b", "**bold** _em_ `code`",
           "[ref]: https://evil.invalid", "&#91;x&#93;(https://evil.invalid)")


def _render(markdown: str) -> str:
    # markdown-it-py (CommonMark, installed with Dagster through rich) with GFM tables. It cannot
    # autolink bare URLs as GFM does; the last assertion below covers those.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_preview_renders_values_from_the_api_as_text():
    df = pd.DataFrame({"name": list(HOSTILE), "id": range(len(HOSTILE))})
    html = _render(markdown_preview(df, rows=len(HOSTILE)))
    assert "<a " not in html and "<img" not in html and "<strong>" not in html and "<code>" not in html
    rows = html.split("<tbody>")[1].split("<tr>")[1:]
    assert len(rows) == len(HOSTILE) and all(row.count("<td>") == 2 for row in rows)  # no cell broke out
    # What is shown is the value itself (HTML-escaped by the renderer).
    assert "[x](https://evil.invalid)" in html and "a|b" in html
    assert "https:" not in markdown_preview(df, rows=len(HOSTILE))  # no bare URL left for GFM to autolink
