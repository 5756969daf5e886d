"""Renewal billing rules (spec §3.1): what one billing date charges, from the count in force at that moment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from overage.domain.account import Account
from overage.domain.calendar import anniversary
from overage.domain.catalog import Catalog
from overage.domain.invoice import Invoice, InvoiceKind, build_invoice, buyer_of
from overage.domain.money import Evidence, InvoiceLine


@dataclass(frozen=True)
class TierRecommendation:
    tier: str
    monthly_price: Decimal
    active_contacts: int
    consecutive_overruns: int


@dataclass(frozen=True)
class RenewalOutcome:
    billing_date: date
    invoice: Invoice | None
    active_contacts: int | None
    reached_tier: str | None
    overrun_supplement: Decimal
    custom_quote: bool
    overrun_streak: int
    recommendation: TierRecommendation | None

    @property
    def in_overrun(self) -> bool:
        return self.overrun_supplement > 0


def months_since_start(started_on: date, billing_date: date) -> int:
    """Which monthly anniversary ``billing_date`` is (1 = one month after the start)."""
    k = (billing_date.year - started_on.year) * 12 + billing_date.month - started_on.month
    if k < 1 or anniversary(started_on, k) != billing_date:
        raise ValueError(f"{billing_date} is not a monthly anniversary of {started_on}")
    return k


def is_yearly_anniversary(started_on: date, billing_date: date) -> bool:
    return months_since_start(started_on, billing_date) % 12 == 0


def subscription_lines(account: Account, catalog: Catalog, months: int) -> list[InvoiceLine]:
    """The subscription itself for ``months`` months: package at the paid tier, then the add-ons."""
    cur = account.currency
    span = "month" if months == 1 else f"{months} months"
    lines = [
        InvoiceLine.of(
            "subscription",
            f"{account.package} package, contact tier {account.contact_tier} ({span})",
            months,
            catalog.monthly_price(account.package, account.contact_tier, cur),
        )
    ]
    if account.telephone_support and not catalog.package(account.package).telephone_support_included:
        lines.append(
            InvoiceLine.of(
                "telephone_support",
                f"Telephone support add-on: {account.paying_users} paying user(s) × {span}",
                account.paying_users * months,
                catalog.telephone_support_price(cur),
            )
        )
    if account.profile_packs:
        lines.append(
            InvoiceLine.of(
                "profile_packs",
                f"Profile packs (+50 profiles each): {account.profile_packs} × {span}",
                account.profile_packs * months,
                catalog.profile_pack_price(cur),
            )
        )
    return lines


def bill_renewal(
    account: Account,
    billing_date: date,
    active_contacts: int | None,
    catalog: Catalog,
    previous_streak: int,
    issued_at: datetime,
    extra_lines: Sequence[InvoiceLine] = (),
    number: str | None = None,
    contacts_evidence: Evidence | None = None,
) -> RenewalOutcome:
    """The invoice (or none) for one billing date.

    Monthly: the subscription plus, when the active contacts at 00:00 UTC of the billing date reach a higher tier,
    an overrun supplement = monthly price of the reached tier − monthly price of the paid tier.
    Annual: the yearly price on yearly anniversaries; on every monthly anniversary the supplement, if any.
    ``extra_lines`` (e.g. an excess-profile line) join the same invoice; ``contacts_evidence`` is the snapshot
    ``active_contacts`` comes from, named on the overrun line; ``number`` is the invoice's number, which
    ``services.invoicing`` assigns (None: a draft).
    """
    cur = account.currency
    annual = account.billing_cycle == "annual"
    yearly = annual and is_yearly_anniversary(account.started_on, billing_date)
    lines: list[InvoiceLine] = []
    if not annual:
        lines += subscription_lines(account, catalog, 1)
    elif yearly:
        lines += subscription_lines(account, catalog, 12)

    supplement = Decimal("0.00")
    reached_code: str | None = None
    custom_quote = False
    notes: list[str] = []
    if active_contacts is not None:
        match = catalog.tier_for(active_contacts)
        reached_code = match.tier.code
        custom_quote = match.custom_quote
        if catalog.tier_rank(reached_code) > catalog.tier_rank(account.contact_tier):
            reached_price = catalog.monthly_price(account.package, reached_code, cur)
            paid_price = catalog.monthly_price(account.package, account.contact_tier, cur)
            supplement = reached_price - paid_price
            lines.append(
                InvoiceLine.of(
                    "contact_overrun",
                    f"Contact overrun: {active_contacts} active contacts at {billing_date} 00:00 UTC reach tier "
                    f"{reached_code} ({reached_price} {cur}/month) above the paid tier {account.contact_tier} "
                    f"({paid_price} {cur}/month)",
                    1,
                    supplement,
                ).model_copy(update={"evidence": contacts_evidence})
            )
        if custom_quote:
            top = catalog.tier_codes[-1]
            notes.append(
                f"{active_contacts} active contacts is above the largest tier: billed as {top}; "
                "we will send you a custom quote."
            )
    else:
        notes.append("No contact count had reached us by the billing moment: no overrun is charged.")

    streak = previous_streak + 1 if supplement > 0 else 0
    recommendation: TierRecommendation | None = None
    if supplement > 0 and reached_code and streak >= catalog.policy.overrun_recommendation_after:
        assert active_contacts is not None
        recommendation = TierRecommendation(
            tier=reached_code,
            monthly_price=catalog.monthly_price(account.package, reached_code, cur),
            active_contacts=active_contacts,
            consecutive_overruns=streak,
        )
    lines += list(extra_lines)
    invoice: Invoice | None = None
    if lines:
        kind: InvoiceKind = "renewal" if (not annual or yearly) else "overrun"
        months = 12 if yearly else 1
        invoice = build_invoice(
            account_id=account.account_id,
            kind=kind,
            period_key=billing_date.isoformat(),
            currency=cur,
            period_start=billing_date,
            period_end=_period_end(account.started_on, billing_date, months),
            lines=lines,
            vat_rate_value=str(catalog.vat_rate(cur)),
            issued_at=issued_at,
            due_on=issued_at.date() + timedelta(days=catalog.policy.payment_deadline_days),
            flags=("custom_quote",) if custom_quote else (),
            notes=notes,
            number=number,
            buyer=buyer_of(account),
        )
    return RenewalOutcome(
        billing_date=billing_date,
        invoice=invoice,
        active_contacts=active_contacts,
        reached_tier=reached_code,
        overrun_supplement=supplement,
        custom_quote=custom_quote,
        overrun_streak=streak,
        recommendation=recommendation,
    )


def _period_end(started_on: date, billing_date: date, months: int) -> date:
    return anniversary(started_on, months_since_start(started_on, billing_date) + months)
