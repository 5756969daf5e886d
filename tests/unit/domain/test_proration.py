"""Pro-rated plan changes: (new - old) x days left ÷ days in the period, half-up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from overage.domain.calendar import Period, period_containing
from overage.domain.proration import prorate

MARCH = Period(date(2026, 3, 10), date(2026, 4, 10))  # anchor 10th, 31 days


def test_spec_example_upgrade_t50_to_t150_on_25_march() -> None:
    # Given a monthly USD subscription anchored on the 10th, on t50 (24.00)
    period = period_containing(date(2026, 1, 10), 1, date(2026, 3, 25))
    # When it moves to t150 (34.00) on 25 Mar
    charge = prorate(Decimal("24.00"), Decimal("34.00"), period, date(2026, 3, 25))
    # Then it is charged (34 - 24) x 16 ÷ 31 = 5.16
    assert charge == Decimal("5.16")


def test_downgrade_is_a_credit_of_the_same_size() -> None:
    assert prorate(Decimal("34.00"), Decimal("24.00"), MARCH, date(2026, 3, 25)) == Decimal("-5.16")


def test_change_on_the_first_day_is_the_full_difference() -> None:
    assert prorate(Decimal("24.00"), Decimal("34.00"), MARCH, date(2026, 3, 10)) == Decimal("10.00")


def test_change_on_the_last_day_is_one_day() -> None:
    assert prorate(Decimal("24.00"), Decimal("34.00"), MARCH, date(2026, 4, 9)) == Decimal("0.32")  # 10/31


def test_same_price_costs_nothing() -> None:
    assert prorate(Decimal("24.00"), Decimal("24.00"), MARCH, date(2026, 3, 25)) == Decimal("0.00")


def test_tie_rounds_half_up() -> None:
    # 0.10 x 5 ÷ 10 = 0.05 exactly; 0.01 x 5 ÷ 10 = 0.005 → 0.01
    period = Period(date(2026, 1, 1), date(2026, 1, 11))
    assert prorate(Decimal("0"), Decimal("0.01"), period, date(2026, 1, 6)) == Decimal("0.01")
    assert prorate(Decimal("0.01"), Decimal("0"), period, date(2026, 1, 6)) == Decimal("-0.01")


def test_day_outside_the_period_is_an_error() -> None:
    with pytest.raises(ValueError):
        prorate(Decimal("24.00"), Decimal("34.00"), MARCH, date(2026, 4, 10))
    with pytest.raises(ValueError):
        prorate(Decimal("24.00"), Decimal("34.00"), MARCH, date(2026, 3, 9))


def test_float_prices_are_refused() -> None:
    with pytest.raises(TypeError):
        prorate(24.0, Decimal("34.00"), MARCH, date(2026, 3, 25))  # type: ignore[arg-type]
