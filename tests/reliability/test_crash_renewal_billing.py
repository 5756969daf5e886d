"""Crash at every call of a renewal run (spec §1, §3.5): the k-th DynamoDB / SES / EventBridge / SQS call fails,
refused or applied with its reply lost; the run is retried as AWS retries it and the next run redelivers what a dead
sender left; the tables, invoices and notices end as after a clean run, and no customer hears anything twice beyond
the outbox's documented window (an email SES accepted whose record failed).

The fixture, through the real webhook: five monthly billing dates on 10 March 2026, each a different path of the run
(an overrun supplement, an annual anniversary, a pending downgrade, a pending profile pack that resolves an excess
episode after the billing write, and the monthly excess-profile line of an episode past its grace).
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import crash_at_every_call, quiet_functions
from tests.scenarios import given_five_billing_dates_on_10_march
from tests.support import moto_world, series_of

AS_OF = "2026-03-10T00:15:00Z"


@pytest.mark.slow
def test_a_renewal_run_that_fails_at_any_call_ends_as_a_clean_run() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_five_billing_dates_on_10_march(world)
        report = crash_at_every_call(world, "RenewalBillingFunction", AS_OF)

    # The clean run did what the spec says (so the faulted runs are compared with the right thing)
    invoices = {
        key[0]: item
        for key, item in report.clean.items["LedgerTable"].items()
        if key[1].startswith("INVOICE#inv_") and "renewal_2026-03-10" in key[1]
    }
    assert sorted(invoices) == ["acc_annual", "acc_credit", "acc_downgrade", "acc_excess", "acc_overrun", "acc_pack"]
    assert '"gross": "34.00"' in invoices["acc_overrun"]  # 24.00 + the 10.00 supplement
    assert '"gross": "288.00"' in invoices["acc_annual"]  # 12 × 24.00
    assert '"gross": "28.80"' in invoices["acc_downgrade"]  # t100: 24.00 GBP + 20 % VAT
    assert '"gross": "34.00"' in invoices["acc_pack"]  # 24.00 + one pack at 10.00
    assert '"gross": "54.00"' in invoices["acc_excess"]  # 24.00 + 30 profiles over × 1.00
    # t100 (28.80 GBP) less the downgrade's 9.25 of credit, applied in the billing write: 19.55 due, credit spent once
    assert '"credit_applied": "9.25"' in invoices["acc_credit"] and '"amount_due": "19.55"' in invoices["acc_credit"]
    ledger = report.clean.items["LedgerTable"]
    assert '"balance": "0.00"' in ledger[("acc_credit", "CREDIT_BALANCE#GBP")]
    moves = [item for key, item in sorted(ledger.items()) if key[0] == "acc_credit" and key[1].startswith("CREDIT#")]
    assert [('"kind": "credit_note"' in m, '"kind": "applied"' in m) for m in moves] == [(True, False), (False, True)]
    episodes = {key[0]: item for key, item in report.clean.items["LedgerTable"].items() if key[1].startswith("EPIS")}
    assert '"outcome": "resolved_by_limit_increase"' in episodes["acc_pack"]
    subjects = sorted(subject for _, subject, _ in report.clean.emails)
    # Each account is alone in its series (README "Invoice numbers"): its first invoice of 2026 is number 1;
    # acc_excess's fee invoice (25 February) was its first, so this renewal is its second
    number = {
        account: f"{series_of(account, currency, 2026)}-{sequence}"
        for account, currency, sequence in (
            ("acc_annual", "USD", 1),
            ("acc_credit", "GBP", 2),  # its credit note of 20 February was number 1
            ("acc_downgrade", "GBP", 1),
            ("acc_excess", "USD", 2),
            ("acc_overrun", "USD", 1),
            ("acc_pack", "USD", 1),
        )
    }
    assert len({n.rsplit("-", 1)[0] for n in number.values()}) == 6
    assert subjects == sorted(
        [
            "Back within your profile limit: no fee",
            f"Your invoice {number['acc_annual']}: 288.00 USD",
            f"Your invoice {number['acc_credit']}: 28.80 GBP",
            f"Your invoice {number['acc_downgrade']}: 28.80 GBP",
            f"Your invoice {number['acc_excess']}: 54.00 USD",
            f"Your invoice {number['acc_overrun']}: 34.00 USD",
            f"Your invoice {number['acc_pack']}: 34.00 USD",
            "Your plan changed: contact tier t250 → t100 (downgrade, effective 2026-03-10)",
            "Your plan changed: profile packs 0 → 1 (upgrade, effective 2026-03-10)",
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
