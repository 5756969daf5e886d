"""Fair use of telephone support (spec §3.3), pinned where a mutation went unnoticed: calls before the subscription,
the first plan change after a call, a call of no length, users by level, a month without calls, the 16 month
shards (README)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from overage.domain.catalog import default_catalog
from overage.domain.fair_use import (
    Call,
    SubscriptionAt,
    all_month_shards,
    entitlement,
    month_shard,
    roll_up,
    subscription_at,
)
from overage.domain.instants import Month

CATALOG = default_catalog()
JANUARY = Month(2026, 1)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def entitled(package: str, call_day: date | None, subscribed_since: date | None) -> str:
    return entitlement(
        package=package,
        telephone_support=False,
        customer_since=date(2020, 1, 1),
        catalog=CATALOG,
        call_day=call_day,
        subscribed_since=subscribed_since,
    )


# --- who may call ---------------------------------------------------------------------------------------------


def test_a_call_before_the_subscription_started_is_not_entitled_even_on_complete() -> None:
    assert entitled("complete", date(2026, 1, 9), date(2026, 1, 10)) == "not_entitled"


def test_a_call_on_the_day_the_subscription_started_is_covered() -> None:
    assert entitled("complete", date(2026, 1, 10), date(2026, 1, 10)) == "included"


def test_without_both_days_the_package_decides() -> None:
    assert entitled("complete", None, date(2026, 1, 10)) == "included"
    assert entitled("complete", date(2026, 1, 9), None) == "included"
    assert entitled("standard", None, None) == "not_entitled"


# --- the subscription a call was made under ---------------------------------------------------------------------


def record(sk: str, effective_at: str, **before: object) -> dict[str, object]:
    snapshot = {"package": "standard", "telephone_support": True, "paying_users": 2} | before
    return {"sk": sk, "status": "applied", "effective_at": effective_at, "from": snapshot}


def test_the_first_change_after_the_call_in_time_wins_whatever_its_id() -> None:
    now = SubscriptionAt(package="complete", telephone_support=False, paying_users=4)
    changes = [
        record("CHANGE#a", "2026-01-25T00:00:00Z", paying_users=7),  # the smaller id, the later change
        record("CHANGE#b", "2026-01-20T00:00:00Z", paying_users=3),
    ]
    assert subscription_at(START, now, changes) == SubscriptionAt("standard", True, 3, changed_since="CHANGE#b")


def test_two_changes_at_the_same_moment_are_taken_in_id_order() -> None:
    now = SubscriptionAt(package="complete", telephone_support=False, paying_users=4)
    changes = [
        record("CHANGE#2", "2026-01-20T00:00:00Z", paying_users=5),
        record("CHANGE#1", "2026-01-20T00:00:00Z", paying_users=3),
    ]
    assert subscription_at(START, now, changes) == SubscriptionAt("standard", True, 3, changed_since="CHANGE#1")


# --- calls and the rollup -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_call_lasts_at_least_one_second(seconds: int) -> None:
    with pytest.raises(ValueError, match="at least one second"):
        Call("c1", "u1", START, seconds, "included", 1)


def test_users_by_level() -> None:
    calls = [
        Call("c1", "u1", START, 10 * 60, "included", 3),  # within
        Call("c2", "u2", START + timedelta(hours=1), 50 * 60, "included", 3),  # over the 45-minute allowance
        Call("c3", "u3", START + timedelta(hours=2), 61 * 60, "included", 3),  # review, over 60
    ]
    rollup = roll_up("acc_1", JANUARY, calls, CATALOG, "GBP")
    assert [u.user_id for u in rollup.users_at("review")] == ["u3"]
    assert [u.user_id for u in rollup.users_at("over_allowance", "review")] == ["u2", "u3"]
    assert [u.user_id for u in rollup.users_at("within")] == ["u1"]


def test_a_month_without_calls_has_no_paying_user_unless_told() -> None:
    quiet = roll_up("acc_1", JANUARY, [], CATALOG, "GBP")
    assert (quiet.paying_users, quiet.pooled_allowance_minutes, quiet.status) == (0, 0, "within")
    told = roll_up("acc_1", JANUARY, [], CATALOG, "GBP", paying_users_without_calls=3)
    assert (told.paying_users, told.pooled_allowance_minutes) == (3, 135)


# --- month shards -----------------------------------------------------------------------------------------------


def test_there_are_sixteen_month_shards() -> None:
    assert all_month_shards() == [f"{n:02d}" for n in range(16)]


@pytest.mark.parametrize("account_id", ["acc_1", "acc_42", "acc_serenity", "acc_zzzzzzzzzzzz"])
def test_the_month_shard_is_the_first_four_bytes_of_the_ids_sha256_modulo_16(account_id: str) -> None:
    first_four_bytes = int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16)
    assert month_shard(account_id) == f"{first_four_bytes % 16:02d}"
