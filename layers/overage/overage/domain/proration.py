"""Pro-rated plan changes: the price difference for the days left in the current period."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext

from overage.domain.calendar import Period, days_left
from overage.domain.money import round_money


def prorate(old_price: Decimal, new_price: Decimal, period: Period, on: date) -> Decimal:
    """(new - old) x days left ÷ days in the period, rounded half-up to the cent; negative = a credit.

    ``on`` is the day the change takes effect and counts as a day left (a change on the period's first day is
    the full difference). Example: t50 24.00 → t150 34.00 on 25 Mar in 10 Mar-10 Apr: 10 x 16 ÷ 31 = 5.16.
    """
    if isinstance(old_price, float) or isinstance(new_price, float):
        raise TypeError("a float is not money; use Decimal")
    if not period.contains(on):
        raise ValueError(f"{on} is not in the period {period.start} .. {period.end} (end excluded)")
    difference = Decimal(new_price) - Decimal(old_price)
    # Exact numerator, one division, half-up on the quotient (a tie is only possible when it terminates).
    with localcontext() as ctx:
        ctx.prec = 34  # independent of the ambient context
        return round_money(difference * days_left(period, on) / period.days)
