"""Crash at every call of a grace-expiry run (spec §1, §3.2): the k-th DynamoDB / SES / EventBridge / SQS call fails,
refused or applied with its reply lost; the run is retried as AWS retries it and the next run redelivers what a dead
sender left; the episodes, fee invoices, restrictions and notices end as after a clean run, and no customer hears
anything twice beyond the outbox's documented window.

The fixture, through the real webhook and the daily runs of 8 and 19 February: four accounts over their profile limit,
each due on 5 March 2026 for a different step: a fee unpaid past its deadline (overdue, restricted, the CRM told to
block new profiles), a reminder three days before a deadline, a grace period that just ended, and one in GBP (VAT).
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import crash_at_every_call, quiet_functions
from tests.scenarios import given_four_episodes_due_on_5_march
from tests.support import moto_world, series_of

CURRENCIES = {"acc_overdue": "USD", "acc_reminder": "USD", "acc_gbp": "GBP", "acc_fee": "USD"}
AS_OF = "2026-03-05T00:05:00Z"


@pytest.mark.slow
def test_a_grace_expiry_run_that_fails_at_any_call_ends_as_a_clean_run() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_four_episodes_due_on_5_march(world)
        report = crash_at_every_call(world, "GraceExpiryFunction", AS_OF)

    # The clean run did what the spec says (so the faulted runs are compared with the right thing)
    ledger, accounts = report.clean.items["LedgerTable"], report.clean.items["AccountsTable"]
    fees = {key[0]: item for key, item in ledger.items() if key[1].startswith("INVOICE#")}
    assert '"gross": "30.00"' in fees["acc_fee"]  # 30 profiles over × 1.00 USD
    assert '"gross": "19.20"' in fees["acc_gbp"]  # 20 × 0.80 GBP = 16.00 + 20 % VAT
    assert '"status": "overdue"' in fees["acc_overdue"]
    assert '"restricted": true' in accounts[("acc_overdue", "ACCOUNT")]
    # Each fee invoice is its account's first invoice of 2026, alone in its series (README "Invoice numbers")
    first = {account: f"{series_of(account, currency, 2026)}-1" for account, currency in CURRENCIES.items()}
    assert len(set(first.values())) == 4
    assert sorted(subject for _, subject, _ in report.clean.emails) == sorted(
        [
            f"Account restricted: invoice {first['acc_overdue']} is overdue",
            f"Reminder: invoice {first['acc_reminder']} (20.00 USD) is due on 2026-03-05",
            f"Your invoice {first['acc_gbp']}: 19.20 GBP for excess profiles",
            f"Your invoice {first['acc_fee']}: 30.00 USD for excess profiles",
        ]
    )

    # And every kind of write was made to fail: refused, with its reply lost and, a transaction, cancelled
    # And whichever call failed, the run ended as the clean one did
    report.assert_every_fault_recovered(
        {
            "sqs.SendMessageBatch",
            "dynamodb.TransactWriteItems",
            "sesv2.SendEmail",
            "eventbridge.PutEvents",
            "dynamodb.UpdateItem",
        }
    )
