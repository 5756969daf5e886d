"""``payment.received`` (spec §3.7): any amount above zero paid on an invoice of any kind.

What the amount due takes is paid (less → ``partially_paid``, exactly → ``paid``); a surplus, or everything paid on
an invoice already paid, becomes credit on the account, which at once pays its other unpaid invoices in that
currency, oldest first. Another currency is a 422 naming ``data.currency``, a void invoice a 409, an unknown one a
404, each changing nothing. The ``payment_id`` (the CRM's id of the money movement; without one, the event id) is
applied once: a ``PAYMENT#`` record written in the same transaction, so the same ``payment_id`` under another event
id answers what the first did and changes nothing.

One transaction: the payment record, the invoice (conditioned on the ``rev`` it was read at), the credit moved and
the invoices it paid (``services.settlement``), the excess-profile episode whose fee got paid and the restriction
lifted when no restricting invoice remains overdue (a partial payment lifts nothing), and the notices. A lost race
reads everything again and decides again (``ExcessProfiles.commit``).

``reconcile_restriction`` is the idempotent step a writer that cannot touch the excess-profile state in its own
transaction (a plan change writes the account item already) runs after its commit, and again on a replay: the fee
invoice paid by credit settles its episode, and with no restricting invoice overdue the restriction is lifted.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from overage.domain.excess_profiles import UNPAID_STATES
from overage.domain.instants import to_key
from overage.domain.settlement import receive_payment
from overage.errors import InvalidRequest, NotFound
from overage.notices import settlement as notices
from overage.services.excess_profiles import ExcessProfiles, Plan
from overage.services.settlement import CreditWrite, credit_arises, restriction_step
from overage.store.excess_profiles import LoadedAccount
from overage.store.settlement import SettlementStore, payment_key

if TYPE_CHECKING:  # the webhook's event model: not loaded by the scheduled functions
    from overage.domain.crm_events import PaymentReceived
    from overage.services.deps import Deps


def payment_received(event: PaymentReceived, deps: Deps) -> dict[str, Any]:
    data = event.data
    account_id = event.account_id
    engine = ExcessProfiles.of(deps)
    store = SettlementStore(deps.ledger, deps.accounts.table)
    key = payment_key(data.payment_id, event.id)
    cause = f"payment.received:{key}"
    at = event.occurred_at
    seen: dict[str, Any] = {}

    def plan(current: LoadedAccount) -> Plan | None:
        first = store.payment(account_id, key)
        if first is not None:
            seen["first"] = first
            return None
        invoice = deps.ledger.get_invoice(account_id, data.invoice_id)
        if invoice is None:
            raise NotFound(f"invoice {data.invoice_id} is not known for account {account_id}")
        if data.currency != invoice.currency:
            raise InvalidRequest(
                "the payment is not in the invoice's currency",
                {"data.currency": f"invoice {invoice.number} is in {invoice.currency}, not {data.currency}"},
            )
        if at < invoice.issued_at:
            raise InvalidRequest(
                "the payment is dated before the invoice was issued",
                {
                    "occurred_at": f"invoice {invoice.number} was issued at {to_key(invoice.issued_at)}; date the "
                    "payment when the money arrived, on or after that"
                },
            )
        step = receive_payment(invoice, data.amount, at)  # a void invoice: Conflict (409)
        items: list[dict[str, Any]] = []
        if step.changed:
            items.append(store.invoice_item(step.before, step.after, {"last_payment_at": to_key(at)}))
        credit = CreditWrite()
        if step.to_credit > 0:
            entries = [("overpayment", step.to_credit, invoice.invoice_id)]
            credit = credit_arises(store, account_id, invoice.currency, entries, at, cause, skip=[invoice.invoice_id])
            items += credit.items
        balance = credit.balance if credit.change else store.balance(account_id, invoice.currency).balance
        record = {
            "payment_id": data.payment_id,
            "event_id": event.id,
            "invoice_id": invoice.invoice_id,
            "number": invoice.number,
            "currency": invoice.currency,
            "amount": str(data.amount),
            "applied": str(data.amount - step.to_credit),
            "to_credit": str(step.to_credit),
            "status": step.after.status,
            "amount_due": str(step.after.amount_due),
            "received_at": to_key(at),
        }
        items.insert(0, store.payment_item(account_id, key, record))
        settled = credit.settled_ids | ({invoice.invoice_id} if step.settled else set())
        receipt = notices.payment_received(
            current.account,
            cause=key,
            at=at,
            amount=data.amount,
            step=step,
            credited=step.to_credit,
            credit_steps=credit.steps,
            balance=balance,
        )
        seen["record"] = record | {"credit_balance": str(balance)}
        excess = restriction_step(current, store, settled=settled, at=at, cause=cause)
        return Plan(excess, items=items, paid_invoice=step.after, notices=[receipt])

    _, written = engine.commit(account_id, plan, deps.received_at)
    if written is None:
        first = seen["first"]
        return {"outcome": "already_applied", **_answer(first)}
    kinds = [h.kind for h in written.step.happenings]
    record = seen["record"]
    return {
        "outcome": "credited" if record["applied"] == "0.00" else record["status"],  # paid / partially_paid / overdue
        **_answer(record),
        "credit_balance": record["credit_balance"],
        "restriction_lifted": "unrestricted" in kinds,
        "restricted": written.step.after.restricted,
    }


def _answer(record: dict[str, Any]) -> dict[str, Any]:
    fields = ("payment_id", "invoice_id", "currency", "amount", "applied", "to_credit", "status", "amount_due")
    return {name: record.get(name) for name in fields}


def reconcile_restriction(deps: Deps, account_id: str, at: datetime, cause: str) -> None:
    """After credit paid invoices outside the excess-profile engine: settle the fee's episode if its invoice is paid,
    lift the restriction if nothing restricting is overdue. Idempotent (nothing to do: one read, no write)."""
    engine = ExcessProfiles.of(deps)
    store = SettlementStore(deps.ledger, deps.accounts.table)

    def plan(current: LoadedAccount) -> Plan | None:
        episode = current.state.episode
        if not current.state.restricted and not (episode and episode.state in UNPAID_STATES):
            return None
        settled: set[str] = set()
        if episode is not None and episode.fee_invoice_id and episode.state in UNPAID_STATES:
            fee = deps.ledger.get_invoice(account_id, episode.fee_invoice_id)
            if fee is not None and fee.status == "paid":
                settled.add(fee.invoice_id)
        if not settled and not current.state.restricted:
            return None
        return Plan(restriction_step(current, store, settled=settled, at=at, cause=cause))

    engine.commit(account_id, plan, deps.received_at, missing_ok=True)
