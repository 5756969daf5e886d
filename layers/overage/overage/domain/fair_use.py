"""Fair use of telephone support (spec §3.3): who may call, and the monthly rollup of the calls.

Who may call (``entitlement``), decided per call from the subscription in force when the call started
(``subscription_at``: the account as it stands, or as it was before the first plan change applied after the call
started): a customer since before the legacy cut-off (2011-04-07) keeps the old terms (``legacy``), whatever the
package; otherwise a package that includes telephone support (``complete``: ``included``), or the telephone-support
add-on on a package that sells it (``add_on``); anyone else's calls are kept and marked ``not_entitled``.

How time is counted: to the second. A call's duration is never rounded; a user's time is the sum of their calls'
seconds, and every threshold compares seconds: a long call is over 15:00 (900 s; 15:00 is not long, 15:01 is), a user
is over the allowance above 45:00 (2,700 s) and in review above 60:00 (3,600 s). Minutes are shown with two decimals
(seconds ÷ 60, half-up); one second is 0.0167 min, so a figure shown as 45.00 is never over the allowance.

A call belongs to the calendar month (UTC) in which it started. Calls only ever join a month, so a user's seconds
and level can only grow when a late call recomputes a month (``new_facts`` relies on it).
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from overage.domain.catalog import Catalog, FairUsePolicy
from overage.domain.instants import Month, parse_instant
from overage.domain.money import CENT, Amount, InvoiceLine, totals

Entitlement = Literal["included", "add_on", "legacy", "not_entitled"]
Level = Literal["within", "over_allowance", "review"]
Terms = Literal["fair_use", "legacy_terms", "not_entitled"]

LEVELS: tuple[Level, ...] = ("within", "over_allowance", "review")
ENTITLEMENTS: tuple[Entitlement, ...] = ("included", "add_on", "legacy", "not_entitled")
MONTH_SHARDS = 16
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600


# ---------------------------------------------------------------------------------------- entitlement


def entitlement(
    *,
    package: str,
    telephone_support: bool,
    customer_since: date,
    catalog: Catalog,
    call_day: date | None = None,
    subscribed_since: date | None = None,
) -> Entitlement:
    """Whether a call from an account with this subscription is covered, and on what basis. A call made before the
    customer had any subscription (``call_day`` before ``subscribed_since``) is covered by nothing."""
    if call_day is not None and subscribed_since is not None and call_day < subscribed_since:
        return "not_entitled"
    if customer_since < catalog.policy.legacy_cutoff:
        return "legacy"
    known = catalog.packages.get(package)
    if known is not None and known.telephone_support_included:
        return "included"
    if telephone_support and package in catalog.add_ons.telephone_support.packages:
        return "add_on"
    return "not_entitled"


@dataclass(frozen=True, slots=True)
class SubscriptionAt:
    """The parts of a subscription fair use reads, as they stood at some moment."""

    package: str
    telephone_support: bool
    paying_users: int
    changed_since: str | None = None  # the id of the first plan change applied after that moment, if any


def subscription_at(
    moment: datetime,
    current: SubscriptionAt,
    changes: Iterable[Mapping[str, Any]],
) -> SubscriptionAt:
    """The subscription in force at ``moment``: the current one, unless plan changes were applied after ``moment``;
    then the one the first of them changed from.

    ``changes`` are plan-change records (spec §3.4): ``status`` ``applied``, ``effective_at`` (ISO-8601) and
    ``from`` (the subscription before). Others (pending, cancelled, superseded, malformed) are ignored.
    """
    later: list[tuple[datetime, str, Mapping[str, Any]]] = []
    for record in changes:
        before = record.get("from")
        if record.get("status") != "applied" or not isinstance(before, Mapping):
            continue
        try:
            effective = parse_instant(str(record.get("effective_at")))
        except ValueError:
            continue
        if effective > moment and "package" in before and "telephone_support" in before:
            later.append((effective, str(record.get("sk", record.get("change_id", ""))), before))
    if not later:
        return current
    _, change_id, before = min(later, key=lambda entry: (entry[0], entry[1]))
    return SubscriptionAt(
        package=str(before["package"]),
        telephone_support=bool(before["telephone_support"]),
        paying_users=int(before.get("paying_users", current.paying_users)),
        changed_since=change_id,
    )


def month_shard(account_id: str) -> str:
    """A stable shard of the per-month call indexes, so finding a month's accounts is a fixed number of queries."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % MONTH_SHARDS:02d}"


def all_month_shards() -> list[str]:
    return [f"{shard:02d}" for shard in range(MONTH_SHARDS)]


# ---------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Call:
    """One completed call as recorded: who, when, how long, and the entitlement in force when it was recorded."""

    call_id: str
    user_id: str
    started_at: datetime
    duration_seconds: int
    entitlement: Entitlement
    paying_users: int

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be an aware datetime")
        if self.duration_seconds <= 0:
            raise ValueError(f"a call lasts at least one second, not {self.duration_seconds}")
        if self.paying_users < 0:
            raise ValueError(f"paying users cannot be negative ({self.paying_users})")

    @property
    def month(self) -> Month:
        return Month.of(self.started_at.astimezone(UTC).date())

    @property
    def entitled(self) -> bool:
        return self.entitlement != "not_entitled"


def minutes(seconds: int) -> Decimal:
    """Seconds shown as minutes with two decimals, half-up."""
    return (Decimal(seconds) / SECONDS_PER_MINUTE).quantize(CENT, rounding=ROUND_HALF_UP)


def clock(seconds: int) -> str:
    """``mm:ss`` (minutes may exceed 59): 2701 s → ``45:01``."""
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---------------------------------------------------------------------------------------- the rollup


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LongCall(_Frozen):
    call_id: str
    started_at: str  # ISO-8601 UTC
    seconds: int
    minutes: Decimal


class TrainingOffer(_Frozen):
    """ceil((minutes − allowance) / 60) hours of training at the catalog's price per hour ex VAT."""

    hours: int
    currency: str
    price_per_hour: Amount
    net: Amount
    vat_rate: str
    vat: Amount
    gross: Amount


class UserCalls(_Frozen):
    user_id: str
    calls: int
    seconds: int
    minutes: Decimal
    long_calls: tuple[LongCall, ...]


class UserUsage(UserCalls):
    level: Level
    over_allowance: bool
    review: bool
    training_offer: TrainingOffer | None = None


class UsageTotals(_Frozen):
    calls: int
    seconds: int
    minutes: Decimal
    long_calls: int


class NotEntitledUsage(_Frozen):
    """Calls made while the account had no telephone support: kept, shown, never counted against an allowance."""

    calls: int
    seconds: int
    minutes: Decimal
    users: tuple[UserCalls, ...]


class MonthRollup(_Frozen):
    account_id: str
    month: str
    terms: Terms
    status: Level
    paying_users: int
    allowance_minutes_per_user: int
    long_call_minutes: int
    review_minutes_per_user: int
    pooled_allowance_minutes: int
    over_pooled_allowance: bool
    totals: UsageTotals
    users: tuple[UserUsage, ...]
    not_entitled: NotEntitledUsage

    def users_at(self, *levels: Level) -> list[UserUsage]:
        return [user for user in self.users if user.level in levels]


def level_of(seconds: int, policy: FairUsePolicy) -> Level:
    if seconds > policy.review_minutes_per_user * SECONDS_PER_MINUTE:
        return "review"
    if seconds > policy.included_minutes_per_user * SECONDS_PER_MINUTE:
        return "over_allowance"
    return "within"


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, key=LEVELS.index, default="within")


def training_hours(seconds: int, policy: FairUsePolicy) -> int:
    """ceil((seconds − allowance) / 3600); 0 at or under the allowance."""
    over = seconds - policy.included_minutes_per_user * SECONDS_PER_MINUTE
    return max(0, -(-over // SECONDS_PER_HOUR))


def training_offer(seconds: int, catalog: Catalog, currency: str) -> TrainingOffer:
    hours = training_hours(seconds, catalog.policy.fair_use)
    price = catalog.policy.fair_use.training_price_per_hour[currency]
    vat_rate = catalog.vat_rate(currency)
    line = InvoiceLine.of("training", "Training webinar", hours, price)
    total = totals([line], vat_rate)
    return TrainingOffer(
        hours=hours,
        currency=currency,
        price_per_hour=price,
        net=total.net,
        vat_rate=str(vat_rate),
        vat=total.vat,
        gross=total.gross,
    )


def _ordered(calls: Iterable[Call]) -> list[Call]:
    """Time order, one call per call id (the store already guarantees it; the rollup does not rely on it)."""
    seen: set[str] = set()
    ordered: list[Call] = []
    for call in sorted(calls, key=lambda c: (c.started_at, c.call_id)):
        if call.call_id not in seen:
            seen.add(call.call_id)
            ordered.append(call)
    return ordered


def _per_user(calls: list[Call], policy: FairUsePolicy) -> list[UserCalls]:
    by_user: dict[str, list[Call]] = {}
    for call in calls:
        by_user.setdefault(call.user_id, []).append(call)
    long_after = policy.long_call_minutes * SECONDS_PER_MINUTE
    users = []
    for user_id in sorted(by_user):
        own = by_user[user_id]
        seconds = sum(call.duration_seconds for call in own)
        long_calls = tuple(
            LongCall(
                call_id=call.call_id,
                started_at=call.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                seconds=call.duration_seconds,
                minutes=minutes(call.duration_seconds),
            )
            for call in own
            if call.duration_seconds > long_after
        )
        users.append(
            UserCalls(user_id=user_id, calls=len(own), seconds=seconds, minutes=minutes(seconds), long_calls=long_calls)
        )
    return users


def roll_up(
    account_id: str,
    month: Month,
    calls: Iterable[Call],
    catalog: Catalog,
    currency: str,
    *,
    paying_users_without_calls: int = 0,
) -> MonthRollup:
    """The month's rollup: per user (calls, minutes, long calls, over allowance, review, training offer) and per
    account (paying users, pooled allowance, totals, status = the worst user's level, terms).

    Only entitled calls count; ``not_entitled`` calls are reported apart. Paying users and terms are those in force
    at the month's latest entitled call; a month whose calls were all not entitled has no paying user of telephone
    support (allowance 0); a month without any call shows ``paying_users_without_calls`` (the month to date).
    """
    policy = catalog.policy.fair_use
    ordered = _ordered(calls)
    strays = [call.call_id for call in ordered if call.month != month]
    if strays:
        raise ValueError(f"calls {strays} did not start in {month}")
    entitled = [call for call in ordered if call.entitled]
    refused = [call for call in ordered if not call.entitled]
    users = [_usage(user, policy, catalog, currency) for user in _per_user(entitled, policy)]
    terms: Terms
    if entitled:
        paying_users = entitled[-1].paying_users
        terms = "legacy_terms" if entitled[-1].entitlement == "legacy" else "fair_use"
    else:
        paying_users = 0 if refused else paying_users_without_calls
        terms = "not_entitled" if refused else "fair_use"
    seconds = sum(user.seconds for user in users)
    pooled = policy.included_minutes_per_user * paying_users
    refused_users = tuple(_per_user(refused, policy))
    refused_seconds = sum(call.duration_seconds for call in refused)
    return MonthRollup(
        account_id=account_id,
        month=str(month),
        terms=terms,
        status=worst(user.level for user in users),
        paying_users=paying_users,
        allowance_minutes_per_user=policy.included_minutes_per_user,
        long_call_minutes=policy.long_call_minutes,
        review_minutes_per_user=policy.review_minutes_per_user,
        pooled_allowance_minutes=pooled,
        over_pooled_allowance=seconds > pooled * SECONDS_PER_MINUTE,
        totals=UsageTotals(
            calls=sum(user.calls for user in users),
            seconds=seconds,
            minutes=minutes(seconds),
            long_calls=sum(len(user.long_calls) for user in users),
        ),
        users=tuple(users),
        not_entitled=NotEntitledUsage(
            calls=len(refused),
            seconds=refused_seconds,
            minutes=minutes(refused_seconds),
            users=refused_users,
        ),
    )


def _usage(user: UserCalls, policy: FairUsePolicy, catalog: Catalog, currency: str) -> UserUsage:
    level = level_of(user.seconds, policy)
    return UserUsage(
        **user.model_dump(),
        level=level,
        over_allowance=level != "within",
        review=level == "review",
        training_offer=training_offer(user.seconds, catalog, currency) if level == "review" else None,
    )


# ---------------------------------------------------------------------------------------- what to tell whom


def flagged(rollup: MonthRollup) -> dict[str, Level]:
    """Users over the allowance or in review, with their level."""
    return {user.user_id: user.level for user in rollup.users if user.level != "within"}


def new_facts(rollup: MonthRollup, notified: Mapping[str, Level]) -> dict[str, Level]:
    """Flagged users whose level the account has not been told about yet (a user told "over allowance" who is now in
    review is new again; levels never fall, see the module docstring)."""
    return {
        user_id: level
        for user_id, level in flagged(rollup).items()
        if LEVELS.index(level) > LEVELS.index(notified.get(user_id, "within"))
    }


@dataclass(frozen=True, slots=True)
class NoticeDecision:
    """The account notice a rollup calls for: ``kind`` = ``fair_use.<status>``; ``cause`` is the month for the
    first notice of that kind in the month, else the month plus the revision that found the new facts."""

    kind: str
    cause: str
    new: dict[str, Level]
    update: bool


def account_notice(rollup: MonthRollup, notified: Mapping[str, Level], revision: int) -> NoticeDecision | None:
    """Whether this rollup tells the account anything new; legacy and not-entitled accounts are never told."""
    if rollup.terms != "fair_use" or rollup.status == "within":
        return None
    new = new_facts(rollup, notified)
    if not new:
        return None
    update = any(level == rollup.status for level in notified.values())
    cause = f"{rollup.month}_r{revision}" if update else rollup.month
    return NoticeDecision(kind=f"fair_use.{rollup.status}", cause=cause, new=new, update=update)
