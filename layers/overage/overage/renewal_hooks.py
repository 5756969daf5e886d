"""The policies that take part in each renewal billing date, in order (see ``renewals.BillingContribution``).

Each entry builds a hook from the function's settings. Pending plan changes come first (the invoice prices the
new subscription), then lines other policies add to the invoice.
"""

from __future__ import annotations

from overage.domain.catalog import Catalog
from overage.renewals import BillingHook, FollowUpRunner
from overage.runtime.config import Settings


def billing_hooks(settings: Settings, catalog: Catalog) -> list[BillingHook]:
    from overage import excess_profiles, plan_changes

    hooks: list[BillingHook] = [plan_changes.billing_hook(settings, catalog)]  # first: the invoice prices the new plan
    hooks.append(excess_profiles.billing_hook(settings, catalog))  # the monthly excess-profile line (spec §3.2)
    return hooks


def follow_up_runners(settings: Settings, catalog: Catalog) -> dict[str, FollowUpRunner]:
    """The runners of the follow-ups hooks leave for after a billing write (``renewals.FollowUp``), by kind."""
    from overage import plan_changes

    return {plan_changes.LIMIT_CHANGED: plan_changes.limit_changed_runner(settings, catalog)}
