"""Plan-change records in the ledger table, and the writes that apply a change (spec §3.4).

Keys: ``pk`` = account id, ``sk`` = ``CHANGE#<occurred_at key>#<event id>`` (time order, newest last). A change is
applied in one TransactWriteItems: the account item (conditioned on the version it was decided from), the change
record (created once: a retry finds it and answers with it), the invoice or credit note, and the notice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.instants import to_key
from overage.store.accounts import ACCOUNT_SK
from overage.store.dynamo import from_item, query_all, serialize, store_error, to_item
from overage.store.report_index import REPORT_KEY, report_key_at
from overage.store.transaction import commit

CHANGE = "CHANGE#"


def change_sk(occurred_at: datetime, change_id: str) -> str:
    return f"{CHANGE}{to_key(occurred_at)}#{change_id}"


class PlanChangeStore:
    def __init__(self, accounts_table: str, ledger_table: str, client: Any) -> None:
        self.accounts_table = accounts_table
        self.ledger_table = ledger_table
        self.client = client

    # ------------------------------------------------------------------ reads
    def get(self, account_id: str, sk: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_item(
                TableName=self.ledger_table,
                Key={"pk": {"S": account_id}, "sk": {"S": sk}},
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading a plan change") from error
        item = response.get("Item")
        if not item:
            return None
        record = from_item(item)
        record.pop(REPORT_KEY, None)  # the report's index key, not part of the change
        return record

    def changes(self, account_id: str) -> list[dict[str, Any]]:
        """Every change record of the account, oldest first."""
        try:
            records = list(
                query_all(
                    self.client,
                    TableName=self.ledger_table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={":pk": {"S": account_id}, ":prefix": {"S": CHANGE}},
                    ConsistentRead=True,
                )
            )
        except ClientError as error:
            raise store_error(error, "listing plan changes") from error
        for record in records:
            record.pop(REPORT_KEY, None)
        return sorted(records, key=lambda record: record["sk"])

    # ------------------------------------------------------------------ transaction items
    def put_change_item(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Create a change record; cancels the transaction if it exists (the change was applied before)."""
        # The monthly report of the month it was requested finds it through ReportIndex.
        indexed = {**record, REPORT_KEY: report_key_at(str(record["requested_at"]), str(record["pk"]))}
        return {
            "Put": {
                "TableName": self.ledger_table,
                "Item": to_item(indexed),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def settle_change_item(self, account_id: str, sk: str, sets: Mapping[str, Any]) -> dict[str, Any]:
        """Move a pending change record on (applied, cancelled, superseded); only while it is still pending."""
        update = self._update(self.ledger_table, account_id, sk, sets, ())
        update["ExpressionAttributeNames"]["#status"] = "status"
        update["ExpressionAttributeValues"][":pending_status"] = {"S": "pending"}
        update["ConditionExpression"] = "#status = :pending_status"
        return {"Update": update}

    def account_item(
        self,
        account_id: str,
        sets: Mapping[str, Any],
        *,
        expect_version: str,
        expect_next_billing_date: str,
        expect_pending: str | None,
        remove: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Update the account item only if it is still the one the change was decided from."""
        update = self._update(self.accounts_table, account_id, ACCOUNT_SK, sets, remove)
        update["ExpressionAttributeValues"] |= {
            ":expect_pv": {"S": expect_version},
            ":expect_next": {"S": expect_next_billing_date},
        }
        conditions = ["profile_version = :expect_pv", "next_billing_date = :expect_next"]
        if expect_pending is None:
            update["ExpressionAttributeValues"][":null_type"] = {"S": "NULL"}
            conditions.append("(attribute_not_exists(pending_change) OR attribute_type(pending_change, :null_type))")
        else:
            update["ExpressionAttributeNames"]["#pending"] = "pending_change"
            update["ExpressionAttributeValues"][":expect_pending"] = {"S": expect_pending}
            conditions.append("#pending.change_id = :expect_pending")
        update["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": update}

    @staticmethod
    def _update(table: str, account_id: str, sk: str, sets: Mapping[str, Any], remove: Iterable[str]) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses: list[str] = []
        for n, (attribute, value) in enumerate(sets.items()):
            names[f"#s{n}"] = attribute
            values[f":s{n}"] = serialize(value)
            clauses.append(f"#s{n} = :s{n}")
        removed = list(remove)
        for n, attribute in enumerate(removed):
            names[f"#r{n}"] = attribute
        expression = " ".join(
            part
            for part in (
                "SET " + ", ".join(clauses) if clauses else "",
                "REMOVE " + ", ".join(f"#r{n}" for n in range(len(removed))) if removed else "",
            )
            if part
        )
        return {
            "TableName": table,
            "Key": {"pk": {"S": account_id}, "sk": {"S": sk}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def commit(self, items: list[dict[str, Any]]) -> bool:
        """Write all or nothing; False when a condition failed (someone else changed the account or the change)."""
        return commit(self.client, items, "applying a plan change")
