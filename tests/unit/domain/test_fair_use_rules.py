"""Fair-use rules (spec §3.3) on exact call sets: boundaries to the second, pooling, offers, terms, what to tell."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from overage.domain.catalog import default_catalog
from overage.domain.fair_use import (
    Call,
    Entitlement,
    SubscriptionAt,
    account_notice,
    clock,
    entitlement,
    minutes,
    new_facts,
    roll_up,
    subscription_at,
    training_hours,
)
from overage.domain.instants import Month

CATALOG = default_catalog()
JANUARY = Month(2026, 1)
_n = 0


def call(
    seconds: int,
    user: str = "u1",
    *,
    at: datetime | None = None,
    entitled: Entitlement = "included",
    paying_users: int = 1,
    call_id: str | None = None,
) -> Call:
    global _n
    _n += 1
    return Call(
        call_id=call_id or f"c{_n}",
        user_id=user,
        started_at=at or datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(hours=_n),
        duration_seconds=seconds,
        entitlement=entitled,
        paying_users=paying_users,
    )


def rollup(calls: list[Call], currency: str = "GBP"):
    return roll_up("acc_1", JANUARY, calls, CATALOG, currency)


# ---------------------------------------------------------------- who may call
@pytest.mark.parametrize(
    ("package", "add_on", "customer_since", "expected"),
    [
        ("complete", False, date(2020, 1, 1), "included"),
        ("standard", True, date(2020, 1, 1), "add_on"),
        ("standard", False, date(2020, 1, 1), "not_entitled"),
        ("standard", False, date(2011, 4, 6), "legacy"),  # the day before the cut-off
        ("standard", False, date(2011, 4, 7), "not_entitled"),  # the cut-off itself is not "before"
        ("complete", True, date(2009, 1, 1), "legacy"),  # old terms win whatever the package
    ],
)
def test_entitlement(package: str, add_on: bool, customer_since: date, expected: str) -> None:
    got = entitlement(package=package, telephone_support=add_on, customer_since=customer_since, catalog=CATALOG)
    assert got == expected


# ---------------------------------------------------------------- long calls, to the second
def test_a_call_of_exactly_15_minutes_is_not_long_one_of_15_01_is() -> None:
    result = rollup([call(900, call_id="c_15_00"), call(901, call_id="c_15_01")])
    [user] = result.users
    assert [c.call_id for c in user.long_calls] == ["c_15_01"]
    assert user.long_calls[0].minutes == Decimal("15.02")
    assert result.totals.long_calls == 1


# ---------------------------------------------------------------- user thresholds at 45 and 60 minutes
@pytest.mark.parametrize(
    ("seconds", "level", "shown"),
    [
        (2700, "within", "45.00"),  # exactly 45:00
        (2701, "over_allowance", "45.02"),  # 45:01
        (3600, "over_allowance", "60.00"),  # exactly 60:00: over the allowance, not in review
        (3601, "review", "60.02"),  # 60:01
    ],
)
def test_a_user_at_exactly_45_and_60_minutes(seconds: int, level: str, shown: str) -> None:
    # Given the minutes spread over short calls (none long), so only the user's total matters
    calls = [call(600) for _ in range(seconds // 600)] + ([call(seconds % 600)] if seconds % 600 else [])
    [user] = rollup(calls).users
    assert (user.seconds, user.level, str(user.minutes)) == (seconds, level, shown)
    assert user.over_allowance == (level != "within")
    assert user.review == (level == "review")


def test_minutes_are_summed_in_seconds_not_rounded_per_call() -> None:
    # 45 calls of 59 s: 44:15 in total, within (per-call rounding up would have made 45 minutes)
    [user] = rollup([call(59) for _ in range(45)]).users
    assert (user.seconds, str(user.minutes), user.level) == (2655, "44.25", "within")
    assert clock(2701) == "45:01" and minutes(1) == Decimal("0.02")


# ---------------------------------------------------------------- training offers
@pytest.mark.parametrize(
    ("seconds", "hours", "net", "vat", "gross"),
    [
        (3601, 1, "60.00", "12.00", "72.00"),  # 60:01 → ceil(15.02 / 60) = 1 hour
        (6300, 1, "60.00", "12.00", "72.00"),  # 105:00 → exactly 60 minutes over: 1 hour
        (6301, 2, "120.00", "24.00", "144.00"),  # 105:01 → 2 hours
        (10800, 3, "180.00", "36.00", "216.00"),  # 180:00 → ceil(135 / 60) = 3 hours
    ],
)
def test_a_user_in_review_gets_a_training_offer_at_60_gbp_an_hour_with_vat(
    seconds: int, hours: int, net: str, vat: str, gross: str
) -> None:
    [user] = rollup([call(seconds)]).users
    offer = user.training_offer
    assert offer is not None
    assert (offer.hours, offer.currency, str(offer.price_per_hour)) == (hours, "GBP", "60.00")
    assert (str(offer.net), str(offer.vat), str(offer.gross)) == (net, vat, gross)


def test_usd_training_is_priced_from_the_catalog_without_vat() -> None:
    [user] = rollup([call(3601)], currency="USD").users
    offer = user.training_offer
    assert offer is not None
    price = CATALOG.policy.fair_use.training_price_per_hour["USD"]
    assert (offer.net, offer.vat, offer.gross) == (price, Decimal("0.00"), price)


def test_no_offer_below_review_and_training_hours_at_the_allowance() -> None:
    assert rollup([call(3600)]).users[0].training_offer is None
    assert training_hours(2700, CATALOG.policy.fair_use) == 0
    assert training_hours(2701, CATALOG.policy.fair_use) == 1


# ---------------------------------------------------------------- the account
def test_three_paying_users_share_a_pooled_allowance_and_status_is_the_worst_users() -> None:
    calls = [
        call(2400, "u1", paying_users=3),  # 40:00
        call(3000, "u2", paying_users=3),  # 50:00 over the allowance
        call(2640, "u3", paying_users=3),  # 44:00
    ]
    result = rollup(calls)
    assert (result.paying_users, result.pooled_allowance_minutes) == (3, 135)
    assert (result.totals.calls, result.totals.seconds, str(result.totals.minutes)) == (3, 8040, "134.00")
    assert result.over_pooled_allowance is False
    assert [(u.user_id, u.level) for u in result.users] == [
        ("u1", "within"),
        ("u2", "over_allowance"),
        ("u3", "within"),
    ]
    assert result.status == "over_allowance"


def test_over_the_pooled_allowance_while_every_user_is_within() -> None:
    result = rollup([call(2400, "u1"), call(2400, "u2")])  # one paying user, two callers
    assert (result.pooled_allowance_minutes, result.over_pooled_allowance, result.status) == (45, True, "within")


def test_not_entitled_calls_are_kept_apart_and_never_count() -> None:
    result = rollup([call(4000, entitled="not_entitled"), call(600, "u2", entitled="not_entitled")])
    assert (result.terms, result.status, result.users, result.totals.calls) == ("not_entitled", "within", (), 0)
    assert (result.paying_users, result.pooled_allowance_minutes) == (0, 0)  # nobody pays for telephone support
    assert (result.not_entitled.calls, result.not_entitled.seconds, str(result.not_entitled.minutes)) == (
        2,
        4600,
        "76.67",
    )
    assert [u.user_id for u in result.not_entitled.users] == ["u1", "u2"]


def test_support_switched_on_mid_month_counts_only_the_entitled_calls() -> None:
    early = call(3000, at=datetime(2026, 1, 3, tzinfo=UTC), entitled="not_entitled", paying_users=2)
    later = call(1200, at=datetime(2026, 1, 20, tzinfo=UTC), entitled="add_on", paying_users=2)
    result = rollup([early, later])
    assert (result.terms, result.status, result.totals.seconds, result.not_entitled.seconds) == (
        "fair_use",
        "within",
        1200,
        3000,
    )


def test_legacy_terms_are_rolled_up_like_any_other() -> None:
    result = rollup([call(5400, entitled="legacy")])
    assert (result.terms, result.status) == ("legacy_terms", "review")
    assert result.users[0].training_offer is not None


def test_a_call_that_starts_on_the_last_evening_belongs_to_its_month_even_when_it_ends_in_the_next() -> None:
    result = rollup([call(1200, at=datetime(2026, 1, 31, 23, 50, tzinfo=UTC))])
    assert result.totals.seconds == 1200
    with pytest.raises(ValueError, match="did not start in 2026-01"):
        rollup([call(60, at=datetime(2026, 2, 1, 0, 0, tzinfo=UTC))])


def test_the_same_call_id_is_counted_once() -> None:
    one = call(900, call_id="dup")
    assert rollup([one, one]).totals.calls == 1


# ---------------------------------------------------------------- what the account is told
def test_the_first_notice_of_a_month_then_only_what_is_new() -> None:
    over = rollup([call(3000, "u1")])
    first = account_notice(over, {}, revision=1)
    assert first is not None
    assert (first.kind, first.cause, first.new, first.update) == (
        "fair_use.over_allowance",
        "2026-01",
        {"u1": "over_allowance"},
        False,
    )
    # the same facts again: nothing to say
    assert account_notice(over, {"u1": "over_allowance"}, revision=2) is None
    # u1 now in review: a first review notice
    review = rollup([call(3000, "u1"), call(700, "u1")])
    second = account_notice(review, {"u1": "over_allowance"}, revision=2)
    assert second is not None
    assert (second.kind, second.cause, second.new) == ("fair_use.review", "2026-01", {"u1": "review"})
    # another user over the allowance while the account is already in review: an update
    more = rollup([call(3000, "u1"), call(700, "u1"), call(2800, "u2")])
    third = account_notice(more, {"u1": "review"}, revision=3)
    assert third is not None
    assert (third.kind, third.cause, third.new, third.update) == (
        "fair_use.review",
        "2026-01_r3",
        {"u2": "over_allowance"},
        True,
    )
    assert new_facts(more, {"u1": "review", "u2": "over_allowance"}) == {}


def test_legacy_not_entitled_and_within_accounts_are_never_told() -> None:
    assert account_notice(rollup([call(5400, entitled="legacy")]), {}, revision=1) is None
    assert account_notice(rollup([call(5400, entitled="not_entitled")]), {}, revision=1) is None
    assert account_notice(rollup([call(2700)]), {}, revision=1) is None


# ---------------------------------------------------------------- the subscription at the time of a call
def test_the_subscription_at_a_moment_is_the_one_before_the_first_change_applied_after_it() -> None:
    now = SubscriptionAt(package="standard", telephone_support=False, paying_users=3)
    at = datetime(2026, 1, 18, 10, tzinfo=UTC)

    def change(sk: str, effective_at: str, status: str = "applied", **before: object) -> dict[str, object]:
        snapshot = {"package": "standard", "telephone_support": True, "paying_users": 2} | before
        return {"sk": sk, "status": status, "effective_at": effective_at, "from": snapshot}

    # no change after the call: the subscription as it stands
    assert subscription_at(at, now, [change("CHANGE#1", "2026-01-02T00:00:00Z")]) == now
    # two changes after it: the state before the first of them
    later = [
        change("CHANGE#3", "2026-01-25T00:00:00Z", telephone_support=False, paying_users=5),
        change("CHANGE#2", "2026-01-20T12:00:00Z"),
        change("CHANGE#4", "2026-01-19T00:00:00Z", status="pending", package="complete"),
        change("CHANGE#5", "2026-01-19T00:00:00Z", status="cancelled", package="complete"),
    ]
    assert subscription_at(at, now, later) == SubscriptionAt("standard", True, 2, changed_since="CHANGE#2")
    # a change effective exactly when the call started was already in force
    assert subscription_at(at, now, [change("CHANGE#6", "2026-01-18T10:00:00Z")]) == now
    # records without a usable time or snapshot are ignored
    assert subscription_at(at, now, [{"status": "applied", "effective_at": "soon", "from": {}}]) == now
