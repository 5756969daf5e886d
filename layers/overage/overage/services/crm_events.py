"""Applying a validated CRM event to the tables (spec §4): the one place webhook events change state.

Each event type has one handler ``(event, deps) -> result``, keyed by the event's class (``HANDLERS``); the result
is what the webhook answers with (202) and replays for the same id (200).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from overage.domain.catalog import Catalog
from overage.domain.crm_events import (
    MAX_FUTURE_SKEW,
    AccountUpserted,
    AnyCrmEvent,
    CallCompleted,
    ContactsCounted,
    CreditGranted,
    CreditRefunded,
    GraceExtendRequested,
    InvoiceVoidRequested,
    PaymentReceived,
    PlanChangeRequested,
    ProfilesCounted,
)
from overage.errors import InvalidRequest
from overage.runtime.config import Settings
from overage.runtime.observability import logger
from overage.services.deps import Deps


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


# ---------------------------------------------------------------- one handler per event type
def _account_upserted(event: AccountUpserted, deps: Deps) -> dict[str, Any]:
    outcome = deps.accounts.upsert(event)
    if outcome == "updated":  # the package or the profile packs may have moved the profile limit
        from overage.services.excess_profiles import on_limit_changed

        on_limit_changed(deps, event.account_id, event.occurred_at, deps.received_at, f"{event.type}:{event.id}")
    return {"outcome": outcome}


def _contacts_counted(event: ContactsCounted, deps: Deps) -> dict[str, Any]:
    return {"outcome": deps.accounts.record_contacts(event).outcome}


# The other policies' handlers are imported when their type first arrives (the webhook's cold start pays only for
# what it uses), by a visible import in a small function: mypy, grep and the import-contract test all see it.
def _profiles_counted(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.excess_profiles import profiles_counted

    return profiles_counted(event, deps)


def _payment_received(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.payments import payment_received

    return payment_received(event, deps)


def _plan_change_requested(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.plan_changes import on_change_requested

    return on_change_requested(event, deps)


def _call_completed(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.fair_use import call_completed

    return call_completed(event, deps)


def _void_requested(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.adjustments import void_requested

    return void_requested(event, deps)


def _credit_granted(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.adjustments import credit_granted

    return credit_granted(event, deps)


def _credit_refunded(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.adjustments import credit_refunded

    return credit_refunded(event, deps)


def _grace_extend_requested(event: Any, deps: Deps) -> dict[str, Any]:
    from overage.services.adjustments import grace_extend_requested

    return grace_extend_requested(event, deps)


HANDLERS: dict[type[AnyCrmEvent], Callable[[Any, Deps], dict[str, Any]]] = {
    AccountUpserted: _account_upserted,
    ContactsCounted: _contacts_counted,
    ProfilesCounted: _profiles_counted,
    PaymentReceived: _payment_received,
    PlanChangeRequested: _plan_change_requested,
    CallCompleted: _call_completed,
    InvoiceVoidRequested: _void_requested,
    CreditGranted: _credit_granted,
    CreditRefunded: _credit_refunded,
    GraceExtendRequested: _grace_extend_requested,
}


def deps(settings: Settings, catalog: Catalog, received_at: datetime) -> Deps:
    """What the handlers of one webhook event may use."""
    return Deps(settings, catalog, received_at)


def apply_event(event: AnyCrmEvent, deps: Deps) -> dict[str, Any]:
    """Apply one event; return the result the webhook answers with (and replays)."""
    handler = HANDLERS.get(type(event))
    if handler is None:  # pragma: no cover - every type of the contract has a handler (a unit test checks it)
        raise InvalidRequest(f"{event.type} events are not accepted yet", {"type": f"{event.type} is not enabled"})
    result = handler(event, deps)
    logger.info("crm event applied", extra={"event_type": event.type, "outcome": result.get("outcome")})
    return {"id": event.id, "type": event.type, "account_id": event.account_id, **result}
