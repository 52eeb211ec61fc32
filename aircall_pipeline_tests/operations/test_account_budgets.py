"""Two accounts of one accounts file share a limiter file but no budget: exhausting one account's
budget leaves the other's whole, whichever run (resource) asks. One asset graph: the account's
budget is its limiter key (Account.budget), chosen at run time by the one Aircall resource; the
accounts share the one API pool, and their runs are told apart by their own `aircall/account` tag.
Uses the resources and assets the definitions build."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aircall_pipeline.aircall.budget import BudgetTimeout
from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_defs, build_resources
from aircall_pipeline.names import ACCOUNT_TAG, AIRCALL_RESOURCE, API_POOL, key
from aircall_pipeline.operations.jobs import run_tags

RATE = 5  # per 60 s: small enough to fill, and below the smoothing threshold (one rate only)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_accounts(tmp_path, monkeypatch):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - name: north\n    api_id_env: AIRCALL_NORTH_API_ID\n    api_token_env: AIRCALL_NORTH_API_TOKEN\n"
        f"    rate_limit_per_minute: {RATE}\n"
        "  - name: south\n    api_id_env: AIRCALL_SOUTH_API_ID\n    api_token_env: AIRCALL_SOUTH_API_TOKEN\n"
        f"    rate_limit_per_minute: {RATE}\n"
    )
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(accounts))
    monkeypatch.setenv("AIRCALL_LIMITER_URL", f"sqlite:///{tmp_path / 'one-limiter.sqlite'}")
    monkeypatch.delenv("AIRCALL_RATE_LIMIT_WINDOW_SECONDS", raising=False)
    monkeypatch.delenv("AIRCALL_API_URL", raising=False)
    for name in ("NORTH", "SOUTH"):
        monkeypatch.setenv(f"AIRCALL_{name}_API_ID", f"id-{name.lower()}")
        monkeypatch.setenv(f"AIRCALL_{name}_API_TOKEN", f"tok-{name.lower()}")
    return Settings.from_env()


def budget_of(resource, account):
    """The budget `account`'s API steps use: the one the resource's client for it is given."""
    with resource.client_for(account) as client:
        return client.budget


def test_two_accounts_share_a_limiter_file_but_no_budget(two_accounts):
    settings = two_accounts
    north, south = settings.account("north"), settings.account("south")
    assert (north.budget, south.budget) == ("aircall_north", "aircall_south")
    defs = build_defs(settings)
    aircall = defs.resources[AIRCALL_RESOURCE]  # one resource for every account
    budget_a, budget_b = budget_of(aircall, north), budget_of(aircall, south)
    # Another run's resource (another process, as a second run would be) gets the same budget of north.
    budget_a2 = budget_of(build_resources(settings)[AIRCALL_RESOURCE], north)
    budgets = (budget_a, budget_b, budget_a2)
    try:
        assert budget_a.where == budget_b.where == budget_a2.where  # one SQLite file...
        assert (budget_a.name, budget_b.name, budget_a2.name) == ("aircall_north", "aircall_south",
                                                                  "aircall_north")  # ...a key per account
        for _ in range(RATE):
            budget_a.acquire(timeout=0)
        with pytest.raises(BudgetTimeout):
            budget_a.acquire(timeout=0)  # north's budget is spent for this window...
        with pytest.raises(BudgetTimeout):
            budget_a2.acquire(timeout=0)  # ...for every run of north...
        for _ in range(RATE):
            budget_b.acquire(timeout=0)  # ...south's is untouched: every request admitted at once
    finally:
        for budget in budgets:
            budget.close()


def test_the_accounts_share_the_api_pool_and_their_runs_are_limited_per_account(two_accounts):
    settings = two_accounts
    graph = build_defs(settings).resolve_asset_graph()
    # One graph: the API steps of every account are the same assets, in the one pool.
    assert set().union(*(graph.get(key(t)).pools for t in ("users", "calls", "teams"))) == {API_POOL}
    # What keeps one account from queueing behind the other is the run limit, one run per value of
    # the `aircall/account` tag, which each account's runs carry with its own value.
    tags = {a.name: run_tags(a)[ACCOUNT_TAG] for a in settings.accounts}
    assert tags == {"north": "north", "south": "south"}
    for config in (REPO_ROOT / "dagster.yaml", REPO_ROOT / "deploy" / "dagster.yaml"):
        limits = yaml.safe_load(config.read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
        [limit] = [entry for entry in limits if entry["key"] == ACCOUNT_TAG]
        assert limit["value"] == {"applyLimitPerUniqueValue": True} and limit["limit"] == 1, config
