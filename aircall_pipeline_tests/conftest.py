"""Shared fixtures live in plugin modules, one per real part the tests start."""

import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

pytest_plugins = [
    "aircall_pipeline_tests.fixtures.sandbox",  # the Aircall sandbox server on loopback
    "aircall_pipeline_tests.fixtures.s3",  # moto's S3 server on loopback
    "aircall_pipeline_tests.fixtures.evidence",  # evidence stores (local, S3) and signing keys
    "aircall_pipeline_tests.fixtures.servers",  # PostgreSQL and Redis servers on loopback
]


@pytest.fixture(autouse=True)
def _no_leaked_defs_state_storage():
    """Dagster keeps the "current" definitions-state storage in a context variable that entering an
    instance sets. The daemon workspace helpers used by the scheduler tests can leave it pointing at
    a disposed instance, and every later `Definitions` resolution then fails. Each test runs inside
    its own setting of that variable, which is restored afterwards, so no test inherits another's."""
    with set_defs_state_storage(None):
        yield
