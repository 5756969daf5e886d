"""A cold container's first webhook request, in its own process (see ``bench.cold_start.first_request``): only the
standard library, the Lambda-like path and the function's environment; AWS is ``overage local up`` in another
process. Prints this process's CPU milliseconds (``time.process_time``: the local AWS's own time is not counted).

Job (JSON on stdin): ``path`` (sys.path entries); then either ``code`` (the floor: run it) or ``module``,
``attribute`` and ``event`` (import the handler and invoke it once with the event; its answer must be ``status``).
"""

from __future__ import annotations

import json
import sys
import time
import uuid


class Context:
    function_name = "CrmWebhookFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:CrmWebhookFunction"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/CrmWebhookFunction"
    log_stream_name = "bench"
    identity = None
    client_context = None

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def main() -> None:
    job = json.load(sys.stdin)
    sys.path[:0] = job["path"]
    started = time.process_time()
    if "code" in job:
        exec(job["code"], {})
    else:
        import importlib

        handler = getattr(importlib.import_module(job["module"]), job["attribute"])
        answer = handler(job["event"], Context())
        if answer["statusCode"] != job["status"]:
            raise SystemExit(f"the first request answered {answer['statusCode']}: {answer.get('body')}")
    print(json.dumps({"cpu_ms": (time.process_time() - started) * 1000}))


if __name__ == "__main__":
    main()
