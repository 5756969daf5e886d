"""The ledger's fair-use records: one rollup per account and month, ``pk = <account>``, ``sk = FAIRUSE#<YYYY-MM>``.

A recomputation replaces the record (its ``revision`` grows); the write is part of the rollup's transaction, whose
month-marker condition is what keeps two runs from both writing. ``notified`` keeps which users the account was told
about at which level, so a recomputation tells only what is new.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from overage.domain.instants import Month
from overage.store.dynamo import from_item, store_error, to_item
from overage.store.report_index import REPORT_KEY, report_key

FAIR_USE = "FAIRUSE#"


class FairUseLedger:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    def key(self, account_id: str, month: Month) -> tuple[str, dict[str, Any]]:
        """The rollup record's table and key, for a read batched with other stores' (``dynamo.get_many``)."""
        return self.table, {"pk": {"S": account_id}, "sk": {"S": f"{FAIR_USE}{month}"}}

    @staticmethod
    def from_record(record: dict[str, Any]) -> dict[str, Any]:
        record = dict(record)
        record.pop(REPORT_KEY, None)  # the report's index key, not part of the rollup
        return record

    def get(self, account_id: str, month: Month) -> dict[str, Any] | None:
        table, key = self.key(account_id, month)
        try:
            response = self.client.get_item(TableName=table, Key=key, ConsistentRead=True)
        except ClientError as error:
            raise store_error(error, "reading a fair-use rollup") from error
        item = response.get("Item")
        return self.from_record(from_item(item)) if item else None

    def put_item(self, record: dict[str, Any]) -> dict[str, Any]:
        """A TransactWriteItems entry writing (or replacing) the rollup record of ``record['month']``."""
        item = {"pk": record["account_id"], "sk": f"{FAIR_USE}{record['month']}", "record_type": "fair_use"} | record
        # The monthly report of that month finds it through ReportIndex (a recompute replaces it in place).
        item[REPORT_KEY] = report_key(record["month"], record["account_id"])
        return {"Put": {"TableName": self.table, "Item": to_item(item)}}
