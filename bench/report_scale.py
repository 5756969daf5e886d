"""The monthly report at scale: ``UsageReportFunction``'s work on 10k and 50k accounts' worth of a month, modelled
to 1M accounts.

A month is made the way production makes it: the report tests' February (contact overruns, excess-profile episodes,
telephone support) goes through the webhook and the scheduled jobs for a handful of accounts. Every ledger item of
those accounts is then copied, under new account ids (each copy in the shard its id hashes to), until the ledger
holds the records of N accounts: exact copies but for the ids, so the report reads what it would read.

Each shard's reads are the function's own (``ReportRecords``: the ReportIndex Query, paginated, and the episodes'
BatchGetItem), made here on moto and counted; what they returned is pickled per shard. A worker process on the
Lambda-like path (``bench/report_worker.py``) then runs ``UsageReport`` on those records (its stores replaced by them
and by an in-memory bucket), shard after shard as one warm container would, the last part merging: its time per
part and its peak RSS are the report's own work, not moto's. The model fits a line through the two sizes (a fixed
cost plus a cost per account), runs the 16 shards of 62,500 accounts at once as the queue's mapping does (BatchSize
1), and adds the merge and the AWS calls at the model's latencies.
"""

from __future__ import annotations

import json
import math
import pickle
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overage.domain.account import all_billing_shards, billing_shard
from overage.domain.instants import Month
from overage.runtime import aws
from overage.store.dynamo import from_item
from overage.store.report_index import EPISODE_MARKER_TYPE as MARKER
from overage.store.report_index import PROJECTED, REPORT_KEY, ReportRecords

from bench import seed
from bench.calls import dynamo_size
from bench.layer import ROOT, Site, run_in_function
from bench.model import FULL_VCPU_MB, LATENCY
from bench.probe import probing, table
from tests.scenarios import (
    given_a_month_of_contact_overruns,
    given_a_month_of_excess_profiles,
    given_a_month_of_telephone_support,
)
from tests.support import World, moto_world

SIZES = (10_000, 50_000)
NOTICE_STATE = ("pk", "sk", "delivery", "answer")  # what ReportRecords.notice_states projects
CHECK_ACCOUNTS = 300  # the small month read from moto, to check the generated records against the store
ACCOUNTS = 1_000_000
MONTH = Month(2026, 2)
GOAL_SECONDS = 300
WORKER = Path(__file__).with_name("report_worker.py")
# Assumed p50 latencies from Lambda in the region, seconds (S3 is not in bench.model's table). A Query page of 1 MB
# is dominated by transfer and parsing, not by the request: its figure here is per MB.
S3_LATENCY = {"s3.GetObject": 0.020, "s3.PutObject": 0.030, "s3.ListObjectsV2": 0.020}
QUERY_SECONDS_PER_MB = 0.100


@dataclass
class SizeRun:
    accounts: int
    records: int = 0  # ReportIndex records of the month (episode markers included)
    record_bytes: int = 0  # their projected size, summed
    markers: int = 0  # the episodes their markers name and the notices' states (read 100 per BatchGetItem)
    shard_seconds: list[float] = field(default_factory=list)  # the worker's time per part, in arrival order
    s3_calls: list[dict[str, int]] = field(default_factory=list)
    peak_mib: float = 0.0
    after_import_mib: float = 0.0

    @property
    def part_seconds(self) -> float:
        """The slowest part that does not merge."""
        return max(self.shard_seconds[:-1])

    def reads_per_shard(self) -> tuple[int, int]:
        """A shard's Query pages (1 MB each) and BatchGetItem calls, on average."""
        shards = len(self.shard_seconds)
        return math.ceil(self.record_bytes / shards / 2**20), math.ceil(self.markers / shards / 100)

    @property
    def merge_seconds(self) -> float:
        """What merging and writing adds to the part that completes the run (over the median part)."""
        return max(0.0, self.shard_seconds[-1] - statistics.median(self.shard_seconds[:-1]))


def template_accounts(world: World) -> list[str]:
    """Make the report tests' February through the real functions; the accounts it created."""
    given_a_month_of_excess_profiles(world)
    given_a_month_of_contact_overruns(world)
    given_a_month_of_telephone_support(world)
    items = world.ddb.scan(TableName=world.accounts_table, ProjectionExpression="pk, sk")["Items"]
    return sorted({i["pk"]["S"] for i in items if i["sk"]["S"] == "ACCOUNT"})


def ledger_items(world: World, account: str) -> list[dict[str, Any]]:
    query: dict[str, Any] = {
        "TableName": world.ledger_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": account}},
    }
    items: list[dict[str, Any]] = []
    while True:
        page = world.ddb.query(**query)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def renamed(value: Any, old: str, new: str) -> Any:
    """A DynamoDB-JSON value with the account id ``old`` replaced by ``new`` in every string (binary left as is)."""
    if isinstance(value, dict):
        return {k: (v.replace(old, new) if k == "S" else renamed(v, old, new)) for k, v in value.items()}
    if isinstance(value, list):
        return [v.replace(old, new) if isinstance(v, str) else renamed(v, old, new) for v in value]
    return value


def copy_for(item: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    copied = {name: renamed(value, old, new) for name, value in item.items()}
    if REPORT_KEY in copied:  # the copy is reported in the shard its own id hashes to
        month = copied[REPORT_KEY]["S"].split("#", 1)[0]
        copied[REPORT_KEY] = {"S": f"{month}#{billing_shard(new)}"}
    return copied


def copies(templates: dict[str, list[dict[str, Any]]], first: int, last: int) -> Iterator[dict[str, Any]]:
    """The ledger items of accounts ``first``..``last``: each a copy of a template account's under its own id."""
    names = sorted(templates)
    for n in range(first, last):
        old = names[n % len(names)]
        new = f"{seed.ACCOUNT_PREFIX}{n:06d}_{old}"  # keeps the template's id inside: kinds and texts stay alike
        for item in templates[old]:
            yield copy_for(item, old, new)


def seed_month(world: World, items: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        requests = [{"PutRequest": {"Item": item}} for item in batch]
        while requests:
            response = world.ddb.batch_write_item(RequestItems={world.ledger_table: requests})
            requests = response.get("UnprocessedItems", {}).get(world.ledger_table, [])
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) == seed.BATCH:
            flush()
    if batch:
        flush()


@dataclass
class Shard:
    records: list[dict[str, Any]] = field(default_factory=list)  # as its ReportIndex Query returns them
    episodes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # as its BatchGetItem does
    notice_states: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # delivery and answer
    projected_bytes: int = 0


def shards_of(items: Iterator[dict[str, Any]]) -> dict[str, Shard]:
    """What each shard's reads return, from the items themselves: the month's items of ReportIndex (sparse, keyed by
    ``report_key`` and ``sk``, projecting the keys and ``PROJECTED``) in key order, and the episodes the markers name.
    ``check_against_the_store`` shows it is what the store reads from DynamoDB."""
    kept = {"pk", "sk", REPORT_KEY, *PROJECTED}
    shards = {shard: Shard() for shard in all_billing_shards()}
    episodes: dict[tuple[str, str], dict[str, Any]] = {}
    states: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        sk = item["sk"]["S"]
        if sk.startswith("EPISODE#"):
            episodes[(item["pk"]["S"], sk.removeprefix("EPISODE#"))] = from_item(item)
        if item.get("record_type", {}).get("S") == "notice":  # what notice_states projects
            states[(item["pk"]["S"], sk)] = from_item({k: v for k, v in item.items() if k in NOTICE_STATE})
        key = item.get(REPORT_KEY, {}).get("S", "")
        if not key.startswith(f"{MONTH}#"):
            continue
        image = {name: value for name, value in item.items() if name in kept}
        shard = shards[key.split("#", 1)[1]]
        shard.records.append(from_item(image))
        shard.projected_bytes += dynamo_size(image)
    for shard in shards.values():
        shard.records.sort(key=lambda r: (r["sk"], r["pk"]))
        wanted = {(str(r["account_id"]), str(r["episode_id"])) for r in shard.records if r.get("record_type") == MARKER}
        shard.episodes = {key: episodes[key] for key in wanted}
        notices = {(str(r["pk"]), str(r["sk"])) for r in shard.records if r.get("record_type") == "notice"}
        shard.notice_states = {key: states[key] for key in notices if key in states}
    return shards


def check_against_the_store(world: World, templates: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    """Seed a small month in moto and read each shard as the function does (``ReportRecords``): the same records and
    episodes as ``shards_of`` makes, or the bench has drifted from the store. The calls the reads made."""
    seed_month(world, copies(templates, 0, CHECK_ACCOUNTS))
    expected = shards_of(copies(templates, 0, CHECK_ACCOUNTS))
    store = ReportRecords(world.ledger_table, aws.client("dynamodb"))  # the client the probe hooks
    calls: Counter[str] = Counter()
    for shard, wanted in expected.items():
        with probing(("dynamodb",)) as probe:
            records = list(store.records(MONTH, shard))
            markers = [(str(r["account_id"]), str(r["episode_id"])) for r in records if r.get("record_type") == MARKER]
            episodes = store.episodes(markers) if markers else {}
            notices = [(str(r["pk"]), str(r["sk"])) for r in records if r.get("record_type") == "notice"]
            states = store.notice_states(notices) if notices else {}
        calls.update(probe.calls)
        same = sorted(records, key=lambda r: (r["sk"], r["pk"])) == wanted.records and episodes == wanted.episodes
        if not same or states != wanted.notice_states:
            raise AssertionError(f"shard {shard}: the bench's records are not what ReportRecords reads")
    return calls


def pickled(shards: dict[str, Shard], folder: Path, accounts: int) -> list[list[str]]:
    files = []
    for name, shard in shards.items():
        path = folder / f"{accounts}-{name}.pickle"
        with path.open("wb") as file:
            pickle.dump((shard.records, shard.episodes, shard.notice_states), file, protocol=pickle.HIGHEST_PROTOCOL)
        files.append([name, str(path)])
    return files


def run_worker(site: Site, files: list[list[str]]) -> dict[str, Any]:
    from overage_local.template import LocalTemplate

    template = LocalTemplate.from_file(ROOT / "template.yaml")
    quiet = {
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    job = {"month": str(MONTH), "shards": files}
    result = run_in_function(site, template, "UsageReportFunction", WORKER, job, endpoint=None, env=quiet)
    if result.returncode != 0:
        raise RuntimeError(f"the report worker failed: {result.stderr.strip()[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if not answer["finished"]:
        raise RuntimeError("the report worker's last part did not complete the run")
    return answer


def run(site: Site) -> tuple[Counter[str], list[SizeRun]]:
    overrides = {"LogLevel": "ERROR", "DirectorEmail": "director@bench.example"}
    with moto_world(parameter_overrides=overrides) as world:
        names = template_accounts(world)
        templates = {name: ledger_items(world, name) for name in names}
        for name in names:  # the template accounts themselves are not part of the measured months
            for item in templates[name]:
                world.ddb.delete_item(TableName=world.ledger_table, Key={"pk": item["pk"], "sk": item["sk"]})
        small_calls = check_against_the_store(world, templates)
    runs: list[SizeRun] = []
    with tempfile.TemporaryDirectory(prefix="overage-report-") as scratch:
        for size in SIZES:
            shards = shards_of(copies(templates, 0, size))
            result = SizeRun(size, sum(len(s.records) for s in shards.values()))
            result.record_bytes = sum(s.projected_bytes for s in shards.values())
            result.markers = sum(len(s.episodes) + len(s.notice_states) for s in shards.values())
            files = pickled(shards, Path(scratch), size)
            del shards
            answer = run_worker(site, files)
            result.shard_seconds = answer["shard_seconds"]
            result.s3_calls = answer["s3_calls"]
            result.peak_mib, result.after_import_mib = answer["peak_mib"], answer["after_import_mib"]
            runs.append(result)
    return small_calls, runs


def configured_mb() -> int:
    from overage_local.template import LocalTemplate

    template = LocalTemplate.from_file(ROOT / "template.yaml")
    return int(template.function_setting("UsageReportFunction", "MemorySize", 128))


def recommended_mb(modelled: Modelled) -> int:
    """Twice the modelled peak at 1M accounts (the goal: the peak under half of MemorySize), rounded up to 1 GB
    steps, within Lambda's 10,240 MB."""
    return min(10_240, math.ceil(modelled.peak_mib * 2 / 1024) * 1024)


@dataclass
class Modelled:
    memory_mb: int
    part_seconds: float
    merge_seconds: float
    end_to_end_seconds: float
    peak_mib: float
    shard_mb: float


def at_million(small: float, big: float, runs: list[SizeRun]) -> float:
    """The line through the two sizes' figures, at 1M accounts (a fixed cost and a cost per account)."""
    n1, n2 = runs[0].accounts, runs[-1].accounts
    slope = max(0.0, (big - small) / (n2 - n1))
    return big + slope * (ACCOUNTS - n2)


def model(runs: list[SizeRun], memory_mb: int) -> Modelled:
    """1M accounts from the two runs: the code time of a part, of the merge and the peak RSS on the line through
    them; Lambda's CPU share at ``memory_mb`` slows the code; a shard's reads by its bytes and markers; the shards at
    once."""
    small, big = runs[0], runs[-1]
    cpu = min(1.0, memory_mb / FULL_VCPU_MB)
    shards = len(all_billing_shards())
    shard_mb = big.record_bytes * ACCOUNTS / big.accounts / shards / 2**20
    batch_gets = math.ceil(big.markers * ACCOUNTS / big.accounts / shards / 100)
    reads = shard_mb * QUERY_SECONDS_PER_MB + batch_gets * LATENCY["dynamodb.BatchGetItem"]
    part_s3 = sum(n * S3_LATENCY[op] for op, n in big.s3_calls[0].items())
    merge_s3 = sum(n * S3_LATENCY[op] for op, n in big.s3_calls[-1].items())
    part = at_million(small.part_seconds, big.part_seconds, runs) / cpu + reads + part_s3
    merge = at_million(small.merge_seconds, big.merge_seconds, runs) / cpu + merge_s3
    dispatch = 2 * LATENCY["sqs.SendMessageBatch"]  # 16 messages, ten per SendMessageBatch
    return Modelled(
        memory_mb, part, merge, dispatch + part + merge, at_million(small.peak_mib, big.peak_mib, runs), shard_mb
    )


def report(small_calls: Counter[str], runs: list[SizeRun], memory_mb: int) -> Modelled:
    rows = []
    for r in runs:
        pages, gets = r.reads_per_shard()
        rows.append(
            [
                f"{r.accounts:,} accounts",
                f"{r.records:,} ({r.record_bytes / 2**20:.1f} MiB)",
                f"{statistics.median(r.shard_seconds[:-1]):.2f} / {r.part_seconds:.2f} s",
                f"{r.merge_seconds:.2f} s",
                f"{r.peak_mib:.0f} MiB ({r.after_import_mib:.0f} after import)",
                f"Query pages {pages}, BatchGetItem {gets}",
                ", ".join(f"{k.split('.')[1]} {v}" for k, v in r.s3_calls[0].items() if v)
                + " / merging: "
                + ", ".join(f"{k.split('.')[1]} {v}" for k, v in r.s3_calls[-1].items() if v),
            ]
        )
    checked = ", ".join(f"{k.split('.')[1]} {v}" for k, v in sorted(small_calls.items()))
    table(
        "Monthly report at scale (UsageReportFunction's code in a Lambda-like process, on the records of its reads)",
        [
            "month of",
            "ReportIndex records",
            "a part's code (median / max)",
            "merge adds",
            "peak RSS, 16 parts in one process",
            "DynamoDB reads per shard",
            "S3 calls: a part / the merging part",
        ],
        rows,
        f"One queue message per shard of ReportIndex (16); the part that completes the run merges the 16 parts and "
        f"writes reports/YYYY-MM/. The records are generated from a month made by the real functions; for "
        f"{CHECK_ACCOUNTS} accounts they are checked equal to what ReportRecords reads from moto ({checked} for the "
        "16 shards).",
    )
    m = model(runs, memory_mb)
    verdict = (
        "met" if m.end_to_end_seconds < GOAL_SECONDS else f"NOT met by {m.end_to_end_seconds - GOAL_SECONDS:.0f} s"
    )
    half = memory_mb / 2
    memory_verdict = "met" if m.peak_mib < half else f"NOT met by {m.peak_mib - half:.0f} MiB"
    table(
        f"Monthly report, modelled at {ACCOUNTS:,} accounts (MemorySize {memory_mb} MB in template.yaml)",
        ["figure", "modelled", "goal"],
        [
            [f"a shard's part (62,500 accounts, {m.shard_mb:.0f} MB of records)", f"{m.part_seconds:.0f} s", "-"],
            ["merge and write", f"{m.merge_seconds:.0f} s", "-"],
            [
                "end to end (dispatch + a part + merge)",
                f"**{m.end_to_end_seconds:.0f} s**",
                f"< {GOAL_SECONDS} s: {verdict}",
            ],
            ["peak RSS", f"**{m.peak_mib:.0f} MiB**", f"< {half:.0f} MiB (half of MemorySize): {memory_verdict}"],
        ],
        "On the line through the two sizes (a fixed cost plus a cost per account); a shard's Query at "
        f"{QUERY_SECONDS_PER_MB * 1000:.0f} ms per MB; the code slowed by Lambda's CPU share at MemorySize "
        f"(1 vCPU at {FULL_VCPU_MB} MB); the shards at once.",
    )
    return m
