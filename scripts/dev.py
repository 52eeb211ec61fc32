"""`make dev`: `dagster dev` (UI, daemon, code server) against a sandbox Aircall account.

1. starts `aircall-pipeline sandbox --port 0 --ready-file ...` and waits until it listens;
2. points the pipeline at it (AIRCALL_API_URL/ID/TOKEN), writes the account owner's roles export and
   HR roster for that account (AIRCALL_ROLES_URI/AIRCALL_ROSTER_URI), EVIDENCE_URI=./evidence;
3. runs `dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000` until Ctrl-C, then stops both.

DAGSTER_HOME (the Makefile sets .dagster_home) gets the repository's dagster.yaml on first use:
`dagster dev` ignores ./dagster.yaml when DAGSTER_HOME is set, and the per-account run limit and the
`aircall_api` pool limit live there.

Stopping: `dagster dev` maps SIGTERM to its Ctrl-C handler, but a process that inherits an ignored
SIGINT (anything started in the background by a shell) ignores both. It is therefore started in its
own session with SIGINT restored, asked to stop with SIGTERM, and its whole process group (webserver,
daemon, code server, run workers) is killed if it has not exited after a grace period.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_READY_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 15.0


def _restore_sigint() -> None:
    # Runs in the child between fork and exec: an inherited SIG_IGN would survive exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, preexec_fn=_restore_sigint)


def stop(process: subprocess.Popen | None, name: str, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process, wait, then SIGKILL its process group (it leads its own session)."""
    if process is None:
        return
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            print(f"dev: {name} did not stop within {grace:g} s; killing its process group.", flush=True)
        except ProcessLookupError:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # children left behind (code server, run workers)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def start_sandbox(env: dict[str, str], workdir: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    ready = workdir / "sandbox.url"
    ready.unlink(missing_ok=True)
    process = _spawn([sys.executable, "-m", "aircall_pipeline.cli", "sandbox", "--port", "0",
                      "--ready-file", str(ready), *extra], env)
    deadline = time.monotonic() + SANDBOX_READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready.exists():
            return process, ready.read_text().strip()
        if process.poll() is not None:
            raise SystemExit(f"dev: the sandbox exited with status {process.returncode} before listening.")
        time.sleep(0.1)
    stop(process, "sandbox")
    raise SystemExit(f"dev: the sandbox did not start within {SANDBOX_READY_TIMEOUT:g} s.")


def ensure_instance_config(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(ROOT / "dagster.yaml", target)
    elif target.read_text() != (ROOT / "dagster.yaml").read_text():
        print(f"dev: keeping your {target} (it differs from ./dagster.yaml).", flush=True)


def pipeline_env(home: Path, sandbox_url: str, evidence: str, port: int, seed: int) -> dict[str, str]:
    from aircall_pipeline.sandbox.data import SandboxAccount
    from aircall_pipeline.sandbox.owner_files import write_owner_files
    from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN

    # The same seeded account the sandbox serves (its defaults), so the roles and roster match it.
    owner_files = write_owner_files(SandboxAccount(seed=seed), home / "sandbox-owner-files")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "AIRCALL_API_URL": sandbox_url,
        "AIRCALL_API_ID": SANDBOX_API_ID,
        "AIRCALL_API_TOKEN": SANDBOX_API_TOKEN,
        "EVIDENCE_URI": evidence,
        "DAGSTER_WEBSERVER_URL": os.environ.get("DAGSTER_WEBSERVER_URL") or f"http://127.0.0.1:{port}",
        **owner_files,
    }


def wait_for_ui(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT", "3000")),
                        help="UI port on 127.0.0.1 (default: %(default)s, or $DAGSTER_PORT)")
    parser.add_argument("--evidence", default=os.environ.get("EVIDENCE_URI", "evidence"),
                        help="evidence folder or s3://bucket/prefix (default: ./evidence, or $EVIDENCE_URI)")
    parser.add_argument("--seed", type=int, default=7, help="the sandbox account's seed (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true",
                        help="start everything, wait until the UI answers, then stop (a self-test)")
    parser.add_argument("--ui-timeout", type=float, default=180.0, help="seconds to wait for the UI")
    args = parser.parse_args(argv)

    home = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".dagster_home").resolve()
    ensure_instance_config(home)
    if "://" in args.evidence:
        evidence = args.evidence
    else:
        folder = Path(args.evidence).expanduser()
        folder = folder if folder.is_absolute() else (ROOT / folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        evidence = str(folder)

    sandbox = dagster = None
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        with tempfile.TemporaryDirectory(prefix="aircall-dev-") as workdir:
            sandbox, sandbox_url = start_sandbox(dict(os.environ), Path(workdir), ["--seed", str(args.seed)])
            env = pipeline_env(home, sandbox_url, evidence, args.port, args.seed)
            ui = f"http://127.0.0.1:{args.port}"
            print(f"dev: sandbox Aircall API at {sandbox_url}; evidence in {evidence}; DAGSTER_HOME={home}",
                  flush=True)
            dagster = _spawn([sys.executable, "-m", "dagster", "dev", "-w", str(ROOT / "workspace.yaml"),
                              "-h", "127.0.0.1", "-p", str(args.port)], env)
            if wait_for_ui(ui, dagster, args.ui_timeout):
                print(f"dev: Dagster UI at {ui} (Ctrl-C stops the UI, the daemon and the sandbox)", flush=True)
            elif dagster.poll() is None:
                print(f"dev: the UI did not answer within {args.ui_timeout:g} s; still waiting.", flush=True)
            if args.smoke:
                return 0 if dagster.poll() is None else 1
            return dagster.wait()
    except KeyboardInterrupt:
        return 0 if stopping else 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(dagster, "dagster dev")
        stop(sandbox, "sandbox", grace=5)
        print("dev: stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
