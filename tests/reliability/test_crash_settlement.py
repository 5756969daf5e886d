"""Crash at every call of a payment, a void and a goodwill credit (spec §3.7, through CrmWebhookFunction), and of a
dunning run (GraceExpiryFunction): the k-th DynamoDB / SES / EventBridge call fails (refused, applied with its reply
lost, or the transaction cancelled by a conflict). The CRM sends the event again (twice at most) until it is
accepted, then replays it once more (and the payment's ``payment_id`` once more under another event id), and the next
scheduled run's outbox redelivers what a dead request left. Whichever call failed, it ends as the clean run does:
every cent of credit moved once (the balance, its movements and the invoices it paid), the payment or adjustment
recorded once, each notice once.

The webhook fixture: acc_1, monthly GBP t250 from 10 March 2026; its 10 April invoice (43.20) has 10.00 paid, its
10 May invoice (43.20) nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.builders import grant_body, payment_body, upsert_body, void_body
from tests.reliability.harness import (
    Scene,
    compare,
    crash_at_every_call,
    fault_plan,
    quiet_functions,
    redeliver_after_lease,
)
from tests.reliability.test_crash_email_feedback import follow_the_live_tables
from tests.scenarios import given_two_renewal_invoices_dunned_on_25_april
from tests.support import REGION, World, moto_world

ACC = "acc_1"
APRIL = "inv_acc_1_renewal_2026-04-10"
MAY = "inv_acc_1_renewal_2026-05-10"
SENDS = 3  # the event, and the CRM's two retries after a 5xx


def given_two_renewal_invoices(world: World) -> None:
    fields = {"billing_cycle": "monthly", "currency": "GBP", "contact_tier": "t250"}
    world.accepted(upsert_body(ACC, started_on="2026-03-10", customer_since="2026-03-10", **fields))
    world.renewal("2026-05-10T00:15:00Z")
    world.accepted(payment_body(ACC, "2026-05-11T09:00:00Z", APRIL, "10.00", "GBP", event_id="evt_pay_0"))


# (name, the event, its replay under another event id or None, what the clean run leaves: invoice -> (paid, credit
# applied, due, status), and the GBP balance)
JOBS: list[tuple[str, dict[str, Any], dict[str, Any] | None, dict[str, tuple[str, ...]], str]] = [
    (
        # 40.00 on April (33.20 due): paid, 6.80 surplus -> credit -> 6.80 of May
        "payment",
        payment_body(ACC, "2026-05-12T09:00:00Z", APRIL, "40.00", "GBP", event_id="evt_pay_1", payment_id="pay_1"),
        payment_body(ACC, "2026-05-12T09:00:00Z", APRIL, "40.00", "GBP", event_id="evt_pay_2", payment_id="pay_1"),
        {APRIL: ("43.20", "0.00", "0.00", "paid"), MAY: ("0.00", "6.80", "36.40", "partially_paid")},
        "0.00",
    ),
    (
        # void April: its 10.00 paid -> credit -> 10.00 of May
        "void",
        void_body(ACC, "2026-05-12T09:00:00Z", APRIL, event_id="evt_void_1"),
        None,
        {APRIL: ("10.00", "0.00", "0.00", "void"), MAY: ("0.00", "10.00", "33.20", "partially_paid")},
        "0.00",
    ),
    (
        # 5.00 ex VAT of goodwill: a credit note of -6.00 -> 6.00 of April, the oldest (33.20 -> 27.20 due)
        "credit",
        grant_body(ACC, "2026-05-12T09:00:00Z", "5.00", "GBP", event_id="evt_gw_1"),
        None,
        {APRIL: ("10.00", "6.00", "27.20", "partially_paid"), MAY: ("0.00", "0.00", "43.20", "open")},
        "0.00",
    ),
]


def forget_event_ids(world: World) -> None:
    """The scene rewinds the accounts and ledger tables, not the webhook's idempotency table: empty it too, so each
    run's first delivery is a first delivery (not a replay of the clean run's)."""
    import boto3

    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=world.endpoint_url)
    table = world.template.physical_id("IdempotencyTable")
    for item in client.scan(TableName=table).get("Items", []):
        client.delete_item(TableName=table, Key={"id": item["id"]})


def sender(world: World, body: dict[str, Any]) -> Callable[[], None]:
    def send() -> None:
        forget_event_ids(world)
        for _attempt in range(SENDS):
            try:
                status, _ = world.webhook(body)
            except Exception:  # the function failed: API Gateway answered 5xx, the CRM sends it again
                continue
            if status == 409:  # the dead attempt's in-progress record: it expires (the function's timeout), then retry
                forget_event_ids(world)
                continue
            if status < 500:
                assert status in (200, 202), status
                return
        raise AssertionError(f"the event failed {SENDS} times in a row")

    return send


def invoice_money(item: str) -> tuple[str, ...]:
    import json

    record = json.loads(item)
    return tuple(record[name] for name in ("amount_paid", "credit_applied", "amount_due", "status"))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "body", "replay", "invoices", "balance"), JOBS, ids=[job[0] for job in JOBS])
def test_a_settlement_event_that_fails_at_any_call_then_is_sent_again_and_replayed_ends_as_a_clean_run(
    name: str, body: dict[str, Any], replay: dict[str, Any] | None, invoices: dict[str, tuple[str, ...]], balance: str
) -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_two_renewal_invoices(world)
        scene = Scene(world)
        job = sender(world, body)

        def then() -> None:
            assert world.webhook(body)[0] in (200, 202)  # the same event once more: applied once
            if replay is not None:  # the same payment_id under another event id: changes nothing
                status, answer = world.webhook(replay)
                assert (status in (200, 202), answer["outcome"]) == (True, "already_applied")
            redeliver_after_lease(world, "GraceExpiryFunction")
            follow_the_live_tables(scene, world)

        clean, calls = scene.run(job, then=then)
        problems: list[str] = []
        plan = fault_plan(calls, every_call=True)
        for fault in plan:
            outcome, _ = scene.run(job, fault.call.n, fault.mode, then=then)
            if scene.fired is None or scene.fired.kind != fault.call.kind:
                problems.append(f"{fault}: the run took another path (the fault hit {scene.fired})")
                continue
            problems += compare(clean, outcome, calls, fault)

    ledger = clean.items["LedgerTable"]
    assert {
        key[1].removeprefix("INVOICE#"): invoice_money(ledger[(ACC, key[1])])
        for key in ledger
        if key[0] == ACC and key[1].startswith("INVOICE#inv_acc_1_renewal")
    } == invoices
    assert f'"balance": "{balance}"' in ledger[(ACC, "CREDIT_BALANCE#GBP")]
    writes = {call.kind.split("(")[0] for call in calls if call.write}
    assert writes >= {"dynamodb.TransactWriteItems", "sesv2.SendEmail", "eventbridge.PutEvents"}, writes
    assert not problems, "\n".join(problems[:20])


@pytest.mark.slow
def test_a_dunning_run_that_fails_at_any_call_ends_as_a_clean_run() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_two_renewal_invoices_dunned_on_25_april(world)
        report = crash_at_every_call(world, "GraceExpiryFunction", "2026-04-25T00:05:00Z")

    ledger = report.clean.items["LedgerTable"]
    assert '"status": "overdue"' in ledger[("acc_late", "INVOICE#inv_acc_late_renewal_2026-04-10")]
    assert '"reminded_at"' in ledger[("acc_soon", "INVOICE#inv_acc_soon_renewal_2026-04-12")]
    subjects = sorted(subject for _, subject, _ in report.clean.emails)
    assert [s.split(" ")[0] for s in subjects] == ["Invoice", "Reminder:"]
    assert "43.20 GBP due since 2026-04-24" in subjects[0] and "(29.00 USD due) is due on 2026-04-26" in subjects[1]
    report.assert_every_fault_recovered(
        {"sqs.SendMessageBatch", "dynamodb.TransactWriteItems", "sesv2.SendEmail", "eventbridge.PutEvents"}
    )


@pytest.mark.slow
def test_a_dunning_run_that_restricts_and_fails_at_any_call_ends_as_a_clean_run() -> None:
    # With renewal invoices restricting at once (0 days), acc_late's 10 Apr invoice goes overdue and restricts the
    # account in one step: the invoice, the profiles state and two notices in one transaction of the engine's.
    import boto3

    from tests.builders import catalog_restricting

    with moto_world({"LogLevel": "ERROR", "CatalogParameterName": "/overage/catalog-x"}) as world, quiet_functions():
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/overage/catalog-x", Value=catalog_restricting("renewal", 0), Type="String"
        )
        given_two_renewal_invoices_dunned_on_25_april(world)
        report = crash_at_every_call(world, "GraceExpiryFunction", "2026-04-25T00:05:00Z")

    ledger = report.clean.items["LedgerTable"]
    late = ledger[("acc_late", "INVOICE#inv_acc_late_renewal_2026-04-10")]
    assert '"status": "overdue"' in late and '"restricting": true' in late
    accounts = report.clean.items["AccountsTable"]
    assert '"restricted": true' in accounts[("acc_late", "ACCOUNT")]
    subjects = sorted(subject for _, subject, _ in report.clean.emails)
    assert [s.split(" ")[0] for s in subjects] == ["Account", "Invoice", "Reminder:"]
    assert subjects[0] == "Account restricted: invoice " + subjects[1].split(" ")[1] + " is overdue"
    report.assert_every_fault_recovered(
        {"sqs.SendMessageBatch", "dynamodb.TransactWriteItems", "sesv2.SendEmail", "eventbridge.PutEvents"}
    )


@pytest.mark.slow
def test_a_dunning_run_that_releases_an_invoice_and_fails_at_any_call_ends_as_a_clean_run() -> None:
    # acc_late's 10 Apr invoice went overdue on 25 Apr waiting to restrict on 2 May (7 days); the catalog then stops
    # restricting renewals (plan changes restrict instead): the run of 2 May takes it out of dunning, saying nothing
    # about it, and every fault of that release is recovered as the clean run is.
    import boto3

    from tests.builders import catalog_restricting
    from tests.support import reset_caches

    with moto_world({"LogLevel": "ERROR", "CatalogParameterName": "/overage/catalog-x"}) as world, quiet_functions():
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name="/overage/catalog-x", Value=catalog_restricting("renewal", 7), Type="String")
        given_two_renewal_invoices_dunned_on_25_april(world)
        world.run("GraceExpiryFunction", {"as_of": "2026-04-25T00:05:00Z"})
        ssm.put_parameter(
            Name="/overage/catalog-x", Value=catalog_restricting("plan_change", 7), Type="String", Overwrite=True
        )
        reset_caches()
        report = crash_at_every_call(world, "GraceExpiryFunction", "2026-05-02T00:05:00Z")

    late = report.clean.items["LedgerTable"][("acc_late", "INVOICE#inv_acc_late_renewal_2026-04-10")]
    assert '"status": "overdue"' in late and "dunning_at" not in late and "restricting" not in late
    assert '"restricted": true' not in report.clean.items["AccountsTable"][("acc_late", "ACCOUNT")]
    # the one email is acc_soon's invoice (due 26 Apr) going overdue, which this run is the first to see
    [(_, subject, _)] = list(report.clean.emails)
    assert subject.startswith("Invoice ") and " is overdue: 29.00 USD due since 2026-04-26" in subject
    report.assert_every_fault_recovered(
        {"sqs.SendMessageBatch", "dynamodb.TransactWriteItems", "sesv2.SendEmail", "eventbridge.PutEvents"}
    )
