"""The link an invoice email carries to its document (spec §3.8): ``GET /invoices/{token}``, public, the signed token
its only credential, so a customer opens it without an AWS identity (never the IAM-authorised read route).

The token is made as a feedback link's (``domain.feedback``, spec §3.9) and keyed by the same secret, with its own
purpose in what is signed (``invoice-document``), so no feedback token is a document token or the reverse:
``urlsafe_b64encode(mac ‖ "invoice-document" ‖ "\\n" ‖ account_id ‖ "\\n" ‖ invoice_id)`` without padding, the MAC an
HMAC-SHA256 of the text. Only the canonical encoding of a genuine token is accepted, compared with
``hmac.compare_digest``. Pure: the secret and the base URL are given by the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

PURPOSE: Final = "invoice-document"
MAC_BYTES = 32
MAX_TOKEN_CHARS = 1024


@dataclass(frozen=True)
class DocumentToken:
    account_id: str
    invoice_id: str


def _text(account_id: str, invoice_id: str) -> bytes:
    return f"{PURPOSE}\n{account_id}\n{invoice_id}".encode()


def _mac(secret: str, text: bytes) -> bytes:
    return hmac.new(secret.encode(), text, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(secret: str, account_id: str, invoice_id: str) -> str:
    if not secret:
        raise ValueError("the secret is empty")
    if "\n" in account_id or "\n" in invoice_id:
        raise ValueError("ids have no line break")
    text = _text(account_id, invoice_id)
    return _encode(_mac(secret, text) + text)


def verify(secret: str, token: str) -> DocumentToken | None:
    """What a genuine token names; None for anything else (forged, truncated, altered, another purpose's)."""
    if not secret or not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if _encode(raw) != token:
        return None
    mac, text = raw[:MAC_BYTES], raw[MAC_BYTES:]
    if len(mac) < MAC_BYTES or not hmac.compare_digest(mac, _mac(secret, text)):
        return None
    try:
        purpose, account_id, invoice_id = text.decode("utf-8").split("\n", 2)
    except ValueError:
        return None
    if purpose != PURPOSE or not account_id or not invoice_id:
        return None
    return DocumentToken(account_id=account_id, invoice_id=invoice_id)


def link(base_url: str, secret: str, account_id: str, invoice_id: str) -> str:
    return f"{base_url.rstrip('/')}/invoices/{quote(sign(secret, account_id, invoice_id), safe='')}"
