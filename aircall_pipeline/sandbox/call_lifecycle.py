"""Calls as the clock sees them: a stored call is served in progress, then still being rewritten,
then final, depending on when it is asked for."""

from __future__ import annotations

from typing import Any

# Estuary saw calls rewritten up to 20 minutes after they ended (https://github.com/estuary/connectors,
# source-aircall-native: realtime plus a 24 h lookback re-read for that reason).
CALL_REWRITE_SECONDS = 20 * 60


def as_of(call: dict[str, Any], now: int) -> dict[str, Any]:
    """`call` as the API shows it at `now`: in progress (status `initial` while ringing, `answered`
    once picked up; no end yet), still being rewritten for CALL_REWRITE_SECONDS after it ended, then
    final (`done`). The statuses are the documented ones (https://developer.aircall.io/api-references/,
    "Call": initial, answered, done)."""
    ended = call.get("ended_at")
    if ended is None or now - ended >= CALL_REWRITE_SECONDS:
        return call
    call = dict(call)
    if now < ended:
        answered = call.get("answered_at")
        call["status"] = "answered" if answered is not None and answered <= now else "initial"
        if answered is not None and answered > now:
            call["answered_at"] = None
        call.update(ended_at=None, duration=None, recording=None, voicemail=None, asset=None,
                    missed_call_reason=None, comments=[], tags=[])
    else:
        # Ended, but the recording is still processed and the cost not yet computed.
        call.update(recording=None, asset=None, cost="0.0", tags=[])
    return call

