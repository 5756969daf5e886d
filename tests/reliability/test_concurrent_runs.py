"""Four runs of each scheduled job at once (spec §1: "running it twice at once changes nothing the first run did not").

The monthly report too: four runs at once leave one complete report, the one a run alone writes.

Each job gets a moto server (``overage local up``'s, which answers one request at a time as DynamoDB applies each
request atomically) loaded with the crash tests' fixture through the real webhook; then four ``overage invoke``
processes (four Lambda containers) run the job for the same business time at once, each draining the queue it fans
out to, as the event source mapping would. Whoever wins each write, every invoice, rollup and notice exists once
and every email and bus event went out once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.reliability import harness
from tests.reliability.harness import Tables, messages_left, queue_urls, redeliver_after_lease, sent_emails
from tests.scenarios import (
    given_february_calls_and_a_late_january_one,
    given_five_billing_dates_on_10_march,
    given_four_episodes_due_on_5_march,
    given_two_renewal_invoices_dunned_on_25_april,
)
from tests.support import ROOT, World

OVERAGE = [sys.executable, "-m", "overage_local.cli"]
RUNS = 4

Fixture = Callable[[World], None]
JOBS: list[tuple[str, str, Fixture, int]] = [
    # (function, business time, fixture, emails a clean run sends)
    ("RenewalBillingFunction", "2026-03-10T00:15:00Z", given_five_billing_dates_on_10_march, 9),
    ("GraceExpiryFunction", "2026-03-05T00:05:00Z", given_four_episodes_due_on_5_march, 4),
    ("GraceExpiryFunction", "2026-04-25T00:05:00Z", given_two_renewal_invoices_dunned_on_25_april, 2),
    ("FairUseRollupFunction", "2026-03-01T02:00:00Z", given_february_calls_and_a_late_january_one, 5),
]


@pytest.fixture
def served_world() -> Iterator[World]:
    with harness.served_world() as world:
        yield world


def run_at_once(
    world: World, logical_id: str, as_of: str, tmp_path: Path, *overrides: str
) -> list[subprocess.CompletedProcess[str]]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"as_of": as_of}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "overage"), str(ROOT)]),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    command = [*OVERAGE, "invoke", logical_id, "--event", str(event), "--endpoint-url", str(world.endpoint_url)]
    if overrides:
        command += ["--parameter-overrides", *overrides]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(RUNS)
    ]
    done = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(run.args, run.returncode, out, err))
    return done


def records(world: World) -> dict[str, dict[tuple[str, str], Any]]:
    return Tables(world).items()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("logical_id", "as_of", "given", "emails"), JOBS, ids=[f"{job[0]}-{job[2].__name__}" for job in JOBS]
)
def test_four_runs_at_once_write_each_record_once_and_send_each_notice_once(
    served_world: World, tmp_path: Path, logical_id: str, as_of: str, given: Fixture, emails: int
) -> None:
    world = served_world
    # Given the fixture, loaded through the webhook (and earlier runs of the jobs)
    given(world)
    emails_before, bus_before = len(sent_emails()), len(world.bus_events())
    before = records(world)

    # When four runs of the job start at once
    runs = run_at_once(world, logical_id, as_of, tmp_path)

    # Then each run ended well (a run that lost a race to another reads what the winner wrote and moves on)
    assert [run.returncode for run in runs] == [0] * RUNS, "\n".join(run.stderr[-2000:] for run in runs)
    assert redeliver_after_lease(world, logical_id) == 0  # no notice was left half-sent
    assert messages_left(world, queue_urls(world)) == {}
    after = records(world)
    ledger = {key: item for key, item in after["LedgerTable"].items() if key not in before["LedgerTable"]}
    # every notice written is sent, and each went out once by email and once on the bus
    notices = {key: item for key, item in ledger.items() if key[1].startswith("NOTICE#")}
    assert notices and all('"delivery": "sent"' in item for item in notices.values())
    subjects = Counter(str(message.subject) for message in sent_emails()[emails_before:])
    assert sum(subjects.values()) == emails == len(notices), subjects
    assert set(subjects.values()) == {1}
    bus = Counter(event["detail"]["notice_id"] for event in world.bus_events()[bus_before:])
    assert sorted(bus) == sorted(key[1].removeprefix("NOTICE#") for key in notices)
    assert set(bus.values()) == {1}
    # invoices: one per id (ids are deterministic), each with one notice naming it
    invoices = [key for key in ledger if key[1].startswith("INVOICE#")]
    for account_id, sk in invoices:
        invoice_id = sk.removeprefix("INVOICE#")
        assert sum(invoice_id in key[1] for key in notices if key[0] == account_id) == 1, invoice_id
    if logical_id == "RenewalBillingFunction":  # the account with credit: spent once, by its one new invoice
        credit = after["LedgerTable"]
        assert '"balance": "0.00"' in credit[("acc_credit", "CREDIT_BALANCE#GBP")]
        applied = [item for key, item in ledger.items() if key[0] == "acc_credit" and key[1].startswith("CREDIT#")]
        assert len(applied) == 1 and '"amount": "-9.25"' in applied[0]
        [billed] = [
            item for key, item in ledger.items() if key == ("acc_credit", "INVOICE#inv_acc_credit_renewal_2026-03-10")
        ]
        assert '"credit_applied": "9.25"' in billed and '"amount_due": "19.55"' in billed


@pytest.mark.slow
def test_four_report_runs_at_once_write_one_report(served_world: World, tmp_path: Path) -> None:
    world = served_world
    if "UsageReportFunction" not in world.template.function_ids():
        pytest.skip("no UsageReportFunction in the template")
    # Given February's facts (the excess-profile and fair-use fixtures and their runs)
    given_four_episodes_due_on_5_march(world)
    given_february_calls_and_a_late_january_one(world)
    world.run("GraceExpiryFunction", {"as_of": "2026-02-25T00:05:00Z"})
    world.run("FairUseRollupFunction", {"as_of": "2026-03-01T02:00:00Z"})
    before = records(world)

    # When four report runs for February start at once
    runs = run_at_once(world, "UsageReportFunction", "2026-03-01T04:00:00Z", tmp_path)

    # Then each ended well, the report is complete, and no table changed
    assert [run.returncode for run in runs] == [0] * RUNS, "\n".join(run.stderr[-2000:] for run in runs)
    assert messages_left(world, queue_urls(world)) == {}
    assert records(world) == before
    s3 = boto3.client("s3", region_name="eu-west-1", endpoint_url=world.endpoint_url)
    bucket = world.template.physical_id("ReportBucket")

    def report_files() -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="reports/2026-02/").get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}

    files = report_files()
    assert sorted(key.rsplit("/", 1)[1] for key in files) == [
        "communication.csv",
        "contact_overruns.csv",
        "excess_profiles.csv",
        "fair_use.csv",
        "index.html",
        "settlement.csv",
        "summary.json",
    ]
    assert json.loads(files["reports/2026-02/summary.json"])["excess_profiles"]["episodes_opened"] == 3
    # And one more run, alone, writes the very same files: the four converged on the one report
    world.run("UsageReportFunction", {"as_of": "2026-03-01T04:00:00Z"})
    assert report_files() == files


@pytest.mark.slow
def test_four_dunning_runs_at_once_restrict_the_account_once(tmp_path: Path) -> None:
    # With renewal invoices restricting at once (0 days overdue), acc_late's 10 Apr invoice goes overdue on 25 Apr
    # and restricts the account in the same step; four runs at once do that once.
    from tests.builders import catalog_restricting

    with harness.served_world(CatalogParameterName="/overage/catalog-x") as world:
        ssm = boto3.client("ssm", region_name="eu-west-1", endpoint_url=world.endpoint_url)
        ssm.put_parameter(Name="/overage/catalog-x", Value=catalog_restricting("renewal", 0), Type="String")
        given_two_renewal_invoices_dunned_on_25_april(world)
        emails_before, bus_before = len(sent_emails()), len(world.bus_events())

        runs = run_at_once(
            world, "GraceExpiryFunction", "2026-04-25T00:05:00Z", tmp_path, "CatalogParameterName=/overage/catalog-x"
        )

        assert [run.returncode for run in runs] == [0] * RUNS, "\n".join(run.stderr[-2000:] for run in runs)
        assert redeliver_after_lease(world, "GraceExpiryFunction") == 0
        assert messages_left(world, queue_urls(world)) == {}
        items = records(world)
        late = items["LedgerTable"][("acc_late", "INVOICE#inv_acc_late_renewal_2026-04-10")]
        assert '"status": "overdue"' in late and '"restricting": true' in late
        assert '"restricted": true' in items["AccountsTable"][("acc_late", "ACCOUNT")]
        # acc_late: invoice.overdue and account.restricted; acc_soon: its reminder. Each once, by email and bus.
        subjects = Counter(str(message.subject).split(" ")[0] for message in sent_emails()[emails_before:])
        assert subjects == {"Account": 1, "Invoice": 1, "Reminder:": 1}, subjects
        kinds = Counter(event["detail-type"] for event in world.bus_events()[bus_before:])
        assert kinds == {"account.restricted": 1, "invoice.overdue": 1, "invoice.payment_reminder": 1}, kinds
