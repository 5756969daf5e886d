"""Three costs of moto, the first growing with what a local run has written, taken away without changing what
moto answers.

- ``TransactWriteItems``: moto backs up every table a transaction names with ``copy.deepcopy`` of the whole table
  before it applies the first action, to put it back if the transaction is cancelled. The ledger of a local run
  holds thousands of items, so each transaction copied them all (moto 5.2: 85 ms per transaction in the crash
  tests, the suite's largest single cost). Here the backup is the items the transaction's actions name (at most
  100), copied before moto applies them and put back exactly as moto would have on the same refusals
  (``TransactionCanceledException``, a second action on one item, a validation error); moto's own code does the
  rest, unchanged.
- SQS queue attributes: moto converts every attribute name from CamelCase on each ``GetQueueAttributes`` and on
  each message's retention check; the conversion is memoised (a pure function of the name).
- EventBridge targets: for each event a rule delivers, moto parses its eight input paths (``$.detail`` ...) with
  jsonpath-ng, which builds a new parser each time; the parsed paths are memoised (the same eight strings).

``apply()`` is idempotent; ``overage local up`` and the in-process moto of the tests and the demo call it. moto is
imported inside the functions only, as in ``server.py``: importing this module needs no moto.
"""

from __future__ import annotations

import copy
import functools
import threading
import types
from typing import Any

_applied = False
_lock = threading.Lock()


def apply() -> None:
    """Install the three (once per process)."""
    global _applied
    with _lock:
        if _applied:
            return
        _transactions_back_up_their_items()
        _sqs_attribute_names_memoised()
        _event_input_paths_memoised()
        _applied = True


def _transactions_back_up_their_items() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    real_deepcopy = copy.deepcopy

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # The whole-table backup becomes the table itself: moto's "restore" (tables[name] = backup) is then a
        # no-op, and the items below are what is put back.
        if isinstance(value, Table):
            return value
        return real_deepcopy(value, memo)

    # Only moto.dynamodb.models sees this deepcopy (its ``copy`` name); the interpreter's copy module is untouched.
    models.copy = types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy)  # type: ignore[assignment]
    original = models.DynamoDBBackend.transact_write_items

    def key_of(table: Table, attributes: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
        try:
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError):
            return None  # moto refuses the action itself, before it changes anything
        return hash_key, range_key

    def put_back(table: Table, hash_key: DynamoType, range_key: DynamoType | None, item: Any) -> None:
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backup: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        for action in transact_items[:100]:  # moto refuses more than 100 before it looks at any
            op = next(iter(action.values()), None)
            if not isinstance(op, dict):
                continue
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = key_of(table, op.get("Item") or op.get("Key") or {})
            if key is not None:
                backup.append((table, *key, real_deepcopy(table.get_item(*key))))
        try:
            original(self, transact_items)
        except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
            for table, hash_key, range_key, item in reversed(backup):  # the first copy of a key is its state before
                put_back(table, hash_key, range_key, item)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _sqs_attribute_names_memoised() -> None:
    from moto.sqs import models

    models.camelcase_to_underscores = functools.lru_cache(maxsize=256)(models.camelcase_to_underscores)


def _event_input_paths_memoised() -> None:
    import jsonpath_ng.ext

    # moto.events.utils imports ``parse`` from here at each call; a parsed path is only read (``find``).
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)
