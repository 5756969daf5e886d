"""Structured logs of a realistic month (issue 8, operations): every line is JSON with the account it is about and a
correlation id that ties a request or a whole scheduled run together, and at INFO no personal data beyond ids: no
billing address, no name of who asked for a plan change, no reason they gave, no notice text.

The fixtures of the crash tests (webhooks of all kinds, the three scheduled jobs and their queues) run with the
template's default log level (INFO); the lines are captured from the functions' shared logger with its own formatter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from overage.runtime.observability import logger as overage_logger

from tests.builders import change_body
from tests.scenarios import (
    DIRECTOR,
    given_february_calls_and_a_late_january_one,
    given_five_billing_dates_on_10_march,
    given_four_episodes_due_on_5_march,
)
from tests.support import World, fair_use_run, grace_run, moto_world

PER_ACCOUNT = ("invoice issued", "notice sent", "crm event applied", "excess-profile step written")
SCHEDULED = {
    "RenewalBillingFunction": "renewal",
    "GraceExpiryFunction": "grace-expiry",
    "FairUseRollupFunction": "fair-use",
}


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    handler.setFormatter(overage_logger.registered_formatter)  # the JSON lines Lambda would ship
    overage_logger.addHandler(handler)
    try:
        yield handler
    finally:
        overage_logger.removeHandler(handler)


def a_month(world: World) -> None:
    given_five_billing_dates_on_10_march(world)
    given_four_episodes_due_on_5_march(world)
    given_february_calls_and_a_late_january_one(world)
    fair_use_run(world, "2026-03-01T02:00:00Z")
    grace_run(world, "2026-03-05T00:05:00Z")
    world.renewal("2026-03-10T00:15:00Z")
    status, _ = world.webhook(
        change_body("acc_overrun", "2026-03-12T10:00:00Z", "evt_up", contact_tier="t150", requested_by="crm:jane.doe")
    )
    assert status == 202


@pytest.mark.slow
def test_info_logs_carry_account_and_correlation_ids_and_no_personal_data(captured: Captured) -> None:
    with moto_world() as world:  # the template's LogLevel: INFO
        a_month(world)
        emails = {str(item.get("billing_email")) for item in _accounts(world)}
    lines = [json.loads(line) for line in captured.lines]
    info = [line for line in lines if line["level"] == "INFO"]
    assert len(info) > 50

    # No personal data: no billing address, no director's address, no requester, no reason, no notice text
    personal = emails | {DIRECTOR, "crm:jane.doe", "support:ann", "The customer asked for it on the phone"}
    assert len(emails) >= 12
    for line in info:
        text = json.dumps(line)
        assert not [p for p in personal if p in text], line
        assert "Your invoice" not in text and "<html" not in text, line

    # Every line about one account names it, and every line has a correlation id
    for line in info:
        if line["message"] in PER_ACCOUNT:
            assert line.get("account_id"), line
        assert line.get("correlation_id"), line
    # A scheduled run and all the queue messages it fanned out share one: the job and its business time
    runs = {
        line["correlation_id"]
        for line in info
        if line.get("function_name", "").removeprefix("overage-local-") in SCHEDULED
    }
    assert {"renewal:2026-03-10T00:15:00+00:00", "grace-expiry:2026-03-05T00:05:00+00:00"} <= runs
    assert "fair-use:2026-03-01T02:00:00+00:00" in runs
    invoices = [line for line in info if line["message"] == "invoice issued"]
    assert {line["correlation_id"] for line in invoices} == {"renewal:2026-03-10T00:15:00+00:00"}


def _accounts(world: World) -> list[dict[str, Any]]:
    from overage.store.dynamo import from_item

    items = world.ddb.scan(TableName=world.accounts_table)["Items"]  # test only: every account the month created
    return [from_item(item) for item in items if item["sk"]["S"] == "ACCOUNT"]
