"""Excess profiles (spec §3.2), pinned where a mutation went unnoticed: the approaching notice's re-arm boundary,
a count exactly at the limit at the grace end, the excess that ends and returns after the fee, which payment pays
the fee, and each episode's outcome. Fees from the spec: 1.00 USD / 0.80 GBP per profile, GBP VAT 20 %."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from overage.domain.catalog import default_catalog
from overage.domain.excess_profiles import (
    Episode,
    FeeTerms,
    LimitChange,
    ProfilesState,
    Step,
    advance,
    apply_limit,
    apply_payment,
    apply_snapshot,
    below_threshold,
    bills_excess_at,
    episode_id,
    is_approaching,
    limits_that_matter,
    with_limit_change,
)

POLICY = default_catalog().policy
USD = FeeTerms(account_id="acc_9", currency="USD", fee_per_profile=Decimal("1.00"), vat_rate=Decimal("0.00"))
GBP = FeeTerms(account_id="acc_9", currency="GBP", fee_per_profile=Decimal("0.80"), vat_rate=Decimal("0.20"))
OPENED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
GRACE_END = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)  # 14 days later
RUN = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)  # the grace-expiry run after it


def snapshot(state: ProfilesState, count: int, when: datetime, event: str) -> Step:
    return apply_snapshot(
        state,
        count=count,
        version=f"{when.isoformat()}#{event}",
        occurred_at=when,
        cause=f"profiles.counted:{event}",
        policy=POLICY,
    )


def kinds(step: Step) -> list[str]:
    return [h.kind for h in step.happenings]


def counts(limit: int, *values: int) -> tuple[ProfilesState, list[list[str]]]:
    """Snapshots an hour apart (all within the grace period); what each step did."""
    state = ProfilesState(limit=limit)
    happened = []
    for n, value in enumerate(values):
        step = snapshot(state, value, OPENED + timedelta(hours=n), f"e{n}")
        state = step.after
        happened.append(kinds(step))
    return state, happened


def invoiced(count: int = 237, terms: FeeTerms = USD) -> ProfilesState:
    """Over the limit of 200 from OPENED, still ``count`` at the grace end: the fee invoiced at RUN."""
    state, _ = counts(200, count)
    step = advance(state, as_of=RUN, count_at_grace_end=count, terms=terms, policy=POLICY)
    assert step is not None
    return step.after


# --- the approaching notice (90 % of the limit, again only after a count below 90 %) ----------------------------


def test_the_notice_is_not_re_armed_by_a_count_exactly_at_90_percent() -> None:
    _, happened = counts(200, 190, 180, 185)
    assert happened == [["approaching"], [], []]


def test_the_notice_is_re_armed_by_a_count_just_below_90_percent() -> None:
    _, happened = counts(200, 190, 179, 185)
    assert happened == [["approaching"], [], ["approaching"]]


def test_re_arming_is_measured_against_90_percent_of_the_limit_itself() -> None:
    # 250 (one pack): 90 % is 225. 224 re-arms, 225 does not.
    _, happened = counts(250, 240, 224, 230, 225, 226)
    assert happened == [["approaching"], [], ["approaching"], [], []]
    ratio = POLICY.approaching_ratio
    assert [below_threshold(n, 250, ratio) for n in (0, 224, 225, 250)] == [True, True, False, False]
    assert [below_threshold(n, 200, ratio) for n in (179, 180)] == [True, False]


def test_a_limit_of_zero_is_never_approached() -> None:
    assert is_approaching(0, 0, POLICY.approaching_ratio) is False


def test_a_new_state_is_armed() -> None:
    assert ProfilesState(limit=200).approaching_armed is True
    _, happened = counts(200, 180)
    assert happened == [["approaching"]]


# --- the grace end --------------------------------------------------------------------------------------------


def test_exactly_at_the_limit_at_the_grace_end_resolves_without_a_fee() -> None:
    state, _ = counts(200, 237)
    state = snapshot(state, 200, GRACE_END, "at_the_end").after  # counted at the grace end itself: left to the run
    assert state.episode is not None and state.episode.state == "in_grace"
    step = advance(state, as_of=RUN, count_at_grace_end=200, terms=USD, policy=POLICY)
    assert step is not None
    assert kinds(step) == ["resolved"]
    [resolved] = step.happenings
    assert resolved.episode is not None
    assert (resolved.episode.state, resolved.episode.resolved_by) == ("resolved", "reduction")
    assert resolved.episode.outcome == "resolved_by_reduction"
    assert resolved.invoice is None
    assert step.after.episode is None


def test_one_over_the_limit_at_the_grace_end_is_a_fee_for_one_profile() -> None:
    state, _ = counts(200, 237)
    step = advance(state, as_of=RUN, count_at_grace_end=201, terms=GBP, policy=POLICY)
    assert step is not None
    [happening] = step.happenings
    assert happening.kind == "fee_invoiced" and happening.invoice is not None
    assert (happening.invoice.net, happening.invoice.vat, happening.invoice.gross) == (
        Decimal("0.80"),
        Decimal("0.16"),
        Decimal("0.96"),
    )


def test_the_fee_invoice_and_its_dates() -> None:
    state = invoiced(237, GBP)
    episode = state.episode
    assert episode is not None
    # 37 × 0.80 = 29.60 GBP, VAT 20 % 5.92, gross 35.52; due 14 days after issue
    assert (episode.fee_count, episode.fee_excess) == (237, 37)
    assert (episode.fee_net, episode.fee_vat, episode.fee_gross) == (
        Decimal("29.60"),
        Decimal("5.92"),
        Decimal("35.52"),
    )
    assert episode.deadline == date(2026, 3, 29)
    assert episode.reminder_at == datetime(2026, 3, 26, tzinfo=UTC)  # 3 days before the deadline, 00:00 UTC
    assert episode.overdue_at == datetime(2026, 3, 30, tzinfo=UTC)  # the day after it
    assert episode.outcome == "fee_invoiced"
    assert episode.excess_persists is True


def test_the_episode_id_is_its_opening_time_and_a_hash_of_its_cause() -> None:
    cause = "profiles.counted:evt_1"
    expected = "20260301T090000Z-" + hashlib.sha256(cause.encode()).hexdigest()[:6]
    assert episode_id(OPENED, cause) == expected
    state, _ = counts(200, 237)
    assert state.episode is not None
    assert state.episode.episode_id == "20260301T090000Z-" + hashlib.sha256(b"profiles.counted:e0").hexdigest()[:6]


# --- after the fee: the excess ends, and comes back -----------------------------------------------------------


def test_after_the_fee_the_excess_ends_and_returns_in_the_same_episode() -> None:
    state = invoiced()
    ended = snapshot(state, 190, datetime(2026, 3, 20, tzinfo=UTC), "down")
    assert kinds(ended) == ["excess_ended"]
    assert ended.after.episode is not None and ended.after.episode.excess_persists is False
    returned = snapshot(ended.after, 215, datetime(2026, 3, 21, tzinfo=UTC), "up")
    assert kinds(returned) == ["excess_returned"]
    episode = returned.after.episode
    assert episode is not None
    assert episode.excess_persists is True
    assert (episode.state, episode.episode_id, episode.count, episode.excess) == (
        "fee_invoiced",
        state.episode.episode_id if state.episode else None,
        215,
        15,
    )


def test_after_the_fee_a_count_still_over_the_limit_says_nothing_new() -> None:
    step = snapshot(invoiced(), 240, datetime(2026, 3, 20, tzinfo=UTC), "still")
    assert kinds(step) == []
    assert step.after.episode is not None and step.after.episode.excess_persists is True


def test_paid_then_the_excess_ends_closes_the_episode() -> None:
    state = invoiced()
    assert state.episode is not None
    paid = apply_payment(
        state, invoice_id=state.episode.fee_invoice_id or "", paid_at=RUN, cause="payment:1", overdue_remaining=False
    )
    assert kinds(paid) == ["paid"]
    assert paid.after.episode is not None and paid.after.episode.outcome == "fee_paid"
    closed = snapshot(paid.after, 150, datetime(2026, 3, 22, tzinfo=UTC), "down")
    assert kinds(closed) == ["excess_ended", "closed"]
    assert closed.after.episode is None


# --- payments ---------------------------------------------------------------------------------------------------


def test_paying_another_invoice_does_not_pay_the_fee() -> None:
    state = invoiced()
    step = apply_payment(
        state, invoice_id="inv_acc_9_renewal_2026-03-10", paid_at=RUN, cause="payment:2", overdue_remaining=False
    )
    assert kinds(step) == []
    assert step.after.episode is not None and step.after.episode.state == "fee_invoiced"


def test_paying_the_fee_again_once_paid_changes_nothing() -> None:
    state = invoiced()
    assert state.episode is not None
    fee = state.episode.fee_invoice_id or ""
    once = apply_payment(state, invoice_id=fee, paid_at=RUN, cause="payment:1", overdue_remaining=False)
    again = apply_payment(once.after, invoice_id=fee, paid_at=RUN, cause="payment:1", overdue_remaining=False)
    assert kinds(again) == []
    assert again.after == once.after


def test_paying_the_fee_after_the_excess_ended_closes_the_episode_at_once() -> None:
    state = snapshot(invoiced(), 150, datetime(2026, 3, 20, tzinfo=UTC), "down").after
    assert state.episode is not None
    fee = state.episode.fee_invoice_id or ""
    step = apply_payment(state, invoice_id=fee, paid_at=RUN, cause="payment:1", overdue_remaining=False)
    assert kinds(step) == ["paid", "closed"]
    assert step.after.episode is None


def test_an_unrestricted_account_paying_is_not_told_it_is_unrestricted() -> None:
    state = invoiced()
    step = apply_payment(state, invoice_id="inv_other", paid_at=RUN, cause="payment:3", overdue_remaining=False)
    assert step.after.restricted is False
    assert "unrestricted" not in kinds(step)


# --- outcomes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "extra", "outcome"),
    [
        ("in_grace", {}, None),
        ("resolved", {"resolved_by": "reduction"}, "resolved_by_reduction"),
        ("resolved", {"resolved_by": "limit_increase"}, "resolved_by_limit_increase"),
        ("fee_invoiced", {}, "fee_invoiced"),
        ("reminded", {}, "fee_invoiced"),
        ("overdue", {}, "overdue"),
        ("paid", {}, "fee_paid"),
    ],
)
def test_each_state_has_the_outcome_the_report_counts(state: str, extra: dict[str, str], outcome: str | None) -> None:
    episode = Episode.model_validate(
        {
            "episode_id": "20260301T090000Z-abcdef",
            "state": state,
            "opened_at": OPENED,
            "opened_by": "profiles.counted:e0",
            "opening_count": 237,
            "count": 237,
            "limit": 200,
            "grace_ends_at": GRACE_END,
        }
        | extra
    )
    assert episode.outcome == outcome
    assert episode.to_map()["outcome"] == outcome if outcome else "outcome" not in episode.to_map()


# --- steps: stale, changed ----------------------------------------------------------------------------------------


def test_the_same_snapshot_delivered_again_is_stale_and_changes_nothing() -> None:
    first = snapshot(ProfilesState(limit=200), 120, OPENED, "e1")
    assert first.stale is False and first.changed is True
    again = snapshot(first.after, 120, OPENED, "e1")
    assert again.stale is True
    assert again.changed is False
    assert again.after == first.after


def test_an_older_snapshot_is_stale() -> None:
    newer = snapshot(ProfilesState(limit=200), 120, OPENED, "e2").after
    older = snapshot(newer, 250, OPENED - timedelta(hours=1), "e1")
    assert older.stale is True
    assert older.after == newer


def test_a_new_count_that_says_nothing_still_changes_the_state() -> None:
    state = snapshot(ProfilesState(limit=200), 100, OPENED, "e1").after
    step = snapshot(state, 120, OPENED + timedelta(hours=1), "e2")
    assert step.happenings == ()
    assert step.changed is True
    assert step.after.count == 120


def test_a_new_limit_before_any_count_is_kept_and_says_nothing() -> None:
    step = apply_limit(
        ProfilesState(limit=200), limit=250, occurred_at=OPENED, cause="account.upserted:e1", policy=POLICY
    )
    assert step.after.limit == 250
    assert step.happenings == ()


def test_a_limit_of_one_is_approached_at_one() -> None:
    ratio = POLICY.approaching_ratio
    assert is_approaching(1, 1, ratio) is True
    assert is_approaching(2, 1, ratio) is False


# --- the episode ----------------------------------------------------------------------------------------------


def test_a_new_episode_is_over_the_limit_so_its_excess_persists() -> None:
    state, _ = counts(200, 237)
    assert state.episode is not None
    assert state.episode.excess_persists is True
    assert state.episode.excess == 37


def test_after_the_excess_ended_the_excess_is_zero() -> None:
    state = snapshot(invoiced(), 190, datetime(2026, 3, 20, tzinfo=UTC), "down").after
    assert state.episode is not None
    assert state.episode.excess == 0


def test_an_episode_survives_the_account_item_round_trip() -> None:
    episode = invoiced(237, GBP).episode
    assert episode is not None
    assert Episode.from_map(episode.to_map()) == episode


def test_the_fee_invoice_covers_the_month_from_the_grace_end() -> None:
    state, _ = counts(200, 237)
    step = advance(state, as_of=RUN, count_at_grace_end=237, terms=USD, policy=POLICY)
    assert step is not None
    invoice = step.happenings[0].invoice
    assert invoice is not None
    assert (invoice.period_start, invoice.period_end) == (date(2026, 3, 15), date(2026, 4, 15))
    assert (invoice.net, invoice.gross) == (Decimal("37.00"), Decimal("37.00"))


def test_a_fee_for_the_grace_end_while_the_latest_count_is_at_the_limit_has_no_persisting_excess() -> None:
    state, _ = counts(200, 237)
    state = snapshot(state, 200, GRACE_END + timedelta(minutes=30), "after").after  # after the grace end
    step = advance(state, as_of=RUN, count_at_grace_end=237, terms=USD, policy=POLICY)
    assert step is not None and step.after.episode is not None
    assert step.after.episode.fee_excess == 37
    assert step.after.episode.excess_persists is False


def test_a_run_exactly_when_the_fee_goes_overdue_skips_the_reminder() -> None:
    state = invoiced()
    assert state.episode is not None and state.episode.overdue_at == datetime(2026, 3, 30, tzinfo=UTC)
    step = advance(state, as_of=datetime(2026, 3, 30, tzinfo=UTC), count_at_grace_end=None, terms=USD, policy=POLICY)
    assert step is not None
    assert kinds(step) == ["overdue"]
    assert step.after.restricted is True
    assert step.after.episode is not None and step.after.episode.outcome == "overdue"


def test_a_run_the_moment_before_it_goes_overdue_reminds() -> None:
    state = invoiced()
    moment = datetime(2026, 3, 29, 23, 59, 59, tzinfo=UTC)
    step = advance(state, as_of=moment, count_at_grace_end=None, terms=USD, policy=POLICY)
    assert step is not None
    assert kinds(step) == ["reminded"]
    assert step.after.restricted is False


def test_a_billing_moment_exactly_at_the_grace_end_carries_no_excess_line() -> None:
    state, _ = counts(200, 237)
    episode = state.episode
    assert episode is not None
    assert bills_excess_at(episode, GRACE_END) is False
    assert bills_excess_at(episode, GRACE_END + timedelta(seconds=1)) is True


# --- the limit's history (README: kept from the change in force at the count on, the newest 50) ---------------


def change(minute: int, limit: int, event: str = "") -> LimitChange:
    when = OPENED + timedelta(minutes=minute)
    return LimitChange(f"{when.isoformat()}#{event or f'u{minute}'}", when, limit, f"account.upserted:u{minute}")


def test_a_limit_change_at_the_very_moment_of_the_count_is_the_one_in_force() -> None:
    state = ProfilesState(limit=200)
    for c in (change(0, 250), change(60, 300)):
        state = with_limit_change(state, c)
    counted = snapshot(state, 120, OPENED + timedelta(minutes=60), "count").after
    assert [c.limit for c in limits_that_matter(counted)] == [300]


def test_the_history_keeps_the_newest_50_changes() -> None:
    state = ProfilesState(limit=200)
    for minute in range(60):
        state = with_limit_change(state, change(minute, 200 + minute))
    kept = limits_that_matter(state)
    assert len(kept) == 50
    assert [c.limit for c in kept] == list(range(210, 260))


def test_two_limit_changes_at_the_same_moment_are_ordered_by_event_id_and_a_count_then_uses_the_later() -> None:
    state = ProfilesState(limit=200)
    state = with_limit_change(state, change(0, 300, "e1"))
    state = with_limit_change(state, change(0, 200, "e2"))
    step = snapshot(state, 250, OPENED, "count")
    assert kinds(step) == ["exceeded"]
    assert step.after.episode is not None and step.after.episode.limit == 200
