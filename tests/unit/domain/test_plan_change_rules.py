"""The pure rules of plan changes: classification, when a change takes effect, and what it costs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from overage.domain.account import Account
from overage.domain.catalog import default_catalog
from overage.domain.plan_changes import (
    Subscription,
    apply_at_billing_date,
    change_document,
    check_immediate,
    classify,
    period_end,
    settle,
    validate,
)
from overage.errors import Conflict, InvalidRequest

from tests.builders import account_model

CATALOG = default_catalog()


def account(**fields: Any) -> Account:
    return account_model(
        **({"profile_version": "2026-01-10T08:00:00.000000Z#evt_1", "next_billing_date": date(2026, 4, 10)} | fields)
    )


def change(acc: Account, **changes: Any) -> tuple[Subscription, Subscription]:
    return validate(acc, changes, CATALOG)


# ---------------------------------------------------------------- classification
@pytest.mark.parametrize(
    ("changes", "kind", "treated_as"),
    [
        ({"contact_tier": "t150"}, "upgrade", "upgrade"),
        ({"package": "complete"}, "upgrade", "upgrade"),
        ({"billing_cycle": "annual"}, "upgrade", "upgrade"),
        ({"profile_packs": 1, "telephone_support": True}, "upgrade", "upgrade"),
        ({"paying_users": 2}, "downgrade", "downgrade"),
        ({"contact_tier": "t250", "profile_packs": 0}, "mixed", "upgrade"),  # 34 → 44
        ({"contact_tier": "t100", "profile_packs": 0}, "mixed", "downgrade"),  # 34 → 29
        ({"billing_cycle": "annual", "paying_users": 2}, "mixed", "downgrade"),  # same price: not dearer
    ],
)
def test_classification(changes: dict[str, Any], kind: str, treated_as: str) -> None:
    acc = account(profile_packs=1)
    old, new = change(acc, **changes)
    result = classify(old, new, CATALOG, "USD")
    assert result is not None
    assert (result.kind, result.treated_as) == (kind, treated_as)
    assert result.default_effective == ("immediate" if treated_as == "upgrade" else "period_end")


def test_moving_to_complete_ends_the_add_on_but_not_telephone_support() -> None:
    old, new = change(account(telephone_support=True), package="complete")
    assert new.telephone_support is False
    result = classify(old, new, CATALOG, "USD")
    assert result is not None
    assert result.parts == {"package": "up"}  # entitlement unchanged: included instead of bought


def test_monthly_price_includes_the_add_ons() -> None:
    result = classify(*change(account(paying_users=4), telephone_support=True, profile_packs=2), CATALOG, "USD")
    assert result is not None
    assert (result.monthly_price_from, result.monthly_price_to) == (Decimal("24.00"), Decimal("104.00"))


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("acc", "changes", "field"),
    [
        (account(), {"package": "gold"}, "data.package"),
        (account(), {"contact_tier": "t3"}, "data.contact_tier"),
        (account(contacts_active=120), {"contact_tier": "t100"}, "data.contact_tier"),
        (account(), {"package": "complete", "telephone_support": True}, "data.telephone_support"),
        (account(package="complete"), {"contact_tier": "t100", "telephone_support": True}, "data.telephone_support"),
        (account(), {"contact_tier": "t50", "paying_users": 3}, "data"),
        (account(package="complete", telephone_support=True), {"telephone_support": False}, "data"),
    ],
)
def test_invalid_changes_name_the_field(acc: Account, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate(acc, changes, CATALOG)
    assert field in raised.value.fields


def test_a_tier_that_fits_the_contacts_is_fine() -> None:
    _, new = change(account(contacts_active=100), contact_tier="t100")
    assert new.contact_tier == "t100"


@pytest.mark.parametrize(
    ("paid", "asked", "active"),
    [
        ("t500", "t2500", 2500),  # up to the top tier at its maximum
        ("t500", "t2500", 2501),  # up to the top tier above it: billed as t2500 (custom quote), no supplement
        ("t500", "t2500", 1_000_000),
        ("t500", "t1000", 1000),  # up to a tier at its maximum
        ("t2500", "t1000", 1000),  # down to a tier at its maximum
    ],
)
def test_a_tier_at_or_above_the_one_the_count_is_billed_at_is_accepted(paid: str, asked: str, active: int) -> None:
    _, new = change(account(contact_tier=paid, contacts_active=active), contact_tier=asked)
    assert new.contact_tier == asked


@pytest.mark.parametrize(
    ("paid", "asked", "active", "fit"),
    [
        ("t2500", "t1000", 1001, "t2500"),  # down below the count's tier
        ("t2500", "t1000", 2500, "t2500"),
        ("t2500", "t1000", 2501, "t2500"),  # above every tier: only t2500 fits
        ("t50", "t1000", 1001, "t2500"),  # up, but not far enough
        ("t2500", "t500", 501, "t1000"),
    ],
)
def test_a_tier_below_the_one_the_count_is_billed_at_is_422_naming_the_fitting_tier(
    paid: str, asked: str, active: int, fit: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        change(account(contact_tier=paid, contacts_active=active), contact_tier=asked)
    message = raised.value.fields["data.contact_tier"]
    assert f"choose {fit} or above" in message
    assert f"tier {asked} holds up to" in message


# ---------------------------------------------------------------- when
def test_period_end_is_the_next_billing_date_or_the_next_yearly_anniversary() -> None:
    monthly = account()
    assert period_end(monthly, Subscription.of(monthly), date(2026, 3, 25)) == date(2026, 4, 10)
    annual = account(billing_cycle="annual")
    assert period_end(annual, Subscription.of(annual), date(2026, 3, 25)) == date(2027, 1, 10)
    # a billing date not invoiced yet still ends its own period
    behind = account(next_billing_date=date(2026, 3, 10))
    assert period_end(behind, Subscription.of(behind), date(2026, 3, 25)) == date(2026, 4, 10)


def test_an_immediate_change_must_fall_in_the_invoiced_period() -> None:
    acc = account()  # invoiced 10 Mar .. 10 Apr
    check_immediate(acc, date(2026, 3, 10))
    check_immediate(acc, date(2026, 4, 9))
    with pytest.raises(InvalidRequest):
        check_immediate(acc, date(2026, 3, 9))
    with pytest.raises(Conflict):
        check_immediate(acc, date(2026, 4, 10))
    with pytest.raises(InvalidRequest):
        check_immediate(account(next_billing_date=date(2026, 2, 10)), date(2026, 1, 9))


# ---------------------------------------------------------------- what it costs
def test_spec_example_5_16() -> None:
    acc = account()
    settlement = settle(acc, *change(acc, contact_tier="t150"), CATALOG, date(2026, 3, 25))
    assert [line.amount for line in settlement.lines] == [Decimal("5.16")]
    assert (settlement.covers.start, settlement.covers.end) == (date(2026, 3, 25), date(2026, 4, 10))
    assert settlement.started_on is None and settlement.next_billing_date is None


def test_annual_upgrade_over_the_year() -> None:
    acc = account(billing_cycle="annual")
    settlement = settle(acc, *change(acc, contact_tier="t150"), CATALOG, date(2026, 3, 25))
    assert settlement.net == Decimal("95.67")  # 120 × 291 ÷ 365


def test_annual_to_monthly_immediately_credits_the_unused_year_and_charges_a_month() -> None:
    acc = account(billing_cycle="annual")
    settlement = settle(acc, *change(acc, billing_cycle="monthly"), CATALOG, date(2026, 3, 25))
    # −288 × 291 ÷ 365 = −229.61; + 24.00 for 25 Mar .. 25 Apr
    assert [line.amount for line in settlement.lines] == [Decimal("24.00"), Decimal("-229.61")]
    assert (settlement.started_on, settlement.next_billing_date) == (date(2026, 3, 25), date(2026, 4, 25))


def test_a_free_change_has_no_lines() -> None:
    acc = account()
    assert settle(acc, *change(acc, paying_users=5), CATALOG, date(2026, 3, 25)).lines == ()


# ---------------------------------------------------------------- a pending change on its billing date
def test_switch_to_annual_on_a_billing_date_is_priced_as_a_yearly_anniversary() -> None:
    acc = account()
    applied = apply_at_billing_date(acc, {"billing_cycle": "annual"}, date(2026, 4, 10), CATALOG, "v")
    assert applied.updates["started_on"] == "2026-04-10"
    assert applied.priced.started_on == date(2025, 4, 10)
    assert applied.priced.profile_version == "v"
    assert applied.priced.pending_change is None


def test_a_leap_day_switch_is_priced_from_the_previous_leap_day() -> None:
    acc = account(started_on=date(2024, 1, 31), next_billing_date=date(2028, 2, 29))
    applied = apply_at_billing_date(acc, {"billing_cycle": "annual"}, date(2028, 2, 29), CATALOG, "v")
    assert applied.priced.started_on == date(2024, 2, 29)


def test_the_version_never_goes_back() -> None:
    acc = account(profile_version="2026-05-01T00:00:00.000000Z#evt_9")
    applied = apply_at_billing_date(acc, {"contact_tier": "t100"}, date(2026, 4, 10), CATALOG, "2026-04-10T00")
    assert applied.updates["profile_version"] == "2026-05-01T00:00:00.000000Z#evt_9"


def test_the_change_invoice_has_a_deterministic_id_and_the_payment_deadline() -> None:
    acc = account()
    settlement = settle(acc, *change(acc, contact_tier="t150"), CATALOG, date(2026, 3, 25))
    issued = datetime.fromisoformat("2026-03-25T10:00:00+00:00")
    invoice = change_document(acc, "evt_1", date(2026, 3, 25), settlement, CATALOG, issued)
    assert invoice is not None
    assert (invoice.kind, invoice.invoice_id, invoice.due_on) == (
        "plan_change",
        "inv_acc_1_plan_change_2026-03-25-evt_1",
        date(2026, 4, 8),
    )
