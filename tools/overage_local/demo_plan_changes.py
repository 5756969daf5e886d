"""Demo scenario: plan changes (spec §3.4) — an immediate upgrade with its pro-rated invoice, a downgrade at period end
applied by the renewal run, add-ons bought mid-period, and a switch from monthly to annual billing."""

from __future__ import annotations

from typing import Any

from overage_local.demo_events import account_upserted
from overage_local.demo_format import invoice_lines, notice_lines

TITLE = "Plan changes: upgrades, downgrades and add-ons, pro-rated by days (spec §3.4)"

ACCOUNTS = {
    "demo_plan_changes_upgrade": "Monthly USD t50 anchored on the 10th → t150 on 25 Jan: (34 − 24) × 16 ÷ 31 = 5.16",
    "demo_plan_changes_downgrade": "Monthly GBP t250 → t100 asked on 20 Jan, applied by the renewal run on 15 Feb",
    "demo_plan_changes_add_ons": "Monthly USD, 4 paying users: telephone support on 3 Feb, a profile pack on 25 Feb",
    "demo_plan_changes_annual": "Monthly USD t50 anchored on the 12th switches to annual on 20 Feb",
}


def _upsert(account_id: str, **data: Any) -> dict[str, Any]:
    return account_upserted(account_id, **data)


def _change(account_id: str, n: int, at: str, reason: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{account_id}_{n:02d}",
        "type": "plan.change_requested",
        "occurred_at": at,
        "account_id": account_id,
        "data": data | {"reason": reason, "requested_by": "crm:account-manager"},
    }


def _contacts(account_id: str, n: int, at: str, active: int) -> dict[str, Any]:
    return {
        "id": f"evt_{account_id}_{n:02d}",
        "type": "contacts.counted",
        "occurred_at": at,
        "account_id": account_id,
        "data": {"active": active, "archived": 0},
    }


def events() -> list[dict[str, Any]]:
    up, down, add_ons, annual = ACCOUNTS
    return [
        _upsert(up),
        _contacts(up, 1, "2026-01-22T10:00:00Z", 120),
        _change(
            up,
            2,
            "2026-01-25T10:00:00Z",
            "Growing past 100 contacts; wants to avoid overrun supplements",
            contact_tier="t150",
        ),
        _upsert(down, currency="GBP", contact_tier="t250", started_on="2026-01-15", customer_since="2026-01-15"),
        _contacts(down, 1, "2026-01-16T10:00:00Z", 80),
        _change(down, 2, "2026-01-20T11:00:00Z", "Seasonal campaign over; fewer contacts", contact_tier="t100"),
        _upsert(add_ons, contact_tier="t100", paying_users=4, started_on="2026-01-20", customer_since="2026-01-20"),
        _change(
            add_ons, 1, "2026-02-03T14:30:00Z", "Support desk opens for the customer's members", telephone_support=True
        ),
        _change(add_ons, 2, "2026-02-25T09:00:00Z", "More volunteers need user profiles", profile_packs=1),
        _upsert(annual, started_on="2026-01-12", customer_since="2026-01-12"),
        _change(annual, 1, "2026-02-20T16:00:00Z", "Board approved a yearly budget", billing_cycle="annual"),
    ]


def _change_lines(change: dict[str, Any]) -> list[str]:
    before, after = change.get("from", {}), change.get("to", {})
    moved = [
        f"{name} {before[name]} → {after[name]}"
        for name in ("package", "contact_tier", "billing_cycle", "paying_users", "telephone_support", "profile_packs")
        if name in before and before[name] != after.get(name)
    ]
    amounts = change.get("amounts")
    money = f"{amounts['gross']} {change['currency']} gross" if amounts else "no pro-rated amount"
    return [
        f"  change {change['change_id']}: {change.get('kind')} ({change.get('effective')}), {change['status']} "
        f"effective {change.get('effective_on')}",
        f"      {', '.join(moved) or change.get('cancels', '')}; {money}; monthly price "
        f"{before.get('monthly_price')} → {after.get('monthly_price')} {change['currency']}",
        f"      by {change['requested_by']}: “{change['reason']}”",
    ]


def summary(get: Any) -> list[str]:
    lines: list[str] = []
    for account_id, story in ACCOUNTS.items():
        lines.append(f"{account_id}: {story}")
        _, standing = get(f"/accounts/{account_id}")
        lines.append(
            f"  now: {standing['package']} {standing['contact_tier']} {standing['billing_cycle']}, "
            f"telephone support add-on {standing['telephone_support']}, {standing['profile_packs']} profile pack(s), "
            f"started {standing['started_on']}, next billing date {standing['next_billing_date']}"
        )
        _, changes = get(f"/accounts/{account_id}/changes")
        for change in changes["changes"]:
            lines += _change_lines(change)
        _, invoices = get(f"/accounts/{account_id}/invoices")
        for invoice in invoices["invoices"]:
            lines += invoice_lines(invoice)
        _, notices = get(f"/accounts/{account_id}/notices")
        for notice in notices["notices"]:
            lines += notice_lines(notice)
        lines.append("")
    return lines
