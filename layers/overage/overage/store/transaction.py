"""The unit of work: every multi-item write is one ``TransactWriteItems`` through ``Transaction.commit``.

Stores, the outbox and the services add entries (``add``); ``commit`` writes them all or none and says whether we
won the race: True when written, False when a condition of ours failed (someone else already wrote what we meant
to write: the caller reads again and decides again, or knows the work is done). Everything else is told apart and
never mistaken for a lost race:
- a transaction conflict (another transaction on the same items in flight) or throttling cancels the whole
  transaction without applying it: it is retried, with jittered backoff, up to ``ATTEMPTS`` times, then raised;
- any other error is raised as ``StoreError`` (the invocation fails and Lambda or the CRM retries).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from overage.store.dynamo import cancellation_codes, is_condition_failure, is_retryable_cancellation, store_error

ATTEMPTS = 4
BACKOFF_SECONDS = 0.05


@dataclass(frozen=True)
class Outcome:
    """What one commit did: written, or not written because the conditions of the entries ``failed`` (their indexes
    in the transaction, from the CancellationReasons) did not hold."""

    written: bool
    failed: frozenset[int] = frozenset()


class Transaction:
    """Entries of one ``TransactWriteItems`` (at most 100), committed once."""

    def __init__(self, client: Any, items: Iterable[dict[str, Any]] = ()) -> None:
        self.client = client
        self.items: list[dict[str, Any]] = list(items)

    def add(self, *items: dict[str, Any]) -> Transaction:
        self.items.extend(items)
        return self

    def commit(self, action: str) -> bool:
        """Write every entry or none: True when written, False when we lost the race (see the module doc)."""
        return self.commit_telling(action).written

    def commit_telling(self, action: str) -> Outcome:
        """``commit``, telling which entries' conditions failed when it was not written (a caller that holds
        conditions of different owners, e.g. ``services.invoicing``: the series counter moved, or the caller's own
        state did)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.client.transact_write_items(TransactItems=self.items)
                return Outcome(True)
            except ClientError as error:
                if is_condition_failure(error):
                    codes = cancellation_codes(error)
                    failed = frozenset(i for i, code in enumerate(codes) if code == "ConditionalCheckFailed")
                    return Outcome(False, failed or frozenset(range(len(self.items))))
                if not is_retryable_cancellation(error) or attempt == ATTEMPTS:
                    raise store_error(error, action) from error
                time.sleep(BACKOFF_SECONDS * attempt * (1 + random.random()))  # noqa: S311  # nosec B311 - jitter, not security
        raise AssertionError("unreachable")  # pragma: no cover


def commit(client: Any, items: Iterable[dict[str, Any]], action: str) -> bool:
    """``Transaction(client, items).commit(action)``."""
    return Transaction(client, items).commit(action)
