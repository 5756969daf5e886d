"""The catalog: SPEC §2 prices and constants, tier lookup, and errors that name the bad entry."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from overage.domain.calendar import BillingCycle
from overage.domain.catalog import Catalog, default_catalog, load_catalog
from overage.errors import CatalogError, InvalidRequest

BUNDLED = Path(__file__).parents[3] / "layers" / "overage" / "overage" / "domain" / "catalog.json"


@pytest.fixture
def catalog() -> Catalog:
    return default_catalog()


def bundled_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(BUNDLED.read_text())
    return document


# --- the default catalog is the spec's -------------------------------------------------------------------


def test_currencies_and_vat(catalog: Catalog) -> None:
    assert catalog.currencies == ("USD", "GBP")
    assert catalog.vat_rate("USD") == Decimal("0")
    assert catalog.vat_rate("GBP") == Decimal("0.20")


@pytest.mark.parametrize(
    ("tier", "usd", "gbp"),
    [
        ("t50", "24.00", "20.00"),
        ("t100", "29.00", "24.00"),
        ("t150", "34.00", "28.00"),
        ("t250", "44.00", "36.00"),
        ("t500", "79.00", "65.00"),
        ("t1000", "129.00", "105.00"),
        ("t2500", "249.00", "205.00"),
    ],
)
def test_standard_monthly_prices(catalog: Catalog, tier: str, usd: str, gbp: str) -> None:
    assert catalog.monthly_price("standard", tier, "USD") == Decimal(usd)
    assert catalog.monthly_price("standard", tier, "GBP") == Decimal(gbp)


@pytest.mark.parametrize("tier", ["t50", "t100", "t150", "t250", "t500", "t1000", "t2500"])
def test_complete_costs_20_usd_or_16_gbp_more_at_every_tier(catalog: Catalog, tier: str) -> None:
    assert catalog.monthly_price("complete", tier, "USD") - catalog.monthly_price("standard", tier, "USD") == Decimal(
        "20.00"
    )
    assert catalog.monthly_price("complete", tier, "GBP") - catalog.monthly_price("standard", tier, "GBP") == Decimal(
        "16.00"
    )


def test_complete_t150_usd_is_54(catalog: Catalog) -> None:
    assert catalog.monthly_price("complete", "t150", "USD") == Decimal("54.00")


def test_annual_price_is_twelve_monthly_prices(catalog: Catalog) -> None:
    # Given the spec's worked example: annual, standard, USD, t50, $288 paid
    assert catalog.period_price("standard", "t50", BillingCycle.ANNUAL, "USD") == Decimal("288.00")
    assert catalog.period_price("standard", "t50", "monthly", "USD") == Decimal("24.00")
    assert catalog.period_price("complete", "t2500", "annual", "GBP") == Decimal("2652.00")  # 12 x 221.00


def test_prices_print_with_two_decimals(catalog: Catalog) -> None:
    assert str(catalog.monthly_price("standard", "t50", "USD")) == "24.00"
    assert str(catalog.excess_profile_fee("GBP")) == "0.80"


def test_worked_example_overrun_supplement_is_10_usd(catalog: Catalog) -> None:
    # Given an annual standard t50 USD subscription with 130 active contacts on the billing date
    reached = catalog.tier_for(130).tier
    # When the supplement is the reached tier's monthly price minus the paid tier's
    supplement = catalog.monthly_price("standard", reached.code, "USD") - catalog.monthly_price(
        "standard", "t50", "USD"
    )
    # Then it is 34.00 - 24.00
    assert reached.code == "t150"
    assert supplement == Decimal("10.00")


@pytest.mark.parametrize(
    ("active", "tier", "custom_quote"),
    [
        (0, "t50", False),
        (50, "t50", False),
        (51, "t100", False),
        (100, "t100", False),
        (101, "t150", False),
        (150, "t150", False),
        (151, "t250", False),
        (250, "t250", False),
        (251, "t500", False),
        (500, "t500", False),
        (501, "t1000", False),
        (1000, "t1000", False),
        (1001, "t2500", False),
        (2500, "t2500", False),
        (2501, "t2500", True),
        (1_000_000, "t2500", True),
    ],
)
def test_tier_for_every_boundary(catalog: Catalog, active: int, tier: str, custom_quote: bool) -> None:
    match = catalog.tier_for(active)
    assert match.tier.code == tier
    assert match.custom_quote is custom_quote


def test_tier_for_a_negative_count_is_an_error(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="negative"):
        catalog.tier_for(-1)


def test_tier_ranks_follow_size(catalog: Catalog) -> None:
    assert [catalog.tier_rank(code) for code in catalog.tier_codes] == list(range(7))
    assert catalog.tier_rank("t150") > catalog.tier_rank("t50")


def test_packages(catalog: Catalog) -> None:
    standard, complete = catalog.package("standard"), catalog.package("complete")
    assert (standard.profile_limit, standard.telephone_support_included) == (200, False)
    assert (complete.profile_limit, complete.telephone_support_included) == (500, True)
    assert catalog.telephone_support_addon_allowed("standard")
    assert not catalog.telephone_support_addon_allowed("complete")


def test_profile_limit_adds_50_per_pack(catalog: Catalog) -> None:
    assert catalog.profile_limit("standard", 0) == 200
    assert catalog.profile_limit("standard", 2) == 300
    assert catalog.profile_limit("complete", 1) == 550
    with pytest.raises(ValueError):
        catalog.profile_limit("standard", -1)


def test_add_ons_and_policy_prices(catalog: Catalog) -> None:
    assert catalog.telephone_support_price("USD") == Decimal("15.00")
    assert catalog.telephone_support_price("GBP") == Decimal("12.00")
    assert catalog.profile_pack_price("USD") == Decimal("10.00")
    assert catalog.profile_pack_price("GBP") == Decimal("8.00")
    assert catalog.excess_profile_fee("USD") == Decimal("1.00")
    assert catalog.excess_profile_fee("GBP") == Decimal("0.80")
    assert catalog.training_price_per_hour("GBP") == Decimal("60.00")
    assert catalog.training_price_per_hour("USD") == Decimal("75.00")


def test_policy_constants(catalog: Catalog) -> None:
    policy = catalog.policy
    assert policy.grace_days == 14
    assert policy.payment_deadline_days == 14
    assert policy.reminder_days_before_deadline == 3
    assert policy.approaching_ratio == Decimal("0.90")
    assert policy.fair_use.included_minutes_per_user == 45
    assert policy.fair_use.long_call_minutes == 15
    assert policy.fair_use.review_minutes_per_user == 60
    assert policy.legacy_cutoff == date(2011, 4, 7)
    assert policy.overrun_recommendation_after == 3


def test_default_catalog_is_cached() -> None:
    assert default_catalog() is default_catalog()


def test_catalog_is_frozen(catalog: Catalog) -> None:
    with pytest.raises(ValueError):
        catalog.policy.grace_days = 7


# --- unknown codes are request errors naming the field -----------------------------------------------------


def test_unknown_tier_names_the_field_and_the_choices(catalog: Catalog) -> None:
    with pytest.raises(InvalidRequest) as raised:
        catalog.tier("t75")
    assert raised.value.fields == {
        "contact_tier": "unknown tier 't75'; one of t50, t100, t150, t250, t500, t1000, t2500"
    }


def test_unknown_package_and_currency_and_cycle(catalog: Catalog) -> None:
    with pytest.raises(InvalidRequest) as package:
        catalog.package("premium")
    assert set(package.value.fields) == {"package"}
    with pytest.raises(InvalidRequest) as currency:
        catalog.monthly_price("standard", "t50", "EUR")
    assert currency.value.fields == {"currency": "unknown currency 'EUR'; one of USD, GBP"}
    with pytest.raises(InvalidRequest) as cycle:
        catalog.period_price("standard", "t50", "weekly", "USD")
    assert set(cycle.value.fields) == {"billing_cycle"}


# --- loading -----------------------------------------------------------------------------------------------


def test_load_from_path_str_and_bytes_agree() -> None:
    from_path = load_catalog(BUNDLED)
    assert load_catalog(BUNDLED.read_text()) == from_path
    assert load_catalog(BUNDLED.read_bytes()) == from_path
    assert from_path == default_catalog()


def test_catalog_is_overridable_without_code(tmp_path: Path) -> None:
    # Given a catalog file where t50 costs 25.00 USD
    document = bundled_document()
    document["contact_tiers"][0]["monthly"]["USD"] = "25.00"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    # When it is loaded
    catalog = load_catalog(path)
    # Then the new price applies
    assert catalog.monthly_price("standard", "t50", "USD") == Decimal("25.00")


def test_json_numbers_load_exactly() -> None:
    document = bundled_document()
    text = json.dumps(document).replace('"0.80"', "0.80")
    assert load_catalog(text).excess_profile_fee("GBP") == Decimal("0.80")


def invalid(mutate: Any) -> str:
    document = bundled_document()
    mutate(document)
    with pytest.raises(CatalogError) as raised:
        load_catalog(json.dumps(document))
    return str(raised.value)


def test_negative_price_names_the_entry() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["contact_tiers"][3]["monthly"]["GBP"] = "-1.00"

    assert "contact_tiers[3].monthly.GBP: price -1.00 is negative" in invalid(mutate)


def test_three_decimals_names_the_entry() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["policy"]["excess_profile_fee"]["USD"] = "1.005"

    assert "policy.excess_profile_fee.USD: price 1.005 has more than two decimals" in invalid(mutate)


def test_missing_currency_price_names_the_entry() -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["packages"]["complete"]["monthly_surcharge"]["GBP"]

    assert "packages.complete.monthly_surcharge.GBP: missing price" in invalid(mutate)


def test_price_in_an_unknown_currency_names_the_entry() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["add_ons"]["profile_pack"]["monthly"]["EUR"] = "9.00"

    assert "add_ons.profile_pack.monthly.EUR: EUR is not a catalog currency" in invalid(mutate)


def test_new_currency_needs_every_price() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["currencies"]["EUR"] = {"vat_rate": "0.19"}

    message = invalid(mutate)
    assert "contact_tiers[0].monthly.EUR: missing price" in message
    assert "policy.fair_use.training_price_per_hour.EUR: missing price" in message


def test_tiers_out_of_order_names_the_tier() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["contact_tiers"][3]["max_active"] = 150

    assert "tiers are not in increasing order of max_active at t250" in invalid(mutate)


def test_cheaper_bigger_tier_names_the_tier() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["contact_tiers"][4]["monthly"]["USD"] = "40.00"

    assert "contact_tiers[4].monthly.USD: t500 costs 40.00, less than t250 (44.00)" in invalid(mutate)


def test_vat_rate_out_of_range_names_the_currency() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["currencies"]["GBP"]["vat_rate"] = "20"

    assert "currencies.GBP.vat_rate: rate 20 is not between 0 and 1" in invalid(mutate)


def test_wrong_types_and_unknown_keys_name_the_entry() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["policy"]["grace_days"] = "14"
        d["packages"]["standard"]["profile_limt"] = 200

    message = invalid(mutate)
    assert "policy.grace_days:" in message
    assert "packages.standard.profile_limt:" in message


def test_missing_section_names_it() -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["policy"]

    assert "policy: Field required" in invalid(mutate)


def test_addon_for_an_unknown_package_names_it() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["add_ons"]["telephone_support"]["packages"] = ["standard", "basic"]

    assert "add_ons.telephone_support.packages[1]: unknown package 'basic'" in invalid(mutate)


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog("{not json")
    with pytest.raises(CatalogError, match="NaN"):
        load_catalog('{"x": NaN}')
    with pytest.raises(CatalogError, match="JSON object"):
        load_catalog("[]")
    with pytest.raises(CatalogError, match="cannot read catalog file"):
        load_catalog(tmp_path / "absent.json")
