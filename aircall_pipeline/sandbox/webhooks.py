"""A sandbox account's webhooks: where it sends call and user data (AC-11), with what the live
`GET /v1/webhooks` returns, secrets included: a plain-text shared `token` and destination URLs with
credentials in their path, query or userinfo (https://github.com/estuary/connectors,
source-aircall-native/bruno/Webhooks/bare.yml; at most 100 per company and an empty `events` list
subscribing to every event: https://github.com/w6w-io/w6w-apps, apps/aircall/actions/webhook-create.ts).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aircall_pipeline.sandbox.vocabulary import DIRECT_LINK_ROOT, WEBHOOK_EXTRA_FIELD, day_start, iso

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


def build_webhooks(seed: int, anchor: date, domain: str, count: int) -> tuple[list[dict[str, Any]], list[str]]:
    """`count` webhooks as the list returns them, and the credentials embedded in their URLs."""
    # Their own generator, so that adding webhooks never changes the users, numbers or calls
    # an existing seed gives.
    rng = random.Random(f"webhooks:{seed}")
    anchor_ts = day_start(anchor)
    created_times = sorted(anchor_ts - rng.randint(2, 700) * 86400 + rng.randint(0, 86399) for _ in range(count))
    webhooks: list[dict[str, Any]] = []
    url_secrets: list[str] = []
    webhook_int_id = 3_100
    for index, created in enumerate(created_times):
        if index < len(WEBHOOK_DESTINATIONS):
            scheme, host, path, active, events = WEBHOOK_DESTINATIONS[index]
        else:
            scheme, host, path, active, _ = WEBHOOK_DESTINATIONS[0]
            events = MORE_WEBHOOK_EVENTS[index % len(MORE_WEBHOOK_EVENTS)]
        secret = URL_SECRET_PREFIX + f"{rng.getrandbits(64):016x}"
        url_secrets.append(secret)
        fill = {"secret": secret, "domain": domain, "n": 100_000 + index}
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
            "created_at": iso(datetime.fromtimestamp(created, UTC), millis=index % 2 == 0),
        }
        if index == 1:
            webhook[WEBHOOK_EXTRA_FIELD] = "failing"
        webhooks.append(webhook)
    return webhooks, url_secrets
