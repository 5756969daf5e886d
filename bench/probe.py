"""Counting and timing the AWS calls the functions make, with botocore event hooks on their own (cached) clients.

``before-call`` fires after the request is built and ``after-call`` once the response is parsed, so the time between
the two is the service's part (moto's, here); everything else in a measured span is the function's own code.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from overage.runtime import aws

SERVICES = ("dynamodb", "sqs", "sesv2", "events", "ssm")


@dataclass
class Probe:
    """What one measured span did: calls by ``service.Operation``, seconds inside them, wall seconds in all."""

    calls: Counter[str] = field(default_factory=Counter)
    aws_seconds: float = 0.0
    wall_seconds: float = 0.0

    def of(self, service: str) -> Counter[str]:
        return Counter({key.split(".", 1)[1]: n for key, n in self.calls.items() if key.startswith(service + ".")})

    def total(self, service: str) -> int:
        return sum(self.of(service).values())

    @property
    def code_seconds(self) -> float:
        return max(0.0, self.wall_seconds - self.aws_seconds)

    def add(self, other: Probe) -> None:
        self.calls.update(other.calls)
        self.aws_seconds += other.aws_seconds
        self.wall_seconds += other.wall_seconds


@contextmanager
def probing(services: tuple[str, ...] = SERVICES) -> Iterator[Probe]:
    """Count and time every call the functions' clients make inside the block."""
    probe = Probe()
    started: list[float] = []

    def before(model: Any, **_: Any) -> None:
        probe.calls[f"{model.service_model.service_name}.{model.name}"] += 1
        started.append(time.perf_counter())

    def after(**_: Any) -> None:
        if started:
            probe.aws_seconds += time.perf_counter() - started.pop()

    clients = [aws.client(service) for service in services]
    for client in clients:
        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)
    begin = time.perf_counter()
    try:
        yield probe
    finally:
        probe.wall_seconds = time.perf_counter() - begin
        for client in clients:
            client.meta.events.unregister("before-call", before)
            client.meta.events.unregister("after-call", after)


def measure(action: Callable[[], object]) -> Probe:
    with probing() as probe:
        action()
    return probe


def fmt(calls: Counter[str]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "-"


def table(title: str, header: list[str], rows: list[list[Any]], note: str = "") -> None:
    """Print a Markdown table (ready to paste into the README's Performance section)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " if n == 0 else " ---: " for n in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    if note:
        print(f"\n{note}")
