"""The signed tokens of the public links (spec §3.8 documents, §3.9 feedback): the one mechanism both use.

A token is ``urlsafe_b64encode(mac ‖ text)`` without padding, where ``text`` is three fields joined by ``"\\n"``
(the first names what the token is for: an answer, or a purpose) and ``mac`` the 32-byte HMAC-SHA256 of ``text``
keyed by the caller's secret. Only the canonical encoding of a genuine token opens: a token that decodes to the same
bytes through other characters, a truncated or altered one, or one longer than ``MAX_TOKEN_CHARS`` is refused, the
MAC compared with ``hmac.compare_digest``. Pure: the secret is given by the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

MAC_BYTES = 32
MAX_TOKEN_CHARS = 1024  # ids are at most a few hundred characters; anything longer is no token of ours
FIELDS = 3


def _mac(secret: str, text: bytes) -> bytes:
    return hmac.new(secret.encode(), text, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def seal(secret: str, first: str, second: str, third: str) -> str:
    """The token of the three fields (the first two hold no line break; the third may)."""
    if not secret:
        raise ValueError("the secret is empty")
    if "\n" in first or "\n" in second:
        raise ValueError("a token's first two fields hold no line break")
    text = f"{first}\n{second}\n{third}".encode()
    return _encode(_mac(secret, text) + text)


def unseal(secret: str, token: str) -> tuple[str, str, str] | None:
    """The three fields of a genuine token; None for anything else."""
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
        first, second, third = text.decode("utf-8").split("\n", FIELDS - 1)
    except ValueError:  # not three fields, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    return first, second, third
