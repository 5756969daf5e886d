"""Shared worlds (Given ...) that more than one test module starts from: each builds its accounts through the real
webhook and scheduled functions, as the CRM and the scheduler would."""

from __future__ import annotations

from typing import Any

from tests.builders import call_body, change_body, contacts_body, payment_body, profiles_body, upsert_body
from tests.support import World, episodes, fair_use_run, grace_run

DIRECTOR = "customer-service-director@example.com"
FEBRUARY_RUN = {"as_of": "2026-03-01T04:00:00Z"}  # the report of February 2026
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
    # t250 -> t100 at once on 20 February (GBP), 18 of the 28 days of 10 Feb-10 Mar left: a credit note of
    # (24 - 36) x 18 / 28 = -7.71 net, -1.54 VAT, -9.25 gross; nothing is owed, so 9.25 of credit waits for 10 March
    send(upsert_body("acc_credit", currency="GBP", contact_tier="t250", **MONTHLY_FEB_10))
    send(change_body("acc_credit", "2026-02-20T10:00:00Z", "evt_credit", contact_tier="t100", effective="immediate"))


# ---------------------------------------------------------------- a month of each policy (the monthly report)
FATES = (
    "recorded",
    "emailed",
    "delivered",
    "bounced",
    "complained",
    "suppressed",
    "failed",
    "not_yet_sent",
    "answered_clear",
    "asked_for_help",
)
EXCESS_PROFILE_NOTICES = ("profiles.exceeded", "invoice.issued", "invoice.payment_reminder", "account.restricted")


def fate(recorded: int, **figures: int) -> dict[str, int]:
    """What became of ``recorded`` notices of one kind: every figure 0 but those given."""
    return {name: 0 for name in FATES} | {"recorded": recorded} | figures


def emailed(recorded: int, **figures: int) -> dict[str, int]:
    """``recorded`` notices of one kind, all emailed (SES accepted each), with the other figures given."""
    return fate(recorded, emailed=recorded, **figures)


def communication(
    by_kind: dict[str, dict[str, int]] | None = None,
    effect: dict[str, tuple[int, int, int, str | None]] | None = None,
) -> dict[str, Any]:
    """summary.json's communication block: per kind as given, their total, and per excess-profile notice kind
    (episodes notified, resolved after, resolved in grace after, share in %)."""
    by_kind = dict(sorted((by_kind or {}).items()))
    total = {name: sum(figures[name] for figures in by_kind.values()) for name in FATES}
    effects = {}
    for kind in EXCESS_PROFILE_NOTICES:
        episodes, after, in_grace, share = (effect or {}).get(kind, (0, 0, 0, None))
        effects[kind] = {
            "episodes": episodes,
            "resolved_after": after,
            "resolved_in_grace_after": in_grace,
            "share_resolved_after_percent": share,
        }
    return {"total": total, "by_kind": by_kind, "excess_profile_notices": effects}


SETTLEMENT_MONEY = (
    "payments",
    "credit_granted",
    "credit_from_overpayments",
    "credit_from_voids",
    "credit_applied",
    "credit_refunded",
)
ADJUSTMENTS = ("invoices_voided", "fees_waived", "goodwill_credits", "graces_extended", "refunds")


def settlement(overdue: dict[str, int] | None = None) -> dict[str, Any]:
    """summary.json's settlement block of a month without payments, credit or adjustments (spec §3.7), with the
    invoices gone overdue by kind."""
    return {
        "money": {figure: {"count": 0, "by_currency": {}} for figure in SETTLEMENT_MONEY},
        "adjustments": dict.fromkeys(ADJUSTMENTS, 0),
        "overdue_invoices": {"total": sum((overdue or {}).values()), "by_kind": dict(overdue or {})},
    }


def quiet_month(month: str, start: str, end: str) -> dict[str, Any]:
    """The summary of a month in which nothing happened."""
    nothing: dict[str, Any] = {"count": 0, "by_currency": {}}
    return {
        "report": "overage monthly policy report",
        "format": 1,
        "month": month,
        "period": {"start": start, "end": end},
        "excess_profiles": {
            "episodes_opened": 0,
            "resolved_in_grace": 0,
            "resolved_in_grace_by": {"reduction": 0, "profile_packs": 0, "upgrade": 0},
            "median_days_to_resolution": None,
            "excess_ended": {"after_exceeded_notice": 0, "after_fee": 0},
            "share_after_exceeded_notice_percent": None,
            "share_after_fee_percent": None,
            "fees_invoiced": nothing,
            "fees_paid": nothing,
            "fees_overdue": nothing,
            "accounts_restricted": 0,
            "monthly_excess_lines": nothing,
        },
        "contact_overruns": {
            "invoices": 0,
            "accounts": 0,
            "supplements": nothing,
            "accounts_in_overrun_3_plus_billing_dates": 0,
        },
        "fair_use": {
            "accounts": 0,
            "by_terms": {"fair_use": 0, "legacy_terms": 0, "not_entitled": 0},
            "by_status": {"within": 0, "over_allowance": 0, "review": 0},
            "accounts_over_pooled_allowance": 0,
            "calls": 0,
            "minutes": "0.00",
            "long_calls": 0,
            "users_over_allowance": 0,
            "users_in_review": 0,
            "training_offered": {"users": 0, "hours": 0, "by_currency": {}},
            "not_entitled_calls": 0,
        },
        "plan_changes": {"requested": 0, "by_kind": {}},
        "invoices": {"count": 0, "by_kind": {}},
        "notices": {"total": 0, "by_kind": {}},
        "communication": communication(),
        "settlement": settlement(),
    }


def february() -> dict[str, Any]:
    return quiet_month("2026-02", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")


def given_a_month_of_excess_profiles(world: World) -> dict[str, str]:
    """Five standard accounts (limit 200), annual (no renewal invoice unless something is added), started 10 Jan.

    - acc_reduce (USD): 205 profiles on 2 Feb 10:00 → back to 195 on 5 Feb 10:00: resolved by reduction, 3.0 days;
    - acc_packs (GBP): 230 on 3 Feb 00:00 → one profile pack on 4 Feb 12:00 (limit 250): by packs, 1.5 days;
    - acc_upgrade (USD): 260 on 6 Feb 00:00 → upgrade to complete (limit 500) on 8 Feb 00:00: by upgrade, 2.0 days;
    - acc_fee (GBP): 210 on 20 Jan → grace ends 3 Feb: fee (210 − 200) × 0.80 = 8.00 + 1.60 VAT = 9.60 GBP, due
      17 Feb, reminded 14 Feb, overdue and restricted 18 Feb; on 10 Feb its monthly excess line 8.00 GBP; back to 190
      on 20 Feb (the excess ended after the fee);
    - acc_paid (USD): 205 on 15 Jan → grace ends 29 Jan: fee 5.00 USD; paid 5 Feb; still 205 on 10 Feb: a monthly
      excess line of 5.00 USD.
    """
    world.accepted(upsert_body("acc_reduce", currency="USD"))
    world.accepted(upsert_body("acc_packs", currency="GBP"))
    world.accepted(upsert_body("acc_upgrade", currency="USD"))
    world.accepted(upsert_body("acc_fee", currency="GBP"))
    world.accepted(upsert_body("acc_paid", currency="USD"))
    world.accepted(profiles_body("acc_paid", "2026-01-15T00:00:00Z", 205))
    world.accepted(profiles_body("acc_fee", "2026-01-20T00:00:00Z", 210))
    grace_run(world, "2026-01-29T00:05:00Z")  # acc_paid: the fee
    world.accepted(profiles_body("acc_reduce", "2026-02-02T10:00:00Z", 205))
    world.accepted(profiles_body("acc_packs", "2026-02-03T00:00:00Z", 230))
    grace_run(world, "2026-02-03T00:05:00Z")  # acc_fee: the fee
    world.accepted(
        upsert_body("acc_packs", currency="GBP", profile_packs=1, occurred_at="2026-02-04T12:00:00Z"),
    )
    world.accepted(profiles_body("acc_reduce", "2026-02-05T10:00:00Z", 195))
    paid_fee = world.invoices("acc_paid")[0]
    world.accepted(payment_body("acc_paid", "2026-02-05T12:00:00Z", paid_fee["invoice_id"], "5.00", "USD"))
    world.accepted(profiles_body("acc_upgrade", "2026-02-06T00:00:00Z", 260))
    world.accepted(
        change_body(
            "acc_upgrade",
            "2026-02-08T00:00:00Z",
            "evt_chg_acc_upgrade",
            reason="More profiles",
            requested_by="crm:account-manager",
            package="complete",
            effective="immediate",
        )
    )
    world.renewal("2026-02-10T00:15:00Z")
    grace_run(world, "2026-02-14T00:05:00Z")  # acc_fee: the reminder
    grace_run(world, "2026-02-18T00:05:00Z")  # acc_fee: overdue, restricted
    world.accepted(profiles_body("acc_fee", "2026-02-20T00:00:00Z", 190))
    return {account: episodes(world, account)[0]["episode_id"] for account in ("acc_fee", "acc_paid")}


def given_a_month_of_contact_overruns(world: World) -> None:
    """- acc_ovr3 (USD monthly t50 since 5 Nov 2025): 130 active contacts (t150) on every billing date: 5 Dec, 5 Jan,
      5 Feb; each invoice 24.00 + 10.00 supplement; the third brings the recommendation of t150;
    - acc_ovr1 (GBP monthly t50 since 12 Jan): 60 active contacts (t100) on 12 Feb: 20.00 + 4.00, VAT 4.80 = 28.80;
    - acc_plain (USD monthly t50 since 20 Jan): 40 contacts on 20 Feb: 24.00, no supplement."""
    for account, currency, started in (
        ("acc_ovr3", "USD", "2025-11-05"),
        ("acc_ovr1", "GBP", "2026-01-12"),
        ("acc_plain", "USD", "2026-01-20"),
    ):
        world.accepted(
            upsert_body(
                account, billing_cycle="monthly", currency=currency, started_on=started, customer_since=started
            ),
        )
    world.accepted(contacts_body("acc_ovr3", "2025-11-20T00:00:00Z", 130))
    world.accepted(contacts_body("acc_ovr1", "2026-02-01T00:00:00Z", 60))
    world.accepted(contacts_body("acc_plain", "2026-02-01T00:00:00Z", 40))
    world.renewal("2026-02-20T00:15:00Z")  # catches up every billing date due, oldest first


def given_a_month_of_telephone_support(world: World) -> None:
    """- acc_fu_review (GBP, complete, 2 paying users): u1 40:00 + 21:01 = 61:01 (review, 2 long calls, training
      ceil(16:01 / 60) = 1 h = 60.00 + 12.00 VAT = 72.00 GBP), u2 10:00;
    - acc_fu_over (USD, standard + telephone support, 1 user): u1 50:00 in one call (over the allowance and the pool);
    - acc_fu_legacy (USD, standard, customer since 2010): u1 14:00 (legacy terms, within);
    - acc_fu_none (USD, standard, no telephone support): u9 20:00 (not entitled)."""
    world.accepted(upsert_body("acc_fu_review", currency="GBP", package="complete", paying_users=2))
    world.accepted(upsert_body("acc_fu_over", telephone_support=True, paying_users=1))
    world.accepted(upsert_body("acc_fu_legacy", customer_since="2010-05-01", paying_users=1))
    world.accepted(upsert_body("acc_fu_none", paying_users=1))
    for body in (
        call_body("acc_fu_review", "c1", "2026-02-03T09:00:00Z", 2400, "u1"),
        call_body("acc_fu_review", "c2", "2026-02-10T09:00:00Z", 1261, "u1"),
        call_body("acc_fu_review", "c3", "2026-02-11T09:00:00Z", 600, "u2"),
        call_body("acc_fu_over", "c4", "2026-02-12T09:00:00Z", 3000, "u1"),
        call_body("acc_fu_legacy", "c5", "2026-02-13T09:00:00Z", 840, "u1"),
        call_body("acc_fu_none", "c6", "2026-02-14T09:00:00Z", 1200, "u9"),
    ):
        world.accepted(body)
    world.run("FairUseRollupFunction", {"as_of": "2026-03-01T02:00:00Z"})


def given_two_renewal_invoices_dunned_on_25_april(world: World) -> None:
    """acc_late's 10 April invoice (43.20 GBP, due 24 April) goes overdue on 25 April; acc_soon's 12 April invoice
    (29.00 USD, due 26 April) gets its reminder then (three days before, from the 23rd)."""
    monthly = {"billing_cycle": "monthly"}
    world.accepted(
        upsert_body(
            "acc_late",
            currency="GBP",
            contact_tier="t250",
            started_on="2026-03-10",
            customer_since="2026-03-10",
            **monthly,
        )
    )
    world.accepted(
        upsert_body("acc_soon", contact_tier="t100", started_on="2026-03-12", customer_since="2026-03-12", **monthly)
    )
    world.renewal("2026-04-12T00:15:00Z")
