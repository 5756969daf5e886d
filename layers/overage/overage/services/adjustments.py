"""Support adjustments (spec §3.7), sent by the CRM: ``invoice.void_requested``, ``credit.granted``,
``grace.extend_requested`` and ``credit.refunded``.

Each carries ``reason`` and ``requested_by``, and is one transaction: the ``ADJUSTMENT#`` record (who, when, why,
what changed, the amounts; written once, its id is the event id), what it changes (the invoice, the credit balance
and its movements, the invoices credit paid, the excess-profile episode and the restriction) and a notice to the
customer. What is not allowed changes nothing: a paid invoice cannot be voided (409: grant a credit instead), a grace
that is over cannot be extended (409), a refund above the balance is a 422 naming ``data.amount``. A lost race reads
again and decides again (the excess-profile engine's commit: every adjustment may move the restriction or the
episode, so all four go through it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from overage.domain.account import Account
from overage.domain.excess_profiles import Step, extend_grace, waive_fee
from overage.domain.instants import to_key
from overage.domain.invoice import Invoice, build_invoice, buyer_of
from overage.domain.money import InvoiceLine
from overage.domain.settlement import credit_change, void_invoice
from overage.errors import Conflict, InvalidRequest, NotFound
from overage.notices import settlement as notices
from overage.services.excess_profiles import ExcessProfiles, Plan
from overage.services.settlement import CreditWrite, credit_arises, restriction_step
from overage.store.excess_profiles import LoadedAccount
from overage.store.settlement import SettlementStore

if TYPE_CHECKING:
    from overage.domain.crm_events import CreditGranted, CreditRefunded, GraceExtendRequested, InvoiceVoidRequested
    from overage.services.deps import Deps


@dataclass
class _Seen:
    record: dict[str, Any] = field(default_factory=dict)
    first: dict[str, Any] | None = None  # the record of the same event, applied before (a replay)


def _record(event: Any, changes: dict[str, Any], amounts: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": event.type,
        "requested_at": to_key(event.occurred_at),
        "requested_by": event.data.requested_by,
        "reason": event.data.reason,
        "changes": changes,
        "amounts": amounts,
        "cause": f"{event.type}:{event.id}",
    }


def _currency(deps: Deps, currency: str) -> None:
    if currency not in deps.catalog.currencies:
        raise InvalidRequest(
            "unknown currency", {"data.currency": f"unknown currency; one of {', '.join(deps.catalog.currencies)}"}
        )


def _commit(deps: Deps, event: Any, plan: Any) -> dict[str, Any]:
    """Apply once: an adjustment whose record exists (the same event, its answer lost) answers it again."""
    engine = ExcessProfiles.of(deps)
    store = SettlementStore(deps.ledger, deps.accounts.table)
    seen = _Seen()

    def once(current: LoadedAccount) -> Plan | None:
        seen.first = store.adjustment(event.account_id, to_key(event.occurred_at), event.id)
        return None if seen.first is not None else plan(current, seen)

    _, written = engine.commit(event.account_id, once, deps.received_at)
    if written is None:
        assert seen.first is not None
        return {"outcome": "already_applied", "adjustment": seen.first}
    kinds = [h.kind for h in written.step.happenings]
    return {
        "outcome": "applied",
        "adjustment": {k: v for k, v in seen.record.items() if v is not None},
        "restriction_lifted": "unrestricted" in kinds,
        "restricted": written.step.after.restricted,
    }


def _credit_amounts(credit: CreditWrite, currency: str) -> dict[str, Any]:
    return {
        "currency": currency,
        "credit_balance": str(credit.balance),
        "credit_applied_to": [
            {"invoice_id": step.after.invoice_id, "amount": str(step.credit_used)} for step in credit.steps
        ],
    }


# ---------------------------------------------------------------- invoice.void_requested
def void_requested(event: InvoiceVoidRequested, deps: Deps) -> dict[str, Any]:
    store = SettlementStore(deps.ledger, deps.accounts.table)
    at, cause = event.occurred_at, f"{event.type}:{event.id}"

    def plan(current: LoadedAccount, seen: _Seen) -> Plan:
        invoice = deps.ledger.get_invoice(event.account_id, event.data.invoice_id)
        if invoice is None:
            raise NotFound(f"invoice {event.data.invoice_id} is not known for account {event.account_id}")
        step = void_invoice(invoice, at)  # paid: Conflict (409, grant a credit instead)
        if not step.changed:
            raise _already_void(invoice)
        voided = step.after
        items = [store.invoice_item(step.before, voided, {"voided_at": to_key(at), "void_reason": event.data.reason})]
        credit = CreditWrite()
        if step.to_credit > 0:
            entries = [("void", step.to_credit, invoice.invoice_id)]
            credit = credit_arises(
                store, event.account_id, invoice.currency, entries, at, cause, skip=[invoice.invoice_id]
            )
            items += credit.items
        settled = {invoice.invoice_id} | credit.settled_ids
        episode = current.state.episode
        waived = episode is not None and episode.fee_invoice_id == invoice.invoice_id
        if waived:
            others = [i for i in store.restricting_invoice_ids(event.account_id) if i not in settled]
            xstep = waive_fee(
                current.state, invoice_id=invoice.invoice_id, at=at, cause=cause, overdue_remaining=bool(others)
            )
        else:
            xstep = restriction_step(current, store, settled=settled, at=at, cause=cause)
        record = _record(
            event,
            {"invoice_id": invoice.invoice_id, "number": invoice.number, "status": [invoice.status, "void"]}
            | ({"episode": episode.episode_id, "fee": "waived"} if waived and episode else {}),
            {
                "gross": str(invoice.gross),
                "amount_paid": str(invoice.amount_paid),
                "credit_applied": str(invoice.credit_applied),
                "amount_due_cancelled": str(invoice.amount_due),
                "to_credit": str(step.to_credit),
                "waived": waived or None,
            }
            | _credit_amounts(credit, invoice.currency),
        ) | {"invoice_id": invoice.invoice_id, "currency": invoice.currency}
        items.append(store.adjustment_item(event.account_id, event.id, record))
        seen.record = record | {"adjustment_id": event.id}
        paragraphs = [f"Invoice {invoice.number} ({invoice.gross} {invoice.currency}) is void: nothing is due on it."]
        if step.to_credit > 0:
            paragraphs.append(f"What was paid on it, {step.to_credit} {invoice.currency}, is credit on your account.")
        if waived:
            paragraphs.append("The excess-profile fee it charged is waived.")
        paragraphs.append(f"Reason: {event.data.reason}")
        notice = notices.adjustment(
            current.account,
            kind="invoice.voided",
            cause=event.id,
            at=at,
            subject=f"Invoice {invoice.number} is void",
            paragraphs=paragraphs,
            record=seen.record,
            invoice=voided,
            credit_steps=credit.steps,
            balance=(invoice.currency, credit.balance) if credit.change else None,
        )
        return Plan(xstep, items=items, notices=[notice])

    return _commit(deps, event, plan)


def _already_void(invoice: Invoice) -> Exception:
    return Conflict(f"invoice {invoice.number} is void already")


# ---------------------------------------------------------------- credit.granted
def goodwill_credit_note(event: CreditGranted, deps: Deps, number: str | None, account: Account) -> Invoice:
    """A goodwill credit note of ``amount`` ex VAT, VAT added at the currency's rate (negative amounts)."""
    currency, amount = event.data.currency, event.data.amount
    line = InvoiceLine.of("goodwill_credit", f"Goodwill credit: {event.data.reason}", 1, -amount)
    day = event.occurred_at.date()
    return build_invoice(
        account_id=event.account_id,
        kind="credit_note",
        period_key=f"goodwill-{event.id}",
        currency=currency,
        period_start=day,
        period_end=day,
        lines=[line],
        vat_rate_value=str(deps.catalog.vat_rate(currency)),
        issued_at=event.occurred_at,
        due_on=day,
        notes=[f"Goodwill credit granted by {event.data.requested_by}: {event.data.reason}"],
        number=number,
        buyer=buyer_of(account),
    )


def credit_granted(event: CreditGranted, deps: Deps) -> dict[str, Any]:
    _currency(deps, event.data.currency)
    store = SettlementStore(deps.ledger, deps.accounts.table)
    at, cause = event.occurred_at, f"{event.type}:{event.id}"

    def plan(current: LoadedAccount, seen: _Seen) -> Plan:
        """The draft names the credit note (numbered by ``services.invoicing``); ``numbered`` writes it."""

        def numbered(number: str) -> Plan:
            note = goodwill_credit_note(event, deps, number, current.account)
            entries = [("goodwill", -note.gross, note.invoice_id)]
            credit = credit_arises(store, event.account_id, note.currency, entries, at, cause)
            amounts = {"net": str(-note.net), "vat": str(-note.vat), "gross": str(-note.gross)}
            record = _record(
                event,
                {"credit_note": note.invoice_id, "number": note.number},
                amounts | _credit_amounts(credit, note.currency),
            ) | {"invoice_id": note.invoice_id, "currency": note.currency}
            items = [*credit.items, store.adjustment_item(event.account_id, event.id, record)]
            seen.record = record | {"adjustment_id": event.id}
            cur = note.currency
            notice = notices.adjustment(
                current.account,
                kind="credit.granted",
                cause=event.id,
                at=at,
                subject=f"A credit of {-note.gross} {cur} for your account",
                paragraphs=[
                    f"We have credited your account with {-note.net} {cur} plus VAT ({-note.vat} {cur}): "
                    f"{-note.gross} {cur}, credit note {note.number}.",
                    f"Reason: {event.data.reason}",
                ],
                record=seen.record,
                invoice=None,
                credit_steps=credit.steps,
                balance=(cur, credit.balance),
            )
            xstep = restriction_step(current, store, settled=credit.settled_ids, at=at, cause=cause)
            return Plan(xstep, items=items, notices=[notice], invoice=note)

        draft = goodwill_credit_note(event, deps, None, current.account)
        return Plan(Step(current.state, current.state), invoice=draft, numbered=numbered)

    return _commit(deps, event, plan)


# ---------------------------------------------------------------- credit.refunded
def credit_refunded(event: CreditRefunded, deps: Deps) -> dict[str, Any]:
    _currency(deps, event.data.currency)
    store = SettlementStore(deps.ledger, deps.accounts.table)
    at, cause = event.occurred_at, f"{event.type}:{event.id}"
    cur, amount = event.data.currency, event.data.amount

    def plan(current: LoadedAccount, seen: _Seen) -> Plan:
        before = store.balance(event.account_id, cur)
        if amount > before.balance:
            raise InvalidRequest(
                "the refund is more than the credit balance",
                {"data.amount": f"the {cur} credit balance is {before.balance}; refund at most that"},
            )
        change = credit_change(cur, before.balance, [("refunded", -amount, None)], at, cause)
        items = [
            store.balance_item(event.account_id, before, change.after),
            *store.movement_items(event.account_id, change),
        ]
        record = _record(
            event,
            {"credit_balance": [str(before.balance), str(change.after)]},
            {"refunded": str(amount), "currency": cur, "credit_balance": str(change.after)},
        ) | {"currency": cur}
        items.append(store.adjustment_item(event.account_id, event.id, record))
        seen.record = record | {"adjustment_id": event.id}
        notice = notices.adjustment(
            current.account,
            kind="credit.refunded",
            cause=event.id,
            at=at,
            subject=f"We refunded {amount} {cur} of your credit",
            paragraphs=[f"{amount} {cur} of your credit was paid back to you.", f"Reason: {event.data.reason}"],
            record=seen.record,
            balance=(cur, change.after),
        )
        return Plan(_unchanged(current), items=items, notices=[notice])

    return _commit(deps, event, plan)


def _unchanged(current: LoadedAccount) -> Step:
    return Step(current.state, current.state)


# ---------------------------------------------------------------- grace.extend_requested
def grace_extend_requested(event: GraceExtendRequested, deps: Deps) -> dict[str, Any]:
    store = SettlementStore(deps.ledger, deps.accounts.table)
    at, cause = event.occurred_at, f"{event.type}:{event.id}"

    def plan(current: LoadedAccount, seen: _Seen) -> Plan:
        step = extend_grace(current.state, days=event.data.days, at=at, cause=cause)  # over: Conflict (409)
        before, after = current.state.episode, step.after.episode
        assert before is not None and after is not None
        record = _record(
            event,
            {
                "episode": before.episode_id,
                "grace_ends_at": [to_key(before.grace_ends_at), to_key(after.grace_ends_at)],
                "days": event.data.days,
            },
        )
        seen.record = record | {"adjustment_id": event.id}
        notice = notices.adjustment(
            current.account,
            kind="grace.extended",
            cause=event.id,
            at=at,
            subject=f"Your grace period is {event.data.days} day(s) longer",
            paragraphs=[
                f"Your grace period to get back within your profile limit of {after.limit} now ends at "
                f"{after.grace_ends_at:%Y-%m-%d %H:%M} UTC (it ended at {before.grace_ends_at:%Y-%m-%d %H:%M} UTC).",
                f"Reason: {event.data.reason}",
            ],
            record=seen.record,
        )
        return Plan(step, items=[store.adjustment_item(event.account_id, event.id, record)], notices=[notice])

    return _commit(deps, event, plan)


def adjustments(deps: Deps, account_id: str) -> dict[str, Any]:
    """``GET /accounts/{id}/adjustments``: every adjustment, oldest first, with the credit movements."""
    store = SettlementStore(deps.ledger, deps.accounts.table)
    return {
        "account_id": account_id,
        "adjustments": store.adjustments(account_id),
        "credit_balances": store.balances(account_id),
        "credit_movements": store.movements(account_id),
    }
