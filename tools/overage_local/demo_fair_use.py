"""Demo scenario: fair use of telephone support in January 2026 (spec §3.3), rolled up on 1 February.

Five accounts, one per outcome: within the allowance, over it, in review (with a training offer), legacy terms (in
review, not told) and not entitled (calls kept, never counted). A late January call reaches the "over" account on
10 February, so the run of 1 March recomputes January and tells it only what is new.
"""

from __future__ import annotations

from typing import Any

from overage_local.demo_events import account_upserted
from overage_local.demo_format import notice_lines

TITLE = "Fair use of telephone support: January 2026 rolled up on 1 February (spec §3.3)"

ACCOUNTS = {
    "demo_fair_use_within": "complete, 2 paying users: 48 minutes between them, two long calls → within",
    "demo_fair_use_over": "standard + telephone-support add-on, 1 user at 50 minutes → over_allowance; "
    "a late 12-minute January call arrives on 10 Feb → review after the 1 March recompute",
    "demo_fair_use_review": "complete, 3 paying users: one at 125:30 → review, 2 hours of training offered",
    "demo_fair_use_legacy": "customer since 2010, standard without the add-on: 95 minutes → legacy_terms, no notice",
    "demo_fair_use_no_support": "standard without the add-on, customer since 2024: calls kept as not_entitled",
}

_SETUP: dict[str, dict[str, Any]] = {
    "demo_fair_use_within": {"package": "complete", "paying_users": 2},
    "demo_fair_use_over": {"package": "standard", "telephone_support": True, "paying_users": 1},
    "demo_fair_use_review": {"package": "complete", "paying_users": 3},
    "demo_fair_use_legacy": {"currency": "USD", "customer_since": "2010-03-15", "paying_users": 2},
    "demo_fair_use_no_support": {"customer_since": "2024-05-01", "paying_users": 2},
}

# (account, user, started_at, seconds, occurred_at or None for the call's end)
_CALLS: list[tuple[str, str, str, int, str | None]] = [
    ("demo_fair_use_within", "ann", "2026-01-12T09:00:00Z", 720, None),
    ("demo_fair_use_within", "ann", "2026-01-19T14:00:00Z", 960, None),  # 16:00, long
    ("demo_fair_use_within", "ben", "2026-01-21T10:30:00Z", 1200, None),  # 20:00, long
    ("demo_fair_use_over", "cara", "2026-01-13T11:00:00Z", 1500, None),
    ("demo_fair_use_over", "cara", "2026-01-27T15:00:00Z", 1500, None),  # 50:00 in all
    ("demo_fair_use_review", "dan", "2026-01-12T08:30:00Z", 2100, None),
    ("demo_fair_use_review", "dan", "2026-01-15T13:00:00Z", 2400, None),
    ("demo_fair_use_review", "dan", "2026-01-22T09:15:00Z", 3030, None),  # 125:30 in all
    ("demo_fair_use_review", "eve", "2026-01-16T10:00:00Z", 1800, None),
    ("demo_fair_use_review", "fay", "2026-01-20T16:00:00Z", 2880, None),  # 48:00
    ("demo_fair_use_legacy", "gus", "2026-01-14T09:00:00Z", 3300, None),
    ("demo_fair_use_legacy", "gus", "2026-01-28T09:00:00Z", 2400, None),  # 95:00
    ("demo_fair_use_no_support", "hal", "2026-01-15T09:00:00Z", 600, None),
    ("demo_fair_use_no_support", "hal", "2026-01-23T11:00:00Z", 1080, None),
    ("demo_fair_use_no_support", "ivy", "2026-01-29T17:00:00Z", 420, None),
    # late: a January call the CRM reports on 10 February
    ("demo_fair_use_over", "cara", "2026-01-30T16:00:00Z", 720, "2026-02-10T09:00:00Z"),
]


def _upsert(account_id: str) -> dict[str, Any]:
    setup = {"billing_cycle": "annual", "currency": "GBP", "paying_users": 1} | _SETUP[account_id]
    return account_upserted(account_id, 0, "2026-01-10T08:00:00Z", **setup)


def _end(started_at: str, seconds: int) -> str:
    from datetime import timedelta

    from overage.domain.instants import parse_instant

    return (parse_instant(started_at) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def events() -> list[dict[str, Any]]:
    out = [_upsert(account_id) for account_id in ACCOUNTS]
    for n, (account_id, user, started_at, seconds, occurred_at) in enumerate(_CALLS, start=1):
        out.append(
            {
                "id": f"evt_{account_id}_{n:02d}",
                "type": "call.completed",
                "occurred_at": occurred_at or _end(started_at, seconds),
                "account_id": account_id,
                "data": {
                    "call_id": f"call_{account_id}_{n:02d}",
                    "user_id": user,
                    "started_at": started_at,
                    "duration_seconds": seconds,
                },
            }
        )
    return out


def _user_line(user: dict[str, Any], currency: str) -> str:
    long_calls = ", ".join(f"{c['call_id'].rsplit('_', 1)[-1]} {c['minutes']} min" for c in user["long_calls"])
    line = f"    {user['user_id']:<5} {user['calls']} call(s) {user['minutes']:>7} min  {user.get('level', ''):<15}"
    if long_calls:
        line += f" long: {long_calls}"
    offer = user.get("training_offer")
    if offer:
        line += (
            f"\n          training offer: {offer['hours']} h × {offer['price_per_hour']} = {offer['net']} + VAT "
            f"{offer['vat']} = {offer['gross']} {offer['currency']}"
        )
    return line


def summary(get: Any) -> list[str]:
    lines: list[str] = []
    in_review: list[str] = []
    for account_id, story in ACCOUNTS.items():
        lines.append(f"{account_id}: {story}")
        status, view = get(f"/accounts/{account_id}/fair-use/2026-01")
        if status != 200:
            lines += [f"  GET fair-use/2026-01 answered {status}: {view}", ""]
            continue
        lines.append(
            f"  January 2026: status {view['status']}, terms {view['terms']} ({view['source']}, revision "
            f"{view.get('revision', '-')}); {view['paying_users']} paying user(s), pooled allowance "
            f"{view['pooled_allowance_minutes']} min, used {view['totals']['minutes']} min in "
            f"{view['totals']['calls']} call(s)"
        )
        for user in view["users"]:
            lines.append(_user_line(user, view["currency"]))
            if user["level"] == "review":
                in_review.append(f"{account_id} / {user['user_id']} ({view['terms']})")
        refused = view["not_entitled"]
        if refused["calls"]:
            lines.append(f"  not entitled: {refused['calls']} call(s), {refused['minutes']} min (kept, never counted)")
            for user in refused["users"]:
                lines.append(_user_line(user, view["currency"]))
        _, notices = get(f"/accounts/{account_id}/notices")
        fair_use = [n for n in notices["notices"] if str(n["kind"]).startswith("fair_use.")]
        if not fair_use:
            lines.append("  no fair-use notice")
        for notice in fair_use:
            lines += notice_lines(notice)
        lines.append("")
    lines.append("Director's review list for January 2026 (emailed to DirectorEmail): " + ("; ".join(in_review) or "-"))
    return lines
