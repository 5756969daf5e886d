"""UsageReportFunction: monthly schedule → one message per shard of the report index; SQS → read a shard, store its
part, and the part that completes the run writes the month's report. Wiring only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import report
from overage.runtime import aws
from overage.runtime.config import Settings
from overage.runtime.observability import count, logger, metrics, tracer
from overage.runtime.sqs_batch import SqsRecord, process_batch


def _shard_record(record: SqsRecord) -> None:
    message = report.ShardMessage.from_json(record["body"])
    logger.thread_safe_append_keys(month=str(message.month), shard=message.shard, run=message.run)
    if report.service(Settings.from_env()).process(message):
        count("ReportsWritten")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return process_batch(event, _shard_record)  # BatchSize 1: one shard of the month per invocation
    month = report.month_of(event)
    settings = Settings.from_env()
    return report.service(settings).dispatch(aws.client("sqs"), settings.report_queue_url, month)
