"""Which notice an SES event is about, carried by the email itself (spec §3.9).

Every notice email is sent with message tags naming the notice's keys: its account id and its notice id. SES
publishes a configuration set's events (bounce, complaint, delivery) with the message's tags in ``mail.tags``, so
``EmailFeedbackFunction`` reads the notice record straight from its keys (one GetItem) instead of looking the SES
message id up in an index, and a sent notice needs no index entry (issue 20: one write unit fewer per notice).

A tag value may hold only ASCII letters, digits, ``_`` and ``-``, at most 256 of them: the ids are written as
unpadded URL-safe base64 (that alphabet exactly), the notice id over as many numbered tags as it needs
(``overage_notice``, ``overage_notice_2``, ...). Reading them back is strict: a missing, malformed or non-UTF-8 value
gives ``None`` (the event is not one of ours), never a guess.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

ACCOUNT_TAG = "overage_account"
NOTICE_TAG = "overage_notice"
MAX_VALUE = 256  # SES: a tag's value is at most 256 characters
MAX_PARTS = 4  # a notice id of up to 768 bytes; ids are far shorter (an account id is at most 64 characters)
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(value: str) -> str | None:
    if not value or not set(value) <= _ALPHABET or len(value) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _part_name(n: int) -> str:
    return NOTICE_TAG if n == 1 else f"{NOTICE_TAG}_{n}"


def notice_tags(account_id: str, notice_id: str) -> list[dict[str, str]]:
    """The message tags (SES ``EmailTags``) that name a notice's keys."""
    account = _encode(account_id)
    notice = _encode(notice_id)
    parts = [notice[i : i + MAX_VALUE] for i in range(0, len(notice), MAX_VALUE)]
    if len(account) > MAX_VALUE or not parts or len(parts) > MAX_PARTS:
        raise ValueError(f"notice {notice_id!r} of {account_id!r} is too long to name in SES message tags")
    return [{"Name": ACCOUNT_TAG, "Value": account}] + [
        {"Name": _part_name(n), "Value": part} for n, part in enumerate(parts, start=1)
    ]


def notice_keys(tags: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """(account id, notice id) from an SES event's ``mail.tags`` (each tag a list of values), or None."""

    def one(name: str) -> str | None:
        values = tags.get(name)
        if not isinstance(values, (list, tuple)) or len(values) != 1 or not isinstance(values[0], str):
            return None
        return values[0]

    account = one(ACCOUNT_TAG)
    parts: list[str] = []
    for n in range(1, MAX_PARTS + 1):
        part = one(_part_name(n))
        if part is None:
            break
        parts.append(part)
    if account is None or not parts or any(len(p) != MAX_VALUE for p in parts[:-1]):
        return None
    account_id, notice_id = _decode(account), _decode("".join(parts))
    if not account_id or not notice_id:
        return None
    return account_id, notice_id
