"""Sending notices exactly once to the ledger and at least once (almost always once) to SES and the bus.

A notice is created *claimed* (``delivery = sending``, ``outbox_state = pending``, ``claimed_at``) in the same write
that records its cause, so of two concurrent runs only the one whose write won sends it. Delivery puts the event on the
bus, then sends the email, then marks the record ``sent`` (with the SES message id) so it leaves the sparse
``OutboxIndex``. A run that failed or died in between leaves the claim behind; once the lease has passed,
``redeliver_stale`` (called by every scheduled run) re-claims it conditionally and delivers it again.

The guarantee (tests/reliability make each call of every scheduled job fail and check it):
- the notice record: exactly once (its id derives from its cause and it is created conditionally);
- the email: at least once, and a second time only if SES accepted it and the one write that follows, marking the
  notice sent, failed or never happened (the process died in between): the email is the last step before that
  write. The customer then gets the same email again one lease (15 minutes) later, and only once more, since the
  redelivery ends with the same write;
- the bus event: at least once; it comes again whenever a delivery failed after EventBridge accepted it (SES or the
  write refused, the process died). Every event carries ``notice_id``: the CRM drops one it has seen.
The lease is longer than any function's timeout (a test checks the template), so a redelivery never races a sender
that is still alive.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.instants import parse_instant, to_key
from overage.notices.model import Notice
from overage.observability import logger
from overage.store.dynamo import from_item, is_condition_failure, query_all, store_error, to_item
from overage.store.ledger import DELIVERY, NOTICE, notice_from_record, notice_record
from overage.store.report_index import REPORT_KEY, report_key_at

LEASE = timedelta(minutes=15)
EVENT_SOURCE = "overage"
PENDING = "pending"


class NoticeOutbox:
    def __init__(
        self,
        *,
        ledger_table: str,
        dynamodb: Any,
        ses: Any,
        events: Any,
        sender: str,
        bus_name: str,
    ) -> None:
        self.table = ledger_table
        self.dynamodb = dynamodb
        self.ses = ses
        self.events = events
        self.sender = sender
        self.bus_name = bus_name

    # ------------------------------------------------------------------ staging
    def stage(self, notice: Notice, claimed_at: datetime) -> dict[str, Any]:
        """A TransactWriteItems entry creating the notice, claimed by the caller (cancels if it exists)."""
        # The parts the email is rendered from, not the email itself (store/ledger.py: notice_record).
        record = notice_record(notice) | {
            DELIVERY: "sending",  # not "status": ReportIndex projects that one, and marking it sent would write there
            "outbox_state": PENDING,
            "claimed_at": to_key(claimed_at),
            # The monthly report counts the notices of its month through ReportIndex (month of the business time).
            REPORT_KEY: report_key_at(_business_time(notice, claimed_at), notice.account_id),
        }
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def send(self, notice: Notice, now: datetime) -> bool:
        """Create, claim and deliver a notice on its own; False when it already existed (sent or being sent)."""
        try:
            self.dynamodb.put_item(**self.stage(notice, now)["Put"])
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise store_error(error, "recording a notice") from error
        self.deliver(notice, now)
        return True

    # ------------------------------------------------------------------ delivery
    def deliver(self, notice: Notice, now: datetime) -> None:
        """Send a notice this process has claimed, then mark it sent: the bus first, the email last, so the email is
        sent twice only if the write right after it fails (see the module doc)."""
        if self.bus_name:
            self._publish(notice)
        message_id = self._email(notice) if notice.to and self.sender else ""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": notice.account_id}, "sk": {"S": NOTICE + notice.notice_id}},
                UpdateExpression="SET #s = :sent, sent_at = :now, ses_message_id = :mid REMOVE outbox_state",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues={
                    ":sent": {"S": "sent"},
                    ":sending": {"S": "sending"},
                    ":now": {"S": to_key(now)},
                    ":mid": {"S": message_id},
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise store_error(error, "marking a notice sent") from error
        logger.info(
            "notice sent",
            extra={"account_id": notice.account_id, "notice_id": notice.notice_id, "notice_kind": notice.kind},
        )

    def _email(self, notice: Notice) -> str:
        response = self.ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [notice.to]},
            Content={
                "Simple": {
                    "Subject": {"Data": notice.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": notice.text, "Charset": "UTF-8"},
                        "Html": {"Data": notice.html, "Charset": "UTF-8"},
                    },
                }
            },
            EmailTags=[{"Name": "notice_kind", "Value": notice.kind.replace(".", "_")}],
        )
        return str(response.get("MessageId", ""))

    def _publish(self, notice: Notice) -> None:
        detail = {"notice_id": notice.notice_id, "account_id": notice.account_id, **notice.detail}
        result = self.events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": notice.kind,
                    "Detail": json.dumps(detail, sort_keys=True, default=str),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused notice {notice.notice_id}: {result.get('Entries')}")

    def redeliver_stale(self, now: datetime, lease: timedelta = LEASE) -> int:
        """Send the notices whose claim outlived its lease (their sender crashed). One Query when none are."""
        cutoff = to_key(now - lease)
        count = 0
        try:
            stale = list(
                query_all(
                    self.dynamodb,
                    TableName=self.table,
                    IndexName="OutboxIndex",
                    KeyConditionExpression="outbox_state = :p AND claimed_at < :cutoff",
                    ExpressionAttributeValues={":p": {"S": PENDING}, ":cutoff": {"S": cutoff}},
                )
            )
        except ClientError as error:
            raise store_error(error, "finding stale notices") from error
        for record in stale:
            try:
                claimed = self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": record["pk"]}, "sk": {"S": record["sk"]}},
                    UpdateExpression="SET claimed_at = :now",
                    ConditionExpression="claimed_at = :old AND #s = :sending",
                    ExpressionAttributeNames={"#s": DELIVERY},
                    ExpressionAttributeValues={
                        ":now": {"S": to_key(now)},
                        ":old": {"S": record["claimed_at"]},
                        ":sending": {"S": "sending"},
                    },
                    ReturnValues="ALL_NEW",  # the record itself: the index holds only its keys
                )
            except ClientError as error:
                if is_condition_failure(error):
                    continue  # another run re-claimed it
                raise store_error(error, "re-claiming a notice") from error
            self.deliver(notice_from_record(from_item(claimed["Attributes"])), now)
            count += 1
        return count


def _business_time(notice: Notice, claimed_at: datetime) -> datetime:
    """The notice's business time (``created_at``); the claim time if a notice ever carried none."""
    try:
        return parse_instant(notice.created_at)
    except (TypeError, ValueError):
        return claimed_at
