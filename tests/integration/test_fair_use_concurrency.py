"""Two fair-use rollups of the same account-month at once (spec §1, §3.3): one record and one notice each; two
closing messages of the same run at once: one review list.

The rollup services are built directly on the moto world so two of them can run side by side. moto applies a request
without a lock, so each client here takes one shared lock per request: every request is atomic, as DynamoDB makes a
conditional write or a transaction; what runs between requests interleaves freely.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import boto3
from overage.domain.catalog import default_catalog
from overage.domain.instants import Month, parse_instant
from overage.notices.outbox import NoticeOutbox
from overage.services.fair_use import CloseRunMessage, FairUseRollup, RollupMessage, parse_message
from overage.store.accounts import AccountsStore
from overage.store.calls import CallsStore
from overage.store.fair_use_ledger import FairUseLedger

from tests.support import REGION, World, call_body, fair_use_record, upsert_body

DIRECTOR = "customer-service-director@example.com"
JANUARY = Month(2026, 1)
AS_OF = parse_instant("2026-02-01T02:00:00Z")


class Atomic:
    """A boto3 client whose every request holds ``lock``: one request at a time, as each is atomic in AWS."""

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client = client
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


class CapturingQueue:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    @property
    def bodies(self) -> list[str]:
        return [entry["MessageBody"] for entry in self.entries]

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries += Entries
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}

    def send_message(self, QueueUrl: str, MessageBody: str, **attributes: Any) -> dict[str, Any]:
        self.entries.append({"Id": str(len(self.entries)), "MessageBody": MessageBody, **attributes})
        return {"MessageId": str(len(self.entries))}


def rollup_service(
    world: World,
    lock: threading.Lock,
    cls: type[FairUseRollup] = FairUseRollup,
    calls_cls: type[CallsStore] = CallsStore,
) -> FairUseRollup:
    ddb = Atomic(boto3.client("dynamodb", region_name=REGION), lock)
    outbox = NoticeOutbox(
        ledger_table=world.ledger_table,
        dynamodb=ddb,
        ses=Atomic(boto3.client("sesv2", region_name=REGION), lock),
        events=Atomic(boto3.client("events", region_name=REGION), lock),
        sender=str(world.template.parameter_value("SenderEmail")),
        bus_name=world.template.physical_id("OverageBus"),
    )
    return cls(
        calls=calls_cls(world.template.physical_id("CallsTable"), ddb),
        ledger=FairUseLedger(world.ledger_table, ddb),
        accounts=AccountsStore(world.accounts_table, ddb),
        outbox=outbox,
        catalog=default_catalog(),
        director_email=DIRECTOR,
    )


def given_a_user_in_review(world: World) -> None:
    upsert = upsert_body(
        "acc_race",
        package="complete",
        currency="GBP",
        paying_users=1,
        started_on="2025-06-01",
        customer_since="2025-06-01",
    )
    assert world.webhook(upsert)[0] == 202
    assert world.webhook(call_body("acc_race", "race_1", "2026-01-14T10:00:00Z", 3000))[0] == 202
    assert world.webhook(call_body("acc_race", "race_2", "2026-01-21T10:00:00Z", 900))[0] == 202


def then_one_record_and_one_notice_each(world: World) -> None:
    records = world.ledger("acc_race", "FAIRUSE#")
    assert len(records) == 1
    assert (records[0]["revision"], records[0]["status"], records[0]["totals"]["minutes"]) == (1, "review", "65.00")
    [notice] = world.notices("acc_race")
    assert (notice["notice_id"], notice["status"]) == ("ntc_fair_use.review_acc_race_2026-01", "sent")
    assert [e.destinations["ToAddresses"] for e in world.emails()] == [["billing@acc_race.example"], [DIRECTOR]]
    assert sorted(e["detail-type"] for e in world.bus_events()) == ["fair_use.review", "fair_use.review_list"]


def test_the_slower_of_two_rollups_that_computed_the_same_month_writes_nothing(world: World) -> None:
    # Given two runs that both computed January before either wrote it (the worst interleaving, step by step)
    given_a_user_in_review(world)
    lock = threading.Lock()
    first, second = rollup_service(world, lock), rollup_service(world, lock)
    now = datetime.now(UTC)
    plan_a = first.prepare("acc_race", JANUARY, AS_OF)
    plan_b = second.prepare("acc_race", JANUARY, AS_OF)
    assert plan_a is not None and plan_b is not None
    assert plan_a.notice == plan_b.notice  # the same notice id: derived from (account, month, status)
    # When both write
    assert first.commit(plan_a, now) is True
    assert second.commit(plan_b, now) is False
    # Then the loser, trying again, finds the month up to date
    assert second.roll_up_account("acc_race", JANUARY, AS_OF, now) == "up_to_date"
    first.send_review_list(JANUARY, "r1", AS_OF, now)
    second.send_review_list(JANUARY, "r1", AS_OF, now)
    then_one_record_and_one_notice_each(world)


def test_two_concurrent_rollup_threads_write_one_record_and_send_one_notice_and_one_review_list(world: World) -> None:
    given_a_user_in_review(world)
    lock = threading.Lock()
    both_prepared = threading.Barrier(2, timeout=20)
    waited = threading.local()

    class MeetBeforeWriting(FairUseRollup):
        def commit(self, plan: Any, now: datetime) -> bool:
            if not getattr(waited, "done", False):  # the first write of each thread waits for the other's plan
                waited.done = True
                both_prepared.wait()
            return super().commit(plan, now)

    # Given one run's dispatch, its message delivered twice at once (SQS delivers at least once)
    queue = CapturingQueue()
    dispatched = rollup_service(world, lock).dispatch(queue, "queue-url", AS_OF, datetime.now(UTC), 300)
    assert dispatched["accounts_dispatched"] == 1
    body, closing_body = queue.bodies  # the account-month, then January's closing message, 300 s later
    assert "DelaySeconds" not in queue.entries[0] and queue.entries[1]["DelaySeconds"] == 300
    message = RollupMessage.from_json(body)
    closing = parse_message(closing_body)
    assert closing == CloseRunMessage(JANUARY, "20260201T020000Z", AS_OF, 0)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            outcomes.append(rollup_service(world, lock, MeetBeforeWriting).process(message, datetime.now(UTC)))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["rolled_up", "up_to_date"]
    # and the run's closing message finds January rolled up: the director's list goes
    assert rollup_service(world, lock).close_run(closing, queue, "queue-url", datetime.now(UTC)) == "closed"
    then_one_record_and_one_notice_each(world)
    assert fair_use_record(world, "acc_race", "2026-01")["notices"] == [  # type: ignore[index]
        "ntc_fair_use.review_acc_race_2026-01"
    ]


def test_a_call_that_arrives_while_the_month_is_being_rolled_up_is_not_lost(world: World) -> None:
    # Given a rollup that computed January from two calls
    given_a_user_in_review(world)
    service = rollup_service(world, threading.Lock())
    plan = service.prepare("acc_race", JANUARY, AS_OF)
    assert plan is not None and plan.rollup.totals.calls == 2
    # When a third January call is recorded before that rollup writes
    assert world.webhook(call_body("acc_race", "race_3", "2026-01-28T10:00:00Z", 600))[0] == 202
    # Then the write is refused, and the rollup done again counts the three calls
    assert service.commit(plan, datetime.now(UTC)) is False
    assert service.roll_up_account("acc_race", JANUARY, AS_OF, datetime.now(UTC)) == "rolled_up"
    record = fair_use_record(world, "acc_race", "2026-01")
    assert record is not None
    assert (record["revision"], record["totals"]["calls"], record["totals"]["minutes"]) == (1, 3, "75.00")
    assert len(world.notices("acc_race")) == 1


def test_two_closing_messages_of_a_run_at_once_send_one_review_list(world: World) -> None:
    # Given January rolled up by its run, whose closing message is delivered twice at once (at least once delivery)
    given_a_user_in_review(world)
    lock = threading.Lock()
    queue = CapturingQueue()
    service = rollup_service(world, lock)
    service.dispatch(queue, "queue-url", AS_OF, datetime.now(UTC))
    rollup, closing = (parse_message(body) for body in queue.bodies)
    assert isinstance(rollup, RollupMessage) and isinstance(closing, CloseRunMessage)
    assert service.process(rollup, datetime.now(UTC)) == "rolled_up"
    both_read = threading.Barrier(2, timeout=20)
    waited = threading.local()

    class ReadTogether(CallsStore):
        def director_entries(self, month: Month) -> list[dict[str, Any]]:
            entries = super().director_entries(month)
            if not getattr(waited, "done", False):  # each closer reads the unlisted entries before either lists them
                waited.done = True
                both_read.wait()
            return entries

    outcomes: list[str] = []
    errors: list[BaseException] = []

    def closer() -> None:
        try:
            closing_service = rollup_service(world, lock, calls_cls=ReadTogether)
            outcomes.append(closing_service.close_run(closing, queue, "queue-url", datetime.now(UTC)))
        except BaseException as error:  # surfaced below
            errors.append(error)

    # When both close the run at once
    threads = [threading.Thread(target=closer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then both closed it, and the director got one list with the user in review (65:00 = 3,000 s + 900 s; training
    # ceil((3,900 - 2,700) / 3,600) = 1 h = 60.00 GBP + 20 % VAT = 72.00 GBP)
    assert errors == []
    assert outcomes == ["closed", "closed"]
    assert len(queue.entries) == 2  # neither queued itself again
    [listing] = [e for e in world.emails() if e.destinations["ToAddresses"] == [DIRECTOR]]
    assert listing.subject == "Fair-use review list, January 2026: 1 user in 1 account"
    assert "acc_race / u1" in listing.body
    assert "65.00 min, 2 calls, 1 long; training 1 h = 72.00 GBP" in listing.body
    [event] = [e for e in world.bus_events() if e["detail-type"] == "fair_use.review_list"]
    assert [(r["account_id"], r["user_id"]) for r in event["detail"]["reviews"]] == [("acc_race", "u1")]
    [entry] = CallsStore(world.template.physical_id("CallsTable"), world.ddb).director_entries(JANUARY)
    assert entry["sk"] == "REVIEW#acc_race#u1" and entry["listed_in"] == event["detail"]["notice_id"]
