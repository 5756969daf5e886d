"""Credit that never sits idle (spec §3.7): the pieces every writer of money shares.

``credit_arises`` is what a fact that creates credit (an overpayment, a void's paid part, a credit note, a goodwill
credit) adds to its own transaction: the balance moved (conditioned on the ``rev`` read), one movement record per
cent that moved, and the account's unpaid invoices in that currency paid from it, oldest first (each conditioned on
the ``rev`` read). All in the one transaction of the fact, so a crash leaves either everything or nothing, and a lost
race (someone moved the balance or an invoice meanwhile) makes the caller read again and decide again.

``credit_at_issue`` is what a new invoice's transaction adds: the balance applied to it before it is written.

``restriction_step`` is the excess-profile step of a fact that settled invoices: the fee invoice among them settles
its episode, and with no restricting invoice overdue the restriction is lifted (``services.payments`` writes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from overage.domain.excess_profiles import apply_payment
from overage.domain.invoice import Invoice
from overage.domain.money import ZERO
from overage.domain.settlement import (
    CreditChange,
    InvoiceStep,
    MovementKind,
    credit_change,
    settle_oldest_first,
)
from overage.domain.settlement import credit_at_issue as apply_at_issue
from overage.store.settlement import SettlementStore

if TYPE_CHECKING:
    from overage.store.excess_profiles import LoadedAccount

# How many unpaid invoices one fact's credit pays in its own transaction (two entries each; a transaction holds 100).
# More unpaid invoices than that in one currency is no real account; the rest keeps its credit for the next fact.
MAX_SETTLED = 20


@dataclass
class CreditWrite:
    """What a fact that moves credit adds to its transaction."""

    items: list[dict[str, Any]] = field(default_factory=list)
    steps: tuple[InvoiceStep, ...] = ()
    change: CreditChange | None = None

    @property
    def balance(self) -> Decimal:
        return self.change.after if self.change else ZERO

    @property
    def settled_ids(self) -> set[str]:
        return {step.after.invoice_id for step in self.steps if step.after.amount_due == 0}


def credit_arises(
    store: SettlementStore,
    account_id: str,
    currency: str,
    entries: Sequence[tuple[MovementKind, Decimal, str | None]],
    at: datetime,
    cause: str,
    *,
    skip: Sequence[str] = (),
) -> CreditWrite:
    """The balance moved by ``entries`` (signed), then spent on the unpaid invoices (except ``skip``: the ones the
    fact itself writes), oldest first; what is left stays on the balance."""
    if any(amount > 0 for _, amount, _ in entries):
        store.mark_credit(account_id, currency)
    before = store.balance(account_id, currency)
    available = before.balance + sum((amount for _, amount, _ in entries), ZERO)
    settlement = settle_oldest_first([], ZERO, currency, at)
    if available > 0:
        unpaid = [i for i in store.unpaid_invoices(account_id, currency) if i.invoice_id not in skip]
        settlement = settle_oldest_first(unpaid[:MAX_SETTLED], available, currency, at)
    moves = [*entries, *(("applied", -step.credit_used, step.after.invoice_id) for step in settlement.steps)]
    change = credit_change(currency, before.balance, moves, at, cause)
    write = CreditWrite(steps=settlement.steps, change=change)
    if change.movements:
        write.items.append(store.balance_item(account_id, before, change.after))
        write.items += store.movement_items(account_id, change)
    write.items += [store.invoice_item(step.before, step.after) for step in settlement.steps]
    return write


def credit_at_issue(store: SettlementStore, invoice: Invoice, cause: str) -> tuple[Invoice, list[dict[str, Any]]]:
    """The new invoice with the account's credit in its currency applied, and the entries that move the balance
    (conditioned on the balance read), for the transaction that issues it. No credit: the invoice as it was."""
    if invoice.gross <= 0:
        return invoice, []
    before = store.balance(invoice.account_id, invoice.currency)
    if before.balance <= 0:
        return invoice, []
    issued, used = apply_at_issue(invoice, before.balance)
    change = credit_change(
        invoice.currency, before.balance, [("applied", -used, invoice.invoice_id)], invoice.issued_at, cause
    )
    items = [
        store.balance_item(invoice.account_id, before, change.after),
        *store.movement_items(invoice.account_id, change),
    ]
    return issued, items


def restriction_step(
    current: LoadedAccount,
    store: SettlementStore,
    *,
    settled: set[str],
    at: datetime,
    cause: str,
) -> Any:
    """The excess-profile step once ``settled`` invoices owe nothing: the fee invoice among them settles its episode;
    with no other restricting invoice overdue, the restriction is lifted."""
    episode = current.state.episode
    fee_id = episode.fee_invoice_id if episode and episode.fee_invoice_id in settled else ""
    remaining = [i for i in store.restricting_invoice_ids(current.account.account_id) if i not in settled]
    return apply_payment(
        current.state, invoice_id=fee_id or "", paid_at=at, cause=cause, overdue_remaining=bool(remaining)
    )
