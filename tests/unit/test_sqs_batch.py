"""The SQS partial batch response of the queue-driven functions (ReportBatchItemFailures)."""

from __future__ import annotations

from typing import Any

import pytest
from overage.sqs_batch import BatchFailed, process_batch


def event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{n}", "body": body} for n, body in enumerate(bodies)]}


def handle(record: dict[str, Any]) -> None:
    if record["body"] == "bad":
        raise ValueError("cannot bill this one")


def test_only_the_records_that_failed_are_reported_and_the_others_are_handled() -> None:
    handled: list[str] = []

    def record_handler(record: dict[str, Any]) -> None:
        handle(record)
        handled.append(record["messageId"])

    assert process_batch(event("ok", "bad", "ok"), record_handler) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert handled == ["m0", "m2"]


def test_a_batch_where_every_record_failed_fails_the_invocation() -> None:
    with pytest.raises(BatchFailed, match="all 2 records failed"):
        process_batch(event("bad", "bad"), handle)


def test_a_batch_that_succeeded_reports_no_failure() -> None:
    assert process_batch(event("ok"), handle) == {"batchItemFailures": []}
