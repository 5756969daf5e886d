"""Function configuration: the environment variables the template gives each function, validated per invocation."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """What a function reads from its environment. Unknown variables are ignored; missing required ones fail fast."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    accounts_table: str = Field(alias="ACCOUNTS_TABLE", min_length=1)
    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE")
    webhook_secret_parameter: str = Field(default="", alias="WEBHOOK_SECRET_PARAMETER")
    catalog_parameter: str = Field(default="", alias="CATALOG_PARAMETER")
    event_bus_name: str = Field(default="", alias="EVENT_BUS_NAME")
    sender_email: str = Field(default="", alias="SENDER_EMAIL")
    billing_queue_url: str = Field(default="", alias="BILLING_QUEUE_URL")
    grace_queue_url: str = Field(default="", alias="GRACE_QUEUE_URL")  # excess profiles (spec §3.2)
    calls_table: str = Field(default="", alias="CALLS_TABLE")  # fair use (spec §3.3)
    fair_use_queue_url: str = Field(default="", alias="FAIR_USE_QUEUE_URL")
    director_email: str = Field(default="", alias="DIRECTOR_EMAIL")
    report_bucket: str = Field(default="", alias="REPORT_BUCKET")  # monthly report (spec §3.6)
    report_queue_url: str = Field(default="", alias="REPORT_QUEUE_URL")
    idempotency_ttl_days: int = Field(default=30, alias="IDEMPOTENCY_TTL_DAYS", ge=1, le=365)
    # SQS records of one batch handled at once (threads): the records wait on AWS, not on the CPU (issue 9).
    batch_workers: int = Field(default=1, alias="BATCH_WORKERS", ge=1, le=10)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.model_validate(dict(os.environ if environ is None else environ))
