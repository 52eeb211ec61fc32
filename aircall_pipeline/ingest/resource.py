"""The one Dagster resource through which every asset talks to Aircall."""


from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field, PrivateAttr

from aircall_pipeline.aircall import AircallClient, RequestBudget
from aircall_pipeline.settings import DEFAULT_API_URL, account_label, validate_api_url


class AircallResource(dg.ConfigurableResource):
    """HTTP Basic access to the Aircall Public API, paced by the budget shared with every other
    process of this pipeline (and, by configuration, with the account's other integrations)."""

    api_id: str = Field(description="Aircall API ID (HTTP Basic user). Set through AIRCALL_API_ID.")
    api_token: str = Field(description="Aircall API token (HTTP Basic password). Set through AIRCALL_API_TOKEN.")
    api_url: str = Field(default=DEFAULT_API_URL, description="API root; http:// only on loopback.")
    rate_limit_per_minute: int = Field(default=60, description="Requests this pipeline may make per window.")
    rate_limit_window_seconds: int = Field(default=60, description="The budget's window; 60 outside benchmarks.")
    limiter_url: str = Field(description="Where the shared limiter keeps its state: sqlite:///path or redis://...")
    budget_name: str = Field(default="aircall", description="The account's key in the shared limiter.")

    _budget: RequestBudget | None = PrivateAttr(default=None)

    @property
    def account(self) -> str:
        """A non-secret label for the account, used in run tags and the evidence."""
        return account_label(self.api_url, self.api_id)

    def _new_budget(self) -> RequestBudget:
        return RequestBudget.from_url(
            self.limiter_url, per_minute=self.rate_limit_per_minute, window_seconds=self.rate_limit_window_seconds,
            name=self.budget_name,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        validate_api_url(self.api_url)
        self._budget = self._new_budget()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        close = getattr(self._budget, "close", None)
        if close:
            close()

    @contextmanager
    def client(self, logger=None) -> Iterator[AircallClient]:
        budget = self._budget or self._new_budget()  # direct use, outside a Dagster step
        client = AircallClient(self.api_id, self.api_token, api_url=self.api_url, budget=budget, logger=logger)
        try:
            yield client
        finally:
            client.close()
