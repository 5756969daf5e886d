"""The link an invoice email carries to its document (spec §3.8): ``GET /invoices/{token}``, public, the signed token
its only credential, so a customer opens it without an AWS identity (never the IAM-authorised read route).

The token is made as a feedback link's (``domain.signed_token``, spec §3.9) and keyed by the same secret, its first
field the purpose (``invoice-document``) where a feedback token has its answer, so no feedback token is a document
token or the reverse. Pure: the secret and the base URL are given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from overage.domain import signed_token

PURPOSE: Final = "invoice-document"


@dataclass(frozen=True)
class DocumentToken:
    account_id: str
    invoice_id: str


def sign(secret: str, account_id: str, invoice_id: str) -> str:
    return signed_token.seal(secret, PURPOSE, account_id, invoice_id)


def verify(secret: str, token: str) -> DocumentToken | None:
    """What a genuine token names; None for anything else (forged, truncated, altered, another purpose's)."""
    fields = signed_token.unseal(secret, token)
    if fields is None:
        return None
    purpose, account_id, invoice_id = fields
    if purpose != PURPOSE or not account_id or not invoice_id:
        return None
    return DocumentToken(account_id=account_id, invoice_id=invoice_id)


def link(base_url: str, secret: str, account_id: str, invoice_id: str) -> str:
    return f"{base_url.rstrip('/')}/invoices/{quote(sign(secret, account_id, invoice_id), safe='')}"
