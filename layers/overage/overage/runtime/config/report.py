"""The settings of UsageReportFunction (see ``overage.runtime.config``)."""

from pydantic import Field

from overage.runtime.config import Settings


class ReportSettings(Settings):
    """UsageReportFunction (spec §3.6)."""

    report_bucket: str = Field(alias="REPORT_BUCKET", min_length=1)
    report_queue_url: str = Field(alias="REPORT_QUEUE_URL", min_length=1)
