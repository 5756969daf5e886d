"""What is owed and paid after the invoice (spec §3.7), in the ledger table under the account's ``pk``:

- ``CREDIT_BALANCE#<currency>``: the account's credit balance in that currency (``balance`` as a string, ``rev`` the
  optimistic lock: every write moves it by one and requires the value it read; absent = 0.00, never written);
- ``CREDIT#<instant>#<movement id>``: one record per movement of a balance (credit note, goodwill, overpayment, void,
  applied, refunded), with the balance it left, so every cent of a balance is explained; written once (its id
  derives from its cause);
- ``PAYMENT#<payment id>`` (or ``PAYMENT#event:<event id>`` without one): each money movement the CRM told us of,
  written once in the transaction that applies it, so the same ``payment_id`` under another event id changes
  nothing;
- ``ADJUSTMENT#<instant>#<event id>``: what support staff did (void, goodwill credit, grace extension, refund).

Invoices stay where ``store.ledger`` writes them; their money moves here, each Update conditioned on the ``rev`` it
was computed from (or, for an invoice never moved since it was issued, on its status and no ``rev`` yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.instants import to_key
from overage.domain.invoice import UNPAID_STATUSES, Invoice
from overage.domain.money import ZERO
from overage.domain.settlement import CreditChange, Movement
from overage.store.accounts import ACCOUNT_SK
from overage.store.dynamo import from_item, is_condition_failure, query_all, serialize, store_error, to_item
from overage.store.ledger import INVOICE, LedgerStore, invoice_from_record
from overage.store.report_index import REPORT_KEY, report_key_at

BALANCE = "CREDIT_BALANCE#"
DUNNING_INDEX = "DunningIndex"
MOVEMENT = "CREDIT#"
PAYMENT = "PAYMENT#"
ADJUSTMENT = "ADJUSTMENT#"
FEE_KIND = "excess_profiles"


@dataclass(frozen=True)
class CreditBalance:
    currency: str
    balance: Decimal = ZERO
    rev: int = 0


def payment_key(payment_id: str | None, event_id: str) -> str:
    return payment_id if payment_id else f"event:{event_id}"


class SettlementStore:
    def __init__(self, ledger: LedgerStore, accounts_table: str) -> None:
        self.ledger = ledger
        self.table = ledger.table
        self.client = ledger.client
        self.accounts_table = accounts_table

    def mark_credit(self, account_id: str, currency: str) -> None:
        """Note on the account item that it has (or had) credit in ``currency``, *before* the transaction that creates
        the credit: the renewal run reads the balance of an invoice's currency only for such an account, so a crash
        between this and the credit leaves at most one needless read, never credit that a new invoice misses. A set
        ``ADD`` needs no condition on anything another writer of the item holds."""
        try:
            self.client.update_item(
                TableName=self.accounts_table,
                Key=self._key(account_id, ACCOUNT_SK),
                UpdateExpression="ADD credit_currencies :c",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":c": {"SS": [currency]}},
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise store_error(error, "noting an account's credit") from error

    def _key(self, account_id: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": account_id}, "sk": {"S": sk}}

    def _get(self, account_id: str, sk: str, action: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_item(TableName=self.table, Key=self._key(account_id, sk), ConsistentRead=True)
        except ClientError as error:
            raise store_error(error, action) from error
        item = response.get("Item")
        return from_item(item) if item else None

    def _query(self, account_id: str, prefix: str, action: str, **kwargs: Any) -> list[dict[str, Any]]:
        values = {":pk": {"S": account_id}, ":prefix": {"S": prefix}} | kwargs.pop("values", {})
        try:
            return list(
                query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues=values,
                    **kwargs,
                )
            )
        except ClientError as error:
            raise store_error(error, action) from error

    # ------------------------------------------------------------------ reads
    def balance(self, account_id: str, currency: str) -> CreditBalance:
        record = self._get(account_id, BALANCE + currency, "reading a credit balance")
        if record is None:
            return CreditBalance(currency)
        return CreditBalance(currency, Decimal(str(record["balance"])), int(record["rev"]))

    def balances(self, account_id: str) -> dict[str, str]:
        """Every currency's credit balance of the account (one Query): ``{"GBP": "9.60"}``."""
        records = self._query(account_id, BALANCE, "listing credit balances")
        return {str(r["currency"]): str(r["balance"]) for r in sorted(records, key=lambda r: str(r["currency"]))}

    def movements(self, account_id: str) -> list[dict[str, Any]]:
        records = self._query(account_id, MOVEMENT, "listing credit movements")
        return [_public(record) for record in records]

    def payment(self, account_id: str, key: str) -> dict[str, Any] | None:
        return self._get(account_id, PAYMENT + key, "reading a payment")

    def adjustment(self, account_id: str, requested_at: str, event_id: str) -> dict[str, Any] | None:
        record = self._get(account_id, f"{ADJUSTMENT}{requested_at}#{event_id}", "reading an adjustment")
        return _public(record) if record else None

    def adjustments(self, account_id: str) -> list[dict[str, Any]]:
        return [_public(record) for record in self._query(account_id, ADJUSTMENT, "listing adjustments")]

    def unpaid_invoices(self, account_id: str, currency: str) -> list[Invoice]:
        """The account's invoices in ``currency`` with an amount due, oldest first (one Query of its invoices)."""
        records = self._query(
            account_id,
            INVOICE,
            "listing unpaid invoices",
            FilterExpression="#s IN (:s0, :s1, :s2) AND currency = :c",
            ExpressionAttributeNames={"#s": "status"},
            values={f":s{n}": {"S": status} for n, status in enumerate(UNPAID_STATUSES)} | {":c": {"S": currency}},
        )
        invoices = [invoice_from_record(record) for record in records]
        return sorted((i for i in invoices if i.unpaid), key=lambda i: (i.issued_at, i.invoice_id))

    def restricting_invoice_ids(self, account_id: str) -> list[str]:
        """The account's overdue invoices that restrict it: excess-profile fee invoices, and any other whose dunning
        policy restricted the account (``restricting``)."""
        records = self._query(
            account_id,
            INVOICE,
            "listing restricting invoices",
            FilterExpression="#s = :overdue AND (kind = :fee OR restricting = :yes)",
            ProjectionExpression="invoice_id",
            ExpressionAttributeNames={"#s": "status"},
            values={":overdue": {"S": "overdue"}, ":fee": {"S": FEE_KIND}, ":yes": {"BOOL": True}},
        )
        return sorted(str(record["invoice_id"]) for record in records)

    # ------------------------------------------------------------------ transaction entries
    def balance_item(self, account_id: str, before: CreditBalance, after: Decimal) -> dict[str, Any]:
        """The Update of a credit balance to ``after``, only if it is still the one read (``rev``)."""
        values: dict[str, Any] = {
            ":b": {"S": str(after)},
            ":rev": {"N": str(before.rev + 1)},
            ":a": {"S": account_id},
            ":c": {"S": before.currency},
            ":t": {"S": "credit_balance"},
        }
        if before.rev:
            condition = "rev = :read"
            values[":read"] = {"N": str(before.rev)}
        else:
            condition = "attribute_not_exists(sk)"
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._key(account_id, BALANCE + before.currency),
                "UpdateExpression": "SET balance = :b, rev = :rev, account_id = :a, currency = :c, record_type = :t",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }

    def movement_items(self, account_id: str, change: CreditChange) -> list[dict[str, Any]]:
        return [self._put(movement_record(account_id, m)) for m in change.movements]

    def _put(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def payment_item(self, account_id: str, key: str, record: dict[str, Any]) -> dict[str, Any]:
        at = str(record["received_at"])
        body = {"pk": account_id, "sk": PAYMENT + key, "record_type": "payment", "account_id": account_id}
        figures = {name: record[name] for name in ("amount", "applied", "to_credit")}
        detail = json.dumps(figures, sort_keys=True, separators=(",", ":"))  # ReportIndex projects detail
        return self._put(
            body | record | {REPORT_KEY: report_key_at(at, account_id), "created_at": at, "detail": detail}
        )

    def adjustment_item(self, account_id: str, event_id: str, record: dict[str, Any]) -> dict[str, Any]:
        at = str(record["requested_at"])
        body = {"pk": account_id, "sk": f"{ADJUSTMENT}{at}#{event_id}", "record_type": "adjustment"}
        record = body | {"adjustment_id": event_id, "account_id": account_id} | record
        record["detail"] = json.dumps(record.get("amounts") or {}, sort_keys=True, separators=(",", ":"))
        return self._put(record | {REPORT_KEY: report_key_at(at, account_id), "created_at": at})

    def dunning_due(self, shard: str, stage: str, up_to: date) -> Iterator[tuple[str, str]]:
        """(account id, invoice id) of the shard's invoices waiting at ``stage`` from a day on or before ``up_to``
        (DunningIndex: one Query, never a Scan)."""
        try:
            for item in query_all(
                self.client,
                TableName=self.table,
                IndexName=DUNNING_INDEX,
                KeyConditionExpression="dunning_shard = :s AND dunning_at BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":s": {"S": shard},
                    ":lo": {"S": stage},
                    ":hi": {"S": stage + up_to.isoformat()},
                },
            ):
                yield str(item["pk"]), str(item["sk"]).removeprefix(INVOICE)
        except ClientError as error:
            raise store_error(error, "querying invoices due for dunning") from error

    def invoice_with_key(self, account_id: str, invoice_id: str) -> tuple[Invoice, str | None] | None:
        """The invoice and the dunning key it waits at (None: not dunned any more)."""
        record = self._get(account_id, INVOICE + invoice_id, "reading an invoice")
        if record is None:
            return None
        return invoice_from_record(record), record.get("dunning_at")

    def invoice_item(
        self,
        before: Invoice,
        after: Invoice,
        fields: dict[str, Any] | None = None,
        *,
        dunning: str | object | None = ...,
    ) -> dict[str, Any]:
        """The Update of an invoice's money and status to ``after``, only if it is still ``before`` (its ``rev``; an
        invoice never moved since its issue has none: then its status). ``dunning``: the next dunning key (None:
        forget it); left out, it is forgotten once nothing is due."""
        sets = {
            "status": after.status,
            "amount_paid": str(after.amount_paid),
            "credit_applied": str(after.credit_applied),
            "amount_due": str(after.amount_due),
            "rev": before.rev + 1,
        } | (fields or {})
        removes: list[str] = []
        if isinstance(dunning, str):
            sets["dunning_at"] = dunning
        elif dunning is None or after.amount_due == 0:  # nothing left to chase (the dunning index forgets it)
            removes = ["dunning_shard", "dunning_at"]
        names = {f"#f{n}": name for n, name in enumerate(sets)}
        values = {f":f{n}": serialize(value) for n, value in enumerate(sets.values())}
        names["#rev"] = "rev"
        if before.rev:
            condition = "#rev = :read"
            values[":read"] = {"N": str(before.rev)}
        else:
            names["#st"] = "status"
            condition = "attribute_not_exists(#rev) AND #st = :was"
            values[":was"] = {"S": before.status}
        expression = "SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(sets)))
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._key(after.account_id, INVOICE + after.invoice_id),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def movement_record(account_id: str, movement: Movement) -> dict[str, Any]:
    at = to_key(movement.at)
    figures = {"amount": str(movement.amount), "balance_after": str(movement.balance_after)}
    return {
        "pk": account_id,
        "sk": f"{MOVEMENT}{at}#{movement.movement_id}",
        "record_type": "credit_movement",
        "movement_id": movement.movement_id,
        "account_id": account_id,
        "kind": movement.kind,
        "currency": movement.currency,
        "invoice_id": movement.invoice_id,
        "cause": movement.cause,
        "created_at": at,
        "detail": json.dumps(figures, sort_keys=True, separators=(",", ":")),
        REPORT_KEY: report_key_at(at, account_id),
    } | figures


def _public(record: dict[str, Any]) -> dict[str, Any]:
    hidden = ("pk", "sk", REPORT_KEY, "detail", "record_type")
    return {key: value for key, value in record.items() if key not in hidden and value is not None}
