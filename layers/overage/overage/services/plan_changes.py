"""Plan changes end to end (spec §3.4): ``plan.change_requested``, the renewal hook that applies a change on its
billing date, and the list of an account's changes.

An immediate change is one transaction: the account's subscription (conditioned on the version it was priced from),
the change record, the invoice or credit note, and the notice. A period-end change is stored as ``pending_change`` on
the account item next to its record; the renewal run applies it on that billing date before the invoice is priced
(``billing_hook``). A newer request replaces a pending one; ``cancel_pending`` cancels it.

Last-writer-wins with the CRM: a change applied at instant T stamps the account's ``profile_version`` with T (never
lowering it), so an ``account.upserted`` from before T arriving late cannot undo it, and a newer upsert wins: the CRM
stays the source of truth for the subscription and should upsert what it asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from overage.domain import plan_changes as rules
from overage.domain.account import Account, version_key
from overage.domain.calendar import next_billing_date
from overage.domain.catalog import Catalog
from overage.domain.instants import midnight_utc, parse_instant
from overage.domain.invoice import Invoice, invoice_id
from overage.domain.notice import Notice
from overage.domain.renewal import is_yearly_anniversary
from overage.errors import Conflict, InvalidRequest
from overage.notices.plan_changes import cancellation_notice, change_notice
from overage.notices.settlement import credit_applied as credit_applied_notice
from overage.runtime.config import Settings
from overage.runtime.observability import logger
from overage.services import deps as stores
from overage.services.deps import Deps
from overage.services.excess_profiles import on_limit_changed
from overage.services.invoicing import Invoicing, Issue, Numbering
from overage.services.payments import reconcile_restriction
from overage.services.renewal import BillingContribution, BillingHook, FollowUp, FollowUpRunner
from overage.services.settlement import credit_arises, credit_at_issue
from overage.store.plan_changes import PlanChangeStore, change_sk
from overage.store.settlement import SettlementStore

if TYPE_CHECKING:  # the webhook's event models: not loaded by the scheduled functions
    from overage.domain.crm_events import PlanChangeData, PlanChangeRequested

MAX_ATTEMPTS = 3
RECORD_TYPE = "plan_change"
_HIDDEN = ("pk", "sk", "record_type")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def requested_changes(data: PlanChangeData) -> dict[str, Any]:
    """The subscription fields the request names (the others keep their value)."""
    return {name: getattr(data, name) for name in rules.SUBSCRIPTION_FIELDS if getattr(data, name) is not None}


def _check_words(data: PlanChangeData) -> None:
    problems = {}
    if not data.reason.strip():
        problems["data.reason"] = (
            "a reason is required: say why the plan changes (it is recorded and sent to the customer)"
        )
    if not data.requested_by.strip():
        problems["data.requested_by"] = "say who asked for the change"
    if problems:
        raise InvalidRequest("the change must say who asked for it and why", problems)


# ---------------------------------------------------------------- what one attempt writes
@dataclass
class _Attempt:
    record: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    invoice: Invoice | None = None  # the invoice or credit note it issues (its put is added by services.invoicing)


def _base_record(event: PlanChangeRequested, account: Account) -> dict[str, Any]:
    return {
        "pk": event.account_id,
        "sk": change_sk(event.occurred_at, event.id),
        "record_type": RECORD_TYPE,
        "change_id": event.id,
        "account_id": event.account_id,
        "requested_at": _iso(event.occurred_at),
        "requested_by": event.data.requested_by,
        "reason": event.data.reason,
        "currency": account.currency,
    }


def _excess_profiles(account: Account, old_limit: int, new_limit: int) -> dict[str, Any] | None:
    """When a lower limit puts the counted profiles over it (allowed; the excess-profile policy takes it from there)."""
    count = account.profiles_count
    if count is None or new_limit >= old_limit or count <= new_limit:
        return None
    return {"count": count, "limit": new_limit, "excess": count - new_limit}


def _document(invoice: Invoice | None) -> dict[str, Any] | None:
    if invoice is None:
        return None
    return {"invoice_id": invoice.invoice_id, "number": invoice.number, "kind": invoice.kind}


def _amounts(invoice: Invoice | None) -> dict[str, str] | None:
    if invoice is None:
        return None
    return {
        "net": str(invoice.net),
        "vat": str(invoice.vat),
        "gross": str(invoice.gross),
        "credit_applied": str(invoice.credit_applied),
        "amount_due": str(invoice.amount_due),
    }


def _plan_change(
    event: PlanChangeRequested,
    account: Account,
    catalog: Catalog,
    store: PlanChangeStore,
    number: str | None,
    credits: SettlementStore | None = None,
) -> _Attempt:
    """What applying the change writes; ``number`` numbers its invoice or credit note (None: a draft); ``credits``
    (not for a draft) moves the account's credit: a credit note's amount becomes credit and pays what is owed, an
    invoice gets the credit applied at issue."""
    changes = requested_changes(event.data)
    old, new = rules.validate(account, changes, catalog)
    classification = rules.classify(old, new, catalog, account.currency)
    assert classification is not None  # validate refuses a change that changes nothing
    effective = event.data.effective or classification.default_effective
    on = event.occurred_at.date()
    rules.check_dated_in_subscription(account, on)  # immediate or at period end: never before the start
    old_snapshot = rules.snapshot(old, catalog, account.currency)
    new_snapshot = rules.snapshot(new, catalog, account.currency)
    record = _base_record(event, account) | {
        "kind": classification.kind,
        "treated_as": classification.treated_as,
        "parts": classification.parts,
        "effective": effective,
        "effective_chosen_by": "request" if event.data.effective else "default",
        "changes": changes,
        "from": old_snapshot,
        "to": new_snapshot,
        "excess_profiles": _excess_profiles(account, old_snapshot["profile_limit"], new_snapshot["profile_limit"]),
    }
    version = version_key(event.occurred_at, event.id)
    pending = account.pending_change
    replaces = pending is not None and pending["version"] < version
    if pending is not None and not replaces and effective == "period_end":
        # An older period-end request arriving after a newer one: the newer decision stands.
        record |= {
            "status": "superseded",
            "superseded_by": pending["change_id"],
            "effective_on": rules.period_end(account, old, on).isoformat(),
        }
        return _Attempt(record, [store.put_change_item(record)])

    items: list[dict[str, Any]] = []
    sets: dict[str, Any]
    remove: list[str] = []
    invoice: Invoice | None = None
    if effective == "immediate":
        rules.check_immediate(account, on)
        settlement = rules.settle(account, old, new, catalog, on)
        invoice = rules.change_document(account, event.id, on, settlement, catalog, event.occurred_at, number)
        sets = new.as_dict() | {"profile_version": max(account.profile_version, version)}
        record |= {"status": "applied", "effective_on": on.isoformat(), "effective_at": _iso(event.occurred_at)}
        if settlement.started_on is not None and settlement.next_billing_date is not None:
            sets |= {
                "started_on": settlement.started_on.isoformat(),
                "next_billing_date": settlement.next_billing_date.isoformat(),
            }
            record["started_on"] = settlement.started_on.isoformat()
        record |= {
            "applied_at": _iso(event.occurred_at),
            "next_billing_date": sets.get("next_billing_date", _date(account.next_billing_date)),
            "amounts": _amounts(invoice),
            "document": _document(invoice),
        }
        if replaces:
            remove.append("pending_change")
    else:
        effective_on = rules.period_end(account, old, on)
        record |= {
            "status": "pending",
            "effective_on": effective_on.isoformat(),
            "effective_at": _iso(rules.effective_instant(effective_on)),
        }
        sets = {
            "pending_change": {
                "change_id": event.id,
                "sk": record["sk"],
                "version": version,
                "effective_on": effective_on.isoformat(),
                "changes": changes,
            }
        }
    if replaces:
        assert pending is not None
        record["replaced"] = pending["change_id"]
        items.append(
            store.settle_change_item(
                account.account_id, pending["sk"], {"status": "superseded", "superseded_by": event.id}
            )
        )
    items.append(
        store.account_item(
            account.account_id,
            sets,
            expect_version=account.profile_version,
            expect_next_billing_date=_date(account.next_billing_date),
            expect_pending=pending["change_id"] if pending else None,
            remove=remove,
        )
    )
    items.append(store.put_change_item(record))
    changed = account.model_copy(update=new.as_dict())
    extra: list[Notice] = []
    if invoice is not None and credits is not None:  # a draft (no number yet) reads no credit
        cause = f"plan.change_requested:{event.id}"
        if invoice.kind == "credit_note":
            # The credit note's amount becomes credit at once and pays what is owed, oldest first (spec §3.7).
            entries = [("credit_note", -invoice.gross, invoice.invoice_id)]
            credit = credit_arises(credits, account.account_id, account.currency, entries, event.occurred_at, cause)
            items += credit.items
            record["credit"] = {
                "credited": str(-invoice.gross),
                "applied_to": [
                    {"invoice_id": step.after.invoice_id, "amount": str(step.credit_used)} for step in credit.steps
                ],
                "balance": str(credit.balance),
                "currency": account.currency,
            }
            if credit.steps:
                extra.append(
                    credit_applied_notice(
                        changed,
                        cause=invoice.invoice_id,
                        at=event.occurred_at,
                        steps=credit.steps,
                        currency=account.currency,
                        balance=credit.balance,
                    )
                )
        else:
            invoice, credit_items = credit_at_issue(credits, invoice, cause)
            items += credit_items
        record["amounts"] = _amounts(invoice)
    notice = change_notice(changed, record, invoice, _iso(event.occurred_at))
    return _Attempt(record, items, [notice, *extra], invoice)


def _after_applied(record: dict[str, Any], deps: Deps) -> None:
    """A change applied now that moved the profile limit: the excess-profile policy measures the count against it
    (a higher limit resolves an episode in grace, a lower one may open one). Idempotent, so a retry may run it again."""
    if record.get("kind") == "cancellation" or record.get("status") != "applied" or record["effective"] != "immediate":
        return
    if (record.get("credit") or {}).get("applied_to"):  # the credit note paid invoices: maybe an overdue fee
        reconcile_restriction(
            deps,
            record["account_id"],
            parse_instant(record["effective_at"]),
            f"plan.change_requested:{record['change_id']}",
        )
    if record["from"]["profile_limit"] == record["to"]["profile_limit"]:
        return
    on_limit_changed(
        deps,
        record["account_id"],
        parse_instant(record["effective_at"]),
        deps.received_at,
        f"plan.change_requested:{record['change_id']}",
    )


def _cancel(event: PlanChangeRequested, account: Account, store: PlanChangeStore) -> _Attempt:
    data = event.data
    named = [f"data.{name}" for name in requested_changes(data)] + (["data.effective"] if data.effective else [])
    if named:
        raise InvalidRequest(
            "a cancellation names no subscription field",
            dict.fromkeys(named, "leave it out: cancel_pending cancels the pending change as a whole"),
        )
    pending = account.pending_change
    if pending is None:
        raise Conflict("there is no pending plan change to cancel")
    cancelled = store.get(account.account_id, pending["sk"])
    if cancelled is None:  # pragma: no cover - the record is written in the same transaction as pending_change
        raise Conflict("the pending plan change has no record; it cannot be cancelled")
    record = _base_record(event, account) | {
        "kind": "cancellation",
        "status": "applied",
        "cancels": pending["change_id"],
        "effective_on": pending["effective_on"],
    }
    items = [
        store.settle_change_item(account.account_id, pending["sk"], {"status": "cancelled", "cancelled_by": event.id}),
        store.account_item(
            account.account_id,
            {},
            expect_version=account.profile_version,
            expect_next_billing_date=_date(account.next_billing_date),
            expect_pending=pending["change_id"],
            remove=["pending_change"],
        ),
        store.put_change_item(record),
    ]
    return _Attempt(record, items, [cancellation_notice(account, record, cancelled)])


def _date(day: date | None) -> str:
    return day.isoformat() if day else ""


# ---------------------------------------------------------------- the webhook handler
def _composer(
    event: PlanChangeRequested, account: Account, deps: Deps, store: PlanChangeStore, attempts: list[_Attempt]
) -> Callable[[Numbering], Issue]:
    """One attempt's write for ``services.invoicing``: an immediate change that issues an invoice or credit note is
    priced as a draft, then again with its number; each attempt is appended to ``attempts``."""

    def compose(numbering: Numbering) -> Issue:
        if event.data.cancel_pending:
            attempt = _cancel(event, account, store)
        else:
            attempt = _plan_change(event, account, deps.catalog, store, None)
            draft = attempt.invoice
            if draft is not None:
                number = numbering.number(draft.account_id, draft.currency, draft.issued_at)
                credits = SettlementStore(deps.ledger, deps.accounts.table)
                attempt = _plan_change(event, account, deps.catalog, store, number, credits)
        attempts.append(attempt)
        staged = [
            deps.outbox.stage(notice, deps.received_at, suppression=account.email_suppression)
            for notice in attempt.notices
        ]
        return Issue(attempt.invoice, attempt.items + staged, attempt.notices)

    return compose


def on_change_requested(event: PlanChangeRequested, deps: Deps) -> dict[str, Any]:
    """``plan.change_requested``: validate, then apply now, schedule for period end, or cancel the pending change."""
    _check_words(event.data)
    store = stores.plan_change_store(deps.settings)
    sk = change_sk(event.occurred_at, event.id)
    for _ in range(MAX_ATTEMPTS):
        existing = store.get(event.account_id, sk)
        if existing is not None:  # applied before (the answer was lost): finish and answer the same again
            _after_applied(existing, deps)
            return answer(existing)
        account = deps.accounts.require(event.account_id)
        attempts: list[_Attempt] = []
        compose = _composer(event, account, deps, store, attempts)
        issued = Invoicing(deps.ledger).issue(compose, "applying a plan change")
        if issued is not None:
            attempt = attempts[-1]
            deps.outbox.deliver_committed(issued.notices, deps.received_at)
            _after_applied(attempt.record, deps)
            logger.info(
                "plan change recorded",
                extra={"change_id": event.id, "status": attempt.record["status"], "kind": attempt.record["kind"]},
            )
            return answer(attempt.record)
    raise Conflict("the account changed while the plan change was applied; retry the request")


def view(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in _HIDDEN and value is not None}


def answer(record: dict[str, Any]) -> dict[str, Any]:
    outcomes = {"applied": "applied", "pending": "scheduled", "superseded": "superseded", "cancelled": "cancelled"}
    outcome = "cancelled" if record.get("kind") == "cancellation" else outcomes.get(record["status"], record["status"])
    warnings = []
    excess = record.get("excess_profiles")
    if excess:
        warnings.append(
            f"{excess['count']} profiles are over the new limit of {excess['limit']}: an excess-profile episode opens "
            f"when the change takes effect ({record['effective_on']})"
        )
    return {"outcome": outcome, "change": view(record), "warnings": warnings}


# ---------------------------------------------------------------- GET /accounts/{id}/changes
def changes(store: PlanChangeStore, account_id: str) -> dict[str, Any]:
    return {"account_id": account_id, "changes": [view(record) for record in store.changes(account_id)]}


# ---------------------------------------------------------------- the renewal run
def billing_hook(settings: Settings, catalog: Catalog) -> BillingHook:
    """Applies a pending change on its billing date, before that date's invoice is priced."""
    store = stores.plan_change_store(settings)

    def apply_pending_change(account: Account, billing_date: date, now: datetime) -> BillingContribution:
        pending = account.pending_change
        if not pending or date.fromisoformat(pending["effective_on"]) > billing_date:
            return BillingContribution(account=account)
        record = store.get(account.account_id, pending["sk"])
        if record is None:  # pragma: no cover - written in the same transaction as pending_change
            raise RuntimeError(f"pending plan change {pending['change_id']} has no record")
        at = midnight_utc(billing_date)
        applied = rules.apply_at_billing_date(
            account, pending["changes"], billing_date, catalog, version_key(at, pending["change_id"])
        )
        old_snapshot = rules.snapshot(applied.old, catalog, account.currency)
        new_snapshot = rules.snapshot(applied.new, catalog, account.currency)
        sets: dict[str, Any] = {
            "status": "applied",
            "applied_at": _iso(at),
            "effective_on": billing_date.isoformat(),
            "effective_at": _iso(at),
            "next_billing_date": next_billing_date(applied.priced.started_on, 1, billing_date).isoformat(),
            "from": old_snapshot,
            "to": new_snapshot,
            "excess_profiles": _excess_profiles(account, old_snapshot["profile_limit"], new_snapshot["profile_limit"]),
            "document": {
                "invoice_id": invoice_id(account.account_id, "renewal", billing_date.isoformat()),
                "kind": "renewal",
            }
            if applied.new.billing_cycle == "monthly" or is_yearly_anniversary(applied.priced.started_on, billing_date)
            else None,
        }
        if "started_on" in applied.updates:
            sets["started_on"] = applied.updates["started_on"]
        if applied.classification is not None:
            sets |= {"kind": applied.classification.kind, "treated_as": applied.classification.treated_as}
        else:
            sets["note"] = "the subscription already was what the change asked for"
        sets = {key: value for key, value in sets.items() if value is not None}
        merged = record | sets
        notices = []
        if applied.classification is not None:
            notices.append(change_notice(applied.priced, merged, None, _iso(at)))
        logger.info("pending plan change applied", extra={"change_id": pending["change_id"]})
        follow_ups = []
        if old_snapshot["profile_limit"] != new_snapshot["profile_limit"]:
            # The new limit may resolve an excess-profile episode in grace, or open one (limit_changed_runner).
            cause = f"plan.change_requested:{pending['change_id']}"
            follow_ups.append(FollowUp(LIMIT_CHANGED, {"at": _iso(at), "cause": cause}))
        return BillingContribution(
            account=applied.priced,
            account_updates=applied.updates,
            transact_items=[store.settle_change_item(account.account_id, pending["sk"], sets)],
            notices=notices,
            follow_ups=follow_ups,
        )

    return apply_pending_change


LIMIT_CHANGED = "excess_profiles.limit_changed"


def limit_changed_runner(settings: Settings, catalog: Catalog) -> FollowUpRunner:
    """The billing follow-up of a pending change that moved the profile limit: measure the count in force against
    the new limit as of the billing moment (``excess_profiles.on_limit_changed``, idempotent)."""

    def run(account_id: str, args: dict[str, Any], now: datetime) -> None:
        on_limit_changed(Deps(settings, catalog, now), account_id, parse_instant(args["at"]), now, args["cause"])

    return run
