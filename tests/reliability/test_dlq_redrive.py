"""``overage dlq redrive`` (issue 8, operations): what the dead-letter queues hold goes back to work, and doing it
twice changes nothing.

Against ``overage local up`` (a moto server here): a renewal message dead-lettered by the billing worker goes back to
the billing queue and is billed; a failed scheduled run (Lambda's invocation record) and a scheduled event EventBridge
could not deliver are re-invoked with their original event, so they run for their original business time. Against
AWS the same command uses SQS's message move task and invokes the deployed functions: checked here with botocore's
Stubber, call by call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from overage_local import cli, dlq
from overage_local.template import LocalTemplate

from tests.reliability import harness
from tests.reliability.harness import Tables, messages_left, queue_urls, sent_emails
from tests.support import REGION, ROOT, World, upsert_body

TEMPLATE = ROOT / "template.yaml"


@pytest.fixture
def served_world() -> Iterator[World]:
    with harness.served_world() as world:
        yield world


def invocation_record(template: LocalTemplate, logical_id: str, event: dict[str, Any]) -> str:
    """What Lambda puts in an on-failure destination after the last retry of an asynchronous invocation."""
    arn = template.arn(logical_id) + ":$LATEST"
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-03-01T02:03:00.000Z",
            "requestContext": {
                "requestId": "c9b1fd0b-0000-4000-8000-000000000000",
                "functionArn": arn,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "querying due accounts failed: InternalServerError"},
        }
    )


def scheduled_event(time: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": REGION,
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/overage-GraceExpiryFunctionDaily"],
        "detail": {},
    }


def given_three_dead_letters(world: World) -> None:
    urls = queue_urls(world)
    template = world.template
    # a monthly account due on 10 March (see given_an_account_due) whose billing message failed five times
    billing = json.dumps({"account_id": "acc_dl", "as_of": "2026-03-10T00:15:00+00:00"})
    world.sqs.send_message(QueueUrl=urls["BillingDeadLetterQueue"], MessageBody=billing)
    # a renewal run of 11 March that failed after Lambda's retries (its event is the record's requestPayload)
    record = invocation_record(template, "RenewalBillingFunction", {"as_of": "2026-03-11T00:15:00Z"})
    world.sqs.send_message(QueueUrl=urls["ScheduleDeadLetterQueue"], MessageBody=record)
    # a scheduled event EventBridge could not deliver to the grace-expiry function
    world.sqs.send_message(
        QueueUrl=urls["ScheduleDeadLetterQueue"],
        MessageBody=json.dumps(scheduled_event("2026-03-05T00:05:00Z")),
        MessageAttributes={
            "RULE_ARN": {"DataType": "String", "StringValue": "arn:aws:events:eu-west-1:123456789012:rule/daily"},
            "TARGET_ARN": {"DataType": "String", "StringValue": template.arn("GraceExpiryFunction")},
            "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
        },
    )


def given_an_account_due_on_10_march(world: World) -> None:
    assert world.webhook(upsert_body("acc_dl", billing_cycle="monthly", started_on="2026-02-10"))[0] == 202


def redrive(world: World, *extra: str) -> int:
    return cli.main(["dlq", "redrive", "--template", str(TEMPLATE), "--endpoint-url", str(world.endpoint_url), *extra])


def test_the_template_names_each_dead_letter_queue_and_where_its_messages_go_back() -> None:
    queues = {q.logical_id: q.source for q in dlq.dead_letter_queues(LocalTemplate.from_file(TEMPLATE))}
    assert queues["BillingDeadLetterQueue"] == "BillingQueue"
    assert queues["GraceDeadLetterQueue"] == "GraceQueue"
    assert queues["FairUseDeadLetterQueue"] == "FairUseQueue"
    assert queues["ScheduleDeadLetterQueue"] is None  # failed scheduled runs: re-invoked, not moved


@pytest.mark.slow
def test_a_redrive_puts_every_dead_letter_back_to_work_and_a_second_one_changes_nothing(
    served_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world = served_world
    given_an_account_due_on_10_march(world)
    given_three_dead_letters(world)
    urls = queue_urls(world)
    capsys.readouterr()  # what the webhook printed (its metrics)

    # A dry run counts and changes nothing
    assert redrive(world, "--dry-run") == 0
    counted = {report["queue"]: report for report in json.loads(capsys.readouterr().out)}
    assert counted["BillingDeadLetterQueue"]["moved"] == 1
    assert counted["ScheduleDeadLetterQueue"]["reinvoked"] == 2
    assert messages_left(world, urls) == {"BillingDeadLetterQueue": 1, "ScheduleDeadLetterQueue": 2}

    # When the dead-letter queues are redriven
    assert redrive(world) == 0
    reports = {report["queue"]: report for report in json.loads(capsys.readouterr().out)}
    assert (reports["BillingDeadLetterQueue"]["moved"], reports["BillingDeadLetterQueue"]["to"]) == (1, "BillingQueue")
    assert reports["ScheduleDeadLetterQueue"]["reinvoked"] == 2

    # Then every queue is empty, and the billing date was billed once (24.00 USD, t50)
    assert messages_left(world, urls) == {}
    [invoice] = world.invoices("acc_dl")
    assert (invoice["invoice_id"], invoice["gross"]) == ("inv_acc_dl_renewal_2026-03-10", "24.00")
    state, emails = Tables(world).items(), len(sent_emails())

    # When the same dead letters come back (a redrive repeated, or messages processed before they were dead-lettered)
    given_three_dead_letters(world)
    capsys.readouterr()
    assert redrive(world) == 0
    assert [r["failed"] for r in json.loads(capsys.readouterr().out) if "failed" in r] == []
    # Then nothing changes: no second invoice, no second email
    assert messages_left(world, urls) == {}
    assert Tables(world).items() == state
    assert len(sent_emails()) == emails


def test_a_message_that_is_no_failed_run_stays_in_the_queue_and_is_reported(
    served_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = queue_urls(served_world)
    served_world.sqs.send_message(QueueUrl=urls["ScheduleDeadLetterQueue"], MessageBody='{"what": "no idea"}')
    assert redrive(served_world, "--queue", "ScheduleDeadLetterQueue") == 1
    [report] = json.loads(capsys.readouterr().out)
    assert "neither a Lambda invocation record nor a scheduled event" in report["failed"][0]
    assert messages_left(served_world, urls) == {"ScheduleDeadLetterQueue": 1}


def test_an_unknown_queue_is_a_usage_error(served_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert redrive(served_world, "--queue", "BillingQueue") == 2
    assert "not a dead-letter queue of the template" in capsys.readouterr().err


def test_against_a_deployed_stack_it_uses_sqs_move_tasks_and_invokes_the_deployed_functions(tmp_path: Path) -> None:
    template = LocalTemplate.from_file(TEMPLATE)
    queues = dlq.dead_letter_queues(template)
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION)
    sqs, cloudformation, lambda_client = (session.client(s) for s in ("sqs", "cloudformation", "lambda"))
    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/prod-{}"
    arn = "arn:aws:sqs:eu-west-1:111122223333:prod-{}"
    function = "prod-RenewalBillingFunction-AbC123"
    resources = [
        {"LogicalResourceId": q, "PhysicalResourceId": url.format(q), "ResourceType": "AWS::SQS::Queue"}
        for q in sorted({q.logical_id for q in queues} | {q.source for q in queues if q.source})
    ] + [{"LogicalResourceId": "RenewalBillingFunction", "PhysicalResourceId": function, "ResourceType": "x"}]
    summaries = [
        r | {"LastUpdatedTimestamp": "2026-01-01T00:00:00Z", "ResourceStatus": "CREATE_COMPLETE"} for r in resources
    ]
    with Stubber(sqs) as s, Stubber(cloudformation) as c, Stubber(lambda_client) as lam:
        c.add_response("list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": "prod"})
        for queue in queues:
            if queue.source is not None:
                for logical in (queue.logical_id, queue.source):
                    s.add_response(
                        "get_queue_attributes",
                        {"Attributes": {"QueueArn": arn.format(logical)}},
                        {"QueueUrl": url.format(logical), "AttributeNames": ["QueueArn"]},
                    )
                s.add_response(
                    "start_message_move_task",
                    {"TaskHandle": f"task-{queue.logical_id}"},
                    {"SourceArn": arn.format(queue.logical_id), "DestinationArn": arn.format(queue.source)},
                )
            else:
                record = json.loads(invocation_record(template, "RenewalBillingFunction", {"as_of": "2026-03-11"}))
                record["requestContext"]["functionArn"] = f"arn:aws:lambda:eu-west-1:111122223333:function:{function}"
                message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": json.dumps(record)}
                s.add_response("receive_message", {"Messages": [message]}, None)
                lam.add_response(
                    "invoke",
                    {"StatusCode": 202},
                    {"FunctionName": function, "InvocationType": "Event", "Payload": ANY},
                )
                s.add_response("delete_message", {}, {"QueueUrl": url.format(queue.logical_id), "ReceiptHandle": "r1"})
                s.add_response("receive_message", {"Messages": []}, None)
        stack = dlq.StackLocations(cloudformation, sqs, "prod")

        def invoke(logical_id: str, event: Any) -> None:
            lambda_client.invoke(
                FunctionName=stack.physical[logical_id], InvocationType="Event", Payload=json.dumps(event).encode()
            )

        reports = dlq.redrive(template, sqs, stack, invoke, use_move_task=True)
        s.assert_no_pending_responses()
        lam.assert_no_pending_responses()
    by_queue = {report.queue: report for report in reports}
    assert by_queue["BillingDeadLetterQueue"].task_handle == "task-BillingDeadLetterQueue"
    assert by_queue["ScheduleDeadLetterQueue"].reinvoked == 1
