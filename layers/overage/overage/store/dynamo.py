"""DynamoDB plumbing shared by the store modules: (de)serialisation and ClientError → domain errors."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from overage.errors import StoreError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    """Make a Python value DynamoDB-serialisable: no floats (money is Decimal), no empty sets."""
    if isinstance(value, float):
        raise TypeError("floats are not stored; use Decimal")
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_plain(value))


def to_item(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: serialize(value) for key, value in record.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _normalise(_deserializer.deserialize(value)) for key, value in item.items()}


def _normalise(value: Any) -> Any:
    """Integers come back from DynamoDB as Decimal; give them back as int so models validate strictly."""
    if isinstance(value, Decimal) and value == value.to_integral_value() and value.as_tuple().exponent == 0:
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# Cancellation reasons that mean "not applied, try again": the items were busy, or the table was.
RETRYABLE_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)


def cancellation_codes(error: ClientError) -> list[str]:
    return [str(reason.get("Code", "")) for reason in error.response.get("CancellationReasons", []) or []]


def is_condition_failure(error: ClientError) -> bool:
    """A conditional write lost the race: its condition failed, and (for a transaction) nothing else cancelled it.
    A transaction cancelled by a conflict or throttling is not one (``store.transaction`` retries it)."""
    code = error_code(error)
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    codes = cancellation_codes(error)
    return "ConditionalCheckFailed" in codes and not RETRYABLE_CANCELLATIONS.intersection(codes)


def is_retryable_cancellation(error: ClientError) -> bool:
    """A transaction cancelled without being applied because its items or the table were busy."""
    codes = cancellation_codes(error)
    return error_code(error) == "TransactionCanceledException" and bool(RETRYABLE_CANCELLATIONS.intersection(codes))


def old_item(error: ClientError) -> dict[str, Any] | None:
    """The item a failed conditional write saw (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    item = error.response.get("Item")
    return from_item(item) if item else None


def store_error(error: ClientError, action: str) -> StoreError:
    return StoreError(f"{action} failed: {error_code(error) or 'unknown error'}")


def query_all(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query, following LastEvaluatedKey."""
    while True:
        page = client.query(**kwargs)
        for item in page.get("Items", []):
            yield from_item(item)
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


BATCH_GET_ATTEMPTS = 4


def get_many(client: Any, keys: Mapping[str, tuple[str, dict[str, Any]]], action: str) -> dict[str, dict[str, Any]]:
    """Strongly consistent reads of a few items, across tables, in one ``BatchGetItem`` (at most 100 keys).

    ``keys`` names each read: ``{name: (table, key)}``; the answer holds each name whose item exists (decoded).
    Keys DynamoDB leaves unprocessed (throttling) are asked for again, with backoff, up to ``BATCH_GET_ATTEMPTS``.
    """
    wanted: dict[str, list[dict[str, Any]]] = {}
    for table, key in keys.values():
        wanted.setdefault(table, []).append(key)
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {table: {"Keys": ks, "ConsistentRead": True} for table, ks in wanted.items()}
    for attempt in range(1, BATCH_GET_ATTEMPTS + 1):
        try:
            response = client.batch_get_item(RequestItems=request)
        except ClientError as error:
            raise store_error(error, action) from error
        for table, items in response.get("Responses", {}).items():
            for item in items:
                for name, (name_table, key) in keys.items():
                    if name_table == table and all(item.get(k) == v for k, v in key.items()):
                        found[name] = from_item(item)
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
        if attempt < BATCH_GET_ATTEMPTS:
            time.sleep(0.05 * attempt * (1 + random.random()))  # noqa: S311  # nosec B311 - jitter, not security
    raise StoreError(f"{action} failed: keys left unprocessed after {BATCH_GET_ATTEMPTS} attempts")
