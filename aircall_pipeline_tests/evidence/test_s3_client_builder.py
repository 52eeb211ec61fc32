"""Every S3 client of the pipeline comes from `evidence/s3_client.build_s3_client`: one place decides
the retries and timeouts, so a second builder (with boto3's unbounded defaults) cannot creep in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import aircall_pipeline
from aircall_pipeline.evidence import s3_client
from aircall_pipeline.evidence.backends import S3_MAX_ATTEMPTS, default_s3_client

PACKAGE = Path(aircall_pipeline.__file__).parent


def _builds_s3_client(node: ast.AST) -> bool:
    """`<anything>.client("s3", ...)` / `.resource("s3")`, or with service_name="s3"."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("client", "resource")):
        return False
    args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "service_name")]
    return any(isinstance(a, ast.Constant) and a.value == "s3" for a in args)


def _builders() -> dict[str, list[str]]:
    """Module file -> the functions in it (innermost enclosing one, or <module>) that build an S3 client."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        owner = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if _builds_s3_client(node):
                while node in owner and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    node = owner[node]
                found.setdefault(str(path.relative_to(PACKAGE)), []).append(getattr(node, "name", "<module>"))
    return found


def test_the_scan_sees_a_builder():
    assert _builds_s3_client(ast.parse('boto3.session.Session().client("s3", config=c)').body[0].value)
    assert _builds_s3_client(ast.parse('boto3.client(service_name="s3")').body[0].value)
    assert not _builds_s3_client(ast.parse('boto3.client("kms")').body[0].value)


def test_one_function_builds_every_s3_client():
    assert _builders() == {"evidence/s3_client.py": ["build_s3_client"]}


def test_the_default_and_the_resource_clients_go_through_the_builder(monkeypatch):
    calls = []
    monkeypatch.setattr(s3_client, "build_s3_client", lambda **kwargs: calls.append(kwargs) or "client")
    assert default_s3_client() == "client"

    class Resource:  # the S3Resource fields the client is built from
        profile_name, max_attempts, use_unsigned_session = "p", 10, False
        region_name, endpoint_url, use_ssl, verify = "eu-west-1", "http://127.0.0.1:1", True, None
        aws_access_key_id = aws_secret_access_key = aws_session_token = None

    assert s3_client.s3_client_from_resource(Resource()) == "client"
    assert calls[0] == {}
    assert calls[1]["max_attempts"] == 10 and calls[1]["endpoint_url"] == "http://127.0.0.1:1"


@pytest.mark.parametrize("asked, used", [(10, S3_MAX_ATTEMPTS), (1, 1), (0, 1)])
def test_the_built_client_is_bounded(monkeypatch, asked, used):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    config = s3_client.build_s3_client(max_attempts=asked, endpoint_url="http://127.0.0.1:1").meta.config
    assert config.retries["total_max_attempts"] == used
    assert (config.connect_timeout, config.read_timeout) == (s3_client.S3_CONNECT_TIMEOUT, s3_client.S3_READ_TIMEOUT)


def test_the_builder_and_the_backends_import_no_dagster():
    code = ("import sys, aircall_pipeline.evidence.backends, aircall_pipeline.evidence.s3_client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_aws')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
