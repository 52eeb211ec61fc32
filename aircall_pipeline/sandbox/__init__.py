"""The Aircall Public API simulator: a seeded account (data.py) served over loopback HTTP (server.py)."""

from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN, SandboxServer

__all__ = ["SANDBOX_API_ID", "SANDBOX_API_TOKEN", "SandboxAccount", "SandboxServer"]
