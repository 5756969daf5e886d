"""Builds the stores and the outbox a function needs from its settings (clients lazily, cached per container)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overage.notices.outbox import NoticeOutbox
from overage.runtime import aws
from overage.runtime.config import Settings
from overage.store.accounts import AccountsStore
from overage.store.ledger import LedgerStore

if TYPE_CHECKING:  # imported when first built: not every function uses them
    from overage.store.calls import CallsStore
    from overage.store.plan_changes import PlanChangeStore


def accounts(settings: Settings) -> AccountsStore:
    return AccountsStore(settings.accounts_table, aws.client("dynamodb"))


def ledger(settings: Settings) -> LedgerStore:
    return LedgerStore(settings.ledger_table, aws.client("dynamodb"))


def outbox(settings: Settings) -> NoticeOutbox:
    return NoticeOutbox(
        ledger_table=settings.ledger_table,
        dynamodb=aws.client("dynamodb"),
        ses=aws.client("sesv2"),
        events=aws.client("events"),
        sender=settings.sender_email,
        bus_name=settings.event_bus_name,
    )


def plan_changes(settings: Settings) -> PlanChangeStore:
    from overage.store.plan_changes import PlanChangeStore

    return PlanChangeStore(settings.accounts_table, settings.ledger_table, aws.client("dynamodb"))


def calls(settings: Settings) -> CallsStore:
    from overage.store.calls import CallsStore

    return CallsStore(settings.calls_table, aws.client("dynamodb"))
