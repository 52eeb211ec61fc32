"""AC-15 evidence freshness: the newest evidence is recent enough.

The one decision of what "stale" means: the AC-15 asset of every daily run (compliance/rule_table.py)
asks `evidence_freshness_check`, the freshness alert sensor asks `is_stale`, both about the newest
evidence report the Dagster instance recorded (finding it is the instance's business, not a rule's:
compliance/newest_evidence.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_15, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import _HOUR, UTC_DTYPE, _iso, to_utc
from aircall_pipeline.compliance.rules.findings import CheckOutcome, _findings, _outcome, _rows, _skip

_CLOCK_SKEW = pd.Timedelta(minutes=5)


def evidence_freshness(newest_collected_at: Any | None, *, as_of: Any, max_age_hours: float = 30) -> CheckOutcome:
    """The newest evidence's collected_at is at most `max_age_hours` old at `as_of`.

    The one evaluation of evidence freshness: the AC-15 asset (compliance/assets.py) and the
    freshness alert sensor both decide through it (`evidence_freshness_check`, `is_stale`). No earlier evidence at
    all is a `skip` (a first run, or a throwaway instance; the sensor measures from when it started
    watching instead); a timestamp in the future (beyond 5 minutes of clock skew) warns.
    """
    spec = AC_15
    as_of = to_utc(as_of)
    threshold = f"newest evidence collected at most {max_age_hours:g} h before {_iso(as_of)}"
    specifics = {"collected_at": UTC_DTYPE, "age_hours": "float64"}
    if newest_collected_at is None or pd.isna(newest_collected_at):
        return _skip(spec, threshold, "No earlier evidence report is recorded (a first run, or a throwaway "
                     "Dagster instance), so the age of the newest evidence cannot be measured.",
                     specifics=specifics)
    collected = to_utc(newest_collected_at)
    age = (as_of - collected) / _HOUR
    if collected - as_of > _CLOCK_SKEW:
        status, why = WARN, f"collected_at {_iso(collected)} is {-age:.2f} h in the future (clock skew?)."
    elif age > max_age_hours:
        status, why = FAIL, f"Newest evidence is {age:.2f} h old, older than {max_age_hours:g} h."
    else:
        status, why = PASS, f"Newest evidence is {age:.2f} h old."
    rows = _rows(1, status=status, item_type="evidence", item_id=_iso(collected), item_label="newest evidence",
                 reason=why, collected_at=collected, age_hours=age)
    return _outcome(spec, status, round(float(age), 2), threshold, why, _findings(spec, rows, specifics))


def evidence_freshness_check(reference: float | None, now: float, max_age: timedelta) -> CheckOutcome:
    """AC-15 for evidence last written at unix time `reference` (None: none ever), seen at `now`:
    the form the freshness sensor and the AC-15 asset both ask it in."""
    collected = datetime.fromtimestamp(reference, UTC) if reference is not None else None
    return evidence_freshness(collected, as_of=datetime.fromtimestamp(now, UTC),
                              max_age_hours=max_age.total_seconds() / 3600)


def is_stale(reference: float | None, now: float, max_age: timedelta) -> bool:
    """The freshness alert's question: would AC-15 fail for evidence last written at `reference`?"""
    return evidence_freshness_check(reference, now, max_age).status == FAIL
