"""Hypothesis over the billing calendar, 2000-01-01 .. 2100-12-31."""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain.calendar import (
    anniversary,
    billing_dates_between,
    days_left,
    first_billing_date,
    next_billing_date,
    period_containing,
)

FIRST, LAST = date(2000, 1, 1), date(2100, 12, 31)
dates = st.dates(min_value=FIRST, max_value=LAST)
# Any start in the range, with anchors 28..31 (the month-end cases) over-sampled.
starts = st.one_of(
    dates,
    st.builds(
        lambda d, day: d.replace(day=min(day, calendar.monthrange(d.year, d.month)[1])),
        dates,
        st.integers(28, 31),
    ),
)
period_months = st.sampled_from([1, 12, 3])
SHORT = settings(max_examples=300, deadline=None)


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def lands_on_anchor(started_on: date, d: date) -> bool:
    last = calendar.monthrange(d.year, d.month)[1]
    return d.day == min(started_on.day, last)


@SHORT
@given(starts, period_months, st.integers(0, 40 * 12))
def test_anniversary_is_on_the_anchor_or_the_last_day(started_on: date, m: int, k: int) -> None:
    d = anniversary(started_on, k)
    assert month_index(d) - month_index(started_on) == k
    assert lands_on_anchor(started_on, d)


@SHORT
@given(starts, period_months, st.integers(0, 365 * 20))
def test_billing_dates_increase_land_on_anchor_and_never_skip(started_on: date, m: int, span: int) -> None:
    up_to = started_on + timedelta(days=span)
    found = billing_dates_between(started_on, m, None, up_to)
    assert all(started_on < d <= up_to for d in found)
    assert all(a < b for a, b in itertools.pairwise(found))
    assert all(lands_on_anchor(started_on, d) for d in found)
    # Consecutive billing dates are exactly one period of months apart (monthly: consecutive months).
    previous = started_on
    for d in found:
        assert month_index(d) - month_index(previous) == m
        previous = d
    # And nothing was left out: the next billing date lies beyond up_to.
    assert next_billing_date(started_on, m, up_to) > up_to
    assert month_index(next_billing_date(started_on, m, up_to)) - month_index(previous) == m


@SHORT
@given(starts, period_months, st.integers(0, 365 * 20))
def test_periods_tile_time(started_on: date, m: int, offset: int) -> None:
    day = started_on + timedelta(days=offset)
    period = period_containing(started_on, m, day)
    assert period.start <= day < period.end
    assert period.contains(day)
    assert 1 <= days_left(period, day) <= period.days
    following = period_containing(started_on, m, period.end)
    assert following.start == period.end  # no gap, no overlap
    before_end = period_containing(started_on, m, period.end - timedelta(days=1))
    assert before_end == period
    if period.start > started_on:
        assert period_containing(started_on, m, period.start - timedelta(days=1)).end == period.start
    # Every period boundary after the start is a billing date.
    assert period.end in billing_dates_between(started_on, m, period.start, period.end)


@SHORT
@given(starts, period_months, st.lists(st.integers(-400, 365 * 15), min_size=3, max_size=3))
def test_billing_dates_split_and_join(started_on: date, m: int, offsets: list[int]) -> None:
    a, b, c = sorted(started_on + timedelta(days=o) for o in offsets)
    joined = billing_dates_between(started_on, m, a, c)
    assert billing_dates_between(started_on, m, a, b) + billing_dates_between(started_on, m, b, c) == joined
    assert billing_dates_between(started_on, m, None, a) + joined == billing_dates_between(started_on, m, None, c)


@SHORT
@given(starts, period_months, st.integers(-400, 365 * 20))
def test_next_billing_date_agrees_with_billing_dates_between(started_on: date, m: int, offset: int) -> None:
    after = started_on + timedelta(days=offset)
    nxt = next_billing_date(started_on, m, after)
    assert nxt > after
    assert nxt >= first_billing_date(started_on, m)
    assert billing_dates_between(started_on, m, after, nxt) == [nxt]
    assert billing_dates_between(started_on, m, after, nxt - timedelta(days=1)) == []


@SHORT
@given(starts)
def test_first_billing_date_is_the_first_of_the_billing_dates(started_on: date) -> None:
    for m in (1, 12):
        first = first_billing_date(started_on, m)
        assert billing_dates_between(started_on, m, None, first) == [first]
        assert next_billing_date(started_on, m, started_on) == first
