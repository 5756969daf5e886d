"""FairUseRollupFunction: monthly schedule → fan out pending account-months; SQS batch → roll each up. Wiring only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import fair_use, wiring
from overage.runtime import aws
from overage.runtime.business_time import business_time
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config import Settings
from overage.runtime.observability import correlate, count, logger, metrics, tracer
from overage.runtime.sqs_batch import SqsRecord, process_batch


def _roll_up_record(record: SqsRecord) -> None:
    message = fair_use.RollupMessage.from_json(record["body"])
    settings = Settings.from_env()
    logger.thread_safe_append_keys(account_id=message.account_id, month=str(message.month))
    correlate("fair-use", message.as_of.isoformat())
    outcome = fair_use.service(settings, current_catalog(settings)).process(message, datetime.now(UTC))
    count("FairUseRollups" if outcome == "rolled_up" else "FairUseUpToDate")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return process_batch(event, _roll_up_record, workers=Settings.from_env().batch_workers)
    as_of = business_time(event)
    correlate("fair-use", as_of.isoformat())
    settings = Settings.from_env()
    now = datetime.now(UTC)
    redelivered = wiring.outbox(settings).redeliver_stale(now)
    result = fair_use.service(settings, current_catalog(settings)).dispatch(
        aws.client("sqs"), settings.fair_use_queue_url, as_of, now
    )
    count("FairUseAccountMonthsDue", result["accounts_dispatched"])
    return {"as_of": as_of.isoformat(), **result, "notices_redelivered": redelivered}
