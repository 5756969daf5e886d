"""The local runner: template resolution, resources in moto, SQS fan-out, the local API and the CLI.

Everything runs in-process or against 127.0.0.1 (a moto server on a free port); nothing touches the network.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from overage_local import api, runtime
from overage_local.cli import main
from overage_local.server import start_local_stack
from overage_local.template import (
    ACCOUNT_ID,
    LocalTemplate,
    SqsEventSource,
    TemplateError,
    client_factory,
    find_project_root,
    load_template,
    parse_template,
)

from tests.local_stack import API_TEMPLATE, BOOM_APP, ECHO_APP, free_port, write_project

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def _local_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("OVERAGE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("OVERAGE_ENDPOINT_URL", raising=False)


# ------------------------------------------------------------------------------------------ template

INTRINSICS_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  Empty: {Type: String, Default: ""}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
Mappings:
  Sizes:
    dev: {memory: 256}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  HasEmpty: !Not [!Equals [!Ref Empty, ""]]
  Both: !And [!Condition IsDev, !Not [!Condition HasEmpty]]
  Either: !Or [!Condition HasEmpty, !Equals [x, y]]
Globals:
  Function:
    Timeout: 20
    Environment:
      Variables:
        SHARED: !Ref Stage
        OVERRIDDEN: from-globals
Resources:
  Reports:
    Type: AWS::S3::Bucket
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 3}
  JobsDlq:
    Type: AWS::SQS::Queue
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: !Sub "overage-${Stage}"}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
  OnlyWhenEmptySet:
    Type: AWS::SNS::Topic
    Condition: HasEmpty
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker
      Handler: app.lambda_handler
      Environment:
        Variables:
          OVERRIDDEN: from-function
          TABLE: !Ref Table
          QUEUE_URL: !Ref Jobs
          BUS_ARN: !GetAtt Bus.Arn
          ENABLED: true
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Nightly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: "cron(0 2 * * ? *)"}
Outputs:
  Sub: {Value: !Sub "arn:${AWS::Partition}:s3:::${Reports}/x/${Stage}/${!Literal}"}
  SubList: {Value: !Sub ["${Name}-${AWS::Region}", {Name: !Ref Stage}]}
  SubAttr: {Value: !Sub "${Jobs.Arn}|${JobsDlq.QueueName}"}
  If: {Value: !If [IsDev, yes-dev, not-dev]}
  Both: {Value: !If [Both, both, neither]}
  Either: {Value: !If [Either, one, none]}
  Join: {Value: !Join [":", [!Ref AWS::AccountId, !Ref AWS::StackName, !Select [1, !Ref Names]]]}
  Split: {Value: !Select [2, !Split ["/", "a/b/c"]]}
  Map: {Value: !FindInMap [Sizes, !Ref Stage, memory]}
  Dropped: {Value: [keep, !Ref AWS::NoValue, !If [HasEmpty, gone, !Ref AWS::NoValue]]}
  Base64: {Value: !Base64 hi}
"""


def test_short_form_tags_are_read_as_long_form() -> None:
    data = parse_template(INTRINSICS_TEMPLATE)

    worker_env = data["Resources"]["Worker"]["Properties"]["Environment"]["Variables"]
    assert worker_env["TABLE"] == {"Ref": "Table"}
    assert worker_env["BUS_ARN"] == {"Fn::GetAtt": ["Bus", "Arn"]}
    assert data["Conditions"]["HasEmpty"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Empty"}, ""]}]}
    assert data["Conditions"]["Both"]["Fn::And"][0] == {"Condition": "IsDev"}
    assert data["Outputs"]["SubList"]["Value"] == {"Fn::Sub": ["${Name}-${AWS::Region}", {"Name": {"Ref": "Stage"}}]}
    assert data["AWSTemplateFormatVersion"] == "2010-09-09"


def test_intrinsics_resolve_to_local_names_and_values(tmp_path: Path) -> None:
    template = LocalTemplate.from_string(INTRINSICS_TEMPLATE, tmp_path, endpoint_url="http://127.0.0.1:4566")

    outputs = {name: template.resolve(output["Value"]) for name, output in template.data["Outputs"].items()}

    assert outputs == {
        "Sub": "arn:aws:s3:::overage-local-reports/x/dev/${Literal}",
        "SubList": "dev-eu-west-1",
        "SubAttr": "arn:aws:sqs:eu-west-1:123456789012:overage-local-Jobs|overage-local-JobsDlq",
        "If": "yes-dev",
        "Both": "both",
        "Either": "none",
        "Join": "123456789012:overage-local:b",
        "Split": "c",
        "Map": 256,
        "Dropped": ["keep"],
        "Base64": "aGk=",
    }
    assert template.resolve({"Ref": "Jobs"}) == f"http://127.0.0.1:4566/{ACCOUNT_ID}/overage-local-Jobs"
    assert template.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/overage-local-Table"
    )
    assert template.physical_id("Bus") == "overage-dev"
    assert "OnlyWhenEmptySet" not in template.resources_of_type("AWS::SNS::Topic")
    with pytest.raises(TemplateError, match="Nowhere"):
        template.resolve({"Ref": "Nowhere"})


def test_function_environment_merges_globals_and_function_and_lists_sqs_sources(tmp_path: Path) -> None:
    template = LocalTemplate.from_string(INTRINSICS_TEMPLATE, tmp_path, parameter_overrides={"Stage": "qa"})

    assert template.function_ids() == ["Worker"]
    assert template.function_environment("Worker") == {
        "SHARED": "qa",
        "OVERRIDDEN": "from-function",
        "TABLE": "overage-local-Table",
        "QUEUE_URL": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT_ID}/overage-local-Jobs",
        "BUS_ARN": "arn:aws:events:eu-west-1:123456789012:event-bus/overage-qa",
        "ENABLED": "true",
    }
    assert template.sqs_event_sources() == [SqsEventSource("Worker", "Jobs", 5, True)]
    assert template.function_setting("Worker", "Timeout") == 20


def test_the_real_template_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT / "functions")
    assert find_project_root() == PROJECT_ROOT
    data = load_template(PROJECT_ROOT / "template.yaml")
    template = LocalTemplate(data, PROJECT_ROOT)

    assert "CrmWebhookFunction" in template.function_ids()
    env = template.function_environment("CrmWebhookFunction")
    assert env["ACCOUNTS_TABLE"] == "overage-local-AccountsTable"
    assert env["WEBHOOK_SECRET_PARAMETER"] == "/overage/webhook-secret"
    assert all(isinstance(value, str) for value in env.values())
    # Every output and every function property resolves without an unknown reference.
    template.resolve(data.get("Outputs"))
    for function_id in template.function_ids():
        template.resolve(template.properties(function_id))

    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError, match=r"no template\.yaml"):
        find_project_root()


def test_create_resources_builds_the_real_templates_tables_and_webhook_secret() -> None:
    template = LocalTemplate.from_file(PROJECT_ROOT / "template.yaml")
    table_ids = template.resources_of_type("AWS::DynamoDB::Table")

    with mock_aws():
        created = template.create_resources()
        again = template.create_resources()  # idempotent
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        ssm = boto3.client("ssm", region_name=REGION)

        assert created == again
        for table_id in table_ids:
            name = template.physical_id(table_id)
            described = dynamodb.describe_table(TableName=name)["Table"]
            expected_indexes = {
                index["IndexName"] for index in template.properties(table_id).get("GlobalSecondaryIndexes", [])
            }
            assert {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])} == expected_indexes
            assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
            assert ("AWS::DynamoDB::Table", table_id, name) in created
        due_index = dynamodb.describe_table(TableName="overage-local-AccountsTable")["Table"]["GlobalSecondaryIndexes"]
        assert due_index[0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        ttl = dynamodb.describe_time_to_live(TableName="overage-local-IdempotencyTable")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
        secret = ssm.get_parameter(Name="/overage/webhook-secret", WithDecryption=True)["Parameter"]
        assert (secret["Type"], secret["Value"]) == ("SecureString", "local-dev-secret")


def test_create_resources_makes_queues_with_dlqs_buckets_buses_topics_and_the_ses_sender() -> None:
    text = INTRINSICS_TEMPLATE.replace(
        "Parameters:\n", "Parameters:\n  SenderEmail: {Type: String, Default: billing@example.com}\n", 1
    )
    template = LocalTemplate.from_string(text, PROJECT_ROOT)

    with mock_aws():
        created = template.create_resources()
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName="overage-local-Jobs")["QueueUrl"]
        redrive = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"]
        )
        buckets = [bucket["Name"] for bucket in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]]
        buses = [bus["Name"] for bus in boto3.client("events", region_name=REGION).list_event_buses()["EventBuses"]]
        identities = boto3.client("ses", region_name=REGION).list_identities()["Identities"]

    kinds = [kind for kind, _, _ in created]
    assert kinds.index("AWS::SQS::Queue") < len(kinds)
    queue_order = [logical_id for kind, logical_id, _ in created if kind == "AWS::SQS::Queue"]
    assert queue_order == ["JobsDlq", "Jobs"]
    assert redrive == {
        "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:overage-local-JobsDlq",
        "maxReceiveCount": 3,
    }
    assert "overage-local-reports" in buckets
    assert "overage-dev" in buses
    assert "billing@example.com" in identities


# ------------------------------------------------------------------------------- moto server + SQS

FANOUT_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  WebhookSecretParameterName: {Type: String, Default: /overage/test-secret}
Globals:
  Function:
    Timeout: 10
    MemorySize: 512
    Environment:
      Variables:
        RECORD_FILE: {record_file}
        WEBHOOK_SECRET_PARAMETER: !Ref WebhookSecretParameterName
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDlq.Arn, maxReceiveCount: 2}
  WorkDlq:
    Type: AWS::SQS::Queue
  Boom:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt BoomDlq.Arn, maxReceiveCount: 1}
  BoomDlq:
    Type: AWS::SQS::Queue
  Scheduler:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/scheduler
      Handler: app.lambda_handler
      Environment:
        Variables:
          WORK_QUEUE_URL: !Ref Work
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker
      Handler: app.lambda_handler
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 3
            FunctionResponseTypes: [ReportBatchItemFailures]
  Crasher:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/crasher
      Handler: app.lambda_handler
      Events:
        Boom:
          Type: SQS
          Properties: {Queue: !GetAtt Boom.Arn, BatchSize: 10}
  Webhook:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/webhook
      Handler: app.lambda_handler
      Events:
        Post:
          Type: Api
          Properties: {Path: /webhooks/crm, Method: POST}
"""

SCHEDULER_APP = """
import json, os
import boto3

def lambda_handler(event, context):
    sqs = boto3.client("sqs")
    for body in event["bodies"]:
        sqs.send_message(QueueUrl=os.environ["WORK_QUEUE_URL"], MessageBody=body)
    return {"queued": len(event["bodies"]), "function": context.function_name,
            "memory": context.memory_limit_in_mb, "endpoint": os.environ.get("AWS_ENDPOINT_URL")}
"""

WORKER_APP = """
import json, os

def lambda_handler(event, context):
    failures = []
    with open(os.environ["RECORD_FILE"], "a") as record:
        for message in event["Records"]:
            record.write(json.dumps({"body": message["body"],
                                     "count": message["attributes"]["ApproximateReceiveCount"],
                                     "source": message["eventSource"]}) + "\\n")
            if message["body"].startswith("fail"):
                failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}
"""

CRASHER_APP = """
def lambda_handler(event, context):
    raise RuntimeError("cannot process %d messages" % len(event["Records"]))
"""

WEBHOOK_APP = """
import os, time
import boto3
from overage.domain.signature import verify

def lambda_handler(event, context):
    secret = boto3.client("ssm").get_parameter(
        Name=os.environ["WEBHOOK_SECRET_PARAMETER"], WithDecryption=True)["Parameter"]["Value"]
    verify(event["headers"].get("Overage-Signature"), event["body"].encode(), secret, int(time.time()))
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"accepted": true}'}
"""


@pytest.fixture(scope="module")
def fanout_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalTemplate, str, Path]]:
    root = tmp_path_factory.mktemp("fanout")
    record_file = root / "records.jsonl"
    template_path = write_project(
        root,
        FANOUT_TEMPLATE.replace("{record_file}", str(record_file)),
        {"scheduler": SCHEDULER_APP, "worker": WORKER_APP, "crasher": CRASHER_APP, "webhook": WEBHOOK_APP},
    )
    template = LocalTemplate.from_file(template_path, region=REGION)
    server, endpoint_url = start_local_stack(0, template)
    try:
        yield template, endpoint_url, record_file
    finally:
        server.stop()


def test_drain_queues_retries_reported_failures_and_moves_them_to_the_dlq(
    fanout_stack: tuple[LocalTemplate, str, Path],
) -> None:
    template, endpoint_url, record_file = fanout_stack
    bodies = ["ok-1", "fail-1", "ok-2", "ok-3", "fail-2"]

    queued = runtime.invoke(template, "Scheduler", {"bodies": bodies}, endpoint_url)
    batches = runtime.drain_queues(template, endpoint_url)

    assert queued == {"queued": 5, "function": "overage-local-Scheduler", "memory": 512, "endpoint": endpoint_url}
    records = [json.loads(line) for line in record_file.read_text().splitlines()]
    attempts: dict[str, list[str]] = {}
    for record in records:
        attempts.setdefault(record["body"], []).append(record["count"])
    assert attempts == {"ok-1": ["1"], "ok-2": ["1"], "ok-3": ["1"], "fail-1": ["1", "2"], "fail-2": ["1", "2"]}
    assert {record["source"] for record in records} == {"aws:sqs"}
    assert all(batch["received"] <= 3 for batch in batches)
    assert sum(len(batch["moved_to_dlq"]) for batch in batches) == 2

    sqs = client_factory(endpoint_url, REGION)("sqs")
    dlq = sqs.get_queue_url(QueueName="overage-local-WorkDlq")["QueueUrl"]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in dead) == ["fail-1", "fail-2"]
    work = sqs.get_queue_url(QueueName="overage-local-Work")["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10)


def test_an_exception_fails_the_whole_batch(
    fanout_stack: tuple[LocalTemplate, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    template, endpoint_url, _ = fanout_stack
    sqs = client_factory(endpoint_url, REGION)("sqs")
    boom = sqs.get_queue_url(QueueName="overage-local-Boom")["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=boom, MessageBody=body)

    batches = runtime.drain_queues(template, endpoint_url)

    assert [(batch["function"], batch["received"], batch["succeeded"]) for batch in batches] == [("Crasher", 2, 0)]
    assert batches[0]["error"] == "RuntimeError: cannot process 2 messages"
    dead = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="overage-local-BoomDlq")["QueueUrl"])
    assert len(dead["Messages"]) >= 1
    assert "RuntimeError" in capsys.readouterr().err


def test_cli_invoke_prints_the_result_and_drains(
    fanout_stack: tuple[LocalTemplate, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, endpoint_url, _ = fanout_stack
    event_file = tmp_path / "event.json"
    event_file.write_text('{"bodies": ["ok-cli"]}')
    template_file = str(template.root / "template.yaml")

    status = main(
        ["invoke", "Scheduler", "--event", str(event_file), "--endpoint-url", endpoint_url, "--template", template_file]
    )

    out, err = capsys.readouterr()
    assert status == 0
    assert json.loads(out)["queued"] == 1
    assert "1 succeeded" in err


def test_cli_webhook_send_signs_and_delivers(
    fanout_stack: tuple[LocalTemplate, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, endpoint_url, _ = fanout_stack
    body_file = tmp_path / "body.json"
    body_file.write_text('{"id": "evt_1",  "type": "profiles.counted"}\n')
    template_file = str(template.root / "template.yaml")

    status = main(["--template", template_file, "webhook", "send", str(body_file), "--endpoint-url", endpoint_url])
    out, _ = capsys.readouterr()
    wrong = main(
        [
            "--template",
            template_file,
            "webhook",
            "send",
            str(body_file),
            "--endpoint-url",
            endpoint_url,
            "--secret",
            "x",
        ]
    )

    assert status == 0
    assert out.splitlines()[0] == "HTTP 202"
    assert json.loads(out.split("\n", 1)[1]) == {"accepted": True}
    assert wrong == 1
    assert "HTTP 502" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ local api


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[api.LocalApiServer]:
    template_path = write_project(tmp_path, API_TEMPLATE, {"echo": ECHO_APP, "boom": BOOM_APP})
    # Both functions have a helpers.py: each must see its own (as each Lambda has its own /var/task).
    (tmp_path / "functions" / "echo" / "helpers.py").write_text("def tag():\n    return 'echo'\n")
    (tmp_path / "functions" / "boom" / "helpers.py").write_text("def tag():\n    return 'boom'\n")
    # The template's own layer is importable, as /opt/python is in Lambda.
    (tmp_path / "layers" / "shared").mkdir(parents=True)
    (tmp_path / "layers" / "shared" / "local_runner_shared_layer.py").write_text("def greeting():\n    return 'hi'\n")
    server = api.serve_api(LocalTemplate.from_file(template_path), 0, None)
    try:
        yield server
    finally:
        server.shutdown()
        runtime.clear_loaded_functions()


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_local_api_turns_a_request_into_a_rest_proxy_event(api_server: api.LocalApiServer) -> None:
    status, headers, body = call(
        f"{api_server.url}/accounts/acc_42?x=1&tag=a&tag=b", headers={"X-Trace": "t1", "User-Agent": "pytest"}
    )

    event = json.loads(body)
    assert status == 200
    assert headers["X-Tag"] == "echo"
    assert headers["X-Layer"] == "hi"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert event["resource"] == "/accounts/{id}"
    assert event["path"] == "/accounts/acc_42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "acc_42"}
    assert event["queryStringParameters"] == {"x": "1", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1"], "tag": ["a", "b"]}
    assert event["headers"]["X-Trace"] == "t1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert (context["stage"], context["resourcePath"], context["httpMethod"]) == ("v1", "/accounts/{id}", "GET")
    assert context["path"] == "/v1/accounts/acc_42"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "pytest"
    assert isinstance(context["requestTimeEpoch"], int) and context["requestId"]


def test_local_api_routes_literals_first_greedy_paths_and_binary_bodies(api_server: api.LocalApiServer) -> None:
    _, _, literal = call(f"{api_server.url}/accounts/me")
    _, _, greedy = call(f"{api_server.url}/files/a/b.txt", method="PUT", body="héllo".encode())
    _, _, binary = call(f"{api_server.url}/files/raw", method="POST", body=b"\xff\xfe\x00")
    status, headers, payload = call(f"{api_server.url}/files/x.bin")

    assert json.loads(literal)["resource"] == "/accounts/me"
    greedy_event = json.loads(greedy)
    assert greedy_event["pathParameters"] == {"proxy": "a/b.txt"}
    assert greedy_event["body"] == "héllo" and greedy_event["isBase64Encoded"] is False
    binary_event = json.loads(binary)
    assert binary_event["isBase64Encoded"] is True and binary_event["body"] == "//4A"
    assert (status, headers["Content-Type"], payload) == (200, "application/octet-stream", b"\x00\xff")


def test_local_api_answers_404_without_route_and_502_when_the_handler_raises(
    api_server: api.LocalApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = call(f"{api_server.url}/nowhere")
    wrong_method = call(f"{api_server.url}/accounts/acc_1", method="DELETE")
    boom = call(f"{api_server.url}/boom", method="POST", body=b"{}")

    assert (missing[0], json.loads(missing[2])) == (404, {"message": "Missing Authentication Token"})
    assert wrong_method[0] == 404
    assert (boom[0], json.loads(boom[2])) == (502, {"message": "Internal server error"})
    assert "ValueError: boom" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", API_TEMPLATE, {"echo": ECHO_APP, "boom": BOOM_APP})


def test_cli_reports_a_missing_event_file(small_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--template", str(small_project), "invoke", "EchoFunction", "--event", "no/such.json"])

    assert status == 2
    assert capsys.readouterr().err.strip() == "overage: error: no/such.json: no such file"


def test_cli_reports_bad_json_with_line_and_column(
    small_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_file = tmp_path / "bad.json"
    event_file.write_text('{\n  "as_of": "2026-02-01",\n  oops\n}\n')

    status = main(["--template", str(small_project), "invoke", "EchoFunction", "--event", str(event_file)])

    assert status == 2
    assert "invalid JSON at line 3 column 3" in capsys.readouterr().err


def test_cli_reports_an_unknown_function_with_the_known_ones(
    small_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text("{}")

    status = main(["invoke", "NopeFunction", "--event", str(event_file), "--template", str(small_project)])

    assert status == 2
    err = capsys.readouterr().err
    assert "unknown function 'NopeFunction'" in err
    assert "EchoFunction, BoomFunction" in err


def test_cli_reports_a_port_in_use(small_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        up = main(["--template", str(small_project), "local", "up", "--port", str(port)])
        up_err = capsys.readouterr().err
        served = main(
            [
                "--template",
                str(small_project),
                "local",
                "api",
                "--port",
                str(port),
                "--endpoint-url",
                f"http://127.0.0.1:{port}",
            ]
        )
        api_err = capsys.readouterr().err

    assert (up, served) == (2, 2)
    assert f"port {port} on 127.0.0.1 is already in use" in up_err
    assert f"port {port} on 127.0.0.1 is already in use" in api_err


def test_cli_reports_an_unreachable_endpoint(
    small_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text("{}")
    endpoint = f"http://127.0.0.1:{free_port()}"

    status = main(
        [
            "--template",
            str(small_project),
            "invoke",
            "EchoFunction",
            "--event",
            str(event_file),
            "--endpoint-url",
            endpoint,
        ]
    )

    assert status == 2
    assert "is `overage local up` running?" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- SAM's dialect (spec §5)

DIALECT_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  LogRetentionInDays: {Type: Number, Default: 30}
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo
      Handler: app.lambda_handler
      LoggingConfig: {LogGroup: !Ref EchoLogGroup}
      Environment:
        Variables:
          STAGE: !Ref Stage
          COLOR: blue
  EchoLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/aws/lambda/${AWS::StackName}-EchoFunction"
      RetentionInDays: !Ref LogRetentionInDays
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/boom
      Handler: app.lambda_handler
"""

DIALECT_ECHO_APP = """
import os

def lambda_handler(event, context):
    return {"event": event, "stage": os.environ["STAGE"], "color": os.environ["COLOR"],
            "undeclared": os.environ.get("UNDECLARED"), "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
            "log_group": context.log_group_name}
"""

DIALECT_BOOM_APP = """
def check(event):
    raise ValueError("boom: " + event.get("why", "no reason"))

def lambda_handler(event, context):
    check(event)
"""


@pytest.fixture(scope="module")
def dialect_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("dialect")
    template_path = write_project(root, DIALECT_TEMPLATE, {"echo": DIALECT_ECHO_APP, "boom": DIALECT_BOOM_APP})
    server, endpoint_url = start_local_stack(0, LocalTemplate.from_file(template_path, region=REGION))
    try:
        yield str(template_path), endpoint_url
    finally:
        server.stop()


def invoke_cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, Any, str]:
    status = main(list(arguments))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


def test_short_flags_and_the_event_from_standard_input(
    dialect_stack: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    template, endpoint = dialect_stack
    monkeypatch.setattr("sys.stdin", io.StringIO('{"as_of": "2026-02-01T00:00:00Z"}'))

    status, result, _ = invoke_cli(
        capsys, "invoke", "EchoFunction", "-t", template, "-e", "-", "--endpoint-url", endpoint
    )
    no_event = invoke_cli(capsys, "-t", template, "invoke", "EchoFunction", "--endpoint-url", endpoint)

    assert status == 0
    assert result["event"] == {"as_of": "2026-02-01T00:00:00Z"}
    assert result["log_group"] == "/aws/lambda/overage-local-EchoFunction"  # the LoggingConfig's group
    assert (no_event[0], no_event[1]["event"]) == (0, {})  # as sam local invoke: no -e, the event is {}


def test_a_warm_container_keeps_the_functions_environment_between_calls_and_restores_it_after(
    dialect_stack: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    template_path, endpoint = dialect_stack
    template = LocalTemplate.from_file(Path(template_path), region=REGION)
    monkeypatch.setenv("COLOR", "the shell's")
    monkeypatch.delenv("STAGE", raising=False)

    with runtime.warm_container(template, "EchoFunction", endpoint) as handle:
        first = handle({"n": 1})
        second = handle({"n": 2})
        inside = os.environ["COLOR"]

    assert [first["event"], second["event"]] == [{"n": 1}, {"n": 2}]
    assert (first["color"], second["color"], inside) == ("blue", "blue", "blue")  # the template's, for each call
    assert first["endpoint"] == endpoint
    assert first["log_group"] == "/aws/lambda/overage-local-EchoFunction"  # a context made for each call
    assert os.environ["COLOR"] == "the shell's"
    assert "STAGE" not in os.environ


def test_parameter_overrides_in_both_of_sams_spellings(
    dialect_stack: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    template, endpoint = dialect_stack
    base = ("invoke", "EchoFunction", "-t", template, "--endpoint-url", endpoint)

    short = invoke_cli(capsys, *base, "--parameter-overrides", "Stage=qa")
    long = invoke_cli(capsys, *base, "--parameter-overrides", "ParameterKey=Stage,ParameterValue=prod")
    quoted = invoke_cli(capsys, *base, "--parameter-overrides", 'Stage="two words" LogRetentionInDays=7')
    unknown = invoke_cli(capsys, *base, "--parameter-overrides", "Nope=1")

    assert [short[1]["stage"], long[1]["stage"], quoted[1]["stage"]] == ["qa", "prod", "two words"]
    assert unknown[0] == 2
    assert "unknown parameter(s): Nope" in unknown[2]


def test_env_vars_override_declared_variables_only(
    dialect_stack: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, endpoint = dialect_stack
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps(
            {"Parameters": {"COLOR": "green", "STAGE": "all"}, "EchoFunction": {"STAGE": "mine", "UNDECLARED": "x"}}
        )
    )

    status, result, _ = invoke_cli(
        capsys, "invoke", "EchoFunction", "-t", template, "--endpoint-url", endpoint, "--env-vars", str(env_file)
    )
    short = invoke_cli(
        capsys, "invoke", "EchoFunction", "-t", template, "--endpoint-url", endpoint, "-n", str(env_file)
    )

    assert status == 0
    assert (result["stage"], result["color"], result["undeclared"]) == ("mine", "green", None)
    assert short[1] == result


def test_the_endpoint_is_the_flag_else_aws_endpoint_url_else_the_deprecated_alias(
    dialect_stack: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    template, endpoint = dialect_stack
    nowhere = f"http://127.0.0.1:{free_port()}"
    base = ("invoke", "EchoFunction", "-t", template)

    monkeypatch.setenv("AWS_ENDPOINT_URL", nowhere)
    flag = invoke_cli(capsys, *base, "--endpoint-url", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("OVERAGE_ENDPOINT_URL", nowhere)
    from_env = invoke_cli(capsys, *base)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("OVERAGE_ENDPOINT_URL", endpoint)
    alias = invoke_cli(capsys, *base)
    monkeypatch.delenv("OVERAGE_ENDPOINT_URL")
    default = invoke_cli(capsys, *base)

    assert (flag[0], flag[1]["endpoint"]) == (0, endpoint)
    assert (from_env[0], from_env[1]["endpoint"]) == (0, endpoint)
    assert "deprecated" not in from_env[2]
    assert (alias[0], alias[1]["endpoint"]) == (0, endpoint)
    assert "$OVERAGE_ENDPOINT_URL is deprecated; set $AWS_ENDPOINT_URL" in alias[2]
    if default[0] == 2:  # nothing on the default port here (the usual case)
        assert "cannot reach http://127.0.0.1:4566" in default[2]
    else:  # a local stack of someone's on 4566
        assert default[1]["endpoint"] == "http://127.0.0.1:4566"


def test_a_failing_function_prints_lambdas_error_json_and_exits_1(
    dialect_stack: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, endpoint = dialect_stack
    event = tmp_path / "event.json"
    event.write_text('{"why": "bad input"}')

    status, error, err = invoke_cli(
        capsys, "invoke", "BoomFunction", "-t", template, "-e", str(event), "--endpoint-url", endpoint
    )

    assert status == 1
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom: bad input")
    assert error["requestId"]
    # Lambda's stackTrace: the formatted frames from the handler down, none of the runner's own
    assert all(isinstance(line, str) for line in error["stackTrace"])
    assert "in lambda_handler" in error["stackTrace"][0] and "app.py" in error["stackTrace"][0]
    assert "in check" in error["stackTrace"][-1]
    assert not [line for line in error["stackTrace"] if "overage_local" in line]
    assert "ValueError: boom: bad input" in err  # the log, on standard error


def test_version_prints_the_projects_version(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    expected = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]

    status = main(["--version"])

    assert status == 0
    assert capsys.readouterr().out.strip() == f"overage {expected}"


def test_local_up_host_listens_beyond_the_loopback_address(tmp_path: Path) -> None:
    template_path = write_project(
        tmp_path / "p", DIALECT_TEMPLATE, {"echo": DIALECT_ECHO_APP, "boom": DIALECT_BOOM_APP}
    )
    port = free_port()
    command = [sys.executable, "-m", "overage_local.cli", "-t", str(template_path), "local", "up", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(PROJECT_ROOT / p) for p in ("tools", "layers/overage"))}

    def reachable_on_127_0_0_2(*extra: str) -> tuple[bool, str]:
        process = subprocess.Popen([*command, *extra], stdout=subprocess.PIPE, text=True, env=env)
        try:
            lines = []
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if line.startswith("Ctrl-C stops it"):
                    break
            with socket.socket() as probe:
                probe.settimeout(2)
                reached = probe.connect_ex(("127.0.0.2", port)) == 0  # another loopback address: not 127.0.0.1
            return reached, "".join(lines)
        finally:
            process.terminate()
            process.wait(timeout=10)

    everywhere, told = reachable_on_127_0_0_2("--host", "0.0.0.0")
    loopback_only, _ = reachable_on_127_0_0_2()

    assert (everywhere, loopback_only) == (True, False)
    assert "host.docker.internal" in told and "--add-host=host.docker.internal:host-gateway" in told
    assert "AWS::Logs::LogGroup" in told and "/aws/lambda/overage-local-EchoFunction" in told


def test_the_real_templates_functions_log_to_groups_with_the_retention_parameter() -> None:
    template = LocalTemplate.from_file(PROJECT_ROOT / "template.yaml")
    with mock_aws():
        template.create_resources()
        groups = {
            group["logGroupName"]: group.get("retentionInDays")
            for group in boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
        }
    overridden = LocalTemplate.from_file(
        PROJECT_ROOT / "template.yaml", parameter_overrides={"LogRetentionInDays": "7"}
    )

    for function_id in template.function_ids():
        group_id = template.properties(function_id)["LoggingConfig"]["LogGroup"]["Ref"]
        assert template.resource_type(group_id) == "AWS::Logs::LogGroup"
        name = template.physical_id(group_id)
        assert name == f"/aws/lambda/overage-local-{function_id}"
        assert groups[name] == 30  # the parameter's default
        assert overridden.resolve(overridden.properties(group_id)["RetentionInDays"]) == "7"
        assert runtime.function_env(template, function_id, None)["AWS_LAMBDA_LOG_GROUP_NAME"] == name
