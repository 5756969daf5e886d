"""Crash at every call of a feedback-link click (spec §3.9, GET /feedback/{token} on CrmWebhookFunction): the k-th
DynamoDB / EventBridge call of answering "I need help" fails (refused, or applied with its reply lost, or the
transaction cancelled by a conflict). The customer sees an error page and clicks again (twice at most), then the
same click is replayed once more, and the next scheduled run's outbox redelivers what a dead request left. Whichever
call failed, it ends as a clean click does: the answer recorded once on the notice, one ``notice.help_requested``
on the bus, no email.

The fixture: acc_1 (limit 200) counted 205 profiles, so the webhook emailed it ``profiles.exceeded``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from overage.domain.feedback import sign

from tests.builders import profiles_body, upsert_body
from tests.reliability.harness import Scene, compare, fault_plan, quiet_functions, redeliver_after_lease
from tests.reliability.test_crash_email_feedback import follow_the_live_tables
from tests.support import World, moto_world, rest_event

FUNCTION = "CrmWebhookFunction"
CLICKS = 3  # the click, and the customer's two more after an error page
CLICKED_AT = datetime(2026, 2, 6, 9, 30, tzinfo=UTC)  # the wall clock of every click: runs compare item by item
KEY = "local-feedback-secret"


def click(world: World, token: str) -> int:
    result = world.invoke(FUNCTION, rest_event("GET", f"/feedback/{token}"))
    return int(result["statusCode"])


@pytest.mark.slow
def test_a_help_click_that_fails_at_any_call_then_is_clicked_again_and_replayed_ends_as_a_clean_click() -> None:
    with (
        moto_world({"LogLevel": "ERROR"}) as world,
        quiet_functions(),
        mock.patch("overage.wiring.clock", return_value=CLICKED_AT),
    ):
        world.accepted(upsert_body("acc_1"))
        world.accepted(profiles_body("acc_1", "2026-02-05T10:00:00Z", 205))
        [notice] = world.notices("acc_1")
        token = sign(KEY, "acc_1", notice["notice_id"], "help")
        scene = Scene(world)

        def job() -> None:
            for _attempt in range(CLICKS):
                try:
                    if click(world, token) == 200:
                        return
                except Exception:  # the function failed: API Gateway answered 502, the customer clicks again
                    continue
            raise AssertionError(f"the click failed {CLICKS} times in a row")

        def then() -> None:
            assert click(world, token) == 200  # the same link once more: "already recorded", nothing changes
            redeliver_after_lease(world, "GraceExpiryFunction")  # the next scheduled run's outbox redelivery
            follow_the_live_tables(scene, world)

        clean, calls = scene.run(job, then=then)
        problems: list[str] = []
        plan = fault_plan(calls, every_call=True)
        for fault in plan:
            outcome, _ = scene.run(job, fault.call.n, fault.mode, then=then)
            if scene.fired is None or scene.fired.kind != fault.call.kind:
                problems.append(f"{fault}: the run took another path (the fault hit {scene.fired})")
                continue
            problems += compare(clean, outcome, calls, fault)

    ledger = clean.items["LedgerTable"]
    answered = ledger[("acc_1", "NOTICE#" + notice["notice_id"])]
    assert '"answer": "help"' in answered and '"answered_at": "2026-02-06T09:30:00.000000Z"' in answered
    told = [key for key in ledger if key[1].startswith("NOTICE#ntc_notice.help_requested_acc_1_")]
    assert told == [("acc_1", "NOTICE#ntc_notice.help_requested_acc_1_" + notice["notice_id"])]
    assert sum(clean.emails.values()) == 0 and sum(clean.bus.values()) == 1  # notice.help_requested, once
    writes = {call.kind.split("(")[0] for call in calls if call.write}
    assert writes >= {"dynamodb.TransactWriteItems", "dynamodb.UpdateItem", "eventbridge.PutEvents"}, writes
    assert len(plan) >= 8, [str(f) for f in plan]  # every call of the click, each way it can fail
    assert problems == [], "\n".join(problems)
