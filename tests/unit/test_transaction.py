"""The unit of work (store/transaction.py): a lost race is told apart from a transaction conflict or throttling."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from overage.errors import StoreError
from overage.store import transaction
from overage.store.dynamo import is_condition_failure
from overage.store.transaction import Transaction


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


class FakeClient:
    """Answers TransactWriteItems with the given errors, one per call, then succeeds."""

    def __init__(self, *errors: ClientError) -> None:
        self.errors = list(errors)
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(TransactItems)
        if self.errors:
            raise self.errors.pop(0)
        return {}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transaction, "BACKOFF_SECONDS", 0.0)


ITEM = {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}


def test_a_written_transaction_is_true_and_made_once() -> None:
    client = FakeClient()
    assert Transaction(client).add(ITEM).commit("writing") is True
    assert client.calls == [[ITEM]]


@pytest.mark.parametrize(
    "error",
    [
        cancelled("None", "ConditionalCheckFailed"),
        ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem"),
    ],
)
def test_a_failed_condition_is_a_lost_race_false_and_not_retried(error: ClientError) -> None:
    client = FakeClient(error)
    assert Transaction(client, [ITEM]).commit("writing") is False
    assert len(client.calls) == 1
    assert is_condition_failure(error)


@pytest.mark.parametrize("code", ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"])
def test_a_conflict_or_throttling_is_retried_and_then_written(code: str) -> None:
    client = FakeClient(cancelled("None", code), cancelled(code, "None"))
    assert Transaction(client, [ITEM]).commit("writing") is True
    assert len(client.calls) == 3
    assert not is_condition_failure(cancelled("None", code))


def test_a_conflict_next_to_a_failed_condition_is_not_a_lost_race() -> None:
    # the condition may fail only because the other transaction had not committed yet: try again
    client = FakeClient(cancelled("ConditionalCheckFailed", "TransactionConflict"))
    assert Transaction(client, [ITEM]).commit("writing") is True
    assert len(client.calls) == 2


def test_a_conflict_that_never_ends_is_a_store_error_never_false() -> None:
    client = FakeClient(*[cancelled("TransactionConflict")] * transaction.ATTEMPTS)
    with pytest.raises(StoreError, match="writing failed: TransactionCanceledException"):
        Transaction(client, [ITEM]).commit("writing")
    assert len(client.calls) == transaction.ATTEMPTS


@pytest.mark.parametrize("code", ["ValidationException", "InternalServerError", "AccessDeniedException"])
def test_any_other_error_is_a_store_error_at_once(code: str) -> None:
    client = FakeClient(ClientError({"Error": {"Code": code}}, "TransactWriteItems"))
    with pytest.raises(StoreError, match=code):
        Transaction(client, [ITEM]).commit("writing")
    assert len(client.calls) == 1


def test_a_cancelled_transaction_tells_which_conditions_failed() -> None:
    client = FakeClient(cancelled("None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed"))
    outcome = Transaction(client, [ITEM] * 4).commit_telling("writing")
    assert (outcome.written, outcome.failed) == (False, frozenset({1, 3}))
    assert Transaction(FakeClient(), [ITEM]).commit_telling("writing").written is True


def test_a_failed_condition_without_reasons_counts_as_every_entry() -> None:
    error = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
    outcome = Transaction(FakeClient(error), [ITEM, ITEM]).commit_telling("writing")
    assert (outcome.written, outcome.failed) == (False, frozenset({0, 1}))
