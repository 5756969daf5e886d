"""The account read endpoints (spec §4, IAM-authorised in AWS): standing, preview, invoices, notices, changes, fair use.

A path id no account can have is a 404 before any read (DynamoDB refuses a key over 2 KB with an error of its own).
"""

from __future__ import annotations

import re

from aws_lambda_powertools.event_handler.api_gateway import Router

from overage.api.errors import json_response
from overage.domain.account import Account, standing
from overage.domain.crm_events import ACCOUNT_ID_PATTERN
from overage.errors import NotFound
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config.webhook import WebhookSettings
from overage.services import deps as stores

router = Router()
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)


def known_id(account_id: str) -> str:
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise NotFound(f"account {account_id[:80]} is not known")
    return account_id


def _account(settings: WebhookSettings, account_id: str) -> Account:
    return stores.accounts_store(settings).require(known_id(account_id))


# no return annotations: the routes answer with hand-built Responses (no resolver validation, see api/openapi.py)
@router.get("/accounts/<account_id>", summary="An account's standing", tags=["accounts"])
def get_account(account_id: str):
    from overage.store.settlement import SettlementStore

    settings = WebhookSettings.current()
    answer = standing(_account(settings, account_id), current_catalog(settings))
    answer["credit_balances"] = SettlementStore(stores.ledger_store(settings), settings.accounts_table).balances(
        account_id
    )
    return json_response(200, answer)


@router.get(
    "/accounts/<account_id>/adjustments",
    summary="Support adjustments (voids, goodwill credits, grace extensions, refunds) and credit movements",
    tags=["accounts"],
)
def get_adjustments(account_id: str):
    from overage.services import adjustments
    from overage.services.deps import Deps

    settings = WebhookSettings.current()
    _account(settings, account_id)
    return json_response(200, adjustments.adjustments(Deps(settings, current_catalog(settings), _now()), account_id))


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


@router.get("/accounts/<account_id>/invoices", summary="The account's invoices and credit notes", tags=["accounts"])
def get_invoices(account_id: str):
    from overage.services import accounts as readers

    settings = WebhookSettings.current()
    _account(settings, account_id)
    return json_response(200, readers.invoices(stores.ledger_store(settings), account_id))


@router.get(
    "/accounts/<account_id>/invoices/<invoice_id>",
    summary="One invoice or credit note, with what was paid, credited and is due",
    tags=["accounts"],
)
def get_invoice(account_id: str, invoice_id: str):
    from overage.services import accounts as readers

    settings = WebhookSettings.current()
    return json_response(200, readers.invoice(stores.ledger_store(settings), known_id(account_id), invoice_id))


@router.get(
    "/accounts/<account_id>/invoices/<invoice_id>/document",
    summary="One invoice or credit note as a printable HTML page (spec §3.8)",
    tags=["accounts"],
)
def get_invoice_document(account_id: str, invoice_id: str):
    from overage.api.feedback import html_response
    from overage.render.invoice_html import document
    from overage.services import accounts as readers

    settings = WebhookSettings.current()
    found = readers.invoice_document(stores.ledger_store(settings), known_id(account_id), invoice_id)
    return html_response(200, document(found, settings.seller))


@router.get("/accounts/<account_id>/notices", summary="Every notice sent to the account", tags=["accounts"])
def get_notices(account_id: str):
    from overage.services import accounts as readers

    settings = WebhookSettings.current()
    _account(settings, account_id)
    return json_response(200, readers.notices(stores.ledger_store(settings), account_id))


@router.get("/accounts/<account_id>/preview", summary="What the next billing date would charge now", tags=["accounts"])
def get_preview(account_id: str):
    from overage.services import accounts as readers

    settings = WebhookSettings.current()
    return json_response(200, readers.preview(_account(settings, account_id), current_catalog(settings)))


@router.get("/accounts/<account_id>/changes", summary="The account's plan changes, newest last", tags=["accounts"])
def get_changes(account_id: str):
    from overage.services import plan_changes

    settings = WebhookSettings.current()
    _account(settings, account_id)
    return json_response(200, plan_changes.changes(stores.plan_change_store(settings), account_id))


@router.get(
    "/accounts/<account_id>/fair-use/<month>",
    summary="Telephone-support fair use of a month (YYYY-MM): the rollup, or the month to date",
    tags=["accounts"],
)
def get_fair_use(account_id: str, month: str):
    from overage.services import fair_use

    settings = WebhookSettings.current()
    return json_response(200, fair_use.read_month(settings, current_catalog(settings), known_id(account_id), month))
