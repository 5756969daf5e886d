"""``GET /openapi.json``: the resolver's generated document, with the webhook body schema the route validates by hand
(after the signature) and the answers each route really gives.

The resolver runs without its validation middleware: every route takes plain string path parameters and the webhook
body is parsed after the signature check, so the middleware would only add ~30 ms of cold start (issue 9) and
document 422 bodies this API never sends."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from overage.api.errors import json_response
from overage.domain.crm_events import crm_event_schema


def register(app: ApiGatewayResolver) -> None:
    @app.get("/openapi.json", summary="This API's OpenAPI document", tags=["meta"])
    def openapi_document():  # no return annotation: the routes answer with hand-built Responses
        return json_response(200, document(app))


def document(app: ApiGatewayResolver) -> dict[str, Any]:
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
    feedback = document["paths"]["/feedback/{token}"]["get"]
    feedback["security"] = []  # public: the token is the credential
    page = {"text/html": {"schema": {"type": "string"}}}
    feedback["responses"] = {
        "200": {"description": "the answer is recorded, or was already (the first answer stands)", "content": page},
        "404": {
            "description": "forged, truncated or altered token, or an unknown notice: nothing recorded",
            "content": page,
        },
    }
    public = document["paths"]["/invoices/{token}"]["get"]
    public["security"] = []  # public: the token is the credential
    public["responses"] = {
        "200": {"description": "the invoice's printable document (spec §3.8)", "content": page},
        "404": {"description": "forged, truncated or altered token, or an unknown invoice", "content": page},
    }
    for path, operations in document["paths"].items():  # the read endpoints answer 404 for an unknown account
        if path.startswith("/accounts/"):
            for read in operations.values():
                unknown = "unknown account or invoice" if "{invoice_id}" in path else "unknown account"
                read.setdefault("responses", {})["404"] = {"description": unknown}
                if path.endswith("/document"):
                    read["responses"]["200"] = {"description": "the printable document (spec §3.8)", "content": page}
                if "{month}" in path:
                    read["responses"]["422"] = {"description": "the month is not YYYY-MM; the field is named"}
    return document
