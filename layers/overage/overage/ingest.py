"""Applying a validated CRM event to the tables (spec §4): the one place webhook events change state.

Each event type has one handler ``(event, context) -> result``; the result is what the webhook answers with
(202) and replays for the same id (200). Handlers of the other policies are imported only when their type
arrives, so the webhook's cold start pays only for what it uses.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from overage import wiring
from overage.domain.catalog import Catalog
from overage.domain.crm_events import AccountUpserted, AnyCrmEvent, ContactsCounted
from overage.errors import InvalidRequest
from overage.notices.outbox import NoticeOutbox
from overage.runtime.config import Settings
from overage.runtime.observability import logger
from overage.store.accounts import AccountsStore
from overage.store.ledger import LedgerStore

MAX_FUTURE_SKEW = timedelta(minutes=5)


@dataclass
class IngestContext:
    """What a handler may use: settings, catalog, the receipt time, and lazily built stores."""

    settings: Settings
    catalog: Catalog
    received_at: datetime  # wall clock at the edge: operational only (leases, the future check)

    @cached_property
    def accounts(self) -> AccountsStore:
        return wiring.accounts(self.settings)

    @cached_property
    def ledger(self) -> LedgerStore:
        return wiring.ledger(self.settings)

    @cached_property
    def outbox(self) -> NoticeOutbox:
        return wiring.outbox(self.settings)


def check_event(event: AnyCrmEvent, catalog: Catalog, now: datetime) -> None:
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


# ---------------------------------------------------------------- handlers of the foundation's types
def _account_upserted(event: AccountUpserted, context: IngestContext) -> dict[str, Any]:
    outcome = context.accounts.upsert(event)
    if outcome == "updated":  # the package or the profile packs may have moved the profile limit
        from overage.excess_profiles import on_limit_changed

        on_limit_changed(context, event.account_id, event.occurred_at, context.received_at, f"{event.type}:{event.id}")
    return {"outcome": outcome}


def _contacts_counted(event: ContactsCounted, context: IngestContext) -> dict[str, Any]:
    return {"outcome": context.accounts.record_contacts(event).outcome}


_LOCAL_HANDLERS: dict[str, Any] = {
    "account.upserted": _account_upserted,
    "contacts.counted": _contacts_counted,
}

# Types handled by another policy's module: "module:function", imported on first use.
_POLICY_HANDLERS: dict[str, str] = {
    "profiles.counted": "overage.excess_profiles:profiles_counted",
    "payment.received": "overage.payments:payment_received",
    "plan.change_requested": "overage.plan_changes:on_change_requested",
    "call.completed": "overage.fair_use:call_completed",
}


def _handler(event_type: str) -> Any:
    if event_type in _LOCAL_HANDLERS:
        return _LOCAL_HANDLERS[event_type]
    target = _POLICY_HANDLERS.get(event_type)
    if target is None:
        raise InvalidRequest(f"{event_type} events are not accepted yet", {"type": f"{event_type} is not enabled"})
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def apply_event(event: AnyCrmEvent, context: IngestContext) -> dict[str, Any]:
    """Apply one event; return the result the webhook answers with (and replays)."""
    result = _handler(event.type)(event, context)
    logger.info("crm event applied", extra={"event_type": event.type, "outcome": result.get("outcome")})
    return {"id": event.id, "type": event.type, "account_id": event.account_id, **result}
