"""CrmWebhookFunction: signed CRM webhooks in, account standing out (spec §4). Wiring only: the routes are in
``overage.api`` (webhook, accounts, feedback, openapi) and every error is answered by ``overage.api.errors``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from overage.api import accounts, errors, feedback, openapi, webhook
from overage.runtime.observability import logger, metrics, tracer

app = APIGatewayRestResolver()
app.include_router(webhook.router)
app.include_router(accounts.router)
app.include_router(feedback.router)
openapi.register(app)
errors.register(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
