"""The monthly report's code over one month's records, in its own process on the Lambda-like path; prints what it
took. Run as ``python -S bench/report_worker.py`` with a JSON job on stdin (see ``bench.report_scale``).

The records each shard's Query returned (and the episodes its markers named) were read from DynamoDB by the bench
and pickled, one file per shard; here ``UsageReport`` runs on them with its stores replaced by those records and by
an in-memory bucket, so this process's peak RSS and time are the report's own work, not moto's or the network's.
The handler module is imported first (the RSS a container has before its first message).

Job: ``path`` (sys.path entries), ``module`` (the handler), ``month``, ``shards`` (``[shard, file]``, in the order
the parts arrive; the last one completes the run and merges).
"""

from __future__ import annotations

import importlib
import json
import pickle
import sys
import time
import zlib
from typing import Any


def high_water_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class Canned:
    """``ReportRecords`` answering with what DynamoDB answered the bench."""

    def __init__(
        self, records: list[dict[str, Any]], episodes: dict[Any, dict[str, Any]], states: dict[Any, dict[str, Any]]
    ) -> None:
        self._records = records
        self._episodes = episodes
        self._states = states

    def records(self, month: Any, shard: str) -> Any:
        return iter(self._records)

    def episodes(self, keys: Any) -> dict[Any, dict[str, Any]]:
        return {key: self._episodes[key] for key in set(keys) if key in self._episodes}

    def notice_states(self, keys: Any) -> dict[Any, dict[str, Any]]:
        return {key: self._states[key] for key in set(keys) if key in self._states}


class Bucket:
    """``ReportFiles`` on a dict. S3 holds the objects outside the function: here they are kept compressed, so what
    they add to this process's RSS is small; a GET gives the bytes back, as S3 would."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.sizes: dict[str, int] = {}
        self.calls: dict[str, int] = {"s3.ListObjectsV2": 0, "s3.GetObject": 0, "s3.PutObject": 0}

    def keys(self, prefix: str, *, start_after: str = "", stop_after: str = "") -> list[str]:
        self.calls["s3.ListObjectsV2"] += 1  # a page holds 1,000 keys: a run lists 16 parts, 12 months
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > start_after)
        return [k for k in keys if not stop_after or k <= stop_after]

    def get(self, key: str) -> bytes | None:
        self.calls["s3.GetObject"] += 1
        body = self.objects.get(key)
        return zlib.decompress(body) if body is not None else None

    def put(self, key: str, body: bytes, name: str) -> None:
        self.calls["s3.PutObject"] += 1
        self.sizes[key] = len(body)
        self.objects[key] = zlib.compress(body, 1)


def main() -> None:
    job = json.load(sys.stdin)
    sys.path[:0] = job["path"]
    importlib.import_module(job["module"])
    after_import = high_water_mib()
    from overage.domain.instants import Month
    from overage.services.report import ShardMessage, UsageReport

    month = Month.parse(job["month"])
    bucket = Bucket()
    seconds: list[float] = []
    calls: list[dict[str, int]] = []
    finished = False
    for shard, path in job["shards"]:
        with open(path, "rb") as file:
            records, episodes, states = pickle.load(file)  # nosec B301 - the bench's own file
        report = UsageReport(records=Canned(records, episodes, states), files=bucket)  # type: ignore[arg-type]
        del records, episodes, states
        started = time.perf_counter()
        finished = report.process(ShardMessage(month, shard, "bench"))
        seconds.append(time.perf_counter() - started)
        calls.append(dict(bucket.calls))
        bucket.calls = dict.fromkeys(bucket.calls, 0)
        del report
    print(
        json.dumps(
            {
                "after_import_mib": after_import,
                "peak_mib": high_water_mib(),
                "shard_seconds": seconds,
                "s3_calls": calls,
                "finished": finished,
                "report_bytes": sum(n for k, n in bucket.sizes.items() if k.startswith("reports/")),
            }
        )
    )


if __name__ == "__main__":
    main()
