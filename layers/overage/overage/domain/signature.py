"""Webhook signatures.

``Overage-Signature: t=<unix seconds>,v1=<hex>``, hex = HMAC-SHA256(secret, ``<t>.<raw body>``).
"""

from __future__ import annotations

import hashlib
import hmac

from overage.errors import SignatureError

TOLERANCE_SECONDS = 300


def compute(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_header(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a CRM sends: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def verify(header: str | None, body: bytes, secret: str, now_unix: int) -> int:
    """Check a signature header against the raw body; return its timestamp or raise ``SignatureError``.

    Several ``v1`` values are accepted (secret rotation: the CRM may sign with both the old and new secret).
    """
    if not header:
        raise SignatureError("missing Overage-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("Overage-Signature timestamp is not an integer") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("Overage-Signature must be 't=<unix seconds>,v1=<hex>'")
    if abs(now_unix - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("Overage-Signature timestamp is outside the 300 s tolerance")
    expected = compute(secret, timestamp, body).encode()
    # As bytes: compare_digest refuses str with non-ASCII characters, and a header may carry any.
    if not any(hmac.compare_digest(expected, candidate.encode("utf-8", "replace")) for candidate in candidates):
        raise SignatureError("Overage-Signature does not match the body")
    return timestamp
