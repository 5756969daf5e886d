"""The ledger's ``ReportIndex`` (spec §3.6): how the monthly report finds a month's records without a Scan.

Every reportable ledger record carries ``report_key = "<YYYY-MM>#<shard>"`` (shard = ``billing_shard`` of its account,
``00``..``15``), the sparse GSI ``ReportIndex`` is keyed by (``report_key``, ``sk``), so one month is 16 Queries
(one per shard), each returning only that month's records:

- an invoice or credit note: the month it was issued (``issued_at``);
- a notice: the month of its business time (``created_at``);
- a plan change: the month it was requested (``requested_at``);
- a fair-use rollup: the month it rolls up (``month``), replaced in place when a late call recomputes it;
- an excess-profile episode: a small marker item per month in which something happened to it (opened, resolved,
  fee invoiced, reminded, overdue, paid, excess ended or returned, closed), ``sk = REPORT#<YYYY-MM>#EPISODE#<id>``,
  written in the same transaction as the episode's step. An episode opened in January and settled in February is
  listed in both months; the report reads the episode record itself (BatchGetItem) from its marker.

The index projects only the attributes the report reads (``PROJECTED``, as template.yaml declares them): never a
notice's email text, nor its delivery state or answer (written after the notice, by the outbox, SES's feedback and
the customer's click: projecting them would add an index write to each). The report reads those two from the notice
records themselves, 100 keys per BatchGetItem (``notice_states``), keys it has from the index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.account import all_billing_shards, billing_shard
from overage.domain.instants import Month, parse_instant, to_key
from overage.errors import StoreError
from overage.store.dynamo import from_item, query_all, store_error, to_item

REPORT_INDEX = "ReportIndex"
# What ReportIndex projects (template.yaml): the attributes the report reads, and no notice text.
PROJECTED = (
    "record_type",
    "account_id",
    "kind",
    "status",
    "currency",
    "invoice_id",
    "number",
    "lines",
    "net",
    "vat",
    "gross",
    "issued_at",
    "period_start",
    "created_at",
    "detail",
    "episode_id",
    "effective",
    "terms",
    "paying_users",
    "pooled_allowance_minutes",
    "over_pooled_allowance",
    "totals",
    "users",
    "not_entitled",
)
REPORT_KEY = "report_key"
REPORT_MARKER = "REPORT#"
EPISODE_MARKER_TYPE = "report_marker"
BATCH_GET = 100
BATCH_ATTEMPTS = 6


def report_shards() -> list[str]:
    return all_billing_shards()


def report_key(month: Month | str, account_id: str) -> str:
    """``"2026-02#07"``: the month a record is reported in, and the shard of its account."""
    return f"{month}#{billing_shard(account_id)}"


def report_key_at(instant: datetime | str, account_id: str) -> str:
    """The report key of a record dated ``instant`` (its UTC calendar month)."""
    moment = parse_instant(instant) if isinstance(instant, str) else parse_instant(to_key(instant))
    return report_key(Month(moment.year, moment.month), account_id)


def episode_marker_sk(month: Month | str, episode_id: str) -> str:
    return f"{REPORT_MARKER}{month}#EPISODE#{episode_id}"


def episode_marker_item(table: str, account_id: str, episode_id: str, month: Month | str) -> dict[str, Any]:
    """A TransactWriteItems Put listing an episode in ``month``'s report (idempotent: the same item every time)."""
    record = {
        "pk": account_id,
        "sk": episode_marker_sk(month, episode_id),
        "record_type": EPISODE_MARKER_TYPE,
        REPORT_KEY: report_key(month, account_id),
        "account_id": account_id,
        "episode_id": episode_id,
    }
    return {"Put": {"TableName": table, "Item": to_item(record)}}


class ReportRecords:
    """Reads of one month's reportable records: a Query per shard of ``ReportIndex`` and the episodes' records."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    def records(self, month: Month, shard: str) -> Iterator[dict[str, Any]]:
        """Every record of ``month`` whose account is in ``shard`` (projected attributes only), in ``sk`` order."""
        try:
            yield from query_all(
                self.client,
                TableName=self.table,
                IndexName=REPORT_INDEX,
                KeyConditionExpression="report_key = :k",
                ExpressionAttributeValues={":k": {"S": f"{month}#{shard}"}},
            )
        except ClientError as error:
            raise store_error(error, "querying the report index") from error

    def notice_states(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The ``delivery`` and ``answer`` of the notice records named by ``(pk, sk)`` (spec §3.9), 100 per
        BatchGetItem (unprocessed ones retried), eventually consistent: the report counts them as they stand."""
        return self._batch_get(keys, "reading notice states", "pk, sk, #delivery, #answer", consistent=False)

    def _batch_get(
        self, keys: Iterable[tuple[str, str]], action: str, projection: str, *, consistent: bool
    ) -> dict[tuple[str, str], dict[str, Any]]:
        wanted = sorted(set(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET):
            pending: list[dict[str, Any]] = [
                {"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted[start : start + BATCH_GET]
            ]
            request = {
                "Keys": pending,
                "ConsistentRead": consistent,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": {"#delivery": "delivery", "#answer": "answer"},
            }
            for attempt in range(BATCH_ATTEMPTS):
                try:
                    response = self.client.batch_get_item(RequestItems={self.table: request | {"Keys": pending}})
                except ClientError as error:
                    raise store_error(error, action) from error
                for item in response.get("Responses", {}).get(self.table, []):
                    record = from_item(item)
                    found[(str(record["pk"]), str(record["sk"]))] = record
                pending = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off, as the SDK would
            if pending:
                raise StoreError(f"{len(pending)} records stayed unprocessed ({action}); retry the report")
        return found

    def episodes(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The episodes named by ``(account id, episode id)``, 100 per BatchGetItem (unprocessed ones retried)."""
        wanted = sorted(set(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET):
            pending = [
                {"pk": {"S": account_id}, "sk": {"S": f"EPISODE#{episode_id}"}}
                for account_id, episode_id in wanted[start : start + BATCH_GET]
            ]
            for attempt in range(BATCH_ATTEMPTS):
                try:
                    response = self.client.batch_get_item(
                        RequestItems={self.table: {"Keys": pending, "ConsistentRead": True}}
                    )
                except ClientError as error:
                    raise store_error(error, "reading episodes") from error
                for item in response.get("Responses", {}).get(self.table, []):
                    record = from_item(item)
                    found[(str(record["pk"]), str(record["sk"]).removeprefix("EPISODE#"))] = record
                pending = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off, as the SDK would
            if pending:
                raise StoreError(f"{len(pending)} episode records stayed unprocessed; retry the report")
        return found
