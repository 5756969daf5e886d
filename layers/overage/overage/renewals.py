"""Renewal billing (spec §3.1, §3.5): find due accounts through the index, bill each due date exactly once.

``dispatch_due`` runs on the schedule: it queries every shard of ``DueIndex`` for accounts whose next billing date
is on or before the run's date and fans them out to the billing queue. ``bill_account`` runs per queue message:
it bills every billing date that fell due up to the run's time, oldest first (catch-up), each in one transaction
that creates the invoice and its notice and advances the account's next billing date only if nobody else did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.account import Account, all_billing_shards
from overage.domain.calendar import next_billing_date
from overage.domain.catalog import Catalog
from overage.domain.instants import midnight_utc
from overage.domain.money import InvoiceLine
from overage.domain.renewal import RenewalOutcome, bill_renewal
from overage.notices.billing import renewal_notice
from overage.notices.model import Notice
from overage.notices.outbox import NoticeOutbox
from overage.observability import logger
from overage.store.accounts import ACCOUNT_SK, AccountsStore
from overage.store.dynamo import is_condition_failure, serialize, store_error
from overage.store.ledger import LedgerStore

SQS_BATCH = 10


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
    # Run after the billing write committed and its notices went out (e.g. re-measure excess profiles against a
    # limit a pending plan change just raised). Each must be idempotent: a retried run may call it again.
    after_commit: list[Callable[[], None]] = field(default_factory=list)


# A hook sees the account (as left by the hooks before it), the billing date and the operational clock.
BillingHook = Callable[[Account, date, datetime], BillingContribution]


@dataclass(frozen=True)
class BillingMessage:
    account_id: str
    as_of: datetime

    def to_json(self) -> str:
        return json.dumps({"account_id": self.account_id, "as_of": self.as_of.isoformat()})


def due_account_ids(accounts: AccountsStore, up_to: date) -> Iterator[str]:
    """Accounts whose next billing date is on or before ``up_to``: one Query per shard, never a Scan."""
    for shard in all_billing_shards():
        kwargs: dict[str, Any] = {
            "TableName": accounts.table,
            "IndexName": "DueIndex",
            "KeyConditionExpression": "billing_shard = :s AND next_billing_date <= :d",
            "ExpressionAttributeValues": {":s": {"S": shard}, ":d": {"S": up_to.isoformat()}},
        }
        while True:
            try:
                page = accounts.client.query(**kwargs)
            except ClientError as error:
                raise store_error(error, "querying due accounts") from error
            for item in page.get("Items", []):
                yield item["pk"]["S"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dispatch_due(accounts: AccountsStore, sqs: Any, queue_url: str, as_of: datetime) -> int:
    """Fan the due accounts out to the billing queue, ten per SendMessageBatch. Returns how many were sent."""
    sent = 0
    batch: list[dict[str, str]] = []

    def flush() -> None:
        nonlocal sent
        if not batch:
            return
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)
        failed = response.get("Failed") or []
        if failed:  # the schedule retries the whole run; billing is idempotent per date
            raise RuntimeError(f"{len(failed)} billing messages were not queued: {failed[0]}")
        sent += len(batch)
        batch.clear()

    for account_id in due_account_ids(accounts, as_of.date()):
        body = BillingMessage(account_id, as_of).to_json()
        batch.append({"Id": str(len(batch)), "MessageBody": body})
        if len(batch) == SQS_BATCH:
            flush()
    flush()
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
    ) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.outbox = outbox
        self.catalog = catalog
        self.hooks = hooks or []

    def bill_account(self, account_id: str, as_of: datetime, now: datetime) -> list[RenewalOutcome]:
        """Bill every billing date of the account due by ``as_of`` that is not billed yet, oldest first."""
        outcomes: list[RenewalOutcome] = []
        account = self.accounts.get(account_id)
        while account is not None and account.next_billing_date and account.next_billing_date <= as_of.date():
            billed = self._bill_date(account, account.next_billing_date, now)
            if billed is None:  # another run billed that date: continue from what it left
                account = self.accounts.get(account_id)
                continue
            outcome, account = billed
            outcomes.append(outcome)
            account = account.model_copy(
                update={
                    "next_billing_date": next_billing_date(account.started_on, 1, outcome.billing_date),
                    "last_billed_on": outcome.billing_date,
                    "overrun_streak": outcome.overrun_streak,
                }
            )
        return outcomes

    def _bill_date(self, account: Account, billing_date: date, now: datetime) -> tuple[RenewalOutcome, Account] | None:
        snapshot = self.accounts.contacts_at(account.account_id, midnight_utc(billing_date))
        extra: list[InvoiceLine] = []
        updates: dict[str, Any] = {}
        hook_items: list[dict[str, Any]] = []
        hook_notices: list[Notice] = []
        after_commit: list[Callable[[], None]] = []
        version = account.profile_version
        for hook in self.hooks:
            contribution = hook(account, billing_date, now)
            account = contribution.account
            updates.update(contribution.account_updates)
            extra += contribution.lines
            hook_items += contribution.transact_items
            hook_notices += contribution.notices
            after_commit += contribution.after_commit
        outcome = bill_renewal(
            account,
            billing_date,
            snapshot.active if snapshot else None,
            self.catalog,
            previous_streak=account.overrun_streak,
            issued_at=midnight_utc(billing_date),
            extra_lines=extra,
        )
        following = next_billing_date(account.started_on, 1, billing_date)
        sets = ["next_billing_date = :next", "last_billed_on = :d", "overrun_streak = :streak"]
        values: dict[str, Any] = {
            ":pv": {"S": version},
            ":next": {"S": following.isoformat()},
            ":d": {"S": billing_date.isoformat()},
            ":streak": {"N": str(outcome.overrun_streak)},
        }
        names: dict[str, str] = {}
        for n, (attribute, value) in enumerate(sorted(updates.items())):
            names[f"#h{n}"] = attribute
            values[f":h{n}"] = serialize(value)
            sets.append(f"#h{n} = :h{n}")
        update: dict[str, Any] = {
            "TableName": self.accounts.table,
            "Key": {"pk": {"S": account.account_id}, "sk": {"S": ACCOUNT_SK}},
            "UpdateExpression": "SET " + ", ".join(sets),
            # Only if nobody billed this date meanwhile and the subscription is still the one we priced.
            "ConditionExpression": "next_billing_date = :d AND profile_version = :pv",
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        items: list[dict[str, Any]] = [{"Update": update}, *hook_items]
        notices = list(hook_notices)
        if outcome.invoice is not None:
            notices.append(renewal_notice(account, outcome))
            items.append(self.ledger.put_invoice_item(outcome.invoice))
        items += [self.outbox.stage(notice, now) for notice in notices]
        try:
            self.accounts.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if is_condition_failure(error):
                logger.info(
                    "billing date already billed by another run",
                    extra={"account_id": account.account_id, "billing_date": billing_date.isoformat()},
                )
                return None
            raise store_error(error, "issuing a renewal invoice") from error
        if outcome.invoice is not None:
            logger.info(
                "invoice issued",
                extra={
                    "account_id": account.account_id,
                    "invoice_id": outcome.invoice.invoice_id,
                    "gross": str(outcome.invoice.gross),
                    "currency": outcome.invoice.currency,
                },
            )
        for notice in notices:
            self.outbox.deliver(notice, now)
        for follow_up in after_commit:
            follow_up()
        return outcome, account
