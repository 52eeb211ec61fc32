"""The test frames have the pipeline's dtypes: frames.py is built from ingest/normalize.SCHEMAS, and
this checks it against frames the pipeline's own normalisation really produces."""

import pandas as pd
import pytest

from aircall_pipeline.ingest import normalize
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.compliance import frames as F

BUILDERS = {
    "company": lambda: F.company(users_count=2, numbers_count=1),
    "users": lambda: F.users(F.user_rows(2)),
    "teams": lambda: F.teams([{"team_id": 1, "name": "Support"}]),
    "team_members": lambda: F.team_members([{"team_id": 1, "user_id": 1000}]),
    "numbers": lambda: F.numbers([{"number_id": 7, "name": "Main"}]),
    "number_users": lambda: F.number_users([{"number_id": 7, "user_id": 1000}]),
    "calls": lambda: F.calls([{"user_id": 1000, "started_at": "2026-03-01T10:00:00Z"}]),
    "call_windows": lambda: F.call_windows([{"window_from": "2026-03-01T00:00:00Z", "meta_total": 1}]),
    "webhooks": lambda: F.webhooks([{"webhook_id": "4f0c", "url_domain": "hooks.zapier.com"}]),
}


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {str(c): str(t) for c, t in df.dtypes.items()}


def test_every_pipeline_table_has_a_builder():
    assert set(BUILDERS) == set(normalize.SCHEMAS)


@pytest.mark.parametrize("table", sorted(normalize.SCHEMAS))
def test_test_frames_have_the_dtypes_the_pipeline_produces(table):
    produced = normalize.frame([], normalize.SCHEMAS[table])  # the ingest assets' own cast path
    assert _dtypes(BUILDERS[table]()) == _dtypes(produced)


def test_user_ids_are_nullable_int64_as_the_pipeline_produces_them():
    account = SandboxAccount(seed=3, users=5, calls=0, days=1)
    produced = normalize.users_frame(account.users)
    built = F.users(F.user_rows(2))
    assert produced["user_id"].dtype == built["user_id"].dtype == "Int64"
    assert _dtypes(produced) == _dtypes(built)
    # Ids above 2**53 stay exact through the builders, as through the pipeline.
    assert F.users([{"user_id": 2**60 + 1}])["user_id"].iloc[0] == 2**60 + 1
