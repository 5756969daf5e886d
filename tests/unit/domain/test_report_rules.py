"""The monthly report's rules (spec §3.6), pure: which month a fact counts in, how an episode stood at a month's end,
how excesses ended, medians and shares, and the CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from overage.domain.instants import Month
from overage.domain.report import (
    CurrencyTally,
    MonthFacts,
    cell,
    csv_text,
    days_between,
    episode_fact,
    history_months,
    median_days,
    report_month,
    shard_facts,
    shares,
    summary,
    usable_summary,
)

FEB = Month(2026, 2)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def transition(event: str, when: str, state: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": when, "event": event, "cause": f"test:{event}"}
    if state:
        entry["state"] = state
    return entry | extra


def episode(transitions: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    record = {
        "account_id": "acc_1",
        "episode_id": "ep1",
        "state": "in_grace",
        "opened_at": transitions[0]["at"],
        "opening_count": 205,
        "count": 205,
        "limit": 200,
        "grace_ends_at": "2026-02-15T10:00:00.000000Z",
        "excess_persists": True,
        "transitions": transitions,
    }
    return record | fields


OPENED = transition("exceeded", "2026-02-01T10:00:00.000000Z", "in_grace", limit=200, package="standard")


def test_a_run_on_the_first_reports_the_previous_calendar_month_in_utc() -> None:
    assert report_month(at("2026-03-01T04:00:00Z")) == FEB
    assert report_month(at("2026-01-01T00:30:00+01:00")) == Month(2025, 11)  # 31 Dec 23:30 UTC
    assert history_months(FEB)[0] == Month(2025, 3) and history_months(FEB)[-1] == FEB


@pytest.mark.parametrize(
    ("resolved", "resolved_by", "resolution"),
    [
        ({"package": "standard", "profile_packs": 0}, "reduction", "reduction"),
        ({"package": "standard", "profile_packs": 1}, "limit_increase", "profile_packs"),
        ({"package": "complete", "profile_packs": 0}, "limit_increase", "upgrade"),
        ({}, "limit_increase", "profile_packs"),  # a record without the package: the same package is assumed
    ],
)
def test_how_an_episode_was_resolved_in_grace(resolved: dict[str, Any], resolved_by: str, resolution: str) -> None:
    record = episode(
        [OPENED, transition("resolved", "2026-02-04T22:00:00.000000Z", "resolved", **resolved)],
        state="resolved",
        resolved_by=resolved_by,
    )
    fact = episode_fact(record, FEB)
    assert fact is not None
    assert (fact.resolution, fact.days_to_resolution, fact.state_at_month_end) == (
        resolution,
        Decimal("3.5"),
        "resolved",
    )
    assert fact.events_in_month == ("opened", "resolved")


def fee_episode(*after_fee: dict[str, Any], excess_persists: bool = True) -> dict[str, Any]:
    return episode(
        [
            transition("exceeded", "2026-01-20T00:00:00.000000Z", "in_grace", limit=200),
            transition("fee_invoiced", "2026-02-03T00:05:00.000000Z", "fee_invoiced"),
            *after_fee,
        ],
        state="fee_invoiced",
        currency="GBP",
        fee_excess=10,
        fee_net="8.00",
        fee_vat="1.60",
        fee_gross="9.60",
        fee_invoice_number="OV-EXP-1-acc_1",
        excess_persists=excess_persists,
    )


def test_an_excess_ends_after_the_fee_when_the_count_goes_back_within_the_limit() -> None:
    fact = episode_fact(fee_episode(transition("excess_ended", "2026-02-20T00:00:00.000000Z", "fee_invoiced")), FEB)
    assert fact is not None and fact.excess_ended_after_fee_at == at("2026-02-20T00:00:00Z")


def test_an_excess_already_over_when_the_fee_was_invoiced_ended_with_the_fee() -> None:
    returned = fee_episode(transition("excess_returned", "2026-03-02T00:00:00.000000Z", "fee_invoiced"))
    never_came_back = fee_episode(excess_persists=False)
    for record in (returned, never_came_back):
        fact = episode_fact(record, FEB)
        assert fact is not None and fact.excess_ended_after_fee_at == at("2026-02-03T00:05:00Z")


def test_a_month_only_knows_what_happened_by_its_end() -> None:
    # Given an episode opened in January, invoiced in February, overdue and paid in March
    record = fee_episode(
        transition("reminded", "2026-02-14T00:05:00.000000Z", "reminded"),
        transition("billed_monthly", "2026-02-28T00:00:00.000000Z"),  # a note: no state
        transition("overdue", "2026-03-01T00:05:00.000000Z", "overdue"),
        transition("paid", "2026-03-05T00:00:00.000000Z", "paid"),
    )
    january, february = episode_fact(record, Month(2026, 1)), episode_fact(record, FEB)
    assert january is not None and february is not None
    assert (january.state_at_month_end, january.invoiced_at, january.fee_gross) == ("in_grace", None, None)
    assert january.events_in_month == ("opened",)
    assert (february.state_at_month_end, february.fee_gross, february.went_overdue_at, february.paid_at) == (
        "reminded",
        Decimal("9.60"),
        None,
        None,
    )
    assert february.events_in_month == ("fee_invoiced", "reminded", "billed_monthly")
    assert episode_fact(record, Month(2025, 12)) is None


def test_medians_and_shares() -> None:
    assert median_days([Decimal("3.0"), Decimal("1.5"), Decimal("2.0")]) == Decimal("2.0")
    assert median_days([Decimal("1.0"), Decimal("2.5")]) == Decimal("1.8")  # 1.75 half-up
    assert median_days([]) is None
    assert shares(3, 1) == (Decimal("75.0"), Decimal("25.0"))
    assert shares(1, 7) == (Decimal("12.5"), Decimal("87.5"))
    assert shares(1, 2) == (Decimal("33.3"), Decimal("66.7"))  # always adding up to 100.0
    assert shares(0, 0) is None
    assert days_between(at("2026-02-01T00:00:00Z"), at("2026-02-01T05:59:59Z")) == Decimal("0.2")


def invoice(account: str, kind: str, currency: str, net: str, vat: str, *lines: tuple[str, str]) -> dict[str, Any]:
    gross = str(Decimal(net) + Decimal(vat))
    return {
        "record_type": "invoice",
        "account_id": account,
        "invoice_id": f"inv_{account}_{kind}",
        "number": f"OV-{account}",
        "kind": kind,
        "currency": currency,
        "period_start": "2026-02-10",
        "net": net,
        "vat": vat,
        "gross": gross,
        "lines": [{"code": code, "amount": amount} for code, amount in lines],
    }


def test_money_is_tallied_per_currency_and_never_across() -> None:
    records = [
        invoice("a", "renewal", "USD", "34.00", "0.00", ("subscription", "24.00"), ("contact_overrun", "10.00")),
        invoice("b", "renewal", "GBP", "24.00", "4.80", ("subscription", "20.00"), ("contact_overrun", "4.00")),
        invoice("c", "overrun", "GBP", "8.00", "1.60", ("excess_profiles", "8.00")),
        invoice("d", "excess_profiles", "GBP", "8.00", "1.60", ("excess_profiles", "8.00")),
        {
            "record_type": "notice",
            "kind": "invoice.issued",
            "detail": '{"invoice_id": "inv_a_renewal", "reached_tier": "t150", "recommended_tier": "t150"}',
        },
        {"record_type": "plan_change", "kind": "upgrade"},
        {"record_type": "something_new", "kind": "ignored"},
    ]
    left = shard_facts(FEB, "00", records[:2], {})
    right = shard_facts(FEB, "01", records[2:], {})
    merged = MonthFacts.merge(FEB, [right, left])
    figures = summary(merged)
    assert figures["contact_overruns"]["supplements"] == {
        "count": 2,
        "by_currency": {"GBP": {"count": 1, "amount": "4.00"}, "USD": {"count": 1, "amount": "10.00"}},
    }
    # the recommendation is in the notice of shard 01, the invoice in shard 00: a notice joins its own shard only
    assert figures["contact_overruns"]["accounts_in_overrun_3_plus_billing_dates"] == 0
    assert figures["excess_profiles"]["monthly_excess_lines"] == {
        "count": 1,
        "by_currency": {"GBP": {"count": 1, "amount": "8.00"}},
    }
    assert figures["invoices"]["by_kind"]["renewal"]["by_currency"] == {
        "GBP": {"count": 1, "net": "24.00", "vat": "4.80", "gross": "28.80"},
        "USD": {"count": 1, "net": "34.00", "vat": "0.00", "gross": "34.00"},
    }
    assert figures["plan_changes"] == {"requested": 1, "by_kind": {"upgrade": 1}}
    assert figures["notices"] == {"total": 1, "by_kind": {"invoice.issued": 1}}
    assert merged.shards == ("00", "01")
    assert CurrencyTally.one(Decimal("1"), Decimal("0.2"), Decimal("1.2")).gross == Decimal("1.20")


def test_a_part_of_another_month_cannot_be_merged() -> None:
    with pytest.raises(ValueError, match="2026-01"):
        MonthFacts.merge(FEB, [MonthFacts(month="2026-01", shards=("00",))])


def test_csv_cells_and_formula_guard() -> None:
    assert cell(None) == ""
    assert cell(True) == "yes"
    assert cell(datetime(2026, 2, 3, 0, 5, 0, 123, tzinfo=UTC)) == "2026-02-03T00:05:00Z"
    assert cell(Decimal("9.60")) == "9.60"
    assert cell(("opened", "resolved")) == "opened;resolved"
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell("-1") == "'-1"
    text = csv_text(("a", "b"), [{"a": "x,y", "b": 'say "hi"'}])
    assert text == 'a,b\r\n"x,y","say ""hi"""\r\n'


def test_only_a_summary_of_this_format_and_month_is_charted() -> None:
    good = {"format": 1, "month": "2026-01"}
    assert usable_summary(good, Month(2026, 1)) == good
    assert usable_summary(good, FEB) is None
    assert usable_summary({"format": 99, "month": "2026-01"}, Month(2026, 1)) is None
    assert usable_summary(["not", "a", "summary"], Month(2026, 1)) is None


def test_what_became_of_each_notice_is_counted_by_kind_and_help_requests_are_not_emails() -> None:
    """Issue 18: a notice's delivery state and answer (read from its record) count with its kind; a sent
    notice.help_requested (bus only, no address) is no email and stays out of the figures."""
    from overage.domain.instants import Month
    from overage.domain.report import shard_facts

    def notice(n: int, kind: str) -> dict[str, object]:
        return {"record_type": "notice", "pk": "acc_1", "sk": f"NOTICE#n{n}", "kind": kind,
                "created_at": "2026-02-03T00:00:00Z", "detail": "{}"}  # fmt: skip

    states = {
        ("acc_1", "NOTICE#n1"): {"delivery": "delivered", "answer": "clear"},
        ("acc_1", "NOTICE#n2"): {"delivery": "complained"},
        ("acc_1", "NOTICE#n3"): {"delivery": "failed"},
        ("acc_1", "NOTICE#n4"): {"delivery": "sending"},
        ("acc_1", "NOTICE#n5"): {"delivery": "sent"},
    }
    records = [notice(n, "invoice.issued") for n in range(1, 5)] + [notice(5, "notice.help_requested")]
    facts = shard_facts(Month(2026, 2), "00", records, {}, states)
    assert facts.notices == {"invoice.issued": 4, "notice.help_requested": 1}
    assert facts.communication == {
        "invoice.issued": {
            "recorded": 4,
            "emailed": 2,  # delivered, complained; failed and still sending were not
            "delivered": 1,
            "bounced": 0,
            "complained": 1,
            "suppressed": 0,
            "failed": 1,
            "not_yet_sent": 1,
            "answered_clear": 1,
            "asked_for_help": 0,
        }
    }
