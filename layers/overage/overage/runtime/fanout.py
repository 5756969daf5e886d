"""Fanning a scheduled run's work out to its SQS queue: ten messages per ``SendMessageBatch``, several calls in flight.

A day with a million accounts due is 100,000 calls: one after another they would outlast the function's timeout, so
``fan_out`` keeps ``THREADS`` of them in flight (boto3 clients are thread-safe; ``aws.POOL`` gives each client enough
connections) and reads the work no faster than it is sent (bounded memory). Messages may go out in any order: every
consumer is idempotent and independent of the others. A refused entry fails the run; the schedule retries it whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import Any, TypeVar

SQS_BATCH = 10
THREADS = 16

Item = TypeVar("Item")


def batches(items: Iterable[Item], size: int = SQS_BATCH) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def send_batch(sqs: Any, queue_url: str, bodies: list[str], what: str, *, delay_seconds: int | None = None) -> int:
    """Queue up to ten message bodies in one call (each held back ``delay_seconds``, SQS's DelaySeconds, when
    given); raise if SQS refused any of them. Returns how many were queued."""
    entries: list[dict[str, Any]] = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)]
    if delay_seconds is not None:
        for entry in entries:
            entry["DelaySeconds"] = delay_seconds
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    failed = response.get("Failed") or []
    if failed:
        raise RuntimeError(f"{len(failed)} {what} messages were not queued: {failed[0]}")
    return len(entries)


def fan_out(items: Iterable[Item], send: Callable[[list[Item]], int], threads: int = THREADS) -> int:
    """Call ``send`` on every batch of ten ``items``, up to ``threads`` at once; the sum of what ``send`` returned.
    The first failure stops the run (after the calls in flight) and is raised."""
    total = 0
    in_flight: set[Future[int]] = set()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fan-out") as pool:
        for batch in batches(items):
            in_flight.add(pool.submit(send, batch))
            if len(in_flight) >= 2 * threads:  # bounded memory: read the work no faster than it is sent
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                total += sum(future.result() for future in done)
        total += sum(future.result() for future in in_flight)
    return total
