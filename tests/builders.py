"""One builder per CRM event type (spec §4): the body the CRM would send, with sensible defaults (the seed's Serenity
association: standard, t50, annual, USD, started 10 Jan 2026) that a test overrides by keyword."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from overage.domain.account import Account


def upsert_body(account_id: str = "acc_42", **data: Any) -> dict[str, Any]:
    """An account.upserted body: the seed's Serenity association unless told otherwise."""
    fields: dict[str, Any] = {
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "annual",
        "currency": "USD",
        "started_on": "2026-01-10",
        "billing_email": f"billing@{account_id}.example",
        "paying_users": 3,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": "2026-01-10",
    }
    occurred_at = data.pop("occurred_at", None)
    event_id = data.pop("id", None)
    fields.update(data)
    started = date.fromisoformat(str(fields["started_on"]))
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": "account.upserted",
        "occurred_at": occurred_at or f"{started.isoformat()}T08:00:00Z",
        "account_id": account_id,
        "data": fields,
    }


def contacts_body(account_id: str, occurred_at: str, active: int, archived: int = 0) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}",
        "type": "contacts.counted",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": {"active": active, "archived": archived},
    }


def profiles_body(account_id: str, occurred_at: str, count: int) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}",
        "type": "profiles.counted",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": {"count": count},
    }


def call_body(
    account_id: str,
    call_id: str,
    started_at: str,
    duration_seconds: int,
    user_id: str = "u1",
    *,
    occurred_at: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A call.completed body; ``occurred_at`` defaults to the call's end."""
    from datetime import timedelta

    from overage.domain.instants import parse_instant

    ended = parse_instant(started_at) + timedelta(seconds=max(duration_seconds, 0))
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": "call.completed",
        "occurred_at": occurred_at or ended.isoformat().replace("+00:00", "Z"),
        "account_id": account_id,
        "data": {
            "call_id": call_id,
            "user_id": user_id,
            "started_at": started_at,
            "duration_seconds": duration_seconds,
        },
    }


def payment_body(
    account_id: str,
    occurred_at: str,
    invoice_id: str,
    amount: str,
    currency: str,
    *,
    event_id: str | None = None,
    payment_id: str | None = None,
) -> dict[str, Any]:
    """A payment.received body (the amount as a JSON string, as money is written everywhere)."""
    data = {"invoice_id": invoice_id, "amount": amount, "currency": currency}
    if payment_id is not None:
        data["payment_id"] = payment_id
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": "payment.received",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": data,
    }


def _adjustment(kind: str, account_id: str, occurred_at: str, event_id: str | None, **data: Any) -> dict[str, Any]:
    data.setdefault("reason", "Agreed with the customer on the phone")
    data.setdefault("requested_by", "agent@vendor.example")
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "type": kind,
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": data,
    }


def refund_body(
    account_id: str, occurred_at: str, amount: str, currency: str, *, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """A credit.refunded body: the vendor paid ``amount`` of the credit back to the customer."""
    return _adjustment("credit.refunded", account_id, occurred_at, event_id, amount=amount, currency=currency, **data)


def void_body(
    account_id: str, occurred_at: str, invoice_id: str, *, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """An invoice.void_requested body."""
    return _adjustment("invoice.void_requested", account_id, occurred_at, event_id, invoice_id=invoice_id, **data)


def grant_body(
    account_id: str, occurred_at: str, amount: str, currency: str, *, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """A credit.granted body: a goodwill credit of ``amount`` ex VAT."""
    return _adjustment("credit.granted", account_id, occurred_at, event_id, amount=amount, currency=currency, **data)


def extend_body(
    account_id: str, occurred_at: str, days: int, *, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """A grace.extend_requested body."""
    return _adjustment("grace.extend_requested", account_id, occurred_at, event_id, days=days, **data)


def change_body(account_id: str, occurred_at: str, event_id: str = "evt_chg_1", **data: Any) -> dict[str, Any]:
    data.setdefault("reason", "The customer asked for it on the phone")
    data.setdefault("requested_by", "support:ann")
    return {
        "id": event_id,
        "type": "plan.change_requested",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": data,
    }


# ---------------------------------------------------------------- what SES says of a notice email (spec §3.9)
def keys(notice: dict[str, Any]) -> tuple[str, str]:
    """(account id, notice id) of a notice as ``GET /accounts/{id}/notices`` lists it."""
    return str(notice["account_id"]), str(notice["notice_id"])


def ses_event(
    event_type: str,
    ses_message_id: str,
    recipient: str,
    *,
    notice: tuple[str, str] | None,
    bounce_type: str = "Permanent",
    timestamp: str = "2026-02-05T10:01:00.000Z",
) -> dict[str, Any]:
    """An SES event record as a configuration set publishes it to SNS (the SES developer guide's examples: "Examples
    of event data that Amazon SES publishes to Amazon SNS"), for ``Bounce``, ``Complaint`` or ``Delivery``, with the
    message tags the outbox sent the email with: ``notice`` is the (account id, notice id) they name (None: an email
    without them)."""
    from overage.domain.ses_tags import notice_tags

    own = {tag["Name"]: [tag["Value"]] for tag in notice_tags(*notice)} if notice else {}
    mail = {
        "timestamp": "2026-02-05T10:00:00.000Z",
        "source": "billing@example.com",
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/billing@example.com",
        "sendingAccountId": "123456789012",
        "messageId": ses_message_id,
        "destination": [recipient],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "billing@example.com"},
            {"name": "To", "value": recipient},
            {"name": "Subject", "value": "A notice from overage"},
        ],
        "commonHeaders": {"from": ["billing@example.com"], "to": [recipient], "subject": "A notice from overage"},
        "tags": {
            "ses:configuration-set": ["overage-local-notices"],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": ["example.com"],
            "ses:caller-identity": ["overage"],
            "notice_kind": ["profiles_exceeded"],
            **own,
        },
    }
    record: dict[str, Any] = {"eventType": event_type, "mail": mail}
    if event_type == "Bounce":
        permanent = bounce_type == "Permanent"
        record["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General" if permanent else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": recipient,
                    "action": "failed",
                    "status": "5.1.1" if permanent else "4.2.2",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown" if permanent else "smtp; 452 4.2.2 mailbox full",
                }
            ],
            "timestamp": timestamp,
            "feedbackId": f"feedback-{ses_message_id}",
            "reportingMTA": "dsn; mta.example.com",
        }
    elif event_type == "Complaint":
        record["complaint"] = {
            "complainedRecipients": [{"emailAddress": recipient}],
            "timestamp": timestamp,
            "feedbackId": f"feedback-{ses_message_id}",
            "userAgent": "Mozilla/5.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": timestamp,
        }
    elif event_type == "Delivery":
        record["delivery"] = {
            "timestamp": timestamp,
            "processingTimeMillis": 1200,
            "recipients": [recipient],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "mta.example.com",
        }
    return record


def sns_event(*records: dict[str, Any], topic: str = "overage-local-EmailFeedbackTopic") -> dict[str, Any]:
    """The Lambda event SNS delivers for each message (one record per message, as SNS invokes a function)."""
    arn = f"arn:aws:sns:eu-west-1:123456789012:{topic}"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{arn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb5{index}",
                    "TopicArn": arn,
                    "Subject": None,
                    "Message": json.dumps(record),
                    "Timestamp": "2026-02-05T10:01:01.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
                    "UnsubscribeUrl": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={arn}",
                    "MessageAttributes": {},
                },
            }
            for index, record in enumerate(records)
        ]
    }


# ---------------------------------------------------------------- the account item as the domain sees it
def account_model(**fields: Any) -> Account:
    """An ``Account`` (the domain's view of the account item) for the pure-rule tests: monthly, standard, t50, USD,
    started 10 Jan 2026, three paying users, unless told otherwise."""
    values: dict[str, Any] = {
        "account_id": "acc_1",
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "monthly",
        "currency": "USD",
        "started_on": date(2026, 1, 10),
        "billing_email": "billing@example.com",
        "paying_users": 3,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": date(2026, 1, 10),
    }
    return Account.model_validate(values | fields)


def catalog_restricting(kind: str, days: int) -> str:
    """The bundled catalog with invoices of ``kind`` restricting the account ``days`` days after they go overdue
    (``policy.dunning.restrict_after_days_overdue``; the bundled one never restricts but for fees), as the JSON a
    ``CatalogParameterName`` parameter holds."""
    from overage.domain.catalog import CATALOG_FILE

    from tests.support import ROOT

    document = json.loads((ROOT / "layers/overage/overage/domain" / CATALOG_FILE).read_text())
    document["policy"]["dunning"]["restrict_after_days_overdue"][kind] = days
    return json.dumps(document)


def create_pk_sk_table(client: Any, name: str) -> None:
    """A table keyed as the ledger is (``pk`` and ``sk``, strings), on demand."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
