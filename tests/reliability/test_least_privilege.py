"""Least privilege, checked against what the functions really do: a realistic month runs through every function (all
six webhook types, a rejected event, every read endpoint, two feedback-link clicks, every scheduled job and its
queue), each AWS call a
function makes is recorded (botocore, below every client), turned into its IAM action and resource, and must be
granted by that function's own statements in template.yaml. So the tight, explicit policies are also complete:
nothing the code does would be refused in AWS.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from unittest import mock

import botocore.client
import pytest
from overage.domain.feedback import sign
from overage_local.template import ACCOUNT_ID, LocalTemplate, feedback_secret

from tests.builders import change_body, keys, ses_event, sns_event
from tests.scenarios import (
    given_february_calls_and_a_late_january_one,
    given_five_billing_dates_on_10_march,
    given_four_episodes_due_on_5_march,
)
from tests.support import REGION, ROOT, World, contacts_body, moto_world, payment_body, rest_event

TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
SCHEDULE = {  # the business time each scheduled job runs at, after the fixtures
    "GraceExpiryFunction": "2026-03-05T00:05:00Z",
    "RenewalBillingFunction": "2026-03-10T00:15:00Z",
    "FairUseRollupFunction": "2026-03-01T02:00:00Z",
    "UsageReportFunction": "2026-03-01T04:00:00Z",
}

Request = tuple[str, str, dict[str, str]]  # (IAM action, resource ARN, condition keys)


def requests_of(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    """The IAM requests one API call makes (a transaction is authorised item by item)."""
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{{}}"
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [
                (f"dynamodb:{TRANSACT_ACTIONS[kind]}", table.format(spec["TableName"]), {})
                for item in params["TransactItems"]
                for kind, spec in item.items()
            ]
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [(f"dynamodb:{operation}", table.format(name), {}) for name in params["RequestItems"]]
        resource = table.format(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", resource, {})]
    if service == "sesv2" and operation == "SendEmail":
        sender = params["FromEmailAddress"]
        identity = f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{sender}"
        requests = [("ses:SendEmail", identity, {"ses:FromAddress": sender})]
        if params.get("ConfigurationSetName"):  # SES authorises the configuration set a send names as well
            config_set = f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:configuration-set/{params['ConfigurationSetName']}"
            requests.append(("ses:SendEmail", config_set, {"ses:FromAddress": sender}))
        return requests
    if service == "events" and operation == "PutEvents":
        return [
            ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{entry['EventBusName']}", {})
            for entry in params["Entries"]
        ]
    if service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        name = params["QueueUrl"].rsplit("/", 1)[-1]
        return [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}", {})]
    if service == "ssm" and operation == "GetParameter":
        return [("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{params['Name']}", {})]
    if service == "s3":
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if operation in ("ListObjectsV2", "ListObjects"):
            return [("s3:ListBucket", bucket, {"s3:prefix": params.get("Prefix", "")})]
        action = {"HeadObject": "GetObject"}.get(operation, operation)
        return [(f"s3:{action}", f"{bucket}/{params['Key']}", {})]
    raise AssertionError(f"no IAM mapping for {service}.{operation}: add one (and a grant if it is needed)")


class _NoManagedPolicies:
    """What the translator asks for to name managed policies by name: the template names none (ARNs only)."""

    def load(self) -> dict[str, str]:
        return {}


@functools.cache
def translated_roles() -> dict[str, Any]:
    """The template as SAM deploys it (aws-sam-translator, offline): each function's generated execution role,
    with SAM's policy templates expanded and the policies SAM adds on its own (e.g. for an OnFailure destination)."""
    from samtranslator.translator.transform import transform

    document = copy.deepcopy(LocalTemplate.from_file(ROOT / "template.yaml").data)
    for resource in document["Resources"].values():  # the translator wants S3 URIs; the code's place is irrelevant
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
        resources = transform(document, {}, _NoManagedPolicies())["Resources"]
    return {name: body for name, body in resources.items() if body["Type"] == "AWS::IAM::Role"}


def generated_policies(function: str) -> list[dict[str, Any]]:
    """The inline policies of the role SAM generates for ``function`` (name and statements)."""
    return list(translated_roles()[f"{function}Role"]["Properties"].get("Policies", []))


def granted_statements(template: LocalTemplate, function: str) -> list[dict[str, Any]]:
    """The statements of the function's execution role as SAM generates it, with their intrinsics resolved."""
    return [
        statement
        for policy in generated_policies(function)
        for statement in template.resolve(policy["PolicyDocument"]["Statement"])
    ]


def listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def allows(statement: dict[str, Any], request: Request) -> bool:
    action, resource, keys = request
    if statement.get("Effect") != "Allow":
        return False
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in listed(statement["Resource"])):
        return False
    for operator, conditions in (statement.get("Condition") or {}).items():
        for key, expected in conditions.items():
            if key not in keys:
                continue  # a condition on something this request does not carry (e.g. aws:SourceAccount)
            match = fnmatch.fnmatchcase if operator == "StringLike" else str.__eq__
            if not any(match(keys[key], value) for value in listed(expected)):
                return False
    return True


@pytest.fixture
def recorded() -> Iterator[dict[str, set[tuple[str, str, str]]]]:
    """Every AWS call made while a function runs, by function (the runtime sets AWS_LAMBDA_FUNCTION_NAME)."""
    calls: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    original = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if function:
            service = client.meta.service_model.service_name
            calls[function].add((service, operation, json.dumps(params, sort_keys=True, default=str)))
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = recording  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def a_month_of_everything(world: World) -> None:
    given_five_billing_dates_on_10_march(world)
    given_four_episodes_due_on_5_march(world)
    given_february_calls_and_a_late_january_one(world)
    for logical_id, as_of in sorted(SCHEDULE.items(), key=lambda item: item[1]):
        if logical_id in world.template.function_ids():
            world.run(logical_id, {"as_of": as_of})
    [fee] = [i for i in world.invoices("acc_fee") if i["kind"] == "excess_profiles"]
    assert world.webhook(payment_body("acc_fee", "2026-03-06T00:00:00Z", fee["invoice_id"], fee["gross"], "USD"))[0]
    assert world.webhook(change_body("acc_overrun", "2026-03-12T10:00:00Z", "evt_up", contact_tier="t150"))[0] == 202
    assert world.webhook(contacts_body("acc_nobody", "2026-03-01T00:00:00Z", 1))[0] == 404  # rolled back
    for path in ("", "/invoices", "/notices", "/preview", "/changes", "/fair-use/2026-02", "/fair-use/2026-03"):
        assert world.get(f"/accounts/acc_review{path}")[0] == 200, path
    # SES's feedback on the emails: a delivery, then a complaint (suppression and account.email_undeliverable)
    sent = [n for n in world.notices("acc_fee") if n.get("ses_message_id")]
    for kind in ("Delivery", "Complaint"):
        event = sns_event(ses_event(kind, sent[0]["ses_message_id"], sent[0]["to"], notice=keys(sent[0])))
        assert world.invoke("EmailFeedbackFunction", event)["outcomes"] != ["ignored"], kind
    # the feedback links of two emails (issue 18): "This was clear", then "I need help" (notice.help_requested)
    assert len(sent) >= 2
    for answer, notice in zip(("clear", "help"), sent, strict=False):
        token = sign(feedback_secret(), notice["account_id"], notice["notice_id"], answer)
        assert world.invoke("CrmWebhookFunction", rest_event("GET", f"/feedback/{token}"))["statusCode"] == 200


@pytest.mark.slow
def test_every_call_a_function_makes_is_granted_by_its_own_policy(
    recorded: dict[str, set[tuple[str, str, str]]],
) -> None:
    with moto_world({"LogLevel": "ERROR"}) as world:
        a_month_of_everything(world)
        template = world.template
    by_name = {template.function_name(f): f for f in template.function_ids()}
    assert set(by_name[name] for name in recorded) >= {"CrmWebhookFunction", "EmailFeedbackFunction", *SCHEDULE} & set(
        by_name.values()
    )
    refused = []
    for name, calls in recorded.items():
        function = by_name[name]
        granted = granted_statements(template, function)
        for service, operation, params in sorted(calls):
            for request in requests_of(service, operation, json.loads(params)):
                if not any(allows(statement, request) for statement in granted):
                    refused.append(f"{function}: {request[0]} on {request[1]}")
    assert sorted(set(refused)) == []


def test_the_scheduled_functions_dead_letter_grant_is_the_one_sam_adds_for_the_destination() -> None:
    """Failed invocations go to ScheduleDeadLetterQueue through EventInvokeConfig OnFailure: SAM grants the role
    sqs:SendMessage on that queue by itself, so no policy of ours repeats it."""
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    queue = template.resolve({"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})
    for function in SCHEDULE:
        on_queue = [
            policy["PolicyName"]
            for policy in generated_policies(function)
            for statement in template.resolve(policy["PolicyDocument"]["Statement"])
            if queue in listed(statement.get("Resource"))
        ]
        assert on_queue == [f"{function}EventInvokeConfigOnFailureSQSPolicy"], (function, on_queue)
