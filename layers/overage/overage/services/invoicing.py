"""The one way an invoice or credit note is issued (spec §3.5, §3.8): numbered, in the write that issues it.

``Invoicing.issue(compose, action)`` runs the caller's write with the number of the invoice in it:

1. ``compose(numbering)`` builds the caller's whole write. When it issues an invoice it asks
   ``numbering.number(account_id, currency, issued_at)``, which reads the counter of that invoice's series
   (``domain.invoice.series_for``) and gives the next number, and prices the invoice with it (the domain takes the
   number as an input). It returns an ``Issue``: the invoice (or None: this write issues none) and the caller's own
   transaction entries (its conditions: the account as read, the date not billed yet...) and whatever else it needs
   afterwards (``notices``).
2. The seam adds the invoice's put (which cancels if that deterministic id was ever issued) and the counter's move
   from the value read to the next (which cancels if the counter moved), and commits it all as one transaction.
3. When it is cancelled by a condition, CancellationReasons say whose: only the counter's → another invoice took
   that number meanwhile: ``compose`` runs again with a fresh ``Numbering`` (the next number), nothing else is
   re-read by the seam; any other entry's (the caller's or the invoice's) → the caller lost its race (the billing
   was done by another run): ``issue`` returns None, as a plain ``commit`` returning False would.

**The counter read with the caller's own** (issue 20): the series' key is known before anything is read (the
account id gives the shard, the currency is one of the catalog's, the year the issue time's), so a caller that reads
its account anyway asks for the counters in the same BatchGetItem (``prefetch_keys``: one per catalog currency, for
the year of the run) and hands what it read to ``issue(..., known=...)`` (``prefetched``). The first attempt numbers
from that value instead of a GetItem; its move is conditioned on it exactly as on a value read alone, so a counter
that moved since (another writer) cancels the attempt and the next attempt reads the counter again (a plain
GetItem). An invoice of a series not prefetched (another year: a catch-up over New Year) is read as before. After a
commit, ``Issue.counter`` says where this write left its counter: a caller issuing again (renewal's catch-up) may
pass it on as known.

So the counter never moves without its invoice and no number is given twice: every series is contiguous from 1,
whatever runs concurrently, crashes or retries. A void invoice keeps its number (voiding never touches it).

**Extra items computed inside the retry loop** (e.g. applying the account's credit to the new invoice, issue 16):
do them in ``compose``, which runs once per attempt. Read there what they depend on (fresh on every attempt), amend
the invoice it returns (``Issue.invoice``: the invoice as issued, after the amendment) and add their conditional
entries to ``Issue.items``. A failed condition of such an entry counts as the caller's: the write is not retried
here, the caller reads again and decides again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from overage.domain.invoice import Invoice, number_in, series_for
from overage.domain.notice import Notice
from overage.errors import StoreError
from overage.runtime.observability import logger
from overage.store.invoice_numbers import InvoiceNumbers
from overage.store.ledger import LedgerStore
from overage.store.transaction import Transaction

# The names of the counters' keys in a caller's ``get_many`` (beside its own: "account"...).
COUNTER_READ = "series:"

# Attempts when only the counter moved. Each lost attempt means another invoice of the same series was issued in
# the meantime; with SERIES_SHARDS series per currency and year this stays a handful even in the 1M-account run.
NUMBER_ATTEMPTS = 25


@dataclass
class Issue:
    """One write that may issue an invoice: ``invoice`` (numbered by the attempt's ``Numbering``, or None), the
    caller's ``items`` (the seam adds the invoice's put and the counter's move) and its ``notices`` (staged in
    ``items`` by the caller, delivered by it once the write has committed)."""

    invoice: Invoice | None
    items: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    # Set by the seam once committed: the invoice's series and the sequence its counter now holds.
    counter: tuple[str, int] | None = None


class Numbering:
    """The number of one attempt's invoice: the first ``number`` reads the counter of its series (or takes it from
    ``known``: series → last sequence, read with the caller's own items); asking again for the same series gives the
    same number (one invoice per write)."""

    def __init__(self, numbers: InvoiceNumbers, known: Mapping[str, int] | None = None) -> None:
        self.numbers = numbers
        self.known = dict(known or {})
        self.series: str | None = None
        self.last = 0

    def number(self, account_id: str, currency: str, issued_at: datetime) -> str:
        series = series_for(account_id, currency, issued_at)
        if self.series is None:
            last = self.known.get(series)
            self.series, self.last = series, self.numbers.last(series) if last is None else last
        elif series != self.series:
            raise ValueError(f"one write issues one invoice: asked for {series} after {self.series}")
        return number_in(series, self.last + 1)


class Invoicing:
    def __init__(self, ledger: LedgerStore) -> None:
        self.ledger = ledger
        self.numbers = InvoiceNumbers(ledger.table, ledger.client)

    def prefetch_keys(
        self, account_id: str, currencies: Iterable[str], issued_at: datetime
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """The ``get_many`` keys of the counters the account's invoice issued at ``issued_at`` may be numbered in:
        one per currency (the account's is one of them; which one is known only once the account is read)."""
        series = sorted({series_for(account_id, currency, issued_at) for currency in currencies})
        return {COUNTER_READ + s: self.numbers.key(s) for s in series}

    def prefetched(self, keys: Mapping[str, Any], read: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        """Series → last sequence, from a ``get_many`` that asked for ``keys`` (``prefetch_keys`` among them): a
        counter it did not find is at 0 (none issued yet in the series)."""
        return {
            name.removeprefix(COUNTER_READ): self.numbers.last_of(read.get(name))
            for name in keys
            if name.startswith(COUNTER_READ)
        }

    def issue(
        self, compose: Callable[[Numbering], Issue], action: str, *, known: Mapping[str, int] | None = None
    ) -> Issue | None:
        """Commit ``compose``'s write with its invoice numbered (see the module doc). Returns the ``Issue`` written,
        or None when a condition of the caller's (or the invoice's id) failed: the caller lost its race. ``known``:
        counters (series → last sequence) read with the caller's own items, for the first attempt only."""
        for attempt in range(NUMBER_ATTEMPTS):
            numbering = Numbering(self.numbers, known if attempt == 0 else None)
            issue = compose(numbering)
            invoice = issue.invoice
            if invoice is None:
                return issue if Transaction(self.ledger.client, issue.items).commit(action) else None
            if numbering.series is None or invoice.number != number_in(numbering.series, numbering.last + 1):
                raise ValueError(f"invoice {invoice.invoice_id} was not numbered by this attempt's numbering")
            items = [*issue.items, self.ledger.put_invoice_item(invoice)]
            counter = len(items)
            items.append(self.numbers.advance_item(numbering.series, numbering.last))
            outcome = Transaction(self.ledger.client, items).commit_telling(action)
            if outcome.written:
                issue.counter = (numbering.series, numbering.last + 1)
                return issue
            if outcome.failed != {counter}:
                return None
            logger.info("invoice series moved; numbering again", extra={"series": numbering.series})
        raise StoreError(f"{action}: the invoice series kept moving during {NUMBER_ATTEMPTS} attempts; retry later")
