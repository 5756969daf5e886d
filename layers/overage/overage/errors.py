"""The one exception hierarchy. Each error the webhook answers carries its HTTP status as data (``status``); the
webhook maps them to answers in one place (``overage.api.errors``). An error whose ``status`` is None (a storage
failure, an invalid catalog) is never an answer: it fails the invocation, so Lambda or the CRM retries."""

from __future__ import annotations

from typing import Any, ClassVar


class OverageError(Exception):
    """Base of every error overage raises on purpose."""

    status: ClassVar[int | None] = None

    def body(self) -> dict[str, Any]:
        """The JSON answer the webhook gives for this error."""
        return {"message": str(self)}


class InvalidRequest(OverageError):
    """Well-formed, but breaks the contract or a business rule: 422, naming each offending field.

    ``fields`` maps each offending field (dotted path, e.g. ``data.count``) to a human explanation: the one 422
    vocabulary, whether a schema or a rule refused the request.
    """

    status = 422

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def body(self) -> dict[str, Any]:
        errors = [{"field": field, "message": message} for field, message in self.fields.items()]
        return {"message": self.message, "errors": errors}


class MalformedRequest(OverageError):
    """The body is not UTF-8 JSON (400)."""

    status = 400


class SignatureError(OverageError):
    """Missing, malformed, wrong or stale webhook signature (401)."""

    status = 401


class NotFound(OverageError):
    """An account or a record does not exist (404)."""

    status = 404


class Conflict(OverageError):
    """The request conflicts with what was already recorded, or with a request still being applied (409)."""

    status = 409


class PayloadTooLarge(OverageError):
    """The body is over the 256 KiB limit (413)."""

    status = 413


class CatalogError(OverageError):
    """The catalog data file is invalid; the message names the bad entry (fails the invocation)."""


class StoreError(OverageError):
    """A storage call failed in a way the caller may retry (fails the invocation: scheduled jobs let it raise)."""
