"""AC-08 team coverage: every user in a team, no empty team."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_08, PASS, WARN
from aircall_pipeline.compliance.rules.columns import _col, _id_str, _ids, _label, _require, _users_view
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
)


def team_coverage(users: pd.DataFrame, teams: pd.DataFrame | None, team_members: pd.DataFrame | None) -> CheckOutcome:
    """Users in no team and teams with no member (warn); one pass row per non-empty team with its size."""
    spec = AC_08
    threshold = "every user belongs to at least one team; every team has at least one member"
    specifics = {"email": "str", "name": "str", "member_count": "Int64"}
    if teams is None or team_members is None:
        return _skip(spec, threshold, "Teams or team memberships were not collected.", specifics=specifics)
    _require(teams, "teams", ["team_id"])
    _require(team_members, "team_members", ["team_id", "user_id"])
    view = _users_view(users).drop_duplicates("user_id")
    members = pd.DataFrame({"team_id": _ids(team_members["team_id"]), "user_id": _ids(team_members["user_id"])})
    no_team = view[~view["user_id"].isin(set(members["user_id"].dropna()))]
    counts = members.dropna().drop_duplicates().groupby("team_id")["user_id"].size()
    t = pd.DataFrame({"team_id": _ids(teams["team_id"]), "team_name": _col(teams, "name").astype("str")})
    t = t.dropna(subset=["team_id"]).drop_duplicates("team_id").sort_values("team_id", kind="stable")
    t["member_count"] = t["team_id"].map(counts).fillna(0).astype("Int64")
    t = t.reset_index(drop=True)
    empty = t["member_count"] == 0
    parts = [
        _rows(no_team.index, status=WARN, item_type="user", item_id=_id_str(no_team["user_id"]),
              item_label=_label(no_team), email=no_team["email"], name=no_team["name"],
              reason="User belongs to no team."),
        _rows(t.index, status=np.where(empty, WARN, PASS), item_type="team", item_id=_id_str(t["team_id"]),
              item_label=t["team_name"].fillna("(unnamed team)"), name=t["team_name"], member_count=t["member_count"],
              reason=np.where(empty, "Team has no member.", "Team has " + t["member_count"].astype("str") + " member(s).")),
    ]
    rows = _concat(parts)
    n_users, n_empty = len(no_team), int(empty.sum())
    status = WARN if (n_users or n_empty) else PASS
    reason = (f"{_plural(n_users, 'user')} in no team and {_plural(n_empty, 'empty team')} "
              f"({len(view)} users, {len(t)} teams).")
    return _outcome(spec, status, n_users + n_empty, threshold, reason, _findings(spec, rows, specifics))
