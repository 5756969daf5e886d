"""Business time of a scheduled run: the EventBridge ``time`` of the scheduled event, or ``{"as_of": ...}``.

A scheduled handler never reads the wall clock for business decisions (spec §1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overage.domain.instants import parse_instant
from overage.errors import InvalidRequest


def business_time(event: Any) -> datetime:
    if not isinstance(event, dict):
        raise InvalidRequest("a scheduled event must be a JSON object", {"event": "not an object"})
    for key in ("as_of", "time"):
        if key in event:
            try:
                return parse_instant(str(event[key]))
            except ValueError as error:
                raise InvalidRequest(f"{key} is not an ISO-8601 instant with a time zone", {key: str(error)}) from None
    raise InvalidRequest(
        "a scheduled event needs 'time' (EventBridge) or 'as_of' (manual run)",
        {"time": "missing", "as_of": "missing"},
    )
