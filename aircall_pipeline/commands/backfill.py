"""`aircall-pipeline backfill --from D [--to D2]`: a call-history backfill, launched as the UI does.

It asks the Dagster webserver (GraphQL `launchPartitionBackfill`, the UI's "Launch backfill") for an
asset backfill of the call-history assets (`aircall_call_history`'s) over the account's partitions
(`<account>|<date>`), so the daemon cuts it into runs of AIRCALL_BACKFILL_DAYS_PER_RUN days, each
carrying the account's run-limit tag and the backfill priority: a backfill at the speed of the API
budget that never starves the daily run. `dagster job backfill`
would instead submit one run per day itself (README, "Backfills").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aircall_pipeline.commands.accounts import add_account_option, selected_account
from aircall_pipeline.commands.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE
from aircall_pipeline.commands.run import parse_day
from aircall_pipeline.config.settings import SettingsError
from aircall_pipeline.ingest.timing import CollectionTimingError, ensure_within_history
from aircall_pipeline.names import keys

DEFAULT_WEBSERVER = "http://127.0.0.1:3000"  # `make dev` / `dagster dev`
MAX_DAYS = 3660  # ten years: a typo in a year, not a backfill

_WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name locationOrLoadError {
  __typename ... on PythonError { message }
  ... on RepositoryLocation { repositories { name pipelines { name } } } } } }
  ... on PythonError { message } } }
"""
LAUNCH_MUTATION = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
  }
}
"""


class BackfillError(Exception):
    """What went wrong, said for the operator, with the exit status it maps to."""

    def __init__(self, message: str, status: int = EXIT_FAILED):
        super().__init__(message)
        self.status = status


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="launch a call-history backfill through the Dagster webserver (chunked by the daemon)",
        description="Launch a backfill of the account's call history for the days FROM..TO (inclusive), as the "
                    "UI's 'Launch backfill' does: the Dagster daemon cuts it into runs of "
                    "AIRCALL_BACKFILL_DAYS_PER_RUN days that queue behind the account's daily run.",
    )
    parser.add_argument("--from", dest="start", required=True, type=parse_day, metavar="DAY",
                        help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=parse_day, metavar="DAY", help="last day, YYYY-MM-DD (default: --from)")
    parser.add_argument("--webserver", default=DEFAULT_WEBSERVER, metavar="URL",
                        help=f"the Dagster webserver to ask (default {DEFAULT_WEBSERVER}, as `make dev` starts it)")
    add_account_option(parser)
    parser.set_defaults(func=run)


def days_between(start: date, end: date | None) -> list[str]:
    end = end or start
    if end < start:
        raise BackfillError(f"--to {end} is before --from {start}", EXIT_UNUSABLE)
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise BackfillError(f"{count} days from {start} to {end}: more than {MAX_DAYS}; check the years", EXIT_UNUSABLE)
    return [(start + timedelta(days=i)).isoformat() for i in range(count)]


def _graphql(webserver: str, query: str, variables: dict | None = None) -> dict:
    import requests

    url = f"{webserver.rstrip('/')}/graphql"
    try:
        response = requests.post(url, json={"query": query, "variables": variables or {}}, timeout=60)
    except requests.RequestException as exc:
        raise BackfillError(
            f"cannot reach the Dagster webserver at {webserver} ({type(exc).__name__}). Start it (`make dev`, or "
            "the deployment's webserver) or give its address with --webserver URL.", EXIT_UNUSABLE) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "data" not in body:
        errors = (body or {}).get("errors") if isinstance(body, dict) else None
        raise BackfillError(f"{url} answered HTTP {response.status_code}, not Dagster's GraphQL: "
                            f"{errors or response.text[:300]!r}. Is --webserver the Dagster UI's address?")
    if body["data"] is None:  # a GraphQL-level failure: Dagster says why in `errors`
        raise BackfillError(f"the webserver's GraphQL refused the request: {body.get('errors')!r}")
    return body["data"]


def find_job(webserver: str, job: str) -> tuple[str, str]:
    """(code location, repository) of the webserver's workspace that holds `job`."""
    workspace = _graphql(webserver, _WORKSPACE)["workspaceOrError"]
    if workspace.get("__typename") != "Workspace":
        raise BackfillError(f"the webserver could not list its workspace: {workspace.get('message')}")
    broken = []
    for entry in workspace["locationEntries"]:
        location = entry.get("locationOrLoadError") or {}
        if location.get("__typename") == "PythonError":
            broken.append(entry["name"])
        for repository in location.get("repositories") or []:
            if any(p["name"] == job for p in repository["pipelines"]):
                return entry["name"], repository["name"]
    hint = f" Code locations that failed to load: {', '.join(broken)}." if broken else ""
    raise BackfillError(f"no code location of {webserver} has the job {job}: is this pipeline's code location "
                        f"loaded there, with the same accounts file (--account)?{hint}")


def backfill_params(tables: tuple[str, ...], partitions: list[str], tags: dict[str, str] | None = None) -> dict:
    """GraphQL LaunchBackfillParams of an asset backfill: the assets of `tables` over `partitions`
    (`<account>|<date>`), `tags` on every run. An asset backfill, as the UI's "Launch backfill" of
    an asset job: its chunk runs carry only the range tags (`dagster/asset_partition_range_*`).
    A job backfill (`partitionSetName`) of a multi-partitioned job would also copy the first
    partition's dimension tags (`dagster/partition/date`) onto every chunk, and Dagster reads those
    before the range: each chunk would collect its first day only (found by test_ui.py)."""
    return {"assetSelection": [{"path": list(key.path)} for key in keys(tables)],
            "partitionNames": partitions,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}


def launch(webserver: str, job: str, tables: tuple[str, ...], partitions: list[str],
           tags: dict[str, str] | None = None) -> str:
    """The backfill's id: the assets of `job` (`tables`) over `partitions`, once the webserver is
    known to serve this pipeline (`job` in one of its code locations)."""
    find_job(webserver, job)
    answer = _graphql(webserver, LAUNCH_MUTATION, {"params": backfill_params(tables, partitions, tags)})
    answer = answer["launchPartitionBackfill"]
    if answer.get("__typename") != "LaunchBackfillSuccess":
        detail = answer.get("message") or answer.get("invalidStepKey") or answer.get("invalidOutputName") or answer
        raise BackfillError(f"the webserver refused the backfill ({answer.get('__typename')}): {detail}")
    return answer["backfillId"]


def run(args) -> int:
    from aircall_pipeline.ingest.partitions import partition_key
    from aircall_pipeline.names import HISTORY_JOB, HISTORY_TABLES
    from aircall_pipeline.operations.jobs import BACKFILL_PRIORITY, run_tags

    try:
        settings, account = selected_account(args)
        days = days_between(args.start, args.end)
        try:
            today = datetime.now(ZoneInfo(account.timezone)).date()
            ensure_within_history(args.start, today, settings.history_days)
        except CollectionTimingError as exc:
            raise BackfillError(str(exc), EXIT_UNUSABLE) from None
        job = HISTORY_JOB
        # One account's date range: its partitions, tagged with its run limit's key and the backfill priority.
        backfill_id = launch(args.webserver, job, HISTORY_TABLES, [partition_key(account.key, d) for d in days],
                             tags=run_tags(account, priority=BACKFILL_PRIORITY))
    except SettingsError as exc:
        print(f"Configuration error: {exc}")
        return EXIT_UNUSABLE
    except BackfillError as exc:
        print(f"Backfill not launched: {exc}")
        return exc.status
    print(f"Launched backfill {backfill_id} of {job}: {len(days)} day(s), {days[0]} .. {days[-1]}.")
    print("The Dagster daemon cuts it into runs of AIRCALL_BACKFILL_DAYS_PER_RUN days (the code location's "
          "setting), each queued behind the account's daily run.")
    print(f"Follow it at {args.webserver.rstrip('/')}/runs/b/{backfill_id}")
    return EXIT_OK
