"""The fair-use notices (spec §3.3): the account's monthly notice when over the allowance or in review, and the
customer-service director's review list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from overage.domain.fair_use import Level, MonthRollup, NoticeDecision, UserUsage
from overage.domain.instants import Month
from overage.domain.notice import Notice, render

DIRECTOR_ID = "#fair-use-director"  # the ledger key of the director's list (no account id starts with '#')
REVIEW_LIST_KIND = "fair_use.review_list"

_LEVEL_WORDS: dict[str, str] = {"within": "within", "over_allowance": "over allowance", "review": "review"}


def month_name(month: str) -> str:
    parsed = Month.parse(month)
    return date(parsed.year, parsed.month, 1).strftime("%B %Y")


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def _offer_text(user: UserUsage) -> str:
    offer = user.training_offer
    assert offer is not None
    hours = "1 hour" if offer.hours == 1 else f"{offer.hours} hours"
    return (
        f"{hours} × {offer.price_per_hour} {offer.currency} = {offer.net} {offer.currency} + VAT {offer.vat} "
        f"{offer.currency} = {offer.gross} {offer.currency}"
    )


def account_notice(rollup: MonthRollup, decision: NoticeDecision, *, to: str, revision: int, created_at: str) -> Notice:
    """The account's notice: the per-user figures, the long calls and a training offer for each user in review."""
    when = month_name(rollup.month)
    review = rollup.status == "review"
    subject = (
        f"Telephone support in {when}: use under review"
        if review
        else f"Telephone support in {when}: over the fair-use allowance"
    )
    if decision.update:
        subject = "Update: " + subject
    allowance = rollup.allowance_minutes_per_user
    users_word = "paying user" if rollup.paying_users == 1 else "paying users"
    paragraphs = [
        f"In {when} your account used {rollup.totals.minutes} minutes of telephone support in "
        f"{_calls(rollup.totals.calls)}. Your plan includes {allowance} minutes per paying user per month: "
        f"{rollup.pooled_allowance_minutes} minutes for your {rollup.paying_users} {users_word}"
        + (", and the account used more than that." if rollup.over_pooled_allowance else "."),
    ]
    over = rollup.users_at("over_allowance", "review")
    paragraphs.append(
        f"Each user has {allowance} minutes a month; over {rollup.review_minutes_per_user} minutes a user's support "
        "time may be reviewed. "
        + "; ".join(f"{user.user_id}: {user.minutes} minutes ({_LEVEL_WORDS[user.level]})" for user in over)
        + "."
    )
    if rollup.totals.long_calls:
        paragraphs.append(
            f"Calls longer than {rollup.long_call_minutes} minutes may be training rather than support; "
            "they are listed below."
        )
    in_review = rollup.users_at("review")
    if in_review:
        paragraphs.append(
            "Individual training webinars with our support team are a better fit for long sessions. We offer: "
            + "; ".join(f"{user.user_id}: {_offer_text(user)}" for user in in_review)
            + "."
        )
    if revision > 1:
        paragraphs.append(
            f"Calls that reached us after {when} was first rolled up changed the figures for "
            + ", ".join(sorted(decision.new))
            + "."
        )
    breakdown: list[tuple[str, str]] = [
        (
            f"User {user.user_id}",
            f"{_calls(user.calls)}, {user.minutes} min, {_LEVEL_WORDS[user.level]}",
        )
        for user in rollup.users
    ]
    breakdown.append(
        (
            "Account total",
            f"{rollup.totals.minutes} of {rollup.pooled_allowance_minutes} pooled minutes",
        )
    )
    for user in rollup.users:
        for call in user.long_calls:
            when_started = call.started_at[:16].replace("T", " ") + " UTC"
            breakdown.append((f"Long call {call.call_id} ({user.user_id}, {when_started})", f"{call.minutes} min"))
    for user in in_review:
        assert user.training_offer is not None
        offer = user.training_offer
        breakdown += [
            (f"Training offer for {user.user_id}", f"{offer.hours} h × {offer.price_per_hour} {offer.currency}"),
            ("  net / VAT / total", f"{offer.net} / {offer.vat} / {offer.gross} {offer.currency}"),
        ]
    actions = [
        "Book a training webinar for the users with long calls: reply to this email or call us.",
        "Use support tickets, the free weekly webinars and the knowledge base for questions that need no call.",
    ]
    if rollup.over_pooled_allowance:
        actions.append("Add paying users to raise the pooled allowance if your team needs more telephone support.")
    return render(
        kind=decision.kind,
        account_id=rollup.account_id,
        cause=decision.cause,
        to=to,
        subject=subject,
        paragraphs=paragraphs,
        breakdown=breakdown,
        actions=actions,
        detail={
            "month": rollup.month,
            "status": rollup.status,
            "terms": rollup.terms,
            "revision": revision,
            "update": decision.update,
            "paying_users": rollup.paying_users,
            "pooled_allowance_minutes": rollup.pooled_allowance_minutes,
            "total_minutes": str(rollup.totals.minutes),
            "new": dict(sorted(decision.new.items())),
            "users": [
                {
                    "user_id": user.user_id,
                    "calls": user.calls,
                    "minutes": str(user.minutes),
                    "level": user.level,
                    "long_calls": [call.call_id for call in user.long_calls],
                }
                for user in rollup.users
            ],
            "training_offers": [
                {"user_id": user.user_id} | user.training_offer.model_dump(mode="json")
                for user in in_review
                if user.training_offer is not None
            ],
        },
        created_at=created_at,
    )


# ---------------------------------------------------------------------------------------- the director's list


def review_entry(rollup: MonthRollup, user: UserUsage) -> dict[str, Any]:
    """What the director's list keeps for a user in review."""
    offer = user.training_offer
    return {
        "entry": "review",
        "account_id": rollup.account_id,
        "user_id": user.user_id,
        "terms": rollup.terms,
        "calls": user.calls,
        "seconds": user.seconds,
        "minutes": str(user.minutes),
        "long_calls": len(user.long_calls),
        "training_hours": offer.hours if offer else None,
        "training_gross": str(offer.gross) if offer else None,
        "currency": offer.currency if offer else None,
    }


def not_entitled_entry(rollup: MonthRollup) -> dict[str, Any]:
    usage = rollup.not_entitled
    return {
        "entry": "not_entitled",
        "account_id": rollup.account_id,
        "calls": usage.calls,
        "seconds": usage.seconds,
        "minutes": str(usage.minutes),
        "users": len(usage.users),
    }


def review_list_notice(
    month: str,
    entries: Sequence[Mapping[str, Any]],
    *,
    cause: str,
    to: str,
    update: bool,
    created_at: str,
) -> Notice:
    """The director's email: every user in review (legacy ones marked) and the accounts calling without support."""
    when = month_name(month)
    reviews = [e for e in entries if e["entry"] == "review"]
    refused = [e for e in entries if e["entry"] == "not_entitled"]
    accounts = len({e["account_id"] for e in reviews})
    users = f"{len(reviews)} user" if len(reviews) == 1 else f"{len(reviews)} users"
    subject = (
        f"Update to the fair-use review list, {when}: {len(reviews)} more in review"
        if update
        else f"Fair-use review list, {when}: {users} in {accounts} account{'s' if accounts != 1 else ''}"
    )
    paragraphs = [
        (
            f"Calls that arrived after {when} was rolled up changed the figures. Not listed before:"
            if update
            else f"Telephone support in {when}: the users over 60 minutes, whose support time may be reviewed."
        ),
    ]
    if any(e.get("terms") == "legacy_terms" for e in reviews):
        paragraphs.append(
            "Accounts marked 'legacy terms' are customers from before 7 April 2011 on their old agreement: "
            "they were not sent a review notice."
        )
    if refused:
        paragraphs.append(
            "Accounts that called without telephone support (their calls are kept and marked not entitled): "
            + "; ".join(
                f"{e['account_id']}: {_calls(int(e['calls']))}, {e['minutes']} min"
                for e in sorted(refused, key=lambda e: e["account_id"])
            )
            + "."
        )
    breakdown = []
    for entry in sorted(reviews, key=lambda e: (e["account_id"], e["user_id"])):
        training = (
            f"; training {entry['training_hours']} h = {entry['training_gross']} {entry['currency']}"
            if entry.get("training_hours")
            else ""
        )
        legacy = " (legacy terms: no notice sent)" if entry.get("terms") == "legacy_terms" else ""
        breakdown.append(
            (
                f"{entry['account_id']} / {entry['user_id']}",
                f"{entry['minutes']} min, {_calls(int(entry['calls']))}, {entry['long_calls']} long{training}{legacy}",
            )
        )
    if not reviews:
        paragraphs.append("No user is in review.")
    return render(
        kind=REVIEW_LIST_KIND,
        account_id=DIRECTOR_ID,
        cause=cause,
        to=to,
        subject=subject,
        paragraphs=paragraphs,
        breakdown=breakdown,
        actions=[
            "Review the users listed; offer training webinars where the calls were training rather than support.",
        ],
        detail={
            "month": month,
            "update": update,
            "reviews": [
                {
                    "account_id": e["account_id"],
                    "user_id": e["user_id"],
                    "minutes": e["minutes"],
                    "terms": e.get("terms"),
                }
                for e in sorted(reviews, key=lambda e: (e["account_id"], e["user_id"]))
            ],
            "not_entitled": [
                {"account_id": e["account_id"], "calls": e["calls"], "minutes": e["minutes"]}
                for e in sorted(refused, key=lambda e: e["account_id"])
            ],
        },
        created_at=created_at,
    )


def notified_levels(record: Mapping[str, Any] | None) -> dict[str, Level]:
    """The ``notified`` map of a stored rollup record (user → level told)."""
    if not record:
        return {}
    return dict(record.get("notified") or {})
