"""Invoice numbers under concurrency, crashes and retries (spec §3.8): every series contiguous from 1, no gap, no
repeat, its counter at the last number, each invoice in the series of its account, currency and year.

The fixture puts many accounts in few series (found by the scheme as the README states it), so the runs contend
for the same counters: nine USD accounts in one series, three GBP accounts in another, each billed twice by the
10 March run (10 February and 10 March: catch-up), and two accounts alone in their own series.
- four renewal runs at once (four ``overage invoke`` processes against one moto server);
- the renewal run failing at the first AWS call of each kind and at every call that reads or moves a counter (the
  BatchGetItem that reads it with the account, the transaction that moves it), in every way (refused, reply lost,
  transaction conflict), retried as AWS retries it: after each, the numbers are
  checked again (which account got which number may differ from the clean
  run: who is numbered first depends on which retry lands first; that the series has no gap and no repeat may not).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import harness
from tests.reliability.harness import (
    Scene,
    fault_plan,
    quiet_functions,
    redeliver_after_lease,
    repeats_allowed,
    run_like_aws,
)
from tests.reliability.test_concurrent_runs import RUNS, run_at_once
from tests.support import World, moto_world, records_one_after_another, series_of, upsert_body

AS_OF = "2026-03-10T00:15:00Z"
MONTHLY_JAN_10 = {
    "billing_cycle": "monthly",
    "started_on": "2026-01-10",
    "customer_since": "2026-01-10",
    "occurred_at": "2026-01-09T08:00:00Z",
}
MONTHLY_FEB_10 = MONTHLY_JAN_10 | {"started_on": "2026-02-10", "customer_since": "2026-02-10"}
MONTHLY_FEB_10["occurred_at"] = "2026-02-09T08:00:00Z"


def in_one_series(count: int, currency: str, prefix: str) -> list[str]:
    """``count`` account ids whose 2026 invoices in ``currency`` share one series."""
    wanted = series_of(f"{prefix}0", currency, 2026)
    found = [f"{prefix}{n}" for n in range(50_000) if series_of(f"{prefix}{n}", currency, 2026) == wanted]
    return found[:count]


def accounts(crowd: int, *, alone: bool = True) -> dict[str, str]:
    """Account id → currency: ``crowd`` USD accounts in one series, a third as many GBP in another, two alone."""
    chosen = dict.fromkeys(in_one_series(crowd, "USD", "acc_usd_"), "USD")
    chosen |= dict.fromkeys(in_one_series(max(2, crowd // 3), "GBP", "acc_gbp_"), "GBP")
    if not alone:
        return chosen
    single = {"acc_alone_usd": "USD", "acc_alone_gbp": "GBP"}
    shared = {series_of(b, d, 2026) for b, d in chosen.items()}
    assert all(series_of(a, c, 2026) not in shared for a, c in single.items())
    return chosen | single


def given_accounts(world: World, chosen: dict[str, str], subscription: dict[str, str] = MONTHLY_JAN_10) -> None:
    for account_id, currency in chosen.items():
        world.accepted(upsert_body(account_id, currency=currency, **subscription))


def invoices_of(items: dict[tuple[str, str], str]) -> list[dict[str, object]]:
    return [json.loads(item) for key, item in items.items() if key[1].startswith("INVOICE#")]


def numbering_problems(items: dict[tuple[str, str], str], chosen: dict[str, str], per_account: int) -> list[str]:
    """What is wrong with the invoice numbers in a ledger table's items (normalised as the harness reads them)."""
    problems: list[str] = []
    invoices = invoices_of(items)
    if sorted(str(i["account_id"]) for i in invoices) != sorted(list(chosen) * per_account):
        problems.append(f"not {per_account} invoices per account: {sorted(str(i['invoice_id']) for i in invoices)}")
    by_series: dict[str, list[int]] = defaultdict(list)
    for invoice in invoices:
        series, sequence = str(invoice["number"]).rsplit("-", 1)
        expected = series_of(str(invoice["account_id"]), str(invoice["currency"]), int(str(invoice["issued_at"])[:4]))
        if series != expected:
            problems.append(f"{invoice['invoice_id']} numbered {invoice['number']}, not in {expected}")
        by_series[series].append(int(sequence))
    for series, sequences in sorted(by_series.items()):
        if sorted(sequences) != list(range(1, len(sequences) + 1)):
            problems.append(f"{series}: sequences {sorted(sequences)} are not 1..{len(sequences)}")
        counter = items.get((f"SERIES#{series}", "COUNTER"))
        last = int(json.loads(counter)["last_sequence"]) if counter else None
        if last != len(sequences):
            problems.append(f"{series}: counter at {last}, {len(sequences)} invoices issued")
    counters = {key[0].removeprefix("SERIES#") for key in items if key[0].startswith("SERIES#")}
    if counters != set(by_series):
        problems.append(f"counters without invoices: {sorted(counters - set(by_series))}")
    return problems


@pytest.fixture
def served_world() -> Iterator[World]:
    with harness.served_world() as world:
        yield world


@pytest.mark.slow
def test_four_runs_at_once_number_every_series_from_1_without_gap_or_repeat(
    served_world: World, tmp_path: Path
) -> None:
    world = served_world
    chosen = accounts(crowd=9)
    given_accounts(world, chosen)
    runs = run_at_once(world, "RenewalBillingFunction", AS_OF, tmp_path)
    assert [run.returncode for run in runs] == [0] * RUNS, "\n".join(run.stderr[-2000:] for run in runs)
    assert redeliver_after_lease(world, "RenewalBillingFunction") == 0
    items = harness.Tables(world).items()["LedgerTable"]
    assert numbering_problems(items, chosen, per_account=2) == []
    # the crowded series hold 18 and 6 invoices: numbers 1..18 and 1..6
    crowded = {series_of(a, c, 2026) for a, c in chosen.items() if not a.startswith("acc_alone")}
    counts = sorted(sum(str(i["number"]).startswith(f"{s}-") for i in invoices_of(items)) for s in crowded)
    assert counts == [6, 18]


@pytest.mark.slow
def test_a_renewal_run_failing_at_any_call_leaves_every_series_contiguous() -> None:
    chosen = accounts(crowd=3, alone=False)  # 3 USD accounts in one series, 2 GBP in another: 5 invoices on 10 March
    invoices = len(chosen)
    with moto_world({"LogLevel": "ERROR"}) as world, quiet_functions():
        given_accounts(world, chosen, MONTHLY_FEB_10)
        scene = Scene(world)

        def job() -> None:
            with records_one_after_another(world):
                run_like_aws(world, "RenewalBillingFunction", {"as_of": AS_OF})

        def then() -> None:
            redeliver_after_lease(world, "RenewalBillingFunction")

        clean, calls = scene.run(job, then=then)
        assert numbering_problems(clean.items["LedgerTable"], chosen, per_account=1) == []
        # The first call of each kind fails (the harness's plan), and every call that reads or moves a counter, in
        # every way that applies: refused, reply lost, cancelled by a conflict. The counter is read with the account,
        # in one BatchGetItem of both tables (services/invoicing.py): no GetItem of a counter alone in a clean run
        numbering = [
            c
            for c in calls
            if "SERIES#" in c.target or (c.operation == "BatchGetItem" and "LedgerTable" in c.target.split(","))
        ]
        assert [c.operation for c in numbering].count("BatchGetItem") == invoices
        assert [c.operation for c in numbering].count("GetItem") == 0
        assert [c.operation for c in numbering].count("TransactWriteItems") == invoices
        plan = fault_plan(calls, every_call=False)
        plan += [f for f in fault_plan(numbering, every_call=True) if f not in plan]
        assert {f.mode for f in plan if f.call.operation == "TransactWriteItems"} == {"refused", "lost", "conflict"}
        problems: list[str] = []
        for fault in plan:
            outcome, _ = scene.run(job, fault.call.n, fault.mode, then=then)
            ledger = outcome.items["LedgerTable"]
            problems += [f"{fault}: {p}" for p in numbering_problems(ledger, chosen, 1)]
            # every invoice's email names the number it was issued with, and no email went out twice beyond the
            # outbox's documented window
            sent = sum(outcome.emails.values())
            allowed, _ = repeats_allowed(calls, fault)
            if not invoices <= sent <= invoices + allowed:
                problems.append(f"{fault}: {sent} emails, the clean run sent {invoices} (allowed {allowed} more)")
            numbers = {str(i["number"]) for i in invoices_of(ledger)}
            named = {subject.split(":")[0].removeprefix("Your invoice ") for _, subject, _ in outcome.emails}
            if named != numbers:
                problems.append(f"{fault}: emails name {sorted(named - numbers)}, missing {sorted(numbers - named)}")
        assert problems == [], "\n".join(problems[:20])
