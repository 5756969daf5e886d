"""Demo scenario: after the invoice (spec §3.7), printed as each customer's statement.

- ``demo_settle`` (monthly GBP t250 from 15 Dec 2025): its 15 Jan invoice (43.20) is paid in two parts, 20.00 then
  30.00 (6.80 over: credit); t250 → t100 at once on 25 Jan, 21 of the 31 days of 15 Jan-15 Feb left: a credit note of
  (24 − 36) × 21 ÷ 31 = −8.13 net, −1.63 VAT, −9.76 gross, credit 16.56; the 15 Feb renewal (t100, 28.80) takes it:
  12.24 due; 20.00 paid on it (7.76 over: credit); a goodwill credit of 5.00 + VAT (6.00); 3.76 refunded: 10.00 left.
- ``demo_waive`` (monthly GBP t50 from 10 Jan 2026): 205 profiles on 12 Jan (grace to 26 Jan), 7 more days of grace
  granted on 20 Jan, the fee invoiced at the new grace end (5 × 0.80 + VAT = 4.80) and voided on 3 Feb: the fee is
  waived; its 10 Feb renewal (24.00) is not paid in time: reminded on 21 Feb, overdue on 25 Feb (not restricting),
  10.00 paid on 26 Feb (14.00 still due, still overdue), then voided on 27 Feb: nothing is due and the 10.00 paid on it
  becomes credit (balance 10.00).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from overage_local.demo_events import account_upserted

TITLE = (
    "After the invoice: partial and over payments, downgrade credit used by the next renewal, a waived fee, a void "
    "whose paid part becomes credit, a grace extension (spec §3.7)"
)

SETTLE = "demo_settle"
WAIVE = "demo_waive"
AGENT = "agent@vendor.example"


def _event(account_id: str, n: int, kind: str, at: str, **data: Any) -> dict[str, Any]:
    return {"id": f"evt_{account_id}_{n:02d}", "type": kind, "occurred_at": at, "account_id": account_id, "data": data}


def events() -> list[dict[str, Any]]:
    jan, feb = f"inv_{SETTLE}_renewal_2026-01-15", f"inv_{SETTLE}_renewal_2026-02-15"
    waive_feb = f"inv_{WAIVE}_renewal_2026-02-10"
    fee = f"inv_{WAIVE}_excess_profiles_20260112T100000Z"
    return [
        account_upserted(
            SETTLE,
            0,
            "2026-01-10T09:00:00Z",
            currency="GBP",
            contact_tier="t250",
            started_on="2025-12-15",
            customer_since="2025-12-15",
        ),
        _event(
            SETTLE,
            1,
            "payment.received",
            "2026-01-16T10:00:00Z",
            invoice_id=jan,
            amount="20.00",
            currency="GBP",
            payment_id="pay_demo_1",
        ),
        _event(
            SETTLE,
            2,
            "payment.received",
            "2026-01-18T10:00:00Z",
            invoice_id=jan,
            amount="30.00",
            currency="GBP",
            payment_id="pay_demo_2",
        ),
        _event(
            SETTLE,
            3,
            "plan.change_requested",
            "2026-01-25T10:00:00Z",
            contact_tier="t100",
            effective="immediate",
            reason="Fewer contacts after the clean-up",
            requested_by=AGENT,
        ),
        _event(
            SETTLE,
            4,
            "payment.received",
            "2026-02-16T10:00:00Z",
            invoice_id=feb,
            amount="20.00",
            currency="GBP",
            payment_id="pay_demo_3",
        ),
        _event(
            SETTLE,
            5,
            "credit.granted",
            "2026-02-20T10:00:00Z",
            amount="5.00",
            currency="GBP",
            reason="Outage on 19 February",
            requested_by=AGENT,
        ),
        _event(
            SETTLE,
            6,
            "credit.refunded",
            "2026-02-21T10:00:00Z",
            amount="3.76",
            currency="GBP",
            reason="Paid back by bank transfer",
            requested_by=AGENT,
        ),
        account_upserted(WAIVE, 0, "2026-01-10T09:00:00Z", currency="GBP"),
        _event(WAIVE, 1, "profiles.counted", "2026-01-12T10:00:00Z", count=205),
        _event(
            WAIVE,
            2,
            "grace.extend_requested",
            "2026-01-20T10:00:00Z",
            days=7,
            reason="Migration clean-up in progress",
            requested_by=AGENT,
        ),
        _event(
            WAIVE,
            3,
            "invoice.void_requested",
            "2026-02-03T10:00:00Z",
            invoice_id=fee + "-" + _fee_suffix(),
            reason="Fee waived: profiles created by our import",
            requested_by=AGENT,
        ),
        _event(
            WAIVE,
            4,
            "payment.received",
            "2026-02-26T10:00:00Z",
            invoice_id=waive_feb,
            amount="10.00",
            currency="GBP",
            payment_id="pay_demo_4",
        ),
        _event(
            WAIVE,
            5,
            "invoice.void_requested",
            "2026-02-27T10:00:00Z",
            invoice_id=waive_feb,
            reason="Renewal billed after the customer cancelled on 9 February",
            requested_by=AGENT,
        ),
    ]


def _fee_suffix() -> str:
    """The fee invoice's id ends with its episode's (``domain.excess_profiles.episode_id``: time and cause)."""
    import hashlib

    return hashlib.sha256(f"profiles.counted:evt_{WAIVE}_01".encode()).hexdigest()[:6]


def statement(get: Callable[[str], tuple[int, Any]], account_id: str) -> list[str]:
    """The customer's statement: each invoice with its four amounts and status, every credit movement, the
    adjustments, the balance."""
    _, invoices = get(f"/accounts/{account_id}/invoices")
    _, listed = get(f"/accounts/{account_id}/adjustments")
    lines = [f"  {'issued':<11} {'number':<18} {'kind':<16} {'gross':>8} {'paid':>8} {'credit':>8} {'due':>8}  status"]
    for inv in invoices["invoices"]:
        lines.append(
            f"  {inv['issued_at'][:10]:<11} {inv['number'] or '':<18} {inv['kind']:<16} {inv['gross']:>8} "
            f"{inv['amount_paid']:>8} {inv['credit_applied']:>8} {inv['amount_due']:>8}  {inv['status']}"
        )
    for move in listed["credit_movements"]:
        lines.append(
            f"  credit {move['created_at'][:10]} {move['kind']:<12} {move['amount']:>8} {move['currency']}"
            f"  → balance {move['balance_after']}"
        )
    for adjustment in listed["adjustments"]:
        lines.append(
            f"  adjustment {adjustment['requested_at'][:10]} {adjustment['kind']} by {adjustment['requested_by']}: "
            f"{adjustment['reason']}"
        )
    balances = " · ".join(f"{amount} {cur}" for cur, amount in listed["credit_balances"].items()) or "none"
    lines.append(f"  credit balance: {balances}")
    return lines


def summary(get: Callable[[str], tuple[int, Any]]) -> list[str]:
    lines: list[str] = []
    for account_id in (SETTLE, WAIVE):
        lines.append(f"{account_id}: statement")
        lines += statement(get, account_id)
    return lines
