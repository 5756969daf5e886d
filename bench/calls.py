"""DynamoDB calls (and the other AWS calls) of the scheduled runs, counted on the functions' own clients.

* Renewal: a day with nothing due at 1k, 10k and 50k accounts (the DueIndex is queried per shard, never scanned, so
  it must stay flat), then a day that bills accounts: calls per billed account, and the time of each SQS batch.
* Grace expiry: calls per expired grace (the fee invoice, its notice), per SQS batch.
* Fair-use rollup: calls per rolled-up account-month, per SQS batch; the run's closing message (one per month of the
  run: it sends the director's list) measured apart, as the dispatcher is.

The dispatcher (schedule invocation) and the consumer (SQS batches) are measured apart: the model scales them apart.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from overage.runtime.observability import logger
from overage.store.dynamo import from_item
from overage_local.runtime import sqs_event

from bench import seed
from bench.probe import Probe, fmt, measure, probing, table
from tests.support import (
    World,
    call_body,
    contacts_body,
    moto_world,
    profiles_body,
    records_one_after_another,
    upsert_body,
)

NOTHING_DUE_SIZES = (1_000, 10_000, 50_000)
BILLED = 200  # accounts billed on one day (20 SQS batches of 10)
GRACES = 40
ROLLUPS = 40
CALL_GOALS = {"renewal": 3, "grace": 3, "fair use": 4}  # DynamoDB calls per unit (issues 9 and 20)


@dataclass
class Run:
    """One scheduled run: the dispatcher's calls and every SQS batch the fan-out delivered."""

    name: str
    units: int  # accounts billed / graces expired / account-months rolled up
    dispatcher: Probe
    batches: list[Probe] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # messages per batch
    log_bytes: int = 0  # what the batches logged (at INFO), when measured
    closing: Probe | None = None  # a fair-use run's closing messages: once per month of the run, not per unit

    @property
    def consumer(self) -> Probe:
        total = Probe()
        for batch in self.batches:
            total.add(batch)
        return total

    def per_unit(self, service: str = "dynamodb") -> float:
        return self.consumer.total(service) / self.units

    def batch_seconds(self, part: str = "wall") -> float:
        """Median seconds of a full batch (10 messages): ``wall``, ``code`` (outside AWS calls) or ``aws``."""
        full = [b for b, n in zip(self.batches, self.sizes, strict=True) if n == max(self.sizes)] or self.batches
        values = [
            b.wall_seconds if part == "wall" else b.code_seconds if part == "code" else b.aws_seconds for b in full
        ]
        return statistics.median(values)


def drain(world: World, queue_id: str, function_id: str, batch_size: int = 10) -> tuple[list[Probe], list[int]]:
    """Deliver the queue to its function batch by batch, as the event source mapping would, timing each batch."""
    url = world.sqs.get_queue_url(QueueName=world.template.physical_id(queue_id))["QueueUrl"]
    arn = world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    probes: list[Probe] = []
    sizes: list[int] = []
    while True:
        messages: list[dict[str, Any]] = []
        while len(messages) < batch_size:
            got = world.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=batch_size - len(messages), MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                break
            messages += got
        if not messages:
            return probes, sizes
        event = sqs_event(messages, arn, world.template.region)
        with probing() as probe:
            result = world.invoke(function_id, event) or {}
        probes.append(probe)
        sizes.append(len(messages))
        if result.get("batchItemFailures"):
            raise RuntimeError(f"{function_id} failed part of a batch: {result}")
        world.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


# ------------------------------------------------------------------------------------------------ renewal
def nothing_due(world: World) -> list[tuple[int, Probe]]:
    """The same quiet day (nothing due before 20 Feb) as the table grows to 1k, 10k, 50k accounts."""
    # The seeded items must be what the store writes: compare with one account made through the webhook.
    world.webhook(upsert_body("shape_check", billing_cycle="monthly", started_on="2026-01-20"))
    world.webhook(contacts_body("shape_check", "2026-01-20T12:00:00Z", 130))
    seed.put_all(world.ddb, world.accounts_table, iter(seed.account_items(999_999, date(2026, 1, 20), contacts=130)))
    seed.check_shape(world.account_item("shape_check"), world.account_item(seed.account_id(999_999)))
    quiet: list[tuple[int, Probe]] = []
    seeded = 0
    for size in NOTHING_DUE_SIZES:
        seed.seed_accounts(world.ddb, world.accounts_table, seeded, size, date(2026, 1, 20))  # due on 20 Feb
        seeded = size
        quiet.append((size, measure(lambda: world.run("RenewalBillingFunction", {"as_of": "2026-01-25T00:15:00Z"}))))
    return quiet


def renewal(world: World) -> Run:
    """A day that bills: monthly t50 accounts with 130 active contacts (subscription + overrun, one notice each),
    among 1,000 accounts not due, in a world of its own (the quiet day's 50,000 accounts stay out of its reads)."""
    seed.seed_accounts(world.ddb, world.accounts_table, 0, 1_000, date(2026, 1, 20))
    first, last = 1_000, 1_000 + BILLED
    seed.seed_accounts(world.ddb, world.accounts_table, first, last, date(2026, 1, 12), contacts=130)
    dispatcher = measure(lambda: world.invoke("RenewalBillingFunction", {"as_of": "2026-02-12T00:15:00Z"}))
    # At the template's default log level (INFO) the batches' log lines (and metrics, EMF) are CloudWatch Logs' bill.
    level, logs = logger.log_level, io.StringIO()
    stream = logger.registered_handler.setStream(logs)
    logger.setLevel("INFO")
    try:
        with contextlib.redirect_stdout(logs):  # the metrics (EMF) are printed
            batches, sizes = drain(world, "BillingQueue", "RenewalBillingFunction")
    finally:
        logger.setLevel(level)
        logger.registered_handler.setStream(stream)
    invoices = sum(len(world.invoices(seed.account_id(n))) for n in range(first, last))
    if invoices != BILLED:
        raise AssertionError(f"{invoices} invoices for {BILLED} billed accounts")
    return Run("renewal", BILLED, dispatcher, batches, sizes, len(logs.getvalue().encode()))


# ------------------------------------------------------------------------------------------------ grace expiry
def grace_expiry(world: World) -> Run:
    """Standard accounts (limit 200) at 230 profiles from 1 Mar: the grace ends 15 Mar, the run bills the fee."""
    for n in range(GRACES):
        ident = f"grace_{n:04d}"
        world.webhook(upsert_body(ident, billing_cycle="monthly", started_on="2026-02-20", customer_since="2026-02-20"))
        world.webhook(profiles_body(ident, "2026-03-01T00:00:00Z", 230))
    dispatcher = measure(lambda: world.invoke("GraceExpiryFunction", {"as_of": "2026-03-15T00:05:00Z"}))
    batches, sizes = drain(world, "GraceQueue", "GraceExpiryFunction")
    fees = sum(1 for n in range(GRACES) for i in world.invoices(f"grace_{n:04d}") if i["kind"] != "renewal")
    if fees != GRACES:
        raise AssertionError(f"{fees} fee invoices for {GRACES} expired graces")
    return Run("grace", GRACES, dispatcher, batches, sizes)


# ------------------------------------------------------------------------------------------------ fair use
def fair_use(world: World) -> Run:
    """``complete`` accounts with three January calls each, one user in review (a notice and a review entry)."""
    for n in range(ROLLUPS):
        ident = f"fairuse_{n:04d}"
        world.webhook(
            upsert_body(ident, package="complete", billing_cycle="monthly", started_on="2025-06-01", paying_users=2)
        )
        for k, (user, seconds) in enumerate((("u1", 1_200), ("u1", 2_700), ("u2", 600))):
            world.webhook(call_body(ident, f"{ident}_c{k}", f"2026-01-05T{9 + k:02d}:00:00Z", seconds, user))
    dispatcher = measure(lambda: world.invoke("FairUseRollupFunction", {"as_of": "2026-02-01T00:15:00Z"}))
    closing = set_closing_messages_aside(world, "FairUseQueue")
    batches, sizes = drain(world, "FairUseQueue", "FairUseRollupFunction")
    rolled = sum(1 for n in range(ROLLUPS) if world.ledger(f"fairuse_{n:04d}", "FAIRUSE#2026-01"))
    if rolled != ROLLUPS:
        raise AssertionError(f"{rolled} rollups for {ROLLUPS} accounts")
    queue = world.sqs.get_queue_url(QueueName=world.template.physical_id("FairUseQueue"))["QueueUrl"]
    for body in closing:  # after every rollup, as the delay (FairUseCloseDelaySeconds) makes it at scale
        world.sqs.send_message(QueueUrl=queue, MessageBody=body)
    closers, _ = drain(world, "FairUseQueue", "FairUseRollupFunction")
    lists = [e for e in world.emails() if e.destinations["ToAddresses"] == ["director@bench.example"]]
    if len(closing) != 1 or len(closers) != 1 or len(lists) != 1:
        raise AssertionError(f"{len(closing)} closing messages, {len(lists)} review lists")
    return Run("fair use", ROLLUPS, dispatcher, batches, sizes, closing=closers[0])


def set_closing_messages_aside(world: World, queue_id: str) -> list[str]:
    """Take the run's closing messages out of the queue (the bodies), leaving the rollups to deliver."""
    url = world.sqs.get_queue_url(QueueName=world.template.physical_id(queue_id))["QueueUrl"]
    received: list[dict[str, Any]] = []
    while got := world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += got
    closing = []
    for message in received:
        if json.loads(message["Body"]).get("kind") == "close_run":
            closing.append(message["Body"])
            world.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        else:
            world.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    return closing


@dataclass
class CallsResult:
    quiet: list[tuple[int, Probe]]
    renewal: Run
    grace: Run
    fair_use: Run
    items: dict[str, dict[str, Any]]


def billed_items(world: World) -> dict[str, dict[str, Any]]:
    """What one billed account's run left (DynamoDB JSON): its account item, its invoice, its notice."""
    ident = seed.account_id(1_000)
    account = world.ddb.get_item(TableName=world.accounts_table, Key={"pk": {"S": ident}, "sk": {"S": "ACCOUNT"}})
    ledger = world.ddb.query(
        TableName=world.ledger_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ident}},
    )["Items"]
    items = {"account": account["Item"]}
    for item in ledger:
        items[str(from_item(item).get("record_type", "other"))] = item
    return items


def dynamo_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (strings in UTF-8 bytes, numbers ~21 bytes
    at most, 3 bytes of overhead for a map or list plus 1 per element)."""

    def value_size(value: dict[str, Any]) -> int:
        ((kind, inner),) = value.items()
        if kind == "S":
            return len(inner.encode())
        if kind == "N":
            digits = len(inner.replace("-", "").replace(".", "").lstrip("0")) or 1
            return (digits + 1) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "B":
            return len(inner)  # raw bytes (the client gives them decoded from base64)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        return len(str(inner))

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def run() -> CallsResult:
    overrides = {"LogLevel": "ERROR", "DirectorEmail": "director@bench.example"}
    with moto_world(parameter_overrides=overrides) as world:
        quiet = nothing_due(world)
    # The records of a batch one after another: the hooks then tell each call's time from the code's (moto answers
    # one request at a time anyway) and count exactly; the model runs them BATCH_WORKERS at a time, as deployed.
    with moto_world(parameter_overrides=overrides) as world, records_one_after_another(world):
        renewal_run = renewal(world)
        items = billed_items(world)
    # Grace expiry in a world of its own: the daily run also duns every other invoice (issue 16), and the renewal
    # run's 200 invoices, overdue by 15 March, would be counted as the graces' calls.
    with moto_world(parameter_overrides=overrides) as world, records_one_after_another(world):
        grace_run = grace_expiry(world)
        fair_use_run = fair_use(world)
    return CallsResult(quiet, renewal_run, grace_run, fair_use_run, items)


def report(result: CallsResult) -> None:
    rows: list[list[Any]] = []
    for size, probe in result.quiet:
        ddb = probe.of("dynamodb")
        rows.append([f"renewal, nothing due, {size:,} accounts", sum(ddb.values()), ddb["Scan"], "-", fmt(ddb)])
    for run_ in (result.renewal, result.grace, result.fair_use):
        ddb = run_.dispatcher.of("dynamodb")
        rows.append([f"{run_.name}: schedule (dispatcher)", sum(ddb.values()), ddb["Scan"], "-", fmt(ddb)])
        consumer = run_.consumer.of("dynamodb")
        unit = {"renewal": "billed account", "grace": "expired grace", "fair use": "rolled-up account"}[run_.name]
        goal = CALL_GOALS[run_.name]
        verdict = "met" if run_.per_unit() <= goal else f"over by {run_.per_unit() - goal:.2f}"
        rows.append(
            [
                f"{run_.name}: {run_.units} × {unit} (SQS batches)",
                sum(consumer.values()),
                consumer["Scan"],
                f"**{run_.per_unit():.2f}** (goal ≤ {goal}: {verdict})",
                fmt(consumer),
            ]
        )
        if run_.closing is not None:
            closing = run_.closing.of("dynamodb")
            rows.append(
                [
                    f"{run_.name}: closing the run (once a month)",
                    sum(closing.values()),
                    closing["Scan"],
                    "-",
                    fmt(closing),
                ]
            )
    table(
        "DynamoDB calls (botocore before-call hooks on the functions' clients)",
        ["run", "calls", "scans", "per unit", "by operation"],
        rows,
        "Goals: ≤ 3 calls per billed account, ≤ 3 per expired grace, ≤ 4 per rolled-up account (issue 20), zero "
        "Scans, and a constant cost for a day with nothing due.",
    )
    other_rows = [
        [run_.name, f"{run_.per_unit('sesv2'):.2f}", f"{run_.per_unit('events'):.2f}", f"{run_.per_unit('sqs'):.2f}"]
        for run_ in (result.renewal, result.grace, result.fair_use)
    ]
    table("Other AWS calls per unit (consumer)", ["run", "SES emails", "EventBridge PutEvents", "SQS"], other_rows)
