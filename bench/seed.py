"""Seeding many accounts quickly: the items ``AccountsStore`` writes, put with BatchWriteItem (25 a call).

Going through the webhook costs ~20 ms an account in-process; 50k accounts would take minutes. The shapes here are
those of ``AccountsStore.upsert`` (+ ``record_contacts``); ``check_shape`` compares them with a store-written item so
the bench cannot drift from the store silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any

from overage.domain.account import billing_shard, first_billed_date, version_key
from overage.store.accounts import ACCOUNT_SK, LIMIT_HISTORY, LimitEntry
from overage.store.dynamo import serialize

BATCH = 25
ACCOUNT_PREFIX = "bench_"


def account_id(n: int) -> str:
    return f"{ACCOUNT_PREFIX}{n:06d}"


def account_items(
    n: int, started_on: date, *, contacts: int | None = None, contacts_at: datetime | None = None
) -> list[dict[str, Any]]:
    """The account item (monthly, standard, t50, USD) and, with ``contacts``, its contacts snapshot."""
    ident = account_id(n)
    occurred_at = datetime.combine(started_on, time(8), tzinfo=UTC)
    record: dict[str, Any] = {
        "pk": ident,
        "sk": ACCOUNT_SK,
        "account_id": ident,
        "package": "standard",
        "contact_tier": "t50",
        "billing_cycle": "monthly",
        "currency": "USD",
        "started_on": started_on.isoformat(),
        "billing_email": f"billing@{ident}.example",
        "paying_users": 2,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": started_on.isoformat(),
        "profile_version": version_key(occurred_at, f"evt_up_{ident}"),
        # the profile limit's history, as account.upserted writes it (store/accounts.py)
        LIMIT_HISTORY: {LimitEntry(version_key(occurred_at, f"evt_up_{ident}"), "account.upserted", "standard", 0).raw},
        "billing_shard": billing_shard(ident),
        "next_billing_date": first_billed_date(started_on, 1, started_on).isoformat(),
    }
    items = []
    if contacts is not None:
        at = contacts_at or occurred_at
        version = version_key(at, f"evt_cc_{ident}")
        record |= {"contacts_active": contacts, "contacts_archived": 0, "contacts_version": version}
        snapshot = {"pk": ident, "sk": f"SNAP#contacts#{version}", "active": contacts, "archived": 0}
        items.append(snapshot | {"version": version})
    return [record, *items]


def put_all(client: Any, table: str, records: Iterator[dict[str, Any]]) -> int:
    """BatchWriteItem every record (retrying unprocessed ones); returns how many were written."""
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        requests = [{"PutRequest": {"Item": {k: serialize(v) for k, v in r.items()}}} for r in batch]
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
        written += len(batch)
        batch.clear()

    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    return written


def seed_accounts(
    client: Any, table: str, first: int, last: int, started_on: date, *, contacts: int | None = None
) -> int:
    contacts_at = datetime.combine(started_on, time(12), tzinfo=UTC) if contacts is not None else None
    records = (
        item
        for n in range(first, last)
        for item in account_items(n, started_on, contacts=contacts, contacts_at=contacts_at)
    )
    return put_all(client, table, records)


def check_shape(stored: dict[str, Any], seeded: dict[str, Any]) -> None:
    """Same attributes, same types, as the store wrote (values differ: ids, versions)."""
    differences = {
        key: (type(stored.get(key)).__name__, type(seeded.get(key)).__name__)
        for key in set(stored) | set(seeded)
        if type(stored.get(key)) is not type(seeded.get(key))
    }
    if differences:
        raise AssertionError(f"seeded account items drifted from the store's: {differences}")
