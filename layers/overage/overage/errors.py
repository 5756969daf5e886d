"""The domain's exception hierarchy. HTTP mapping lives only in the webhook's exception handlers."""

from __future__ import annotations


class OverageError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidRequest(OverageError):
    """The request is well-formed but breaks a business rule (mapped to 422).

    ``fields`` maps each offending field (dotted path) to a human explanation.
    """

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class SignatureError(OverageError):
    """Missing, malformed, wrong or stale webhook signature (mapped to 401)."""


class NotFound(OverageError):
    """An account or a record does not exist (mapped to 404)."""


class Conflict(OverageError):
    """The request conflicts with what was already recorded (mapped to 409)."""


class CatalogError(OverageError):
    """The catalog data file is invalid; the message names the bad entry."""


class StoreError(OverageError):
    """A storage call failed in a way the caller may retry (scheduled jobs let it raise)."""


class MalformedRequest(OverageError):
    """The body is not UTF-8 JSON (mapped to 400)."""


class PayloadTooLarge(OverageError):
    """The body is over the 256 KiB limit (mapped to 413)."""
