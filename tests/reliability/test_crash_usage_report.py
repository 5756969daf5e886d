"""Crash at every call of a monthly report run (spec §1, §3.6): the k-th DynamoDB / SQS / S3 call fails, refused or
applied with its reply lost; the run is retried as AWS retries it; the report files under ``reports/2026-02/`` end
byte for byte as a clean run writes them, and no table changes (a retried dispatch starts a new run whose parts land
under another ``work/`` prefix, scratch that expires: left out of the comparison).

The fixture: the renewal, excess-profile and fair-use fixtures of the other crash tests and their runs, so February
and early March hold invoices, episodes, rollups and notices to report on.
"""

from __future__ import annotations

import json

import pytest

from tests.reliability.harness import crash_at_every_call, quiet_functions
from tests.scenarios import given_february_calls_and_a_late_january_one, given_four_episodes_due_on_5_march
from tests.support import fair_use_run, grace_run, moto_world

AS_OF = "2026-03-01T04:00:00Z"  # the report of February


@pytest.mark.slow
def test_a_report_run_that_fails_at_any_call_writes_the_same_report() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_four_episodes_due_on_5_march(world)
        given_february_calls_and_a_late_january_one(world)
        grace_run(world, "2026-02-25T00:05:00Z")
        fair_use_run(world, "2026-03-01T02:00:00Z")
        report = crash_at_every_call(world, "UsageReportFunction", AS_OF)

    # The clean run reported February as it happened: three episodes opened (5, 10 and 15 Feb), fees of 15.00 and
    # 20.00 USD and 16.00 + 3.20 VAT GBP invoiced, the 15.00 one overdue and its account restricted; four accounts
    # with calls
    assert sorted(report.clean.reports) == [
        f"reports/2026-02/{name}"
        for name in (
            "communication.csv",
            "contact_overruns.csv",
            "excess_profiles.csv",
            "fair_use.csv",
            "index.html",
            "settlement.csv",
            "summary.json",
        )
    ]
    summary = json.loads(report.clean.reports["reports/2026-02/summary.json"])
    excess = summary["excess_profiles"]
    assert (excess["episodes_opened"], excess["accounts_restricted"]) == (3, 1)
    assert excess["fees_invoiced"]["by_currency"]["USD"]["gross"] == "35.00"
    assert excess["fees_invoiced"]["by_currency"]["GBP"] == {
        "count": 1,
        "net": "16.00",
        "vat": "3.20",
        "gross": "19.20",
    }
    assert excess["fees_overdue"]["by_currency"]["USD"]["gross"] == "15.00"
    assert summary["fair_use"]["accounts"] == 4

    # And every kind of call was made to fail, each write refused and with its reply lost
    # And whichever call failed, the report written is the clean run's, byte for byte
    report.assert_every_fault_recovered({"sqs.SendMessageBatch", "s3.PutObject"})
