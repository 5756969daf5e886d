"""The local AWS's cheaper transaction backup (overage_local.moto_speed) answers as DynamoDB does: a cancelled
TransactWriteItems changes nothing, whichever of its actions fails, on tables with and without a sort key; one that
passes applies every action. And the memoised SQS and EventBridge pieces still answer per queue and per event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from overage_local.server import serialized_mock_aws

from tests.builders import create_pk_sk_table

REGION = "eu-west-1"


@pytest.fixture
def ddb() -> Iterator[Any]:
    with serialized_mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_pk_sk_table(client, "ledger")
        client.create_table(
            TableName="accounts",
            KeySchema=[{"AttributeName": "account_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "account_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="accounts", Item={"account_id": {"S": "acc_1"}, "credit": {"N": "10"}})
        client.put_item(TableName="ledger", Item={"pk": {"S": "ACC#acc_1"}, "sk": {"S": "INV#1"}, "due": {"N": "5"}})
        yield client


def _everything(ddb: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: sorted(ddb.scan(TableName=name)["Items"], key=json.dumps) for name in ("accounts", "ledger")}


def _spend(amount: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "accounts",
            "Key": {"account_id": {"S": "acc_1"}},
            "UpdateExpression": "SET credit = credit - :a",
            "ConditionExpression": "credit >= :a",
            "ExpressionAttributeValues": {":a": {"N": amount}},
        }
    }


def _pay_invoice() -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "ledger",
            "Key": {"pk": {"S": "ACC#acc_1"}, "sk": {"S": "INV#1"}},
            "UpdateExpression": "SET due = :zero",
            "ExpressionAttributeValues": {":zero": {"N": "0"}},
        }
    }


def _record(sk: str) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": "ledger",
            "Item": {"pk": {"S": "ACC#acc_1"}, "sk": {"S": sk}, "amount": {"N": "5"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def test_a_transaction_that_passes_applies_every_action(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_spend("5"), _pay_invoice(), _record("CREDIT#1")])

    assert ddb.get_item(TableName="accounts", Key={"account_id": {"S": "acc_1"}})["Item"]["credit"] == {"N": "5"}
    ledger = {item["sk"]["S"]: item for item in ddb.scan(TableName="ledger")["Items"]}
    assert ledger["INV#1"]["due"] == {"N": "0"}
    assert ledger["CREDIT#1"]["amount"] == {"N": "5"}


FAILING = {
    "the first action fails (more credit than there is)": lambda: [_spend("11"), _pay_invoice(), _record("CREDIT#1")],
    "a middle one fails (a put over an item that exists)": lambda: [_spend("5"), _record("CREDIT#0"), _pay_invoice()],
    "the last one fails": lambda: [_spend("5"), _pay_invoice(), _record("CREDIT#0")],
}


@pytest.mark.parametrize("actions", FAILING.values(), ids=FAILING.keys())
def test_a_cancelled_transaction_changes_nothing_whichever_action_fails(ddb: Any, actions: Any) -> None:
    ddb.put_item(TableName="ledger", Item={"pk": {"S": "ACC#acc_1"}, "sk": {"S": "CREDIT#0"}, "amount": {"N": "1"}})
    before = _everything(ddb)

    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=actions())

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _everything(ddb) == before


def test_two_actions_on_one_item_are_refused_and_change_nothing(ddb: Any) -> None:
    before = _everything(ddb)

    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=[_record("CREDIT#1"), _spend("1"), _record("CREDIT#1")])

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _everything(ddb) == before


def test_a_new_item_put_by_a_cancelled_transaction_is_gone_on_a_table_without_a_sort_key(ddb: Any) -> None:
    before = _everything(ddb)
    new_account = {
        "Put": {"TableName": "accounts", "Item": {"account_id": {"S": "acc_2"}, "credit": {"N": "0"}}},
    }

    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[new_account, _spend("99")])

    assert _everything(ddb) == before
    assert "Item" not in ddb.get_item(TableName="accounts", Key={"account_id": {"S": "acc_2"}})


def test_queue_attributes_and_rule_targets_answer_per_queue_and_per_event() -> None:
    with serialized_mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("a", "b")]
        arns = [sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"] for u in urls]
        assert [a["QueueArn"].rsplit(":", 1)[1] for a in arns] == ["a", "b"]

        events.put_rule(Name="all", EventPattern=json.dumps({"source": ["overage"]}))
        events.put_targets(Rule="all", Targets=[{"Id": "a", "Arn": arns[0]["QueueArn"]}])
        for n in (1, 2):
            events.put_events(Entries=[{"Source": "overage", "DetailType": "t", "Detail": json.dumps({"n": n})}])

        bodies = [
            json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=urls[0], MaxNumberOfMessages=10)["Messages"]
        ]
        assert sorted(b["detail"]["n"] for b in bodies) == [1, 2]
        depth = sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["All"])["Attributes"]
        assert depth["ApproximateNumberOfMessagesNotVisible"] == "2"
