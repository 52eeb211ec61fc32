"""`verify`'s proof-of-time check: each genuine manifest attempt's RFC 3161 token (`manifest.tsr`
beside `manifest.json`, see evidence/timestamping.py), checked offline against the statement the
attempt's signature covers, and its `sealed_at` compared with the TSA's time.

A signature proves who sealed a manifest; only the token proves when. So a key holder who re-seals a
day back-dated, re-signing it, is caught here when the day was stamped: the token cannot be made for
an earlier time, and a token taken from another attempt or day is over another statement.

Nothing here raises: every TimestampError and every unreadable token is a problem line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aircall_pipeline.evidence.errors import NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import token_path
from aircall_pipeline.evidence.schemas import instant
from aircall_pipeline.evidence.signing import statement
from aircall_pipeline.evidence.timestamping import (
    MAX_TOKEN_BYTES,
    NOT_ATTESTED,
    TimestampError,
    TokenCheck,
    check_token,
    sealed_at_within,
)
from aircall_pipeline.evidence.variables import TSA_CA_VAR

# check_token's message for a genuine token over another statement: that is a swapped token (FORGED),
# not a damaged one (MALFORMED).
OTHER_STATEMENT = "for another statement"
UNCHECKED_CHAIN = (f"the timestamp token's chain was not checked against a trusted TSA root (give --tsa-ca or "
                   f"{TSA_CA_VAR}): its signature is valid under its own certificate only, so which TSA made it "
                   "is not established")


@dataclass
class TimeVerdict:
    """What the tokens of a day's attempts prove: `time` (the day's `time:` line, for the newest
    attempt), problems and notes, in the order found."""

    time: str = NOT_ATTESTED
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_times(attempts: Sequence[Any], read: Callable[[str, int], bytes], roots: list[bytes] | None,
                *, signed_key: bool) -> TimeVerdict:
    """`attempts`: the genuine attempts, oldest first (each with path, raw, sha256, data); `read(path,
    limit)`: the verifier's bounded reader (raises ObjectMissing / NotRegularFile / ObjectTooLarge).
    `roots`: trusted TSA roots, or None. `signed_key`: a trusted signing key was given (the time line
    then says whose word sealed_at is without a token)."""
    verdict = TimeVerdict()
    unchecked_chain = False
    for a in attempts:
        line, chain_unchecked = _check_attempt(a, read, roots, verdict.problems)
        unchecked_chain = unchecked_chain or chain_unchecked
        if a is attempts[-1]:
            verdict.time = line
    if verdict.time == NOT_ATTESTED and signed_key:
        verdict.time += ("; sealed_at is the signer's own word: a holder of the signing key could have re-sealed "
                         "this day at any time")
    if unchecked_chain:
        verdict.notes.append(UNCHECKED_CHAIN)
    return verdict


def _check_attempt(a: Any, read: Callable[[str, int], bytes], roots: list[bytes] | None,
                   problems: list[str]) -> tuple[str, bool]:
    """The attempt's time line and whether its token's chain went unchecked; problems are appended."""
    path = token_path(a.path)
    declared = getattr(a.data.signing, "timestamp_file", None)
    if declared is not None and declared != posixpath.basename(path):
        problems.append(f"{a.path} names {declared} as its timestamp token, not {posixpath.basename(path)}: "
                        "a token is stored beside its manifest, under the manifest's name")
    try:
        raw = read(path, MAX_TOKEN_BYTES)
    except ObjectMissing:
        if declared is not None:
            problems.append(f"TOKEN MISSING {path}: {a.path} says it was time-stamped, but its token is gone (deleted "
                            "after sealing); nothing proves when this attempt was sealed")
            return "NOT ATTESTED: the timestamp token is missing", False
        if roots:
            # With trusted TSA roots the auditor asks for proof of time, as scripts/check-signature.sh does.
            problems.append(f"UNSTAMPED {a.path}: no timestamp token ({path}), but trusted TSA roots were given: "
                            "nothing proves when this attempt was sealed")
        return NOT_ATTESTED, False
    except (NotRegularFile, ObjectTooLarge) as exc:
        problems.append(f"MALFORMED {path}: {exc}")
        return "NOT ATTESTED: the timestamp token is unreadable", False
    signed = statement(a.path, len(a.raw), a.sha256)
    try:
        check: TokenCheck = check_token(raw, signed, trusted_roots=roots or None)
    except TimestampError as exc:
        label = "FORGED" if OTHER_STATEMENT in str(exc) else "MALFORMED"
        problems.append(f"{label} {path}: {exc}; it proves nothing about when {a.path} was sealed")
        return f"NOT ATTESTED: the timestamp token is {label}", False
    if roots and not check.trusted:
        problems.append(f"FORGED {path}: {check.detail}: the token is not from a TSA the trusted roots vouch for")
        return f"NOT ATTESTED: the timestamp token is not from a trusted TSA ({check.tsa})", False
    sealed = instant(a.data.sealed_at)
    gap = sealed_at_within(sealed, check)  # sealed_at is a validated UTC instant: never naive
    if gap:
        how = "BACK-DATED" if check.gen_time > sealed else "DATED AFTER ITS PROOF OF TIME"
        problems.append(f"{how} {a.path}: {gap}; its signature is valid, so whoever holds the signing key "
                        "re-sealed it with another time")
    line = f"attested by TSA {check.tsa} at {check.gen_time.isoformat()}"
    line += " (chains to a trusted TSA root)" if check.trusted else " (chain not checked against a trusted root)"
    return line, not check.trusted
