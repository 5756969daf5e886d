"""CrmWebhookFunction: signed CRM webhooks in, account standing out (spec §4). Wiring only."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from overage import ingest, readers, wiring
from overage.domain import signature
from overage.domain.account import standing
from overage.domain.crm_events import (
    ACCOUNT_ID_PATTERN,
    MalformedJson,
    crm_event_schema,
    field_errors,
    parse_crm_event,
)
from overage.errors import (
    Conflict,
    InvalidRequest,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    SignatureError,
)
from overage.runtime import aws
from overage.runtime.catalog_source import current_catalog
from overage.runtime.config import Settings
from overage.runtime.observability import logger, metrics, tracer
from pydantic import ValidationError

MAX_BODY_BYTES = 256 * 1024
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)
SECRET_MAX_AGE_SECONDS = 300

# No resolver validation: every route takes plain string path parameters and the webhook body is validated by hand
# after the signature check, so the validation middleware would only add ~30 ms of cold start (issue 9) and
# document 422 bodies this API never sends; the routes' own 404/422 are added to the OpenAPI document below.
app = APIGatewayRestResolver()


# ---------------------------------------------------------------- wiring helpers
def _settings() -> Settings:
    return Settings.from_env()


def _webhook_secret(settings: Settings) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(
        parameters.get_parameter(settings.webhook_secret_parameter, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
    )


def _mark_replayed(response: Any, idempotent_data: Any) -> Any:
    return {**response, "_replayed": True}


@cache
def _idempotency(table: str, ttl_days: int, endpoint: str | None) -> tuple[IdempotencyConfig, Any]:
    """Built on first use, never at import: the persistence layer creates a boto3 client."""
    config = IdempotencyConfig(
        event_key_jmespath="id",
        payload_validation_jmespath="[type, account_id, occurred_at, data]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_days * 24 * 3600,
        response_hook=_mark_replayed,
    )
    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb"))

    @idempotent_function(data_keyword_argument="event", persistence_store=store, config=config)
    def apply_once(event: dict[str, Any]) -> dict[str, Any]:
        settings = _settings()
        context = ingest.IngestContext(settings, current_catalog(settings), datetime.now(UTC))
        return ingest.apply_event(parse_crm_event(json.dumps(event)), context)

    return config, apply_once


def _raw_body() -> bytes:
    event = app.current_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8")


def _path_account_id(account_id: str) -> str:
    """A path id that no account can have is unknown (404) before any read: DynamoDB refuses a key over 2 KB."""
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise NotFound(f"account {account_id[:80]} is not known")
    return account_id


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(payload, sort_keys=True),
        headers=headers or {},
    )


# ---------------------------------------------------------------- routes
@app.post("/webhooks/crm", summary="Deliver a signed CRM event", tags=["webhook"])
def receive_crm_event():  # no return annotation: the routes answer with hand-built Responses
    raw = _raw_body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    settings = _settings()
    header = app.current_event.headers.get("Overage-Signature")  # case-insensitive in Powertools v3
    signature.verify(header, raw, _webhook_secret(settings), int(time.time()))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8") from None
    try:
        event = parse_crm_event(text)
    except MalformedJson as error:
        raise MalformedRequest(f"body is not JSON: {error}") from None
    logger.append_keys(account_id=event.account_id, crm_event_id=event.id)
    catalog = current_catalog(settings)
    ingest.check_event(event, catalog, datetime.now(UTC))
    config, apply_once = _idempotency(settings.idempotency_table, settings.idempotency_ttl_days, aws.endpoint_key())
    config.register_lambda_context(app.lambda_context)
    result = dict(apply_once(event=event.model_dump(mode="json")))
    replayed = bool(result.pop("_replayed", False))
    metrics.add_metric(name="CrmEventReplayed" if replayed else "CrmEventAccepted", unit=MetricUnit.Count, value=1)
    return _json(200 if replayed else 202, result, {"Idempotent-Replayed": "true"} if replayed else None)


@app.get("/accounts/<account_id>", summary="An account's standing", tags=["accounts"])
def get_account(account_id: str):  # no return annotation: the routes answer with hand-built Responses
    settings = _settings()
    account = wiring.accounts(settings).require(_path_account_id(account_id))
    return _json(200, standing(account, current_catalog(settings)))


@app.get("/accounts/<account_id>/invoices", summary="The account's invoices and credit notes", tags=["accounts"])
def get_invoices(account_id: str):  # no return annotation: the routes answer with hand-built Responses
    settings = Settings.from_env()
    wiring.accounts(settings).require(_path_account_id(account_id))
    return _json(200, readers.invoices(wiring.ledger(settings), account_id))


@app.get("/accounts/<account_id>/notices", summary="Every notice sent to the account", tags=["accounts"])
def get_notices(account_id: str):  # no return annotation: the routes answer with hand-built Responses
    settings = Settings.from_env()
    wiring.accounts(settings).require(_path_account_id(account_id))
    return _json(200, readers.notices(wiring.ledger(settings), account_id))


@app.get("/accounts/<account_id>/preview", summary="What the next billing date would charge now", tags=["accounts"])
def get_preview(account_id: str):  # no return annotation: the routes answer with hand-built Responses
    settings = Settings.from_env()
    account = wiring.accounts(settings).require(_path_account_id(account_id))
    return _json(200, readers.preview(account, current_catalog(settings)))


@app.get("/accounts/<account_id>/changes", summary="The account's plan changes, newest last", tags=["accounts"])
def get_changes(account_id: str):  # no return annotation: the routes answer with hand-built Responses
    from overage import plan_changes

    settings = Settings.from_env()
    wiring.accounts(settings).require(_path_account_id(account_id))
    return _json(200, plan_changes.changes(wiring.plan_changes(settings), account_id))


@app.get(
    "/accounts/<account_id>/fair-use/<month>",
    summary="Telephone-support fair use of a month (YYYY-MM): the rollup, or the month to date",
    tags=["accounts"],
)
def get_fair_use(account_id: str, month: str):  # no return annotation: the routes answer with hand-built Responses
    from overage import fair_use

    settings = Settings.from_env()
    return _json(200, fair_use.read_month(settings, current_catalog(settings), _path_account_id(account_id), month))


@app.get("/openapi.json", summary="This API's OpenAPI document", tags=["meta"])
def openapi_document():  # no return annotation: the routes answer with hand-built Responses
    return _json(200, openapi())


def openapi() -> dict[str, Any]:
    """The generated document, with the webhook body schema the route validates by hand (after the signature)."""
    document = json.loads(app.get_openapi_json_schema(title="overage CRM API", version="1.0.0"))
    schema = crm_event_schema()
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    operation = document["paths"]["/webhooks/crm"]["post"]
    operation["parameters"] = [
        {
            "name": "Overage-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>",
        }
    ]
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    operation["responses"] = {
        "202": {"description": "accepted and applied"},
        "200": {"description": "the same id again: the first result, applied once"},
        "400": {"description": "malformed JSON"},
        "401": {"description": "bad signature or stale timestamp"},
        "404": {"description": "unknown account"},
        "409": {"description": "the id was already used for a different body, or is being processed"},
        "413": {"description": "body over 256 KiB"},
        "422": {"description": "schema violation; each bad field is named"},
    }
    for path, operations in document["paths"].items():  # the read endpoints answer 404 for an unknown account
        if path.startswith("/accounts/"):
            for read in operations.values():
                read.setdefault("responses", {})["404"] = {"description": "unknown account"}
                if "{month}" in path:
                    read["responses"]["422"] = {"description": "the month is not YYYY-MM; the field is named"}
    return document


# ---------------------------------------------------------------- errors → HTTP (the only place)
@app.exception_handler(SignatureError)
def _unauthorised(error: SignatureError) -> Response:
    metrics.add_metric(name="WebhookSignatureRejected", unit=MetricUnit.Count, value=1)
    return _json(401, {"message": str(error)})


@app.exception_handler(PayloadTooLarge)
def _too_large(error: PayloadTooLarge) -> Response:
    return _json(413, {"message": str(error)})


@app.exception_handler(MalformedRequest)
def _malformed(error: MalformedRequest) -> Response:
    return _json(400, {"message": str(error)})


@app.exception_handler(ValidationError)
def _schema_violation(error: ValidationError) -> Response:
    return _json(422, {"message": "the event does not match the webhook contract", "errors": field_errors(error)})


@app.exception_handler(InvalidRequest)
def _invalid(error: InvalidRequest) -> Response:
    errors = [{"field": field, "message": message} for field, message in error.fields.items()]
    return _json(422, {"message": error.message, "errors": errors})


@app.exception_handler(NotFound)
def _not_found(error: NotFound) -> Response:
    return _json(404, {"message": str(error)})


@app.exception_handler(IdempotencyValidationError)
def _reused_id(_error: IdempotencyValidationError) -> Response:
    return _json(409, {"message": "this event id was already used for a different event; use a new id"})


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _in_progress(_error: IdempotencyAlreadyInProgressError) -> Response:
    return _json(409, {"message": "an event with this id is being processed; retry shortly"})


@app.exception_handler(Conflict)
def _conflict(error: Conflict) -> Response:
    return _json(409, {"message": str(error)})


# ---------------------------------------------------------------- entry point
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
