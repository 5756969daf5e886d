"""Invoices and credit notes (spec §3.5): deterministic ids, lines, net / VAT / gross, status."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from overage.domain.money import Amount, InvoiceLine, totals

InvoiceKind = Literal["renewal", "overrun", "excess_profiles", "plan_change", "credit_note"]
InvoiceStatus = Literal["open", "paid", "overdue", "void"]

_KIND_CODES: dict[str, str] = {
    "renewal": "REN",
    "overrun": "OVR",
    "excess_profiles": "EXP",
    "plan_change": "CHG",
    "credit_note": "CRN",
}


def invoice_id(account_id: str, kind: str, period_key: str) -> str:
    """Deterministic from (account, kind, period): a retry can only ever name the same invoice."""
    return f"inv_{account_id}_{kind}_{period_key}"


def invoice_number(account_id: str, kind: str, period_key: str) -> str:
    """Human-facing number, also deterministic: ``OV-REN-20260210-acc_42``."""
    compact = re.sub(r"[^0-9A-Za-z]", "", period_key)
    return f"OV-{_KIND_CODES[kind]}-{compact}-{account_id}"


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_id: str
    number: str
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
) -> Invoice:
    from decimal import Decimal

    total = totals(lines, Decimal(vat_rate_value))
    return Invoice(
        invoice_id=invoice_id(account_id, kind, period_key),
        number=invoice_number(account_id, kind, period_key),
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
