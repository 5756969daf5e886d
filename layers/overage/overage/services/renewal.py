"""Renewal billing (spec §3.1, §3.5): find due accounts through the index, bill each due date exactly once.

``dispatch_due`` runs on the schedule: it queries every shard of ``DueIndex`` for accounts whose next billing date
is on or before the run's date and fans them out to the billing queue. ``bill_account`` runs per queue message:
it bills every billing date that fell due up to the run's time, oldest first (catch-up), each in one transaction
that creates the invoice and its notice and advances the account's next billing date only if nobody else did.
The account is read in one BatchGetItem with the series counters its invoice may be numbered in
(``services.invoicing``): a billed account costs that read, the transaction and the notice's delivery record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from overage.domain.account import Account, all_billing_shards, version_instant
from overage.domain.calendar import next_billing_date
from overage.domain.catalog import Catalog
from overage.domain.instants import midnight_utc, parse_instant, to_key
from overage.domain.money import Evidence, InvoiceLine
from overage.domain.notice import Notice
from overage.domain.renewal import RenewalOutcome, bill_renewal
from overage.notices.outbox import NoticeOutbox
from overage.notices.renewal import renewal_notice
from overage.runtime.fanout import fan_out, send_batch
from overage.runtime.observability import correlate, count, logger
from overage.runtime.sqs_batch import SqsRecord
from overage.services.invoicing import Invoicing, Issue, Numbering
from overage.services.settlement import credit_at_issue
from overage.store.accounts import AccountsStore, ContactSnapshot
from overage.store.dynamo import get_many
from overage.store.ledger import LedgerStore
from overage.store.settlement import SettlementStore


@dataclass
class BillingContribution:
    """What another policy adds to one billing date, inside the same transaction as its invoice.

    ``account`` is the account as the invoice should price it (e.g. with a pending plan change applied);
    ``account_updates`` are attributes SET on the account item in the billing write (one Update per item is all
    a transaction allows); ``lines`` join the invoice; ``transact_items`` and ``notices`` join the write.
    """

    account: Account
    account_updates: dict[str, Any] = field(default_factory=dict)
    lines: list[InvoiceLine] = field(default_factory=list)
    transact_items: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    # Work for after the billing write committed and its notices went out (see ``FollowUp``).
    follow_ups: list[FollowUp] = field(default_factory=list)


@dataclass(frozen=True)
class FollowUp:
    """Work a billing date leaves for after its write commits (e.g. re-measure excess profiles against a limit a
    pending plan change just raised).

    It is recorded on the account item (``follow_ups``: kind → args) by the billing write itself and removed once
    done, so when the process dies in between, the retry (which finds the date billed) still finishes it. The runner
    registered for ``kind`` (``wiring.follow_up_runners``) must be idempotent: a retry may run it again.
    """

    kind: str
    args: dict[str, Any]


# A hook sees the account (as left by the hooks before it), the billing date and the operational clock.
BillingHook = Callable[[Account, date, datetime], BillingContribution]
# A follow-up runner gets the account id, the follow-up's args and the operational clock.
FollowUpRunner = Callable[[str, dict[str, Any], datetime], None]


@dataclass(frozen=True)
class BillingMessage:
    account_id: str
    as_of: datetime

    def to_json(self) -> str:
        return json.dumps({"account_id": self.account_id, "as_of": self.as_of.isoformat()})


def due_account_ids(accounts: AccountsStore, up_to: date) -> Iterator[str]:
    """Accounts whose next billing date is on or before ``up_to``: one Query per shard, never a Scan."""
    for shard in all_billing_shards():
        yield from accounts.due_in_shard(shard, up_to)


def dispatch_due(accounts: AccountsStore, sqs: Any, queue_url: str, as_of: datetime) -> int:
    """Fan the due accounts out to the billing queue (``fanout``: ten per SendMessageBatch, several calls in flight).
    Returns how many were sent; the schedule retries the whole run if one was refused (billing is idempotent)."""

    def send(account_ids: list[str]) -> int:
        return send_batch(sqs, queue_url, [BillingMessage(a, as_of).to_json() for a in account_ids], "billing")

    sent = fan_out(due_account_ids(accounts, as_of.date()), send)
    logger.info("due accounts dispatched", extra={"as_of": as_of.isoformat(), "accounts": sent})
    return sent


class RenewalBilling:
    def __init__(
        self,
        *,
        accounts: AccountsStore,
        ledger: LedgerStore,
        outbox: NoticeOutbox,
        catalog: Catalog,
        hooks: list[BillingHook] | None = None,
        follow_up_runners: dict[str, FollowUpRunner] | None = None,
    ) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.outbox = outbox
        self.catalog = catalog
        self.hooks = hooks or []
        self.follow_up_runners = follow_up_runners or {}
        self.invoicing = Invoicing(ledger)
        self.credits = SettlementStore(ledger, accounts.table)

    def bill_account(self, account_id: str, as_of: datetime, now: datetime) -> list[RenewalOutcome]:
        """Bill every billing date of the account due by ``as_of`` that is not billed yet, oldest first."""
        outcomes: list[RenewalOutcome] = []
        account, known = self._read(account_id, as_of)
        if account is not None and account.follow_ups:  # a run died after a billing write, before its follow-ups
            self._follow_up(account_id, account.follow_ups, now)
            account, known = self._read(account_id, as_of)
        while account is not None and account.next_billing_date and account.next_billing_date <= as_of.date():
            billed = self._bill_date(account, account.next_billing_date, now, known)
            if billed is None:  # another run billed that date: continue from what it left
                account, known = self._read(account_id, as_of)
                continue
            outcome, account, counter = billed
            if counter is not None:  # where this write left its series' counter: the next date's first guess
                known = {**known, counter[0]: counter[1]}
            outcomes.append(outcome)
            account = account.model_copy(
                update={
                    "next_billing_date": next_billing_date(account.started_on, 1, outcome.billing_date),
                    "last_billed_on": outcome.billing_date,
                    "overrun_streak": outcome.overrun_streak,
                }
            )
        return outcomes

    def _read(self, account_id: str, as_of: datetime) -> tuple[Account | None, dict[str, int]]:
        """The account and, in the same BatchGetItem, the counters of the series its invoice of ``as_of``'s year is
        numbered in (one per catalog currency: the account's currency is known only once it is read)."""
        keys = {"account": self.accounts.key(account_id)}
        keys |= self.invoicing.prefetch_keys(account_id, self.catalog.currencies, as_of)
        read = get_many(self.accounts.client, keys, "reading an account to bill")
        account = self.accounts.from_record(read["account"]) if "account" in read else None
        return account, self.invoicing.prefetched(keys, read)

    def _contacts_at(self, account: Account, moment: datetime) -> ContactSnapshot | None:
        """The contacts snapshot in force at ``moment`` (the latest not after it).

        The account item carries the newest snapshot of all (last-writer-wins by version key) and every snapshot in
        the history was applied to it first, so when the newest is not after ``moment`` it *is* the snapshot in force
        and no read is needed: the usual case, a run shortly after midnight. Only when the CRM reported a newer count
        since the billing moment is the history queried (one Query); no count at all means no snapshot was recorded.
        """
        newest = version_instant(account.contacts_version)
        if newest is None or account.contacts_version is None or account.contacts_active is None:
            return None
        if newest <= to_key(moment):
            return ContactSnapshot(account.contacts_active, account.contacts_archived or 0, account.contacts_version)
        return self.accounts.contacts_at(account.account_id, moment)

    def _bill_date(
        self, account: Account, billing_date: date, now: datetime, known: Mapping[str, int]
    ) -> tuple[RenewalOutcome, Account, tuple[str, int] | None] | None:
        """Bill one date (``known``: series counters as read with the account, for the first attempt's number).
        Returns the outcome, the account as the write left it and where it left its series' counter."""
        snapshot = self._contacts_at(account, midnight_utc(billing_date))
        active_contacts = snapshot.active if snapshot else None
        evidence = None
        if snapshot is not None:
            counts = {"active": snapshot.active, "archived": snapshot.archived}
            evidence = Evidence.of_version("contacts.counted", snapshot.version, **counts)
        extra: list[InvoiceLine] = []
        updates: dict[str, Any] = {}
        hook_items: list[dict[str, Any]] = []
        hook_notices: list[Notice] = []
        follow_ups: dict[str, dict[str, Any]] = dict(account.follow_ups or {})
        version = account.profile_version
        for hook in self.hooks:
            contribution = hook(account, billing_date, now)
            account = contribution.account
            updates.update(contribution.account_updates)
            extra += contribution.lines
            hook_items += contribution.transact_items
            hook_notices += contribution.notices
            follow_ups |= {follow_up.kind: follow_up.args for follow_up in contribution.follow_ups}
        following = next_billing_date(account.started_on, 1, billing_date)
        if follow_ups:  # recorded in the billing write itself: a retry finishes them if this process dies first
            updates["follow_ups"] = follow_ups
        priced = account
        issued_at = midnight_utc(billing_date)
        outcomes: list[RenewalOutcome] = []

        def price(number: str | None) -> RenewalOutcome:
            return bill_renewal(
                priced,
                billing_date,
                active_contacts,
                self.catalog,
                previous_streak=priced.overrun_streak,
                issued_at=issued_at,
                extra_lines=extra,
                number=number,
                contacts_evidence=evidence,
            )

        draft = price(None)  # an annual account's month without an overrun issues no invoice: no number to read

        def compose(numbering: Numbering) -> Issue:
            """The billing write, with the invoice numbered (run again when only the series counter moved)."""
            outcome = draft
            if draft.invoice is not None:
                outcome = price(numbering.number(priced.account_id, priced.currency, issued_at))
            credit_items: list[dict[str, Any]] = []
            if outcome.invoice is not None and outcome.invoice.currency in (priced.credit_currencies or ()):
                # The account's credit pays what it can of the new invoice, in this write (spec §3.7): the balance
                # read here (fresh on every attempt) is the condition, so a concurrent run or payment that moved it
                # makes this write lose the race. Only an account that ever had credit in the currency costs that
                # read (``credit_currencies``).
                credited, credit_items = credit_at_issue(self.credits, outcome.invoice, f"renewal:{billing_date}")
                outcome = replace(outcome, invoice=credited)
            outcomes.append(outcome)
            billed = self.accounts.billed_item(
                priced.account_id,
                billing_date=billing_date,
                following=following,
                overrun_streak=outcome.overrun_streak,
                profile_version=version,
                updates=updates,
            )
            notices = list(hook_notices)
            if outcome.invoice is not None:
                notices.append(renewal_notice(priced, outcome))
            staged = [self.outbox.stage(notice, now, suppression=priced.email_suppression) for notice in notices]
            return Issue(outcome.invoice, [billed, *hook_items, *credit_items, *staged], notices)

        issued = self.invoicing.issue(compose, "issuing a renewal invoice", known=known)
        if issued is None:
            logger.info(
                "billing date already billed by another run",
                extra={"account_id": account.account_id, "billing_date": billing_date.isoformat()},
            )
            return None
        outcome = outcomes[-1]
        notices = issued.notices
        sent = self.outbox.deliver_committed(notices, now)
        if outcome.invoice is not None:  # the account's one INFO line: the notices' own are DEBUG (outbox.deliver)
            logger.info(
                "invoice issued",
                extra={
                    "account_id": account.account_id,
                    "invoice_id": outcome.invoice.invoice_id,
                    "gross": str(outcome.invoice.gross),
                    "currency": outcome.invoice.currency,
                    "notices_sent": sent,
                    "notices": len(notices),
                },
            )
        if follow_ups:
            self._follow_up(account.account_id, follow_ups, now)
            account = self.accounts.get(account.account_id) or account  # what the follow-ups left
        return outcome, account, issued.counter

    def _follow_up(self, account_id: str, follow_ups: dict[str, dict[str, Any]], now: datetime) -> None:
        """Run each recorded follow-up, then remove it from the account item (only if it is still the same one)."""
        for kind, args in sorted(follow_ups.items()):
            self.follow_up_runners[kind](account_id, args, now)
            self.accounts.close_follow_up(account_id, kind, args)


class RenewalJob:
    """RenewalBillingFunction's two entry points: the schedule's run (redeliver stale notices, fan the due accounts
    out) and one queue record (bill one account)."""

    def __init__(
        self, *, billing: RenewalBilling, sqs: Any, queue_url: str, clock: Callable[[], datetime], batch_workers: int
    ) -> None:
        self.billing = billing
        self.sqs = sqs
        self.queue_url = queue_url
        self.clock = clock
        self.batch_workers = batch_workers

    def start_run(self, as_of: datetime, now: datetime) -> dict[str, Any]:
        correlate("renewal", as_of.isoformat())
        redelivered = self.billing.outbox.redeliver_stale(now)
        dispatched = dispatch_due(self.billing.accounts, self.sqs, self.queue_url, as_of)
        count("AccountsDue", dispatched)
        return {"as_of": as_of.isoformat(), "accounts_dispatched": dispatched, "notices_redelivered": redelivered}

    def handle_record(self, record: SqsRecord) -> None:
        message = json.loads(record["body"])
        logger.thread_safe_append_keys(account_id=message["account_id"])
        correlate("renewal", message["as_of"])
        outcomes = self.billing.bill_account(message["account_id"], parse_instant(message["as_of"]), self.clock())
        count("InvoicesIssued", sum(1 for outcome in outcomes if outcome.invoice is not None))
