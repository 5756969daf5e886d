"""``overage demo``: a month of CRM life replayed through every function, in-process (moto), nothing to start.

It builds the template's resources in moto, replays each scenario's CRM events through the signed webhook in
time order (with the scenario's other actions at their time: SES's feedback, a customer's click, ``actions()``),
runs every scheduled function of the template once per scheduled day (its cron decides which days and at what
time, which is the run's business time) draining the queues they fan out to, then prints what each scenario
produced, read back through the API, and copies the monthly report (when the template has one) to ``out_dir``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from overage.domain.instants import parse_instant
from overage.domain.signature import sign_header

from overage_local import runtime
from overage_local.api import HttpRequest, handle_request
from overage_local.template import LocalTemplate, create_resources, webhook_secret

FIRST_DAY = date(2026, 1, 10)
LAST_DAY = date(2026, 3, 1)
SCENARIOS = (
    "overage_local.demo_renewals",
    "overage_local.demo_excess_profiles",
    "overage_local.demo_plan_changes",
    "overage_local.demo_fair_use",
    "overage_local.demo_communication",
    "overage_local.demo_settlement",
    "overage_local.demo_report",
)

Get = Callable[[str], tuple[int, Any]]


@dataclass(frozen=True)
class ScheduledFunction:
    logical_id: str
    hour: int
    minute: int
    days_of_month: frozenset[int] | None  # None: every day

    def runs_on(self, day: date) -> bool:
        return self.days_of_month is None or day.day in self.days_of_month


def scheduled_functions(template: LocalTemplate) -> list[ScheduledFunction]:
    """Every function with a ``cron(...)`` Schedule event, in the order its runs happen within a day."""
    found: list[ScheduledFunction] = []
    for logical_id in template.function_ids():
        for event in template.function_events(logical_id, "Schedule", "ScheduleV2").values():
            expression = str(template.resolve(event.get("Properties", {}).get("Schedule", "")))
            match = re.fullmatch(r"cron\((\S+) (\S+) (\S+) \S+ \S+ \S+\)", expression.strip())
            if not match:
                continue
            minute, hour, day = match.groups()
            days = None if day in {"*", "?"} else frozenset(int(d) for d in day.split(","))
            # An hourly (or more frequent) schedule runs once a day in the demo, in the first hour: its
            # business time decides what is due, so one run a day shows every state change of the month.
            found.append(ScheduledFunction(logical_id, _first(hour), _first(minute), days))
    return sorted(found, key=lambda f: (f.hour, f.minute, f.logical_id))


def _first(field: str) -> int:
    """The first value a cron field matches: ``*`` → 0, ``5`` → 5, ``0/15`` → 0, ``5,35`` → 5."""
    head = field.split(",")[0].split("/")[0].split("-")[0]
    return 0 if head in {"*", "?"} else int(head)


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep the functions' structured logs and metrics out of the demo's printout."""
    from aws_lambda_powertools.metrics.provider import cold_start

    saved = {key: os.environ.get(key) for key in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL")}
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    # The ColdStart metric is printed even with metrics disabled, and one process plays every invocation here.
    cold_start.is_cold_start = False
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class DemoWorld:
    def __init__(self, template: LocalTemplate) -> None:
        self.template = template
        self.secret = webhook_secret()
        self.rejected: list[tuple[dict[str, Any], int, Any]] = []

    def request(self, method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None):
        response = handle_request(self.template, HttpRequest(method, path, headers or [], body), None)
        payload = json.loads(response.body) if response.body else None
        return response.status, payload

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def page(self, path: str) -> tuple[int, str]:
        """A route that answers HTML (an invoice's document)."""
        response = handle_request(self.template, HttpRequest("GET", path, [], b""), None)
        return response.status, response.body.decode()

    def deliver(self, event: dict[str, Any]) -> int:
        raw = json.dumps(event).encode()
        signature = sign_header(self.secret, raw, int(time.time()))
        status, payload = self.request(
            "POST", "/webhooks/crm", raw, [("Content-Type", "application/json"), ("Overage-Signature", signature)]
        )
        if status >= 300:
            self.rejected.append((event, status, payload))
        return status

    def run(self, function: ScheduledFunction, day: date) -> Any:
        as_of = datetime(day.year, day.month, day.day, function.hour, function.minute, tzinfo=UTC)
        result = runtime.invoke(self.template, function.logical_id, {"as_of": as_of.isoformat()}, None)
        runtime.drain_queues(self.template, None)
        return result


def _load_scenarios() -> list[Any]:
    return [importlib.import_module(name) for name in SCENARIOS]


def _delivery(event: dict[str, Any]) -> Callable[[DemoWorld], int]:
    def deliver(world: DemoWorld) -> int:
        return world.deliver(event)

    return deliver


def run_demo(root: Path, out_dir: Path) -> int:
    from overage_local.server import serialized_mock_aws

    scenarios = _load_scenarios()
    events = [event for scenario in scenarios for event in scenario.events()]
    # The timeline: CRM events and the scenarios' other actions (SES feedback, a click), by business time.
    timeline: list[tuple[datetime, str, Callable[[DemoWorld], Any]]] = [
        (parse_instant(e["occurred_at"]), e["id"], _delivery(e)) for e in events
    ]
    for scenario in scenarios:
        for at, name, action in getattr(scenario, "actions", list)():
            timeline.append((parse_instant(at), name, action))
    timeline.sort(key=lambda step: (step[0], step[1]))
    template = LocalTemplate.from_file(root / "template.yaml", parameter_overrides={"LogLevel": "ERROR"})
    with serialized_mock_aws(), _quiet():
        create_resources(template, None, None)
        world = DemoWorld(template)
        schedule = scheduled_functions(template)
        print(
            f"overage demo: {len(events)} CRM events, {len(scenarios)} scenarios, "
            f"daily runs {FIRST_DAY} → {LAST_DAY} of {', '.join(f.logical_id for f in schedule)}\n"
        )
        pending = list(timeline)
        day = FIRST_DAY
        while day <= LAST_DAY:
            for function in schedule:
                if not function.runs_on(day):
                    continue
                moment = datetime(day.year, day.month, day.day, function.hour, function.minute, tzinfo=UTC)
                while pending and pending[0][0] <= moment:
                    pending.pop(0)[2](world)
                world.run(function, day)
            day += timedelta(days=1)
        for _, _, step in pending:
            step(world)
        for scenario in scenarios:
            print("=" * 100)
            print(scenario.TITLE)
            print("=" * 100)
            for line in scenario.summary(world.get):
                print(line)
            print()
        if world.rejected:
            print("Events the webhook rejected (the demo expects none):")
            for event, status, payload in world.rejected:
                print(f"  {status} {event['type']} {event['id']}: {payload}")
            return 1
        _save_report(template, out_dir)
        _save_invoice_document(world, out_dir)
    return 0


DOCUMENT_ACCOUNT = "demo_renewals_gbp_monthly"  # a GBP buyer with a VAT number: a full VAT invoice


def _save_invoice_document(world: DemoWorld, out_dir: Path) -> None:
    """One invoice's printable document (GET /accounts/{id}/invoices/{invoice_id}/document), next to the report."""
    status, listed = world.get(f"/accounts/{DOCUMENT_ACCOUNT}/invoices")
    if status != 200 or not listed["invoices"]:
        return
    invoice = listed["invoices"][-1]
    status, page = world.page(f"/accounts/{DOCUMENT_ACCOUNT}/invoices/{invoice['invoice_id']}/document")
    if status != 200:
        raise RuntimeError(f"the document of {invoice['invoice_id']} answered {status}")
    target = out_dir / "invoices" / f"{invoice['number']}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, "utf-8")
    print(f"\nInvoice {invoice['number']} ({DOCUMENT_ACCOUNT}) as its customer prints it: {target.resolve().as_uri()}")


def _save_report(template: LocalTemplate, out_dir: Path) -> None:
    """Copy the monthly report files from the (moto) bucket, when the template declares a report bucket."""
    buckets = template.resources_of_type("AWS::S3::Bucket")
    if not buckets:
        return
    import boto3

    s3 = boto3.client("s3", region_name=template.region)
    written: list[Path] = []
    for logical_id in buckets:
        bucket = template.physical_id(logical_id)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/"):
            for obj in page.get("Contents", []):
                target = out_dir / obj["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
                written.append(target)
    if written:
        print("Monthly report files written locally:")
        for path in sorted(written):
            print(f"  {path}")
        index = [p for p in written if p.name == "index.html"]
        if index:
            print(f"\nOpen {sorted(index)[-1].resolve().as_uri()} in a browser.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(Path.cwd(), Path.cwd() / "reports-local"))
