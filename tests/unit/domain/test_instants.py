"""Instants and months: aware UTC only, sortable keys, calendar months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from overage.domain.instants import Month, midnight_utc, month_key, parse_instant, previous_month, to_key


def test_to_key_is_fixed_width_utc() -> None:
    assert to_key(datetime(2026, 2, 5, 10, 0, tzinfo=UTC)) == "2026-02-05T10:00:00.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert to_key(datetime(2026, 2, 5, 1, 30, 0, 7, tzinfo=plus_two)) == "2026-02-04T23:30:00.000007Z"


def test_to_key_order_is_time_order() -> None:
    instants = [
        datetime(2026, 2, 5, 10, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 2, 5, 10, 0, tzinfo=UTC),
        datetime(2026, 2, 5, 9, 0, tzinfo=timezone(timedelta(hours=-2))),
        datetime(999, 12, 31, tzinfo=UTC),
    ]
    assert sorted(instants) == sorted(instants, key=to_key)
    assert len({len(to_key(i)) for i in instants}) == 1


def test_to_key_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_key(datetime(2026, 2, 5, 10, 0))


def test_parse_instant_accepts_z_and_offsets() -> None:
    assert parse_instant("2026-02-05T10:00:00Z") == datetime(2026, 2, 5, 10, 0, tzinfo=UTC)
    parsed = parse_instant("2026-02-05T12:00:00+02:00")
    assert parsed == datetime(2026, 2, 5, 10, 0, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert parse_instant("2026-02-05T10:00:00.123456Z").microsecond == 123456


def test_parse_instant_round_trips_keys() -> None:
    dt = datetime(2026, 2, 5, 10, 0, 0, 42, tzinfo=UTC)
    assert parse_instant(to_key(dt)) == dt


@pytest.mark.parametrize("text", ["2026-02-05T10:00:00", "2026-02-05", "yesterday", ""])
def test_parse_instant_refuses_naive_or_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


def test_midnight_utc_and_month_key() -> None:
    assert midnight_utc(date(2026, 2, 10)) == datetime(2026, 2, 10, tzinfo=UTC)
    assert month_key(date(2026, 2, 10)) == "2026-02"


def test_month_navigation() -> None:
    feb = Month.parse("2026-02")
    assert str(feb) == "2026-02"
    assert feb.first_day == date(2026, 2, 1)
    assert feb.last_day == date(2026, 2, 28)
    assert Month(2024, 2).last_day == date(2024, 2, 29)
    assert feb.next() == Month(2026, 3)
    assert feb.previous() == Month(2026, 1)
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2025, 12) < Month(2026, 1)
    assert feb.start == datetime(2026, 2, 1, tzinfo=UTC)
    assert feb.contains(date(2026, 2, 28))
    assert not feb.contains(date(2026, 3, 1))


def test_previous_month_is_what_the_rollup_on_the_1st_covers() -> None:
    assert previous_month(date(2026, 3, 1)) == Month(2026, 2)
    assert previous_month(date(2026, 1, 1)) == Month(2025, 12)
    assert Month.of(date(2026, 3, 31)) == Month(2026, 3)


@pytest.mark.parametrize("text", ["2026-2", "2026-13", "2026-00", "26-02", "2026-02-01"])
def test_month_parse_refuses_bad_input(text: str) -> None:
    with pytest.raises(ValueError):
        Month.parse(text)
