"""Fanning a run out to SQS: ten per SendMessageBatch, several calls in flight, every item exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from overage.runtime.fanout import batches, fan_out, send_batch


class FakeSqs:
    """Records each SendMessageBatch; refuses the entries whose body is "refuse"."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(Entries)
        failed = [{"Id": e["Id"], "Code": "InternalError"} for e in Entries if e["MessageBody"] == "refuse"]
        return {"Successful": [], "Failed": failed} if failed else {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_items_go_out_in_batches_of_ten() -> None:
    assert [len(batch) for batch in batches(range(25))] == [10, 10, 5]
    assert list(batches([])) == []


def test_every_item_is_sent_once_with_several_calls_in_flight() -> None:
    sqs = FakeSqs()
    at_once = threading.Barrier(4, timeout=10)  # the first four calls wait for each other: they run concurrently

    def send(batch: list[int]) -> int:
        if batch[0] < 40:
            at_once.wait()
        return send_batch(sqs, "queue", [str(n) for n in batch], "test")

    assert fan_out(range(1_003), send, threads=4) == 1_003
    bodies = [int(entry["MessageBody"]) for call in sqs.calls for entry in call]
    assert sorted(bodies) == list(range(1_003))
    assert len(sqs.calls) == 101
    assert all([e["Id"] for e in call] == [str(n) for n in range(len(call))] for call in sqs.calls)


def test_a_refused_message_fails_the_run_with_the_reason() -> None:
    sqs = FakeSqs()
    with pytest.raises(RuntimeError, match=r"1 billing messages were not queued: .*InternalError"):
        fan_out(["ok"] * 15 + ["refuse"] + ["ok"] * 4, lambda b: send_batch(sqs, "queue", b, "billing"), threads=2)


def test_work_is_read_no_faster_than_it_is_sent() -> None:
    # With 2 threads at most 2 × 2 batches are submitted and not finished: the reader waits for them.
    read = 0
    release = threading.Event()
    sent: list[int] = []

    def items() -> Any:
        nonlocal read
        for n in range(100):
            read = n + 1
            yield n

    def send(batch: list[int]) -> int:
        release.wait(timeout=10)
        sent.extend(batch)
        return len(batch)

    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(fan_out(items(), send, threads=2)))
    runner.start()
    while read < 40 and runner.is_alive():  # what the reader can get to before a send finishes
        threading.Event().wait(0.01)
    threading.Event().wait(0.2)
    assert read <= 5 * 10  # 4 batches in flight + the one being assembled, never the whole 100
    release.set()
    runner.join(timeout=10)
    assert result == [100]
    assert sorted(sent) == list(range(100))
