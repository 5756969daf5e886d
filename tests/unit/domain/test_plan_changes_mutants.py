"""Plan changes (spec §3.4), pinned where a mutation went unnoticed: a change dated on the start date, a one-day
change (an invoice one way, a credit note the other), a zero-net change, the monthly → annual switch at a billing
date, and the period a change falls in. Prices from the spec's table (USD, standard): t50 24.00, t100 29.00."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from overage.domain.account import Account
from overage.domain.calendar import Period
from overage.domain.catalog import default_catalog
from overage.domain.invoice import Invoice
from overage.domain.money import InvoiceLine
from overage.domain.plan_changes import (
    Settlement,
    Subscription,
    apply_at_billing_date,
    change_document,
    check_immediate,
    classify,
    effective_instant,
    monthly_price,
    period_end,
    settle,
    snapshot,
    telephone_support_entitled,
    validate,
)
from overage.errors import Conflict, InvalidRequest

from tests.builders import account_model

CATALOG = default_catalog()
ISSUED = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def account(**fields: Any) -> Account:
    return account_model(
        **(
            {
                "account_id": "acc_5",
                "paying_users": 2,
                "profile_version": "2026-01-10T08:00:00.000000Z#evt_1",
                "next_billing_date": date(2026, 3, 10),
            }
            | fields
        )
    )


def document(acc: Account, on: date, **changes: Any) -> Invoice | None:
    old, new = validate(acc, changes, CATALOG)
    return change_document(acc, "chg_1", on, settle(acc, old, new, CATALOG, on), CATALOG, ISSUED)


# --- when an immediate change may be dated -------------------------------------------------------------------


def test_a_change_dated_on_the_start_date_is_accepted() -> None:
    acc = account(next_billing_date=date(2026, 2, 10))
    check_immediate(acc, date(2026, 1, 10))  # does not raise


def test_a_change_dated_the_day_before_the_start_is_refused() -> None:
    acc = account(next_billing_date=date(2026, 2, 10))
    with pytest.raises(InvalidRequest) as refused:
        check_immediate(acc, date(2026, 1, 9))
    assert "occurred_at" in refused.value.fields


def test_a_change_on_the_last_day_of_the_invoiced_period_is_accepted_and_on_the_next_billing_date_waits() -> None:
    acc = account()  # invoiced [10 Feb, 10 Mar)
    check_immediate(acc, date(2026, 2, 10))
    check_immediate(acc, date(2026, 3, 9))
    with pytest.raises(Conflict):
        check_immediate(acc, date(2026, 3, 10))
    with pytest.raises(InvalidRequest):
        check_immediate(acc, date(2026, 2, 9))


# --- a one-day change: ±0.16 -------------------------------------------------------------------------------------


def test_a_one_day_upgrade_in_a_28_day_period_is_an_invoice_of_0_18() -> None:
    # t50 → t100 on 9 Mar, the last day of 10 Feb .. 10 Mar (28 days): 5.00 × 1 ÷ 28 = 0.178… → 0.18
    invoice = document(account(), date(2026, 3, 9), contact_tier="t100")
    assert invoice is not None
    assert invoice.kind == "plan_change"
    assert [line.amount for line in invoice.lines] == [Decimal("0.18")]
    assert invoice.gross == Decimal("0.18")
    assert invoice.due_on == date(2026, 3, 23)  # 14 days after issue


def test_a_one_day_change_in_a_31_day_period_is_0_16_one_way_and_minus_0_16_the_other() -> None:
    # 10 Mar .. 10 Apr has 31 days; on 9 Apr one day is left: 5.00 × 1 ÷ 31 = 0.161… → 0.16
    up = document(account(next_billing_date=date(2026, 4, 10)), date(2026, 4, 9), contact_tier="t100")
    assert up is not None
    assert (up.kind, up.net, up.gross) == ("plan_change", Decimal("0.16"), Decimal("0.16"))
    down = document(
        account(contact_tier="t100", next_billing_date=date(2026, 4, 10)), date(2026, 4, 9), contact_tier="t50"
    )
    assert down is not None
    assert (down.kind, down.net, down.gross) == ("credit_note", Decimal("-0.16"), Decimal("-0.16"))
    assert down.due_on == ISSUED.date()  # a credit note is not waited for
    assert (down.period_start, down.period_end) == (date(2026, 4, 9), date(2026, 4, 10))


def test_a_zero_net_document_is_an_invoice_not_a_credit_note() -> None:
    lines = (
        InvoiceLine.of("plan_change_term", "New term", 1, Decimal("24.00")),
        InvoiceLine.of("plan_change_credit", "Unused days", 1, Decimal("-24.00")),
    )
    settlement = Settlement(lines, Period(date(2026, 3, 9), date(2026, 4, 9)), date(2026, 3, 9), date(2026, 4, 9))
    doc = change_document(account(), "chg_0", date(2026, 3, 9), settlement, CATALOG, ISSUED)
    assert doc is not None
    assert (doc.kind, doc.net, doc.gross) == ("plan_change", Decimal("0.00"), Decimal("0.00"))
    assert doc.due_on == date(2026, 3, 23)


def test_a_change_that_costs_nothing_has_no_document() -> None:
    acc = account(next_billing_date=date(2026, 4, 10))
    old, new = validate(acc, {"paying_users": 5}, CATALOG)  # no telephone support: the price does not move
    settlement = settle(acc, old, new, CATALOG, date(2026, 3, 20))
    assert settlement.lines == ()
    assert settlement.net == Decimal("0.00")
    assert change_document(acc, "chg_2", date(2026, 3, 20), settlement, CATALOG, ISSUED) is None


def test_a_cycle_switch_on_the_last_day_credits_one_day_and_charges_a_year() -> None:
    # monthly t50 → annual on 9 Apr (1 of 31 days left): credit 24.00 × 1 ÷ 31 = 0.774… → −0.77; charge 12 × 24.00
    acc = account(next_billing_date=date(2026, 4, 10))
    old, new = validate(acc, {"billing_cycle": "annual"}, CATALOG)
    settlement = settle(acc, old, new, CATALOG, date(2026, 4, 9))
    assert [line.amount for line in settlement.lines] == [Decimal("288.00"), Decimal("-0.77")]
    assert settlement.net == Decimal("287.23")
    assert (settlement.covers.start, settlement.covers.end) == (date(2026, 4, 9), date(2027, 4, 9))
    assert (settlement.started_on, settlement.next_billing_date) == (date(2026, 4, 9), date(2026, 5, 9))


# --- at the billing date -------------------------------------------------------------------------------------


def test_an_annual_account_changing_tier_at_its_anniversary_keeps_its_anchor() -> None:
    acc = account(billing_cycle="annual", contact_tier="t100", next_billing_date=date(2027, 1, 10))
    applied = apply_at_billing_date(acc, {"contact_tier": "t50"}, date(2027, 1, 10), CATALOG, "2027-01-01#e")
    assert "started_on" not in applied.updates
    assert applied.priced.started_on == date(2026, 1, 10)
    assert applied.priced.contact_tier == "t50"


def test_a_monthly_account_changing_tier_at_a_billing_date_keeps_its_anchor() -> None:
    applied = apply_at_billing_date(account(), {"contact_tier": "t100"}, date(2026, 3, 10), CATALOG, "2026-03-01#e")
    assert "started_on" not in applied.updates
    assert applied.priced.started_on == date(2026, 1, 10)


def test_an_annual_account_going_monthly_at_its_anniversary_keeps_its_anchor() -> None:
    acc = account(billing_cycle="annual", next_billing_date=date(2027, 1, 10))
    applied = apply_at_billing_date(acc, {"billing_cycle": "monthly"}, date(2027, 1, 10), CATALOG, "2027-01-01#e")
    assert "started_on" not in applied.updates
    assert applied.priced.started_on == date(2026, 1, 10)


def test_monthly_to_annual_at_a_billing_date_starts_the_term_that_day() -> None:
    applied = apply_at_billing_date(account(), {"billing_cycle": "annual"}, date(2026, 3, 10), CATALOG, "2026-03-01#e")
    assert applied.updates["started_on"] == "2026-03-10"
    assert applied.priced.started_on == date(2025, 3, 10)  # priced as a yearly anniversary
    assert applied.updates["pending_change"] is None


# --- when a period-end change takes effect -----------------------------------------------------------------------


def test_period_end_of_a_monthly_account_is_the_next_billing_date() -> None:
    acc = account()
    old = Subscription.of(acc)
    assert period_end(acc, old, date(2026, 2, 20)) == date(2026, 3, 10)
    assert period_end(acc, old, date(2026, 3, 9)) == date(2026, 3, 10)


def test_period_end_of_an_annual_account_is_the_next_yearly_anniversary() -> None:
    acc = account(billing_cycle="annual", next_billing_date=date(2026, 3, 10))
    old = Subscription.of(acc)
    assert period_end(acc, old, date(2026, 2, 20)) == date(2027, 1, 10)


def test_period_end_without_a_next_billing_date_counts_from_the_change_day() -> None:
    acc = account(next_billing_date=None)
    assert period_end(acc, Subscription.of(acc), date(2026, 2, 20)) == date(2026, 3, 10)


# --- prices and entitlement ------------------------------------------------------------------------------------


def test_the_monthly_price_counts_the_add_on_per_paying_user_and_the_packs() -> None:
    # standard t50 24.00 + telephone support 15.00 × 2 users + 2 packs × 10.00 = 74.00 USD
    sub = Subscription.of(account(telephone_support=True, profile_packs=2))
    assert monthly_price(sub, CATALOG, "USD") == Decimal("74.00")
    # complete includes support: 44.00 + packs, no add-on charged even if flagged
    complete = Subscription.of(account(package="complete", telephone_support=True, profile_packs=1))
    assert monthly_price(complete, CATALOG, "USD") == Decimal("54.00")


def test_telephone_support_is_entitled_when_included_or_bought() -> None:
    assert telephone_support_entitled(Subscription.of(account(package="complete")), CATALOG) is True
    assert telephone_support_entitled(Subscription.of(account(telephone_support=True)), CATALOG) is True
    assert telephone_support_entitled(Subscription.of(account()), CATALOG) is False


def test_a_mixed_change_that_costs_more_is_treated_as_an_upgrade() -> None:
    # t100 → t50 (−5.00) and one pack more (+10.00): 34.00 against 29.00 a month, dearer → an upgrade
    acc = account(contact_tier="t100")
    old, new = validate(acc, {"contact_tier": "t50", "profile_packs": 1}, CATALOG)
    result = classify(old, new, CATALOG, "USD")
    assert result is not None
    assert (result.kind, result.treated_as) == ("mixed", "upgrade")
    assert result.parts == {"contact_tier": "down", "profile_packs": "up"}
    assert (result.monthly_price_from, result.monthly_price_to) == (Decimal("29.00"), Decimal("34.00"))


# --- what the documents and records say ------------------------------------------------------------------------


def test_the_pro_rata_line_says_the_days_and_both_monthly_prices() -> None:
    invoice = document(account(next_billing_date=date(2026, 4, 10)), date(2026, 3, 25), contact_tier="t150")
    assert invoice is not None
    [line] = invoice.lines
    # the spec's example: (34 − 24) × 16 ÷ 31 = 5.16
    assert line.amount == Decimal("5.16")
    assert line.description == (
        "Pro rata 2026-03-25 to 2026-04-10, 16 of 31 days: standard t50 monthly 24.00 USD/month → "
        "standard t150 monthly 34.00 USD/month"
    )


def test_an_annual_pro_rata_line_is_priced_per_year() -> None:
    acc = account(billing_cycle="annual", next_billing_date=date(2026, 4, 10))
    invoice = document(acc, date(2026, 3, 25), contact_tier="t150")
    assert invoice is not None
    [line] = invoice.lines
    # (408 − 288) × 291 ÷ 365 = 95.67 (10 Jan 2026 .. 10 Jan 2027, 25 Mar counted)
    assert line.amount == Decimal("95.67")
    assert line.description == (
        "Pro rata 2026-03-25 to 2027-01-10, 291 of 365 days: standard t50 annual 288.00 USD/year → "
        "standard t150 annual 408.00 USD/year"
    )


def test_a_change_record_keeps_the_price_the_limit_and_the_entitlement() -> None:
    sub = Subscription.of(account(profile_packs=1))
    assert snapshot(sub, CATALOG, "USD") == {
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "monthly",
        "paying_users": 2,
        "telephone_support": False,
        "profile_packs": 1,
        "monthly_price": "34.00",
        "profile_limit": 250,
        "telephone_support_entitled": False,
    }


def test_a_period_end_change_takes_effect_at_midnight_utc_of_its_billing_date() -> None:
    assert effective_instant(date(2026, 3, 10)) == datetime(2026, 3, 10, tzinfo=UTC)


# --- telephone support on a package that includes it -----------------------------------------------------------


def test_asking_for_the_add_on_on_a_package_that_includes_support_leaves_no_add_on() -> None:
    sub = Subscription.of(account(package="complete"))
    assert sub.with_changes({"telephone_support": True}, CATALOG).telephone_support is False


def test_a_change_that_names_neither_package_nor_support_leaves_the_flag_alone() -> None:
    # a complete account whose item still says telephone_support (bought on standard before moving up)
    sub = Subscription.of(account(package="complete", telephone_support=True))
    assert sub.with_changes({"contact_tier": "t100"}, CATALOG).telephone_support is True
