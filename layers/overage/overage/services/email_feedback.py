"""What SES tells us about the notice emails (spec §3.9): EmailFeedbackFunction's job, per SNS record.

- a **delivery** marks the notice ``delivered``;
- a **permanent bounce** or a **complaint** marks the notice ``bounced`` / ``complained`` and, in one transaction,
  suppresses its address on the account (``email_suppression``) and records ``account.email_undeliverable``, which
  the outbox then puts on the bus (once per suppression: the transaction cancels when the address is already
  suppressed, or is no longer the account's billing_email);
- a transient bounce, another event type, a message overage never sent or an address it never sent that message to
  is logged and changes nothing.

Each write is conditional, so a replayed or reordered SNS message changes nothing the first did not, and a retry
after a failure at any call finishes what the first attempt left (the notice's mark and the suppression are written
apart, each idempotent). Should the process die between the suppression and its bus event, the notice stays in the
outbox and the next scheduled run's redelivery publishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from overage.domain.email_feedback import (
    DELIVERED,
    FEEDBACK_FROM,
    SUPPRESS,
    Feedback,
    NotFeedback,
    names_recipient,
    parse_feedback,
)
from overage.domain.instants import to_key
from overage.domain.notice import Notice
from overage.notices.email_feedback import email_undeliverable
from overage.notices.outbox import NoticeOutbox
from overage.runtime.observability import count, logger
from overage.store.email_feedback import EmailFeedbackStore
from overage.store.ledger import notice_from_record
from overage.store.transaction import commit

# What one SES event did: the function's answer lists one per record (logs and tests read them).
SUPPRESSED = "suppressed"
MARKED_DELIVERED = "delivered"
UNCHANGED = "unchanged"  # a replay, or feedback out of order
IGNORED = "ignored"  # transient bounce, other event types, a message or address overage never sent


@dataclass
class EmailFeedback:
    store: EmailFeedbackStore
    outbox: NoticeOutbox
    clock: Callable[[], datetime]

    def handle_message(self, message: str) -> str:
        try:
            feedback = parse_feedback(message)
        except NotFeedback as error:
            logger.warning("SNS message ignored: not an SES event record", extra={"error": str(error)})
            return IGNORED
        extra = {"ses_message_id": feedback.ses_message_id, "feedback": feedback.reason}
        if feedback.effect not in (SUPPRESS, DELIVERED):
            logger.info("SES feedback changes nothing", extra=extra)
            return IGNORED
        if feedback.notice is None:
            logger.warning("SES feedback without the tags that name a notice: ignored", extra=extra)
            return IGNORED
        record = self.store.sent_notice(*feedback.notice, feedback.ses_message_id)
        if record is None:
            logger.warning("SES feedback for a message overage never sent: ignored", extra=extra)
            return IGNORED
        notice = notice_from_record(record)
        extra |= {"account_id": notice.account_id, "notice_id": notice.notice_id}
        if not names_recipient(feedback, notice.to):
            logger.warning("SES feedback for an address overage never sent this message to: ignored", extra=extra)
            return IGNORED
        now = self.clock()
        at = feedback.occurred_at or to_key(now)
        marked = self.store.mark_notice(record, feedback.state, FEEDBACK_FROM[feedback.state], at)
        if feedback.effect == DELIVERED:
            logger.info("notice delivered" if marked else "notice delivery already known", extra=extra)
            return MARKED_DELIVERED if marked else UNCHANGED
        return self._suppress(feedback, notice, now, at, extra)

    def _suppress(self, feedback: Feedback, notice: Notice, now: datetime, at: str, extra: dict[str, Any]) -> str:
        told = email_undeliverable(
            account_id=notice.account_id, address=notice.to, feedback=feedback, bounced=notice, at=at
        )
        entries = [
            self.store.suppress_entry(notice.account_id, notice.to, feedback, notice.notice_id, at),
            self.outbox.stage(told, now),
        ]
        if not commit(self.store.client, entries, "suppressing an address"):
            logger.info("address already suppressed, or no longer the account's: nothing more to do", extra=extra)
            return UNCHANGED
        count("EmailAddressSuppressed")
        logger.warning("address suppressed on its account", extra=extra)
        self.outbox.deliver_committed([told], now)
        return SUPPRESSED

    def handle_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """An SNS event (one record in practice; each is handled in turn, a failure fails the invocation so that
        Lambda retries it, and then sends it to the dead-letter queue)."""
        outcomes = [self.handle_message(str(r["Sns"]["Message"])) for r in event.get("Records", [])]
        return {"outcomes": outcomes}
