"""Backfilling call history several days per run: one evidence folder per day, each with that day's
calls; the daily job still writes its one day. Real Dagster runs against the sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_defs
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import DAILY_JOB, HISTORY_JOB, IO_MANAGER, key
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.partitions import pk, registered

TODAY = datetime.now(UTC).date()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
# Four past days, the oldest first: one backfill chunk.
CHUNK = [(TODAY - timedelta(days=n)).isoformat() for n in (6, 5, 4, 3)]


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount(seed=17, calls=800, days=10)


@pytest.fixture
def env(monkeypatch, tmp_path, make_sandbox, account) -> dict[str, str]:
    server = make_sandbox(account=account, rate_limit=600, window_seconds=6)
    values = deployment_env(server, account, tmp_path, api_id="sandbox-api-id", api_token="sandbox-api-token")
    values["AIRCALL_BACKFILL_DAYS_PER_RUN"] = str(len(CHUNK))
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def expected_ids(account: SandboxAccount, day: str) -> set[int]:
    """The sandbox's calls that started during `day` (UTC)."""
    start = int(datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC).timestamp())
    return {account.call(i)["id"] for i in account.call_range(start - 1, start + 86400 - 1)}


def materializations(result, table: str) -> dict[str, dict]:
    """{partition: metadata} of the run's materializations of `table`."""
    return {e.partition.rpartition("|")[2]: e.materialization.metadata for e in result.get_asset_materialization_events()
            if e.asset_key == key(table)}


def test_one_run_over_several_days_files_each_day_in_its_own_folder(env, account):
    defs = build_defs(Settings.from_env())
    job = defs.resolve_job_def(HISTORY_JOB)
    assert job.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=len(CHUNK))

    # The tags the backfill daemon gives a chunk's run (see the queue test in operations/).
    tags = {ASSET_PARTITION_RANGE_START_TAG: pk(CHUNK[0]), ASSET_PARTITION_RANGE_END_TAG: pk(CHUNK[-1])}
    result = job.execute_in_process(instance=registered(), tags=tags)
    assert result.success

    store = EvidenceStore.from_uri(env["EVIDENCE_URI"])
    assert store.dates("calls") == CHUNK and store.dates("call_windows") == CHUNK
    calls_meta, windows_meta = materializations(result, "calls"), materializations(result, "call_windows")
    assert sorted(calls_meta) == sorted(windows_meta) == CHUNK
    for day in CHUNK:
        calls = store.read_table("calls", day)
        want = expected_ids(account, day)
        assert want and set(calls["call_id"]) == want, day  # that day's calls, all of them, nothing else
        assert len(calls) == len(want)  # each once
        windows = store.read_table("call_windows", day)
        assert int(windows["meta_total"].sum()) == len(want)
        # Every day's materialization describes that day's files only.
        meta = calls_meta[day]
        assert meta["dagster/row_count"].value == len(want)
        assert meta["evidence_path"].value.endswith(f"aircall/calls/date={day}/calls.parquet")
        assert [a["path"] for a in meta["artifacts"].value] == [
            f"aircall/calls/date={day}/calls.parquet", f"aircall/calls/date={day}/calls.csv"]
        assert meta["api_requests"].value["/v1/calls"]["requests"] >= 1
        assert windows_meta[day]["calls_expected"].value == len(want)
        assert windows["complete"].all()

    # The daily job still collects exactly its one day, alongside the backfilled ones.
    daily = defs.resolve_job_def(DAILY_JOB)
    day_result = daily.execute_in_process(partition_key=pk(YESTERDAY), instance=registered())
    assert day_result.success
    assert store.dates("calls") == [*CHUNK, YESTERDAY]
    assert list(materializations(day_result, "calls")) == [YESTERDAY]
    assert set(store.read_table("calls", YESTERDAY)["call_id"]) == expected_ids(account, YESTERDAY)
    assert store.verify(YESTERDAY).ok


def test_a_single_frame_for_several_days_is_refused(env):
    """A multi-day run must hand the IO manager one frame per day, never one frame it would file
    under a single day."""
    from aircall_pipeline.definitions import build_resources

    @dg.asset(key=key("calls"), io_manager_key=IO_MANAGER,
              partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"),
              backfill_policy=dg.BackfillPolicy.multi_run(4), retry_policy=dg.RetryPolicy(max_retries=2))
    def calls(context):
        import pandas as pd

        return pd.DataFrame({"call_id": [1, 2]})

    resources = build_resources(Settings.from_env())
    tags = {ASSET_PARTITION_RANGE_START_TAG: CHUNK[0], ASSET_PARTITION_RANGE_END_TAG: CHUNK[-1]}
    result = dg.materialize([calls], resources=resources, tags=tags, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error, messages = failure.event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any("one frame per day" in m for m in messages)
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)  # it would fail again
    assert EvidenceStore.from_uri(env["EVIDENCE_URI"]).dates("calls") == []
