"""The calls table (spec §3.3): every completed support call, per account and month, and the indexes of the rollup.

Items (every ``pk`` starts with a fixed prefix, so no account id can collide with another kind of item):

- a call: ``pk = CALLS#<account>#<YYYY-MM>``, ``sk = CALL#<started_at key>#<call_id>``; a month's calls for an
  account are one Query, in time order;
- its call-id guard: ``pk = CALLID#<account>#<call_id>``, ``sk = CALLID``, created in the same transaction, so the
  same call id is stored once whatever event id (or start time) it comes with;
- the month marker: ``pk = MONTH#<YYYY-MM>#<shard>``, ``sk = <account>``: ``calls_seq`` counts the month's calls,
  ``rolled_seq`` is the count the last rollup saw. While the two differ the marker carries ``pending_shard`` and
  ``pending_month``: the sparse ``PendingIndex`` (pending_shard, pending_month) is how a run finds every account-month
  to roll up, the previous month and any earlier month a late call made dirty, one Query per shard, never a Scan.
  After a rollup the marker also holds the month's summary (status, terms, totals), so a month's statuses are one
  Query per shard of ``MONTH#<YYYY-MM>#*`` (``month_summaries``);
- the director's review list: ``pk = DIRECTOR#<YYYY-MM>``, ``sk = REVIEW#<account>#<user>`` (a user in review) or
  ``NOTENT#<account>`` (calls without telephone support); ``listed_in`` names the email that listed it;
- a run's bookkeeping: ``pk = RUN#<run>#<YYYY-MM>#<shard>``, ``sk = <account>`` for each account-month dispatched
  and not yet rolled up, and ``pk = RUN#<run>``, ``sk = MONTHS`` naming every month the run queued messages for (so a
  retried dispatch closes the months an earlier attempt queued). A month of a run is finished when none of its
  shards holds an account-month: the run's closing message (queued after every rollup message of the dispatch)
  checks that once per round. They expire (TTL ``expires_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from overage.domain.fair_use import Call, Entitlement, all_month_shards, month_shard
from overage.domain.instants import Month, parse_instant, to_key
from overage.errors import StoreError
from overage.store.dynamo import from_item, is_condition_failure, query_all, serialize, store_error, to_item
from overage.store.transaction import commit

PENDING_INDEX = "PendingIndex"
RUN_TTL = timedelta(days=90)
BATCH_WRITE = 25
RECORD_ATTEMPTS = 4

RecordOutcome = Literal["recorded", "duplicate", "conflict"]


def calls_pk(account_id: str, month: Month) -> str:
    return f"CALLS#{account_id}#{month}"


def call_sk(call: Call) -> str:
    return f"CALL#{to_key(call.started_at)}#{call.call_id}"


def guard_key(account_id: str, call_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CALLID#{account_id}#{call_id}"}, "sk": {"S": "CALLID"}}


def marker_key(account_id: str, month: Month) -> dict[str, Any]:
    return {"pk": {"S": f"MONTH#{month}#{month_shard(account_id)}"}, "sk": {"S": account_id}}


def director_pk(month: Month) -> str:
    return f"DIRECTOR#{month}"


def run_pk(run: str, month: Month, shard: str) -> str:
    return f"RUN#{run}#{month}#{shard}"


@dataclass(frozen=True)
class RecordResult:
    outcome: RecordOutcome
    month_rolled_up: bool  # the call joined a month that had been rolled up: the next run recomputes it
    stored: dict[str, Any] | None = None  # for a duplicate or a conflict: what was recorded first


@dataclass(frozen=True)
class Marker:
    account_id: str
    month: Month
    calls_seq: int
    rolled_seq: int
    revision: int

    @property
    def pending(self) -> bool:
        return self.calls_seq > self.rolled_seq


class CallsStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    # ------------------------------------------------------------------ calls in
    def record(
        self,
        account_id: str,
        call: Call,
        *,
        event_id: str,
        received_at: datetime,
        subscription_before_change: str | None = None,
    ) -> RecordResult:
        """Store a call once per call id, count it in its month and mark the month for (re)computation, atomically."""
        month = call.month
        shard = month_shard(account_id)
        started = to_key(call.started_at)
        details = {
            "account_id": account_id,
            "call_id": call.call_id,
            "user_id": call.user_id,
            "started_at": started,
            "duration_seconds": call.duration_seconds,
            "entitlement": call.entitlement,
            "paying_users": call.paying_users,
            "event_id": event_id,
            "received_at": to_key(received_at),
            # set when the entitlement was read from before a plan change applied after the call started
            "subscription_before_change": subscription_before_change,
        }
        call_item = {"pk": calls_pk(account_id, month), "sk": call_sk(call), "record_type": "call"} | details
        guard = {"record_type": "call_id"} | details | {"call_pk": call_item["pk"], "call_sk": call_item["sk"]}
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": guard_key(account_id, call.call_id) | to_item(guard),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(call_item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": marker_key(account_id, month),
                    "UpdateExpression": "SET account_id = :a, #m = :m, pending_shard = :s, pending_month = :m "
                    "ADD calls_seq :one",
                    "ExpressionAttributeNames": {"#m": "month"},
                    "ExpressionAttributeValues": {
                        ":a": {"S": account_id},
                        ":m": {"S": str(month)},
                        ":s": {"S": shard},
                        ":one": {"N": "1"},
                    },
                }
            },
        ]
        for _attempt in range(RECORD_ATTEMPTS):
            if not commit(self.client, items, "recording a call"):
                stored = self.stored_call(account_id, call.call_id)
                if stored is None:  # cancelled by a concurrent write to the month marker (another call): again
                    continue
                same = (
                    stored.get("user_id") == call.user_id
                    and stored.get("started_at") == started
                    and stored.get("duration_seconds") == call.duration_seconds
                )
                return RecordResult("duplicate" if same else "conflict", False, stored)
            marker = self.marker(account_id, month)
            return RecordResult("recorded", bool(marker and marker.revision > 0))
        raise StoreError(f"recording call {call.call_id} kept losing to concurrent writes of its month marker")

    def stored_call(self, account_id: str, call_id: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_item(
                TableName=self.table, Key=guard_key(account_id, call_id), ConsistentRead=True
            )
        except ClientError as error:
            raise store_error(error, "reading a call") from error
        item = response.get("Item")
        return from_item(item) if item else None

    # ------------------------------------------------------------------ reads
    def calls(self, account_id: str, month: Month) -> list[Call]:
        """The month's calls of one account: one (paginated) consistent Query."""
        try:
            records = list(
                query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                    ExpressionAttributeValues={":pk": {"S": calls_pk(account_id, month)}, ":p": {"S": "CALL#"}},
                    ConsistentRead=True,
                )
            )
        except ClientError as error:
            raise store_error(error, "reading a month's calls") from error
        return [_call(record) for record in records]

    def marker_key(self, account_id: str, month: Month) -> tuple[str, dict[str, Any]]:
        """The month marker's table and key, for a read batched with other stores' (``dynamo.get_many``)."""
        return self.table, marker_key(account_id, month)

    def marker(self, account_id: str, month: Month) -> Marker | None:
        try:
            response = self.client.get_item(
                TableName=self.table, Key=marker_key(account_id, month), ConsistentRead=True
            )
        except ClientError as error:
            raise store_error(error, "reading a month marker") from error
        item = response.get("Item")
        return self.marker_from_record(account_id, month, from_item(item)) if item else None

    @staticmethod
    def marker_from_record(account_id: str, month: Month, record: dict[str, Any]) -> Marker:
        return Marker(
            account_id=account_id,
            month=month,
            calls_seq=int(record.get("calls_seq", 0)),
            rolled_seq=int(record.get("rolled_seq", 0)),
            revision=int(record.get("revision", 0)),
        )

    def pending(self, up_to: Month) -> Iterator[tuple[str, Month]]:
        """Every (account, month) with calls not yet rolled up, for months up to ``up_to``: one Query per shard."""
        for shard in all_month_shards():
            try:
                for record in query_all(
                    self.client,
                    TableName=self.table,
                    IndexName=PENDING_INDEX,
                    KeyConditionExpression="pending_shard = :s AND pending_month <= :m",
                    ExpressionAttributeValues={":s": {"S": shard}, ":m": {"S": str(up_to)}},
                ):
                    yield record["sk"], Month.parse(record["pending_month"])
            except ClientError as error:
                raise store_error(error, "querying pending months") from error

    def month_summaries(self, month: Month) -> Iterator[dict[str, Any]]:
        """Every account with calls in ``month`` and, once rolled up, its summary (status, terms, totals)."""
        for shard in all_month_shards():
            try:
                for record in query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"MONTH#{month}#{shard}"}},
                ):
                    for key in ("pk", "sk", "pending_shard", "pending_month"):
                        record.pop(key, None)
                    yield record
            except ClientError as error:
                raise store_error(error, "listing a month's accounts") from error

    # ------------------------------------------------------------------ the rollup's writes
    def mark_rolled_item(
        self, marker: Marker, *, revision: int, rolled_at: datetime, summary: dict[str, Any]
    ) -> dict[str, Any]:
        """A TransactWriteItems entry: the month is rolled up as of ``marker.calls_seq`` (cancels if a call arrived
        since, or another run already rolled it up to that count)."""
        names = {"#m": "month"} | {f"#s{n}": key for n, key in enumerate(sorted(summary))}
        values: dict[str, Any] = {
            ":seq": {"N": str(marker.calls_seq)},
            ":rev": {"N": str(revision)},
            ":at": {"S": to_key(rolled_at)},
            ":m": {"S": str(marker.month)},
        }
        sets = ["rolled_seq = :seq", "revision = :rev", "rolled_at = :at"]
        for n, key in enumerate(sorted(summary)):
            values[f":s{n}"] = serialize(summary[key])
            sets.append(f"#s{n} = :s{n}")
        return {
            "Update": {
                "TableName": self.table,
                "Key": marker_key(marker.account_id, marker.month),
                "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE pending_shard, pending_month",
                "ConditionExpression": "calls_seq = :seq AND #m = :m "
                "AND (attribute_not_exists(rolled_seq) OR rolled_seq < :seq)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def director_entry_item(self, month: Month, sk: str, fields: dict[str, Any], seq: int) -> dict[str, Any]:
        """A TransactWriteItems entry creating or refreshing an entry of the director's list (never touching
        ``listed_in``); it cancels when a newer rollup (a higher ``seq``) wrote the entry, whose marker condition
        then fails too: the rollup that carries it is stale either way."""
        fields = {k: v for k, v in fields.items() if v is not None} | {"seq": seq, "month": str(month)}
        names = {f"#f{n}": key for n, key in enumerate(sorted(fields))}
        values = {f":f{n}": serialize(fields[key]) for n, key in enumerate(sorted(fields))}
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": director_pk(month)}, "sk": {"S": sk}},
                "UpdateExpression": "SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
                "ConditionExpression": "attribute_not_exists(#seq) OR #seq <= :seq",
                "ExpressionAttributeNames": names | {"#seq": "seq"},
                "ExpressionAttributeValues": values | {":seq": {"N": str(seq)}},
            }
        }

    def put_director_entry(self, month: Month, sk: str, fields: dict[str, Any], seq: int) -> None:
        """``director_entry_item`` on its own (an older rollup's figures never overwrite a newer one's)."""
        entry = self.director_entry_item(month, sk, fields, seq)["Update"]
        try:
            self.client.update_item(**entry)
        except ClientError as error:
            if not is_condition_failure(error):  # a newer rollup wrote it already
                raise store_error(error, "writing the director's list") from error

    def director_entries(self, month: Month) -> list[dict[str, Any]]:
        try:
            return list(
                query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": director_pk(month)}},
                    ConsistentRead=True,
                )
            )
        except ClientError as error:
            raise store_error(error, "reading the director's list") from error

    def list_entry_item(self, month: Month, sk: str, notice_id: str) -> dict[str, Any]:
        """A TransactWriteItems entry: this entry is listed in that email (cancels if another email listed it)."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": director_pk(month)}, "sk": {"S": sk}},
                "UpdateExpression": "SET listed_in = :n",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(listed_in)",
                "ExpressionAttributeValues": {":n": {"S": notice_id}},
            }
        }

    # ------------------------------------------------------------------ a run's bookkeeping
    def expect(self, run: str, month: Month, account_ids: Iterable[str], now: datetime) -> None:
        """Record the account-months a run dispatches, before their messages are queued."""
        expires = _epoch(now + RUN_TTL)
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": run_pk(run, month, month_shard(account_id))},
                        "sk": {"S": account_id},
                        "expires_at": {"N": str(expires)},
                    }
                }
            }
            for account_id in account_ids
        ]
        for start in range(0, len(requests), BATCH_WRITE):
            self._batch_write(requests[start : start + BATCH_WRITE])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table: requests}
        for _attempt in range(8):
            try:
                response = self.client.batch_write_item(RequestItems=pending)
            except ClientError as error:
                raise store_error(error, "recording a run's accounts") from error
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
        raise store_error(
            ClientError({"Error": {"Code": "UnprocessedItems"}}, "BatchWriteItem"), "recording a run's accounts"
        )

    def done_item(self, run: str, month: Month, account_id: str) -> dict[str, Any]:
        """A TransactWriteItems entry closing the run's account-month (written with the rollup itself)."""
        key = {"pk": {"S": run_pk(run, month, month_shard(account_id))}, "sk": {"S": account_id}}
        return {"Delete": {"TableName": self.table, "Key": key}}

    def done(self, run: str, month: Month, account_id: str) -> None:
        try:
            self.client.delete_item(**self.done_item(run, month, account_id)["Delete"])
        except ClientError as error:
            raise store_error(error, "closing a run's account") from error

    def note_run_months(self, run: str, months: Iterable[Month], now: datetime) -> None:
        """Record that the run queues messages for ``months`` (before they are queued)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"RUN#{run}"}, "sk": {"S": "MONTHS"}},
                UpdateExpression="ADD months :m SET expires_at = :e",
                ExpressionAttributeValues={
                    ":m": {"SS": sorted(str(month) for month in months)},
                    ":e": {"N": str(_epoch(now + RUN_TTL))},
                },
            )
        except ClientError as error:
            raise store_error(error, "recording a run's months") from error

    def run_months(self, run: str) -> set[Month]:
        """The months the run queued messages for so far (an earlier attempt of the same run included)."""
        try:
            response = self.client.get_item(
                TableName=self.table, Key={"pk": {"S": f"RUN#{run}"}, "sk": {"S": "MONTHS"}}, ConsistentRead=True
            )
        except ClientError as error:
            raise store_error(error, "reading a run's months") from error
        return {Month.parse(text) for text in (response.get("Item") or {}).get("months", {}).get("SS", [])}

    def run_finished(self, run: str, month: Month) -> bool:
        """No account-month of the run's month is left to roll up: one Query (Limit 1) per shard, stopping at the
        first shard that still holds one. Asked by the run's closing message, queued after the whole dispatch."""
        try:
            return not any(self._any(run_pk(run, month, shard)) for shard in all_month_shards())
        except ClientError as error:
            raise store_error(error, "checking a run") from error

    def _any(self, pk: str) -> bool:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            Limit=1,
            ConsistentRead=True,
        )
        return bool(response.get("Items"))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _call(record: dict[str, Any]) -> Call:
    entitlement: Entitlement = record["entitlement"]
    return Call(
        call_id=record["call_id"],
        user_id=record["user_id"],
        started_at=parse_instant(record["started_at"]),
        duration_seconds=int(record["duration_seconds"]),
        entitlement=entitlement,
        paying_users=int(record["paying_users"]),
    )
