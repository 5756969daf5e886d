"""One function's benchmark workload in its own process, the way its Lambda container would run it; prints its
peak RSS. Run as ``python -S bench/lambda_worker.py`` with a JSON job on stdin (see ``bench.memory``): only the
standard library, the Lambda-like path and the function's environment; AWS is ``overage local up`` (a moto server in
another process, so the server's memory is not counted here).

Job: ``path`` (sys.path entries), ``module`` and ``attribute`` (the handler), ``events`` (invoked in order), and
``drain`` (queues of the function's SQS event sources: after each event, deliver them in batches of ``batch_size``
until empty, as the event source mapping would).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any


class Context:
    def __init__(self, name: str, memory: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "bench"
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def high_water_mib() -> float:
    """This process's peak resident set (VmHWM). Not ``getrusage``: on Linux its ru_maxrss keeps the high-water mark
    of the process that forked us (the bench, far bigger) across exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    job = json.load(sys.stdin)
    sys.path[:0] = job["path"]
    import importlib

    started = time.perf_counter()
    handler = getattr(importlib.import_module(job["module"]), job["attribute"])
    import_seconds = time.perf_counter() - started
    rss_after_import = high_water_mib()
    import boto3

    sqs = boto3.client("sqs")
    invocations = 0
    for event in job["events"]:
        handler(event, Context(job["name"], job["memory"]))
        invocations += 1
        for queue in job["drain"]:
            while True:
                messages: list[dict[str, Any]] = []
                while len(messages) < queue["batch_size"]:
                    got = sqs.receive_message(
                        QueueUrl=queue["url"],
                        MaxNumberOfMessages=min(10, queue["batch_size"] - len(messages)),
                        MessageSystemAttributeNames=["All"],
                    ).get("Messages", [])
                    if not got:
                        break
                    messages += got
                if not messages:
                    break
                records = [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m.get("MD5OfBody"),
                        "eventSource": "aws:sqs",
                        "eventSourceARN": queue["arn"],
                        "awsRegion": "eu-west-1",
                    }
                    for m in messages
                ]
                result = handler({"Records": records}, Context(job["name"], job["memory"])) or {}
                invocations += 1
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                if failed:
                    raise RuntimeError(f"{job['name']}: {len(failed)} records failed")
                sqs.delete_message_batch(
                    QueueUrl=queue["url"],
                    Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
                )
    peak = high_water_mib()
    print(
        json.dumps(
            {
                "peak_mib": peak,
                "after_import_mib": rss_after_import,
                "import_seconds": import_seconds,
                "invocations": invocations,
            }
        )
    )


if __name__ == "__main__":
    main()
