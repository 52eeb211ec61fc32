"""The backends' split: a local folder needs nothing of S3, and every S3 failure goes through the one
translation in s3_errors.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from aircall_pipeline.evidence import backends, s3_backend
from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.evidence.s3_backend import S3Backend
from aircall_pipeline_tests.imports import imported_modules

EVIDENCE = Path(backends.__file__).parent


def test_the_local_backend_knows_nothing_of_s3():
    imported = imported_modules(EVIDENCE / "local_backend.py")
    assert not {m for m in imported if m.split(".")[0] in ("boto3", "botocore") or "s3" in m.rsplit(".", 1)[-1]}


def test_the_front_holds_no_backend_code():
    tree = ast.parse((EVIDENCE / "backends.py").read_text())
    defined = [n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)]
    assert defined == ["Backend"]  # the protocol; the rest is imported from the modules named in the docstring


def test_every_s3_failure_goes_through_s3_errors(monkeypatch):
    seen = []

    def translate(exc, operation, **where):
        seen.append((type(exc).__name__, operation, where["where"]))
        return EvidenceStoreError("translated", kind="storage")

    monkeypatch.setattr(s3_backend, "s3_error", translate)

    class Client:
        def head_object(self, **kwargs):
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    with pytest.raises(EvidenceStoreError, match="translated"):
        S3Backend(Client(), "bucket", "prefix").head("k")
    assert seen == [("EndpointConnectionError", "head_object", "s3://bucket/prefix/k")]
