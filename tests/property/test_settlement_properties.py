"""Hypothesis over what is owed and paid after the invoice (spec §3.7, ``domain.settlement``): whatever the payments,
credit and voids, no cent is created or lost, amounts due never go negative, credit pays oldest first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain.invoice import Invoice, build_invoice
from overage.domain.money import ZERO, InvoiceLine
from overage.domain.settlement import (
    apply_credit,
    credit_at_issue,
    credit_change,
    receive_payment,
    settle_oldest_first,
    void_invoice,
)
from overage.errors import Conflict

SHORT = settings(max_examples=300, deadline=None)
cents = st.integers(min_value=1, max_value=1_000_000).map(lambda n: Decimal(n) / 100)
T0 = datetime(2026, 4, 10, tzinfo=UTC)


def invoice(net: Decimal, n: int = 0, currency: str = "GBP") -> Invoice:
    issued = T0 + timedelta(days=n)
    return build_invoice(
        account_id="acc_1",
        kind="renewal",
        period_key=f"p{n}",
        currency=currency,
        period_start=date(2026, 4, 10),
        period_end=date(2026, 5, 10),
        lines=[InvoiceLine.of("subscription", "s", 1, net)],
        vat_rate_value="0.20",
        issued_at=issued,
        due_on=issued.date() + timedelta(days=14),
        number=f"GBP2026S001-{n + 1}",
    )


def holds(inv: Invoice) -> None:
    assert inv.amount_due >= 0 and inv.amount_paid >= 0 and inv.credit_applied >= 0
    assert inv.amount_due == inv.gross - inv.amount_paid - inv.credit_applied


@SHORT
@given(cents, st.lists(cents, min_size=1, max_size=6))
def test_payments_keep_every_cent(net: Decimal, payments: list[Decimal]) -> None:
    inv = invoice(net)
    to_credit = ZERO
    for amount in payments:
        step = receive_payment(inv, amount, T0)
        inv = step.after
        to_credit += step.to_credit
        holds(inv)
        assert inv.status == ("paid" if inv.amount_due == 0 else "partially_paid")
    # what was paid is on the invoice or became credit: no cent created or lost
    assert inv.amount_paid + to_credit == sum(payments)
    assert inv.amount_paid == min(inv.gross, sum(payments))


@SHORT
@given(st.lists(cents, min_size=1, max_size=8), cents)
def test_credit_pays_oldest_first_and_never_more_than_it_has(nets: list[Decimal], balance: Decimal) -> None:
    invoices = [invoice(net, n) for n, net in enumerate(nets)]
    settled = settle_oldest_first(list(reversed(invoices)), balance, "GBP", T0)
    assert settled.used + settled.remaining == balance and settled.remaining >= 0
    paid = [step.after for step in settled.steps]
    for inv in paid:
        holds(inv)
    # oldest first: every invoice it reached but the last is paid in full, and it reached a prefix of them
    assert [i.invoice_id for i in paid] == [i.invoice_id for i in invoices[: len(paid)]]
    assert all(i.amount_due == 0 for i in paid[:-1])
    if settled.remaining > 0:
        assert len(paid) == len(invoices) and all(i.amount_due == 0 for i in paid)


@SHORT
@given(cents, cents)
def test_credit_at_issue_spends_at_most_the_balance_and_leaves_it_open_or_paid(net: Decimal, balance: Decimal) -> None:
    issued, used = credit_at_issue(invoice(net), balance)
    holds(issued)
    assert used == min(balance, issued.gross)
    assert issued.status == ("paid" if issued.amount_due == 0 else "open")


@SHORT
@given(cents, cents, cents)
def test_a_void_gives_back_all_that_was_paid_and_credited(net: Decimal, paid: Decimal, credit: Decimal) -> None:
    inv = apply_credit(invoice(net), credit, T0).after
    if inv.amount_due == 0:
        with pytest.raises(Conflict, match="grant a credit instead"):
            void_invoice(inv, T0)
        return
    step = receive_payment(inv, min(paid, inv.amount_due - Decimal("0.01")) or Decimal("0.01"), T0)
    if step.after.amount_due == 0:
        return
    voided = void_invoice(step.after, T0)
    assert (voided.after.status, voided.after.amount_due) == ("void", ZERO)
    assert voided.to_credit == step.after.amount_paid + step.after.credit_applied


@SHORT
@given(cents, st.lists(st.tuples(st.booleans(), cents), max_size=8))
def test_a_balance_never_falls_below_zero(start: Decimal, moves: list[tuple[bool, Decimal]]) -> None:
    balance = start
    for adds, amount in moves:
        signed = amount if adds else -amount
        if balance + signed < 0:
            with pytest.raises(ValueError, match="below zero"):
                credit_change("GBP", balance, [("refunded", signed, None)], T0, "c")
            continue
        change = credit_change("GBP", balance, [("goodwill" if adds else "refunded", signed, None)], T0, "c")
        assert change.after == balance + signed
        balance = change.after
