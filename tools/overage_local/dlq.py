"""``overage dlq redrive``: put what the dead-letter queues hold back to work.

Two kinds of dead-letter queue come from template.yaml:

* a queue named by another queue's ``RedrivePolicy`` (BillingDeadLetterQueue for BillingQueue, ...) holds messages
  its worker failed ``maxReceiveCount`` times; they go back to that source queue. Against AWS this is SQS's own
  message move task (``StartMessageMoveTask``); against ``overage local up`` each message is sent to the source queue
  *before* it is deleted from the dead-letter queue, then the source queue is drained as Lambda would.
* a queue named as a scheduled function's ``EventInvokeConfig`` on-failure destination or its schedule's
  ``DeadLetterConfig`` (ScheduleDeadLetterQueue) holds failed runs: Lambda's invocation records (the original event
  is ``requestPayload``) or scheduled events EventBridge could not deliver (the event itself, the function in the
  ``TARGET_ARN`` attribute). Each is re-invoked with its original event, so the run happens for its original
  business time; the message is deleted only once the invocation was accepted.

Replaying is safe because every consumer is idempotent: a billing date is billed once, an episode step is taken
once, a month is rolled up once, a notice is sent once (see notices/outbox.py for the one documented exception), so a
message that was redriven twice, or that was also processed before it reached the dead-letter queue, changes nothing
the first time did not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from overage_local.template import QUEUE_TYPE, LocalError, LocalTemplate

RECEIVE_BATCH = 10
RECEIVE_VISIBILITY_SECONDS = 60  # long enough to re-send or re-invoke one batch; a crash makes them visible again


@dataclass(frozen=True)
class DeadLetterQueue:
    logical_id: str
    source: str | None  # the queue whose RedrivePolicy names it; None: failed invocations of scheduled functions


def dead_letter_queues(template: LocalTemplate) -> list[DeadLetterQueue]:
    """Every dead-letter queue of the template, with where its messages go back to."""
    queues = set(template.resources_of_type(QUEUE_TYPE))
    sources: dict[str, str] = {}
    for logical_id in sorted(queues):
        policy = template.properties(logical_id).get("RedrivePolicy") or {}
        target = _referenced_queue(policy.get("deadLetterTargetArn"), queues)
        if target:
            sources[target] = logical_id
    invocation_dlqs: set[str] = set()
    for function_id in template.function_ids():
        properties = template.properties(function_id)
        on_failure = ((properties.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure")
        named = [(on_failure or {}).get("Destination")]
        for event in template.function_events(function_id, "Schedule", "ScheduleV2").values():
            named.append(((event.get("Properties") or {}).get("DeadLetterConfig") or {}).get("Arn"))
        invocation_dlqs |= {queue for value in named if (queue := _referenced_queue(value, queues))}
    found = [DeadLetterQueue(queue, source) for queue, source in sorted(sources.items())]
    found += [DeadLetterQueue(queue, None) for queue in sorted(invocation_dlqs - set(sources))]
    return found


def _referenced_queue(value: Any, queues: set[str]) -> str | None:
    """The queue a ``!GetAtt Queue.Arn`` (or ``!Ref``) names, if any."""
    if isinstance(value, dict):
        target = value.get("Fn::GetAtt") or value.get("Ref")
        name = target.split(".", 1)[0] if isinstance(target, str) else target[0] if isinstance(target, list) else None
        return name if name in queues else None
    return None


def failed_invocation(message: dict[str, Any]) -> tuple[str, Any]:
    """(function ARN or name, original event) of a message of an invocation dead-letter queue."""
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        raise LocalError(f"message {message.get('MessageId')} is not JSON") from None
    if isinstance(body, dict) and isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
        return str(body["requestContext"]["functionArn"]), body["requestPayload"]  # a Lambda invocation record
    target = ((message.get("MessageAttributes") or {}).get("TARGET_ARN") or {}).get("StringValue")
    if target:
        return str(target), body  # a scheduled event EventBridge could not deliver
    raise LocalError(f"message {message.get('MessageId')} is neither a Lambda invocation record nor a scheduled event")


def function_name(arn_or_name: str) -> str:
    """``arn:aws:lambda:r:a:function:name[:qualifier]`` → ``name``."""
    if ":function:" in arn_or_name:
        return arn_or_name.split(":function:", 1)[1].split(":", 1)[0]
    return arn_or_name


# ------------------------------------------------------------------------------------------- where things are


class Locations:
    """Physical queue URLs and ARNs, and functions by name, of one deployment (local or a stack in AWS)."""

    def queue_url(self, logical_id: str) -> str:
        raise NotImplementedError

    def queue_arn(self, logical_id: str) -> str:
        raise NotImplementedError

    def function_logical_id(self, name: str) -> str | None:
        raise NotImplementedError


class LocalLocations(Locations):
    def __init__(self, template: LocalTemplate, endpoint_url: str) -> None:
        self.template = template.for_endpoint(endpoint_url)

    def queue_url(self, logical_id: str) -> str:
        return self.template.queue_url(logical_id)

    def queue_arn(self, logical_id: str) -> str:
        return self.template.arn(logical_id)

    def function_logical_id(self, name: str) -> str | None:
        return next((f for f in self.template.function_ids() if self.template.function_name(f) == name), None)


class StackLocations(Locations):
    """A deployed stack: physical ids from CloudFormation, ARNs from SQS."""

    def __init__(self, cloudformation: Any, sqs: Any, stack_name: str) -> None:
        self.sqs = sqs
        self.physical: dict[str, str] = {}
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for resource in page["StackResourceSummaries"]:
                self.physical[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")

    def queue_url(self, logical_id: str) -> str:
        if logical_id not in self.physical:
            raise LocalError(f"the stack has no {logical_id}")
        return self.physical[logical_id]  # a queue's physical id is its URL

    def queue_arn(self, logical_id: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(logical_id), AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def function_logical_id(self, name: str) -> str | None:
        return next((logical for logical, physical in self.physical.items() if physical == name), None)


# ------------------------------------------------------------------------------------------- redriving


@dataclass
class QueueReport:
    queue: str
    to: str
    moved: int = 0
    reinvoked: int = 0
    task_handle: str | None = None
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, [])}


Invoke = Callable[[str, Any], None]  # (function logical id or physical name, original event)


def _receive_all(sqs: Any, url: str) -> Iterator[dict[str, Any]]:
    """Every message of a queue once (a message seen already, made visible again by a failure, ends the pass)."""
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=RECEIVE_BATCH,
            WaitTimeSeconds=0,
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        for message in messages:
            if message["MessageId"] in seen:  # left in the queue on purpose earlier in this pass: leave it visible
                _release(sqs, url, message)
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def _release(sqs: Any, url: str, message: dict[str, Any]) -> None:
    """Make a received message visible again at once (it stays in the queue)."""
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def move_messages(sqs: Any, from_url: str, to_url: str, report: QueueReport, *, dry_run: bool) -> None:
    """Send each message to ``to_url``, then delete it from ``from_url`` (a crash in between leaves a duplicate,
    which the idempotent consumer absorbs; the other order could lose it)."""
    for message in _receive_all(sqs, from_url):
        if dry_run:
            _release(sqs, from_url, message)
            report.moved += 1
            continue
        request: dict[str, Any] = {"QueueUrl": to_url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            request["MessageAttributes"] = message["MessageAttributes"]
        sqs.send_message(**request)
        sqs.delete_message(QueueUrl=from_url, ReceiptHandle=message["ReceiptHandle"])
        report.moved += 1


def reinvoke_failed_runs(
    sqs: Any, url: str, locations: Locations, invoke: Invoke, report: QueueReport, *, dry_run: bool
) -> None:
    """Invoke each failed run's function again with its original event; delete the message once that succeeded."""
    for message in _receive_all(sqs, url):
        try:
            target, event = failed_invocation(message)
            name = function_name(target)
            logical_id = locations.function_logical_id(name)
            if logical_id is None:
                raise LocalError(f"no function of this deployment is named {name}")
            if not dry_run:
                invoke(logical_id, event)
        except Exception as error:  # reported; the message stays in the dead-letter queue
            report.failed.append(f"{message['MessageId']}: {type(error).__name__}: {error}")
            _release(sqs, url, message)
            continue
        if dry_run:
            _release(sqs, url, message)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        report.reinvoked += 1


def redrive(
    template: LocalTemplate,
    sqs: Any,
    locations: Locations,
    invoke: Invoke,
    *,
    only: str | None = None,
    use_move_task: bool = False,
    dry_run: bool = False,
) -> list[QueueReport]:
    """Redrive every dead-letter queue of the template (or ``only`` that one)."""
    queues = dead_letter_queues(template)
    if only is not None:
        queues = [queue for queue in queues if queue.logical_id == only]
        if not queues:
            known = ", ".join(q.logical_id for q in dead_letter_queues(template))
            raise LocalError(f"{only} is not a dead-letter queue of the template; these are: {known}")
    reports = []
    for queue in queues:
        url = locations.queue_url(queue.logical_id)
        if queue.source is not None:
            report = QueueReport(queue.logical_id, queue.source)
            if use_move_task and not dry_run:
                task = sqs.start_message_move_task(
                    SourceArn=locations.queue_arn(queue.logical_id),
                    DestinationArn=locations.queue_arn(queue.source),
                )
                report.task_handle = str(task.get("TaskHandle"))
            else:
                move_messages(sqs, url, locations.queue_url(queue.source), report, dry_run=dry_run)
        else:
            report = QueueReport(queue.logical_id, "the functions of the failed runs")
            reinvoke_failed_runs(sqs, url, locations, invoke, report, dry_run=dry_run)
        reports.append(report)
    return reports
