"""The billing calendar: anchor day kept, month-end clamping, periods and billing dates."""

from __future__ import annotations

from datetime import date

import pytest
from overage.domain.calendar import (
    BillingCycle,
    Period,
    anniversary,
    billing_dates_between,
    days_left,
    first_billing_date,
    next_billing_date,
    period_containing,
)


def test_billing_cycle_months() -> None:
    assert BillingCycle.MONTHLY.months == 1
    assert BillingCycle.ANNUAL.months == 12
    assert BillingCycle("annual") is BillingCycle.ANNUAL


def test_started_31_jan_keeps_its_anchor_in_a_non_leap_year() -> None:
    # Given a monthly subscription started on 31 Jan 2025
    started = date(2025, 1, 31)
    # When its billing dates up to the end of May are listed
    dates = billing_dates_between(started, 1, None, date(2025, 5, 31))
    # Then they fall on the 28 Feb (shortest), 31 Mar, 30 Apr, 31 May: the anchor is kept
    assert dates == [date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31)]


def test_started_31_jan_in_a_leap_year_lands_on_29_feb() -> None:
    started = date(2024, 1, 31)
    assert billing_dates_between(started, 1, None, date(2024, 4, 30)) == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_started_on_29_feb_annual() -> None:
    started = date(2024, 2, 29)
    assert anniversary(started, 12) == date(2025, 2, 28)
    assert anniversary(started, 48) == date(2028, 2, 29)
    assert billing_dates_between(started, 12, None, date(2028, 12, 31)) == [
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_anniversary_zero_is_the_start() -> None:
    assert anniversary(date(2026, 1, 10), 0) == date(2026, 1, 10)
    with pytest.raises(ValueError):
        anniversary(date(2026, 1, 10), -1)


def test_first_billing_date_is_one_period_after_the_start() -> None:
    # The first period is paid at signup in the CRM
    assert first_billing_date(date(2026, 1, 10), 1) == date(2026, 2, 10)
    assert first_billing_date(date(2026, 1, 10), 12) == date(2027, 1, 10)


def test_start_date_is_not_a_billing_date() -> None:
    started = date(2026, 1, 10)
    assert billing_dates_between(started, 1, None, started) == []
    assert billing_dates_between(started, 1, None, date(2026, 2, 9)) == []
    assert billing_dates_between(started, 1, None, date(2026, 2, 10)) == [date(2026, 2, 10)]


def test_billing_dates_between_is_after_exclusive_up_to_inclusive() -> None:
    started = date(2026, 1, 10)
    assert billing_dates_between(started, 1, date(2026, 2, 10), date(2026, 4, 10)) == [
        date(2026, 3, 10),
        date(2026, 4, 10),
    ]
    assert billing_dates_between(started, 1, date(2026, 2, 9), date(2026, 2, 10)) == [date(2026, 2, 10)]
    assert billing_dates_between(started, 1, date(2026, 4, 10), date(2026, 4, 10)) == []
    assert billing_dates_between(started, 1, date(2026, 5, 1), date(2026, 4, 1)) == []


def test_billing_dates_before_the_start_are_none() -> None:
    started = date(2026, 1, 10)
    assert billing_dates_between(started, 1, date(2020, 1, 1), date(2025, 12, 31)) == []
    assert billing_dates_between(started, 1, date(2020, 1, 1), date(2026, 2, 10)) == [date(2026, 2, 10)]


def test_annual_subscription_supplements_monthly_and_price_yearly() -> None:
    # Given the worked example: annual, started 10 Jan 2026
    started = date(2026, 1, 10)
    # Then supplements are looked at on each monthly anniversary, the yearly price on the yearly one
    assert billing_dates_between(started, 1, None, date(2026, 3, 31)) == [
        date(2026, 2, 10),
        date(2026, 3, 10),
    ]
    assert billing_dates_between(started, 12, None, date(2028, 1, 10)) == [
        date(2027, 1, 10),
        date(2028, 1, 10),
    ]


def test_long_range_is_computed_arithmetically() -> None:
    dates = billing_dates_between(date(2000, 1, 31), 1, None, date(2100, 12, 31))
    assert len(dates) == 101 * 12 - 1
    assert dates[-1] == date(2100, 12, 31)


def test_next_billing_date() -> None:
    started = date(2025, 1, 31)
    assert next_billing_date(started, 1, date(2025, 2, 1)) == date(2025, 2, 28)
    assert next_billing_date(started, 1, date(2025, 2, 28)) == date(2025, 3, 31)
    assert next_billing_date(started, 1, started) == date(2025, 2, 28)
    assert next_billing_date(started, 1, date(2024, 6, 1)) == date(2025, 2, 28)
    assert next_billing_date(started, 12, date(2025, 6, 1)) == date(2026, 1, 31)


def test_period_containing_the_spec_example() -> None:
    # Given monthly, anchor 10th: 25 Mar falls in 10 Mar - 10 Apr, 31 days
    period = period_containing(date(2026, 1, 10), 1, date(2026, 3, 25))
    assert period == Period(date(2026, 3, 10), date(2026, 4, 10))
    assert period.days == 31
    assert days_left(period, date(2026, 3, 25)) == 16


def test_period_boundaries_belong_to_the_period_they_start() -> None:
    started = date(2025, 1, 31)
    assert period_containing(started, 1, started) == Period(date(2025, 1, 31), date(2025, 2, 28))
    assert period_containing(started, 1, date(2025, 2, 27)) == Period(date(2025, 1, 31), date(2025, 2, 28))
    assert period_containing(started, 1, date(2025, 2, 28)) == Period(date(2025, 2, 28), date(2025, 3, 31))
    assert period_containing(started, 12, date(2025, 12, 31)) == Period(date(2025, 1, 31), date(2026, 1, 31))


def test_period_containing_a_day_before_the_start_is_an_error() -> None:
    with pytest.raises(ValueError):
        period_containing(date(2026, 1, 10), 1, date(2026, 1, 9))


def test_period_rules() -> None:
    period = Period(date(2026, 2, 10), date(2026, 3, 10))
    assert period.days == 28
    assert period.contains(date(2026, 2, 10))
    assert period.contains(date(2026, 3, 9))
    assert not period.contains(date(2026, 3, 10))
    assert days_left(period, date(2026, 2, 10)) == 28
    with pytest.raises(ValueError):
        Period(date(2026, 3, 10), date(2026, 3, 10))


def test_period_months_must_be_positive() -> None:
    with pytest.raises(ValueError):
        billing_dates_between(date(2026, 1, 10), 0, None, date(2026, 3, 10))
    with pytest.raises(ValueError):
        next_billing_date(date(2026, 1, 10), 0, date(2026, 3, 10))
