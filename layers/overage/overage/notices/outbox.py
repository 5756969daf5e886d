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

Failures after the commit never undo or fail what was committed:
- SES refusing the message itself (``PERMANENT_REFUSALS``: an address it cannot parse, a rejected message) is final:
  the notice is marked ``failed`` with the reason, leaves the outbox, and the ``NoticeEmailRefused`` metric (with
  its alarm) tells the operators. Retrying would be refused the same way on every run.
- Any other failure of a delivery made right after a commit (``deliver_committed``) is logged and counted
  (``NoticeDeliveryDeferred``); the notice stays claimed, and the next scheduled run's ``redeliver_stale`` sends it.
- ``redeliver_stale`` isolates each notice: one that fails is counted and left for the next run; the others are
  sent, and the run goes on to its own work.

Bounded and told once (spec §3.9, issue 18):
- every claim counts as an attempt (the first delivery is attempt 1; each re-claim by ``redeliver_stale`` counts
  one more in ``attempts``, in the same conditional write that re-claims). When attempt ``MAX_ATTEMPTS`` fails too,
  the notice leaves the outbox as ``failed`` (``NoticeDeliveryFailed``, and an alarm), never retried again;
- when a delivery fails after EventBridge accepted its event, the notice records ``bus_published`` (one write, only
  on that failure), and a redelivery skips the bus. Only a process that died between the bus and that write
  republishes it (the CRM drops an event whose ``notice_id`` it has seen);
- a notice to an address suppressed on its account (a permanent bounce or a complaint, ``EmailFeedbackFunction``) is
  put on the bus and marked ``suppressed``, never emailed (from the account item its cause was written with; one
  consistent GetItem of the account's suppression only for a redelivery, or a caller that did not read the account);
- every email ends with the notice's two feedback links ("This was clear", "I need help"), signed at sending time
  (``feedback_links``: the key is read from SSM there, never stored with the notice);
- every email names the SES configuration set whose bounce, complaint and delivery events reach
  ``EmailFeedbackFunction``, and message tags naming the notice's keys (``domain.ses_tags``), which SES publishes
  with those events: the feedback finds its notice by its keys, and a sent notice is in no index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.email_feedback import is_suppressed
from overage.domain.feedback import FeedbackLinks
from overage.domain.instants import parse_instant, to_key
from overage.domain.invoice import Seller
from overage.domain.notice import Notice
from overage.domain.ses_tags import notice_tags
from overage.runtime.observability import count, logger
from overage.store.dynamo import error_code, from_item, is_condition_failure, query_all, store_error, to_item
from overage.store.ledger import DELIVERY, NOTICE, notice_from_record, notice_record
from overage.store.report_index import REPORT_KEY, report_key_at

LEASE = timedelta(minutes=15)
EVENT_SOURCE = "overage"
PENDING = "pending"
FAILED = "failed"
SUPPRESSED = "suppressed"
UNREAD: Any = object()  # stage() was not told the account's suppression: the delivery reads it
MAX_ATTEMPTS = 5  # claims of one notice in total: the first delivery and at most four redeliveries
ACCOUNT_SK = "ACCOUNT"  # the account item (store/accounts.py), where EmailFeedbackFunction records a suppression
# SES v2 error codes that refuse this message for good (its address or content): the same call is refused again.
PERMANENT_REFUSALS = frozenset({"MessageRejected", "InvalidParameterValue", "BadRequestException"})


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
        accounts_table: str = "",
        configuration_set: str = "",
        feedback_links: Callable[[Notice], FeedbackLinks] | None = None,
        seller: Seller | None = None,
    ) -> None:
        self.table = ledger_table
        self.accounts_table = accounts_table  # empty: no suppression check (a store test without accounts)
        self.configuration_set = configuration_set
        self.feedback_links = feedback_links  # the signed links every email ends with (None: a store test's outbox)
        self.seller = seller  # the header of every email (None: a store test's outbox)
        self.dynamodb = dynamodb
        self.ses = ses
        self.events = events
        self.sender = sender
        self.bus_name = bus_name
        # notice id → the account's suppression as read with its cause, from stage() to the delivery after the
        # commit (the SQS record threads share this outbox; each notice id is set and popped by one thread)
        self._suppression_read: dict[str, Any] = {}

    # ------------------------------------------------------------------ staging
    def stage(self, notice: Notice, claimed_at: datetime, *, suppression: Any = UNREAD) -> dict[str, Any]:
        """A TransactWriteItems entry creating the notice, claimed by the caller (cancels if it exists).

        ``suppression``: the account's ``email_suppression`` as the caller read it for this write (None: none), so
        the delivery right after the commit needs no read of its own; left out, the delivery reads it."""
        if suppression is not UNREAD:
            self._suppression_read[notice.notice_id] = suppression
        # The parts the email is rendered from, not the email itself (store/ledger.py: notice_record).
        record = notice_record(notice) | {
            DELIVERY: "sending",  # not "status": ReportIndex projects that one, and marking it sent would write there
            "outbox_state": PENDING,
            "claimed_at": to_key(claimed_at),  # attempt 1 (``attempts`` is written from the first re-claim on)
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
        self.deliver_committed([notice], now)
        return True

    # ------------------------------------------------------------------ delivery
    def deliver(self, notice: Notice, now: datetime, *, published: bool = False, redelivery: bool = False) -> None:
        """Send a notice this process has claimed, then mark it sent: the bus first, the email last, so the email is
        sent twice only if the write right after it fails (see the module doc). ``published``: its bus event went
        out on an earlier attempt. ``redelivery``: a stale claim re-claimed, logged at INFO; a delivery right after
        its commit is logged at DEBUG, the line of what caused it ("invoice issued", ...) being the INFO one (at 1M
        notices a run, each INFO line is about $0.30 of CloudWatch Logs, issue 20)."""
        if self.bus_name and not published:
            self._publish(notice)
            published = True
        try:
            known = self._suppression_read.pop(notice.notice_id, UNREAD)
            if notice.to and self.sender and self._suppressed(notice, known):
                self._mark(notice, now, SUPPRESSED, "suppressed_at", "the address is suppressed on the account")
                return
            message_id = self._email(notice) if notice.to and self.sender else ""
        except ClientError as error:
            if error_code(error) not in PERMANENT_REFUSALS:
                self._remember_published(notice, published)
                raise
            self._mark_failed(notice, now, error_code(error))
            return
        except Exception:
            self._remember_published(notice, published)
            raise
        # The SES message id (kept for support and to check SES's feedback against) only when there was an email.
        values = {":sent": {"S": "sent"}, ":sending": {"S": "sending"}, ":now": {"S": to_key(now)}}
        update = "SET #s = :sent, sent_at = :now REMOVE outbox_state"
        if message_id:
            update = "SET #s = :sent, sent_at = :now, ses_message_id = :mid REMOVE outbox_state"
            values[":mid"] = {"S": message_id}
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": notice.account_id}, "sk": {"S": NOTICE + notice.notice_id}},
                UpdateExpression=update,
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not is_condition_failure(error):
                self._remember_published(notice, published)
                raise store_error(error, "marking a notice sent") from error
        (logger.info if redelivery else logger.debug)(
            "notice sent",
            extra={"account_id": notice.account_id, "notice_id": notice.notice_id, "notice_kind": notice.kind},
        )

    def deliver_committed(self, notices: list[Notice], now: datetime) -> int:
        """Deliver the notices a commit just claimed, each on its own: a failure is logged, counted and left to the
        next run's redelivery, never raised (what was committed stands). The number delivered now."""
        delivered = 0
        for notice in notices:
            try:
                self.deliver(notice, now)
            except Exception:
                logger.exception(
                    "notice delivery deferred to the next run",
                    extra={"account_id": notice.account_id, "notice_id": notice.notice_id, "notice_kind": notice.kind},
                )
                count("NoticeDeliveryDeferred")
                continue
            delivered += 1
        return delivered

    def _suppressed(self, notice: Notice, known: Any = UNREAD) -> bool:
        """Whether the notice's address is suppressed on its account (a permanent bounce or a complaint): from what
        the caller read with the notice's cause (``stage``), else one consistent GetItem (a redelivery)."""
        if known is not UNREAD:
            return is_suppressed(known, notice.to)
        if not self.accounts_table:
            return False
        try:
            found = self.dynamodb.get_item(
                TableName=self.accounts_table,
                Key={"pk": {"S": notice.account_id}, "sk": {"S": ACCOUNT_SK}},
                ProjectionExpression="email_suppression",
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading an address suppression") from error
        item = from_item(found.get("Item") or {})
        return is_suppressed(item.get("email_suppression"), notice.to)

    def _mark(self, notice: Notice, now: datetime, state: str, at: str, why: str) -> None:
        """The notice leaves the outbox in ``state`` without an email (its bus event went out)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": notice.account_id}, "sk": {"S": NOTICE + notice.notice_id}},
                UpdateExpression=f"SET #s = :state, {at} = :now, failure = :why REMOVE outbox_state",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues={
                    ":state": {"S": state},
                    ":sending": {"S": "sending"},
                    ":now": {"S": to_key(now)},
                    ":why": {"S": why},
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise store_error(error, f"marking a notice {state}") from error
        count("NoticeEmailSuppressed" if state == SUPPRESSED else "NoticeDeliveryFailed")
        logger.warning(
            f"notice {state}, not emailed",
            extra={"account_id": notice.account_id, "notice_id": notice.notice_id, "reason": why},
        )

    def _remember_published(self, notice: Notice, published: bool) -> None:
        """The delivery failed after its bus event went out: say so on the record, so a redelivery skips the bus.
        Best effort: if this write fails too, the redelivery publishes again (the CRM drops a repeated notice_id)."""
        if not (published and self.bus_name):
            return
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": notice.account_id}, "sk": {"S": NOTICE + notice.notice_id}},
                UpdateExpression="SET bus_published = :yes",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":sending": {"S": "sending"}},
            )
        except ClientError:
            logger.warning("could not record that a notice's bus event went out", extra={"notice_id": notice.notice_id})

    def _mark_failed(self, notice: Notice, now: datetime, reason: str) -> None:
        """SES refused this email for good: the notice leaves the outbox as ``failed`` (its bus event went out)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": notice.account_id}, "sk": {"S": NOTICE + notice.notice_id}},
                UpdateExpression="SET #s = :failed, failed_at = :now, failure = :why REMOVE outbox_state",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues={
                    ":failed": {"S": FAILED},
                    ":sending": {"S": "sending"},
                    ":now": {"S": to_key(now)},
                    ":why": {"S": f"SES refused the email: {reason}"},
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise store_error(error, "marking a notice failed") from error
        count("NoticeEmailRefused")
        logger.warning(
            "notice email refused by SES for good",
            extra={"account_id": notice.account_id, "notice_id": notice.notice_id, "reason": reason},
        )

    def _email(self, notice: Notice) -> str:
        links = self.feedback_links(notice) if self.feedback_links else None
        response = self.ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [notice.to]},
            Content={
                "Simple": {
                    "Subject": {"Data": notice.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": notice.email_text(links, self.seller), "Charset": "UTF-8"},
                        "Html": {"Data": notice.email_html(links, self.seller), "Charset": "UTF-8"},
                    },
                }
            },
            EmailTags=[
                {"Name": "notice_kind", "Value": notice.kind.replace(".", "_")},
                *notice_tags(notice.account_id, notice.notice_id),  # what SES's feedback is about (ses_tags)
            ],
            **({"ConfigurationSetName": self.configuration_set} if self.configuration_set else {}),
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
        redelivered = 0
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
                redelivered += self._redeliver(record, now)
            except Exception:  # one notice never fails the run: it stays claimed for the next one
                logger.exception("notice redelivery failed", extra={"account_id": record["pk"]})
                count("NoticeDeliveryDeferred")
        return redelivered

    def _redeliver(self, record: dict[str, Any], now: datetime) -> int:
        try:
            claimed = self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": record["pk"]}, "sk": {"S": record["sk"]}},
                # Each claim is an attempt (a notice from before the count had one, its first delivery).
                UpdateExpression="SET claimed_at = :now, attempts = if_not_exists(attempts, :one) + :one",
                ConditionExpression="claimed_at = :old AND #s = :sending",
                ExpressionAttributeNames={"#s": DELIVERY},
                ExpressionAttributeValues={
                    ":now": {"S": to_key(now)},
                    ":old": {"S": record["claimed_at"]},
                    ":sending": {"S": "sending"},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",  # the record itself: the index holds only its keys
            )
        except ClientError as error:
            if is_condition_failure(error):
                return 0  # another run re-claimed it
            raise store_error(error, "re-claiming a notice") from error
        attributes = from_item(claimed["Attributes"])
        notice = notice_from_record(attributes)
        attempts = int(attributes.get("attempts", 1))
        why = f"not delivered after {MAX_ATTEMPTS} attempts (SES or EventBridge kept failing)"
        if attempts > MAX_ATTEMPTS:  # the last attempt failed and so did marking it failed: only mark it now
            self._mark(notice, now, FAILED, "failed_at", why)
            return 0
        try:
            self.deliver(notice, now, published=bool(attributes.get("bus_published")), redelivery=True)
        except Exception:
            if attempts < MAX_ATTEMPTS:
                raise
            logger.exception("notice delivery failed for the last time", extra={"notice_id": notice.notice_id})
            self._mark(notice, now, FAILED, "failed_at", why)
            return 0
        return 1


def _business_time(notice: Notice, claimed_at: datetime) -> datetime:
    """The notice's business time (``created_at``); the claim time if a notice ever carried none."""
    try:
        return parse_instant(notice.created_at)
    except (TypeError, ValueError):
        return claimed_at
