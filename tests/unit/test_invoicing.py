"""Invoice numbers (spec §3.8): the series of an invoice, and the one seam that issues every invoice
(services/invoicing.py): numbered from its series' counter in the same transaction, retried with the next number
when only the counter moved, a lost race when the caller's own condition (or the invoice's id) failed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from overage.domain.invoice import SERIES_SHARDS, Invoice, build_invoice, number_in, series_for
from overage.domain.money import InvoiceLine
from overage.errors import StoreError
from overage.services import invoicing
from overage.services.invoicing import Invoicing, Issue, Numbering
from overage.store.ledger import LedgerStore
from overage.store.transaction import Outcome, Transaction

from tests.builders import create_pk_sk_table

ISSUED = datetime(2026, 3, 10, tzinfo=UTC)


# ---------------------------------------------------------------- the series (pure)
def test_a_series_is_currency_year_and_shard_of_the_account() -> None:
    shard = int.from_bytes(hashlib.sha256(b"acc_42").digest()[4:8], "big") % 4096  # by hand, as the README says
    assert series_for("acc_42", "GBP", ISSUED) == f"GBP2026S{shard:04d}"
    assert series_for("acc_42", "GBP", datetime(2027, 1, 1, tzinfo=UTC)) == f"GBP2027S{shard:04d}"
    assert series_for("acc_42", "USD", ISSUED) == f"USD2026S{shard:04d}"
    assert number_in("GBP2026S0007", 1) == "GBP2026S0007-1"
    assert number_in("GBP2026S0007", 1200) == "GBP2026S0007-1200"
    with pytest.raises(ValueError, match="starts at 1"):
        number_in("GBP2026S0007", 0)


@given(st.text(min_size=1, max_size=40), st.sampled_from(["GBP", "USD", "EUR"]), st.integers(2000, 2999))
def test_every_number_reads_back_as_its_series_and_sequence(account_id: str, currency: str, year: int) -> None:
    series = series_for(account_id, currency, datetime(year, 6, 1, tzinfo=UTC))
    assert re.fullmatch(rf"{currency}{year}S\d{{4}}", series)
    assert 0 <= int(series[-4:]) < SERIES_SHARDS == 4096
    number = number_in(series, 17)
    assert number.rsplit("-", 1) == [series, "17"]


def test_accounts_spread_over_the_shards() -> None:
    shards = {series_for(f"acc_{n}", "GBP", ISSUED) for n in range(100_000)}
    assert len(shards) == SERIES_SHARDS  # 100,000 accounts reach every one of the 4,096 series


# ---------------------------------------------------------------- the seam (moto)
@pytest.fixture
def ledger() -> Iterator[LedgerStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_pk_sk_table(client, "ledger")
        yield LedgerStore("ledger", client)


def draft(account_id: str, period: str = "2026-03-10", number: str | None = None) -> Invoice:
    return build_invoice(
        account_id=account_id,
        kind="renewal",
        period_key=period,
        currency="GBP",
        period_start=date(2026, 3, 10),
        period_end=date(2026, 4, 10),
        lines=[InvoiceLine.of("subscription", "standard, t50 (month)", 1, Decimal("24.00"))],
        vat_rate_value="0.20",
        issued_at=ISSUED,
        due_on=date(2026, 3, 24),
        number=number,
    )


def marker(account_id: str, period: str) -> dict[str, Any]:
    """The caller's own entry: a record that must not exist yet (as 'this date is not billed yet')."""
    return {
        "Put": {
            "TableName": "ledger",
            "Item": {"pk": {"S": account_id}, "sk": {"S": f"BILLED#{period}"}},
            "ConditionExpression": "attribute_not_exists(sk)",
        }
    }


def billing(account_id: str, period: str = "2026-03-10"):  # type: ignore[no-untyped-def]
    def compose(numbering: Numbering) -> Issue:
        number = numbering.number(account_id, "GBP", ISSUED)
        return Issue(draft(account_id, period, number), [marker(account_id, period)])

    return compose


def counter(ledger: LedgerStore, series: str) -> int | None:
    key = {"pk": {"S": f"SERIES#{series}"}, "sk": {"S": "COUNTER"}}
    item = ledger.client.get_item(TableName="ledger", Key=key).get("Item")
    return int(item["last_sequence"]["N"]) if item else None


def same_series_accounts(count: int) -> list[str]:
    """Accounts whose 2026 GBP invoices share one series (found by the scheme, as the README states it)."""
    wanted = series_for("acc_0", "GBP", ISSUED)
    return [f"acc_{n}" for n in range(100_000) if series_for(f"acc_{n}", "GBP", ISSUED) == wanted][:count]


def test_invoices_of_one_series_are_numbered_1_2_3_and_the_counter_says_3(ledger: LedgerStore) -> None:
    accounts = same_series_accounts(3)
    series = series_for(accounts[0], "GBP", ISSUED)
    seam = Invoicing(ledger)
    issued = [seam.issue(billing(account), "billing") for account in accounts]
    assert [i.invoice.number for i in issued if i and i.invoice] == [f"{series}-1", f"{series}-2", f"{series}-3"]
    assert counter(ledger, series) == 3
    stored = [ledger.get_invoice(account, f"inv_{account}_renewal_2026-03-10") for account in accounts]
    assert [s.number for s in stored if s] == [f"{series}-1", f"{series}-2", f"{series}-3"]


def test_when_only_the_counter_moved_the_write_is_numbered_again_with_the_next(ledger: LedgerStore) -> None:
    first, second = same_series_accounts(2)
    series = series_for(first, "GBP", ISSUED)
    seam = Invoicing(ledger)
    attempts: list[str] = []

    def racing(numbering: Numbering) -> Issue:
        issue = billing(first)(numbering)
        assert issue.invoice is not None and issue.invoice.number
        attempts.append(issue.invoice.number)
        if len(attempts) == 1:  # another invoice of the series is issued between our read and our commit
            assert seam.issue(billing(second), "billing") is not None
        return issue

    written = seam.issue(racing, "billing")
    assert written is not None and written.invoice is not None
    assert attempts == [f"{series}-1", f"{series}-2"]
    assert ledger.get_invoice(second, f"inv_{second}_renewal_2026-03-10").number == f"{series}-1"  # type: ignore[union-attr]
    assert ledger.get_invoice(first, f"inv_{first}_renewal_2026-03-10").number == f"{series}-2"  # type: ignore[union-attr]
    assert counter(ledger, series) == 2


def test_a_failed_condition_of_the_caller_is_a_lost_race_and_takes_no_number(ledger: LedgerStore) -> None:
    (account,) = same_series_accounts(1)
    series = series_for(account, "GBP", ISSUED)
    ledger.client.put_item(TableName="ledger", Item=marker(account, "2026-03-10")["Put"]["Item"])  # already billed
    assert Invoicing(ledger).issue(billing(account), "billing") is None
    assert counter(ledger, series) is None
    assert ledger.invoices(account) == []


def test_an_invoice_issued_before_is_a_lost_race_and_takes_no_second_number(ledger: LedgerStore) -> None:
    (account,) = same_series_accounts(1)
    series = series_for(account, "GBP", ISSUED)
    seam = Invoicing(ledger)
    assert seam.issue(billing(account), "billing") is not None

    def again(numbering: Numbering) -> Issue:  # the same invoice id, the caller's own entry fresh
        return Issue(draft(account, number=numbering.number(account, "GBP", ISSUED)), [marker(account, "retry")])

    assert seam.issue(again, "billing") is None
    assert counter(ledger, series) == 1
    assert [i.number for i in ledger.invoices(account)] == [f"{series}-1"]


def test_a_write_without_an_invoice_reads_no_counter_and_commits_as_is(ledger: LedgerStore) -> None:
    reads: list[str] = []
    seam = Invoicing(ledger)
    seam.numbers.last = lambda series: reads.append(series) or 0  # type: ignore[method-assign]
    written = seam.issue(lambda numbering: Issue(None, [marker("acc_1", "2026-03-10")]), "billing")
    assert written is not None and reads == []
    assert seam.issue(lambda numbering: Issue(None, [marker("acc_1", "2026-03-10")]), "billing") is None


def test_an_invoice_not_numbered_by_the_attempt_is_refused(ledger: LedgerStore) -> None:
    def unnumbered(numbering: Numbering) -> Issue:
        return Issue(draft("acc_1", number="GBP2026S0001-99"), [])

    with pytest.raises(ValueError, match="not numbered"):
        Invoicing(ledger).issue(unnumbered, "billing")
    assert ledger.invoices("acc_1") == []


def test_one_write_issues_one_invoice(ledger: LedgerStore) -> None:
    numbering = Numbering(Invoicing(ledger).numbers)
    numbering.number("acc_1", "GBP", ISSUED)
    with pytest.raises(ValueError, match="one invoice"):
        numbering.number("acc_1", "USD", ISSUED)


def test_a_counter_that_keeps_moving_gives_up_with_a_store_error(
    ledger: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (account,) = same_series_accounts(1)
    monkeypatch.setattr(invoicing, "NUMBER_ATTEMPTS", 3)
    calls: list[int] = []

    def counter_moved(self: Transaction, action: str) -> Outcome:
        calls.append(len(self.items))
        return Outcome(False, frozenset({len(self.items) - 1}))  # the last entry: the counter's

    monkeypatch.setattr(Transaction, "commit_telling", counter_moved)
    with pytest.raises(StoreError, match="kept moving"):
        Invoicing(ledger).issue(billing(account), "billing")
    assert calls == [3, 3, 3]  # the caller's entry, the invoice put, the counter's move


def test_the_evidence_of_a_count_based_line_is_read_from_the_snapshot_version() -> None:
    from overage.domain.money import Evidence

    evidence = Evidence.of_version("contacts.counted", "2026-02-09T18:00:00.000000Z#evt:1#b", active=130, archived=12)
    assert (evidence.event_id, evidence.occurred_at) == ("evt:1#b", "2026-02-09T18:00:00.000000Z")
    assert evidence.describe() == (
        "priced from contacts.counted evt:1#b of 2026-02-09T18:00:00Z: 130 active, 12 archived contacts"
    )
    profiles = Evidence.of_version("profiles.counted", "2026-03-01T00:00:00.000000Z#evt_p", count=205)
    assert profiles.describe() == "priced from profiles.counted evt_p of 2026-03-01T00:00:00Z: 205 profiles"


# ---------------------------------------------------------------- counters read with the caller's own items
def test_counters_prefetched_with_the_callers_read_are_one_per_currency_and_0_when_absent(ledger: LedgerStore) -> None:
    from overage.store.dynamo import get_many

    (account,) = same_series_accounts(1)
    seam = Invoicing(ledger)
    assert seam.issue(billing(account), "billing") is not None  # GBP 2026: the counter at 1; USD 2026: none yet
    keys = seam.prefetch_keys(account, ("GBP", "USD"), ISSUED)
    gbp, usd = series_for(account, "GBP", ISSUED), series_for(account, "USD", ISSUED)
    assert {name: key for name, (_, key) in keys.items()} == {
        f"series:{gbp}": {"pk": {"S": f"SERIES#{gbp}"}, "sk": {"S": "COUNTER"}},
        f"series:{usd}": {"pk": {"S": f"SERIES#{usd}"}, "sk": {"S": "COUNTER"}},
    }
    read = get_many(ledger.client, keys, "reading")
    assert seam.prefetched(keys, read) == {gbp: 1, usd: 0}


def test_a_prefetched_counter_numbers_the_first_attempt_without_a_read(ledger: LedgerStore) -> None:
    first, second = same_series_accounts(2)
    series = series_for(first, "GBP", ISSUED)
    seam = Invoicing(ledger)
    assert seam.issue(billing(first), "billing") is not None
    reads: list[str] = []
    last = seam.numbers.last
    seam.numbers.last = lambda s: reads.append(s) or last(s)  # type: ignore[method-assign]
    written = seam.issue(billing(second), "billing", known={series: 1})
    assert written is not None and written.invoice is not None
    assert (written.invoice.number, written.counter, reads) == (f"{series}-2", (series, 2), [])
    assert counter(ledger, series) == 2


def test_a_prefetched_counter_moved_since_by_another_writer_is_read_again_and_no_number_is_lost(
    ledger: LedgerStore,
) -> None:
    accounts = same_series_accounts(3)
    series = series_for(accounts[0], "GBP", ISSUED)
    seam = Invoicing(ledger)
    known = {series: 0}  # read with the caller's account, before the other two invoices were issued
    assert seam.issue(billing(accounts[1]), "billing") is not None
    assert seam.issue(billing(accounts[2]), "billing") is not None
    reads: list[str] = []
    last = seam.numbers.last
    seam.numbers.last = lambda s: reads.append(s) or last(s)  # type: ignore[method-assign]
    written = seam.issue(billing(accounts[0]), "billing", known=known)
    # the first attempt (numbered 1 from the stale value) was cancelled by the counter alone; the second read it
    assert written is not None and written.invoice is not None
    assert (written.invoice.number, reads) == (f"{series}-3", [series])
    numbers = [ledger.get_invoice(a, f"inv_{a}_renewal_2026-03-10").number for a in accounts]  # type: ignore[union-attr]
    assert numbers == [f"{series}-3", f"{series}-1", f"{series}-2"]
    assert counter(ledger, series) == 3


def test_a_counter_of_another_series_than_the_one_prefetched_is_read(ledger: LedgerStore) -> None:
    (account,) = same_series_accounts(1)
    series = series_for(account, "GBP", ISSUED)
    seam = Invoicing(ledger)
    reads: list[str] = []
    seam.numbers.last = lambda s: reads.append(s) or 0  # type: ignore[method-assign]
    other_year = series_for(account, "GBP", datetime(2025, 12, 31, tzinfo=UTC))  # e.g. prefetched for the run's year
    written = seam.issue(billing(account), "billing", known={other_year: 7})
    assert written is not None and written.invoice is not None
    assert (written.invoice.number, reads) == (f"{series}-1", [series])
