"""`aircall-pipeline verify EVIDENCE_URI --date YYYY-MM-DD`: is the day's evidence complete and untampered?

Prints one line per file the manifest lists (ok / ALTERED / MISSING), the hash-chain links, and a
verdict. Exit status: 0 complete and untampered, 1 incomplete or tampered, 2 the evidence could not be
read at all (bad URI, missing bucket, access denied, endpoint down).
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_NOT_VERIFIED, EXIT_UNREADABLE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="re-hash every file of a day's manifest and say whether the evidence is complete and untampered",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("evidence_uri", metavar="EVIDENCE_URI", help="s3://bucket/prefix or a local folder")
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="the evidence day to verify (default: the newest day that has a manifest)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError

    try:
        store = EvidenceStore.from_uri(args.evidence_uri)
        day = args.date
        if day is None:
            days = store.report_dates()
            if not days:
                print(f"no manifest found under {store.uri}: nothing has been sealed as evidence yet")
                return EXIT_NOT_VERIFIED
            day = days[-1]
        verification = store.verify(day)
    except EvidenceStoreError as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        print("verdict:  NOT VERIFIED (the evidence could not be read)")
        return EXIT_UNREADABLE
    print(verification.summary())
    return EXIT_OK if verification.ok else EXIT_NOT_VERIFIED
