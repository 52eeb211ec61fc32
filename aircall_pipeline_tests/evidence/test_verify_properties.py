"""Property: whatever an adversary writes in place of a genuine manifest, signature file or review
attestation, `verify_range` returns a verdict (it never raises, and returns in bounded time), and the
day is never authenticated unless the bytes are the genuine ones.

Mutations: byte flips, truncation, insertion and deletion of bytes, and JSON-structure mutations (a
value replaced by one of another type, a key deleted or added, a value nested deep, huge numbers,
unicode), written back in any of several JSON spellings and text encodings. Each example writes the
mutated bytes in place on a local store and puts the genuine bytes back afterwards.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircall_pipeline.evidence.signing import Signature, TrustedKey
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.evidence.verify import RangeVerification, verify_range
from aircall_pipeline_tests.evidence.test_adversarial import D1, D2, build_chain, report, review, sig

TARGETS = {  # what is mutated -> the day whose verdict it decides
    "manifest": (report(D2), D2),
    "signature": (sig(report(D2)), D2),
    "attestation": (review(D1, "attestation.json"), D1),
    "review manifest": (review(D1), D1),
}
BOUND_SECONDS = 30  # far above a real verification of one day (well under a second)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory, key_pair):
    from aircall_pipeline.evidence.signing import load_signer

    store = EvidenceStore.from_uri(tmp_path_factory.mktemp("properties") / "evidence")
    build_chain(store, load_signer(f"file:{key_pair[0]}"))
    return store, TrustedKey.from_pem_file(key_pair[1])


# --------------------------------------------------------------------------------------------------
# Mutations

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "0", "pass", "valid", "signed", "2026-03-15T02:00:00Z", "\x1b[2J", "\u202e", "../x", "\x00",
                     "a" * 5000]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def _paths(doc: Any) -> list[tuple]:
    """Every location in a JSON document, the root (()) first; iteratively."""
    out, pending = [], [((), doc)]
    while pending:
        path, node = pending.pop()
        out.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        pending.extend((path + (k,), v) for k, v in children)
    return sorted(out, key=lambda p: (len(p), str(p)))


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


RAW_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"9" * 4500, b"1" + b"0" * 400, b"-0", b"1.0",
               b"0x10", b"01", b"1e-400"]


@st.composite
def json_mutation(draw, original: bytes) -> bytes:
    doc = json.loads(original)
    path = draw(st.sampled_from(_paths(doc)))
    action = draw(st.sampled_from(["replace", "delete", "add", "nest", "raw number", "duplicate"]))
    raw_value = None
    if action == "replace":
        doc = _set(doc, path, draw(values))
    elif action == "delete" and path:
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
    elif action == "add":
        target = _get(doc, path)
        if isinstance(target, dict):
            target[draw(st.text(max_size=12))] = draw(values)
        elif isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), draw(values))
        else:
            doc = _set(doc, path, [target, draw(values)])
    elif action == "nest":
        depth = draw(st.sampled_from([1, 2, 63, 64, 65, 1000, 100_000]))
        raw_value = b"[" * depth + json.dumps(_get(doc, path)).encode() + b"]" * depth
    elif action == "raw number":
        raw_value = draw(st.sampled_from(RAW_NUMBERS))
    token = "@@MUTATED@@"
    if raw_value is not None:
        doc = _set(doc, path, token)
    indent = draw(st.sampled_from([None, 0, 2, 4]))
    text = json.dumps(doc, indent=indent, sort_keys=draw(st.booleans()), ensure_ascii=draw(st.booleans()))
    if action == "duplicate" and text.startswith("{") and len(text) > 2:
        key = draw(st.sampled_from(sorted(doc))) if isinstance(doc, dict) and doc else "x"
        text = "{" + json.dumps(key) + ": " + json.dumps(draw(values)) + ", " + text[1:]
    if indent is not None and draw(st.booleans()):
        text += "\n"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    return data.replace(json.dumps(token).encode(encoding), raw_value) if raw_value is not None else data


@st.composite
def byte_mutation(draw, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=16),
                                         st.sampled_from([b" ", b"\n", b",", b"\x00", b"\xef\xbb\xbf", b"\xff",
                                                          b'"', b"\\", b"\xe2\x80\xae", b"{}", b"[]"])))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


def mutations(original: bytes):
    return st.one_of(byte_mutation(original), json_mutation(original))


# --------------------------------------------------------------------------------------------------
# The property


def _write(store: EvidenceStore, path: str, data: bytes) -> None:
    target = store.backend._path(path)
    os.chmod(target, 0o644)
    target.write_bytes(data)
    os.chmod(target, 0o444)


def _same_signature(original: bytes, mutated: bytes) -> bool:
    """A signature file is not itself signed: another spelling of the same signature (whitespace, key
    order, the informational key_ref) still proves the same thing. Anything else must not verify."""
    try:
        a, b = Signature.from_json(original), Signature.from_json(mutated)
    except Exception:  # noqa: BLE001 - the mutated one is not a signature file at all
        return False
    return (a.path, a.bytes, a.sha256, a.algorithm, a.key_fingerprint, a.signature) == (
        b.path, b.bytes, b.sha256, b.algorithm, b.key_fingerprint, b.signature)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_no_mutation_is_authenticated(evidence, target):
    store, trusted = evidence
    path, day = TARGETS[target]
    original = store.backend.get(path)
    assert verify_range(store, day, day, trusted).days[0].authenticated  # the genuine bytes verify

    @settings(max_examples=50, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(mutated=mutations(original))
    def check(mutated: bytes) -> None:
        _write(store, path, mutated)
        try:
            started = time.monotonic()
            result = verify_range(store, day, day, trusted)
            assert time.monotonic() - started < BOUND_SECONDS
        finally:
            _write(store, path, original)
        assert isinstance(result, RangeVerification) and [d.date for d in result.days] == [day]
        verdict = result.days[0]
        assert not any("INTERNAL ERROR" in p for p in verdict.problems), verdict.problems
        if verdict.authenticated:
            same = _same_signature(original, mutated) if target == "signature" else mutated == original
            assert same, f"{path} mutated to {mutated[:200]!r} is still VALID"
        else:
            assert verdict.verdict().startswith("NOT VERIFIED"), verdict.verdict()

    check()
