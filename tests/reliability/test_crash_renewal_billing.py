"""Crash at every call of a renewal run (spec §1, §3.5): the k-th DynamoDB / SES / EventBridge / SQS call fails,
refused or applied with its reply lost; the run is retried as AWS retries it and the next run redelivers what a dead
sender left; the tables, invoices and notices end as after a clean run, and no customer hears anything twice beyond
the outbox's documented window (an email SES accepted whose record failed).

The fixture, through the real webhook: five monthly billing dates on 10 March 2026, each a different path of the run
(an overrun supplement, an annual anniversary, a pending downgrade, a pending profile pack that resolves an excess
episode after the billing write, and the monthly excess-profile line of an episode past its grace).
"""

from __future__ import annotations

import pytest

from tests.integration.test_plan_changes import change_body
from tests.reliability.harness import crash_at_every_call, quiet_functions
from tests.support import World, contacts_body, grace_run, moto_world, profiles_body, upsert_body

AS_OF = "2026-03-10T00:15:00Z"
MONTHLY = {"billing_cycle": "monthly", "started_on": "2026-02-10", "customer_since": "2026-02-10"}


def given_five_billing_dates_on_10_march(world: World) -> None:
    send = world.accepted

    # 130 active contacts on a t50 subscription: the t150 supplement (spec §3.1: 34.00 − 24.00)
    send(upsert_body("acc_overrun", **MONTHLY))
    send(contacts_body("acc_overrun", "2026-03-01T00:00:00Z", 130))
    # an annual subscription's yearly anniversary, within its tier
    send(
        upsert_body(
            "acc_annual",
            billing_cycle="annual",
            started_on="2025-03-10",
            customer_since="2025-03-10",
            occurred_at="2026-03-01T08:00:00Z",
        )
    )
    send(contacts_body("acc_annual", "2026-03-01T00:00:00Z", 48))
    # a downgrade t250 → t100 asked for at period end (GBP)
    send(upsert_body("acc_downgrade", currency="GBP", contact_tier="t250", **MONTHLY))
    send(change_body("acc_downgrade", "2026-03-01T10:00:00Z", "evt_down", contact_tier="t100"))
    # 230 profiles (limit 200) since 5 March, and a profile pack at period end: the higher limit ends the episode
    send(upsert_body("acc_pack", **MONTHLY))
    send(profiles_body("acc_pack", "2026-03-05T00:00:00Z", 230))
    send(change_body("acc_pack", "2026-03-06T10:00:00Z", "evt_pack", profile_packs=1, effective="period_end"))
    # 230 profiles since 11 February: the fee was invoiced at the grace end, each billing date adds the excess
    send(upsert_body("acc_excess", **MONTHLY))
    send(profiles_body("acc_excess", "2026-02-11T00:00:00Z", 230))
    grace_run(world, "2026-02-25T00:05:00Z")


@pytest.mark.slow
def test_a_renewal_run_that_fails_at_any_call_ends_as_a_clean_run() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_five_billing_dates_on_10_march(world)
        report = crash_at_every_call(world, "RenewalBillingFunction", AS_OF)

    # The clean run did what the spec says (so the faulted runs are compared with the right thing)
    invoices = {
        key[0]: item
        for key, item in report.clean.items["LedgerTable"].items()
        if key[1].startswith("INVOICE#inv_") and "renewal_2026-03-10" in key[1]
    }
    assert sorted(invoices) == ["acc_annual", "acc_downgrade", "acc_excess", "acc_overrun", "acc_pack"]
    assert '"gross": "34.00"' in invoices["acc_overrun"]  # 24.00 + the 10.00 supplement
    assert '"gross": "288.00"' in invoices["acc_annual"]  # 12 × 24.00
    assert '"gross": "28.80"' in invoices["acc_downgrade"]  # t100: 24.00 GBP + 20 % VAT
    assert '"gross": "34.00"' in invoices["acc_pack"]  # 24.00 + one pack at 10.00
    assert '"gross": "54.00"' in invoices["acc_excess"]  # 24.00 + 30 profiles over × 1.00
    episodes = {key[0]: item for key, item in report.clean.items["LedgerTable"].items() if key[1].startswith("EPIS")}
    assert '"outcome": "resolved_by_limit_increase"' in episodes["acc_pack"]
    subjects = sorted(subject for _, subject, _ in report.clean.emails)
    assert subjects == [
        "Back within your profile limit: no fee",
        "Your invoice OV-REN-20260310-acc_annual: 288.00 USD",
        "Your invoice OV-REN-20260310-acc_downgrade: 28.80 GBP",
        "Your invoice OV-REN-20260310-acc_excess: 54.00 USD",
        "Your invoice OV-REN-20260310-acc_overrun: 34.00 USD",
        "Your invoice OV-REN-20260310-acc_pack: 34.00 USD",
        "Your plan changed: contact tier t250 → t100 (downgrade, effective 2026-03-10)",
        "Your plan changed: profile packs 0 → 1 (upgrade, effective 2026-03-10)",
    ]

    # And every kind of write was made to fail: refused, with its reply lost and, a transaction, cancelled
    # And whichever call failed, the run ended as the clean one did
    report.assert_every_fault_recovered(
        {
            "sqs.SendMessageBatch",
            "dynamodb.TransactWriteItems",
            "sesv2.SendEmail",
            "eventbridge.PutEvents",
            "dynamodb.UpdateItem",
        }
    )
