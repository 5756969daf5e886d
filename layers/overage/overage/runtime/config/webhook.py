"""The settings of CrmWebhookFunction (see ``overage.runtime.config``)."""

from pydantic import Field

from overage.runtime.config import Settings


class WebhookSettings(Settings):
    """CrmWebhookFunction."""

    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    webhook_secret_parameter: str = Field(alias="WEBHOOK_SECRET_PARAMETER", min_length=1)
    idempotency_ttl_days: int = Field(default=30, alias="IDEMPOTENCY_TTL_DAYS", ge=1, le=365)
