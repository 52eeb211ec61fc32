"""Benchmark: a fleet of sandbox accounts scheduled by the real daemon, one evidence day each.

N accounts (BENCH_FLEET_ACCOUNTS, default 100; 5 for a quick look), each its own SandboxServer in
this process (a few users and calls, its own api_id/api_token, its own budget of 600 requests per
6 s, the pipeline's the same, so the deployment is what paces), listed in one AIRCALL_ACCOUNTS_FILE
with its own credential variables, evidence folder, owner files, a timezone from a spread and a
schedule_cron that has already fired today there. A fresh DAGSTER_HOME with the repository's
dagster.yaml (its run queue: 4 runs at once, one per account), and the deployment's shape: a real
`dagster code-server start -m aircall_pipeline.definitions` named by the workspace as a grpc_server,
and a real `dagster-daemon run -w` beside it (see Daemon). Nothing is launched by the benchmark: the
registry sensor registers the accounts, the scheduler sensor `aircall_daily_scheduler` asks for each
account's previous local day (run key `<account>:<day>`), the run queue starts them. The benchmark
waits until every account's day is sealed (a successful `aircall_daily_evidence` run each), then
for one more scheduler tick (a duplicate would show there), or BENCH_FLEET_TIMEOUT seconds.

Measured: accounts sealed per minute; CPU-seconds of the daemon's whole process tree (the daemon,
its code server, every run worker: /proc, or psutil when installed, every 0.5 s; a process that
ended is counted through its parent's reaped-children times, so the total is exact), per account;
peak RSS of each kind of process (the kernel's high-water mark); the scheduler sensor's tick
durations (the instance's ticks); failures; runs per account and per run key; and each account's
evidence verified as `aircall-pipeline verify` does (EvidenceStore.verify with the trusted key).

Timezones whose previous day is not due yet (local time before 00:30, the settle margin) or whose
next day would fall due before the timeout are left out of the spread, and named.

Prints one Markdown section on stdout (scripts/bench.py collects it into bench/RESULTS.md);
progress goes to stderr.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aircall_pipeline.ingest.partitions import account_of_key, day_of  # noqa: E402
from aircall_pipeline.ingest.timing import CALLS_SETTLE  # noqa: E402
from aircall_pipeline.names import (  # noqa: E402
    ACCOUNT_TAG,
    ACCOUNTS_PARTITIONS,
    DAILY_JOB,
    REGISTRY_SENSOR,
    SCHEDULER_SENSOR,
)
from aircall_pipeline_tests.fixtures.servers import free_port  # noqa: E402

ACCOUNTS = int(os.environ.get("BENCH_FLEET_ACCOUNTS") or 100)
TIMEOUT = float(os.environ.get("BENCH_FLEET_TIMEOUT") or 300 + 30 * ACCOUNTS)
RATE, WINDOW = 600, 6  # requests per window (s), each sandbox and each account's budget alike
SAMPLE_SECONDS = 0.5
SETTLE_TICK_TIMEOUT = 180  # seconds to wait for the scheduler tick after the last seal
BIN = Path(sys.executable).parent
LOCATION = "aircall_pipeline.definitions"
# A spread of UTC offsets, -11 h to +14 h (half and quarter hours included).
ZONES = (
    "UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles",
    "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Auckland", "Europe/Moscow", "America/Chicago",
    "Asia/Shanghai", "Africa/Cairo", "America/Denver", "Asia/Dubai", "Pacific/Honolulu", "Asia/Kathmandu",
    "America/St_Johns", "Atlantic/Azores", "America/Anchorage", "Pacific/Kiritimati", "Pacific/Pago_Pago",
)
# Leaves the measurement alone: the variables a developer's shell may carry into the deployment.
FOREIGN_PREFIXES = ("AIRCALL_", "EVIDENCE_", "ALERT_", "DAGSTER_")
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def log(message: str) -> None:
    print(f"[bench_fleet] {message}", file=sys.stderr, flush=True)


# -- the daemon and its process tree ----------------------------------------------------------------


class Daemon:
    """The deployment's shape (deploy/: a long-lived `dagster code-server start` the workspace names as
    a grpc_server, and `dagster-daemon run -w` beside it), in one process group stopped by its id.

    Why not `dagster-daemon run -m`: a daemon that manages its own code server replaces it every
    60 s (Dagster's RELOAD_WORKSPACE_INTERVAL), and under a sustained queue of runs the replaced ones
    were seen to linger: 29 code servers after an hour, about 2 cores between them, which measured
    Dagster's reload churn rather than the pipeline. The shell starts the code server, waits for its
    health check, then becomes the daemon (`exec`), so the code server, and the run workers it
    starts, are the daemon's descendants and the process-tree sampler counts them all. The code
    server runs with deploy/Dockerfile's arguments (`--heartbeat-ttl 300`: see deploy/README.md)."""

    def __init__(self, env: dict, home: Path):
        self.log_path = home / "daemon.log"
        port = free_port()
        workspace = home / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": port, "location_name": LOCATION}}]}))
        dagster = shlex.quote(str(BIN / "dagster"))
        script = (
            f"{dagster} code-server start -h 127.0.0.1 -p {port} -m {LOCATION} --heartbeat-ttl 300 &\n"
            f"until {dagster} api grpc-health-check -p {port} >/dev/null 2>&1; do sleep 0.5; done\n"
            f"exec {shlex.quote(str(BIN / 'dagster-daemon'))} run -w {shlex.quote(str(workspace))}\n"
        )
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", script], cwd=REPO, env=env,
            stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, instance, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            beats = instance.get_daemon_heartbeats()
            if {"SENSOR", "QUEUED_RUN_COORDINATOR"} <= set(beats):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"the daemon did not start; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def pkey(run) -> str:
    """A run's partition key (`<account>|<date>`), from its tag."""
    return run.tags.get("dagster/partition", "")


def role_of(cmdline: str) -> str:
    if "dagster-daemon" in cmdline:
        return "daemon"
    # DefaultRunLauncher asks the code server to start each run, which it does as a multiprocessing
    # (spawn) child of its own; `dagster api execute_run` is the same run worker started by a CLI.
    if "multiprocessing.spawn" in cmdline or "execute_run" in cmdline or "execute_step" in cmdline \
            or "resume_run" in cmdline:
        return "run worker"
    if "grpc-health-check" in cmdline:
        return "other"  # the start-up wait for the code server (see Daemon)
    if " grpc" in cmdline or "code-server" in cmdline or "code_server" in cmdline:
        return "code server"
    return "other"


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, dict]:
    """pid -> {ppid, start, cpu, ccpu, hwm, cmd} of every process, from /proc (Linux)."""
    ticks, table = _clock_ticks(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rfind(")") + 2:].split()
            hwm = 0
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
                    break
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue  # it ended while being read
        table[int(entry)] = {
            "ppid": int(fields[1]), "start": int(fields[19]),
            "cpu": (int(fields[11]) + int(fields[12])) / ticks, "ccpu": (int(fields[13]) + int(fields[14])) / ticks,
            "hwm": hwm, "cmd": cmd.strip(),
        }
    return table


def _psutil_table(root: int) -> dict[int, dict]:
    import psutil

    table = {}
    try:
        procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.Error:
        return table
    for p in procs:
        try:
            with p.oneshot():
                t = p.cpu_times()
                table[p.pid] = {"ppid": p.ppid(), "start": p.create_time(), "cpu": t.user + t.system,
                                "ccpu": t.children_user + t.children_system, "hwm": p.memory_info().rss,
                                "cmd": " ".join(p.cmdline())}
        except psutil.Error:
            continue
    return table


class TreeSampler(threading.Thread):
    """Samples the daemon's process tree every 0.5 s. The exact CPU total at any moment is the sum,
    over the live processes of the tree, of their own and their reaped children's CPU, plus the
    last-seen CPU of processes that ended without a live parent of the tree to reap them. Each
    process's own CPU also goes to its kind ("role"): that split misses the last half-second of a
    process that ended between samples, shown as the remainder."""

    def __init__(self, root: int):
        super().__init__(daemon=True, name="tree-sampler")
        self.root = root
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.procs: dict[tuple, dict] = {}  # (pid, start) -> last sample + role + parent
        self.live: set[tuple] = set()
        self.orphaned_cpu = 0.0
        self.total = 0.0
        self.samples = 0
        try:
            import psutil  # noqa: F401

            self.backend = "psutil"
        except ImportError:
            self.backend = "/proc"

    def run(self) -> None:
        while not self.halt.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        table = _psutil_table(self.root) if self.backend == "psutil" else _proc_table()
        children = defaultdict(list)
        for pid, info in table.items():
            children[info["ppid"]].append(pid)
        tree, todo = [], [self.root] if self.root in table else []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        with self.lock:
            live = set()
            for pid in tree:
                info = table[pid]
                key = (pid, info["start"])
                parent = table.get(info["ppid"])
                entry = self.procs.setdefault(key, {"role": None, "hwm": 0, "first": time.time(),
                                                    "parent": (info["ppid"], parent["start"]) if parent else None})
                if entry["role"] is None and info["cmd"]:
                    entry["role"] = role_of(info["cmd"])
                    entry["cmd"] = info["cmd"][:300]
                entry.update(cpu=info["cpu"], ccpu=info["ccpu"], last=time.time())
                entry["hwm"] = max(entry["hwm"], info["hwm"])
                live.add(key)
            for key in self.live - live:  # ended since the last sample
                entry = self.procs[key]
                if entry["parent"] not in live:  # no live process of the tree reaped it
                    self.orphaned_cpu += entry["cpu"] + entry["ccpu"]
            self.live = live
            current = sum(self.procs[k]["cpu"] + self.procs[k]["ccpu"] for k in live) + self.orphaned_cpu
            self.total = max(self.total, current)
            self.samples += 1

    def snapshot(self) -> dict:
        """A fresh sample, then the figures so far."""
        self.sample()
        with self.lock:
            by_role: dict[str, dict] = defaultdict(lambda: {"count": 0, "cpu": 0.0, "peak_rss": 0, "cpus": []})
            for entry in self.procs.values():
                row = by_role[entry["role"] or "other"]
                row["count"] += 1
                row["cpu"] += entry["cpu"]
                row["cpus"].append(entry["cpu"])
                row["peak_rss"] = max(row["peak_rss"], entry["hwm"])
            return {"total": self.total, "roles": dict(by_role), "samples": self.samples, "at": time.time()}

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)


# -- the fleet --------------------------------------------------------------------------------------


def usable_zones(now: datetime, horizon: float) -> tuple[list[str], list[str]]:
    """Zones whose previous local day is due now and stays the only due day for `horizon` seconds."""
    usable, left_out = [], []
    for zone in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=ZoneInfo(zone))
        due_from = midnight + CALLS_SETTLE + timedelta(minutes=2)
        next_due = midnight + timedelta(days=1) + CALLS_SETTLE
        if local >= due_from and local + timedelta(seconds=horizon) < next_due:
            usable.append(zone)
        else:
            left_out.append(f"{zone} ({local:%H:%M} local)")
    return usable, left_out


def cron_for(i: int, local: datetime) -> str:
    """Every other account fires every minute; the others once a day, at a local time already past."""
    if i % 2 == 0:
        return "* * * * *"
    fired = max(local - timedelta(minutes=5 + i % 50), local.replace(hour=0, minute=0))
    return f"{fired.minute} {fired.hour} * * *"


def build_fleet(work: Path, now: datetime) -> tuple[list[dict], dict, list[str]]:
    from aircall_pipeline.sandbox.data import SandboxAccount
    from aircall_pipeline.sandbox.owner_files import write_owner_files
    from aircall_pipeline.sandbox.server import SandboxServer

    zones, left_out = usable_zones(now, TIMEOUT + SETTLE_TICK_TIMEOUT)
    if not zones:
        raise SystemExit("bench_fleet: no timezone is usable right now (see usable_zones)")
    fleet, env, lines = [], {}, ["accounts:"]
    for i in range(ACCOUNTS):
        name, zone = f"fleet_{i:03d}", zones[i % len(zones)]
        local = now.astimezone(ZoneInfo(zone))
        account = SandboxAccount(seed=1000 + i, users=4, teams=1, numbers=2, calls=90, days=3,
                                 company_name=f"Fleet {i:03d}")
        api_id, token = f"id-{name}", f"tok-{name}-{os.urandom(6).hex()}"
        server = SandboxServer(account, api_id=api_id, api_token=token, rate_limit=RATE,
                               window_seconds=WINDOW).start()
        owner = write_owner_files(account, work / "inputs" / name)
        upper = name.upper()
        env[f"AIRCALL_{upper}_API_ID"], env[f"AIRCALL_{upper}_API_TOKEN"] = api_id, token
        evidence = work / "evidence" / name
        cron = cron_for(i, local)
        lines += [f"  - name: {name}", f"    api_url: {server.url}",
                  f"    api_id_env: AIRCALL_{upper}_API_ID", f"    api_token_env: AIRCALL_{upper}_API_TOKEN",
                  f"    evidence_uri: {evidence}", f"    timezone: {zone}", f'    schedule_cron: "{cron}"',
                  f"    rate_limit_per_minute: {RATE}", f"    roles_uri: {owner['AIRCALL_ROLES_URI']}",
                  f"    roster_uri: {owner['AIRCALL_ROSTER_URI']}", f"    policy_file: {owner['AIRCALL_POLICY_FILE']}"]
        fleet.append({"name": name, "zone": zone, "cron": cron, "server": server, "evidence": evidence,
                      "day": (local.date() - timedelta(days=1)).isoformat()})
    path = work / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n")
    env["AIRCALL_ACCOUNTS_FILE"] = str(path)
    return fleet, env, left_out


def scheduler_ticks(instance, name: str) -> list:
    ticks = []
    for state in instance.all_instigator_state():
        if getattr(state.instigator_type, "value", state.instigator_type) == "SENSOR" and \
                state.instigator_name == name:
            ticks += instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return sorted(ticks, key=lambda t: t.timestamp)


def event_time(instance, run_id: str, kind: str) -> float | None:
    """When the run's first `kind` event was stored (RUN_STARTING: the queue handed it to the launcher)."""
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType[kind], limit=1).records
    return records[0].event_log_entry.timestamp if records else None


def failure_message(instance, run_id: str) -> str:
    import dagster as dg

    for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        records = instance.get_records_for_run(run_id, of_type=kind, limit=1).records
        for record in records:
            event = record.event_log_entry.dagster_event
            data = getattr(event, "event_specific_data", None)
            error = getattr(data, "error", None)
            text = error.message if error is not None else (record.event_log_entry.message or "")
            return " ".join(text.split())[:300]
    return "(no failure event)"


def measure(work: Path) -> dict:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from aircall_pipeline.evidence.signing import TrustedKey, keygen
    from aircall_pipeline.evidence.store import EvidenceStore

    now = datetime.now(UTC)
    home = work / "home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    key_path = work / "keys" / "evidence_signing_key"
    keygen(key_path)
    log(f"starting {ACCOUNTS} sandbox accounts ...")
    fleet, fleet_env, left_out = build_fleet(work, now)
    base = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
    env = {**base, **fleet_env,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "DAGSTER_HOME": str(home), "EVIDENCE_URI": str(work / "evidence" / "_default"),
           "AIRCALL_LIMITER_URL": f"sqlite:///{work / 'limiter.sqlite'}",
           "AIRCALL_RATE_LIMIT_PER_MINUTE": str(RATE), "AIRCALL_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
           "AIRCALL_PII_HASH_KEY": "bench-fleet-" + "k" * 40, "EVIDENCE_SIGNING_KEY": f"file:{key_path}"}
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    by_name = {a["name"]: a for a in fleet}
    rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    started = time.time()
    daemon = Daemon(env, home)
    sampler = TreeSampler(daemon.proc.pid)
    sampler.start()
    timeline: dict[str, float] = {}
    max_started = 0
    try:
        log("waiting for the daemon ...")
        daemon.wait_ready(instance)
        timeline["ready"] = time.time()
        at_ready = sampler.snapshot()
        deadline = time.monotonic() + TIMEOUT
        records, at_first_run, last_log = [], None, time.monotonic()
        while True:
            if "registered" not in timeline and \
                    len(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS)) >= ACCOUNTS:
                timeline["registered"] = time.time()
                log("every account is registered")
            records = instance.get_run_records(dg.RunsFilter(job_name=DAILY_JOB))
            if records and at_first_run is None:
                at_first_run = sampler.snapshot()
                timeline["first_run"] = min(r.create_timestamp.timestamp() for r in records)
                log(f"the scheduler launched {len(records)} run(s)")
            statuses = [r.dagster_run.status.value for r in records]
            max_started = max(max_started, statuses.count("STARTED") + statuses.count("STARTING"))
            sealed = {account_of_key(pkey(r.dagster_run)) for r in records
                      if r.dagster_run.status.value == "SUCCESS"}
            ended = {account_of_key(pkey(r.dagster_run)) for r in records
                     if r.dagster_run.status.value in FINISHED}
            pending = [s for s in statuses if s not in FINISHED]
            if len(sealed) >= ACCOUNTS or (len(ended) >= ACCOUNTS and not pending):
                break
            if time.monotonic() > deadline:
                log(f"timed out after {TIMEOUT:.0f} s: {len(sealed)} of {ACCOUNTS} sealed")
                timeline["timed_out"] = time.time()
                break
            if time.monotonic() - last_log >= 30:
                last_log = time.monotonic()
                log(f"{len(sealed)} sealed, {len(pending)} queued or running, {len(records)} runs")
            time.sleep(1)
        at_sealed = sampler.snapshot()
        timeline["sealed"] = time.time()
        log(f"{len(sealed)} of {ACCOUNTS} sealed; waiting for the scheduler's next tick ...")
        settle_deadline = time.monotonic() + SETTLE_TICK_TIMEOUT
        while time.monotonic() < settle_deadline:
            ticks = scheduler_ticks(instance, SCHEDULER_SENSOR)
            if any(t.timestamp > timeline["sealed"] and t.end_timestamp for t in ticks):
                timeline["settle_tick"] = time.time()
                break
            time.sleep(2)
        records = instance.get_run_records(dg.RunsFilter(job_name=DAILY_JOB))
        ticks = scheduler_ticks(instance, SCHEDULER_SENSOR)
        registry_ticks = scheduler_ticks(instance, REGISTRY_SENSOR)
        launched_at = {r.dagster_run.run_id: event_time(instance, r.dagster_run.run_id, "RUN_STARTING")
                       for r in records}
        load_after = os.getloadavg()
        failed = {r.dagster_run.run_id: (account_of_key(pkey(r.dagster_run)), r.dagster_run.status.value,
                                         failure_message(instance, r.dagster_run.run_id))
                  for r in records if r.dagster_run.status.value in ("FAILURE", "CANCELED")}
    finally:
        daemon.stop()
        sampler.stop()
        for account in fleet:
            stats = account["server"].stats()
            account["requests"], account["rate_limited"] = stats["requests"], stats["rate_limited"]
            account["server"].stop()
    rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lifetime = sampler.snapshot()
    others = Counter(e.get("cmd", "?")[:120] for e in sampler.procs.values() if e["role"] in (None, "other"))
    for cmd, count in others.most_common(8):
        log(f"other process x{count}: {cmd}")
    reaped = (rusage_after.ru_utime + rusage_after.ru_stime) - (rusage_before.ru_utime + rusage_before.ru_stime)

    trusted = TrustedKey.from_pem_file(key_path.with_name(key_path.name + ".pub"))
    verified, not_verified = 0, []
    for account in fleet:
        try:
            result = EvidenceStore.from_uri(account["evidence"]).verify(account["day"], trusted=trusted)
        except Exception as exc:  # noqa: BLE001 - a verdict per account, whatever went wrong
            not_verified.append(f"{account['name']}: {type(exc).__name__}: {exc}"[:300])
            continue
        if result.authenticated:
            verified += 1
        else:
            not_verified.append(f"{account['name']} {account['day']}: {result.verdict()}"[:300])

    runs = [r.dagster_run for r in records]
    per_account = Counter(account_of_key(pkey(r)) for r in runs)
    per_key = Counter(r.tags.get("dagster/run_key") or f"{account_of_key(pkey(r))}:{day_of(pkey(r))}"
                      for r in runs)
    wrong_day = [f"{pkey(r)} (expected {by_name[account_of_key(pkey(r))]['day']})" for r in runs
                 if account_of_key(pkey(r)) in by_name
                 and day_of(pkey(r)) != by_name[account_of_key(pkey(r))]["day"]]
    wrong_tag = [r.run_id for r in runs if r.tags.get(ACCOUNT_TAG) != account_of_key(pkey(r))]
    success = [r for r in records if r.dagster_run.status.value == "SUCCESS"]
    return {
        "fleet": fleet, "left_out": left_out, "started": started, "timeline": timeline, "records": records,
        "success": success, "failed": failed, "per_account": per_account, "per_key": per_key,
        "wrong_day": wrong_day, "wrong_tag": wrong_tag, "ticks": ticks, "registry_ticks": registry_ticks,
        "at_ready": at_ready, "at_first_run": at_first_run, "at_sealed": at_sealed, "lifetime": lifetime,
        "reaped": reaped, "backend": sampler.backend, "verified": verified, "not_verified": not_verified,
        "max_started": max_started, "log": daemon.log_path, "launched_at": launched_at,
        "orphaned_cpu": sampler.orphaned_cpu, "load": (load_before, load_after),
    }


# -- report -----------------------------------------------------------------------------------------


def fmt_load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.1f}" for x in load)


def mb(n: float) -> str:
    return f"{n / 2**20:.0f} MB"


def tick_rows(ticks) -> tuple[list[float], list]:
    durations = [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp]
    launching = [t for t in ticks if t.tick_data.run_ids]
    return durations, launching


def report(m: dict) -> str:
    ok = lambda good: "✅" if good else "❌"  # noqa: E731
    n, tl = ACCOUNTS, m["timeline"]
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    max_runs = config["concurrency"]["runs"]["max_concurrent_runs"]
    dequeue = config["run_coordinator"]["config"]["dequeue_interval_seconds"]
    success, records = m["success"], m["records"]
    sealed = len({account_of_key(pkey(r.dagster_run)) for r in success})
    last_end = max((r.end_time for r in success if r.end_time), default=tl["sealed"])
    first_create = tl.get("first_run", tl["ready"])
    span_ready = (last_end - tl["ready"]) / 60
    span_runs = (last_end - first_create) / 60
    run_walls = [r.end_time - r.start_time for r in success if r.start_time and r.end_time]
    launched_at = m["launched_at"]
    waits = [launched_at[r.dagster_run.run_id] - r.create_timestamp.timestamp() for r in records
             if launched_at.get(r.dagster_run.run_id)]
    startups = [r.start_time - launched_at[r.dagster_run.run_id] for r in records
                if r.start_time and launched_at.get(r.dagster_run.run_id)]
    at_first, at_sealed, life = m["at_first_run"] or m["at_ready"], m["at_sealed"], m["lifetime"]
    cpu_total = at_sealed["total"]
    cpu_runs_phase = at_sealed["total"] - at_first["total"]
    roles = life["roles"]
    lifetime_seconds = max(life["at"] - m["started"], 1e-9)
    fixed_cpu = sum(roles.get(r, {}).get("cpu", 0.0) for r in ("daemon", "code server"))
    workers = roles.get("run worker", {"count": 0, "cpu": 0.0, "peak_rss": 0, "cpus": []})
    per_run_cpu = workers["cpu"] / workers["count"] if workers["count"] else float("nan")
    split = sum(r["cpu"] for r in roles.values())
    durations, launching = tick_rows(m["ticks"])
    reg_durations, _ = tick_rows(m["registry_ticks"])
    dupes = {k: c for k, c in m["per_key"].items() if c > 1}
    not_one = {a["name"]: m["per_account"].get(a["name"], 0) for a in m["fleet"]
               if m["per_account"].get(a["name"], 0) != 1}
    requests = sum(a.get("requests", 0) for a in m["fleet"])
    limited = sum(a.get("rate_limited", 0) for a in m["fleet"])
    zones = Counter(a["zone"] for a in m["fleet"])
    median_wall = statistics.median(run_walls) if run_walls else float("nan")
    settle_note = ("a scheduler tick after the last seal launched nothing more" if "settle_tick" in tl
                   else f"no scheduler tick completed within {SETTLE_TICK_TIMEOUT} s of the last seal")

    lines = [
        f"## A fleet of {n} accounts scheduled by the daemon (bench_fleet.py)",
        "",
        f"{n} sandbox accounts (in the benchmark's process; 4 users, 90 calls over 3 days each, its own "
        f"credentials and a budget of **{RATE} requests per {WINDOW} s**, the pipeline's the same) in one "
        "AIRCALL_ACCOUNTS_FILE with their own evidence folder, owner files, timezone "
        f"({len(zones)} zones: {', '.join(sorted(zones))}) and schedule_cron (every other one `* * * * *`, "
        "the others a daily time already past). A fresh DAGSTER_HOME with the repository's dagster.yaml "
        f"(at most {max_runs} runs, one per account, a queue pass every {dequeue} s), the real "
        f"`dagster code-server start -m {LOCATION}` (a grpc_server of the workspace, as in deploy/) and "
        "`dagster-daemon run -w` beside it, SQLite storage and limiter. Nothing is launched by the "
        f"benchmark: `{REGISTRY_SENSOR}` registers the accounts, `{SCHEDULER_SENSOR}` asks for each "
        "account's previous local day, the run queue starts them."
        + (f" Left out of the spread (their day not due, or the next one due before the timeout): "
           f"{', '.join(m['left_out'])}." if m["left_out"] else ""),
        "",
        "| accounts | sealed | **sealed per minute** (from daemon ready) | from the first run's creation | "
        "daemon ready | registered | first run created | last seal | median run | max run | "
        "median queue wait | median launch | most runs at once | failures | 429s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {n} | {sealed} {ok(sealed == n)} | **{sealed / span_ready:.1f}** | {sealed / span_runs:.1f} | "
        f"{tl['ready'] - m['started']:.0f} s | "
        + (f"{tl['registered'] - tl['ready']:.0f} s" if "registered" in tl else "never") + " | "
        f"{first_create - tl['ready']:.0f} s | {last_end - tl['ready']:.0f} s | {median_wall:.1f} s | "
        f"{max(run_walls, default=float('nan')):.1f} s | "
        f"{statistics.median(waits) if waits else float('nan'):.0f} s | "
        f"{statistics.median(startups) if startups else float('nan'):.0f} s | {m['max_started']} | "
        f"{len(m['failed'])} {ok(not m['failed'])} | {limited} |",
        "",
        "Times are from the daemon's readiness (its heartbeats) unless said otherwise; run times are "
        "Dagster's own (start to end of each successful run). A run waits for the scheduler's tick (every "
        "60 s), then in the queue (*queue wait*: created to RUN_STARTING), then for its worker process to "
        "start and load the code (*launch*: RUN_STARTING to started); *most runs at once* counts starting "
        f"and started runs. Load average (1, 5, 15 min) before: {fmt_load(m['load'][0])}, at the end: "
        f"{fmt_load(m['load'][1])} (the machine is shared; {os.cpu_count()} cores).",
        "",
        "### CPU and memory",
        "",
        f"The daemon's whole process tree sampled every {SAMPLE_SECONDS} s ({m['backend']}, {life['samples']} "
        "samples); a process that ended is counted through its parent's reaped-children CPU, so the total is "
        f"exact. Over the daemon's whole lifetime (shutdown included) that is {life['total']:.1f} CPU-s, of "
        f"which {m['orphaned_cpu']:.1f} from processes that ended after their parent; the kernel's own count "
        f"(`getrusage(RUSAGE_CHILDREN)` after the daemon exited) is {m['reaped']:.1f} CPU-s: it only holds "
        "processes their parent waited for.",
        "",
        "| | CPU-seconds | per account |",
        "|---|---:|---:|",
        f"| daemon start to last seal, all included | {cpu_total:.1f} | **{cpu_total / n:.2f}** |",
        f"| first run created to last seal | {cpu_runs_phase:.1f} | {cpu_runs_phase / n:.2f} |",
        f"| run workers only (whole lifetime) | {workers['cpu']:.1f} | {per_run_cpu:.2f} per run |",
        "",
        f"The daemon and its code servers together: {fixed_cpu:.1f} CPU-s over {lifetime_seconds:.0f} s "
        f"({fixed_cpu / lifetime_seconds:.2f} CPU-s per second, the sensors' ticks and run submission "
        f"included). One long-lived code server ({roles.get('code server', {}).get('count', 0)} code-server "
        "processes: `dagster code-server start` is a proxy over one gRPC server process), as deploy/ runs it "
        "(Compose's code service, Helm's user deployment); a daemon left to manage its own (`-m`) replaces it "
        "every 60 s, and an earlier run of this benchmark saw 29 replaced ones still alive after an hour.",
        "",
        "| process | count | CPU-seconds (lifetime) | peak RSS (largest one) |",
        "|---|---:|---:|---:|",
    ]
    for role in ("daemon", "code server", "run worker", "other"):
        if role in roles:
            r = roles[role]
            lines.append(f"| {role} | {r['count']} | {r['cpu']:.1f} | {mb(r['peak_rss'])} |")
    lines += [
        f"| (ended between samples, not split) | | {max(life['total'] - split, 0):.1f} | |",
        "",
        "Peak RSS is each process's high-water mark (VmHWM; with psutil, the largest sampled RSS).",
        "",
        "### Scheduler ticks, runs and evidence",
        "",
        f"`{SCHEDULER_SENSOR}`: {len(durations)} ticks, median **{statistics.median(durations):.2f} s**, max "
        f"**{max(durations):.2f} s**; the ticks that launched runs: "
        + (", ".join(f"{len(t.tick_data.run_ids)} runs in {t.end_timestamp - t.timestamp:.2f} s"
                     for t in launching if t.end_timestamp) or "none")
        + f". `{REGISTRY_SENSOR}`: {len(reg_durations)} ticks, max {max(reg_durations, default=0):.2f} s."
        if durations else f"`{SCHEDULER_SENSOR}`: no completed tick.",
        "",
        f"Runs of `{DAILY_JOB}`: {len(records)} for {n} accounts; runs per account: "
        + (f"1 for every account {ok(True)}" if not not_one else
           f"{ok(False)} not 1 for {len(not_one)}: "
           + ", ".join(f"{k} {v}" for k, v in sorted(not_one.items())[:20]))
        + "; run keys with more than one run: "
        + (f"none {ok(True)}" if not dupes else f"{ok(False)} " + ", ".join(f"{k} x{v}" for k, v in dupes.items()))
        + f" ({settle_note}). Runs for another day than the account's previous local day: "
        + (f"none {ok(True)}" if not m["wrong_day"] else f"{ok(False)} " + ", ".join(m["wrong_day"][:10]))
        + ". Runs whose `aircall/account` tag is not their partition's account: "
        + (f"none {ok(True)}" if not m["wrong_tag"] else f"{ok(False)} {len(m['wrong_tag'])}")
        + f". Sandbox requests: {requests:,} ({requests / n:.0f} per account), {limited} answered 429.",
        "",
        f"Evidence verified as `aircall-pipeline verify` does (EvidenceStore.verify with the trusted public "
        f"key): **{m['verified']} of {n}** {ok(m['verified'] == n)}.",
    ]
    for line in m["not_verified"][:10]:
        lines.append(f"- not verified: {line}")
    for run_id, (account, status, message) in list(m["failed"].items())[:10]:
        lines.append(f"- {status} {account} run {run_id[:8]}: {message}")
    if "timed_out" in tl:
        lines.append(f"- **timed out** after {TIMEOUT:.0f} s (BENCH_FLEET_TIMEOUT).")

    # What a K8s deployment would do at 1,000 accounts, from the figures above.
    big = 1000
    quiet = [t.end_timestamp - t.timestamp for t in m["ticks"] if t.end_timestamp and not t.tick_data.run_ids]
    base_tick = statistics.median(quiet) if quiet else 0.0
    launch_ticks = [(len(t.tick_data.run_ids), t.end_timestamp - t.timestamp) for t in launching if t.end_timestamp]
    launched = sum(a for a, _ in launch_ticks)
    per_request = (sum(b for _, b in launch_ticks) - base_tick * len(launch_ticks)) / launched if launched \
        else float("nan")
    waves = -(-big // max_runs)
    queue_hours = waves * median_wall / 3600
    slots_for_hour = -(-int(big * median_wall) // 3600)
    pod_request, pod_limit = 2**30, 2 * 2**30  # deploy/helm/values.yaml runK8sConfig
    memory = ("within its 1 GiB request" if workers["peak_rss"] <= pod_request else
              "within its 2 GiB limit but above its 1 GiB request" if workers["peak_rss"] <= pod_limit else
              "ABOVE its 2 GiB limit")
    tick_at_big = base_tick + per_request * big
    lines += [
        "",
        f"**What a K8s deployment would do at {big:,}.** With K8sRunLauncher (deploy/helm/values.yaml) each "
        f"run is a pod of its own (requests 250m CPU and 1 GiB, limit 2 GiB), so a run worker's figures here "
        f"are a pod's: about {per_run_cpu:.1f} CPU-s and {mb(workers['peak_rss'])} peak RSS per account-day, "
        f"{memory}; {big:,} accounts cost about {big * per_run_cpu / 3600:.1f} CPU-hours of run pods a day "
        f"(at 250m, a pod held to its request would need {per_run_cpu / 0.25:.0f} s of CPU time alone). What "
        f"bounds the time is the run queue: dagster.yaml and the chart allow {max_runs} runs at once, so "
        f"{big:,} account-days are {waves} waves of {max_runs}; at the median run measured here "
        f"({median_wall:.0f} s start to end, {max_runs} at a time on {os.cpu_count()} shared cores; a pod adds "
        "its own scheduling and image start, not measured) that is about "
        f"**{queue_hours:.1f} h** of queue when every account's day falls due at once (one timezone), and "
        f"about {slots_for_hour} runs at once would seal them within an hour. Spread over timezones, each "
        "zone's accounts fall due at their own 00:30 and the queue meets them zone by zone. The scheduler "
        "asks for every due day in one tick, and the sensor daemon creates and submits each run in turn: "
        + (f"a tick that launched nothing took {base_tick:.2f} s (median), a launching tick "
           f"{per_request:.2f} s more per run, so one launching {big:,} would take about "
           f"{tick_at_big / 60:.0f} min against its 60 s interval (Dagster's `sensors: use_threads / "
           "num_submit_workers` in dagster.yaml submits a tick's runs in parallel)"
           if launched else "no tick launched runs here")
        + ". The daemon and the code server do not multiply with the accounts (one process each, "
        f"{mb(roles.get('daemon', {}).get('peak_rss', 0))} and "
        f"{mb(roles.get('code server', {}).get('peak_rss', 0))} peak here); the run pods are the part that "
        "scales with the fleet. `max_concurrent_runs` (and the `aircall_api` pool with it) is the knob; each "
        "account's limit of one run and its own budget are untouched by it.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    # scripts/bench.py ends an overdue benchmark with SIGTERM: exit through the `finally` blocks, so the
    # daemon (its own process group) and its runs are stopped rather than left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"{ACCOUNTS} accounts, timeout {TIMEOUT:.0f} s")
    with tempfile.TemporaryDirectory(prefix="bench_fleet_") as tmp:
        try:
            result = measure(Path(tmp))
            if not result["success"]:
                log(f"no run succeeded; the daemon's log:\n{result['log'].read_text()[-4000:]}")
            print(report(result))
            if os.environ.get("BENCH_FLEET_KEEP_LOG"):  # the daemon's and code server's log, kept for a look
                shutil.copy(result["log"], os.environ["BENCH_FLEET_KEEP_LOG"])
        except BaseException:
            # An hour's run must not end in a bare status 1: say where it broke (bench.py keeps stderr).
            log(f"failed:\n{traceback.format_exc()}")
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
