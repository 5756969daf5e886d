"""Plan changes (spec §3.4): what a request changes, whether it is an upgrade or a downgrade, when it takes effect
and what it costs, pro-rated by days. Pure: the account, the request and the catalog come in as arguments.

Rules (the README's "Policies" repeats them for customers and support staff):

- A request names any of package, contact tier, billing cycle, paying users, telephone support and profile packs; the
  fields it leaves out keep their value. Each field that changes *in effect* is one part of the change, up or down:
  package by its surcharge then its profile limit, tier by size, cycle monthly → annual is up, paying users and packs by
  number, telephone support by entitlement (included in the package or bought as the add-on).
- All parts up: an upgrade. All down: a downgrade. Some of each: a mixed change, treated as one change whose direction
  is its monthly price including add-ons: dearer → an upgrade, otherwise (cheaper or the same) → a downgrade.
- Upgrades take effect immediately, downgrades at the end of the current period (the next billing date for monthly
  subscriptions, the next yearly anniversary for annual ones); the request may choose either.
- Immediately, within a cycle: (new − old) period price × days left ÷ days in the period, half-up, one line; the period
  is the monthly one for monthly subscriptions, the yearly one for annual ones. A rise is a ``plan_change`` invoice, a
  fall a ``credit_note`` with negative amounts.
- Immediately, across cycles (monthly ↔ annual): the old period is settled (the unused days of its price are credited)
  and a new term starts on the change date, charged in full; the anchor moves to that day, so the next billing date is
  one month after it (annual subscriptions keep monthly billing dates for overrun supplements).
- At period end: nothing is pro-rated; the renewal run applies the change on that billing date before pricing it, so
  that date's invoice prices the new subscription. A switch to annual starts its term on that date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from overage.domain.account import Account
from overage.domain.calendar import Period, anniversary, next_billing_date, period_containing
from overage.domain.catalog import Catalog
from overage.domain.instants import midnight_utc
from overage.domain.invoice import Invoice, InvoiceKind, build_invoice, buyer_of
from overage.domain.money import ZERO, InvoiceLine
from overage.domain.proration import prorate
from overage.domain.renewal import subscription_lines
from overage.errors import Conflict, InvalidRequest

SUBSCRIPTION_FIELDS: tuple[str, ...] = (
    "package",
    "contact_tier",
    "billing_cycle",
    "paying_users",
    "telephone_support",
    "profile_packs",
)
FIELD_LABELS: dict[str, str] = {
    "package": "Package",
    "contact_tier": "Contact tier",
    "billing_cycle": "Billing cycle",
    "paying_users": "Paying users",
    "telephone_support": "Telephone support",
    "profile_packs": "Profile packs",
}

Direction = Literal["up", "down"]
ChangeKind = Literal["upgrade", "downgrade", "mixed"]
Treatment = Literal["upgrade", "downgrade"]
Effective = Literal["immediate", "period_end"]


# --- the subscription ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """What a plan change can change. ``telephone_support`` is the add-on (a package may include support anyway)."""

    package: str
    contact_tier: str
    billing_cycle: Literal["monthly", "annual"]
    paying_users: int
    telephone_support: bool
    profile_packs: int

    @classmethod
    def of(cls, account: Account) -> Subscription:
        return cls(**{name: getattr(account, name) for name in SUBSCRIPTION_FIELDS})

    @property
    def months(self) -> int:
        return 12 if self.billing_cycle == "annual" else 1

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SUBSCRIPTION_FIELDS}

    def with_changes(self, changes: Mapping[str, Any], catalog: Catalog) -> Subscription:
        """The fields ``changes`` names replaced. Moving to a package that includes telephone support ends the add-on
        (there is nothing left to pay for); the customer asks for it again when moving back."""
        new = replace(self, **{name: value for name, value in changes.items() if name in SUBSCRIPTION_FIELDS})
        includes = catalog.package(new.package).telephone_support_included
        if includes and new.telephone_support and ("package" in changes or "telephone_support" in changes):
            new = replace(new, telephone_support=False)
        return new

    def summary(self) -> str:
        return f"{self.package} {self.contact_tier} {self.billing_cycle}"


def telephone_support_entitled(sub: Subscription, catalog: Catalog) -> bool:
    """Telephone support is included in the package or bought as the add-on (legacy terms are fair use's business)."""
    return catalog.package(sub.package).telephone_support_included or (
        sub.telephone_support and catalog.telephone_support_addon_allowed(sub.package)
    )


def monthly_price(sub: Subscription, catalog: Catalog, currency: str) -> Decimal:
    """The monthly price including add-ons: package at its tier, telephone support per paying user, profile packs."""
    price = catalog.monthly_price(sub.package, sub.contact_tier, currency)
    if sub.telephone_support and not catalog.package(sub.package).telephone_support_included:
        price += catalog.telephone_support_price(currency) * sub.paying_users
    return price + catalog.profile_pack_price(currency) * sub.profile_packs


def period_price(sub: Subscription, catalog: Catalog, currency: str) -> Decimal:
    """One billing period of the subscription: the monthly price, or 12 x it for an annual one."""
    return monthly_price(sub, catalog, currency) * sub.months


def snapshot(sub: Subscription, catalog: Catalog, currency: str) -> dict[str, Any]:
    """The subscription as a change record keeps it, with what the other policies read from it."""
    return sub.as_dict() | {
        "monthly_price": str(monthly_price(sub, catalog, currency)),
        "profile_limit": catalog.profile_limit(sub.package, sub.profile_packs),
        "telephone_support_entitled": telephone_support_entitled(sub, catalog),
    }


# --- classification --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    kind: ChangeKind
    treated_as: Treatment
    parts: dict[str, Direction]  # each field that changes in effect, in SUBSCRIPTION_FIELDS order
    monthly_price_from: Decimal
    monthly_price_to: Decimal

    @property
    def default_effective(self) -> Effective:
        """Upgrades at once (the customer gets what they pay for now), downgrades when the paid period ends."""
        return "immediate" if self.treated_as == "upgrade" else "period_end"


def _part_keys(sub: Subscription, catalog: Catalog, currency: str) -> dict[str, tuple[Any, ...]]:
    package = catalog.package(sub.package)
    return {
        "package": (package.monthly_surcharge[currency], package.profile_limit, package.telephone_support_included),
        "contact_tier": (catalog.tier_rank(sub.contact_tier),),
        "billing_cycle": (sub.months,),
        "paying_users": (sub.paying_users,),
        "telephone_support": (telephone_support_entitled(sub, catalog),),
        "profile_packs": (sub.profile_packs,),
    }


def classify(old: Subscription, new: Subscription, catalog: Catalog, currency: str) -> Classification | None:
    """Upgrade, downgrade or mixed; ``None`` when nothing changes in effect."""
    before, after = _part_keys(old, catalog, currency), _part_keys(new, catalog, currency)
    parts: dict[str, Direction] = {}
    for name in SUBSCRIPTION_FIELDS:
        if after[name] != before[name]:
            parts[name] = "up" if after[name] > before[name] else "down"
    if not parts:
        return None
    price_from, price_to = monthly_price(old, catalog, currency), monthly_price(new, catalog, currency)
    directions = set(parts.values())
    kind: ChangeKind = "mixed" if len(directions) == 2 else ("upgrade" if directions == {"up"} else "downgrade")
    treated_as: Treatment
    if kind == "mixed":
        treated_as = "upgrade" if price_to > price_from else "downgrade"
    else:
        treated_as = "upgrade" if kind == "upgrade" else "downgrade"
    return Classification(kind, treated_as, parts, price_from, price_to)


# --- validation ------------------------------------------------------------------------------------------


def validate(account: Account, changes: Mapping[str, Any], catalog: Catalog) -> tuple[Subscription, Subscription]:
    """The subscription before and after, or ``InvalidRequest`` naming every field that cannot be honoured."""
    problems: dict[str, str] = {}
    for name, lookup in (("package", catalog.package), ("contact_tier", catalog.tier)):
        if name in changes:
            try:
                lookup(changes[name])
            except InvalidRequest as error:
                problems[f"data.{name}"] = next(iter(error.fields.values()), error.message)
    if problems:
        raise InvalidRequest("the change names codes the catalog does not have", problems)

    old = Subscription.of(account)
    new = old.with_changes(changes, catalog)
    if changes.get("telephone_support") is True and not catalog.telephone_support_addon_allowed(new.package):
        if catalog.package(new.package).telephone_support_included:
            why = f"telephone support is included in the {new.package} package; there is no add-on to buy"
        else:
            why = f"the {new.package} package cannot buy the telephone support add-on"
        problems["data.telephone_support"] = why
    if "contact_tier" in changes and new.contact_tier != old.contact_tier and account.contacts_active is not None:
        tier = catalog.tier(new.contact_tier)
        # The tier the count is billed at (above every tier: the top one, as a custom quote, with no supplement):
        # a tier below it would add an overrun supplement on every billing date; it or one above never does.
        fit = catalog.tier_for(account.contacts_active).tier.code
        if catalog.tier_rank(fit) > catalog.tier_rank(tier.code):
            problems["data.contact_tier"] = (
                f"tier {tier.code} holds up to {tier.max_active} active contacts but the account has "
                f"{account.contacts_active} now, so every billing date would add an overrun supplement on top of it; "
                f"archive contacts first, or choose {fit} or above"
            )
    if problems:
        raise InvalidRequest("the change cannot be made as asked", problems)
    if classify(old, new, catalog, account.currency) is None:
        named = ", ".join(changes) if changes else "no subscription field"
        raise InvalidRequest(
            "the change changes nothing",
            {"data": f"the request names {named}, and nothing differs from the current subscription ({old.summary()})"},
        )
    return old, new


# --- when ------------------------------------------------------------------------------------------------


def invoiced_period(account: Account) -> Period:
    """The monthly billing period ``[last billing date, next billing date)`` the account has been invoiced for (or
    paid at signup): an immediate change must fall in it, so no issued invoice priced a subscription it changes."""
    assert account.next_billing_date is not None
    return period_containing(account.started_on, 1, account.next_billing_date - timedelta(days=1))


def check_dated_in_subscription(account: Account, on: date) -> None:
    """A change (immediate or at period end) dated before the subscription started refers to nothing."""
    if on < account.started_on:
        raise InvalidRequest(
            "the change is dated before the subscription started",
            {"occurred_at": f"{on} is before the subscription started ({account.started_on})"},
        )


def check_immediate(account: Account, on: date) -> None:
    check_dated_in_subscription(account, on)
    period = invoiced_period(account)
    if on >= period.end:
        raise Conflict(
            f"the billing date {period.end} is due but not invoiced yet; an immediate change dated {on} is accepted "
            "once the renewal run has billed it (retry later)"
        )
    if on < period.start:
        raise InvalidRequest(
            "an immediate change cannot be backdated across an issued invoice",
            {
                "occurred_at": f"{on} is before the billing date {period.start}, which was already invoiced with the "
                "current subscription; date the change on or after it"
            },
        )


def period_end(account: Account, old: Subscription, on: date) -> date:
    """The end of the current period of the old subscription's cycle, never before the next billing date."""
    after = on if account.next_billing_date is None else max(on, account.next_billing_date - timedelta(days=1))
    return next_billing_date(account.started_on, old.months, after)


# --- what it costs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """The money of an immediate change and where it leaves the billing calendar."""

    lines: tuple[InvoiceLine, ...]
    covers: Period  # the days the document is about
    started_on: date | None  # a new anchor (billing-cycle switch), else None
    next_billing_date: date | None  # a new next billing date, else None

    @property
    def net(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def _days(period: Period, on: date) -> str:
    return f"{on} to {period.end}, {(period.end - on).days} of {period.days} days"


def settle(account: Account, old: Subscription, new: Subscription, catalog: Catalog, on: date) -> Settlement:
    """Pro-rate an immediate change on day ``on`` (the spec's formula; across cycles: settle and restart)."""
    cur = account.currency
    old_price, new_price = period_price(old, catalog, cur), period_price(new, catalog, cur)
    old_period = period_containing(account.started_on, old.months, on)
    unit = "month" if old.months == 1 else "year"
    if old.billing_cycle == new.billing_cycle:
        amount = prorate(old_price, new_price, old_period, on)
        line = InvoiceLine.of(
            "plan_change_proration",
            f"Pro rata {_days(old_period, on)}: {old.summary()} {old_price} {cur}/{unit} → "
            f"{new.summary()} {new_price} {cur}/{unit}",
            1,
            amount,
        )
        return Settlement((line,) if amount else (), Period(on, old_period.end), None, None)
    # A switch of billing cycle: credit what is left of the old period, start a new term today.
    credit = prorate(old_price, ZERO, old_period, on)
    term = Period(on, anniversary(on, new.months))
    charged = subscription_lines(account.model_copy(update=new.as_dict()), catalog, new.months)
    lines = [
        line.model_copy(
            update={"description": f"New {new.billing_cycle} term {term.start} to {term.end}: {line.description}"}
        )
        for line in charged
    ]
    if credit:
        lines.append(
            InvoiceLine.of(
                "plan_change_credit",
                f"Unused {_days(old_period, on)} of the {old.billing_cycle} period: {old.summary()} "
                f"{old_price} {cur}/{unit}",
                1,
                credit,
            )
        )
    return Settlement(tuple(lines), term, on, anniversary(on, 1))


def change_document(
    account: Account,
    change_id: str,
    on: date,
    settlement: Settlement,
    catalog: Catalog,
    issued_at: datetime,
    number: str | None = None,
) -> Invoice | None:
    """The invoice (the change costs more) or credit note (it costs less) of an immediate change; none when free.
    Both are numbered in the same series (``number``, assigned by ``services.invoicing``; None: a draft)."""
    if not settlement.lines:
        return None
    kind: InvoiceKind = "credit_note" if settlement.net < 0 else "plan_change"
    due_days = catalog.policy.payment_deadline_days if kind == "plan_change" else 0
    return build_invoice(
        account_id=account.account_id,
        kind=kind,
        period_key=f"{on.isoformat()}-{change_id}",
        currency=account.currency,
        period_start=settlement.covers.start,
        period_end=settlement.covers.end,
        lines=settlement.lines,
        vat_rate_value=str(catalog.vat_rate(account.currency)),
        issued_at=issued_at,
        due_on=issued_at.date() + timedelta(days=due_days),
        notes=(f"Plan change {change_id}.",),
        number=number,
        buyer=buyer_of(account),
    )


# --- a pending change on its billing date ----------------------------------------------------------------


@dataclass(frozen=True)
class AppliedAtBillingDate:
    old: Subscription
    new: Subscription
    classification: Classification | None  # None: the subscription already was what the change asked for
    priced: Account  # the account the billing date's invoice prices
    updates: dict[str, Any]  # what the billing write persists on the account item


def _year_earlier_on_the_same_day(day: date) -> date:
    """A start the billing calendar sees ``day`` as a yearly anniversary of (29 Feb: four years earlier)."""
    for years in range(1, 9):
        try:
            return day.replace(year=day.year - years)
        except ValueError:
            continue
    raise ValueError(f"no earlier year has {day:%d %b}")  # pragma: no cover - a leap day recurs within 8 years


def apply_at_billing_date(
    account: Account, changes: Mapping[str, Any], billing_date: date, catalog: Catalog, version: str
) -> AppliedAtBillingDate:
    """The subscription from ``billing_date`` on. A switch to annual starts its term that day: the anchor moves to it,
    and the renewal rules (which see a yearly anniversary, never a term's first day) price it from a start one year
    earlier on the same day, which gives the same billing dates and the full year from ``billing_date``."""
    old = Subscription.of(account)
    new = old.with_changes(changes, catalog)
    classification = classify(old, new, catalog, account.currency)
    updates: dict[str, Any] = new.as_dict() | {"profile_version": max(account.profile_version, version)}
    priced = account.model_copy(update=updates | {"pending_change": None})
    if old.billing_cycle == "monthly" and new.billing_cycle == "annual":
        updates["started_on"] = billing_date.isoformat()
        priced = priced.model_copy(update={"started_on": _year_earlier_on_the_same_day(billing_date)})
    updates["pending_change"] = None
    return AppliedAtBillingDate(old, new, classification, priced, updates)


def effective_instant(day: date) -> datetime:
    """A period-end change takes effect at 00:00 UTC of its billing date, the moment that date is billed for."""
    return midnight_utc(day)
