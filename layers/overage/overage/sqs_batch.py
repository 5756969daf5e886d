"""Partial batch responses for the SQS-triggered functions (``ReportBatchItemFailures``).

The same contract as Powertools' ``BatchProcessor`` + ``process_partial_response`` for SQS: each record is handled on
its own; a record whose handler raises is reported in ``batchItemFailures`` (SQS makes it visible again, and after
``maxReceiveCount`` moves it to the dead-letter queue); when every record failed the invocation itself fails, so the
Errors alarm sees it. Written here because importing Powertools' batch utility costs ~60 ms of cold start (asyncio,
every event data class and, with pydantic installed, every parser model) for a loop of a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from overage.observability import logger

SqsRecord = dict[str, Any]  # one entry of the event's "Records": messageId, body, attributes, ...


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails (and the whole batch is retried)."""


def process_batch(event: dict[str, Any], handle: Callable[[SqsRecord], None]) -> dict[str, Any]:
    """Handle each record of an SQS event; return the partial batch response."""
    records: list[SqsRecord] = event.get("Records") or []
    failures: list[dict[str, str]] = []
    errors: list[BaseException] = []
    for record in records:
        try:
            handle(record)
        except Exception as error:
            logger.exception("SQS record failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": str(record["messageId"])})
            errors.append(error)
    if records and len(failures) == len(records):
        raise BatchFailed(f"all {len(records)} records failed; the first: {errors[0]!r}") from errors[0]
    return {"batchItemFailures": failures}
