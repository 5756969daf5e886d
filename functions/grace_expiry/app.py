"""GraceExpiryFunction: schedule → fan out accounts whose excess-profile episode is due; SQS batch → take each
account's due steps (grace end → fee invoice, reminder, deadline → overdue and restricted). Wiring only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import aws, wiring
from overage.catalog_source import current_catalog
from overage.config import Settings
from overage.domain.instants import parse_instant
from overage.grace_expiry import GraceExpiry, dispatch_due
from overage.observability import logger, metrics, tracer
from overage.schedule import business_time
from overage.store.excess_profiles import ExcessProfilesStore

processor = BatchProcessor(event_type=EventType.SQS)


def _expire_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    settings = Settings.from_env()
    logger.append_keys(account_id=message["account_id"])
    grace = GraceExpiry(
        accounts=wiring.accounts(settings),
        ledger=wiring.ledger(settings),
        outbox=wiring.outbox(settings),
        catalog=current_catalog(settings),
    )
    steps = grace.process_account(message["account_id"], parse_instant(message["as_of"]), datetime.now(UTC))
    for step in steps:
        for happening in step.happenings:
            metrics.add_metric(name=f"ExcessProfiles_{happening.kind}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | PartialItemFailureResponse:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=_expire_record, processor=processor, context=context
        )
    as_of = business_time(event)
    settings = Settings.from_env()
    store = ExcessProfilesStore(wiring.accounts(settings), wiring.ledger(settings), current_catalog(settings))
    redelivered = wiring.outbox(settings).redeliver_stale(datetime.now(UTC))
    dispatched = dispatch_due(store, aws.client("sqs"), settings.grace_queue_url, as_of)
    metrics.add_metric(name="GraceAccountsDue", unit=MetricUnit.Count, value=dispatched)
    return {"as_of": as_of.isoformat(), "accounts_dispatched": dispatched, "notices_redelivered": redelivered}
