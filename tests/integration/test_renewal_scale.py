"""What a renewal run costs in DynamoDB calls (counted with botocore event hooks): no Scan, ever."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from overage.services.renewal import RenewalBilling

from tests.support import World, contacts_body, dynamodb_calls, upsert_body


def add_accounts(world: World, first: int, last: int, started_on: str) -> None:
    for n in range(first, last):
        world.webhook(
            upsert_body(f"acc_{n:04d}", billing_cycle="monthly", started_on=started_on, customer_since=started_on)
        )


def test_a_day_with_nothing_due_costs_the_same_whatever_the_number_of_accounts(world: World) -> None:
    add_accounts(world, 0, 3, "2026-01-10")
    with_3 = dynamodb_calls(lambda: world.renewal("2026-01-25T00:15:00Z"))
    add_accounts(world, 3, 40, "2026-01-10")
    with_40 = dynamodb_calls(lambda: world.renewal("2026-01-25T00:15:00Z"))
    # 16 DueIndex shards + 1 OutboxIndex look-up, and nothing else
    assert with_3 == with_40 == Counter({"Query": 17})


def test_calls_per_billed_account(world: World) -> None:
    add_accounts(world, 0, 10, "2026-01-10")
    for n in range(10):
        world.webhook(contacts_body(f"acc_{n:04d}", "2026-02-01T00:00:00Z", 130))
    calls = dynamodb_calls(lambda: world.renewal("2026-02-10T00:15:00Z"))
    assert calls["Scan"] == 0
    # per billed account: read the account (its newest count, from 1 Feb, is the one in force at midnight of the
    # billing date: no snapshot query; it also holds the address's suppression, so the email needs no read of its
    # own) with its invoice series' counters (issue 17: the number is assigned in the transaction) in one
    # BatchGetItem (issue 20), one transaction, mark the notice sent
    assert calls == Counter({"Query": 17, "BatchGetItem": 10, "TransactWriteItems": 10, "UpdateItem": 10})
    assert all(len(world.invoices(f"acc_{n:04d}")) == 1 for n in range(10))


def test_a_count_reported_after_the_billing_moment_costs_one_query_of_the_history(world: World) -> None:
    # Given 130 contacts before midnight of 10 Feb and 40 reported at 00:05, before the run
    add_accounts(world, 0, 1, "2026-01-10")
    world.webhook(contacts_body("acc_0000", "2026-02-09T23:00:00Z", 130))
    world.webhook(contacts_body("acc_0000", "2026-02-10T00:05:00Z", 40))
    # When the run of 10 Feb bills it
    calls = dynamodb_calls(lambda: world.renewal("2026-02-10T00:15:00Z"))
    # Then the snapshot in force at midnight comes from the history (one Query more), and it is the one billed
    assert calls == Counter({"Query": 17 + 1, "BatchGetItem": 1, "TransactWriteItems": 1, "UpdateItem": 1})
    [invoice] = world.invoices("acc_0000")
    assert [(line["code"], line["amount"]) for line in invoice["lines"]] == [
        ("subscription", "24.00"),
        ("contact_overrun", "10.00"),
    ]


def test_a_backfilled_older_count_changes_nothing_the_billing_reads(world: World) -> None:
    # Given 130 contacts on 1 Feb, then the CRM backfills 40 contacts on 20 Jan (older: stale for the account)
    add_accounts(world, 0, 1, "2026-01-10")
    world.webhook(contacts_body("acc_0000", "2026-02-01T00:00:00Z", 130))
    world.webhook(contacts_body("acc_0000", "2026-01-20T00:00:00Z", 40))
    # When the run of 10 Feb bills it
    calls = dynamodb_calls(lambda: world.renewal("2026-02-10T00:15:00Z"))
    # Then the count in force at midnight is the 1 Feb one, read from the account item alone
    assert calls == Counter({"Query": 17, "BatchGetItem": 1, "TransactWriteItems": 1, "UpdateItem": 1})
    [invoice] = world.invoices("acc_0000")
    assert invoice["lines"][-1]["code"] == "contact_overrun" and invoice["gross"] == "34.00"


def test_the_ten_accounts_of_a_queue_batch_are_billed_at_once_and_each_exactly_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given ten accounts due on 10 Feb, in overrun
    add_accounts(world, 0, 10, "2026-01-10")
    for n in range(10):
        world.webhook(contacts_body(f"acc_{n:04d}", "2026-02-01T00:00:00Z", 130))
    # When the run bills them (the dispatcher's ten messages reach the function as one SQS batch), with every
    # account's billing waiting until all ten have started
    started = threading.Barrier(10, timeout=20)
    threads: set[int] = set()
    bill_account = RenewalBilling.bill_account

    def bill_together(self: RenewalBilling, *args: Any, **kwargs: Any) -> Any:
        threads.add(threading.get_ident())
        started.wait()  # one after another, the first account would wait here alone and the barrier break
        return bill_account(self, *args, **kwargs)

    monkeypatch.setattr(RenewalBilling, "bill_account", bill_together)
    world.renewal("2026-02-10T00:15:00Z")

    # Then each was billed on its own thread, once: one invoice of 34.00 + VAT, one email each
    assert len(threads) == 10
    for n in range(10):
        [invoice] = world.invoices(f"acc_{n:04d}")
        assert (invoice["net"], invoice["status"]) == ("34.00", "open")
        assert [notice["status"] for notice in world.notices(f"acc_{n:04d}")] == ["sent"]
    assert len(world.emails()) == 10
