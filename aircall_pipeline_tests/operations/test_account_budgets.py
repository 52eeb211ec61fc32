"""Two accounts of one accounts file share a limiter file but no budget and no pool: exhausting one
account's budget leaves the other's whole. Uses the resources and assets the definitions build."""

from __future__ import annotations

import pytest

from aircall_pipeline.aircall.budget import BudgetTimeout
from aircall_pipeline.definitions import build_defs
from aircall_pipeline.names import Names
from aircall_pipeline.settings import Settings

RATE = 5  # per 60 s: small enough to fill, and below the smoothing threshold (one rate only)


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
    for name in ("NORTH", "SOUTH"):
        monkeypatch.setenv(f"AIRCALL_{name}_API_ID", f"id-{name.lower()}")
        monkeypatch.setenv(f"AIRCALL_{name}_API_TOKEN", f"tok-{name.lower()}")
    return Settings.from_env()


def test_two_accounts_share_a_limiter_file_but_no_budget_and_no_pool(two_accounts):
    defs = build_defs(two_accounts)
    north, south = Names("north"), Names("south")
    resources = defs.resources
    a, b = resources[north.resource("aircall")], resources[south.resource("aircall")]
    assert a.limiter_url == b.limiter_url  # one SQLite file...
    assert a.budget_name != b.budget_name  # ...two keys in it

    budget_a, budget_b = a._new_budget(), b._new_budget()  # what each account's steps use
    try:
        for _ in range(RATE):
            budget_a.acquire(timeout=0)
        with pytest.raises(BudgetTimeout):
            budget_a.acquire(timeout=0)  # north's budget is spent for this window...
        for _ in range(RATE):
            budget_b.acquire(timeout=0)  # ...south's is untouched: every request admitted at once
    finally:
        budget_a.close()
        budget_b.close()

    # Their API steps never wait for each other either: each account's assets are in its own pool.
    graph = defs.resolve_asset_graph()
    pools = {name: set().union(*(graph.get(n.key(t)).pools for t in ("users", "calls", "teams")))
             for name, n in (("north", north), ("south", south))}
    assert pools == {"north": {"aircall_api_north"}, "south": {"aircall_api_south"}}
