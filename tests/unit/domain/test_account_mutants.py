"""The account's pure rules, pinned where a mutation of them went unnoticed: the first date overage bills, the
standing ``GET /accounts/{id}`` shows (overrun, excess), version keys and the 16 billing shards (README)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pytest
from overage.domain.account import (
    Account,
    all_billing_shards,
    billing_shard,
    first_billed_date,
    standing,
    version_instant,
    version_key,
)
from overage.domain.catalog import default_catalog

from tests.builders import account_model

CATALOG = default_catalog()


def account(**fields: Any) -> Account:
    return account_model(**{"account_id": "acc_1", "contact_tier": "t100", **fields})


# --- the first billing date overage bills (spec §3.1: the first period is paid at signup) -------------------


@pytest.mark.parametrize(
    ("known_since", "first"),
    [
        (date(2025, 12, 1), date(2026, 2, 10)),  # known before the start: one period after it
        (date(2026, 1, 10), date(2026, 2, 10)),  # known on the start day: the start itself is not a billing date
        (date(2026, 2, 9), date(2026, 2, 10)),  # the day before a billing date
        (date(2026, 2, 10), date(2026, 2, 10)),  # on a billing date: billed from that date
        (date(2026, 2, 11), date(2026, 3, 10)),  # the day after: that date's period was before overage knew it
        (date(2026, 3, 11), date(2026, 4, 10)),
    ],
)
def test_a_monthly_account_is_billed_from_the_first_billing_date_on_or_after_overage_learns_of_it(
    known_since: date, first: date
) -> None:
    assert first_billed_date(date(2026, 1, 10), 1, known_since) == first


def test_an_annual_account_is_billed_from_its_first_anniversary_on_or_after_the_day_known() -> None:
    started = date(2026, 1, 10)
    assert first_billed_date(started, 12, date(2027, 1, 10)) == date(2027, 1, 10)
    assert first_billed_date(started, 12, date(2027, 1, 11)) == date(2028, 1, 10)


def test_started_on_the_31st_the_first_billed_date_falls_on_the_month_end() -> None:
    assert first_billed_date(date(2026, 1, 31), 1, date(2026, 2, 28)) == date(2026, 2, 28)
    assert first_billed_date(date(2026, 1, 31), 1, date(2026, 3, 1)) == date(2026, 3, 31)


# --- standing -------------------------------------------------------------------------------------------------


def test_an_account_within_its_paid_tier_is_not_in_overrun() -> None:
    shown = standing(account(contacts_active=100, contacts_archived=7), CATALOG)
    assert shown["contacts"]["tier_reached"] == "t100"
    assert shown["contacts"]["in_overrun"] is False
    assert shown["contacts"]["active"] == 100 and shown["contacts"]["archived"] == 7


def test_a_count_in_a_higher_tier_is_an_overrun() -> None:
    shown = standing(account(contacts_active=101), CATALOG)
    assert shown["contacts"]["tier_reached"] == "t150"
    assert shown["contacts"]["in_overrun"] is True


def test_no_contact_count_yet_shows_no_contacts() -> None:
    assert standing(account(), CATALOG)["contacts"] is None


@pytest.mark.parametrize(
    ("count", "packs", "limit", "excess"),
    [
        (None, 0, 200, 0),  # no snapshot yet: nothing over
        (150, 0, 200, 0),
        (200, 0, 200, 0),  # at the limit is not over it
        (201, 0, 200, 1),
        (237, 0, 200, 37),
        (237, 1, 250, 0),  # a pack adds 50
        (263, 1, 250, 13),
    ],
)
def test_the_excess_shown_is_the_count_over_the_limit(count: int | None, packs: int, limit: int, excess: int) -> None:
    shown = standing(account(profiles_count=count, profile_packs=packs), CATALOG)["profiles"]
    assert (shown["count"], shown["limit"], shown["excess"]) == (count, limit, excess)


def test_the_standing_says_when_the_counts_were_taken() -> None:
    acc = account(
        contacts_active=40,
        contacts_version="2026-02-01T09:00:00.000000Z#evt_7",
        profiles_count=120,
        profiles_version="2026-02-02T10:30:00.000000Z#evt_8",
    )
    shown = standing(acc, CATALOG)
    assert shown["contacts"]["as_of"] == "2026-02-01T09:00:00.000000Z"
    assert shown["profiles"]["as_of"] == "2026-02-02T10:30:00.000000Z"
    assert standing(account(), CATALOG)["profiles"]["as_of"] is None


def test_a_new_account_is_not_restricted_and_has_no_overrun_streak() -> None:
    acc = account()
    assert acc.restricted is False
    assert acc.overrun_streak == 0
    assert standing(acc, CATALOG)["restricted"] is False


def test_billing_cycles_have_their_months() -> None:
    assert account(billing_cycle="monthly").period_months == 1
    assert account(billing_cycle="annual").period_months == 12


# --- version keys and shards ----------------------------------------------------------------------------------


def test_a_version_key_is_the_instant_then_the_event_id() -> None:
    key = version_key(datetime(2026, 3, 1, 9, 0, 5, tzinfo=UTC), "evt_9")
    assert key == "2026-03-01T09:00:05.000000Z#evt_9"
    assert version_instant(key) == "2026-03-01T09:00:05.000000Z"
    assert version_instant(None) is None
    assert version_instant("") is None


def test_there_are_sixteen_billing_shards() -> None:
    assert all_billing_shards() == [f"{n:02d}" for n in range(16)]


@pytest.mark.parametrize("account_id", ["acc_1", "acc_42", "acc_serenity", "acc_zzzzzzzzzzzz"])
def test_the_billing_shard_is_the_first_four_bytes_of_the_ids_sha256_modulo_16(account_id: str) -> None:
    first_four_bytes = int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16)
    assert billing_shard(account_id) == f"{first_four_bytes % 16:02d}"
