"""What a red team found at the public surface (issue: hardening), each reproduced through the webhook, the read
routes or the scheduled functions: addresses SES cannot send to, business time beyond the clock, dates outside the
supported years, lenient parsing, facts dated before what they refer to, and ids no account can have."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from overage.runtime import aws

from tests.builders import change_body
from tests.support import (
    World,
    call_body,
    clock,
    fair_use_record,
    fair_use_run,
    payment_body,
    profiles_body,
    report_run,
    upsert_body,
)


def _fields(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body.get("errors", [])]


def _monthly(world: World, account_id: str, **data: Any) -> None:
    fields = {"billing_cycle": "monthly", "started_on": "2026-01-10", "customer_since": "2026-01-10"} | data
    world.accepted(upsert_body(account_id, **fields))


@contextmanager
def ses_refusing(addresses: set[str], code: str = "MessageRejected") -> Iterator[list[str]]:
    """SES (the functions' shared client) refuses every email to one of ``addresses`` with ``code``; yields the
    addresses it refused, in order."""
    refused: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        to = params.get("Destination", {}).get("ToAddresses", [])
        if set(to) & addresses:
            refused.extend(to)
            raise ClientError({"Error": {"Code": code, "Message": "Illegal address"}}, "SendEmail")

    events = aws.client("sesv2").meta.events
    events.register("provide-client-params.sesv2.SendEmail", refuse, unique_id="test-ses-refusing")
    try:
        yield refused
    finally:
        events.unregister("provide-client-params.sesv2.SendEmail", unique_id="test-ses-refusing")


def _set_email(world: World, account_id: str, address: str) -> None:
    """An address stored before the webhook checked addresses (the table of a deployment that predates the rule)."""
    world.ddb.update_item(
        TableName=world.accounts_table,
        Key={"pk": {"S": account_id}, "sk": {"S": "ACCOUNT"}},
        UpdateExpression="SET billing_email = :e",
        ExpressionAttributeValues={":e": {"S": address}},
    )


# ---------------------------------------------------------------- 1. one undeliverable address
@pytest.mark.parametrize(
    "address",
    ["a,b@example.com", "<x>@example.com", 'q"@example.com', "Ann <ann@example.com>", "a b@example.com", "a@b"],
)
def test_an_address_ses_cannot_parse_is_422_naming_billing_email_and_creates_nothing(
    world: World, address: str
) -> None:
    status, body = world.webhook(upsert_body("acc_bad", billing_email=address))
    assert (status, _fields(body)) == (422, ["data.billing_email"])
    assert world.account_item("acc_bad") == {}


def test_ordinary_addresses_are_accepted(world: World) -> None:
    for n, address in enumerate(["ann.lee+billing@example.co.uk", "o'brien@example.ie", "x@xn--80ak6aa92e.com"]):
        assert world.webhook(upsert_body(f"acc_ok{n}", billing_email=address))[0] == 202


def test_a_permanent_ses_refusal_after_a_plan_change_is_a_failed_delivery_and_the_change_is_202(world: World) -> None:
    # Given a monthly account whose stored address SES refuses for good
    _monthly(world, "acc_1")
    world.renewal("2026-03-10T00:15:00Z")
    _set_email(world, "acc_1", "a,b@example.com")
    emails_before = len(world.emails())
    # When an upgrade is requested (it commits: change, invoice, notice)
    with ses_refusing({"a,b@example.com"}) as refused:
        status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150"))
        # Then the CRM is told the change was applied, once: 202, never a 5xx that it would retry
        assert status == 202, body
        assert body["outcome"] == "applied"
        # And the notice is recorded as failed (not pending), was put on the bus once and not emailed
        notice = next(n for n in world.notices("acc_1") if n["kind"] == "plan.changed")
        assert notice["status"] == "failed"
        assert refused == ["a,b@example.com"]
        assert len(world.emails()) == emails_before
        assert [e["detail"]["notice_id"] for e in world.bus_events() if e["detail-type"] == "plan.changed"] == [
            notice["notice_id"]
        ]
        # And no later run tries it again (it left the outbox): the next renewal run sends nothing to it
        world.renewal("2026-04-10T00:15:00Z")
        assert refused == ["a,b@example.com", "a,b@example.com"]  # the 10 Apr invoice's own notice, once
    stored = world.ledger("acc_1", "NOTICE#" + notice["notice_id"])[0]
    assert (stored["delivery"], stored["failure"]) == ("failed", "SES refused the email: MessageRejected")
    assert "outbox_state" not in stored


def test_a_notice_that_keeps_failing_never_stops_the_daily_run(world: World) -> None:
    from overage.notices.outbox import NoticeOutbox

    # Given two monthly accounts invoiced on 10 Feb whose notices were left claimed by a sender that died an hour
    # later (the bus was down), so both are stale when the next daily run starts
    _monthly(world, "acc_stale")
    _monthly(world, "acc_due")
    with mock.patch.object(NoticeOutbox, "deliver", side_effect=RuntimeError("bus down")):
        world.renewal("2026-02-10T00:15:00Z")
    for account_id in ("acc_stale", "acc_due"):
        assert [n["status"] for n in world.notices(account_id)] == ["sending"]
        for record in world.ledger(account_id, "NOTICE#"):
            world.ddb.update_item(
                TableName=world.ledger_table,
                Key={"pk": {"S": account_id}, "sk": {"S": record["sk"]}},
                UpdateExpression="SET claimed_at = :old",
                ExpressionAttributeValues={":old": {"S": "2026-02-10T01:15:00.000000Z"}},
            )

    # When the run of 10 Mar redelivers them and one of them fails again (every time)
    real_deliver = NoticeOutbox.deliver

    def deliver(self: Any, notice: Any, now: datetime, **options: Any) -> None:
        if notice.account_id == "acc_stale" and notice.kind == "invoice.issued" and "2026-02-10" in notice.notice_id:
            raise RuntimeError("EventBridge refused it again")
        real_deliver(self, notice, now, **options)

    with mock.patch.object(NoticeOutbox, "deliver", deliver):
        result = world.renewal("2026-03-10T00:15:00Z")
    # Then the run still bills every account due, and redelivers the other stale notice
    assert (result["accounts_dispatched"], result["notices_redelivered"]) == (2, 1)
    for account_id in ("acc_stale", "acc_due"):
        assert [i["period_start"] for i in world.invoices(account_id)] == ["2026-02-10", "2026-03-10"]
    assert [n["status"] for n in world.notices("acc_due")] == ["sent", "sent"]
    # And the failing one waits, claimed, for the next run
    assert sorted(n["status"] for n in world.notices("acc_stale")) == ["sending", "sent"]


# ---------------------------------------------------------------- 3. business time beyond the clock
@pytest.mark.parametrize(
    "logical_id", ["RenewalBillingFunction", "GraceExpiryFunction", "FairUseRollupFunction", "UsageReportFunction"]
)
@pytest.mark.parametrize("as_of", ["2036-12-01T00:15:00Z", "9999-12-31T00:00:00Z", "1899-12-31T00:00:00Z"])
def test_a_run_far_ahead_of_the_clock_or_outside_the_years_is_refused_and_writes_nothing(
    world: World, logical_id: str, as_of: str
) -> None:
    world.accepted(upsert_body("acc_1", billing_cycle="monthly", started_on="2026-01-10"))
    before = world.invoices("acc_1"), world.notices("acc_1")
    with clock(datetime(2026, 12, 1, 0, 0, tzinfo=UTC)), pytest.raises(Exception, match="as_of") as error:
        world.invoke(logical_id, {"as_of": as_of})
    assert type(error.value).__name__ == "InvalidRequest"
    assert (world.invoices("acc_1"), world.notices("acc_1")) == before


def test_a_run_up_to_a_day_ahead_is_accepted_and_one_two_days_ahead_is_refused(world: World) -> None:
    world.accepted(upsert_body("acc_1", billing_cycle="monthly", started_on="2026-01-10"))
    with clock(datetime(2026, 2, 9, 0, 15, tzinfo=UTC)):
        world.renewal("2026-02-10T00:15:00Z")  # 24 h ahead: the schedule's clock and ours may disagree
        with pytest.raises(Exception, match="more than a day ahead"):
            world.renewal("2026-02-11T00:15:01Z")
    assert [i["period_start"] for i in world.invoices("acc_1")] == ["2026-02-10"]


@pytest.mark.parametrize("month", ["2027-06", "2026-12", "1899-12", "2200-01"])
def test_a_report_of_a_month_that_has_not_ended_or_outside_the_years_is_refused(world: World, month: str) -> None:
    with clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)), pytest.raises(Exception) as error:
        report_run(world, {"month": month})
    assert type(error.value).__name__ == "InvalidRequest"
    assert list(error.value.fields) == ["month"]  # type: ignore[attr-defined]
    listed = world.template.physical_id("ReportBucket")
    import boto3

    assert boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket=listed).get("KeyCount", 0) == 0


# ---------------------------------------------------------------- 4. dates outside the supported years
NOW = "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            lambda: {**profiles_body("acc_1", "2026-02-05T10:00:00Z", 5), "occurred_at": "0001-01-01T00:00:00+14:00"},
            "occurred_at",
        ),
        (
            lambda: upsert_body("acc_new", started_on="9999-12-31", occurred_at="2026-01-01T00:00:00Z"),
            "data.started_on",
        ),
        (
            lambda: upsert_body("acc_new", started_on="9999-11-30", occurred_at="2026-01-01T00:00:00Z"),
            "data.started_on",
        ),
        (lambda: upsert_body("acc_new", customer_since="0001-01-01"), "data.customer_since"),
        (lambda: upsert_body("acc_new", occurred_at="0001-01-01T00:00:00Z"), "occurred_at"),
        (
            lambda: call_body("acc_1", "c1", "0001-01-01T00:00:00Z", 60, occurred_at="2026-02-05T10:00:00Z"),
            "data.started_at",
        ),
        (
            lambda: upsert_body("acc_new", started_on="2200-01-01", occurred_at="2026-01-01T00:00:00Z"),
            "data.started_on",
        ),
    ],
)
def test_a_date_outside_1900_2199_is_422_naming_the_field(world: World, body: Any, field: str) -> None:
    world.accepted(upsert_body("acc_1"))
    status, answer = world.webhook(body())
    assert (status, _fields(answer)) == (422, [field])
    assert world.account_item("acc_new") == {}


def test_the_edges_of_the_supported_years_are_accepted_and_read_back(world: World) -> None:
    world.accepted(
        upsert_body("acc_old", started_on="1900-01-01", customer_since="1900-01-01", occurred_at="1900-01-01T08:00:00Z")
    )
    world.accepted(
        upsert_body(
            "acc_late", started_on="2199-12-31", customer_since="2199-12-31", occurred_at="2026-01-01T08:00:00Z"
        )
    )
    for account_id in ("acc_old", "acc_late"):
        for path in ("", "/preview", "/invoices", "/notices", "/changes"):
            assert world.get(f"/accounts/{account_id}{path}")[0] == 200, (account_id, path)


# ---------------------------------------------------------------- 5. lenient parsing
@pytest.mark.parametrize("amount", [2.33, "233E-2", "2.330", " +2.33 ", "2.3", "+2.33", "-2.33", "2,33"])
def test_a_payment_amount_that_is_not_a_two_place_decimal_string_is_422(world: World, amount: Any) -> None:
    world.accepted(upsert_body("acc_1"))
    body = payment_body("acc_1", "2026-02-05T10:00:00Z", "inv_x", "2.33", "USD")
    body["data"]["amount"] = amount
    status, answer = world.webhook(body)
    assert (status, _fields(answer)) == (422, ["data.amount"])


@pytest.mark.parametrize("occurred_at", ["1700000000", "2026-02-05", "2026-02-05T10:00:00", "2026-02-05 10:00Z"])
def test_an_occurred_at_that_is_not_an_iso_instant_with_a_zone_is_422(world: World, occurred_at: str) -> None:
    world.accepted(upsert_body("acc_1"))
    status, answer = world.webhook({**profiles_body("acc_1", "2026-02-05T10:00:00Z", 5), "occurred_at": occurred_at})
    assert (status, _fields(answer)) == (422, ["occurred_at"])
    assert world.account_item("acc_1").get("profiles_count") is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "e1", "type": "profiles.counted", "occurred_at": "2026-02-05T10:00:00Z", "account_id": "acc_1", '
        b'"data": {"count": NaN}}',
        b'{"id": "e1", "type": "profiles.counted", "occurred_at": "2026-02-05T10:00:00Z", "account_id": "acc_1", '
        b'"data": {"count": Infinity}}',
        b'{"id": "e1", "type": "profiles.counted", "occurred_at": "2026-02-05T10:00:00Z", "account_id": "acc_1", '
        b'"account_id": "acc_2", "data": {"count": 5}}',
        b'{"id": "e1", "type": "profiles.counted", "occurred_at": "2026-02-05T10:00:00Z", "account_id": "acc_1", '
        b'"data": {"count": 5, "count": 6}}',
    ],
)
def test_nan_infinity_and_duplicate_keys_are_not_json_400(world: World, raw: bytes) -> None:
    world.accepted(upsert_body("acc_1"))
    world.accepted(upsert_body("acc_2"))
    status, answer = world.webhook(raw)
    assert status == 400, answer
    assert world.account_item("acc_1").get("profiles_count") is None
    assert world.account_item("acc_2").get("profiles_count") is None


# ---------------------------------------------------------------- 6. facts dated before what they refer to
def _fee_invoice(world: World) -> dict[str, Any]:
    """An excess-profile fee invoice of 5.00 USD issued at the grace end (26 Jan + 14 days, 00:15 run on 9 Feb)."""
    from tests.support import grace_run

    world.accepted(upsert_body("acc_1", started_on="2026-01-10"))
    world.accepted(profiles_body("acc_1", "2026-01-26T10:00:00Z", 205))
    grace_run(world, "2026-02-09T10:15:00Z")
    invoice = next(i for i in world.invoices("acc_1") if i["kind"] == "excess_profiles")
    assert invoice["gross"] == "5.00"
    return invoice


def test_a_payment_dated_before_its_invoice_was_issued_is_422_and_lifts_nothing(world: World) -> None:
    invoice = _fee_invoice(world)
    status, answer = world.webhook(payment_body("acc_1", "1970-01-01T00:00:00Z", invoice["invoice_id"], "5.00", "USD"))
    assert (status, _fields(answer)) == (422, ["occurred_at"])
    status, answer = world.webhook(payment_body("acc_1", "2026-02-01T00:00:00Z", invoice["invoice_id"], "5.00", "USD"))
    assert (status, _fields(answer)) == (422, ["occurred_at"])
    assert world.invoices("acc_1")[-1]["status"] == "open"
    # paid when the money arrived after the issue: accepted
    status, answer = world.webhook(payment_body("acc_1", "2026-02-10T09:00:00Z", invoice["invoice_id"], "5.00", "USD"))
    assert (status, answer["status"]) == (202, "paid")


@pytest.mark.parametrize("effective", ["period_end", "immediate"])
def test_a_plan_change_dated_before_the_subscription_started_is_422(world: World, effective: str) -> None:
    _monthly(world, "acc_1", started_on="2026-11-03", customer_since="2026-11-03")
    body = change_body("acc_1", "1970-01-01T00:00:00Z", contact_tier="t100", effective=effective)
    status, answer = world.webhook(body)
    assert (status, _fields(answer)) == (422, ["occurred_at"])
    assert "pending_change" not in world.account_item("acc_1")
    assert world.get("/accounts/acc_1/changes")[1]["changes"] == []


def test_a_call_before_the_subscription_started_is_not_entitled_and_sends_no_review(world: World) -> None:
    # Given a complete account (telephone support included) that started in September 2026
    world.accepted(
        upsert_body("acc_1", package="complete", started_on="2026-09-10", customer_since="2026-09-10", paying_users=1)
    )
    # When a 90-minute call from January 1970 arrives
    assert world.webhook(call_body("acc_1", "old", "1970-01-05T10:00:00Z", 90 * 60))[0] == 202
    fair_use_run(world, "1970-02-01T01:00:00Z")
    # Then it is kept as not entitled: no review, no training offer, no email
    record = fair_use_record(world, "acc_1", "1970-01")
    assert record is not None
    assert (record["terms"], record["status"], record["users"]) == ("not_entitled", "within", [])
    assert (record["not_entitled"]["calls"], record["not_entitled"]["minutes"]) == (1, "90.00")
    assert (record["totals"]["calls"], record["notices"]) == (0, [])
    assert not [n for n in world.notices("acc_1") if n["kind"].startswith("fair_use")]
    customer = "billing@acc_1.example"
    assert [e.subject for e in world.emails() if customer in json.dumps(e.destinations)] == []


# ---------------------------------------------------------------- 8. read routes take any id
@pytest.mark.parametrize("account_id", ["a" * 3000, "acc%20x", "-leading-dash"])
@pytest.mark.parametrize("path", ["", "/invoices", "/notices", "/preview", "/changes", "/fair-use/2026-02"])
def test_a_path_id_no_account_can_have_is_404_before_any_read(world: World, account_id: str, path: str) -> None:
    from tests.support import dynamodb_calls

    answer: list[Any] = []
    calls = dynamodb_calls(lambda: answer.append(world.get(f"/accounts/{account_id}{path}")))
    status, body = answer[0]
    assert status == 404, (account_id[:10], path, body)
    assert sum(calls.values()) == 0
    assert "is not known" in body["message"]
