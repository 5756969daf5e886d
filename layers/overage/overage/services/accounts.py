"""The account read endpoints' answers: invoices, notices, and the preview of the next billing date."""

from __future__ import annotations

from typing import Any

from overage.domain.account import Account
from overage.domain.catalog import Catalog
from overage.domain.instants import midnight_utc
from overage.domain.invoice import Invoice
from overage.domain.renewal import bill_renewal
from overage.errors import NotFound
from overage.store.ledger import LedgerStore

MAX_INVOICE_ID = 400  # ids are inv_<account (64)>_<kind>_<period key>: a longer one is no invoice of ours


def invoices(ledger: LedgerStore, account_id: str) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "invoices": [invoice.model_dump(mode="json") for invoice in ledger.invoices(account_id)],
    }


def invoice_document(ledger: LedgerStore, account_id: str, invoice_id: str) -> Invoice:
    """One invoice of the account, with what was paid and credited on it; ``NotFound`` when it has no such one."""
    found = ledger.get_invoice(account_id, invoice_id) if len(invoice_id) <= MAX_INVOICE_ID else None
    if found is None:
        raise NotFound(f"account {account_id} has no invoice {invoice_id[:200]}")
    return found


def invoice(ledger: LedgerStore, account_id: str, invoice_id: str) -> dict[str, Any]:
    """``GET /accounts/{id}/invoices/{invoice_id}``: the invoice as issued, with amount paid, credit applied, due."""
    return invoice_document(ledger, account_id, invoice_id).model_dump(mode="json")


def notices(ledger: LedgerStore, account_id: str) -> dict[str, Any]:
    return {"account_id": account_id, "notices": ledger.notices(account_id)}


def preview(account: Account, catalog: Catalog) -> dict[str, Any]:
    """The invoice the next billing date would issue if nothing changed: priced from the latest count.

    What is billed in the end is the count in force at 00:00 UTC of the billing date.
    """
    if account.next_billing_date is None:
        return {"account_id": account.account_id, "billing_date": None, "invoice": None}
    outcome = bill_renewal(
        account,
        account.next_billing_date,
        account.contacts_active,
        catalog,
        previous_streak=account.overrun_streak,
        issued_at=midnight_utc(account.next_billing_date),
    )
    return {
        "account_id": account.account_id,
        "billing_date": account.next_billing_date.isoformat(),
        "based_on": {
            "active_contacts": account.contacts_active,
            "as_of": (account.contacts_version or "")[:27] or None,
        },
        "reached_tier": outcome.reached_tier,
        "overrun_supplement": str(outcome.overrun_supplement),
        "custom_quote": outcome.custom_quote,
        "recommended_tier": outcome.recommendation.tier if outcome.recommendation else None,
        "invoice": outcome.invoice.model_dump(mode="json") if outcome.invoice else None,
        "note": "Priced from the latest count; the count in force at 00:00 UTC of the billing date is what is billed.",
    }
