"""The rules of ``domain.settlement`` by example (spec §3.7), amounts computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from overage.domain.invoice import Invoice, InvoiceKind, build_invoice
from overage.domain.money import InvoiceLine
from overage.domain.settlement import (
    credit_at_issue,
    dunning_step,
    first_dunning_key,
    receive_payment,
    settle_oldest_first,
    void_invoice,
)
from overage.errors import Conflict

AT = datetime(2026, 5, 10, tzinfo=UTC)


def renewal(net: str, day: int = 10, kind: InvoiceKind = "renewal") -> Invoice:
    issued = datetime(2026, 5, day, tzinfo=UTC)
    return build_invoice(
        account_id="acc_1",
        kind=kind,
        period_key=f"2026-05-{day:02d}",
        currency="GBP",
        period_start=date(2026, 5, day),
        period_end=date(2026, 6, day),
        lines=[InvoiceLine.of("subscription", "t100", 1, Decimal(net))],
        vat_rate_value="0.20",
        issued_at=issued,
        due_on=date(2026, 5, day + 14),
        number="GBP2026S001-2",
    )


def test_the_issue_example_28_80_less_9_60_of_credit_is_19_20_due() -> None:
    invoice, used = credit_at_issue(renewal("24.00"), Decimal("9.60"))
    assert (invoice.gross, invoice.credit_applied, invoice.amount_due, invoice.status, used) == (
        Decimal("28.80"),
        Decimal("9.60"),
        Decimal("19.20"),
        "open",
        Decimal("9.60"),
    )


def test_partial_exact_and_over_payments() -> None:
    invoice = renewal("36.00")  # 43.20
    part = receive_payment(invoice, Decimal("20.00"), AT)
    assert (part.after.status, part.after.amount_due, part.to_credit) == ("partially_paid", Decimal("23.20"), 0)
    over = receive_payment(part.after, Decimal("30.00"), AT)
    assert (over.after.status, over.after.amount_due, over.to_credit) == ("paid", Decimal("0.00"), Decimal("6.80"))
    again = receive_payment(over.after, Decimal("5.00"), AT)  # a paid invoice: all of it is credit
    assert (again.after, again.to_credit) == (over.after, Decimal("5.00"))


def test_an_overdue_invoice_partly_paid_stays_overdue() -> None:
    overdue = renewal("36.00").model_copy(update={"status": "overdue"})
    step = receive_payment(overdue, Decimal("40.00"), AT)
    assert (step.after.status, step.after.amount_due) == ("overdue", Decimal("3.20"))


def test_voids() -> None:
    paid_part = receive_payment(renewal("36.00"), Decimal("10.00"), AT).after
    voided = void_invoice(paid_part, AT)
    assert (voided.after.status, voided.after.amount_due, voided.to_credit) == (
        "void",
        Decimal("0.00"),
        Decimal("10.00"),
    )
    assert voided.after.number == paid_part.number
    paid = receive_payment(paid_part, Decimal("33.20"), AT).after
    with pytest.raises(Conflict, match="grant a credit instead"):
        void_invoice(paid, AT)
    with pytest.raises(Conflict, match="void and cannot be paid"):
        receive_payment(voided.after, Decimal("1.00"), AT)


def test_credit_pays_the_oldest_first() -> None:
    older, newer = renewal("10.00", day=1), renewal("10.00", day=5)  # 12.00 each
    settled = settle_oldest_first([newer, older], Decimal("15.00"), "GBP", AT)
    assert [(s.after.invoice_id, s.credit_used, s.after.amount_due) for s in settled.steps] == [
        (older.invoice_id, Decimal("12.00"), Decimal("0.00")),
        (newer.invoice_id, Decimal("3.00"), Decimal("9.00")),
    ]
    assert settled.remaining == 0
    assert settle_oldest_first([older], Decimal("5.00"), "USD", AT).steps == ()


def test_dunning_reminds_three_days_before_and_is_overdue_the_day_after() -> None:
    invoice = renewal("24.00")  # due 24 May
    key = first_dunning_key(invoice)
    assert key == "R#2026-05-24"
    assert dunning_step(invoice, key, date(2026, 5, 20), 3) is None
    reminded = dunning_step(invoice, key, date(2026, 5, 21), 3)
    assert reminded is not None and (reminded.happening, reminded.next_key) == ("reminded", "O#2026-05-25")
    assert dunning_step(invoice, "O#2026-05-25", date(2026, 5, 24), 3) is None
    overdue = dunning_step(invoice, "O#2026-05-25", date(2026, 5, 25), 3)
    assert overdue is not None and (overdue.happening, overdue.after.status, overdue.next_key) == (
        "overdue",
        "overdue",
        None,
    )
    # fee invoices (their episode chases them), credit notes and invoices paid at issue are not dunned
    assert first_dunning_key(renewal("5.00", kind="excess_profiles")) is None
    assert first_dunning_key(credit_at_issue(invoice, Decimal("28.80"))[0]) is None


def test_a_kind_that_restricts_after_seven_days_waits_at_its_restriction_day_then_restricts() -> None:
    invoice = renewal("24.00")  # due 24 May, overdue 25 May: with 7 days, restricted on 1 June
    overdue = dunning_step(invoice, "O#2026-05-25", date(2026, 5, 25), 3, restrict_after=7)
    assert overdue is not None
    assert (overdue.happening, overdue.after.status, overdue.next_key, overdue.restricts) == (
        "overdue",
        "overdue",
        "X#2026-06-01",
        False,
    )
    late = overdue.after
    assert dunning_step(late, "X#2026-06-01", date(2026, 5, 31), 3, restrict_after=7) is None
    restricted = dunning_step(late, "X#2026-06-01", date(2026, 6, 1), 3, restrict_after=7)
    assert restricted is not None
    assert (restricted.happening, restricted.after.status, restricted.next_key, restricted.restricts) == (
        "restricted",
        "overdue",
        None,
        True,
    )
    # a partial payment leaves it overdue and still restricting on its day; paid in full, nothing more happens
    partly = late.model_copy(update={"amount_paid": Decimal("10.00"), "amount_due": Decimal("18.80")})
    assert dunning_step(partly, "X#2026-06-01", date(2026, 6, 1), 3, restrict_after=7).restricts  # type: ignore[union-attr]
    paid = late.model_copy(update={"amount_paid": Decimal("28.80"), "amount_due": Decimal("0.00"), "status": "paid"})
    assert dunning_step(paid, "X#2026-06-01", date(2026, 6, 1), 3, restrict_after=7) is None
    # a kind the catalog no longer restricts leaves the index at its restriction key, restricting nothing
    released = dunning_step(late, "X#2026-06-01", date(2026, 6, 1), 3, restrict_after=None)
    assert released is not None
    assert (released.happening, released.after.status, released.next_key, released.restricts) == (
        "released",
        "overdue",
        None,
        False,
    )


def test_zero_days_restricts_in_the_overdue_step_and_a_late_first_run_does_both() -> None:
    invoice = renewal("24.00")  # due 24 May, overdue 25 May
    at_once = dunning_step(invoice, "O#2026-05-25", date(2026, 5, 25), 3, restrict_after=0)
    assert at_once is not None
    assert (at_once.happening, at_once.after.status, at_once.next_key, at_once.restricts) == (
        "overdue",
        "overdue",
        None,
        True,
    )
    # with 7 days, a run that first looks on 3 June (the reminder and the overdue day missed) does both at once
    late = dunning_step(invoice, "R#2026-05-24", date(2026, 6, 3), 3, restrict_after=7)
    assert late is not None and (late.happening, late.restricts, late.next_key) == ("overdue", True, None)
