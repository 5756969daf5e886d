"""The settings of FairUseRollupFunction (see ``overage.runtime.config``)."""

from pydantic import Field

from overage.runtime.config import Settings


class FairUseSettings(Settings):
    """FairUseRollupFunction (spec §3.3)."""

    fair_use_queue_url: str = Field(alias="FAIR_USE_QUEUE_URL", min_length=1)
    director_email: str = Field(alias="DIRECTOR_EMAIL", min_length=3)
    # How long a run's closing message waits between two looks at whether every rollup of the month is done (SQS
    # DelaySeconds: at most 900). Template parameter FairUseCloseDelaySeconds; 0 in a local run (overage local).
    fair_use_close_delay_seconds: int = Field(alias="FAIR_USE_CLOSE_DELAY_SECONDS", ge=0, le=900)
