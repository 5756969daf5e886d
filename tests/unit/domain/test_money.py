"""Money: two places, half-up per line, VAT on the net, amounts serialised as strings."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from overage.domain.money import CENT, InvoiceLine, Totals, round_money, totals, with_vat
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("raw", "rounded"),
    [
        ("5.164", "5.16"),
        ("5.165", "5.17"),
        ("5.1612903225806451612903", "5.16"),
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("-0.005", "-0.01"),
        ("-5.165", "-5.17"),
        ("10", "10.00"),
    ],
)
def test_round_money_is_half_up_to_the_cent(raw: str, rounded: str) -> None:
    assert round_money(Decimal(raw)) == Decimal(rounded)
    assert str(round_money(Decimal(raw))) == rounded


def test_round_money_refuses_float() -> None:
    with pytest.raises(TypeError):
        round_money(0.1)  # type: ignore[arg-type]


def test_round_money_accepts_int() -> None:
    assert str(round_money(3)) == "3.00"
    assert Decimal("0.01") == CENT


def test_line_amount_is_quantity_times_unit_price() -> None:
    # Given 5 profiles over the limit at 0.80 GBP
    line = InvoiceLine.of("excess_profiles", "5 profiles over the limit", 5, Decimal("0.80"))
    # Then the line amount is 4.00
    assert line.amount == Decimal("4.00")
    assert str(line.amount) == "4.00"


def test_line_amount_rounds_half_up() -> None:
    line = InvoiceLine.of("training", "training", Decimal("0.5"), Decimal("0.25"))
    assert line.amount == Decimal("0.13")  # 0.125 → 0.13


def test_line_refuses_float_and_inconsistent_amount() -> None:
    with pytest.raises(TypeError):
        InvoiceLine.of("x", "x", 1, 24.0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        InvoiceLine(code="x", description="x", quantity=1, unit_price=Decimal("24.00"), amount=Decimal("25.00"))
    with pytest.raises(ValidationError):
        InvoiceLine(code="x", description="x", quantity=1, unit_price=Decimal("24.00"), amount=24.0)  # type: ignore[arg-type]


def test_gbp_vat_is_20_percent_on_the_net() -> None:
    # Given a 10.00 GBP net amount and GBP VAT 20 %
    result = with_vat(Decimal("10.00"), Decimal("0.20"))
    # Then VAT is 2.00 and gross 12.00
    assert result == Totals(net=Decimal("10.00"), vat=Decimal("2.00"), gross=Decimal("12.00"))


def test_usd_has_no_vat() -> None:
    result = with_vat(Decimal("10.00"), Decimal("0"))
    assert (result.net, result.vat, result.gross) == (Decimal("10.00"), Decimal("0.00"), Decimal("10.00"))


def test_totals_sum_rounded_lines_then_vat_once() -> None:
    # Given the worked example's overrun supplement and a profile-pack line, in GBP
    lines = [
        InvoiceLine.of("overrun", "t150 - t50", 1, Decimal("8.00")),
        InvoiceLine.of("profile_pack", "profile pack", 2, Decimal("8.00")),
    ]
    result = totals(lines, Decimal("0.20"))
    assert result.net == Decimal("24.00")
    assert result.vat == Decimal("4.80")
    assert result.gross == Decimal("28.80")


def test_totals_of_the_worked_example() -> None:
    lines = [InvoiceLine.of("overrun_supplement", "t150 - t50", 1, Decimal("34.00") - Decimal("24.00"))]
    assert totals(lines, Decimal("0")).gross == Decimal("10.00")


def test_vat_is_rounded_half_up() -> None:
    assert with_vat(Decimal("0.03"), Decimal("0.20")).vat == Decimal("0.01")  # 0.006 → 0.01
    assert with_vat(Decimal("0.02"), Decimal("0.20")).vat == Decimal("0.00")  # 0.004 → 0.00


def test_no_lines_total_zero() -> None:
    assert totals([], Decimal("0.20")) == Totals(net=Decimal("0"), vat=Decimal("0"), gross=Decimal("0"))


def test_credit_totals_are_negative() -> None:
    result = totals([InvoiceLine.of("credit", "downgrade", 1, Decimal("-5.16"))], Decimal("0.20"))
    assert (result.net, result.vat, result.gross) == (Decimal("-5.16"), Decimal("-1.03"), Decimal("-6.19"))


def test_json_amounts_are_strings() -> None:
    line = InvoiceLine.of("overrun_supplement", "t150 - t50", 1, Decimal("10.00"))
    assert json.loads(line.model_dump_json()) == {
        "code": "overrun_supplement",
        "description": "t150 - t50",
        "quantity": 1,
        "unit_price": "10.00",
        "amount": "10.00",
    }
    assert with_vat(Decimal("10.00"), Decimal("0.20")).model_dump(mode="json") == {
        "net": "10.00",
        "vat": "2.00",
        "gross": "12.00",
    }


def test_totals_round_trip_from_json() -> None:
    result = with_vat(Decimal("10.00"), Decimal("0.20"))
    assert Totals.model_validate_json(result.model_dump_json()) == result
