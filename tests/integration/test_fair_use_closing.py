"""The director's review list is sent by the run's closing message (spec §3.3 "the customer-service director gets the
month's review list"): one per month of the run, queued after the rollups, which sends the list once every
account-month is rolled up and otherwise queues itself again a delay later, for a bounded number of rounds.

Through the real functions on the moto world: the schedule's invocation, the queue as the event source mapping
delivers it (``drain_queues``), and, where the order matters, the closing message delivered before the rollups.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from overage.domain.instants import Month
from overage.errors import StoreError
from overage.services import fair_use
from overage.services.fair_use import CLOSE_ROUNDS, CloseRunMessage, RunNotFinished
from overage.store.calls import CallsStore
from overage_local import dlq, runtime
from overage_local.template import LocalTemplate

from tests.integration.test_fair_use_concurrency import AS_OF, CapturingQueue, given_a_user_in_review, rollup_service
from tests.support import ROOT, World, call_body, deliver_closing_messages_first, fair_use_record, upsert_body

FEB_RUN = "2026-02-01T02:00:00Z"
RUN = "20260201T020000Z"
JANUARY = Month(2026, 1)
DIRECTOR = "customer-service-director@example.com"
# 61:40 and 66:40 of January calls: ceil((3,700 - 2,700) / 3,600) = ceil((4,000 - 2,700) / 3,600) = 1 h of training,
# 60.00 GBP + 20 % VAT = 72.00 GBP each
ALICE = ("acc_a / alice", "61.67 min, 1 call, 1 long; training 1 h = 72.00 GBP")
BOB = ("acc_b / bob", "66.67 min, 1 call, 1 long; training 1 h = 72.00 GBP")


def given_two_users_in_review_and_one_within(world: World) -> None:
    for account_id, user, seconds in (("acc_a", "alice", 3700), ("acc_b", "bob", 4000), ("acc_c", "carol", 600)):
        world.accepted(
            upsert_body(
                account_id,
                package="complete",
                currency="GBP",
                billing_cycle="monthly",
                paying_users=1,
                started_on="2025-06-01",
                customer_since="2025-06-01",
            )
        )
        world.accepted(call_body(account_id, f"{account_id}_1", "2026-01-14T10:00:00Z", seconds, user))


def to_director(world: World) -> list[Any]:
    return [e for e in world.emails() if e.destinations["ToAddresses"] == [DIRECTOR]]


def queue_url(world: World, logical_id: str) -> str:
    return str(world.sqs.get_queue_url(QueueName=world.template.physical_id(logical_id))["QueueUrl"])


def waiting(world: World, logical_id: str = "FairUseQueue") -> list[dict[str, Any]]:
    """The bodies of every message visible in the queue (received, then made visible again)."""
    url = queue_url(world, logical_id)
    received: list[dict[str, Any]] = []
    while got := world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += got
    for message in received:
        world.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return sorted((json.loads(m["Body"]) for m in received), key=lambda body: json.dumps(body, sort_keys=True))


def drain(world: World) -> None:
    runtime.drain_queues(world.template, world.endpoint_url)


def then_the_director_got_one_list_of_alice_and_bob(world: World) -> None:
    [listing] = to_director(world)
    assert listing.subject == "Fair-use review list, January 2026: 2 users in 2 accounts"
    for line in (*ALICE, *BOB):
        assert line in listing.body
    assert "carol" not in listing.body
    [event] = [e for e in world.bus_events() if e["detail-type"] == "fair_use.review_list"]
    assert [(r["account_id"], r["user_id"]) for r in event["detail"]["reviews"]] == [
        ("acc_a", "alice"),
        ("acc_b", "bob"),
    ]
    entries = CallsStore(world.template.physical_id("CallsTable"), world.ddb).director_entries(JANUARY)
    assert [(e["sk"], e["listed_in"]) for e in entries] == [
        ("REVIEW#acc_a#alice", event["detail"]["notice_id"]),
        ("REVIEW#acc_b#bob", event["detail"]["notice_id"]),
    ]
    # each account heard once, and every account-month was rolled up once
    for account_id in ("acc_a", "acc_b"):
        assert (
            len([e for e in world.emails() if e.destinations["ToAddresses"] == [f"billing@{account_id}.example"]]) == 1
        )
    for account_id, status in (("acc_a", "review"), ("acc_b", "review"), ("acc_c", "within")):
        record = fair_use_record(world, account_id, "2026-01")
        assert record is not None and (record["revision"], record["status"]) == (1, status)
    assert waiting(world) == []


def test_the_run_queues_one_closing_message_per_month_after_its_rollups(world: World) -> None:
    given_two_users_in_review_and_one_within(world)
    result = world.invoke("FairUseRollupFunction", {"as_of": FEB_RUN})
    assert (result["months"], result["accounts_dispatched"]) == (["2026-01"], 3)
    assert waiting(world) == [
        {"account_id": account_id, "as_of": "2026-02-01T02:00:00+00:00", "month": "2026-01", "run": RUN}
        for account_id in ("acc_a", "acc_b", "acc_c")
    ] + [{"as_of": "2026-02-01T02:00:00+00:00", "kind": "close_run", "month": "2026-01", "round": 0, "run": RUN}]
    assert to_director(world) == []  # the schedule's invocation sends no list: the closing message does
    drain(world)
    then_the_director_got_one_list_of_alice_and_bob(world)


def test_a_closing_message_delivered_before_the_rollups_queues_itself_again_and_the_list_goes_once(
    world: World,
) -> None:
    # Given the run dispatched, and SQS delivering its closing message before any rollup
    given_two_users_in_review_and_one_within(world)
    world.invoke("FairUseRollupFunction", {"as_of": FEB_RUN})
    answer = deliver_closing_messages_first(world)
    # Then it sent nothing and queued itself again (round 1), beside the three rollups still waiting
    assert answer == {"batchItemFailures": []}
    assert to_director(world) == [] and world.emails() == []
    assert [body.get("account_id", body.get("round")) for body in waiting(world)] == ["acc_a", "acc_b", "acc_c", 1]
    # When the queue is delivered
    drain(world)
    # Then the director got the list once, by the closing message that found every account-month rolled up
    then_the_director_got_one_list_of_alice_and_bob(world)


def test_the_schedule_run_twice_sends_the_list_once(world: World) -> None:
    # Given the schedule invoked twice before its queue is delivered (two rollup messages per account, two closers)
    given_two_users_in_review_and_one_within(world)
    first = world.invoke("FairUseRollupFunction", {"as_of": FEB_RUN})
    again = world.invoke("FairUseRollupFunction", {"as_of": FEB_RUN})
    assert (first["accounts_dispatched"], again["accounts_dispatched"]) == (3, 3)
    assert [body.get("round") for body in waiting(world)].count(0) == 2
    drain(world)
    then_the_director_got_one_list_of_alice_and_bob(world)
    # and the same run once more when all is done, then the next day's manual run: nothing new, nothing sent
    world.run("FairUseRollupFunction", {"as_of": FEB_RUN})
    world.run("FairUseRollupFunction", {"as_of": "2026-02-02T09:00:00Z"})
    then_the_director_got_one_list_of_alice_and_bob(world)


def test_a_rollup_that_keeps_failing_holds_the_list_back_until_it_is_redriven(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given the run of 1 February, whose rollup of acc_b keeps failing (a DynamoDB outage for that item, say)
    given_two_users_in_review_and_one_within(world)
    real = fair_use.FairUseRollup.roll_up_account

    def failing_for_acc_b(self: Any, account_id: str, *args: Any, **kwargs: Any) -> str:
        if account_id == "acc_b":
            raise StoreError("writing a fair-use rollup failed: InternalServerError")
        return real(self, account_id, *args, **kwargs)

    with mock.patch.object(fair_use.FairUseRollup, "roll_up_account", failing_for_acc_b):
        world.run("FairUseRollupFunction", {"as_of": FEB_RUN})
    # Then acc_a and acc_c are rolled up, acc_b is not, and the director got nothing yet
    assert fair_use_record(world, "acc_a", "2026-01") is not None
    assert fair_use_record(world, "acc_b", "2026-01") is None
    assert to_director(world) == []
    # the closing message looked CLOSE_ROUNDS times, then failed until SQS kept it in the DLQ with acc_b's rollup
    assert waiting(world) == []
    assert waiting(world, "FairUseDeadLetterQueue") == [
        {"account_id": "acc_b", "as_of": "2026-02-01T02:00:00+00:00", "month": "2026-01", "run": RUN},
        {
            "as_of": "2026-02-01T02:00:00+00:00",
            "kind": "close_run",
            "month": "2026-01",
            "round": CLOSE_ROUNDS - 1,
            "run": RUN,
        },
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors.count("fair-use run not finished after every round: the review list is held back") == 5  # receives
    # the metric FairUseReviewListHeldBackAlarm watches, once per receive of the last round
    assert capsys.readouterr().out.count('"FairUseReviewListHeldBack":[1.0]') == 5

    # When the cause is fixed and the dead-letter queue redriven (overage dlq redrive)
    report = dlq.QueueReport("FairUseDeadLetterQueue", "FairUseQueue")
    dlq.move_messages(
        world.sqs, queue_url(world, "FairUseDeadLetterQueue"), queue_url(world, "FairUseQueue"), report, dry_run=False
    )
    assert report.moved == 2
    drain(world)
    # Then the list goes once, with both users
    then_the_director_got_one_list_of_alice_and_bob(world)
    assert waiting(world, "FairUseDeadLetterQueue") == []


def test_the_closing_message_waits_the_configured_delay_between_looks_and_gives_up_after_the_last_round(
    world: World,
) -> None:
    # Given a run whose one rollup is not done yet (the service on the moto world, its queue captured)
    given_a_user_in_review(world)
    service = rollup_service(world, threading.Lock())
    queue = CapturingQueue()
    service.dispatch(queue, "queue-url", AS_OF, datetime.now(UTC), 300)
    closing = CloseRunMessage(JANUARY, RUN, AS_OF, 0)
    assert queue.entries[-1] == {"Id": "0", "MessageBody": closing.to_json(), "DelaySeconds": 300}
    # When its closing message looks: it queues round 1, 300 s later, and sends nothing
    assert service.close_run(closing, queue, "queue-url", datetime.now(UTC), 300) == "waiting"
    assert queue.entries[-1]["DelaySeconds"] == 300
    assert json.loads(queue.entries[-1]["MessageBody"])["round"] == 1
    # and at its last round it raises (SQS retries it, then the DLQ keeps it), queueing nothing more
    last = CloseRunMessage(JANUARY, RUN, AS_OF, CLOSE_ROUNDS - 1)
    queued = len(queue.entries)
    with pytest.raises(RunNotFinished, match=f"after {CLOSE_ROUNDS} rounds"):
        service.close_run(last, queue, "queue-url", datetime.now(UTC), 300)
    assert len(queue.entries) == queued
    assert world.emails() == []


def test_the_closing_delay_is_300_s_deployed_and_0_in_a_local_run() -> None:
    local = LocalTemplate.from_file(ROOT / "template.yaml")
    assert local.parameters["FairUseCloseDelaySeconds"]["Default"] == 300
    assert local.function_environment("FairUseRollupFunction")["FAIR_USE_CLOSE_DELAY_SECONDS"] == "0"
    overridden = LocalTemplate.from_file(ROOT / "template.yaml", parameter_overrides={"FairUseCloseDelaySeconds": 900})
    assert overridden.function_environment("FairUseRollupFunction")["FAIR_USE_CLOSE_DELAY_SECONDS"] == "900"
