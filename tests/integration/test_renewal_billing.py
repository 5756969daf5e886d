"""Renewal billing end to end (spec §3.1, §3.5): CRM events in, the daily run, invoices, emails and bus events out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support import World, contacts_body, series_of, upsert_body


def lines(invoice: dict) -> list[tuple[str, str]]:
    return [(line["code"], line["amount"]) for line in invoice["lines"]]


def test_seed_scenario_1_no_invoice_when_archived_back_under_the_tier(world: World) -> None:
    # Given the Serenity association (annual, t50, USD, started 10 Jan) up to 70 contacts, archived down to 48
    world.webhook(upsert_body("acc_serenity"))
    world.webhook(contacts_body("acc_serenity", "2026-01-20T10:00:00Z", 70))
    world.webhook(contacts_body("acc_serenity", "2026-02-05T10:00:00Z", 48, archived=22))
    # When the daily run of 10 Feb happens
    world.renewal("2026-02-10T00:15:00Z")
    # Then no invoice, no email, no bus event, and the next billing date is 10 Mar
    assert world.invoices("acc_serenity") == []
    assert world.emails() == []
    assert world.bus_events() == []
    item = world.account_item("acc_serenity")
    assert (item["next_billing_date"], item["last_billed_on"]) == ("2026-03-10", "2026-02-10")


def test_seed_scenario_2_invoice_of_ten_dollars(world: World) -> None:
    world.webhook(upsert_body("acc_serenity"))
    world.webhook(contacts_body("acc_serenity", "2026-02-01T10:00:00Z", 130))
    world.renewal("2026-02-10T00:15:00Z")
    [invoice] = world.invoices("acc_serenity")
    assert invoice["invoice_id"] == "inv_acc_serenity_overrun_2026-02-10"
    assert invoice["kind"] == "overrun"
    assert lines(invoice) == [("contact_overrun", "10.00")]
    assert (invoice["net"], invoice["vat"], invoice["gross"], invoice["status"]) == ("10.00", "0.00", "10.00", "open")
    assert (invoice["period_start"], invoice["period_end"], invoice["due_on"]) == (
        "2026-02-10",
        "2026-03-10",
        "2026-02-24",
    )
    # the notice: recorded, emailed with the breakdown, and put on the bus for the CRM
    [notice] = world.notices("acc_serenity")
    assert (notice["kind"], notice["status"]) == ("invoice.issued", "sent")
    assert "34.00 USD/month" in notice["text"] and "10.00 USD" in notice["text"]
    [email] = world.emails()
    assert email.destinations["ToAddresses"] == ["billing@acc_serenity.example"]
    assert "10.00 USD" in email.subject
    assert "130 active contacts" in email.body
    [event] = world.bus_events()
    assert event["detail-type"] == "invoice.issued"
    assert event["detail"]["gross"] == "10.00"
    assert event["detail"]["reached_tier"] == "t150"


def test_the_count_in_force_at_midnight_wins_over_newer_snapshots(world: World) -> None:
    # Given 130 contacts at midnight, but the CRM reports 40 at 00:05 before the run at 06:00
    world.webhook(upsert_body("acc_1", billing_cycle="monthly"))
    world.webhook(contacts_body("acc_1", "2026-02-09T23:59:59Z", 130))
    world.webhook(contacts_body("acc_1", "2026-02-10T00:05:00Z", 40))
    world.renewal("2026-02-10T06:00:00Z")
    [invoice] = world.invoices("acc_1")
    assert lines(invoice) == [("subscription", "24.00"), ("contact_overrun", "10.00")]


def test_a_snapshot_at_exactly_midnight_counts(world: World) -> None:
    world.webhook(upsert_body("acc_1", billing_cycle="monthly"))
    world.webhook(contacts_body("acc_1", "2026-02-10T00:00:00Z", 130))
    world.renewal("2026-02-10T00:15:00Z")
    assert lines(world.invoices("acc_1")[0])[-1] == ("contact_overrun", "10.00")


def test_monthly_gbp_account_month_after_month(world: World) -> None:
    world.webhook(
        upsert_body(
            "acc_gb",
            billing_cycle="monthly",
            currency="GBP",
            contact_tier="t100",
            started_on="2026-01-15",
            customer_since="2026-01-15",
        )
    )
    world.webhook(contacts_body("acc_gb", "2026-02-01T00:00:00Z", 90))
    world.webhook(contacts_body("acc_gb", "2026-03-01T00:00:00Z", 140))
    for day in ("2026-02-15", "2026-03-15", "2026-04-15"):
        world.renewal(f"{day}T00:15:00Z")
    invoices = world.invoices("acc_gb")
    assert [inv["period_start"] for inv in invoices] == ["2026-02-15", "2026-03-15", "2026-04-15"]
    assert [inv["gross"] for inv in invoices] == ["28.80", "33.60", "33.60"]  # 24.00 + VAT; (24 + 4) + VAT
    assert lines(invoices[1]) == [("subscription", "24.00"), ("contact_overrun", "4.00")]
    assert invoices[1]["vat"] == "5.60"


def test_annual_account_yearly_price_on_the_anniversary_supplements_monthly(world: World) -> None:
    world.webhook(
        upsert_body("acc_an", started_on="2025-01-10", customer_since="2025-01-10", occurred_at="2025-01-10T08:00:00Z")
    )
    world.webhook(contacts_body("acc_an", "2025-11-20T00:00:00Z", 130))
    world.renewal("2025-12-10T00:15:00Z")
    world.renewal("2026-01-10T00:15:00Z")
    invoices = world.invoices("acc_an")
    # the run of 10 Dec 2025 caught up every monthly anniversary since 10 Feb 2025: only Dec was in overrun
    assert [(inv["period_start"], inv["kind"], inv["gross"]) for inv in invoices] == [
        ("2025-12-10", "overrun", "10.00"),
        ("2026-01-10", "renewal", "298.00"),
    ]
    assert lines(invoices[1]) == [("subscription", "288.00"), ("contact_overrun", "10.00")]
    assert (invoices[1]["period_start"], invoices[1]["period_end"]) == ("2026-01-10", "2027-01-10")


def test_started_on_the_31st_across_a_leap_february(world: World) -> None:
    world.webhook(
        upsert_body(
            "acc_31",
            billing_cycle="monthly",
            started_on="2024-01-31",
            customer_since="2024-01-31",
            occurred_at="2024-01-31T08:00:00Z",
        )
    )
    for day in ("2024-02-29", "2024-03-31", "2024-04-30", "2025-02-28"):
        world.renewal(f"{day}T00:15:00Z")
    periods = [(inv["period_start"], inv["period_end"]) for inv in world.invoices("acc_31")]
    assert periods[:3] == [("2024-02-29", "2024-03-31"), ("2024-03-31", "2024-04-30"), ("2024-04-30", "2024-05-31")]
    assert periods[-1] == ("2025-02-28", "2025-03-31")
    assert len(periods) == 13  # Feb 2024 .. Feb 2025, none skipped, none twice


def test_a_run_after_three_missed_days_catches_up(world: World) -> None:
    for account_id, start in (("acc_a", "2026-01-10"), ("acc_b", "2026-01-11"), ("acc_c", "2026-01-12")):
        world.webhook(upsert_body(account_id, billing_cycle="monthly", started_on=start, customer_since=start))
    world.renewal("2026-02-09T00:15:00Z")
    assert all(world.invoices(a) == [] for a in ("acc_a", "acc_b", "acc_c"))
    # no runs on 10, 11, 12 Feb; the run of the 13th bills all three
    world.renewal("2026-02-13T00:15:00Z")
    assert [world.invoices(a)[0]["period_start"] for a in ("acc_a", "acc_b", "acc_c")] == [
        "2026-02-10",
        "2026-02-11",
        "2026-02-12",
    ]
    assert len(world.emails()) == 3


def test_the_same_run_twice_issues_nothing_twice(world: World) -> None:
    world.webhook(upsert_body("acc_1", billing_cycle="monthly"))
    world.webhook(contacts_body("acc_1", "2026-02-01T00:00:00Z", 130))
    first = world.renewal("2026-02-10T00:15:00Z")
    again = world.renewal("2026-02-10T00:15:00Z")
    assert first["accounts_dispatched"] == 1 and again["accounts_dispatched"] == 0
    assert len(world.invoices("acc_1")) == 1
    assert len(world.notices("acc_1")) == 1
    assert len(world.emails()) == 1
    assert len(world.bus_events()) == 1


def test_three_consecutive_overruns_recommend_the_tier(world: World) -> None:
    world.webhook(upsert_body("acc_1"))
    world.webhook(contacts_body("acc_1", "2026-02-01T00:00:00Z", 130))
    for day in ("2026-02-10", "2026-03-10", "2026-04-10"):
        world.renewal(f"{day}T00:15:00Z")
    notices = world.notices("acc_1")
    assert ["We recommend tier" in n["text"] for n in notices] == [False, False, True]
    assert notices[2]["detail"]["recommended_tier"] == "t150"
    assert world.account_item("acc_1")["overrun_streak"] == 3


def test_above_2500_contacts_is_flagged_for_a_custom_quote(world: World) -> None:
    world.webhook(upsert_body("acc_big", billing_cycle="monthly", contact_tier="t2500"))
    world.webhook(contacts_body("acc_big", "2026-02-01T00:00:00Z", 4000))
    world.renewal("2026-02-10T00:15:00Z")
    [invoice] = world.invoices("acc_big")
    assert invoice["flags"] == ["custom_quote"]
    assert invoice["gross"] == "249.00"
    assert Decimal(invoice["net"]) == Decimal("249.00")


def test_read_endpoints_preview_invoices_and_notices(world: World) -> None:
    world.webhook(upsert_body("acc_1", billing_cycle="monthly"))
    world.webhook(contacts_body("acc_1", "2026-02-01T00:00:00Z", 130))
    # Before the billing date: the preview prices the latest count
    status, preview = world.get("/accounts/acc_1/preview")
    assert status == 200
    assert preview["billing_date"] == "2026-02-10"
    assert (preview["reached_tier"], preview["overrun_supplement"]) == ("t150", "10.00")
    assert preview["invoice"]["gross"] == "34.00"
    # After the run the invoice and its notice are listed
    world.renewal("2026-02-10T00:15:00Z")
    status, listed = world.get("/accounts/acc_1/invoices")
    assert status == 200
    first = f"{series_of('acc_1', 'USD', 2026)}-1"  # its first invoice of 2026, alone in its series
    assert [(inv["number"], inv["gross"]) for inv in listed["invoices"]] == [(first, "34.00")]
    status, sent = world.get("/accounts/acc_1/notices")
    assert [(n["kind"], n["status"]) for n in sent["notices"]] == [("invoice.issued", "sent")]
    assert world.get("/accounts/acc_1/preview")[1]["billing_date"] == "2026-03-10"
    assert world.get("/accounts/nobody/invoices")[0] == 404


def test_the_invoice_shows_the_buyer_as_at_issue(world: World) -> None:
    # Given a buyer with a name, an address and a VAT number (GBP: UK VAT)
    buyer = {"billing_name": "Serenity Association Ltd", "billing_address": ["1 Quiet Lane", "Leeds LS1 1AA"]}
    world.accepted(upsert_body("acc_vat", billing_cycle="monthly", currency="GBP", vat_number="GB123456789", **buyer))
    item = world.account_item("acc_vat")
    assert (item["billing_name"], item["billing_address"], item["vat_number"]) == (
        "Serenity Association Ltd",
        ["1 Quiet Lane", "Leeds LS1 1AA"],
        "GB123456789",
    )
    # When the 10 February invoice is issued, then the CRM drops the VAT number and renames the buyer
    world.renewal("2026-02-10T00:15:00Z")
    later = upsert_body("acc_vat", billing_cycle="monthly", currency="GBP", billing_name="Serenity Trust")
    later["occurred_at"] = "2026-02-20T08:00:00Z"
    world.accepted(later)
    # Then the account holds what the CRM said last (no VAT number, no address) ...
    item = world.account_item("acc_vat")
    assert (item["billing_name"], "billing_address" in item, "vat_number" in item) == ("Serenity Trust", False, False)
    # ... and the invoice still shows the buyer as at its issue
    (invoice,) = world.invoices("acc_vat")
    assert invoice["buyer"] == {
        "account_id": "acc_vat",
        "name": "Serenity Association Ltd",
        "address": ["1 Quiet Lane", "Leeds LS1 1AA"],
        "vat_number": "GB123456789",
        "email": "billing@acc_vat.example",
    }
    # a bad VAT number is refused naming the field, and changes nothing
    bad = upsert_body("acc_vat", billing_cycle="monthly", currency="GBP", vat_number="GB 123")
    bad["occurred_at"] = "2026-02-21T08:00:00Z"
    status, answer = world.webhook(bad)
    assert (status, [e["field"] for e in answer["errors"]]) == (422, ["data.vat_number"])
    assert world.account_item("acc_vat")["billing_name"] == "Serenity Trust"


def test_a_count_based_line_names_the_snapshot_it_was_priced_from(world: World) -> None:
    world.accepted(upsert_body("acc_ev", billing_cycle="monthly"))
    priced = contacts_body("acc_ev", "2026-02-09T18:00:00Z", 130, archived=12)
    world.accepted(priced)
    world.accepted(contacts_body("acc_ev", "2026-02-10T06:00:00Z", 40))  # after the billing moment: not this one
    world.renewal("2026-02-10T00:15:00Z")
    (invoice,) = world.invoices("acc_ev")
    subscription, overrun = invoice["lines"]
    assert "evidence" not in subscription
    assert (overrun["code"], overrun["amount"]) == ("contact_overrun", "10.00")
    assert overrun["evidence"] == {
        "event_type": "contacts.counted",
        "event_id": priced["id"],
        "occurred_at": "2026-02-09T18:00:00.000000Z",
        "active": 130,
        "archived": 12,
    }


def test_a_catch_up_numbers_from_the_counter_read_with_the_account_and_reads_no_counter_alone(world: World) -> None:
    from tests.support import dynamodb_calls

    # Given a monthly USD account (t50: 24.00 a month, no VAT) whose 10 February run never happened
    world.webhook(upsert_body("acc_1", billing_cycle="monthly", started_on="2026-01-10", customer_since="2026-01-10"))
    # When the run of 10 March bills both dates
    calls = dynamodb_calls(lambda: world.renewal("2026-03-10T00:15:00Z"))
    # Then two invoices, numbered 1 and 2 in the account's 2026 USD series, 24.00 each
    series = series_of("acc_1", "USD", 2026)
    invoices = world.invoices("acc_1")
    assert [(i["period_start"], i["number"], i["gross"]) for i in invoices] == [
        ("2026-02-10", f"{series}-1", "24.00"),
        ("2026-03-10", f"{series}-2", "24.00"),
    ]
    assert world.ledger(f"SERIES#{series}", "COUNTER")[0]["last_sequence"] == 2
    # and the account was read once, with the counters of its 2026 series (USD and GBP) in the same BatchGetItem:
    # the first number came from that read, the second from where the first write left the counter (no GetItem)
    assert {op: n for op, n in calls.items() if op != "Query"} == {
        "BatchGetItem": 1,
        "TransactWriteItems": 2,
        "UpdateItem": 2,  # each invoice's notice marked sent
    }


def test_a_counter_moved_after_it_was_read_with_the_account_numbers_again_without_gap(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from overage.services.renewal import RenewalBilling

    from tests.support import dynamodb_calls, records_one_after_another

    # Given two monthly USD accounts whose 2026 invoices share one series
    wanted = series_of("acc_0", "USD", 2026)
    first, second = [a for a in (f"acc_{n}" for n in range(50_000)) if series_of(a, "USD", 2026) == wanted][:2]
    for account_id in (first, second):
        world.webhook(upsert_body(account_id, billing_cycle="monthly", started_on="2026-02-10"))
    # and, between the read of whichever is billed first (with the series counter, at 0) and its billing write, the
    # other account is billed by another writer (its invoice takes number 1)
    read = RenewalBilling._read
    raced: list[str] = []

    def racing(self: RenewalBilling, account_id: str, as_of):  # type: ignore[no-untyped-def]
        answer = read(self, account_id, as_of)
        if not raced:
            raced.append(account_id)
            assert answer[1][wanted] == 0  # the counter as read with the account
            self.bill_account(second if account_id == first else first, as_of, as_of)
        return answer

    monkeypatch.setattr(RenewalBilling, "_read", racing)
    with records_one_after_another(world):
        calls = dynamodb_calls(lambda: world.renewal("2026-03-10T00:15:00Z"))
    # Then each account has one invoice of 24.00 USD: the other's numbered 1, the raced one's numbered again, 2
    [ours] = raced
    theirs = second if ours == first else first
    [their_invoice], [our_invoice] = world.invoices(theirs), world.invoices(ours)
    assert (their_invoice["number"], their_invoice["gross"]) == (f"{wanted}-1", "24.00")
    assert (our_invoice["number"], our_invoice["gross"]) == (f"{wanted}-2", "24.00")
    assert world.ledger(f"SERIES#{wanted}", "COUNTER")[0]["last_sequence"] == 2
    emails = sorted(email.subject for email in world.emails())
    assert emails == [f"Your invoice {wanted}-1: 24.00 USD", f"Your invoice {wanted}-2: 24.00 USD"]
    # the first write was cancelled by the counter's condition alone; the retry read the counter with a GetItem
    assert calls["GetItem"] == 1
    # three writes: the second's, the first's cancelled attempt, the first's numbered again
    assert calls["TransactWriteItems"] == 3
