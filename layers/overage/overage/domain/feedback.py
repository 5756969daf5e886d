"""The feedback links of a notice email (spec §3.9): "This was clear" and "I need help", each a signed token.

A token names the account, the notice and the answer, and carries an HMAC-SHA256 of them keyed by the feedback
secret (an SSM SecureString of its own, not the webhook secret): it is the only credential of the public
``GET /feedback/{token}``. Its form is ``urlsafe_b64encode(mac ‖ answer ‖ "\\n" ‖ account_id ‖ "\\n" ‖ notice_id)``
without padding: 32 bytes of MAC first, then the text it signs. Only the canonical encoding of a genuine token is
accepted (a token that decodes to the same bytes through other characters is refused too), compared with
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

CLEAR: Final = "clear"
HELP: Final = "help"
ANSWERS: Final = (CLEAR, HELP)
MAC_BYTES = 32
MAX_TOKEN_CHARS = 1024  # a notice id is at most a few hundred characters; anything longer is no token of ours


@dataclass(frozen=True)
class FeedbackLinks:
    """The two links a notice email ends with, and, for a notice about an invoice, the link to its document
    (``domain.document_links``, spec §3.8)."""

    clear_url: str
    help_url: str
    document_url: str | None = None


@dataclass(frozen=True)
class FeedbackToken:
    """What a genuine token says."""

    account_id: str
    notice_id: str
    answer: str


def _signed_text(account_id: str, notice_id: str, answer: str) -> bytes:
    return f"{answer}\n{account_id}\n{notice_id}".encode()


def _mac(secret: str, text: bytes) -> bytes:
    return hmac.new(secret.encode(), text, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(secret: str, account_id: str, notice_id: str, answer: str) -> str:
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {ANSWERS}, not {answer!r}")
    if not secret:
        raise ValueError("the feedback secret is empty")
    if "\n" in account_id:
        raise ValueError("an account id has no line break")
    text = _signed_text(account_id, notice_id, answer)
    return _encode(_mac(secret, text) + text)


def verify(secret: str, token: str) -> FeedbackToken | None:
    """What a genuine token says; None for anything else (forged, truncated, altered, not base64, too long)."""
    if not secret or not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if _encode(raw) != token:  # not the canonical form (stray padding bits, "=", characters outside the alphabet)
        return None
    mac, text = raw[:MAC_BYTES], raw[MAC_BYTES:]
    if len(mac) < MAC_BYTES or not hmac.compare_digest(mac, _mac(secret, text)):
        return None
    try:
        answer, account_id, notice_id = text.decode("utf-8").split("\n", 2)
    except ValueError:  # UnicodeDecodeError is a ValueError
        return None
    if answer not in ANSWERS or not account_id or not notice_id:
        return None
    return FeedbackToken(account_id=account_id, notice_id=notice_id, answer=answer)


def links(base_url: str, secret: str, account_id: str, notice_id: str) -> FeedbackLinks:
    """The two links of one notice under ``base_url`` (the API's public URL, its stage included)."""
    base = base_url.rstrip("/")

    def url(answer: str) -> str:
        return f"{base}/feedback/{quote(sign(secret, account_id, notice_id, answer), safe='')}"

    return FeedbackLinks(clear_url=url(CLEAR), help_url=url(HELP))
