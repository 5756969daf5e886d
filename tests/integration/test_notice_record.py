"""The email a customer receives is the one GET /accounts/{id}/notices lists, though the notice record stores only
the parts it is rendered from (issue 9), also when a notice whose sender died is redelivered from the keys-only
OutboxIndex. The email ends with the two signed feedback links (issue 18), which the API's listing leaves out (they
are the customer's credential, not the CRM's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from overage.runtime import aws

from tests.reliability.harness import redeliver_after_lease
from tests.support import World, contacts_body, series_of, upsert_body

NUMBER = f"{series_of('acc_1', 'USD', 2026)}-1"  # its first invoice of 2026, alone in its series
SUBJECT = f"Your invoice {NUMBER}: 34.00 USD"
FIRST_PARAGRAPH = f"Invoice {NUMBER} for 2026-02-10 to 2026-03-10 has been issued: 34.00 USD.\n\n"
REFERENCE = "Reference: acc_1 / inv_acc_1_renewal_2026-02-10\n"
STORED = {"pk", "sk", "record_type", "kind", "created_at", "detail", "message", "report_key", "delivery", "claimed_at"}


@pytest.fixture
def sent_emails(world: World) -> Iterator[list[dict[str, Any]]]:
    """Every SendEmail request the functions made, as they made it (moto keeps only the HTML body)."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    events = aws.client("sesv2").meta.events
    events.register("provide-client-params.sesv2.SendEmail", record, unique_id="test-notice-record")
    yield sent
    events.unregister("provide-client-params.sesv2.SendEmail", unique_id="test-notice-record")


def given_an_overrun_billed_on_10_february(world: World) -> None:
    assert world.webhook(upsert_body("acc_1", billing_cycle="monthly"))[0] == 202
    assert world.webhook(contacts_body("acc_1", "2026-02-01T00:00:00Z", 130))[0] == 202


# The local template's API URL (PublicApiUrl empty: https://<api id>.execute-api.<region>.amazonaws.com/v1) and the
# local feedback key `overage local up` creates (OVERAGE_FEEDBACK_SECRET's default).
FEEDBACK_BASE = "https://crmapi0000.execute-api.eu-west-1.amazonaws.com/v1/feedback/"
FEEDBACK_KEY = b"local-feedback-secret"


def feedback_url(account_id: str, notice_id: str, answer: str) -> str:
    """The token as README documents it: urlsafe base64 (no padding) of HMAC-SHA256 ‖ the text it signs."""
    text = f"{answer}\n{account_id}\n{notice_id}".encode()
    mac = hmac.new(FEEDBACK_KEY, text, hashlib.sha256).digest()
    return FEEDBACK_BASE + base64.urlsafe_b64encode(mac + text).rstrip(b"=").decode()


def document_url(account_id: str, invoice_id: str) -> str:
    """The invoice's public document link as README documents it: the feedback key, its own purpose."""
    text = f"invoice-document\n{account_id}\n{invoice_id}".encode()
    mac = hmac.new(FEEDBACK_KEY, text, hashlib.sha256).digest()
    base = FEEDBACK_BASE.removesuffix("feedback/") + "invoices/"
    return base + base64.urlsafe_b64encode(mac + text).rstrip(b"=").decode()


# The template's seller defaults (SellerLegalName, SellerVatNumber): every email opens with them.
SELLER_TEXT = "Overage Example Ltd (VAT number GB000000000)\n\n"
SELLER_HTML = (
    '<div style="border-bottom:2px solid #1b1b1b;padding-bottom:8px;margin-bottom:12px"><strong>Overage Example Ltd'
    '</strong><br><span style="color:#5f6368;font-size:13px;margin:0 0 10px">VAT number GB000000000</span></div>'
)
REFERENCE_HTML = '<p style="color:#5f6368;font-size:13px;margin:0 0 10px">Reference:'


def with_links(notice: dict[str, Any]) -> tuple[str, str]:
    """The listed notice's text and HTML as emailed: the seller's header first, the invoice's document link before
    the reference, then the feedback footer."""
    clear = feedback_url(notice["account_id"], notice["notice_id"], "clear")
    help_ = feedback_url(notice["account_id"], notice["notice_id"], "help")
    document = document_url(notice["account_id"], notice["detail"]["invoice_id"])
    reference = f"Reference: {notice['account_id']} / {notice['detail']['invoice_id']}\n"
    assert notice["text"].endswith(reference)
    text = SELLER_TEXT + notice["text"].removesuffix(reference)
    text += f"View or print the invoice: {document}\n\n{reference}"
    text += f"\nWas this notice clear?\n  This was clear: {clear}\n  I need help: {help_}\n"
    link = 'style="display:inline-block;margin:4px 8px 4px 0;padding:6px 12px;border:1px solid #999;color:#0645ad"'
    footer = (
        '<p style="margin-top:24px;border-top:1px solid #ddd;padding-top:12px">Was this notice clear?<br>'
        f'<a {link} href="{clear}">This was clear</a><a {link} href="{help_}">I need help</a></p>'
    )
    button = (
        '<p style="margin:0 0 10px"><a style="display:inline-block;padding:8px 14px;background:#1b1b1b;'
        f'color:#ffffff;text-decoration:none;border-radius:4px" href="{document}">View or print the invoice</a></p>'
    )
    html = notice["html"]
    assert html.endswith("</div></body></html>") and html.count(REFERENCE_HTML) == 1
    html = html.replace("<h1", SELLER_HTML + "<h1", 1).replace(REFERENCE_HTML, button + REFERENCE_HTML)
    return text, html.removesuffix("</div></body></html>") + footer + "</div></body></html>"


def email_of(notice: dict[str, Any]) -> dict[str, Any]:
    """The SendEmail request a listed notice stands for."""
    text, html = with_links(notice)
    return {
        "FromEmailAddress": "billing@example.com",  # the template's SenderEmail default,
        "Destination": {"ToAddresses": [notice["to"]]},
        "Content": {
            "Simple": {
                "Subject": {"Data": notice["subject"], "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": text, "Charset": "UTF-8"},
                    "Html": {"Data": html, "Charset": "UTF-8"},
                },
            }
        },
        "EmailTags": [
            {"Name": "notice_kind", "Value": "invoice_issued"},
            # the notice's keys, unpadded URL-safe base64: "acc_1" and this invoice's notice id (domain.ses_tags)
            {"Name": "overage_account", "Value": "YWNjXzE"},
            {
                "Name": "overage_notice",
                "Value": "bnRjX2ludm9pY2UuaXNzdWVkX2FjY18xX2ludl9hY2NfMV9yZW5ld2FsXzIwMjYtMDItMTA",
            },
        ],
        # the template's NoticeConfigurationSet: its bounces, complaints and deliveries reach EmailFeedbackFunction
        "ConfigurationSetName": "overage-local-notices",
    }


def test_the_email_ses_received_is_the_notice_get_notices_lists(world: World, sent_emails: list[dict]) -> None:
    given_an_overrun_billed_on_10_february(world)
    world.renewal("2026-02-10T00:15:00Z")

    status, listed = world.get("/accounts/acc_1/notices")
    assert status == 200
    [notice] = listed["notices"]
    assert (notice["to"], notice["subject"], notice["status"]) == ("billing@acc_1.example", SUBJECT, "sent")
    assert notice["text"].startswith(FIRST_PARAGRAPH) and notice["text"].endswith(REFERENCE)
    assert sent_emails == [email_of(notice)]
    [message] = world.emails()
    assert (message.subject, message.body, message.destinations) == (
        SUBJECT,
        with_links(notice)[1],
        {"ToAddresses": ["billing@acc_1.example"]},
    )
    assert notice["ses_message_id"] == message.id
    # The record holds the parts, not the email
    [record] = world.ledger("acc_1", "NOTICE#")
    assert set(record) == STORED | {"sent_at", "ses_message_id"}


def test_a_notice_whose_sender_died_is_redelivered_from_the_keys_only_index_with_the_same_email(
    world: World, sent_emails: list[dict]
) -> None:
    given_an_overrun_billed_on_10_february(world)
    refusals: list[str] = []

    def refuse_once(**_: Any) -> None:
        if not refusals:
            refusals.append("SendEmail")
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected"}}, "SendEmail")

    events = aws.client("sesv2").meta.events
    events.register("before-call.sesv2.SendEmail", refuse_once, unique_id="test-refuse-once")
    try:
        world.renewal("2026-02-10T00:15:00Z")
    finally:
        events.unregister("before-call.sesv2.SendEmail", unique_id="test-refuse-once")
    assert (refusals, len(sent_emails), world.emails()) == (["SendEmail"], 1, [])
    # The notice stayed claimed: OutboxIndex lists it, keys only
    pending = world.ddb.query(
        TableName=world.ledger_table,
        IndexName="OutboxIndex",
        KeyConditionExpression="outbox_state = :p",
        ExpressionAttributeValues={":p": {"S": "pending"}},
    )["Items"]
    assert [sorted(item) for item in pending] == [["claimed_at", "outbox_state", "pk", "sk"]]
    [record] = world.ledger("acc_1", "NOTICE#")
    # and says its bus event went out, so the redelivery only emails (issue 18: the bus event is published once)
    assert set(record) == STORED | {"outbox_state", "bus_published"}

    assert redeliver_after_lease(world, "RenewalBillingFunction") == 1

    [notice] = world.get("/accounts/acc_1/notices")[1]["notices"]
    assert (notice["subject"], notice["status"]) == (SUBJECT, "sent")
    assert sent_emails == [email_of(notice), email_of(notice)]  # refused, then redelivered: the same email
    [message] = world.emails()
    assert (message.subject, message.body) == (SUBJECT, with_links(notice)[1])
