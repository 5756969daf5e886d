"""FairUseRollupFunction: monthly schedule → fan out pending account-months; SQS batch → roll each up. Wiring only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import aws, fair_use, wiring
from overage.catalog_source import current_catalog
from overage.config import Settings
from overage.observability import logger, metrics, tracer
from overage.schedule import business_time

processor = BatchProcessor(event_type=EventType.SQS)


def _roll_up_record(record: SQSRecord) -> None:
    message = fair_use.RollupMessage.from_json(record.body)
    settings = Settings.from_env()
    logger.append_keys(account_id=message.account_id, month=str(message.month))
    outcome = fair_use.service(settings, current_catalog(settings)).process(message, datetime.now(UTC))
    metrics.add_metric(
        name="FairUseRollups" if outcome == "rolled_up" else "FairUseUpToDate", unit=MetricUnit.Count, value=1
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | PartialItemFailureResponse:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=_roll_up_record, processor=processor, context=context
        )
    as_of = business_time(event)
    settings = Settings.from_env()
    now = datetime.now(UTC)
    redelivered = wiring.outbox(settings).redeliver_stale(now)
    result = fair_use.service(settings, current_catalog(settings)).dispatch(
        aws.client("sqs"), settings.fair_use_queue_url, as_of, now
    )
    metrics.add_metric(name="FairUseAccountMonthsDue", unit=MetricUnit.Count, value=result["accounts_dispatched"])
    return {"as_of": as_of.isoformat(), **result, "notices_redelivered": redelivered}
