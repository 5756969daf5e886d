"""The grace-expiry run (spec §3.2): excess-profile graces that ended, payment reminders, deadlines.

``dispatch_due`` runs on the schedule: it queries every shard of ``GraceIndex`` for accounts whose open episode
needs attention by the run's time (grace end, reminder, deadline) and fans them out to the grace queue.
``GraceExpiry.process_account`` runs per queue message: it takes every step that fell due up to the run's time
(catch-up), each one conditional transaction, so a rerun or a concurrent run changes nothing the first did not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from overage.domain.catalog import Catalog
from overage.domain.excess_profiles import Step, advance
from overage.domain.instants import parse_instant
from overage.notices.excess_profiles import fee_terms
from overage.notices.outbox import NoticeOutbox
from overage.runtime.fanout import fan_out, send_batch
from overage.runtime.observability import correlate, count, logger
from overage.runtime.sqs_batch import SqsRecord
from overage.services.dunning import Dunning, dispatch_dunning
from overage.services.excess_profiles import ExcessProfiles, Plan
from overage.store.accounts import AccountsStore
from overage.store.excess_profiles import ExcessProfilesStore, LoadedAccount
from overage.store.ledger import LedgerStore

MAX_STEPS = 6  # grace end, reminder, deadline, and a new episode at most: a bound, not a budget


@dataclass(frozen=True)
class GraceMessage:
    account_id: str
    as_of: datetime

    def to_json(self) -> str:
        return json.dumps({"account_id": self.account_id, "as_of": self.as_of.isoformat()})


def dispatch_due(store: ExcessProfilesStore, sqs: Any, queue_url: str, as_of: datetime) -> int:
    """Fan the accounts due by ``as_of`` out to the grace queue (``fanout``). Returns how many; the schedule retries
    the whole run if one was refused (every step is conditional)."""

    def send(account_ids: list[str]) -> int:
        return send_batch(sqs, queue_url, [GraceMessage(a, as_of).to_json() for a in account_ids], "grace")

    sent = fan_out(store.due_account_ids(as_of), send)
    logger.info("accounts due for grace expiry dispatched", extra={"as_of": as_of.isoformat(), "accounts": sent})
    return sent


class GraceExpiry:
    def __init__(self, *, accounts: AccountsStore, ledger: LedgerStore, outbox: NoticeOutbox, catalog: Catalog) -> None:
        self.engine = ExcessProfiles(accounts=accounts, ledger=ledger, outbox=outbox, catalog=catalog)
        self.accounts = accounts
        self.catalog = catalog

    def process_account(self, account_id: str, as_of: datetime, now: datetime) -> list[Step]:
        """Every step of the account's episode due by ``as_of``, oldest first."""
        steps: list[Step] = []
        policy = self.catalog.policy

        def plan(current: LoadedAccount) -> Plan | None:
            episode = current.state.episode
            due = episode.next_attention_at() if episode else None
            if episode is None or due is None or as_of < due:
                return None
            count_at_grace_end = None
            terms = fee_terms(current.account, self.catalog)
            if episode.state == "in_grace":  # the count in force at the grace end (the item's, else the history's)
                snapshot = self.accounts.profiles_in_force_at(current.account, episode.grace_ends_at)
                if snapshot is not None:
                    count_at_grace_end = snapshot.count
                    terms = replace(terms, evidence=snapshot.evidence)

            def step_with(number: str | None) -> Step | None:
                return advance(
                    current.state,
                    as_of=as_of,
                    count_at_grace_end=count_at_grace_end,
                    terms=replace(terms, invoice_number=number),
                    policy=policy,
                )

            def numbered(number: str) -> Plan:
                step = step_with(number)
                assert step is not None  # the same inputs as the draft's
                return Plan(step)

            step = step_with(None)
            return Plan(step, numbered=numbered) if step is not None else None

        for _ in range(MAX_STEPS):
            # A step may issue the fee invoice, dated the run's time: its series' counter is read with the account.
            _, written = self.engine.commit(account_id, plan, now, missing_ok=True, invoice_at=as_of)
            if written is None:
                break
            steps.append(written.step)
            # Read the account again only if the state just written has another step due by the run's time (a
            # catch-up); otherwise this message is done: one read fewer per step (issue 20). A change another
            # writer made meanwhile is seen by the next run, as any change after this one's read would be.
            episode = written.step.after.episode
            due = episode.next_attention_at() if episode else None
            if due is None or as_of < due:
                break
        return steps


class GraceExpiryJob:
    """GraceExpiryFunction's two entry points: the schedule's run and one queue record (one account's due steps)."""

    def __init__(
        self,
        *,
        grace: GraceExpiry,
        store: ExcessProfilesStore,
        outbox: NoticeOutbox,
        sqs: Any,
        queue_url: str,
        clock: Callable[[], datetime],
        batch_workers: int,
        dunning: Dunning | None = None,
    ) -> None:
        self.dunning = dunning
        self.grace = grace
        self.store = store
        self.outbox = outbox
        self.sqs = sqs
        self.queue_url = queue_url
        self.clock = clock
        self.batch_workers = batch_workers

    def start_run(self, as_of: datetime, now: datetime) -> dict[str, Any]:
        correlate("grace-expiry", as_of.isoformat())
        redelivered = self.outbox.redeliver_stale(now)
        dispatched = dispatch_due(self.store, self.sqs, self.queue_url, as_of)
        count("GraceAccountsDue", dispatched)
        answer = {"as_of": as_of.isoformat(), "accounts_dispatched": dispatched, "notices_redelivered": redelivered}
        if self.dunning is not None:  # every other invoice kind's reminders and overdue days (spec §3.7)
            answer["invoices_dispatched"] = dispatch_dunning(
                self.dunning.store, self.dunning.catalog, self.sqs, self.queue_url, as_of
            )
        return answer

    def handle_record(self, record: SqsRecord) -> None:
        message = json.loads(record["body"])
        logger.thread_safe_append_keys(account_id=message["account_id"])
        correlate("grace-expiry", message["as_of"])
        if "invoice_id" in message:  # a dunning message (services.dunning)
            assert self.dunning is not None
            as_of = parse_instant(message["as_of"])
            self.dunning.process_invoice(message["account_id"], message["invoice_id"], as_of, self.clock())
            return
        for step in self.grace.process_account(message["account_id"], parse_instant(message["as_of"]), self.clock()):
            for happening in step.happenings:
                count(f"ExcessProfiles_{happening.kind}")
