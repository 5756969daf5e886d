"""DynamoDB calls of the renewal run, counted with botocore event hooks on the functions' client.

Two questions: what does a day with nothing due cost as the number of accounts grows (it must stay flat: the
DueIndex is queried per shard, never scanned), and how many calls does each billed account cost.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from overage import aws
from overage.domain.crm_events import AccountUpserted, ContactsCounted
from overage.store.accounts import AccountsStore

from tests.support import moto_world


def _count(action: Callable[[], object]) -> Counter[str]:
    calls: Counter[str] = Counter()

    def hook(model: object, **_: object) -> None:
        calls[model.name] += 1  # type: ignore[attr-defined]

    client = aws.client("dynamodb")
    client.meta.events.register("before-call.dynamodb", hook)
    try:
        action()
    finally:
        client.meta.events.unregister("before-call.dynamodb", hook)
    return calls


def _seed(store: AccountsStore, first: int, last: int, started_on: str, contacts: int | None) -> None:
    for n in range(first, last):
        account_id = f"bench_{n:06d}"
        store.upsert(
            AccountUpserted.model_validate(
                {
                    "id": f"evt_{uuid.uuid4().hex}",
                    "type": "account.upserted",
                    "occurred_at": f"{started_on}T08:00:00Z",
                    "account_id": account_id,
                    "data": {
                        "package": "standard",
                        "contact_tier": "t50",
                        "billing_cycle": "monthly",
                        "currency": "USD",
                        "started_on": started_on,
                        "billing_email": f"{account_id}@bench.example",
                        "paying_users": 2,
                        "telephone_support": False,
                        "profile_packs": 0,
                        "customer_since": started_on,
                    },
                }
            )
        )
        if contacts is not None:
            store.record_contacts(
                ContactsCounted.model_validate(
                    {
                        "id": f"evt_{uuid.uuid4().hex}",
                        "type": "contacts.counted",
                        "occurred_at": datetime(2026, 1, 20, tzinfo=UTC).isoformat(),
                        "account_id": account_id,
                        "data": {"active": contacts, "archived": 0},
                    }
                )
            )


def main() -> None:
    rows: list[tuple[str, int, int, str]] = []
    with moto_world(parameter_overrides={"LogLevel": "ERROR"}) as world:
        store = AccountsStore(world.accounts_table, aws.client("dynamodb"))
        seeded = 0
        for total in (100, 500, 1_500):
            _seed(store, seeded, total, "2026-01-20", None)
            seeded = total
            calls = _count(lambda: world.renewal("2026-01-25T00:15:00Z"))
            rows.append((f"nothing due, {total:>5} accounts", sum(calls.values()), calls["Scan"], _fmt(calls)))
        due = 50
        _seed(store, seeded, seeded + due, "2026-01-12", 130)
        calls = _count(lambda: world.renewal("2026-02-12T00:15:00Z"))
        overhead = 17  # the empty day's shard queries and outbox look-up
        per_account = (sum(calls.values()) - overhead) / due
        rows.append((f"{due} accounts billed (+{seeded} not due)", sum(calls.values()), calls["Scan"], _fmt(calls)))
    print("\nRenewal run: DynamoDB calls (botocore before-call hooks)")
    print(f"{'run':<42} {'calls':>7} {'scans':>6}  by operation")
    for name, total_calls, scans, detail in rows:
        print(f"{name:<42} {total_calls:>7} {scans:>6}  {detail}")
    print(f"\nDynamoDB calls per billed account: {per_account:.2f} (goal ≤ 3 in issue 9; see README Performance)")


def _fmt(calls: Counter[str]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
