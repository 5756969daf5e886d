"""The notices of the excess-profile policy (spec §3.2), each with the figures a customer needs and the ways out.

Kinds (also the EventBridge detail-type the CRM receives):
  ``profiles.approaching``, ``profiles.exceeded``, ``profiles.resolved``, ``invoice.issued`` (the fee invoice),
  ``invoice.payment_reminder``, ``account.restricted`` (the CRM blocks new profiles), ``account.unrestricted``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from overage.domain.account import Account
from overage.domain.catalog import Catalog
from overage.domain.excess_profiles import Episode, FeeTerms, Happening, Step, fee_totals
from overage.domain.invoice import Invoice, buyer_of
from overage.domain.notice import Notice, render
from overage.notices.renewal import invoice_breakdown


def fee_terms(account: Account, catalog: Catalog) -> FeeTerms:
    return FeeTerms(
        account_id=account.account_id,
        currency=account.currency,
        fee_per_profile=catalog.excess_profile_fee(account.currency),
        vat_rate=catalog.vat_rate(account.currency),
        buyer=buyer_of(account),
    )


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _ex_vat(catalog: Catalog, currency: str) -> str:
    return " ex VAT" if catalog.vat_rate(currency) > 0 else ""


def ways_out(account: Account, catalog: Catalog, count: int, limit: int) -> list[str]:
    """What the customer can do, with catalog prices: delete profiles, buy packs, move to a bigger package."""
    cur = account.currency
    ex_vat = _ex_vat(catalog, cur)
    pack = catalog.add_ons.profile_pack
    pack_price = catalog.profile_pack_price(cur)
    excess = count - limit
    actions: list[str] = []
    if excess > 0:
        packs = math.ceil(excess / pack.size)
        actions.append(f"Delete {excess} profile(s) you no longer need, to get back to your limit of {limit}.")
        actions.append(
            f"Buy {packs} profile pack(s) (+{pack.size} profiles each) at {pack_price} {cur}/month each{ex_vat}: "
            f"{pack_price * packs} {cur}/month for a limit of {limit + packs * pack.size}."
        )
    else:
        actions.append("Delete profiles you no longer need.")
        actions.append(f"Buy profile packs (+{pack.size} profiles each) at {pack_price} {cur}/month each{ex_vat}.")
    current = catalog.package(account.package)
    paid = catalog.monthly_price(account.package, account.contact_tier, cur)
    for code, package in catalog.packages.items():
        if package.profile_limit <= current.profile_limit:
            continue
        new_limit = catalog.profile_limit(code, account.profile_packs)
        price = catalog.monthly_price(code, account.contact_tier, cur)
        actions.append(
            f"Upgrade to the {code} package (limit {new_limit} profiles) at {price} {cur}/month at your contact "
            f"tier {account.contact_tier}{ex_vat}, {price - paid} {cur}/month more than {account.package}."
        )
    return actions


def _figures(episode: Episode, currency: str, fee: Decimal) -> list[tuple[str, str]]:
    return [
        ("Profiles", str(episode.count)),
        ("Limit", str(episode.limit)),
        ("Over the limit", str(episode.excess)),
        ("Fee per profile over the limit", f"{fee} {currency}/month"),
    ]


def _episode_detail(episode: Episode) -> dict[str, Any]:
    return {
        "episode_id": episode.episode_id,
        "state": episode.state,
        "count": episode.count,
        "limit": episode.limit,
        "excess": episode.excess,
        "grace_ends_at": episode.grace_ends_at.isoformat(),
    }


def approaching(account: Account, happening: Happening, catalog: Catalog) -> Notice:
    count, limit = happening.count or 0, happening.limit or 0
    cur = account.currency
    fee = catalog.excess_profile_fee(cur)
    percent = (Decimal(count) * 100 / limit).quantize(Decimal("1")) if limit else Decimal(0)
    grace = catalog.policy.grace_days
    return render(
        kind="profiles.approaching",
        account_id=account.account_id,
        cause=happening.cause,
        to=account.billing_email,
        subject=f"You are approaching your profile limit: {count} of {limit}",
        paragraphs=[
            f"On {_when(happening.at)} your account had {count} user profiles: {percent} % of your limit of {limit}.",
            f"If you go over the limit you will have {grace} days to get back within it; after that we charge "
            f"{fee} {cur} per profile over the limit per month{_ex_vat(catalog, cur)}.",
        ],
        breakdown=[
            ("Profiles", str(count)),
            ("Limit", str(limit)),
            ("Profiles left before the limit", str(limit - count)),
            ("Fee per profile over the limit", f"{fee} {cur}/month"),
        ],
        actions=ways_out(account, catalog, count, limit),
        detail={"count": count, "limit": limit, "fee_per_profile": str(fee), "currency": cur},
        created_at=happening.at.isoformat(),
    )


def exceeded(account: Account, happening: Happening, catalog: Catalog) -> Notice:
    episode = happening.episode
    assert episode is not None
    terms = fee_terms(account, catalog)
    cur = terms.currency
    fee = fee_totals(episode.excess, terms)
    deadline = episode.grace_ends_at.date() + timedelta(days=catalog.policy.payment_deadline_days)
    return render(
        kind="profiles.exceeded",
        account_id=account.account_id,
        cause=episode.episode_id,
        to=account.billing_email,
        subject=f"Your account is over its profile limit: {episode.count} of {episode.limit}",
        paragraphs=[
            f"On {_when(episode.opened_at)} your account had {episode.count} user profiles, {episode.excess} over "
            f"your limit of {episode.limit}.",
            f"You have until {_when(episode.grace_ends_at)} ({catalog.policy.grace_days} days) to get back within "
            "the limit, at no charge.",
            f"If you are still over the limit then, we will invoice the profiles over the limit at that moment at "
            f"{terms.fee_per_profile} {cur} each per month: at today's count {fee.gross} {cur} including VAT, "
            f"payable within {catalog.policy.payment_deadline_days} days (by {deadline} if invoiced at the grace "
            "end). Each later monthly billing date adds the same fee for the profiles still over the limit.",
        ],
        breakdown=[
            *_figures(episode, cur, terms.fee_per_profile),
            ("Fee at today's count", f"{fee.net} {cur}"),
            ("VAT", f"{fee.vat} {cur}"),
            ("Total with VAT", f"{fee.gross} {cur}"),
            ("Grace period ends", _when(episode.grace_ends_at)),
            ("Payment deadline if invoiced then", deadline.isoformat()),
        ],
        actions=ways_out(account, catalog, episode.count, episode.limit),
        detail=_episode_detail(episode)
        | {
            "fee_per_profile": str(terms.fee_per_profile),
            "currency": cur,
            "fee_net": str(fee.net),
            "fee_vat": str(fee.vat),
            "fee_gross": str(fee.gross),
            "payment_deadline": deadline.isoformat(),
        },
        created_at=happening.at.isoformat(),
    )


def resolved(account: Account, happening: Happening, catalog: Catalog) -> Notice:
    episode = happening.episode
    assert episode is not None
    count, limit = happening.count, happening.limit
    if episode.resolved_by == "limit_increase":
        how = f"Your profile limit is now {limit}, and your {count} profiles fit within it."
    else:
        how = f"Your account had {count} profiles, within your limit of {limit}."
    return render(
        kind="profiles.resolved",
        account_id=account.account_id,
        cause=episode.episode_id,
        to=account.billing_email,
        subject="Back within your profile limit: no fee",
        paragraphs=[
            f"{how} The excess that started on {_when(episode.opened_at)} was resolved on {_when(happening.at)}, "
            f"within the grace period (which ended {_when(episode.grace_ends_at)}), so there is no fee.",
        ],
        breakdown=[
            ("Profiles", str(count)),
            ("Limit", str(limit)),
            ("Resolved by", "a higher limit" if episode.resolved_by == "limit_increase" else "fewer profiles"),
        ],
        actions=[],
        detail=_episode_detail(episode) | {"resolved_by": episode.resolved_by, "count": count, "limit": limit},
        created_at=happening.at.isoformat(),
    )


def _fee_detail(episode: Episode) -> dict[str, Any]:
    return _episode_detail(episode) | {
        "invoice_id": episode.fee_invoice_id,
        "number": episode.fee_invoice_number,
        "invoice_kind": "excess_profiles",
        "currency": episode.currency,
        "fee_count": episode.fee_count,
        "fee_excess": episode.fee_excess,
        "fee_per_profile": str(episode.fee_per_profile),
        "net": str(episode.fee_net),
        "vat": str(episode.fee_vat),
        "gross": str(episode.fee_gross),
        "payment_deadline": episode.deadline.isoformat() if episode.deadline else None,
    }


def fee_invoiced(account: Account, happening: Happening, catalog: Catalog) -> Notice:
    episode, invoice = happening.episode, happening.invoice
    assert episode is not None and invoice is not None and episode.deadline is not None
    cur = invoice.currency
    return render(
        kind="invoice.issued",
        account_id=account.account_id,
        cause=invoice.invoice_id,
        to=account.billing_email,
        subject=f"Your invoice {invoice.number}: {invoice.gross} {cur} for excess profiles",
        paragraphs=[
            f"Your grace period ended on {_when(episode.grace_ends_at)} with {episode.fee_count} user profiles, "
            f"{episode.fee_excess} over your limit of {episode.limit}.",
            f"Invoice {invoice.number} charges {episode.fee_excess} × {episode.fee_per_profile} {cur}: "
            f"{invoice.gross} {cur} including VAT. Please pay it by {episode.deadline}.",
            f"If it is still unpaid after {episode.deadline}, your account will be restricted: no new profiles can "
            "be created until it is paid. While you stay over the limit, each monthly billing date adds the fee "
            "for the profiles over the limit at that moment.",
        ],
        breakdown=invoice_breakdown(invoice),
        actions=[
            f"Pay {invoice.gross} {cur} quoting invoice {invoice.number} by {episode.deadline}.",
            *ways_out(account, catalog, episode.count, episode.limit),
        ]
        if episode.excess_persists
        else [f"Pay {invoice.gross} {cur} quoting invoice {invoice.number} by {episode.deadline}."],
        detail=_fee_detail(episode),
        created_at=happening.at.isoformat(),
    )


def _still_over(account: Account, episode: Episode, catalog: Catalog) -> list[str]:
    """While the excess persists, the ways out (they also stop the monthly excess-profile lines)."""
    return ways_out(account, catalog, episode.count, episode.limit) if episode.excess_persists else []


def reminder(account: Account, happening: Happening, catalog: Catalog) -> Notice:
    episode = happening.episode
    assert episode is not None and episode.fee_invoice_id is not None and episode.deadline is not None
    cur = episode.currency
    days_left = (episode.deadline - happening.at.date()).days
    return render(
        kind="invoice.payment_reminder",
        account_id=account.account_id,
        cause=episode.fee_invoice_id,
        to=account.billing_email,
        subject=f"Reminder: invoice {episode.fee_invoice_number} ({episode.fee_gross} {cur}) is due on "
        f"{episode.deadline}",
        paragraphs=[
            f"Invoice {episode.fee_invoice_number} for {episode.fee_excess} profiles over your limit "
            f"({episode.fee_gross} {cur} including VAT) is due on {episode.deadline}, in {days_left} day(s).",
            f"If it is still unpaid after {episode.deadline}, your account will be restricted: no new profiles can "
            "be created until it is paid.",
        ],
        breakdown=_invoice_summary(episode),
        actions=[
            f"Pay {episode.fee_gross} {cur} quoting invoice {episode.fee_invoice_number}.",
            *_still_over(account, episode, catalog),
        ],
        detail=_fee_detail(episode),
        created_at=happening.at.isoformat(),
    )


def _invoice_summary(episode: Episode) -> list[tuple[str, str]]:
    cur = episode.currency
    return [
        ("Invoice", str(episode.fee_invoice_number)),
        ("Profiles over the limit", str(episode.fee_excess)),
        ("Fee per profile", f"{episode.fee_per_profile} {cur}"),
        ("Net", f"{episode.fee_net} {cur}"),
        ("VAT", f"{episode.fee_vat} {cur}"),
        ("Total", f"{episode.fee_gross} {cur}"),
        ("Payment deadline", str(episode.deadline)),
    ]


# What a restriction means and what lifts it: the same words whichever overdue invoice restricts (a fee here, another
# kind in ``notices.settlement.invoice_restricted``).
RESTRICTION_TERMS = (
    "Your account is restricted: no new user profiles can be created. Existing profiles and everything else keep "
    "working.",
    "The restriction is lifted as soon as every overdue invoice is paid.",
)


def restricted(account: Account, happening: Happening, catalog: Catalog) -> Notice:
    episode = happening.episode
    assert episode is not None and episode.fee_invoice_id is not None
    cur = episode.currency
    return render(
        kind="account.restricted",
        account_id=account.account_id,
        cause=episode.fee_invoice_id,
        to=account.billing_email,
        subject=f"Account restricted: invoice {episode.fee_invoice_number} is overdue",
        paragraphs=[
            f"Invoice {episode.fee_invoice_number} ({episode.fee_gross} {cur} including VAT) was due on "
            f"{episode.deadline} and has not been paid. It is now overdue.",
            *RESTRICTION_TERMS,
        ],
        breakdown=_invoice_summary(episode),
        actions=[
            f"Pay {episode.fee_gross} {cur} quoting invoice {episode.fee_invoice_number} to lift the restriction.",
            *_still_over(account, episode, catalog),
        ],
        detail=_fee_detail(episode) | {"restricted": True, "block_new_profiles": True},
        created_at=happening.at.isoformat(),
    )


def unrestricted(account: Account, happening: Happening, invoice: Invoice | None) -> Notice:
    paid = f"invoice {invoice.number} ({invoice.gross} {invoice.currency})" if invoice else "your overdue invoice"
    return render(
        kind="account.unrestricted",
        account_id=account.account_id,
        cause=happening.cause,
        to=account.billing_email,
        subject="Restriction lifted: thank you for your payment",
        paragraphs=[
            f"We have received your payment of {paid}. No overdue invoice remains, so the restriction is lifted: "
            "you can create new profiles again.",
        ],
        breakdown=[("Paid", paid), ("Received", _when(happening.at))],
        actions=[],
        detail={
            "restricted": False,
            "block_new_profiles": False,
            "invoice_id": invoice.invoice_id if invoice else None,
        },
        created_at=happening.at.isoformat(),
    )


def notices_for(account: Account, step: Step, catalog: Catalog, paid_invoice: Invoice | None = None) -> list[Notice]:
    """The notices one step sends, in the order things happened."""
    notices: list[Notice] = []
    for happening in step.happenings:
        if happening.kind == "approaching":
            notices.append(approaching(account, happening, catalog))
        elif happening.kind == "exceeded":
            notices.append(exceeded(account, happening, catalog))
        elif happening.kind == "resolved":
            notices.append(resolved(account, happening, catalog))
        elif happening.kind == "fee_invoiced":
            notices.append(fee_invoiced(account, happening, catalog))
        elif happening.kind == "reminded":
            notices.append(reminder(account, happening, catalog))
        elif happening.kind == "overdue":
            notices.append(restricted(account, happening, catalog))
        elif happening.kind == "unrestricted":
            notices.append(unrestricted(account, happening, paid_invoice))
    return notices
