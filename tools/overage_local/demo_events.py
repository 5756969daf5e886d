"""CRM event bodies the demo scenarios share."""

from __future__ import annotations

from typing import Any


def account_upserted(account_id: str, n: int = 0, at: str | None = None, **data: Any) -> dict[str, Any]:
    """The ``n``-th event of a demo account, an ``account.upserted``: a standard t50 monthly USD subscription with two
    paying users from 10 Jan 2026 unless ``data`` says otherwise; ``at`` defaults to 09:00 UTC on its start day."""
    fields = {
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "monthly",
        "currency": "USD",
        "started_on": "2026-01-10",
        "billing_email": f"billing@{account_id.replace('_', '-')}.example",
        "paying_users": 2,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": "2026-01-10",
    } | data
    return {
        "id": f"evt_{account_id}_{n:02d}",
        "type": "account.upserted",
        "occurred_at": at or f"{fields['started_on']}T09:00:00Z",
        "account_id": account_id,
        "data": fields,
    }
