"""Re-performance of a sealed day's checks, as an auditor does it (AT-C 205): recompute every result
from the evidence alone, with the pipeline's own rules, and report every recorded result that differs.

`reperform_day(store, date, manifest)` reads the tables the manifest lists (each file re-hashed
against the manifest), the sealed owner inputs among them (policy, roles, roster), and each check's
record in the sealed checks.json: the instant it judged at (`evaluated_at`), the day's `window`, and
the exact earlier files it read (`history`: AC-06's call days, AC-07's previous users, AC-16's
review, each re-hashed). It then evaluates the rule through the same `RuleInputs` and `evaluate` as
the pipeline (rule_table.py) and compares status, observed value, flagged item ids and the files
judged with what checks.json records, and the rows (status, item id) of the sealed findings table. AC-15 cannot be recomputed from the evidence (it reads the
Dagster instance's event log) and is said to be so, never passed.

The evidence may be hostile: nothing here raises on it. A check whose inputs are missing, altered or
malformed is reported as CANNOT RE-PERFORM, which fails re-performance like a difference does, since
removing a check's inputs must not be a way to dodge it. `ReperformResult.lines()` escapes control
characters, so no evidence value can rewrite the terminal. No Dagster imports.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import unicodedata
from dataclasses import dataclass, field
from datetime import date as date_cls
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from aircall_pipeline.compliance.rule_inputs import EVALUATED_AT, HISTORY, JUDGED, WINDOW, RuleInputs
from aircall_pipeline.compliance.rule_table import RULES, Rule, evaluate, outcome_record
from aircall_pipeline.evidence.errors import EvidenceStoreError, ObjectMissing
from aircall_pipeline.evidence.layout import REPORTS, ROOT, parse_attempt_name, safe_relpath, table_folder
from aircall_pipeline.evidence.manifest import normalise_check
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.jsonable import to_jsonable

SAME, DIFFERS, CANNOT, NOT_REPERFORMABLE = "same", "DIFFERS", "CANNOT RE-PERFORM", "not re-performable"
PREFIX = "reperform: "
MAX_SHOWN = 120  # characters of an observed value, ids of flagged items: enough to recognise, not to flood


class NotReperformable(Exception):  # noqa: N818 - a verdict, not an error of this code
    """The evidence does not let this check be recomputed; the message says what is missing or changed.
    Not a ValueError on purpose: `evaluate` must not turn it into an `error` outcome."""


@dataclass(frozen=True)
class CheckReperformance:
    check_id: str
    state: str  # same | DIFFERS | CANNOT RE-PERFORM | not re-performable
    detail: str = ""


@dataclass
class ReperformResult:
    date: str
    checks: list[CheckReperformance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # evidence that could not be used at all
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[CheckReperformance]:
        return [c for c in self.checks if c.state == DIFFERS]

    @property
    def ok(self) -> bool:
        """Every re-performable check was recomputed and matches its record."""
        return not self.problems and bool(self.checks) and all(c.state in (SAME, NOT_REPERFORMABLE)
                                                               for c in self.checks)

    def verdict(self) -> str:
        counts = {s: sum(c.state == s for c in self.checks) for s in (SAME, DIFFERS, CANNOT, NOT_REPERFORMABLE)}
        tally = (f"{counts[SAME]} as recorded, {counts[DIFFERS]} differ, {counts[CANNOT]} could not be re-performed, "
                 f"{counts[NOT_REPERFORMABLE]} not re-performable by design")
        if self.ok:
            return f"REPRODUCED: every re-performable check gives its recorded result ({tally})"
        if counts[DIFFERS]:
            return f"RECORDED RESULTS DIFFER: {tally}"
        return f"NOT RE-PERFORMED: {tally}; {len(self.problems)} problem(s)"

    def lines(self) -> list[str]:
        """Printable lines, each starting with `reperform: `, control characters escaped."""
        out = [f"date: {self.date}"]
        out += [f"{c.state:<8} {c.check_id}{': ' + c.detail if c.detail else ''}" for c in self.checks]
        out += [f"problem: {p}" for p in self.problems]
        out += [f"note: {n}" for n in self.notes]
        out.append(f"verdict: {self.verdict()}")
        return [PREFIX + escape_controls(line) for line in out]

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date, "reperformed": self.ok, "verdict": self.verdict(),
                "checks": [{"id": c.check_id, "state": c.state, "detail": c.detail} for c in self.checks],
                "problems": list(self.problems), "notes": list(self.notes)}


def escape_controls(text: str) -> str:
    """`text` with every control, format, surrogate or unassigned character (Unicode category C*)
    written as its escape: a value from the evidence cannot move the cursor or reorder a line."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch).startswith("C"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def _short(value: Any) -> str:
    text = json.dumps(to_jsonable(value), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


# ---- reading sealed files -----------------------------------------------------------------------


def _sealed_bytes(store: EvidenceStore, path: Any, sha256: Any) -> bytes:
    """The file's bytes, only if they are still those sealed (`sha256`); NotReperformable otherwise."""
    if not isinstance(path, str) or not isinstance(sha256, str):
        raise NotReperformable(f"a sealed file is named without a path and sha256 ({_short(path)})")
    try:
        data = store.backend.get(safe_relpath(path))
    except ObjectMissing:
        raise NotReperformable(f"{path} no longer exists") from None
    except EvidenceStoreError as exc:
        raise NotReperformable(f"{path} cannot be read: {exc}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise NotReperformable(f"{path} was changed after sealing (sha256 {actual[:16]}…, sealed {sha256[:16]}…)")
    return data


def _parquet(data: bytes, path: str, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(data), columns=columns)
    except Exception as exc:  # noqa: BLE001 - any parser failure on hostile bytes is a verdict
        raise NotReperformable(f"{path} is not a readable Parquet file ({type(exc).__name__})") from None


def _table_of(path: str, date: str) -> tuple[str, str] | None:
    """(table, ext) of `aircall/<table>/date=<date>/<table>[.attempt-N].<ext>`, or None."""
    folder, name = posixpath.split(path)
    parsed = parse_attempt_name(name)
    if parsed is None or folder != table_folder(parsed[0], date) or parsed[0] == REPORTS:
        return None
    return parsed[0], parsed[2]


@dataclass
class _SealedDay:
    """The day's listed files (path -> sha256), its tables read at most once each."""

    store: EvidenceStore
    date: str
    listed: dict[str, str]
    parquet: dict[str, str]  # table -> the listed Parquet path
    _frames: dict[str, pd.DataFrame | NotReperformable] = field(default_factory=dict)

    def table(self, table: str) -> pd.DataFrame:
        if table not in self._frames:
            path = self.parquet.get(table)
            try:
                if path is None:
                    raise NotReperformable(f"the manifest lists no {table} table")
                self._frames[table] = _parquet(_sealed_bytes(self.store, path, self.listed[path]), path)
            except NotReperformable as exc:
                self._frames[table] = exc
        frame = self._frames[table]
        if isinstance(frame, NotReperformable):
            raise frame
        return frame.copy()  # a rule must not see another rule's changes


@dataclass
class SealedHistory:
    """The earlier files a check recorded reading (its `history`), each re-hashed before use: the
    re-performance reads exactly those, never whatever the store holds today."""

    store: EvidenceStore
    recorded: Any
    trusted: TrustedKey | None = None
    notes: list[str] = field(default_factory=list)

    def _entries(self, kind: str) -> list[dict[str, Any]]:
        if not isinstance(self.recorded, dict) or not isinstance(self.recorded.get(kind), list):
            raise NotReperformable(f"the record does not say which earlier {kind} it read (no `history`)")
        entries = self.recorded[kind]
        if not all(isinstance(e, dict) for e in entries):
            raise NotReperformable(f"the record's history of {kind} is malformed")
        return entries

    def dates(self, table: str) -> list[str]:
        return sorted({str(e.get("date")) for e in self._entries("tables") if e.get("table") == table})

    def read_table(self, table: str, date: str, columns: list[str] | None = None) -> pd.DataFrame:
        entry = next((e for e in self._entries("tables") if e.get("table") == table and e.get("date") == date), None)
        if entry is None:
            raise NotReperformable(f"the record does not name the {table} file of {date} it read")
        path = entry.get("path")
        if not isinstance(path, str) or _table_of(path, date) != (table, "parquet"):
            raise NotReperformable(f"the record names {_short(path)} as the {table} of {date}: not that table's file")
        return _parquet(_sealed_bytes(self.store, path, entry.get("sha256")), path, columns)

    def latest_review(self, on_or_before: str) -> dict[str, Any] | None:
        entries = self._entries("reviews")
        if not entries:
            return None
        entry = entries[-1]
        day = str(entry.get("date"))
        if day > on_or_before:
            raise NotReperformable(f"the record names a review of {day}, after the day judged")
        try:
            # The store's own reading and signature check of that review day's newest attestation.
            review = self.store.latest_review(day, self.trusted)
        except EvidenceStoreError as exc:
            raise NotReperformable(f"the review of {day} cannot be read: {exc}") from None
        if review is None or review.get("path") != entry.get("path"):
            now = review.get("path") if review else "none"
            raise NotReperformable(f"the review read was {_short(entry.get('path'))}, the store now holds {now}")
        _sealed_bytes(self.store, review["path"], entry.get("sha256"))
        if self.trusted is None:
            review = {**review, "signature": entry.get("signature")}
            self.notes.append("AC-16: the review's signature state is the recorded one (no trusted key to re-check it)")
        return review


# ---- one check ----------------------------------------------------------------------------------


def _instant(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise NotReperformable(f"the record's {what} is not an ISO 8601 instant ({_short(value)})") from None
    if moment.tzinfo is None:
        raise NotReperformable(f"the record's {what} has no time zone ({_short(value)})")
    return moment


def _when(record: dict[str, Any], date: str, sealed_at: Any) -> tuple[datetime, datetime, str, datetime]:
    """(day_start, day_end, tz, evaluated_at) as recorded, checked against the day they claim."""
    window = record.get(WINDOW)
    if not isinstance(window, dict) or EVALUATED_AT not in record:
        raise NotReperformable("the record has no evaluated_at and window (sealed before re-performance was recorded?)")
    start, end = _instant(window.get("start"), "window start"), _instant(window.get("end"), "window end")
    now = _instant(record.get(EVALUATED_AT), "evaluated_at")
    try:
        tz = ZoneInfo(str(window.get("tz")))
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise NotReperformable(f"the record's time zone {_short(window.get('tz'))} is unknown") from None
    day = date_cls.fromisoformat(date)
    midnight = datetime.combine(day, datetime.min.time(), tz)
    following = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    if start != midnight or end != following:
        raise NotReperformable(f"the record's window {start.isoformat()} .. {end.isoformat()} is not the day {date}")
    sealed = _instant(sealed_at, "manifest's sealed_at") if sealed_at is not None else None
    if now < start or (sealed is not None and now > sealed):
        raise NotReperformable(f"evaluated_at {now.isoformat()} is outside the day's collection ({start.isoformat()} "
                               f"to the seal at {sealed_at})")
    return start, end, str(window.get("tz")), now  # as recorded: the pipeline's own datetimes


def _compare(rule: Rule, recorded: dict[str, Any], again: dict[str, Any], judged: list[str]) -> CheckReperformance:
    parts = list(judged)
    if recorded.get("observed") != again.get("observed"):
        parts.append(f"observed {_short(recorded.get('observed'))} vs {_short(again.get('observed'))}")
    before = [str(i.get("item_id")) if isinstance(i, dict) else "?" for i in recorded.get("items") or []]
    after = [str(i.get("item_id")) for i in again.get("items") or []]
    if before != after or recorded.get("items_total") != again.get("items_total"):
        gone, new = sorted(set(before) - set(after)), sorted(set(after) - set(before))
        parts.append(f"flagged items {_short(recorded.get('items_total'))} vs {again.get('items_total')}"
                     + (f", only recorded {_short(gone)}" if gone else "") + (f", only re-performed {_short(new)}" if new else ""))
    status = f"recorded {str(recorded.get('status'))[:MAX_SHOWN]}, re-performed {again['status']}"
    if recorded.get("status") == again["status"] and not parts:
        return CheckReperformance(rule.spec.check_id, SAME, f"{again['status']}, observed {_short(again.get('observed'))}")
    return CheckReperformance(rule.spec.check_id, DIFFERS, status + (f" ({'; '.join(parts)})" if parts else ""))


def _judged_differences(rule: Rule, recorded: dict[str, Any], day: _SealedDay) -> list[str]:
    """Tables the record says it judged in other files than the manifest lists (or not at all)."""
    judged = recorded.get(JUDGED) if isinstance(recorded.get(JUDGED), dict) else {}
    out = []
    for table in rule.reads:
        path = day.parquet.get(table)
        seen = judged.get(table)
        expected = {"path": path, "sha256": day.listed.get(path)} if path else None
        if not isinstance(seen, dict) or {k: seen.get(k) for k in ("path", "sha256")} != expected:
            out.append(f"judged {table} {_short(seen.get('path') if isinstance(seen, dict) else None)}, "
                       f"the manifest lists {path}")
    return out


def _rows_of(findings: pd.DataFrame) -> list[tuple[str, str]]:
    if not {"status", "item_id"} <= set(findings.columns):
        return []
    return [(str(s), str(i)) for s, i in zip(findings["status"], findings["item_id"], strict=True)]


def _findings_difference(rule: Rule, findings: pd.DataFrame, day: _SealedDay) -> list[str]:
    """The sealed findings table (every evaluated item, not only the flagged ones checks.json lists)
    against the re-performed one, by status and item id."""
    sealed, again = _rows_of(day.table(rule.asset_name)), _rows_of(findings)
    if sealed == again:
        return []
    gone, new = sorted(set(sealed) - set(again)), sorted(set(again) - set(sealed))
    return [f"findings table {len(sealed)} rows vs {len(again)}"
            + (f", only sealed {_short(gone)}" if gone else "") + (f", only re-performed {_short(new)}" if new else "")]


def _reperform_check(rule: Rule, recorded: dict[str, Any] | None, day: _SealedDay, sealed_at: Any,
                     trusted: TrustedKey | None, notes: list[str]) -> CheckReperformance:
    check_id = rule.spec.check_id
    if recorded is None:
        return CheckReperformance(check_id, DIFFERS, "the sealed checks.json has no result for it")
    if rule.not_reperformable:
        return CheckReperformance(check_id, NOT_REPERFORMABLE, rule.not_reperformable)
    history = SealedHistory(day.store, recorded.get(HISTORY), trusted)
    try:
        day_start, day_end, tz, now = _when(recorded, day.date, sealed_at)
        tables = {t: day.table(t) for t in rule.reads}
        inputs = RuleInputs(date=day.date, day_start=day_start, day_end=day_end, tz=tz, now=now, tables=tables,
                            history=history)
        outcome, _ = evaluate(rule, inputs)
        again = normalise_check(outcome_record(outcome))
        differences = _judged_differences(rule, recorded, day) + _findings_difference(rule, outcome.findings, day)
    except NotReperformable as exc:
        return CheckReperformance(check_id, CANNOT, str(exc))
    except Exception as exc:  # noqa: BLE001 - hostile inputs can make pandas raise anything; it must not read as a pass
        return CheckReperformance(check_id, CANNOT, f"the rule failed on the sealed inputs ({type(exc).__name__}: {exc})")
    notes.extend(history.notes)
    return _compare(rule, recorded, again, differences)


# ---- the day ------------------------------------------------------------------------------------


def _listing(manifest: dict[str, Any], date: str, result: ReperformResult) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(path -> sha256 of every listed file, table -> its listed Parquet, the listed checks.json)."""
    listed: dict[str, str] = {}
    artifacts = manifest.get("artifacts")
    for artifact in artifacts if isinstance(artifacts, list) else []:
        if isinstance(artifact, dict) and isinstance(artifact.get("path"), str) and isinstance(artifact.get("sha256"), str):
            listed[artifact["path"]] = artifact["sha256"]
    if not listed:
        result.problems.append("the manifest lists no files")
    parquet: dict[str, str] = {}
    checks = []
    for path in listed:
        found = _table_of(path, date)
        if found and found[1] == "parquet":
            if found[0] in parquet:
                result.problems.append(f"the manifest lists two {found[0]} tables ({parquet[found[0]]}, {path})")
            parquet[found[0]] = path
        parsed = parse_attempt_name(posixpath.basename(path))
        if (posixpath.dirname(path) == f"{ROOT}/{REPORTS}/date={date}" and parsed and parsed[0] == "checks"
                and parsed[2] == "json"):
            checks.append(path)
    if len(checks) != 1:
        result.problems.append(f"the manifest lists {len(checks)} checks.json files, expected one")
    return listed, parquet, checks[0] if len(checks) == 1 else None


def _recorded_checks(store: EvidenceStore, path: str, sha256: str, result: ReperformResult) -> dict[str, dict] | None:
    try:
        records = json.loads(_sealed_bytes(store, path, sha256))
    except NotReperformable as exc:
        result.problems.append(str(exc))
        return None
    except ValueError:
        result.problems.append(f"{path} is not JSON")
        return None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        result.problems.append(f"{path} is not a list of check records")
        return None
    by_id: dict[str, dict] = {}
    for record in records:
        if str(record.get("id")) in by_id:
            result.problems.append(f"{path} records {_short(record.get('id'))} twice")
        by_id[str(record.get("id"))] = record
    return by_id


def reperform_day(store: EvidenceStore, date: str, manifest: dict[str, Any], *,
                  trusted: TrustedKey | None = None) -> ReperformResult:
    """Recompute every check of the sealed `date` from the files `manifest` lists (see the module doc).
    `trusted`: the key the day was verified with; AC-16 re-checks the review's signature with it."""
    result = ReperformResult(str(date))
    try:
        if not isinstance(manifest, dict) or manifest.get("date") != date:
            result.problems.append(f"the manifest is not {date}'s (its date is "
                                   f"{_short(manifest.get('date') if isinstance(manifest, dict) else None)})")
            return result
        listed, parquet, checks_path = _listing(manifest, date, result)
        recorded = _recorded_checks(store, checks_path, listed[checks_path], result) if checks_path else None
        if recorded is None:
            return result
        day = _SealedDay(store, date, listed, parquet)
        for rule in RULES:
            result.checks.append(_reperform_check(rule, recorded.get(rule.spec.check_id), day,
                                                  manifest.get("sealed_at"), trusted, result.notes))
        known = {rule.spec.check_id for rule in RULES}
        result.problems += [f"checks.json records {_short(cid)}, which the pipeline has no rule for"
                            for cid in recorded if cid not in known]
        result.notes[:] = list(dict.fromkeys(result.notes))
    except Exception as exc:  # noqa: BLE001 - a bug here on hostile evidence must fail, never raise or pass
        result.problems.append(f"re-performance stopped: {type(exc).__name__}: {exc}")
    return result


def authentic_manifest(verification: Any) -> str | None:
    """The path of the day's newest manifest when `verification` (evidence/verify.py's DayVerification)
    found it signed by the trusted key; None otherwise."""
    from aircall_pipeline.evidence.verify import SIG_VALID

    path = getattr(verification, "manifest_path", None)
    if not path or not getattr(verification, "trusted_key", None):
        return None
    signed = [a for a in getattr(verification, "attempts", []) if a.path == path and a.signature == SIG_VALID]
    return path if signed else None


def reperform_verified(store: EvidenceStore, verification: Any, trusted: TrustedKey | None) -> ReperformResult:
    """`reperform_day` on the manifest `verification` authenticated (re-read, and refused unless its
    bytes are the ones verified); a day whose manifest is not authentic is not re-performed."""
    result = ReperformResult(str(getattr(verification, "date", "?")))
    path = authentic_manifest(verification)
    if path is None:
        result.problems.append("not re-performed: the day's newest manifest is not signed by the trusted key, so "
                               "nothing proves its files are the day's evidence")
        return result
    try:
        manifest = json.loads(_sealed_bytes(store, path, verification.manifest_sha256))
    except (NotReperformable, ValueError) as exc:
        result.problems.append(f"not re-performed: the manifest cannot be read as verified ({exc})")
        return result
    return reperform_day(store, result.date, manifest, trusted=trusted)


__all__ = ["CANNOT", "DIFFERS", "NOT_REPERFORMABLE", "SAME", "CheckReperformance", "NotReperformable",
           "ReperformResult", "SealedHistory", "authentic_manifest", "escape_controls", "reperform_day",
           "reperform_verified"]
