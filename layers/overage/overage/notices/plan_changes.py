"""The notices of plan changes: what changed (from → to), the amounts with VAT, when it takes effect, and the reason."""

from __future__ import annotations

from typing import Any

from overage.domain.account import Account
from overage.domain.invoice import Invoice
from overage.domain.notice import Notice, render
from overage.domain.plan_changes import FIELD_LABELS, SUBSCRIPTION_FIELDS
from overage.notices.renewal import invoice_breakdown

APPLIED = "plan.changed"
SCHEDULED = "plan.change_scheduled"
CANCELLED = "plan.change_cancelled"


def _value(name: str, value: Any) -> str:
    if name == "telephone_support":
        return "add-on" if value else "no add-on"
    return str(value)


def _field_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    before, after = record["from"], record["to"]
    return [
        (FIELD_LABELS[name], f"{_value(name, before[name])} → {_value(name, after[name])}")
        for name in SUBSCRIPTION_FIELDS
        if before[name] != after[name]
    ]


def _changed_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    before, after = record["from"], record["to"]
    rows = _field_rows(record)
    if before["telephone_support_entitled"] != after["telephone_support_entitled"]:
        rows.append(("Telephone support entitlement", "starts" if after["telephone_support_entitled"] else "ends"))
    if before["profile_limit"] != after["profile_limit"]:
        rows.append(("Profile limit", f"{before['profile_limit']} → {after['profile_limit']}"))
    currency = record["currency"]
    rows.append(("Monthly price", f"{before['monthly_price']} {currency} → {after['monthly_price']} {currency}"))
    return rows


def _treatment(record: dict[str, Any]) -> str:
    if record["kind"] != "mixed":
        return f"This is {'an' if record['kind'] == 'upgrade' else 'a'} {record['kind']}."
    direction = "rises" if record["treated_as"] == "upgrade" else "does not rise"
    return (
        "This change raises some parts of your plan and lowers others. Its monthly price including add-ons "
        f"{direction}, so it is handled as {'an upgrade' if record['treated_as'] == 'upgrade' else 'a downgrade'}."
    )


def _excess(record: dict[str, Any], applied: bool) -> list[str]:
    excess = record.get("excess_profiles")
    if not excess:
        return []
    when = "now" if applied else f"on {record['effective_on']} if you still have more profiles than that then"
    return [
        f"You have {excess['count']} user profiles and the new limit is {excess['limit']}: an excess-profile episode "
        f"opens {when} ({excess['excess']} over), with a grace period to delete profiles or buy profile packs before "
        "a fee applies."
    ]


def _detail(record: dict[str, Any], invoice: Invoice | None) -> dict[str, Any]:
    return {
        "change_id": record["change_id"],
        "change_kind": record["kind"],
        "treated_as": record["treated_as"],
        "status": record["status"],
        "effective": record["effective"],
        "effective_on": record["effective_on"],
        "from": {name: record["from"][name] for name in SUBSCRIPTION_FIELDS},
        "to": {name: record["to"][name] for name in SUBSCRIPTION_FIELDS},
        "started_on": record.get("started_on"),
        "next_billing_date": record.get("next_billing_date"),
        "currency": record["currency"],
        "invoice_id": invoice.invoice_id if invoice else None,
        "invoice_kind": invoice.kind if invoice else None,
        "net": str(invoice.net) if invoice else None,
        "vat": str(invoice.vat) if invoice else None,
        "gross": str(invoice.gross) if invoice else None,
        "excess_profiles": record.get("excess_profiles"),
    }


def change_notice(account: Account, record: dict[str, Any], invoice: Invoice | None, created_at: str) -> Notice:
    """The notice of a change that took effect (immediately, or on its billing date) or was scheduled."""
    applied = record["status"] == "applied"
    header = "; ".join(f"{label.lower()} {change}" for label, change in _field_rows(record)) or "no change"
    paragraphs = [
        f"{record['requested_by']} asked on {record['requested_at'][:10]} to change your subscription. "
        f"Reason given: “{record['reason']}”.",
        _treatment(record),
    ]
    if applied and record["effective"] == "immediate":
        paragraphs.append(f"The change took effect immediately, on {record['effective_on']}.")
    elif applied:
        paragraphs.append(
            f"The change took effect on your billing date {record['effective_on']}; that date's invoice prices the new "
            "subscription."
        )
    else:
        paragraphs.append(
            f"The change takes effect at the end of your current period, on {record['effective_on']}; until then "
            "nothing changes, and that date's invoice will price the new subscription."
        )
    if record.get("started_on"):
        paragraphs.append(
            f"Your new {record['to']['billing_cycle']} term starts on {record['started_on']}; your next billing date "
            f"is {record['next_billing_date']}."
        )
    if invoice is not None:
        what = "invoice" if invoice.kind == "plan_change" else "credit note"
        paragraphs.append(
            f"Pro-rated by days for the rest of the period, {what} {invoice.number} has been issued: "
            f"{invoice.gross} {invoice.currency} including VAT."
        )
    elif applied and record["effective"] == "immediate":
        paragraphs.append("The change costs nothing until your next billing date.")
    if record.get("replaced"):
        paragraphs.append(f"It replaces the change {record['replaced']} that was scheduled, which will not happen.")
    paragraphs += _excess(record, applied)
    breakdown = _changed_rows(record)
    if invoice is not None:
        breakdown += invoice_breakdown(invoice)
    actions = []
    if not applied:
        actions.append(f"Changed your mind? Ask us to cancel this change before {record['effective_on']}.")
    if record["from"]["telephone_support_entitled"] and not record["to"]["telephone_support_entitled"]:
        actions.append("Telephone support ends with this change; add the telephone support add-on to keep it.")
    verb = "changed" if applied else "will change"
    return render(
        kind=APPLIED if applied else SCHEDULED,
        account_id=account.account_id,
        cause=record["change_id"],
        to=account.billing_email,
        subject=f"Your plan {verb}: {header} ({record['kind']}, effective {record['effective_on']})",
        paragraphs=paragraphs,
        breakdown=breakdown,
        actions=actions,
        detail=_detail(record, invoice),
        created_at=created_at,
    )


def cancellation_notice(account: Account, cancellation: dict[str, Any], cancelled: dict[str, Any]) -> Notice:
    return render(
        kind=CANCELLED,
        account_id=account.account_id,
        cause=cancellation["change_id"],
        to=account.billing_email,
        subject=f"Your scheduled plan change for {cancelled['effective_on']} is cancelled",
        paragraphs=[
            f"{cancellation['requested_by']} cancelled the change {cancelled['change_id']} that was to take effect on "
            f"{cancelled['effective_on']}. Reason given: “{cancellation['reason']}”.",
            "Your subscription stays as it is.",
        ],
        breakdown=_changed_rows(cancelled),
        actions=[],
        detail={
            "change_id": cancellation["change_id"],
            "cancelled_change_id": cancelled["change_id"],
            "effective_on": cancelled["effective_on"],
        },
        created_at=cancellation["requested_at"],
    )
