"""A sandbox account's calls: generated once from the account's seed, kept as parallel `array`
columns sorted by `started_at` (a `(from, to]` window is two bisects), and rendered to the dicts
`GET /v1/calls` returns only when a page asks for them, so an account can hold tens of thousands.

The rendered fields follow calls observed live (https://github.com/estuary/connectors,
source-aircall-native/bruno/Calls/bare.yml) and the reference (https://developer.aircall.io/api-references/,
"Call"): 64-bit ids, display-formatted `raw_digits` or `"anonymous"`, UNIX-second `posted_at` on
comments though documented as a string, short-lived signed recording URLs.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from aircall_pipeline.sandbox.vocabulary import (
    ANONYMOUS,
    CALL_EXTRA_FIELD,
    COMMENT_TEXTS,
    COUNTRIES,
    DIRECT_LINK_ROOT,
    MISSED_CALL_REASONS,
    TAG_NAMES,
    iso,
)

# Bits of the per-call `flags` column.
INBOUND, ANSWERED, RECORDING, VOICEMAIL, ARCHIVED, EXTRA, OUT_OF_BUNDLE = (1 << k for k in range(7))

CALL_ID_BASE = 5_000_000_000  # real call ids exceed 2**32: clients must use 64-bit integers


class CallHistory:
    """Every call of one account. `started` are the start times (UNIX seconds, any order) drawn by the
    account; the rest of each call is drawn here from `rng`, in the account's sequence, so one seed
    always gives the same calls. `callers` are the user indexes that may take or place a call,
    `user_number` each user's default number index; `numbers`, `abridged_users` and `number_teams`
    are the account's, as calls embed them."""

    def __init__(
        self,
        rng: random.Random,
        started: list[int],
        *,
        seed: int,
        anchor: date,
        callers: Sequence[int],
        user_number: Sequence[int],
        numbers: list[dict[str, Any]],
        abridged_users: list[dict[str, Any]],
        number_teams: list[list[dict[str, Any]]],
    ) -> None:
        self._seed = seed
        self._anchor = anchor
        self._numbers = numbers
        self._abridged_users = abridged_users
        self._number_teams = number_teams
        count = len(started)
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
        number_count = len(numbers)
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
            number = user_number[user] if answered or not inbound else randrange(number_count)
            if answered and numbers[number]["live_recording_activated"] and random_() < 0.95:
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
    def count(self) -> int:
        return len(self._ids)

    def window(self, from_ts: int | None, to_ts: int | None) -> range:
        """Indexes of the calls with `from_ts < started_at <= to_ts` (the live API's half-open window)."""
        low = 0 if from_ts is None else bisect_right(self._started, from_ts)
        high = len(self._started) if to_ts is None else bisect_right(self._started, to_ts)
        return range(low, max(low, high))

    def index_of(self, call_id: int) -> int | None:
        index = bisect_left(self._ids, call_id)
        return index if index < len(self._ids) and self._ids[index] == call_id else None

    def started_at(self, index: int) -> int:
        return self._started[index]

    def rendered(self, *, include_unknown: bool = True) -> Iterator[dict[str, Any]]:
        for index in range(self.count):
            yield self.render(index, include_unknown=include_unknown)

    def render(self, index: int, *, include_unknown: bool = True, short_urls: bool = False) -> dict[str, Any]:
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
            "sid": "CA" + hashlib.blake2b(f"{self._seed}:{call_id}".encode(), digest_size=16).hexdigest(),
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
        signature = hashlib.sha256(f"{self._seed}:{call_id}:{kind}".encode()).hexdigest()
        stamp = self._anchor.strftime("%Y%m%d")
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
                "created_at": iso(datetime.fromtimestamp(started + 600, UTC), millis=True),
                "tagged_by": self._abridged_users[tagger] if tagger >= 0 else None,
            }
            for k in range(len(TAG_NAMES))
            if bits & (1 << k)
        ]

    def _call_number(self, index: int) -> dict[str, Any]:
        return {**self._numbers[index], "flow_editor_enabled": True}

