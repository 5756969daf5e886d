"""Webhook overhead: events per second through the whole handler against the raw AWS requests it makes.

Both sides run in this process against moto, in the same run. First a CRM's mix of events (``MIX``: contact and
profile counts, completed calls and goodwill credits, whose settlement transaction numbers a credit note and whose
notice is emailed and put on the bus) goes through CrmWebhookFunction in a warm container (signature check, schema
validation, the idempotency record, the writes, the notices) while its DynamoDB, SES and EventBridge requests are
recorded; the events are signed before the clock starts (the CRM's work). Then, in a second world seeded
identically, exactly those requests are replayed on plain boto3 clients. The ratio is what the handler costs on top
of the requests it cannot avoid. A round is one such pair; the report is the round with the median ratio, with every
round's ratio beside it (one round on a shared machine ranged from 1.03× to 1.31×).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
from botocore import xform_name
from overage.domain.signature import sign_header
from overage.runtime import aws
from overage_local import runtime

from bench import seed
from bench.probe import table
from tests.builders import call_body, contacts_body, grant_body, profiles_body
from tests.support import SECRET, moto_world, rest_event

ACCOUNTS = 20
EVENTS = 400
ROUNDS = 3
GOAL = 1.3


@dataclass
class Overhead:
    events: int
    handler_seconds: float
    raw_seconds: float
    calls: Counter[str]
    round_ratios: tuple[float, ...] = ()
    # per event type: (events, handler seconds, raw seconds), the same round
    by_type: dict[str, tuple[int, float, float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.handler_seconds / self.raw_seconds

    def type_ratio(self, kind: str) -> float:
        _, handler, raw = self.by_type[kind]
        return handler / raw


# The mix of a CRM's day, per ten events: seven contact counts, a profile count, a completed call and a goodwill
# credit (the settlement path: a numbered credit note, the credit, the adjustment record and its notice, emailed).
MIX = ("contacts.counted",) * 7 + ("profiles.counted", "call.completed", "credit.granted")
SERVICES = ("dynamodb", "sesv2", "events")  # what the handler calls on the way, recorded and replayed


def _bodies() -> list[dict[str, Any]]:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    bodies = []
    for n in range(EVENTS):
        at = start + timedelta(minutes=n)
        occurred, account, kind = _instant(at), seed.account_id(n % ACCOUNTS), MIX[n % len(MIX)]
        if kind == "contacts.counted":
            body = contacts_body(account, occurred, 40 + n % 90, n % 7)
        elif kind == "profiles.counted":
            body = profiles_body(account, occurred, 150 + n % 40)  # within the standard package's 200
        elif kind == "call.completed":
            body = call_body(account, f"call_{n:05d}", _instant(at - timedelta(seconds=700)), 700)
        else:
            body = grant_body(account, occurred, "2.50", "USD", reason="Outage on 31 January")
        bodies.append(body | {"id": f"evt_bench_{n:05d}"})
    return bodies


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _warm_up(body: dict[str, Any]) -> dict[str, Any]:
    """An event for an account outside the measured ones (so it changes nothing the measured events meet)."""
    return body | {"id": "evt_warm_up", "account_id": seed.account_id(ACCOUNTS)}


def _seed(world: Any) -> None:
    records = (item for n in range(ACCOUNTS + 1) for item in seed.account_items(n, date(2026, 1, 20)))
    seed.put_all(world.ddb, world.accounts_table, records)


def run() -> Overhead:
    """``ROUNDS`` rounds; the one with the median ratio, carrying every round's ratio."""
    rounds = sorted((_round() for _ in range(ROUNDS)), key=lambda r: r.ratio)
    median = rounds[len(rounds) // 2]
    return replace(median, round_ratios=tuple(r.ratio for r in rounds))


def _requests(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each body as API Gateway hands it to the function: signed by the CRM, before the clock starts (signing is the
    CRM's work, not the handler's)."""
    events = []
    for body in bodies:
        raw = json.dumps(body).encode()
        header = sign_header(SECRET, raw, int(time.time()))
        events.append(rest_event("POST", "/webhooks/crm", raw, {"Overage-Signature": header}))
    return events


def _round() -> Overhead:
    bodies = _bodies()
    recorded: list[tuple[str, str, dict[str, Any]]] = []  # service, operation, request
    overrides = {"LogLevel": "ERROR"}
    with moto_world(parameter_overrides=overrides) as world:
        _seed(world)
        world.webhook(_warm_up(bodies[0]))  # the first call loads the handler, builds clients, reads the secret
        clients = {service: aws.client(service) for service in SERVICES}

        def recorder(service: str) -> Any:
            def record(params: dict[str, Any], model: Any, **_: Any) -> None:
                recorded.append((service, model.name, copy.deepcopy(params)))

            return record

        hooks = {service: recorder(service) for service in SERVICES}

        events = _requests(bodies)
        # A warm container: the function's environment applied and its handler loaded once, as in Lambda, so the
        # clock sees the handler and its AWS calls, not the local runtime's per-invocation setup.
        with runtime.warm_container(world.template, "CrmWebhookFunction", world.endpoint_url) as handle:
            for service, client in clients.items():
                client.meta.events.register(f"provide-client-params.{service}", hooks[service])
            answers, spans, handler_times = [], [], []
            for event in events:
                first = len(recorded)
                started = time.perf_counter()
                answers.append(handle(event))
                handler_times.append(time.perf_counter() - started)
                spans.append(range(first, len(recorded)))
            for service, client in clients.items():
                client.meta.events.unregister(f"provide-client-params.{service}", hooks[service])
        refused = [answer for answer in answers if answer["statusCode"] != 202]
        if refused:
            raise RuntimeError(f"webhook answered {refused[0]['statusCode']}: {refused[0]['body']}")
        table_names = {
            world.template.physical_id(table)
            for table in ("AccountsTable", "IdempotencyTable", "LedgerTable", "CallsTable")
        }

    with moto_world(parameter_overrides=overrides) as world:
        _seed(world)
        world.webhook(_warm_up(bodies[0]))
        plain = {service: boto3.client(service, region_name=world.template.region) for service in SERVICES}
        calls = [(getattr(plain[service], xform_name(op)), params) for service, op, params in recorded]
        tables = {
            name
            for service, _, params in recorded
            if service == "dynamodb"
            for name in [params.get("TableName"), *params.get("RequestItems", {})]
            + [next(iter(action.values())).get("TableName") for action in params.get("TransactItems", [])]
            if name
        }
        if not tables <= table_names:
            raise RuntimeError(f"the webhook used tables the bench does not know: {sorted(tables - table_names)}")
        refusals = (plain["dynamodb"].exceptions.ConditionalCheckFailedException,)
        raw_times = []
        for call, params in calls:
            started = time.perf_counter()
            with contextlib.suppress(*refusals):
                call(**params)  # a refusal the handler met too (e.g. an older count arriving late)
            raw_times.append(time.perf_counter() - started)
    by_type: dict[str, tuple[int, float, float]] = {}
    for body, span, seconds in zip(bodies, spans, handler_times, strict=True):
        n, handler, raw = by_type.get(body["type"], (0, 0.0, 0.0))
        by_type[body["type"]] = (n + 1, handler + seconds, raw + sum(raw_times[i] for i in span))
    calls_made = Counter(f"{service}.{op}" for service, op, _ in recorded)
    return Overhead(EVENTS, sum(handler_times), sum(raw_times), calls_made, by_type=by_type)


def report(result: Overhead) -> None:
    per_event = ", ".join(f"{op} {n / result.events:.3g}" for op, n in sorted(result.calls.items()))
    verdict = "✓" if result.ratio <= GOAL else "over"
    ratios = ", ".join(f"{r:.2f}×" for r in result.round_ratios)
    rows = [
        [
            "CrmWebhookFunction (signature, validation, idempotency, writes, notices)",
            *_rate(result.events, result.handler_seconds),
            per_event,
        ],
        ["the same AWS requests on plain clients", *_rate(result.events, result.raw_seconds), per_event],
        [f"**ratio {result.ratio:.2f}×** {verdict} (goal ≤ {GOAL}×)", "", "", ""],
    ]
    for kind, (n, handler, raw) in result.by_type.items():
        rows.append(
            [
                f"of which `{kind}` ({n}): **{handler / raw:.2f}×** {'✓' if handler / raw <= GOAL else 'over'}",
                *_rate(n, handler),
                f"{raw / n * 1000:.2f} ms/event on plain clients",
            ]
        )
    table(
        f"Webhook overhead: {result.events} CRM events in-process (moto; of ten, {_mix()}), median of "
        f"{len(result.round_ratios)} rounds ({ratios})",
        ["path", "events/s", "ms/event", "AWS calls per event"],
        rows,
    )


def _mix() -> str:
    return ", ".join(f"{MIX.count(kind)} `{kind}`" for kind in dict.fromkeys(MIX))


def _rate(events: int, seconds: float) -> list[str]:
    return [f"{events / seconds:,.0f}", f"{seconds / events * 1000:.2f}"]
