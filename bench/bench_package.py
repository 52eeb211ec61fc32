"""Benchmark: the audit package of a 90-day period (`aircall-pipeline package`), and its offline check.

90 signed days are sealed into a local store first (every table of a day and every check of the
catalogue, as the store tests seal them; report.pdf is a stub there, because WeasyPrint's seconds
per day are the sealing's cost, not the package's, and the package only copies the file). Then,
each in a fresh child process so that its peak RSS is its own:

- `build_package` over the 90 days (verify every day, copy the reports, findings tables, manifests
  and seals, the period's OSCAL document, the control summary, the transcript, sign);
- the same with `--with-tables` (every raw and owner-input table too);
- `verify_package` of the first package.

Prints one Markdown section on stdout (collected by scripts/bench.py into bench/RESULTS.md).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

DAYS = 90
START = date(2026, 1, 1)


def seal(root: Path, key: Path) -> None:
    from aircall_pipeline.evidence import intake
    from aircall_pipeline.evidence.signing import load_signer
    from aircall_pipeline.evidence.store import EvidenceStore
    from aircall_pipeline_tests.evidence.conftest import users_frame
    from aircall_pipeline_tests.evidence.days import seal_day

    intake.render_pdf = lambda html: b"%PDF-1.4\n% bench stub\n%%EOF\n"
    signer = load_signer(f"file:{key}")
    store = EvidenceStore.from_uri(root)
    fields = {"run_id": "bench", "api_url": "https://api.aircall.io", "company": "Bench", "requests": {},
              "collected_at": "2026-04-01T00:00:00Z"}
    for n in range(DAYS):
        day = (START + timedelta(days=n)).isoformat()
        status = "fail" if n % 7 == 3 else "pass"
        seal_day(store, day, tables={"users": users_frame(tuple(f"User{i}" for i in range(50)))}, fields=fields,
                 signer=signer, checks=[{"id": "AC-05", "status": status, "controls": ["PCI:8.2.2", "SOC2:CC6.1"],
                                         "items": []}])
        if n % 10 == 9:
            print(f"bench_package: sealed {n + 1} days", file=sys.stderr)


def child(mode: str, root: Path, key: Path, out: Path) -> None:
    from aircall_pipeline.evidence.package import build_package, verify_package
    from aircall_pipeline.evidence.signing import TrustedKey, load_signer
    from aircall_pipeline.evidence.store import EvidenceStore

    trusted = TrustedKey.from_pem_file(f"{key}.pub")
    started = time.perf_counter()
    if mode == "verify":
        result = verify_package(out, trusted)
        assert result.valid, result.problems
        members = result.members
    else:
        end = (START + timedelta(days=DAYS - 1)).isoformat()
        built = build_package(EvidenceStore.from_uri(root), START.isoformat(), end, out,
                              signer=load_signer(f"file:{key}"), trusted=trusted, with_tables=mode == "tables")
        members = built.members
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "members": members, "bytes": out.stat().st_size,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(mode: str, root: Path, key: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(root), str(key), str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"bench_package: the {mode} run failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    from aircall_pipeline.evidence.signing import keygen

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        key = work / "bench.key"
        keygen(key)
        root = work / "evidence"
        started = time.perf_counter()
        seal(root, key)
        sealing = time.perf_counter() - started
        stored = folder_bytes(root)
        runs = {}
        for mode, out in (("package", work / "p.zip"), ("tables", work / "t.zip"), ("verify", work / "p.zip")):
            print(f"bench_package: {mode} ...", file=sys.stderr)
            runs[mode] = measure(mode, root, key, out)

    p, t, v = runs["package"], runs["tables"], runs["verify"]
    print(f"## Audit package of {DAYS} days\n")
    print(f"{DAYS} signed days in a local store ({stored:,} bytes; every table and check of a day, a 50-user "
          f"users table; report.pdf stubbed), sealed in {sealing:.0f} s. Each run in a fresh process.\n")
    print("| run | wall time | peak RSS | members | zip bytes |")
    print("|---|---:|---:|---:|---:|")
    print(f"| `package` (reports, findings, seals, OSCAL, summary, transcript) | {p['seconds']:.1f} s | "
          f"{p['max_rss_mb']:.0f} MB | {p['members']:,} | {p['bytes']:,} |")
    print(f"| `package --with-tables` | {t['seconds']:.1f} s | {t['max_rss_mb']:.0f} MB | {t['members']:,} | "
          f"{t['bytes']:,} |")
    print(f"| `verify-package` of the first | {v['seconds']:.1f} s | {v['max_rss_mb']:.0f} MB | {v['members']:,} | "
          f"{v['bytes']:,} |")
    print(f"\nPer day: {p['seconds'] / DAYS * 1000:.0f} ms and {p['bytes'] / DAYS / 1024:.0f} KiB for the package "
          f"without raw tables.")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
    else:
        main()
