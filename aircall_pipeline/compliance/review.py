"""The periodic access review (AC-16): a reviewer signs off every user of a sealed day.

PCI DSS 7.2.4 asks for a review of all user accounts and privileges at least every six months, with
sign-off; SOC 2 auditors sample quarterly reviews. The workflow:

1. `export_review` turns a *sealed* day (its manifest's exact files, re-hashed) into one row per user,
   with what a reviewer needs (teams, role, numbers, last call, the day's flags) and empty `decision`
   and `comment` columns; the file's first line names the manifest and its SHA-256.
2. The reviewer fills in `keep` or `remove` per row, in a spreadsheet or an editor.
3. `validate_review` reads the file back — tolerating what spreadsheets do (a BOM, `;` separators,
   CRLF, re-ordered columns, the `'` that neutralised formula-looking cells) — and refuses it, with
   row numbers, when a user is missing or added, a user_id changed, a decision is missing or unknown,
   a cell carries a formula, or the snapshot is no longer the day's sealed manifest.
4. The store writes the completed review and a signed attestation (`EvidenceStore.write_review`).
5. Every daily run evaluates AC-16 (`rules.access_review`) against the newest review.

Plain Python and pandas; storage is the store's job.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.evidence.formats import FORMULA_PREFIX, FORMULA_START
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline.timestamps import iso_utc

DECISIONS = ("keep", "remove")
COLUMNS = ("user_id", "email", "name", "teams", "role", "numbers", "last_call_at", "flags", "decision", "comment")
HEADER_TAG = "aircall-access-review"
# Which failed or warned checks flag a user in the review, and with which word.
FLAG_CHECKS = {"AC-03": "leaver", "AC-04": "unmatched", "AC-05": "shared", "AC-06": "dormant"}
MAX_REVIEW_BYTES = 20 * 1024 * 1024
# Formula starters that are never legitimate in the cells we read back (a "-" or "+" starts plenty of
# comments and numbers; "=" and "@" start a formula).
LIVE_FORMULA = ("=", "@")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ReviewError(ValueError):
    """The review cannot be exported or imported; `problems` lists each reason (with row numbers)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        text = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


@dataclass(frozen=True)
class Snapshot:
    """A sealed day, read from the exact files its newest manifest lists."""

    date: str
    manifest_path: str
    manifest_sha256: str
    tables: dict[str, pd.DataFrame]
    checks: list[dict[str, Any]]

    @property
    def users(self) -> pd.DataFrame:
        return self.tables["users"]


def load_snapshot(store: EvidenceStore, date: str, trusted: TrustedKey | None = None) -> Snapshot:
    """The day's sealed users, teams, numbers and check results, each file re-hashed against the manifest.

    With `trusted` (the evidence key), only a manifest it signed is read, and the newest attempt must be
    one: a review of an older attempt while a newer, forged or unsigned one sits beside it would sign
    off whatever the forger wants reviewed, or hide what they removed. Refuses (ReviewError) then."""
    import json

    verify_advice = f"Run `aircall-pipeline verify {store.uri} --date {date}` to see what is wrong"
    try:
        manifest = store.read_manifest(date, trusted)
    except EvidenceStoreError as exc:
        if exc.kind != "untrusted":
            raise
        raise ReviewError(f"nothing of {date} was read: {exc}") from None
    if manifest is None:
        raise ReviewError(f"{date} has no sealed evidence in {store.uri}: run the daily job for that day first")
    if manifest.ignored:
        refused = "; ".join(f"{r['path']} ({r['reason']})" for r in manifest.ignored)
        raise ReviewError(
            f"the newest manifest of {date} cannot be trusted: {refused}. Nothing was exported or checked against "
            f"it, nor against the older attempt it stands over. {verify_advice}; once the pipeline has sealed "
            "the day again, review that."
        )
    by_table: dict[str, str] = {}
    checks_path = None
    for artifact in manifest.artifacts:
        folder = artifact.path.split("/")[1]
        if artifact.path.endswith(".parquet"):
            by_table[folder] = artifact.path
        elif artifact.path.rsplit("/", 1)[-1].startswith("checks."):
            checks_path = artifact.path
    expected = {a.path: a.sha256 for a in manifest.artifacts}
    tables = {}
    for table in ("users", "team_members", "number_users", "numbers"):
        if table not in by_table:
            raise ReviewError(f"the {date} manifest lists no {table} table")
        data = _checked(store, by_table[table], expected[by_table[table]])
        tables[table] = pd.read_parquet(io.BytesIO(data))
    checks = json.loads(_checked(store, checks_path, expected[checks_path])) if checks_path else []
    return Snapshot(date, manifest.path, manifest.sha256, tables, checks)


def _checked(store: EvidenceStore, path: str, sha256: str) -> bytes:
    import hashlib

    data = store.backend.get(path)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ReviewError(f"{path} no longer matches its manifest: run `aircall-pipeline verify` on this day")
    return data


def review_frame(snapshot: Snapshot, roles: pd.DataFrame | None, activity: pd.DataFrame | None) -> pd.DataFrame:
    """One row per user of the snapshot, with empty decision and comment."""
    users = snapshot.users
    members = snapshot.tables["team_members"]
    teams = members.groupby("user_id")["team_name"].agg(lambda s: ";".join(sorted(s.dropna().astype(str))))
    numbers = snapshot.tables["number_users"].merge(
        snapshot.tables["numbers"][["number_id", "name", "digits"]], on="number_id", how="left")
    numbers["label"] = numbers["digits"].fillna(numbers["name"]).astype("string")
    by_user_numbers = numbers.groupby("user_id")["label"].agg(lambda s: ";".join(sorted(s.dropna())))
    role_by_email: dict[str, str] = {}
    if roles is not None and len(roles):
        for email, role in zip(roles["email"].astype(str).str.lower(), roles["role"].astype(str), strict=True):
            role_by_email.setdefault(email, role)
    last_call = activity.set_index("user_id")["last_call_at"] if activity is not None and len(activity) else None
    flags: dict[int, set[str]] = {}
    for check in snapshot.checks:
        word = FLAG_CHECKS.get(check.get("id"))
        if word and check.get("status") in (catalogue.FAIL, catalogue.WARN):
            for item in check.get("items") or []:
                if item.get("item_type") == "user" and item.get("status") in (catalogue.FAIL, catalogue.WARN):
                    try:
                        flags.setdefault(int(item["item_id"]), set()).add(word)
                    except (KeyError, TypeError, ValueError):
                        continue
    rows = []
    for user in users.sort_values("user_id").itertuples(index=False):
        uid = int(user.user_id)
        email = str(user.email or "")
        last = last_call.get(uid) if last_call is not None else None
        rows.append({
            "user_id": uid,
            "email": email,
            "name": "" if pd.isna(user.name) else str(user.name),
            "teams": teams.get(uid, ""),
            "role": role_by_email.get(email.lower(), ""),
            "numbers": by_user_numbers.get(uid, ""),
            "last_call_at": "" if last is None or pd.isna(last) else iso_utc(pd.Timestamp(last), timespec="seconds"),
            "flags": ";".join(sorted(flags.get(uid, ()))),
            "decision": "",
            "comment": "",
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def export_csv(frame: pd.DataFrame, snapshot: Snapshot) -> bytes:
    """The reviewer's file: a header line naming the snapshot, then the rows, formula cells neutralised."""
    out = io.StringIO()
    out.write(f"# {HEADER_TAG} date={snapshot.date} manifest={snapshot.manifest_path} "
              f"sha256={snapshot.manifest_sha256}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in frame.itertuples(index=False):
        writer.writerow([_neutralise(str(v)) for v in row])
    return out.getvalue().encode("utf-8")


def _neutralise(text: str) -> str:
    return FORMULA_PREFIX + text if text.startswith(FORMULA_START) else text


def _unneutralise(text: str) -> str:
    """Undo the export's `'` before a formula character (spreadsheets may or may not keep it)."""
    if text.startswith(FORMULA_PREFIX) and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


@dataclass(frozen=True)
class ParsedReview:
    manifest_path: str | None
    manifest_sha256: str | None
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number in the file, cells by column name)


def parse_review(data: bytes) -> ParsedReview:
    if len(data) > MAX_REVIEW_BYTES:
        raise ReviewError(f"the review file is larger than {MAX_REVIEW_BYTES // 2**20} MiB: is it the right file?")
    try:
        text = data.decode("utf-8-sig")  # a BOM from a spreadsheet is fine
    except UnicodeDecodeError:
        raise ReviewError("the review file is not UTF-8: save it as CSV UTF-8") from None
    lines = text.splitlines()
    if not lines:
        raise ReviewError("the review file is empty")
    first = lines[0].strip().strip('"').rstrip(",;\t").strip('"').strip()
    manifest_path = manifest_sha = None
    start = 0
    if first.startswith("#"):
        start = 1
        fields = dict(part.split("=", 1) for part in first.lstrip("# ").split() if "=" in part)
        manifest_path, manifest_sha = fields.get("manifest"), fields.get("sha256")
    body = "\n".join(lines[start:])
    try:
        dialect = csv.Sniffer().sniff(body.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        records = list(csv.reader(io.StringIO(body), delimiter=delimiter))
    except csv.Error as exc:
        raise ReviewError(f"the review file is not valid CSV: {exc}") from None
    if not records:
        raise ReviewError("the review file has no header row")
    header = [h.strip().lower() for h in records[0]]
    rows = []
    for offset, record in enumerate(records[1:]):
        if not any(cell.strip() for cell in record):
            continue  # blank lines a spreadsheet leaves at the end
        line = start + 2 + offset
        rows.append((line, {name: (record[i] if i < len(record) else "") for i, name in enumerate(header)}))
    return ParsedReview(manifest_path, manifest_sha, header, rows)


def validate_review(parsed: ParsedReview, snapshot: Snapshot) -> pd.DataFrame:
    """The completed review (one row per snapshot user, with decision and comment), or ReviewError
    listing every offending row."""
    problems: list[str] = []
    if parsed.manifest_sha256 is None:
        problems.append("the first line naming the snapshot (# aircall-access-review … sha256=…) is missing: "
                        "export the file again and keep its first line")
    elif parsed.manifest_sha256 != snapshot.manifest_sha256 or parsed.manifest_path != snapshot.manifest_path:
        problems.append(
            f"the file was exported from {parsed.manifest_path} (sha256 {parsed.manifest_sha256}), but the day's "
            f"sealed manifest is now {snapshot.manifest_path} (sha256 {snapshot.manifest_sha256}): export it again")
    missing_columns = [c for c in ("user_id", "decision") if c not in parsed.header]
    if missing_columns:
        raise ReviewError("the review was refused", problems + [f"column {c!r} is missing" for c in missing_columns])
    users = snapshot.users.set_index(snapshot.users["user_id"].astype("int64"))
    seen: dict[int, int] = {}
    decided = []
    for line, cells in parsed.rows:
        values = {k: _unneutralise(v.strip()) for k, v in cells.items()}
        for column in ("user_id", "decision", "comment"):
            if values.get(column, "").startswith(LIVE_FORMULA):
                problems.append(f"row {line}: the {column} cell is a formula ({values[column][:20]!r}); type plain text")
        raw_id = values.get("user_id", "")
        if not raw_id.isdigit():
            problems.append(f"row {line}: user_id {raw_id!r} is not a user id from the export (it was changed)")
            continue
        uid = int(raw_id)
        if uid not in users.index:
            problems.append(f"row {line}: user {uid} is not in the {snapshot.date} snapshot (added, or its id changed)")
            continue
        if uid in seen:
            problems.append(f"row {line}: user {uid} appears again (first on row {seen[uid]})")
            continue
        seen[uid] = line
        decision = values.get("decision", "").lower()
        if not decision:
            problems.append(f"row {line}: user {uid} has no decision: write keep or remove")
        elif decision not in DECISIONS:
            problems.append(f"row {line}: user {uid} has decision {values.get('decision')!r}: write keep or remove")
        decided.append((uid, decision, values.get("comment", "")))
    for uid in users.index.difference(list(seen)):
        problems.append(f"user {uid} ({users.loc[uid, 'email']}) is missing from the file")
    if problems:
        raise ReviewError("the review was refused", problems)
    out = pd.DataFrame(decided, columns=["user_id", "decision", "comment"]).astype({"user_id": "int64"})
    base = snapshot.users[["user_id", "email", "name"]].astype({"user_id": "int64"})
    return base.merge(out, on="user_id", how="left").sort_values("user_id").reset_index(drop=True)


def attestation(snapshot: Snapshot, completed: pd.DataFrame, reviewer: str, now: datetime | None = None) -> dict:
    if not EMAIL.match(reviewer or ""):
        raise ReviewError(f"--reviewer {reviewer!r} is not an email address")
    counts = completed["decision"].value_counts()
    return {
        "kind": HEADER_TAG,
        "date": snapshot.date,
        "reviewer": reviewer,
        "reviewed_at": iso_utc(now or datetime.now(UTC), timespec="seconds"),
        "snapshot": {"path": snapshot.manifest_path, "sha256": snapshot.manifest_sha256},
        "users": int(len(completed)),
        "keep": int(counts.get("keep", 0)),
        "remove": int(counts.get("remove", 0)),
        "removed_user_ids": sorted(int(u) for u in completed.loc[completed["decision"] == "remove", "user_id"]),
    }
