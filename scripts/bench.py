#!/usr/bin/env python3
"""Run every bench/bench_*.py and write bench/RESULTS.md (`make bench`).

The contract for a benchmark file is small: `bench/bench_<name>.py`, runnable as a script with no
arguments, printing one Markdown section (starting with a `## ` heading) on stdout and its progress
on stderr, exiting 0 on success. Each runs in its own process, one after the other (parallel runs
would measure each other on a 2-core machine).

RESULTS.md starts with the date and the machine, then one section per benchmark between
`<!-- bench:<name> -->` markers. `--only NAME` re-runs some benchmarks and keeps the other sections
of the existing file as they were (each keeps its own "measured on" line).

    .venv/bin/python scripts/bench.py                 # all of them
    .venv/bin/python scripts/bench.py --only sync     # bench/bench_sync.py only
    .venv/bin/python scripts/bench.py --list
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
RESULTS = BENCH_DIR / "RESULTS.md"
SECTION_RE = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n?", re.S)


def discover() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(BENCH_DIR.glob("bench_*.py"))}


def machine() -> str:
    ram = "unknown RAM"
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        ram = f"{pages * page_size / 2**30:.1f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores ({cpu}), {ram}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def run_one(name: str, path: Path, timeout: float) -> str:
    """The benchmark's Markdown section, or a section saying how it failed."""
    print(f"== {path.relative_to(REPO)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, str(path)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=None, text=True)  # progress goes straight to our stderr
    try:
        stdout, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM first, so a benchmark stops what it started (a daemon and its runs), then SIGKILL.
        proc.terminate()
        try:
            stdout, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        code = None
    elapsed = time.monotonic() - started
    stamp = f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s on {machine()}._\n"
    if code == 0 and stdout.strip():
        body = stdout.strip() + "\n"
        if not body.startswith("## "):
            body = f"## {name}\n\n{body}"
        heading, _, rest = body.partition("\n")
        return f"{heading}\n\n{stamp}{rest}"
    what = "timed out" if code is None else f"exited with status {code}"
    return f"## {name}\n\n{stamp}\n**FAILED**: `{path.relative_to(REPO)}` {what}.\n"


def compose(sections: dict[str, str]) -> str:
    head = [
        "# Benchmarks",
        "",
        f"Written by `scripts/bench.py` (`make bench`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {machine()}.",
        "",
        "Each section below comes from one `bench/bench_*.py`, run in its own process; its own line says when.",
        "",
    ]
    body = [f"<!-- bench:{name} -->\n{text.rstrip()}\n<!-- /bench:{name} -->\n" for name, text in sections.items()]
    return "\n".join(head) + "\n" + "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run bench/bench_*.py and write bench/RESULTS.md.")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only bench_NAME.py (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds per benchmark (default 3600: the 100-account fleet takes ~45 min on 2 cores)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    benches = discover()
    if args.list:
        print("\n".join(f"{name}\t{path.relative_to(REPO)}" for name, path in benches.items()))
        return 0
    selected = args.only or list(benches)
    unknown = [name for name in selected if name not in benches]
    if unknown:
        parser.error(f"no bench/bench_{unknown[0]}.py; known: {', '.join(benches)}")

    previous = {}
    if args.only and args.output.exists():
        previous = {m["name"]: m["body"] for m in SECTION_RE.finditer(args.output.read_text())}
    sections = {name: previous[name] for name in benches if name in previous}
    failed = []
    for name in selected:
        sections[name] = run_one(name, benches[name], args.timeout)
        if "**FAILED**" in sections[name]:
            failed.append(name)
    ordered = {name: sections[name] for name in benches if name in sections}
    args.output.write_text(compose(ordered))
    print(f"wrote {args.output}" + (f"; FAILED: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
