"""The settings of GraceExpiryFunction (see ``overage.runtime.config``)."""

from pydantic import Field

from overage.runtime.config import Settings


class GraceExpirySettings(Settings):
    """GraceExpiryFunction (spec §3.2)."""

    grace_queue_url: str = Field(alias="GRACE_QUEUE_URL", min_length=1)
