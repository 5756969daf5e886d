"""The monthly policy report end to end (spec §3.6): a known month of CRM events through the webhook and the
scheduled functions, then UsageReportFunction; every figure of summary.json and every CSV row, figures from the spec.

The report of a month counts each fact in the month it happened (UTC): an episode opened in January and settled in
February shows in both reports; a notice counts in the month of its business time (the fair-use notices about
February are sent on 1 March, so they count in March).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import boto3
import pytest
from overage.errors import InvalidRequest

from tests.scenarios import (
    FEBRUARY_RUN,
    communication,
    emailed,
    february,
    given_a_month_of_contact_overruns,
    given_a_month_of_excess_profiles,
    given_a_month_of_telephone_support,
    quiet_month,
    settlement,
)
from tests.support import (
    EVENTS,
    REGION,
    REPORT_FILES,
    World,
    dynamodb_calls,
    report_files,
    report_rows,
    report_run,
    report_summary,
    upsert_body,
)


def tally(count: int, net: str, vat: str, gross: str) -> dict[str, Any]:
    return {"count": count, "net": net, "vat": vat, "gross": gross}


# ------------------------------------------------------------------------------------------------ excess profiles


def test_the_excess_profile_figures_of_a_month(world: World) -> None:
    ids = given_a_month_of_excess_profiles(world)

    # When the report runs on 1 March
    result = report_run(world, FEBRUARY_RUN)
    assert (result["month"], result["shards_dispatched"]) == ("2026-02", 16)

    # Then every file is there and summary.json has every figure of February
    assert sorted(report_files(world, "2026-02")) == sorted(REPORT_FILES)
    expected = february()
    expected["excess_profiles"] = {
        "episodes_opened": 3,
        "resolved_in_grace": 3,
        "resolved_in_grace_by": {"reduction": 1, "profile_packs": 1, "upgrade": 1},
        "median_days_to_resolution": "2.0",  # of 3.0, 1.5 and 2.0 days
        "excess_ended": {"after_exceeded_notice": 3, "after_fee": 1},
        "share_after_exceeded_notice_percent": "75.0",
        "share_after_fee_percent": "25.0",
        "fees_invoiced": {"count": 1, "by_currency": {"GBP": tally(1, "8.00", "1.60", "9.60")}},
        "fees_paid": {"count": 1, "by_currency": {"USD": tally(1, "5.00", "0.00", "5.00")}},
        "fees_overdue": {"count": 1, "by_currency": {"GBP": tally(1, "8.00", "1.60", "9.60")}},
        "accounts_restricted": 1,
        "monthly_excess_lines": {
            "count": 2,
            "by_currency": {"GBP": {"count": 1, "amount": "8.00"}, "USD": {"count": 1, "amount": "5.00"}},
        },
    }
    # the upgrade on 8 Feb of an annual subscription: (528 − 288) × 336 days ÷ 365 = 220.93 USD
    expected["plan_changes"] = {"requested": 1, "by_kind": {"upgrade": 1}}
    expected["invoices"] = {
        "count": 4,
        "by_kind": {
            "excess_profiles": {"count": 1, "by_currency": {"GBP": tally(1, "8.00", "1.60", "9.60")}},
            "overrun": {
                "count": 2,
                "by_currency": {"GBP": tally(1, "8.00", "1.60", "9.60"), "USD": tally(1, "5.00", "0.00", "5.00")},
            },
            "plan_change": {"count": 1, "by_currency": {"USD": tally(1, "220.93", "0.00", "220.93")}},
        },
    }
    expected["notices"] = {
        "total": 13,
        "by_kind": {
            "account.restricted": 1,
            "invoice.issued": 3,  # the fee of acc_fee and the two monthly excess lines
            "invoice.payment_received": 1,  # acc_paid's receipt (spec §3.7)
            "invoice.payment_reminder": 1,
            "plan.changed": 1,
            "profiles.exceeded": 3,
            "profiles.resolved": 3,
        },
    }
    # every one of them emailed (no SES feedback, no click in this month); the episodes each excess-profile notice was
    # about: the three opened in February all resolved in grace after their profiles.exceeded notice; acc_fee's fee
    # invoice (3 Feb), reminder and restriction (18 Feb) all came before its excess ended on 20 Feb
    expected["communication"] = communication(
        {
            "account.restricted": emailed(1),
            "invoice.issued": emailed(3),
            "invoice.payment_received": emailed(1),
            "invoice.payment_reminder": emailed(1),
            "plan.changed": emailed(1),
            "profiles.exceeded": emailed(3),
            "profiles.resolved": emailed(3),
        },
        {
            "profiles.exceeded": (3, 3, 3, "100.0"),
            "invoice.issued": (1, 1, 0, "100.0"),  # the fee's notice: the monthly lines' name no episode
            "invoice.payment_reminder": (1, 1, 0, "100.0"),
            "account.restricted": (1, 1, 0, "100.0"),
        },
    )
    # after the invoice (spec §3.7): acc_paid's 5.00 USD, and acc_fee's fee invoice gone overdue
    expected["settlement"] = settlement({"excess_profiles": 1})
    expected["settlement"]["money"]["payments"] = {"count": 1, "by_currency": {"USD": {"count": 1, "amount": "5.00"}}}
    assert report_summary(world, "2026-02") == expected

    # And excess_profiles.csv lists every episode something happened to in February, as it stood on 28 Feb
    fee = world.issued_number("acc_fee", f"inv_acc_fee_excess_profiles_{ids['acc_fee']}")
    paid = world.issued_number("acc_paid", f"inv_acc_paid_excess_profiles_{ids['acc_paid']}")
    rows = report_rows(world, "2026-02", "excess_profiles.csv")
    assert [(r["account_id"], r["episode_id"] in ids.values()) for r in rows] == [
        ("acc_paid", True),
        ("acc_fee", True),
        ("acc_reduce", False),
        ("acc_packs", False),
        ("acc_upgrade", False),
    ]
    columns = (
        "opened_at",
        "opening_count",
        "limit",
        "grace_ends_at",
        "events_in_month",
        "state_at_month_end",
        "resolved_at",
        "resolution",
        "days_to_resolution",
        "fee_invoice_number",
        "currency",
        "fee_excess",
        "fee_net",
        "fee_vat",
        "fee_gross",
        "invoiced_at",
        "went_overdue_at",
        "paid_at",
        "excess_ended_after_fee_at",
    )
    assert [tuple(r[c] for c in columns) for r in rows] == [
        (
            "2026-01-15T00:00:00Z", "205", "200", "2026-01-29T00:00:00Z", "paid;billed_monthly", "paid",
            "", "", "", paid, "USD", "5", "5.00", "0.00", "5.00",
            "2026-01-29T00:05:00Z", "", "2026-02-05T12:00:00Z", "",
        ),
        (
            "2026-01-20T00:00:00Z", "210", "200", "2026-02-03T00:00:00Z",
            "fee_invoiced;billed_monthly;reminded;overdue;excess_ended", "overdue",
            "", "", "", fee, "GBP", "10", "8.00", "1.60", "9.60",
            "2026-02-03T00:05:00Z", "2026-02-18T00:05:00Z", "", "2026-02-20T00:00:00Z",
        ),
        (
            "2026-02-02T10:00:00Z", "205", "200", "2026-02-16T10:00:00Z", "opened;resolved", "resolved",
            "2026-02-05T10:00:00Z", "reduction", "3.0", "", "", "", "", "", "", "", "", "", "",
        ),
        (
            "2026-02-03T00:00:00Z", "230", "200", "2026-02-17T00:00:00Z", "opened;resolved", "resolved",
            "2026-02-04T12:00:00Z", "profile_packs", "1.5", "", "", "", "", "", "", "", "", "", "",
        ),
        (
            "2026-02-06T00:00:00Z", "260", "200", "2026-02-20T00:00:00Z", "opened;resolved", "resolved",
            "2026-02-08T00:00:00Z", "upgrade", "2.0", "", "", "", "", "", "", "", "", "", "",
        ),
    ]  # fmt: skip
    # And no contact overrun, no telephone support: the other CSVs have their header only
    assert report_files(world, "2026-02")["contact_overruns.csv"].decode().splitlines() == [
        "account_id,invoice_number,invoice_id,billing_date,currency,reached_tier,supplement,recommended_tier,"
        "overrun_3_plus_billing_dates"
    ]
    assert report_rows(world, "2026-02", "fair_use.csv") == []


def test_an_episode_shows_in_the_month_it_opened_and_the_month_it_was_settled(world: World) -> None:
    given_a_month_of_excess_profiles(world)

    # When January is reported (a backfill after the fact, as of its own end)
    report_run(world, {"month": "2026-01"})

    # Then January knows the two episodes opened then and the fee invoiced on 29 Jan, nothing of February
    expected = quiet_month("2026-01", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    expected["excess_profiles"] |= {
        "episodes_opened": 2,
        "fees_invoiced": {"count": 1, "by_currency": {"USD": tally(1, "5.00", "0.00", "5.00")}},
    }
    expected["invoices"] = {
        "count": 1,
        "by_kind": {"excess_profiles": {"count": 1, "by_currency": {"USD": tally(1, "5.00", "0.00", "5.00")}}},
    }
    expected["notices"] = {"total": 3, "by_kind": {"invoice.issued": 1, "profiles.exceeded": 2}}
    # by 31 Jan neither episode was back within its limit: none resolved after its notices
    expected["communication"] = communication(
        {"invoice.issued": emailed(1), "profiles.exceeded": emailed(2)},
        {"profiles.exceeded": (2, 0, 0, "0.0"), "invoice.issued": (1, 0, 0, "0.0")},
    )
    assert report_summary(world, "2026-01") == expected
    rows = report_rows(world, "2026-01", "excess_profiles.csv")
    assert [(r["account_id"], r["events_in_month"], r["state_at_month_end"], r["paid_at"]) for r in rows] == [
        ("acc_paid", "opened;fee_invoiced", "fee_invoiced", ""),
        ("acc_fee", "opened", "in_grace", ""),
    ]


# ------------------------------------------------------------------------------------------------ contact overruns


def test_the_contact_overrun_figures_of_a_month(world: World) -> None:
    given_a_month_of_contact_overruns(world)

    report_run(world, FEBRUARY_RUN)

    expected = february()
    expected["contact_overruns"] = {
        "invoices": 2,
        "accounts": 2,
        "supplements": {
            "count": 2,
            "by_currency": {"GBP": {"count": 1, "amount": "4.00"}, "USD": {"count": 1, "amount": "10.00"}},
        },
        "accounts_in_overrun_3_plus_billing_dates": 1,
    }
    expected["invoices"] = {
        "count": 3,
        "by_kind": {
            "renewal": {
                "count": 3,
                "by_currency": {"GBP": tally(1, "24.00", "4.80", "28.80"), "USD": tally(2, "58.00", "0.00", "58.00")},
            }
        },
    }
    expected["notices"] = {"total": 3, "by_kind": {"invoice.issued": 3}}
    expected["communication"] = communication({"invoice.issued": emailed(3)})  # renewals: no episode
    assert report_summary(world, "2026-02") == expected
    assert report_rows(world, "2026-02", "contact_overruns.csv") == [
        {
            "account_id": "acc_ovr3",
            "invoice_number": world.issued_number("acc_ovr3", "inv_acc_ovr3_renewal_2026-02-05"),
            "invoice_id": "inv_acc_ovr3_renewal_2026-02-05",
            "billing_date": "2026-02-05",
            "currency": "USD",
            "reached_tier": "t150",
            "supplement": "10.00",
            "recommended_tier": "t150",
            "overrun_3_plus_billing_dates": "yes",
        },
        {
            "account_id": "acc_ovr1",
            "invoice_number": world.issued_number("acc_ovr1", "inv_acc_ovr1_renewal_2026-02-12"),
            "invoice_id": "inv_acc_ovr1_renewal_2026-02-12",
            "billing_date": "2026-02-12",
            "currency": "GBP",
            "reached_tier": "t100",
            "supplement": "4.00",
            "recommended_tier": "",
            "overrun_3_plus_billing_dates": "no",
        },
    ]
    # And in January acc_ovr3 was in overrun for the second time: no recommendation yet
    report_run(world, {"month": "2026-01"})
    january = report_summary(world, "2026-01")["contact_overruns"]
    assert (january["invoices"], january["accounts_in_overrun_3_plus_billing_dates"]) == (1, 0)


# ------------------------------------------------------------------------------------------------ fair use


def test_the_fair_use_figures_of_a_month(world: World) -> None:
    given_a_month_of_telephone_support(world)

    report_run(world, FEBRUARY_RUN)

    expected = february()
    expected["fair_use"] = {
        "accounts": 4,
        "by_terms": {"fair_use": 2, "legacy_terms": 1, "not_entitled": 1},
        "by_status": {"within": 1, "over_allowance": 1, "review": 1},
        "accounts_over_pooled_allowance": 1,
        "calls": 5,
        "minutes": "135.02",  # 3,661 + 600 + 3,000 + 840 = 8,101 s
        "long_calls": 3,
        "users_over_allowance": 2,
        "users_in_review": 1,
        "training_offered": {"users": 1, "hours": 1, "by_currency": {"GBP": tally(1, "60.00", "12.00", "72.00")}},
        "not_entitled_calls": 1,
    }
    # the rollup's notices and the director's list are dated 1 March: they count in March's report
    assert report_summary(world, "2026-02") == expected
    columns = ("account_id", "terms", "account_status", "paying_users", "pooled_allowance_minutes", "user_id")
    columns += ("entitled", "calls", "minutes", "long_calls", "level", "training_hours", "currency")
    columns += ("training_net", "training_vat", "training_gross")
    assert [tuple(r[c] for c in columns) for r in report_rows(world, "2026-02", "fair_use.csv")] == [
        ("acc_fu_legacy", "legacy_terms", "within", "1", "45", "u1", "yes", "1", "14.00", "0", "within",
         "", "", "", "", ""),
        ("acc_fu_none", "not_entitled", "", "0", "0", "u9", "no", "1", "20.00", "1", "", "", "", "", "", ""),
        ("acc_fu_over", "fair_use", "over_allowance", "1", "45", "u1", "yes", "1", "50.00", "1", "over_allowance",
         "", "", "", "", ""),
        ("acc_fu_review", "fair_use", "review", "2", "90", "u1", "yes", "2", "61.02", "2", "review",
         "1", "GBP", "60.00", "12.00", "72.00"),
        ("acc_fu_review", "fair_use", "review", "2", "90", "u2", "yes", "1", "10.00", "0", "within",
         "", "", "", "", ""),
    ]  # fmt: skip
    # And March's report counts the notices the rollup sent on 1 March
    report_run(world, {"as_of": "2026-04-01T04:00:00Z"})
    assert report_summary(world, "2026-03")["notices"]["by_kind"] == {
        "fair_use.over_allowance": 1,
        "fair_use.review": 1,
        "fair_use.review_list": 1,
    }


# ------------------------------------------------------------------------------------------------ runs


def test_a_rerun_rewrites_the_same_bytes_and_nothing_is_scanned(world: World) -> None:
    given_a_month_of_excess_profiles(world)
    given_a_month_of_contact_overruns(world)
    # Quiet accounts add nothing to the month's reads
    for n in range(12):
        world.accepted(upsert_body(f"acc_quiet_{n}"))

    # When February is reported, then reported again (a backfill of the month)
    first_calls = dynamodb_calls(lambda: report_run(world, FEBRUARY_RUN))
    first = report_files(world, "2026-02")
    again_calls = dynamodb_calls(lambda: report_run(world, {"month": "2026-02"}))

    # Then the report is byte for byte the same (no time of the run in it)
    assert report_files(world, "2026-02") == first
    assert b"2026-03-01T04" not in b"".join(first.values())
    # And a month costs one Query per shard of ReportIndex, one BatchGetItem per shard with episodes and one per
    # shard with notices (their delivery states and answers, issue 18); no Scan
    markers_per_shard = Counter(_shard_of(a) for a in ("acc_reduce", "acc_packs", "acc_upgrade", "acc_fee", "acc_paid"))
    scenario_accounts = ("acc_reduce", "acc_packs", "acc_upgrade", "acc_fee", "acc_paid", "acc_ovr1", "acc_ovr3")
    noticed = {
        a
        for a in (*scenario_accounts, "acc_plain")
        if any(n["created_at"].startswith("2026-02") for n in world.notices(a))
    }
    notices_per_shard = Counter(_shard_of(a) for a in noticed)
    batches = len(markers_per_shard) + len(notices_per_shard)
    assert first_calls == again_calls == Counter({"Query": 16, "BatchGetItem": batches})


def _shard_of(account_id: str) -> str:
    from overage.domain.account import billing_shard

    return billing_shard(account_id)


def test_previous_months_summaries_feed_the_charts_and_a_missing_month_is_a_gap(world: World) -> None:
    # Given January's report and an unusable summary for December (another format)
    given_a_month_of_contact_overruns(world)
    report_run(world, {"month": "2026-01"})
    s3 = boto3.client("s3", region_name=REGION)
    bucket = world.template.physical_id("ReportBucket")
    december = copy.deepcopy(february()) | {"month": "2025-12", "format": 99}
    s3.put_object(Bucket=bucket, Key="reports/2025-12/summary.json", Body=json.dumps(december).encode())

    # When February is reported
    report_run(world, FEBRUARY_RUN)

    # Then its page shows January's figures from January's report, and December as a month without a report
    page = report_files(world, "2026-02")["index.html"].decode()
    overruns_row = page.split('<th scope="row">Overrun invoices</th>', 1)[1].split("</tr>", 1)[0]
    assert overruns_row.count('<td class="num">—</td>') == 10  # Mar 2025 … Dec 2025
    assert overruns_row.endswith('<td class="num">1</td><td class="num">2</td>')  # Jan 2026, Feb 2026
    assert "Jan 2026 · Overrun invoices: 1" in page and "Dec 2025: no report" in page


def test_which_month_a_run_reports(world: World) -> None:
    scheduled = json.loads((EVENTS / "usage_report__scheduled.json").read_text())
    backfill = json.loads((EVENTS / "usage_report__month.json").read_text())
    assert world.invoke("UsageReportFunction", scheduled)["month"] == "2026-02"  # EventBridge time 1 Mar 04:00
    assert world.invoke("UsageReportFunction", backfill)["month"] == "2026-02"
    assert world.invoke("UsageReportFunction", {"as_of": "2026-01-01T04:00:00Z"})["month"] == "2025-12"
    with pytest.raises(InvalidRequest):
        world.invoke("UsageReportFunction", {"month": "2026-13"})
    with pytest.raises(InvalidRequest):  # March has not ended on 1 March
        world.invoke("UsageReportFunction", {"month": "2026-03", "as_of": "2026-03-01T04:00:00Z"})


def test_a_month_with_nothing_in_it_is_reported_as_zeros(world: World) -> None:
    report_run(world, FEBRUARY_RUN)
    assert report_summary(world, "2026-02") == february()
    page = report_files(world, "2026-02")["index.html"].decode()
    assert page.count('<svg class="chart"') == 6 and 'class="bar"' not in page
    assert "nothing to show in these months" in page


# ------------------------------------------------------------------------------------------------ communication


def test_what_became_of_the_notices_of_a_month(world: World) -> None:
    """Issue 18: SES's feedback and the customers' answers count with the notices of the month they were sent in."""
    from overage.domain.feedback import sign
    from overage_local.template import feedback_secret

    from tests.builders import keys, ses_event, sns_event
    from tests.support import rest_event

    given_a_month_of_excess_profiles(world)

    def exceeded(account_id: str) -> dict[str, Any]:
        [notice] = [n for n in world.notices(account_id) if n["kind"] == "profiles.exceeded"]
        return notice

    # acc_reduce's profiles.exceeded email bounced for good (its address suppressed: account.email_undeliverable,
    # not emailed, dated by SES's event); acc_packs's was delivered and answered "This was clear"; acc_upgrade's
    # answered "I need help" (notice.help_requested is dated by the click: it counts in the month of the click)
    bounced, delivered = exceeded("acc_reduce"), exceeded("acc_packs")
    for kind, notice in (("Bounce", bounced), ("Delivery", delivered)):
        event = ses_event(
            kind, notice["ses_message_id"], notice["to"], notice=keys(notice), timestamp="2026-02-02T10:05:00.000Z"
        )
        world.invoke("EmailFeedbackFunction", sns_event(event))
    for account_id, answer in (("acc_packs", "clear"), ("acc_upgrade", "help")):
        token = sign(feedback_secret(), account_id, exceeded(account_id)["notice_id"], answer)
        assert world.invoke("CrmWebhookFunction", rest_event("GET", f"/feedback/{token}"))["statusCode"] == 200

    report_run(world, FEBRUARY_RUN)

    figures = report_summary(world, "2026-02")
    assert figures["notices"]["by_kind"]["account.email_undeliverable"] == 1
    assert "notice.help_requested" not in figures["notices"]["by_kind"]
    assert figures["communication"] == communication(
        {
            "account.email_undeliverable": {**emailed(0), "recorded": 1, "suppressed": 1},
            "account.restricted": emailed(1),
            "invoice.issued": emailed(3),
            "invoice.payment_received": emailed(1),
            "invoice.payment_reminder": emailed(1),
            "plan.changed": emailed(1),
            "profiles.exceeded": emailed(3, delivered=1, bounced=1, answered_clear=1, asked_for_help=1),
            "profiles.resolved": emailed(3),
        },
        {
            "profiles.exceeded": (3, 3, 3, "100.0"),
            "invoice.issued": (1, 1, 0, "100.0"),
            "invoice.payment_reminder": (1, 1, 0, "100.0"),
            "account.restricted": (1, 1, 0, "100.0"),
        },
    )
    [row] = [r for r in report_rows(world, "2026-02", "communication.csv") if r["notice_kind"] == "profiles.exceeded"]
    assert row == {
        "notice_kind": "profiles.exceeded",
        "recorded": "3",
        "emailed": "3",
        "delivered": "1",
        "bounced": "1",
        "complained": "0",
        "suppressed": "0",
        "failed": "0",
        "not_yet_sent": "0",
        "answered_clear": "1",
        "asked_for_help": "1",
        "episodes_notified": "3",
        "episodes_resolved_after": "3",
        "episodes_resolved_in_grace_after": "3",
        "share_resolved_after_percent": "100.0",
    }
    page = report_files(world, "2026-02")["index.html"].decode()
    assert "Notices that reach people" in page and 'href="communication.csv"' in page
