"""Demo scenario: notices that reach people (spec §3.9): a bounced address suppressed, and one "I need help".

Besides its CRM events it has two actions, played at their time in the demo's timeline (``actions()``):
- SES reports a permanent bounce of the first email to ``demo_comm_bounced`` (an SNS-wrapped SES event, shaped as
  the SES developer guide shows, through EmailFeedbackFunction): the address is suppressed, the CRM is told once
  (``account.email_undeliverable``), and the next notice to it is recorded and on the bus but not emailed;
- the customer of ``demo_comm_help`` clicks "I need help" in its ``profiles.exceeded`` email: the link is taken from
  the email SES accepted and requested through the API's real route (``GET /feedback/{token}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from overage_local.demo_events import account_upserted
from overage_local.demo_format import notice_lines

TITLE = "Notices that reach people: a bounce suppresses an address, a customer asks for help (spec §3.9)"

BOUNCED = "demo_comm_bounced"
HELPED = "demo_comm_help"
ACCOUNTS = {
    BOUNCED: "standard USD: 215 profiles on 14 Jan (exceeded); SES: that email bounced for good; 190 on 19 Jan → "
    "the 'resolved' notice is recorded and on the bus, not emailed (suppressed)",
    HELPED: "standard USD: 230 profiles on 15 Jan (exceeded); the customer clicks 'I need help' in the email",
}
LOG: list[str] = []  # what the actions did, printed with the scenario's summary


def _profiles(account_id: str, n: int, at: str, count: int) -> dict[str, Any]:
    return {
        "id": f"evt_{account_id}_{n:02d}",
        "type": "profiles.counted",
        "occurred_at": at,
        "account_id": account_id,
        "data": {"count": count},
    }


def events() -> list[dict[str, Any]]:
    LOG.clear()
    return [
        account_upserted(BOUNCED, 0, "2026-01-12T09:00:00Z", started_on="2026-01-12", customer_since="2026-01-12"),
        _profiles(BOUNCED, 1, "2026-01-14T10:00:00Z", 215),
        _profiles(BOUNCED, 2, "2026-01-19T10:00:00Z", 190),
        account_upserted(HELPED, 0, "2026-01-12T09:00:00Z", started_on="2026-01-12", customer_since="2026-01-12"),
        _profiles(HELPED, 1, "2026-01-15T10:00:00Z", 230),
    ]


def _sent_email_to(address: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses import ses_backends

    for backend in ses_backends[DEFAULT_ACCOUNT_ID].values():
        for message in backend.sent_messages:
            if address in message.destinations.get("ToAddresses", []):
                return message
    raise LookupError(f"no email was sent to {address}")


def _bounce(world: Any) -> None:
    """SES's permanent bounce of the profiles.exceeded email, through EmailFeedbackFunction (SNS)."""
    from overage.domain.ses_tags import notice_tags

    from overage_local import runtime

    _, listed = world.get(f"/accounts/{BOUNCED}/notices")
    [notice] = [n for n in listed["notices"] if n["kind"] == "profiles.exceeded"]
    record = {
        "eventType": "Bounce",
        "bounce": {
            "feedbackId": "0100017f-demo-bounce",
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": notice["to"], "action": "failed", "status": "5.1.1"}],
            "timestamp": "2026-01-14T10:05:00.000Z",
            "reportingMTA": "dns; mx.example",
        },
        "mail": {
            "timestamp": "2026-01-14T10:00:00.000Z",
            "source": "billing@example.com",
            "messageId": notice["ses_message_id"],
            "destination": [notice["to"]],
            # the tags the outbox sent the email with, which SES publishes with its events (domain.ses_tags)
            "tags": {tag["Name"]: [tag["Value"]] for tag in notice_tags(BOUNCED, notice["notice_id"])},
        },
    }
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {"Type": "Notification", "Message": json.dumps(record), "Timestamp": "2026-01-14T10:05:01Z"},
            }
        ]
    }
    result = runtime.invoke(world.template, "EmailFeedbackFunction", event, None)
    LOG.append(f"  14 Jan 10:05  SES: permanent bounce of {notice['to']} → EmailFeedbackFunction: {result['outcomes']}")


def _ask_for_help(world: Any) -> None:
    """The customer clicks "I need help" in the email SES accepted, through the API's route."""
    from overage_local.api import HttpRequest, handle_request

    _, listed = world.get(f"/accounts/{HELPED}/notices")
    [notice] = [n for n in listed["notices"] if n["kind"] == "profiles.exceeded"]
    message = _sent_email_to(notice["to"])
    [url] = re.findall(r'href="([^"]+)">I need help</a>', message.body)
    path = "/feedback/" + url.rsplit("/feedback/", 1)[1]
    for click in ("first", "second"):
        response = handle_request(world.template, HttpRequest("GET", path, [], b""), None)
        [title] = re.findall(r"<h1>([^<]+)</h1>", response.body.decode())
        LOG.append(f"  15 Jan 12:00  {click} click of 'I need help' → {response.status}: {title}")


def actions() -> list[tuple[str, str, Callable[[Any], None]]]:
    """(business time, name, action) played in the demo's timeline."""
    return [
        ("2026-01-14T10:05:00Z", "ses bounce", _bounce),
        ("2026-01-15T12:00:00Z", "help click", _ask_for_help),
    ]


def summary(get: Callable[[str], tuple[int, Any]]) -> list[str]:
    lines = [*LOG]
    for account_id, story in ACCOUNTS.items():
        lines.append(f"{account_id}: {story}")
        _, listed = get(f"/accounts/{account_id}/notices")
        for notice in listed["notices"]:
            lines += notice_lines(notice)
    return lines
