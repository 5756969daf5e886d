"""An account as the billing rules see it, and the pure rules about its standing."""

import hashlib
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from overage.domain import calendar
from overage.domain.catalog import Catalog
from overage.domain.instants import to_key

BILLING_SHARDS = 16


class Account(BaseModel):
    """The account item: the subscription the CRM last told us about plus the latest counts."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    package: str
    contact_tier: str
    billing_cycle: Literal["monthly", "annual"]
    currency: str
    started_on: date
    billing_email: str
    paying_users: int
    telephone_support: bool
    profile_packs: int
    customer_since: date
    profile_version: str = ""
    contacts_active: int | None = None
    contacts_archived: int | None = None
    contacts_version: str | None = None
    profiles_count: int | None = None
    profiles_version: str | None = None
    next_billing_date: date | None = None
    last_billed_on: date | None = None
    overrun_streak: int = 0
    restricted: bool = False
    open_episode: dict[str, Any] | None = None
    pending_change: dict[str, Any] | None = None  # a plan change waiting for its billing date (plan_changes)
    follow_ups: dict[str, Any] | None = None  # work a billing write left for after its commit (renewals.FollowUp)
    email_suppression: dict[str, Any] | None = None  # the address SES bounced for good or complained of (§3.9)
    # The buyer a VAT invoice names (spec §3.8), as account.upserted last gave it; snapshot onto each invoice.
    billing_name: str | None = None
    billing_address: tuple[str, ...] | None = None
    vat_number: str | None = None
    credit_currencies: frozenset[str] | None = None  # currencies it ever had credit in (store.settlement.mark_credit)

    @property
    def period_months(self) -> int:
        return 12 if self.billing_cycle == "annual" else 1


def version_key(occurred_at: datetime, event_id: str) -> str:
    """Last-writer-wins order of CRM facts: by ``occurred_at``, ties broken by event id (so any order converges)."""
    return f"{to_key(occurred_at)}#{event_id}"


def version_instant(version: str | None) -> str | None:
    """The ``occurred_at`` part of a version key."""
    return version.split("#", 1)[0] if version else None


def billing_shard(account_id: str) -> str:
    """A stable shard of the due-date index, so finding due accounts is a fixed number of queries."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % BILLING_SHARDS:02d}"


def all_billing_shards() -> list[str]:
    return [f"{shard:02d}" for shard in range(BILLING_SHARDS)]


def first_billed_date(started_on: date, period_months: int, known_since: date) -> date:
    """The first billing date overage bills for an account it learns about on ``known_since``.

    The first period is paid at signup in the CRM, so the earliest is one period after ``started_on``; an
    account that overage learns about later is billed from the first billing date on or after that day
    (overage never bills periods from before it knew the account).
    """
    return calendar.next_billing_date(started_on, period_months, known_since - timedelta(days=1))


def standing(account: Account, catalog: Catalog) -> dict[str, Any]:
    """What ``GET /accounts/{id}`` shows: counts, tiers, limits, next billing date, episode, restriction."""
    contacts: dict[str, Any] | None = None
    if account.contacts_active is not None:
        reached = catalog.tier_for(account.contacts_active)
        contacts = {
            "active": account.contacts_active,
            "archived": account.contacts_archived,
            "as_of": version_instant(account.contacts_version),
            "tier_reached": reached.tier.code,
            "custom_quote": reached.custom_quote,
            "in_overrun": catalog.tier_rank(reached.tier.code) > catalog.tier_rank(account.contact_tier),
        }
    limit = catalog.profile_limit(account.package, account.profile_packs)
    profiles: dict[str, Any] = {"count": account.profiles_count, "limit": limit, "as_of": None, "excess": 0}
    if account.profiles_count is not None:
        profiles["as_of"] = version_instant(account.profiles_version)
        profiles["excess"] = max(0, account.profiles_count - limit)
    return {
        "account_id": account.account_id,
        "package": account.package,
        "contact_tier": account.contact_tier,
        "billing_cycle": account.billing_cycle,
        "currency": account.currency,
        "started_on": account.started_on.isoformat(),
        "paying_users": account.paying_users,
        "telephone_support": account.telephone_support,
        "profile_packs": account.profile_packs,
        "customer_since": account.customer_since.isoformat(),
        "contacts": contacts,
        "profiles": profiles,
        "next_billing_date": account.next_billing_date.isoformat() if account.next_billing_date else None,
        "last_billed_on": account.last_billed_on.isoformat() if account.last_billed_on else None,
        "open_episode": account.open_episode,
        "pending_change": {key: account.pending_change[key] for key in ("change_id", "effective_on", "changes")}
        if account.pending_change
        else None,
        "restricted": account.restricted,
    }
