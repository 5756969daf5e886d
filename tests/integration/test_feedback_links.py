"""The feedback links of a notice email, clicked (spec §3.9): through CrmWebhookFunction as API Gateway hands it
``GET /feedback/{token}``, with the links taken from the email moto's SES received.

The fixture: acc_1 (standard, limit 200) counts 205 profiles on 5 Feb 2026, so the webhook emails it one
``profiles.exceeded`` notice, whose email ends with the two links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.builders import profiles_body, upsert_body
from tests.support import World, moto_world, rest_event

ACCOUNT = "acc_1"
BASE = "https://crmapi0000.execute-api.eu-west-1.amazonaws.com/v1"  # the local API's URL (PublicApiUrl empty)


@pytest.fixture
def world() -> Iterator[World]:
    with moto_world({"LogLevel": "ERROR"}) as world:
        world.accepted(upsert_body(ACCOUNT))
        world.accepted(profiles_body(ACCOUNT, "2026-02-05T10:00:00Z", 205))
        yield world


def links(world: World) -> dict[str, str]:
    """The two links of the one email sent, by label, from its HTML as SES received it."""
    [message] = world.emails()
    found = dict((label, href) for href, label in re.findall(r'<a [^>]*href="([^"]+)">([^<]+)</a>', message.body))
    assert set(found) == {"This was clear", "I need help"}
    assert all(href.startswith(BASE + "/feedback/") for href in found.values())
    return found


def click(world: World, url: str) -> tuple[int, str, dict[str, str]]:
    path = url.removeprefix(BASE)
    result = world.invoke("CrmWebhookFunction", rest_event("GET", path, headers={"Content-Type": "text/html"}))
    headers = {name: values[-1] for name, values in result["multiValueHeaders"].items()}
    return result["statusCode"], result["body"], headers


def notice_record(world: World) -> dict[str, Any]:
    [record] = [r for r in world.ledger(ACCOUNT, "NOTICE#") if r["kind"] == "profiles.exceeded"]
    return record


def ledger_snapshot(world: World) -> list[dict[str, Any]]:
    """Every ledger item of the account, and the account item itself."""
    items = world.ddb.query(
        TableName=world.ledger_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ACCOUNT}},
    )["Items"]
    return [*sorted(items, key=lambda item: item["sk"]["S"]), world.account_item(ACCOUNT)]


def help_events(world: World) -> list[dict[str, Any]]:
    return [e for e in world.bus_events() if e["detail-type"] == "notice.help_requested"]


def signed(notice_id: str, answer: str, key: bytes = b"local-feedback-secret") -> str:
    text = f"{answer}\n{ACCOUNT}\n{notice_id}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, text, hashlib.sha256).digest() + text).rstrip(b"=").decode()


def notice_id(world: World) -> str:
    """The profiles.exceeded notice's id (its episode's id names the event that opened it)."""
    sk = str(notice_record(world)["sk"])
    assert sk.startswith("NOTICE#ntc_profiles.exceeded_acc_1_20260205T100000Z-")
    return sk.removeprefix("NOTICE#")


def test_the_email_links_are_the_notices_signed_tokens(world: World) -> None:
    found = links(world)
    answered = notice_id(world)
    assert found == {
        "This was clear": f"{BASE}/feedback/{signed(answered, 'clear')}",
        "I need help": f"{BASE}/feedback/{signed(answered, 'help')}",
    }
    [message] = world.emails()
    assert "Was this notice clear?" in message.body


def test_clear_is_recorded_once_and_a_later_click_changes_nothing(world: World) -> None:
    found = links(world)
    status, page, headers = click(world, found["This was clear"])
    assert status == 200 and "Your answer &ldquo;This was clear&rdquo; is recorded" in page
    assert headers["Content-Type"] == "text/html; charset=utf-8" and headers["Cache-Control"] == "no-store"
    assert "<script" not in page and "src=" not in page and 'name="viewport"' in page
    record = notice_record(world)
    assert record["answer"] == "clear" and record["answered_at"]
    before = ledger_snapshot(world)

    for label in ("This was clear", "I need help"):  # a second click of either link: the first answer stands
        status, page, _ = click(world, found[label])
        assert status == 200 and "already have your answer to this notice: &ldquo;This was clear&rdquo;" in page
    assert ledger_snapshot(world) == before
    assert help_events(world) == []


def test_help_puts_notice_help_requested_on_the_bus_once(world: World) -> None:
    found = links(world)
    emails_before = len(world.emails())
    status, page, _ = click(world, found["I need help"])
    assert status == 200 and "our support team has been told" in page
    assert notice_record(world)["answer"] == "help"
    answered = notice_id(world)
    [event] = help_events(world)
    help_id = "ntc_notice.help_requested_acc_1_" + answered
    assert event["detail"] == {
        "account_id": ACCOUNT,
        "notice_id": help_id,
        "answered_notice_id": answered,
        "answered_notice_kind": "profiles.exceeded",
    }
    # recorded on the account like every notice, emailed to nobody
    [told] = [n for n in world.notices(ACCOUNT) if n["kind"] == "notice.help_requested"]
    assert (told["notice_id"], told["status"], told["to"]) == (help_id, "sent", "")
    assert len(world.emails()) == emails_before

    before = ledger_snapshot(world)
    for _ in range(2):
        status, page, _ = click(world, found["I need help"])
        assert status == 200 and "already have your answer to this notice: &ldquo;I need help&rdquo;" in page
    assert (ledger_snapshot(world), len(help_events(world))) == (before, 1)


def test_the_route_is_in_the_openapi_document_as_public(world: World) -> None:
    _, document = world.get("/openapi.json")
    operation = document["paths"]["/feedback/{token}"]["get"]
    assert (operation["security"], set(operation["responses"])) == ([], {"200", "404"})


def test_a_forged_altered_truncated_or_unknown_notice_token_is_404_and_records_nothing(world: World) -> None:
    genuine = links(world)["I need help"].removeprefix(BASE + "/feedback/")
    before = ledger_snapshot(world)
    flipped = genuine[:10] + ("A" if genuine[10] != "A" else "B") + genuine[11:]
    for token in (
        genuine[:-1],  # truncated
        genuine[:40],
        flipped,  # one character altered
        signed(notice_id(world), "help", key=b"not-the-key"),  # forged with another key
        signed(notice_id(world), "help", key=b"local-dev-secret"),  # the webhook secret is not the feedback key
        signed("ntc_profiles.exceeded_acc_1_nothing", "help"),  # genuine MAC, but no such notice
        "not-a-token",
    ):
        status, page, _ = click(world, f"{BASE}/feedback/{token}")
        assert status == 404 and "This link is not valid" in page, token
    assert ledger_snapshot(world) == before
    assert "answer" not in notice_record(world) and help_events(world) == []


def test_two_clicks_at_once_record_only_one_answer(world: World) -> None:
    """Both clicks read the notice before either writes: the conditional write lets one answer in, the other click
    is told the answer already recorded (the one that won), and the bus gets notice.help_requested once."""
    from overage.runtime import aws

    found = links(world)
    interleaved: list[int] = []
    started: list[bool] = []

    def the_other_click_meanwhile(parsed: dict[str, Any], **_: Any) -> None:
        item = parsed.get("Item") or {}
        if not started and item.get("sk", {}).get("S", "").startswith("NOTICE#") and "answer" not in item:
            started.append(True)
            interleaved.append(click(world, found["I need help"])[0])  # whole, between our read and our write

    events = aws.client("dynamodb").meta.events
    events.register("after-call.dynamodb.GetItem", the_other_click_meanwhile, unique_id="test-interleave")
    try:
        status, page, _ = click(world, found["This was clear"])
    finally:
        events.unregister("after-call.dynamodb.GetItem", unique_id="test-interleave")
    assert interleaved == [200]
    assert status == 200 and "already have your answer to this notice: &ldquo;I need help&rdquo;" in page
    assert notice_record(world)["answer"] == "help"
    assert len(help_events(world)) == 1
