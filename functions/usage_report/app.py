"""UsageReportFunction: monthly schedule → one message per shard of the report index; SQS → read a shard, store its
part, and the part that completes the run writes the month's report. Wiring only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import aws, report
from overage.config import Settings
from overage.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


def _shard_record(record: SQSRecord) -> None:
    message = report.ShardMessage.from_json(record.body)
    logger.append_keys(month=str(message.month), shard=message.shard, run=message.run)
    if report.service(Settings.from_env()).process(message):
        metrics.add_metric(name="ReportsWritten", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | PartialItemFailureResponse:
    if "Records" in event:
        return process_partial_response(event=event, record_handler=_shard_record, processor=processor, context=context)
    month = report.month_of(event)
    settings = Settings.from_env()
    return report.service(settings).dispatch(aws.client("sqs"), settings.report_queue_url, month)
