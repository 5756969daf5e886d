"""Partial batch responses for the SQS-triggered functions (``ReportBatchItemFailures``), records handled at once.

The same contract as Powertools' ``BatchProcessor`` + ``process_partial_response`` for SQS: each record is handled on
its own; a record whose handler raises is reported in ``batchItemFailures`` (SQS makes it visible again, and after
``maxReceiveCount`` moves it to the dead-letter queue); when every record failed the invocation itself fails, so the
Errors alarm sees it. Written here because importing Powertools' batch utility costs ~60 ms of cold start (asyncio,
every event data class and, with pydantic installed, every parser model) for a loop of a few lines.

With ``workers`` > 1 the records run on a thread pool: a record's time is almost all waiting on DynamoDB, SES and
EventBridge, so ten records at once take little longer than one (boto3 clients are thread-safe; every handler
is safe against a concurrent run of the same record, since two invocations can already get the same message).
Log keys a handler adds are per thread (``Logger.thread_safe_append_keys``), cleared around each record.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from overage.runtime.observability import logger

SqsRecord = dict[str, Any]  # one entry of the event's "Records": messageId, body, attributes, ...


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails (and the whole batch is retried)."""


def process_batch(event: dict[str, Any], handle: Callable[[SqsRecord], None], *, workers: int = 1) -> dict[str, Any]:
    """Handle each record of an SQS event, up to ``workers`` at once; return the partial batch response."""
    records: list[SqsRecord] = event.get("Records") or []

    def attempt(record: SqsRecord) -> BaseException | None:
        logger.thread_safe_clear_keys()
        try:
            handle(record)
        except Exception as error:
            logger.exception("SQS record failed", extra={"message_id": record.get("messageId")})
            return error
        finally:
            logger.thread_safe_clear_keys()
        return None

    if workers > 1 and len(records) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(records)), thread_name_prefix="record") as pool:
            outcomes = list(pool.map(attempt, records))
    else:
        outcomes = [attempt(record) for record in records]
    errors = [(record, error) for record, error in zip(records, outcomes, strict=True) if error is not None]
    if records and len(errors) == len(records):
        first = errors[0][1]
        raise BatchFailed(f"all {len(records)} records failed; the first: {first!r}") from first
    return {"batchItemFailures": [{"itemIdentifier": str(record["messageId"])} for record, _ in errors]}
