"""What EmailFeedbackFunction reads and writes: the notice an SES message belongs to (named by the message's tags,
``domain.ses_tags``, and checked against the SES message id the notice was marked sent with), the notice's delivery
state after SES's feedback, and the suppression of an address on its account item (``email_suppression``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from overage.domain.email_feedback import Feedback
from overage.store.accounts import ACCOUNT_SK, SUPPRESSION
from overage.store.dynamo import from_item, is_condition_failure, serialize, store_error
from overage.store.ledger import DELIVERY, NOTICE


class EmailFeedbackStore:
    def __init__(self, accounts_table: str, ledger_table: str, client: Any) -> None:
        self.accounts_table = accounts_table
        self.ledger_table = ledger_table
        self.client = client

    def sent_notice(self, account_id: str, notice_id: str, ses_message_id: str) -> dict[str, Any] | None:
        """The notice record the message's tags name, if SES accepted it as ``ses_message_id``; else None (a message
        overage never sent, or tags that name another notice). One consistent GetItem."""
        try:
            item = self.client.get_item(
                TableName=self.ledger_table,
                Key={"pk": {"S": account_id}, "sk": {"S": NOTICE + notice_id}},
                ConsistentRead=True,
            ).get("Item")
        except ClientError as error:
            raise store_error(error, "reading the notice of an SES message") from error
        if not item or item.get("ses_message_id", {}).get("S") != ses_message_id:
            return None
        return from_item(item)

    def mark_notice(self, record: dict[str, Any], state: str, allowed_from: tuple[str, ...], at: str) -> bool:
        """Move the notice's delivery state to ``state`` if it is in one of ``allowed_from``: False when it is not
        (a replay, or feedback out of order: a delivery after a complaint changes nothing)."""
        allowed = {f":from{i}": {"S": value} for i, value in enumerate(allowed_from)}
        try:
            self.client.update_item(
                TableName=self.ledger_table,
                Key={"pk": {"S": record["pk"]}, "sk": {"S": record["sk"]}},
                UpdateExpression="SET #s = :state, feedback_at = :at",
                ConditionExpression=f"#s IN ({', '.join(allowed)})",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues={":state": {"S": state}, ":at": {"S": at}, **allowed},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise store_error(error, f"marking a notice {state}") from error
        return True

    def suppress_entry(self, account_id: str, address: str, feedback: Feedback, notice_id: str, at: str) -> Any:
        """A TransactWriteItems entry suppressing ``address`` on the account, only while it is the account's
        billing_email and not already suppressed (cancels otherwise: a replay, or the address was replaced)."""
        suppression = {
            "address": address,
            "reason": feedback.reason,
            "ses_message_id": feedback.ses_message_id,
            "notice_id": notice_id,
            "suppressed_at": at,
        }
        return {
            "Update": {
                "TableName": self.accounts_table,
                "Key": {"pk": {"S": account_id}, "sk": {"S": ACCOUNT_SK}},
                "UpdateExpression": "SET #sup = :sup",
                "ConditionExpression": (
                    "billing_email = :address AND (attribute_not_exists(#sup) OR #sup.#addr <> :address)"
                ),
                "ExpressionAttributeNames": {"#sup": SUPPRESSION, "#addr": "address"},
                "ExpressionAttributeValues": {":sup": serialize(suppression), ":address": {"S": address}},
            }
        }
