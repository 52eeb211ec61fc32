"""The one Dagster resource through which every asset talks to Aircall, whichever the account."""


from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field, PrivateAttr

from aircall_pipeline.aircall import AircallClient, RequestBudget
from aircall_pipeline.config.settings import (
    DEFAULT_API_URL,
    Account,
    SettingsError,
    account_label,
    credentials_from_env,
    validate_api_url,
)


class AircallResource(dg.ConfigurableResource):
    """HTTP Basic access to the Aircall Public API, paced by each account's budget shared with every
    other process of this pipeline (and, by configuration, with the account's other integrations).

    The account is chosen at run time (`client_for(account)`, the account of the run's partition):
    its credentials are read then, through `settings.credentials_from_env(account)`, never held in
    the resource's config, so the UI and run snapshots never show them. `api_id`/`api_token`/`api_url`
    only serve direct use outside the pipeline's assets (`client()`, a limiter test pod)."""

    limiter_url: str = Field(description="Where the shared limiter keeps its state: sqlite:///path or redis://...")
    rate_limit_window_seconds: int = Field(default=60, description="The budget's window; 60 outside benchmarks.")
    api_id: str = Field(default="", description="Direct use only: the Basic user of `client()`.")
    api_token: str = Field(default="", description="Direct use only: the Basic password of `client()`.")
    api_url: str = Field(default=DEFAULT_API_URL, description="Direct use only: API root; http:// only on loopback.")
    rate_limit_per_minute: int = Field(default=60, description="Direct use only: requests per window.")
    budget_name: str = Field(default="aircall", description="Direct use only: the key in the shared limiter.")

    _budgets: dict = PrivateAttr(default_factory=dict)

    @property
    def account(self) -> str:
        """Direct use: a non-secret label for the account."""
        return account_label(self.api_url, self.api_id)

    def _budget(self, name: str, per_minute: int) -> RequestBudget:
        key = (name, per_minute)
        if key not in self._budgets:
            self._budgets[key] = RequestBudget.from_url(
                self.limiter_url, per_minute=per_minute, window_seconds=self.rate_limit_window_seconds, name=name)
        return self._budgets[key]

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for budget in self._budgets.values():
            close = getattr(budget, "close", None)
            if close:
                close()
        self._budgets.clear()

    @staticmethod
    def hash_label(account: Account) -> str:
        """The account's `<api host>/<api id>`: the key of its external-number hash (ingest/pii.py),
        as it always was, whatever the account's name."""
        try:
            api_id, _ = credentials_from_env(account)
        except SettingsError as exc:
            from aircall_pipeline.ingest.retry import raise_without_retry

            raise_without_retry(exc)
        return account_label(account.api_url, api_id)

    @contextmanager
    def client_for(self, account: Account, logger=None) -> Iterator[AircallClient]:
        """A client for `account`: its credentials (read now), API root, and its own budget key."""
        try:
            api_url = validate_api_url(account.api_url)
            api_id, api_token = credentials_from_env(account)
        except SettingsError as exc:
            # Missing credentials will not appear by waiting: fail the step now (the alert says `config`).
            from aircall_pipeline.ingest.retry import raise_without_retry

            raise_without_retry(exc)
        budget = self._budget(account.budget, account.rate_limit_per_minute)
        client = AircallClient(api_id, api_token, api_url=api_url, budget=budget, logger=logger)
        try:
            yield client
        finally:
            client.close()

    @contextmanager
    def client(self, logger=None) -> Iterator[AircallClient]:
        """Direct use, outside the pipeline's assets, with this resource's own credentials."""
        validate_api_url(self.api_url)
        budget = self._budget(self.budget_name, self.rate_limit_per_minute)
        client = AircallClient(self.api_id, self.api_token, api_url=self.api_url, budget=budget, logger=logger)
        try:
            yield client
        finally:
            client.close()
