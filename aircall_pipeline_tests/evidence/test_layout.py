"""EVIDENCE_URI parsing lives in layout.py; the store only builds a backend from what it returns."""

from pathlib import Path

import pytest

from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.evidence.layout import EvidenceLocation, parse_evidence_uri


def test_s3_uris_give_bucket_and_prefix():
    assert parse_evidence_uri("s3://my-bucket/a/b/") == EvidenceLocation(bucket="my-bucket", prefix="a/b")
    assert parse_evidence_uri(" s3://my-bucket ") == EvidenceLocation(bucket="my-bucket", prefix="")
    assert parse_evidence_uri("s3://my-bucket").is_s3


def test_local_uris_give_an_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_evidence_uri("evidence") == EvidenceLocation(folder=tmp_path / "evidence")
    assert parse_evidence_uri(f"file://{tmp_path}/x") == EvidenceLocation(folder=tmp_path / "x")
    assert parse_evidence_uri(Path("y")).folder == tmp_path / "y"
    assert not parse_evidence_uri("y").is_s3


@pytest.mark.parametrize("uri", ["s3://key:secret@bucket/x", "s3://b/x?sig=secret", "file://host/x", "gs://b/x", ""])
def test_unusable_uris_are_refused_without_echoing_credentials(uri):
    with pytest.raises(EvidenceStoreError) as info:
        parse_evidence_uri(uri)
    assert info.value.kind == "invalid_uri"
    assert "key:secret" not in str(info.value)
