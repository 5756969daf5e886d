"""The billing calendar: anniversaries on the anchor day, billing periods, billing dates.

A subscription started on ``started_on`` has its anchor day ``started_on.day``. The k-th anniversary
(k periods of ``period_months`` months later) falls on the anchor day, or on the month's last day when the
month is shorter; the anchor is kept (started 31 Jan: 28/29 Feb, 31 Mar, 30 Apr).

The first period is paid at signup, so ``started_on`` itself is not a billing date: billing dates are the
anniversaries k ≥ 1. Periods are half-open ``[start, end)`` and tile time with no gap or overlap.
Everything is arithmetic on month indexes; nothing loops day by day.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        """Months in one period of this cycle: 1 or 12."""
        return 1 if self is BillingCycle.MONTHLY else 12


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period ``[start, end)``: ``end`` is the next period's start and is not in this one."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a period must end after it starts ({self.start} .. {self.end})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, d: date) -> bool:
        return self.start <= d < self.end


def _check_months(period_months: int) -> None:
    if period_months < 1:
        raise ValueError(f"period_months must be at least 1, not {period_months}")


def anniversary(started_on: date, months: int) -> date:
    """``months`` months after ``started_on``: on the anchor day, or the month's last day when shorter."""
    if months < 0:
        raise ValueError(f"months must be 0 or more, not {months}")
    year, month0 = divmod(started_on.year * 12 + started_on.month - 1 + months, 12)
    month = month0 + 1
    last_day = _stdlib_calendar.monthrange(year, month)[1]
    return date(year, month, min(started_on.day, last_day))


def _last_index_at_or_before(started_on: date, period_months: int, day: date) -> int:
    """The largest k >= 0 with ``anniversary(started_on, k * period_months) <= day``; -1 before the start."""
    if day < started_on:
        return -1
    months_between = (day.year - started_on.year) * 12 + (day.month - started_on.month)
    k = months_between // period_months
    # Anniversaries strictly increase with k; the month arithmetic is off by at most one period.
    if anniversary(started_on, k * period_months) > day:
        k -= 1
    return k


def period_containing(started_on: date, period_months: int, day: date) -> Period:
    """The billing period ``[anniversary(k·m), anniversary((k+1)·m))`` that contains ``day``."""
    _check_months(period_months)
    if day < started_on:
        raise ValueError(f"{day} is before the subscription started ({started_on})")
    k = _last_index_at_or_before(started_on, period_months, day)
    return Period(
        start=anniversary(started_on, k * period_months),
        end=anniversary(started_on, (k + 1) * period_months),
    )


def first_billing_date(started_on: date, period_months: int) -> date:
    """One period after the start: the first period is paid at signup."""
    _check_months(period_months)
    return anniversary(started_on, period_months)


def billing_dates_between(started_on: date, period_months: int, after: date | None, up_to: date) -> list[date]:
    """Every billing date d with ``after < d <= up_to`` (``after=None``: from the start), increasing."""
    _check_months(period_months)
    first_k = 1 if after is None else max(1, _last_index_at_or_before(started_on, period_months, after) + 1)
    last_k = _last_index_at_or_before(started_on, period_months, up_to)
    return [anniversary(started_on, k * period_months) for k in range(first_k, last_k + 1)]


def next_billing_date(started_on: date, period_months: int, after: date) -> date:
    """The first billing date strictly after ``after`` (the first one if ``after`` is before the start)."""
    _check_months(period_months)
    k = max(1, _last_index_at_or_before(started_on, period_months, after) + 1)
    return anniversary(started_on, k * period_months)


def days_left(period: Period, on: date) -> int:
    """Days from ``on`` (counted) to the period's end (not counted)."""
    return (period.end - on).days
