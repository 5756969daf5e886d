"""Amounts without models: the cent, rounding half-up, and the annotated ``Amount`` and ``Rate`` types.

What the catalog and the models of ``money`` share; kept apart so that importing the catalog does not build the
invoice line models (a webhook container that only counts contacts never uses them: cold start, issue 20).
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_money(x: Decimal | int) -> Decimal:
    """Round to the cent, half-up (away from zero on a tie): 0.005 → 0.01, -0.005 → -0.01."""
    if isinstance(x, bool) or not isinstance(x, Decimal | int):
        raise TypeError(f"money must be Decimal or int, not {type(x).__name__}")
    value = Decimal(x)
    if not value.is_finite():
        raise ValueError(f"money must be finite, not {value}")
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("a float is not money; use a string like '10.00' or a Decimal")
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


def _cents(value: Decimal) -> Decimal:
    """An amount already in cents: at most two decimals, shown with exactly two."""
    cents = _finite(value).quantize(CENT)
    if cents != value:
        raise ValueError(f"{value} has more than two decimals")
    return cents


Amount = Annotated[Decimal, BeforeValidator(refuse_float), AfterValidator(_cents)]
"""A money amount in cents (at most two decimals); floats refused."""

Rate = Annotated[Decimal, BeforeValidator(refuse_float), AfterValidator(_finite)]
"""An exact decimal that is not necessarily in cents (a unit price, a quantity); floats refused."""
