"""Dunning for every invoice kind (spec §2, §3.7), a part of GraceExpiryFunction's daily run ("payment deadlines,
reminders"): invoices waiting for their reminder, their overdue day or (for a kind the policy restricts on) their
restriction day are found through the sparse ``DunningIndex`` (16 shards × 3 stages, the third only queried when a
kind restricts; never a Scan) and fanned out to the grace queue, one message per invoice; each message takes the
step that fell due (``domain.settlement.dunning_step``) in one conditional transaction with its notice, so a rerun or
a concurrent run changes nothing the first did not. A step that restricts the account writes the restriction on the
account's profiles state (the one an unpaid fee sets, ``domain.excess_profiles.restrict_by_invoice``) through the
excess-profile engine, in the same transaction as the invoice marked ``restricting`` and the ``account.restricted``
notice; a payment, credit or void that leaves no restricting invoice overdue lifts it (``services.settlement``).
Fee invoices are chased by their excess-profile episode (``services.grace_expiry``), credit notes owe nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from overage.domain.account import all_billing_shards
from overage.domain.catalog import Catalog
from overage.domain.excess_profiles import restrict_by_invoice
from overage.domain.instants import to_key
from overage.domain.settlement import OVERDUE, REMIND, RESTRICT, DunningStep, dunning_step, overdue_on
from overage.notices import settlement as notices
from overage.notices.outbox import NoticeOutbox
from overage.runtime.fanout import fan_out, send_batch
from overage.runtime.observability import count, logger
from overage.services.excess_profiles import ExcessProfiles, Plan
from overage.store.accounts import AccountsStore
from overage.store.excess_profiles import LoadedAccount
from overage.store.settlement import SettlementStore
from overage.store.transaction import commit

ATTEMPTS = 4
FEE_KIND = "excess_profiles"  # chased by its episode (services.grace_expiry), which restricts at once


def restricting_kinds(catalog: Catalog) -> dict[str, int]:
    """The kinds dunned here whose policy restricts the account, with the days overdue it takes."""
    after = catalog.policy.dunning.restrict_after_days_overdue
    return {kind: days for kind, days in after.items() if days is not None and kind != FEE_KIND}


def due_invoices(store: SettlementStore, catalog: Catalog, as_of: datetime) -> Iterator[tuple[str, str]]:
    today = as_of.date()
    reminders_up_to = today + timedelta(days=catalog.policy.reminder_days_before_deadline)
    restricts = bool(restricting_kinds(catalog))  # by default no kind does: the third stage costs no Query
    for shard in all_billing_shards():
        yield from store.dunning_due(shard, REMIND, reminders_up_to)
        yield from store.dunning_due(shard, OVERDUE, today)
        if restricts:
            yield from store.dunning_due(shard, RESTRICT, today)


def dispatch_dunning(store: SettlementStore, catalog: Catalog, sqs: Any, queue_url: str, as_of: datetime) -> int:
    def send(keys: list[tuple[str, str]]) -> int:
        bodies = [json.dumps({"account_id": a, "invoice_id": i, "as_of": as_of.isoformat()}) for a, i in keys]
        return send_batch(sqs, queue_url, bodies, "dunning")

    sent = fan_out(due_invoices(store, catalog, as_of), send)
    logger.info("invoices due for dunning dispatched", extra={"as_of": as_of.isoformat(), "invoices": sent})
    return sent


class Dunning:
    def __init__(
        self, *, accounts: AccountsStore, store: SettlementStore, outbox: NoticeOutbox, catalog: Catalog
    ) -> None:
        self.accounts = accounts
        self.store = store
        self.outbox = outbox
        self.catalog = catalog

    def process_invoice(self, account_id: str, invoice_id: str, as_of: datetime, now: datetime) -> str | None:
        """The dunning step of one invoice due by ``as_of`` (what happened, or None)."""
        policy = self.catalog.policy
        for _ in range(ATTEMPTS):
            found = self.store.invoice_with_key(account_id, invoice_id)
            account = self.accounts.get(account_id)
            if found is None or account is None or found[1] is None:
                return None
            invoice, key = found
            restrict_after = restricting_kinds(self.catalog).get(invoice.kind)
            step = dunning_step(invoice, key, as_of.date(), policy.reminder_days_before_deadline, restrict_after)
            if step is None:
                return None
            if step.restricts:
                return self._restrict(step, as_of, now)
            if step.happening == "released":
                released = self.store.invoice_item(step.before, step.after, {}, dunning=None)
                if commit(self.store.client, [released], "releasing an invoice from dunning"):
                    count("Dunning_released")
                    return step.happening
                continue
            if step.happening == "reminded":
                notice = notices.invoice_reminder(account, step.after, as_of)
                fields = {"reminded_at": to_key(as_of)}
            else:
                notice = notices.invoice_overdue(account, step.after, as_of, restrict_after is not None)
                fields = {"overdue_since": to_key(as_of)}
            items = [
                self.store.invoice_item(step.before, step.after, fields, dunning=step.next_key),
                self.outbox.stage(notice, now, suppression=account.email_suppression),
            ]
            if commit(self.store.client, items, "dunning an invoice"):
                self.outbox.deliver_committed([notice], now)
                count(f"Dunning_{step.happening}")
                return step.happening
        return None

    def _restrict(self, first: DunningStep, as_of: datetime, now: datetime) -> str | None:
        """The step that restricts the account (``restricts``): the invoice marked ``restricting`` (and ``overdue``
        if this step also makes it so), the restriction on the account's profiles state, ``account.restricted``
        (unless the account is already restricted) and, when the invoice goes overdue in this step, its
        ``invoice.overdue`` notice: one transaction, through the excess-profile engine (which conditions the profiles
        state on the version read). A lost race reads the invoice again and decides again."""
        account_id = first.before.account_id
        engine = ExcessProfiles(
            accounts=self.accounts, ledger=self.store.ledger, outbox=self.outbox, catalog=self.catalog
        )
        policy = self.catalog.policy
        restrict_after = restricting_kinds(self.catalog).get(first.before.kind)
        seen: dict[str, DunningStep] = {}

        def plan(current: LoadedAccount) -> Plan | None:
            found = self.store.invoice_with_key(account_id, first.before.invoice_id)
            if found is None or found[1] is None:
                return None
            invoice, key = found
            step = dunning_step(invoice, key, as_of.date(), policy.reminder_days_before_deadline, restrict_after)
            if step is None or not step.restricts:
                return None
            seen["step"] = step
            fields: dict[str, Any] = {"restricting": True, "restricted_at": to_key(as_of)}
            told = []
            if step.happening == "overdue":  # overdue and restricting in one step (N = 0, or a late first run)
                fields["overdue_since"] = to_key(as_of)
                told.append(notices.invoice_overdue(current.account, step.after, as_of, True))
            days = (as_of.date() - overdue_on(step.after)).days
            restriction = restrict_by_invoice(current.state, at=as_of, cause=step.after.invoice_id)
            if restriction.changed:
                told.append(notices.invoice_restricted(current.account, step.after, as_of, days))
            item = self.store.invoice_item(step.before, step.after, fields, dunning=None)
            return Plan(restriction, items=[item], notices=told)

        _, written = engine.commit(account_id, plan, now, missing_ok=True)
        if written is None:
            return None
        happening = seen["step"].happening
        count(f"Dunning_{happening}")
        if happening == "overdue":
            count("Dunning_restricted")
        return "restricted" if happening == "restricted" else "overdue_and_restricted"
