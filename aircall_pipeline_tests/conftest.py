"""Shared fixtures live in plugin modules, one per real part the tests start."""

pytest_plugins = [
    "aircall_pipeline_tests.fixtures.sandbox",  # the Aircall sandbox server on loopback
    "aircall_pipeline_tests.fixtures.s3",  # moto's S3 server on loopback
    "aircall_pipeline_tests.fixtures.evidence",  # evidence stores (local, S3) and signing keys
    "aircall_pipeline_tests.fixtures.servers",  # PostgreSQL and Redis servers on loopback
    "aircall_pipeline_tests.fixtures.tsa",  # an RFC 3161 time-stamping authority (openssl ts) on loopback
    "aircall_pipeline_tests.fixtures.pdf",  # report.pdf: a quick stand-in unless a test takes `real_pdf`
]


