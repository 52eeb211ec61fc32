"""Shared helpers for the evidence tests: one local and one S3 store, and a small users frame."""

from __future__ import annotations

import pandas as pd
import pytest

from aircall_pipeline.evidence.store import EvidenceStore

BIG_ID = 2**62 + 7  # far above 2**53: a float64 round trip would change it


def users_frame(names: tuple[str, ...] = ("Ada", "Grace")) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame(
        {
            "user_id": pd.array([BIG_ID + i for i in range(n)], dtype="int64"),
            "name": list(names),
            "email": [f"{name.lower()}@example.com" for name in names],
            "created_at": pd.to_datetime(
                [f"2025-0{1 + i % 9}-15T08:30:00Z" for i in range(n)], utc=True, format="ISO8601"
            ),
            "default_number_id": pd.array([None] + [10 + i for i in range(1, n)], dtype="Int64"),
            "available": [True] * n,
        }
    )


@pytest.fixture
def local_store(tmp_path) -> EvidenceStore:
    return EvidenceStore.from_uri(tmp_path / "evidence")


@pytest.fixture
def s3_store(s3_client, s3_bucket) -> EvidenceStore:
    return EvidenceStore.from_uri(f"s3://{s3_bucket}/audit/evidence", s3_client=s3_client)


@pytest.fixture(params=["local", "s3"])
def store(request) -> EvidenceStore:
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture(scope="session")
def key_pair(tmp_path_factory) -> tuple[str, str]:
    """An Ed25519 signing key made by the project's own keygen: (private key path, public key path)."""
    from aircall_pipeline.evidence.signing import keygen

    path = tmp_path_factory.mktemp("keys") / "evidence.key"
    keygen(path)
    return str(path), f"{path}.pub"


@pytest.fixture(scope="session")
def other_key_pair(tmp_path_factory) -> tuple[str, str]:
    """A second key: an insider's, or a key that is simply not the trusted one."""
    from aircall_pipeline.evidence.signing import keygen

    path = tmp_path_factory.mktemp("other-keys") / "other.key"
    keygen(path)
    return str(path), f"{path}.pub"


@pytest.fixture
def signer(key_pair):
    from aircall_pipeline.evidence.signing import load_signer

    return load_signer(f"file:{key_pair[0]}")


@pytest.fixture
def trusted(key_pair):
    from aircall_pipeline.evidence.signing import TrustedKey

    return TrustedKey.from_pem_file(key_pair[1])
