"""Every sample event in events/ is invoked, as `sam local invoke -e` or `overage invoke -e` would hand it over.

Each runs in its own moto world holding the history the webhook samples (events/webhooks/) tell: acc_42, a
standard annual account from 10 Jan 2026, a call in January, 130 contacts and 205 profiles (over its 200) in
February. The SQS samples are shaped as `sam local generate-event sqs receive-message` makes them, with the body the
function's own dispatcher sends: a test runs the dispatcher and compares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from overage_local import runtime
from overage_local.template import LocalTemplate

from tests.support import EVENTS, ROOT, World, moto_world

TEMPLATE = LocalTemplate.from_file(ROOT / "template.yaml")
FOLDERS = {Path(str(TEMPLATE.function_setting(f, "CodeUri"))).name: f for f in TEMPLATE.function_ids()}
HISTORY = ("account_upserted", "call_completed", "contacts_counted", "profiles_counted")
SAMPLES = sorted(EVENTS.glob("*.json"))
# The run whose fan-out each queue's sample message comes from (the schedule's own sample events).
DISPATCHING_RUN = {
    "RenewalBillingFunction": "renewal_billing__scheduled.json",
    "GraceExpiryFunction": "grace_expiry__as_of.json",
    "FairUseRollupFunction": "fair_use_rollup__as_of.json",
    "UsageReportFunction": "usage_report__month.json",
}
# What API Gateway's client gets for each REST sample: acc_42 exists; SAM's generated POST carries no signature.
HTTP_STATUS = {
    "crm_webhook__get_account.json": 200,
    "crm_webhook__get_changes.json": 200,
    "crm_webhook__get_fair_use.json": 200,
    # "I need help" on acc_42's profiles.exceeded email, signed with the local feedback key
    "crm_webhook__get_feedback.json": 200,
    "crm_webhook__openapi.json": 200,
    "crm_webhook__sam_generated_post.json": 401,
}


def is_sqs(event: Any) -> bool:
    return any(record.get("eventSource") == "aws:sqs" for record in event.get("Records", []))


def is_sns(event: Any) -> bool:
    return any(record.get("EventSource") == "aws:sns" for record in event.get("Records", []))


def function_of(sample: Path) -> str:
    return FOLDERS[sample.name.split("__", 1)[0]]


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture
def world() -> Iterator[World]:
    with moto_world() as world:
        for name in HISTORY:
            world.accepted(load(EVENTS / "webhooks" / f"{name}.json"))
        yield world


def test_every_sample_names_a_function_and_every_queue_driven_function_has_an_sqs_sample() -> None:
    assert all(sample.name.split("__", 1)[0] in FOLDERS for sample in SAMPLES)
    queue_driven = {source.function_id for source in TEMPLATE.sqs_event_sources()}
    with_sqs_sample = {function_of(s) for s in SAMPLES if is_sqs(load(s))}
    assert queue_driven == with_sqs_sample == set(DISPATCHING_RUN)
    # SNS-driven functions: a sample per SES event type the configuration set publishes (spec §3.9)
    sns_driven = {f for f in TEMPLATE.function_ids() if TEMPLATE.function_events(f, "SNS")}
    with_sns_sample = {s.name for s in SAMPLES if is_sns(load(s))}
    assert sns_driven == {function_of(EVENTS / name) for name in with_sns_sample} == {"EmailFeedbackFunction"}
    assert {name.split("__", 1)[1] for name in with_sns_sample} >= {
        "bounce_permanent.json",
        "bounce_transient.json",
        "complaint.json",
        "delivery.json",
    }


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_each_sample_event_runs(world: World, sample: Path) -> None:
    event = load(sample)
    function_id = function_of(sample)

    result = world.invoke(function_id, event)
    batches = runtime.drain_queues(world.template, world.endpoint_url)  # what the run fanned out, as Lambda would

    assert all(batch["succeeded"] == batch["received"] for batch in batches), batches
    if is_sns(event):
        # the samples name an SES message of the developer guide's examples, which this world never sent
        assert result == {"outcomes": ["ignored"] * len(event["Records"])}, result
    elif "Records" in event:
        assert result == {"batchItemFailures": []}  # the record was handled, not handed back for a retry
    elif "httpMethod" in event:
        assert result["statusCode"] == HTTP_STATUS[sample.name], result
        if sample.name == "crm_webhook__get_feedback.json":  # the feedback page, recorded once
            assert "our support team has been told" in result["body"], result
            [help_notice] = [n for n in world.notices("acc_42") if n["kind"] == "notice.help_requested"]
            assert help_notice["detail"]["answered_notice_kind"] == "profiles.exceeded"
        else:
            json.loads(result["body"])
    else:
        assert isinstance(result, dict)


@pytest.mark.parametrize("function_id", sorted(DISPATCHING_RUN))
def test_the_sqs_sample_is_shaped_as_sam_makes_it_with_the_body_the_dispatcher_sends(
    world: World, function_id: str
) -> None:
    folder = next(name for name, fid in FOLDERS.items() if fid == function_id)
    # one sample per kind of message the queue carries (the fair-use queue also carries the run's closing message)
    records = [record for path in sorted(EVENTS.glob(f"{folder}__sqs_*.json")) for record in load(path)["Records"]]
    [source] = [s for s in TEMPLATE.sqs_event_sources() if s.function_id == function_id]

    world.invoke(function_id, load(EVENTS / DISPATCHING_RUN[function_id]))
    sent = world.sqs.receive_message(QueueUrl=world.template.queue_url(source.queue_id), MaxNumberOfMessages=10)
    bodies = [json.loads(message["Body"]) for message in sent["Messages"]]

    samples = [json.loads(record["body"]) for record in records]
    assert {json.dumps(sorted(body)) for body in bodies} == {json.dumps(sorted(sample)) for sample in samples}
    run_independent = [{k: v for k, v in body.items() if k != "run"} for body in bodies]
    for sample in samples:
        assert {k: v for k, v in sample.items() if k != "run"} in run_independent
    for record in records:
        assert set(record) == {
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        }
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":" + world.template.physical_id(source.queue_id))
