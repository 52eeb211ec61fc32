"""Shared fixtures live in plugin modules, one per real part the tests start."""

pytest_plugins = [
    "aircall_pipeline_tests.fixtures.sandbox",  # the Aircall sandbox server on loopback
    "aircall_pipeline_tests.fixtures.s3",  # moto's S3 server on loopback
    "aircall_pipeline_tests.fixtures.evidence",  # evidence stores (local, S3) and signing keys
    "aircall_pipeline_tests.fixtures.servers",  # PostgreSQL and Redis servers on loopback
    "aircall_pipeline_tests.fixtures.tsa",  # an RFC 3161 time-stamping authority (openssl ts) on loopback
    "aircall_pipeline_tests.fixtures.pdf",  # report.pdf: a quick stand-in unless a test takes `real_pdf`
]




def pytest_configure(config):
    """Under pytest-xdist (`make test` runs two workers), each worker gets its own DAGSTER_HOME, so
    two workers never share a Dagster instance or the default rate-limiter file kept there."""
    import os
    from pathlib import Path

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    home = os.environ.get("DAGSTER_HOME")
    if not worker or not home:
        return
    own = Path(home) / f"xdist-{worker}"
    own.mkdir(parents=True, exist_ok=True)
    shared = Path(home) / "dagster.yaml"
    if shared.exists() and not (own / "dagster.yaml").exists():
        (own / "dagster.yaml").symlink_to(shared.resolve())
    os.environ["DAGSTER_HOME"] = str(own)
