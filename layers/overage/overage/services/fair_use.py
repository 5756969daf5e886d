"""Fair use of telephone support (spec §3.3): calls in from the webhook, the monthly rollup, the read view.

``call_completed`` stores each call once per call id with the entitlement in force when the call started (the account
as it stands, or as it was before a plan change applied since), and marks its month pending (a month already rolled up
becomes dirty). ``FairUseRollup.dispatch`` runs on the schedule: it finds every pending account-month up to the
previous month through ``PendingIndex`` and fans them out to the rollup queue, then queues one closing message per
month of the run. ``FairUseRollup.process`` runs per message: one batched read, the month's calls, and one transaction
writing the month's rollup record (or replacing it), the month marker, its review entries, the run's bookkeeping and
the account's notice when it has something new to say. ``FairUseRollup.close_run`` runs per closing message: once
every account-month of the run's month is rolled up it sends the director's review list for the month; until then it
queues itself again, a delay later, for a bounded number of rounds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from overage.domain.account import Account
from overage.domain.catalog import Catalog
from overage.domain.fair_use import (
    Call,
    Level,
    MonthRollup,
    SubscriptionAt,
    entitlement,
    roll_up,
    subscription_at,
)
from overage.domain.fair_use import account_notice as account_notice_decision
from overage.domain.instants import Month, parse_instant, previous_month, to_key
from overage.domain.notice import Notice
from overage.errors import Conflict, InvalidRequest, NotFound, OverageError, StoreError
from overage.notices.fair_use import (
    account_notice,
    not_entitled_entry,
    notified_levels,
    review_entry,
    review_list_notice,
)
from overage.notices.outbox import NoticeOutbox
from overage.runtime import aws
from overage.runtime.config import Settings
from overage.runtime.fanout import batches, fan_out, send_batch
from overage.runtime.observability import correlate, count, logger
from overage.runtime.sqs_batch import SqsRecord
from overage.services import deps as stores
from overage.store.accounts import AccountsStore
from overage.store.calls import CallsStore, Marker
from overage.store.dynamo import get_many
from overage.store.fair_use_ledger import FairUseLedger
from overage.store.transaction import commit

if TYPE_CHECKING:
    from overage.domain.crm_events import CallCompleted  # the webhook's model: not loaded by the scheduled functions
    from overage.services.deps import Deps

ENTRIES_IN_ROLLUP = 90  # review entries written in the rollup's own transaction (with its 3-5 items: at most 100)
LIST_CHUNK = 50  # entries per review-list email: one transaction lists them (TransactWriteItems takes 100)
COMMIT_ATTEMPTS = 5
LIST_ATTEMPTS = 100  # emails of up to LIST_CHUNK entries each, and retries after losing a race
# Looks a closing message takes at whether its run's month is rolled up before it gives up (an error, a metric and
# SQS's retries, then the dead-letter queue): 24 rounds of the template's 300 s delay wait two hours.
CLOSE_ROUNDS = 24


class RunNotFinished(OverageError):
    """A run's month still has account-months to roll up after every round of its closing message (one of them
    keeps failing, or waits in the dead-letter queue): the director's list is held back, not lost."""


# ---------------------------------------------------------------------------------------- calls in


def call_completed(event: CallCompleted, deps: Deps) -> dict[str, Any]:
    """Store a completed call (idempotent on ``call_id``) with the entitlement in force when it started: the account
    as it stands, or as it stood before the first plan change applied after the call started (spec §3.4 records)."""
    from overage.domain.crm_events import MAX_FUTURE_SKEW

    data = event.data
    if data.started_at > deps.received_at + MAX_FUTURE_SKEW:
        raise InvalidRequest(
            "the call starts in the future", {"data.started_at": "must not be more than 5 minutes in the future"}
        )
    if data.started_at > event.occurred_at + MAX_FUTURE_SKEW:
        raise InvalidRequest(
            "the call starts after the event that reports it",
            {"data.started_at": "must not be after occurred_at (the call's completion)"},
        )
    account = deps.accounts.require(event.account_id)
    current = SubscriptionAt(account.package, account.telephone_support, account.paying_users)
    at_call = subscription_at(
        data.started_at, current, stores.plan_change_store(deps.settings).changes(account.account_id)
    )
    call = Call(
        call_id=data.call_id,
        user_id=data.user_id,
        started_at=data.started_at,
        duration_seconds=data.duration_seconds,
        entitlement=entitlement(
            package=at_call.package,
            telephone_support=at_call.telephone_support,
            customer_since=account.customer_since,
            catalog=deps.catalog,
            call_day=data.started_at.astimezone(UTC).date(),
            # the earliest the account was a customer: started_on moves with a billing-cycle switch, customer_since not
            subscribed_since=min(account.customer_since, account.started_on),
        ),
        paying_users=at_call.paying_users,
    )
    result = stores.calls_store(deps.settings).record(
        event.account_id,
        call,
        event_id=event.id,
        received_at=deps.received_at,
        subscription_before_change=at_call.changed_since,
    )
    if result.outcome == "conflict":
        stored = result.stored or {}
        raise Conflict(
            f"call {data.call_id} was already recorded with different details (user {stored.get('user_id')}, "
            f"started {stored.get('started_at')}, {stored.get('duration_seconds')} s); a call id names one call"
        )
    stored = result.stored or {}
    return {
        "outcome": result.outcome,
        "call_id": data.call_id,
        "month": str(call.month),
        "entitlement": stored.get("entitlement", call.entitlement),
        "month_recompute_scheduled": result.month_rolled_up,
    }


# ---------------------------------------------------------------------------------------- the monthly rollup


def run_key(as_of: datetime) -> str:
    """A run's name: its business time, compact (two runs at the same time are the same run)."""
    return as_of.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class RollupMessage:
    account_id: str
    month: Month
    run: str
    as_of: datetime

    def to_json(self) -> str:
        return json.dumps(
            {"account_id": self.account_id, "month": str(self.month), "run": self.run, "as_of": self.as_of.isoformat()}
        )

    @classmethod
    def from_json(cls, body: str) -> RollupMessage:
        return cls.from_data(json.loads(body))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RollupMessage:
        return cls(data["account_id"], Month.parse(data["month"]), data["run"], parse_instant(data["as_of"]))


@dataclass(frozen=True)
class CloseRunMessage:
    """The run's closing message for one month: queued after the dispatch, it sends the month's review list once the
    run's account-months are all rolled up; ``round`` counts its looks (0 for the dispatch's)."""

    month: Month
    run: str
    as_of: datetime
    round: int = 0

    KIND = "close_run"

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.KIND,
                "month": str(self.month),
                "run": self.run,
                "as_of": self.as_of.isoformat(),
                "round": self.round,
            }
        )

    def next_round(self) -> CloseRunMessage:
        return CloseRunMessage(self.month, self.run, self.as_of, self.round + 1)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CloseRunMessage:
        return cls(Month.parse(data["month"]), data["run"], parse_instant(data["as_of"]), int(data["round"]))


def parse_message(body: str) -> RollupMessage | CloseRunMessage:
    """A message of the rollup queue: an account-month to roll up, or a run's closing message (``kind``)."""
    data = json.loads(body)
    if data.get("kind") == CloseRunMessage.KIND:
        return CloseRunMessage.from_data(data)
    return RollupMessage.from_data(data)


@dataclass(frozen=True)
class RollupPlan:
    """Everything one rollup of an account-month writes, computed before the write."""

    marker: Marker
    account: Account
    rollup: MonthRollup
    revision: int
    record: dict[str, Any]
    notice: Notice | None
    entries: list[tuple[str, dict[str, Any]]]
    as_of: datetime
    run: str | None = None  # the run whose bookkeeping item the rollup's transaction closes


class FairUseRollup:
    def __init__(
        self,
        *,
        calls: CallsStore,
        ledger: FairUseLedger,
        accounts: AccountsStore,
        outbox: NoticeOutbox,
        catalog: Catalog,
        director_email: str,
    ) -> None:
        self.calls = calls
        self.ledger = ledger
        self.accounts = accounts
        self.outbox = outbox
        self.catalog = catalog
        self.director_email = director_email

    # ------------------------------------------------------------------ the schedule
    def dispatch(
        self, sqs: Any, queue_url: str, as_of: datetime, now: datetime, close_delay_seconds: int = 0
    ) -> dict[str, Any]:
        """Queue every pending account-month up to the previous month of ``as_of`` (catch-up and dirty months
        included), recording each before it is queued so the run knows when it is finished; then one closing message
        per month of the run (``close_delay_seconds`` later), which sends the month's review list."""
        month = previous_month(as_of.astimezone(UTC).date())
        run = run_key(as_of)
        # With the months an earlier attempt of this run queued: their messages may all be processed by now (so they
        # are no longer pending), but that attempt died before marking them dispatched, and their list would never go.
        months: set[Month] = {month} | self.calls.run_months(run)
        noted: set[Month] = set()
        noting = threading.Lock()

        def send(batch: list[tuple[str, Month]]) -> int:
            batch_months = {m for _, m in batch}
            with noting:  # each month is noted once per attempt, before the first message that names it is queued
                if batch_months - noted:
                    self.calls.note_run_months(run, batch_months - noted, now)
                    noted.update(batch_months)
            for m in sorted(batch_months):
                self.calls.expect(run, m, [a for a, am in batch if am == m], now)
            bodies = [RollupMessage(account_id, m, run, as_of).to_json() for account_id, m in batch]
            return send_batch(sqs, queue_url, bodies, "rollup")  # the schedule retries the whole run if refused

        def pending() -> Iterator[tuple[str, Month]]:
            for account_id, m in self.calls.pending(up_to=month):
                months.add(m)
                yield account_id, m

        sent = fan_out(pending(), send)
        # Queued only now, after every rollup message of this attempt (each recorded before it was queued): a closing
        # message that finds none of them left knows the month is done. A retried or repeated dispatch queues its own;
        # whichever closes first sends the list, the others find nothing left to list.
        closing = [CloseRunMessage(m, run, as_of).to_json() for m in sorted(months)]
        for batch in batches(closing):
            send_batch(sqs, queue_url, batch, "closing", delay_seconds=close_delay_seconds)
        logger.info(
            "fair-use rollup dispatched",
            extra={"as_of": as_of.isoformat(), "month": str(month), "accounts": sent, "months": len(months)},
        )
        return {"month": str(month), "months": [str(m) for m in sorted(months)], "accounts_dispatched": sent}

    # ------------------------------------------------------------------ one queue message
    def process(self, message: RollupMessage, now: datetime) -> str:
        """Roll up one account-month and close its item of the run's bookkeeping (the director's list is the closing
        message's: ``close_run``)."""
        outcome = self.roll_up_account(message.account_id, message.month, message.as_of, now, run=message.run)
        if outcome != "rolled_up":  # a rollup closes the run's item in its own transaction
            self.calls.done(message.run, message.month, message.account_id)
        return outcome

    def close_run(
        self, message: CloseRunMessage, sqs: Any, queue_url: str, now: datetime, delay_seconds: int = 0
    ) -> str:
        """``closed`` when every account-month of the run's month is rolled up (the director's list sent, if it has
        anything new), ``waiting`` when it queued itself again ``delay_seconds`` later. After ``CLOSE_ROUNDS`` looks
        it raises ``RunNotFinished`` (logged, counted): SQS retries it, then keeps it in the dead-letter queue."""
        extra = {"month": str(message.month), "run": message.run, "round": message.round}
        if self.calls.run_finished(message.run, message.month):
            lists = self.send_review_list(message.month, message.run, message.as_of, now)
            logger.info("fair-use run closed", extra=extra | {"review_lists": lists})
            return "closed"
        if message.round + 1 >= CLOSE_ROUNDS:
            logger.error("fair-use run not finished after every round: the review list is held back", extra=extra)
            count("FairUseReviewListHeldBack")
            raise RunNotFinished(
                f"the fair-use run {message.run} still has account-months of {message.month} to roll up after "
                f"{CLOSE_ROUNDS} rounds; the review list goes once they are rolled up (redrive the dead-letter queue)"
            )
        sqs.send_message(QueueUrl=queue_url, MessageBody=message.next_round().to_json(), DelaySeconds=delay_seconds)
        logger.info("fair-use run not finished yet: closing again later", extra=extra)
        return "waiting"

    def roll_up_account(
        self, account_id: str, month: Month, as_of: datetime, now: datetime, run: str | None = None
    ) -> str:
        """``rolled_up``, or ``up_to_date`` when no call arrived since the last rollup (another run did it)."""
        for _attempt in range(COMMIT_ATTEMPTS):
            plan = self.prepare(account_id, month, as_of, run=run)
            if plan is None:
                return "up_to_date"
            if self.commit(plan, now):
                return "rolled_up"
        raise StoreError(f"the rollup of {account_id} {month} kept losing to concurrent writes")

    def prepare(self, account_id: str, month: Month, as_of: datetime, run: str | None = None) -> RollupPlan | None:
        """Read what the rollup depends on (the marker, the account and the previous rollup in one batched read, then
        the month's calls in one Query) and compute what it writes."""
        read = get_many(
            self.calls.client,
            {
                "marker": self.calls.marker_key(account_id, month),
                "account": self.accounts.key(account_id),
                "previous": self.ledger.key(account_id, month),
            },
            "reading a fair-use rollup's inputs",
        )
        if "marker" not in read:
            return None
        marker = self.calls.marker_from_record(account_id, month, read["marker"])
        if not marker.pending:
            return None
        if "account" not in read:
            raise NotFound(f"account {account_id} is not known; send account.upserted first")
        account = self.accounts.from_record(read["account"])
        rollup = roll_up(account_id, month, self.calls.calls(account_id, month), self.catalog, account.currency)
        previous = self.ledger.from_record(read["previous"]) if "previous" in read else None
        notified: dict[str, Level] = notified_levels(previous)
        revision = marker.revision + 1
        decision = account_notice_decision(rollup, notified, revision)
        notice = None
        notices = list((previous or {}).get("notices") or [])
        if decision is not None:
            notice = account_notice(
                rollup, decision, to=account.billing_email, revision=revision, created_at=as_of.isoformat()
            )
            notified = notified | decision.new
            notices.append(notice.notice_id)
        record = rollup.model_dump(mode="json") | {
            "currency": account.currency,
            "revision": revision,
            "calls_seq": marker.calls_seq,
            "rolled_up_at": to_key(as_of),
            "first_rolled_up_at": (previous or {}).get("first_rolled_up_at") or to_key(as_of),
            "notified": notified,
            "notices": notices,
        }
        entries = [
            (f"REVIEW#{account_id}#{user.user_id}", review_entry(rollup, user)) for user in rollup.users_at("review")
        ]
        if rollup.not_entitled.calls:
            entries.append((f"NOTENT#{account_id}", not_entitled_entry(rollup)))
        return RollupPlan(marker, account, rollup, revision, record, notice, entries, as_of, run)

    def commit(self, plan: RollupPlan, now: datetime) -> bool:
        """Write the plan in one transaction; False when a call arrived since it was computed or another run wrote
        it first (the caller recomputes, or finds the month up to date)."""
        month, seq = plan.marker.month, plan.marker.calls_seq
        # Each entry is idempotent and never older over newer; listed by the director's email. They are part of the
        # rollup's transaction (one write for all), unless an account has more users in review than it can hold.
        inline = plan.entries if len(plan.entries) <= ENTRIES_IN_ROLLUP else []
        for sk, fields in plan.entries if not inline else []:
            self.calls.put_director_entry(month, sk, fields, seq)
        rollup = plan.rollup
        summary = {
            "status": rollup.status,
            "terms": rollup.terms,
            "paying_users": rollup.paying_users,
            "calls": rollup.totals.calls,
            "minutes": str(rollup.totals.minutes),
            "users_over_allowance": len(rollup.users_at("over_allowance", "review")),
            "users_in_review": len(rollup.users_at("review")),
            "not_entitled_calls": rollup.not_entitled.calls,
            "not_entitled_minutes": str(rollup.not_entitled.minutes),
        }
        items = [
            self.calls.mark_rolled_item(plan.marker, revision=plan.revision, rolled_at=plan.as_of, summary=summary),
            self.ledger.put_item(plan.record),
            *(self.calls.director_entry_item(month, sk, fields, seq) for sk, fields in inline),
        ]
        if plan.run is not None:
            items.append(self.calls.done_item(plan.run, month, plan.account.account_id))
        if plan.notice is not None:
            items.append(self.outbox.stage(plan.notice, now, suppression=plan.account.email_suppression))
        if not commit(self.calls.client, items, "writing a fair-use rollup"):
            logger.info(
                "fair-use rollup superseded",
                extra={"account_id": plan.account.account_id, "month": str(plan.marker.month)},
            )
            return False
        logger.info(
            "fair-use rollup written",
            extra={
                "account_id": plan.account.account_id,
                "month": str(plan.marker.month),
                "revision": plan.revision,
                "status": rollup.status,
                "terms": rollup.terms,
            },
        )
        if plan.notice is not None:
            self.outbox.deliver_committed([plan.notice], now)
        return True

    # ------------------------------------------------------------------ the director's list
    def send_review_list(self, month: Month, run: str, as_of: datetime, now: datetime) -> int:
        """Email the director every entry of the month not listed before, in one transaction per email (so an entry
        is listed once even when two runs race). The first email of a month is the list; later ones are updates."""
        sent = 0
        for _attempt in range(LIST_ATTEMPTS):
            entries = self.calls.director_entries(month)
            unlisted = sorted((e for e in entries if not e.get("listed_in")), key=lambda e: e["sk"])
            if not unlisted:
                return sent
            update = any(e.get("listed_in") and f"_{run}_" not in e["listed_in"] for e in entries)
            already = len(entries) - len(unlisted)
            chunk = unlisted[:LIST_CHUNK]
            notice = review_list_notice(
                str(month),
                chunk,
                cause=f"{month}_{run}_{already}",
                to=self.director_email,
                update=update,
                created_at=as_of.isoformat(),
            )
            items = [self.outbox.stage(notice, now)]
            items += [self.calls.list_entry_item(month, e["sk"], notice.notice_id) for e in chunk]
            if not commit(self.calls.client, items, "listing the director's review list"):
                continue  # another run listed some of them: read again
            self.outbox.deliver_committed([notice], now)
            sent += 1
            logger.info("fair-use review list sent", extra={"month": str(month), "entries": len(chunk)})
        raise StoreError(f"the review list of {month} kept losing to concurrent writes")


def service(settings: Settings, catalog: Catalog, director_email: str) -> FairUseRollup:
    return FairUseRollup(
        calls=stores.calls_store(settings),
        ledger=FairUseLedger(settings.ledger_table, aws.client("dynamodb")),
        accounts=stores.accounts_store(settings),
        outbox=stores.notice_outbox(settings),
        catalog=catalog,
        director_email=director_email,
    )


class FairUseJob:
    """FairUseRollupFunction's two entry points: the schedule's run and one queue record (an account-month, or a
    run's closing message)."""

    def __init__(
        self,
        *,
        rollup: FairUseRollup,
        sqs: Any,
        queue_url: str,
        clock: Callable[[], datetime],
        batch_workers: int,
        close_delay_seconds: int,
    ) -> None:
        self.rollup = rollup
        self.sqs = sqs
        self.queue_url = queue_url
        self.clock = clock
        self.batch_workers = batch_workers
        self.close_delay_seconds = close_delay_seconds

    def start_run(self, as_of: datetime, now: datetime) -> dict[str, Any]:
        correlate("fair-use", as_of.isoformat())
        redelivered = self.rollup.outbox.redeliver_stale(now)
        result = self.rollup.dispatch(self.sqs, self.queue_url, as_of, now, self.close_delay_seconds)
        count("FairUseAccountMonthsDue", result["accounts_dispatched"])
        return {"as_of": as_of.isoformat(), **result, "notices_redelivered": redelivered}

    def handle_record(self, record: SqsRecord) -> None:
        message = parse_message(record["body"])
        correlate("fair-use", message.as_of.isoformat())
        if isinstance(message, CloseRunMessage):
            logger.thread_safe_append_keys(month=str(message.month))
            self.rollup.close_run(message, self.sqs, self.queue_url, self.clock(), self.close_delay_seconds)
            return
        logger.thread_safe_append_keys(account_id=message.account_id, month=str(message.month))
        outcome = self.rollup.process(message, self.clock())
        count("FairUseRollups" if outcome == "rolled_up" else "FairUseUpToDate")


# ---------------------------------------------------------------------------------------- the read view


def parse_month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError:
        raise InvalidRequest("not a month", {"month": "a calendar month as YYYY-MM, e.g. 2026-01"}) from None


def month_view(
    calls: CallsStore, ledger: FairUseLedger, account: Account, month: Month, catalog: Catalog
) -> dict[str, Any]:
    """``GET /accounts/{id}/fair-use/{YYYY-MM}``: the stored rollup; for a month not rolled up yet (the current
    month, or the last one before its run), the month to date computed from the calls recorded so far."""
    record = ledger.get(account.account_id, month)
    marker = calls.marker(account.account_id, month)
    if record is not None:
        stored = MonthRollup.model_validate({k: v for k, v in record.items() if k in MonthRollup.model_fields})
        meta = {k: v for k, v in record.items() if k not in MonthRollup.model_fields and k not in ("pk", "sk")}
        meta.pop("record_type", None)
        pending = bool(marker and marker.pending)
        return (
            stored.model_dump(mode="json")
            | meta
            | {"source": "rollup", "final": not pending, "recompute_pending": pending}
        )
    supported = (
        entitlement(
            package=account.package,
            telephone_support=account.telephone_support,
            customer_since=account.customer_since,
            catalog=catalog,
        )
        != "not_entitled"
    )
    rollup = roll_up(
        account.account_id,
        month,
        calls.calls(account.account_id, month),
        catalog,
        account.currency,
        paying_users_without_calls=account.paying_users if supported else 0,
    )
    return rollup.model_dump(mode="json") | {
        "currency": account.currency,
        "source": "month_to_date",
        "final": False,
        "recompute_pending": False,
    }


def read_month(settings: Settings, catalog: Catalog, account_id: str, month_text: str) -> dict[str, Any]:
    """The read endpoint's answer: 422 for a malformed month, 404 for an unknown account."""
    month = parse_month(month_text)
    account = stores.accounts_store(settings).require(account_id)
    ledger = FairUseLedger(settings.ledger_table, aws.client("dynamodb"))
    return month_view(stores.calls_store(settings), ledger, account, month, catalog)
