"""What template.yaml must say for the guarantees to hold in AWS (issue 8: operations and security), read from the
template itself so a resource added later is held to the same rules.

- every asynchronous path ends in a dead-letter queue, and every dead-letter queue and every function has an alarm
  that notifies the alarm topic;
- a scheduled run is retried and, failed for good, kept (ScheduleDeadLetterQueue, which ``overage dlq redrive``
  re-invokes); a queue worker reports partial batch failures and its messages outlive its retries;
- the outbox's lease outlasts any function that sends notices, so a redelivery never races a live sender;
- least privilege: no SAM CRUD templates, no ``*`` in a data action or a data resource;
- the data is encrypted at rest (tables, queues, the report bucket), the bucket refuses plain HTTP and public access;
- the API is throttled, its read endpoints are IAM-authorised, the webhook secret lives only in SSM.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from overage.notices.outbox import LEASE
from overage_local.template import LocalTemplate

from tests.support import ROOT

TEMPLATE = LocalTemplate.from_file(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.function_ids()
SCHEDULED = [f for f in FUNCTIONS if TEMPLATE.function_events(f, "Schedule", "ScheduleV2")]
QUEUES = TEMPLATE.resources_of_type("AWS::SQS::Queue")
ALARMS = {a: TEMPLATE.properties(a) for a in TEMPLATE.resources_of_type("AWS::CloudWatch::Alarm")}
DATA_SERVICES = ("dynamodb", "s3", "sqs", "sns", "ses", "events", "ssm", "kms", "secretsmanager", "lambda")


def ref(value: Any) -> str | None:
    """The logical id a ``!Ref X`` / ``!GetAtt X.Attr`` names."""
    if isinstance(value, dict):
        target = value.get("Ref") or value.get("Fn::GetAtt")
        if isinstance(target, str):
            return target.split(".", 1)[0]
        if isinstance(target, list):
            return str(target[0])
    return None


def notifies_the_alarm_topic(alarm: dict[str, Any]) -> bool:
    return [ref(action) for action in alarm.get("AlarmActions", [])] == ["AlarmTopic"]


def alarms_on(namespace: str, metric: str, dimension: str, logical_id: str) -> list[str]:
    return [
        name
        for name, alarm in ALARMS.items()
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and any(d.get("Name") == dimension and ref(d.get("Value")) == logical_id for d in alarm.get("Dimensions", []))
        and notifies_the_alarm_topic(alarm)
    ]


def sqs_sources() -> list[tuple[str, str, dict[str, Any]]]:
    """(function, queue, event properties) of every SQS event source."""
    found = []
    for function in FUNCTIONS:
        for event in TEMPLATE.function_events(function, "SQS").values():
            properties = event.get("Properties") or {}
            found.append((function, str(ref(properties.get("Queue"))), properties))
    return found


def dead_letter_queues() -> set[str]:
    named = {str(ref(TEMPLATE.properties(q).get("RedrivePolicy", {}).get("deadLetterTargetArn"))) for q in QUEUES}
    # and where an asynchronous invocation that failed its retries goes (EventInvokeConfig OnFailure)
    for function in FUNCTIONS:
        on_failure = (TEMPLATE.properties(function).get("EventInvokeConfig") or {}).get("DestinationConfig", {})
        named.add(str(ref(on_failure.get("OnFailure", {}).get("Destination"))))
    return {q for q in named if q in QUEUES} | {"ScheduleDeadLetterQueue"}


# ---------------------------------------------------------------------------------------------- operations


def test_every_queue_worker_reports_partial_failures_and_its_queue_dead_letters_after_retries() -> None:
    assert sqs_sources(), "no SQS event source found"
    for function, queue, event in sqs_sources():
        assert event.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], (function, queue)
        queue_properties = TEMPLATE.properties(queue)
        policy = queue_properties.get("RedrivePolicy") or {}
        assert ref(policy.get("deadLetterTargetArn")) in QUEUES, f"{queue} has no dead-letter queue"
        assert 3 <= int(policy["maxReceiveCount"]) <= 10, queue
        # a message stays invisible while a worker may still be on it (Lambda recommends 6 × the timeout)
        timeout = int(TEMPLATE.function_setting(function, "Timeout", 3))
        assert int(queue_properties["VisibilityTimeout"]) >= 6 * timeout, (queue, timeout)


def test_ses_feedback_is_retried_and_kept_in_its_dead_letter_queue_when_it_keeps_failing() -> None:
    # EmailFeedbackFunction is invoked asynchronously by SNS (spec §3.9): retried, then kept, with an alarm
    assert TEMPLATE.function_events("EmailFeedbackFunction", "SNS")
    invoke_config = TEMPLATE.properties("EmailFeedbackFunction")["EventInvokeConfig"]
    assert 1 <= invoke_config["MaximumRetryAttempts"] <= 2
    queue = ref(invoke_config["DestinationConfig"]["OnFailure"]["Destination"])
    assert queue == "EmailFeedbackDeadLetterQueue" and queue in dead_letter_queues()
    destination = TEMPLATE.properties("NoticeFeedbackDestination")["EventDestination"]
    assert sorted(destination["MatchingEventTypes"]) == ["bounce", "complaint", "delivery"]
    assert ref(destination["SnsDestination"]["TopicARN"]) == "EmailFeedbackTopic"
    assert TEMPLATE.data["Globals"]["Function"]["Environment"]["Variables"]["SES_CONFIGURATION_SET"] == {
        "Ref": "NoticeConfigurationSet"
    }
    assert [a for a, alarm in ALARMS.items() if alarm.get("MetricName") == "NoticeDeliveryFailed"]


def test_every_scheduled_run_is_retried_and_a_failed_one_is_kept_in_the_schedule_dead_letter_queue() -> None:
    assert {"RenewalBillingFunction", "GraceExpiryFunction", "FairUseRollupFunction"} <= set(SCHEDULED)
    for function in SCHEDULED:
        invoke_config = TEMPLATE.properties(function)["EventInvokeConfig"]
        assert 1 <= invoke_config["MaximumRetryAttempts"] <= 2, function
        assert ref(invoke_config["DestinationConfig"]["OnFailure"]["Destination"]) == "ScheduleDeadLetterQueue"
        for name, event in TEMPLATE.function_events(function, "Schedule").items():
            properties = event["Properties"]
            assert properties["RetryPolicy"]["MaximumRetryAttempts"] >= 1, (function, name)
            assert ref(properties["DeadLetterConfig"]["Arn"]) == "ScheduleDeadLetterQueue", (function, name)
    policy = TEMPLATE.properties("ScheduleDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    assert any(s["Principal"] == {"Service": "events.amazonaws.com"} for s in policy), "EventBridge may not write"


def test_every_dead_letter_queue_keeps_its_messages_two_weeks_and_has_an_alarm() -> None:
    for queue in dead_letter_queues():
        assert int(TEMPLATE.properties(queue)["MessageRetentionPeriod"]) == 14 * 24 * 3600, queue
        assert alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue), f"{queue}: no alarm"


def test_every_function_has_an_errors_alarm() -> None:
    for function in FUNCTIONS:
        assert alarms_on("AWS/Lambda", "Errors", "FunctionName", function), f"{function}: no Errors alarm"


def test_every_alarm_fires_on_the_first_occurrence_and_ignores_missing_data() -> None:
    for name, alarm in ALARMS.items():
        assert notifies_the_alarm_topic(alarm), name
        assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == (
            "GreaterThanThreshold",
            0,
            "notBreaching",
        ), name


def test_the_outbox_lease_outlasts_every_function_that_sends_notices() -> None:
    # A claim older than the lease belongs to a sender that is dead (Lambda stopped it at its timeout), so the
    # redelivery of the next run never sends a notice a live sender is still sending (notices/outbox.py).
    senders = [f for f in FUNCTIONS if "ses:SendEmail" in str(TEMPLATE.properties(f).get("Policies"))]
    assert {"CrmWebhookFunction", "RenewalBillingFunction"} <= set(senders)
    for function in senders:
        assert int(TEMPLATE.function_setting(function, "Timeout", 3)) < LEASE.total_seconds(), function


# ---------------------------------------------------------------------------------------------- security


def statements(function: str) -> list[dict[str, Any]]:
    found = []
    for policy in TEMPLATE.properties(function).get("Policies") or []:
        found += (policy.get("Statement") or []) if isinstance(policy, dict) else []
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_is_granted_a_wildcard_data_action_or_resource(function: str) -> None:
    policies = TEMPLATE.properties(function).get("Policies") or []
    templates = {name for policy in policies if isinstance(policy, dict) for name in policy if name != "Statement"}
    # SAM's CRUD/FullAccess/ReadPolicy templates grant Scan, DeleteItem, BatchWrite... on the whole table
    assert templates <= {"SQSSendMessagePolicy", "EventBridgePutEventsPolicy"}, templates
    for statement in statements(function):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            service, _, name = action.partition(":")
            assert action != "*" and name != "*" and "*" not in name, f"{function}: {action}"
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if service in DATA_SERVICES:
                assert "*" not in resources, f"{function}: {action} on *"


def test_tables_queues_and_the_report_bucket_are_encrypted_at_rest() -> None:
    for table in TEMPLATE.resources_of_type("AWS::DynamoDB::Table"):
        properties = TEMPLATE.properties(table)
        assert properties["SSESpecification"]["SSEEnabled"] is True, table
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, table
        assert TEMPLATE.resource(table)["DeletionPolicy"] == "Retain", table
    for queue in QUEUES:
        properties = TEMPLATE.properties(queue)
        assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId"), queue
    assert TEMPLATE.properties("AlarmTopic").get("KmsMasterKeyId"), "the alarm topic is encrypted"
    for bucket in TEMPLATE.resources_of_type("AWS::S3::Bucket"):
        properties = TEMPLATE.properties(bucket)
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"], bucket
        assert all(properties["PublicAccessBlockConfiguration"].values()), bucket
        policies = [
            TEMPLATE.properties(p)
            for p in TEMPLATE.resources_of_type("AWS::S3::BucketPolicy")
            if ref(TEMPLATE.properties(p)["Bucket"]) == bucket
        ]
        denied = [
            s
            for p in policies
            for s in p["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denied, f"{bucket} accepts plain HTTP"


def test_the_api_is_throttled_and_only_the_webhook_its_contract_and_the_feedback_links_skip_iam() -> None:
    api = TEMPLATE.properties("CrmApi")
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    throttle, public, documents = api["MethodSettings"]
    assert (throttle["ResourcePath"], throttle["HttpMethod"]) == ("/*", "*")
    assert 0 < throttle["ThrottlingRateLimit"] <= throttle["ThrottlingBurstLimit"]
    # the public feedback route (issue 18) and the emailed invoice documents (issue 17) have their own, smaller
    # budgets: API Gateway's path with "/" as "~1"
    assert (public["ResourcePath"], public["HttpMethod"]) == ("/~1feedback~1{token}", "GET")
    assert (documents["ResourcePath"], documents["HttpMethod"]) == ("/~1invoices~1{token}", "GET")
    for budget in (public, documents):
        assert 0 < budget["ThrottlingRateLimit"] <= budget["ThrottlingBurstLimit"] < throttle["ThrottlingBurstLimit"]
    open_routes = set()
    for function in FUNCTIONS:
        for event in TEMPLATE.function_events(function, "Api", "HttpApi").values():
            properties = event["Properties"]
            assert ref(properties.get("RestApiId")) == "CrmApi", "every route is on the throttled API"
            if (properties.get("Auth") or {}).get("Authorizer") == "NONE":
                open_routes.add((properties["Method"].upper(), properties["Path"]))
    # the webhook authenticates itself (HMAC signature), a feedback link and an invoice's document link by their
    # signed tokens; the OpenAPI document is public by design
    assert open_routes == {
        ("POST", "/webhooks/crm"),
        ("GET", "/openapi.json"),
        ("GET", "/feedback/{token}"),
        ("GET", "/invoices/{token}"),
    }


def test_the_webhook_secret_and_the_feedback_key_live_only_in_ssm() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert "local-dev-secret" not in text and "local-feedback-secret" not in text
    # the secrets are created by the operator, not here: the one parameter the stack writes is the API's URL
    [parameter] = TEMPLATE.resources_of_type("AWS::SSM::Parameter")
    assert (parameter, TEMPLATE.properties(parameter)["Type"]) == ("FeedbackBaseUrlParameter", "String")
    variables = TEMPLATE.globals_function.get("Environment", {}).get("Variables", {})
    assert ref(variables["WEBHOOK_SECRET_PARAMETER"]) == "WebhookSecretParameterName"  # a name, not a value
    assert ref(variables["FEEDBACK_SECRET_PARAMETER"]) == "FeedbackSecretParameterName"
    named = {"WEBHOOK_SECRET_PARAMETER", "FEEDBACK_SECRET_PARAMETER"}
    for function in FUNCTIONS:
        for name in TEMPLATE.function_environment(function):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|KEY$", name) or name in named, name
    route = (ROOT / "layers" / "overage" / "overage" / "api" / "webhook.py").read_text()  # the webhook's HTTP adapter
    assert "get_parameter(settings.webhook_secret_parameter, decrypt=True" in route
    links = (ROOT / "layers" / "overage" / "overage" / "runtime" / "feedback_links.py").read_text()
    assert "get_parameter(parameter, decrypt=True" in links
