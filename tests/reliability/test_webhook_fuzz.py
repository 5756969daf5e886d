"""The API fuzzed from its own published contract (spec §4): schemathesis draws requests from ``GET /openapi.json``
and sends them over HTTP to ``overage local api`` in front of a ``overage local up`` moto server.

More than a thousand cases: webhook bodies that follow the contract and bodies that break it, each signed with the
secret (a hook of ours signs the exact bytes sent, so the case reaches validation), bodies signed by someone without
the secret (schemathesis's own well-formed but wrong signatures, or none), and every read endpoint with drawn path
parameters. No answer is a 5xx, every rejection has the code the spec gives it, and no rejected request changes a
table, sends an email or puts an event on the bus. Hypothesis runs derandomised, so CI sees the same cases each time.
"""

from __future__ import annotations

import json
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from overage.domain.crm_events import MalformedJson, parse_crm_event
from overage.domain.signature import sign_header
from overage.errors import InvalidRequest
from overage_local.api import serve_api
from schemathesis import GenerationMode

from tests.reliability.harness import fingerprint, served_world
from tests.support import SECRET, World, upsert_body

WEBHOOK = "/webhooks/crm"
SIGNED_POSITIVE, SIGNED_NEGATIVE, UNSIGNED, PER_READ_ENDPOINT = 330, 330, 160, 35
KNOWN = "acc_known"
MINIMUM_CASES = 1000


@dataclass
class Api:
    url: str
    world: World
    schema: Any
    seen: Counter[str] = field(default_factory=Counter)
    state: str = ""

    def post(self, raw: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.url + WEBHOOK, data=raw, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with served_world() as world:
        http = serve_api(world.template, 0, world.endpoint_url)
        try:
            # One known account, so read endpoints and events for it get past the 404
            assert world.webhook(upsert_body(KNOWN))[0] == 202
            document = requests.get(http.url + "/openapi.json", timeout=30).json()
            yield Api(http.url, world, schemathesis.openapi.from_dict(document), state=fingerprint(world))
        finally:
            http.shutdown()


def drive(strategy: Any, examples: int, check: Callable[[Any], None]) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy.map(about_the_known_account))
    def run(case: Any) -> None:
        check(case)

    run()


def about_the_known_account(case: Any) -> Any:
    """Every other drawn case is about the account that exists, so it gets past the 404 to the rules behind it."""
    body = case.body
    if isinstance(body, dict) and "account_id" in body and zlib.crc32(json.dumps(body, default=str).encode()) % 2:
        body["account_id"] = KNOWN
    if "account_id" in (case.path_parameters or {}) and zlib.crc32(str(case.path_parameters).encode()) % 2:
        case.path_parameters["account_id"] = KNOWN
    return case


def body_bytes(case: Any) -> bytes:
    body = case.body
    if body is None or type(body).__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


def expected_for_signed(raw: bytes) -> set[int]:
    """What the spec lets the webhook answer to a correctly signed body."""
    if len(raw) > 256 * 1024:
        return {413}
    try:
        parse_crm_event(raw)
    except MalformedJson:
        return {400}
    except InvalidRequest:
        return {422}
    except UnicodeDecodeError:
        return {400}
    # a valid event: accepted, replayed, or refused on the business rules (unknown account, reused id, ...)
    return {200, 202, 404, 409, 422}


def unchanged_by(api: Api, send: Callable[[], requests.Response]) -> tuple[requests.Response, bool]:
    """Send, and tell whether the state is what it was before (requests go one at a time, so the state after the
    previous request is the state before this one)."""
    response = send()
    after = fingerprint(api.world)
    unchanged, api.state = after == api.state, after
    return response, unchanged


@pytest.mark.slow
def test_more_than_a_thousand_drawn_requests_get_the_spec_codes_and_rejections_change_nothing(api: Api) -> None:
    webhook = api.schema.find_operation_by_path("POST", WEBHOOK)
    failures: list[str] = []

    def signed(case: Any) -> None:
        raw = body_bytes(case)
        headers = {"Content-Type": "application/json", "Overage-Signature": sign_header(SECRET, raw, int(time.time()))}
        response, unchanged = unchanged_by(api, lambda: api.post(raw, headers))
        api.seen[f"signed {response.status_code}"] += 1
        allowed = expected_for_signed(raw)
        if response.status_code not in allowed:
            failures.append(f"signed {raw[:200]!r}: {response.status_code} not in {sorted(allowed)}: {response.text}")
        if response.status_code >= 400 and not unchanged:
            failures.append(f"signed {raw[:200]!r}: rejected with {response.status_code} but the state changed")

    def unsigned(case: Any) -> None:
        raw = body_bytes(case)
        headers = {"Content-Type": "application/json"}
        drawn = (case.headers or {}).get("Overage-Signature")
        if drawn is not None:  # a well-formed signature drawn from the pattern: not one made with the secret
            headers["Overage-Signature"] = str(drawn)
        response, unchanged = unchanged_by(api, lambda: api.post(raw, headers))
        api.seen[f"unsigned {response.status_code}"] += 1
        if response.status_code != 401 or not unchanged:
            failures.append(f"unsigned {headers} {raw[:200]!r}: {response.status_code}, unchanged={unchanged}")

    drive(webhook.as_strategy(GenerationMode.POSITIVE), SIGNED_POSITIVE, signed)
    drive(webhook.as_strategy(GenerationMode.NEGATIVE), SIGNED_NEGATIVE, signed)
    drive(webhook.as_strategy(GenerationMode.POSITIVE), UNSIGNED // 2, unsigned)
    drive(webhook.as_strategy(GenerationMode.NEGATIVE), UNSIGNED // 2, unsigned)

    for result in api.schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET":
            continue

        def read(case: Any, path: str = operation.path) -> None:
            kwargs = case.as_transport_kwargs(base_url=api.url)
            response, unchanged = unchanged_by(
                api, lambda: requests.request(kwargs["method"], kwargs["url"], timeout=30)
            )
            api.seen[f"GET {response.status_code}"] += 1
            # 404: an unknown account (or a path no route matches); 422: a month that is not YYYY-MM
            allowed = {200, 404} | ({422} if "{month}" in path else set())
            if response.status_code not in allowed or not unchanged:
                failures.append(f"{kwargs['url']}: {response.status_code} not in {sorted(allowed)}: {response.text}")

        # positive cases only: any string is a valid account id, so no path parameter can break the contract
        drive(operation.as_strategy(GenerationMode.POSITIVE), PER_READ_ENDPOINT, read)

    assert failures == [], "\n".join(failures[:20])
    assert not [status for status in api.seen if status.endswith(tuple(f" 5{n:02d}" for n in range(100)))]
    assert sum(api.seen.values()) >= MINIMUM_CASES, api.seen
    # the drawn cases reached every layer: signatures refused, JSON and schema rejected, events applied
    assert {"unsigned 401", "signed 422", "signed 202", "GET 200", "GET 404"} <= set(api.seen), api.seen
