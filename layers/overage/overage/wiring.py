"""The composition root: one factory per function, the only place that builds the services and their hooks.

A handler parses its settings once per invocation and asks for its job here; a job is built from the stores of
``services.deps`` (their boto3 clients cached per container), the catalog, and the clock (``datetime.now(UTC)``,
read at this edge only, for leases and claims: business time comes from the event).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from overage.domain.catalog import Catalog
from overage.runtime import aws
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config import Settings
from overage.services import deps as stores

if TYPE_CHECKING:  # each function imports only its own job's services and its own settings model
    from overage.runtime.config.email_feedback import EmailFeedbackSettings
    from overage.runtime.config.fair_use import FairUseSettings
    from overage.runtime.config.grace_expiry import GraceExpirySettings
    from overage.runtime.config.renewal import RenewalSettings
    from overage.runtime.config.report import ReportSettings
    from overage.services.email_feedback import EmailFeedback
    from overage.services.fair_use import FairUseJob
    from overage.services.grace_expiry import GraceExpiryJob
    from overage.services.notice_feedback import NoticeFeedback
    from overage.services.renewal import BillingHook, FollowUpRunner, RenewalBilling, RenewalJob
    from overage.services.report import ReportJob


def clock() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- renewal billing and the policies that join it
def billing_hooks(settings: Settings, catalog: Catalog) -> list[BillingHook]:
    """The policies that take part in each renewal billing date, in order (``renewal.BillingContribution``):
    pending plan changes first (the invoice prices the new subscription), then the monthly excess-profile line."""
    from overage.services import excess_profiles, plan_changes

    return [plan_changes.billing_hook(settings, catalog), excess_profiles.billing_hook(settings, catalog)]


def follow_up_runners(settings: Settings, catalog: Catalog) -> dict[str, FollowUpRunner]:
    """The runners of the follow-ups hooks leave for after a billing write (``renewal.FollowUp``), by kind."""
    from overage.services import plan_changes

    return {plan_changes.LIMIT_CHANGED: plan_changes.limit_changed_runner(settings, catalog)}


def renewal_billing_of(settings: Settings, catalog: Catalog) -> RenewalBilling:
    from overage.services.renewal import RenewalBilling

    return RenewalBilling(
        accounts=stores.accounts_store(settings),
        ledger=stores.ledger_store(settings),
        outbox=stores.notice_outbox(settings),
        catalog=catalog,
        hooks=billing_hooks(settings, catalog),
        follow_up_runners=follow_up_runners(settings, catalog),
    )


def renewal_billing(settings: RenewalSettings) -> RenewalJob:
    from overage.services.renewal import RenewalJob

    return RenewalJob(
        billing=renewal_billing_of(settings, current_catalog(settings)),
        sqs=aws.client("sqs"),
        queue_url=settings.billing_queue_url,
        clock=clock,
        batch_workers=settings.batch_workers,
    )


# ---------------------------------------------------------------- the other scheduled functions
def grace_expiry(settings: GraceExpirySettings) -> GraceExpiryJob:
    from overage.services.dunning import Dunning
    from overage.services.grace_expiry import GraceExpiry, GraceExpiryJob
    from overage.store.excess_profiles import ExcessProfilesStore
    from overage.store.settlement import SettlementStore

    catalog = current_catalog(settings)
    accounts, ledger, outbox = (
        stores.accounts_store(settings),
        stores.ledger_store(settings),
        stores.notice_outbox(settings),
    )
    return GraceExpiryJob(
        grace=GraceExpiry(accounts=accounts, ledger=ledger, outbox=outbox, catalog=catalog),
        store=ExcessProfilesStore(accounts, ledger, catalog),
        outbox=outbox,
        sqs=aws.client("sqs"),
        queue_url=settings.grace_queue_url,
        clock=clock,
        batch_workers=settings.batch_workers,
        dunning=Dunning(
            accounts=accounts, store=SettlementStore(ledger, accounts.table), outbox=outbox, catalog=catalog
        ),
    )


def fair_use_rollup(settings: FairUseSettings) -> FairUseJob:
    from overage.services import fair_use

    return fair_use.FairUseJob(
        rollup=fair_use.service(settings, current_catalog(settings), settings.director_email),
        sqs=aws.client("sqs"),
        queue_url=settings.fair_use_queue_url,
        clock=clock,
        batch_workers=settings.batch_workers,
        close_delay_seconds=settings.fair_use_close_delay_seconds,
    )


def usage_report(settings: ReportSettings) -> ReportJob:
    from overage.services import report

    return report.ReportJob(
        report=report.service(settings, settings.report_bucket),
        sqs=aws.client("sqs"),
        queue_url=settings.report_queue_url,
    )


__all__ = ["fair_use_rollup", "grace_expiry", "renewal_billing", "usage_report"]


# ---------------------------------------------------------------- what SES says of the notice emails (spec §3.9)
def email_feedback(settings: EmailFeedbackSettings) -> EmailFeedback:
    from overage.services.email_feedback import EmailFeedback
    from overage.store.email_feedback import EmailFeedbackStore

    return EmailFeedback(
        store=EmailFeedbackStore(settings.accounts_table, settings.ledger_table, aws.client("dynamodb")),
        outbox=stores.notice_outbox(settings),
        clock=clock,
    )


# ---------------------------------------------------------------- a click on a notice email's feedback link (§3.9)
def notice_feedback(settings: Settings) -> NoticeFeedback:
    from overage.services.notice_feedback import NoticeFeedback
    from overage.store.notice_answers import NoticeAnswerStore

    return NoticeFeedback(
        store=NoticeAnswerStore(settings.ledger_table, aws.client("dynamodb")),
        outbox=stores.notice_outbox(settings),
        clock=clock,
    )
