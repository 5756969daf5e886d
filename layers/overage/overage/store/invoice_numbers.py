"""Invoice series counters (spec §3.8), one item per series in the ledger table.

Key: ``pk`` = ``SERIES#<series>``, ``sk`` = ``COUNTER``; ``last_sequence`` is the sequence of the last invoice issued
in the series (no item: none yet). The counter only ever moves in the transaction that puts the invoice it numbers
(``services.invoicing``), conditioned on the value read, so a sequence is used once and never skipped. The value
is read either alone (``last``) or in the caller's own BatchGetItem with the item the write depends on (``key``,
``last_of``): both are strongly consistent reads, and the move's condition is what makes either safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from overage.store.dynamo import store_error

SERIES = "SERIES#"
COUNTER = "COUNTER"


class InvoiceNumbers:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    def _key(self, series: str) -> dict[str, Any]:
        return {"pk": {"S": SERIES + series}, "sk": {"S": COUNTER}}

    def key(self, series: str) -> tuple[str, dict[str, Any]]:
        """The counter's table and key, for a read batched with other stores' (``dynamo.get_many``)."""
        return self.table, self._key(series)

    @staticmethod
    def last_of(record: Mapping[str, Any] | None) -> int:
        """The last sequence a counter item read by ``get_many`` holds (None, no item: 0, none issued yet)."""
        return int(record["last_sequence"]) if record else 0

    def last(self, series: str) -> int:
        """The last sequence issued in ``series`` (0: none), read consistently."""
        try:
            response = self.client.get_item(
                TableName=self.table,
                Key=self._key(series),
                ConsistentRead=True,
                ProjectionExpression="last_sequence",
            )
        except ClientError as error:
            raise store_error(error, "reading an invoice series") from error
        item = response.get("Item")
        return int(item["last_sequence"]["N"]) if item else 0

    def advance_item(self, series: str, last: int) -> dict[str, Any]:
        """A TransactWriteItems entry moving the counter from ``last`` to ``last + 1``; it cancels the transaction
        when the counter is no longer at ``last`` (another invoice took that number first)."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(series),
            "UpdateExpression": "SET last_sequence = :next, record_type = :type",
            "ExpressionAttributeValues": {":next": {"N": str(last + 1)}, ":type": {"S": "invoice_series"}},
        }
        if last == 0:
            update["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            update["ConditionExpression"] = "last_sequence = :last"
            update["ExpressionAttributeValues"][":last"] = {"N": str(last)}
        return {"Update": update}
