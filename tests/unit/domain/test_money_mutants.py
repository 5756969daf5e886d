"""Money (spec §2: Decimal, two places, each line rounded half-up), pinned where a mutation went unnoticed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from overage.domain.money import InvoiceLine


def test_a_float_quantity_is_refused_before_any_arithmetic() -> None:
    with pytest.raises(TypeError, match="a float is not money"):
        InvoiceLine.of("seats", "Seats", 2.5, Decimal("10.00"))


def test_a_float_unit_price_is_refused_before_any_arithmetic() -> None:
    with pytest.raises(TypeError, match="a float is not money"):
        InvoiceLine.of("seats", "Seats", 2, 10.0)


def test_a_decimal_quantity_times_a_price_is_rounded_half_up_to_the_cent() -> None:
    # 2.5 × 0.33 = 0.825 → 0.83 (half-up), never 0.82 (half-even)
    line = InvoiceLine.of("seats", "Seats", Decimal("2.5"), Decimal("0.33"))
    assert line.amount == Decimal("0.83")
