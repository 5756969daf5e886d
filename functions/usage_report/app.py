"""UsageReportFunction: monthly schedule → one message per shard of the report index; SQS → read a shard, store its
part, and the part that completes the run writes the month's report. Wiring only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import wiring
from overage.runtime.config.report import ReportSettings
from overage.runtime.observability import logger, metrics, tracer
from overage.runtime.sqs_batch import process_batch


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = wiring.usage_report(ReportSettings.current())
    if "Records" in event:
        return process_batch(event, job.handle_record)  # BatchSize 1: one shard of the month per invocation
    return job.start_run(event, now=datetime.now(UTC))
