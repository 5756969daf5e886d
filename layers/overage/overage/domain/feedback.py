"""The feedback links of a notice email (spec §3.9): "This was clear" and "I need help", each a signed token.

A token names the answer, the account and the notice (``domain.signed_token``: the fields in that order, an
HMAC-SHA256 keyed by the feedback secret, an SSM SecureString of its own, not the webhook secret): it is the only
credential of the public ``GET /feedback/{token}``. Pure: the secret and the base URL are given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from overage.domain import signed_token

CLEAR: Final = "clear"
HELP: Final = "help"
ANSWERS: Final = (CLEAR, HELP)


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


def sign(secret: str, account_id: str, notice_id: str, answer: str) -> str:
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {ANSWERS}, not {answer!r}")
    return signed_token.seal(secret, answer, account_id, notice_id)


def verify(secret: str, token: str) -> FeedbackToken | None:
    """What a genuine token says; None for anything else (forged, truncated, altered, not base64, too long)."""
    fields = signed_token.unseal(secret, token)
    if fields is None:
        return None
    answer, account_id, notice_id = fields
    if answer not in ANSWERS or not account_id or not notice_id:
        return None
    return FeedbackToken(account_id=account_id, notice_id=notice_id, answer=answer)


def links(base_url: str, secret: str, account_id: str, notice_id: str) -> FeedbackLinks:
    """The two links of one notice under ``base_url`` (the API's public URL, its stage included)."""
    base = base_url.rstrip("/")

    def url(answer: str) -> str:
        return f"{base}/feedback/{quote(sign(secret, account_id, notice_id, answer), safe='')}"

    return FeedbackLinks(clear_url=url(CLEAR), help_url=url(HELP))
