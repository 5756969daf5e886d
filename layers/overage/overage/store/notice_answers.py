"""The answer a customer gave to a notice through its feedback links (spec §3.9): on the notice record itself
(``answer``, ``answered_at``), written once, conditionally: a later click, a replay or a second concurrent click
changes nothing."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from overage.store.dynamo import from_item, store_error
from overage.store.ledger import NOTICE

ANSWER = "answer"
ANSWERED_AT = "answered_at"


class NoticeAnswerStore:
    def __init__(self, ledger_table: str, client: Any) -> None:
        self.ledger_table = ledger_table
        self.client = client

    def notice(self, account_id: str, notice_id: str) -> dict[str, Any] | None:
        """The notice record (a consistent read), or None when there is no such notice."""
        try:
            item = self.client.get_item(
                TableName=self.ledger_table,
                Key={"pk": {"S": account_id}, "sk": {"S": NOTICE + notice_id}},
                ConsistentRead=True,
            ).get("Item")
        except ClientError as error:
            raise store_error(error, "reading a notice") from error
        return from_item(item) if item else None

    def answer_entry(self, account_id: str, notice_id: str, answer: str, at: str) -> dict[str, Any]:
        """A TransactWriteItems entry recording the answer, only on a notice that exists and has none yet."""
        return {
            "Update": {
                "TableName": self.ledger_table,
                "Key": {"pk": {"S": account_id}, "sk": {"S": NOTICE + notice_id}},
                "UpdateExpression": "SET #answer = :answer, #at = :at",
                "ConditionExpression": "attribute_exists(sk) AND attribute_not_exists(#answer)",
                "ExpressionAttributeNames": {"#answer": ANSWER, "#at": ANSWERED_AT},
                "ExpressionAttributeValues": {":answer": {"S": answer}, ":at": {"S": at}},
            }
        }
