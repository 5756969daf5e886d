"""What SES says of the notice emails (spec §3.9), driven through EmailFeedbackFunction as SNS hands it SES's event
records (the shapes of the SES developer guide, tests/builders.py: ses_event, sns_event).

The fixture: acc_1 (standard, limit 200) counts 205 profiles on 5 Feb 2026, so the webhook emails it a
``profiles.exceeded`` notice; the grace period ends 14 days later, so the grace run of 20 Feb emails an
``invoice.issued`` notice for the fee. Each test makes SES tell something about the first email in between.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError
from overage.domain.ses_tags import notice_keys
from overage_local import runtime

from tests.builders import profiles_body, ses_event, sns_event, upsert_body
from tests.support import World, grace_run, moto_world

ACCOUNT = "acc_1"
ADDRESS = f"billing@{ACCOUNT}.example"  # upsert_body's billing_email
GRACE_RUN = "2026-02-20T00:05:00Z"


@pytest.fixture
def world() -> Iterator[World]:
    with moto_world({"LogLevel": "ERROR"}) as world:
        world.accepted(upsert_body(ACCOUNT))
        world.accepted(profiles_body(ACCOUNT, "2026-02-05T10:00:00Z", 205))
        yield world


def first_notice(world: World) -> dict[str, Any]:
    [notice] = [n for n in world.notices(ACCOUNT) if n["kind"] == "profiles.exceeded"]
    return notice


def feedback(world: World, event_type: str, **options: Any) -> list[str]:
    """SES's event about the profiles.exceeded email, through the function; its outcome per record."""
    notice = first_notice(world)
    recipient = options.pop("recipient", notice["to"])
    message_id = options.pop("message_id", notice["ses_message_id"])
    tags = options.pop("notice", (notice["account_id"], notice["notice_id"]))
    event = sns_event(ses_event(event_type, message_id, recipient, notice=tags, **options))
    result = world.invoke("EmailFeedbackFunction", event)
    return list(result["outcomes"])


def states(world: World) -> dict[str, str]:
    return {n["kind"]: n["status"] for n in world.notices(ACCOUNT)}


def bus_kinds(world: World) -> list[str]:
    return [event["detail-type"] for event in world.bus_events()]


def emailed_to(world: World) -> list[str]:
    return [address for message in world.emails() for address in message.destinations["ToAddresses"]]


# ---------------------------------------------------------------------------------------------- suppression


def test_a_permanent_bounce_suppresses_the_address_and_later_notices_are_recorded_and_on_the_bus_but_not_emailed(
    world: World,
) -> None:
    assert emailed_to(world) == [ADDRESS]

    assert feedback(world, "Bounce", bounce_type="Permanent") == ["suppressed"]

    suppression = world.account_item(ACCOUNT)["email_suppression"]
    assert (suppression["address"], suppression["reason"]) == (ADDRESS, "bounce:Permanent/General")
    assert suppression["notice_id"] == first_notice(world)["notice_id"]
    assert states(world) == {"profiles.exceeded": "bounced", "account.email_undeliverable": "suppressed"}
    assert bus_kinds(world) == ["profiles.exceeded", "account.email_undeliverable"]
    [told] = [e["detail"] for e in world.bus_events() if e["detail-type"] == "account.email_undeliverable"]
    assert (told["account_id"], told["undelivered_notice_id"]) == (ACCOUNT, first_notice(world)["notice_id"])

    grace_run(world, GRACE_RUN)  # the fee invoice's notice: recorded, on the bus, not emailed

    assert states(world)["invoice.issued"] == "suppressed"
    assert bus_kinds(world).count("invoice.issued") == 1
    assert emailed_to(world) == [ADDRESS]  # still only the first email
    assert bus_kinds(world).count("account.email_undeliverable") == 1  # once per suppression


def test_a_complaint_after_the_delivery_suppresses_the_address(world: World) -> None:
    assert feedback(world, "Delivery") == ["delivered"]
    assert states(world) == {"profiles.exceeded": "delivered"}

    assert feedback(world, "Complaint") == ["suppressed"]

    assert world.account_item(ACCOUNT)["email_suppression"]["reason"] == "complaint"
    assert states(world) == {"profiles.exceeded": "complained", "account.email_undeliverable": "suppressed"}
    grace_run(world, GRACE_RUN)
    assert states(world)["invoice.issued"] == "suppressed"
    assert emailed_to(world) == [ADDRESS]


def test_a_transient_bounce_changes_nothing(world: World) -> None:
    before = world.account_item(ACCOUNT)

    assert feedback(world, "Bounce", bounce_type="Transient") == ["ignored"]

    assert world.account_item(ACCOUNT) == before
    assert states(world) == {"profiles.exceeded": "sent"}
    grace_run(world, GRACE_RUN)
    assert states(world)["invoice.issued"] == "sent"
    assert emailed_to(world) == [ADDRESS, ADDRESS]
    assert "account.email_undeliverable" not in bus_kinds(world)


@pytest.mark.parametrize(
    "override",
    [
        {"message_id": "0100018d-never-sent-by-overage-000000"},
        {"recipient": "someone-else@example.com"},
        {"notice": None},
        {"notice": (ACCOUNT, "ntc_profiles.exceeded_acc_1_no-such-episode")},
        {"notice": ("acc_2", "ntc_profiles.exceeded_acc_2_20260205T100000Z-000000")},
    ],
    ids=[
        "a message overage never sent",
        "an address overage never sent it to",
        "an email without overage's tags",
        "tags naming a notice that does not exist",
        "tags naming another account's notice",
    ],
)
def test_feedback_overage_cannot_match_to_a_sent_notice_is_ignored(world: World, override: dict[str, Any]) -> None:
    before = (world.account_item(ACCOUNT), world.notices(ACCOUNT), len(world.bus_events()))

    assert feedback(world, "Bounce", **override) == ["ignored"]
    assert feedback(world, "Complaint", **override) == ["ignored"]
    assert feedback(world, "Delivery", **override) == ["ignored"]

    assert (world.account_item(ACCOUNT), world.notices(ACCOUNT), len(world.bus_events())) == before


def test_an_sns_message_that_is_not_an_ses_event_is_ignored(world: World) -> None:
    event = sns_event({"notification": "something else"})
    assert world.invoke("EmailFeedbackFunction", event) == {"outcomes": ["ignored"]}
    assert states(world) == {"profiles.exceeded": "sent"}


def test_the_address_matches_whatever_case_ses_reports_it_in(world: World) -> None:
    assert feedback(world, "Bounce", recipient=ADDRESS.upper()) == ["suppressed"]
    assert world.account_item(ACCOUNT)["email_suppression"]["address"] == ADDRESS


# ---------------------------------------------------------------------------------------------- the lift


def test_a_new_billing_email_lifts_the_suppression_and_the_next_notice_is_emailed_to_it(world: World) -> None:
    feedback(world, "Bounce")
    world.accepted(upsert_body(ACCOUNT, contact_tier="t150", occurred_at="2026-02-10T08:00:00Z"))
    assert world.account_item(ACCOUNT)["email_suppression"]["address"] == ADDRESS  # the same address: still

    world.accepted(upsert_body(ACCOUNT, billing_email="accounts@acc_1.example", occurred_at="2026-02-12T08:00:00Z"))

    assert "email_suppression" not in world.account_item(ACCOUNT)
    grace_run(world, GRACE_RUN)
    assert states(world)["invoice.issued"] == "sent"
    assert emailed_to(world) == [ADDRESS, "accounts@acc_1.example"]


def test_feedback_about_an_address_the_account_no_longer_uses_suppresses_nothing(world: World) -> None:
    world.accepted(upsert_body(ACCOUNT, billing_email="accounts@acc_1.example", occurred_at="2026-02-12T08:00:00Z"))

    assert feedback(world, "Bounce") == ["unchanged"]  # the notice is marked bounced; the account is left alone

    assert "email_suppression" not in world.account_item(ACCOUNT)
    assert states(world) == {"profiles.exceeded": "bounced"}
    assert "account.email_undeliverable" not in bus_kinds(world)


# ---------------------------------------------------------------------------------------------- replay and order


def test_the_same_ses_event_twice_changes_nothing_the_first_did_not(world: World) -> None:
    assert feedback(world, "Bounce") == ["suppressed"]
    after_first = (world.account_item(ACCOUNT), world.notices(ACCOUNT), bus_kinds(world), emailed_to(world))

    assert feedback(world, "Bounce") == ["unchanged"]
    assert feedback(world, "Complaint") == ["unchanged"]  # a second reason for the same address: still once

    assert (world.account_item(ACCOUNT), world.notices(ACCOUNT), bus_kinds(world), emailed_to(world)) == after_first


def test_a_delivery_arriving_after_the_complaint_changes_nothing(world: World) -> None:
    assert feedback(world, "Complaint") == ["suppressed"]
    assert feedback(world, "Delivery") == ["unchanged"]
    assert feedback(world, "Delivery") == ["unchanged"]
    assert states(world)["profiles.exceeded"] == "complained"


def test_a_delivery_replayed_changes_nothing(world: World) -> None:
    assert feedback(world, "Delivery") == ["delivered"]
    assert feedback(world, "Delivery") == ["unchanged"]
    assert states(world) == {"profiles.exceeded": "delivered"}
    assert bus_kinds(world) == ["profiles.exceeded"]


# ---------------------------------------------------------------------------------------------- the sending side


def test_every_notice_email_is_sent_with_the_configuration_set_of_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SendEmail":
            sent.append(params)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    with moto_world({"LogLevel": "ERROR"}) as world:
        world.accepted(upsert_body(ACCOUNT))
        world.accepted(profiles_body(ACCOUNT, "2026-02-05T10:00:00Z", 205))
        grace_run(world, GRACE_RUN)
        name = world.template.physical_id("NoticeConfigurationSet")
        import boto3

        ses = boto3.client("sesv2", region_name="eu-west-1")
        assert ses.get_configuration_set(ConfigurationSetName=name)["ConfigurationSetName"] == name
        notices = {(ACCOUNT, n["notice_id"]) for n in world.notices(ACCOUNT)}
    assert len(sent) == 2
    assert {params["ConfigurationSetName"] for params in sent} == {name}
    # and with the tags naming its notice, which SES publishes with the email's events: how feedback finds it
    tags = [{t["Name"]: [t["Value"]] for t in params["EmailTags"]} for params in sent]
    assert {notice_keys(t) for t in tags} == notices and len(notices) == 2
    assert all(t["overage_account"] == ["YWNjXzE"] for t in tags)  # "acc_1", unpadded URL-safe base64


# ---------------------------------------------------------------------------------------------- the retry budget


def redeliver(world: World, at: datetime) -> int:
    """What a scheduled run does first (the outbox's redelivery), at ``at`` on the operational clock."""
    from overage.runtime.config import Settings
    from overage.services import deps as stores

    env = runtime.function_env(world.template, "GraceExpiryFunction", world.endpoint_url)
    with runtime.applied_environment(env):
        return stores.notice_outbox(Settings.from_env()).redeliver_stale(at)


def test_an_email_ses_keeps_refusing_is_tried_five_times_then_failed_and_its_bus_event_goes_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from overage.notices.outbox import LEASE

    attempts: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def ses_unavailable(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SendEmail":
            attempts.append(params["Destination"]["ToAddresses"][0])
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", ses_unavailable)
    with moto_world({"LogLevel": "ERROR"}) as world:
        world.accepted(upsert_body(ACCOUNT))
        world.accepted(profiles_body(ACCOUNT, "2026-02-05T10:00:00Z", 205))  # attempt 1, deferred
        assert (len(attempts), states(world)) == (1, {"profiles.exceeded": "sending"})

        clock = datetime.now(UTC)
        for run in range(1, 8):  # a scheduled run after each lease: attempts 2 to 5, then nothing left to do
            clock += LEASE + timedelta(seconds=1)
            redeliver(world, clock)
            assert len(attempts) == min(1 + run, 5), run

        [notice] = world.notices(ACCOUNT)
        assert (notice["status"], notice["attempts"]) == ("failed", 5)
        assert "5 attempts" in notice["failure"]
        assert bus_kinds(world) == ["profiles.exceeded"]  # published on the first attempt only
        assert world.emails() == []


def test_a_notice_whose_bus_event_went_out_is_emailed_on_redelivery_without_republishing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from overage.notices.outbox import LEASE

    failing = {"SendEmail": 2}  # SES refuses the first two attempts, then accepts
    original = botocore.client.BaseClient._make_api_call

    def flaky(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if failing.get(operation, 0) > 0:
            failing[operation] -= 1
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "try again"}}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", flaky)
    with moto_world({"LogLevel": "ERROR"}) as world:
        world.accepted(upsert_body(ACCOUNT))
        world.accepted(profiles_body(ACCOUNT, "2026-02-05T10:00:00Z", 205))
        clock = datetime.now(UTC)
        for _ in range(3):
            clock += LEASE + timedelta(seconds=1)
            redeliver(world, clock)

        [notice] = world.notices(ACCOUNT)
        assert (notice["status"], notice["attempts"]) == ("sent", 3)
        assert bus_kinds(world) == ["profiles.exceeded"]
        assert emailed_to(world) == [ADDRESS]


def test_the_sample_events_are_the_shapes_ses_publishes() -> None:
    from tests.support import EVENTS

    for name, kind in (
        ("bounce_permanent", "Bounce"),
        ("bounce_transient", "Bounce"),
        ("complaint", "Complaint"),
        ("delivery", "Delivery"),
    ):
        [record] = json.loads((EVENTS / f"email_feedback__{name}.json").read_text())["Records"]
        assert record["EventSource"] == "aws:sns"
        message = json.loads(record["Sns"]["Message"])
        assert message["eventType"] == kind
        assert {"messageId", "destination", "timestamp", "source"} <= set(message["mail"])
        # the tags the outbox sends every email with name the sample world's profiles.exceeded notice of acc_42
        assert notice_keys(message["mail"]["tags"]) == (
            "acc_42",
            "ntc_profiles.exceeded_acc_42_20260205T100000Z-ece8f3",
        )
        assert kind.lower() in message
