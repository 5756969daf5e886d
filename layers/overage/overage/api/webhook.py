"""``POST /webhooks/crm`` (spec §4): the order of checks is size (413), signature (401), UTF-8 and JSON (400), the
contract (422), the rules a schema cannot express (422), then the event is applied once per ``id`` (Powertools
Idempotency): 202 with the result, 200 with the same result for the same id again."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from overage.api.errors import json_response
from overage.domain import signature
from overage.domain.crm_events import parse_crm_event
from overage.errors import Conflict, MalformedRequest, PayloadTooLarge, SignatureError
from overage.runtime import aws
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config.webhook import WebhookSettings
from overage.runtime.observability import count, logger
from overage.services import crm_events

MAX_BODY_BYTES = 256 * 1024
SECRET_MAX_AGE_SECONDS = 300

router = Router()


def _webhook_secret(settings: WebhookSettings) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(
        parameters.get_parameter(settings.webhook_secret_parameter, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
    )


def _mark_replayed(response: Any, idempotent_data: Any) -> Any:
    return {**response, "_replayed": True}


@lru_cache(maxsize=4)
def _idempotency(table: str, ttl_days: int, client: Any) -> tuple[IdempotencyConfig, Any]:
    """Built on first use, never at import, on the functions' shared DynamoDB client (keyed by it: a new client, as
    after ``aws.reset_clients()``, gets a new persistence layer)."""
    config = IdempotencyConfig(
        event_key_jmespath="id",
        payload_validation_jmespath="[type, account_id, occurred_at, data]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_days * 24 * 3600,
        response_hook=_mark_replayed,
    )
    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)

    @idempotent_function(data_keyword_argument="event", persistence_store=store, config=config)
    def apply_once(event: dict[str, Any]) -> dict[str, Any]:
        settings = WebhookSettings.current()
        deps = crm_events.deps(settings, current_catalog(settings), datetime.now(UTC))
        return crm_events.apply_event(parse_crm_event(json.dumps(event)), deps)

    return config, apply_once


def _raw_body() -> bytes:
    event = router.current_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8")


@router.post("/webhooks/crm", summary="Deliver a signed CRM event", tags=["webhook"])
def receive_crm_event():  # no return annotation: the routes answer with hand-built Responses
    raw = _raw_body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    settings = WebhookSettings.current()
    header = router.current_event.headers.get("Overage-Signature")  # case-insensitive in Powertools v3
    try:
        signature.verify(header, raw, _webhook_secret(settings), int(time.time()))
    except SignatureError:
        count("WebhookSignatureRejected")
        raise
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8") from None
    event = parse_crm_event(text)
    logger.append_keys(account_id=event.account_id, crm_event_id=event.id)
    catalog = current_catalog(settings)
    crm_events.check_event(event, catalog, datetime.now(UTC))
    config, apply_once = _idempotency(settings.idempotency_table, settings.idempotency_ttl_days, aws.client("dynamodb"))
    config.register_lambda_context(router.lambda_context)
    try:
        result = dict(apply_once(event=event.model_dump(mode="json")))
    except IdempotencyValidationError:
        raise Conflict("this event id was already used for a different event; use a new id") from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("an event with this id is being processed; retry shortly") from None
    replayed = bool(result.pop("_replayed", False))
    count("CrmEventReplayed" if replayed else "CrmEventAccepted")
    return json_response(200 if replayed else 202, result, {"Idempotent-Replayed": "true"} if replayed else None)
