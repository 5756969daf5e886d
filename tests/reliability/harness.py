"""Tools for the reliability tests: make the k-th AWS call of a run fail, run a job the way AWS retries it, and
compare what it left behind with a clean run's.

``Faults`` hooks botocore's ``before-call`` / ``after-call`` events of the clients the functions share through
``overage.runtime.aws.client(...)`` (the cached clients of a warm Lambda container). It numbers every DynamoDB, SES,
EventBridge, SQS and S3 call the functions make and, when armed, makes call ``k`` fail in one of two ways:

- ``refused``: the request never reaches the service (a 500 from DynamoDB, a throttled SES...): nothing was applied;
- ``lost``: the service applied the request and the reply was lost (a read timeout): the caller cannot tell;
- ``conflict`` (transactions only): DynamoDB cancels the transaction because another one was writing the same item
  (``TransactionCanceledException``, reason ``TransactionConflict``), which moto never does on its own.

``run_like_aws`` plays what AWS does around a failure: the scheduled invocation is retried (EventInvokeConfig
MaximumRetryAttempts, then the schedule's RetryPolicy) and a queue message whose batch item failed is delivered again
(``drain_queues`` emulates the event source mapping, up to maxReceiveCount). ``redeliver_after_lease`` is what the
next scheduled run does first: send the notices whose sender died, once their lease has passed.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError, ReadTimeoutError
from overage.runtime import aws
from overage_local import runtime

from tests.support import REGION, World, records_one_after_another

SERVICES = ("dynamodb", "sesv2", "events", "sqs", "s3")
WRITES = frozenset(
    {
        "TransactWriteItems",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "SendEmail",
        "PutEvents",
        "SendMessage",
        "SendMessageBatch",
        "PutObject",
    }
)
MODES = ("refused", "lost", "conflict")
# Attributes that record when something happened on the operational clock (a claim, a send, a TTL), not what.
# ``attempts`` and ``bus_published`` say how many claims a delivery took and that its bus event went out on an
# earlier one (notices/outbox.py): how, not what.
OPERATIONAL = frozenset(
    {"claimed_at", "sent_at", "suppressed_at", "ses_message_id", "expires_at", "attempts", "bus_published"}
)
TABLES = ("AccountsTable", "LedgerTable", "CallsTable")
SCHEDULE_ATTEMPTS = 4  # the first invocation, Lambda's two async retries, one retry of the schedule
# OVERAGE_CRASH_EVERY_CALL=1 fails every call of each run instead of the first call of each kind (see fault_plan).
EVERY_CALL = os.environ.get("OVERAGE_CRASH_EVERY_CALL") == "1"


@dataclass(frozen=True)
class Call:
    n: int
    service: str
    operation: str
    target: str  # table / index / queue / notice kind: what the call was about

    @property
    def write(self) -> bool:
        return self.operation in WRITES

    @property
    def kind(self) -> str:
        return f"{self.service}.{self.operation}({self.target})"

    def __str__(self) -> str:
        return f"call {self.n}: {self.kind}"


def _target(service: str, body: Any) -> str:
    """What a request is about, from its serialised parameters (JSON protocols) or form fields (query protocols)."""
    if isinstance(body, bytes | bytearray):
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return ""
    elif isinstance(body, dict):
        params = body
    else:
        return ""
    if service == "dynamodb":
        if "TransactItems" in params:
            parts = []
            for item in params["TransactItems"]:
                ((action, spec),) = item.items()
                parts.append(f"{action}:{spec['TableName'].rsplit('-', 1)[-1]}:{_sk_kind(spec)}")
            return "+".join(parts)
        if "RequestItems" in params:
            return ",".join(name.rsplit("-", 1)[-1] for name in params["RequestItems"])
        table = str(params.get("TableName", "")).rsplit("-", 1)[-1]
        index = params.get("IndexName")
        if index:
            return f"{table}/{index}"
        what = str(params.get("UpdateExpression", "")).split("=", 1)[0].removeprefix("SET ").strip()
        return f"{table}:{_sk_kind(params)}" + (f" {what}" if what else "")
    if service == "sesv2":
        return str((params.get("EmailTags") or [{}])[0].get("Value", ""))
    if service == "eventbridge":
        return ",".join(str(entry.get("DetailType")) for entry in params.get("Entries", []))
    if service == "sqs":
        return str(params.get("QueueUrl", "")).rsplit("-", 1)[-1]
    return ""


def _s3_target(url: str) -> str:
    """``reports/<month>/<file>`` → ``reports/<file>``; a run's part ``work/<month>/<run>/<shard>`` → ``work/part``."""
    path = url.split("amazonaws.com", 1)[-1].split("?", 1)[0]
    parts = [part for part in path.split("/") if part]
    if parts and parts[0] not in ("reports", "work"):  # path-style: the bucket comes first
        parts = parts[1:]
    if not parts:
        return "bucket"
    return "work/part" if parts[0] == "work" else f"{parts[0]}/{parts[-1]}"


def _sk_kind(spec: dict[str, Any]) -> str:
    """The kind of item a request names: ``INVOICE``, ``NOTICE``, ``MONTH#*`` (a month marker of any account)..."""
    key = spec.get("Key") or spec.get("Item") or {}
    sk = (key.get("sk") or {}).get("S", "")
    pk = (key.get("pk") or {}).get("S", "")
    head = sk.split("#", 1)[0] if "#" in sk else sk
    if not head.isupper():
        head = "*"  # an account id
    if pk.split("#", 1)[0].isupper() and "#" in pk:  # calls-table items are named by their pk prefix
        return pk.split("#", 1)[0] + "#" + head
    return head


@dataclass
class Faults:
    """Numbers the calls of the functions' shared clients; armed, makes one of them fail (see module doc)."""

    calls: list[Call] = field(default_factory=list)
    fail_at: int | None = None
    mode: str = "refused"
    fired: Call | None = None
    _pending: dict[int, Call] = field(default_factory=dict)

    def install(self) -> None:
        """Hook the clients (call after the moto world exists: creating it forgets cached clients)."""
        for service in SERVICES:
            events = aws.client(service).meta.events
            events.register("before-call", self._before, unique_id=f"faults-before-{id(self)}")
            events.register("after-call", self._after, unique_id=f"faults-after-{id(self)}")

    def arm(self, k: int | None, mode: str = "refused") -> None:
        self.calls.clear()
        self.fail_at, self.mode, self.fired = k, mode, None

    def _before(self, event_name: str, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        target = _s3_target(str(params.get("url", ""))) if service == "s3" else _target(service, params.get("body"))
        call = Call(len(self.calls) + 1, service, operation, target)
        self.calls.append(call)
        context["overage_fault_call"] = call
        if call.n == self.fail_at and self.mode == "refused":
            self.fired = call
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": f"injected: {call} refused"}},
                operation,
            )
        if call.n == self.fail_at and self.mode == "conflict":
            self.fired = call
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": f"injected: {call} cancelled"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}],
                },
                operation,
            )

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        call: Call | None = context.get("overage_fault_call")
        if call is not None and call.n == self.fail_at and self.mode == "lost":
            self.fired = call
            raise ReadTimeoutError(endpoint_url=f"injected: {call} applied, reply lost")


# ---------------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Outcome:
    """What a run left behind: every item of the tables (normalised), the emails and the bus events."""

    items: dict[str, dict[tuple[str, str], str]]
    emails: Counter[tuple[str, str, str]]
    bus: Counter[str]
    queued: dict[str, int]
    reports: dict[str, str] = field(default_factory=dict)  # report files (key → content) in the report bucket

    def item_differences(self, other: Outcome) -> list[str]:
        found = [
            f"report {key} differs"
            for key in sorted(set(self.reports) | set(other.reports))
            if self.reports.get(key) != other.reports.get(key)
        ]
        for table, items in self.items.items():
            theirs = other.items.get(table, {})
            for key in sorted(set(items) | set(theirs)):
                if items.get(key) != theirs.get(key):
                    found.append(f"{table} {key}: {items.get(key)} != {theirs.get(key)}")
        return found


def _json_default(value: Any) -> str:
    """Binary attributes (a notice's compressed message: boto3's ``Binary``, whose str() is bytes) as hex."""
    raw = getattr(value, "value", value)
    return raw.hex() if isinstance(raw, bytes | bytearray) else str(value)


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in sorted(value.items()) if k not in OPERATIONAL}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


class Tables:
    """The template's tables as moto holds them (in-process worlds only): copied aside, put back, read whole.

    Going to moto's backend directly (as moto's own table restore does) keeps a rewind to a few milliseconds, which is
    what makes a run per failing call affordable.
    """

    def __init__(self, world: World) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
        self.tables = {logical: backend.tables[world.template.physical_id(logical)] for logical in TABLES}

    def dump(self) -> dict[str, Any]:
        return {logical: copy.deepcopy(table.items) for logical, table in self.tables.items()}

    def load(self, dump: dict[str, Any]) -> None:
        for logical, table in self.tables.items():
            table.items = copy.deepcopy(dump[logical])

    def items(self) -> dict[str, dict[tuple[str, str], str]]:
        result: dict[str, dict[tuple[str, str], str]] = {}
        for logical, table in self.tables.items():
            records = {}
            for item in table.all_items():
                record = item.to_regular_json()
                key = (str(record.pop("pk")), str(record.pop("sk")))
                records[key] = json.dumps(_normalise(record), sort_keys=True, default=_json_default)
            result[logical] = records
        return result


def fingerprint(world: World) -> str:
    """Everything a request could change, as one string: every item of every table (the idempotency records too),
    the emails SES accepted and the events put on the bus (in-process moto, or a moto server in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables
    state = {
        logical: sorted(
            json.dumps(item.to_regular_json(), sort_keys=True, default=_json_default)
            for item in tables[world.template.physical_id(logical)].all_items()
        )
        for logical in world.template.resources_of_type("AWS::DynamoDB::Table")
    }
    return json.dumps([state, len(sent_emails()), len(world.bus_events())], sort_keys=True)


def sent_emails() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def queue_urls(world: World) -> dict[str, str]:
    return {
        logical: world.sqs.get_queue_url(QueueName=world.template.physical_id(logical))["QueueUrl"]
        for logical in world.template.resources_of_type("AWS::SQS::Queue")
    }


def messages_left(world: World, urls: dict[str, str]) -> dict[str, int]:
    """Messages still in each queue of the template (a dead-letter queue that is not empty means a lost job)."""
    counts = {}
    for logical, url in urls.items():
        attributes = world.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        counts[logical] = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    return {logical: count for logical, count in counts.items() if count}


@dataclass
class Checkpoint:
    """The fixture as it stood before the run under test, to go back to before each faulted run."""

    tables: dict[str, Any]
    emails: int
    bus: int


class Scene:
    """A world with a fixture loaded, where a job can be run again and again from the same starting point."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tables = Tables(world)
        self.faults = Faults()
        self.faults.install()
        self.queues = queue_urls(world)
        self.buckets = [world.template.physical_id(b) for b in world.template.resources_of_type("AWS::S3::Bucket")]
        self.s3 = boto3.client("s3", region_name=REGION, endpoint_url=world.endpoint_url)
        self.fired: Call | None = None
        self.checkpoint = Checkpoint(self.tables.dump(), len(sent_emails()), len(world.bus_events()))

    def rewind(self) -> None:
        self.tables.load(self.checkpoint.tables)
        del sent_emails()[self.checkpoint.emails :]
        self.world.bus_events()
        del self.world._bus_seen[self.checkpoint.bus :]
        for logical in messages_left(self.world, self.queues):
            self.world.sqs.purge_queue(QueueUrl=self.queues[logical])
        for bucket in self.buckets:  # the fixtures write no report: a rewind empties the bucket
            for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    self.s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])

    def outcome(self) -> Outcome:
        emails = Counter(
            (str(m.destinations["ToAddresses"]), str(m.subject), str(m.body))
            for m in sent_emails()[self.checkpoint.emails :]
        )
        bus = Counter(
            json.dumps(event["detail"], sort_keys=True) for event in self.world.bus_events()[self.checkpoint.bus :]
        )
        reports = {}
        for bucket in self.buckets:  # the report files; a run's scratch parts (work/, expiring) are left out
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/"):
                for obj in page.get("Contents", []):
                    body = self.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    reports[obj["Key"]] = body.decode("utf-8", "replace")
        return Outcome(self.tables.items(), emails, bus, messages_left(self.world, self.queues), reports)

    def run(
        self, job: Callable[[], None], k: int | None = None, mode: str = "refused", *, then: Callable[[], Any]
    ) -> tuple[Outcome, list[Call]]:
        """From the checkpoint: ``job`` with call ``k`` failing, then (no fault any more) ``then``, the recovery."""
        self.rewind()
        self.faults.arm(k, mode)
        try:
            job()
        finally:
            calls = list(self.faults.calls)
            self.fired = self.faults.fired
            self.faults.arm(None)
        then()
        return self.outcome(), calls


def run_like_aws(world: World, logical_id: str, event: dict[str, Any], errors: list[str] | None = None) -> None:
    """Invoke a scheduled function as its schedule does, retrying a failed invocation as Lambda's async retries and
    the schedule's RetryPolicy do; drain its queues after each attempt as the event source mapping would (a failed
    batch item is delivered again, up to maxReceiveCount)."""
    for _attempt in range(SCHEDULE_ATTEMPTS):
        try:
            world.invoke(logical_id, event)
        except Exception as error:  # the invocation failed: Lambda retries it
            if errors is not None:
                errors.append(f"{type(error).__name__}: {error}")
            runtime.drain_queues(world.template, world.endpoint_url)
            continue
        runtime.drain_queues(world.template, world.endpoint_url)
        break
    else:
        raise AssertionError(f"{logical_id} failed {SCHEDULE_ATTEMPTS} times in a row")


def redeliver_after_lease(world: World, logical_id: str) -> int:
    """What the next scheduled run does first: send the notices whose claim outlived the lease (their sender died).
    The lease is made to have passed by handing the outbox a clock one lease ahead."""
    from overage.notices.outbox import LEASE
    from overage.runtime.config import Settings
    from overage.services import deps as stores

    env = runtime.function_env(world.template, logical_id, world.endpoint_url)
    with runtime.applied_environment(env):
        outbox = stores.notice_outbox(Settings.from_env())
        return outbox.redeliver_stale(datetime.now(UTC) + LEASE + timedelta(seconds=1))


@contextmanager
def quiet_functions() -> Iterator[None]:
    """Keep the functions' metrics flushes out of the output of hundreds of runs."""
    with runtime.applied_environment({"POWERTOOLS_METRICS_DISABLED": "true"}):
        yield


# ---------------------------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Fault:
    call: Call
    mode: str

    def __str__(self) -> str:
        return f"{self.call} {self.mode}"


def fault_plan(calls: list[Call], *, every_call: bool) -> list[Fault]:
    """Which calls to make fail, and how.

    Writes fail both refused and lost, reads refused (a lost read is a refused one: nothing was applied),
    transactions also cancelled by a conflict.
    ``every_call``: every call of the clean run. Otherwise the first call of each kind (``Call.kind``: the operation
    and what it is about, e.g. which items a transaction writes), which covers every kind of write the run makes;
    the calls of a kind run the same code for another account, message or notice.
    """
    chosen: list[Call] = []
    if every_call:
        chosen = list(calls)
    else:
        first: dict[str, Call] = {}
        for call in calls:
            first.setdefault(call.kind, call)
        chosen = sorted(first.values(), key=lambda c: c.n)
    return [Fault(call, mode) for call in chosen for mode in MODES if applies(mode, call)]


def applies(mode: str, call: Call) -> bool:
    if mode == "conflict":
        return call.operation == "TransactWriteItems"
    return call.write or mode == "refused"


def repeats_allowed(calls: list[Call], fault: Fault) -> tuple[int, int]:
    """How many emails and bus events the documented window lets come twice after this fault (outbox module doc).

    A delivery is PutEvents, SendEmail, then the UpdateItem marking the notice sent. The email comes twice only when
    SES accepted it and that write did not happen; the bus event whenever the delivery failed after EventBridge
    accepted it.
    """
    call, lost = fault.call, fault.mode == "lost"
    before = [calls[n - 1].operation for n in (call.n - 1, call.n - 2) if n >= 1]
    marking_sent = call.operation == "UpdateItem" and ":NOTICE" in call.target and not lost
    email = (call.operation == "SendEmail" and lost) or (marking_sent and before[:1] == ["SendEmail"])
    bus = (
        (call.operation == "PutEvents" and lost)
        or (call.operation == "SendEmail" and before[:1] == ["PutEvents"])
        or (marking_sent and (before[:1] == ["PutEvents"] or before[:2] == ["SendEmail", "PutEvents"]))
    )
    return int(email), int(bus)


def compare(clean: Outcome, faulted: Outcome, calls: list[Call], fault: Fault) -> list[str]:
    """What the faulted run did differently from the clean one, beyond what the guarantee allows."""
    problems = [f"{fault}: {difference}" for difference in faulted.item_differences(clean)[:5]]
    emails_allowed, bus_allowed = repeats_allowed(calls, fault)
    for name, ours, theirs, allowed in (
        ("email", faulted.emails, clean.emails, emails_allowed),
        ("bus event", faulted.bus, clean.bus, bus_allowed),
    ):
        missing = theirs - ours
        extra = ours - theirs
        if missing:
            problems.append(f"{fault}: {sum(missing.values())} {name}(s) never sent: {list(missing)[:2]}")
        if sum(extra.values()) > allowed or any(message not in theirs for message in extra):
            twice = sum(extra.values())
            problems.append(f"{fault}: {twice} {name}(s) sent twice (allowed {allowed}): {list(extra)[:2]}")
    if faulted.queued:
        problems.append(f"{fault}: messages left in queues {faulted.queued}")
    return problems


@dataclass
class CrashReport:
    clean: Outcome
    calls: list[Call]
    plan: list[Fault]
    problems: list[str]

    def kinds(self, *, writes: bool) -> set[str]:
        return {call.kind for call in self.calls if call.write == writes}

    def planned_kinds(self) -> set[str]:
        return {fault.call.kind for fault in self.plan}

    def assert_every_fault_recovered(self, write_kinds: set[str]) -> None:
        """The run made each of ``write_kinds`` (so each was made to fail), every write kind it made was failed in
        every mode that applies, and whichever call failed, the run ended as the clean one did."""
        made = {kind.split("(")[0] for kind in self.kinds(writes=True)}
        assert made >= write_kinds, f"writes never made: {sorted(write_kinds - made)}"
        assert self.uncovered() == [], f"never failed: {self.uncovered()}"
        assert self.problems == [], "\n".join(self.problems)

    def uncovered(self) -> list[tuple[str, str]]:
        """(kind, mode) of every write kind of the run that no planned fault tried, in each mode that applies."""
        planned = {(fault.call.kind, fault.mode) for fault in self.plan}
        first = {call.kind: call for call in reversed(self.calls)}
        wanted = {(kind, mode) for kind, call in first.items() if call.write for mode in MODES if applies(mode, call)}
        return sorted(wanted - planned)


def crash_at_every_call(
    world: World,
    logical_id: str,
    as_of: str,
    *,
    every_call: bool = EVERY_CALL,
    run: Callable[[], None] | None = None,
) -> CrashReport:
    """From the fixture ``world`` holds: the clean run of the scheduled job, then one run per planned fault from the
    same starting point (the run as AWS retries it, then the next run's redelivery), each compared with the clean one.
    ``run``: the run another way than ``run_like_aws`` (a delivery order of its own), faulted the same way.
    """
    scene = Scene(world)

    def job() -> None:
        # Call k must be the same call in every run: the records of a batch one after another here (records handled
        # at once are tested by test_concurrent_runs and the renewal scale tests).
        with records_one_after_another(world):
            if run is not None:
                run()
            else:
                run_like_aws(world, logical_id, {"as_of": as_of})

    def then() -> None:
        redeliver_after_lease(world, logical_id)

    clean, calls = scene.run(job, then=then)
    plan = fault_plan(calls, every_call=every_call)
    problems: list[str] = []
    for fault in plan:
        outcome, _ = scene.run(job, fault.call.n, fault.mode, then=then)
        fired = scene.fired
        if fired is None or fired.kind != fault.call.kind:
            problems.append(f"{fault}: the run took another path (the fault hit {fired})")
            continue
        problems += compare(clean, outcome, calls, fault)
    return CrashReport(clean, calls, plan, problems)


@contextmanager
def served_world(log_level: str = "ERROR", **parameters: str) -> Iterator[World]:
    """A World whose functions talk to a moto server, as ``overage local up`` serves it, started in this process so
    its backends can be read. moto's backends are per process: they are reset first, so nothing an earlier test
    left (in a server or in-process mock) is seen."""
    import urllib.request

    from overage_local.server import start_local_stack
    from overage_local.template import LocalTemplate

    from tests.support import ROOT, reset_caches

    overrides = {"LogLevel": log_level, **parameters}
    template = LocalTemplate.from_file(ROOT / "template.yaml", parameter_overrides=overrides)
    reset_caches()
    server, endpoint_url = start_local_stack(0, None)
    try:
        reset = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=30).close()
        template.create_resources(endpoint_url=endpoint_url)
        yield World(template, endpoint_url)
    finally:
        server.stop()
        reset_caches()
