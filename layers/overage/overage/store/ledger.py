"""The ledger table: invoices, notices, plan changes and episodes, each under its account.

Keys: ``pk`` = account id; ``sk`` = ``INVOICE#<invoice id>``, ``NOTICE#<notice id>``, ... Money is stored as strings
("10.00") so amounts come back exactly as issued. Records are written with conditions, never overwritten blindly.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.invoice import Invoice
from overage.store.dynamo import from_item, query_all, store_error, to_item
from overage.store.report_index import REPORT_KEY, report_key_at

INVOICE = "INVOICE#"
NOTICE = "NOTICE#"


def invoice_record(invoice: Invoice) -> dict[str, Any]:
    body = invoice.model_dump(mode="json")
    keys = {"pk": invoice.account_id, "sk": INVOICE + invoice.invoice_id, "record_type": "invoice"}
    # The monthly report finds the invoices of its month through ReportIndex (the month it was issued).
    keys[REPORT_KEY] = report_key_at(invoice.issued_at, invoice.account_id)
    return keys | body


def invoice_from_record(record: dict[str, Any]) -> Invoice:
    fields = {k: v for k, v in record.items() if k in Invoice.model_fields}
    return Invoice.model_validate(fields)


class LedgerStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    def put_invoice_item(self, invoice: Invoice) -> dict[str, Any]:
        """A TransactWriteItems entry that creates the invoice, or cancels if that id was ever issued."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(invoice_record(invoice)),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        try:
            response = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": INVOICE + invoice_id}},
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading an invoice") from error
        item = response.get("Item")
        return invoice_from_record(from_item(item)) if item else None

    def _records(self, account_id: str, prefix: str) -> list[dict[str, Any]]:
        try:
            return list(
                query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={":pk": {"S": account_id}, ":prefix": {"S": prefix}},
                )
            )
        except ClientError as error:
            raise store_error(error, "listing ledger records") from error

    def invoices(self, account_id: str) -> list[Invoice]:
        invoices = [invoice_from_record(r) for r in self._records(account_id, INVOICE)]
        return sorted(invoices, key=lambda inv: (inv.issued_at, inv.invoice_id))

    def notices(self, account_id: str) -> list[dict[str, Any]]:
        records = self._records(account_id, NOTICE)
        for record in records:
            for key in ("pk", "sk", "outbox_state", REPORT_KEY):
                record.pop(key, None)
            if isinstance(record.get("detail"), str):
                record["detail"] = json.loads(record["detail"])
        return sorted(records, key=lambda r: (r.get("created_at", ""), r.get("notice_id", "")))
