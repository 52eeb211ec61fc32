"""AC-11 data egress: where the account's webhooks send call and user data.

Every Aircall webhook posts call, user and number events to a third party, so the webhook list is the
account's list of data recipients (the processors of GDPR Art. 28/30, the supplier relationships of
ISO 27001 A.5.19-5.21). A pure function over the normalised `webhooks` table (docs/architecture.md):
one finding row per webhook, active or not, so the findings are the inventory an auditor asks for.

The allow-list holds domains: an approved domain approves its subdomains (`zapier.com` covers
`hooks.zapier.com`), never the other way round, and never a look-alike (`evilzapier.com`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_11, FAIL, PASS, SKIP, WARN
from aircall_pipeline.compliance.rules.columns import UTC_DTYPE, _require
from aircall_pipeline.compliance.rules.findings import CheckOutcome, _findings, _outcome, _plural

DEFAULT_MAX_WEBHOOKS = 20
HTTPS = "https"
ALL_EVENTS = ""  # the normalised `events` of a webhook subscribed to every event (an empty API list)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_SPECIFICS = {
    "url_domain": "str", "url_scheme": "str", "active": "boolean", "approved": "boolean", "events": "str",
    "event_count": "Int64", "created_at": UTC_DTYPE,
}


def approved_domain(entry: object) -> str:
    """An allow-list entry, normalised (lower-case, no trailing dot). ValueError says what is wrong."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError("must be a non-empty domain name such as zapier.com")
    text = entry.strip().lower().rstrip(".")
    if "://" in text or "/" in text:
        raise ValueError("is a URL: give only its domain, such as zapier.com")
    if text.startswith("*."):
        raise ValueError("needs no wildcard: the subdomains of an approved domain are approved")
    if "@" in text or ":" in text:
        raise ValueError("must be a bare domain name, without a user, password or port")
    if len(text) > 253 or not _DOMAIN.fullmatch(text):
        # A single label ("com", "localhost") would approve every site under it, or be no domain at all.
        raise ValueError("is not a domain name of at least two labels in ASCII (punycode for "
                         "international names), such as zapier.com")
    return text


def is_approved(domain: object, approved: Iterable[str]) -> bool:
    """`domain` is one of `approved` or a subdomain of one (both already lower-case)."""
    if not isinstance(domain, str) or not domain:
        return False
    return any(domain == a or domain.endswith("." + a) for a in approved)


def webhook_egress(
    webhooks: pd.DataFrame | None,
    *,
    approved_domains: Iterable[str] | None,
    max_webhooks: int = DEFAULT_MAX_WEBHOOKS,
) -> CheckOutcome:
    """Active webhooks send only over https to approved domains (fail), each names its events (warn),
    and there are at most `max_webhooks` of them (warn). Inactive webhooks are listed and never fail.

    `approved_domains=None` means no allow-list is configured: the check skips, with every webhook
    still listed. An empty allow-list is a policy too: no destination is approved.
    """
    spec = AC_11
    approved = None if approved_domains is None else tuple(approved_domains)
    listed = "no approved_webhook_domains configured" if approved is None else (
        "approved domains: " + (", ".join(approved) if approved else "none") + ", with their subdomains")
    threshold = (f"active webhooks use https and send only to approved domains ({listed}); each subscribes "
                 f"to a list of events, not all; at most {max_webhooks} webhooks")
    if webhooks is None:
        return _outcome(spec, SKIP, None, threshold, "The webhooks snapshot was not collected.",
                        _findings(spec, None, _SPECIFICS))
    _require(webhooks, "webhooks", ["webhook_id", "url_domain", "url_scheme", "active", "events"])
    w = _view(webhooks)
    active = w["active"].fillna(False).astype(bool).to_numpy()
    w["approved"] = pd.array([None] * len(w), dtype="boolean") if approved is None else pd.array(
        [is_approved(d, approved) for d in w["url_domain"]], dtype="boolean")

    problems = [_fail_reasons(row, approved) for row in w.itertuples(index=False)]
    cautions = [_warn_reasons(row) for row in w.itertuples(index=False)]
    if approved is None:
        row_status = np.where(active, SKIP, PASS)
    else:
        row_status = np.where(~active, PASS, [FAIL if p else WARN if c else PASS for p, c in zip(problems, cautions, strict=True)])
    w["status"] = row_status
    w["reason"] = [_row_reason(bool(a), s, p, c) for a, s, p, c in zip(active, row_status, problems, cautions, strict=True)]
    w["item_type"] = "webhook"
    w["item_id"] = w["webhook_id"]
    w["item_label"] = w["url_domain"].fillna("(no readable host)")

    n, n_active = len(w), int(active.sum())
    rows = [w]
    too_many = n > max_webhooks
    if too_many:
        rows.append(pd.DataFrame([{
            "status": WARN, "item_type": "account", "item_id": "webhook_count", "item_label": "webhooks",
            "reason": f"{n} webhooks, more than the policy's max_webhooks ({max_webhooks}): each one copies "
                      "account data to a third party; remove those no longer used.",
        }]))
    findings = _findings(spec, pd.concat(rows, ignore_index=True) if len(rows) > 1 else w, _SPECIFICS)

    n_fail = int((row_status == FAIL).sum())
    n_warn = int((row_status == WARN).sum())
    summary = f"{_plural(n, 'webhook')} ({n_active} active)"
    if n == 0:
        return _outcome(spec, PASS, 0, threshold, "No webhooks: no data leaves Aircall through webhooks.", findings)
    if approved is None:
        reason = (f"{summary} listed but not judged: the policy has no approved_webhook_domains, so no "
                  "destination can be told approved or not.")
        return _outcome(spec, SKIP, None, threshold, reason, findings)
    status = FAIL if n_fail else WARN if (n_warn or too_many) else PASS
    reason = (f"{summary}: {n_fail} to an unapproved or non-https destination, {n_warn} on all events or "
              f"unlisted events" + (f"; more than {max_webhooks} webhooks" if too_many else "") + ".")
    return _outcome(spec, status, n_fail + n_warn + int(too_many), threshold, reason, findings)


def _view(webhooks: pd.DataFrame) -> pd.DataFrame:
    """The columns the rule reads, typed, in a stable order (oldest first)."""
    w = pd.DataFrame({
        "webhook_id": webhooks["webhook_id"].astype("str"),
        "url_domain": webhooks["url_domain"].astype("str").str.strip().str.lower().str.rstrip("."),
        "url_scheme": webhooks["url_scheme"].astype("str").str.strip().str.lower(),
        "active": webhooks["active"].astype("boolean"),
        "events": webhooks["events"].astype("str"),
        "event_count": (webhooks["event_count"] if "event_count" in webhooks else
                        pd.Series(pd.NA, index=webhooks.index)).astype("Int64"),
        "created_at": pd.to_datetime(webhooks["created_at"], utc=True) if "created_at" in webhooks else
        pd.Series(pd.NaT, index=webhooks.index, dtype=UTC_DTYPE),
    }).reset_index(drop=True)
    w["url_domain"] = w["url_domain"].mask(w["url_domain"] == "")
    return w.sort_values(["created_at", "webhook_id"], kind="stable", na_position="last").reset_index(drop=True)


def _fail_reasons(row, approved: tuple[str, ...] | None) -> list[str]:
    """What would make this webhook fail: its transport, and its destination against the allow-list."""
    reasons = []
    if row.url_scheme != HTTPS:
        scheme = row.url_scheme if isinstance(row.url_scheme, str) else "no scheme"
        reasons.append(f"sends over {scheme}, not https")
    if not isinstance(row.url_domain, str):
        reasons.append("its URL has no readable host")
    elif approved is not None and not is_approved(row.url_domain, approved):
        reasons.append(f"destination {row.url_domain} is not an approved webhook domain")
    return reasons


def _warn_reasons(row) -> list[str]:
    if row.events == ALL_EVENTS:
        return ["its empty events list subscribes it to all events"]
    if not isinstance(row.events, str):
        return ["the API did not say which events it receives"]
    return []


def _row_reason(active: bool, status: str, problems: list[str], cautions: list[str]) -> str:
    found = "; ".join(problems + cautions)
    if not active:
        return "Inactive: sends nothing while switched off" + (f" (if re-activated: {found})." if found else ".")
    if status == SKIP:
        return "Active; destination not judged without approved_webhook_domains" + (f"; {found}." if found else ".")
    if found:
        return found[0].upper() + found[1:] + "."
    return "Active; https to an approved domain, on a list of events."
