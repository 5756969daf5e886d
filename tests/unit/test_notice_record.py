"""A notice record holds the parts the email is rendered from, never its text and HTML (issue 9: every renewal writes
one in a transaction, 2 WRU per KB): under 1 KB for a renewal invoice, and the email rendered from it is the one
rendered when the notice was made, byte for byte."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, date, datetime
from typing import Any

from overage.domain.account import Account
from overage.domain.catalog import default_catalog
from overage.domain.notice import Notice, render
from overage.domain.renewal import bill_renewal
from overage.notices.outbox import NoticeOutbox
from overage.notices.renewal import renewal_notice
from overage.store.dynamo import from_item
from overage.store.ledger import decompress_message, notice_from_record, notice_listed
from overage.store.report_index import PROJECTED
from overage_local.template import load_template

from tests.support import ROOT

CLAIMED_AT = datetime(2026, 2, 12, 0, 15, 3, tzinfo=UTC)
PHRASE_BOOK = ROOT / "layers/overage/overage/store/notice_phrases_v1.txt"
ACCOUNT = Account.model_validate(
    {
        "account_id": "acc_000042",
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "monthly",
        "currency": "USD",
        "started_on": date(2026, 1, 12),
        "billing_email": "billing@serenity-association.example",
        "paying_users": 3,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": date(2026, 1, 12),
    }
)
CAUSE = "inv_acc_000042_renewal_2026-02-12"
OVERRUN = (
    "Contact overrun: 130 active contacts at 2026-02-12 00:00 UTC reach tier t150 (34.00 USD/month) above the paid "
    "tier t50 (24.00 USD/month)"
)
# The invoice.issued notice as it was rendered before notices kept their parts (the text table is 136 wide)
TEXT = (
    "Invoice USD2026S0042-7 for 2026-02-12 to 2026-03-12 has been issued: 34.00 USD.\n"
    "\n"
    "On 2026-02-12 you had 130 active contacts, which is tier t150; your subscription pays for tier t50. The "
    "difference (10.00 USD) is added for this month.\n"
    "\n"
    f"  {'standard package, contact tier t50 (month)':<136}  24.00 USD\n"
    f"  {OVERRUN}  10.00 USD\n"
    f"  {'Net':<136}  34.00 USD\n"
    f"  {'VAT (0 %)':<136}  0.00 USD\n"
    f"  {'Total':<136}  34.00 USD\n"
    f"  {'Due by':<136}  2026-02-26\n"
    "\n"
    "What you can do:\n"
    "  - Archive contacts you no longer need: archived contacts are never counted.\n"
    "  - Move to tier t150 if you keep growing, to avoid a supplement every month.\n"
    "\n"
    f"Reference: acc_000042 / {CAUSE}\n"
)
CELL = "padding:6px 0;border-bottom:1px solid #dadce0;vertical-align:top"
TH = f'<tr><th scope="row" style="{CELL};text-align:left;font-weight:normal;padding-right:12px">'
TD = f'</th><td style="{CELL};text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums">'
P = '<p style="margin:0 0 10px">'
HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    "<title>Your invoice USD2026S0042-7: 34.00 USD</title></head>"
    '<body style="margin:0;padding:0;background:#f4f5f7"><div style="max-width:600px;margin:0 auto;padding:16px;'
    "background:#ffffff;color:#1b1b1b;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
    'overflow-wrap:anywhere">'
    '<h1 style="font-size:20px;line-height:1.3;margin:0 0 12px">Your invoice USD2026S0042-7: 34.00 USD</h1>'
    f"{P}Invoice USD2026S0042-7 for 2026-02-12 to 2026-03-12 has been issued: 34.00 USD.</p>"
    f"{P}On 2026-02-12 you had 130 active contacts, which is tier t150; your subscription pays for tier t50. The "
    "difference (10.00 USD) is added for this month.</p>"
    '<table role="presentation" style="width:100%;border-collapse:collapse;margin:12px 0">'
    f"{TH}standard package, contact tier t50 (month){TD}24.00 USD</td></tr>"
    f"{TH}{OVERRUN}{TD}10.00 USD</td></tr>"
    f"{TH}Net{TD}34.00 USD</td></tr>"
    f"{TH}VAT (0 %){TD}0.00 USD</td></tr>"
    f"{TH}Total{TD}34.00 USD</td></tr>"
    f"{TH}Due by{TD}2026-02-26</td></tr>"
    "</table>"
    '<h2 style="font-size:15px;margin:16px 0 6px">What you can do</h2><ul style="margin:0 0 12px;padding-left:20px">'
    '<li style="margin:0 0 4px">Archive contacts you no longer need: archived contacts are never counted.</li>'
    '<li style="margin:0 0 4px">Move to tier t150 if you keep growing, to avoid a supplement every month.</li>'
    "</ul>"
    f'<p style="color:#5f6368;font-size:13px;margin:0 0 10px">Reference: acc_000042 / {CAUSE}</p>'
    "</div></body></html>"
)
DETAIL = (
    '{"billing_date":"2026-02-12","currency":"USD","custom_quote":false,"gross":"34.00",'
    f'"invoice_id":"{CAUSE}","invoice_kind":"renewal","net":"34.00","number":"USD2026S0042-7",'
    '"overrun_supplement":"10.00","reached_tier":"t150","recommended_tier":null,"vat":"0.00"}'
)


def invoice_notice() -> Notice:
    """What a renewal bills most: a monthly t50 subscription with 130 active contacts (the t150 supplement)."""
    outcome = bill_renewal(
        ACCOUNT,
        date(2026, 2, 12),
        130,
        default_catalog(),
        previous_streak=0,
        issued_at=CLAIMED_AT.replace(second=0),
        number="USD2026S0042-7",  # as services.invoicing would give it
    )
    return renewal_notice(ACCOUNT, outcome)


def staged(notice: Notice) -> dict[str, Any]:
    """The item the renewal's transaction puts (DynamoDB JSON)."""
    outbox = NoticeOutbox(ledger_table="ledger", dynamodb=None, ses=None, events=None, sender="", bus_name="")
    put = outbox.stage(notice, CLAIMED_AT)["Put"]
    assert (put["TableName"], put["ConditionExpression"]) == ("ledger", "attribute_not_exists(sk)")
    return dict(put["Item"])


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (strings in UTF-8, binary as is)."""
    size = 0
    for name, value in item.items():
        ((kind, inner),) = value.items()
        assert kind in ("S", "B"), name
        size += len(name.encode()) + (len(inner.encode()) if kind == "S" else len(inner))
    return size


def test_the_invoice_notice_renders_as_it_did_when_notices_stored_their_text() -> None:
    notice = invoice_notice()
    assert notice.notice_id == f"ntc_invoice.issued_acc_000042_{CAUSE}"
    assert (notice.text, notice.html) == (TEXT, HTML)


def test_the_stored_invoice_notice_has_no_text_or_html_and_is_under_1_kb() -> None:
    item = staged(invoice_notice())
    packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, PHRASE_BOOK.read_bytes())
    message = (
        packer.compress(
            json.dumps(
                [
                    "billing@serenity-association.example",
                    "Your invoice USD2026S0042-7: 34.00 USD",
                    [
                        "Invoice USD2026S0042-7 for 2026-02-12 to 2026-03-12 has been issued: 34.00 USD.",
                        "On 2026-02-12 you had 130 active contacts, which is tier t150; your subscription pays for "
                        "tier t50. The difference (10.00 USD) is added for this month.",
                    ],
                    [
                        ["standard package, contact tier t50 (month)", "24.00 USD"],
                        [OVERRUN, "10.00 USD"],
                        ["Net", "34.00 USD"],
                        ["VAT (0 %)", "0.00 USD"],
                        ["Total", "34.00 USD"],
                        ["Due by", "2026-02-26"],
                    ],
                    [
                        "Archive contacts you no longer need: archived contacts are never counted.",
                        "Move to tier t150 if you keep growing, to avoid a supplement every month.",
                    ],
                ],
                separators=(",", ":"),
            ).encode()
        )
        + packer.flush()
    )
    assert item == {
        "pk": {"S": "acc_000042"},
        "sk": {"S": f"NOTICE#ntc_invoice.issued_acc_000042_{CAUSE}"},
        "record_type": {"S": "notice"},
        "kind": {"S": "invoice.issued"},
        "created_at": {"S": "2026-02-12T00:15:00+00:00"},
        "detail": {"S": DETAIL},
        "message": {"B": message},
        "delivery": {"S": "sending"},  # not "status": ReportIndex projects that, and marking it sent would write there
        "outbox_state": {"S": "pending"},
        "claimed_at": {"S": "2026-02-12T00:15:03.000000Z"},
        "report_key": {"S": "2026-02#15"},  # ReportIndex: February, the account's billing shard
    }
    # With its text and HTML this item was 3,696 bytes. The message is 778 bytes of JSON: about 430 compressed alone,
    # under 300 with the phrase book as zlib's preset dictionary (the exact count depends on the zlib build).
    unpacker = zlib.decompressobj(15, zdict=PHRASE_BOOK.read_bytes())
    assert len(unpacker.decompress(message)) == 778 and len(message) < 300
    assert item_bytes({name: value for name, value in item.items() if name != "message"}) == 536
    # Marked sent it gains the delivery time and SES's message id (60 characters, as SES writes them): still under
    # 1 KB, so the update is one write unit (issue 20), with room for account ids longer than this one's 10.
    sent = item | {
        "delivery": {"S": "sent"},
        "sent_at": {"S": "2026-02-12T00:15:04.000000Z"},
        "ses_message_id": {"S": "0102018d9a3f27c4-5c1e8f0a-7b2d-4f3e-9a1c-2d4e6f8a0b1c-000000"},
    }
    sent.pop("outbox_state")
    assert item_bytes(sent) < 1024 - 100


def test_the_phrase_book_a_stored_message_needs_is_the_one_shipped() -> None:
    # zlib names the dictionary a message was compressed with by its Adler-32: editing the phrase book would make
    # every message stored with it unreadable, so it is pinned; a new wording gets a new version beside it.
    assert zlib.adler32(PHRASE_BOOK.read_bytes()) == 0x61E2B0D8
    stored = bytes(from_item(staged(invoice_notice()))["message"].value)
    assert stored[:2] == bytes([0x78, 0xF9]) and stored[2:6] == (0x61E2B0D8).to_bytes(4, "big")  # FDICT, DICTID


def test_a_message_compressed_without_a_phrase_book_still_reads() -> None:
    record = from_item(staged(invoice_notice()))
    parts = decompress_message(record["message"])
    record["message"] = zlib.compress(json.dumps(parts, separators=(",", ":")).encode(), 9)
    assert notice_from_record(record) == invoice_notice()


def test_the_email_rendered_from_the_record_is_the_original_byte_for_byte() -> None:
    notice = invoice_notice()
    record = from_item(staged(notice))
    rebuilt = notice_from_record(record)
    assert rebuilt == notice
    assert rebuilt.text.encode() == notice.text.encode() == TEXT.encode()
    assert rebuilt.html.encode() == notice.html.encode() == HTML.encode()
    # and what GET /accounts/{id}/notices lists: the rendered email with the delivery state, as before
    assert notice_listed(record) == {
        "notice_id": f"ntc_invoice.issued_acc_000042_{CAUSE}",
        "account_id": "acc_000042",
        "kind": "invoice.issued",
        "to": "billing@serenity-association.example",
        "subject": "Your invoice USD2026S0042-7: 34.00 USD",
        "text": TEXT,
        "html": HTML,
        "detail": json.loads(DETAIL),
        "created_at": "2026-02-12T00:15:00+00:00",
        "record_type": "notice",
        "status": "sending",
        "claimed_at": "2026-02-12T00:15:03.000000Z",
    }


def test_every_part_survives_the_record_even_markup_and_non_ascii() -> None:
    notice = render(
        kind="profiles.exceeded",
        account_id="acc_é",
        cause="ep_1#opened",
        to="billing@acc.example",
        subject="Über <limit> & co",
        paragraphs=["Line with <b>tags</b> & “quotes”.", ""],
        breakdown=[("Profiles — counted", "230"), ("Fee", "50.00 €")],
        actions=[],
        detail={"count": 230, "nested": {"a": [1, 2]}},
        created_at="2026-03-01T00:00:00+00:00",
    )
    rebuilt = notice_from_record(from_item(staged(notice)))
    assert rebuilt == notice
    assert (rebuilt.text, rebuilt.html) == (notice.text, notice.html)
    assert rebuilt.text == (
        "Line with <b>tags</b> & “quotes”.\n\n\n\n  Profiles — counted  230\n  Fee                 50.00 €\n\n"
        "Reference: acc_é / ep_1#opened\n"
    )


def test_the_outbox_index_holds_keys_only_and_no_index_holds_the_email() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    indexes = {i["IndexName"]: i for i in resources["LedgerTable"]["Properties"]["GlobalSecondaryIndexes"]}
    outbox = indexes["OutboxIndex"]
    assert [k["AttributeName"] for k in outbox["KeySchema"]] == ["outbox_state", "claimed_at"]
    assert outbox["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert not {"text", "html", "message", "to", "subject"} & set(PROJECTED)


class RecordingDynamo:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        return {}


def test_marking_a_notice_sent_changes_nothing_the_report_index_projects() -> None:
    # Every attribute the mark-sent write sets or removes is outside ReportIndex's projection, so DynamoDB does not
    # write that index again for it (1 WRU per notice saved); the delivery state is "delivery", not "status".
    dynamo = RecordingDynamo()
    outbox = NoticeOutbox(ledger_table="ledger", dynamodb=dynamo, ses=None, events=None, sender="", bus_name="")
    outbox.deliver(invoice_notice(), datetime(2026, 2, 12, 0, 15, 4, tzinfo=UTC))

    [update] = dynamo.updates
    names = update["ExpressionAttributeNames"]
    expression = update["UpdateExpression"]
    touched = {names.get(word, word) for word in expression.replace(",", " ").split() if word not in ("SET", "REMOVE")}
    touched = {word for word in touched if not word.startswith(":") and word != "="}
    # no email here (no sender), so no ses_message_id is recorded (it is set only for a message SES accepted)
    assert touched == {"delivery", "sent_at", "outbox_state"}
    assert not (touched | {"ses_message_id"}) & set(PROJECTED)
    assert update["ExpressionAttributeValues"][":sent"] == {"S": "sent"}
