"""Hypothesis over money rounding and proration."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain.calendar import period_containing
from overage.domain.money import CENT, InvoiceLine, round_money, totals, with_vat
from overage.domain.proration import prorate

SHORT = settings(max_examples=300, deadline=None)

prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("10000"), places=2, allow_nan=False)
amounts = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=6, allow_nan=False)
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
vat_rates = st.sampled_from([Decimal("0"), Decimal("0.20"), Decimal("0.05"), Decimal("0.175")])


@SHORT
@given(amounts)
def test_round_money_is_half_up_to_the_cent(x: Decimal) -> None:
    rounded = round_money(x)
    assert rounded == rounded.quantize(CENT)
    assert abs(x - rounded) <= Decimal("0.005")
    # Half-up: an exact half cent goes away from zero.
    if abs(x - rounded) == Decimal("0.005"):
        assert abs(rounded) > abs(x)
    assert round_money(-x) == -rounded


@SHORT
@given(st.integers(-1000, 1000))
def test_exact_half_cents_round_away_from_zero(cents: int) -> None:
    half = Decimal(cents) / 100 + Decimal("0.005")
    away_from_zero = Decimal(cents + 1) / 100 if half > 0 else Decimal(cents) / 100
    assert round_money(half) == away_from_zero


@SHORT
@given(st.lists(st.tuples(st.integers(0, 500), prices), max_size=6), vat_rates)
def test_totals_add_up(lines_spec: list[tuple[int, Decimal]], rate: Decimal) -> None:
    lines = [InvoiceLine.of("line", "line", q, p) for q, p in lines_spec]
    result = totals(lines, rate)
    assert result.net == sum((line.amount for line in lines), Decimal("0"))
    assert result.gross == result.net + result.vat
    assert result == with_vat(result.net, rate)
    assert abs(result.vat - result.net * rate) <= Decimal("0.005")


@SHORT
@given(starts, st.sampled_from([1, 12]), st.integers(0, 800), prices)
def test_proration_of_an_unchanged_price_is_zero(started_on: date, m: int, offset: int, price: Decimal) -> None:
    on = started_on + timedelta(days=offset)
    assert prorate(price, price, period_containing(started_on, m, on), on) == Decimal("0.00")


@SHORT
@given(starts, st.sampled_from([1, 12]), st.integers(0, 800), prices, prices)
def test_proration_is_antisymmetric_and_bounded(
    started_on: date, m: int, offset: int, old: Decimal, new: Decimal
) -> None:
    on = started_on + timedelta(days=offset)
    period = period_containing(started_on, m, on)
    charge = prorate(old, new, period, on)
    assert prorate(new, old, period, on) == -charge  # the credit is the charge's mirror
    assert abs(charge) <= abs(new - old)
    assert charge == charge.quantize(CENT)


@SHORT
@given(starts, st.sampled_from([1, 12]), st.integers(0, 800), prices, prices)
def test_proration_at_period_start_is_the_full_difference(
    started_on: date, m: int, offset: int, old: Decimal, new: Decimal
) -> None:
    period = period_containing(started_on, m, started_on + timedelta(days=offset))
    assert prorate(old, new, period, period.start) == new - old
