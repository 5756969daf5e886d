"""The excess-profile rules (spec §3.2) as pure functions: thresholds, the episode's steps, fees and deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from overage.domain.catalog import default_catalog
from overage.domain.excess_profiles import (
    FeeTerms,
    ProfilesState,
    advance,
    apply_limit,
    apply_payment,
    apply_snapshot,
    bills_excess_at,
    excess_line,
    fee_totals,
    is_approaching,
)

POLICY = default_catalog().policy
USD = FeeTerms(account_id="acc_1", currency="USD", fee_per_profile=Decimal("1.00"), vat_rate=Decimal("0.00"))
GBP = FeeTerms(account_id="acc_1", currency="GBP", fee_per_profile=Decimal("0.80"), vat_rate=Decimal("0.20"))
MARCH_1 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def at(days: float, hours: float = 0) -> datetime:
    return MARCH_1 + timedelta(days=days, hours=hours)


def snap(state: ProfilesState, count: int, when: datetime, event: str = "e") -> ProfilesState:
    step = apply_snapshot(
        state, count=count, version=f"{when.isoformat()}#{event}", occurred_at=when, cause=f"c:{event}", policy=POLICY
    )
    return step.after


def exceeded(count: int = 205) -> ProfilesState:
    return snap(ProfilesState(limit=200), count, MARCH_1)


def test_approaching_is_90_percent_up_to_and_including_the_limit() -> None:
    ratio = POLICY.approaching_ratio
    assert [is_approaching(n, 200, ratio) for n in (179, 180, 200, 201)] == [False, True, True, False]
    assert is_approaching(225, 250, ratio) and not is_approaching(224, 250, ratio)


def test_the_first_snapshot_over_the_limit_opens_an_episode_with_14_days_of_grace() -> None:
    state = exceeded()
    assert state.episode is not None
    assert (state.episode.state, state.episode.excess, state.episode.grace_ends_at) == (
        "in_grace",
        5,
        datetime(2026, 3, 15, 9, tzinfo=UTC),
    )
    # more profiles within grace: the same episode, counting the latest figure
    later = snap(state, 230, at(3), "f")
    assert later.episode is not None and later.episode.episode_id == state.episode.episode_id
    assert later.episode.excess == 30


def test_back_at_the_limit_within_grace_resolves_but_not_at_or_after_the_grace_end() -> None:
    state = exceeded()
    step = apply_snapshot(state, count=200, version="2026-03-14#x", occurred_at=at(13), cause="c", policy=POLICY)
    assert step.after.episode is None
    assert [(h.kind, h.episode.resolved_by if h.episode else None) for h in step.happenings] == [
        ("resolved", "reduction")
    ]
    at_grace_end = apply_snapshot(
        state, count=150, version="2026-03-15#x", occurred_at=at(14), cause="c", policy=POLICY
    )
    assert at_grace_end.after.episode is not None and at_grace_end.happenings == ()


def test_a_higher_limit_within_grace_resolves_by_limit_increase() -> None:
    state = exceeded(230)
    step = apply_limit(state, limit=250, occurred_at=at(2), cause="pack", policy=POLICY)
    assert step.after.episode is None
    [happening] = step.happenings
    assert happening.episode is not None and happening.episode.outcome == "resolved_by_limit_increase"
    # 230 of 250 is 92 %, but the warning was disarmed by the excess: no "approaching"
    assert step.after.approaching_armed is False


def test_a_limit_change_with_nothing_to_do_changes_nothing() -> None:
    state = snap(ProfilesState(limit=200), 120, MARCH_1)
    step = apply_limit(state, limit=200, occurred_at=at(1), cause="upsert", policy=POLICY)
    assert not step.changed


def test_the_fee_at_grace_end_uses_the_count_in_force_at_the_grace_end() -> None:
    state = snap(exceeded(), 190, at(14, 1), "late")  # after the grace end: no resolution
    step = advance(state, as_of=at(14, 2), count_at_grace_end=205, terms=GBP, policy=POLICY)
    assert step is not None
    [happening] = step.happenings
    invoice = happening.invoice
    assert invoice is not None
    assert (invoice.net, invoice.vat, invoice.gross, invoice.due_on) == (
        Decimal("4.00"),
        Decimal("0.80"),
        Decimal("4.80"),
        date(2026, 3, 29),
    )
    episode = step.after.episode
    assert episode is not None
    assert (episode.state, episode.fee_excess, episode.excess_persists) == ("fee_invoiced", 5, False)
    assert episode.reminder_at == datetime(2026, 3, 26, tzinfo=UTC)
    assert episode.overdue_at == datetime(2026, 3, 30, tzinfo=UTC)


def test_nothing_is_due_before_the_grace_end() -> None:
    assert (
        advance(exceeded(), as_of=at(14) - timedelta(seconds=1), count_at_grace_end=205, terms=USD, policy=POLICY)
        is None
    )


def test_within_the_limit_at_the_grace_end_resolves_at_the_run() -> None:
    # a late snapshot said 150 just before the grace end; a newer one says 205 again
    state = exceeded()
    step = advance(state, as_of=at(14, 1), count_at_grace_end=150, terms=USD, policy=POLICY)
    assert step is not None
    assert [h.kind for h in step.happenings] == ["resolved", "exceeded"]  # and over again since: a new episode
    assert step.after.episode is not None and step.after.episode.opened_at == at(14, 1)


def test_reminder_then_overdue_and_restricted() -> None:
    step = advance(exceeded(), as_of=at(14), count_at_grace_end=205, terms=USD, policy=POLICY)
    assert step is not None
    invoiced = step.after
    assert (
        advance(
            invoiced, as_of=datetime(2026, 3, 25, 23, tzinfo=UTC), count_at_grace_end=None, terms=USD, policy=POLICY
        )
        is None
    )
    reminded = advance(
        invoiced, as_of=datetime(2026, 3, 26, tzinfo=UTC), count_at_grace_end=None, terms=USD, policy=POLICY
    )
    assert reminded is not None and reminded.after.episode is not None
    assert reminded.after.episode.state == "reminded"
    assert (
        advance(
            reminded.after,
            as_of=datetime(2026, 3, 29, 23, 59, tzinfo=UTC),
            count_at_grace_end=None,
            terms=USD,
            policy=POLICY,
        )
        is None
    )
    overdue = advance(
        reminded.after, as_of=datetime(2026, 3, 30, tzinfo=UTC), count_at_grace_end=None, terms=USD, policy=POLICY
    )
    assert overdue is not None and overdue.after.restricted
    assert overdue.after.episode is not None and overdue.after.episode.outcome == "overdue"
    assert overdue.after.episode.next_attention_at() is None


def test_a_run_after_the_deadline_skips_the_reminder() -> None:
    step = advance(exceeded(), as_of=at(14), count_at_grace_end=205, terms=USD, policy=POLICY)
    assert step is not None
    late = advance(
        step.after, as_of=datetime(2026, 4, 2, tzinfo=UTC), count_at_grace_end=None, terms=USD, policy=POLICY
    )
    assert late is not None and [h.kind for h in late.happenings] == ["overdue"]


def test_payment_lifts_the_restriction_only_when_no_overdue_invoice_remains() -> None:
    invoiced = advance(exceeded(), as_of=at(14), count_at_grace_end=205, terms=USD, policy=POLICY)
    assert invoiced is not None
    overdue = advance(
        invoiced.after, as_of=datetime(2026, 4, 1, tzinfo=UTC), count_at_grace_end=None, terms=USD, policy=POLICY
    )
    assert overdue is not None and overdue.after.episode is not None
    fee_id = overdue.after.episode.fee_invoice_id
    assert fee_id is not None
    kept = apply_payment(overdue.after, invoice_id=fee_id, paid_at=at(32), cause="p", overdue_remaining=True)
    assert kept.after.restricted and [h.kind for h in kept.happenings] == ["paid"]
    lifted = apply_payment(overdue.after, invoice_id=fee_id, paid_at=at(32), cause="p", overdue_remaining=False)
    assert not lifted.after.restricted and [h.kind for h in lifted.happenings] == ["paid", "unrestricted"]
    # the excess persists: the episode stays open (paid) for the monthly lines until it ends
    assert lifted.after.episode is not None and lifted.after.episode.state == "paid"
    closed = snap(lifted.after, 180, at(40), "down")
    assert closed.episode is None


def test_fee_totals_to_the_cent() -> None:
    assert fee_totals(5, USD).gross == Decimal("5.00")
    assert (fee_totals(5, GBP).net, fee_totals(5, GBP).vat, fee_totals(5, GBP).gross) == (
        Decimal("4.00"),
        Decimal("0.80"),
        Decimal("4.80"),
    )
    assert fee_totals(7, GBP).gross == Decimal("6.72")  # 5.60 + 1.12


def test_monthly_lines_only_after_the_grace_end_and_only_for_an_excess() -> None:
    episode = exceeded().episode
    assert not bills_excess_at(episode, datetime(2026, 3, 10, tzinfo=UTC))
    assert bills_excess_at(episode, datetime(2026, 3, 16, tzinfo=UTC))
    line = excess_line(
        count=230, limit=200, billing_date=date(2026, 4, 10), fee_per_profile=Decimal("0.80"), currency="GBP"
    )
    assert line is not None and (line.quantity, line.amount) == (30, Decimal("24.00"))
    assert (
        excess_line(
            count=200, limit=200, billing_date=date(2026, 4, 10), fee_per_profile=Decimal("0.80"), currency="GBP"
        )
        is None
    )
