"""Demo scenario: excess profiles (spec §3.2): approaching, exceeded, resolved in grace, a fee paid, a restriction."""

from __future__ import annotations

from typing import Any

from overage.domain.excess_profiles import FEE_INVOICE_KIND, episode_id
from overage.domain.instants import parse_instant
from overage.domain.invoice import invoice_id

from overage_local.demo_events import account_upserted
from overage_local.demo_format import invoice_lines, notice_lines

TITLE = "Excess profiles: approaching, 14-day grace, the fee, the deadline and restriction (spec §3.2)"

REDUCED = "demo_excess_profiles_reduced"
PACK = "demo_excess_profiles_pack"
PAID = "demo_excess_profiles_paid"
RESTRICTED = "demo_excess_profiles_restricted"

ACCOUNTS = {
    REDUCED: "standard USD: 182 profiles (approaching), 214 on 15 Jan (exceeded), 196 on 22 Jan → resolved, no fee",
    PACK: "standard GBP: 236 profiles on 13 Jan, buys a profile pack on 20 Jan (limit 250) → resolved, no fee",
    PAID: "standard GBP: 205 profiles on 14 Jan; fee 5 × 0.80 + VAT = 4.80 GBP at the grace end, paid 3 Feb; "
    "still 205 on 12 Feb → an excess line on the renewal invoice; 198 on 16 Feb → the episode closes",
    RESTRICTED: "standard USD: 260 profiles on 11 Jan; fee 60 × 1.00 = 60.00 USD at the grace end, reminded, "
    "unpaid at the deadline → restricted",
}

_PAID_EXCEEDED = f"evt_{PAID}_02"
_PAID_EXCEEDED_AT = "2026-01-14T09:00:00Z"


def _upsert(account_id: str, n: int, at: str, **data: Any) -> dict[str, Any]:
    return account_upserted(account_id, n, at, **data)


def _profiles(account_id: str, n: int, at: str, count: int) -> dict[str, Any]:
    return {
        "id": f"evt_{account_id}_{n:02d}",
        "type": "profiles.counted",
        "occurred_at": at,
        "account_id": account_id,
        "data": {"count": count},
    }


def paid_fee_invoice_id() -> str:
    """The fee invoice of the paid scenario: deterministic from the account and the snapshot that opened it."""
    opened = episode_id(parse_instant(_PAID_EXCEEDED_AT), f"profiles.counted:{_PAID_EXCEEDED}")
    return invoice_id(PAID, FEE_INVOICE_KIND, opened)


def events() -> list[dict[str, Any]]:
    gbp = {"currency": "GBP"}
    return [
        _upsert(REDUCED, 0, "2026-01-10T08:00:00Z"),
        _profiles(REDUCED, 1, "2026-01-12T09:00:00Z", 182),
        _profiles(REDUCED, 2, "2026-01-15T09:00:00Z", 214),
        _profiles(REDUCED, 3, "2026-01-22T09:00:00Z", 196),
        _upsert(PACK, 0, "2026-01-10T08:00:00Z", **gbp),
        _profiles(PACK, 1, "2026-01-13T10:00:00Z", 236),
        _upsert(PACK, 2, "2026-01-20T10:00:00Z", **gbp, profile_packs=1),
        _upsert(PAID, 0, "2026-01-12T08:00:00Z", **gbp, started_on="2026-01-12", customer_since="2026-01-12"),
        _profiles(PAID, 1, "2026-01-12T09:00:00Z", 170),
        _profiles(PAID, 2, _PAID_EXCEEDED_AT, 205),
        {
            "id": f"evt_{PAID}_03",
            "type": "payment.received",
            "occurred_at": "2026-02-03T10:00:00Z",
            "account_id": PAID,
            "data": {"invoice_id": paid_fee_invoice_id(), "amount": "4.80", "currency": "GBP"},
        },
        _profiles(PAID, 4, "2026-02-16T09:00:00Z", 198),
        _upsert(RESTRICTED, 0, "2026-01-11T08:00:00Z", started_on="2026-01-11", customer_since="2026-01-11"),
        _profiles(RESTRICTED, 1, "2026-01-11T10:00:00Z", 260),
    ]


def summary(get: Any) -> list[str]:
    lines: list[str] = []
    for account_id, story in ACCOUNTS.items():
        lines.append(f"{account_id}: {story}")
        _, standing = get(f"/accounts/{account_id}")
        profiles = standing["profiles"]
        episode = standing.get("open_episode")
        now = f"  now: {profiles['count']} profiles, limit {profiles['limit']}, restricted: {standing['restricted']}"
        if episode:
            now += (
                f"; open episode {episode['episode_id']} {episode['state']} (grace ended {episode['grace_ends_at']}"
                + (
                    f", fee {episode['fee_gross']} {episode['currency']} due {episode['deadline']}"
                    if "deadline" in episode
                    else ""
                )
                + ")"
            )
        else:
            now += "; no open episode"
        lines.append(now)
        _, invoices = get(f"/accounts/{account_id}/invoices")
        if not invoices["invoices"]:
            lines.append("  no invoice")
        for invoice in invoices["invoices"]:
            lines += invoice_lines(invoice)
        _, notices = get(f"/accounts/{account_id}/notices")
        for notice in notices["notices"]:
            lines += [f"  {notice['created_at'][:10]}{line[1:]}" for line in notice_lines(notice)]
        lines.append("")
    return lines
