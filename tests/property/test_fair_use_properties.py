"""Hypothesis over the fair-use rollup (spec §3.3): totals, worst-user status, order, monotonicity, offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain.catalog import default_catalog
from overage.domain.fair_use import LEVELS, Call, level_of, roll_up, training_hours
from overage.domain.instants import Month

SHORT = settings(max_examples=200, deadline=None)
CATALOG = default_catalog()
POLICY = CATALOG.policy.fair_use
JANUARY = Month(2026, 1)
START = datetime(2026, 1, 1, tzinfo=UTC)
SECONDS_IN_JANUARY = 31 * 24 * 3600


@st.composite
def call_sets(draw: st.DrawFn, max_calls: int = 30) -> list[Call]:
    n = draw(st.integers(0, max_calls))
    paying = draw(st.integers(0, 5))
    calls = []
    for i in range(n):
        calls.append(
            Call(
                call_id=f"c{i}",
                user_id=draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
                started_at=START + timedelta(seconds=draw(st.integers(0, SECONDS_IN_JANUARY - 1))),
                duration_seconds=draw(st.integers(1, 7200)),
                entitlement=draw(st.sampled_from(["included", "add_on", "legacy", "not_entitled"])),
                paying_users=paying,
            )
        )
    return calls


def rollup(calls: list[Call]):
    return roll_up("acc", JANUARY, calls, CATALOG, "GBP")


@SHORT
@given(call_sets())
def test_totals_are_the_sum_of_the_users(calls: list[Call]) -> None:
    result = rollup(calls)
    assert result.totals.calls == sum(u.calls for u in result.users)
    assert result.totals.seconds == sum(u.seconds for u in result.users)
    assert result.totals.long_calls == sum(len(u.long_calls) for u in result.users)
    assert result.totals.calls + result.not_entitled.calls == len(calls)
    entitled_seconds = sum(c.duration_seconds for c in calls if c.entitlement != "not_entitled")
    assert result.totals.seconds == entitled_seconds


@SHORT
@given(call_sets())
def test_status_is_the_worst_users_level(calls: list[Call]) -> None:
    result = rollup(calls)
    worst = max((LEVELS.index(u.level) for u in result.users), default=0)
    assert result.status == LEVELS[worst]
    for user in result.users:
        assert user.level == level_of(user.seconds, POLICY)


@SHORT
@given(call_sets(), st.randoms())
def test_the_order_calls_arrive_in_changes_nothing(calls: list[Call], rnd) -> None:
    shuffled = list(calls)
    rnd.shuffle(shuffled)
    assert rollup(shuffled) == rollup(calls)


@SHORT
@given(call_sets(), st.integers(1, 7200), st.sampled_from(["u1", "u2", "u5"]))
def test_a_late_call_never_lowers_a_level(calls: list[Call], seconds: int, user: str) -> None:
    before = rollup(calls)
    late = Call("late", user, START + timedelta(days=3), seconds, "included", calls[-1].paying_users if calls else 1)
    after = rollup([*calls, late])
    levels_before = {u.user_id: LEVELS.index(u.level) for u in before.users}
    for u in after.users:
        assert LEVELS.index(u.level) >= levels_before.get(u.user_id, 0)
    assert LEVELS.index(after.status) >= LEVELS.index(before.status)


@SHORT
@given(call_sets())
def test_pooled_allowance_and_long_calls_follow_the_policy(calls: list[Call]) -> None:
    result = rollup(calls)
    assert result.pooled_allowance_minutes == 45 * result.paying_users
    assert result.over_pooled_allowance == (result.totals.seconds > result.pooled_allowance_minutes * 60)
    for user in result.users:
        assert all(c.seconds > 900 for c in user.long_calls)
        own = [c for c in calls if c.user_id == user.user_id and c.entitlement != "not_entitled"]
        assert len(user.long_calls) == sum(1 for c in own if c.duration_seconds > 900)


@SHORT
@given(st.integers(1, 100 * 3600))
def test_training_hours_cover_the_time_over_the_allowance_and_no_more(seconds: int) -> None:
    hours = training_hours(seconds, POLICY)
    over = seconds - 45 * 60
    if over <= 0:
        assert hours == 0
    else:
        assert (hours - 1) * 3600 < over <= hours * 3600


@SHORT
@given(call_sets())
def test_offers_are_made_exactly_to_users_in_review_and_add_up(calls: list[Call]) -> None:
    for user in rollup(calls).users:
        offer = user.training_offer
        assert (offer is not None) == (user.level == "review")
        if offer is not None:
            assert offer.net == Decimal(offer.hours) * Decimal("60.00")
            assert offer.vat == (offer.net * Decimal("0.20")).quantize(Decimal("0.01"))
            assert offer.gross == offer.net + offer.vat
