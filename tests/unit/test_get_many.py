"""Batched reads across tables (store/dynamo.get_many): every key answered, unprocessed keys asked for again."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from overage.errors import StoreError
from overage.store import dynamo
from overage.store.dynamo import get_many

A = {"pk": {"S": "acc_1"}, "sk": {"S": "ACCOUNT"}}
M = {"pk": {"S": "MONTH#2026-01#03"}, "sk": {"S": "acc_1"}}
L = {"pk": {"S": "acc_1"}, "sk": {"S": "FAIRUSE#2026-01"}}


class FakeClient:
    """Answers BatchGetItem from ``tables``, leaving the keys of ``unprocessed`` (per call) unanswered."""

    def __init__(self, tables: dict[str, list[dict[str, Any]]], unprocessed: list[set[str]]) -> None:
        self.tables = tables
        self.unprocessed = unprocessed
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        held_back = self.unprocessed.pop(0) if self.unprocessed else set()
        responses: dict[str, list[dict[str, Any]]] = {}
        left: dict[str, Any] = {}
        for table, request in RequestItems.items():
            assert request["ConsistentRead"] is True
            for key in request["Keys"]:
                if table in held_back:
                    left.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
                    continue
                for item in self.tables.get(table, []):
                    if all(item[k] == v for k, v in key.items()):
                        responses.setdefault(table, []).append(item)
        return {"Responses": responses, "UnprocessedKeys": left}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamo.time, "sleep", lambda _seconds: None)


def test_one_call_answers_keys_of_three_tables_and_leaves_out_the_missing_ones() -> None:
    client = FakeClient({"accounts": [A | {"currency": {"S": "GBP"}}], "calls": [M | {"calls_seq": {"N": "3"}}]}, [])
    found = get_many(client, {"account": ("accounts", A), "marker": ("calls", M), "previous": ("ledger", L)}, "x")
    assert found == {
        "account": {"pk": "acc_1", "sk": "ACCOUNT", "currency": "GBP"},
        "marker": {"pk": "MONTH#2026-01#03", "sk": "acc_1", "calls_seq": 3},
    }
    assert len(client.requests) == 1


def test_unprocessed_keys_are_asked_for_again_and_only_they() -> None:
    client = FakeClient({"accounts": [A], "ledger": [L]}, [{"ledger"}])
    found = get_many(client, {"account": ("accounts", A), "previous": ("ledger", L)}, "x")
    assert sorted(found) == ["account", "previous"]
    assert [sorted(request) for request in client.requests] == [["accounts", "ledger"], ["ledger"]]


def test_keys_left_unprocessed_on_every_attempt_are_a_store_error() -> None:
    client = FakeClient({"accounts": [A]}, [{"accounts"}] * dynamo.BATCH_GET_ATTEMPTS)
    with pytest.raises(StoreError, match="unprocessed"):
        get_many(client, {"account": ("accounts", A)}, "reading")
    assert len(client.requests) == dynamo.BATCH_GET_ATTEMPTS


def test_a_refused_call_is_a_store_error_naming_the_action() -> None:
    class Refusing:
        def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "BatchGetItem")

    with pytest.raises(StoreError, match="reading a rollup's inputs failed: InternalServerError"):
        get_many(Refusing(), {"account": ("accounts", A)}, "reading a rollup's inputs")
