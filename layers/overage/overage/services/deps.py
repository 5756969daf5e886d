"""``Deps``: what a feature service may use (the one "context"). Settings, the catalog, the time the work was
received, and the stores and the outbox, each built on first use from the settings (the boto3 clients behind them
are cached per container by ``overage.runtime.aws``). It lives apart from the modules that build it (``wiring``) and
dispatch to the services (``services.crm_events``), so a service can name it without importing either."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from overage.domain.catalog import Catalog
from overage.runtime.config import Settings

if TYPE_CHECKING:  # built on first use: not every event or job needs every store
    from overage.notices.outbox import NoticeOutbox
    from overage.store.accounts import AccountsStore
    from overage.store.calls import CallsStore
    from overage.store.ledger import LedgerStore
    from overage.store.plan_changes import PlanChangeStore


# ---------------------------------------------------------------- the stores, from the settings
def accounts_store(settings: Settings) -> AccountsStore:
    from overage.runtime import aws
    from overage.store.accounts import AccountsStore

    return AccountsStore(settings.accounts_table, aws.client("dynamodb"))


def ledger_store(settings: Settings) -> LedgerStore:
    from overage.runtime import aws
    from overage.store.ledger import LedgerStore

    return LedgerStore(settings.ledger_table, aws.client("dynamodb"))


def notice_outbox(settings: Settings) -> NoticeOutbox:
    from overage.notices.outbox import NoticeOutbox
    from overage.runtime import aws
    from overage.runtime.feedback_links import SignedLinks

    return NoticeOutbox(
        ledger_table=settings.ledger_table,
        dynamodb=aws.client("dynamodb"),
        ses=aws.client("sesv2"),
        events=aws.client("events"),
        sender=settings.sender_email,
        bus_name=settings.event_bus_name,
        accounts_table=settings.accounts_table,
        configuration_set=settings.ses_configuration_set,
        feedback_links=SignedLinks(settings.feedback_secret_parameter, settings.feedback_base_url_parameter),
        seller=settings.seller,
    )


def plan_change_store(settings: Settings) -> PlanChangeStore:
    from overage.runtime import aws
    from overage.store.plan_changes import PlanChangeStore

    return PlanChangeStore(settings.accounts_table, settings.ledger_table, aws.client("dynamodb"))


def calls_store(settings: Settings) -> CallsStore:
    from overage.runtime import aws
    from overage.store.calls import CallsStore

    return CallsStore(settings.calls_table, aws.client("dynamodb"))


@dataclass
class Deps:
    settings: Settings
    catalog: Catalog
    received_at: datetime  # wall clock at the edge: operational only (leases, the future check)

    @cached_property
    def accounts(self) -> AccountsStore:
        return accounts_store(self.settings)

    @cached_property
    def ledger(self) -> LedgerStore:
        return ledger_store(self.settings)

    @cached_property
    def outbox(self) -> NoticeOutbox:
        return notice_outbox(self.settings)

    @cached_property
    def plan_changes(self) -> PlanChangeStore:
        return plan_change_store(self.settings)

    @cached_property
    def calls(self) -> CallsStore:
        return calls_store(self.settings)
