"""GraceExpiryFunction: schedule → fan out accounts whose excess-profile episode is due; SQS batch → take each
account's due steps (grace end → fee invoice, reminder, deadline → overdue and restricted). Wiring only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import wiring
from overage.domain.instants import parse_instant
from overage.grace_expiry import GraceExpiry, dispatch_due
from overage.runtime import aws
from overage.runtime.business_time import business_time
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config import Settings
from overage.runtime.observability import correlate, count, logger, metrics, tracer
from overage.runtime.sqs_batch import SqsRecord, process_batch
from overage.store.excess_profiles import ExcessProfilesStore


def _expire_record(record: SqsRecord) -> None:
    message = json.loads(record["body"])
    settings = Settings.from_env()
    logger.thread_safe_append_keys(account_id=message["account_id"])
    correlate("grace-expiry", message["as_of"])
    grace = GraceExpiry(
        accounts=wiring.accounts(settings),
        ledger=wiring.ledger(settings),
        outbox=wiring.outbox(settings),
        catalog=current_catalog(settings),
    )
    steps = grace.process_account(message["account_id"], parse_instant(message["as_of"]), datetime.now(UTC))
    for step in steps:
        for happening in step.happenings:
            count(f"ExcessProfiles_{happening.kind}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return process_batch(event, _expire_record, workers=Settings.from_env().batch_workers)
    as_of = business_time(event)
    correlate("grace-expiry", as_of.isoformat())
    settings = Settings.from_env()
    store = ExcessProfilesStore(wiring.accounts(settings), wiring.ledger(settings), current_catalog(settings))
    redelivered = wiring.outbox(settings).redeliver_stale(datetime.now(UTC))
    dispatched = dispatch_due(store, aws.client("sqs"), settings.grace_queue_url, as_of)
    count("GraceAccountsDue", dispatched)
    return {"as_of": as_of.isoformat(), "accounts_dispatched": dispatched, "notices_redelivered": redelivered}
