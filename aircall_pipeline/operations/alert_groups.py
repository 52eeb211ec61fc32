"""Failure alerts grouped across accounts, the way Alertmanager groups alerts.

When an Aircall outage or a revoked shared S3 credential fails many accounts' runs at once, one
alert per run would flood the channel. As Alertmanager's route does, alerts whose `group_by`
fields (here the alert's `kind`, optionally its `severity`) are equal fall into one group, and the
group is sent `group_wait` seconds after its first alert arrived, with whatever joined it by then:

- a group of one is sent as that alert, unchanged (the account's own alert, naming it);
- a group of N >= 2 becomes one alert listing every account (sorted) with its date and run, with
  `accounts` and `runs` in its details, the most severe severity of the group, and a link per run;
  the text lists at most MAX_LISTED of them ("… and N more"), so a 1,000-account outage stays readable.

Alertmanager's `group_interval` (how long to wait before notifying a group that has already been
sent about alerts added to it) has no counterpart here: a failed run is an event, never resolved
nor repeated, so once a group is sent it is gone, and a failure arriving later starts a new group
with its own `group_wait`.

`ALERT_GROUP_WAIT_SECONDS` (default 30; 0: what arrived within one sensor tick is grouped and sent
at the end of that tick). The pending groups are state the run-failure sensor keeps in its cursor
(`to_json` / `from_json`; a cursor that cannot be read is an empty state, never an error).

Pure: nothing here reads an instance, the clock or sends.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aircall_pipeline.config.settings import SEVERITIES
from aircall_pipeline.jsonable import to_jsonable
from aircall_pipeline.operations.alerts import ALERT_KINDS, Alert

GROUP_WAIT_VAR = "ALERT_GROUP_WAIT_SECONDS"
DEFAULT_GROUP_WAIT_SECONDS = 30.0
GROUP_BY_FIELDS = ("kind", "severity")
DEFAULT_GROUP_BY = ("kind",)
MAX_LISTED = 50  # accounts named in a group's text, and runs linked
MAX_FIRST_TEXT_CHARS = 1500  # the first failure's explanation, quoted in a group's text

# What N failures of a kind have in common, when their own headlines differ.
KIND_TITLES = {
    "auth": "the Aircall API key was rejected (401/403)",
    "rate_limit": "the Aircall API budget is exhausted (429)",
    "s3": "the evidence store (S3) failed",
    "check_failed": "a blocking compliance check failed",
    "config": "the configuration is missing or invalid",
    "stale": "the evidence is stale",
    "tamper": "objects the pipeline did not write were found in the evidence",
    "other": "the evidence runs failed",
}

logger = logging.getLogger(__name__)


def group_wait_seconds(environ: Mapping[str, str] | None = None) -> float:
    """ALERT_GROUP_WAIT_SECONDS: a number of seconds >= 0. An unusable value is logged and the
    default applies: alerting must keep working whatever the variable says."""
    raw = (os.environ if environ is None else environ).get(GROUP_WAIT_VAR, "").strip()
    if not raw:
        return DEFAULT_GROUP_WAIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        logger.warning(f"{GROUP_WAIT_VAR}={raw!r} is not a number of seconds >= 0; using "
                       f"{DEFAULT_GROUP_WAIT_SECONDS:g}")
        return DEFAULT_GROUP_WAIT_SECONDS
    return value


@dataclass(frozen=True)
class Member:
    """One failed run in a group. Only a group's first member keeps its whole alert (a group of one
    is sent as it); the others keep what a group's alert shows, so the cursor stays small."""

    account: str
    alert: Alert
    headline: str | None = None  # the diagnosis headline, shared by a group's title when all agree

    @property
    def partition(self) -> str | None:
        value = self.alert.details.get("partition")
        return str(value) if value else None

    def to_json(self, *, full: bool) -> dict[str, Any]:
        a = self.alert
        data: dict[str, Any] = {"account": self.account, "headline": self.headline, "title": a.title,
                                "severity": a.severity, "kind": a.kind, "run_id": a.run_id, "run_url": a.run_url}
        if full:
            data.update(text=a.text, details=to_jsonable(dict(a.details)), links=[list(link) for link in a.links])
        else:
            data["details"] = {"partition": self.partition} if self.partition else {}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Member:
        alert = Alert(
            title=str(data["title"]), severity=data["severity"], kind=data["kind"], text=str(data.get("text") or ""),
            run_id=data.get("run_id"), run_url=data.get("run_url"), details=dict(data.get("details") or {}),
            links=tuple((str(label), str(url)) for label, url in data.get("links") or ()),
        )
        headline = data.get("headline")
        return cls(str(data["account"]), alert, str(headline) if headline is not None else None)


@dataclass
class Group:
    key: tuple[str, ...]
    first_at: float
    members: list[Member] = field(default_factory=list)



class PendingAlerts:
    """The groups waiting for their `group_wait`: `add` alerts as they arrive, send what `due` returns."""

    def __init__(self, *, group_by: Sequence[str] = DEFAULT_GROUP_BY, group_wait: float = DEFAULT_GROUP_WAIT_SECONDS,
                 groups: Iterable[Group] = ()):
        unknown = [f for f in group_by if f not in GROUP_BY_FIELDS]
        if unknown or not group_by:
            raise ValueError(f"group_by must name some of {GROUP_BY_FIELDS}, not {tuple(group_by)}")
        self.group_by = tuple(group_by)
        self.group_wait = float(group_wait)
        self.groups: dict[tuple[str, ...], Group] = {g.key: g for g in groups}

    def key_of(self, alert: Alert) -> tuple[str, ...]:
        return tuple(str(getattr(alert, f)) for f in self.group_by)

    def add(self, alert: Alert, account: str, now: float, *, headline: str | None = None) -> None:
        key = self.key_of(alert)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, now)
        group.members.append(Member(account, alert, headline))

    def __len__(self) -> int:
        return sum(len(g.members) for g in self.groups.values())

    def due(self, now: float) -> list[Alert]:
        """The alerts of every group whose `group_wait` has passed (they leave the pending state),
        oldest group first."""
        ready = sorted((g for g in self.groups.values() if now >= g.first_at + self.group_wait),
                       key=lambda g: (g.first_at, g.key))
        for group in ready:
            del self.groups[group.key]
        return [group_alert(g.members, group_wait=self.group_wait) for g in ready]

    # The cursor -----------------------------------------------------------------------------------

    def to_json(self) -> list[dict[str, Any]]:
        return [{"key": list(g.key), "first_at": g.first_at,
                 "members": [m.to_json(full=i == 0) for i, m in enumerate(g.members)]}
                for g in sorted(self.groups.values(), key=lambda g: (g.first_at, g.key))]

    @classmethod
    def from_json(cls, data: Any, *, group_by: Sequence[str] = DEFAULT_GROUP_BY,
                  group_wait: float = DEFAULT_GROUP_WAIT_SECONDS) -> PendingAlerts:
        """The pending state a cursor holds. A group that cannot be read is dropped (logged), not
        the whole state; a group kept under another `group_by` is re-keyed by its members."""
        pending = cls(group_by=group_by, group_wait=group_wait)
        for raw in data if isinstance(data, list) else ():
            try:
                first_at = float(raw["first_at"])
                members = [Member.from_json(m) for m in raw["members"]]
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning(f"dropping an unreadable pending alert group from the cursor: {type(exc).__name__}")
                continue
            for member in members:
                key = pending.key_of(member.alert)
                group = pending.groups.setdefault(key, Group(key, first_at))
                group.first_at = min(group.first_at, first_at)
                group.members.append(member)
        return pending


# --------------------------------------------------------------------------------------------------
# A group as one alert


def _most_severe(severities: Iterable[str]) -> str:
    return min(severities, key=SEVERITIES.index)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def group_alert(members: Sequence[Member], *, group_wait: float = DEFAULT_GROUP_WAIT_SECONDS) -> Alert:
    """The one alert of a group: the member's own alert for a group of one, else a listing."""
    if not members:
        raise ValueError("an alert group has at least one member")
    if len(members) == 1:
        return members[0].alert
    first = members[0]
    ordered = sorted(members, key=lambda m: (m.account, m.partition or "", m.alert.run_id or ""))
    accounts = sorted({m.account for m in members})
    kinds = {m.alert.kind for m in members}
    kind = first.alert.kind if len(kinds) == 1 else "other"
    headlines = {m.headline for m in members}
    headline = headlines.pop() if len(headlines) == 1 and None not in headlines else KIND_TITLES[kind]
    runs = len(members)
    title = f"{_plural(len(accounts), 'account')} failed: {headline}"
    if runs != len(accounts):
        title = f"{_plural(len(accounts), 'account')} failed ({runs} runs): {headline}"

    lines = [f"Evidence runs of {_plural(len(accounts), 'account')} failed with the same kind of error "
             f"({kind}) within {group_wait:g} s: probably one shared cause (an Aircall outage, a shared "
             "credential revoked). Each failed date has no complete evidence until it is re-run."]
    for member in ordered[:MAX_LISTED]:
        where = f" — {member.partition}" if member.partition else ""
        lines.append(f"• {member.account}{where} — run {member.alert.run_id or '?'}")
    if runs > MAX_LISTED:
        lines.append(f"… and {runs - MAX_LISTED} more (every account and run is in the alert's details)")
    first_text = first.alert.text
    if len(first_text) > MAX_FIRST_TEXT_CHARS:
        first_text = first_text[: MAX_FIRST_TEXT_CHARS - 1] + "…"
    lines.append(f"The first failure ({first.account}) said: {first.alert.title}\n{first_text}")
    links = tuple((f"Run {m.account}{' ' + m.partition if m.partition else ''}", m.alert.run_url)
                  for m in ordered[:MAX_LISTED] if m.alert.run_url)
    return Alert(
        title=title,
        severity=_most_severe(m.alert.severity for m in members),  # type: ignore[arg-type]
        kind=kind if kind in ALERT_KINDS else "other",  # type: ignore[arg-type]
        text="\n".join(lines),
        links=links,
        details={
            "kind": kind,
            "accounts": accounts,
            "runs": [m.alert.run_id for m in ordered],
            "partitions": [m.partition for m in ordered],
            "failures": runs,
            "group_wait_seconds": group_wait,
        },
    )
