"""Dunning for every invoice kind (spec §2, §3.7), a part of GraceExpiryFunction's daily run ("payment deadlines,
reminders"): invoices waiting for their reminder or their overdue day are found through the sparse ``DunningIndex``
(16 shards × 2 stages, never a Scan) and fanned out to the grace queue, one message per invoice; each message takes
the step that fell due (``domain.settlement.dunning_step``) in one conditional transaction with its notice, so a
rerun or a concurrent run changes nothing the first did not. Fee invoices are chased by their excess-profile episode
(``services.grace_expiry``), credit notes owe nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from overage.domain.account import all_billing_shards
from overage.domain.catalog import Catalog
from overage.domain.instants import to_key
from overage.domain.settlement import OVERDUE, REMIND, dunning_step
from overage.notices import settlement as notices
from overage.notices.outbox import NoticeOutbox
from overage.runtime.fanout import fan_out, send_batch
from overage.runtime.observability import count, logger
from overage.store.accounts import AccountsStore
from overage.store.settlement import SettlementStore
from overage.store.transaction import commit

ATTEMPTS = 4


def due_invoices(store: SettlementStore, catalog: Catalog, as_of: datetime) -> Iterator[tuple[str, str]]:
    today = as_of.date()
    reminders_up_to = today + timedelta(days=catalog.policy.reminder_days_before_deadline)
    for shard in all_billing_shards():
        yield from store.dunning_due(shard, REMIND, reminders_up_to)
        yield from store.dunning_due(shard, OVERDUE, today)


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
            step = dunning_step(invoice, key, as_of.date(), policy.reminder_days_before_deadline)
            if step is None:
                return None
            restricts = policy.dunning.restrict_after_days_overdue.get(invoice.kind) is not None
            if step.happening == "reminded":
                notice = notices.invoice_reminder(account, step.after, as_of)
                fields = {"reminded_at": to_key(as_of)}
            else:
                notice = notices.invoice_overdue(account, step.after, as_of, restricts)
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
