"""``payment.received`` (spec §3.2, §3.5): an invoice of any kind paid, and the restriction lifted when no overdue
invoice remains.

The amount and the currency must be the invoice's gross and currency: a mismatch is a 422 naming the field and
changes nothing. An unknown invoice is a 404, a void one a 409; an invoice already paid answers ``already_paid``
and changes nothing. Otherwise one transaction marks the invoice paid (only if it is still open or overdue), moves
the excess-profile episode whose fee it is to ``paid``, and lifts the restriction with its notice (a bus event
``account.unrestricted`` tells the CRM to allow new profiles again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overage.domain.crm_events import PaymentReceived
from overage.domain.excess_profiles import apply_payment
from overage.domain.instants import to_key
from overage.errors import Conflict, InvalidRequest, NotFound
from overage.services.excess_profiles import ExcessProfiles, Plan
from overage.store.excess_profiles import LoadedAccount

if TYPE_CHECKING:
    from overage.services.deps import Deps


def payment_received(event: PaymentReceived, deps: Deps) -> dict[str, Any]:
    data = event.data
    account_id = event.account_id
    engine = ExcessProfiles.of(deps)
    cause = f"payment.received:{event.id}"
    seen: dict[str, Any] = {}

    def plan(current: LoadedAccount) -> Plan | None:
        invoice = deps.ledger.get_invoice(account_id, data.invoice_id)
        if invoice is None:
            raise NotFound(f"invoice {data.invoice_id} is not known for account {account_id}")
        mismatched: dict[str, str] = {}
        if data.currency != invoice.currency:
            mismatched["data.currency"] = f"invoice {invoice.number} is in {invoice.currency}, not {data.currency}"
        if data.amount != invoice.gross:
            mismatched["data.amount"] = (
                f"invoice {invoice.number} is for {invoice.gross} {invoice.currency} (gross), not {data.amount}"
            )
        if mismatched:
            raise InvalidRequest("the payment does not match the invoice", mismatched)
        if event.occurred_at < invoice.issued_at:
            raise InvalidRequest(
                "the payment is dated before the invoice was issued",
                {
                    "occurred_at": f"invoice {invoice.number} was issued at {to_key(invoice.issued_at)}; date the "
                    "payment when the money arrived, on or after that"
                },
            )
        seen["invoice"] = invoice
        if invoice.status == "paid":
            return None
        if invoice.status == "void":
            raise Conflict(f"invoice {invoice.number} is void and cannot be paid")
        others = [i for i in engine.store.overdue_invoice_ids(account_id) if i != invoice.invoice_id]
        step = apply_payment(
            current.state,
            invoice_id=invoice.invoice_id,
            paid_at=event.occurred_at,
            cause=cause,
            overdue_remaining=bool(others),
        )
        paid = engine.store.invoice_status_update(
            account_id,
            invoice.invoice_id,
            to="paid",
            only_from=("open", "overdue"),
            fields={
                "paid_at": to_key(event.occurred_at),
                "payment_event_id": event.id,
                "paid_amount": str(data.amount),
            },
        )
        return Plan(step, items=[paid], paid_invoice=invoice)

    _, written = engine.commit(account_id, plan, deps.received_at)
    invoice = seen["invoice"]
    if written is None:
        return {"outcome": "already_paid", "invoice_id": invoice.invoice_id, "status": "paid"}
    kinds = [h.kind for h in written.step.happenings]
    return {
        "outcome": "paid",
        "invoice_id": invoice.invoice_id,
        "status": "paid",
        "restriction_lifted": "unrestricted" in kinds,
        "restricted": written.step.after.restricted,
    }
