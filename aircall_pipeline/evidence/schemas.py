"""The declared shape of everything `verify` (and every other reader of sealed evidence) parses.

Evidence is read as an adversary's input: anyone with put access to the bucket can plant a file, and
a key holder can sign anything. So every manifest, signature file, review manifest and attestation is

* read with a size cap (`MAX_DOCUMENT_BYTES`), by the backends, before it is parsed;
* parsed by `strict_json`: UTF-8 only, no duplicate keys (where the last one would silently win),
  no NaN or infinite numbers (`1e999`), nesting at most `MAX_DEPTH` deep (a 100,000-deep document
  would otherwise exhaust the parser's recursion);
* validated against a pydantic model with `extra="forbid"`, strict types (a string is never taken
  for a number or an object), and bounded lengths and counts.

A document that does not conform raises `Malformed`, whose message names the first problem in
plain words; the verifier reports it as MALFORMED for its day and goes on with the others.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # manifests, signatures, attestations: far above any real one
MAX_CHECKS_BYTES = 256 * 1024 * 1024  # checks.json carries up to 1,000 items per check
MAX_DEPTH = 64
MAX_LIST = 100_000
MAX_TEXT = 4096

HEX64 = r"^[0-9a-f]{64}$"
# A root-relative evidence path: `/`-separated segments of printable ASCII that the layout can produce,
# no empty segment and none starting with a dot (so no `.`, `..` or hidden name). Anything else in a
# manifest is not a path the pipeline writes.
PATH_SEGMENT = r"[A-Za-z0-9_=\-][A-Za-z0-9_=.\-]*"
SAFE_PATH = re.compile(rf"^{PATH_SEGMENT}(?:/{PATH_SEGMENT})*$")
ISO_UTC = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)$")
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class Malformed(ValueError):
    """A sealed document that is not what the pipeline writes; the message says what is wrong."""


# --------------------------------------------------------------------------------------------------
# JSON, strictly


def _max_depth(text: str) -> int:
    """How deep the document nests, computed without recursion: brackets outside strings."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", stripped):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise Malformed(f"the key {key!r} appears twice (a second value would silently win)")
        out[key] = value
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Malformed(f"the number {text[:40]} is not finite")
    return value


def _constant(name: str) -> Any:
    raise Malformed(f"{name} is not a JSON number")


def strict_json(raw: bytes, *, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """Parse `raw` as the pipeline writes JSON, or raise Malformed (never anything else)."""
    if len(raw) > limit:
        raise Malformed(f"{len(raw):,} bytes, above the {limit:,}-byte cap for this kind of file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise Malformed("starts with a byte-order mark, which the pipeline never writes")
    if _max_depth(text) > MAX_DEPTH:
        raise Malformed(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_constant)
    except Malformed:
        raise
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"not valid JSON ({str(exc)[:120]})") from None


def parse(model: type[BaseModel], raw: bytes, *, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """`raw` parsed strictly and validated against `model`, or Malformed naming the first problem."""
    data = strict_json(raw, limit=limit)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the document"
        raise Malformed(f"{where}: {first.get('msg', 'invalid')} ({exc.error_count()} problem(s))") from None


# --------------------------------------------------------------------------------------------------
# Field types

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Sha256 = Annotated[str, StringConstraints(pattern=HEX64)]
Day = Annotated[str, StringConstraints(pattern=DAY)]


def _safe_path(value: str) -> str:
    if not SAFE_PATH.match(value):
        raise ValueError("not a path inside the evidence root that the pipeline writes")
    return value


SafePath = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_safe_path)]
Count = Annotated[int, Field(ge=0, le=2**53)]
Attempt = Annotated[int, Field(ge=1, le=100_000)]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _instant(value: str) -> str:
    if not ISO_UTC.match(value):
        raise ValueError("not an ISO-8601 UTC instant (YYYY-MM-DDTHH:MM:SSZ)")
    datetime.fromisoformat(value.replace("Z", "+00:00"))  # a real date and time, or ValueError
    return value


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class ArtifactModel(Strict):
    path: SafePath
    sha256: Sha256
    bytes: Count
    rows: Count | None = None


class AttemptLink(Strict):
    path: SafePath
    sha256: Sha256
    bytes: Count
    attempt: Attempt
    signature: Literal["valid", "missing", "invalid"] | None = None


class DayLink(Strict):
    path: SafePath
    sha256: Sha256
    bytes: Count
    date: Day
    attempt: Attempt


class Rejected(Strict):
    """An object the pipeline found in its evidence when sealing and did not write (or that no longer
    verifies against its key): recorded, never chained to."""

    path: SafePath
    sha256: Sha256 | None = None
    reason: Text


class Signing(Strict):
    status: Literal["signed", "unsigned"]
    algorithm: Literal["ed25519", "ecdsa-p256-sha256"] | None = None
    key_fingerprint: Fingerprint | None = None
    signature_file: Text | None = None
    timestamp_file: Text | None = None
    note: Text | None = None


class Reason(Strict):
    kind: Literal["first", "rerun", "changed_data"]
    text: Text
    changed_tables: Annotated[list[Text], Field(max_length=1000)]


Scalar = bool | int | float | str | None
Observed = Scalar | Annotated[list[Scalar], Field(max_length=1000)] | dict[str, Scalar]


class CheckSummary(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[0-9]{2}$")]
    status: Literal["pass", "fail", "warn", "skip", "error"]
    observed: Observed = None
    threshold: Observed = None
    controls: Annotated[list[Text], Field(max_length=100)]


class CheckRecord(CheckSummary):
    """One entry of checks.json: the summary fields strictly, and the findings the check adds."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class EndpointCounts(Strict):
    requests: Count
    rate_limited: Count
    retries: Count


class DailyManifest(Strict):
    """`manifest.json` / `manifest.attempt-N.json` of a day's report folder."""

    manifest_version: Literal[2, 3, 4]
    date: Day
    attempt: Attempt
    package_version: Text
    run_id: Text
    api_url: Text | None
    company: Text | None
    requests: Annotated[dict[Text, EndpointCounts], Field(max_length=1000)]
    collected_at: Text
    timezone: Text | None = None
    artifacts: Annotated[list[ArtifactModel], Field(max_length=MAX_LIST)]
    checks: Annotated[list[CheckSummary], Field(max_length=1000)]
    previous_manifest: DayLink | None
    previous_attempt: AttemptLink | None
    reason: Reason
    other_files: Annotated[list[ArtifactModel], Field(max_length=MAX_LIST)]
    rejected: Annotated[list[Rejected], Field(max_length=MAX_LIST)] = []
    signing: Signing
    sealed_at: Text

    _sealed = field_validator("sealed_at", "collected_at")(lambda v: _instant(v))

    @property
    def sealed(self) -> datetime:
        return instant(self.sealed_at)


class ReviewManifest(Strict):
    """`aircall/reviews/date=D/manifest(.attempt-N).json`: a completed access review's index."""

    manifest_version: Literal[2, 3, 4]
    kind: Literal["access_review"]
    date: Day
    attempt: Attempt
    artifacts: Annotated[list[ArtifactModel], Field(max_length=100)]
    snapshot: SnapshotLink | None
    previous_attempt: AttemptLink | None
    rejected: Annotated[list[Rejected], Field(max_length=MAX_LIST)] = []
    signing: Signing
    sealed_at: Text

    _sealed = field_validator("sealed_at")(lambda v: _instant(v))


class SnapshotLink(Strict):
    path: SafePath
    sha256: Sha256


class Attestation(Strict):
    """A reviewer's sign-off (`attestation.json`)."""

    kind: Literal["aircall-access-review"]
    date: Day
    reviewer: Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    reviewed_at: Text
    snapshot: SnapshotLink
    users: Count
    keep: Count
    remove: Count
    removed_user_ids: Annotated[list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(max_length=MAX_LIST)]

    _reviewed = field_validator("reviewed_at")(lambda v: _instant(v))


class SignatureFile(Strict):
    """A detached signature (`manifest.sig`, `attestation.sig`, ...)."""

    signature_version: Literal[1]
    signed_path: SafePath
    signed_bytes: Count
    signed_sha256: Sha256
    algorithm: Literal["ed25519", "ecdsa-p256-sha256"]
    key_fingerprint: Fingerprint
    key_ref: Text
    signature: Annotated[str, StringConstraints(max_length=1024, pattern=r"^[A-Za-z0-9+/]+={0,2}$")]


ReviewManifest.model_rebuild()
