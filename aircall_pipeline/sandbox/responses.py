"""The bodies the sandbox answers with, as the live API words them.

Edge errors (401/403/404 from the gateway in front of Aircall) are `{"message": ...}`; application
errors follow the `{"error", "troubleshoot"}` shape documented in
https://developer.aircall.io/api-references/. The edge bodies were measured live by the w6w Aircall
app (https://github.com/w6w-io/w6w-apps, apps/aircall/lib/client.ts).
"""

from __future__ import annotations

import json
from typing import Any

# (status, JSON payload, extra headers): what every endpoint returns.
Response = tuple[int, dict[str, Any], dict[str, str]]

# Observed verbatim on the live API for any page past the cap (Estuary's probe,
# https://github.com/estuary/connectors, source-aircall-native/bruno/Calls/page past cap.yml).
CAP_EXCEEDED_BODY = {
    "error": "Bad Request",
    "data": None,
    "message": "BAD_REQUEST",
    "errors": "Your query is limited to 10k results and pagination is out of bound, please use timestamps or other filters.",
    "troubleshoot": "BAD_REQUEST",
    "success": False,
}
UNAUTHORIZED_BODY = {"message": "Unauthorized"}
FORBIDDEN_BODY = {"message": "Forbidden"}
NOT_FOUND_BODY = {"message": "Not Found"}
ID_NOT_FOUND_BODY = {"error": "Not found", "troubleshoot": "Id does not exist"}
# The live 410 body after the sunset is unobserved; this one follows the documented error shape.
USER_V1_GONE_BODY = {
    "error": "Gone",
    "troubleshoot": "User V1 API was retired on 2026-09-30. Use GET /v2/users instead.",
}
ROOT_BODY = {
    "resource": "Aircall Public API (sandbox)",
    "contact": "https://developer.aircall.io/api-references/",
    "documentation": "/v1/ping, /v1/company, /v2/users, /v1/teams, /v1/numbers, /v1/calls, /v1/webhooks; "
                     "test hooks under /sandbox/",
}


class BadRequest(Exception):
    """Raised by an endpoint to answer 400 with `body`."""

    def __init__(self, body: dict[str, Any]):
        super().__init__(body.get("troubleshoot", "Bad Request"))
        self.body = body


def bad_parameter(name: str, detail: str) -> BadRequest:
    return BadRequest({"error": "Bad Request", "troubleshoot": f"Invalid parameter '{name}': {detail}."})


def json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
