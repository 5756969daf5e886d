"""Money: ``Decimal`` with two places, every line rounded half-up, VAT on the net total.

Floats are refused everywhere: a price that went through a float is already wrong.
Models serialise amounts as strings (``"10.00"``) in JSON mode.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from overage.domain.amounts import CENT, ZERO, Amount, Rate, refuse_float, round_money

__all__ = ["CENT", "ZERO", "Amount", "Evidence", "InvoiceLine", "Rate", "Totals", "round_money", "totals", "with_vat"]


class Evidence(BaseModel):
    """The CRM count a count-based line was priced from (spec §3.8): the snapshot's event id, its ``occurred_at``
    and its counts (contacts: active and archived; profiles: the count). What settles a dispute over the line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: Literal["contacts.counted", "profiles.counted"]
    event_id: str
    occurred_at: str  # UTC, as the snapshot's version key holds it (YYYY-MM-DDTHH:MM:SS.ffffffZ)
    active: int | None = None
    archived: int | None = None
    count: int | None = None

    @classmethod
    def of_version(
        cls, event_type: Literal["contacts.counted", "profiles.counted"], version: str, **counts: int
    ) -> "Evidence":
        """From a snapshot's version key ``<occurred_at>#<event id>`` (``domain.account.version_key``)."""
        occurred_at, _, event_id = version.partition("#")
        return cls(event_type=event_type, event_id=event_id, occurred_at=occurred_at, **counts)

    def describe(self) -> str:
        """One line a reader can check against the CRM."""
        counts = (
            f"{self.active} active, {self.archived} archived contacts"
            if self.event_type == "contacts.counted"
            else f"{self.count} profiles"
        )
        at = self.occurred_at.replace(".000000Z", "Z")
        return f"priced from {self.event_type} {self.event_id} of {at}: {counts}"


class InvoiceLine(BaseModel):
    """One invoice line: ``amount`` = quantity x unit price, rounded half-up to the cent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    description: str
    quantity: Annotated[int | Decimal, BeforeValidator(refuse_float)]
    unit_price: Rate
    amount: Amount
    # a count-based line: the snapshot it was priced from (left out of the JSON of every other line)
    evidence: Evidence | None = Field(default=None, exclude_if=lambda value: value is None)

    @model_validator(mode="after")
    def _amount_is_quantity_times_unit_price(self) -> "InvoiceLine":
        expected = round_money(Decimal(self.quantity) * self.unit_price)
        if self.amount != expected:
            raise ValueError(
                f"amount {self.amount} is not quantity {self.quantity} x unit price {self.unit_price} "
                f"rounded to the cent ({expected})"
            )
        return self

    @classmethod
    def of(cls, code: str, description: str, quantity: int | Decimal, unit_price: Decimal) -> "InvoiceLine":
        """Build a line, computing its amount."""
        if isinstance(quantity, float) or isinstance(unit_price, float):
            raise TypeError("a float is not money; use Decimal")
        return cls(
            code=code,
            description=description,
            quantity=quantity,
            unit_price=unit_price,
            amount=round_money(Decimal(quantity) * unit_price),
        )


class Totals(BaseModel):
    """Net, VAT and gross of an invoice (or of any amount VAT applies to)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    net: Amount
    vat: Amount
    gross: Amount

    @model_validator(mode="after")
    def _gross_is_net_plus_vat(self) -> "Totals":
        if self.gross != self.net + self.vat:
            raise ValueError(f"gross {self.gross} is not net {self.net} + VAT {self.vat}")
        return self


def with_vat(net: Decimal, vat_rate: Decimal) -> Totals:
    """VAT on a net amount: vat = round_money(net x rate), gross = net + vat."""
    if isinstance(vat_rate, float):
        raise TypeError("a float is not a VAT rate; use Decimal")
    net = round_money(net)
    vat = round_money(net * vat_rate)
    return Totals(net=net, vat=vat, gross=net + vat)


def totals(lines: Iterable[InvoiceLine], vat_rate: Decimal) -> Totals:
    """Net = sum of the (already rounded) line amounts; VAT is computed once, on the net."""
    net = sum((line.amount for line in lines), ZERO)
    return with_vat(net, vat_rate)
