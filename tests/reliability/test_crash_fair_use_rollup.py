"""Crash at every call of a fair-use rollup run (spec §1, §3.3): the k-th DynamoDB / SES / EventBridge / SQS call
fails, refused or applied with its reply lost; the run is retried as AWS retries it and the next run redelivers what a
dead sender left; the rollups, month markers, the director's list and the notices end as after a clean run, and no one
hears anything twice beyond the outbox's documented window. The second test delivers the run's closing message before
the rollups, so it queues itself again, and fails every single call of that run.

The fixture, through the real webhook and the run of 1 February: February calls of four accounts (a user in review
with a training offer, a user over the allowance, calls without telephone support, a legacy account), and a January
call that arrived after January was rolled up, so the run of 1 March recomputes January as well.
"""

from __future__ import annotations

import pytest
from overage_local import runtime

from tests.reliability.harness import SCHEDULE_ATTEMPTS, crash_at_every_call, quiet_functions
from tests.scenarios import DIRECTOR, given_february_calls_and_a_late_january_one
from tests.support import World, call_body, deliver_closing_messages_first, moto_world, upsert_body

AS_OF = "2026-03-01T02:00:00Z"
FEB_RUN = "2026-02-01T02:00:00Z"


@pytest.mark.slow
def test_a_fair_use_rollup_run_that_fails_at_any_call_ends_as_a_clean_run() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_february_calls_and_a_late_january_one(world)
        report = crash_at_every_call(world, "FairUseRollupFunction", AS_OF)

    # The clean run did what the spec says (so the faulted runs are compared with the right thing)
    rollups = {key: item for key, item in report.clean.items["LedgerTable"].items() if "FAIRUSE#" in key[1]}
    assert sorted(rollups) == [
        ("acc_legacy", "FAIRUSE#2026-02"),
        ("acc_noent", "FAIRUSE#2026-02"),
        ("acc_over", "FAIRUSE#2026-02"),
        ("acc_review", "FAIRUSE#2026-01"),
        ("acc_review", "FAIRUSE#2026-02"),
    ]
    assert '"status": "review"' in rollups[("acc_review", "FAIRUSE#2026-02")]  # 65 minutes > 60
    assert '"revision": "2"' in rollups[("acc_review", "FAIRUSE#2026-01")]  # recomputed with the late call
    assert '"status": "over_allowance"' in rollups[("acc_over", "FAIRUSE#2026-02")]  # 50 minutes > 45
    assert '"terms": "legacy_terms"' in rollups[("acc_legacy", "FAIRUSE#2026-02")]
    assert sorted((to, subject) for to, subject, _ in report.clean.emails) == [
        ("['billing@acc_over.example']", "Telephone support in February 2026: over the fair-use allowance"),
        ("['billing@acc_review.example']", "Telephone support in February 2026: use under review"),
        ("['billing@acc_review.example']", "Telephone support in January 2026: use under review"),
        (f"['{DIRECTOR}']", "Fair-use review list, February 2026: 2 users in 2 accounts"),
        (f"['{DIRECTOR}']", "Fair-use review list, January 2026: 1 user in 1 account"),
    ]
    review = next(body for _, subject, body in report.clean.emails if "February 2026: use under review" in subject)
    assert "72.00 GBP" in review  # the training offer: 1 hour at 60.00 GBP + 20 % VAT

    # And every kind of write was made to fail: refused, with its reply lost and, a transaction, cancelled
    # And whichever call failed, the run ended as the clean one did
    report.assert_every_fault_recovered(
        {
            "sqs.SendMessageBatch",
            "dynamodb.BatchWriteItem",
            "dynamodb.TransactWriteItems",
            "dynamodb.UpdateItem",
            "sesv2.SendEmail",
            "eventbridge.PutEvents",
        }
    )


def closing_messages_first(world: World, as_of: str) -> None:
    """The run of ``as_of`` (its invocation retried as AWS does), its closing messages delivered before the rollups
    (they find the month unfinished and queue themselves again), then the queue drained."""
    for _attempt in range(SCHEDULE_ATTEMPTS):
        try:
            world.invoke("FairUseRollupFunction", {"as_of": as_of})
            break
        except Exception:  # Lambda retries the invocation
            continue
    deliver_closing_messages_first(world)
    runtime.drain_queues(world.template, world.endpoint_url)


@pytest.mark.slow
def test_a_closing_message_that_waits_for_the_rollups_ends_as_a_clean_run_whichever_call_fails() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        # Given one complete GBP account, one paying user, 61:40 of January calls (review: over 60:00)
        world.accepted(upsert_body("acc_wait", package="complete", currency="GBP", paying_users=1))
        world.accepted(call_body("acc_wait", "wt_1", "2026-01-12T09:00:00Z", 3700))
        report = crash_at_every_call(
            world, "FairUseRollupFunction", FEB_RUN, every_call=True, run=lambda: closing_messages_first(world, FEB_RUN)
        )

    # The clean run: the closing message looked before the rollup and queued itself again, then sent the list
    assert [c.operation for c in report.calls if c.service == "sqs"] == ["SendMessageBatch"] * 2 + ["SendMessage"]
    assert sorted((to, subject) for to, subject, _ in report.clean.emails) == [
        ("['billing@acc_wait.example']", "Telephone support in January 2026: use under review"),
        (f"['{DIRECTOR}']", "Fair-use review list, January 2026: 1 user in 1 account"),
    ]
    [listing] = [body for to, _, body in report.clean.emails if DIRECTOR in to]
    # ceil((3,700 - 2,700) / 3,600) = 1 h of training at 60.00 GBP + 20 % VAT
    assert "acc_wait / u1" in listing and "61.67 min, 1 call, 1 long; training 1 h = 72.00 GBP" in listing
    entry = report.clean.items["CallsTable"][("DIRECTOR#2026-01", "REVIEW#acc_wait#u1")]
    assert '"listed_in": "ntc_fair_use.review_list_#fair-use-director_2026-01_20260201T020000Z_0"' in entry
    # And whichever call of that run failed (every one, in every mode), it ended as the clean run did
    report.assert_every_fault_recovered(
        {
            "sqs.SendMessageBatch",
            "sqs.SendMessage",
            "dynamodb.BatchWriteItem",
            "dynamodb.TransactWriteItems",
            "dynamodb.UpdateItem",
            "sesv2.SendEmail",
            "eventbridge.PutEvents",
        }
    )
