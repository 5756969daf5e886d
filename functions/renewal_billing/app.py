"""RenewalBillingFunction: daily schedule → fan out due accounts; SQS batch → bill each account. Wiring only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import wiring
from overage.domain.instants import parse_instant
from overage.renewal_hooks import billing_hooks, follow_up_runners
from overage.renewals import RenewalBilling, dispatch_due
from overage.runtime import aws
from overage.runtime.business_time import business_time
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config import Settings
from overage.runtime.observability import correlate, count, logger, metrics, tracer
from overage.runtime.sqs_batch import SqsRecord, process_batch


def _bill_record(record: SqsRecord) -> None:
    message = json.loads(record["body"])
    settings = Settings.from_env()
    catalog = current_catalog(settings)
    logger.thread_safe_append_keys(account_id=message["account_id"])
    correlate("renewal", message["as_of"])
    billing = RenewalBilling(
        accounts=wiring.accounts(settings),
        ledger=wiring.ledger(settings),
        outbox=wiring.outbox(settings),
        catalog=catalog,
        hooks=billing_hooks(settings, catalog),
        follow_up_runners=follow_up_runners(settings, catalog),
    )
    outcomes = billing.bill_account(message["account_id"], parse_instant(message["as_of"]), datetime.now(UTC))
    issued = sum(1 for outcome in outcomes if outcome.invoice is not None)
    count("InvoicesIssued", issued)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return process_batch(event, _bill_record, workers=Settings.from_env().batch_workers)
    as_of = business_time(event)
    correlate("renewal", as_of.isoformat())
    settings = Settings.from_env()
    redelivered = wiring.outbox(settings).redeliver_stale(datetime.now(UTC))
    dispatched = dispatch_due(wiring.accounts(settings), aws.client("sqs"), settings.billing_queue_url, as_of)
    count("AccountsDue", dispatched)
    return {"as_of": as_of.isoformat(), "accounts_dispatched": dispatched, "notices_redelivered": redelivered}
