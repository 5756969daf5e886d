"""The local template reader supports what template.yaml uses, and names anything else (what, and where)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from overage_local.cli import main
from overage_local.template import LocalTemplate, TemplateError

ROOT = Path(__file__).resolve().parents[2]

BASE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker
      Handler: app.lambda_handler
      Events:
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt Jobs.Arn}
"""


def load(text: str) -> LocalTemplate:
    return LocalTemplate.from_string(textwrap.dedent(text), ROOT)


def test_the_projects_template_is_supported() -> None:
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    assert "RenewalBillingFunction" in template.function_ids()


def test_a_minimal_template_is_supported() -> None:
    assert load(BASE).function_ids() == ["Worker"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("Type: AWS::SQS::Queue", "Type: AWS::Kinesis::Stream"),
            "Resources.Jobs.Type: resource type 'AWS::Kinesis::Stream' is not supported",
        ),
        (
            ("VisibilityTimeout: 60", "KmsMasterKeyId: alias/aws/sqs"),
            "Resources.Jobs.Properties.KmsMasterKeyId: property 'KmsMasterKeyId' of AWS::SQS::Queue is not supported",
        ),
        (
            ("Type: SQS", "Type: Kinesis"),
            "Resources.Worker.Properties.Events.Jobs.Type: event type 'Kinesis' is not supported",
        ),
        (
            ("Handler: app.lambda_handler", "Handler: !ImportValue shared-handler"),
            "Resources.Worker.Properties.Handler.Fn::ImportValue: intrinsic function 'Fn::ImportValue' is not "
            "supported",
        ),
        (
            ("Properties: {Queue: !GetAtt Jobs.Arn}", "Properties: {Queue: !Select [0, !GetAZs '']}"),
            "Resources.Worker.Properties.Events.Jobs.Properties.Queue.Fn::Select[1].Fn::GetAZs: intrinsic function "
            "'Fn::GetAZs' is not supported",
        ),
        (
            (
                "Transform: AWS::Serverless-2016-10-31",
                "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]",
            ),
            "Transform: transform 'AWS::LanguageExtensions' is not supported",
        ),
    ],
)
def test_anything_else_is_named_with_where_it_is(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in BASE
    with pytest.raises(TemplateError) as raised:
        load(BASE.replace(old, new, 1))
    assert message in str(raised.value)
    assert "(it supports: " in str(raised.value)


def test_globals_are_checked_like_the_functions_properties() -> None:
    text = BASE.replace("Resources:", "Globals:\n  Function:\n    SnapStart: {ApplyOn: PublishedVersions}\nResources:")
    with pytest.raises(TemplateError, match=r"Globals\.Function\.SnapStart: property 'SnapStart' in Globals\.Function"):
        load(text)


def test_the_cli_reports_it_in_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent(BASE).replace("Type: AWS::SQS::Queue", "Type: AWS::Kinesis::Stream"))
    (tmp_path / "event.json").write_text("{}")

    status = main(["invoke", "Worker", "--template", str(template), "--event", str(tmp_path / "event.json")])

    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith(f"overage: error: {template}: Resources.Jobs.Type: resource type 'AWS::Kinesis::Stream'")
    assert len(err.splitlines()) == 1
