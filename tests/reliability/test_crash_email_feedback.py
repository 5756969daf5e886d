"""Crash at every call of EmailFeedbackFunction (spec §3.9), in the spirit of the scheduled functions' harness: the
k-th DynamoDB / EventBridge call of handling one SES event fails (refused, or applied with its reply lost, or a
transaction cancelled by a conflict); the invocation is retried as Lambda retries an asynchronous SNS invocation, SNS
then delivers the same message once more (it may), and the next scheduled run redelivers what a dead sender left.
Whichever call failed, the account's suppression, the notices and the bus end as after a clean run: one
``account.email_undeliverable``, no email.

The fixture: acc_1 (limit 200) counted 205 profiles, so the webhook emailed it ``profiles.exceeded``; SES then says
the address bounced for good.
"""

from __future__ import annotations

import pytest

from tests.builders import keys, profiles_body, ses_event, sns_event, upsert_body
from tests.reliability.harness import (
    TABLES,
    Scene,
    compare,
    fault_plan,
    quiet_functions,
    redeliver_after_lease,
)
from tests.support import REGION, World, moto_world

FUNCTION = "EmailFeedbackFunction"
ASYNC_ATTEMPTS = 3  # the invocation and Lambda's two retries (EventInvokeConfig MaximumRetryAttempts: 2)


def follow_the_live_tables(scene: Scene, world: World) -> None:
    """moto answers a cancelled transaction by putting back copies of the tables it touched (new objects), so the
    scene's handles on the tables must be taken again after any run that may have cancelled one (a replay does)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    scene.tables.tables = {logical: backend.tables[world.template.physical_id(logical)] for logical in TABLES}


@pytest.mark.slow
@pytest.mark.parametrize("event_type", ["Bounce", "Delivery"])
def test_ses_feedback_that_fails_at_any_call_then_is_retried_and_replayed_ends_as_a_clean_run(event_type: str) -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        world.accepted(upsert_body("acc_1"))
        world.accepted(profiles_body("acc_1", "2026-02-05T10:00:00Z", 205))
        [notice] = world.notices("acc_1")
        event = sns_event(ses_event(event_type, notice["ses_message_id"], notice["to"], notice=keys(notice)))
        scene = Scene(world)

        def job() -> None:
            for _attempt in range(ASYNC_ATTEMPTS):
                try:
                    world.invoke(FUNCTION, event)
                except Exception:  # the invocation failed: Lambda retries it
                    continue
                return
            raise AssertionError(f"{FUNCTION} failed {ASYNC_ATTEMPTS} times in a row")

        def then() -> None:
            world.invoke(FUNCTION, event)  # SNS delivers at least once: the same message again
            redeliver_after_lease(world, "GraceExpiryFunction")  # the next scheduled run's outbox redelivery
            follow_the_live_tables(scene, world)

        clean, calls = scene.run(job, then=then)
        plan = fault_plan(calls, every_call=True)
        problems: list[str] = []
        for fault in plan:
            outcome, _ = scene.run(job, fault.call.n, fault.mode, then=then)
            if scene.fired is None or scene.fired.kind != fault.call.kind:
                problems.append(f"{fault}: the run took another path (the fault hit {scene.fired})")
                continue
            problems += compare(clean, outcome, calls, fault)

    # the clean run did what the spec says
    accounts, ledger = clean.items["AccountsTable"], clean.items["LedgerTable"]
    notices = {
        kind: item
        for key, item in ledger.items()
        for kind in ("profiles.exceeded", "account.email_undeliverable")
        if key[1].startswith(f"NOTICE#ntc_{kind}_")
    }
    assert sum(clean.emails.values()) == 0  # feedback never emails anyone
    if event_type == "Bounce":
        assert '"address": "billing@acc_1.example"' in accounts[("acc_1", "ACCOUNT")]
        assert '"delivery": "bounced"' in notices["profiles.exceeded"]
        assert '"delivery": "suppressed"' in notices["account.email_undeliverable"]
        assert [kind for kind in clean.bus] and sum(clean.bus.values()) == 1  # account.email_undeliverable, once
    else:
        assert "email_suppression" not in accounts[("acc_1", "ACCOUNT")]
        assert '"delivery": "delivered"' in notices["profiles.exceeded"]
        assert sum(clean.bus.values()) == 0
    # every write kind was made to fail, and whichever call failed, it ended as the clean run did
    writes = {call.kind.split("(")[0] for call in calls if call.write}
    expected = {"dynamodb.UpdateItem"} | (
        {"dynamodb.TransactWriteItems", "eventbridge.PutEvents"} if event_type == "Bounce" else set()
    )
    assert writes >= expected, writes
    assert problems == [], "\n".join(problems)
