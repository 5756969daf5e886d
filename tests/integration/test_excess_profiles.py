"""Excess profiles end to end (spec §3.2): CRM snapshots in, the grace-expiry runs, fee invoices, reminders,
restriction and payment; what is written to the tables, emailed and put on the bus.

The calendar of the walk: 205 profiles on 1 March at 00:00 UTC (the 1st is day 1 of the grace period); the daily
runs (00:05 UTC) of days 1 to 14 issue nothing; the grace ends 15 March 00:00 UTC, so the run of the 15th issues the
fee invoice, due 14 days later (29 March); the reminder goes out on 26 March (day 12 counting the invoice day as
day 1, three days before the deadline); the due date is on time to its end, so the run of 30 March restricts.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.support import World, episodes, grace_run, payment_body, profiles_body, upsert_body

ACC = "acc_42"
STARTED = "2026-02-20"  # billing dates on the 20th: none falls inside the walk unless a test runs renewals


def given_account(world: World, currency: str = "USD", **data: object) -> None:
    fields = {"billing_cycle": "monthly", "currency": currency, "started_on": STARTED, "customer_since": STARTED}
    assert world.webhook(upsert_body(ACC, **(fields | data)))[0] == 202


def daily_runs(world: World, first: date, last: date, at: str = "00:05") -> None:
    day = first
    while day <= last:
        grace_run(world, f"{day.isoformat()}T{at}:00Z")
        day += timedelta(days=1)


def kinds(world: World) -> list[str]:
    return [notice["kind"] for notice in world.notices(ACC)]


def bus_kinds(world: World) -> list[str]:
    return [event["detail-type"] for event in world.bus_events()]


@pytest.mark.parametrize(
    ("currency", "net", "vat", "gross", "fee"),
    [("USD", "5.00", "0.00", "5.00", "1.00"), ("GBP", "4.00", "0.80", "4.80", "0.80")],
)
def test_the_whole_path_on_exact_days(world: World, currency: str, net: str, vat: str, gross: str, fee: str) -> None:
    # Given a standard account (limit 200)
    given_account(world, currency)

    # When the CRM reports 205 profiles on the 1st
    counted = profiles_body(ACC, "2026-03-01T00:00:00Z", 205)
    status, body = world.webhook(counted)
    assert (status, body["outcome"], body["happened"], body["episode_state"]) == (
        202,
        "applied",
        ["exceeded"],
        "in_grace",
    )
    # Then an "exceeded" notice with the count, the limit, the grace end, the fee and the ways out
    [exceeded] = world.notices(ACC)
    assert (exceeded["kind"], exceeded["status"]) == ("profiles.exceeded", "sent")
    text = exceeded["text"]
    assert "205 user profiles, 5 over your limit of 200" in text
    assert "You have until 2026-03-15 00:00 UTC (14 days)" in text
    assert f"Total with VAT                     {gross} {currency}" in text
    pack_price, complete_price = ("10.00", "44.00") if currency == "USD" else ("8.00", "36.00")
    assert "Delete 5 profile(s)" in text
    assert f"Buy 1 profile pack(s) (+50 profiles each) at {pack_price} {currency}/month each" in text
    assert f"Upgrade to the complete package (limit 500 profiles) at {complete_price} {currency}/month" in text
    [email] = world.emails()
    assert email.destinations["ToAddresses"] == [f"billing@{ACC}.example"]
    assert email.subject == "Your account is over its profile limit: 205 of 200"
    [event] = world.bus_events()
    assert event["detail-type"] == "profiles.exceeded"
    assert (event["detail"]["count"], event["detail"]["limit"], event["detail"]["excess"]) == (205, 200, 5)
    assert (event["detail"]["fee_per_profile"], event["detail"]["fee_gross"]) == (fee, gross)
    assert event["detail"]["grace_ends_at"] == "2026-03-15T00:00:00+00:00"

    # When the daily runs of days 1 to 14 happen
    daily_runs(world, date(2026, 3, 1), date(2026, 3, 14))
    # Then no fee
    assert world.invoices(ACC) == []
    assert len(world.emails()) == 1

    # When the run at the grace end happens
    grace_run(world, "2026-03-15T00:05:00Z")
    # Then one fee invoice: 5 × the fee, with VAT, due 14 days later
    [invoice] = world.invoices(ACC)
    assert invoice["kind"] == "excess_profiles"
    assert invoice["invoice_id"].startswith(f"inv_{ACC}_excess_profiles_20260301T000000Z-")
    assert [(line["code"], line["quantity"], line["unit_price"], line["amount"]) for line in invoice["lines"]] == [
        ("excess_profiles", 5, fee, net)
    ]
    # priced from the snapshot in force at the grace end: the CRM's event of 1 March
    assert invoice["lines"][0]["evidence"] == {
        "event_type": "profiles.counted",
        "event_id": counted["id"],
        "occurred_at": "2026-03-01T00:00:00.000000Z",
        "count": 205,
    }
    assert (invoice["net"], invoice["vat"], invoice["gross"], invoice["currency"]) == (net, vat, gross, currency)
    assert (invoice["issued_at"], invoice["due_on"], invoice["status"]) == (
        "2026-03-15T00:05:00Z",
        "2026-03-29",
        "open",
    )
    fee_notice = world.notices(ACC)[-1]
    assert fee_notice["kind"] == "invoice.issued"
    assert f"{gross} {currency} including VAT. Please pay it by 2026-03-29." in fee_notice["text"]
    assert world.emails()[-1].subject == f"Your invoice {invoice['number']}: {gross} {currency} for excess profiles"
    assert bus_kinds(world)[-1] == "invoice.issued"
    assert world.bus_events()[-1]["detail"]["invoice_kind"] == "excess_profiles"

    # When the runs up to day 11 of the payment period happen (the invoice day is day 1)
    daily_runs(world, date(2026, 3, 16), date(2026, 3, 25))
    assert kinds(world) == ["profiles.exceeded", "invoice.issued"]
    # Then day 12 (three days before the deadline) reminds
    grace_run(world, "2026-03-26T00:05:00Z")
    assert kinds(world)[-1] == "invoice.payment_reminder"
    assert world.emails()[-1].subject == (
        f"Reminder: invoice {invoice['number']} ({gross} {currency}) is due on 2026-03-29"
    )
    assert "in 3 day(s)" in world.notices(ACC)[-1]["text"]

    # When the runs up to the deadline happen (the due date is still on time, to its end)
    daily_runs(world, date(2026, 3, 27), date(2026, 3, 29))
    grace_run(world, "2026-03-29T23:05:00Z")
    assert world.account_item(ACC)["restricted"] is False
    assert len(world.emails()) == 3
    # Then the run after the deadline makes the invoice overdue and restricts the account
    grace_run(world, "2026-03-30T00:05:00Z")
    assert world.invoices(ACC)[0]["status"] == "overdue"
    item = world.account_item(ACC)
    assert (item["restricted"], item["open_episode"]["state"]) == (True, "overdue")
    assert "grace_due_at" not in item  # nothing more for the run to do: it waits for the payment
    restricted = world.bus_events()[-1]
    assert restricted["detail-type"] == "account.restricted"
    assert (restricted["detail"]["block_new_profiles"], restricted["detail"]["gross"]) == (True, gross)
    assert "no new user profiles can be created" in world.emails()[-1].body
    assert "Delete 5 profile(s) you no longer need" in world.emails()[-1].body  # the ways out, still over
    status, standing = world.get(f"/accounts/{ACC}")
    assert status == 200
    assert (standing["restricted"], standing["open_episode"]["state"]) == (True, "overdue")
    assert (standing["open_episode"]["fee_gross"], standing["open_episode"]["deadline"]) == (gross, "2026-03-29")

    # When the payment arrives
    status, paid = world.webhook(payment_body(ACC, "2026-03-31T10:00:00Z", invoice["invoice_id"], gross, currency))
    # Then the invoice is paid and the restriction lifted, the CRM told by a bus event and the customer by email
    assert (status, paid["outcome"], paid["restriction_lifted"]) == (202, "paid", True)
    assert world.invoices(ACC)[0]["status"] == "paid"
    assert world.account_item(ACC)["restricted"] is False
    lifted = world.bus_events()[-1]
    assert (lifted["detail-type"], lifted["detail"]["block_new_profiles"]) == ("account.unrestricted", False)
    assert world.emails()[-1].subject == "Restriction lifted: thank you for your payment"
    assert kinds(world) == [
        "profiles.exceeded",
        "invoice.issued",
        "invoice.payment_reminder",
        "account.restricted",
        "account.unrestricted",  # listed by time, then id: the receipt went out first
        "invoice.payment_received",
    ]
    assert len(world.emails()) == 6
    # And the episode is kept with every transition and its outcome
    [episode] = episodes(world, ACC)
    assert [(t["event"], t["at"][:10]) for t in episode["transitions"]] == [
        ("exceeded", "2026-03-01"),
        ("fee_invoiced", "2026-03-15"),
        ("reminded", "2026-03-26"),
        ("overdue", "2026-03-30"),
        ("paid", "2026-03-31"),
    ]
    assert (episode["state"], episode["outcome"], episode["fee_gross"]) == ("paid", "fee_paid", gross)


def test_the_grace_period_is_14_days_to_the_minute(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    grace_run(world, "2026-03-15T00:05:00Z")  # the grace period ends at 09:00 today
    assert world.invoices(ACC) == []
    grace_run(world, "2026-03-16T00:05:00Z")
    assert [inv["gross"] for inv in world.invoices(ACC)] == ["5.00"]


def test_resolved_in_grace_by_reduction(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    # When the customer deletes profiles on day 10
    status, body = world.webhook(profiles_body(ACC, "2026-03-10T12:00:00Z", 195))
    assert (status, body["happened"]) == (202, ["resolved"])
    # Then the episode is resolved, no fee, a notice says so
    daily_runs(world, date(2026, 3, 11), date(2026, 3, 20))
    assert world.invoices(ACC) == []
    assert kinds(world) == ["profiles.exceeded", "profiles.resolved"]
    resolved = world.notices(ACC)[-1]
    assert "195 profiles, within your limit of 200" in resolved["text"]
    assert "no fee" in resolved["subject"]
    assert bus_kinds(world) == ["profiles.exceeded", "profiles.resolved"]
    assert world.bus_events()[-1]["detail"]["resolved_by"] == "reduction"
    assert "open_episode" not in world.account_item(ACC)
    [episode] = episodes(world, ACC)
    assert (episode["state"], episode["outcome"]) == ("resolved", "resolved_by_reduction")
    assert [t["event"] for t in episode["transitions"]] == ["exceeded", "resolved"]
    assert world.get(f"/accounts/{ACC}")[1]["open_episode"] is None


def test_resolved_in_grace_by_buying_a_pack(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 230))
    # When the CRM says the account bought a profile pack (limit 200 + 50 = 250)
    world.webhook(
        upsert_body(
            ACC, billing_cycle="monthly", started_on=STARTED, profile_packs=1, occurred_at="2026-03-05T10:00:00Z"
        )
    )
    # Then resolved by limit increase, without a fee, and no "approaching" notice for 230 of 250
    daily_runs(world, date(2026, 3, 14), date(2026, 3, 16))
    assert world.invoices(ACC) == []
    assert kinds(world) == ["profiles.exceeded", "profiles.resolved"]
    assert "Your profile limit is now 250, and your 230 profiles fit within it." in world.notices(ACC)[-1]["text"]
    [episode] = episodes(world, ACC)
    assert episode["outcome"] == "resolved_by_limit_increase"
    assert episode["transitions"][-1]["cause"].startswith("account.upserted:")
    standing = world.get(f"/accounts/{ACC}")[1]
    assert (standing["profiles"]["limit"], standing["open_episode"]) == (250, None)


def test_resolved_in_grace_by_upgrading_to_complete(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 320))
    world.webhook(
        upsert_body(
            ACC, billing_cycle="monthly", started_on=STARTED, package="complete", occurred_at="2026-03-14T10:00:00Z"
        )
    )
    [episode] = episodes(world, ACC)
    assert episode["outcome"] == "resolved_by_limit_increase"
    assert world.bus_events()[-1]["detail"]["limit"] == 500


def test_a_lower_limit_that_puts_the_count_over_opens_an_episode(world: World) -> None:
    given_account(world, package="complete")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 320))
    assert kinds(world) == []
    world.webhook(upsert_body(ACC, billing_cycle="monthly", started_on=STARTED, occurred_at="2026-03-02T10:00:00Z"))
    [episode] = episodes(world, ACC)
    assert (episode["opened_at"], episode["grace_ends_at"], episode["limit"]) == (
        "2026-03-02T10:00:00Z",
        "2026-03-16T10:00:00Z",
        200,
    )
    assert kinds(world) == ["profiles.exceeded"]


def test_a_reduction_after_the_grace_end_does_not_resolve_it(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    # the count falls at 10:00 on the 15th, one hour after the grace end, before the next run
    world.webhook(profiles_body(ACC, "2026-03-15T10:00:00Z", 190))
    assert kinds(world) == ["profiles.exceeded"]
    grace_run(world, "2026-03-16T00:05:00Z")
    # the fee is measured with the count in force at the grace end
    [invoice] = world.invoices(ACC)
    assert (invoice["lines"][0]["quantity"], invoice["gross"]) == (5, "5.00")
    episode = world.account_item(ACC)["open_episode"]
    assert (episode["excess_persists"], episode["count"], episode["fee_count"]) == (False, 190, 205)
    # once the fee is paid, with the excess gone, the episode leaves the account
    world.webhook(payment_body(ACC, "2026-03-20T10:00:00Z", invoice["invoice_id"], "5.00", "USD"))
    assert "open_episode" not in world.account_item(ACC)
    assert [t["event"] for t in episodes(world, ACC)[0]["transitions"]] == [
        "exceeded",
        "fee_invoiced",
        "paid",
        "closed",
    ]


def test_flapping_around_90_percent_sends_one_approaching_notice(world: World) -> None:
    given_account(world)
    # 180 is exactly 90 % of 200; the count hovers between 180 and the limit
    for day, count in ((1, 180), (2, 185), (3, 180), (4, 199), (5, 200), (6, 181)):
        world.webhook(profiles_body(ACC, f"2026-03-{day:02d}T09:00:00Z", count))
    assert kinds(world) == ["profiles.approaching"]
    notice = world.notices(ACC)[0]
    assert notice["subject"] == "You are approaching your profile limit: 180 of 200"
    assert "180 user profiles: 90 % of your limit of 200" in notice["text"]
    assert "Buy profile packs (+50 profiles each) at 10.00 USD/month each." in notice["text"]
    assert world.bus_events()[0]["detail"] == {
        "account_id": ACC,
        "notice_id": notice["notice_id"],
        "count": 180,
        "limit": 200,
        "fee_per_profile": "1.00",
        "currency": "USD",
    }
    # Only after falling below 90 % in between is it sent again
    world.webhook(profiles_body(ACC, "2026-03-07T09:00:00Z", 179))
    world.webhook(profiles_body(ACC, "2026-03-08T09:00:00Z", 183))
    assert kinds(world) == ["profiles.approaching", "profiles.approaching"]
    assert len(world.emails()) == 2


def test_a_late_older_snapshot_changes_nothing(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-05T09:00:00Z", 150))
    before = world.account_item(ACC)
    # When a snapshot from before the count in force arrives late, over the limit
    status, body = world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    # Then nothing changes: no episode, no notice, no email, no bus event; the snapshot only joins the history
    assert (status, body["outcome"]) == (202, "stale")
    assert world.account_item(ACC) == before
    assert (kinds(world), world.emails(), world.bus_events(), episodes(world, ACC)) == ([], [], [], [])
    history = world.ddb.query(
        TableName=world.accounts_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": ACC}, ":p": {"S": "SNAP#profiles#"}},
    )["Items"]
    assert [item["count"]["N"] for item in history] == ["205", "150"]


def test_an_unknown_account_is_404(world: World) -> None:
    assert world.webhook(profiles_body("nobody", "2026-03-01T09:00:00Z", 205))[0] == 404


def test_the_same_run_twice_issues_one_fee(world: World) -> None:
    given_account(world, "GBP")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    first = grace_run(world, "2026-03-15T09:05:00Z")
    again = grace_run(world, "2026-03-15T09:05:00Z")
    assert (first["accounts_dispatched"], again["accounts_dispatched"]) == (1, 0)
    assert len(world.invoices(ACC)) == 1
    assert kinds(world) == ["profiles.exceeded", "invoice.issued"]
    assert len(world.emails()) == 2
    assert bus_kinds(world) == ["profiles.exceeded", "invoice.issued"]


def test_two_runs_fanning_out_the_same_account_issue_one_fee(world: World) -> None:
    given_account(world, "GBP")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    # two schedules fire before either worker ran: the account is queued twice
    world.invoke("GraceExpiryFunction", {"as_of": "2026-03-15T09:05:00Z"})
    world.invoke("GraceExpiryFunction", {"as_of": "2026-03-15T09:35:00Z"})
    grace_run(world, "2026-03-15T09:40:00Z")  # three messages for one account in the queue
    assert len(world.invoices(ACC)) == 1
    assert len(world.emails()) == 2
    assert world.invoices(ACC)[0]["gross"] == "4.80"


def test_a_run_after_missed_days_catches_up_and_still_gives_14_days_to_pay(world: World) -> None:
    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    # no run from the 14th until 20 April
    grace_run(world, "2026-04-20T00:05:00Z")
    [invoice] = world.invoices(ACC)
    assert (invoice["issued_at"], invoice["due_on"], invoice["status"]) == (
        "2026-04-20T00:05:00Z",
        "2026-05-04",
        "open",
    )
    assert world.account_item(ACC)["restricted"] is False
    # and a run long after the reminder day goes straight to overdue (no reminder after the deadline)
    grace_run(world, "2026-05-10T00:05:00Z")
    assert kinds(world) == ["profiles.exceeded", "invoice.issued", "account.restricted"]
    assert world.account_item(ACC)["restricted"] is True


def test_monthly_billing_dates_after_the_grace_end_add_the_excess_at_that_moment(world: World) -> None:
    given_account(world, "GBP", started_on="2026-02-10", customer_since="2026-02-10")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    # 10 Mar is inside the grace period: no excess line
    world.renewal("2026-03-10T00:15:00Z")
    assert [line["code"] for line in world.invoices(ACC)[0]["lines"]] == ["subscription"]
    grace_run(world, "2026-03-15T09:05:00Z")
    # by 10 Apr the count grew to 230; the count at 00:00 of the billing date is what counts
    world.webhook(profiles_body(ACC, "2026-04-02T09:00:00Z", 230))
    world.webhook(profiles_body(ACC, "2026-04-10T06:00:00Z", 260))
    world.renewal("2026-04-10T07:00:00Z")
    april = world.invoices(ACC)[-1]
    assert [(line["code"], line["quantity"], line["amount"]) for line in april["lines"]] == [
        ("subscription", 1, "20.00"),
        ("excess_profiles", 30, "24.00"),
    ]
    assert (april["net"], april["vat"], april["gross"]) == ("44.00", "8.80", "52.80")
    # the fee is paid and the excess is gone before 10 May: no line, and the episode closes
    fee = next(inv for inv in world.invoices(ACC) if inv["kind"] == "excess_profiles")
    world.webhook(payment_body(ACC, "2026-04-20T09:00:00Z", fee["invoice_id"], "4.80", "GBP"))
    world.webhook(profiles_body(ACC, "2026-05-01T09:00:00Z", 180))
    world.renewal("2026-05-10T00:15:00Z")
    assert [line["code"] for line in world.invoices(ACC)[-1]["lines"]] == ["subscription"]
    [episode] = episodes(world, ACC)
    assert [t["event"] for t in episode["transitions"]] == [
        "exceeded",
        "fee_invoiced",
        "billed_monthly",
        "paid",
        "excess_ended",
        "closed",
    ]
    assert episode["transitions"][2]["amount"] == "24.00"
    assert "open_episode" not in world.account_item(ACC)


def test_payment_mismatches_unknown_invoices_and_repeats(world: World) -> None:
    given_account(world, "GBP")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    grace_run(world, "2026-03-15T09:05:00Z")
    grace_run(world, "2026-03-30T00:05:00Z")
    invoice_id = world.invoices(ACC)[0]["invoice_id"]
    item, emails, events = world.account_item(ACC), len(world.emails()), len(world.bus_events())
    # another currency is a 422 naming the field, and changes nothing
    status, body = world.webhook(payment_body(ACC, "2026-03-31T10:00:00Z", invoice_id, "4.80", "USD"))
    assert (status, [error["field"] for error in body["errors"]]) == (422, ["data.currency"])
    assert world.invoices(ACC)[0]["status"] == "overdue"
    assert world.account_item(ACC) == item
    assert (len(world.emails()), len(world.bus_events())) == (emails, events)
    # an unknown invoice or account is a 404
    assert world.webhook(payment_body(ACC, "2026-03-31T10:00:00Z", "inv_nope", "4.80", "GBP"))[0] == 404
    assert world.webhook(payment_body("nobody", "2026-03-31T10:00:00Z", invoice_id, "4.80", "GBP"))[0] == 404
    # part of the fee (the net instead of the gross): partly paid, still overdue, the account still restricted
    status, body = world.webhook(payment_body(ACC, "2026-03-31T10:00:00Z", invoice_id, "4.00", "GBP"))
    assert (status, body["outcome"], body["amount_due"], body["restricted"]) == (202, "overdue", "0.80", True)
    [invoice] = world.invoices(ACC)
    assert (invoice["amount_paid"], invoice["amount_due"], invoice["status"]) == ("4.00", "0.80", "overdue")
    # the rest: paid, the restriction lifted once
    status, body = world.webhook(payment_body(ACC, "2026-03-31T11:00:00Z", invoice_id, "0.80", "GBP"))
    assert (status, body["outcome"], body["amount_due"], body["restriction_lifted"]) == (202, "paid", "0.00", True)
    # more money on the paid invoice all becomes credit
    status, again = world.webhook(payment_body(ACC, "2026-04-01T10:00:00Z", invoice_id, "4.80", "GBP"))
    assert (status, again["outcome"], again["to_credit"], again["credit_balance"]) == (202, "credited", "4.80", "4.80")
    assert kinds(world).count("account.unrestricted") == 1


def test_a_renewal_invoice_can_be_paid_too(world: World) -> None:
    given_account(world, "GBP", started_on="2026-02-10", customer_since="2026-02-10")
    world.renewal("2026-03-10T00:15:00Z")
    [invoice] = world.invoices(ACC)
    status, body = world.webhook(payment_body(ACC, "2026-03-12T10:00:00Z", invoice["invoice_id"], "24.00", "GBP"))
    assert (status, body["outcome"], body["restriction_lifted"]) == (202, "paid", False)
    assert world.invoices(ACC)[0]["status"] == "paid"
    # the invoice itself, then the receipt with its four amounts
    receipt = world.emails()[1]
    assert receipt.subject == "Payment received: 24.00 GBP for invoice " + invoice["number"]
    assert "Amount due" in receipt.body


def test_a_quiet_run_costs_one_query_per_shard(world: World) -> None:
    from tests.support import dynamodb_calls

    given_account(world)
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    calls = dynamodb_calls(lambda: grace_run(world, "2026-03-10T00:05:00Z"))
    # GraceIndex shards, DunningIndex shards × (reminders, overdue) and the outbox's stale-notice look-up; never a Scan
    assert calls == {"Query": 16 + 2 * 16 + 1}


def grace_worker(world: World):  # type: ignore[no-untyped-def]
    """A GraceExpiry worker as the queue's Lambda builds it, talking to the same tables."""
    import boto3
    from overage.domain.catalog import default_catalog
    from overage.notices.outbox import NoticeOutbox
    from overage.services.grace_expiry import GraceExpiry
    from overage.store.accounts import AccountsStore
    from overage.store.ledger import LedgerStore

    ddb = boto3.client("dynamodb", region_name="eu-west-1")
    outbox = NoticeOutbox(
        ledger_table=world.ledger_table,
        dynamodb=ddb,
        ses=boto3.client("sesv2", region_name="eu-west-1"),
        events=boto3.client("events", region_name="eu-west-1"),
        sender=str(world.template.parameter_value("SenderEmail")),
        bus_name=world.template.physical_id("OverageBus"),
    )
    return GraceExpiry(
        accounts=AccountsStore(world.accounts_table, ddb),
        ledger=LedgerStore(world.ledger_table, ddb),
        outbox=outbox,
        catalog=default_catalog(),
    )


def interleave(worker, before_its_first_write) -> None:  # type: ignore[no-untyped-def]
    """Run ``before_its_first_write`` after ``worker`` has read the account and before it writes."""
    original = worker.engine.invoicing.issue
    raced: list[bool] = []

    def issue(compose, action, **kwargs):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            before_its_first_write()
        return original(compose, action, **kwargs)

    worker.engine.invoicing.issue = issue


def test_two_concurrent_runs_issue_one_fee(world: World) -> None:
    from datetime import UTC, datetime

    given_account(world, "GBP")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    as_of, now = datetime(2026, 3, 15, 9, 5, tzinfo=UTC), datetime.now(UTC)
    first, second = grace_worker(world), grace_worker(world)
    won: list[object] = []
    # the second worker reads the episode in grace; the first issues the fee before the second writes
    interleave(second, lambda: won.extend(first.process_account(ACC, as_of, now)))
    lost = second.process_account(ACC, as_of, now)
    assert (len(won), lost) == (1, [])
    assert len(world.invoices(ACC)) == 1
    assert kinds(world) == ["profiles.exceeded", "invoice.issued"]
    assert len(world.emails()) == 2
    assert bus_kinds(world) == ["profiles.exceeded", "invoice.issued"]
    assert [t["event"] for t in episodes(world, ACC)[0]["transitions"]] == ["exceeded", "fee_invoiced"]


def test_a_payment_landing_during_the_deadline_run_wins(world: World) -> None:
    from datetime import UTC, datetime

    given_account(world, "GBP")
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    grace_run(world, "2026-03-15T09:05:00Z")
    grace_run(world, "2026-03-26T00:05:00Z")
    invoice_id = world.invoices(ACC)[0]["invoice_id"]
    deadline_run = grace_worker(world)
    # the payment (made on the due date) lands after the run read the account, before it restricts it
    interleave(
        deadline_run,
        lambda: world.webhook(payment_body(ACC, "2026-03-29T18:00:00Z", invoice_id, "4.80", "GBP")),
    )
    steps = deadline_run.process_account(ACC, datetime(2026, 3, 30, 0, 5, tzinfo=UTC), datetime.now(UTC))
    assert steps == []
    assert world.invoices(ACC)[0]["status"] == "paid"
    assert world.account_item(ACC)["restricted"] is False
    assert "account.restricted" not in kinds(world)


def test_the_sample_events_tell_one_story(world: World) -> None:
    # account.upserted and profiles.counted (205 on 5 Feb) of acc_42, the scheduled run after its grace end,
    # the as_of run after the deadline, and the payment of the fee invoice they produce
    import json

    from tests.support import EVENTS

    for name in ("account_upserted", "profiles_counted"):
        assert world.webhook((EVENTS / "webhooks" / f"{name}.json").read_bytes())[0] == 202
    for name in ("grace_expiry__scheduled", "grace_expiry__as_of"):
        result = world.invoke("GraceExpiryFunction", json.loads((EVENTS / f"{name}.json").read_text()))
        assert result["accounts_dispatched"] == 1
        runtime_drain(world)
    assert world.account_item("acc_42")["restricted"] is True
    status, body = world.webhook((EVENTS / "webhooks" / "payment_received.json").read_bytes())
    assert (status, body["outcome"], body["restriction_lifted"]) == (202, "paid", True)


def runtime_drain(world: World) -> None:
    from overage_local import runtime

    runtime.drain_queues(world.template, world.endpoint_url)


# ---------------------------------------------------------------- a late count and the limit in force at its time
def ledger_view(world: World, account_id: str) -> dict[str, object]:
    """What the tables and the outside hold about an account's excess profiles, with its id (and the ids derived
    from it) taken out: the account item's policy attributes, its episode records and its notices (kind, id,
    business time, figures)."""
    item = world.account_item(account_id)
    kept = {key: item.get(key) for key in ("profiles_count", "approaching_armed", "open_episode", "grace_due_at")}
    notices = [(n["kind"], n["notice_id"], n["created_at"], n["detail"]) for n in world.notices(account_id)]
    records = episodes(world, account_id)
    text = json.dumps({"item": kept, "episodes": records, "notices": notices}, default=str)
    for n, record in enumerate(records):  # derived from the opening fact's id, which names the account here
        text = text.replace(record["episode_id"].rsplit("-", 1)[1], f"EP{n}")
    return dict(json.loads(text.replace(account_id, "ACC")))


def test_a_late_count_is_measured_against_the_limit_in_force_at_its_time(world: World) -> None:
    # Given two standard accounts (limit 200); T1 = 1 Mar 09:00, T2 = 5 Mar 10:00
    for account_id in ("acc_count_first", "acc_pack_first"):
        fields = {"billing_cycle": "monthly", "started_on": STARTED, "customer_since": STARTED}
        world.accepted({**upsert_body(account_id, **fields), "id": f"up_{account_id}"})
    t1 = "2026-03-01T09:00:00Z"
    pack = {
        "billing_cycle": "monthly",
        "started_on": STARTED,
        "profile_packs": 1,
        "occurred_at": "2026-03-05T10:00:00Z",
    }

    # When 240 profiles at T1 and a profile pack bought at T2 (limit 250) arrive in time order for one account
    first = world.accepted({**profiles_body("acc_count_first", t1, 240), "id": "cnt_acc_count_first"})
    assert (first["happened"], first["limit"]) == (["exceeded"], 200)
    world.accepted({**upsert_body("acc_count_first", **pack), "id": "pack_acc_count_first"})
    # and the other way round for the other: the pack first, the count from before it late
    world.accepted({**upsert_body("acc_pack_first", **pack), "id": "pack_acc_pack_first"})
    late = world.accepted({**profiles_body("acc_pack_first", t1, 240), "id": "cnt_acc_pack_first"})
    # Then the late count is measured against 200, the limit at T1, and the pack bought at T2 still resolves it
    assert (late["outcome"], late["happened"], late["count"], late["limit"]) == (
        "applied",
        ["exceeded", "resolved"],
        240,
        250,
    )
    for account_id in ("acc_count_first", "acc_pack_first"):
        [episode] = episodes(world, account_id)
        assert (episode["opened_at"], episode["grace_ends_at"], episode["limit"], episode["count"]) == (
            "2026-03-01T09:00:00Z",
            "2026-03-15T09:00:00Z",
            250,
            240,
        )
        assert (episode["state"], episode["outcome"], episode["resolved_at"]) == (
            "resolved",
            "resolved_by_limit_increase",
            "2026-03-05T10:00:00Z",
        )
        assert [
            (t["event"], t["at"], t["count"], t["limit"], t["package"], t["profile_packs"], t["cause"])
            for t in episode["transitions"]
        ] == [
            ("exceeded", "2026-03-01T09:00:00.000000Z", 240, 200, "standard", 0, f"profiles.counted:cnt_{account_id}"),
            ("resolved", "2026-03-05T10:00:00.000000Z", 240, 250, "standard", 1, f"account.upserted:pack_{account_id}"),
        ]
        notices = world.notices(account_id)
        assert [n["kind"] for n in notices] == ["profiles.exceeded", "profiles.resolved"]
        assert "240 user profiles, 40 over your limit of 200" in notices[0]["text"]
        assert "You have until 2026-03-15 09:00 UTC (14 days)" in notices[0]["text"]
        assert (notices[0]["detail"]["fee_net"], notices[0]["detail"]["fee_gross"]) == ("40.00", "40.00")
        assert "Your profile limit is now 250, and your 240 profiles fit within it." in notices[1]["text"]
        item = world.account_item(account_id)
        assert ("open_episode" in item, "grace_due_at" in item, item["approaching_armed"]) == (False, False, False)
        standing = world.get(f"/accounts/{account_id}")[1]
        assert (standing["profiles"], standing["open_episode"]) == (
            {"count": 240, "limit": 250, "as_of": "2026-03-01T09:00:00.000000Z", "excess": 0},
            None,
        )
    # And both accounts hold the same, and were told the same, with no "approaching" notice for 240 of 250
    assert ledger_view(world, "acc_count_first") == ledger_view(world, "acc_pack_first")
    assert sorted(e.subject for e in world.emails()) == sorted(
        ["Your account is over its profile limit: 240 of 200", "Back within your profile limit: no fee"] * 2
    )
    assert [e["detail-type"] for e in world.bus_events()] == [
        "profiles.exceeded",
        "profiles.resolved",
        "profiles.exceeded",
        "profiles.resolved",
    ]


def test_a_late_count_under_a_limit_lowered_after_it_opens_the_episode_when_the_limit_fell(world: World) -> None:
    # Given complete (limit 500), moved to standard (limit 200) at 2 Mar 10:00
    given_account(world, package="complete")
    world.accepted(upsert_body(ACC, billing_cycle="monthly", started_on=STARTED, occurred_at="2026-03-02T10:00:00Z"))
    # When a count of 320 from 1 Mar 09:00 arrives after it: within 500 then, over 200 from the downgrade on
    answer = world.accepted(profiles_body(ACC, "2026-03-01T09:00:00Z", 320))
    # Then the episode opens at the downgrade, not at the count: 14 days of grace from 2 Mar 10:00
    assert answer["happened"] == ["exceeded"]
    [episode] = episodes(world, ACC)
    assert (episode["opened_at"], episode["grace_ends_at"], episode["limit"], episode["opening_count"]) == (
        "2026-03-02T10:00:00Z",
        "2026-03-16T10:00:00Z",
        200,
        320,
    )
    assert episode["opened_by"].startswith("account.upserted:")
    assert world.account_item(ACC)["grace_due_at"] == "2026-03-16T10:00:00.000000Z"
    assert kinds(world) == ["profiles.exceeded"]  # 320 of 500 is under 90 %: no "approaching" before it
    assert "You have until 2026-03-16 10:00 UTC (14 days)" in world.notices(ACC)[0]["text"]


def test_an_account_item_from_before_limit_histories_keeps_working(world: World) -> None:
    # Given an account written before the limit history was kept (no history attribute on its item)
    given_account(world)
    world.ddb.update_item(
        TableName=world.accounts_table,
        Key={"pk": {"S": ACC}, "sk": {"S": "ACCOUNT"}},
        UpdateExpression="REMOVE limit_history",
    )
    # When a pack is bought at 5 Mar and a count of 240 from 1 Mar arrives after it
    world.accepted(
        upsert_body(
            ACC, billing_cycle="monthly", started_on=STARTED, profile_packs=1, occurred_at="2026-03-05T10:00:00Z"
        )
    )
    world.accepted(profiles_body(ACC, "2026-03-01T09:00:00Z", 240))
    # Then the limit it had before the pack counts as in force since forever: over 200 on 1 Mar, resolved on 5 Mar
    [episode] = episodes(world, ACC)
    assert (episode["opened_at"], episode["resolved_at"], episode["outcome"]) == (
        "2026-03-01T09:00:00Z",
        "2026-03-05T10:00:00Z",
        "resolved_by_limit_increase",
    )
    assert kinds(world) == ["profiles.exceeded", "profiles.resolved"]


def test_an_old_item_without_history_measures_counts_against_its_limit(world: World) -> None:
    given_account(world)
    world.ddb.update_item(
        TableName=world.accounts_table,
        Key={"pk": {"S": ACC}, "sk": {"S": "ACCOUNT"}},
        UpdateExpression="REMOVE limit_history",
    )
    world.accepted(profiles_body(ACC, "2026-03-05T09:00:00Z", 190))
    answer = world.accepted(profiles_body(ACC, "2026-03-06T09:00:00Z", 205))
    assert (answer["happened"], answer["limit"]) == (["exceeded"], 200)
    assert kinds(world) == ["profiles.approaching", "profiles.exceeded"]


def plan_change(account_id: str, occurred_at: str, event_id: str, **data: object) -> dict[str, object]:
    return {
        "id": event_id,
        "type": "plan.change_requested",
        "occurred_at": occurred_at,
        "account_id": account_id,
        "data": {"reason": "The customer asked for it", "requested_by": "support:ann", **data},
    }


def test_a_late_count_before_an_immediate_plan_change_is_measured_against_the_limit_before_it(world: World) -> None:
    # Given a standard monthly account (limit 200), its first billing date 20 Mar
    given_account(world)
    # When a pack is added by a plan change at 5 Mar 10:00 (immediate), then a count of 240 from 1 Mar arrives
    world.accepted(plan_change(ACC, "2026-03-05T10:00:00Z", "evt_chg_pack", profile_packs=1))
    world.accepted(profiles_body(ACC, "2026-03-01T09:00:00Z", 240))
    # Then over 200 on 1 Mar, resolved by the plan change's higher limit (250) on 5 Mar, no fee
    [episode] = episodes(world, ACC)
    assert [(t["event"], t["at"], t["limit"], t["cause"]) for t in episode["transitions"]] == [
        ("exceeded", "2026-03-01T09:00:00.000000Z", 200, episode["opened_by"]),
        ("resolved", "2026-03-05T10:00:00.000000Z", 250, "plan.change_requested:evt_chg_pack"),
    ]
    assert episode["outcome"] == "resolved_by_limit_increase"
    assert [k for k in kinds(world) if k.startswith("profiles.")] == ["profiles.exceeded", "profiles.resolved"]
    daily_runs(world, date(2026, 3, 14), date(2026, 3, 16))
    assert [inv["kind"] for inv in world.invoices(ACC)] == ["plan_change"]


def test_a_late_count_before_a_pending_change_applied_at_renewal_is_resolved_by_it(world: World) -> None:
    # Given a standard monthly account (limit 200) billed on the 20th, and a pack asked for at period end
    given_account(world)
    world.accepted(plan_change(ACC, "2026-03-10T10:00:00Z", "evt_chg_later", profile_packs=1, effective="period_end"))
    # When the renewal run of 20 Mar applies it (00:00 UTC), then a count of 240 from 15 Mar arrives
    world.renewal("2026-03-20T00:15:00Z")
    answer = world.accepted(profiles_body(ACC, "2026-03-15T09:00:00Z", 240))
    # Then over 200 on 15 Mar (grace to 29 Mar), resolved by the pack at 20 Mar 00:00, no fee
    assert (answer["happened"], answer["limit"]) == (["exceeded", "resolved"], 250)
    [episode] = episodes(world, ACC)
    assert (episode["opened_at"], episode["grace_ends_at"], episode["resolved_at"]) == (
        "2026-03-15T09:00:00Z",
        "2026-03-29T09:00:00Z",
        "2026-03-20T00:00:00Z",
    )
    assert episode["transitions"][-1]["cause"] == "plan.change_requested:evt_chg_later"
    daily_runs(world, date(2026, 3, 28), date(2026, 3, 30))
    assert [inv["kind"] for inv in world.invoices(ACC)] == ["renewal"]
    march = world.invoices(ACC)[0]
    assert [(line["code"], line["amount"]) for line in march["lines"]] == [
        ("subscription", "24.00"),
        ("profile_packs", "10.00"),
    ]


def test_the_grace_end_run_reads_the_account_with_its_series_counters_and_no_history(world: World) -> None:
    from tests.support import dynamodb_calls, series_of

    # Given 230 profiles (limit 200) counted on 1 March at 09:00, nothing counted since: the grace ends 15 March 09:00
    given_account(world)
    counted = profiles_body(ACC, "2026-03-01T09:00:00Z", 230)
    world.webhook(counted)
    # When the run after the grace end happens
    calls = dynamodb_calls(lambda: grace_run(world, "2026-03-16T00:05:00Z"))
    # Then the fee: 30 profiles over × 1.00 USD, priced from the 1 March count (the one on the account item)
    [invoice] = world.invoices(ACC)
    assert [(line["quantity"], line["unit_price"], line["amount"]) for line in invoice["lines"]] == [
        (30, "1.00", "30.00")
    ]
    assert (invoice["gross"], invoice["number"]) == ("30.00", f"{series_of(ACC, 'USD', 2026)}-1")
    assert invoice["lines"][0]["evidence"] == {
        "event_type": "profiles.counted",
        "event_id": counted["id"],
        "occurred_at": "2026-03-01T09:00:00.000000Z",
        "count": 230,
    }
    # and the account was read once, with the counters of its 2026 series, and its snapshot history not at all: the
    # schedule's 49 queries (quiet-run test), one BatchGetItem, the step's transaction, the notice marked sent
    assert calls == {"Query": 49, "BatchGetItem": 1, "TransactWriteItems": 1, "UpdateItem": 1}


def test_a_count_changed_after_the_grace_end_still_bills_the_count_at_the_grace_end(world: World) -> None:
    from tests.support import dynamodb_calls

    # Given 230 profiles on 1 March at 09:00 (the grace ends 15 March 09:00), then 260 at 09:30 on the 15th
    given_account(world)
    counted = profiles_body(ACC, "2026-03-01T09:00:00Z", 230)
    world.webhook(counted)
    world.webhook(profiles_body(ACC, "2026-03-15T09:30:00Z", 260))
    assert world.account_item(ACC)["profiles_count"] == 260
    # When the run after the grace end happens
    calls = dynamodb_calls(lambda: grace_run(world, "2026-03-16T00:05:00Z"))
    # Then the fee is (230 - 200) × 1.00 = 30.00 USD, not 60.00: the count in force at the grace end, from the history
    [invoice] = world.invoices(ACC)
    assert [(line["quantity"], line["amount"]) for line in invoice["lines"]] == [(30, "30.00")]
    assert (invoice["net"], invoice["vat"], invoice["gross"]) == ("30.00", "0.00", "30.00")
    assert invoice["lines"][0]["evidence"] == {
        "event_type": "profiles.counted",
        "event_id": counted["id"],
        "occurred_at": "2026-03-01T09:00:00.000000Z",
        "count": 230,
    }
    episode = world.account_item(ACC)["open_episode"]
    assert (episode["count"], episode["fee_count"]) == (260, 230)
    # the item's count is newer than the grace end: the history was queried (one Query more than the schedule's)
    assert calls == {"Query": 49 + 1, "BatchGetItem": 1, "TransactWriteItems": 1, "UpdateItem": 1}
