"""Crash at every call of a fair-use rollup run (spec §1, §3.3): the k-th DynamoDB / SES / EventBridge / SQS call
fails, refused or applied with its reply lost; the run is retried as AWS retries it and the next run redelivers what a
dead sender left; the rollups, month markers, the director's list and the notices end as after a clean run, and no one
hears anything twice beyond the outbox's documented window.

The fixture, through the real webhook and the run of 1 February: February calls of four accounts (a user in review
with a training offer, a user over the allowance, calls without telephone support, a legacy account), and a January
call that arrived after January was rolled up, so the run of 1 March recomputes January as well.
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import crash_at_every_call, quiet_functions
from tests.scenarios import DIRECTOR, given_february_calls_and_a_late_january_one
from tests.support import moto_world

AS_OF = "2026-03-01T02:00:00Z"


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
            "dynamodb.PutItem",
            "dynamodb.UpdateItem",
            "sesv2.SendEmail",
            "eventbridge.PutEvents",
        }
    )
