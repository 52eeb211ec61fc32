"""`aircall-pipeline review export|import`: the periodic access review (AC-16).

review export EVIDENCE_URI --date D --out review.csv
    One row per user of day D's sealed snapshot, for a reviewer to fill in (keep | remove).
review import EVIDENCE_URI --date D review.csv --reviewer EMAIL
    Validates the completed file against the snapshot and stores it with a signed attestation under
    aircall/reviews/date=D/. Needs EVIDENCE_SIGNING_KEY: an unsigned sign-off proves nothing.

With AIRCALL_ACCOUNTS_FILE, `--account NAME` says whose review it is: the roles column comes from that
account's roles file (its roles_uri, or its policy file's; local or s3://, read as the pipeline reads
it). Without --account, the account whose evidence_uri is EVIDENCE_URI, or the only account.

Exit status: 0 done; 1 the file was refused (each offending row is listed); 2 usage, configuration or
storage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aircall_pipeline.commands.accounts import add_account_option
from aircall_pipeline.commands.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review", help="export a sealed day's users for an access review, or import the signed-off decisions",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write the review file for a sealed day")
    export.add_argument("evidence_uri", metavar="EVIDENCE_URI")
    export.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    export.add_argument("--out", required=True, metavar="FILE", help="the CSV to write (never over an existing file)")
    add_account_option(export)
    export.set_defaults(func=run_export)
    imp = actions.add_parser("import", help="validate a completed review and store it with a signed attestation")
    imp.add_argument("evidence_uri", metavar="EVIDENCE_URI")
    imp.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    imp.add_argument("file", metavar="REVIEW_CSV")
    imp.add_argument("--reviewer", required=True, metavar="EMAIL", help="who reviewed and signs off")
    add_account_option(imp)
    imp.set_defaults(func=run_import)


def _same_place(a: str, b: str) -> bool:
    from aircall_pipeline.evidence.errors import EvidenceStoreError
    from aircall_pipeline.evidence.layout import parse_evidence_uri

    try:
        return parse_evidence_uri(a) == parse_evidence_uri(b)
    except EvidenceStoreError:
        return False


def _account(args: argparse.Namespace, command: str):
    """The account under review: --account NAME; else the one whose evidence_uri is EVIDENCE_URI;
    else the only one. SettingsError names the accounts to choose from. A --account whose evidence is
    elsewhere than EVIDENCE_URI is allowed (a copy, an auditor's bucket) but said."""
    from aircall_pipeline.config.settings import Settings

    settings = Settings.from_env()
    name = getattr(args, "account", None)
    if name is None and len(settings.accounts) > 1:
        same = [a for a in settings.accounts if _same_place(a.evidence_uri, args.evidence_uri)]
        if len(same) == 1:
            return same[0]
    account = settings.account(name)  # None with several accounts: "choose one with --account NAME"
    if name is not None and not _same_place(account.evidence_uri, args.evidence_uri):
        print(f"review {command}: note: account {name}'s evidence is at {account.evidence_uri}, not "
              f"{args.evidence_uri}", file=sys.stderr)
    return account


def _roles(account):
    """The account's roles file as the pipeline reads it (its roles_uri, else its policy file's; a local
    path or s3://, through ComplianceResource.read_bytes), or None when it has none."""
    from dagster_aws.s3 import S3Resource

    from aircall_pipeline.config.policy import CompliancePolicy, load_roles
    from aircall_pipeline.resources.compliance import ComplianceResource

    policy = CompliancePolicy.from_file(account.policy_file) if account.policy_file else CompliancePolicy()
    uri = account.roles_uri or policy.roles_uri
    if not uri:
        return None
    reader = ComplianceResource(policy_file=account.policy_file, roles_uri=account.roles_uri,
                                roster_uri=account.roster_uri, s3=S3Resource())
    return load_roles(uri, read_bytes=reader.read_bytes)


def _activity(store, day: str):
    from datetime import date, timedelta

    from aircall_pipeline.compliance.rules import activity_from_calls

    first = (date.fromisoformat(day) - timedelta(days=90)).isoformat()
    days = [d for d in store.dates("calls") if first <= d <= day]
    return activity_from_calls(store.read_table("calls", d, columns=["user_id", "started_at"]) for d in days)


def _evidence_key():
    """(trusted key, signer or None): the public half of EVIDENCE_SIGNING_KEY, else EVIDENCE_PUBLIC_KEY,
    else (None, None). A snapshot is read only from a manifest this key signed, as the pipeline does."""
    from aircall_pipeline.config.settings import Settings, evidence_public_key
    from aircall_pipeline.evidence.signing import TrustedKey, load_signer

    setting = Settings.from_env().signing_key
    if setting:
        signer = load_signer(setting)
        return TrustedKey(signer.public_key, source="the evidence signing key"), signer
    path = evidence_public_key()
    return (TrustedKey.from_pem_file(path) if path else None), None


def run_export(args: argparse.Namespace) -> int:
    from aircall_pipeline.compliance.review import ReviewError, export_csv, load_snapshot, review_frame
    from aircall_pipeline.config.settings import PUBLIC_KEY_VAR, SIGNING_KEY_VAR, SettingsError
    from aircall_pipeline.evidence.signing import SigningError
    from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError

    out = Path(args.out)
    try:
        trusted, _ = _evidence_key()
        if trusted is None:
            print(f"review export: warning: neither {SIGNING_KEY_VAR} nor {PUBLIC_KEY_VAR} is set, so the "
                  "snapshot's manifest signature is not checked", file=sys.stderr)
        account = _account(args, "export")
        store = EvidenceStore.from_uri(args.evidence_uri)
        snapshot = load_snapshot(store, args.date, trusted)
        frame = review_frame(snapshot, _roles(account), _activity(store, args.date))
        with out.open("xb") as fh:
            fh.write(export_csv(frame, snapshot))
    except FileExistsError:
        print(f"review export: {out} already exists; choose another --out", file=sys.stderr)
        return EXIT_UNUSABLE
    except (ReviewError, EvidenceStoreError, SettingsError, SigningError, ValueError, OSError) as exc:
        print(f"review export: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"wrote {out}: {len(frame)} users of {args.date} (snapshot {snapshot.manifest_path}, "
          f"sha256 {snapshot.manifest_sha256}). Fill in decision (keep | remove) and comment, then run "
          f"`aircall-pipeline review import {args.evidence_uri} --date {args.date} {out} --reviewer EMAIL`.")
    return EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    from aircall_pipeline.compliance.review import (
        ReviewError,
        attestation,
        load_snapshot,
        parse_review,
        validate_review,
    )
    from aircall_pipeline.config.settings import SIGNING_KEY_VAR, Settings, SettingsError
    from aircall_pipeline.evidence.signing import SigningError
    from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
    from aircall_pipeline.evidence.timestamping import timestamper

    try:
        settings = Settings.from_env()
        if not settings.signing_key:
            print(f"review import: {SIGNING_KEY_VAR} is not set: a review attestation must be signed with the "
                  "evidence key", file=sys.stderr)
            return EXIT_UNUSABLE
        trusted, signer = _evidence_key()
        if getattr(args, "account", None):
            _account(args, "import")  # an unknown --account is refused before anything is stored
        store = EvidenceStore.from_uri(args.evidence_uri)
        snapshot = load_snapshot(store, args.date, trusted)
        completed = validate_review(parse_review(Path(args.file).read_bytes()), snapshot)
        statement = attestation(snapshot, completed, args.reviewer)
        # Stamped like the day's report (EVIDENCE_TSA_URL): a sign-off's date is then proven too.
        stamp = timestamper(settings.tsa_urls) if settings.tsa_urls else None
        manifest = store.write_review(args.date, completed, statement, signer, timestamper=stamp)
    except ReviewError as exc:
        print(f"review import: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (SettingsError, SigningError, EvidenceStoreError, OSError) as exc:
        print(f"review import: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"stored the {args.date} access review: {statement['keep']} keep, {statement['remove']} remove, "
          f"reviewed by {args.reviewer}; signed manifest {manifest.uri}")
    return EXIT_OK
