"""The catalog: currencies and VAT, packages, contact tiers, add-ons and policy constants (SPEC §2).

It is data (``catalog.json`` beside this module by default), so prices and constants change without code.
``load_catalog`` validates the whole document and raises ``CatalogError`` naming each bad entry
(``contact_tiers[3].monthly.GBP: ...``). Lookups by code raise ``InvalidRequest`` naming the request field.
"""

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from overage.domain.amounts import CENT
from overage.domain.calendar import BillingCycle
from overage.errors import CatalogError, InvalidRequest

CATALOG_FILE = "catalog.json"


# --- value types -----------------------------------------------------------------------------------------


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float | bool):
        raise ValueError(f'{value!r} is not an exact decimal; write it as a string like "24.00"')
    return value


def _price(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"price {value} is not a finite number")
    if value < 0:
        raise ValueError(f"price {value} is negative")
    cents = value.quantize(CENT)
    if cents != value:
        raise ValueError(f"price {value} has more than two decimals")
    return cents


def _rate(value: Decimal) -> Decimal:
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"rate {value} is not between 0 and 1")
    return value


Price = Annotated[Decimal, BeforeValidator(_refuse_float), AfterValidator(_price)]
"""A non-negative amount with at most two decimals, held with exactly two."""

Rate = Annotated[Decimal, BeforeValidator(_refuse_float), AfterValidator(_rate)]
"""A ratio between 0 and 1 inclusive."""

Count = Annotated[StrictInt, Field(ge=0)]

Prices = dict[str, Price]
"""Currency code → price; must name every currency of the catalog."""


class _Entry(BaseModel):
    """A frozen catalog entry; keys starting with ``_`` are comments (dropped); other unknown keys fail.

    The entries are validated as parts of the ``Catalog``, whose validator (built when this module is imported)
    holds theirs: ``defer_build`` keeps each entry from also compiling a validator of its own at import, which
    nothing uses (an entry built directly compiles its own on first use). Cold start, issue 20."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_comments(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("_"))}
        return data


class CurrencySettings(_Entry):
    vat_rate: Rate


class Package(_Entry):
    code: str
    profile_limit: Count
    telephone_support_included: StrictBool
    monthly_surcharge: Prices


class Tier(_Entry):
    """A contact tier: up to ``max_active`` active contacts; ``monthly`` is the ``standard`` price."""

    code: str
    max_active: Count
    monthly: Prices


class TelephoneSupportAddOn(_Entry):
    packages: tuple[str, ...]
    monthly_per_paying_user: Prices


class ProfilePackAddOn(_Entry):
    size: Annotated[StrictInt, Field(gt=0)]
    monthly: Prices


class AddOns(_Entry):
    telephone_support: TelephoneSupportAddOn
    profile_pack: ProfilePackAddOn


class FairUsePolicy(_Entry):
    included_minutes_per_user: Count
    long_call_minutes: Count
    review_minutes_per_user: Count
    training_price_per_hour: Prices

    @model_validator(mode="after")
    def _review_after_allowance(self) -> "FairUsePolicy":
        if self.review_minutes_per_user < self.included_minutes_per_user:
            raise ValueError(
                f"review_minutes_per_user ({self.review_minutes_per_user}) is below "
                f"included_minutes_per_user ({self.included_minutes_per_user})"
            )
        return self


DUNNED_KINDS = ("renewal", "overrun", "excess_profiles", "plan_change")


class DunningPolicy(_Entry):
    """Dunning per invoice kind (spec §2, §3.7): every invoice is due ``payment_deadline_days`` after issue, reminded
    ``reminder_days_before_deadline`` before and overdue the day after; an overdue invoice of a kind restricts the
    account after ``restrict_after_days_overdue[kind]`` days (null: never; 0: on the day it goes overdue). Fee
    invoices restrict at once (0): their excess-profile episode does it. Other kinds are dunned by
    ``services.dunning``, which restricts the account that many days after the invoice went overdue."""

    restrict_after_days_overdue: dict[str, Annotated[StrictInt, Field(ge=0)] | None]

    @model_validator(mode="after")
    def _every_kind_once(self) -> "DunningPolicy":
        given = self.restrict_after_days_overdue
        if set(given) != set(DUNNED_KINDS):
            raise ValueError(f"restrict_after_days_overdue names each of {', '.join(DUNNED_KINDS)}, once")
        if given["excess_profiles"] != 0:
            raise ValueError("restrict_after_days_overdue.excess_profiles is 0: a fee invoice restricts at once")
        return self


class Policy(_Entry):
    excess_profile_fee: Prices
    grace_days: Count
    payment_deadline_days: Count
    reminder_days_before_deadline: Count
    approaching_ratio: Rate
    fair_use: FairUsePolicy
    legacy_cutoff: date
    overrun_recommendation_after: Annotated[StrictInt, Field(ge=1)]
    dunning: DunningPolicy

    @model_validator(mode="after")
    def _reminder_within_deadline(self) -> "Policy":
        if self.reminder_days_before_deadline > self.payment_deadline_days:
            raise ValueError(
                f"reminder_days_before_deadline ({self.reminder_days_before_deadline}) is more than "
                f"payment_deadline_days ({self.payment_deadline_days})"
            )
        return self


@dataclass(frozen=True, slots=True)
class TierMatch:
    """The tier a count of active contacts falls in; above the top tier: the top one, flagged custom quote."""

    tier: Tier
    custom_quote: bool


# --- the catalog -----------------------------------------------------------------------------------------


def _unknown(field: str, kind: str, value: object, known: Iterable[str]) -> InvalidRequest:
    return InvalidRequest(
        f"unknown {kind} {value!r}",
        fields={field: f"unknown {kind} {value!r}; one of {', '.join(known)}"},
    )


class Catalog(_Entry):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=False)  # built at import: every job uses it

    currency_table: dict[str, CurrencySettings] = Field(alias="currencies")
    packages: dict[str, Package]
    contact_tiers: tuple[Tier, ...]
    add_ons: AddOns
    policy: Policy

    @model_validator(mode="before")
    @classmethod
    def _package_codes_from_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("packages"), dict):
            data = dict(data)
            data["packages"] = {
                key: ({"code": key, **value} if isinstance(value, dict) else value)
                for key, value in data["packages"].items()
            }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "Catalog":
        problems = [*self._currency_problems(), *self._price_problems(), *self._tier_problems()]
        problems += self._package_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _currency_problems(self) -> list[str]:
        if not self.currency_table:
            return ["currencies: at least one currency is required"]
        return [
            f"currencies.{code}: a currency code is three capital letters"
            for code in self.currency_table
            if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper())
        ]

    def _price_maps(self) -> Iterable[tuple[str, Mapping[str, Decimal]]]:
        for code, package in self.packages.items():
            yield f"packages.{code}.monthly_surcharge", package.monthly_surcharge
        for i, tier in enumerate(self.contact_tiers):
            yield f"contact_tiers[{i}].monthly", tier.monthly
        yield (
            "add_ons.telephone_support.monthly_per_paying_user",
            self.add_ons.telephone_support.monthly_per_paying_user,
        )
        yield "add_ons.profile_pack.monthly", self.add_ons.profile_pack.monthly
        yield "policy.excess_profile_fee", self.policy.excess_profile_fee
        yield "policy.fair_use.training_price_per_hour", self.policy.fair_use.training_price_per_hour

    def _price_problems(self) -> list[str]:
        problems = []
        for path, prices in self._price_maps():
            problems += [f"{path}.{c}: missing price" for c in self.currency_table if c not in prices]
            problems += [f"{path}.{c}: {c} is not a catalog currency" for c in prices if c not in self.currency_table]
        return problems

    def _tier_problems(self) -> list[str]:
        if not self.contact_tiers:
            return ["contact_tiers: at least one tier is required"]
        problems = []
        seen: set[str] = set()
        for i, tier in enumerate(self.contact_tiers):
            if tier.code in seen:
                problems.append(f"contact_tiers[{i}].code: duplicate tier code {tier.code!r}")
            seen.add(tier.code)
            if i == 0:
                continue
            below = self.contact_tiers[i - 1]
            if tier.max_active <= below.max_active:
                problems.append(
                    f"contact_tiers[{i}].max_active: tiers are not in increasing order of max_active at "
                    f"{tier.code} ({tier.max_active} is not above {below.code}'s {below.max_active})"
                )
            for currency, price in tier.monthly.items():
                previous = below.monthly.get(currency)
                if previous is not None and price < previous:
                    problems.append(
                        f"contact_tiers[{i}].monthly.{currency}: {tier.code} costs {price}, "
                        f"less than {below.code} ({previous})"
                    )
        return problems

    def _package_problems(self) -> list[str]:
        problems = [] if self.packages else ["packages: at least one package is required"]
        problems += [
            f"packages.{key}.code: {package.code!r} does not match its key"
            for key, package in self.packages.items()
            if package.code != key
        ]
        problems += [
            f"add_ons.telephone_support.packages[{i}]: unknown package {code!r}"
            for i, code in enumerate(self.add_ons.telephone_support.packages)
            if code not in self.packages
        ]
        return problems

    # --- lookups -----------------------------------------------------------------------------------------

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(self.currency_table)

    @property
    def tier_codes(self) -> tuple[str, ...]:
        return tuple(tier.code for tier in self.contact_tiers)

    @property
    def package_codes(self) -> tuple[str, ...]:
        return tuple(self.packages)

    def _currency(self, currency: str) -> str:
        if currency not in self.currency_table:
            raise _unknown("currency", "currency", currency, self.currency_table)
        return currency

    def vat_rate(self, currency: str) -> Decimal:
        return self.currency_table[self._currency(currency)].vat_rate

    def package(self, code: str) -> Package:
        try:
            return self.packages[code]
        except KeyError:
            raise _unknown("package", "package", code, self.packages) from None

    def tier(self, code: str) -> Tier:
        for tier in self.contact_tiers:
            if tier.code == code:
                return tier
        raise _unknown("contact_tier", "tier", code, self.tier_codes)

    def tier_rank(self, code: str) -> int:
        """0 for the lowest tier, increasing with the tier's size."""
        return self.contact_tiers.index(self.tier(code))

    def tier_for(self, active_contacts: int) -> TierMatch:
        """The smallest tier that holds the count; above all tiers, the top one flagged custom quote."""
        if active_contacts < 0:
            raise ValueError(f"active contacts cannot be negative ({active_contacts})")
        for tier in self.contact_tiers:
            if active_contacts <= tier.max_active:
                return TierMatch(tier=tier, custom_quote=False)
        return TierMatch(tier=self.contact_tiers[-1], custom_quote=True)

    def monthly_price(self, package: str, tier: str, currency: str) -> Decimal:
        """The tier's ``standard`` monthly price plus the package's monthly surcharge."""
        currency = self._currency(currency)
        return self.tier(tier).monthly[currency] + self.package(package).monthly_surcharge[currency]

    def period_price(self, package: str, tier: str, billing_cycle: BillingCycle | str, currency: str) -> Decimal:
        """The price of one billing period: the monthly price x months in the cycle (annual = 12 x)."""
        return self.monthly_price(package, tier, currency) * _cycle(billing_cycle).months

    def profile_limit(self, package: str, profile_packs: int) -> int:
        """The package's profile limit plus one pack size (50) per profile pack."""
        if profile_packs < 0:
            raise ValueError(f"profile packs cannot be negative ({profile_packs})")
        return self.package(package).profile_limit + self.add_ons.profile_pack.size * profile_packs

    def telephone_support_addon_allowed(self, package: str) -> bool:
        """Whether the package can buy the telephone-support add-on (it is not included and is on offer)."""
        return (
            package in self.add_ons.telephone_support.packages and not self.package(package).telephone_support_included
        )

    def telephone_support_price(self, currency: str) -> Decimal:
        """Telephone-support add-on, per paying user per month."""
        return self.add_ons.telephone_support.monthly_per_paying_user[self._currency(currency)]

    def profile_pack_price(self, currency: str) -> Decimal:
        """One profile pack, per month."""
        return self.add_ons.profile_pack.monthly[self._currency(currency)]

    def excess_profile_fee(self, currency: str) -> Decimal:
        """Per profile over the limit, per month."""
        return self.policy.excess_profile_fee[self._currency(currency)]

    def training_price_per_hour(self, currency: str) -> Decimal:
        """Telephone-support training, per hour, ex VAT."""
        return self.policy.fair_use.training_price_per_hour[self._currency(currency)]


def _cycle(billing_cycle: BillingCycle | str) -> BillingCycle:
    try:
        return BillingCycle(billing_cycle)
    except ValueError:
        raise _unknown("billing_cycle", "billing cycle", billing_cycle, [c.value for c in BillingCycle]) from None


# --- loading ---------------------------------------------------------------------------------------------


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: ValidationError) -> str:
    problems = []
    for detail in error.errors(include_url=False):
        message = str(detail["msg"]).removeprefix("Value error, ")
        path = _location(tuple(detail["loc"]))
        problems.append(f"{path}: {message}" if path else message)
    return "invalid catalog: " + "; ".join(problems)


def _no_constants(name: str) -> NoReturn:
    raise CatalogError(f"invalid catalog: {name} is not a number a catalog can hold")


def _read(source: str | bytes | Path | None) -> str | bytes:
    if source is None:
        return resources.files(__package__ or "overage.domain").joinpath(CATALOG_FILE).read_bytes()
    if isinstance(source, Path):
        try:
            return source.read_bytes()
        except OSError as exc:
            raise CatalogError(f"cannot read catalog file {source}: {exc.strerror or exc}") from exc
    if isinstance(source, str | bytes):
        return source
    raise TypeError(f"a catalog source is a JSON str/bytes or a Path, not {type(source).__name__}")


def load_catalog(source: str | bytes | Path | None = None) -> Catalog:
    """Load and validate a catalog.

    ``None``: the bundled ``catalog.json``; str or bytes: a JSON document; ``Path``: a JSON file.
    """
    document = _read(source)
    try:
        data = json.loads(document, parse_float=Decimal, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog is not UTF-8 text: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError("invalid catalog: the document must be a JSON object")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(_describe(exc)) from exc


@functools.cache
def default_catalog() -> Catalog:
    """The bundled catalog, loaded once per process."""
    return load_catalog()
