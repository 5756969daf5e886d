"""Driven as a CRM drives it: `overage local up`, `overage local api`, then plain HTTP signed by hand.

Also: four concurrent renewal runs (separate processes, like four Lambda containers) against the same moto
server leave exactly one invoice per billing date.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.local_stack import OVERAGE, SECRET, Stack, free_port, wait_until_listening
from tests.support import ROOT, contacts_body, series_of, upsert_body


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    moto_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "OVERAGE_WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "overage"), str(ROOT)]),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    endpoint = f"http://127.0.0.1:{moto_port}"
    up = subprocess.Popen(
        [*OVERAGE, "local", "up", "--port", str(moto_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    api = None
    try:
        wait_until_listening(moto_port, up)
        time.sleep(1.0)  # resources are created right after the port opens
        api = subprocess.Popen(
            [*OVERAGE, "local", "api", "--port", str(api_port), "--endpoint-url", endpoint],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_until_listening(api_port, api)
        yield Stack(endpoint, f"http://127.0.0.1:{api_port}", env)
    finally:
        for process in (api, up):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)


def test_every_status_code_of_the_webhook_contract_over_http(stack: Stack) -> None:
    upsert = upsert_body("acc_http", billing_cycle="monthly")
    assert stack.send(upsert)[0] == 202  # accepted
    assert stack.send(upsert)[0] == 200  # the same id again: the first result, applied once
    assert stack.send(upsert, secret="wrong")[0] == 401  # bad signature
    assert stack.send(upsert, timestamp=int(time.time()) - 600)[0] == 401  # stale timestamp
    assert stack.post(json.dumps(upsert).encode(), None)[0] == 401  # no signature at all
    assert stack.send(b'{"id": "evt_broken", ')[0] == 400  # malformed JSON
    bad = contacts_body("acc_http", "2026-02-01T00:00:00Z", 10)
    bad["data"]["active"] = -1
    status, answer = stack.send(bad)
    assert (status, answer["errors"][0]["field"]) == (422, "data.active")  # schema violation names the field
    assert stack.send(contacts_body("acc_nobody", "2026-02-01T00:00:00Z", 10))[0] == 404  # unknown account
    assert stack.send(b'{"pad": "' + b"x" * (256 * 1024) + b'"}')[0] == 413  # over 256 KiB
    assert stack.send(contacts_body("acc_http", "2026-02-01T00:00:00Z", 130))[0] == 202
    status, standing = stack.get("/accounts/acc_http")
    assert status == 200
    assert standing["contacts"]["active"] == 130
    assert stack.get("/accounts/acc_nobody")[0] == 404
    assert stack.get("/openapi.json")[0] == 200


def test_four_concurrent_renewal_runs_issue_one_invoice_per_billing_date(stack: Stack, tmp_path: Path) -> None:
    accounts = [f"acc_conc_{n}" for n in range(6)]
    for account_id in accounts:
        assert (
            stack.send(
                upsert_body(
                    account_id,
                    billing_cycle="monthly",
                    started_on="2025-11-10",
                    customer_since="2025-11-10",
                    occurred_at="2025-11-10T08:00:00Z",
                )
            )[0]
            == 202
        )
        assert stack.send(contacts_body(account_id, "2025-12-01T00:00:00Z", 130))[0] == 202
    event = tmp_path / "as_of.json"
    event.write_text(json.dumps({"as_of": "2026-02-10T00:15:00Z"}))
    # Four runs at once, each its own process (as four Lambda containers), each draining the queue too.
    runs = [
        subprocess.Popen(
            [*OVERAGE, "invoke", "RenewalBillingFunction", "--event", str(event), "--endpoint-url", stack.endpoint_url],
            cwd=ROOT,
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for run in runs:
        _, err = run.communicate(timeout=240)
        assert run.returncode == 0, err.decode()
    ddb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url, region_name="eu-west-1")
    ledger = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("LedgerTable"))
    for account_id in accounts:
        items = ddb.query(
            TableName=ledger,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": account_id}},
        )["Items"]
        invoices = sorted(i["period_start"]["S"] for i in items if i["sk"]["S"].startswith("INVOICE#"))
        notices = [i for i in items if i["sk"]["S"].startswith("NOTICE#")]
        # billing dates 10 Dec, 10 Jan, 10 Feb: one invoice and one notice each, whoever won each date
        assert invoices == ["2025-12-10", "2026-01-10", "2026-02-10"], account_id
        assert len(notices) == 3
        assert all(n["delivery"]["S"] == "sent" for n in notices)
        gross = sorted(i["gross"]["S"] for i in items if i["sk"]["S"].startswith("INVOICE#"))
        assert gross == ["34.00", "34.00", "34.00"]
    # and SES accepted exactly one email per invoice: 6 accounts × 3 billing dates, plus acc_http's 10 Feb
    data = json.loads(urllib.request.urlopen(f"{stack.endpoint_url}/moto-api/data.json").read())
    subjects = [message["subject"] for message in data["ses"]["Message"]]
    assert len(subjects) == len(set(subjects)) == 19
    assert f"Your invoice {series_of('acc_http', 'USD', 2026)}-1: 34.00 USD" in subjects  # its first of 2026
