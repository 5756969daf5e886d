"""The report's resources in template.yaml agree with the code: the index it queries projects what it reads, the
schedule runs after the fair-use rollup, failures land in a DLQ with an alarm, and IAM grants only what it uses."""

from __future__ import annotations

import json
from typing import Any

from overage.store.report_index import PROJECTED, REPORT_INDEX
from overage_local.template import load_template

from tests.support import ROOT

TEMPLATE: dict[str, Any] = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def test_report_index_projects_what_the_report_reads() -> None:
    ledger = RESOURCES["LedgerTable"]["Properties"]
    [index] = [i for i in ledger["GlobalSecondaryIndexes"] if i["IndexName"] == REPORT_INDEX]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["report_key", "sk"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert tuple(index["Projection"]["NonKeyAttributes"]) == PROJECTED
    assert "text" not in PROJECTED and "html" not in PROJECTED


def test_the_report_runs_after_the_rollup_with_retries_a_dead_letter_queue_and_alarms() -> None:
    function = RESOURCES["UsageReportFunction"]["Properties"]
    monthly = function["Events"]["Monthly"]["Properties"]
    rollup = RESOURCES["FairUseRollupFunction"]["Properties"]["Events"]["Monthly"]["Properties"]
    assert (rollup["Schedule"], monthly["Schedule"]) == ("cron(0 2 1 * ? *)", "cron(0 4 1 * ? *)")
    assert monthly["RetryPolicy"]["MaximumRetryAttempts"] > 0 and "DeadLetterConfig" in monthly
    assert function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    assert function["Events"]["Queue"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert RESOURCES["ReportQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    alarmed = [
        json.dumps(r["Properties"]["Dimensions"]) for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert any("UsageReportFunction" in a for a in alarmed) and any("ReportDeadLetterQueue" in a for a in alarmed)


def test_iam_grants_the_report_only_what_it_uses() -> None:
    statements = [
        s
        for policy in RESOURCES["UsageReportFunction"]["Properties"]["Policies"]
        if "Statement" in policy
        for s in policy["Statement"]
    ]
    actions = sorted(a for s in statements for a in s["Action"])
    assert actions == ["dynamodb:BatchGetItem", "dynamodb:Query", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    assert all("*" not in a for a in actions)


def test_the_report_bucket_is_private_encrypted_versioned_and_expires_old_versions() -> None:
    bucket = RESOURCES["ReportBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(rule["Status"] == "Enabled" for rule in bucket["LifecycleConfiguration"]["Rules"])
    [deny] = RESOURCES["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    env = RESOURCES["UsageReportFunction"]["Properties"]["Environment"]["Variables"]
    assert env["REPORT_BUCKET"] == {"Ref": "ReportBucket"}
