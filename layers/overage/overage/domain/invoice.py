"""Invoices and credit notes (spec §3.5, §3.7, §3.8): deterministic ids, numbers in series, lines, net / VAT / gross,
what was paid and credited, the amount due, status.

Numbers (spec §3.8): ``<series>-<sequence>``. A series is one currency, one calendar year (of the issue date, UTC)
and one of ``SERIES_SHARDS`` shards of the account id: ``GBP2026S0042``, so ``GBP2026S0042-17`` is the 17th invoice
or credit note issued in 2026 in GBP to an account of shard 0042. Every invoice of an account in a currency and
year is in one series. The sequence is assigned by ``services.invoicing`` in the transaction that issues the
invoice (the domain only ever gets the number as an input); see the README's "Invoice numbers".

Amount due = gross − amount paid − credit applied, never below zero. A credit note (negative amounts) owes nothing:
its amount goes to the account's credit balance when it is issued, so it is ``paid`` (settled) from the start with
an amount due of 0.00. A void invoice owes nothing either (amount due 0.00); what was paid or credited on it is kept
as it was and went back to the credit balance. ``rev`` counts the writes of the invoice's money and status (the
optimistic lock of ``domain.settlement``'s steps); it is not part of what the API shows.
"""

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from overage.domain.money import ZERO, Amount, InvoiceLine, totals

InvoiceKind = Literal["renewal", "overrun", "excess_profiles", "plan_change", "credit_note"]
InvoiceStatus = Literal["open", "partially_paid", "paid", "overdue", "void"]
UNPAID_STATUSES: tuple[InvoiceStatus, ...] = ("open", "partially_paid", "overdue")
CREDIT_NOTE = "credit_note"


def invoice_id(account_id: str, kind: str, period_key: str) -> str:
    """Deterministic from (account, kind, period): a retry can only ever name the same invoice."""
    return f"inv_{account_id}_{kind}_{period_key}"


# Enough series that no counter is a hot key at a million accounts billed in one run (bench/model.py models the
# contention: about 1.5 % of attempts find their counter moved at 1M accounts in one currency; 6 % with 1,024
# series): 4,096 per currency and year, still four digits.
SERIES_SHARDS = 4096


def series_for(account_id: str, currency: str, issued_at: datetime) -> str:
    """The series an invoice of this account, currency and issue date is numbered in: ``GBP2026S0042``."""
    digest = hashlib.sha256(account_id.encode()).digest()
    shard = int.from_bytes(digest[4:8], "big") % SERIES_SHARDS
    return f"{currency}{issued_at.year:04d}S{shard:04d}"


def number_in(series: str, sequence: int) -> str:
    """``<series>-<sequence>``: the sequence as a plain decimal, from 1."""
    if sequence < 1:
        raise ValueError(f"a sequence starts at 1, not {sequence}")
    return f"{series}-{sequence}"


class Seller(BaseModel):
    """Who issues the invoices (the deployment's SellerLegalName, SellerAddress, SellerVatNumber parameters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal_name: str
    address: tuple[str, ...]
    vat_number: str


class Buyer(BaseModel):
    """The customer as the invoice shows it, snapshot at issue (a VAT invoice shows the buyer as at its tax point).
    ``name`` falls back to the account id when the CRM sent no billing name (README, Policies)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str
    name: str
    address: tuple[str, ...] = ()
    vat_number: str | None = None
    email: str | None = None


def buyer_of(account: Any) -> Buyer:
    """The buyer of an account (``domain.account.Account``: anything with its fields) as it stands now."""
    return Buyer(
        account_id=account.account_id,
        name=account.billing_name or account.account_id,
        address=tuple(account.billing_address or ()),
        vat_number=account.vat_number,
        email=account.billing_email,
    )


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_id: str
    # None only on a draft priced without a number (rule tests, previews): every issued invoice has one.
    number: str | None = None
    account_id: str
    kind: InvoiceKind
    currency: str
    period_start: date
    period_end: date  # exclusive
    lines: tuple[InvoiceLine, ...]
    net: Amount
    vat: Amount
    gross: Amount
    vat_rate: str
    issued_at: datetime
    due_on: date
    status: InvoiceStatus = "open"
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    buyer: Buyer | None = None  # None on invoices issued before buyers were recorded (issue 17)
    amount_paid: Amount = ZERO
    credit_applied: Amount = ZERO
    amount_due: Amount = ZERO
    rev: int = Field(default=0, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _due_from_the_amounts(cls, data: object) -> object:
        """An invoice stored before amounts due existed (or built without one) owes its gross, less what was paid
        and credited; a credit note and a void invoice owe nothing."""
        if isinstance(data, dict) and "amount_due" not in data and "gross" in data:
            from decimal import Decimal

            if data.get("kind") == CREDIT_NOTE or data.get("status") == "void":
                due = ZERO
            else:
                paid = Decimal(str(data.get("amount_paid", ZERO))) + Decimal(str(data.get("credit_applied", ZERO)))
                due = max(ZERO, Decimal(str(data["gross"])) - paid)
            data = {**data, "amount_due": due}
            if data.get("kind") == CREDIT_NOTE and data.get("status", "open") == "open":
                data["status"] = "paid"
        return data

    @model_validator(mode="after")
    def _amounts_add_up(self) -> "Invoice":
        if self.amount_due < 0 or self.amount_paid < 0 or self.credit_applied < 0:
            raise ValueError("amounts paid, credited and due are never negative")
        if self.kind != CREDIT_NOTE and self.status != "void":
            expected = self.gross - self.amount_paid - self.credit_applied
            if self.amount_due != max(ZERO, expected):
                raise ValueError(
                    f"amount due {self.amount_due} is not gross {self.gross} − paid {self.amount_paid} − credit "
                    f"applied {self.credit_applied}"
                )
        return self

    @property
    def unpaid(self) -> bool:
        return self.status in UNPAID_STATUSES and self.amount_due > 0


def build_invoice(
    *,
    account_id: str,
    kind: InvoiceKind,
    period_key: str,
    currency: str,
    period_start: date,
    period_end: date,
    lines: Sequence[InvoiceLine],
    vat_rate_value: str,
    issued_at: datetime,
    due_on: date,
    flags: Sequence[str] = (),
    notes: Sequence[str] = (),
    number: str | None = None,
    buyer: Buyer | None = None,
) -> Invoice:
    from decimal import Decimal

    total = totals(lines, Decimal(vat_rate_value))
    return Invoice(
        invoice_id=invoice_id(account_id, kind, period_key),
        number=number,
        buyer=buyer,
        account_id=account_id,
        kind=kind,
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        lines=tuple(lines),
        net=total.net,
        vat=total.vat,
        gross=total.gross,
        vat_rate=vat_rate_value,
        issued_at=issued_at,
        due_on=due_on,
        flags=tuple(flags),
        notes=tuple(notes),
    )
