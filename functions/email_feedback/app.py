"""EmailFeedbackFunction: SNS (the SES configuration set's bounce, complaint and delivery events) → the notice's
delivery state, and a permanent bounce or a complaint suppresses the address on its account. Wiring only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import wiring
from overage.runtime.config.email_feedback import EmailFeedbackSettings
from overage.runtime.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return wiring.email_feedback(EmailFeedbackSettings.current()).handle_event(event)
