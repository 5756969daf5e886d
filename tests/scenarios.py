"""Shared worlds (Given ...) that more than one test module starts from: each builds its accounts through the real
webhook and scheduled functions, as the CRM and the scheduler would."""

from __future__ import annotations

from tests.builders import call_body, change_body, contacts_body, profiles_body, upsert_body
from tests.support import World, fair_use_run, grace_run

DIRECTOR = "customer-service-director@example.com"
MONTHLY_JAN_20 = {"billing_cycle": "monthly", "started_on": "2026-01-20", "customer_since": "2026-01-20"}
MONTHLY_FEB_10 = {"billing_cycle": "monthly", "started_on": "2026-02-10", "customer_since": "2026-02-10"}


def given_february_calls_and_a_late_january_one(world: World) -> None:
    send = world.accepted

    def account(account_id: str, **data: object) -> None:
        fields = {"billing_cycle": "monthly", "paying_users": 1, "started_on": "2025-06-01"} | data
        send(upsert_body(account_id, **({"customer_since": "2025-06-01"} | fields)))

    # complete, GBP, one paying user: 50 + 15 minutes in February (review: over 60)
    account("acc_review", package="complete", currency="GBP")
    send(call_body("acc_review", "rv_1", "2026-02-03T09:00:00Z", 3000))
    send(call_body("acc_review", "rv_2", "2026-02-10T09:00:00Z", 900))
    # standard with the telephone-support add-on: 50 minutes (over the 45-minute allowance, not in review)
    account("acc_over", telephone_support=True)
    send(call_body("acc_over", "ov_1", "2026-02-04T09:00:00Z", 3000))
    # standard without telephone support: the call is kept, not entitled
    account("acc_noent")
    send(call_body("acc_noent", "ne_1", "2026-02-05T09:00:00Z", 600))
    # a customer since 2010 (legacy terms): 70 minutes, rolled up but no review notice
    account("acc_legacy", customer_since="2010-01-01")
    send(call_body("acc_legacy", "lg_1", "2026-02-06T09:00:00Z", 4200))
    # January: 20 minutes rolled up on 1 February, then a 45-minute January call arrives late: 65 minutes, review
    send(call_body("acc_review", "rv_jan_1", "2026-01-20T09:00:00Z", 1200))
    fair_use_run(world, "2026-02-01T02:00:00Z")
    send(call_body("acc_review", "rv_jan_2", "2026-01-27T09:00:00Z", 2700))


def given_four_episodes_due_on_5_march(world: World) -> None:
    send = world.accepted

    # 215 profiles (limit 200) since 25 January: fee invoiced 8 February (due the 22nd), reminded on the 19th, unpaid
    send(upsert_body("acc_overdue", **MONTHLY_JAN_20))
    send(profiles_body("acc_overdue", "2026-01-25T00:00:00Z", 215))
    # 220 since 5 February: fee invoiced 19 February, due 5 March; the reminder is due on the 2nd
    send(upsert_body("acc_reminder", **MONTHLY_JAN_20))
    send(profiles_body("acc_reminder", "2026-02-05T00:00:00Z", 220))
    # 230 since 15 February: grace ends 1 March
    send(upsert_body("acc_fee", **MONTHLY_JAN_20))
    send(profiles_body("acc_fee", "2026-02-15T00:00:00Z", 230))
    # complete (limit 500), GBP: 520 since 10 February, grace ended 24 February
    send(upsert_body("acc_gbp", package="complete", currency="GBP", **MONTHLY_JAN_20))
    send(profiles_body("acc_gbp", "2026-02-10T00:00:00Z", 520))
    grace_run(world, "2026-02-08T00:05:00Z")
    grace_run(world, "2026-02-19T00:05:00Z")


def given_five_billing_dates_on_10_march(world: World) -> None:
    send = world.accepted

    # 130 active contacts on a t50 subscription: the t150 supplement (spec §3.1: 34.00 − 24.00)
    send(upsert_body("acc_overrun", **MONTHLY_FEB_10))
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
    send(upsert_body("acc_downgrade", currency="GBP", contact_tier="t250", **MONTHLY_FEB_10))
    send(change_body("acc_downgrade", "2026-03-01T10:00:00Z", "evt_down", contact_tier="t100"))
    # 230 profiles (limit 200) since 5 March, and a profile pack at period end: the higher limit ends the episode
    send(upsert_body("acc_pack", **MONTHLY_FEB_10))
    send(profiles_body("acc_pack", "2026-03-05T00:00:00Z", 230))
    send(change_body("acc_pack", "2026-03-06T10:00:00Z", "evt_pack", profile_packs=1, effective="period_end"))
    # 230 profiles since 11 February: the fee was invoiced at the grace end, each billing date adds the excess
    send(upsert_body("acc_excess", **MONTHLY_FEB_10))
    send(profiles_body("acc_excess", "2026-02-11T00:00:00Z", 230))
    grace_run(world, "2026-02-25T00:05:00Z")
