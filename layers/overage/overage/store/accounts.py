"""The accounts table: one account item per account plus the history of count snapshots.

Keys: ``pk`` = account id; ``sk`` = ``ACCOUNT`` for the account item,
``SNAP#contacts#<version>`` and
``SNAP#profiles#<version>`` for snapshots (version = fixed-width ``occurred_at`` + event id,
so sort order is time order).
The sparse ``DueIndex`` (billing_shard, next_billing_date) holds only account items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from overage.domain.account import Account, billing_shard, first_billed_date, version_key
from overage.domain.calendar import next_billing_date
from overage.domain.instants import to_key
from overage.errors import NotFound
from overage.store.dynamo import from_item, is_condition_failure, old_item, serialize, store_error

if TYPE_CHECKING:  # the webhook's event models: only the webhook function needs them loaded
    from overage.domain.crm_events import AccountUpserted, ContactsCounted, ProfilesCounted

ACCOUNT_SK = "ACCOUNT"
Outcome = Literal["created", "updated", "applied", "stale"]


@dataclass(frozen=True)
class ContactSnapshot:
    active: int
    archived: int
    version: str


@dataclass(frozen=True)
class CountResult:
    outcome: Outcome
    previous: dict[str, Any] | None  # the account item before the write (None when stale)


class AccountsStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    # ------------------------------------------------------------------ reads
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
        return int(from_item(items[0])["count"]) if items else None

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
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": serialize(v) for k, v in fields.items()}
        sets = [f"#{k} = :{k}" for k in fields]
        sets.append("billing_shard = if_not_exists(billing_shard, :shard)")
        sets.append("next_billing_date = if_not_exists(next_billing_date, :first_due)")
        values[":shard"] = {"S": billing_shard(event.account_id)}
        values[":first_due"] = {"S": first_due.isoformat()}
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": event.account_id}, "sk": {"S": ACCOUNT_SK}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(pk) OR profile_version < :profile_version",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return "stale"
            raise store_error(error, "upserting an account") from error
        old = response.get("Attributes")
        if not old:
            return "created"
        previous = from_item(old)
        if previous.get("started_on") != fields["started_on"]:
            self._reschedule(event.account_id, version, data.started_on, previous, event.occurred_at.date())
        return "updated"

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


def _account(record: dict[str, Any]) -> Account:
    return Account.model_validate(record)
