"""Scale model: the time and the AWS on-demand cost of billing 1M accounts a month with the fan-out.

Inputs measured by this bench (``bench.calls``): the calls of the renewal run per billed account (DynamoDB by
operation, SES, EventBridge), the dispatcher's calls, the sizes of the items a billed account writes (so request
units follow DynamoDB's rounding and each index's projection), and the function's own code time per SQS batch.
Inputs assumed (printed, so they can be checked and changed): in-region service latencies and the CPU share Lambda
gives a function's memory. The model bills all 1M accounts in one run (the worst case: a catch-up, or every account
on one anchor day); spread over a month's 28-31 billing days each day is a thirtieth of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from overage.domain.catalog import default_catalog
from overage.domain.invoice import SERIES_SHARDS
from overage.runtime.fanout import THREADS as DISPATCH_THREADS
from overage_local.template import LocalTemplate

from bench.calls import CallsResult, dynamo_size
from bench.layer import ROOT
from bench.probe import table

ACCOUNTS = 1_000_000
CONCURRENCY = 50  # the billing queue's event source mapping: ScalingConfig.MaximumConcurrency
SQS_BATCH = 10
GOAL_MINUTES = 15
GOAL_DOLLARS = 14.0  # per 1M account-months without SES (issue 20; issue 9's $5 was retired)
# Credit applied at issue (services/settlement.credit_at_issue, issue 16): an account that holds credit in the
# invoice's currency reads its balance (one strongly consistent GetItem, under 4 KB) and its billing transaction also
# moves the balance (an Update, under 1 KB: 2 WRU transactional) and records the movement (a Put, under 1 KB: 2 WRU,
# +1 for ReportIndex). An account that never had credit costs nothing: the account item names the currencies it ever
# had credit in (``credit_currencies``). The share of accounts holding credit at a billing date is assumed here.
CREDIT_SHARE = 0.02
CREDIT_WRU = 5
CREDIT_RRU = 1

# eu-west-1 (Ireland) on-demand list prices, USD, without free tiers (checked November 2026; change them here).
PRICE_WRU = 0.7068 / 1e6  # DynamoDB on-demand write request unit (the Nov 2024 price: half the earlier 1.4135/M)
PRICE_RRU = 0.1415 / 1e6  # DynamoDB on-demand read request unit (half the earlier 0.283/M)
PRICE_LAMBDA_GB_S = 0.0000133334  # Lambda arm64, per GB-second
PRICE_LAMBDA_REQUEST = 0.20 / 1e6  # Lambda, per invocation
PRICE_SQS_REQUEST = 0.40 / 1e6  # SQS standard queue, per request (each 64 KB chunk)
PRICE_SES_EMAIL = 0.10 / 1000  # SES outbound email
PRICE_EVENTBRIDGE_EVENT = 1.00 / 1e6  # EventBridge custom event (each 64 KB chunk)
PRICE_XRAY_TRACE = 5.00 / 1e6  # X-Ray traces recorded (Tracing: Active in template.yaml)
# X-Ray's default sampling rule: the first request each second, then 5 % of the others.
XRAY_RESERVOIR_PER_SECOND = 1
XRAY_FIXED_RATE = 0.05
PRICE_LOGS_GB = 0.57  # CloudWatch Logs ingestion (standard class), per GB
PRICE_LOGS_STORAGE_GB_MONTH = 0.03  # CloudWatch Logs storage (archived), per GB-month
DAYS_PER_MONTH = 30  # a month's logs kept LogRetentionInDays occupy retention / 30 GB-months of storage

# Assumed p50 latencies of one call from Lambda in the same region, seconds (not measurable here: moto is no AWS).
LATENCY = {
    "dynamodb.GetItem": 0.005,
    "dynamodb.BatchGetItem": 0.008,
    "dynamodb.Query": 0.008,
    "dynamodb.PutItem": 0.007,
    "dynamodb.UpdateItem": 0.007,
    "dynamodb.DeleteItem": 0.007,
    "dynamodb.TransactWriteItems": 0.015,
    "sesv2.SendEmail": 0.040,
    "events.PutEvents": 0.020,
    "sqs.SendMessageBatch": 0.012,
}
DEFAULT_LATENCY = 0.010
# The invoice series counter (services/invoicing.py): every invoice reads its series' counter (with the account, one
# key per catalog currency) and moves it in the issuing transaction. The worst case puts every account in one
# currency: SERIES_SHARDS series share the run.
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB and a proportional share below it
QUERY_PAGE_BYTES = 1024 * 1024


@dataclass
class Gsi:
    name: str
    keys: tuple[str, ...]  # the index's key attributes (an item without its hash key is not in it)
    projection: str
    include: tuple[str, ...]


def indexes(template: LocalTemplate, table_id: str) -> list[Gsi]:
    result = []
    for gsi in template.properties(table_id).get("GlobalSecondaryIndexes", []):
        keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
        projection = gsi["Projection"]
        result.append(
            Gsi(gsi["IndexName"], keys, projection["ProjectionType"], tuple(projection.get("NonKeyAttributes", [])))
        )
    return result


def projected(item: dict[str, Any], gsi: Gsi) -> dict[str, Any] | None:
    if gsi.keys[0] not in item:
        return None  # sparse: not in this index
    if gsi.projection == "ALL":
        return item
    kept = {"pk", "sk", *gsi.keys, *(gsi.include if gsi.projection == "INCLUDE" else ())}
    return {k: v for k, v in item.items() if k in kept}


def kb(size: int, unit: int = 1024) -> int:
    return max(1, math.ceil(size / unit))


@dataclass
class Line:
    what: str
    quantity: float
    unit_price: float
    note: str = ""

    @property
    def dollars(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class Contention:
    """Conflicts on the series counters, modelled (not measured: moto serialises every request, so it cannot show
    two transactions in flight at once). Invoices arrive at a series as a Poisson stream of rate ``rate`` (the run's
    throughput over the series); an attempt loses when another invoice of its series commits inside its window, from
    the counter read to its own commit: p = 1 − exp(−rate × window). A lost attempt is read and written again, so an
    invoice takes 1 / (1 − p) attempts; the cancelled transactions are charged their write units (an upper bound)."""

    series: int
    rate: float  # invoices per second per series
    window: float  # seconds from the counter read to the commit
    p: float
    attempts: float  # per invoice, expected

    @property
    def retries(self) -> float:
        return self.attempts - 1


def contention(throughput: float, window: float, series: int = SERIES_SHARDS) -> Contention:
    rate = throughput / series
    p = 1 - math.exp(-rate * window)
    return Contention(series, rate, window, p, 1 / (1 - p))


@dataclass
class Model:
    inputs: list[list[Any]]
    writes: list[list[Any]]
    wru_per_account: float
    rru_per_account: float
    batch_seconds: float
    dispatcher_seconds: float
    consumer_seconds: float
    sequential_consumer_seconds: float  # the same batches with their records one after another (BATCH_WORKERS=1)
    workers: int
    memory_mb: int
    cost: list[Line]
    counter: Contention | None = None
    counter_wru: float = 0.0  # of the counter's moves, retries included, per account

    @property
    def minutes(self) -> float:
        return (self.dispatcher_seconds + self.consumer_seconds) / 60

    def total(self, *, ses: bool) -> float:
        return sum(line.dollars for line in self.cost if ses or not line.what.startswith("SES"))


def build(calls: CallsResult, memory_mb: int | None = None) -> Model:
    """The model at the template's MemorySize for RenewalBillingFunction, or at ``memory_mb``."""
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    run = calls.renewal
    per = run.consumer
    units = run.units
    items = calls.items
    account, invoice, notice = items["account"], items["invoice"], items["notice"]
    ledger_gsis = indexes(template, "LedgerTable")
    account_gsis = indexes(template, "AccountsTable")

    # --- DynamoDB request units of one billed account, write by write (sizes measured, rounding as billed)
    writes: list[list[Any]] = []

    def write(
        what: str,
        item: dict[str, Any],
        *,
        transactional: bool,
        gsis: list[Gsi],
        gsi_kind: str,
        left: tuple[str, ...] = (),
        changed: frozenset[str] | None = None,
    ) -> float:
        """Request units of writing ``item``; ``left``: indexes the write takes it out of (one delete each);
        ``changed``: for an update, the attributes it sets (an index is written only if it holds one of them)."""
        base = kb(dynamo_size(item)) * (2 if transactional else 1)
        index_units = 0
        touched = []
        for gsi in gsis:
            image = projected(item, gsi)
            if image is None or gsi.name in left:
                continue
            if changed is not None and not changed & set(image):
                continue  # nothing this index holds changed: DynamoDB does not write it
            units_ = kb(dynamo_size(image)) * (2 if gsi_kind == "key change" else 1)
            index_units += units_
            touched.append(f"{gsi.name} {units_}")
        for name in left:
            index_units += 1  # the index entry's delete: its keys only, under 1 KB
            touched.append(f"{name} 1 (leaves it)")
        writes.append([what, dynamo_size(item), base, ", ".join(touched) or "-", base + index_units])
        return base + index_units

    # The notice as the transaction wrote it: claimed, so in the sparse OutboxIndex until it is marked sent.
    delivery = ("sent_at", "ses_message_id")  # what marking it sent adds
    pending = {k: v for k, v in notice.items() if k not in delivery} | {
        "delivery": {"S": "sending"},
        "outbox_state": {"S": "pending"},
    }
    wru = 0.0
    wru += write("account update (transaction)", account, transactional=True, gsis=account_gsis, gsi_kind="key change")
    wru += write("invoice put (transaction)", invoice, transactional=True, gsis=ledger_gsis, gsi_kind="put")
    wru += write("notice put (transaction)", pending, transactional=True, gsis=ledger_gsis, gsi_kind="put")
    counter_item = {"pk": {"S": "SERIES#GBP2026S0042"}, "sk": {"S": "COUNTER"}, "last_sequence": {"N": "1234"}}
    counter_item["record_type"] = {"S": "invoice_series"}
    counter_wru = write(
        "invoice series counter moved (transaction)", counter_item, transactional=True, gsis=[], gsi_kind=""
    )
    wru += counter_wru
    transaction_wru = wru  # the billing transaction's own units (what a cancelled attempt is charged, at most)
    notice_updates = round(per.of("dynamodb")["UpdateItem"] / units)
    for n in range(notice_updates):
        last = n == notice_updates - 1
        if last:
            wru += write(
                "notice marked sent",
                notice,
                transactional=False,
                gsis=ledger_gsis,
                gsi_kind="update",
                left=("OutboxIndex",),
                changed=frozenset({"delivery", "sent_at", "ses_message_id"}),
            )
        else:
            wru += write(
                f"notice delivery record {n + 1}", pending, transactional=False, gsis=ledger_gsis, gsi_kind="update"
            )
    # The account's read (a GetItem, or the BatchGetItem that also reads the series counters: issue 20).
    account_reads = per.of("dynamodb")["GetItem"] + per.of("dynamodb")["BatchGetItem"]
    rru = account_reads / units * kb(dynamo_size(account), 4096)
    rru += per.of("dynamodb")["Query"] / units  # a snapshot query, when one is needed: a small item

    # --- time: the code measured here (scaled to the function's CPU share) plus the calls at the assumed latencies
    memory_mb = memory_mb or int(template.function_setting("RenewalBillingFunction", "MemorySize", 128))
    retention_days = int(template.parameter_value("LogRetentionInDays"))  # the template's default
    workers = int(template.function_environment("RenewalBillingFunction").get("BATCH_WORKERS", "1"))
    cpu_factor = max(1.0, FULL_VCPU_MB / memory_mb)
    code_per_batch = run.batch_seconds("code") * cpu_factor
    calls_per_batch = {op: n / units * SQS_BATCH for op, n in per.calls.items()}
    aws_per_batch = sum(n * LATENCY.get(op, DEFAULT_LATENCY) for op, n in calls_per_batch.items())
    # The records of a batch run ``workers`` at a time: their waits on AWS overlap, their CPU does not (one CPU
    # share for the whole function), and no overlap of code with waiting is assumed: an upper bound.
    waves = math.ceil(SQS_BATCH / workers)
    batches = math.ceil(ACCOUNTS / SQS_BATCH)
    # The counter's conflicts: a fixed point of the run's throughput (more conflicts, a slower run, fewer conflicts).
    window = LATENCY["dynamodb.BatchGetItem"] + code_per_batch / SQS_BATCH + LATENCY["dynamodb.TransactWriteItems"]
    retry_seconds = LATENCY["dynamodb.GetItem"] + LATENCY["dynamodb.TransactWriteItems"]
    counter = contention(0.0, window)
    for _ in range(20):
        batch_seconds = (
            code_per_batch + (aws_per_batch + SQS_BATCH * counter.retries * retry_seconds) / SQS_BATCH * waves
        )
        counter = contention(ACCOUNTS / (batches * batch_seconds / CONCURRENCY), window)
    consumer_seconds = batches * batch_seconds / CONCURRENCY
    sequential_consumer_seconds = batches * (code_per_batch + aws_per_batch) / CONCURRENCY
    wru += counter.retries * transaction_wru
    # Itemised apart (issue 20): the counter's moves and the attempts it cancelled, and the counter reads.
    counter_units = counter_wru + counter.retries * transaction_wru
    # The counters read with the account (one per catalog currency, a small item: 1 RRU each, found or not), and a
    # GetItem of the counter per retry.
    counter_reads = len(default_catalog().currencies) + counter.retries
    due_index = next(g for g in account_gsis if g.name == "DueIndex")
    keys_only = dynamo_size(projected(account, due_index) or account)  # bytes of one DueIndex entry
    pages = math.ceil(ACCOUNTS * keys_only / QUERY_PAGE_BYTES) + 16
    dispatcher_seconds = (
        pages * LATENCY["dynamodb.Query"] + batches * LATENCY["sqs.SendMessageBatch"] / DISPATCH_THREADS
    )
    dispatcher_code = run.dispatcher.code_seconds / units * ACCOUNTS * cpu_factor
    dispatcher_seconds += dispatcher_code

    # --- cost
    gb_seconds = (batches * batch_seconds + dispatcher_seconds) * memory_mb / 1024
    run_seconds = dispatcher_seconds + consumer_seconds
    invocations = batches + 1
    traces = min(
        invocations,
        run_seconds * XRAY_RESERVOIR_PER_SECOND
        + XRAY_FIXED_RATE * max(0.0, invocations - run_seconds * XRAY_RESERVOIR_PER_SECOND),
    )
    cost = [
        Line(
            "DynamoDB write request units (billing)",
            (wru - counter_units) * ACCOUNTS,
            PRICE_WRU,
            f"{wru - counter_units:g} WRU per account (table below, without the counter)",
        ),
        Line(
            "DynamoDB write request units (invoice series counters)",
            counter_units * ACCOUNTS,
            PRICE_WRU,
            f"{counter_wru:g} WRU per move + {counter.retries:.3f} cancelled attempts × {transaction_wru:g} WRU",
        ),
        Line(
            "DynamoDB read request units (billing)",
            rru * ACCOUNTS + pages * 8,
            PRICE_RRU,
            f"{rru:.3g} RRU per account, DueIndex pages",
        ),
        Line(
            "DynamoDB read request units (invoice series counters)",
            counter_reads * ACCOUNTS,
            PRICE_RRU,
            f"{counter_reads:.3f} strongly consistent reads per invoice (one per currency with the account's)",
        ),
        Line(
            "DynamoDB request units (credit applied at issue)",
            CREDIT_SHARE * ACCOUNTS * (CREDIT_WRU + CREDIT_RRU * PRICE_RRU / PRICE_WRU),
            PRICE_WRU,
            f"assumed {CREDIT_SHARE:.0%} of accounts hold credit: {CREDIT_WRU} WRU + {CREDIT_RRU} RRU each",
        ),
        Line(
            "Lambda GB-seconds (arm64)", gb_seconds, PRICE_LAMBDA_GB_S, f"{memory_mb} MB × {batch_seconds:.2f} s/batch"
        ),
        Line("Lambda invocations", batches + 1, PRICE_LAMBDA_REQUEST, "one per SQS batch of 10"),
        Line("SQS requests", batches * 3, PRICE_SQS_REQUEST, "send batch + receive + delete batch, per 10"),
        Line("EventBridge events", per.total("events") / units * ACCOUNTS, PRICE_EVENTBRIDGE_EVENT, "one per notice"),
        Line(
            "X-Ray traces",
            traces,
            PRICE_XRAY_TRACE,
            f"default sampling: {XRAY_RESERVOIR_PER_SECOND}/s + {XRAY_FIXED_RATE:.0%} of {invocations:,} invocations",
        ),
        Line(
            "CloudWatch Logs ingestion (GB)",
            run.log_bytes / units * ACCOUNTS / 1e9,
            PRICE_LOGS_GB,
            f"{run.log_bytes / units:.0f} B logged per account at INFO (measured)",
        ),
        Line(
            "CloudWatch Logs storage (GB-months)",
            run.log_bytes / units * ACCOUNTS / 1e9 * retention_days / DAYS_PER_MONTH,
            PRICE_LOGS_STORAGE_GB_MONTH,
            f"the run's logs kept {retention_days} days (LogRetentionInDays), stored as ingested (an upper bound: "
            "CloudWatch compresses what it stores)",
        ),
        Line("SES emails", per.total("sesv2") / units * ACCOUNTS, PRICE_SES_EMAIL, "one per invoice notice"),
    ]
    inputs = [
        ["billed accounts", f"{ACCOUNTS:,}", "all in one run (worst case)"],
        [
            "SQS batch / concurrency / records at once",
            f"{SQS_BATCH} / {CONCURRENCY} / {workers}",
            "template: BatchSize, MaximumConcurrency, BATCH_WORKERS",
        ],
        [
            "calls per billed account (measured)",
            ", ".join(f"{op} {n / units:g}" for op, n in sorted(per.calls.items())),
            "bench.calls, renewal",
        ],
        [
            "code time per batch of 10 (measured)",
            f"{run.batch_seconds('code') * 1000:.0f} ms on this machine (records one after another)",
            f"× {cpu_factor:.2f} for {memory_mb} MB (1 vCPU at {FULL_VCPU_MB} MB)",
        ],
        [
            "AWS time per batch (assumed latencies)",
            f"{aws_per_batch * 1000:.0f} ms",
            ", ".join(f"{op.split('.')[1]} {s * 1000:g} ms" for op, s in LATENCY.items() if op in calls_per_batch),
        ],
        ["item sizes (measured)", ", ".join(f"{k} {dynamo_size(v)} B" for k, v in sorted(items.items())), ""],
        ["dispatcher", f"{pages} Query pages + {batches:,} SendMessageBatch", f"{DISPATCH_THREADS} in flight"],
        [
            "invoice series counters (modelled)",
            f"{counter.series} series, {counter.rate:.2f} invoices/s each, window {counter.window * 1000:.0f} ms: "
            f"{counter.p:.1%} of attempts conflict, {counter.attempts:.3f} attempts per invoice",
            "all accounts in one currency (worst case); Poisson arrivals per series",
        ],
        ["X-Ray sampling", f"{XRAY_RESERVOIR_PER_SECOND}/s + {XRAY_FIXED_RATE:.0%}", "the default sampling rule"],
    ]
    return Model(
        inputs,
        writes,
        wru,
        rru + counter_reads,
        batch_seconds,
        dispatcher_seconds,
        consumer_seconds,
        sequential_consumer_seconds,
        workers,
        memory_mb,
        cost,
        counter,
        counter_wru * counter.attempts,
    )


def report(model: Model) -> None:
    table("Scale model: inputs", ["input", "value", "source"], model.inputs)
    table(
        "Scale model: DynamoDB write request units per billed account (sizes measured, on-demand rounding)",
        ["write", "item bytes", "table WRU", "index WRU", "WRU"],
        model.writes,
    )
    minutes = model.minutes
    if model.counter is not None:
        c = model.counter
        table(
            "Scale model: invoice series counters at 1M accounts (modelled: moto serialises requests)",
            ["figure", "value"],
            [
                ["series (one currency, one year)", f"{c.series}"],
                [
                    "counter reads",
                    f"{ACCOUNTS * (len(default_catalog().currencies) + c.retries):,.0f} (strongly consistent: one "
                    "per currency in the account's BatchGetItem, a GetItem per retry)",
                ],
                ["counter writes (in the billing transaction)", f"{ACCOUNTS:,} committed"],
                ["transactions cancelled by a moved counter", f"{ACCOUNTS * c.retries:,.0f} ({c.p:.1%} of attempts)"],
                ["counter WRU per account (retries included)", f"{model.counter_wru:.2f}"],
            ],
        )
    table(
        f"Scale model: {ACCOUNTS:,} account-months, concurrency {CONCURRENCY}",
        ["part", "time"],
        [
            ["dispatcher (one invocation)", f"{model.dispatcher_seconds / 60:.1f} min"],
            [
                f"billing ({math.ceil(ACCOUNTS / SQS_BATCH):,} batches × {model.batch_seconds:.2f} s / {CONCURRENCY}, "
                f"{model.workers} records at once)",
                f"{model.consumer_seconds / 60:.1f} min",
            ],
            [
                f"**total** (goal < {GOAL_MINUTES} min)",
                f"**{minutes:.1f} min** {'✓' if minutes < GOAL_MINUTES else 'over'}",
            ],
            [
                "for comparison: the records of a batch one after another (BATCH_WORKERS=1)",
                f"{(model.dispatcher_seconds + model.sequential_consumer_seconds) / 60:.1f} min",
            ],
        ],
    )
    rows = [
        [
            line.what,
            f"{line.quantity:,.{0 if line.quantity >= 100 else 2}f}",
            f"${line.unit_price:.10g}",
            f"${line.dollars:,.2f}",
            line.note,
        ]
        for line in model.cost
    ]
    without, with_ses = model.total(ses=False), model.total(ses=True)
    verdict = "met" if without <= GOAL_DOLLARS else f"NOT met by ${without - GOAL_DOLLARS:,.2f}"
    rows.append(["**total without SES**", "", "", f"**${without:,.2f}**", f"goal ≤ ${GOAL_DOLLARS:.0f}: {verdict}"])
    rows.append(["**total with SES**", "", "", f"**${with_ses:,.2f}**", "SES alone is $100 per 1M emails"])
    table(
        f"Scale model: AWS on-demand cost of {ACCOUNTS:,} account-months (eu-west-1 list prices, no free tier)",
        ["item", "quantity", "unit price", "cost", "how"],
        rows,
        f"Goal ≤ ${GOAL_DOLLARS:.0f} per 1M account-months (issue 20), stated without SES (emails cost $0.10 per "
        "1,000 whatever the design). Not included: storage, data transfer, the SQS pollers' empty receives.",
    )


MEMORY_CHOICES = (256, 384, 512, 1024, 1769)  # MB: 1,769 is one full vCPU


def sizes(calls: CallsResult) -> list[Model]:
    """The same run at each of ``MEMORY_CHOICES`` for RenewalBillingFunction: CPU share is the function's code time
    (Lambda gives CPU in proportion to memory), and the code time is inside each invoice's counter window, so memory
    moves the run's time, its conflicts and its cost together."""
    return [build(calls, mb) for mb in MEMORY_CHOICES]


def report_sizes(models: list[Model], configured_mb: int) -> None:
    rows = []
    for m in models:
        assert m.counter is not None
        rows.append(
            [
                f"{m.memory_mb} MB" + (" (template)" if m.memory_mb == configured_mb else ""),
                f"{m.minutes:.1f} min",
                f"{m.counter.p:.1%}",
                f"${m.total(ses=False):.2f}",
            ]
        )
    table(
        "Scale model: RenewalBillingFunction MemorySize (the same measured run at each size)",
        ["MemorySize", "1M accounts", "counter conflicts", "cost without SES"],
        rows,
        "More memory is more CPU: less code time per record and a faster run, but the faster run brings each series "
        "its invoices closer together, so more counter conflicts, and more GB-seconds. The template's size is the "
        "smallest here that keeps 1M accounts under the time goal with room for a slower machine, within the cost "
        "goal.",
    )
