"""Demo scenario: contact-tier overruns at renewal (the seed article's two scenarios and two more accounts)."""

from __future__ import annotations

from typing import Any

from overage_local.demo_events import account_upserted
from overage_local.demo_format import invoice_lines, notice_lines

TITLE = "Renewal billing: contact-tier overruns (spec §3.1)"

ACCOUNTS = {
    "demo_renewals_serenity_archives": "Seed scenario 1 — annual t50, up to 70 contacts, archived down to 48 on 5 Feb",
    "demo_renewals_serenity_grows": "Seed scenario 2 — annual t50, 130 active contacts on 10 Feb",
    "demo_renewals_gbp_monthly": "Monthly GBP t100 with telephone support for 2 users, grows to 260 contacts",
    "demo_renewals_month_end": "Monthly USD started 31 Jan: billed on 28 Feb (anchor kept)",
}


def _upsert(account_id: str, n: int, **data: Any) -> dict[str, Any]:
    return account_upserted(account_id, n, **({"billing_cycle": "annual"} | data))


def _contacts(account_id: str, n: int, at: str, active: int, archived: int = 0) -> dict[str, Any]:
    return {
        "id": f"evt_{account_id}_{n:02d}",
        "type": "contacts.counted",
        "occurred_at": at,
        "account_id": account_id,
        "data": {"active": active, "archived": archived},
    }


def events() -> list[dict[str, Any]]:
    a, b, c, d = ACCOUNTS
    return [
        _upsert(a, 1),
        _contacts(a, 2, "2026-01-10T10:00:00Z", 40),
        _contacts(a, 3, "2026-01-20T10:00:00Z", 70),
        _contacts(a, 4, "2026-02-05T10:00:00Z", 48, archived=22),
        _upsert(b, 1),
        _contacts(b, 2, "2026-01-10T10:00:00Z", 40),
        _contacts(b, 3, "2026-01-25T10:00:00Z", 130),
        _contacts(b, 4, "2026-02-10T12:00:00Z", 45, archived=85),  # too late for 10 Feb: billed on 130
        _upsert(
            c,
            1,
            billing_cycle="monthly",
            currency="GBP",
            contact_tier="t100",
            started_on="2026-01-15",
            customer_since="2026-01-15",
            telephone_support=True,
            billing_name="Harbour Lights Housing Co-operative Ltd",
            billing_address=["12 Quay Street", "Bristol BS1 4DJ", "United Kingdom"],
            vat_number="GB123456789",
        ),
        _contacts(c, 2, "2026-01-15T10:00:00Z", 90),
        _contacts(c, 3, "2026-02-12T10:00:00Z", 260),
        _upsert(d, 1, billing_cycle="monthly", started_on="2026-01-31", customer_since="2026-01-31"),
        _contacts(d, 2, "2026-02-01T10:00:00Z", 120),
    ]


def summary(get: Any) -> list[str]:
    lines: list[str] = []
    for account_id, story in ACCOUNTS.items():
        lines.append(f"{account_id}: {story}")
        _, standing = get(f"/accounts/{account_id}")
        contacts = standing.get("contacts") or {}
        lines.append(
            f"  now: {contacts.get('active')} active contacts (tier reached {contacts.get('tier_reached')}, "
            f"paid {standing['contact_tier']}), next billing date {standing['next_billing_date']}"
        )
        _, invoices = get(f"/accounts/{account_id}/invoices")
        if not invoices["invoices"]:
            lines.append("  no invoice")
        for invoice in invoices["invoices"]:
            lines += invoice_lines(invoice)
        _, notices = get(f"/accounts/{account_id}/notices")
        for notice in notices["notices"]:
            lines += notice_lines(notice)
        lines.append("")
    return lines
