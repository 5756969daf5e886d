"""Excess profiles (spec §3.2): counts, limit changes, grace expiry and payments applied to an account's episode.

Each fact becomes one step of the pure rules (``overage.domain.excess_profiles``) written as one TransactWriteItems:
the account item (conditioned on the state the step was computed from), the episode's ledger record, the fee
invoice or its new status, and the notices, staged claimed and delivered once the write has committed.

Public interface
----------------
``on_limit_changed(deps, account_id: str, occurred_at: datetime, now: datetime, cause: str) -> None``
    Call it after the account item holds a new package or number of profile packs (``account.upserted``, a plan
    change applied immediately or on its billing date), with the ``Deps`` of the work (``services.deps``).
    ``occurred_at`` is the business time of the change (a grace period it opens counts from it; it resolves an
    episode only if it is before the grace end); ``now`` is the operational clock (notice claims); ``cause`` names
    the fact in the episode's history and the notice ids, e.g. ``"plan.change_requested:<event id>"``. Within grace,
    a count at or under the new limit resolves the episode (outcome ``resolved_by_limit_increase``, no fee); a lower
    limit that puts the count over opens one (``profiles.exceeded``). Idempotent: with nothing to change it reads
    the account once, writes nothing. Raises ``NotFound`` for an unknown account.
``profiles_counted(event, deps)``: the ``profiles.counted`` webhook handler (dispatched by ``services.crm_events``).
``billing_hook(settings, catalog)``: the renewal hook adding the monthly excess-profile line.
``ExcessProfiles``: the engine (``commit`` one step), used by ``grace_expiry`` and ``payments``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from overage.domain.account import Account, version_key
from overage.domain.catalog import Catalog
from overage.domain.excess_profiles import (
    Episode,
    Step,
    apply_limit,
    apply_payment,
    apply_snapshot,
    bills_excess_at,
    excess_line,
)
from overage.domain.instants import midnight_utc, to_key
from overage.domain.invoice import Invoice
from overage.domain.notice import Notice
from overage.errors import NotFound, StoreError
from overage.notices.excess_profiles import notices_for
from overage.notices.outbox import NoticeOutbox
from overage.runtime.config import Settings
from overage.runtime.observability import logger
from overage.services import deps as stores
from overage.services.deps import Deps
from overage.services.invoicing import Invoicing, Issue, Numbering
from overage.services.renewal import BillingContribution, BillingHook
from overage.services.settlement import credit_at_issue
from overage.store.accounts import AccountsStore, LimitEntry
from overage.store.dynamo import get_many
from overage.store.excess_profiles import ExcessProfilesStore, LoadedAccount
from overage.store.ledger import LedgerStore
from overage.store.settlement import SettlementStore

if TYPE_CHECKING:
    from overage.domain.crm_events import ProfilesCounted  # the webhook's model: not loaded by the scheduled functions

MAX_ATTEMPTS = 8


@dataclass
class Plan:
    """One step to write, with what joins its transaction."""

    step: Step
    items: list[dict[str, Any]] = field(default_factory=list)  # e.g. an invoice marked paid
    counted: bool = False  # the step sets the count in force (last-writer-wins)
    paid_invoice: Invoice | None = None
    record: LimitEntry | None = None  # a limit change to record in the limit's history (a plan change's)
    notices: list[Notice] = field(default_factory=list)  # told with the step's own (a receipt, an adjustment)
    # A step that issues an invoice (the fee invoice) is planned as a draft, then again with its number
    # (``services.invoicing``): this plans the same step with the number given.
    numbered: Callable[[str], Plan] | None = None
    # An invoice the plan issues besides the step's (a goodwill credit note): numbered the same way, put by the seam.
    invoice: Invoice | None = None

    @property
    def issues(self) -> Invoice | None:
        """The invoice this step issues, if any."""
        fee = next((h.invoice for h in self.step.happenings if h.kind == "fee_invoiced" and h.invoice), None)
        return fee or self.invoice


class ExcessProfiles:
    def __init__(self, *, accounts: AccountsStore, ledger: LedgerStore, outbox: NoticeOutbox, catalog: Catalog) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.outbox = outbox
        self.catalog = catalog
        self.store = ExcessProfilesStore(accounts, ledger, catalog)
        self.invoicing = Invoicing(ledger)

    @classmethod
    def of(cls, deps: Deps) -> ExcessProfiles:
        return cls(accounts=deps.accounts, ledger=deps.ledger, outbox=deps.outbox, catalog=deps.catalog)

    def commit(
        self,
        account_id: str,
        plan_for: Callable[[LoadedAccount], Plan | None],
        now: datetime,
        *,
        first: LoadedAccount | None = None,
        missing_ok: bool = False,
        invoice_at: datetime | None = None,
    ) -> tuple[LoadedAccount | None, Plan | None]:
        """Read the account, plan a step, write it conditionally; on a lost race read again and re-plan.

        Returns the account as read and the plan that was written (None when there was nothing to do). An unknown
        account is ``NotFound``, or ``(None, None)`` with ``missing_ok``. ``invoice_at``: the step may issue an
        invoice at that moment (the grace end's fee): the account is read in one BatchGetItem with the counters of
        the series it would be numbered in (``services.invoicing``), so numbering it costs no read of its own.
        """
        loaded = first
        known: dict[str, int] = {}
        for _ in range(MAX_ATTEMPTS):
            if loaded is None:
                loaded, known = self._load(account_id, invoice_at)
                if loaded is None:
                    if missing_ok:
                        return None, None
                    raise NotFound(f"account {account_id} is not known; send account.upserted first")
            draft = plan_for(loaded)
            if (
                draft is None
                or draft.step.stale
                or not (draft.step.changed or draft.items or draft.record or draft.invoice)
            ):
                return loaded, draft
            planned: list[Plan] = []
            compose = self._composer(loaded, draft, now, planned)
            issued = self.invoicing.issue(compose, "writing an excess-profile step", known=known)
            if issued is not None:
                self.outbox.deliver_committed(issued.notices, now)
                plan = planned[-1]
                logger.info(
                    "excess-profile step written",
                    extra={"account_id": account_id, "happened": [h.kind for h in plan.step.happenings]},
                )
                return loaded, plan
            loaded = None  # someone changed the account meanwhile: read it again and decide again
        raise StoreError(f"account {account_id} kept changing during {MAX_ATTEMPTS} attempts; retry later")

    def _load(self, account_id: str, invoice_at: datetime | None) -> tuple[LoadedAccount | None, dict[str, int]]:
        """The account (and, with ``invoice_at``, the counters of its invoice's series, one per catalog currency)."""
        if invoice_at is None:
            return self.store.load(account_id), {}
        keys = {"account": self.accounts.key(account_id)}
        keys |= self.invoicing.prefetch_keys(account_id, self.catalog.currencies, invoice_at)
        read = get_many(self.accounts.client, keys, "reading an account")
        loaded = self.store.loaded_from(read["account"]) if "account" in read else None
        return loaded, self.invoicing.prefetched(keys, read)

    def _composer(
        self, loaded: LoadedAccount, draft: Plan, now: datetime, planned: list[Plan]
    ) -> Callable[[Numbering], Issue]:
        """The step's write for ``services.invoicing``: a step that issues the fee invoice is planned again with its
        number (``Plan.numbered``) on every attempt; each attempt's plan is appended to ``planned``."""

        def compose(numbering: Numbering) -> Issue:
            plan = draft
            invoice = draft.issues
            if invoice is not None:
                if draft.numbered is None:
                    raise ValueError("a step that issues an invoice must say how to number it (Plan.numbered)")
                plan = draft.numbered(numbering.number(invoice.account_id, invoice.currency, invoice.issued_at))
            plan = self._with_credit(loaded, plan)  # fresh on every attempt
            planned.append(plan)
            notices = [*plan.notices, *notices_for(loaded.account, plan.step, self.catalog, plan.paid_invoice)]
            items = self._items(loaded, plan)
            suppression = loaded.account.email_suppression
            items += [self.outbox.stage(notice, now, suppression=suppression) for notice in notices]
            return Issue(plan.issues, items, notices)

        return compose

    def _with_credit(self, loaded: LoadedAccount, plan: Plan) -> Plan:
        """A fee invoice the step issues gets the account's credit in its currency applied, in the step's own write
        (spec §3.7); paid in full by it, its episode is paid at once (and is never chased)."""
        currencies = loaded.account.credit_currencies or frozenset()
        if not currencies:
            return plan
        store = SettlementStore(self.ledger, self.accounts.table)
        happenings = list(plan.step.happenings)
        after = plan.step.after
        items: list[dict[str, Any]] = []
        for n, happening in enumerate(plan.step.happenings):
            invoice = happening.invoice
            if happening.kind != "fee_invoiced" or invoice is None or invoice.currency not in currencies:
                continue
            issued, credit_items = credit_at_issue(store, invoice, f"excess_profiles:{invoice.invoice_id}")
            if not credit_items:
                continue
            happenings[n] = replace(happening, invoice=issued)
            items += credit_items
            if issued.amount_due == 0:
                paid = apply_payment(
                    after,
                    invoice_id=issued.invoice_id,
                    paid_at=happening.at,
                    cause=happening.cause,
                    overdue_remaining=True,
                )
                after = paid.after
                happenings += paid.happenings
        step = replace(plan.step, after=after, happenings=tuple(happenings))
        return replace(plan, step=step, items=[*plan.items, *items])

    def _items(self, loaded: LoadedAccount, plan: Plan) -> list[dict[str, Any]]:
        account_id = loaded.account.account_id
        items: list[dict[str, Any]] = []
        if plan.step.after != plan.step.before or plan.step.happenings or plan.record:
            items.append(
                self.store.account_update(
                    loaded,
                    plan.step.after,
                    counted=plan.counted,
                    count_version_read=loaded.state.version,
                    record=plan.record,
                )
            )
        items += self.store.episode_items(account_id, plan.step.happenings, loaded.account, loaded)
        for happening in plan.step.happenings:  # a fee invoice's put is added by ``services.invoicing``
            if happening.kind == "overdue" and happening.episode and happening.episode.fee_invoice_id:
                items.append(
                    self.store.invoice_status_update(
                        account_id,
                        happening.episode.fee_invoice_id,
                        to="overdue",
                        only_from=("open", "partially_paid"),
                        fields={"overdue_since": to_key(happening.at)},
                    )
                )
        return items + plan.items


def standing_of(step: Step) -> dict[str, Any]:
    """What a webhook answers about the state after a step."""
    after = step.after
    return {
        "count": after.count,
        "limit": after.limit,
        "episode_state": after.episode.state if after.episode else None,
        "restricted": after.restricted,
    }


# ------------------------------------------------------------------------------------------------ webhook facts


def profiles_counted(event: ProfilesCounted, deps: Deps) -> dict[str, Any]:
    """``profiles.counted``: the snapshot joins the history; if newer than the count in force it becomes it
    (last-writer-wins) and the episode follows; an older one changes nothing (``stale``)."""
    engine = ExcessProfiles.of(deps)
    loaded = engine.store.require(event.account_id)
    version = version_key(event.occurred_at, event.id)
    engine.store.put_snapshot(event.account_id, version, event.data.count)
    cause = f"profiles.counted:{event.id}"
    policy = deps.catalog.policy

    def plan(current: LoadedAccount) -> Plan:
        step = apply_snapshot(
            current.state,
            count=event.data.count,
            version=version,
            occurred_at=event.occurred_at,
            cause=cause,
            policy=policy,
        )
        return Plan(step, counted=True)

    _, written = engine.commit(event.account_id, plan, deps.received_at, first=loaded)
    assert written is not None
    if written.step.stale:
        return {"outcome": "stale"}
    return {
        "outcome": "applied",
        "happened": [h.kind for h in written.step.happenings],
        **standing_of(written.step),
    }


def on_limit_changed(deps: Deps, account_id: str, occurred_at: datetime, now: datetime, cause: str) -> None:
    """The account's profile limit may have changed: measure the count in force against it (see module doc)."""
    engine = ExcessProfiles.of(deps)
    policy = engine.catalog.policy
    source, _, fact_id = cause.partition(":")
    version = version_key(occurred_at, fact_id)

    def plan(current: LoadedAccount) -> Plan | None:
        record = _to_record(current, version, source)
        if current.state.count is None:
            return None if record is None else Plan(Step(current.state, current.state), record=record)
        step = apply_limit(
            current.state, limit=current.state.limit, occurred_at=occurred_at, cause=cause, policy=policy
        )
        return Plan(step, record=record)

    engine.commit(account_id, plan, now)


def _to_record(current: LoadedAccount, version: str, source: str) -> LimitEntry | None:
    """The limit history's entry of the fact that set the subscription now on the item, if it is that fact's and
    not recorded yet (an upsert records its own; a plan change is recorded here)."""
    if current.account.profile_version != version:
        return None  # a newer fact replaced it meanwhile; its own entry (or the next upsert) records it
    entry = LimitEntry.of_item(current.account.model_dump(), source)
    return None if entry.raw in current.stored else entry


# ------------------------------------------------------------------------------------------------ renewal hook


def billing_hook(settings: Settings, catalog: Catalog) -> BillingHook:
    """Adds to each monthly billing date after an episode's grace end the excess at 00:00 UTC of that date:
    (count in force − limit) × fee per profile, code ``excess_profiles``. Costs nothing for accounts without an
    episode (the account item says so); otherwise the count in force at that moment: the account item's own when it
    is not newer (``AccountsStore.profiles_in_force_at``), else one Query of the snapshot history."""
    accounts = stores.accounts_store(settings)
    store = ExcessProfilesStore(accounts, stores.ledger_store(settings), catalog)

    def hook(account: Account, billing_date: date, now: datetime) -> BillingContribution:
        episode = Episode.from_map(account.open_episode) if account.open_episode else None
        moment = midnight_utc(billing_date)
        if episode is None or not bills_excess_at(episode, moment):
            return BillingContribution(account)
        snapshot = accounts.profiles_in_force_at(account, moment)
        count = snapshot.count if snapshot else None
        limit = catalog.profile_limit(account.package, account.profile_packs)
        fee = catalog.excess_profile_fee(account.currency)
        line = excess_line(
            count=count, limit=limit, billing_date=billing_date, fee_per_profile=fee, currency=account.currency
        )
        if line is None or count is None or snapshot is None:
            return BillingContribution(account)
        line = line.model_copy(update={"evidence": snapshot.evidence})
        note = {
            "at": to_key(moment),
            "event": "billed_monthly",
            "cause": f"renewal:{billing_date.isoformat()}",
            "count": count,
            "limit": limit,
            "excess": count - limit,
            "amount": str(line.amount),
            "currency": account.currency,
        }
        return BillingContribution(
            account, lines=[line], transact_items=[store.episode_note(account.account_id, episode.episode_id, note)]
        )

    return hook


def episodes(deps: Deps, account_id: str) -> list[dict[str, Any]]:
    """Every episode of an account with its outcome and history (for the report and support staff)."""
    store = ExcessProfilesStore(deps.accounts, deps.ledger, deps.catalog)
    if deps.accounts.get(account_id) is None:
        raise NotFound(f"account {account_id} is not known")
    return store.episodes(account_id)
