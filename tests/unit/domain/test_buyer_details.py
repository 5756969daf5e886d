"""The buyer's details on account.upserted (spec §3.8, §4): optional billing_name, billing_address and vat_number,
each validated with a 422 naming the field; what a VAT invoice shows of the buyer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from overage.domain.crm_events import AccountUpserted, parse_crm_event
from overage.domain.invoice import buyer_of
from overage.errors import InvalidRequest

from tests.builders import account_model, upsert_body


def parsed(**data: Any) -> AccountUpserted:
    event = parse_crm_event(json.dumps(upsert_body("acc_1", **data)))
    assert isinstance(event, AccountUpserted)
    return event


def refused(**data: Any) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        parsed(**data)
    return dict(caught.value.fields)


def test_the_buyer_fields_are_optional_and_kept_as_sent() -> None:
    assert (parsed().data.billing_name, parsed().data.billing_address, parsed().data.vat_number) == (None, None, None)
    data = parsed(
        billing_name="Serenity Association Ltd",
        billing_address=["1 Quiet Lane", "Leeds LS1 1AA"],
        vat_number="GB123456789",
    ).data
    assert (data.billing_name, data.billing_address, data.vat_number) == (
        "Serenity Association Ltd",
        ["1 Quiet Lane", "Leeds LS1 1AA"],
        "GB123456789",
    )


@pytest.mark.parametrize(
    "vat", ["GB123456789", "DE123456789", "ATU12345678", "NL123456789B01", "XI12", "GB1234567890123"]
)
def test_a_vat_number_is_a_country_prefix_and_2_to_13_letters_or_digits(vat: str) -> None:
    assert parsed(vat_number=vat).data.vat_number == vat


@pytest.mark.parametrize(
    "vat", ["GB1", "GB12345678901234", "gb123456789", "G1234567", "GB 123 4567 89", "GB123.456", "123456789", "", 123]
)
def test_anything_else_is_422_naming_data_vat_number(vat: Any) -> None:
    assert set(refused(vat_number=vat)) == {"data.vat_number"}


@given(st.from_regex(r"[A-Z]{2}[A-Z0-9]{2,13}", fullmatch=True))
def test_every_well_formed_vat_number_is_accepted(vat: str) -> None:
    assert parsed(vat_number=vat).data.vat_number == vat


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"billing_name": ""}, "data.billing_name"),
        ({"billing_name": "   "}, "data.billing_name"),
        ({"billing_name": "x" * 201}, "data.billing_name"),
        ({"billing_name": "Two\nlines"}, "data.billing_name"),
        ({"billing_address": []}, "data.billing_address"),
        ({"billing_address": ["a"] * 7}, "data.billing_address"),
        ({"billing_address": "1 Quiet Lane"}, "data.billing_address"),
        ({"billing_address": ["1 Quiet Lane", ""]}, "data.billing_address.1"),
        ({"billing_address": ["x" * 101]}, "data.billing_address.0"),
        ({"billing_address": ["tab\there"]}, "data.billing_address.0"),
    ],
)
def test_a_bad_name_or_address_is_422_naming_the_field(data: dict[str, Any], field: str) -> None:
    assert set(refused(**data)) == {field}


def test_the_longest_name_and_address_are_accepted() -> None:
    data = parsed(billing_name="x" * 200, billing_address=["y" * 100] * 6).data
    assert (len(data.billing_name or ""), len(data.billing_address or [])) == (200, 6)


def test_the_buyer_on_an_invoice_is_the_account_as_it_stands_or_its_id_without_a_name() -> None:
    account = account_model(billing_name="Serenity Ltd", billing_address=("1 Quiet Lane", "Leeds"), vat_number="GB1234")
    buyer = buyer_of(account)
    assert (buyer.name, buyer.address, buyer.vat_number) == ("Serenity Ltd", ("1 Quiet Lane", "Leeds"), "GB1234")
    bare = buyer_of(account_model())
    assert (bare.name, bare.address, bare.vat_number) == ("acc_1", (), None)
