"""The Aircall Public API simulator: a seeded account (data.py, with calls.py, webhooks.py and
vocabulary.py) served over loopback HTTP (server.py, with pagination.py, faults.py, rate_limit.py,
responses.py and transport.py). It may import the pipeline; the pipeline imports none of it (the
command line only names `aircall_pipeline.sandbox.cli` for its `sandbox` subcommand)."""

from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN, SandboxServer

__all__ = ["SANDBOX_API_ID", "SANDBOX_API_TOKEN", "SandboxAccount", "SandboxServer"]
