"""The policies that take part in each renewal billing date, in order (see ``renewals.BillingContribution``).

Each entry builds a hook from the function's settings. Pending plan changes come first (the invoice prices the
new subscription), then lines other policies add to the invoice.
"""

from __future__ import annotations

from overage.config import Settings
from overage.domain.catalog import Catalog
from overage.renewals import BillingHook


def billing_hooks(settings: Settings, catalog: Catalog) -> list[BillingHook]:
    hooks: list[BillingHook] = []
    return hooks
