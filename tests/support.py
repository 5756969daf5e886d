"""A moto world built from template.yaml, and the helpers tests drive it with (as the CRM and the scheduler would)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from overage.domain.signature import sign_header
from overage.runtime import aws
from overage_local import runtime
from overage_local.template import LocalTemplate, create_resources

from tests.builders import (  # noqa: F401 - the builders, where most tests still import them from
    call_body,
    contacts_body,
    payment_body,
    profiles_body,
    upsert_body,
)

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SECRET = "local-dev-secret"
REGION = "eu-west-1"


def reset_caches() -> None:
    """Forget clients, cached parameters and loaded handler modules between moto worlds."""
    from aws_lambda_powertools.utilities.parameters import base as parameters_base

    aws.reset_clients()
    parameters_base.DEFAULT_PROVIDERS.clear()
    runtime.clear_loaded_functions()


def rest_event(
    method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as API Gateway (or `overage local api`) hands it to the function."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    encoded = None
    is_b64 = False
    if body is not None:
        try:
            encoded = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": "/v1" + path,
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": encoded,
        "isBase64Encoded": is_b64,
    }


class World:
    """The deployed system in miniature: every resource of template.yaml in moto, functions invoked as Lambda would."""

    def __init__(self, template: LocalTemplate, endpoint_url: str | None = None) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        kwargs: dict[str, Any] = {"region_name": REGION}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        self.ddb = boto3.client("dynamodb", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.events = boto3.client("events", **kwargs)
        self.accounts_table = template.physical_id("AccountsTable")
        self.ledger_table = template.physical_id("LedgerTable")
        self._capture_bus()

    # ------------------------------------------------------------------ bus capture
    def _capture_bus(self) -> None:
        bus = self.template.physical_id("OverageBus")
        queue_url = self.sqs.create_queue(QueueName="test-bus-capture")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="capture", EventBusName=bus, EventPattern=json.dumps({"source": ["overage"]}))
        self.events.put_targets(Rule="capture", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        self._bus_queue = queue_url
        self._bus_seen: list[dict[str, Any]] = []

    def bus_events(self) -> list[dict[str, Any]]:
        """Every event put on the CRM bus so far (source 'overage')."""
        while True:
            got = self.sqs.receive_message(QueueUrl=self._bus_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            for message in got:
                self._bus_seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self._bus_queue, ReceiptHandle=message["ReceiptHandle"])
        return list(self._bus_seen)

    # ------------------------------------------------------------------ the CRM
    def webhook(
        self,
        body: dict[str, Any] | bytes,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        header = signature if signature is not None else sign_header(secret, raw, timestamp or int(time.time()))
        result = self.invoke(
            "CrmWebhookFunction", rest_event("POST", "/webhooks/crm", raw, {"Overage-Signature": header})
        )
        return result["statusCode"], json.loads(result["body"])

    def accepted(self, body: dict[str, Any]) -> dict[str, Any]:
        """Deliver ``body`` and require a 202 (a fixture's events, which must all apply); the answer."""
        status, answer = self.webhook(body)
        assert status == 202, answer
        return answer

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        result = self.invoke("CrmWebhookFunction", rest_event("GET", path))
        return result["statusCode"], json.loads(result["body"])

    # ------------------------------------------------------------------ functions
    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        return runtime.invoke(self.template, logical_id, event, self.endpoint_url)

    def run(self, logical_id: str, event: dict[str, Any]) -> Any:
        """A scheduled run to completion: the function, then its fanned-out queue as Lambda's mapping would."""
        result = self.invoke(logical_id, event)
        runtime.drain_queues(self.template, self.endpoint_url)
        return result

    def renewal(self, as_of: str) -> Any:
        return self.run("RenewalBillingFunction", {"as_of": as_of})

    # ------------------------------------------------------------------ what was written / sent
    def account_item(self, account_id: str) -> dict[str, Any]:
        from overage.store.dynamo import from_item

        item = self.ddb.get_item(TableName=self.accounts_table, Key={"pk": {"S": account_id}, "sk": {"S": "ACCOUNT"}})
        return from_item(item["Item"]) if "Item" in item else {}

    def ledger(self, account_id: str, prefix: str) -> list[dict[str, Any]]:
        from overage.store.dynamo import from_item

        items = self.ddb.query(
            TableName=self.ledger_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": account_id}, ":p": {"S": prefix}},
        )["Items"]
        return [from_item(item) for item in items]

    def invoices(self, account_id: str) -> list[dict[str, Any]]:
        return sorted(self.ledger(account_id, "INVOICE#"), key=lambda r: r["period_start"])

    def series_counter(self, series: str) -> int | None:
        """The counter item of an invoice series: the last sequence issued in it (None: no item)."""
        key = {"pk": {"S": f"SERIES#{series}"}, "sk": {"S": "COUNTER"}}
        item = self.ddb.get_item(TableName=self.ledger_table, Key=key, ConsistentRead=True).get("Item")
        return int(item["last_sequence"]["N"]) if item else None

    def issued_number(self, account_id: str, invoice_id: str) -> str:
        """The number an invoice was issued with, checked against the scheme (README "Invoice numbers"): in the series
        of its account, currency and year (computed here from the scheme, not by the code), and, in a world where no
        other account shares that series, the account's n-th invoice of the series in issue order is number n."""
        invoices = sorted(self.invoices(account_id), key=lambda r: (r["issued_at"], r["invoice_id"]))
        (invoice,) = [r for r in invoices if r["invoice_id"] == invoice_id]
        series = series_of(account_id, invoice["currency"], int(invoice["issued_at"][:4]))
        in_series = [r for r in invoices if r["number"].rsplit("-", 1)[0] == series]
        assert invoice["number"] == f"{series}-{in_series.index(invoice) + 1}", (invoice["number"], series)
        return str(invoice["number"])

    def notices(self, account_id: str) -> list[dict[str, Any]]:
        """The account's notices as GET /accounts/{id}/notices lists them: rendered from the stored records (which
        hold the email's parts, not its text), with their delivery state, oldest first."""
        from overage.store.ledger import LedgerStore

        return LedgerStore(self.ledger_table, self.ddb).notices(account_id)

    def emails(self) -> list[Any]:
        """Messages SES accepted (moto's record: source, destinations, subject, body)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def series_of(account_id: str, currency: str, year: int) -> str:
    """The invoice series of an account's invoices in a currency and year, as the README states the scheme: the
    currency, the year, ``S`` and the shard (bytes 4-8 of the account id's SHA-256, big-endian, mod 4096)."""
    import hashlib

    shard = int.from_bytes(hashlib.sha256(account_id.encode()).digest()[4:8], "big") % 4096
    return f"{currency}{year}S{shard:04d}"


@contextmanager
def records_one_after_another(world: World) -> Iterator[None]:
    """The SQS-triggered functions with BATCH_WORKERS=1: the records of a batch one after another, so a run makes
    the same calls in the same order every time (the crash harness numbers them; the bench times each call)."""
    variables = world.template.data["Globals"]["Function"]["Environment"]["Variables"]
    with mock.patch.dict(variables, {"BATCH_WORKERS": "1"}):
        yield


@contextmanager
def moto_world(parameter_overrides: dict[str, str] | None = None) -> Iterator[World]:
    from overage_local.server import serialized_mock_aws

    with serialized_mock_aws():  # the SQS functions handle records on threads; moto answers one at a time
        reset_caches()
        template = LocalTemplate.from_file(ROOT / "template.yaml", parameter_overrides=parameter_overrides)
        create_resources(template, None, None)
        yield World(template)
    reset_caches()


# ---------------------------------------------------------------------------------------- fair use (spec §3.3)
def fair_use_run(world: World, as_of: str) -> Any:
    """The monthly fair-use rollup run to completion (the schedule's invocation, then its queue)."""
    return world.run("FairUseRollupFunction", {"as_of": as_of})


def deliver_closing_messages_first(world: World) -> dict[str, Any]:
    """SQS delivering a fair-use run's closing messages before the rollups it queued before them (a standard queue
    keeps no order): every message of FairUseQueue is received, the closing ones are delivered to the function in
    one batch, the others (and any closing message that failed) made visible again. The function's answer."""
    queue = world.template.physical_id("FairUseQueue")
    url = world.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    arn = world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    received: list[dict[str, Any]] = []
    while got := world.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        received += got
    closing = [m for m in received if json.loads(m["Body"]).get("kind") == "close_run"]
    failed: set[str] = set()
    result: dict[str, Any] = {}
    if closing:
        try:
            result = world.invoke("FairUseRollupFunction", runtime.sqs_event(closing, arn, world.template.region))
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as error:  # every record failed: SQS delivers them again
            failed = {m["MessageId"] for m in closing}
            result = {"error": repr(error)}
    for message in received:
        if message in closing and message["MessageId"] not in failed:
            world.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        else:
            world.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    return result


def fair_use_record(world: World, account_id: str, month: str) -> dict[str, Any] | None:
    """The stored rollup of an account-month (ledger ``FAIRUSE#<YYYY-MM>``)."""
    records = world.ledger(account_id, f"FAIRUSE#{month}")
    return records[0] if records else None


# ---------------------------------------------------------------------------------------- excess profiles (spec §3.2)
def grace_run(world: World, as_of: str) -> Any:
    """One run of GraceExpiryFunction to completion (the schedule's invocation, then its queue when it queued any)."""
    result = world.invoke("GraceExpiryFunction", {"as_of": as_of})
    if result["accounts_dispatched"] or result.get("invoices_dispatched"):
        runtime.drain_queues(world.template, world.endpoint_url)
    return result


def episodes(world: World, account_id: str) -> list[dict[str, Any]]:
    """The account's episode records (ledger ``EPISODE#``), oldest first."""
    return sorted(world.ledger(account_id, "EPISODE#"), key=lambda r: r["sk"])


# ---------------------------------------------------------------------------------------- monthly report (spec §3.6)
REPORT_FILES = (
    "summary.json",
    "excess_profiles.csv",
    "contact_overruns.csv",
    "fair_use.csv",
    "communication.csv",
    "settlement.csv",
    "index.html",
)


def report_run(world: World, event: dict[str, Any]) -> Any:
    """One run of UsageReportFunction to completion (the schedule's invocation, then one message per shard)."""
    return world.run("UsageReportFunction", event)


def report_files(world: World, month: str) -> dict[str, bytes]:
    """The objects under ``reports/<month>/`` of the report bucket, by file name."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = world.template.physical_id("ReportBucket")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"reports/{month}/").get("Contents", [])
    return {
        obj["Key"].rsplit("/", 1)[-1]: s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read() for obj in listed
    }


def report_summary(world: World, month: str) -> dict[str, Any]:
    return json.loads(report_files(world, month)["summary.json"])


def report_rows(world: World, month: str, name: str) -> list[dict[str, str]]:
    """A CSV of the month's report as rows (header → value)."""
    import csv
    import io

    return list(csv.DictReader(io.StringIO(report_files(world, month)[name].decode("utf-8"))))


def dynamodb_calls(action: Callable[[], object]) -> Counter[str]:
    """Count the DynamoDB operations ``action`` makes through the functions' shared client."""
    calls: Counter[str] = Counter()

    def count(model: object, **_: object) -> None:
        calls[model.name] += 1  # type: ignore[attr-defined]

    client = aws.client("dynamodb")  # the very client the functions use (cached per region and endpoint)
    client.meta.events.register("before-call.dynamodb", count)
    try:
        action()
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    return calls


@contextmanager
def clock(now: datetime) -> Iterator[None]:
    """The wall clock the scheduled functions check business time against (``runtime.business_time.wall_clock``)
    set to ``now``: a test that runs a schedule more than a day after today moves it there, as the calendar would."""
    with mock.patch("overage.runtime.business_time.wall_clock", return_value=now):
        yield
