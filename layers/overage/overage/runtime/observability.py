"""The one place that builds the logger, tracer and metrics every function shares."""

from __future__ import annotations

import threading

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# Service and namespace come from the environment the template gives every function (POWERTOOLS_SERVICE_NAME,
# POWERTOOLS_METRICS_NAMESPACE: "overage", "Overage"), as Powertools users expect; nothing here overrides them.
logger = Logger()
# Only botocore is patched: the AWS calls are what a trace should show, and patching every library X-Ray knows
# (patch_all) imports them all (sqlite3, http.client, ...) on every cold start.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
_metrics_lock = threading.Lock()  # SQS records are handled on a thread pool (sqs_batch); Metrics is not thread-safe


def count(name: str, value: int = 1) -> None:
    """Add ``value`` to the invocation's ``name`` count metric (safe from the record threads)."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def correlate(job: str, as_of: str) -> None:
    """One correlation id for a scheduled run and every queue message it fanned out: the job and its business time
    (``as_of`` as the messages carry it, ISO-8601), so one search finds the whole run across invocations."""
    logger.thread_safe_append_keys(correlation_id=f"{job}:{as_of}")  # per thread: records run on a pool
