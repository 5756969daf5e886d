"""Excess-profile state on the accounts table and the episode records in the ledger (spec §3.2).

Account item (``pk=<account>, sk=ACCOUNT``), the attributes this policy owns:
  ``open_episode`` (map, ``Episode.to_map``), ``approaching_armed`` (bool), ``restricted`` (bool),
  ``excess_rev`` (number: the optimistic lock of these attributes; every write of this policy moves it by one and
  requires the value it read), and ``grace_shard`` + ``grace_due_at`` (the sparse ``GraceIndex``: present only
  while the open episode waits for the grace-expiry run; ``grace_due_at`` = ``to_key`` of the moment it is due).
  The count in force (``profiles_count``, ``profiles_version``) is written here too, last-writer-wins.
  ``limit_history`` (``store.accounts.LimitEntry``): upserts add to it; here it is read as the limit's history
  (with the subscription on the item as its newest change), a limit change a plan change made is recorded, and
  what no later count can be measured against is dropped (``domain.excess_profiles.limits_that_matter``).
Ledger: ``EPISODE#<episode id>``: one record per episode, its figures, state, outcome and every transition; and
``REPORT#<YYYY-MM>#EPISODE#<episode id>``: a marker per month something happened to it (the monthly report's index).

Each step is one TransactWriteItems of these items (committed by ``services.invoicing``, which numbers a fee invoice
in it), conditioned on what the step was computed from, so a retry, a rerun or two concurrent runs can never apply
a step twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.account import Account, all_billing_shards, billing_shard
from overage.domain.catalog import Catalog
from overage.domain.excess_profiles import Episode, Happening, LimitChange, ProfilesState, limits_that_matter
from overage.domain.instants import month_key, parse_instant, to_key
from overage.errors import NotFound
from overage.store.accounts import ACCOUNT_SK, LIMIT_HISTORY, UNKNOWN_SOURCE, AccountsStore, LimitEntry, limit_entries
from overage.store.dynamo import from_item, query_all, serialize, store_error, to_item
from overage.store.ledger import INVOICE, LedgerStore
from overage.store.report_index import episode_marker_item

EPISODE = "EPISODE#"
GRACE_INDEX = "GraceIndex"


@dataclass(frozen=True)
class LoadedAccount:
    """The account item as read, with this policy's state and lock value, the ``limit_history`` entries as stored
    and, aligned with ``state.limits``, the subscription of each limit change."""

    account: Account
    state: ProfilesState
    rev: int
    stored: frozenset[str] = frozenset()
    subscriptions: tuple[LimitEntry, ...] = ()

    def subscription_at(self, moment: datetime) -> tuple[str, int]:
        """The package and profile packs in force at ``moment`` (the account's own without a history)."""
        in_force = (self.account.package, self.account.profile_packs)
        for change, entry in zip(self.state.limits, self.subscriptions, strict=True):
            if change.at <= moment or change is self.state.limits[0]:
                in_force = (entry.package, entry.profile_packs)
        return in_force


_FOREVER = datetime(1, 1, 1, tzinfo=UTC)


def _history(account: Account, stored: list[LimitEntry], catalog: Catalog) -> list[LimitEntry]:
    """The limit's changes, oldest first: the stored ones older than the subscription on the item, then the item's
    own (its newest change, whether or not recorded yet: a plan change is recorded just after it is applied). One
    entry per version; a known source wins over one recorded after the fact."""
    current = LimitEntry(account.profile_version, UNKNOWN_SOURCE, account.package, account.profile_packs)
    by_version: dict[str, LimitEntry] = {}
    for entry in stored:
        if entry.version > current.version:
            continue  # cannot be newer than the subscription in force; ignored and dropped at the next write
        if entry.version not in by_version or by_version[entry.version].source == UNKNOWN_SOURCE:
            by_version[entry.version] = entry
    named = by_version.get(current.version)
    by_version[current.version] = current if named is None else _with_subscription(named, account)
    return [by_version[version] for version in sorted(by_version)]


def _with_subscription(entry: LimitEntry, account: Account) -> LimitEntry:
    return LimitEntry(entry.version, entry.source, account.package, account.profile_packs)


def _change(entry: LimitEntry, catalog: Catalog) -> LimitChange:
    instant = entry.version.split("#", 1)[0]
    return LimitChange(
        version=entry.version,
        at=parse_instant(instant) if instant else _FOREVER,
        limit=catalog.profile_limit(entry.package, entry.profile_packs),
        cause=entry.cause,
    )


class ExcessProfilesStore:
    def __init__(self, accounts: AccountsStore, ledger: LedgerStore, catalog: Catalog) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.catalog = catalog
        self.client = accounts.client

    # ------------------------------------------------------------------ reads
    def load(self, account_id: str) -> LoadedAccount | None:
        try:
            response = self.client.get_item(
                TableName=self.accounts.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading an account") from error
        item = response.get("Item")
        return self.loaded_from(from_item(item)) if item else None

    def loaded_from(self, record: dict[str, Any]) -> LoadedAccount:
        """The account item as ``load`` gives it, from its record read otherwise (``dynamo.get_many``)."""
        account = Account.model_validate(record)
        episode = record.get("open_episode")
        stored = limit_entries(record)
        subscriptions = _history(account, stored, self.catalog) if stored else []
        state = ProfilesState(
            limit=self.catalog.profile_limit(account.package, account.profile_packs),
            count=account.profiles_count,
            version=account.profiles_version,
            approaching_armed=bool(record.get("approaching_armed", True)),
            episode=Episode.from_map(episode) if episode else None,
            restricted=account.restricted,
            limits=tuple(_change(entry, self.catalog) for entry in subscriptions),
        )
        return LoadedAccount(
            account=account,
            state=state,
            rev=int(record.get("excess_rev", 0)),
            stored=frozenset(entry.raw for entry in stored),
            subscriptions=tuple(subscriptions),
        )

    def require(self, account_id: str) -> LoadedAccount:
        loaded = self.load(account_id)
        if loaded is None:
            raise NotFound(f"account {account_id} is not known; send account.upserted first")
        return loaded

    def due_account_ids(self, as_of: datetime) -> Iterator[str]:
        """Accounts whose open episode is due by ``as_of``: one Query per shard of GraceIndex, never a Scan."""
        for shard in all_billing_shards():
            try:
                for item in query_all(
                    self.client,
                    TableName=self.accounts.table,
                    IndexName=GRACE_INDEX,
                    KeyConditionExpression="grace_shard = :s AND grace_due_at <= :t",
                    ExpressionAttributeValues={":s": {"S": shard}, ":t": {"S": to_key(as_of)}},
                ):
                    yield str(item["pk"])
            except ClientError as error:
                raise store_error(error, "querying accounts due for grace expiry") from error

    def overdue_invoice_ids(self, account_id: str) -> list[str]:
        """The account's invoices whose status is ``overdue`` (one Query of its own invoices)."""
        try:
            records = query_all(
                self.client,
                TableName=self.ledger.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                FilterExpression="#s = :overdue",
                ProjectionExpression="invoice_id",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":pk": {"S": account_id},
                    ":prefix": {"S": INVOICE},
                    ":overdue": {"S": "overdue"},
                },
            )
            return sorted(str(record["invoice_id"]) for record in records)
        except ClientError as error:
            raise store_error(error, "listing overdue invoices") from error

    def episodes(self, account_id: str) -> list[dict[str, Any]]:
        """Every episode record of the account, oldest first (episode ids sort by opening time)."""
        try:
            records = list(
                query_all(
                    self.client,
                    TableName=self.ledger.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={":pk": {"S": account_id}, ":prefix": {"S": EPISODE}},
                )
            )
        except ClientError as error:
            raise store_error(error, "listing episodes") from error
        for record in records:
            record.pop("pk", None)
            record.pop("sk", None)
        return records

    # ------------------------------------------------------------------ writes
    def put_snapshot(self, account_id: str, version: str, count: int) -> None:
        """The snapshot joins the history whether or not it is the count in force (billing reads the history)."""
        item = to_item({"pk": account_id, "sk": f"SNAP#profiles#{version}", "count": count, "version": version})
        try:
            self.client.put_item(TableName=self.accounts.table, Item=item)
        except ClientError as error:
            raise store_error(error, "recording a snapshot") from error

    # ------------------------------------------------------------------ transaction items
    def account_update(
        self,
        loaded: LoadedAccount,
        after: ProfilesState,
        *,
        count_version_read: str | None = None,
        counted: bool,
        record: LimitEntry | None = None,
    ) -> dict[str, Any]:
        """The Update of the account item to ``after``, only if the item is still the one the step was computed
        from: same lock value, same subscription (``profile_version``) and, for a snapshot, the same count in force.
        ``limit_history`` gains ``record`` (the entry of a limit change to record) and loses what no later count can
        be measured against; when it changes, on condition that nothing joined it since it was read.
        """
        account = loaded.account
        sets: dict[str, Any] = {
            "excess_rev": loaded.rev + 1,
            "approaching_armed": after.approaching_armed,
            "restricted": after.restricted,
        }
        removes: list[str] = []
        if counted:
            sets["profiles_count"] = after.count
            sets["profiles_version"] = after.version
        if after.episode is not None:
            sets["open_episode"] = after.episode.to_map()
            due = after.episode.next_attention_at()
        else:
            removes.append("open_episode")
            due = None
        if due is not None:
            sets["grace_shard"] = billing_shard(account.account_id)
            sets["grace_due_at"] = to_key(due)
        else:
            removes += ["grace_shard", "grace_due_at"]
        history = self.history_after(loaded, after, record)
        if history is not None:
            sets[LIMIT_HISTORY] = history
        names = {f"#a{n}": name for n, name in enumerate([*sets, *removes])}
        by_name = {name: alias for alias, name in names.items()}
        values: dict[str, Any] = {f":a{n}": serialize(value) for n, value in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"{by_name[name]} = :a{n}" for n, name in enumerate(sets))
        if removes:
            expression += " REMOVE " + ", ".join(by_name[name] for name in removes)
        conditions = ["attribute_exists(pk)", "profile_version = :pv"]
        values[":pv"] = {"S": account.profile_version}
        if loaded.rev:
            conditions.append("excess_rev = :rev")
            values[":rev"] = {"N": str(loaded.rev)}
        else:
            conditions.append("attribute_not_exists(excess_rev)")
        if counted:
            if count_version_read is None:
                conditions.append("attribute_not_exists(profiles_version)")
            else:
                conditions.append("profiles_version = :cv")
                values[":cv"] = {"S": count_version_read}
        if history is not None:
            # Entries are only ever added by others (upserts), so the same size is the same set.
            alias = by_name[LIMIT_HISTORY]
            if loaded.stored:
                conditions.append(f"size({alias}) = :lhn")
                values[":lhn"] = {"N": str(len(loaded.stored))}
            else:
                conditions.append(f"attribute_not_exists({alias})")
        return {
            "Update": {
                "TableName": self.accounts.table,
                "Key": {"pk": {"S": account.account_id}, "sk": {"S": ACCOUNT_SK}},
                "UpdateExpression": expression,
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    @staticmethod
    def history_after(loaded: LoadedAccount, after: ProfilesState, record: LimitEntry | None) -> set[str] | None:
        """The ``limit_history`` to write after a step (None: leave it as it is): the stored entries a later count
        can still be measured against, and ``record``."""
        matter = {change.version for change in limits_that_matter(after)}
        kept = {raw for raw in loaded.stored if LimitEntry.parse(raw).version in matter}
        if record is not None:
            kept.add(record.raw)
        return kept if kept and kept != set(loaded.stored) else None

    def episode_items(
        self,
        account_id: str,
        happenings: tuple[Happening, ...],
        account: Account | None = None,
        loaded: LoadedAccount | None = None,
    ) -> list[dict[str, Any]]:
        """One Put (an episode that opened) or Update (one that moved) per episode the happenings touch, and the
        monthly report's marker of each month they happened in (``store.report_index``). With ``account`` (the
        subscription the step was computed with) each transition records its package and profile packs, so the
        report tells a resolution by profile packs from one by an upgrade; with ``loaded`` too, the ones in force
        at the transition's time (a late count's transitions are dated before the subscription now on the item)."""
        by_episode: dict[str, list[Happening]] = defaultdict(list)
        for happening in happenings:
            if happening.episode is not None:
                by_episode[happening.episode.episode_id].append(happening)
        items: list[dict[str, Any]] = []
        for episode_id, group in by_episode.items():
            final = group[-1].episode
            assert final is not None
            fields = episode_record(final)
            if any(h.kind in ("closed", "waived") for h in group):
                fields["closed_at"] = to_key(group[-1].at)
            transitions = [transition(h) for h in group]
            if account is not None:
                for entry, happening in zip(transitions, group, strict=True):
                    package, packs = (
                        loaded.subscription_at(happening.at)
                        if loaded is not None
                        else (account.package, account.profile_packs)
                    )
                    entry |= {"package": package, "profile_packs": packs}
            months = sorted({month_key(h.at.astimezone(UTC).date()) for h in group})
            items += [episode_marker_item(self.ledger.table, account_id, episode_id, month) for month in months]
            key = {"pk": {"S": account_id}, "sk": {"S": EPISODE + episode_id}}
            if group[0].kind == "exceeded":
                record: dict[str, Any] = {"pk": account_id, "sk": EPISODE + episode_id, "record_type": "episode"}
                record |= {"account_id": account_id, **fields, "transitions": transitions}
                items.append(
                    {
                        "Put": {
                            "TableName": self.ledger.table,
                            "Item": to_item(record),
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    }
                )
                continue
            items.append(self._episode_update(key, fields, transitions))
        return items

    def episode_note(self, account_id: str, episode_id: str, note: dict[str, Any]) -> dict[str, Any]:
        """An Update appending one entry to an episode's history (e.g. a monthly excess line that was billed)."""
        key = {"pk": {"S": account_id}, "sk": {"S": EPISODE + episode_id}}
        return self._episode_update(key, {}, [note])

    def _episode_update(
        self, key: dict[str, Any], fields: dict[str, Any], transitions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        names = {"#t": "transitions"}
        values: dict[str, Any] = {":t": serialize(transitions), ":empty": {"L": []}}
        sets = ["#t = list_append(if_not_exists(#t, :empty), :t)"]
        for n, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{n}"] = name
            values[f":f{n}"] = serialize(value)
            sets.append(f"#f{n} = :f{n}")
        return {
            "Update": {
                "TableName": self.ledger.table,
                "Key": key,
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "attribute_exists(sk)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def invoice_status_update(
        self, account_id: str, invoice_id: str, *, to: str, only_from: tuple[str, ...], fields: dict[str, Any]
    ) -> dict[str, Any]:
        """An Update moving an invoice to status ``to``, only from one of ``only_from``."""
        names = {"#s": "status", "#rev": "rev"}
        values: dict[str, Any] = {":to": {"S": to}, ":zero": {"N": "0"}, ":one": {"N": "1"}}
        sets = ["#s = :to", "#rev = if_not_exists(#rev, :zero) + :one"]  # the invoice's lock (store.settlement)
        for n, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{n}"] = name
            values[f":f{n}"] = serialize(value)
            sets.append(f"#f{n} = :f{n}")
        allowed = []
        for n, status in enumerate(only_from):
            values[f":from{n}"] = {"S": status}
            allowed.append(f":from{n}")
        return {
            "Update": {
                "TableName": self.ledger.table,
                "Key": {"pk": {"S": account_id}, "sk": {"S": INVOICE + invoice_id}},
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": f"#s IN ({', '.join(allowed)})",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def episode_record(episode: Episode) -> dict[str, Any]:
    """The episode's figures as the ledger keeps them (money as strings, instants as ISO-8601)."""
    record = {**episode.model_dump(mode="json", exclude_none=True), "outcome": episode.outcome}
    return {key: value for key, value in record.items() if value is not None}


def transition(happening: Happening) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": to_key(happening.at), "event": happening.kind, "cause": happening.cause}
    if happening.episode is not None:
        entry["state"] = happening.episode.state
    if happening.count is not None:
        entry["count"] = happening.count
    if happening.limit is not None:
        entry["limit"] = happening.limit
    if happening.invoice is not None:
        entry["invoice_id"] = happening.invoice.invoice_id
    return entry
