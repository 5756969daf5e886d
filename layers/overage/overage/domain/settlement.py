"""After the invoice (spec §3.7): payments, credit and voids, each moving one invoice one step. Pure rules.

An invoice owes its amount due (gross − amount paid − credit applied). Facts move it one step and say what happened:

- a payment (``receive_payment``): what it covers of the amount due is paid; the rest (a surplus, or all of it on an
  invoice already paid) becomes credit. Less than the amount due → ``partially_paid`` (an ``overdue`` invoice stays
  ``overdue`` until nothing is due); exactly or more → ``paid``;
- credit (``apply_credit``): the account's credit balance pays what it can of the amount due, in full cents;
- a void (``void_invoice``): an unpaid, partly paid or overdue invoice becomes ``void`` and owes nothing; what was
  paid on it and the credit applied to it go back to the credit balance; a paid invoice cannot be voided.

``settle_oldest_first`` spends a credit balance on unpaid invoices of its currency, oldest first (issue time, then
id), until the balance or the invoices run out. Credit is per account and currency; the balance never goes below
zero. Nothing here reads a clock or a table: the invoice, the amounts and the moment come in as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from overage.domain.invoice import UNPAID_STATUSES, Invoice, InvoiceStatus
from overage.domain.money import ZERO
from overage.errors import Conflict

InvoiceHappeningKind = Literal["payment_applied", "credit_applied", "paid", "partially_paid", "voided"]
MovementKind = Literal["credit_note", "goodwill", "overpayment", "void", "applied", "refunded"]


@dataclass(frozen=True)
class InvoiceHappening:
    kind: InvoiceHappeningKind
    at: datetime
    amount: Decimal = ZERO


@dataclass(frozen=True)
class InvoiceStep:
    """One invoice moved one step: before, after, what happened, and what it gave to or took from credit."""

    before: Invoice
    after: Invoice
    happenings: tuple[InvoiceHappening, ...] = ()
    to_credit: Decimal = ZERO  # money that becomes credit on the account (a surplus, a void's paid part)
    credit_used: Decimal = ZERO  # credit this step spent on the invoice

    @property
    def changed(self) -> bool:
        return self.after != self.before

    @property
    def settled(self) -> bool:
        """The step left the invoice with nothing due (it was unpaid before)."""
        return self.before.unpaid and self.after.status in ("paid", "void")


def _status(before: InvoiceStatus, due: Decimal, touched: bool) -> InvoiceStatus:
    if due == 0:
        return "paid"
    if before == "overdue":
        return "overdue"
    return "partially_paid" if touched else before


def _positive(amount: Decimal, what: str) -> None:
    if amount <= 0:
        raise ValueError(f"{what} must be above zero, not {amount}")


def receive_payment(invoice: Invoice, amount: Decimal, at: datetime) -> InvoiceStep:
    """``amount`` paid on ``invoice``: what the amount due takes is paid, the surplus becomes credit."""
    _positive(amount, "a payment")
    if invoice.status == "void":
        raise Conflict(f"invoice {invoice.number} is void and cannot be paid")
    applied = min(amount, invoice.amount_due) if invoice.unpaid else ZERO
    surplus = amount - applied
    happenings: list[InvoiceHappening] = []
    after = invoice
    if applied > 0:
        due = invoice.amount_due - applied
        after = invoice.model_copy(
            update={
                "amount_paid": invoice.amount_paid + applied,
                "amount_due": due,
                "status": _status(invoice.status, due, touched=True),
                "rev": invoice.rev + 1,
            }
        )
        happenings.append(InvoiceHappening("payment_applied", at, applied))
        happenings.append(InvoiceHappening("paid" if due == 0 else "partially_paid", at, due))
    return InvoiceStep(invoice, after, tuple(happenings), to_credit=surplus)


def apply_credit(invoice: Invoice, available: Decimal, at: datetime) -> InvoiceStep:
    """Credit pays what it can of the amount due (nothing when there is no credit or nothing is due)."""
    used = min(max(available, ZERO), invoice.amount_due) if invoice.unpaid else ZERO
    if used == 0:
        return InvoiceStep(invoice, invoice)
    due = invoice.amount_due - used
    after = invoice.model_copy(
        update={
            "credit_applied": invoice.credit_applied + used,
            "amount_due": due,
            "status": _status(invoice.status, due, touched=True),
            "rev": invoice.rev + 1,
        }
    )
    settled = InvoiceHappening("paid" if due == 0 else "partially_paid", at, due)
    return InvoiceStep(invoice, after, (InvoiceHappening("credit_applied", at, used), settled), credit_used=used)


def credit_at_issue(invoice: Invoice, available: Decimal) -> tuple[Invoice, Decimal]:
    """A new invoice with the credit balance applied before anyone sees it: (the invoice, the credit used). It stays
    ``open`` while something is due (nobody has paid it yet), and is ``paid`` when credit covers it."""
    step = apply_credit(invoice, available, invoice.issued_at)
    if step.credit_used == 0:
        return invoice, ZERO
    status: InvoiceStatus = "paid" if step.after.amount_due == 0 else "open"
    return step.after.model_copy(update={"status": status, "rev": 0}), step.credit_used


def void_invoice(invoice: Invoice, at: datetime) -> InvoiceStep:
    """An invoice with nothing paid, partly paid or overdue becomes void: nothing is due; what was paid on it and the
    credit applied to it return to credit. Paid (or a credit note) → Conflict; void already → nothing changes."""
    if invoice.status == "void":
        return InvoiceStep(invoice, invoice)
    if invoice.kind == "credit_note":
        raise Conflict(f"{invoice.number} is a credit note; its credit is on the account: refund it instead")
    if invoice.status == "paid":
        raise Conflict(f"invoice {invoice.number} is paid and cannot be voided: grant a credit instead")
    back = invoice.amount_paid + invoice.credit_applied
    after = invoice.model_copy(update={"status": "void", "amount_due": ZERO, "rev": invoice.rev + 1})
    return InvoiceStep(invoice, after, (InvoiceHappening("voided", at, invoice.amount_due),), to_credit=back)


@dataclass(frozen=True)
class Settlement:
    """What a credit balance paid: one step per invoice it reached, and the balance left."""

    steps: tuple[InvoiceStep, ...]
    remaining: Decimal

    @property
    def used(self) -> Decimal:
        return sum((step.credit_used for step in self.steps), ZERO)


def oldest_first(invoices: Sequence[Invoice]) -> list[Invoice]:
    return sorted(invoices, key=lambda invoice: (invoice.issued_at, invoice.invoice_id))


def settle_oldest_first(invoices: Sequence[Invoice], balance: Decimal, currency: str, at: datetime) -> Settlement:
    """Spend ``balance`` on the unpaid invoices in ``currency``, oldest first, until one of them runs out."""
    steps: list[InvoiceStep] = []
    left = balance
    for invoice in oldest_first([i for i in invoices if i.currency == currency and i.status in UNPAID_STATUSES]):
        if left <= 0:
            break
        step = apply_credit(invoice, left, at)
        if step.credit_used > 0:
            steps.append(step)
            left -= step.credit_used
    return Settlement(tuple(steps), left)


@dataclass(frozen=True)
class Movement:
    """One movement of a credit balance: positive adds credit, negative spends or refunds it."""

    movement_id: str
    kind: MovementKind
    currency: str
    amount: Decimal
    balance_after: Decimal
    at: datetime
    cause: str
    invoice_id: str | None = None


def movement_id(cause: str, kind: str, invoice_id: str | None) -> str:
    """Deterministic from what caused it, so a retry can only write the same movement."""
    digest = hashlib.sha256(f"{cause}|{kind}|{invoice_id or ''}".encode()).hexdigest()[:16]
    return f"mov_{digest}"


@dataclass(frozen=True)
class CreditChange:
    """A credit balance moved by the movements of one fact, in order."""

    currency: str
    before: Decimal
    movements: tuple[Movement, ...]

    @property
    def after(self) -> Decimal:
        return self.movements[-1].balance_after if self.movements else self.before


def credit_change(
    currency: str,
    before: Decimal,
    entries: Sequence[tuple[MovementKind, Decimal, str | None]],
    at: datetime,
    cause: str,
) -> CreditChange:
    """The movements ``(kind, signed amount, invoice id)`` applied to ``before`` in order, each with the balance it
    leaves. The balance never goes below zero (ValueError: a rule upstream let it)."""
    balance = before
    movements: list[Movement] = []
    for kind, amount, invoice_id in entries:
        if amount == 0:
            continue
        balance += amount
        if balance < 0:
            raise ValueError(f"the {currency} credit balance would fall below zero ({balance})")
        movements.append(
            Movement(movement_id(cause, kind, invoice_id), kind, currency, amount, balance, at, cause, invoice_id)
        )
    return CreditChange(currency, before, tuple(movements))


# ------------------------------------------------------------------------------------------------ dunning
# An invoice with an amount due is chased by the catalog's dunning policy (spec §2, §3.7): a reminder
# ``reminder_days_before_deadline`` before its due date, ``overdue`` the day after it. Fee invoices are chased by
# their excess-profile episode (it restricts the account at once) and credit notes owe nothing: neither is dunned
# here. The dunning index key says what the invoice waits for and from which day: ``R#<due date>`` (the reminder,
# due ``reminder_days`` before that day) then ``O#<overdue day>``, then, for a kind the policy restricts on
# (``restrict_after_days_overdue``: N days), ``X#<overdue day + N>``: the account is restricted that day if the
# invoice is still overdue (N = 0: in the overdue step itself).
DunningHappening = Literal["reminded", "overdue", "restricted", "released"]
REMIND = "R#"
OVERDUE = "O#"
RESTRICT = "X#"
DUNNING_STAGES = (REMIND, OVERDUE, RESTRICT)
NOT_DUNNED = ("credit_note", "excess_profiles")


def first_dunning_key(invoice: Invoice) -> str | None:
    """The dunning index key an invoice is issued with (None: nothing to chase)."""
    if invoice.kind in NOT_DUNNED or not invoice.unpaid:
        return None
    return REMIND + invoice.due_on.isoformat()


def overdue_on(invoice: Invoice) -> date:
    return invoice.due_on + timedelta(days=1)


def restricts_on(invoice: Invoice, restrict_after: int | None) -> date | None:
    """The day an invoice still overdue restricts its account (None: its kind never does)."""
    return None if restrict_after is None else overdue_on(invoice) + timedelta(days=restrict_after)


@dataclass(frozen=True)
class DunningStep:
    before: Invoice
    after: Invoice
    happening: DunningHappening
    next_key: str | None  # None: nothing more to chase (overdue, and the kind never restricts; or restricted)
    restricts: bool = False  # this step restricts the account (the invoice is marked ``restricting``)


def dunning_step(
    invoice: Invoice, key: str, today: date, reminder_days: int, restrict_after: int | None = None
) -> DunningStep | None:
    """What the run of ``today`` does to an invoice waiting at ``key`` (None: nothing yet, or nothing due).
    ``restrict_after``: the days overdue after which its kind restricts the account (None: never)."""
    if not invoice.unpaid:
        return None
    restrict_day = restricts_on(invoice, restrict_after)
    if invoice.status == "overdue":  # waiting for the restriction, if its kind has one (a partial payment: still)
        if not key.startswith(RESTRICT):
            return None
        if restrict_day is None:  # the catalog no longer restricts its kind: it leaves the index, nothing said
            return DunningStep(invoice, invoice.model_copy(update={"rev": invoice.rev + 1}), "released", None)
        if today < restrict_day:
            return None
        after = invoice.model_copy(update={"rev": invoice.rev + 1})
        return DunningStep(invoice, after, "restricted", None, restricts=True)
    if today >= overdue_on(invoice):  # a run that first looks after the due date skips the reminder
        after = invoice.model_copy(update={"status": "overdue", "rev": invoice.rev + 1})
        if restrict_day is None:
            return DunningStep(invoice, after, "overdue", None)
        if today >= restrict_day:  # N = 0, or a run that first looks N days late: overdue and restricted at once
            return DunningStep(invoice, after, "overdue", None, restricts=True)
        return DunningStep(invoice, after, "overdue", RESTRICT + restrict_day.isoformat())
    if key.startswith(REMIND) and today >= invoice.due_on - timedelta(days=reminder_days):
        return DunningStep(
            invoice, invoice.model_copy(update={"rev": invoice.rev + 1}), "reminded", OVERDUE + str(overdue_on(invoice))
        )
    return None
