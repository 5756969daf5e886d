"""The monthly report in ``overage demo``: no CRM events of its own; it reads what UsageReportFunction wrote on
1 February (January) and 1 March (February) from the other scenarios' records, and prints each month's figures.

It reads the report bucket of the demo's (moto) world directly: the report is not served by the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

TITLE = "Monthly policy report (UsageReportFunction, 1st of the month 04:00 UTC): reports/YYYY-MM/summary.json"


def events() -> list[dict[str, Any]]:
    return []


def _money(block: dict[str, Any], field: str = "gross") -> str:
    by_currency = block.get("by_currency") or {}
    if not by_currency:
        return "none"
    return " · ".join(f"{values[field]} {currency}" for currency, values in by_currency.items())


def month_lines(figures: dict[str, Any]) -> list[str]:
    ep = figures["excess_profiles"]
    by = ep["resolved_in_grace_by"]
    co = figures["contact_overruns"]
    fu = figures["fair_use"]
    notices = figures["notices"]
    median = ep["median_days_to_resolution"]
    share = ep["share_after_exceeded_notice_percent"]
    ended = ep["excess_ended"]
    status = fu["by_status"]
    return [
        f"{figures['month']}:",
        f"  excess profiles: {ep['episodes_opened']} episode(s) opened, {ep['resolved_in_grace']} resolved in grace "
        f"(reduction {by['reduction']}, profile packs {by['profile_packs']}, upgrade {by['upgrade']}), median "
        f"{median + ' days' if median else '—'}; excess ended after the notice {ended['after_exceeded_notice']}, "
        f"after the fee {ended['after_fee']} ({share + ' % after the notice' if share else 'no share'})",
        f"  fees: invoiced {ep['fees_invoiced']['count']} ({_money(ep['fees_invoiced'])}), paid "
        f"{ep['fees_paid']['count']} ({_money(ep['fees_paid'])}), overdue {ep['fees_overdue']['count']} "
        f"({_money(ep['fees_overdue'])}); {ep['accounts_restricted']} account(s) restricted; monthly excess lines "
        f"{ep['monthly_excess_lines']['count']} ({_money(ep['monthly_excess_lines'], 'amount')})",
        f"  contact overruns: {co['invoices']} invoice(s), supplements {_money(co['supplements'], 'amount')}; "
        f"{co['accounts_in_overrun_3_plus_billing_dates']} account(s) in overrun 3+ billing dates in a row",
        f"  fair use: {fu['accounts']} account(s) with calls — within {status['within']}, over allowance "
        f"{status['over_allowance']}, review {status['review']}, legacy {fu['by_terms']['legacy_terms']}, "
        f"not entitled {fu['by_terms']['not_entitled']}; {fu['long_calls']} long call(s), "
        f"{fu['users_in_review']} user(s) in review, training offered {_money(fu['training_offered'])}",
        f"  notices: {notices['total']} — "
        + (", ".join(f"{kind} {count}" for kind, count in notices["by_kind"].items()) or "none"),
        *communication_lines(figures),
    ]


def communication_lines(figures: dict[str, Any]) -> list[str]:
    """What became of the month's notices (issue 18), and the episodes resolved after each excess-profile notice."""
    block = figures.get("communication")
    if not block:
        return []
    total = block["total"]
    effect = [
        f"{kind} {e['resolved_after']} of {e['episodes']}"
        + (f" ({e['share_resolved_after_percent']} %)" if e["share_resolved_after_percent"] else "")
        for kind, e in block["excess_profile_notices"].items()
        if e["episodes"]
    ]
    return [
        f"  communication: {total['emailed']} emailed, {total['bounced']} bounced, {total['complained']} complaint(s), "
        f"{total['suppressed']} suppressed, {total['failed']} failed; answers: {total['answered_clear']} clear, "
        f"{total['asked_for_help']} asked for help",
        "  episodes resolved after the excess-profile notices: " + (", ".join(effect) or "none"),
    ]


def summary(get: Callable[[str], tuple[int, Any]]) -> list[str]:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", []) if b["Name"].endswith("reportbucket")]
    lines: list[str] = []
    for bucket in buckets:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="reports/").get("Contents", [])
        for key in sorted(obj["Key"] for obj in listed if obj["Key"].endswith("/summary.json")):
            figures = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            lines += month_lines(figures)
    return lines or ["no report was written (the demo's window has no 1st of a month)"]
