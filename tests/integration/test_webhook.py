"""The webhook slice in-process (spec §4): every status code, last-writer-wins, and the standing read back."""

from __future__ import annotations

import base64
import json
import time

from tests.support import EVENTS, World, contacts_body, profiles_body, upsert_body


def test_upsert_then_counts_then_standing(world: World) -> None:
    # Given a new account
    status, body = world.webhook(upsert_body("acc_42"))
    assert (status, body["outcome"]) == (202, "created")
    # When the CRM reports contacts and profiles
    assert world.webhook(contacts_body("acc_42", "2026-02-05T10:00:00Z", 70, 5))[0] == 202
    assert world.webhook(profiles_body("acc_42", "2026-02-05T10:00:00Z", 205))[0] == 202
    # Then the standing shows them, with tiers and limits from the catalog
    status, standing = world.get("/accounts/acc_42")
    assert status == 200
    assert standing["contacts"] == {
        "active": 70,
        "archived": 5,
        "as_of": "2026-02-05T10:00:00.000000Z",
        "tier_reached": "t100",
        "custom_quote": False,
        "in_overrun": True,
    }
    assert standing["profiles"]["count"] == 205
    assert standing["profiles"]["limit"] == 200
    assert standing["profiles"]["excess"] == 5
    assert standing["next_billing_date"] == "2026-02-10"
    assert standing["restricted"] is False
    # And the account item holds the shard and due date the renewal index needs
    item = world.account_item("acc_42")
    assert item["next_billing_date"] == "2026-02-10"
    assert len(item["billing_shard"]) == 2


def test_same_id_again_is_200_with_the_first_result_applied_once(world: World) -> None:
    world.webhook(upsert_body("acc_42"))
    event = contacts_body("acc_42", "2026-02-05T10:00:00Z", 70)
    first = world.webhook(event)
    # a newer snapshot lands in between; replaying the old id must not re-apply 70
    world.webhook(contacts_body("acc_42", "2026-02-06T10:00:00Z", 48))
    again = world.webhook(event)
    assert first == (202, {"id": event["id"], "type": "contacts.counted", "account_id": "acc_42", "outcome": "applied"})
    assert again == (200, first[1])
    assert world.account_item("acc_42")["contacts_active"] == 48


def test_same_id_with_a_different_body_is_409_and_changes_nothing(world: World) -> None:
    world.webhook(upsert_body("acc_42"))
    event = contacts_body("acc_42", "2026-02-05T10:00:00Z", 70)
    world.webhook(event)
    altered = {**event, "data": {"active": 999, "archived": 0}}
    status, body = world.webhook(altered)
    assert status == 409
    assert "different event" in body["message"]
    assert world.account_item("acc_42")["contacts_active"] == 70


def test_an_older_snapshot_arriving_late_changes_nothing(world: World) -> None:
    world.webhook(upsert_body("acc_42"))
    world.webhook(contacts_body("acc_42", "2026-02-06T10:00:00Z", 48))
    status, body = world.webhook(contacts_body("acc_42", "2026-02-05T10:00:00Z", 70))
    assert (status, body["outcome"]) == (202, "stale")
    item = world.account_item("acc_42")
    assert (item["contacts_active"], item["contacts_version"][:20]) == (48, "2026-02-06T10:00:00.")


def test_an_older_upsert_arriving_late_changes_nothing(world: World) -> None:
    world.webhook(upsert_body("acc_42", contact_tier="t150", occurred_at="2026-03-01T00:00:00Z"))
    status, body = world.webhook(upsert_body("acc_42", contact_tier="t50", occurred_at="2026-02-01T00:00:00Z"))
    assert (status, body["outcome"]) == (202, "stale")
    assert world.account_item("acc_42")["contact_tier"] == "t150"


def test_bad_signature_wrong_secret_and_stale_or_future_timestamps_are_401(world: World) -> None:
    body = upsert_body("acc_42")
    assert world.webhook(body, secret="not-the-secret")[0] == 401
    assert world.webhook(body, signature="t=123")[0] == 401
    assert world.webhook(body, signature="")[0] == 401
    assert world.webhook(body, timestamp=int(time.time()) - 301)[0] == 401
    assert world.webhook(body, timestamp=int(time.time()) + 301)[0] == 401
    assert world.webhook(body, timestamp=int(time.time()) - 290)[0] == 202


def test_a_signature_replayed_onto_another_body_is_401(world: World) -> None:
    from overage.domain.signature import sign_header

    original = json.dumps(upsert_body("acc_42")).encode()
    header = sign_header("local-dev-secret", original, int(time.time()))
    tampered = json.dumps(upsert_body("acc_42", contact_tier="t2500")).encode()
    assert world.webhook(tampered, signature=header)[0] == 401
    assert world.account_item("acc_42") == {}


def test_malformed_json_and_non_utf8_are_400(world: World) -> None:
    assert world.webhook(b'{"id": "evt_1", ')[0] == 400
    assert world.webhook(b"\xff\xfe{}")[0] == 400


def test_schema_violations_are_422_naming_each_field(world: World) -> None:
    body = upsert_body("acc_42", paying_users=-1, billing_cycle="weekly")
    del body["data"]["currency"]
    body["occurred_at"] = "2026-02-05T10:00:00"
    status, answer = world.webhook(body)
    assert status == 422
    fields = {error["field"] for error in answer["errors"]}
    assert fields == {"occurred_at", "data.paying_users", "data.billing_cycle", "data.currency"}
    assert world.account_item("acc_42") == {}


def test_unknown_catalog_codes_are_422_naming_the_field(world: World) -> None:
    status, answer = world.webhook(upsert_body("acc_42", contact_tier="t75", package="gold", currency="EUR"))
    assert status == 422
    fields = {error["field"]: error["message"] for error in answer["errors"]}
    assert set(fields) == {"data.contact_tier", "data.package", "data.currency"}
    assert "t50" in fields["data.contact_tier"]


def test_unknown_type_and_strict_counts_are_422(world: World) -> None:
    world.webhook(upsert_body("acc_42"))
    status, answer = world.webhook({**contacts_body("acc_42", "2026-02-05T10:00:00Z", 1), "type": "contacts.guessed"})
    assert (status, answer["errors"][0]["field"]) == (422, "type")
    body = contacts_body("acc_42", "2026-02-05T10:00:00Z", 1)
    body["data"]["active"] = "70"
    status, answer = world.webhook(body)
    assert (status, answer["errors"][0]["field"]) == (422, "data.active")


def test_more_than_five_minutes_in_the_future_is_422(world: World) -> None:
    world.webhook(upsert_body("acc_42"))
    status, answer = world.webhook(contacts_body("acc_42", "2099-01-01T00:00:00Z", 1))
    assert (status, answer["errors"][0]["field"]) == (422, "occurred_at")


def test_unknown_account_is_404_and_nothing_is_written(world: World) -> None:
    status, answer = world.webhook(contacts_body("acc_nobody", "2026-02-05T10:00:00Z", 70))
    assert status == 404
    assert "acc_nobody" in answer["message"]
    assert (
        world.ddb.query(
            TableName=world.accounts_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "acc_nobody"}},
        )["Items"]
        == []
    )
    assert world.get("/accounts/acc_nobody")[0] == 404


def test_body_over_256_kib_is_413(world: World) -> None:
    body = upsert_body("acc_42")
    raw = json.dumps(body).encode()
    padded = raw[:-1] + b"," + b'"pad": "' + b"x" * (256 * 1024) + b'"}'
    assert world.webhook(padded)[0] == 413


def test_sam_generated_aws_proxy_event_with_a_signed_body_is_accepted(world: World) -> None:
    # Given the event `sam local generate-event apigateway aws-proxy` produces, carrying a signed body
    event = json.loads((EVENTS / "crm_webhook__sam_generated_post.json").read_text())
    raw = (EVENTS / "webhooks" / "account_upserted.json").read_bytes()
    from overage.domain.signature import sign_header

    event["body"] = base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    event["headers"]["Overage-Signature"] = sign_header("local-dev-secret", raw, int(time.time()))
    # When the webhook function handles it
    result = world.invoke("CrmWebhookFunction", event)
    # Then it is accepted
    assert result["statusCode"] == 202
    assert json.loads(result["body"])["outcome"] == "created"


def test_openapi_document_describes_the_webhook_body(world: World) -> None:
    status, document = world.get("/openapi.json")
    assert status == 200
    operation = document["paths"]["/webhooks/crm"]["post"]
    assert operation["parameters"][0]["name"] == "Overage-Signature"
    assert set(operation["responses"]) >= {"200", "202", "400", "401", "404", "413", "422"}
    assert "/accounts/{account_id}" in document["paths"]


def test_openapi_document_lists_only_the_answers_the_read_endpoints_give(world: World) -> None:
    _, document = world.get("/openapi.json")
    reads = {path: ops["get"]["responses"] for path, ops in document["paths"].items() if path.startswith("/accounts/")}
    assert set(reads["/accounts/{account_id}/fair-use/{month}"]) == {"200", "404", "422"}  # 422: not YYYY-MM
    assert {path: set(answers) for path, answers in reads.items() if "{month}" not in path} == {
        "/accounts/{account_id}": {"200", "404"},
        "/accounts/{account_id}/adjustments": {"200", "404"},
        "/accounts/{account_id}/invoices": {"200", "404"},
        "/accounts/{account_id}/invoices/{invoice_id}": {"200", "404"},
        "/accounts/{account_id}/invoices/{invoice_id}/document": {"200", "404"},
        "/accounts/{account_id}/notices": {"200", "404"},
        "/accounts/{account_id}/preview": {"200", "404"},
        "/accounts/{account_id}/changes": {"200", "404"},
    }
    document_page = document["paths"]["/accounts/{account_id}/invoices/{invoice_id}/document"]["get"]
    assert set(document_page["responses"]["200"]["content"]) == {"text/html"}
    public = document["paths"]["/invoices/{token}"]["get"]
    assert (public["security"], set(public["responses"])) == ([], {"200", "404"})
    # the resolver's own validation error shape is never sent, so no answer refers to it
    assert "HTTPValidationError" not in json.dumps(document["paths"])


def test_sample_events_are_accepted(world: World) -> None:
    for name in ("account_upserted", "contacts_counted", "profiles_counted"):
        raw = (EVENTS / "webhooks" / f"{name}.json").read_bytes()
        assert world.webhook(raw)[0] == 202, name
    assert (
        world.invoke("CrmWebhookFunction", json.loads((EVENTS / "crm_webhook__get_account.json").read_text()))[
            "statusCode"
        ]
        == 200
    )


# ---------------------------------------------------------------- abuse (issue 8): each rejection changes nothing
def signed_now(body: bytes, secret: str = "local-dev-secret", age: int = 0) -> str:
    from overage.domain.signature import sign_header

    return sign_header(secret, body, int(time.time()) - age)


def test_a_signature_with_characters_outside_ascii_is_401_not_a_crash(world: World) -> None:
    raw = json.dumps(upsert_body("acc_42")).encode()
    assert world.webhook(raw, signature=f"t={int(time.time())},v1=é")[0] == 401
    assert world.account_item("acc_42") == {}


def test_a_body_of_exactly_256_kib_is_read_and_one_byte_more_is_413(world: World) -> None:
    # JSON allows trailing whitespace: the same valid event, padded to the limit and one byte past it
    event = json.dumps(upsert_body("acc_42")).encode()
    at_limit = event + b" " * (256 * 1024 - len(event))
    over = at_limit + b" "
    assert world.webhook(over)[0] == 413
    assert world.account_item("acc_42") == {}
    assert world.webhook(at_limit)[0] == 202
    assert world.account_item("acc_42")["package"] == "standard"


def test_a_captured_signature_with_a_new_timestamp_is_401(world: World) -> None:
    # Given a request someone captured (its signature covers its own timestamp and the body)
    raw = json.dumps(upsert_body("acc_42")).encode()
    captured = signed_now(raw, age=600)  # too old to replay as it is
    assert world.webhook(raw, signature=captured)[0] == 401
    # When they put a fresh timestamp in front of the captured HMAC, it no longer matches
    fresh_t = f"t={int(time.time())}," + captured.split(",", 1)[1]
    assert world.webhook(raw, signature=fresh_t)[0] == 401
    assert world.account_item("acc_42") == {}


def test_the_same_body_signed_again_later_is_a_200_replay_of_the_first_result(world: World) -> None:
    # The event id, not the signature, names an event: a CRM that timed out re-signs and re-sends the same body.
    # It gets the first answer (200, Idempotent-Replayed) and nothing is applied twice. Anyone able to sign a body
    # anew holds the secret, so a replay check on signatures would add nothing for the CRM's own retries.
    world.webhook(upsert_body("acc_42"))
    raw = json.dumps(contacts_body("acc_42", "2026-02-05T10:00:00Z", 70)).encode()
    first = world.webhook(raw, signature=signed_now(raw, age=200))
    world.webhook(contacts_body("acc_42", "2026-02-06T10:00:00Z", 48))
    again = world.webhook(raw, signature=signed_now(raw))
    assert first[0] == 202 and again == (200, first[1])
    assert world.account_item("acc_42")["contacts_active"] == 48


def test_no_rejected_request_changes_any_table_sends_an_email_or_puts_an_event(world: World) -> None:
    from tests.reliability.harness import fingerprint

    # Given an account with one event applied
    world.webhook(upsert_body("acc_42"))
    applied = contacts_body("acc_42", "2026-02-05T10:00:00Z", 70)
    assert world.webhook(applied)[0] == 202
    valid = json.dumps(contacts_body("acc_42", "2026-02-06T10:00:00Z", 130)).encode()
    event = json.dumps(upsert_body("acc_42")).encode()
    unknown_type = {**contacts_body("acc_42", "2026-02-05T10:00:00Z", 1), "type": "contacts.guessed"}
    rejections: list[tuple[str, bytes, str | None, int]] = [
        ("no signature", valid, "", 401),
        ("a malformed signature", valid, "v1=abc", 401),
        ("the wrong secret", valid, signed_now(valid, secret="not-the-secret"), 401),
        ("a stale timestamp", valid, signed_now(valid, age=301), 401),
        # signed now, sent after the requests before it: a minute of margin (the 301 s edge is tested on its own)
        ("a timestamp from the future", valid, signed_now(valid, age=-360), 401),
        ("another body's signature", valid, signed_now(event), 401),
        ("256 KiB + 1", valid + b" " * (256 * 1024 + 1 - len(valid)), None, 413),
        ("not UTF-8", b'{"id": "evt_\xff"}', None, 400),
        ("not JSON", b'{"id": "evt_1", ', None, 400),
        ("a schema violation", json.dumps({**applied, "id": "evt_new", "data": {"active": -1}}).encode(), None, 422),
        ("an unknown type", json.dumps(unknown_type).encode(), None, 422),
        (
            "occurred_at in the future",
            json.dumps(contacts_body("acc_42", "2099-01-01T00:00:00Z", 1)).encode(),
            None,
            422,
        ),
        ("an unknown account", json.dumps(contacts_body("acc_nobody", "2026-02-05T10:00:00Z", 1)).encode(), None, 404),
        (
            "a reused id with another body",
            json.dumps({**applied, "data": {"active": 999, "archived": 0}}).encode(),
            None,
            409,
        ),
    ]
    for name, raw, signature, status in rejections:
        before = fingerprint(world)
        answer = world.webhook(raw, signature=signature)
        assert answer[0] == status, (name, answer)
        assert "message" in answer[1], name
        assert fingerprint(world) == before, f"{name} changed the state"
