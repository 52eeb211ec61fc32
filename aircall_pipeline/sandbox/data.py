"""A deterministic, seeded Aircall account for the sandbox server.

Users, teams and numbers are few, so they are built once as the JSON dicts the API returns; calls
can number in the tens of thousands and live in columns (calls.py); webhooks come from their own
generator (webhooks.py); names and formats are in vocabulary.py. Field sets and formats follow the
live API as connectors observed it (https://github.com/estuary/connectors, source-aircall-native/bruno/;
https://github.com/airbytehq/airbyte, airbyte-integrations/connectors/source-aircall/) and the
reference (https://developer.aircall.io/api-references/), quirks included: ISO `created_at` with and
without milliseconds, display-formatted phone numbers, `"anonymous"` callers, 64-bit call ids,
UNIX-second comment timestamps, an unknown extra field on some objects. Webhooks carry what the live
list returns, secrets included: a plain-text shared `token` and destination URLs with credentials in
their path, query or userinfo.

The account also carries the compliance situations the demo should find (a shared mailbox, a user
in no team, an empty team, a number with no users, dormant users, a leaver still present, a user
absent from the HR roster), and the two files an owner would supply out of band: the roles export
(the API has no role field) and the HR/IdP roster.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aircall_pipeline.sandbox.calls import CallHistory
from aircall_pipeline.sandbox.vocabulary import (
    CALL_EXTRA_FIELD,
    COUNTRIES,
    DIRECT_LINK_ROOT,
    FIRST_NAMES,
    HOSTILE_NAMES,
    LANGUAGES,
    LAST_NAMES,
    NUMBER_MESSAGE_KINDS,
    SUBSTATUSES,
    TEAM_NAMES,
    TIME_ZONES,
    USER_EXTRA_FIELD,
    WEBHOOK_EXTRA_FIELD,
    day_start,
    iso,
)
from aircall_pipeline.sandbox.webhooks import (
    APPROVED_WEBHOOK_DOMAINS,
    MAX_WEBHOOKS,
    URL_SECRET_PREFIX,
    WEBHOOK_DESTINATIONS,
    WEBHOOK_TOKEN_PREFIX,
    build_webhooks,
)

# Names tests, scripts and benchmarks import from here; their homes are vocabulary.py and webhooks.py.
__all__ = [
    "CALL_EXTRA_FIELD",
    "HOSTILE_NAMES",
    "URL_SECRET_PREFIX",
    "USER_EXTRA_FIELD",
    "WEBHOOK_EXTRA_FIELD",
    "WEBHOOK_TOKEN_PREFIX",
    "SandboxAccount",
]

# The order in which compliance situations are given to users, counted from the last user
# backwards; the first two users are always ordinary people (the declared admins).
QUIRKS = ("generic_mailbox", "empty_name", "teamless", "dormant", "dormant", "dormant", "terminated", "unrostered")


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
        anchor_ts = day_start(self.anchor)
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
                "created_at": iso(datetime.fromtimestamp(created, UTC), millis=index % 3 == 0),
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
        anchor_ts = day_start(self.anchor)
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
                "created_at": iso(datetime.fromtimestamp(created, UTC), millis=False),
            })
        for number_index, members in enumerate(self._number_users):
            for user_index in members:
                if self.users[user_index]["default_number_id"] is None:
                    self.users[user_index]["default_number_id"] = self.numbers[number_index]["id"]
        self._number_index = {number["id"]: index for index, number in enumerate(self.numbers)}
        self._number_created = [_parseiso(number["created_at"]) for number in self.numbers]
        self._user_number = [
            self._number_index.get(user["default_number_id"], 0) for user in self.users
        ]

    def _build_teams(self, count: int) -> None:
        rng = self._rng
        anchor_ts = day_start(self.anchor)
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
                "created_at": iso(datetime.fromtimestamp(created, UTC), millis=True),
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
        start, end = day_start(self.first_day), day_start(self.anchor)
        busy_start = day_start(self.busy_day)
        ordinary = count - self.busy_day_calls
        started = [rng.randrange(start, end) for _ in range(ordinary)]
        started += [rng.randrange(busy_start, busy_start + 86400) for _ in range(self.busy_day_calls)]
        callers = [i for i in range(len(self.users)) if self._quirk_of.get(i) != "dormant"] or [0]
        self._calls = CallHistory(
            rng, started, seed=self.seed, anchor=self.anchor, callers=callers, user_number=self._user_number,
            numbers=self.numbers, abridged_users=self._abridged_users, number_teams=self._number_teams,
        )

    @property
    def call_count(self) -> int:
        return self._calls.count

    def call_range(self, from_ts: int | None, to_ts: int | None) -> range:
        """Indexes of the calls with `from_ts < started_at <= to_ts` (the live API's half-open window)."""
        return self._calls.window(from_ts, to_ts)

    def call_index(self, call_id: int) -> int | None:
        return self._calls.index_of(call_id)

    def call_started_at(self, index: int) -> int:
        return self._calls.started_at(index)

    def iter_calls(self, *, include_unknown: bool = True) -> Iterator[dict[str, Any]]:
        return self._calls.rendered(include_unknown=include_unknown)

    def call(self, index: int, *, include_unknown: bool = True, short_urls: bool = False) -> dict[str, Any]:
        """The call at `index` as `GET /v1/calls` returns it."""
        return self._calls.render(index, include_unknown=include_unknown, short_urls=short_urls)

    # ----------------------------------------------------------------------------- webhooks

    def _build_webhooks(self, count: int) -> None:
        self.webhooks, self._url_secrets = build_webhooks(self.seed, self.anchor, self.domain, count)

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
                "terminated_at": iso(anchor_noon - timedelta(days=6), millis=False) if terminated else None,
            })
        for k, (first, last) in enumerate((("Olga", "Nowak"), ("Pierre", "Blanc"))):
            rows.append({
                "email": f"{first.lower()}.{last.lower()}@{self.domain}",
                "name": f"{first} {last}",
                "status": "terminated",
                "terminated_at": iso(anchor_noon - timedelta(days=40 + 20 * k), millis=False),
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


def _parseiso(text: str) -> int:
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
