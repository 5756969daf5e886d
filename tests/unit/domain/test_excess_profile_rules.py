"""The excess-profile rules (spec §3.2) as pure functions: thresholds, the episode's steps, fees and deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from overage.domain.catalog import default_catalog
from overage.domain.excess_profiles import (
    LIMIT_HISTORY_CAP,
    FeeTerms,
    LimitChange,
    ProfilesState,
    Step,
    advance,
    apply_limit,
    apply_payment,
    apply_snapshot,
    bills_excess_at,
    excess_line,
    fee_totals,
    is_approaching,
    limit_in_force,
    limits_that_matter,
    with_limit_change,
)
from overage.domain.instants import to_key

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


# ------------------------------------------------------------------ the limit in force at a moment (its history)
def change(when: datetime, limit: int, event: str) -> LimitChange:
    return LimitChange(version=f"{to_key(when)}#{event}", at=when, limit=limit, cause=f"account.upserted:{event}")


def history(*changes: LimitChange) -> ProfilesState:
    return ProfilesState(limit=changes[-1].limit, limits=changes)


def counted(state: ProfilesState, count: int, when: datetime, event: str) -> Step:
    version = f"{to_key(when)}#{event}"
    return apply_snapshot(
        state, count=count, version=version, occurred_at=when, cause=f"profiles.counted:{event}", policy=POLICY
    )


def test_the_limit_in_force_at_a_moment_is_the_newest_change_at_or_before_it() -> None:
    state = history(change(at(-30), 200, "created"), change(at(4, 1), 250, "pack"), change(at(9), 500, "complete"))
    assert [limit_in_force(state, moment) for moment in (at(0), at(4, 1) - timedelta(microseconds=1))] == [200, 200]
    assert [limit_in_force(state, moment) for moment in (at(4, 1), at(8), at(9), at(30))] == [250, 250, 500, 500]
    # before the first change it knows, and with no history at all (an item from before histories were kept),
    # the account's limit is the one it has always had
    assert limit_in_force(state, at(-400)) == 200
    assert limit_in_force(ProfilesState(limit=250), at(-400)) == 250


def test_a_late_count_is_measured_against_the_limit_then_and_carried_through_the_later_changes() -> None:
    # 240 profiles at T1 (limit 200) arriving after a pack bought at T2 (limit 250)
    state = history(change(at(-30), 200, "created"), change(at(4, 1), 250, "pack"))
    step = counted(state, 240, MARCH_1, "n1")
    assert [(h.kind, h.at, h.count, h.limit, h.cause) for h in step.happenings] == [
        ("exceeded", MARCH_1, 240, 200, "profiles.counted:n1"),
        ("resolved", at(4, 1), 240, 250, "account.upserted:pack"),
    ]
    resolved = step.happenings[1].episode
    assert resolved is not None
    assert (resolved.opened_at, resolved.grace_ends_at, resolved.resolved_by) == (
        MARCH_1,
        datetime(2026, 3, 15, 9, tzinfo=UTC),
        "limit_increase",
    )
    assert (step.after.episode, step.after.count, step.after.limit, step.after.approaching_armed) == (
        None,
        240,
        250,
        False,
    )
    # the same as in time order: the count, then the pack
    in_order = apply_limit(
        counted(ProfilesState(limit=200), 240, MARCH_1, "n1").after,
        limit=250,
        occurred_at=at(4, 1),
        cause="account.upserted:pack",
        policy=POLICY,
    )
    assert [(h.kind, h.at, h.cause, h.episode) for h in in_order.happenings] == [
        (h.kind, h.at, h.cause, h.episode) for h in step.happenings[1:]
    ]


def test_a_late_count_under_a_lower_later_limit_opens_the_episode_when_the_limit_fell() -> None:
    state = history(change(at(-30), 500, "created"), change(at(1, 1), 200, "standard"))
    step = counted(state, 320, MARCH_1, "n1")
    [opened] = step.happenings
    assert (opened.kind, opened.at, opened.limit, opened.cause) == (
        "exceeded",
        at(1, 1),
        200,
        "account.upserted:standard",
    )
    assert step.after.episode is not None and step.after.episode.grace_ends_at == at(15, 1)


def test_after_the_first_count_a_change_carried_again_is_named_after_both_facts() -> None:
    # a change measured once with an older count may have sent its own notice: carried again with a newer count,
    # what it does is named after the change and the count, so no notice or episode id can repeat
    state = history(change(at(-30), 200, "created"), change(at(5), 150, "fewer"))
    first = counted(state, 100, at(0), "n1").after  # measured against 150 on day 5: under 90 %, nothing
    step = counted(first, 170, at(2), "n2")
    [opened] = step.happenings
    assert (opened.kind, opened.at, opened.cause) == ("exceeded", at(5), "account.upserted:fewer@profiles.counted:n2")


def test_a_count_never_changes_an_episode_before_the_moment_it_opened() -> None:
    # an episode opened by a lower limit on day 5 (measured with the count of day 0); a count of day 2 arrives
    state = history(change(at(-30), 200, "created"), change(at(5), 150, "fewer"))
    opened = counted(state, 180, at(0), "n1").after
    assert opened.episode is not None and opened.episode.opened_at == at(5)
    # within 200 on day 2, but the episode was only open from day 5, when 160 is over 150: still open, not resolved
    step = counted(opened, 160, at(2), "n2")
    assert step.happenings == ()
    assert step.after.episode is not None
    assert (step.after.episode.opened_at, step.after.episode.count, step.after.episode.limit) == (at(5), 160, 150)
    # and a higher limit dated before the opening resolves it at the opening at the earliest
    raised = apply_limit(step.after, limit=250, occurred_at=at(3), cause="account.upserted:more", policy=POLICY)
    [resolved] = raised.happenings
    assert (resolved.kind, resolved.at) == ("resolved", at(5))


def test_only_the_changes_a_later_count_can_be_measured_against_are_kept() -> None:
    changes = [change(at(day), 200 + 50 * day, f"u{day}") for day in range(6)]
    # no count yet: every change may still be read
    assert limits_that_matter(history(*changes)) == tuple(changes)
    # a count of day 2, 12:00 in force: an older count is stale, so only the change in force then and later matter
    state = counted(history(*changes), 100, at(2, 12), "n1").after
    assert limits_that_matter(state) == tuple(changes[2:])
    # and never more than the newest LIMIT_HISTORY_CAP
    many = [change(at(0, n), 200, f"m{n:03d}") for n in range(LIMIT_HISTORY_CAP + 5)]
    assert limits_that_matter(history(*many)) == tuple(many[-LIMIT_HISTORY_CAP:])


def test_a_limit_change_joins_the_history_in_time_order() -> None:
    created, pack, later = change(at(-30), 200, "created"), change(at(4), 250, "pack"), change(at(9), 300, "two")
    state = with_limit_change(with_limit_change(ProfilesState(limit=200), later), created)
    state = with_limit_change(with_limit_change(state, pack), pack)
    assert (state.limits, state.limit) == ((created, pack, later), 300)
