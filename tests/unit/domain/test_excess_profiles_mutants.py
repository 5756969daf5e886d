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
    ProfilesState,
    Step,
    advance,
    apply_payment,
    apply_snapshot,
    below_threshold,
    episode_id,
    is_approaching,
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
