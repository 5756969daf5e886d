"""The one place that builds the logger, tracer and metrics every function shares."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="overage")
tracer = Tracer(service="overage")
metrics = Metrics(namespace="Overage", service="overage")
