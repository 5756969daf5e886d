"""The SQS partial batch response of the queue-driven functions (ReportBatchItemFailures)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from overage.runtime.observability import logger
from overage.runtime.sqs_batch import BatchFailed, process_batch


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


def test_with_workers_the_records_of_a_batch_are_handled_at_once_each_on_its_own_thread() -> None:
    # Ten records meet at a barrier: handled one after another, the first would wait alone and the barrier break.
    barrier = threading.Barrier(10, timeout=10)
    threads: dict[str, int] = {}

    def record_handler(record: dict[str, Any]) -> None:
        threads[record["messageId"]] = threading.get_ident()
        barrier.wait()
        handle(record)

    bodies = ["ok"] * 10
    bodies[3] = bodies[7] = "bad"
    response = process_batch(event(*bodies), record_handler, workers=10)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m7"}]}  # in record order
    assert sorted(threads) == sorted(f"m{n}" for n in range(10))
    assert len(set(threads.values())) == 10


def test_with_workers_a_batch_where_every_record_failed_still_fails_the_invocation() -> None:
    with pytest.raises(BatchFailed, match="all 3 records failed"):
        process_batch(event("bad", "bad", "bad"), handle, workers=10)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))  # formatted on the thread that logged


def test_log_keys_a_record_adds_stay_on_its_own_thread_and_are_cleared_after_it() -> None:
    barrier = threading.Barrier(2, timeout=10)
    handler = Lines()
    handler.setFormatter(logger.registered_formatter)  # the JSON lines Lambda would ship

    def record_handler(record: dict[str, Any]) -> None:
        logger.thread_safe_append_keys(account_id=record["body"])
        barrier.wait()  # both records have added their key before either logs
        logger.info("billing")

    logger.addHandler(handler)
    try:
        process_batch(event("acc_a", "acc_b"), record_handler, workers=2)
    finally:
        logger.removeHandler(handler)

    assert sorted(line["account_id"] for line in handler.lines if line["message"] == "billing") == ["acc_a", "acc_b"]
    assert "account_id" not in logger.thread_safe_get_current_keys()  # nothing left on the calling thread
