"""`aircall-pipeline verify` and `aircall-pipeline keygen`.

verify [EVIDENCE_URI | --account NAME] --date D [--to D2] [--public-key PATH | --kms-key-id ID] [--tsa-ca PATH]
       [--json] [--reperform]
    For every day of the range: each manifest attempt's signature against the trusted key given here
    (never a key found in the evidence), its RFC 3161 timestamp token (against the TSA roots of
    --tsa-ca / EVIDENCE_TSA_CA, and its time against sealed_at), the attempt chain, every listed file's
    hash, files no manifest lists, listed files that are gone, gaps, and the day-to-day chain. With
    trusted TSA roots, a signed attempt without a token fails. Exit status: 0 every
    day valid and signed by the trusted key; 1 anything tampered, missing, unlisted, unsigned, signed
    by another key, or no trusted key given; 2 usage or access errors (bad URI, missing bucket, access
    denied, endpoint down, unreadable key).

keygen PATH
    A new Ed25519 signing key: PATH (PKCS#8 PEM, mode 0600) and PATH.pub; prints the fingerprint.
"""

from __future__ import annotations

import argparse
import json
import sys

from aircall_pipeline.commands.accounts import add_account_option, selected_account
from aircall_pipeline.commands.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check a day (or range) of evidence: signatures, attempt and day chains, every file's hash",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("evidence_uri", metavar="EVIDENCE_URI", nargs="?",
                        help="s3://bucket/prefix or a local folder (default: the --account's evidence)")
    parser.add_argument(
        "--date", metavar="YYYY-MM-DD", help="the first (or only) day to verify (default: the newest sealed day)"
    )
    add_account_option(parser)
    parser.add_argument("--to", metavar="YYYY-MM-DD", help="verify every day from --date to this day")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--public-key", metavar="PATH", help="the trusted public key (PEM; default EVIDENCE_PUBLIC_KEY)")
    key.add_argument("--kms-key-id", metavar="ID", help="trust this KMS key (kms:GetPublicKey)")
    parser.add_argument("--tsa-ca", metavar="PATH",
                        help="PEM file of the TSA root(s) timestamp tokens must chain to (default EVIDENCE_TSA_CA)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per day")
    parser.add_argument("--strict", action="store_true",
                        help="also fail on any re-seal that changed a check's result")
    parser.add_argument("--reperform", action="store_true",
                        help="recompute every check from the sealed tables and owner inputs; exit 1 if any differs")
    parser.set_defaults(func=run)

    keygen = subparsers.add_parser(
        "keygen",
        help="create an Ed25519 evidence signing key (PATH, mode 0600) and its public key (PATH.pub)",
    )
    keygen.add_argument("path", metavar="PATH")
    keygen.set_defaults(func=run_keygen)


def _trusted_key(args: argparse.Namespace):
    from aircall_pipeline.config.settings import evidence_public_key
    from aircall_pipeline.evidence.signing import TrustedKey

    if args.kms_key_id:
        return TrustedKey.from_kms(args.kms_key_id)
    path = args.public_key or evidence_public_key()
    return TrustedKey.from_pem_file(path) if path else None


def _tsa_roots(args: argparse.Namespace) -> list[bytes] | None:
    from aircall_pipeline.config.settings import evidence_tsa_ca
    from aircall_pipeline.evidence.timestamping import read_trusted_roots

    path = args.tsa_ca or evidence_tsa_ca()
    return read_trusted_roots(path) if path else None


def run(args: argparse.Namespace) -> int:
    from aircall_pipeline.config.settings import SettingsError
    from aircall_pipeline.evidence.signing import SigningError
    from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
    from aircall_pipeline.evidence.timestamping import TimestampError
    from aircall_pipeline.evidence.verify import shown

    try:
        trusted = _trusted_key(args)
        tsa_roots = _tsa_roots(args)
        uri = args.evidence_uri or selected_account(args)[1].evidence_uri
        store = EvidenceStore.from_uri(uri)
        day = args.date
        if day is None:
            days = store.report_dates()
            if not days:
                print(f"no manifest found under {store.uri}: nothing has been sealed as evidence yet")
                return EXIT_FAILED
            day = days[-1]
        result = store.verify(day, trusted=trusted, to=args.to or day, strict=args.strict, tsa_roots=tsa_roots)
    except (EvidenceStoreError, SigningError, SettingsError, TimestampError) as exc:
        print(f"cannot verify: {shown(exc)}", file=sys.stderr)
        if not args.json:
            print("verdict:  NOT VERIFIED (the evidence or the key could not be read)")
        return EXIT_UNUSABLE
    differs = False
    for i, verification in enumerate(result.days):
        if args.json:
            print(json.dumps(verification.as_dict(), sort_keys=True))  # ASCII: control characters escaped
        else:
            print(("\n" if i else "") + verification.summary())
        if args.reperform:
            from aircall_pipeline.compliance.reperform import reperform_verified

            again = reperform_verified(store, verification, trusted)
            print(json.dumps({"reperform": again.as_dict()}, sort_keys=True) if args.json else "\n".join(again.lines()))
            differs = differs or not again.ok
    if args.json:
        if result.stray:
            print(json.dumps({"stray": result.stray, "valid": False}, sort_keys=True))
    else:
        for line in result.stray:
            print("\n" + shown(f"UNLISTED {line}"))  # the blank line kept, the object's name escaped
        if len(result.days) > 1 or result.stray:
            good = sum(d.authenticated for d in result.days)
            print(f"\nrange:    {good} of {len(result.days)} days valid ({result.days[0].date} .. "
                  f"{result.days[-1].date}){f'; {len(result.stray)} object(s) in no day' if result.stray else ''}")
    return EXIT_OK if result.authenticated and not differs else EXIT_FAILED


def run_keygen(args: argparse.Namespace) -> int:
    from aircall_pipeline.evidence.signing import SigningError, keygen

    try:
        fp = keygen(args.path)
    except (SigningError, OSError) as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"wrote {args.path} (private, mode 0600) and {args.path}.pub")
    print(f"fingerprint: {fp}")
    print(f"sign with:   EVIDENCE_SIGNING_KEY=file:{args.path}")
    print(f"verify with: aircall-pipeline verify EVIDENCE_URI --date D --public-key {args.path}.pub")
    return EXIT_OK
