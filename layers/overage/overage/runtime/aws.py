"""Lazily built, cached boto3 clients (never at import time; honours AWS_ENDPOINT_URL for local runs)."""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

_lock = threading.Lock()
# HTTP connections per client: the dispatchers keep 16 calls in flight (fanout.THREADS) and the SQS functions handle
# 10 records at once on one shared client; boto3's default of 10 would make the extra threads open and drop connections.
POOL = 20


@cache
def _client(service: str, region: str | None, endpoint: str | None) -> Any:
    import boto3  # imported here so that a cold start only pays for it when a client is first needed
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=3, read_timeout=10, max_pool_connections=POOL
    )
    return boto3.session.Session().client(service, region_name=region, config=config)


def client(service: str) -> Any:
    """A client for ``service`` in the current region/endpoint; shared across invocations of a warm Lambda."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    with _lock:
        return _client(service, region, endpoint)


def reset_clients() -> None:
    """Forget cached clients (tests switch between moto backends)."""
    with _lock:
        _client.cache_clear()
