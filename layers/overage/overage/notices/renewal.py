"""The notices renewal billing sends: the invoice with its breakdown, and the tier recommendation."""

from __future__ import annotations

from decimal import Decimal

from overage.domain.account import Account
from overage.domain.invoice import Invoice
from overage.domain.notice import Notice, render
from overage.domain.renewal import RenewalOutcome


def _percent(rate: str) -> str:
    text = f"{Decimal(rate) * 100:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def invoice_breakdown(invoice: Invoice) -> list[tuple[str, str]]:
    rows = [(line.description, f"{line.amount} {invoice.currency}") for line in invoice.lines]
    vat_percent = _percent(invoice.vat_rate)
    rows += [
        ("Net", f"{invoice.net} {invoice.currency}"),
        (f"VAT ({vat_percent} %)", f"{invoice.vat} {invoice.currency}"),
        ("Total", f"{invoice.gross} {invoice.currency}"),
    ]
    if invoice.amount_paid or invoice.credit_applied:
        rows += [
            ("Paid", f"{invoice.amount_paid} {invoice.currency}"),
            ("Credit applied", f"{invoice.credit_applied} {invoice.currency}"),
            ("Amount due", f"{invoice.amount_due} {invoice.currency}"),
        ]
    rows.append(("Due by", invoice.due_on.isoformat()))
    return rows


def renewal_notice(account: Account, outcome: RenewalOutcome) -> Notice:
    invoice = outcome.invoice
    assert invoice is not None
    paragraphs = [
        f"Invoice {invoice.number} for {invoice.period_start} to {invoice.period_end} has been issued: "
        f"{invoice.gross} {invoice.currency}.",
    ]
    if invoice.credit_applied:
        paragraphs.append(
            f"Your credit of {invoice.credit_applied} {invoice.currency} is applied to it: "
            f"{invoice.amount_due} {invoice.currency} is due."
        )
    actions: list[str] = []
    if outcome.in_overrun:
        paragraphs.append(
            f"On {outcome.billing_date} you had {outcome.active_contacts} active contacts, which is tier "
            f"{outcome.reached_tier}; your subscription pays for tier {account.contact_tier}. The difference "
            f"({outcome.overrun_supplement} {account.currency}) is added for this month."
        )
        actions += [
            "Archive contacts you no longer need: archived contacts are never counted.",
            f"Move to tier {outcome.reached_tier} if you keep growing, to avoid a supplement every month.",
        ]
    if outcome.recommendation is not None:
        rec = outcome.recommendation
        paragraphs.append(
            f"You have been over your tier on {rec.consecutive_overruns} consecutive billing dates. We recommend "
            f"tier {rec.tier} ({rec.monthly_price} {account.currency}/month), which fits your "
            f"{rec.active_contacts} active contacts."
        )
    paragraphs += list(invoice.notes)
    kind = "invoice.issued"
    paid_by_credit = (
        {"credit_applied": str(invoice.credit_applied), "amount_due": str(invoice.amount_due)}
        if invoice.credit_applied
        else {}  # the amount due is the gross: kept out of the record (a notice per renewal, 1 KB a write unit)
    )
    return render(
        kind=kind,
        account_id=account.account_id,
        cause=invoice.invoice_id,
        to=account.billing_email,
        subject=f"Your invoice {invoice.number}: {invoice.gross} {invoice.currency}",
        paragraphs=paragraphs,
        breakdown=invoice_breakdown(invoice),
        actions=actions,
        detail={
            "invoice_id": invoice.invoice_id,
            "number": invoice.number,
            "invoice_kind": invoice.kind,
            "billing_date": outcome.billing_date.isoformat(),
            "currency": invoice.currency,
            "net": str(invoice.net),
            "vat": str(invoice.vat),
            "gross": str(invoice.gross),
            "overrun_supplement": str(outcome.overrun_supplement),
            "reached_tier": outcome.reached_tier,
            "recommended_tier": outcome.recommendation.tier if outcome.recommendation else None,
            "custom_quote": outcome.custom_quote,
        }
        | paid_by_credit,
        created_at=invoice.issued_at.isoformat(),
    )
