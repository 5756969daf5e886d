"""Run every benchmark and print its table: `make bench` (or `python -m bench`)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
os.environ.pop("AWS_ENDPOINT_URL", None)


def main() -> int:
    from bench import renewal_calls

    renewal_calls.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
