"""Invoice series counters (spec §3.8), one item per series in the ledger table.

Key: ``pk`` = ``SERIES#<series>``, ``sk`` = ``COUNTER``; ``last_sequence`` is the sequence of the last invoice issued
in the series (no item: none yet). The counter only ever moves in the transaction that puts the invoice it numbers
(``services.invoicing``), conditioned on the value read, so a sequence is used once and never skipped.
"""

from __future__ import annotations

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
