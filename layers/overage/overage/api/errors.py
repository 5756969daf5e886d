"""Errors to HTTP answers, in one place: an ``OverageError`` answers with its own ``status`` and ``body()``; one whose
status is None (storage, catalog) is raised on, so the invocation fails and API Gateway answers 502."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from overage.errors import OverageError


def json_response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(payload, sort_keys=True),
        headers=headers or {},
    )


def answer(error: OverageError) -> Response:
    if error.status is None:
        raise error
    return json_response(error.status, error.body())


def register(app: ApiGatewayResolver) -> None:
    """One handler for the whole hierarchy: Powertools looks handlers up along the exception's MRO."""
    app.exception_handler(OverageError)(answer)
