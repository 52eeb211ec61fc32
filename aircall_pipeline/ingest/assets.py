"""Raw evidence assets: point-in-time snapshots of the account, and calls per day.

`build_raw_assets(partitions_def)` makes the one set, for every account: every asset is partitioned
by account × evidence date (ingest/partitions.py), and the account of a run is the one its partition
names (`AccountsResource`). It writes through the evidence IO manager (into that account's store)
and calls Aircall only through `AircallResource.client_for(account)`, under the account's own limiter
key (its API budget, shared by every process). API steps share the one `aircall_api` pool, sized for
the run launcher; one run per account at a time (the `aircall/account` tag limit) keeps an
account's steps from competing for its budget.

Backfills of call history fetch several days per run (`BackfillPolicy.multi_run`, `days_per_run`
days, AIRCALL_BACKFILL_DAYS_PER_RUN): Dagster's cost of a run (queueing, a worker process, loading
the code) is then paid once per chunk instead of once per day, so a backfill moves at the speed of
the API budget. Each day is still fetched on its own and filed in its own evidence folder (the
evidence IO manager takes `{day: frame}`). A day's calls are never held whole: they are normalised a
batch at a time into a temporary Parquet file (`spool_calls`, a `SpooledTable`) that the evidence IO
manager publishes, so memory stays flat however busy the day. Why 10 by default: a run costs Dagster about 9 s of
idle budget (bench/RESULTS.md), so a month of history in 3 runs loses ~20 s where 30 runs lose ~4
minutes; yet a daily run queued behind a chunk waits for at most 10 days' fetch: ~150 requests, 2.5
minutes of the real 60-a-minute budget at 700 calls a day, ~35 minutes at 10,000 a day. A very busy
account (50,000 calls a day, ~17 minutes of budget per day) needs a lower setting (1 to 5), both for
that wait and to stay inside the 2-hour `max_runtime_seconds` of deploy/dagster.yaml; a chunk's
days wait in temporary files (calls) and in memory (the small call windows) until it ends.
"""

# No `from __future__ import annotations` here: Dagster reads the context type hints at definition time.
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from aircall_pipeline.aircall.errors import AircallRequestError
from aircall_pipeline.config.settings import DEFAULT_BACKFILL_DAYS_PER_RUN, DEFAULT_HISTORY_DAYS, Account
from aircall_pipeline.evidence.formats import SpooledTable
from aircall_pipeline.ingest import normalize
from aircall_pipeline.ingest.partitions import day_of, day_window, days_of, partition_key
from aircall_pipeline.ingest.pii import hash_key
from aircall_pipeline.ingest.retry import API_RETRY_POLICY, no_retry_on_auth_error, raise_without_retry
from aircall_pipeline.ingest.timing import (
    CollectionTimingError,
    ensure_day_over,
    ensure_snapshot_allowed,
    ensure_within_history,
)
from aircall_pipeline.names import API_POOL, IO_MANAGER, OWNERS, RAW_GROUP, key, out
from aircall_pipeline.registry import AccountsResource
from aircall_pipeline.resources.aircall import AircallResource

KINDS = {"python", "pandas", "parquet"}
# Calls normalised per batch (see `spool_calls`): what a day's calls cost in memory at most, whatever
# the day's size (about 1 KB a call as Python lists, before they become a typed batch).
CALL_BATCH_ROWS = 5_000


def _window(context: dg.AssetExecutionContext, account: Account) -> tuple[datetime, datetime]:
    """The run's day in the account's timezone (local midnight to midnight), as UTC datetimes."""
    return day_window(day_of(context.partition_key), account.timezone)


def _days(context: dg.AssetExecutionContext, account: Account) -> list[tuple[str, datetime, datetime]]:
    """(evidence date, start, end) of every day the run targets, oldest first: one for the daily
    job, up to the BackfillPolicy's chunk for a backfill run."""
    return [(day, *day_window(day, account.timezone)) for day in days_of(context.partition_keys)]


def snapshot_guard(context: dg.AssetExecutionContext, account: Account, label: str) -> None:
    start, end = _window(context, account)
    try:
        ensure_snapshot_allowed(start, end, datetime.now(UTC), label=label)
    except CollectionTimingError as exc:
        raise_without_retry(exc)  # waiting will not make an old day collectable


def _api_metadata(client) -> dict:
    # Row counts are not here: the evidence IO manager adds `dagster/row_count` to every table.
    return {"api_requests": dg.MetadataValue.json(client.stats.as_dict())}


def _stats_since(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The per-endpoint request counts added between two `RequestStats.as_dict()` readings."""
    diff = {}
    for endpoint, counts in after.items():
        old = before.get(endpoint, {})
        delta = {field: value - old.get(field, 0) for field, value in counts.items()}
        if any(delta.values()):
            diff[endpoint] = delta
    return diff


def fetch_number_details(client, log) -> tuple[list[dict], list[dict]]:
    """(every listed number's detail, the listed numbers whose detail answered 404).

    A number deleted between `GET /v1/numbers` and `GET /v1/numbers/:id` is a 404 ("Not found - Id
    does not exist", https://developer.aircall.io/api-references/): a race with the account's
    admins, not a failure of the day. It is kept in the snapshot as vanished, with a warning."""
    detailed, vanished = [], []
    for listed in client.iter_numbers():
        try:
            detailed.append(client.number(listed["id"]))
        except AircallRequestError as exc:
            if exc.status != 404:
                raise
            vanished.append(listed)
            log.warning(f"Number {listed.get('id')} was listed by /v1/numbers but /v1/numbers/{listed.get('id')} "
                        "answered 404: it was deleted while the snapshot was taken; recorded as vanished.")
    return detailed, vanished


def spool_calls(pages, pii_key: bytes, batch_rows: int = CALL_BATCH_ROWS) -> SpooledTable:
    """A day's calls, normalised `batch_rows` at a time into a temporary Parquet file as the pages
    arrive: the evidence IO manager stores it (Parquet + CSV, hashed) without the day ever being in
    memory whole. The batches are cut at fixed row counts, so the same calls give the same files."""
    normalizer = normalize.CallNormalizer(pii_key)
    table = SpooledTable()
    try:
        for page in pages:
            normalizer.add_page(page)
            while normalizer.pending >= batch_rows:
                table.write(normalizer.take(batch_rows))
        normalizer.warn_unknown()
        table.write(normalizer.take())  # the rest; an empty batch still gives an empty day its columns
    except BaseException:
        table.close()  # nothing of a failed day is kept, let alone published
        raise
    return table


def build_raw_assets(partitions_def: dg.PartitionsDefinition, *,
                     days_per_run: int = DEFAULT_BACKFILL_DAYS_PER_RUN,
                     history_days: int = DEFAULT_HISTORY_DAYS) -> list[dg.AssetsDefinition]:
    """The raw assets: company, users, teams (+ members), numbers (+ users), calls (+ windows), for
    every account (the account of a run is its partition's). A backfill of calls fetches
    `days_per_run` days per run, none older than `history_days`."""
    # What every raw asset shares: the account × date partitions, the API pool, the step retry policy.
    step = dict(partitions_def=partitions_def, pool=API_POOL, retry_policy=API_RETRY_POLICY)
    single = dict(**step, group_name=RAW_GROUP, owners=OWNERS, kinds=KINDS, io_manager_key=IO_MANAGER)

    def raw_multi_asset(op: str, backfill_policy: dg.BackfillPolicy | None = None, **descriptions: str):
        """A multi-asset for raw tables that come from one API sweep, one output per table."""
        return dg.multi_asset(
            backfill_policy=backfill_policy,
            name=op,
            outs={out(table): dg.AssetOut(key=key(table), kinds=KINDS, owners=OWNERS, group_name=RAW_GROUP,
                                          description=description, io_manager_key=IO_MANAGER)
                  for table, description in descriptions.items()},
            **step,
        )

    @dg.asset(key=key("company"), **single)
    @no_retry_on_auth_error
    def company(context: dg.AssetExecutionContext, accounts: AccountsResource,
                aircall: AircallResource) -> dg.Output[pd.DataFrame]:
        """The company as Aircall reports it (`GET /v1/company`): name and the user and number counts
        that the inventories are reconciled against (AC-01, AC-09)."""
        account = accounts.for_context(context)
        snapshot_guard(context, account, "company")
        with aircall.client_for(account, context.log) as client:
            raw = client.company()
            df = normalize.company_frame(raw, api_url=client.api_url, collected_at=datetime.now(UTC))
            return dg.Output(df, metadata={**_api_metadata(client), "company": str(raw.get("name")),
                                           "users_count": raw.get("users_count"),
                                           "numbers_count": raw.get("numbers_count")})

    @dg.asset(key=key("users"), **single)
    @no_retry_on_auth_error
    def users(context: dg.AssetExecutionContext, accounts: AccountsResource,
              aircall: AircallResource) -> dg.Output[pd.DataFrame]:
        """Every user of the account (`GET /v2/users`, all pages), as of the run: the population of the
        access review. Names and emails are kept because reviewers need them."""
        account = accounts.for_context(context)
        snapshot_guard(context, account, "users")
        with aircall.client_for(account, context.log) as client:
            df = normalize.users_frame(client.iter_users())
            return dg.Output(df, metadata=_api_metadata(client))

    @dg.asset(key=key("webhooks"), **single)
    @no_retry_on_auth_error
    def webhooks(context: dg.AssetExecutionContext, accounts: AccountsResource,
              aircall: AircallResource) -> dg.Output[pd.DataFrame]:
        """Every webhook of the account (`GET /v1/webhooks`, all pages), as of the run: where Aircall
        sends call and user data outside the phone system (AC-11). Only each destination's scheme and
        host are kept; the shared-secret token and the URL's path, query and credentials never are."""
        account = accounts.for_context(context)
        snapshot_guard(context, account, "webhooks")
        with aircall.client_for(account, context.log) as client:
            df = normalize.webhooks_frame(client.iter_webhooks())
            return dg.Output(df, metadata=_api_metadata(client))

    @raw_multi_asset(
        "teams",
        teams="Teams (`GET /v1/teams`) with their member counts, as of the run.",
        team_members="Who is in which team, one row per membership, as of the run. Teams route calls; they "
                     "are not a permission boundary.",
    )
    @no_retry_on_auth_error
    def teams(context: dg.AssetExecutionContext, accounts: AccountsResource, aircall: AircallResource):
        account = accounts.for_context(context)
        snapshot_guard(context, account, "teams")
        with aircall.client_for(account, context.log) as client:
            teams_df, members_df = normalize.teams_frames(client.iter_teams())
            meta = _api_metadata(client)
        yield dg.Output(teams_df, output_name=out("teams"), metadata=meta)
        yield dg.Output(members_df, output_name=out("team_members"))

    @raw_multi_asset(
        "numbers",
        numbers="The account's phone numbers (`GET /v1/numbers`, then `/v1/numbers/:id` for the users each "
                "one rings), as of the run.",
        number_users="Which user can take calls on which number, as of the run.",
    )
    @no_retry_on_auth_error
    def numbers(context: dg.AssetExecutionContext, accounts: AccountsResource, aircall: AircallResource):
        account = accounts.for_context(context)
        snapshot_guard(context, account, "numbers")
        with aircall.client_for(account, context.log) as client:
            # The list endpoint carries no users[]; one request per number gets them. Accounts have
            # tens of numbers, so this stays a small share of the budget.
            detailed, vanished = fetch_number_details(client, context.log)
            numbers_df, links_df = normalize.numbers_frames(detailed, vanished=vanished)
            meta = _api_metadata(client)
        yield dg.Output(numbers_df, output_name=out("numbers"), metadata=meta)
        yield dg.Output(links_df, output_name=out("number_users"))

    @raw_multi_asset(
        "calls",
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run),
        calls="Calls started during the day (`GET /v1/calls`), fetched in time windows below the API's "
              "10,000-result cap. Minimised: no recording or voicemail URL, no comment text, the external "
              "number as country code + keyed hash.",
        call_windows="Each time window fetched for the day, with the API's `meta.total` and the number of "
                     "calls received: the completeness evidence of AC-14.",
    )
    @no_retry_on_auth_error
    def calls(context: dg.AssetExecutionContext, accounts: AccountsResource, aircall: AircallResource):
        account = accounts.for_context(context)
        days = _days(context, account)
        today = datetime.now(ZoneInfo(account.timezone)).date()
        try:
            ensure_within_history(datetime.fromisoformat(days[0][0]).date(), today, history_days)  # the oldest
            ensure_day_over(days[-1][1], days[-1][2], datetime.now(UTC))  # the newest day decides
        except CollectionTimingError as exc:
            raise_without_retry(exc)  # the schedule will ask again once the day is over
        pii_key = hash_key(aircall.hash_label(account))
        calls_by_day, windows_by_day, requests_by_day = {}, {}, {}
        with aircall.client_for(account, context.log) as client:
            for day, start, end in days:
                # One day at a time, each with its own windows and counts: a day's evidence is the
                # same whether the daily job or a backfill chunk fetched it.
                before = client.stats.as_dict()
                calls_by_day[day] = spool_calls(client.iter_call_pages(start, end), pii_key)
                windows_by_day[day] = normalize.call_windows_frame(client.call_windows)
                requests_by_day[day] = _stats_since(before, client.stats.as_dict())
                context.log.info(f"{calls_by_day[day].rows} calls for {day} in {len(windows_by_day[day])} window(s).")
            meta = _api_metadata(client)
        if len(days) == 1:
            [day] = calls_by_day
            calls_table, windows_df = calls_by_day[day], windows_by_day[day]
            yield dg.Output(calls_table, output_name=out("calls"), metadata=meta)
            yield dg.Output(windows_df, output_name=out("call_windows"),
                            metadata={"calls_expected": int(windows_df["meta_total"].sum())})
            return
        # Several days in one run: every day's materialization carries its own request counts and
        # expected total (the evidence IO manager adds each day's rows, path and hashes).
        for day, windows_df in windows_by_day.items():
            context.add_asset_metadata({"api_requests": dg.MetadataValue.json(requests_by_day[day])},
                                       asset_key=key("calls"), partition_key=partition_key(account.key, day))
            context.add_asset_metadata({"calls_expected": int(windows_df["meta_total"].sum())},
                                       asset_key=key("call_windows"), partition_key=partition_key(account.key, day))
        yield dg.Output(calls_by_day, output_name=out("calls"), metadata={"days_in_run": len(days)})
        yield dg.Output(windows_by_day, output_name=out("call_windows"), metadata={"days_in_run": len(days)})

    return [company, users, webhooks, teams, numbers, calls]
