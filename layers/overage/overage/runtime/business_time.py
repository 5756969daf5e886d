"""Business time of a scheduled run: the EventBridge ``time`` of the scheduled event, or ``{"as_of": ...}``.

A scheduled handler never reads the wall clock for business decisions (spec §1). It reads it once, as a guard: a
business time more than ``MAX_AHEAD`` after the wall clock is refused (a typo such as ``2036`` for ``2026`` would
bill ten years of renewals at once, and ``9999-12-31`` would never end), and so is one outside the supported years.
A run for a time in the past (a backfill, a catch-up) is always accepted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from overage.domain.instants import FIRST_YEAR, LAST_YEAR, in_supported_years, parse_instant, to_key
from overage.errors import InvalidRequest

MAX_AHEAD = timedelta(days=1)


def wall_clock() -> datetime:
    """The wall clock, read at the edge (tests move it to run a schedule ahead of today)."""
    return datetime.now(UTC)


def business_time(event: Any, now: datetime | None = None) -> datetime:
    if not isinstance(event, dict):
        raise InvalidRequest("a scheduled event must be a JSON object", {"event": "not an object"})
    for key in ("as_of", "time"):
        if key in event:
            try:
                as_of = parse_instant(str(event[key]))
            except (ValueError, OverflowError) as error:
                raise InvalidRequest(f"{key} is not an ISO-8601 instant with a time zone", {key: str(error)}) from None
            check_not_ahead(key, as_of, wall_clock() if now is None else now)
            return as_of
    raise InvalidRequest(
        "a scheduled event needs 'time' (EventBridge) or 'as_of' (manual run)",
        {"time": "missing", "as_of": "missing"},
    )


def check_not_ahead(key: str, as_of: datetime, now: datetime) -> None:
    """``InvalidRequest`` naming ``key`` when ``as_of`` lies outside the supported years or too far ahead of ``now``."""
    if not in_supported_years(as_of):
        raise InvalidRequest(
            f"{key} is outside the supported years", {key: f"must lie in the years {FIRST_YEAR}-{LAST_YEAR}"}
        )
    if as_of > now + MAX_AHEAD:
        raise InvalidRequest(
            f"{key} is more than a day ahead of the clock",
            {key: f"{to_key(as_of)} is after {to_key(now + MAX_AHEAD)}; a run bills what is due up to its time"},
        )
