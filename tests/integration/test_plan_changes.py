"""Plan changes end to end (spec §3.4): the request in, the proration, the pending change applied by the renewal run,
the change record, the invoice or credit note, the email and the bus event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.builders import change_body
from tests.support import (
    EVENTS,
    World,
    clock,
    contacts_body,
    episodes,
    grace_run,
    profiles_body,
    series_of,
    upsert_body,
)


def monthly_account(world: World, account_id: str = "acc_1", billed_up_to: str = "2026-03-10", **data: Any) -> None:
    """Given a monthly subscription anchored on the 10th, invoiced up to ``billed_up_to``."""
    fields = {"billing_cycle": "monthly", "started_on": "2026-01-10", "customer_since": "2026-01-10"} | data
    assert world.webhook(upsert_body(account_id, **fields))[0] == 202
    world.renewal(f"{billed_up_to}T00:15:00Z")


def changes(world: World, account_id: str) -> list[dict[str, Any]]:
    status, body = world.get(f"/accounts/{account_id}/changes")
    assert status == 200
    return body["changes"]


def lines(invoice: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["code"], line["amount"]) for line in invoice["lines"]]


def plan_notices(world: World, account_id: str) -> list[dict[str, Any]]:
    return [n for n in world.notices(account_id) if n["kind"].startswith("plan.")]


def plan_events(world: World) -> list[dict[str, Any]]:
    return [e for e in world.bus_events() if e["detail-type"].startswith("plan.")]


def plan_emails(world: World) -> list[Any]:
    return [e for e in world.emails() if "plan" in e.subject.lower()]


# ---------------------------------------------------------------- immediate changes
def test_spec_example_t50_to_t150_on_25_march_charges_5_16_usd(world: World) -> None:
    # Given a monthly USD subscription anchored on the 10th, on t50, invoiced up to 10 Mar
    monthly_account(world)
    # When the CRM asks for t150 on 25 Mar (an upgrade: immediate by default)
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150"))
    # Then (34 − 24) × 16 ÷ 31 = 5.16 USD is invoiced at once
    assert status == 202
    assert (body["outcome"], body["change"]["kind"], body["change"]["effective"]) == ("applied", "upgrade", "immediate")
    invoice = world.invoices("acc_1")[-1]
    assert invoice["invoice_id"] == "inv_acc_1_plan_change_2026-03-25-evt_chg_1"
    assert invoice["kind"] == "plan_change"
    assert lines(invoice) == [("plan_change_proration", "5.16")]
    assert (invoice["net"], invoice["vat"], invoice["gross"]) == ("5.16", "0.00", "5.16")
    assert (invoice["period_start"], invoice["period_end"], invoice["due_on"]) == (
        "2026-03-25",
        "2026-04-10",
        "2026-04-08",
    )
    # And the account pays t150 from now on, its billing dates unchanged
    item = world.account_item("acc_1")
    assert (item["contact_tier"], item["next_billing_date"]) == ("t150", "2026-04-10")
    assert item["profile_version"] == "2026-03-25T10:00:00.000000Z#evt_chg_1"
    # And the change is recorded: who, when, from, to, why, amounts, the invoice
    [record] = world.ledger("acc_1", "CHANGE#")
    assert record["sk"] == "CHANGE#2026-03-25T10:00:00.000000Z#evt_chg_1"
    assert record["requested_by"] == "support:ann"
    assert record["reason"] == "The customer asked for it on the phone"
    assert (record["requested_at"], record["effective_at"], record["status"]) == (
        "2026-03-25T10:00:00Z",
        "2026-03-25T10:00:00Z",
        "applied",
    )
    assert (record["from"]["contact_tier"], record["to"]["contact_tier"]) == ("t50", "t150")
    assert (record["from"]["monthly_price"], record["to"]["monthly_price"]) == ("24.00", "34.00")
    amounts = {"net": "5.16", "vat": "0.00", "gross": "5.16", "credit_applied": "0.00", "amount_due": "5.16"}
    assert record["amounts"] == amounts
    assert record["document"]["invoice_id"] == invoice["invoice_id"]
    # And the customer is told, by email and on the bus
    [notice] = plan_notices(world, "acc_1")
    assert (notice["kind"], notice["status"]) == ("plan.changed", "sent")
    [email] = plan_emails(world)
    assert email.destinations["ToAddresses"] == ["billing@acc_1.example"]
    assert "t50 → t150" in email.subject
    for text in ("t50 → t150", "24.00 USD → 34.00 USD", "5.16 USD", "The customer asked for it on the phone"):
        assert text in email.body
    [event] = plan_events(world)
    assert event["detail-type"] == "plan.changed"
    assert event["detail"]["gross"] == "5.16"
    assert (event["detail"]["from"]["contact_tier"], event["detail"]["to"]["contact_tier"]) == ("t50", "t150")
    # And GET /changes lists it
    [listed] = changes(world, "acc_1")
    assert (listed["change_id"], listed["status"], listed["amounts"]["gross"]) == ("evt_chg_1", "applied", "5.16")


def test_mid_period_downgrade_asked_immediate_is_credited_at_once(world: World) -> None:
    # Given a monthly GBP subscription on t150 (28.00 GBP) anchored on the 10th
    monthly_account(world, contact_tier="t150", currency="GBP")
    # When the CRM asks for t50 (20.00 GBP) on 25 Mar, effective immediately
    status, body = world.webhook(
        change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t50", effective="immediate")
    )
    # Then a credit note of (20 − 28) × 16 ÷ 31 = −4.13 GBP net, VAT −0.83, −4.96 gross
    assert (status, body["change"]["kind"], body["change"]["effective_chosen_by"]) == (202, "downgrade", "request")
    note = world.invoices("acc_1")[-1]
    assert (note["kind"], note["invoice_id"]) == ("credit_note", "inv_acc_1_credit_note_2026-03-25-evt_chg_1")
    assert lines(note) == [("plan_change_proration", "-4.13")]
    assert (note["net"], note["vat"], note["gross"]) == ("-4.13", "-0.83", "-4.96")
    assert world.account_item("acc_1")["contact_tier"] == "t50"
    [record] = world.ledger("acc_1", "CHANGE#")
    amounts = {"net": "-4.13", "vat": "-0.83", "gross": "-4.96", "credit_applied": "0.00", "amount_due": "0.00"}
    assert record["amounts"] == amounts
    assert record["document"]["kind"] == "credit_note"
    # numbered in the account's series like its invoices (README "Invoice numbers"): the account's 2026 GBP
    # invoices before it are its monthly renewals; the credit note takes the next number
    earlier = [i for i in world.invoices("acc_1")[:-1] if i["currency"] == "GBP" and i["issued_at"][:4] == "2026"]
    assert note["number"] == record["document"]["number"] == f"{series_of('acc_1', 'GBP', 2026)}-{len(earlier) + 1}"
    [email] = plan_emails(world)
    assert "credit note" in email.body and "-4.96 GBP" in email.body and note["number"] in email.body
    assert plan_events(world)[0]["detail"]["invoice_kind"] == "credit_note"
    # And the next renewal prices t50: 20.00 + 20 % VAT
    world.renewal("2026-04-10T00:15:00Z")
    assert world.invoices("acc_1")[-1]["gross"] == "24.00"


def test_annual_upgrade_is_prorated_over_the_year(world: World) -> None:
    # Given an annual USD subscription on t50 (288.00 a year) started 10 Jan 2026
    world.webhook(upsert_body("acc_an"))
    world.renewal("2026-03-10T00:15:00Z")
    # When it moves to t150 (408.00 a year) on 25 Mar
    status, body = world.webhook(change_body("acc_an", "2026-03-25T09:00:00Z", contact_tier="t150"))
    # Then (408 − 288) × 291 ÷ 365 = 95.67 USD for the rest of the year to 10 Jan 2027
    assert status == 202
    [invoice] = world.invoices("acc_an")
    assert lines(invoice) == [("plan_change_proration", "95.67")]
    assert (invoice["period_start"], invoice["period_end"], invoice["gross"]) == ("2026-03-25", "2027-01-10", "95.67")
    # And 130 contacts on the next monthly anniversary are within the new tier: no supplement
    world.webhook(contacts_body("acc_an", "2026-04-01T00:00:00Z", 130))
    world.renewal("2026-04-10T00:15:00Z")
    assert len(world.invoices("acc_an")) == 1
    assert body["change"]["next_billing_date"] == "2026-04-10"


def test_monthly_to_annual_settles_the_month_and_starts_the_year_on_the_change_date(world: World) -> None:
    # Given a monthly USD t50 subscription anchored on the 10th
    monthly_account(world)
    # When it switches to annual on 25 Mar (an upgrade: immediate)
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", billing_cycle="annual"))
    # Then the unused 16 of 31 days are credited (24 × 16 ÷ 31 = 12.39) and the year is charged in full
    assert (status, body["change"]["kind"]) == (202, "upgrade")
    invoice = world.invoices("acc_1")[-1]
    assert invoice["kind"] == "plan_change"
    assert lines(invoice) == [("subscription", "288.00"), ("plan_change_credit", "-12.39")]
    assert (invoice["net"], invoice["gross"]) == ("275.61", "275.61")
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-03-25", "2027-03-25")
    # And the subscription is re-anchored on the change date: billing dates follow the new subscription
    item = world.account_item("acc_1")
    assert (item["billing_cycle"], item["started_on"], item["next_billing_date"]) == (
        "annual",
        "2026-03-25",
        "2026-04-25",
    )
    assert (body["change"]["started_on"], body["change"]["next_billing_date"]) == ("2026-03-25", "2026-04-25")
    # And the next year is invoiced on 25 Mar 2027, with monthly supplements only in between
    world.webhook(contacts_body("acc_1", "2026-04-20T00:00:00Z", 130))
    with clock(datetime(2027, 3, 25, 1, 0, tzinfo=UTC)):
        world.renewal("2027-03-25T00:15:00Z")
    later = [(i["period_start"], i["kind"], i["gross"]) for i in world.invoices("acc_1")][3:]
    assert later[0] == ("2026-04-25", "overrun", "10.00")
    assert later[-1] == ("2027-03-25", "renewal", "298.00")
    assert len(later) == 12


def test_annual_to_monthly_waits_for_the_end_of_the_year(world: World) -> None:
    # Given an annual subscription started 10 Jan 2025
    world.webhook(
        upsert_body("acc_an", started_on="2025-01-10", customer_since="2025-01-10", occurred_at="2025-01-10T08:00:00Z")
    )
    world.renewal("2025-06-10T00:15:00Z")
    # When it asks for monthly billing on 20 Jun 2025 (a downgrade: at period end, the yearly anniversary)
    status, body = world.webhook(change_body("acc_an", "2025-06-20T10:00:00Z", billing_cycle="monthly"))
    assert (status, body["outcome"], body["change"]["effective_on"]) == (202, "scheduled", "2026-01-10")
    # Then nothing is billed before 10 Jan 2026, and that date bills one month of the monthly subscription
    world.renewal("2026-01-10T00:15:00Z")
    [invoice] = world.invoices("acc_an")
    assert (invoice["kind"], invoice["period_start"], invoice["period_end"], invoice["gross"]) == (
        "renewal",
        "2026-01-10",
        "2026-02-10",
        "24.00",
    )
    assert world.account_item("acc_an")["billing_cycle"] == "monthly"


# ---------------------------------------------------------------- period-end changes
def test_pending_downgrade_is_applied_by_the_renewal_run_before_pricing(world: World) -> None:
    # Given a monthly GBP subscription on t250 (36.00 GBP), started 15 Jan
    world.webhook(
        upsert_body(
            "acc_gb",
            billing_cycle="monthly",
            currency="GBP",
            contact_tier="t250",
            started_on="2026-01-15",
            customer_since="2026-01-15",
        )
    )
    # When on 20 Jan it asks for t100 (a downgrade: period end by default)
    status, body = world.webhook(change_body("acc_gb", "2026-01-20T10:00:00Z", contact_tier="t100"))
    # Then nothing changes yet: the change is pending for 15 Feb, and nothing is invoiced
    assert (status, body["outcome"]) == (202, "scheduled")
    assert (body["change"]["effective_on"], body["change"]["effective_at"]) == ("2026-02-15", "2026-02-15T00:00:00Z")
    item = world.account_item("acc_gb")
    assert item["contact_tier"] == "t250"
    assert item["pending_change"]["effective_on"] == "2026-02-15"
    assert world.get("/accounts/acc_gb")[1]["pending_change"] == {
        "change_id": "evt_chg_1",
        "effective_on": "2026-02-15",
        "changes": {"contact_tier": "t100"},
    }
    assert world.invoices("acc_gb") == []
    [scheduled] = plan_notices(world, "acc_gb")
    assert scheduled["kind"] == "plan.change_scheduled"
    assert "takes effect at the end of your current period, on 2026-02-15" in scheduled["text"]
    # When the renewal run bills 15 Feb
    world.renewal("2026-02-15T00:15:00Z")
    # Then that invoice prices t100: 24.00 GBP + 4.80 VAT = 28.80
    [invoice] = world.invoices("acc_gb")
    assert invoice["invoice_id"] == "inv_acc_gb_renewal_2026-02-15"
    assert lines(invoice) == [("subscription", "24.00")]
    assert invoice["gross"] == "28.80"
    # And the subscription is t100 with no pending change, the record says applied at 00:00 UTC of that date
    item = world.account_item("acc_gb")
    assert (item["contact_tier"], item["pending_change"], item["next_billing_date"]) == ("t100", None, "2026-03-15")
    [record] = changes(world, "acc_gb")
    assert (record["status"], record["effective_at"], record["applied_at"]) == (
        "applied",
        "2026-02-15T00:00:00Z",
        "2026-02-15T00:00:00Z",
    )
    assert record["document"]["invoice_id"] == "inv_acc_gb_renewal_2026-02-15"
    # And the customer heard of it twice: scheduled, then changed (besides the invoice)
    assert [n["kind"] for n in plan_notices(world, "acc_gb")] == ["plan.change_scheduled", "plan.changed"]
    assert [e["detail-type"] for e in plan_events(world)] == ["plan.change_scheduled", "plan.changed"]
    # And a rerun changes nothing
    world.renewal("2026-02-15T00:15:00Z")
    assert len(world.invoices("acc_gb")) == 1 and len(plan_notices(world, "acc_gb")) == 2


def test_a_newer_request_replaces_the_pending_one_and_a_cancel_drops_it(world: World) -> None:
    monthly_account(world, billed_up_to="2026-02-10", contact_tier="t250")
    world.webhook(change_body("acc_1", "2026-02-12T10:00:00Z", "evt_a", contact_tier="t100"))
    # A newer request replaces the pending one
    status, body = world.webhook(change_body("acc_1", "2026-02-13T10:00:00Z", "evt_b", contact_tier="t150"))
    assert (status, body["outcome"], body["change"]["replaced"]) == (202, "scheduled", "evt_a")
    assert world.account_item("acc_1")["pending_change"]["change_id"] == "evt_b"
    # An older request arriving late does not undo the newer decision
    status, body = world.webhook(change_body("acc_1", "2026-02-11T10:00:00Z", "evt_old", contact_tier="t50"))
    assert (status, body["outcome"]) == (202, "superseded")
    # A cancellation drops the pending change
    status, body = world.webhook(
        change_body("acc_1", "2026-02-14T10:00:00Z", "evt_cancel", cancel_pending=True, reason="Changed their mind")
    )
    assert (status, body["outcome"], body["change"]["cancels"]) == (202, "cancelled", "evt_b")
    assert world.account_item("acc_1").get("pending_change") is None
    # So the billing date prices the subscription as it was
    world.renewal("2026-03-10T00:15:00Z")
    assert lines(world.invoices("acc_1")[-1]) == [("subscription", "44.00")]
    listed = changes(world, "acc_1")
    assert [(c["change_id"], c["status"]) for c in listed] == [
        ("evt_old", "superseded"),
        ("evt_a", "superseded"),
        ("evt_b", "cancelled"),
        ("evt_cancel", "applied"),
    ]
    assert [n["kind"] for n in plan_notices(world, "acc_1")] == [
        "plan.change_scheduled",
        "plan.change_scheduled",
        "plan.change_cancelled",
    ]
    # Nothing left to cancel: 409, nothing written
    status, _ = world.webhook(change_body("acc_1", "2026-03-11T10:00:00Z", "evt_cancel2", cancel_pending=True))
    assert status == 409
    assert len(changes(world, "acc_1")) == 4


def test_switch_to_annual_at_period_end_starts_the_year_on_the_billing_date(world: World) -> None:
    monthly_account(world)
    status, body = world.webhook(
        change_body("acc_1", "2026-03-25T10:00:00Z", billing_cycle="annual", effective="period_end")
    )
    assert (status, body["change"]["effective_on"]) == (202, "2026-04-10")
    world.renewal("2026-04-10T00:15:00Z")
    invoice = world.invoices("acc_1")[-1]
    assert (invoice["kind"], invoice["period_start"], invoice["period_end"]) == ("renewal", "2026-04-10", "2027-04-10")
    assert lines(invoice) == [("subscription", "288.00")]
    item = world.account_item("acc_1")
    assert (item["billing_cycle"], item["started_on"], item["next_billing_date"]) == (
        "annual",
        "2026-04-10",
        "2026-05-10",
    )
    # The monthly anniversaries in between bill nothing without an overrun; the next year is due 10 Apr 2027
    with clock(datetime(2027, 4, 10, 1, 0, tzinfo=UTC)):
        world.renewal("2027-04-10T00:15:00Z")
    assert [(i["period_start"], i["gross"]) for i in world.invoices("acc_1")][-2:] == [
        ("2026-04-10", "288.00"),
        ("2027-04-10", "288.00"),
    ]


# ---------------------------------------------------------------- mixed changes
def test_a_mixed_change_that_costs_more_is_an_immediate_upgrade(world: World) -> None:
    # Given t50 with one profile pack: 24.00 + 10.00 = 34.00 USD a month
    monthly_account(world, profile_packs=1)
    # When the tier goes up to t250 and the pack goes: 44.00 a month (tier up, packs down)
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t250", profile_packs=0))
    # Then it is mixed, treated as an upgrade because it is dearer: (44 − 34) × 16 ÷ 31 = 5.16 now
    change = body["change"]
    assert (status, change["kind"], change["treated_as"], change["effective"]) == (202, "mixed", "upgrade", "immediate")
    assert change["parts"] == {"contact_tier": "up", "profile_packs": "down"}
    assert lines(world.invoices("acc_1")[-1]) == [("plan_change_proration", "5.16")]
    assert "raises some parts of your plan and lowers others" in plan_notices(world, "acc_1")[0]["text"]


def test_a_mixed_change_that_costs_less_waits_for_period_end(world: World) -> None:
    # Given t50 with two profile packs: 24.00 + 20.00 = 44.00 USD a month
    monthly_account(world, profile_packs=2)
    # When the tier goes up to t150 and the packs go: 34.00 a month
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150", profile_packs=0))
    # Then it is mixed, treated as a downgrade: nothing now, applied on 10 Apr
    change = body["change"]
    assert (status, change["kind"], change["treated_as"], change["status"]) == (202, "mixed", "downgrade", "pending")
    assert change["effective_on"] == "2026-04-10"
    world.renewal("2026-04-10T00:15:00Z")
    assert lines(world.invoices("acc_1")[-1]) == [("subscription", "34.00")]


# ---------------------------------------------------------------- add-ons and the other policies
def test_telephone_support_add_on_is_prorated_and_its_start_recorded(world: World) -> None:
    # Given standard t50 with 4 paying users, anchored on the 20th
    world.webhook(
        upsert_body(
            "acc_tel", billing_cycle="monthly", paying_users=4, started_on="2026-01-20", customer_since="2026-01-20"
        )
    )
    world.renewal("2026-01-20T00:15:00Z")
    # When telephone support is added on 3 Feb: 4 × 15.00 = 60.00 more a month
    status, body = world.webhook(change_body("acc_tel", "2026-02-03T14:30:00Z", telephone_support=True))
    # Then 60 × 17 ÷ 31 = 32.90 USD for the rest of the period
    assert (status, body["change"]["kind"]) == (202, "upgrade")
    assert lines(world.invoices("acc_tel")[-1]) == [("plan_change_proration", "32.90")]
    # And the record says from when the account is entitled (what fair use reads)
    [record] = world.ledger("acc_tel", "CHANGE#")
    assert (record["from"]["telephone_support_entitled"], record["to"]["telephone_support_entitled"]) == (False, True)
    assert record["effective_at"] == "2026-02-03T14:30:00Z"
    # And the next renewal bills the add-on
    world.renewal("2026-02-20T00:15:00Z")
    assert lines(world.invoices("acc_tel")[-1]) == [("subscription", "24.00"), ("telephone_support", "60.00")]


def test_downgrade_below_the_profile_count_is_allowed_and_says_an_episode_opens(world: World) -> None:
    # Given complete (limit 500) with 230 profiles
    monthly_account(world, package="complete")
    world.webhook(profiles_body("acc_1", "2026-03-20T00:00:00Z", 230))
    # When it moves to standard (limit 200) immediately
    status, body = world.webhook(
        change_body("acc_1", "2026-03-25T10:00:00Z", package="standard", effective="immediate")
    )
    # Then it is applied, and the response and the notice say an excess-profile episode opens
    assert (status, body["outcome"]) == (202, "applied")
    assert body["change"]["excess_profiles"] == {"count": 230, "limit": 200, "excess": 30}
    assert "excess-profile episode opens" in body["warnings"][0]
    text = plan_notices(world, "acc_1")[0]["text"]
    assert "an excess-profile episode opens now" in text
    assert "Telephone support ends with this change" in text
    # And the credit: (24 − 44) × 16 ÷ 31 = −10.32
    assert world.invoices("acc_1")[-1]["net"] == "-10.32"
    [record] = world.ledger("acc_1", "CHANGE#")
    assert (record["from"]["telephone_support_entitled"], record["to"]["telephone_support_entitled"]) == (True, False)
    # And the excess-profile policy opened the episode from the change's time
    assert [n["kind"] for n in world.notices("acc_1") if n["kind"].startswith("profiles.")] == ["profiles.exceeded"]
    assert world.get("/accounts/acc_1")[1]["open_episode"] is not None


def test_an_immediate_upgrade_to_complete_resolves_an_episode_in_grace(world: World) -> None:
    # Given standard (limit 200) with 230 profiles since 20 Mar: an episode in grace
    monthly_account(world)
    world.webhook(profiles_body("acc_1", "2026-03-20T00:00:00Z", 230))
    assert world.get("/accounts/acc_1")[1]["open_episode"] is not None
    # When it upgrades to complete (limit 500) on 25 Mar
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", package="complete"))
    # Then the change is charged (44 − 24) × 16 ÷ 31 = 10.32 and the episode is resolved by the higher limit, no fee
    assert (status, body["change"]["to"]["profile_limit"]) == (202, 500)
    assert world.invoices("acc_1")[-1]["gross"] == "10.32"
    assert world.get("/accounts/acc_1")[1]["open_episode"] is None
    kinds = [n["kind"] for n in world.notices("acc_1")]
    assert kinds.count("profiles.exceeded") == 1 and kinds.count("profiles.resolved") == 1


# ---------------------------------------------------------------- idempotency, last writer wins, validation
def test_the_same_request_id_twice_is_applied_once(world: World) -> None:
    monthly_account(world)
    body = change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150")
    first = world.webhook(body)
    again = world.webhook(body)
    assert first[0] == 202 and again == (200, first[1])
    assert len(world.invoices("acc_1")) == 3  # Feb, Mar and the one change invoice
    assert len(world.ledger("acc_1", "CHANGE#")) == 1
    assert len(plan_emails(world)) == 1
    assert len(plan_events(world)) == 1


def test_a_retry_after_the_answer_was_lost_applies_nothing_twice(world: World) -> None:
    # Given a change applied, whose webhook answer never reached the CRM (the idempotency record is gone)
    monthly_account(world)
    body = change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150")
    first = world.webhook(body)[1]
    table = world.template.physical_id("IdempotencyTable")
    for item in world.ddb.scan(TableName=table)["Items"]:
        world.ddb.delete_item(TableName=table, Key={"id": item["id"]})
    # When the CRM retries it
    status, again = world.webhook(body)
    # Then the change record answers: the same change, one invoice, one email
    assert (status, again["change"]) == (202, first["change"])
    assert [i["kind"] for i in world.invoices("acc_1")].count("plan_change") == 1
    assert len(plan_emails(world)) == 1


def test_an_older_upsert_arriving_late_does_not_undo_a_change_a_newer_one_wins(world: World) -> None:
    monthly_account(world)
    world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150"))
    stale = upsert_body("acc_1", billing_cycle="monthly", occurred_at="2026-03-20T00:00:00Z")
    assert world.webhook(stale)[1]["outcome"] == "stale"
    assert world.account_item("acc_1")["contact_tier"] == "t150"
    newer = upsert_body("acc_1", billing_cycle="monthly", contact_tier="t250", occurred_at="2026-03-26T00:00:00Z")
    assert world.webhook(newer)[1]["outcome"] == "updated"
    assert world.account_item("acc_1")["contact_tier"] == "t250"


def assert_nothing_written(world: World, before: dict[str, Any], account_id: str = "acc_1") -> None:
    assert world.account_item(account_id) == before
    assert world.ledger(account_id, "CHANGE#") == []
    assert [i["kind"] for i in world.invoices(account_id)] == ["renewal", "renewal"]
    assert plan_notices(world, account_id) == []
    assert plan_emails(world) == []


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"package": "premium"}, "data.package", "unknown package 'premium'"),
        ({"contact_tier": "t75"}, "data.contact_tier", "unknown tier 't75'"),
        (
            {"contact_tier": "t50", "package": "complete", "telephone_support": True},
            "data.telephone_support",
            "included",
        ),
        ({"contact_tier": "t50"}, "data", "nothing differs"),
        ({}, "data", "names no subscription field"),
        ({"contact_tier": "t150", "reason": "   "}, "data.reason", "a reason is required"),
    ],
)
def test_invalid_requests_are_422_and_change_nothing(world: World, data: dict, field: str, says: str) -> None:
    monthly_account(world)
    before = world.account_item("acc_1")
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", **data))
    assert status == 422
    [error] = body["errors"]
    assert error["field"] == field and says in error["message"]
    assert_nothing_written(world, before)


def test_missing_reason_is_422_naming_it(world: World) -> None:
    monthly_account(world)
    before = world.account_item("acc_1")
    body = change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t150")
    del body["data"]["reason"]
    status, answer = world.webhook(body)
    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["data.reason"]
    assert_nothing_written(world, before)


def test_a_tier_below_the_active_contacts_is_422_explaining_why(world: World) -> None:
    monthly_account(world, contact_tier="t150")
    world.webhook(contacts_body("acc_1", "2026-03-20T00:00:00Z", 120))
    before = world.account_item("acc_1")
    status, body = world.webhook(change_body("acc_1", "2026-03-25T10:00:00Z", contact_tier="t100"))
    assert status == 422
    [error] = body["errors"]
    assert error["field"] == "data.contact_tier"
    assert "has 120 now" in error["message"] and "overrun supplement" in error["message"]
    assert "choose t150 or above" in error["message"]
    assert_nothing_written(world, before)


def test_an_immediate_change_backdated_across_an_invoice_is_422(world: World) -> None:
    monthly_account(world)
    before = world.account_item("acc_1")
    status, body = world.webhook(change_body("acc_1", "2026-03-05T10:00:00Z", contact_tier="t150"))
    assert status == 422
    assert body["errors"][0]["field"] == "occurred_at"
    assert_nothing_written(world, before)


def test_an_immediate_change_on_a_billing_date_not_yet_invoiced_is_409_until_the_run(world: World) -> None:
    monthly_account(world, billed_up_to="2026-02-10")
    body = change_body("acc_1", "2026-03-10T00:05:00Z", contact_tier="t150")
    assert world.webhook(body)[0] == 409
    assert world.ledger("acc_1", "CHANGE#") == []
    # After the run of 10 Mar the same request goes through: a full month's difference
    world.renewal("2026-03-10T00:15:00Z")
    status, _ = world.webhook(body)
    assert status == 202
    [invoice] = [i for i in world.invoices("acc_1") if i["kind"] == "plan_change"]
    assert lines(invoice) == [("plan_change_proration", "10.00")]


def test_the_sample_events_work_as_sam_local_would_send_them(world: World) -> None:
    # Given the sample account (annual t50 from 10 Jan) invoiced up to 10 Mar
    world.webhook(json.loads((EVENTS / "webhooks" / "account_upserted.json").read_text()))
    world.renewal("2026-03-10T00:15:00Z")
    # When the sample change is delivered, then the sample GET lists it
    status, body = world.webhook(json.loads((EVENTS / "webhooks" / "plan_change_requested.json").read_text()))
    assert (status, body["outcome"]) == (202, "applied")
    response = world.invoke("CrmWebhookFunction", json.loads((EVENTS / "crm_webhook__get_changes.json").read_text()))
    assert response["statusCode"] == 200
    assert [c["change_id"] for c in json.loads(response["body"])["changes"]] == ["evt_acc_42_change_0325"]
    # And the sample cancellation finds nothing pending: 409
    assert world.webhook(json.loads((EVENTS / "webhooks" / "plan_change_cancel_pending.json").read_text()))[0] == 409


def test_unknown_account_is_404(world: World) -> None:
    assert world.webhook(change_body("nobody", "2026-03-25T10:00:00Z", contact_tier="t150"))[0] == 404
    assert world.get("/accounts/nobody/changes")[0] == 404


def test_a_pending_pack_applied_by_the_renewal_run_resolves_an_episode_in_grace(world: World) -> None:
    # Given standard (limit 200), billed up to 10 Mar, with 230 profiles since 1 Apr: grace ends 15 Apr
    monthly_account(world)
    world.webhook(profiles_body("acc_1", "2026-04-01T00:00:00Z", 230))
    # And a profile pack asked for at period end (the next billing date, 10 Apr, is inside the grace period)
    status, body = world.webhook(change_body("acc_1", "2026-04-02T10:00:00Z", profile_packs=1, effective="period_end"))
    assert (status, body["outcome"]) == (202, "scheduled")
    # When the renewal run of 10 Apr applies it, and the grace runs go past the grace end
    world.renewal("2026-04-10T00:15:00Z")
    grace_run(world, "2026-04-16T00:05:00Z")
    # Then the higher limit (250) resolved the episode: no fee invoice, and the customer was told so
    assert world.get("/accounts/acc_1")[1]["open_episode"] is None
    [episode] = episodes(world, "acc_1")
    assert episode["outcome"] == "resolved_by_limit_increase"
    kinds = [invoice["kind"] for invoice in world.invoices("acc_1")]
    assert "excess_profiles" not in kinds
    april = next(inv for inv in world.invoices("acc_1") if inv["period_start"] == "2026-04-10")
    assert lines(april) == [("subscription", "24.00"), ("profile_packs", "10.00")]
    notices = [n["kind"] for n in world.notices("acc_1")]
    assert notices.count("profiles.resolved") == 1


# ---------------------------------------------------------------- the top tier (above 2,500 contacts)
@pytest.mark.parametrize("active", [2500, 2501])
def test_an_account_at_or_above_2500_contacts_moves_up_to_t2500_pro_rated(world: World, active: int) -> None:
    # Given a monthly complete GBP account on t500, anchored on the 22nd, invoiced up to 22 Aug
    monthly_account(
        world,
        billed_up_to="2026-08-22",
        package="complete",
        contact_tier="t500",
        currency="GBP",
        started_on="2026-07-22",
        customer_since="2026-07-22",
    )
    world.accepted(contacts_body("acc_1", "2026-09-01T00:00:00Z", active))
    # When it asks for t2500 on 20 Sep (22 Aug-22 Sep: 31 days, 2 left)
    status, body = world.webhook(change_body("acc_1", "2026-09-20T10:00:00Z", contact_tier="t2500"))
    # Then it is an upgrade, applied now: (205 - 65) x 2 / 31 = 9.03 net, 1.81 VAT, 10.84 gross
    assert status == 202, body
    assert (body["outcome"], body["change"]["kind"]) == ("applied", "upgrade")
    invoice = world.invoices("acc_1")[-1]
    assert lines(invoice) == [("plan_change_proration", "9.03")]
    assert (invoice["net"], invoice["vat"], invoice["gross"]) == ("9.03", "1.81", "10.84")
    assert world.account_item("acc_1")["contact_tier"] == "t2500"
    # And the next billing date bills t2500 (205 + 16 = 221.00 net) with no supplement; above 2,500 it is flagged
    world.renewal("2026-09-22T00:15:00Z")
    renewal = world.invoices("acc_1")[-1]
    assert (renewal["period_start"], lines(renewal)) == ("2026-09-22", [("subscription", "221.00")])
    status, standing = world.get("/accounts/acc_1")
    assert (standing["contacts"]["tier_reached"], standing["contacts"]["custom_quote"]) == ("t2500", active > 2500)
    assert standing["contacts"]["in_overrun"] is False


@pytest.mark.parametrize("active", [2500, 2501])
def test_an_account_at_or_above_2500_contacts_cannot_move_down_from_t2500(world: World, active: int) -> None:
    monthly_account(world, billed_up_to="2026-08-22", contact_tier="t2500", currency="GBP", started_on="2026-07-22")
    world.accepted(contacts_body("acc_1", "2026-09-01T00:00:00Z", active))
    status, body = world.webhook(change_body("acc_1", "2026-09-20T10:00:00Z", contact_tier="t1000"))
    assert status == 422
    [error] = body["errors"]
    assert error["field"] == "data.contact_tier"
    assert "choose t2500 or above" in error["message"]
    assert world.account_item("acc_1")["contact_tier"] == "t2500"
