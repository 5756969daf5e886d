"""Applying a validated CRM event to the tables (spec §4): the one place webhook events change state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from overage.domain.catalog import Catalog
from overage.domain.crm_events import AccountUpserted, ContactsCounted, CrmEvent, ProfilesCounted
from overage.errors import InvalidRequest
from overage.observability import logger
from overage.store.accounts import AccountsStore

MAX_FUTURE_SKEW = timedelta(minutes=5)


def check_event(event: CrmEvent, catalog: Catalog, now: datetime) -> None:
    """Rules a schema cannot express: nothing from the future, codes that exist in the catalog."""
    if event.occurred_at > now + MAX_FUTURE_SKEW:
        raise InvalidRequest(
            "occurred_at is in the future",
            {"occurred_at": "must not be more than 5 minutes after the time the webhook is received"},
        )
    if isinstance(event, AccountUpserted):
        fields: dict[str, str] = {}
        for name, check in (
            ("data.package", catalog.package),
            ("data.contact_tier", catalog.tier),
        ):
            try:
                check(getattr(event.data, name.split(".")[1]))
            except InvalidRequest as error:
                fields[name] = next(iter(error.fields.values()), error.message)
        if event.data.currency not in catalog.currencies:
            fields["data.currency"] = f"unknown currency; one of {', '.join(catalog.currencies)}"
        if fields:
            raise InvalidRequest("account.upserted names codes the catalog does not have", fields)


def apply_event(event: CrmEvent, accounts: AccountsStore) -> dict[str, Any]:
    """Apply one event last-writer-wins; return the result the webhook answers with (and replays)."""
    outcome: str
    if isinstance(event, AccountUpserted):
        outcome = accounts.upsert(event)
    elif isinstance(event, ContactsCounted):
        outcome = accounts.record_contacts(event).outcome
    elif isinstance(event, ProfilesCounted):
        outcome = accounts.record_profiles(event).outcome
    else:  # pragma: no cover - the union is exhaustive
        raise InvalidRequest("unsupported event type", {"type": "not handled"})
    logger.info("crm event applied", extra={"event_type": event.type, "outcome": outcome})
    return {"id": event.id, "type": event.type, "account_id": event.account_id, "outcome": outcome}
