"""The settings of RenewalBillingFunction (see ``overage.runtime.config``)."""

from pydantic import Field

from overage.runtime.config import Settings


class RenewalSettings(Settings):
    """RenewalBillingFunction."""

    billing_queue_url: str = Field(alias="BILLING_QUEUE_URL", min_length=1)
