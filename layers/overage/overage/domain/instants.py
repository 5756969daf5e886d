"""Instants and months: aware UTC datetimes, fixed-width sortable keys, calendar months (UTC).

``to_key`` gives strings whose lexical order is time order (used in DynamoDB sort keys and GSIs).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")

# The years overage works in: every date and instant it is given (webhook fields, a run's business time, a report
# month) lies in them, so no calendar arithmetic on one (a billing date years later, a grace end, a UTC
# conversion) can overflow Python's calendar (years 1-9999). Outside them: a 422 naming the field.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def in_supported_years(d: date) -> bool:
    return FIRST_YEAR <= d.year <= LAST_YEAR


def _require_aware(dt: datetime) -> None:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"a naive datetime is not an instant: {dt.isoformat()} (give a UTC offset or 'Z')")


def to_key(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; fixed width, so string order is time order."""
    if not isinstance(dt, datetime):
        raise TypeError(f"to_key needs a datetime, not {type(dt).__name__}")
    _require_aware(dt)
    u = dt.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"


def parse_instant(s: str) -> datetime:
    """Parse ISO-8601 with ``Z`` or an offset into an aware UTC datetime; naive input is a ``ValueError``."""
    if not isinstance(s, str):
        raise TypeError(f"an instant is a string, not {type(s).__name__}")
    text = s.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 instant: {s!r}") from exc
    _require_aware(dt)
    return dt.astimezone(UTC)


def midnight_utc(d: date) -> datetime:
    """00:00:00 UTC at the start of ``d``."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def month_key(d: date) -> str:
    """``YYYY-MM`` of a date (of a datetime: its calendar date as given; convert to UTC first)."""
    return f"{d.year:04d}-{d.month:02d}"


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month; ``str(Month(2026, 2)) == "2026-02"``; ordered by time."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, not {self.month}")
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year must be 1..9999, not {self.year}")

    @classmethod
    def of(cls, d: date) -> Month:
        return cls(d.year, d.month)

    @classmethod
    def parse(cls, s: str) -> Month:
        """Parse ``YYYY-MM``."""
        match = _MONTH_RE.fullmatch(s)
        if match is None:
            raise ValueError(f"not a month (YYYY-MM): {s!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def start(self) -> datetime:
        """00:00 UTC on the first day: the month is ``[start, next().start)``."""
        return midnight_utc(self.first_day)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def contains(self, d: date) -> bool:
        return (d.year, d.month) == (self.year, self.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def previous_month(d: date) -> Month:
    """The calendar month before the one ``d`` falls in (what a run on the 1st rolls up)."""
    return Month.of(d).previous()
