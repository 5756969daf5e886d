"""The monthly policy report (spec §3.6): what happened in one calendar month (UTC), measured from its records. Pure.

Attribution: every fact belongs to the month of its business time, and a month's report only looks at facts up to
the month's end, so re-running it later gives the same figures unless something dated in that month arrived since:

- an excess-profile episode counts as *opened* in the month of the snapshot (or limit change) that opened it,
  *resolved in grace* in the month it was resolved, its fee as *invoiced*, *overdue* (and the account *restricted*) or
  *paid* in the month that happened, and its excess as *ended after the fee* in the month the count went back within
  the limit after the fee invoice (or the month of the fee invoice, when the excess had already ended by then);
- an invoice in the month it was issued (renewal invoices at 00:00 UTC of their billing date); a contact-overrun
  invoice is one with a ``contact_overrun`` line; an account is in overrun on 3+ consecutive billing dates when that
  invoice came with a tier recommendation (sent from the third consecutive overrun on);
- a fair-use rollup in the month it rolls up (the report of January reads the rollup of January, recomputed or not);
- a notice in the month of its business time (``created_at``); a plan change in the month it was requested;
- what became of a notice (spec §3.9: emailed, bounced, complained, suppressed, failed; answered "clear" or "I need
  help") counts with the notice, in the month of the notice, as its record stands when the report is read (SES's
  feedback and the customer's answer come later, and a re-run after them counts them); the episodes resolved after
  an excess-profile notice, as the episode stood at the month's end, like every episode figure.

Money is ``Decimal`` per currency and never summed across currencies.

Two stages, so that a month of a million accounts is read by 16 workers (one per shard of the report index):
``shard_facts`` turns one shard's records into ``MonthFacts`` (the episodes, overrun invoices and fair-use rollups
it needs row by row, and counts of everything else); ``MonthFacts.merge`` joins the parts; ``summary`` and
``csv_files`` give the report's figures and tables.
"""

import csv
import io
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from overage.domain.instants import Month, parse_instant, previous_month
from overage.domain.money import ZERO, Amount, round_money

REPORT_FORMAT = 1
# After the invoice (spec §3.7): what the month's credit movements count as, and its adjustments' names.
CREDIT_MOVEMENTS = {
    "credit_note": "credit_granted",
    "goodwill": "credit_granted",
    "overpayment": "credit_from_overpayments",
    "void": "credit_from_voids",
    "applied": "credit_applied",
    "refunded": "credit_refunded",
}
SETTLEMENT = (
    "payments",
    "credit_granted",
    "credit_from_overpayments",
    "credit_from_voids",
    "credit_applied",
    "credit_refunded",
)
ADJUSTMENT_FIGURES = {
    "invoice.void_requested": "invoices_voided",
    "credit.granted": "goodwill_credits",
    "grace.extend_requested": "graces_extended",
    "credit.refunded": "refunds",
}
ADJUSTMENTS = ("invoices_voided", "fees_waived", "goodwill_credits", "graces_extended", "refunds")
# An invoice gone overdue: its invoice.overdue notice (renewal, overrun, plan change) or, for a fee invoice, the
# account.restricted notice its episode sends.
OVERDUE_NOTICES = ("invoice.overdue", "account.restricted")
HISTORY_MONTHS = 12
OVERRUN_LINE = "contact_overrun"
EXCESS_LINE = "excess_profiles"
FEE_INVOICE_KIND = "excess_profiles"
INVOICE_NOTICE = "invoice.issued"
LEVELS = ("within", "over_allowance", "review")
TERMS = ("fair_use", "legacy_terms", "not_entitled")
RESOLUTIONS = ("reduction", "profile_packs", "upgrade")
ONE_DECIMAL = Decimal("0.1")
# What became of each notice (spec §3.9), per notice kind: its delivery state (notices/outbox.py, EmailFeedbackFunction)
# and the customer's answer (GET /feedback/{token}).
COMMUNICATION = (
    "recorded",
    "emailed",  # SES accepted it: sent, then maybe delivered, bounced or complained
    "delivered",
    "bounced",
    "complained",
    "suppressed",
    "failed",
    "not_yet_sent",  # still in the outbox (being sent, or waiting for the next run's redelivery)
    "answered_clear",
    "asked_for_help",
)
EMAILED = frozenset({"sent", "delivered", "bounced", "complained"})
# Notices for the CRM alone, never emailed (no address): outside the communication figures.
NOT_EMAILS = frozenset({"notice.help_requested"})
DELIVERY_COUNTED = {
    "delivered": "delivered",
    "bounced": "bounced",
    "complained": "complained",
    "suppressed": "suppressed",
    "failed": "failed",
    "sending": "not_yet_sent",
}
ANSWER_COUNTED = {"clear": "answered_clear", "help": "asked_for_help"}
# The excess-profile notices that ask for something to be done (notices/excess_profiles.py), whose effect the report
# measures: the episodes they were about that came back within the limit after them.
EXCESS_PROFILE_NOTICES = ("profiles.exceeded", "invoice.issued", "invoice.payment_reminder", "account.restricted")
NOTICE_EFFECT = ("episodes", "resolved_after", "resolved_in_grace_after")
DAY_MICROSECONDS = Decimal(86_400_000_000)

Resolution = Literal["reduction", "profile_packs", "upgrade"]


def report_month(as_of: datetime) -> Month:
    """The month a run at ``as_of`` reports on: the calendar month (UTC) before the one it runs in."""
    return previous_month(as_of.astimezone(UTC).date())


def in_month(moment: datetime | date | None, month: Month) -> bool:
    if moment is None:
        return False
    if isinstance(moment, datetime):
        return month.start <= moment < month.next().start
    return month.contains(moment)


# ------------------------------------------------------------------------------------------------ tallies


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CurrencyTally(_Frozen):
    """Documents in one currency: how many, and their net, VAT and gross."""

    count: int = 0
    net: Amount = ZERO
    vat: Amount = ZERO
    gross: Amount = ZERO

    def plus(self, other: "CurrencyTally") -> "CurrencyTally":
        return CurrencyTally(
            count=self.count + other.count,
            net=self.net + other.net,
            vat=self.vat + other.vat,
            gross=self.gross + other.gross,
        )

    @classmethod
    def one(cls, net: Decimal, vat: Decimal, gross: Decimal) -> "CurrencyTally":
        return cls(count=1, net=round_money(net), vat=round_money(vat), gross=round_money(gross))


class AmountTally(_Frozen):
    """Invoice lines in one currency (ex VAT): how many, and their amount."""

    count: int = 0
    amount: Amount = ZERO

    def plus(self, other: "AmountTally") -> "AmountTally":
        return AmountTally(count=self.count + other.count, amount=self.amount + other.amount)


T = TypeVar("T", CurrencyTally, AmountTally)


def _add(tallies: dict[str, T], currency: str, tally: T) -> None:
    tallies[currency] = tallies[currency].plus(tally) if currency in tallies else tally


def _merged(parts: Iterable[Mapping[str, T]]) -> dict[str, T]:
    out: dict[str, T] = {}
    for part in parts:
        for currency, tally in part.items():
            _add(out, currency, tally)
    return dict(sorted(out.items()))


def _counted(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for key, count in part.items():
            out[key] = out.get(key, 0) + count
    return dict(sorted(out.items()))


def _counted_by_kind(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    kinds: dict[str, list[Mapping[str, int]]] = {}
    for part in parts:
        for kind, counts in part.items():
            kinds.setdefault(kind, []).append(counts)
    return {kind: _counted(counts) for kind, counts in sorted(kinds.items())}


# ------------------------------------------------------------------------------------------------ facts


class EpisodeFact(_Frozen):
    """An excess-profile episode as it stood at the end of the month (nothing after the month's end is known)."""

    account_id: str
    episode_id: str
    opened_at: datetime
    opening_count: int
    limit: int  # the limit it was opened against
    grace_ends_at: datetime
    state_at_month_end: str  # in_grace, resolved, fee_invoiced, reminded, overdue, paid, closed
    events_in_month: tuple[str, ...]
    resolved_at: datetime | None = None
    resolution: Resolution | None = None
    currency: str | None = None
    fee_excess: int | None = None
    fee_net: Amount | None = None
    fee_vat: Amount | None = None
    fee_gross: Amount | None = None
    fee_invoice_number: str | None = None
    invoiced_at: datetime | None = None
    went_overdue_at: datetime | None = None
    paid_at: datetime | None = None
    excess_ended_after_fee_at: datetime | None = None

    @property
    def days_to_resolution(self) -> Decimal | None:
        if self.resolved_at is None:
            return None
        return days_between(self.opened_at, self.resolved_at)


class OverrunFact(_Frozen):
    """A contact-overrun invoice: the supplement and, from its notice, the tier reached and any recommendation."""

    account_id: str
    invoice_id: str
    number: str
    billing_date: date
    currency: str
    supplement: Amount
    reached_tier: str | None = None
    recommended_tier: str | None = None


class FairUseUser(_Frozen):
    user_id: str
    entitled: bool
    calls: int
    seconds: int
    minutes: Decimal
    long_calls: int
    level: str | None = None  # None for calls without telephone support
    training_hours: int | None = None
    training_net: Amount | None = None
    training_vat: Amount | None = None
    training_gross: Amount | None = None


class FairUseFact(_Frozen):
    """One account's rollup of the month."""

    account_id: str
    terms: str
    status: str
    paying_users: int
    pooled_allowance_minutes: int
    over_pooled_allowance: bool
    currency: str
    calls: int
    seconds: int
    long_calls: int
    not_entitled_calls: int
    users: tuple[FairUseUser, ...]


class MonthFacts(_Frozen):
    """What the report of ``month`` needs from the records of some shards (one shard, or all of them merged)."""

    month: str
    shards: tuple[str, ...]
    episodes: tuple[EpisodeFact, ...] = ()
    overruns: tuple[OverrunFact, ...] = ()
    fair_use: tuple[FairUseFact, ...] = ()
    invoices: dict[str, dict[str, CurrencyTally]] = {}  # kind -> currency -> tally
    monthly_excess_lines: dict[str, AmountTally] = {}  # currency -> the renewal invoices' excess-profile lines
    plan_changes: dict[str, int] = {}  # kind -> requested
    notices: dict[str, int] = {}  # kind -> recorded
    communication: dict[str, dict[str, int]] = {}  # notice kind -> COMMUNICATION figure -> notices
    notice_effect: dict[str, dict[str, int]] = {}  # excess-profile notice kind -> NOTICE_EFFECT figure -> episodes
    settlement: dict[str, dict[str, AmountTally]] = {}  # SETTLEMENT figure -> currency -> tally (spec §3.7)
    adjustments: dict[str, int] = {}  # voids, fees waived, grace extensions, refunds
    overdue: dict[str, int] = {}  # invoice kind -> invoices gone overdue in the month

    @classmethod
    def merge(cls, month: Month, parts: Sequence["MonthFacts"]) -> "MonthFacts":
        wrong = [part.month for part in parts if part.month != str(month)]
        if wrong:
            raise ValueError(f"parts of {wrong} cannot join the report of {month}")
        kinds = sorted({kind for part in parts for kind in part.invoices})
        return cls(
            month=str(month),
            shards=tuple(sorted(shard for part in parts for shard in part.shards)),
            episodes=tuple(
                sorted(
                    (e for part in parts for e in part.episodes),
                    key=lambda e: (e.opened_at, e.account_id, e.episode_id),
                )
            ),
            overruns=tuple(
                sorted(
                    (o for part in parts for o in part.overruns),
                    key=lambda o: (o.billing_date, o.account_id, o.invoice_id),
                )
            ),
            fair_use=tuple(sorted((f for part in parts for f in part.fair_use), key=lambda f: f.account_id)),
            invoices={kind: _merged(part.invoices.get(kind, {}) for part in parts) for kind in kinds},
            monthly_excess_lines=_merged(part.monthly_excess_lines for part in parts),
            plan_changes=_counted(part.plan_changes for part in parts),
            notices=_counted(part.notices for part in parts),
            communication=_counted_by_kind(part.communication for part in parts),
            notice_effect=_counted_by_kind(part.notice_effect for part in parts),
            settlement={
                figure: _merged(part.settlement.get(figure, {}) for part in parts)
                for figure in sorted({figure for part in parts for figure in part.settlement})
            },
            adjustments=_counted(part.adjustments for part in parts),
            overdue=_counted(part.overdue for part in parts),
        )


# ------------------------------------------------------------------------------------------------ records → facts


def _at(value: Any) -> datetime:
    return parse_instant(str(value))


def _money(value: Any) -> Decimal:
    if isinstance(value, float):
        raise TypeError("a float is not money")
    return Decimal(str(value))


def days_between(start: datetime, end: datetime) -> Decimal:
    """Days from ``start`` to ``end`` to one decimal, half-up (36 hours = 1.5)."""
    return (Decimal((end - start) // timedelta(microseconds=1)) / DAY_MICROSECONDS).quantize(
        ONE_DECIMAL, rounding=ROUND_HALF_UP
    )


def _first(transitions: Sequence[Mapping[str, Any]], event: str) -> Mapping[str, Any] | None:
    return next((t for t in transitions if t.get("event") == event), None)


def _ended_after_fee(record: Mapping[str, Any], transitions: Sequence[Mapping[str, Any]]) -> datetime | None:
    """When the excess first ended after the fee invoice: an ``excess_ended`` after it, or the fee invoice itself
    when the excess had already ended by then (the next change after it is ``excess_returned``, or none came and
    the episode says the excess no longer persists)."""
    fee_index = next((n for n, t in enumerate(transitions) if t.get("event") == "fee_invoiced"), None)
    if fee_index is None:
        return None
    fee_at = _at(transitions[fee_index]["at"])
    for later in transitions[fee_index + 1 :]:
        if later.get("event") == "excess_ended":
            return _at(later["at"])
        if later.get("event") == "excess_returned":
            return fee_at
    return None if record.get("excess_persists", True) else fee_at


def _resolution(record: Mapping[str, Any], opened: Mapping[str, Any] | None, resolved: Mapping[str, Any]) -> Resolution:
    """By reduction (fewer profiles), by upgrade (a different package at the resolution than at the opening) or by
    profile packs (a higher limit on the same package)."""
    if record.get("resolved_by") == "reduction":
        return "reduction"
    before = (opened or {}).get("package")
    after = resolved.get("package")
    return "upgrade" if before is not None and after is not None and before != after else "profile_packs"


EVENT_NAMES = {"exceeded": "opened"}


def episode_fact(record: Mapping[str, Any], month: Month) -> EpisodeFact | None:
    """The episode record as it stood at the end of ``month``; None if nothing had happened to it by then."""
    end = month.next().start
    every = list(record.get("transitions") or [])
    transitions = [t for t in every if _at(t["at"]) < end]
    if not transitions:
        return None
    opened = _first(transitions, "exceeded")
    resolved = _first(transitions, "resolved")
    fee = _first(transitions, "fee_invoiced")
    overdue = _first(transitions, "overdue")
    paid = _first(transitions, "paid")
    # Notes without a state (a monthly excess line billed) do not move the episode.
    last = next((t for t in reversed(transitions) if t.get("state")), None) or {}
    ended = _ended_after_fee(record, every) if fee is not None else None
    fee_fields: dict[str, Any] = {}
    if fee is not None:
        fee_fields = {
            "currency": record.get("currency"),
            "fee_excess": record.get("fee_excess"),
            "fee_net": _money(record["fee_net"]) if record.get("fee_net") is not None else None,
            "fee_vat": _money(record["fee_vat"]) if record.get("fee_vat") is not None else None,
            "fee_gross": _money(record["fee_gross"]) if record.get("fee_gross") is not None else None,
            "fee_invoice_number": record.get("fee_invoice_number"),
            "invoiced_at": _at(fee["at"]),
        }
    return EpisodeFact(
        account_id=str(record["account_id"]),
        episode_id=str(record["episode_id"]),
        opened_at=_at(record["opened_at"]),
        opening_count=int(record["opening_count"]),
        limit=int((opened or {}).get("limit", record["limit"])),
        grace_ends_at=_at(record["grace_ends_at"]),
        state_at_month_end="closed" if last.get("event") == "closed" else str(last.get("state") or "in_grace"),
        events_in_month=tuple(
            EVENT_NAMES.get(str(t["event"]), str(t["event"])) for t in transitions if _at(t["at"]) >= month.start
        ),
        resolved_at=_at(resolved["at"]) if resolved else None,
        resolution=_resolution(record, opened, resolved) if resolved else None,
        went_overdue_at=_at(overdue["at"]) if overdue else None,
        paid_at=_at(paid["at"]) if paid else None,
        excess_ended_after_fee_at=ended if ended is not None and ended < end else None,
        **fee_fields,
    )


def _line_total(record: Mapping[str, Any], code: str) -> tuple[int, Decimal] | None:
    lines = [line for line in record.get("lines") or [] if line.get("code") == code]
    if not lines:
        return None
    return len(lines), sum((_money(line["amount"]) for line in lines), ZERO)


def _notice_detail(record: Mapping[str, Any]) -> dict[str, Any]:
    detail = record.get("detail")
    if isinstance(detail, str):
        try:
            loaded = json.loads(detail)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return dict(detail) if isinstance(detail, Mapping) else {}


def fair_use_fact(record: Mapping[str, Any]) -> FairUseFact:
    totals = record.get("totals") or {}
    not_entitled = record.get("not_entitled") or {}
    users: list[FairUseUser] = []
    for user in record.get("users") or []:
        offer = user.get("training_offer") or None
        users.append(
            FairUseUser(
                user_id=str(user["user_id"]),
                entitled=True,
                calls=int(user["calls"]),
                seconds=int(user["seconds"]),
                minutes=_money(user["minutes"]),
                long_calls=len(user.get("long_calls") or []),
                level=str(user["level"]),
                training_hours=int(offer["hours"]) if offer else None,
                training_net=_money(offer["net"]) if offer else None,
                training_vat=_money(offer["vat"]) if offer else None,
                training_gross=_money(offer["gross"]) if offer else None,
            )
        )
    for user in not_entitled.get("users") or []:
        users.append(
            FairUseUser(
                user_id=str(user["user_id"]),
                entitled=False,
                calls=int(user["calls"]),
                seconds=int(user["seconds"]),
                minutes=_money(user["minutes"]),
                long_calls=len(user.get("long_calls") or []),
            )
        )
    return FairUseFact(
        account_id=str(record["account_id"]),
        terms=str(record["terms"]),
        status=str(record["status"]),
        paying_users=int(record.get("paying_users", 0)),
        pooled_allowance_minutes=int(record.get("pooled_allowance_minutes", 0)),
        over_pooled_allowance=bool(record.get("over_pooled_allowance", False)),
        currency=str(record.get("currency", "")),
        calls=int(totals.get("calls", 0)),
        seconds=int(totals.get("seconds", 0)),
        long_calls=int(totals.get("long_calls", 0)),
        not_entitled_calls=int(not_entitled.get("calls", 0)),
        users=tuple(sorted(users, key=lambda u: (not u.entitled, u.user_id))),
    )


def notice_communication(state: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The COMMUNICATION figures one notice counts in, from its record's ``delivery`` and ``answer``."""
    state = state or {}
    delivery = str(state.get("delivery") or "")
    counted = ["recorded"]
    if delivery in EMAILED:
        counted.append("emailed")
    if delivery in DELIVERY_COUNTED:
        counted.append(DELIVERY_COUNTED[delivery])
    if str(state.get("answer") or "") in ANSWER_COUNTED:
        counted.append(ANSWER_COUNTED[str(state["answer"])])
    return tuple(counted)


def notice_effect(
    notified: Mapping[tuple[str, str, str], datetime], episodes: Mapping[tuple[str, str], EpisodeFact]
) -> dict[str, dict[str, int]]:
    """Per excess-profile notice kind: the episodes that got one (``notified``: (kind, account, episode) → the first
    such notice's time), and those whose excess ended after it by the month's end (in grace, or after the fee)."""
    effect: dict[str, dict[str, int]] = {}
    for (kind, account_id, episode_id), at in sorted(notified.items()):
        counts = effect.setdefault(kind, dict.fromkeys(NOTICE_EFFECT, 0))
        counts["episodes"] += 1
        fact = episodes.get((account_id, episode_id))
        if fact is None:
            continue
        in_grace = fact.resolved_at is not None and fact.resolved_at > at
        after_fee = fact.excess_ended_after_fee_at is not None and fact.excess_ended_after_fee_at > at
        counts["resolved_in_grace_after"] += int(in_grace)
        counts["resolved_after"] += int(in_grace or after_fee)
    return effect


def shard_facts(
    month: Month,
    shard: str,
    records: Iterable[Mapping[str, Any]],
    episodes: Mapping[tuple[str, str], Mapping[str, Any]],
    notice_states: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> MonthFacts:
    """One shard's records of ``month`` (from the report index), the episode records its markers name and the
    notices' delivery states and answers (``notice_states``, by the record's (pk, sk))."""
    notice_states = notice_states or {}
    communication: dict[str, dict[str, int]] = {}
    notified: dict[tuple[str, str, str], datetime] = {}
    invoices: dict[str, dict[str, CurrencyTally]] = {}
    excess_lines: dict[str, AmountTally] = {}
    overrun_invoices: list[Mapping[str, Any]] = []
    invoice_notices: dict[str, dict[str, Any]] = {}
    notices: dict[str, int] = {}
    changes: dict[str, int] = {}
    episode_facts: list[EpisodeFact] = []
    fair_use: list[FairUseFact] = []
    settlement: dict[str, dict[str, AmountTally]] = {}
    adjustments: dict[str, int] = {}
    overdue: dict[str, int] = {}

    def settled(figure: str, currency: str, amount: Decimal) -> None:
        _add(settlement.setdefault(figure, {}), currency, AmountTally(count=1, amount=amount))

    for record in records:
        kind = str(record.get("kind", ""))
        match record.get("record_type"):
            case "payment":
                settled("payments", str(record["currency"]), _money(_notice_detail(record).get("amount", "0")))
            case "credit_movement":
                figure = CREDIT_MOVEMENTS.get(kind)
                if figure is not None:
                    amount = abs(_money(_notice_detail(record).get("amount", "0")))
                    settled(figure, str(record["currency"]), amount)
            case "adjustment":
                name = ADJUSTMENT_FIGURES.get(kind, kind)
                adjustments[name] = adjustments.get(name, 0) + 1
                if kind == "invoice.void_requested" and _notice_detail(record).get("waived"):
                    adjustments["fees_waived"] = adjustments.get("fees_waived", 0) + 1
            case "invoice":
                currency = str(record["currency"])
                tally = CurrencyTally.one(_money(record["net"]), _money(record["vat"]), _money(record["gross"]))
                _add(invoices.setdefault(kind, {}), currency, tally)
                if _line_total(record, OVERRUN_LINE):
                    overrun_invoices.append(record)
                excess = _line_total(record, EXCESS_LINE)
                if excess and kind != FEE_INVOICE_KIND:
                    _add(excess_lines, currency, AmountTally(count=excess[0], amount=excess[1]))
            case "notice":
                notices[kind] = notices.get(kind, 0) + 1
                detail = _notice_detail(record)
                if kind in OVERDUE_NOTICES and detail.get("invoice_kind"):
                    overdue_kind = str(detail["invoice_kind"])
                    overdue[overdue_kind] = overdue.get(overdue_kind, 0) + 1
                if kind == INVOICE_NOTICE and detail.get("invoice_id"):
                    invoice_notices[str(detail["invoice_id"])] = detail
                account_id = str(record.get("pk") or record.get("account_id") or "")
                if kind not in NOT_EMAILS:
                    counts = communication.setdefault(kind, dict.fromkeys(COMMUNICATION, 0))
                    for figure in notice_communication(notice_states.get((account_id, str(record.get("sk") or "")))):
                        counts[figure] += 1
                if kind in EXCESS_PROFILE_NOTICES and detail.get("episode_id") and record.get("created_at"):
                    notice_key = (kind, account_id, str(detail["episode_id"]))
                    at = _at(record["created_at"])
                    notified[notice_key] = min(at, notified.get(notice_key, at))
            case "plan_change":
                changes[kind] = changes.get(kind, 0) + 1
            case "fair_use":
                fair_use.append(fair_use_fact(record))
            case "report_marker":
                key = (str(record["account_id"]), str(record["episode_id"]))
                episode = episodes.get(key)
                fact = episode_fact(episode, month) if episode is not None else None
                if fact is not None:
                    episode_facts.append(fact)
    overruns = []
    for record in overrun_invoices:
        notice = invoice_notices.get(str(record["invoice_id"]), {})
        found = _line_total(record, OVERRUN_LINE)
        assert found is not None
        overruns.append(
            OverrunFact(
                account_id=str(record["account_id"]),
                invoice_id=str(record["invoice_id"]),
                number=str(record["number"]),
                billing_date=date.fromisoformat(str(record["period_start"])),
                currency=str(record["currency"]),
                supplement=found[1],
                reached_tier=notice.get("reached_tier"),
                recommended_tier=notice.get("recommended_tier"),
            )
        )
    part = MonthFacts(
        month=str(month),
        shards=(shard,),
        episodes=tuple(episode_facts),
        overruns=tuple(overruns),
        fair_use=tuple(fair_use),
        invoices=invoices,
        monthly_excess_lines=excess_lines,
        plan_changes=changes,
        notices=notices,
        communication=communication,
        notice_effect=notice_effect(notified, {(e.account_id, e.episode_id): e for e in episode_facts}),
        settlement=settlement,
        adjustments=adjustments,
        overdue=overdue,
    )
    return MonthFacts.merge(month, [part])


# ------------------------------------------------------------------------------------------------ the measures


def _tally_json(tallies: Mapping[str, CurrencyTally]) -> dict[str, Any]:
    return {
        "count": sum(t.count for t in tallies.values()),
        "by_currency": {
            currency: {"count": t.count, "net": str(t.net), "vat": str(t.vat), "gross": str(t.gross)}
            for currency, t in sorted(tallies.items())
        },
    }


def _amounts_json(tallies: Mapping[str, AmountTally]) -> dict[str, Any]:
    return {
        "count": sum(t.count for t in tallies.values()),
        "by_currency": {
            currency: {"count": t.count, "amount": str(t.amount)} for currency, t in sorted(tallies.items())
        },
    }


def _fee_tally(episodes: Iterable[EpisodeFact]) -> dict[str, CurrencyTally]:
    tallies: dict[str, CurrencyTally] = {}
    for e in episodes:
        if e.currency and e.fee_net is not None and e.fee_vat is not None and e.fee_gross is not None:
            _add(tallies, e.currency, CurrencyTally.one(e.fee_net, e.fee_vat, e.fee_gross))
    return tallies


def median_days(values: Sequence[Decimal]) -> Decimal | None:
    """The median, to one decimal half-up (of an even count: the mean of the middle two)."""
    if not values:
        return None
    return Decimal(statistics.median(values)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def shares(first: int, second: int) -> tuple[Decimal, Decimal] | None:
    """Percentages of ``first`` and ``second`` in their sum, one decimal half-up; the second is 100 − the first,
    so the two always add up to 100.0. None when both are zero."""
    total = first + second
    if total == 0:
        return None
    share = (Decimal(100 * first) / total).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)
    return share, Decimal("100.0") - share


def excess_profiles_summary(facts: MonthFacts, month: Month) -> dict[str, Any]:
    episodes = facts.episodes
    resolved = [e for e in episodes if in_month(e.resolved_at, month)]
    after_fee = [e for e in episodes if in_month(e.excess_ended_after_fee_at, month)]
    overdue = [e for e in episodes if in_month(e.went_overdue_at, month)]
    split = shares(len(resolved), len(after_fee))
    days = [d for e in resolved if (d := e.days_to_resolution) is not None]
    median = median_days(days)
    return {
        "episodes_opened": sum(1 for e in episodes if in_month(e.opened_at, month)),
        "resolved_in_grace": len(resolved),
        "resolved_in_grace_by": {how: sum(1 for e in resolved if e.resolution == how) for how in RESOLUTIONS},
        "median_days_to_resolution": str(median) if median is not None else None,
        "excess_ended": {"after_exceeded_notice": len(resolved), "after_fee": len(after_fee)},
        "share_after_exceeded_notice_percent": str(split[0]) if split else None,
        "share_after_fee_percent": str(split[1]) if split else None,
        "fees_invoiced": _tally_json(_fee_tally(e for e in episodes if in_month(e.invoiced_at, month))),
        "fees_paid": _tally_json(_fee_tally(e for e in episodes if in_month(e.paid_at, month))),
        "fees_overdue": _tally_json(_fee_tally(overdue)),
        "accounts_restricted": len({e.account_id for e in overdue}),
        "monthly_excess_lines": _amounts_json(facts.monthly_excess_lines),
    }


def contact_overruns_summary(facts: MonthFacts) -> dict[str, Any]:
    supplements: dict[str, AmountTally] = {}
    for overrun in facts.overruns:
        _add(supplements, overrun.currency, AmountTally(count=1, amount=overrun.supplement))
    return {
        "invoices": len(facts.overruns),
        "accounts": len({o.account_id for o in facts.overruns}),
        "supplements": _amounts_json(supplements),
        "accounts_in_overrun_3_plus_billing_dates": len(
            {o.account_id for o in facts.overruns if o.recommended_tier is not None}
        ),
    }


def _minutes(seconds: int) -> str:
    return str((Decimal(seconds) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def fair_use_summary(facts: MonthFacts) -> dict[str, Any]:
    rollups = facts.fair_use
    covered = [f for f in rollups if f.terms != "not_entitled"]
    users = [u for f in rollups for u in f.users if u.entitled]
    offered = [(f.currency, u) for f in rollups for u in f.users if u.training_hours is not None]
    training: dict[str, CurrencyTally] = {}
    for currency, user in offered:
        assert user.training_net is not None and user.training_vat is not None and user.training_gross is not None
        _add(training, currency, CurrencyTally.one(user.training_net, user.training_vat, user.training_gross))
    return {
        "accounts": len(rollups),
        "by_terms": {terms: sum(1 for f in rollups if f.terms == terms) for terms in TERMS},
        "by_status": {level: sum(1 for f in covered if f.status == level) for level in LEVELS},
        "accounts_over_pooled_allowance": sum(1 for f in covered if f.over_pooled_allowance),
        "calls": sum(f.calls for f in rollups),
        "minutes": _minutes(sum(f.seconds for f in rollups)),
        "long_calls": sum(f.long_calls for f in rollups),
        "users_over_allowance": sum(1 for u in users if u.level in ("over_allowance", "review")),
        "users_in_review": sum(1 for u in users if u.level == "review"),
        "training_offered": {
            "users": len(offered),
            "hours": sum(u.training_hours or 0 for _, u in offered),
            "by_currency": _tally_json(training)["by_currency"],
        },
        "not_entitled_calls": sum(f.not_entitled_calls for f in rollups),
    }


def summary(facts: MonthFacts) -> dict[str, Any]:
    """summary.json: every figure of the month (no time of the run: a re-run writes the same bytes)."""
    month = Month.parse(facts.month)
    return {
        "report": "overage monthly policy report",
        "format": REPORT_FORMAT,
        "month": facts.month,
        "period": {
            "start": month.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": month.next().start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "excess_profiles": excess_profiles_summary(facts, month),
        "contact_overruns": contact_overruns_summary(facts),
        "fair_use": fair_use_summary(facts),
        "plan_changes": {"requested": sum(facts.plan_changes.values()), "by_kind": dict(facts.plan_changes)},
        "invoices": {
            "count": sum(t.count for kind in facts.invoices.values() for t in kind.values()),
            "by_kind": {kind: _tally_json(tallies) for kind, tallies in sorted(facts.invoices.items())},
        },
        "notices": {"total": sum(facts.notices.values()), "by_kind": dict(facts.notices)},
        "communication": communication_summary(facts),
        "settlement": settlement_summary(facts),
    }


def settlement_summary(facts: MonthFacts) -> dict[str, Any]:
    """After the invoice (spec §3.7): the month's payments and credit per currency, the adjustments, and the invoices
    gone overdue by kind."""
    return {
        "money": {figure: _amounts_json(facts.settlement.get(figure, {})) for figure in SETTLEMENT},
        "adjustments": {name: facts.adjustments.get(name, 0) for name in ADJUSTMENTS},
        "overdue_invoices": {"total": sum(facts.overdue.values()), "by_kind": dict(facts.overdue)},
    }


def communication_summary(facts: MonthFacts) -> dict[str, Any]:
    """What became of the month's notices (spec §3.9), per kind and in total, and the excess-profile notices' effect."""
    total = dict.fromkeys(COMMUNICATION, 0)
    for counts in facts.communication.values():
        for figure in COMMUNICATION:
            total[figure] += counts.get(figure, 0)
    effect = {}
    for kind in EXCESS_PROFILE_NOTICES:
        counts = {figure: facts.notice_effect.get(kind, {}).get(figure, 0) for figure in NOTICE_EFFECT}
        share = shares(counts["resolved_after"], counts["episodes"] - counts["resolved_after"])
        effect[kind] = counts | {"share_resolved_after_percent": str(share[0]) if share else None}
    return {
        "total": total,
        "by_kind": {
            kind: {figure: counts.get(figure, 0) for figure in COMMUNICATION}
            for kind, counts in sorted(facts.communication.items())
        },
        "excess_profile_notices": effect,
    }


def summary_json(facts: MonthFacts) -> str:
    return json.dumps(summary(facts), indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------------ the tables

EXCESS_PROFILE_COLUMNS = (
    "account_id",
    "episode_id",
    "opened_at",
    "opening_count",
    "limit",
    "grace_ends_at",
    "events_in_month",
    "state_at_month_end",
    "resolved_at",
    "resolution",
    "days_to_resolution",
    "fee_invoice_number",
    "currency",
    "fee_excess",
    "fee_net",
    "fee_vat",
    "fee_gross",
    "invoiced_at",
    "went_overdue_at",
    "paid_at",
    "excess_ended_after_fee_at",
)
CONTACT_OVERRUN_COLUMNS = (
    "account_id",
    "invoice_number",
    "invoice_id",
    "billing_date",
    "currency",
    "reached_tier",
    "supplement",
    "recommended_tier",
    "overrun_3_plus_billing_dates",
)
FAIR_USE_COLUMNS = (
    "account_id",
    "terms",
    "account_status",
    "paying_users",
    "pooled_allowance_minutes",
    "user_id",
    "entitled",
    "calls",
    "minutes",
    "long_calls",
    "level",
    "training_hours",
    "currency",
    "training_net",
    "training_vat",
    "training_gross",
)
COMMUNICATION_COLUMNS = (
    "notice_kind",
    *COMMUNICATION,
    "episodes_notified",
    "episodes_resolved_after",
    "episodes_resolved_in_grace_after",
    "share_resolved_after_percent",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A CSV cell: instants ``2026-02-03T00:05:00Z``, dates ISO, booleans yes/no, None empty; text that a
    spreadsheet would run as a formula is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date | int | Decimal):
        return str(value) if not isinstance(value, date) else value.isoformat()
    if isinstance(value, tuple | list):
        return cell(";".join(str(v) for v in value))
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def excess_profile_rows(facts: MonthFacts) -> list[dict[str, Any]]:
    return [
        {
            "account_id": e.account_id,
            "episode_id": e.episode_id,
            "opened_at": e.opened_at,
            "opening_count": e.opening_count,
            "limit": e.limit,
            "grace_ends_at": e.grace_ends_at,
            "events_in_month": e.events_in_month,
            "state_at_month_end": e.state_at_month_end,
            "resolved_at": e.resolved_at,
            "resolution": e.resolution,
            "days_to_resolution": e.days_to_resolution,
            "fee_invoice_number": e.fee_invoice_number,
            "currency": e.currency,
            "fee_excess": e.fee_excess,
            "fee_net": e.fee_net,
            "fee_vat": e.fee_vat,
            "fee_gross": e.fee_gross,
            "invoiced_at": e.invoiced_at,
            "went_overdue_at": e.went_overdue_at,
            "paid_at": e.paid_at,
            "excess_ended_after_fee_at": e.excess_ended_after_fee_at,
        }
        for e in facts.episodes
    ]


def contact_overrun_rows(facts: MonthFacts) -> list[dict[str, Any]]:
    return [
        {
            "account_id": o.account_id,
            "invoice_number": o.number,
            "invoice_id": o.invoice_id,
            "billing_date": o.billing_date,
            "currency": o.currency,
            "reached_tier": o.reached_tier,
            "supplement": o.supplement,
            "recommended_tier": o.recommended_tier,
            "overrun_3_plus_billing_dates": o.recommended_tier is not None,
        }
        for o in facts.overruns
    ]


def fair_use_rows(facts: MonthFacts) -> list[dict[str, Any]]:
    return [
        {
            "account_id": f.account_id,
            "terms": f.terms,
            "account_status": f.status if f.terms != "not_entitled" else None,
            "paying_users": f.paying_users,
            "pooled_allowance_minutes": f.pooled_allowance_minutes,
            "user_id": u.user_id,
            "entitled": u.entitled,
            "calls": u.calls,
            "minutes": u.minutes,
            "long_calls": u.long_calls,
            "level": u.level,
            "training_hours": u.training_hours,
            "currency": f.currency if u.training_hours is not None else None,
            "training_net": u.training_net,
            "training_vat": u.training_vat,
            "training_gross": u.training_gross,
        }
        for f in facts.fair_use
        for u in f.users
    ]


def communication_rows(facts: MonthFacts) -> list[dict[str, Any]]:
    """One row per notice kind of the month; the excess-profile notices' effect on theirs."""
    figures = communication_summary(facts)
    rows = []
    for kind, counts in figures["by_kind"].items():
        row: dict[str, Any] = {"notice_kind": kind, **counts}
        effect = figures["excess_profile_notices"].get(kind)
        if effect and effect["episodes"]:
            row |= {
                "episodes_notified": effect["episodes"],
                "episodes_resolved_after": effect["resolved_after"],
                "episodes_resolved_in_grace_after": effect["resolved_in_grace_after"],
                "share_resolved_after_percent": effect["share_resolved_after_percent"],
            }
        rows.append(row)
    return rows


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 (CRLF line ends, quotes where needed), a header row, one row per record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
    return out.getvalue()


def csv_files(facts: MonthFacts) -> dict[str, str]:
    return {
        "excess_profiles.csv": csv_text(EXCESS_PROFILE_COLUMNS, excess_profile_rows(facts)),
        "contact_overruns.csv": csv_text(CONTACT_OVERRUN_COLUMNS, contact_overrun_rows(facts)),
        "fair_use.csv": csv_text(FAIR_USE_COLUMNS, fair_use_rows(facts)),
        "communication.csv": csv_text(COMMUNICATION_COLUMNS, communication_rows(facts)),
        "settlement.csv": csv_text(SETTLEMENT_COLUMNS, settlement_rows(facts)),
    }


SETTLEMENT_COLUMNS = ("figure", "currency", "count", "amount")


def settlement_rows(facts: MonthFacts) -> list[dict[str, Any]]:
    """One row per money figure and currency, then one per adjustment and per kind of invoice gone overdue."""
    rows: list[dict[str, Any]] = []
    for figure in SETTLEMENT:
        for currency, tally in sorted(facts.settlement.get(figure, {}).items()):
            rows.append({"figure": figure, "currency": currency, "count": tally.count, "amount": tally.amount})
    rows += [{"figure": name, "count": facts.adjustments.get(name, 0)} for name in ADJUSTMENTS]
    rows += [{"figure": f"overdue_{kind}", "count": count} for kind, count in sorted(facts.overdue.items())]
    return rows


# ------------------------------------------------------------------------------------------------ history


def history_months(month: Month, count: int = HISTORY_MONTHS) -> list[Month]:
    """The ``count`` months ending with ``month``, oldest first."""
    months = [month]
    while len(months) < count:
        months.insert(0, months[0].previous())
    return months


def usable_summary(document: Any, month: Month) -> dict[str, Any] | None:
    """A previous month's summary.json, if it is one this code can chart (its format and month)."""
    if not isinstance(document, dict) or document.get("month") != str(month):
        return None
    if document.get("format") != REPORT_FORMAT:
        return None
    return document
