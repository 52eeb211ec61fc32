"""`aircall-pipeline run [--date D]`: the scheduled job, for one day, in this process.

It runs exactly what the daily schedule runs (same job, same resources from the environment), so a
cron entry or an operator at a terminal gets the same evidence as the Dagster daemon would.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aircall_pipeline.commands.accounts import add_account_option, selected_account
from aircall_pipeline.commands.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE
from aircall_pipeline.config.settings import Account, Settings, SettingsError, dagster_home_set
from aircall_pipeline.ingest.timing import CollectionTimingError, ensure_day_over, ensure_within_history
from aircall_pipeline.names import REPORT, table_of


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="materialize the daily evidence job for one day, in-process",
        description="Run the daily evidence job for one day (default: yesterday in AIRCALL_TIMEZONE) against "
                    "AIRCALL_API_URL, write to EVIDENCE_URI, and print the check results.",
    )
    parser.add_argument("--date", type=parse_day, help="evidence date YYYY-MM-DD (default: yesterday)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="Dagster log level on the console (DEBUG shows every step event)")
    add_account_option(parser)
    parser.set_defaults(func=run)


def parse_day(text: str) -> date:
    """An argparse type: a YYYY-MM-DD day (`run --date`, `backfill --from/--to`)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def default_date(account: Account, now: datetime | None = None) -> date:
    """Yesterday in the account's timezone: the day the schedule would collect now."""
    now = now or datetime.now(ZoneInfo(account.timezone))
    return now.astimezone(ZoneInfo(account.timezone)).date() - timedelta(days=1)


def ensure_collectable(day: date, account: Account, settings: Settings, now: datetime | None = None) -> None:
    """Refuse, before any run starts, a day the calls asset would refuse: past the history horizon,
    or not over plus the settle window yet (the current day included)."""
    tz = ZoneInfo(account.timezone)
    now = (now or datetime.now(tz)).astimezone(tz)
    ensure_within_history(day, now.date(), settings.history_days)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    ensure_day_over(start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz), now)


def _instance():
    import dagster as dg

    # A configured DAGSTER_HOME keeps the run in the same history the UI shows; otherwise the run
    # lives in a throwaway instance and the evidence store is its only record.
    if dagster_home_set():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run(args) -> int:
    try:
        settings, account = selected_account(args)
    except SettingsError as exc:
        print(f"Configuration error: {exc}")
        return EXIT_UNUSABLE
    import dagster as dg

    from aircall_pipeline.config.settings import credentials_from_env
    from aircall_pipeline.definitions import build_defs
    from aircall_pipeline.ingest.partitions import partition_key, register_accounts
    from aircall_pipeline.names import DAILY_JOB
    from aircall_pipeline.operations.jobs import run_tags

    try:
        credentials_from_env(account)  # read again by the run; checked here to say so before starting
    except SettingsError as exc:
        print(f"Cannot start: {exc}")
        return EXIT_UNUSABLE
    try:
        ensure_collectable(args.date or default_date(account), account, settings)
    except CollectionTimingError as exc:
        print(f"Not run: {exc}")
        return EXIT_UNUSABLE
    day = (args.date or default_date(account)).isoformat()
    job = build_defs(settings).resolve_job_def(DAILY_JOB)
    print(f"Collecting Aircall evidence for {day} from {account.api_url} into {account.evidence_uri} ...")
    try:
        with _instance() as instance:
            register_accounts(instance, [account])  # what the registry sensor does, for a run before its tick
            result = job.execute_in_process(
                partition_key=partition_key(account.key, day), instance=instance, raise_on_error=False,
                tags=run_tags(account),
                run_config={"loggers": {"console": {"config": {"log_level": args.log_level}}}},
            )
            return _report(result)
    except dg.DagsterInvalidConfigError as exc:
        # The run could not even start (an EnvVar unset, invalid config): classified like the alert's
        # `config` kind, with advice for a shell rather than for a deployment.
        from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE
        from aircall_pipeline.operations.alerts import scrub
        from aircall_pipeline.operations.failures import diagnose, facts_from_exception

        diagnosis = diagnose(facts_from_exception(exc))
        missing = diagnosis.details.get("missing_variables") or []
        if any(name.startswith("AIRCALL_API_") for name in missing):
            print(f"Cannot start: {diagnosis.headline}. {NEW_KEY_ADVICE}")
        elif missing:
            print(f"Cannot start: {diagnosis.headline}. Export {'it' if len(missing) == 1 else 'them'} "
                  "and run again.")
        else:
            print(scrub(f"Cannot start: {diagnosis.headline}: {exc}"))
        return EXIT_UNUSABLE


def _report(result) -> int:
    evaluations = sorted(result.get_asset_check_evaluations(), key=lambda e: e.asset_key.to_user_string())
    if evaluations:
        print(f"\n{'check':<34} {'status':<6}  observed")
        for ev in evaluations:
            meta = ev.metadata
            status = meta["status"].value if "status" in meta else ("pass" if ev.passed else "fail")
            observed = meta["observed"].value if "observed" in meta else ""
            observed = "-" if observed in ("", "None") else observed
            print(f"{ev.asset_key.path[-1]:<34} {status:<6}  {observed}")
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if table_of(mat.asset_key) == REPORT:
            print(f"\nEvidence written: {mat.metadata['manifest'].value}")
            print(f"Manifest SHA-256: {mat.metadata['manifest_sha256'].value}")
    if result.success:
        return EXIT_OK
    print("\nThe run failed; no manifest was written for this day.")
    for line in failure_report(result):
        print(line)
    return EXIT_FAILED


def failure_report(result) -> list[str]:
    """What the run-failure alert would say about this run (failures.py classifies both): its
    title, what to do, then the root cause; the failed steps last. Scrubbed like an alert."""
    from aircall_pipeline.operations.alerts import scrub
    from aircall_pipeline.operations.failures import diagnose, facts_from_events

    facts = facts_from_events(result.all_events)
    diagnosis = diagnose(facts)
    partition = result.dagster_run.tags.get("dagster/partition") or ""
    lines = [diagnosis.title(partition.rpartition("|")[2] or None)]
    lines += [f"  {line}" for line in diagnosis.text.splitlines() if line.strip()]
    if facts.failed_steps:
        lines.append(f"  Failed steps: {', '.join(facts.failed_steps)}")
    return [scrub(line) for line in lines]
