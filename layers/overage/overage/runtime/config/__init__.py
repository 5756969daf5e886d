"""Function configuration: one settings model per function, from the environment the template gives it.

``Settings`` (here) holds what every function gets from the template's Globals (tables, bus, sender, catalog, batch
threads); each function's model, in a module of its own beside this one (``config.webhook``, ``config.renewal``,
...), adds its own variables, all required (``min_length=1``) except the few that are optional by design
(``CATALOG_PARAMETER``: empty means the bundled catalog). A function imports its own model only: the others'
classes are never built in its container (cold start, issue 20). ``current()`` parses the environment once and hands
back the same frozen object while the environment stays the same (it is read again, cheaply, at each call: a test or
``overage local`` that changes it gets a new one). A test checks each function's template environment against its
model (tests/unit/test_settings.py), found by ``function_settings``.
"""

import importlib
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:  # the invoice models are imported by what prints the seller, not by every function's settings
    from overage.domain.invoice import Seller

_cache_lock = threading.Lock()


class Settings(BaseModel):
    """What every function reads (template Globals). Unknown variables are ignored; missing required ones fail fast."""

    # defer_build: a function uses one of the settings classes below; each compiles its validator on its first
    # parse (once per container), not every class at import (cold start, issue 20).
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)
    _cache: ClassVar[dict[tuple[type[Any], tuple[str | None, ...]], Any]] = {}

    accounts_table: str = Field(alias="ACCOUNTS_TABLE", min_length=1)
    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)
    calls_table: str = Field(alias="CALLS_TABLE", min_length=1)  # fair use (spec §3.3): the webhook records calls
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    sender_email: str = Field(alias="SENDER_EMAIL", min_length=3)
    # The SES configuration set every notice email is sent with: its bounces, complaints and deliveries reach
    # EmailFeedbackFunction (spec §3.9).
    ses_configuration_set: str = Field(alias="SES_CONFIGURATION_SET", min_length=1)
    # The feedback links of every notice email (spec §3.9): the SSM parameters of their key and of the API's URL.
    feedback_secret_parameter: str = Field(alias="FEEDBACK_SECRET_PARAMETER", min_length=1)
    feedback_base_url_parameter: str = Field(alias="FEEDBACK_BASE_URL_PARAMETER", min_length=1)
    # The seller as invoices, credit notes and notices show it (spec §2, §3.8): template parameters SellerLegalName,
    # SellerAddress (lines separated by "|") and SellerVatNumber.
    seller_legal_name: str = Field(alias="SELLER_LEGAL_NAME", min_length=1, max_length=200)
    seller_address: str = Field(alias="SELLER_ADDRESS", min_length=1, max_length=600)
    seller_vat_number: str = Field(alias="SELLER_VAT_NUMBER", pattern=r"^[A-Z]{2}[A-Z0-9]{2,13}$")
    catalog_parameter: str = Field(default="", alias="CATALOG_PARAMETER")  # empty: the bundled catalog
    # SQS records of one batch handled at once (threads): the records wait on AWS, not on the CPU (issue 9).
    batch_workers: int = Field(default=1, alias="BATCH_WORKERS", ge=1, le=10)

    @field_validator("seller_address")
    @classmethod
    def _address_lines(cls, value: str) -> str:
        lines = value.split("|")
        if len(lines) > 6 or any(not line.strip() or len(line) > 100 for line in lines):
            raise ValueError('at most 6 address lines of 1-100 characters, separated by "|"')
        return value

    @property
    def seller(self) -> "Seller":
        from overage.domain.invoice import Seller

        return Seller(
            legal_name=self.seller_legal_name,
            address=tuple(line.strip() for line in self.seller_address.split("|")),
            vat_number=self.seller_vat_number,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        return cls.model_validate(dict(os.environ if environ is None else environ))

    @classmethod
    def current(cls) -> Self:
        """The settings of this environment, parsed once (see the module doc)."""
        names = tuple(field.alias or name for name, field in cls.model_fields.items())
        key = (cls, tuple(os.environ.get(name) for name in names))
        with _cache_lock:
            found = cls._cache.get(key)
        if found is None:
            found = cls.model_validate(
                {name: value for name, value in zip(names, key[1], strict=True) if value is not None}
            )
            with _cache_lock:
                if len(cls._cache) > 64:  # tests switch environments often; a Lambda container has one
                    cls._cache.clear()
                cls._cache[key] = found
        return found


# Each function's settings model: its module beside this one and its class (``function_settings``).
FUNCTION_SETTINGS: dict[str, tuple[str, str]] = {
    "CrmWebhookFunction": ("webhook", "WebhookSettings"),
    "RenewalBillingFunction": ("renewal", "RenewalSettings"),
    "GraceExpiryFunction": ("grace_expiry", "GraceExpirySettings"),
    "FairUseRollupFunction": ("fair_use", "FairUseSettings"),
    "UsageReportFunction": ("report", "ReportSettings"),
    "EmailFeedbackFunction": ("email_feedback", "EmailFeedbackSettings"),
}


def function_settings(logical_id: str) -> type[Settings]:
    """The settings model of a function of the template (its logical id), imported from its own module."""
    module, name = FUNCTION_SETTINGS[logical_id]
    model: type[Settings] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return model
