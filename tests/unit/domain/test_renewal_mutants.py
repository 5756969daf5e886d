"""Renewal billing (spec §3.1), pinned where a mutation went unnoticed: whether a billing date is in overrun, the
streak behind the tier recommendation, the custom-quote flag and note. Amounts from the spec's price table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import overage.domain.catalog as catalog_module
from overage.domain.account import Account
from overage.domain.catalog import Catalog, default_catalog, load_catalog
from overage.domain.renewal import RenewalOutcome, bill_renewal

from tests.builders import account_model

CATALOG = default_catalog()
BILLING_DATE = date(2026, 2, 10)


def account(**fields: Any) -> Account:
    return account_model(**{"account_id": "acc_7", "paying_users": 2, **fields})


def bill(acc: Account, contacts: int | None, streak: int = 0, catalog: Catalog = CATALOG) -> RenewalOutcome:
    issued = datetime(2026, 2, 10, 0, 5, tzinfo=UTC)
    return bill_renewal(acc, BILLING_DATE, contacts, catalog, previous_streak=streak, issued_at=issued)


def catalog_with_a_cheap_step() -> Catalog:
    """The default catalog with t100 only 0.50 USD above t50: a supplement under one dollar is still an overrun."""
    data = json.loads(Path(catalog_module.__file__).with_name("catalog.json").read_text(encoding="utf-8"))
    for tier in data["contact_tiers"]:
        if tier["code"] == "t100":
            tier["monthly"]["USD"] = "24.50"
    return load_catalog(json.dumps(data))


def test_a_billing_date_within_the_paid_tier_is_not_in_overrun() -> None:
    outcome = bill(account(), 50)
    assert outcome.overrun_supplement == Decimal("0.00")
    assert outcome.in_overrun is False
    assert outcome.overrun_streak == 0


def test_a_billing_date_in_a_higher_tier_is_in_overrun() -> None:
    outcome = bill(account(), 51)  # t100: 29.00 − 24.00
    assert outcome.overrun_supplement == Decimal("5.00")
    assert outcome.in_overrun is True


def test_a_supplement_under_one_unit_is_an_overrun_all_the_same() -> None:
    catalog = catalog_with_a_cheap_step()
    outcome = bill(account(), 60, streak=2, catalog=catalog)
    assert outcome.overrun_supplement == Decimal("0.50")
    assert outcome.in_overrun is True
    assert outcome.overrun_streak == 3
    assert outcome.recommendation is not None
    assert (outcome.recommendation.tier, outcome.recommendation.monthly_price) == ("t100", Decimal("24.50"))
    assert outcome.invoice is not None
    assert [(line.code, line.amount) for line in outcome.invoice.lines] == [
        ("subscription", Decimal("24.00")),
        ("contact_overrun", Decimal("0.50")),
    ]


def test_without_a_count_nothing_is_flagged_for_a_custom_quote() -> None:
    outcome = bill(account(), None)
    assert outcome.custom_quote is False
    assert outcome.invoice is not None
    assert outcome.invoice.flags == ()
    assert outcome.invoice.gross == Decimal("24.00")


def test_above_the_largest_tier_the_note_names_the_tier_billed() -> None:
    outcome = bill(account(contact_tier="t500"), 2501)
    assert outcome.invoice is not None
    assert outcome.invoice.notes == (
        "2501 active contacts is above the largest tier: billed as t2500; we will send you a custom quote.",
    )
    # 249.00 − 79.00 on top of the t500 subscription
    assert [(line.code, line.amount) for line in outcome.invoice.lines] == [
        ("subscription", Decimal("79.00")),
        ("contact_overrun", Decimal("170.00")),
    ]
