"""The notices of what happens after the invoice (spec §3.7): a payment received, credit that paid invoices, support
adjustments (a void, a goodwill credit, a grace extension, a refund) and an invoice gone overdue.

Kinds (also the EventBridge detail-type the CRM receives): ``invoice.payment_received``, ``credit.applied``,
``invoice.voided``, ``credit.granted``, ``grace.extended``, ``credit.refunded``, ``invoice.overdue``. Each shows the
invoice's four amounts (gross, paid, credit applied, amount due) and the credit balance it leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from overage.domain.account import Account
from overage.domain.invoice import Invoice
from overage.domain.notice import Notice, render
from overage.domain.settlement import InvoiceStep
from overage.notices.excess_profiles import RESTRICTION_TERMS


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def invoice_amounts(invoice: Invoice) -> list[tuple[str, str]]:
    """The four amounts every invoice shows (spec §3.7), and its status."""
    cur = invoice.currency
    return [
        (f"Invoice {invoice.number}", f"{invoice.gross} {cur}"),
        ("Paid", f"{invoice.amount_paid} {cur}"),
        ("Credit applied", f"{invoice.credit_applied} {cur}"),
        ("Amount due", f"{invoice.amount_due} {cur}"),
        ("Status", invoice.status),
    ]


def _amounts_detail(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.invoice_id,
        "number": invoice.number,
        "invoice_kind": invoice.kind,
        "currency": invoice.currency,
        "gross": str(invoice.gross),
        "amount_paid": str(invoice.amount_paid),
        "credit_applied": str(invoice.credit_applied),
        "amount_due": str(invoice.amount_due),
        "status": invoice.status,
    }


def _credit_paid(steps: Sequence[InvoiceStep]) -> tuple[list[str], list[tuple[str, str]]]:
    paragraphs = []
    rows: list[tuple[str, str]] = []
    for step in steps:
        after = step.after
        paragraphs.append(
            f"Your credit paid {step.credit_used} {after.currency} of invoice {after.number}: "
            f"{after.amount_due} {after.currency} remains due."
        )
        rows += [(f"Credit applied to {after.number}", f"{step.credit_used} {after.currency}")]
    return paragraphs, rows


def payment_received(
    account: Account,
    *,
    cause: str,
    at: datetime,
    amount: Decimal,
    step: InvoiceStep,
    credited: Decimal,
    credit_steps: Sequence[InvoiceStep],
    balance: Decimal,
) -> Notice:
    invoice = step.after
    cur = invoice.currency
    paragraphs = [f"We received your payment of {amount} {cur} for invoice {invoice.number} on {_when(at)}."]
    if invoice.amount_due > 0:
        paragraphs.append(f"{invoice.amount_due} {cur} of the invoice remains due by {invoice.due_on}.")
    else:
        paragraphs.append(f"Invoice {invoice.number} is paid in full.")
    if credited > 0:
        paragraphs.append(f"{credited} {cur} more than was due became credit on your account.")
    more, rows = _credit_paid(credit_steps)
    return render(
        kind="invoice.payment_received",
        account_id=account.account_id,
        cause=cause,
        to=account.billing_email,
        subject=f"Payment received: {amount} {cur} for invoice {invoice.number}",
        paragraphs=paragraphs + more,
        breakdown=[
            ("Payment", f"{amount} {cur}"),
            *invoice_amounts(invoice),
            *rows,
            ("Credit balance", f"{balance} {cur}"),
        ],
        actions=[f"Pay the remaining {invoice.amount_due} {cur} quoting invoice {invoice.number}."]
        if invoice.amount_due > 0
        else [],
        detail=_amounts_detail(invoice)
        | {"payment_amount": str(amount), "to_credit": str(credited), "credit_balance": str(balance)},
        created_at=at.isoformat(),
    )


def credit_applied(
    account: Account, *, cause: str, at: datetime, steps: Sequence[InvoiceStep], currency: str, balance: Decimal
) -> Notice:
    paragraphs, rows = _credit_paid(steps)
    amounts = [row for step in steps for row in invoice_amounts(step.after)]
    return render(
        kind="credit.applied",
        account_id=account.account_id,
        cause=cause,
        to=account.billing_email,
        subject=f"Your credit paid {sum(s.credit_used for s in steps)} {currency} of your invoices",
        paragraphs=paragraphs,
        breakdown=[*rows, *amounts, ("Credit balance", f"{balance} {currency}")],
        actions=[],
        detail={
            "currency": currency,
            "credit_balance": str(balance),
            "invoices": [_amounts_detail(step.after) | {"credit_used": str(step.credit_used)} for step in steps],
        },
        created_at=at.isoformat(),
    )


def adjustment(
    account: Account,
    *,
    kind: str,
    cause: str,
    at: datetime,
    subject: str,
    paragraphs: list[str],
    record: dict[str, Any],
    invoice: Invoice | None = None,
    credit_steps: Sequence[InvoiceStep] = (),
    balance: tuple[str, Decimal] | None = None,
) -> Notice:
    """A support adjustment told to the customer: what changed, why, and the amounts it leaves."""
    more, rows = _credit_paid(credit_steps)
    breakdown = [*(invoice_amounts(invoice) if invoice else []), *rows]
    if balance is not None:
        breakdown.append(("Credit balance", f"{balance[1]} {balance[0]}"))
    breakdown.append(("Reason", str(record["reason"])))
    detail = {
        "adjustment_id": record["adjustment_id"],
        "adjustment": record["kind"],
        "requested_by": record["requested_by"],
        "amounts": record.get("amounts"),
    }
    if invoice is not None:
        detail |= _amounts_detail(invoice)
    return render(
        kind=kind,
        account_id=account.account_id,
        cause=cause,
        to=account.billing_email,
        subject=subject,
        paragraphs=[*paragraphs, *more],
        breakdown=breakdown,
        actions=[],
        detail=detail,
        created_at=at.isoformat(),
    )


def invoice_reminder(account: Account, invoice: Invoice, at: datetime) -> Notice:
    cur = invoice.currency
    days_left = (invoice.due_on - at.date()).days
    return render(
        kind="invoice.payment_reminder",
        account_id=account.account_id,
        cause=invoice.invoice_id,
        to=account.billing_email,
        subject=f"Reminder: invoice {invoice.number} ({invoice.amount_due} {cur} due) is due on {invoice.due_on}",
        paragraphs=[
            f"Invoice {invoice.number} has {invoice.amount_due} {cur} due on {invoice.due_on}, in {days_left} day(s).",
        ],
        breakdown=[*invoice_amounts(invoice), ("Due by", invoice.due_on.isoformat())],
        actions=[f"Pay {invoice.amount_due} {cur} quoting invoice {invoice.number}."],
        detail=_amounts_detail(invoice) | {"due_on": invoice.due_on.isoformat()},
        created_at=at.isoformat(),
    )


def invoice_restricted(account: Account, invoice: Invoice, at: datetime, days_overdue: int) -> Notice:
    """``account.restricted`` by an invoice other than an excess-profile fee, its kind's dunning policy reached (spec
    §3.7): the same restriction the CRM applies for an unpaid fee (no new profiles), lifted once nothing restricting
    is overdue. The detail names the invoice but not as ``invoice_kind``: its ``invoice.overdue`` already counted it
    among the month's overdue invoices."""
    cur = invoice.currency
    amounts = {k: v for k, v in _amounts_detail(invoice).items() if k != "invoice_kind"}
    return render(
        kind="account.restricted",
        account_id=account.account_id,
        cause=invoice.invoice_id,
        to=account.billing_email,
        subject=f"Account restricted: invoice {invoice.number} is overdue",
        paragraphs=[
            f"Invoice {invoice.number} was due on {invoice.due_on} and {invoice.amount_due} {cur} of it is still "
            f"unpaid, {days_overdue} days after it became overdue.",
            *RESTRICTION_TERMS,
        ],
        breakdown=[*invoice_amounts(invoice), ("Was due by", invoice.due_on.isoformat())],
        actions=[f"Pay {invoice.amount_due} {cur} quoting invoice {invoice.number} to lift the restriction."],
        detail=amounts
        | {
            "restricting_invoice_kind": invoice.kind,
            "due_on": invoice.due_on.isoformat(),
            "days_overdue": days_overdue,
            "restricted": True,
            "block_new_profiles": True,
        },
        created_at=at.isoformat(),
    )


def invoice_overdue(account: Account, invoice: Invoice, at: datetime, restricts: bool) -> Notice:
    cur = invoice.currency
    consequence = (
        "Your account may be restricted if it stays unpaid."
        if restricts
        else "Please pay it as soon as you can; your account is not restricted for it."
    )
    return render(
        kind="invoice.overdue",
        account_id=account.account_id,
        cause=invoice.invoice_id,
        to=account.billing_email,
        subject=f"Invoice {invoice.number} is overdue: {invoice.amount_due} {cur} due since {invoice.due_on}",
        paragraphs=[
            f"Invoice {invoice.number} was due on {invoice.due_on} and {invoice.amount_due} {cur} is unpaid.",
            consequence,
        ],
        breakdown=[*invoice_amounts(invoice), ("Was due by", invoice.due_on.isoformat())],
        actions=[f"Pay {invoice.amount_due} {cur} quoting invoice {invoice.number}."],
        detail=_amounts_detail(invoice) | {"due_on": invoice.due_on.isoformat(), "restricts": restricts},
        created_at=at.isoformat(),
    )
