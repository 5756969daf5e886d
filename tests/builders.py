"""One builder per CRM event type (spec §4): the body the CRM would send, with sensible defaults (the seed's Serenity
association: standard, t50, annual, USD, started 10 Jan 2026) that a test overrides by keyword."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any


def upsert_body(account_id: str = "acc_42", **data: Any) -> dict[str, Any]:
    """An account.upserted body: the seed's Serenity association unless told otherwise."""
    fields: dict[str, Any] = {
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "annual",
        "currency": "USD",
        "started_on": "2026-01-10",
        "billing_email": f"billing@{account_id}.example",
        "paying_users": 3,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": "2026-01-10",
    }
    occurred_at = data.pop("occurred_at", None)
    event_id = data.pop("id", None)
    fields.update(data)
    started = date.fromisoformat(str(fields["started_on"]))
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": "account.upserted",
        "occurred_at": occurred_at or f"{started.isoformat()}T08:00:00Z",
        "account_id": account_id,
        "data": fields,
    }


def contacts_body(account_id: str, occurred_at: str, active: int, archived: int = 0) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}",
        "type": "contacts.counted",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": {"active": active, "archived": archived},
    }


def profiles_body(account_id: str, occurred_at: str, count: int) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}",
        "type": "profiles.counted",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": {"count": count},
    }


def call_body(
    account_id: str,
    call_id: str,
    started_at: str,
    duration_seconds: int,
    user_id: str = "u1",
    *,
    occurred_at: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A call.completed body; ``occurred_at`` defaults to the call's end."""
    from datetime import timedelta

    from overage.domain.instants import parse_instant

    ended = parse_instant(started_at) + timedelta(seconds=max(duration_seconds, 0))
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": "call.completed",
        "occurred_at": occurred_at or ended.isoformat().replace("+00:00", "Z"),
        "account_id": account_id,
        "data": {
            "call_id": call_id,
            "user_id": user_id,
            "started_at": started_at,
            "duration_seconds": duration_seconds,
        },
    }


def payment_body(
    account_id: str, occurred_at: str, invoice_id: str, amount: str, currency: str, *, event_id: str | None = None
) -> dict[str, Any]:
    """A payment.received body (the amount as a JSON string, as money is written everywhere)."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": "payment.received",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": {"invoice_id": invoice_id, "amount": amount, "currency": currency},
    }


def change_body(account_id: str, occurred_at: str, event_id: str = "evt_chg_1", **data: Any) -> dict[str, Any]:
    data.setdefault("reason", "The customer asked for it on the phone")
    data.setdefault("requested_by", "support:ann")
    return {
        "id": event_id,
        "type": "plan.change_requested",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": data,
    }
