"""Run a function of the template in this process, the way Lambda would.

``invoke`` gives the handler the environment the template gives it (plus where the AWS emulation answers),
a Lambda context with the template's timeout and memory, and the module loaded from the function's own
folder. ``drain_queues`` plays the SQS event source mappings of the template until every mapped queue is
empty, with partial batch failures, retries and dead-letter queues, so a local run ends where AWS would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from overage_local.template import (
    ACCOUNT_ID,
    FAKE_CREDENTIALS,
    LocalError,
    LocalTemplate,
    SqsEventSource,
    client_factory,
)

DEFAULT_TIMEOUT_SECONDS = 3  # Lambda's own defaults when neither the function nor Globals set them
DEFAULT_MEMORY_MB = 128
DEFAULT_METRICS_NAMESPACE = "Overage"  # the template's POWERTOOLS_METRICS_NAMESPACE
SQS_MAX_MESSAGES_PER_RECEIVE = 10


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


class LambdaContext:
    """The parts of ``awslambdaric``'s context object a handler (and Powertools) reads."""

    def __init__(
        self,
        function_name: str,
        *,
        timeout_seconds: int,
        memory_limit_in_mb: int,
        region: str,
        function_version: str = "$LATEST",
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{today}/[{function_version}]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self.timeout_seconds = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def log_group_name(template: LocalTemplate, logical_id: str) -> str:
    """The function's log group: its LoggingConfig's LogGroup, else Lambda's /aws/lambda/<function name>."""
    logging_config = template.function_setting(logical_id, "LoggingConfig") or {}
    group = logging_config.get("LogGroup") if isinstance(logging_config, dict) else None
    return str(group) if group else f"/aws/lambda/{template.function_name(logical_id)}"


def make_context(template: LocalTemplate, logical_id: str) -> LambdaContext:
    context = LambdaContext(
        template.function_name(logical_id),
        timeout_seconds=int(template.function_setting(logical_id, "Timeout", DEFAULT_TIMEOUT_SECONDS)),
        memory_limit_in_mb=int(template.function_setting(logical_id, "MemorySize", DEFAULT_MEMORY_MB)),
        region=template.region,
    )
    context.log_group_name = log_group_name(template, logical_id)
    return context


def function_env(template: LocalTemplate, logical_id: str, endpoint_url: str | None) -> dict[str, str]:
    """The environment of one function: the template's variables plus the local runtime's.

    ``endpoint_url`` None means the caller is inside moto's in-process mock: no ``AWS_ENDPOINT_URL``.
    """
    local = template.for_endpoint(endpoint_url)
    env = local.function_environment(logical_id)
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url  # boto3 >= 1.28 sends every client there
    region = local.region
    env["AWS_REGION"] = region
    env["AWS_DEFAULT_REGION"] = region
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        env.update(FAKE_CREDENTIALS)
    env["POWERTOOLS_TRACE_DISABLED"] = "1"  # no X-Ray daemon locally
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_METRICS_NAMESPACE)
    name = local.function_name(logical_id)
    env["AWS_LAMBDA_FUNCTION_NAME"] = name
    env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST"
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(local.function_setting(logical_id, "MemorySize", DEFAULT_MEMORY_MB))
    env["AWS_LAMBDA_LOG_GROUP_NAME"] = log_group_name(local, logical_id)
    code = local.function_code(logical_id)
    env["LAMBDA_TASK_ROOT"] = str(code.code_dir)
    env["_HANDLER"] = f"{code.module}.{code.attribute}"
    return env


@contextlib.contextmanager
def applied_environment(env: Mapping[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """``os.environ`` with ``env`` applied and ``remove`` unset; restored afterwards."""
    touched = set(env) | set(remove)
    saved = {key: os.environ.get(key) for key in touched}
    try:
        for key in remove:
            os.environ.pop(key, None)
        os.environ.update(env)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ------------------------------------------------------------------------------------ loading handlers


@dataclass
class _LoadedFunction:
    module: ModuleType
    code_dir: Path
    layer_dirs: list[Path]
    # Sibling modules of the handler (``import helpers`` inside functions/x/): kept per function so two
    # functions with a module of the same name never see each other's.
    siblings: dict[str, ModuleType] = field(default_factory=dict)


_LOADED: dict[tuple[str, Path], _LoadedFunction] = {}


def clear_loaded_functions() -> None:
    """Forget every loaded handler module (the next invoke imports them afresh)."""
    _LOADED.clear()


def _module_name(logical_id: str, module_file: Path) -> str:
    digest = hashlib.sha256(str(module_file).encode()).hexdigest()[:8]
    return f"_overage_local_fn_{logical_id}_{digest}"


def _is_under(module: ModuleType, folder: Path) -> bool:
    location = getattr(module, "__file__", None)
    if not location:
        return False
    try:
        return Path(location).resolve().is_relative_to(folder)
    except OSError:
        return False


@contextlib.contextmanager
def _function_import_scope(loaded: _LoadedFunction) -> Iterator[None]:
    """The function's folder first on ``sys.path`` (as /var/task is in Lambda), then its layers (/opt/python),
    with the function's own sibling modules.

    Modules imported from the function's folder are taken out of ``sys.modules`` afterwards and kept for this
    function only, so two functions with a ``helpers.py`` each never see each other's.
    """
    code_dir, siblings = loaded.code_dir, loaded.siblings
    before = set(sys.modules)
    added = [str(folder) for folder in loaded.layer_dirs if str(folder) not in sys.path]
    sys.path[0:0] = [str(code_dir)]
    sys.path[1:1] = added
    sys.modules.update(siblings)
    try:
        yield
    finally:
        for folder in [str(code_dir), *added]:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
        for name in set(sys.modules) - before:
            module = sys.modules[name]
            if name in siblings or (isinstance(module, ModuleType) and _is_under(module, code_dir)):
                siblings[name] = module
                del sys.modules[name]


def _load(template: LocalTemplate, logical_id: str) -> _LoadedFunction:
    code = template.function_code(logical_id)
    key = (logical_id, code.module_file)
    if key in _LOADED:
        return _LOADED[key]
    name = _module_name(logical_id, code.module_file)
    spec = importlib.util.spec_from_file_location(name, code.module_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {code.module_file}")
    module = importlib.util.module_from_spec(spec)
    loaded = _LoadedFunction(module=module, code_dir=code.code_dir, layer_dirs=template.function_layer_dirs(logical_id))
    # Registered under its unique name for good: pydantic and dataclasses look a class's module up there.
    sys.modules[name] = module
    try:
        with _function_import_scope(loaded):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _LOADED[key] = loaded
    return loaded


def invoke(
    template: LocalTemplate,
    logical_id: str,
    event: Any,
    endpoint_url: str | None,
    *,
    context: LambdaContext | None = None,
) -> Any:
    """Call the function's handler with ``event`` and a Lambda context (``context``: one made for this call);
    return what it returns.

    The handler's exceptions propagate (as Lambda reports an error); ``os.environ`` is restored afterwards.
    """
    with warm_container(template, logical_id, endpoint_url) as handle:
        return handle(event, context)


@contextlib.contextmanager
def warm_container(
    template: LocalTemplate, logical_id: str, endpoint_url: str | None
) -> Iterator[Callable[[Any, LambdaContext | None], Any]]:
    """A warm container of the function while the block runs: its environment applied and its handler imported
    once, then ``handle(event, context=None)`` per invocation (a context made for each call when none is given),
    with nothing else between two calls, as in Lambda. ``os.environ`` is restored afterwards."""
    template.require_function(logical_id)
    env = function_env(template, logical_id, endpoint_url)
    remove = () if endpoint_url else ("AWS_ENDPOINT_URL",)
    attribute = template.function_code(logical_id).attribute
    with applied_environment(env, remove):
        # Loaded inside the function's environment: Powertools reads it when the module builds its logger.
        loaded = _load(template, logical_id)
        handler = getattr(loaded.module, attribute, None)
        if not callable(handler):
            raise AttributeError(f"{logical_id}: {loaded.module.__file__} has no callable {attribute!r}")

        def handle(event: Any, context: LambdaContext | None = None) -> Any:
            return handler(event, context or make_context(template, logical_id))

        with _function_import_scope(loaded):
            yield handle


# ------------------------------------------------------------------------------ SQS event source mappings


@dataclass
class _Queue:
    url: str
    arn: str
    dead_letter_url: str | None
    max_receive_count: int | None
    fifo: bool


def _describe_queue(sqs: Any, template: LocalTemplate, queue_id: str) -> _Queue:
    name = template.physical_id(queue_id)
    try:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except Exception as exc:
        if "NonExistentQueue" not in _error_code(exc) and "QueueDoesNotExist" not in _error_code(exc):
            raise
        raise LocalError(
            f"queue {name} ({queue_id}) does not exist at the endpoint; were the template's resources created "
            "(`overage local up` with this template)?"
        ) from None
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
    dead_letter_url: str | None = None
    max_receive_count: int | None = None
    if attributes.get("RedrivePolicy"):
        policy = json.loads(attributes["RedrivePolicy"])
        dead_letter_name = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        dead_letter_url = str(sqs.get_queue_url(QueueName=dead_letter_name)["QueueUrl"])
        max_receive_count = int(policy["maxReceiveCount"])
    return _Queue(url, attributes["QueueArn"], dead_letter_url, max_receive_count, url.endswith(".fifo"))


def _message_attributes(message: dict[str, Any]) -> dict[str, Any]:
    """SQS ``MessageAttributes`` in the shape a Lambda SQS event carries them."""
    converted: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [
                base64.b64encode(item).decode() if isinstance(item, bytes) else item
                for item in value.get("BinaryListValues", [])
            ],
            "dataType": value.get("DataType"),
        }
    return converted


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """A Lambda SQS event (``Records``) for messages as ``ReceiveMessage`` returned them."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message.get("Body", ""),
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": _message_attributes(message),
                "md5OfBody": message.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def _receive(sqs: Any, queue: _Queue, batch_size: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < batch_size:
        response = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(SQS_MAX_MESSAGES_PER_RECEIVE, batch_size - len(messages)),
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        received = response.get("Messages") or []
        if not received:
            break
        messages.extend(received)
    return messages


def _failed_ids(result: Any, message_ids: list[str], report_failures: bool) -> list[str]:
    """Which messages of a batch failed, as Lambda reads a handler's ``batchItemFailures``."""
    if not report_failures or not isinstance(result, dict) or not result.get("batchItemFailures"):
        return []
    failed: list[str] = []
    for failure in result["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in message_ids:
            return list(message_ids)  # a malformed or unknown identifier fails the whole batch, as in AWS
        failed.append(str(identifier))
    return failed


def _to_dead_letter_queue(sqs: Any, queue: _Queue, message: dict[str, Any]) -> None:
    assert queue.dead_letter_url is not None
    request: dict[str, Any] = {"QueueUrl": queue.dead_letter_url, "MessageBody": message.get("Body", "")}
    if message.get("MessageAttributes"):
        request["MessageAttributes"] = message["MessageAttributes"]
    if queue.dead_letter_url.endswith(".fifo"):
        request["MessageGroupId"] = (message.get("Attributes") or {}).get("MessageGroupId", "dead-letter")
        request["MessageDeduplicationId"] = message["MessageId"]
    sqs.send_message(**request)
    sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])


def _run_batch(
    template: LocalTemplate,
    sqs: Any,
    source: SqsEventSource,
    queue: _Queue,
    messages: list[dict[str, Any]],
    endpoint_url: str | None,
) -> dict[str, Any]:
    message_ids = [message["MessageId"] for message in messages]
    error: str | None = None
    result: Any = None
    try:
        result = invoke(template, source.function_id, sqs_event(messages, queue.arn, template.region), endpoint_url)
        failed = _failed_ids(result, message_ids, source.report_batch_item_failures)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"{source.function_id} failed a batch of {len(messages)} from {source.queue_id}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        failed = list(message_ids)
    to_dead_letter: list[str] = []
    retry: list[dict[str, Any]] = []
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            continue
        receive_count = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
        if queue.dead_letter_url and queue.max_receive_count and receive_count >= queue.max_receive_count:
            _to_dead_letter_queue(sqs, queue, message)
            to_dead_letter.append(message["MessageId"])
        else:
            retry.append(message)
    for message in retry:  # visible again at once: a local run does not wait out the visibility timeout
        sqs.change_message_visibility(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return {
        "function": source.function_id,
        "queue": source.queue_id,
        "received": len(messages),
        "succeeded": len(messages) - len(failed),
        "failed": failed,
        "moved_to_dlq": to_dead_letter,
        "error": error,
        "result": result,
    }


def drain_queues(template: LocalTemplate, endpoint_url: str | None, max_rounds: int = 100) -> list[dict[str, Any]]:
    """Deliver every message of every mapped queue to its function until the queues are empty.

    Emulates Lambda's SQS event source mappings: batches of up to ``BatchSize``; succeeded messages are
    deleted; with ``ReportBatchItemFailures`` only the reported ones fail, otherwise an exception fails the
    whole batch; a failed message is retried and, once received ``maxReceiveCount`` times, moved to the
    queue's dead-letter queue. Returns one dict per batch. Stops after ``max_rounds`` rounds in any case
    (a message that always fails on a queue without a DLQ would otherwise loop forever).
    """
    sources = template.sqs_event_sources()
    if not sources:
        return []
    sqs = client_factory(endpoint_url, template.region)("sqs")
    queues = {source.queue_id: _describe_queue(sqs, template, source.queue_id) for source in sources}
    batches: list[dict[str, Any]] = []
    for _ in range(max_rounds):
        delivered = False
        for source in sources:
            queue = queues[source.queue_id]
            messages = _receive(sqs, queue, source.batch_size)
            if messages:
                delivered = True
                batches.append(_run_batch(template, sqs, source, queue, messages, endpoint_url))
        if not delivered:
            return batches
    print(f"drain_queues: queues still not empty after {max_rounds} rounds; stopping", file=sys.stderr)
    return batches


def summarize_batches(batches: list[dict[str, Any]]) -> str:
    """One line about what ``drain_queues`` delivered."""
    if not batches:
        return "fan-out: no SQS messages to deliver"
    received = sum(batch["received"] for batch in batches)
    succeeded = sum(batch["succeeded"] for batch in batches)
    failed = sum(len(batch["failed"]) for batch in batches)
    dead = sum(len(batch["moved_to_dlq"]) for batch in batches)
    per_queue: dict[str, int] = {}
    for batch in batches:
        per_queue[batch["queue"]] = per_queue.get(batch["queue"], 0) + 1
    queues = ", ".join(f"{queue} x{count}" for queue, count in per_queue.items())
    return (
        f"fan-out: {len(batches)} SQS batch(es) ({queues}): {received} deliveries, {succeeded} succeeded, "
        f"{failed} failed, {dead} moved to a DLQ"
    )
