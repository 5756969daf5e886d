from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Tests never reach AWS: fixed fake credentials and region before anything builds a client.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "Overage",
        "POWERTOOLS_SERVICE_NAME": "overage",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from tests.support import World, moto_world


@pytest.fixture
def world() -> Iterator[World]:
    with moto_world() as w:
        yield w
