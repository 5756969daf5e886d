"""Renewal rules (spec §3.1) on exact figures from the spec and the seed article."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from overage.domain.account import Account
from overage.domain.catalog import default_catalog
from overage.domain.renewal import bill_renewal, is_yearly_anniversary, months_since_start

from tests.builders import account_model

CATALOG = default_catalog()


def account(**fields: Any) -> Account:
    return account_model(
        **({"account_id": "acc_42", "billing_cycle": "annual", "billing_email": "billing@serenity.example"} | fields)
    )


def bill(acc: Account, day: date, contacts: int | None, streak: int = 0):
    issued = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return bill_renewal(acc, day, contacts, CATALOG, previous_streak=streak, issued_at=issued)


def test_seed_scenario_1_archived_back_under_the_tier_means_no_invoice() -> None:
    # Given the Serenity association: annual, t50, $288 paid, started 10 Jan; 48 active contacts on 10 Feb
    # When 10 Feb is billed
    outcome = bill(account(), date(2026, 2, 10), 48)
    # Then nothing is invoiced and the account is not in overrun
    assert outcome.invoice is None
    assert outcome.overrun_supplement == Decimal("0.00")
    assert outcome.reached_tier == "t50"


def test_seed_scenario_2_130_contacts_invoice_ten_dollars() -> None:
    outcome = bill(account(), date(2026, 2, 10), 130)
    invoice = outcome.invoice
    assert invoice is not None
    assert invoice.kind == "overrun"
    assert [(line.code, line.amount) for line in invoice.lines] == [("contact_overrun", Decimal("10.00"))]
    assert (invoice.net, invoice.vat, invoice.gross) == (Decimal("10.00"), Decimal("0.00"), Decimal("10.00"))
    assert (invoice.period_start, invoice.period_end) == (date(2026, 2, 10), date(2026, 3, 10))
    assert invoice.invoice_id == "inv_acc_42_overrun_2026-02-10"
    assert invoice.due_on == date(2026, 2, 24)
    assert outcome.reached_tier == "t150"


def test_monthly_subscription_plus_overrun_on_one_invoice() -> None:
    acc = account(billing_cycle="monthly")
    outcome = bill(acc, date(2026, 2, 10), 130)
    invoice = outcome.invoice
    assert invoice is not None and invoice.kind == "renewal"
    assert [(line.code, line.amount) for line in invoice.lines] == [
        ("subscription", Decimal("24.00")),
        ("contact_overrun", Decimal("10.00")),
    ]
    assert invoice.gross == Decimal("34.00")


def test_monthly_without_overrun_bills_the_paid_tier_only() -> None:
    invoice = bill(account(billing_cycle="monthly"), date(2026, 2, 10), 50).invoice
    assert invoice is not None
    assert invoice.gross == Decimal("24.00")


def test_gbp_complete_with_packs_shows_vat() -> None:
    # complete t100 in GBP = 24.00 + 16.00; telephone support is included (not billed); 2 packs × 8.00
    acc = account(
        billing_cycle="monthly",
        currency="GBP",
        package="complete",
        contact_tier="t100",
        telephone_support=True,
        profile_packs=2,
    )
    invoice = bill(acc, date(2026, 2, 10), 90).invoice
    assert invoice is not None
    assert [(line.code, line.amount) for line in invoice.lines] == [
        ("subscription", Decimal("40.00")),
        ("profile_packs", Decimal("16.00")),
    ]
    assert (invoice.net, invoice.vat, invoice.gross) == (Decimal("56.00"), Decimal("11.20"), Decimal("67.20"))


def test_standard_telephone_support_add_on_per_paying_user() -> None:
    acc = account(billing_cycle="monthly", currency="GBP", telephone_support=True, paying_users=3)
    invoice = bill(acc, date(2026, 2, 10), 10).invoice
    assert invoice is not None
    lines = {line.code: line for line in invoice.lines}
    assert lines["telephone_support"].quantity == 3
    assert lines["telephone_support"].amount == Decimal("36.00")
    assert invoice.net == Decimal("56.00")  # 20.00 + 36.00


def test_annual_yearly_anniversary_charges_twelve_months_and_any_supplement() -> None:
    outcome = bill(account(), date(2027, 1, 10), 130)
    invoice = outcome.invoice
    assert invoice is not None and invoice.kind == "renewal"
    assert [(line.code, line.amount) for line in invoice.lines] == [
        ("subscription", Decimal("288.00")),
        ("contact_overrun", Decimal("10.00")),
    ]
    assert (invoice.period_start, invoice.period_end) == (date(2027, 1, 10), date(2028, 1, 10))


def test_above_the_top_tier_is_billed_as_t2500_and_flagged_for_a_quote() -> None:
    outcome = bill(account(billing_cycle="monthly", contact_tier="t500"), date(2026, 2, 10), 3000)
    invoice = outcome.invoice
    assert invoice is not None
    assert outcome.custom_quote is True
    assert invoice.flags == ("custom_quote",)
    assert {line.code: line.amount for line in invoice.lines}["contact_overrun"] == Decimal("170.00")  # 249 − 79


def test_third_consecutive_overrun_recommends_the_tier_that_fits() -> None:
    second = bill(account(), date(2026, 3, 10), 130, streak=1)
    assert second.overrun_streak == 2 and second.recommendation is None
    third = bill(account(), date(2026, 4, 10), 130, streak=2)
    assert third.overrun_streak == 3
    assert third.recommendation is not None
    assert (third.recommendation.tier, third.recommendation.monthly_price) == ("t150", Decimal("34.00"))


def test_a_month_without_overrun_resets_the_streak() -> None:
    assert bill(account(), date(2026, 4, 10), 40, streak=2).overrun_streak == 0


def test_no_count_by_the_billing_moment_charges_no_overrun() -> None:
    outcome = bill(account(billing_cycle="monthly"), date(2026, 2, 10), None)
    assert outcome.invoice is not None
    assert outcome.invoice.gross == Decimal("24.00")
    assert "No contact count" in outcome.invoice.notes[0]


def test_started_on_the_31st_bills_on_month_ends() -> None:
    acc = account(billing_cycle="monthly", started_on=date(2024, 1, 31))
    invoice = bill(acc, date(2024, 2, 29), 10).invoice
    assert invoice is not None
    assert (invoice.period_start, invoice.period_end) == (date(2024, 2, 29), date(2024, 3, 31))
    assert months_since_start(date(2024, 1, 31), date(2024, 4, 30)) == 3
    with pytest.raises(ValueError):
        months_since_start(date(2024, 1, 31), date(2024, 4, 29))


def test_yearly_anniversary_detection() -> None:
    assert is_yearly_anniversary(date(2024, 2, 29), date(2025, 2, 28))
    assert not is_yearly_anniversary(date(2024, 2, 29), date(2024, 3, 29))
