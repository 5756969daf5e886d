"""The accounts table: one account item per account plus the history of count snapshots.

Keys: ``pk`` = account id; ``sk`` = ``ACCOUNT`` for the account item,
``SNAP#contacts#<version>`` and
``SNAP#profiles#<version>`` for snapshots (version = fixed-width ``occurred_at`` + event id,
so sort order is time order).
The sparse ``DueIndex`` (billing_shard, next_billing_date) holds only account items.

The account item's ``limit_history`` (a string set) is the history of the subscription's profile limit: one entry
``<version>|<source>|<package>|<profile packs>`` per fact that set the package and packs (``LimitEntry``), so the
limit in force at any moment can be told (``store.excess_profiles`` reads it; ``domain.excess_profiles`` has the
rules and what is kept). An upsert adds its own entry in its write (a set ``ADD``: no read, safe with concurrent
writers), a stale one too (it still says what the limit was from its time on), and the entry of the subscription it
replaced when the set lacks it (an item from before the history, or a plan change not yet recorded).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from overage.domain.account import Account, billing_shard, first_billed_date, version_instant, version_key
from overage.domain.calendar import next_billing_date
from overage.domain.email_feedback import is_suppressed
from overage.domain.instants import to_key
from overage.domain.money import Evidence
from overage.errors import NotFound
from overage.store.dynamo import from_item, is_condition_failure, old_item, serialize, store_error

if TYPE_CHECKING:  # the webhook's event models: only the webhook function needs them loaded
    from overage.domain.crm_events import AccountUpserted, ContactsCounted, ProfilesCounted

ACCOUNT_SK = "ACCOUNT"
SUPPRESSION = "email_suppression"  # the address SES bounced for good or complained of (EmailFeedbackFunction)
LIMIT_HISTORY = "limit_history"
UNKNOWN_SOURCE = "subscription"  # an entry recorded after the fact, from the item it replaced
Outcome = Literal["created", "updated", "applied", "stale"]


@dataclass(frozen=True)
class LimitEntry:
    """One entry of ``limit_history``: from ``version`` on, the subscription had ``package`` and ``profile_packs``."""

    version: str  # the fact's version key (``occurred_at`` + event id)
    source: str  # the fact's type: "account.upserted", "plan.change_requested" (or UNKNOWN_SOURCE)
    package: str
    profile_packs: int

    @property
    def raw(self) -> str:
        return f"{self.version}|{self.source}|{self.package}|{self.profile_packs}"

    @property
    def cause(self) -> str:
        return f"{self.source}:{self.version.split('#', 1)[-1]}"

    @classmethod
    def parse(cls, raw: str) -> LimitEntry:
        version, source, package, packs = raw.rsplit("|", 3)
        return cls(version, source, package, int(packs))

    @classmethod
    def of_item(cls, item: dict[str, Any], source: str = UNKNOWN_SOURCE) -> LimitEntry:
        """The entry of the subscription an account item holds."""
        return cls(str(item.get("profile_version", "")), source, str(item["package"]), int(item["profile_packs"]))


def limit_entries(item: dict[str, Any]) -> list[LimitEntry]:
    """The item's ``limit_history``, oldest first."""
    return sorted((LimitEntry.parse(raw) for raw in item.get(LIMIT_HISTORY) or ()), key=lambda e: e.version)


@dataclass(frozen=True)
class ContactSnapshot:
    active: int
    archived: int
    version: str  # <occurred_at>#<event id>


@dataclass(frozen=True)
class ProfilesSnapshot:
    count: int
    version: str  # <occurred_at>#<event id>

    @property
    def evidence(self) -> Evidence:
        return Evidence.of_version("profiles.counted", self.version, count=self.count)


@dataclass(frozen=True)
class CountResult:
    outcome: Outcome
    previous: dict[str, Any] | None  # the account item before the write (None when stale)


class AccountsStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    # ------------------------------------------------------------------ reads
    def key(self, account_id: str) -> tuple[str, dict[str, Any]]:
        """The account item's table and key, for a read batched with other stores' (``dynamo.get_many``)."""
        return self.table, {"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}}

    @staticmethod
    def from_record(record: dict[str, Any]) -> Account:
        return _account(record)

    def get(self, account_id: str) -> Account | None:
        try:
            response = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading an account") from error
        item = response.get("Item")
        return _account(from_item(item)) if item else None

    def require(self, account_id: str) -> Account:
        account = self.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} is not known; send account.upserted first")
        return account

    def contacts_at(self, account_id: str, moment: datetime) -> ContactSnapshot | None:
        """The latest contacts snapshot whose ``occurred_at`` is not after ``moment`` (one Query)."""
        upper = f"SNAP#contacts#{to_key(moment)}#\uffff"
        try:
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":pk": {"S": account_id},
                    ":lo": {"S": "SNAP#contacts#"},
                    ":hi": {"S": upper},
                },
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading a contacts snapshot") from error
        items = response.get("Items", [])
        if not items:
            return None
        snap = from_item(items[0])
        return ContactSnapshot(active=snap["active"], archived=snap["archived"], version=snap["version"])

    def profiles_at(self, account_id: str, moment: datetime) -> int | None:
        """The profile count of the latest snapshot whose ``occurred_at`` is not after ``moment`` (one Query)."""
        snapshot = self.profiles_snapshot_at(account_id, moment)
        return snapshot.count if snapshot else None

    def profiles_snapshot_at(self, account_id: str, moment: datetime) -> ProfilesSnapshot | None:
        """The latest profiles snapshot whose ``occurred_at`` is not after ``moment``, with its version (one Query)."""
        try:
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":pk": {"S": account_id},
                    ":lo": {"S": "SNAP#profiles#"},
                    ":hi": {"S": f"SNAP#profiles#{to_key(moment)}#\uffff"},
                },
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading a profiles snapshot") from error
        items = response.get("Items", [])
        if not items:
            return None
        snap = from_item(items[0])
        return ProfilesSnapshot(count=int(snap["count"]), version=str(snap["version"]))

    def profiles_in_force_at(self, account: Account, moment: datetime) -> ProfilesSnapshot | None:
        """The profiles snapshot in force at ``moment`` (the latest not after it), with its version (the evidence).

        The account item carries the newest count applied (``profiles_count``/``profiles_version``, last-writer-wins
        by version key), so when that one is not after ``moment`` it is the count in force and no read is needed:
        the usual case, a grace-expiry run shortly after the grace end. Only when the CRM reported a newer count
        since ``moment`` is the history queried (``profiles_snapshot_at``, one Query). A count whose webhook has put
        its snapshot but not yet written the account item is not seen, just as a count delivered after the run.
        """
        version, count = account.profiles_version, account.profiles_count
        newest = version_instant(version)
        if version and newest is not None and count is not None and newest <= to_key(moment):
            return ProfilesSnapshot(count, version)
        return self.profiles_snapshot_at(account.account_id, moment)

    # ------------------------------------------------------------------ writes
    def upsert(self, event: AccountUpserted) -> Outcome:
        """Apply ``account.upserted`` last-writer-wins; a new account gets its first billing date."""
        data = event.data
        version = version_key(event.occurred_at, event.id)
        # Billing dates are monthly for both cycles: annual plans pay supplements on monthly anniversaries.
        first_due = first_billed_date(data.started_on, 1, event.occurred_at.date())
        fields: dict[str, Any] = {
            "account_id": event.account_id,
            "package": data.package,
            "contact_tier": data.contact_tier,
            "billing_cycle": data.billing_cycle,
            "currency": data.currency,
            "started_on": data.started_on.isoformat(),
            "billing_email": data.billing_email,
            "paying_users": data.paying_users,
            "telephone_support": data.telephone_support,
            "profile_packs": data.profile_packs,
            "customer_since": data.customer_since.isoformat(),
            "profile_version": version,
        }
        # The buyer's details (spec §3.8): each one the event leaves out is no longer known (removed).
        buyer = {
            "billing_name": data.billing_name,
            "billing_address": data.billing_address,
            "vat_number": data.vat_number,
        }
        fields |= {k: v for k, v in buyer.items() if v is not None}
        removed = [k for k, v in buyer.items() if v is None]
        names = {f"#{k}": k for k in [*fields, *removed]} | {"#lh": LIMIT_HISTORY}
        values = {f":{k}": serialize(v) for k, v in fields.items()}
        sets = [f"#{k} = :{k}" for k in fields]
        sets.append("billing_shard = if_not_exists(billing_shard, :shard)")
        sets.append("next_billing_date = if_not_exists(next_billing_date, :first_due)")
        values[":shard"] = {"S": billing_shard(event.account_id)}
        values[":first_due"] = {"S": first_due.isoformat()}
        entry = LimitEntry(version, event.type, data.package, data.profile_packs)
        values[":lh"] = {"SS": [entry.raw]}
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": event.account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="SET "
                + ", ".join(sets)
                + " ADD #lh :lh"
                + (" REMOVE " + ", ".join(f"#{k}" for k in removed) if removed else ""),
                ConditionExpression="attribute_not_exists(pk) OR profile_version < :profile_version",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if is_condition_failure(error):
                # Older than the subscription in force: it changes nothing now, but says what the limit was from
                # its time on (a count dated then, arriving later, is measured against it).
                self._add_limit_entries(event.account_id, [entry])
                return "stale"
            raise store_error(error, "upserting an account") from error
        old = response.get("Attributes")
        if not old:
            return "created"
        previous = from_item(old)
        self._keep_replaced(event.account_id, previous)
        self._lift_suppression(event.account_id, previous, data.billing_email)
        if previous.get("started_on") != fields["started_on"]:
            self._reschedule(event.account_id, version, data.started_on, previous, event.occurred_at.date())
        return "updated"

    def _lift_suppression(self, account_id: str, previous: dict[str, Any], billing_email: str) -> None:
        """A new billing_email lifts the suppression of the old one (spec §3.9): one more write, only then. Should the
        process die between the upsert and this write, the suppression names an address the account no longer
        uses, so no notice is held back by it (the outbox compares it with each notice's address)."""
        suppression = previous.get(SUPPRESSION)
        if not isinstance(suppression, dict) or is_suppressed(suppression, billing_email):
            return
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="REMOVE #sup",
                ConditionExpression="#sup.#addr = :old AND billing_email = :new",
                ExpressionAttributeNames={"#sup": SUPPRESSION, "#addr": "address"},
                ExpressionAttributeValues={
                    ":old": {"S": str(suppression.get("address", ""))},
                    ":new": {"S": billing_email},
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):  # a newer upsert or suppression came first
                raise store_error(error, "lifting an address suppression") from error

    def _keep_replaced(self, account_id: str, previous: dict[str, Any]) -> None:
        """The subscription an upsert replaced joins the history when the history cannot tell its limit yet: an item
        from before the history was kept, or a plan change whose package or packs were not recorded (one more write
        only then). Without it a count dated before the upsert would be measured against the upsert's limit."""
        replaced = LimitEntry.of_item(previous)
        known = [e for e in limit_entries(previous) if e.version <= replaced.version]
        if known and (known[-1].package, known[-1].profile_packs) == (replaced.package, replaced.profile_packs):
            return
        self._add_limit_entries(account_id, [replaced])

    def _add_limit_entries(self, account_id: str, entries: list[LimitEntry]) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="ADD #lh :lh",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#lh": LIMIT_HISTORY},
                ExpressionAttributeValues={":lh": {"SS": [entry.raw for entry in entries]}},
            )
        except ClientError as error:
            raise store_error(error, "recording the profile limit's history") from error

    def _reschedule(
        self,
        account_id: str,
        version: str,
        started_on: date,
        previous: dict[str, Any],
        known_since: date,
    ) -> None:
        """The CRM moved the start date: the next billing date follows the new anchor day."""
        last_billed = previous.get("last_billed_on")
        after = date.fromisoformat(last_billed) if last_billed else None
        due = first_billed_date(started_on, 1, known_since)
        if after is not None and due <= after:
            due = next_billing_date(started_on, 1, after)
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="SET next_billing_date = :due",
                ConditionExpression="profile_version = :v",
                ExpressionAttributeValues={":due": {"S": due.isoformat()}, ":v": {"S": version}},
            )
        except ClientError as error:
            if not is_condition_failure(error):  # a newer upsert already rescheduled
                raise store_error(error, "rescheduling an account") from error

    def record_contacts(self, event: ContactsCounted) -> CountResult:
        version = version_key(event.occurred_at, event.id)
        result = self._apply_count(
            event.account_id,
            "contacts_version",
            version,
            {"contacts_active": event.data.active, "contacts_archived": event.data.archived},
        )
        # The snapshot joins the history even when stale: billing reads the count in force at each billing moment.
        self._put_snapshot(
            event.account_id,
            f"SNAP#contacts#{version}",
            {"active": event.data.active, "archived": event.data.archived, "version": version},
        )
        return result

    def record_profiles(self, event: ProfilesCounted) -> CountResult:
        version = version_key(event.occurred_at, event.id)
        result = self._apply_count(event.account_id, "profiles_version", version, {"profiles_count": event.data.count})
        self._put_snapshot(
            event.account_id, f"SNAP#profiles#{version}", {"count": event.data.count, "version": version}
        )
        return result

    def _apply_count(self, account_id: str, version_attr: str, version: str, values: dict[str, Any]) -> CountResult:
        names = {f"#{k}": k for k in values} | {"#v": version_attr}
        expression_values = {f":{k}": serialize(v) for k, v in values.items()} | {":v": {"S": version}}
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values) + ", #v = :v",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#v) OR #v < :v)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise store_error(error, "recording a count") from error
            if old_item(error) is None:
                raise NotFound(f"account {account_id} is not known; send account.upserted first") from None
            return CountResult("stale", None)
        return CountResult("applied", from_item(response.get("Attributes", {})))

    def _put_snapshot(self, account_id: str, sk: str, record: dict[str, Any]) -> None:
        item = {"pk": {"S": account_id}, "sk": {"S": sk}} | {k: serialize(v) for k, v in record.items()}
        try:
            self.client.put_item(TableName=self.table, Item=item)
        except ClientError as error:
            raise store_error(error, "recording a snapshot") from error

    # ------------------------------------------------------------------ renewal billing (services/renewal.py)
    def due_in_shard(self, shard: str, up_to: date) -> Iterator[str]:
        """Ids of the shard's accounts whose next billing date is on or before ``up_to`` (DueIndex; never a Scan)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "DueIndex",
            "KeyConditionExpression": "billing_shard = :s AND next_billing_date <= :d",
            "ExpressionAttributeValues": {":s": {"S": shard}, ":d": {"S": up_to.isoformat()}},
        }
        while True:
            try:
                page = self.client.query(**kwargs)
            except ClientError as error:
                raise store_error(error, "querying due accounts") from error
            for item in page.get("Items", []):
                yield item["pk"]["S"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def billed_item(
        self,
        account_id: str,
        *,
        billing_date: date,
        following: date,
        overrun_streak: int,
        profile_version: str,
        updates: dict[str, Any],
    ) -> dict[str, Any]:
        """The transaction entry that moves the account past ``billing_date``, only if nobody billed that date
        meanwhile and the subscription priced (``profile_version``) is still the one in force."""
        sets = ["next_billing_date = :next", "last_billed_on = :d", "overrun_streak = :streak"]
        values: dict[str, Any] = {
            ":pv": {"S": profile_version},
            ":next": {"S": following.isoformat()},
            ":d": {"S": billing_date.isoformat()},
            ":streak": {"N": str(overrun_streak)},
        }
        names: dict[str, str] = {}
        for n, (attribute, value) in enumerate(sorted(updates.items())):
            names[f"#h{n}"] = attribute
            values[f":h{n}"] = serialize(value)
            sets.append(f"#h{n} = :h{n}")
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "next_billing_date = :d AND profile_version = :pv",
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def close_follow_up(self, account_id: str, kind: str, args: dict[str, Any]) -> None:
        """Remove a finished billing follow-up, only if it is still the same one (else another run did it)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="REMOVE follow_ups.#k",
                ConditionExpression="follow_ups.#k = :args",
                ExpressionAttributeNames={"#k": kind},
                ExpressionAttributeValues={":args": serialize(args)},
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise store_error(error, "closing a billing follow-up") from error


def _account(record: dict[str, Any]) -> Account:
    return Account.model_validate(record)
