"""Peak RSS of each function over its benchmark workload, one process per function (``bench/lambda_worker.py``).

AWS is ``overage local up`` (a moto server in its own process); each worker imports its handler on the Lambda-like
path and runs: the webhook, 400 mixed events and reads; a scheduled function, its schedule invocation and then its
queue in batches, as the event source mapping delivers them. ``MemorySize`` = the peak with 50 % headroom, rounded up
to 64 MB, and at least 256 MB: below that Lambda's CPU share (memory / 1,769 MB of a vCPU) stretches a cold start of
boto3 + pydantic + Powertools to seconds. That is what template.yaml is set to.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import boto3
from overage.domain.signature import sign_header
from overage_local.runtime import function_env
from overage_local.template import LocalTemplate

from bench import seed
from bench.layer import ROOT, Site, run_in_function
from bench.probe import table
from tests.support import World, call_body, contacts_body, profiles_body, rest_event, upsert_body

HEADROOM = 1.5
FLOOR_MB = 256
SECRET = "local-dev-secret"
WORKER = Path(__file__).with_name("lambda_worker.py")
WEB_ACCOUNTS = 50
RENEWALS = 60
GRACES = 20
ROLLUPS = 20
SCHEDULED_AS_OF = {
    "RenewalBillingFunction": "2026-02-12T00:15:00Z",
    "GraceExpiryFunction": "2026-03-15T00:05:00Z",
    "FairUseRollupFunction": "2026-02-01T00:15:00Z",
}
OTHER_AS_OF = "2026-03-01T00:15:00Z"  # any other scheduled function (e.g. the monthly report)


@dataclass
class Memory:
    name: str
    peak_mib: float | None
    after_import_mib: float | None
    invocations: int
    configured_mb: int
    error: str = ""

    @property
    def recommended_mb(self) -> int | None:
        if self.peak_mib is None:
            return None
        return max(FLOOR_MB, math.ceil(self.peak_mib * HEADROOM / 64) * 64)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_aws(template: LocalTemplate) -> Iterator[str]:
    """``overage local up`` on a free port, ready (tables, queues, secrets) for the functions of ``template``: its
    endpoint while the block runs, stopped after it."""
    server, endpoint = _start_server(template)
    try:
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _start_server(template: LocalTemplate) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "overage"), str(ROOT)]),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "overage_local.cli", "local", "up", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=template.region)
    deadline = time.monotonic() + 60
    queues = [template.physical_id(source.queue_id) for source in template.sqs_event_sources()]
    webhook_env = function_env(template, "CrmWebhookFunction", endpoint)
    secrets = [value for name, value in webhook_env.items() if name.endswith("SECRET_PARAMETER")]
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("overage local up exited early")
        try:
            ready = template.physical_id("AccountsTable") in ddb.list_tables()["TableNames"]
            sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=template.region)
            ready = ready and all(sqs.get_queue_url(QueueName=q) for q in queues)
            # the secrets are created after the tables and queues: the first webhook needs them
            ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=template.region)
            ready = ready and all(ssm.get_parameter(Name=name) for name in secrets)
        except Exception:  # not listening yet, or still creating resources
            ready = False
        if ready:
            time.sleep(0.5)
            return server, endpoint
        time.sleep(0.3)
    server.terminate()
    raise TimeoutError("overage local up did not come up within 60 s")


def _webhook_events() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for n in range(WEB_ACCOUNTS):
        ident = f"mem_web_{n:04d}"
        bodies.append(upsert_body(ident, billing_cycle="monthly", started_on="2026-01-20"))
        bodies.append(contacts_body(ident, "2026-02-01T00:00:00Z", 40 + n))
        bodies.append(profiles_body(ident, "2026-02-02T00:00:00Z", 150 + n))  # some approach, some exceed the limit
        bodies.append(call_body(ident, f"{ident}_c1", "2026-02-03T10:00:00Z", 600 + n * 30))
    now = int(time.time())
    events = []
    for body in bodies:
        raw = json.dumps(body).encode()
        events.append(rest_event("POST", "/webhooks/crm", raw, {"Overage-Signature": sign_header(SECRET, raw, now)}))
    for n in range(0, WEB_ACCOUNTS, 4):
        for path in ("", "/invoices", "/notices", "/preview"):
            events.append(rest_event("GET", f"/accounts/mem_web_{n:04d}{path}"))
    events.append(rest_event("GET", "/openapi.json"))
    return events


def _seed(world: World, ddb: Any) -> None:
    first = 100_000
    seed.seed_accounts(ddb, world.accounts_table, first, first + RENEWALS, date(2026, 1, 12), contacts=130)
    for n in range(GRACES):
        ident = f"mem_grace_{n:04d}"
        world.webhook(upsert_body(ident, billing_cycle="monthly", started_on="2026-02-20", customer_since="2026-02-20"))
        world.webhook(profiles_body(ident, "2026-03-01T00:00:00Z", 230))
    for n in range(ROLLUPS):
        ident = f"mem_fairuse_{n:04d}"
        world.webhook(upsert_body(ident, package="complete", billing_cycle="monthly", started_on="2025-06-01"))
        for k, seconds in enumerate((1_200, 2_700, 600)):
            world.webhook(call_body(ident, f"{ident}_c{k}", f"2026-01-05T{9 + k:02d}:00:00Z", seconds, f"u{k % 2}"))


def _run_worker(site: Site, template: LocalTemplate, endpoint: str, logical_id: str, events: list[Any]) -> Memory:
    configured = int(template.function_setting(logical_id, "MemorySize", 128))
    local = template.for_endpoint(endpoint)
    drain = [
        {"url": local.queue_url(s.queue_id), "arn": template.arn(s.queue_id), "batch_size": s.batch_size}
        for s in template.sqs_event_sources()
        if s.function_id == logical_id
    ]
    code = template.function_code(logical_id)
    job = {"attribute": code.attribute, "name": logical_id, "memory": configured, "events": events, "drain": drain}
    result = run_in_function(site, template, logical_id, WORKER, job, endpoint=endpoint)
    if result.returncode != 0:
        return Memory(logical_id, None, None, 0, configured, result.stderr.strip().splitlines()[-1][:200])
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return Memory(logical_id, answer["peak_mib"], answer["after_import_mib"], answer["invocations"], configured)


def run(site: Site) -> list[Memory]:
    template = LocalTemplate.from_file(ROOT / "template.yaml", parameter_overrides={"LogLevel": "ERROR"})
    with local_aws(template) as endpoint:
        world = World(template.for_endpoint(endpoint), endpoint)
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=template.region)
        _seed(world, ddb)
        results = []
        for logical_id in template.function_ids():
            if logical_id == "CrmWebhookFunction":
                events = _webhook_events()
            else:
                events = [{"as_of": SCHEDULED_AS_OF.get(logical_id, OTHER_AS_OF)}]
            results.append(_run_worker(site, template, endpoint, logical_id, events))
        return results


def report(results: list[Memory], sized_elsewhere: dict[str, tuple[int, str]] | None = None) -> None:
    """``sized_elsewhere``: functions whose MemorySize comes from another measurement (what it recommends, and
    which), e.g. the monthly report's from the report at scale."""
    rows = []
    for r in results:
        if r.peak_mib is None:
            rows.append([r.name, "failed", "", "", r.configured_mb, r.error])
            continue
        recommended, source = (sized_elsewhere or {}).get(r.name, (r.recommended_mb, ""))
        rows.append(
            [
                r.name,
                f"{r.after_import_mib:.0f}",
                f"{r.peak_mib:.0f}",
                r.invocations,
                r.configured_mb,
                f"{recommended}"
                + (f" ({source})" if source else "")
                + ("" if recommended == r.configured_mb else " (template differs)"),
            ]
        )
    table(
        "Memory: peak RSS per function over its workload (one process each; AWS = `overage local up`)",
        ["function", "MiB after import", "peak MiB", "invocations", "MemorySize", "peak × 1.5, to 64 MB, ≥ 256"],
        rows,
        "X-Ray is off in these processes (no daemon); the SDK adds a few MiB in AWS, inside the headroom.",
    )
