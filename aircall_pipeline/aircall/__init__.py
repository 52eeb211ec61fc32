"""The Aircall client: plain Python (no Dagster imports).

HTTP, auth, pagination, call windows, the shared rate limiter and typed errors. See
docs/architecture.md for the contract.
"""

from aircall_pipeline.aircall.budget import BudgetTimeout, RequestBudget
from aircall_pipeline.aircall.client import USER_AGENT, AircallClient
from aircall_pipeline.aircall.errors import (
    NEW_KEY_ADVICE,
    AircallAuthError,
    AircallError,
    AircallRateLimitError,
    AircallRequestError,
    AircallResponseError,
    AircallServerError,
)
from aircall_pipeline.aircall.retry import RateLimitWait, RetryPolicy
from aircall_pipeline.aircall.stats import RequestStats
from aircall_pipeline.aircall.windows import CallWindow

__all__ = [
    "NEW_KEY_ADVICE",
    "USER_AGENT",
    "AircallAuthError",
    "AircallClient",
    "AircallError",
    "AircallRateLimitError",
    "AircallRequestError",
    "AircallResponseError",
    "AircallServerError",
    "BudgetTimeout",
    "CallWindow",
    "RateLimitWait",
    "RequestBudget",
    "RequestStats",
    "RetryPolicy",
]
