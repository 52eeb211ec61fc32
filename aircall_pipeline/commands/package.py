"""`aircall-pipeline package` and `aircall-pipeline verify-package` (see `evidence/package.py`).

package --from D1 --to D2 [EVIDENCE_URI | --account NAME] --out FILE.zip [--with-tables]
        [--sample N --seed S] [--public-key PATH | --kms-key-id ID]
    One signed zip of the period for an auditor: the days as stored, one OSCAL Assessment Results
    document, a control-by-control summary, the verify transcript, the public key and an offline
    checking script. Every day is verified against the trusted key first; the package is signed with
    EVIDENCE_SIGNING_KEY, which must be that key. Exit status: 0 written; 1 refused (a gap, an
    unsigned or failing day, a period beyond the store; the days are listed); 2 usage or access errors
    (unwritable or existing output, unreadable key or store). Nothing is left behind unless 0.

verify-package FILE.zip [--public-key PATH | --kms-key-id ID] [--json]
    Offline: the package manifest's signature against the trusted key, every member's size and
    SHA-256, no member missing or added, no unsafe member name. Exit status: 0 valid; 1 not valid
    (or no trusted key); 2 the file or the key cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from aircall_pipeline.commands.accounts import add_account_option, selected_account
from aircall_pipeline.commands.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE
from aircall_pipeline.commands.verify import _trusted_key


def _key_options(parser: argparse.ArgumentParser) -> None:
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--public-key", metavar="PATH", help="the trusted public key (PEM; default EVIDENCE_PUBLIC_KEY)")
    key.add_argument("--kms-key-id", metavar="ID", help="trust this KMS key (kms:GetPublicKey)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package", help="one signed zip of an audit period's verified evidence, for an auditor",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evidence_uri", metavar="EVIDENCE_URI", nargs="?",
                        help="s3://bucket/prefix or a local folder (default: the --account's evidence)")
    add_account_option(parser)
    parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD", required=True, help="the period's first day")
    parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD", required=True, help="the period's last day")
    parser.add_argument("--out", metavar="FILE.zip", required=True, help="the package to write (never replaced)")
    parser.add_argument("--with-tables", action="store_true",
                        help="also the raw and owner-input tables (of the sampled days only, with --sample)")
    parser.add_argument("--sample", metavar="N", type=int, help="pick N days of the period for the auditor's sample")
    parser.add_argument("--seed", metavar="S", type=int, help="the sample's seed (recorded in the package)")
    _key_options(parser)
    parser.set_defaults(func=run_package)

    check = subparsers.add_parser(
        "verify-package", help="check an audit package offline: signature, every member's hash, no extra member",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("package", metavar="FILE.zip")
    _key_options(check)
    check.add_argument("--json", action="store_true", help="print the result as one JSON object")
    check.set_defaults(func=run_verify_package)


def run_package(args: argparse.Namespace) -> int:
    from aircall_pipeline.config.settings import SIGNING_KEY_VAR, SettingsError
    from aircall_pipeline.evidence.package import PackageError, build_package
    from aircall_pipeline.evidence.signing import SigningError, TrustedKey, load_signer
    from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
    from aircall_pipeline.evidence.verify import shown

    if args.sample is not None and args.seed is None:
        print("package: --sample needs --seed S, so that the same sample can be drawn again", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        setting = os.environ.get(SIGNING_KEY_VAR)
        if not setting:
            raise SigningError(f"{SIGNING_KEY_VAR} is not set: the package is signed with the evidence signing key")
        signer = load_signer(setting)
        trusted = _trusted_key(args) or TrustedKey(signer.public_key, source="the signing key")
        uri = args.evidence_uri or selected_account(args)[1].evidence_uri
        store = EvidenceStore.from_uri(uri)
        package = build_package(store, args.start, args.end, args.out, signer=signer, trusted=trusted,
                                with_tables=args.with_tables, sample=args.sample, seed=args.seed)
    except PackageError as exc:
        print("package: " + "\n".join(shown(line) for line in str(exc).splitlines()), file=sys.stderr)
        print("no package was written")
        return EXIT_FAILED if exc.refused else EXIT_UNUSABLE
    except (EvidenceStoreError, SigningError, SettingsError) as exc:
        print(f"package: {shown(exc)}", file=sys.stderr)
        print("no package was written")
        return EXIT_UNUSABLE
    print(f"wrote {package.path}: {len(package.days)} day(s) {package.days[0]} .. {package.days[-1]}, "
          f"{package.members} members, {package.bytes:,} bytes, sha256 {package.sha256}")
    if package.sample is not None:
        print(f"sample (seed {package.seed}): {', '.join(package.sample)}")
    print(f"signed by {trusted.key_fingerprint}; check with: aircall-pipeline verify-package {package.path} "
          "--public-key PUB, or OpenSSL alone (README.txt inside)")
    return EXIT_OK


def run_verify_package(args: argparse.Namespace) -> int:
    from aircall_pipeline.config.settings import SettingsError
    from aircall_pipeline.evidence.package import verify_package
    from aircall_pipeline.evidence.signing import SigningError

    try:
        trusted = _trusted_key(args)
    except (SigningError, SettingsError) as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if trusted is None:
        print("cannot verify: no trusted key (--public-key, --kms-key-id or EVIDENCE_PUBLIC_KEY); a package is "
              "only as good as the key it is checked against", file=sys.stderr)
        return EXIT_FAILED
    if not os.path.isfile(args.package):
        print(f"cannot verify: {args.package} is not a readable file", file=sys.stderr)
        return EXIT_UNUSABLE
    result = verify_package(args.package, trusted)
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
    else:
        print("\n".join(result.lines()))
    return EXIT_OK if result.valid else EXIT_FAILED
