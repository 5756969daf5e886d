"""FairUseRollupFunction: monthly schedule → fan out the pending account-months and each month's closing message;
SQS batch → roll each up, or close the run (the director's review list).
Wiring only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import wiring
from overage.runtime.business_time import business_time
from overage.runtime.config.fair_use import FairUseSettings
from overage.runtime.observability import logger, metrics, tracer
from overage.runtime.sqs_batch import process_batch


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = wiring.fair_use_rollup(FairUseSettings.current())
    if "Records" in event:
        return process_batch(event, job.handle_record, workers=job.batch_workers)
    return job.start_run(business_time(event), now=datetime.now(UTC))
