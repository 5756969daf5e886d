"""The one place that builds the logger, tracer and metrics every function shares."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="overage")
# Only botocore is patched: the AWS calls are what a trace should show, and patching every library X-Ray knows
# (patch_all) imports them all (sqlite3, http.client, ...) on every cold start.
tracer = Tracer(service="overage", patch_modules=("botocore",))
metrics = Metrics(namespace="Overage", service="overage")


def correlate(job: str, as_of: str) -> None:
    """One correlation id for a scheduled run and every queue message it fanned out: the job and its business time
    (``as_of`` as the messages carry it, ISO-8601), so one search finds the whole run across invocations."""
    logger.set_correlation_id(f"{job}:{as_of}")
