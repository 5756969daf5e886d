"""Excess profiles (spec §3.2): the approaching warning and the episode from "exceeded" to settled. Pure rules.

An account's excess-profile state is its latest profile count (last-writer-wins by version key), its profile
limit (package limit + 50 × profile packs) and the history of that limit (``LimitChange``: each limit with the
moment it took effect), whether an "approaching" notice may be sent (armed), the open episode, and whether the
account is restricted. Facts move it one step at a time and each step says what happened:

- a profile snapshot (``apply_snapshot``): older than the count in force → nothing (stale); newer → measured
  against the limit in force at its ``occurred_at``, then carried through the limit changes dated after it;
- a new limit (``apply_limit``): packs bought or removed, a package change, measured with the count in force;
- the grace-expiry run (``advance``): grace end → fee invoice, reminder, deadline → overdue and restricted;
- a payment (``apply_payment``): the fee paid; the restriction lifted when no overdue invoice remains.

Episode states: ``in_grace`` → ``resolved`` (back at or under the limit before the grace end: by reduction or by a
limit increase; no fee) or ``fee_invoiced`` → ``reminded`` → ``overdue`` (the account is restricted) → ``paid``.
An episode leaves the account once it is resolved, or once its fee is paid and its excess has ended; while it is on
the account no second episode opens (an excess that comes back is the same, still unsettled, episode).

Nothing here reads a clock, an environment variable or a table: times, limits and prices come in as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from overage.domain.calendar import anniversary
from overage.domain.catalog import Policy
from overage.domain.instants import midnight_utc, to_key
from overage.domain.invoice import Buyer, Invoice, build_invoice
from overage.domain.money import Evidence, InvoiceLine, Totals, round_money, with_vat
from overage.errors import Conflict

EpisodeState = Literal["in_grace", "resolved", "fee_invoiced", "reminded", "overdue", "paid", "waived"]
Resolution = Literal["reduction", "limit_increase"]
HappeningKind = Literal[
    "approaching",  # a count reached 90 % of the limit (notice)
    "exceeded",  # an episode opened (notice)
    "resolved",  # back within the limit in grace, or at the grace end (notice)
    "fee_invoiced",  # grace ended over the limit: the fee invoice (notice)
    "reminded",  # three days before the payment deadline (notice)
    "overdue",  # the deadline passed unpaid: invoice overdue, account restricted (notice)
    "paid",  # the fee invoice was paid
    "excess_ended",  # after the grace end, back within the limit
    "excess_returned",  # after the grace end, over the limit again (same episode)
    "closed",  # the episode left the account (fee paid and excess ended)
    "unrestricted",  # no overdue invoice remains (notice)
    "waived",  # support voided the fee invoice: the episode ends without a fee (spec §3.7)
    "grace_extended",  # support moved the grace end later (spec §3.7)
    "restricted_by_invoice",  # another kind's overdue invoice reached its dunning policy's restriction (notice)
]
FEE_INVOICE_KIND = "excess_profiles"
FEE_LINE_CODE = "excess_profiles"
ACTIVE_STATES: tuple[EpisodeState, ...] = ("in_grace", "fee_invoiced", "reminded", "overdue", "paid")
UNPAID_STATES: tuple[EpisodeState, ...] = ("fee_invoiced", "reminded", "overdue")


class Episode(BaseModel):
    """One excess-profile episode, from the snapshot (or limit change) that put the account over its limit."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    episode_id: str
    state: EpisodeState
    opened_at: datetime
    opened_by: str  # the cause: "profiles.counted:<event id>", "account.upserted:<event id>", ...
    opening_count: int
    count: int  # the latest count known
    limit: int  # the limit the fee is measured against (the limit in force during the grace period)
    grace_ends_at: datetime
    resolved_by: Resolution | None = None
    resolved_at: datetime | None = None
    fee_count: int | None = None  # the count in force at the grace end
    fee_excess: int | None = None
    fee_invoice_id: str | None = None
    fee_invoice_number: str | None = None
    currency: str | None = None
    fee_per_profile: Decimal | None = None
    fee_net: Decimal | None = None
    fee_vat: Decimal | None = None
    fee_gross: Decimal | None = None
    invoiced_at: datetime | None = None
    deadline: date | None = None  # the fee invoice's due date: paid by the end of this day (UTC) is on time
    reminder_at: datetime | None = None
    overdue_at: datetime | None = None  # 00:00 UTC the day after the deadline
    reminded_at: datetime | None = None
    went_overdue_at: datetime | None = None
    paid_at: datetime | None = None
    waived_at: datetime | None = None
    excess_persists: bool = True  # after the grace end: is the latest count still over the current limit

    @property
    def excess(self) -> int:
        return max(0, self.count - self.limit)

    @property
    def outcome(self) -> str | None:
        """What the report counts: resolved_by_reduction / resolved_by_limit_increase / fee_invoiced / overdue /
        fee_paid; None while in grace."""
        if self.state == "resolved":
            return f"resolved_by_{self.resolved_by}"
        if self.state in ("fee_invoiced", "reminded"):
            return "fee_invoiced"
        if self.state == "overdue":
            return "overdue"
        if self.state == "paid":
            return "fee_paid"
        if self.state == "waived":
            return "waived"
        return None

    def next_attention_at(self) -> datetime | None:
        """When the grace-expiry run must next look at this episode (None: it waits for a payment or a count)."""
        if self.state == "in_grace":
            return self.grace_ends_at
        if self.state == "fee_invoiced":
            return self.reminder_at
        if self.state == "reminded":
            return self.overdue_at
        return None

    def to_map(self) -> dict[str, object]:
        """The map kept on the account item (and shown by ``GET /accounts/{id}``): JSON types only."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["excess"] = self.excess
        data["outcome"] = self.outcome
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_map(cls, data: dict[str, object]) -> Episode:
        return cls.model_validate(data)


@dataclass(frozen=True, order=True)
class LimitChange:
    """The profile limit from one fact on: ``version`` is the fact's last-writer-wins key (its ``occurred_at`` and
    event id, so changes sort in time order), ``at`` its ``occurred_at``, ``cause`` its name
    (``"account.upserted:<event id>"``, ``"plan.change_requested:<change id>"``)."""

    version: str
    at: datetime
    limit: int
    cause: str


@dataclass(frozen=True)
class ProfilesState:
    """An account's excess-profile state (what the account item holds for this policy).

    ``limits`` is the history of the limit, oldest first, its last change the current ``limit``; empty for an
    account whose item predates the history (its limit counts as in force since forever)."""

    limit: int
    count: int | None = None
    version: str | None = None  # last-writer-wins key of the count in force
    approaching_armed: bool = True  # an "approaching" notice may be sent (re-armed below 90 %)
    episode: Episode | None = None
    restricted: bool = False
    limits: tuple[LimitChange, ...] = ()


@dataclass(frozen=True)
class Happening:
    """Something one step did, for the notices and the episode's history (the episode as left by the step)."""

    kind: HappeningKind
    at: datetime
    cause: str
    episode: Episode | None = None
    count: int | None = None
    limit: int | None = None
    invoice: Invoice | None = None


@dataclass(frozen=True)
class Step:
    before: ProfilesState
    after: ProfilesState
    happenings: tuple[Happening, ...] = ()
    stale: bool = False

    @property
    def changed(self) -> bool:
        return self.after != self.before or bool(self.happenings)


@dataclass(frozen=True)
class FeeTerms:
    """What the fee invoice is priced with, from the catalog, in the account's currency."""

    account_id: str
    currency: str
    fee_per_profile: Decimal
    vat_rate: Decimal
    invoice_number: str | None = None  # the fee invoice's number, assigned by ``services.invoicing`` (None: a draft)
    buyer: Buyer | None = None  # the account's buyer details at issue (spec §3.8)
    evidence: Evidence | None = None  # the snapshot in force at the grace end the fee is priced from


# ------------------------------------------------------------------------------------------------ helpers


def is_approaching(count: int, limit: int, ratio: Decimal) -> bool:
    """At or above ``ratio`` of the limit and not over it (a count of 180 of 200 is approaching; 200 too)."""
    return limit > 0 and Decimal(count) >= ratio * limit and count <= limit


def below_threshold(count: int, limit: int, ratio: Decimal) -> bool:
    """Under ``ratio`` of the limit: the "approaching" notice is armed again."""
    return Decimal(count) < ratio * limit


LIMIT_HISTORY_CAP = 50


def limit_in_force(state: ProfilesState, moment: datetime) -> int:
    """The limit of the newest change dated at or before ``moment``. Before the first change the history knows
    (or with no history at all) the account's first known limit counts as in force since forever."""
    if not state.limits:
        return state.limit
    limit = state.limits[0].limit
    for change in state.limits:
        if change.at <= moment:
            limit = change.limit
    return limit


def with_limit_change(state: ProfilesState, change: LimitChange) -> ProfilesState:
    """``change`` joins the history in time order (again with the same version: replaced); the current limit is
    the newest change's."""
    limits = tuple(sorted({c.version: c for c in (*state.limits, change)}.values()))
    return replace(state, limits=limits, limit=limits[-1].limit)


def _instant(version: str) -> str:
    return version.split("#", 1)[0]


def limits_that_matter(state: ProfilesState) -> tuple[LimitChange, ...]:
    """The changes a later fact can still be measured against: a snapshot not newer than the count in force is
    stale, so only the change in force at the count in force's ``occurred_at`` and the ones after it (all of them
    while no count is known), at most the newest ``LIMIT_HISTORY_CAP`` (more limit changes than that between two
    counts is no real account; a count dated before the oldest one kept would be measured against it)."""
    limits = state.limits
    if state.version is not None:
        counted_at = _instant(state.version)
        in_force = [n for n, change in enumerate(limits) if _instant(change.version) <= counted_at]
        if in_force:
            limits = limits[in_force[-1] :]
    return limits[-LIMIT_HISTORY_CAP:]


def _not_before_opening(state: ProfilesState, at: datetime) -> datetime:
    """A fact never changes an episode before the moment it opened (an episode can open at a limit change measured
    with an older count, and a count dated between the two then arrives): it applies from the opening on."""
    return max(at, state.episode.opened_at) if state.episode is not None else at


def episode_id(opened_at: datetime, cause: str) -> str:
    """Deterministic from when and why it opened; sorts by time (``20260301T090000Z-1a2b3c``)."""
    stamp = to_key(opened_at)
    compact = stamp[0:4] + stamp[5:7] + stamp[8:10] + "T" + stamp[11:13] + stamp[14:16] + stamp[17:19] + "Z"
    return f"{compact}-{hashlib.sha256(cause.encode()).hexdigest()[:6]}"


def fee_totals(excess: int, terms: FeeTerms) -> Totals:
    """What ``excess`` profiles over the limit cost for one month: excess × fee, rounded, plus VAT."""
    return with_vat(round_money(Decimal(excess) * terms.fee_per_profile), terms.vat_rate)


def deadline_for(issued_at: datetime, policy: Policy) -> date:
    return issued_at.date() + timedelta(days=policy.payment_deadline_days)


def _open(state: ProfilesState, count: int, at: datetime, cause: str, policy: Policy) -> Episode:
    return Episode(
        episode_id=episode_id(at, cause),
        state="in_grace",
        opened_at=at,
        opened_by=cause,
        opening_count=count,
        count=count,
        limit=state.limit,
        grace_ends_at=at + timedelta(days=policy.grace_days),
    )


def _follow(
    state: ProfilesState, count: int, at: datetime, cause: str, how: Resolution, policy: Policy
) -> tuple[Episode | None, list[Happening]]:
    """The episode once the count in force is ``count`` against ``state.limit`` as of ``at``; what happened."""
    limit = state.limit
    over = count > limit
    episode = state.episode
    if episode is None:
        if over:
            episode = _open(state, count, at, cause, policy)
            return episode, [Happening("exceeded", at, cause, episode, count, limit)]
        if state.approaching_armed and is_approaching(count, limit, policy.approaching_ratio):
            return None, [Happening("approaching", at, cause, None, count, limit)]
        return None, []
    if episode.state == "in_grace":
        if at >= episode.grace_ends_at:
            # The grace period is over: the fee is measured at the grace end (by the next run), not now.
            return episode.model_copy(update={"count": count}), []
        # Within grace the episode follows the limit too (a pack bought, a package changed).
        episode = episode.model_copy(update={"count": count, "limit": limit})
        if over:
            return episode, []
        resolved = episode.model_copy(update={"state": "resolved", "resolved_by": how, "resolved_at": at})
        return None, [Happening("resolved", at, cause, resolved, count, limit)]
    # After the grace end the fee stands; what follows is whether the excess persists (monthly lines).
    episode = episode.model_copy(update={"count": count})
    happenings: list[Happening] = []
    if episode.excess_persists and not over:
        episode = episode.model_copy(update={"excess_persists": False})
        happenings.append(Happening("excess_ended", at, cause, episode, count, limit))
    elif not episode.excess_persists and over:
        episode = episode.model_copy(update={"excess_persists": True})
        happenings.append(Happening("excess_returned", at, cause, episode, count, limit))
    if episode.state == "paid" and not episode.excess_persists:
        happenings.append(Happening("closed", at, cause, episode, count, limit))
        return None, happenings
    return episode, happenings


# ------------------------------------------------------------------------------------------------ the facts


def apply_snapshot(
    state: ProfilesState, *, count: int, version: str, occurred_at: datetime, cause: str, policy: Policy
) -> Step:
    """A ``profiles.counted`` snapshot. Not newer than the count in force (by version key): stale, nothing changes.

    Otherwise it becomes the count in force, measured against the limit in force at its ``occurred_at`` (from the
    history): over the limit with no episode opens one (grace ends 14 days after ``occurred_at``); within the grace
    period and back at or under the limit resolves the episode by reduction; at or above 90 % (and at most the
    limit) with the warning armed sends "approaching". Any count at or above 90 % disarms the warning; a count
    under 90 % re-arms it. Then it is carried through each limit change dated after it, oldest first, each at its
    own time (``apply_limit``), so a count arriving after a limit change newer than itself ends as if it had
    arrived first. A change carried again after an earlier count was measured against it names what it does
    ``"<change cause>@<snapshot cause>"`` (its first measurement may have sent a notice under its own name).
    """
    if state.version is not None and version <= state.version:
        return Step(state, state, (), stale=True)
    at = _not_before_opening(state, occurred_at)
    then = limit_in_force(state, at)
    counted = replace(state, count=count, version=version, limit=then)
    episode, happenings = _follow(counted, count, at, cause, "reduction", policy)
    armed = below_threshold(count, then, policy.approaching_ratio)
    after = replace(counted, approaching_armed=armed, episode=episode)
    for change in state.limits:
        if change.at <= at:
            continue
        named = change.cause if state.count is None else f"{change.cause}@{cause}"
        carried = apply_limit(after, limit=change.limit, occurred_at=change.at, cause=named, policy=policy)
        after = carried.after
        happenings += carried.happenings
    return Step(state, replace(after, limit=state.limit), tuple(happenings))


def apply_limit(state: ProfilesState, *, limit: int, occurred_at: datetime, cause: str, policy: Policy) -> Step:
    """The profile limit changed (profile packs, package). The count in force is measured against the new limit
    as of ``occurred_at`` (a change dated before the count in force, arriving late, is applied at its own time, but
    never before the open episode opened): within grace, at or under it resolves the episode by limit increase;
    over it with no episode opens one. With the limit unchanged it is a consistency check that changes nothing on
    a consistent state."""
    moved = replace(state, limit=limit)
    if state.count is None:
        return Step(state, moved)
    at = _not_before_opening(state, occurred_at)
    episode, happenings = _follow(moved, state.count, at, cause, "limit_increase", policy)
    armed = below_threshold(state.count, limit, policy.approaching_ratio)
    return Step(state, replace(moved, approaching_armed=armed, episode=episode), tuple(happenings))


def fee_invoice(episode: Episode, *, fee_count: int, terms: FeeTerms, issued_at: datetime, policy: Policy) -> Invoice:
    """The fee invoice: (count at the grace end − limit) × fee per profile, due ``payment_deadline_days`` later."""
    excess = fee_count - episode.limit
    grace_end = episode.grace_ends_at
    line = InvoiceLine.of(
        FEE_LINE_CODE,
        f"Excess profiles at the grace end {grace_end:%Y-%m-%d}: {fee_count} profiles, limit {episode.limit} "
        f"({excess} × {terms.fee_per_profile} {terms.currency}/month)",
        excess,
        terms.fee_per_profile,
    )
    if terms.evidence is not None and terms.evidence.count == fee_count:
        line = line.model_copy(update={"evidence": terms.evidence})
    return build_invoice(
        account_id=terms.account_id,
        kind=FEE_INVOICE_KIND,
        period_key=episode.episode_id,
        currency=terms.currency,
        period_start=grace_end.date(),
        period_end=anniversary(grace_end.date(), 1),
        lines=[line],
        vat_rate_value=str(terms.vat_rate),
        issued_at=issued_at,
        due_on=deadline_for(issued_at, policy),
        notes=[
            f"Excess-profile episode {episode.episode_id}: over the limit since "
            f"{episode.opened_at:%Y-%m-%d %H:%M} UTC, grace period ended {grace_end:%Y-%m-%d %H:%M} UTC."
        ],
        number=terms.invoice_number,
        buyer=terms.buyer,
    )


def advance(
    state: ProfilesState,
    *,
    as_of: datetime,
    count_at_grace_end: int | None,
    terms: FeeTerms,
    policy: Policy,
) -> Step | None:
    """One step of the grace-expiry run, if the episode needs one by ``as_of`` (None: nothing is due).

    - in grace, grace ended: the count in force at the grace end over the episode's limit → the fee invoice
      (issued at ``as_of``, due 14 days later; reminder at 00:00 UTC three days before the due date; overdue at
      00:00 UTC the day after it); at or under it → resolved by reduction (the count in force says so).
    - fee invoiced, reminder due → reminded (or overdue straight away when the deadline has passed as well);
    - reminded, deadline passed → overdue: the invoice is overdue and the account restricted.
    """
    episode = state.episode
    due = episode.next_attention_at() if episode else None
    if episode is None or due is None or as_of < due:
        return None
    cause = f"grace_expiry:{to_key(as_of)}"
    if episode.state == "in_grace":
        fee_count = episode.count if count_at_grace_end is None else count_at_grace_end
        if fee_count <= episode.limit:
            resolved = episode.model_copy(
                update={"state": "resolved", "resolved_by": "reduction", "resolved_at": episode.grace_ends_at}
            )
            happenings = [Happening("resolved", episode.grace_ends_at, cause, resolved, fee_count, episode.limit)]
            reopened: Episode | None = None
            if state.count is not None and state.count > state.limit:
                # Within the limit at the grace end, over it again since: a new episode from now on.
                reopened = _open(replace(state, episode=None), state.count, as_of, cause, policy)
                happenings.append(Happening("exceeded", as_of, cause, reopened, state.count, state.limit))
            return Step(state, replace(state, episode=reopened), tuple(happenings))
        invoice = fee_invoice(episode, fee_count=fee_count, terms=terms, issued_at=as_of, policy=policy)
        deadline = invoice.due_on
        invoiced = episode.model_copy(
            update={
                "state": "fee_invoiced",
                "fee_count": fee_count,
                "fee_excess": fee_count - episode.limit,
                "fee_invoice_id": invoice.invoice_id,
                "fee_invoice_number": invoice.number,
                "currency": terms.currency,
                "fee_per_profile": terms.fee_per_profile,
                "fee_net": invoice.net,
                "fee_vat": invoice.vat,
                "fee_gross": invoice.gross,
                "invoiced_at": as_of,
                "deadline": deadline,
                "reminder_at": midnight_utc(deadline - timedelta(days=policy.reminder_days_before_deadline)),
                "overdue_at": midnight_utc(deadline + timedelta(days=1)),
                "excess_persists": state.count is not None and state.count > state.limit,
            }
        )
        happening = Happening("fee_invoiced", as_of, cause, invoiced, fee_count, episode.limit, invoice)
        return Step(state, replace(state, episode=invoiced), (happening,))
    assert episode.overdue_at is not None
    if episode.state == "fee_invoiced" and as_of < episode.overdue_at:
        reminded = episode.model_copy(update={"state": "reminded", "reminded_at": as_of})
        return Step(state, replace(state, episode=reminded), (Happening("reminded", as_of, cause, reminded),))
    overdue = episode.model_copy(update={"state": "overdue", "went_overdue_at": as_of})
    return Step(
        state,
        replace(state, episode=overdue, restricted=True),
        (Happening("overdue", as_of, cause, overdue),),
    )


def apply_payment(
    state: ProfilesState, *, invoice_id: str, paid_at: datetime, cause: str, overdue_remaining: bool
) -> Step:
    """An invoice was paid. The open episode's fee invoice → paid (and the episode closes when its excess has
    ended). With no overdue invoice left (``overdue_remaining`` counts the others), a restriction is lifted."""
    episode = state.episode
    happenings: list[Happening] = []
    if episode is not None and episode.fee_invoice_id == invoice_id and episode.state in UNPAID_STATES:
        episode = episode.model_copy(update={"state": "paid", "paid_at": paid_at})
        happenings.append(Happening("paid", paid_at, cause, episode))
        if not episode.excess_persists:
            happenings.append(Happening("closed", paid_at, cause, episode))
            episode = None
    restricted = state.restricted
    if restricted and not overdue_remaining:
        restricted = False
        happenings.append(Happening("unrestricted", paid_at, cause))
    return Step(state, replace(state, episode=episode, restricted=restricted), tuple(happenings))


def waive_fee(state: ProfilesState, *, invoice_id: str, at: datetime, cause: str, overdue_remaining: bool) -> Step:
    """Support voided ``invoice_id``. When it is the open episode's unpaid fee invoice, the fee is waived: the episode
    ends as ``waived`` and leaves the account (a count over the limit after this opens a new one, with its own
    grace). With no restricting invoice left overdue (``overdue_remaining`` counts the others), the restriction is
    lifted."""
    episode = state.episode
    happenings: list[Happening] = []
    if episode is not None and episode.fee_invoice_id == invoice_id and episode.state in UNPAID_STATES:
        waived = episode.model_copy(update={"state": "waived", "waived_at": at})
        happenings.append(Happening("waived", at, cause, waived))
        episode = None
    restricted = state.restricted
    if restricted and not overdue_remaining:
        restricted = False
        happenings.append(Happening("unrestricted", at, cause))
    return Step(state, replace(state, episode=episode, restricted=restricted), tuple(happenings))


def extend_grace(state: ProfilesState, *, days: int, at: datetime, cause: str) -> Step:
    """Support gave ``days`` more of grace: the open episode's grace end moves later, only while it is in grace
    (Conflict otherwise: no episode, or its grace is over and the fee invoiced or due)."""
    episode = state.episode
    if episode is None:
        raise Conflict("the account has no open excess-profile episode: there is no grace period to extend")
    if episode.state != "in_grace" or at >= episode.grace_ends_at:
        raise Conflict(
            f"the grace period of episode {episode.episode_id} ended at {to_key(episode.grace_ends_at)}; it can no "
            "longer be extended (void the fee invoice to waive the fee instead)"
        )
    extended = episode.model_copy(update={"grace_ends_at": episode.grace_ends_at + timedelta(days=days)})
    return Step(state, replace(state, episode=extended), (Happening("grace_extended", at, cause, extended),))


# ------------------------------------------------------------------------------------------------ monthly lines


def bills_excess_at(episode: Episode | None, billing_moment: datetime) -> bool:
    """Whether a billing date at ``billing_moment`` may carry an excess-profile line: the account has an episode
    whose grace period ended before that moment (an expired episode; its excess is measured at the moment)."""
    return episode is not None and episode.state != "resolved" and billing_moment > episode.grace_ends_at


def excess_line(
    *, count: int | None, limit: int, billing_date: date, fee_per_profile: Decimal, currency: str
) -> InvoiceLine | None:
    """The monthly excess-profile line of a billing date: (count at 00:00 UTC − limit) × fee, if over."""
    if count is None or count <= limit:
        return None
    excess = count - limit
    return InvoiceLine.of(
        FEE_LINE_CODE,
        f"Excess profiles on {billing_date}: {count} profiles, limit {limit} ({excess} × {fee_per_profile} "
        f"{currency}/month)",
        excess,
        fee_per_profile,
    )


def replay(
    state: ProfilesState, snapshots: Sequence[tuple[int, str, datetime, str]], policy: Policy
) -> tuple[ProfilesState, list[Happening]]:
    """Apply ``(count, version, occurred_at, cause)`` snapshots in the order given (what arrival order does)."""
    happenings: list[Happening] = []
    for count, version, occurred_at, cause in snapshots:
        step = apply_snapshot(state, count=count, version=version, occurred_at=occurred_at, cause=cause, policy=policy)
        state = step.after
        happenings += step.happenings
    return state, happenings


def restrict_by_invoice(state: ProfilesState, *, at: datetime, cause: str) -> Step:
    """An overdue invoice of a kind whose dunning policy restricts (spec §3.7, ``services.dunning``) restricts the
    account: the same restriction an unpaid fee sets (no new profiles), lifted the same way once no restricting
    invoice is overdue. An account already restricted stays so, with nothing more to tell."""
    if state.restricted:
        return Step(state, state)
    return Step(state, replace(state, restricted=True), (Happening("restricted_by_invoice", at, cause),))
