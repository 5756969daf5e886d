"""Hypothesis over plan changes: classification is symmetric, a change and its reverse cost opposite amounts, and an
immediate change never prices days outside the invoiced period."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain.account import Account
from overage.domain.calendar import next_billing_date
from overage.domain.catalog import default_catalog
from overage.domain.plan_changes import Subscription, classify, period_price, settle

CATALOG = default_catalog()
SHORT = settings(max_examples=200, deadline=None)

subscriptions = st.builds(
    Subscription,
    package=st.sampled_from(CATALOG.package_codes),
    contact_tier=st.sampled_from(CATALOG.tier_codes),
    billing_cycle=st.sampled_from(["monthly", "annual"]),
    paying_users=st.integers(0, 20),
    telephone_support=st.booleans(),
    profile_packs=st.integers(0, 5),
)
currencies = st.sampled_from(CATALOG.currencies)


def account_on(sub: Subscription, started_on: date, currency: str, on: date) -> Account:
    return Account(
        account_id="acc_p",
        currency=currency,
        started_on=started_on,
        billing_email="b@example.com",
        customer_since=started_on,
        next_billing_date=next_billing_date(started_on, 1, on),
        **sub.as_dict(),
    )


@SHORT
@given(subscriptions, subscriptions, currencies)
def test_the_reverse_of_an_upgrade_is_a_downgrade(old: Subscription, new: Subscription, currency: str) -> None:
    forward, backward = classify(old, new, CATALOG, currency), classify(new, old, CATALOG, currency)
    assert (forward is None) == (backward is None)
    if forward is None or backward is None:
        return
    reverse = {"upgrade": "downgrade", "downgrade": "upgrade", "mixed": "mixed"}
    assert backward.kind == reverse[forward.kind]
    assert set(backward.parts) == set(forward.parts)
    if forward.monthly_price_to != forward.monthly_price_from:
        assert {forward.treated_as, backward.treated_as} == {"upgrade", "downgrade"}


@SHORT
@given(
    subscriptions,
    subscriptions,
    currencies,
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(0, 800),
)
def test_within_a_cycle_a_change_and_its_reverse_cost_opposite_amounts(
    old: Subscription, new: Subscription, currency: str, started_on: date, days_later: int
) -> None:
    new = Subscription(**(new.as_dict() | {"billing_cycle": old.billing_cycle}))
    on = started_on + timedelta(days=days_later)
    forward = settle(account_on(old, started_on, currency, on), old, new, CATALOG, on)
    backward = settle(account_on(new, started_on, currency, on), new, old, CATALOG, on)
    assert forward.net == -backward.net
    assert forward.covers.start == on and forward.covers.end > on


@SHORT
@given(
    subscriptions,
    currencies,
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(0, 800),
)
def test_a_cycle_switch_charges_one_new_period_less_at_most_one_old(
    old: Subscription, currency: str, started_on: date, days_later: int
) -> None:
    new = Subscription(**(old.as_dict() | {"billing_cycle": "annual" if old.months == 1 else "monthly"}))
    on = started_on + timedelta(days=days_later)
    settlement = settle(account_on(old, started_on, currency, on), old, new, CATALOG, on)
    charged = sum(line.amount for line in settlement.lines if line.amount > 0)
    credited = -sum(line.amount for line in settlement.lines if line.amount < 0)
    assert charged == period_price(new, CATALOG, currency)
    assert 0 <= credited <= period_price(old, CATALOG, currency)
    assert settlement.started_on == on
