"""AC-16 periodic access review: a signed review, recent enough, whose removals are carried out.

The review itself (export, the reviewer's file, import, the signed attestation) is compliance/review.py
and the store's; this rule only judges the newest attestation on or before the day against the users.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.rules.findings import CheckOutcome, _findings, _outcome


def access_review(
    users: pd.DataFrame,
    review: dict[str, Any] | None,
    *,
    as_of: datetime,
    max_age_days: int,
    signature: str | None,
) -> CheckOutcome:
    """pass: a signed review younger than `max_age_days` whose removals are all carried out;
    fail: overdue, unsigned or invalid, or removed users still present; skip: no review yet.
    `review` is the newest attestation on or before the day (with its `date`)."""
    spec = catalogue.AC_16
    threshold = f"a signed access review at most {max_age_days} days old, every `remove` carried out"
    specifics = {"email": "str", "review_date": "str"}
    if review is None:
        return _outcome(spec, catalogue.SKIP, None, threshold,
                        "No access review yet: export one with `aircall-pipeline review export`, have it "
                        "completed, and import it with `aircall-pipeline review import`.", _findings(spec, None, specifics))
    rows = []
    if signature != "valid":
        rows.append({"status": catalogue.FAIL, "item_type": "review", "item_id": review["date"],
                     "item_label": f"review of {review['date']}", "email": review.get("reviewer"),
                     "review_date": review["date"],
                     "reason": f"The review's attestation signature is {signature or 'missing'}: it does not count."})
    if "reviewed_at" not in review:  # a refused review: nothing it says is read
        return _outcome(spec, catalogue.FAIL, 0, threshold, rows[0]["reason"], _findings(spec, pd.DataFrame(rows), specifics))
    reviewed = pd.Timestamp(review["reviewed_at"])
    age_days = (pd.Timestamp(as_of) - reviewed).total_seconds() / 86400
    if age_days > max_age_days:
        rows.append({"status": catalogue.FAIL, "item_type": "review", "item_id": review["date"],
                     "item_label": f"review of {review['date']}", "email": review.get("reviewer"),
                     "review_date": review["date"],
                     "reason": f"The newest review is {age_days:.0f} days old; the policy allows {max_age_days}."})
    present = users.set_index(users["user_id"].astype("int64"))
    for uid in review.get("removed_user_ids") or []:
        if uid in present.index:
            email = present.loc[uid, "email"]
            rows.append({"status": catalogue.FAIL, "item_type": "user", "item_id": uid, "item_label": email,
                         "email": email, "review_date": review["date"],
                         "reason": f"Marked `remove` in the {review['date']} review by {review.get('reviewer')}, "
                                   "but still present."})
    findings = _findings(spec, pd.DataFrame(rows) if rows else None, specifics)
    status = catalogue.FAIL if rows else catalogue.PASS
    observed = f"review of {review['date']} ({age_days:.0f} days old), {len(review.get('removed_user_ids') or [])} removals"
    reason = (f"{len(rows)} problem(s) with the access review." if rows else
              f"Reviewed by {review.get('reviewer')} on {review['reviewed_at']}; every removal is carried out.")
    return _outcome(spec, status, observed, threshold, reason, findings)
