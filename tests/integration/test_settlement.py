"""After the invoice end to end (spec §3.7): amounts due, partial and over payments, credit from a downgrade used by
the next renewal, payment ids applied once, and the support adjustments, through the webhook and the renewal run:
what is written to the ledger, emailed and put on the bus. Amounts are computed by hand from the spec's rules."""

from __future__ import annotations

from typing import Any

from tests.builders import (
    catalog_restricting,
    change_body,
    extend_body,
    grant_body,
    payment_body,
    refund_body,
    void_body,
)
from tests.support import EVENTS, World, episodes, grace_run, profiles_body, upsert_body

ACC = "acc_s"


def gbp_t250(world: World) -> dict[str, Any]:
    """Given a monthly GBP standard t250 account anchored on the 10th, its 10 Apr invoice issued: 36.00 + 20 % VAT."""
    fields = {"billing_cycle": "monthly", "currency": "GBP", "contact_tier": "t250"}
    assert world.webhook(upsert_body(ACC, started_on="2026-03-10", customer_since="2026-03-10", **fields))[0] == 202
    world.renewal("2026-04-10T00:15:00Z")
    [invoice] = world.invoices(ACC)
    assert (invoice["gross"], invoice["amount_paid"], invoice["credit_applied"], invoice["amount_due"]) == (
        "43.20",
        "0.00",
        "0.00",
        "43.20",
    )
    assert invoice["status"] == "open"
    return invoice


def balances(world: World) -> dict[str, str]:
    status, body = world.get(f"/accounts/{ACC}")
    assert status == 200
    return body["credit_balances"]


def by_id(world: World, invoice_id: str) -> dict[str, Any]:
    return next(i for i in world.invoices(ACC) if i["invoice_id"] == invoice_id)


def money(invoice: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (
        invoice["gross"],
        invoice["amount_paid"],
        invoice["credit_applied"],
        invoice["amount_due"],
        invoice["status"],
    )


def test_the_issue_example_a_downgrade_credit_pays_part_of_the_next_renewal(world: World) -> None:
    # Given the 10 Apr invoice paid
    april = gbp_t250(world)
    assert world.webhook(payment_body(ACC, "2026-04-12T09:00:00Z", april["invoice_id"], "43.20", "GBP"))[0] == 202
    # When t250 -> t100 now, on 20 Apr: 20 of the 30 days of 10 Apr-10 May left
    status, body = world.webhook(change_body(ACC, "2026-04-20T12:00:00Z", contact_tier="t100", effective="immediate"))
    assert status == 202
    # Then a credit note of (24 - 36) x 20 / 30 = -8.00 net, -1.60 VAT, -9.60 gross, settled into credit at once
    note = world.invoices(ACC)[-1]
    assert (note["kind"], note["net"], note["vat"], note["gross"]) == ("credit_note", "-8.00", "-1.60", "-9.60")
    assert (note["amount_due"], note["status"]) == ("0.00", "paid")
    assert body["change"]["credit"] == {"credited": "9.60", "applied_to": [], "balance": "9.60", "currency": "GBP"}
    assert balances(world) == {"GBP": "9.60"}
    # When the 10 May renewal bills t100: 24.00 + 4.80 VAT = 28.80
    world.renewal("2026-05-10T00:15:00Z")
    may = world.invoices(ACC)[-1]
    # Then the credit pays 9.60 of it, inside the write that issued it: 19.20 is due
    assert (may["kind"], may["period_start"]) == ("renewal", "2026-05-10")
    assert money(may) == ("28.80", "0.00", "9.60", "19.20", "open")
    assert balances(world) == {"GBP": "0.00"}
    issued = [e for e in world.bus_events() if e["detail-type"] == "invoice.issued"][-1]["detail"]
    assert (issued["gross"], issued["credit_applied"], issued["amount_due"]) == ("28.80", "9.60", "19.20")
    assert "Your credit of 9.60 GBP is applied to it: 19.20 GBP is due." in world.emails()[-1].body
    # and every cent of the balance is explained
    status, listed = world.get(f"/accounts/{ACC}/adjustments")
    assert status == 200
    assert [(m["kind"], m["amount"], m["balance_after"]) for m in listed["credit_movements"]] == [
        ("credit_note", "9.60", "9.60"),
        ("applied", "-9.60", "0.00"),
    ]


def test_partial_exact_and_over_payments_and_payment_ids(world: World) -> None:
    april = gbp_t250(world)
    inv = april["invoice_id"]
    # A partial payment: partly paid
    status, body = world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", inv, "20.00", "GBP", payment_id="pay_1"))
    assert (status, body["outcome"], body["amount_due"]) == (202, "partially_paid", "23.20")
    assert money(by_id(world, inv)) == ("43.20", "20.00", "0.00", "23.20", "partially_paid")
    # The same payment_id under another event id changes nothing
    status, again = world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", inv, "20.00", "GBP", payment_id="pay_1"))
    assert (status, again["outcome"], again["amount_due"]) == (202, "already_applied", "23.20")
    assert money(by_id(world, inv)) == ("43.20", "20.00", "0.00", "23.20", "partially_paid")
    # More than is due: paid, and the 6.80 surplus becomes credit
    status, body = world.webhook(payment_body(ACC, "2026-04-13T09:00:00Z", inv, "30.00", "GBP", payment_id="pay_2"))
    assert (status, body["outcome"], body["to_credit"], body["credit_balance"]) == (202, "paid", "6.80", "6.80")
    assert money(by_id(world, inv)) == ("43.20", "43.20", "0.00", "0.00", "paid")
    assert balances(world) == {"GBP": "6.80"}
    # Each payment has its receipt, none twice
    receipts = [n for n in world.notices(ACC) if n["kind"] == "invoice.payment_received"]
    assert [n["detail"]["amount_due"] for n in receipts] == ["23.20", "0.00"]
    assert [e.subject for e in world.emails()].count(f"Payment received: 20.00 GBP for invoice {april['number']}") == 1
    # The next renewal (t250 again, 43.20) uses the 6.80: 36.40 due
    world.renewal("2026-05-10T00:15:00Z")
    assert money(world.invoices(ACC)[-1]) == ("43.20", "0.00", "6.80", "36.40", "open")
    # An overpayment of the May invoice pays nothing twice: its surplus sits as credit (nothing else is owed)
    may = world.invoices(ACC)[-1]["invoice_id"]
    status, body = world.webhook(payment_body(ACC, "2026-05-11T09:00:00Z", may, "40.00", "GBP"))
    assert (body["outcome"], body["to_credit"], body["credit_balance"]) == ("paid", "3.60", "3.60")


def test_what_a_payment_may_not_do_changes_nothing(world: World) -> None:
    april = gbp_t250(world)
    inv = april["invoice_id"]
    before = (world.invoices(ACC), len(world.emails()), len(world.bus_events()))
    status, body = world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", inv, "43.20", "USD"))
    assert (status, [e["field"] for e in body["errors"]]) == (422, ["data.currency"])
    for amount in ("0.00", "-5.00", "5"):
        status, body = world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", inv, amount, "GBP"))
        assert (status, [e["field"] for e in body["errors"]]) == (422, ["data.amount"])
    assert world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", "inv_nope", "1.00", "GBP"))[0] == 404
    assert (world.invoices(ACC), len(world.emails()), len(world.bus_events())) == before
    # a void invoice cannot be paid
    assert world.webhook(void_body(ACC, "2026-04-11T10:00:00Z", inv))[0] == 202
    status, body = world.webhook(payment_body(ACC, "2026-04-11T11:00:00Z", inv, "43.20", "GBP"))
    assert status == 409
    assert balances(world) == {}


def test_void_goodwill_and_refund(world: World) -> None:
    april = gbp_t250(world)
    inv = april["invoice_id"]
    world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", inv, "10.00", "GBP"))
    # Voiding a partly paid invoice: void, nothing due, the 10.00 paid becomes credit; it keeps its number
    status, body = world.webhook(
        void_body(ACC, "2026-04-12T09:00:00Z", inv, event_id="evt_void_1", reason="Billed twice")
    )
    assert (status, body["outcome"]) == (202, "applied")
    voided = by_id(world, inv)
    assert (voided["status"], voided["amount_due"], voided["amount_paid"], voided["number"]) == (
        "void",
        "0.00",
        "10.00",
        april["number"],
    )
    assert balances(world) == {"GBP": "10.00"}
    # A goodwill credit of 5.00 ex VAT: a credit note of -5.00 / -1.00 / -6.00, applied as credit
    status, body = world.webhook(grant_body(ACC, "2026-04-13T09:00:00Z", "5.00", "GBP", event_id="evt_gw_1"))
    assert status == 202
    note = world.invoices(ACC)[-1]
    assert (note["kind"], note["net"], note["vat"], note["gross"], note["status"]) == (
        "credit_note",
        "-5.00",
        "-1.00",
        "-6.00",
        "paid",
    )
    assert balances(world) == {"GBP": "16.00"}
    # A refund above the balance is a 422 naming the amount; within it, the balance goes down
    status, body = world.webhook(refund_body(ACC, "2026-04-14T09:00:00Z", "16.01", "GBP"))
    assert (status, [e["field"] for e in body["errors"]]) == (422, ["data.amount"])
    status, body = world.webhook(refund_body(ACC, "2026-04-14T09:00:00Z", "6.00", "GBP", event_id="evt_ref_1"))
    assert status == 202
    assert balances(world) == {"GBP": "10.00"}
    # A paid invoice cannot be voided: 409, grant a credit instead
    world.renewal("2026-05-10T00:15:00Z")
    may = world.invoices(ACC)[-1]
    assert money(may) == ("43.20", "0.00", "10.00", "33.20", "open")
    world.webhook(payment_body(ACC, "2026-05-11T09:00:00Z", may["invoice_id"], "33.20", "GBP"))
    status, body = world.webhook(void_body(ACC, "2026-05-12T09:00:00Z", may["invoice_id"]))
    assert status == 409
    assert "grant a credit instead" in body["message"]
    # Each adjustment is recorded (who, when, why, what changed, amounts) and told to the customer
    status, listed = world.get(f"/accounts/{ACC}/adjustments")
    rows = [(a["kind"], a["requested_by"], a["reason"]) for a in listed["adjustments"]]
    assert rows == [
        ("invoice.void_requested", "agent@vendor.example", "Billed twice"),
        ("credit.granted", "agent@vendor.example", "Agreed with the customer on the phone"),
        ("credit.refunded", "agent@vendor.example", "Agreed with the customer on the phone"),
    ]
    assert listed["adjustments"][0]["amounts"]["to_credit"] == "10.00"
    assert listed["adjustments"][0]["changes"]["status"] == ["partially_paid", "void"]
    kinds = [e["detail-type"] for e in world.bus_events()]
    assert [k for k in kinds if k in ("invoice.voided", "credit.granted", "credit.refunded")] == [
        "invoice.voided",
        "credit.granted",
        "credit.refunded",
    ]


def test_voiding_an_overdue_fee_waives_it_and_lifts_the_restriction(world: World) -> None:
    assert world.webhook(upsert_body(ACC, currency="GBP"))[0] == 202
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    grace_run(world, "2026-03-15T09:05:00Z")
    grace_run(world, "2026-03-30T00:05:00Z")
    [fee] = world.invoices(ACC)
    assert (fee["status"], world.account_item(ACC)["restricted"]) == ("overdue", True)
    status, body = world.webhook(void_body(ACC, "2026-03-31T09:00:00Z", fee["invoice_id"]))
    assert (status, body["restriction_lifted"], body["restricted"]) == (202, True, False)
    [episode] = episodes(world, ACC)
    assert (episode["state"], episode["outcome"]) == ("waived", "waived")
    assert "open_episode" not in world.account_item(ACC)
    assert [e["detail-type"] for e in world.bus_events()][-2:] == ["invoice.voided", "account.unrestricted"]


def test_a_grace_extension_moves_the_grace_end_only_in_grace(world: World) -> None:
    assert world.webhook(upsert_body(ACC, currency="GBP"))[0] == 202
    world.webhook(profiles_body(ACC, "2026-03-01T09:00:00Z", 205))
    for days in (0, 31):
        status, body = world.webhook(extend_body(ACC, "2026-03-05T09:00:00Z", days))
        assert (status, [e["field"] for e in body["errors"]]) == (422, ["data.days"])
    status, body = world.webhook(extend_body(ACC, "2026-03-05T09:00:00Z", 7, event_id="evt_ext_1"))
    assert status == 202
    assert body["adjustment"]["changes"]["grace_ends_at"] == [
        "2026-03-15T09:00:00.000000Z",
        "2026-03-22T09:00:00.000000Z",
    ]
    # the old grace end passes without a fee; the new one invoices it
    grace_run(world, "2026-03-15T09:05:00Z")
    assert world.invoices(ACC) == []
    grace_run(world, "2026-03-22T09:05:00Z")
    assert [i["kind"] for i in world.invoices(ACC)] == ["excess_profiles"]
    # over: 409, nothing changes
    status, body = world.webhook(extend_body(ACC, "2026-03-23T09:00:00Z", 7))
    assert status == 409
    assert world.notices(ACC)[-1]["kind"] == "invoice.issued"


def test_the_sample_adjustments_tell_one_story(world: World) -> None:
    # acc_42 over its limit on 5 Feb (grace to 19 Feb), 7 more days of grace, the fee invoiced at the new grace end,
    # voided (waived), a goodwill credit, part of it refunded
    def sample(name: str) -> dict[str, Any]:
        status, body = world.webhook((EVENTS / "webhooks" / f"{name}.json").read_bytes())
        assert status == 202, body
        return body

    sample("account_upserted")
    sample("profiles_counted")
    extended = sample("grace_extend_requested")
    assert extended["adjustment"]["changes"]["grace_ends_at"][1] == "2026-02-26T10:00:00.000000Z"
    grace_run(world, "2026-02-26T12:00:00Z")
    [fee] = world.invoices("acc_42")
    assert fee["invoice_id"] == "inv_acc_42_excess_profiles_20260205T100000Z-ece8f3"
    assert money(fee) == ("5.00", "0.00", "0.00", "5.00", "open")
    sample("invoice_void_requested")
    assert by_id_of(world, "acc_42", fee["invoice_id"])["status"] == "void"
    assert [e["outcome"] for e in episodes(world, "acc_42")] == ["waived"]
    sample("credit_granted")
    sample("credit_refunded")
    assert world.get("/accounts/acc_42")[1]["credit_balances"] == {"USD": "3.00"}


def by_id_of(world: World, account_id: str, invoice_id: str) -> dict[str, Any]:
    return next(i for i in world.invoices(account_id) if i["invoice_id"] == invoice_id)


def test_every_invoice_kind_is_reminded_and_goes_overdue_without_restricting(world: World) -> None:
    # Given the 10 Apr renewal invoice (43.20, due 24 Apr), 20.00 of it paid
    april = gbp_t250(world)
    world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", april["invoice_id"], "20.00", "GBP"))
    # When the daily runs of 20 Apr (nothing yet), 21 Apr (three days before the due date) and 25 Apr happen
    assert grace_run(world, "2026-04-20T00:05:00Z")["invoices_dispatched"] == 0
    assert grace_run(world, "2026-04-21T00:05:00Z")["invoices_dispatched"] == 1
    reminder = world.notices(ACC)[-1]
    assert (reminder["kind"], reminder["detail"]["amount_due"]) == ("invoice.payment_reminder", "23.20")
    assert grace_run(world, "2026-04-22T00:05:00Z")["invoices_dispatched"] == 0  # reminded once
    assert grace_run(world, "2026-04-24T00:05:00Z")["invoices_dispatched"] == 0  # paying on the due date is on time
    assert grace_run(world, "2026-04-25T00:05:00Z")["invoices_dispatched"] == 1
    # Then it is overdue, with its notice, and (renewal: restrict_after_days_overdue null) the account not restricted
    assert money(by_id(world, april["invoice_id"])) == ("43.20", "20.00", "0.00", "23.20", "overdue")
    overdue = [e for e in world.bus_events() if e["detail-type"] == "invoice.overdue"]
    assert [(e["detail"]["invoice_id"], e["detail"]["restricts"]) for e in overdue] == [(april["invoice_id"], False)]
    assert world.account_item(ACC).get("restricted") in (None, False)
    assert grace_run(world, "2026-04-26T00:05:00Z")["invoices_dispatched"] == 0  # nothing more to chase
    # And paying the rest of an overdue invoice makes it paid
    world.webhook(payment_body(ACC, "2026-04-27T09:00:00Z", april["invoice_id"], "23.20", "GBP"))
    assert by_id(world, april["invoice_id"])["status"] == "paid"
    # And April's report counts it among the invoices gone overdue, by kind
    from tests.support import report_run, report_summary

    report_run(world, {"month": "2026-04"})
    overdue_in_april = report_summary(world, "2026-04")["settlement"]["overdue_invoices"]
    assert overdue_in_april == {"total": 1, "by_kind": {"renewal": 1}}


def test_the_monthly_report_counts_payments_credit_adjustments_and_overdue_invoices(world: World) -> None:
    from tests.support import report_files, report_rows, report_run, report_summary

    # Given April: the 10 Apr invoice (43.20) paid 50.00 (6.80 to credit), a 5.00 + VAT goodwill credit (6.00),
    # 2.00 refunded, the May invoice... and an excess episode whose grace was extended and whose fee was voided
    april = gbp_t250(world)
    world.webhook(payment_body(ACC, "2026-04-11T09:00:00Z", april["invoice_id"], "50.00", "GBP"))
    world.webhook(grant_body(ACC, "2026-04-12T09:00:00Z", "5.00", "GBP"))
    world.webhook(refund_body(ACC, "2026-04-13T09:00:00Z", "2.00", "GBP"))
    other = "acc_fee"
    world.webhook(upsert_body(other, currency="GBP", started_on="2026-01-10", customer_since="2026-01-10"))
    world.webhook(profiles_body(other, "2026-04-01T09:00:00Z", 205))
    world.webhook(extend_body(other, "2026-04-02T09:00:00Z", 2))
    grace_run(world, "2026-04-17T09:05:00Z")
    [fee] = [i for i in world.invoices(other) if i["kind"] == "excess_profiles"]
    world.webhook(void_body(other, "2026-04-18T09:00:00Z", fee["invoice_id"]))
    # When April's report runs
    report_run(world, {"month": "2026-04"})
    # Then its settlement figures, to the cent
    settlement = report_summary(world, "2026-04")["settlement"]
    money = {figure: block["by_currency"] for figure, block in settlement["money"].items() if block["count"]}
    assert money == {
        "payments": {"GBP": {"count": 1, "amount": "50.00"}},
        "credit_granted": {"GBP": {"count": 1, "amount": "6.00"}},
        "credit_from_overpayments": {"GBP": {"count": 1, "amount": "6.80"}},
        "credit_refunded": {"GBP": {"count": 1, "amount": "2.00"}},
    }
    assert settlement["adjustments"] == {
        "invoices_voided": 1,
        "fees_waived": 1,
        "goodwill_credits": 1,
        "graces_extended": 1,
        "refunds": 1,
    }
    rows = report_rows(world, "2026-04", "settlement.csv")
    assert {"figure": "payments", "currency": "GBP", "count": "1", "amount": "50.00"} in rows
    assert b"Payments, credit and adjustments" in report_files(world, "2026-04")["index.html"]


def test_a_downgrade_credit_pays_an_overdue_fee_and_lifts_the_restriction(world: World) -> None:
    # Given a GBP t2500 account (from 5 Mar) restricted for its unpaid 4.80 fee (grace end 20 Mar, overdue 4 Apr)
    fields = {"billing_cycle": "monthly", "currency": "GBP", "contact_tier": "t2500"}
    assert world.webhook(upsert_body(ACC, started_on="2026-03-05", customer_since="2026-03-05", **fields))[0] == 202
    world.webhook(profiles_body(ACC, "2026-03-06T09:00:00Z", 205))
    grace_run(world, "2026-03-20T09:05:00Z")
    grace_run(world, "2026-04-04T00:05:00Z")
    [fee] = world.invoices(ACC)
    assert (fee["gross"], fee["status"], world.account_item(ACC)["restricted"]) == ("4.80", "overdue", True)
    # When t2500 -> t50 at once on 4 Apr, 1 of the 31 days of 5 Mar-5 Apr left: (20 - 205) x 1 / 31 = -5.97 net,
    # -1.19 VAT, -7.16 gross of credit
    status, body = world.webhook(change_body(ACC, "2026-04-04T10:00:00Z", contact_tier="t50", effective="immediate"))
    assert status == 202
    # Then the credit pays the fee at once (oldest first), the episode is paid and the restriction lifted
    assert body["change"]["credit"]["applied_to"] == [{"invoice_id": fee["invoice_id"], "amount": "4.80"}]
    assert body["change"]["credit"]["balance"] == "2.36"
    assert money(by_id(world, fee["invoice_id"])) == ("4.80", "0.00", "4.80", "0.00", "paid")
    assert world.account_item(ACC)["restricted"] is False
    assert [e["outcome"] for e in episodes(world, ACC)] == ["fee_paid"]
    kinds = [e["detail-type"] for e in world.bus_events()]
    assert kinds.count("account.unrestricted") == 1 and "credit.applied" in kinds


# ---------------------------------------------------------------------------------- restriction by other kinds
def test_a_renewal_invoice_overdue_seven_days_restricts_the_account_until_it_is_paid() -> None:
    import boto3

    from tests.support import moto_world

    with moto_world({"CatalogParameterName": "/overage/catalog-restricting"}) as world:
        boto3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/overage/catalog-restricting", Value=catalog_restricting("renewal", 7), Type="String"
        )
        # Given the 10 Apr renewal invoice (36.00 + 20 % VAT = 43.20, due 24 Apr, overdue 25 Apr), 20.00 paid
        april = gbp_t250(world)
        world.webhook(
            payment_body(ACC, "2026-04-11T09:00:00Z", april["invoice_id"], "20.00", "GBP", payment_id="pay_1")
        )
        grace_run(world, "2026-04-21T00:05:00Z")  # the reminder
        # When it goes overdue on 25 Apr: its notice says the account may be restricted, and it is not yet
        assert grace_run(world, "2026-04-25T00:05:00Z")["invoices_dispatched"] == 1
        overdue = [e["detail"] for e in world.bus_events() if e["detail-type"] == "invoice.overdue"]
        assert [(d["invoice_id"], d["restricts"], d["amount_due"]) for d in overdue] == [
            (april["invoice_id"], True, "23.20")
        ]
        assert world.get(f"/accounts/{ACC}")[1]["restricted"] is False
        # and nothing more happens before the 7th day overdue (25 Apr + 7 = 2 May)
        assert grace_run(world, "2026-05-01T00:05:00Z")["invoices_dispatched"] == 0
        # When the run of 2 May finds it still overdue (a further 3.20 paid on 30 Apr changes nothing: 20.00 due)
        world.webhook(payment_body(ACC, "2026-04-30T09:00:00Z", april["invoice_id"], "3.20", "GBP", payment_id="pay_2"))
        assert money(by_id(world, april["invoice_id"])) == ("43.20", "23.20", "0.00", "20.00", "overdue")
        assert grace_run(world, "2026-05-02T00:05:00Z")["invoices_dispatched"] == 1
        # Then the account is restricted, once, with its notice (email and bus), and the invoice is the reason
        status, standing = world.get(f"/accounts/{ACC}")
        assert (status, standing["restricted"]) == (200, True)
        restricted = [e["detail"] for e in world.bus_events() if e["detail-type"] == "account.restricted"]
        assert [(d["invoice_id"], d["amount_due"], d["days_overdue"], d["block_new_profiles"]) for d in restricted] == [
            (april["invoice_id"], "20.00", 7, True)
        ]
        assert "invoice_kind" not in restricted[0]  # its invoice.overdue counted it among the overdue invoices
        email = world.emails()[-1]
        assert email.subject == f"Account restricted: invoice {april['number']} is overdue"
        assert "20.00 GBP of it is still unpaid, 7 days after it became overdue" in email.body
        item = next(i for i in world.ledger(ACC, "INVOICE#") if i["invoice_id"] == april["invoice_id"])
        assert item["restricting"] is True and "dunning_at" not in item
        # and a rerun, or the next day's run, changes nothing
        notices_before, bus_before = len(world.notices(ACC)), len(world.bus_events())
        assert grace_run(world, "2026-05-02T00:05:00Z")["invoices_dispatched"] == 0
        assert grace_run(world, "2026-05-03T00:05:00Z")["invoices_dispatched"] == 0
        assert (len(world.notices(ACC)), len(world.bus_events())) == (notices_before, bus_before)
        # When the 20.00 left is paid, the restriction is lifted, with its notice
        status, body = world.webhook(
            payment_body(ACC, "2026-05-04T09:00:00Z", april["invoice_id"], "20.00", "GBP", payment_id="pay_3")
        )
        assert (status, body["outcome"], body["amount_due"], body["restriction_lifted"]) == (202, "paid", "0.00", True)
        assert world.get(f"/accounts/{ACC}")[1]["restricted"] is False
        kinds = [e["detail-type"] for e in world.bus_events()]
        assert kinds[-2:] == ["invoice.payment_received", "account.unrestricted"] or kinds[-2:] == [
            "account.unrestricted",
            "invoice.payment_received",
        ]


def test_the_restriction_stays_while_another_restricting_invoice_is_overdue() -> None:
    import boto3

    from tests.support import moto_world

    with moto_world({"CatalogParameterName": "/overage/catalog-restricting"}) as world:
        boto3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/overage/catalog-restricting", Value=catalog_restricting("renewal", 7), Type="String"
        )
        # Given the 10 Apr renewal (43.20, due 24 Apr, overdue 25 Apr) never paid: it restricts on 2 May (25 Apr + 7)
        april = gbp_t250(world)
        for day in ("2026-04-21", "2026-04-25", "2026-05-02"):
            grace_run(world, f"{day}T00:05:00Z")
        assert world.get(f"/accounts/{ACC}")[1]["restricted"] is True
        # and the 10 May renewal (43.20 again, due 24 May, overdue 25 May) never paid either: on 1 Jun (25 May + 7)
        # it restricts too, without a second account.restricted, the account being restricted already
        world.renewal("2026-05-10T00:15:00Z")
        may = next(i for i in world.invoices(ACC) if i["invoice_id"] != april["invoice_id"])
        assert money(may) == ("43.20", "0.00", "0.00", "43.20", "open")
        for day in ("2026-05-21", "2026-05-25", "2026-06-01"):
            grace_run(world, f"{day}T00:05:00Z")
        assert money(by_id(world, may["invoice_id"])) == ("43.20", "0.00", "0.00", "43.20", "overdue")
        restricted = [e["detail"] for e in world.bus_events() if e["detail-type"] == "account.restricted"]
        assert [d["invoice_id"] for d in restricted] == [april["invoice_id"]]
        may_item = next(i for i in world.ledger(ACC, "INVOICE#") if i["invoice_id"] == may["invoice_id"])
        assert may_item["restricting"] is True
        # When April's 43.20 is paid in full: April is paid, but May still restricts, so the restriction stays
        status, body = world.webhook(
            payment_body(ACC, "2026-06-02T09:00:00Z", april["invoice_id"], "43.20", "GBP", payment_id="pay_apr")
        )
        assert (status, body["outcome"], body["amount_due"], body["restriction_lifted"]) == (202, "paid", "0.00", False)
        assert world.get(f"/accounts/{ACC}")[1]["restricted"] is True
        assert "account.unrestricted" not in [e["detail-type"] for e in world.bus_events()]
        # When support voids May's invoice: no restricting invoice is overdue any more, and the restriction is lifted
        status, body = world.webhook(
            void_body(ACC, "2026-06-03T09:00:00Z", may["invoice_id"], reason="Billed late", requested_by="a@v.example")
        )
        assert status == 202, body
        assert money(by_id(world, may["invoice_id"])) == ("43.20", "0.00", "0.00", "0.00", "void")
        assert world.get(f"/accounts/{ACC}")[1]["restricted"] is False
        assert [e["detail-type"] for e in world.bus_events()].count("account.unrestricted") == 1


def test_an_invoice_waiting_to_restrict_leaves_dunning_when_the_catalog_stops_restricting_its_kind() -> None:
    import boto3

    from tests.support import moto_world, reset_caches

    with moto_world({"CatalogParameterName": "/overage/catalog-restricting"}) as world:
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/overage/catalog-restricting", Value=catalog_restricting("renewal", 7), Type="String")
        # Given the 10 Apr renewal (43.20, overdue 25 Apr) waiting to restrict the account on 2 May (25 Apr + 7)
        april = gbp_t250(world)
        grace_run(world, "2026-04-25T00:05:00Z")
        item = next(i for i in world.ledger(ACC, "INVOICE#") if i["invoice_id"] == april["invoice_id"])
        assert item["dunning_at"] == "X#2026-05-02"
        # When the vendor's catalog stops restricting renewals before then (plan changes restrict now instead)
        ssm.put_parameter(
            Name="/overage/catalog-restricting",
            Value=catalog_restricting("plan_change", 7),
            Type="String",
            Overwrite=True,
        )
        reset_caches()
        notices_before, bus_before = len(world.notices(ACC)), len(world.bus_events())
        # Then the run of 2 May takes the invoice out of dunning without restricting or telling anyone
        assert grace_run(world, "2026-05-02T00:05:00Z")["invoices_dispatched"] == 1
        assert world.get(f"/accounts/{ACC}")[1]["restricted"] is False
        item = next(i for i in world.ledger(ACC, "INVOICE#") if i["invoice_id"] == april["invoice_id"])
        assert "dunning_at" not in item and "dunning_shard" not in item and item.get("restricting") is not True
        assert money(by_id(world, april["invoice_id"])) == ("43.20", "0.00", "0.00", "43.20", "overdue")
        assert (len(world.notices(ACC)), len(world.bus_events())) == (notices_before, bus_before)
        # and no later run finds it again
        assert grace_run(world, "2026-05-03T00:05:00Z")["invoices_dispatched"] == 0
