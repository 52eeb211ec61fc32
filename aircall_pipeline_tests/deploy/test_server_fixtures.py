"""The real-server fixtures' own contract: skip locally, fail on CI, and mark their users."""

from __future__ import annotations

import pytest

from aircall_pipeline_tests.fixtures import servers


def test_a_missing_binary_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install-system-deps"):
        servers._missing("redis-server", "Debian package `redis-server`")


def test_a_missing_binary_fails_on_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        servers._missing("redis-server", "Debian package `redis-server`")


def test_postgres_users_are_marked_and_get_a_working_server(request, postgres_server):
    assert request.node.get_closest_marker("postgres") is not None
    db = postgres_server.create_database("fixture_check")
    conn = postgres_server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute("select current_user, current_setting('password_encryption')")
            assert cur.fetchone() == (postgres_server.user, "scram-sha-256")
    finally:
        conn.close()


def test_redis_users_are_marked_and_get_a_working_server(request, redis_server):
    assert request.node.get_closest_marker("redis") is not None
    client = redis_server.client(15)
    assert client.ping()
    # Persistence is off: nothing is written to disk by the test server.
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
