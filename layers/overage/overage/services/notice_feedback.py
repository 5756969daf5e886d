"""A click on a notice email's feedback link (spec §3.9), once its token is verified (``api/feedback.py``).

The first answer per notice is recorded on the notice record (conditionally); "I need help" stages
``notice.help_requested`` in the same transaction, so the bus gets it exactly when the answer is recorded, once.
A later click, a replayed request or a second concurrent click finds the answer there and changes nothing. Should
the process die between the commit and the bus, the help notice stays in the outbox and the next scheduled run's
redelivery publishes it. An unknown notice records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from overage.domain.feedback import HELP, FeedbackToken
from overage.domain.instants import to_key
from overage.notices.feedback import help_requested
from overage.notices.outbox import NoticeOutbox
from overage.runtime.observability import count, logger
from overage.store.ledger import notice_from_record
from overage.store.notice_answers import ANSWER, NoticeAnswerStore
from overage.store.transaction import commit

RECORDED = "recorded"
ALREADY_RECORDED = "already_recorded"
UNKNOWN_NOTICE = "unknown_notice"


@dataclass(frozen=True)
class Answered:
    outcome: str  # RECORDED, ALREADY_RECORDED, UNKNOWN_NOTICE
    answer: str = ""  # the answer on record (the first one)


@dataclass
class NoticeFeedback:
    store: NoticeAnswerStore
    outbox: NoticeOutbox
    clock: Callable[[], datetime]

    def answer(self, token: FeedbackToken) -> Answered:
        extra = {"account_id": token.account_id, "notice_id": token.notice_id, "answer": token.answer}
        record = self.store.notice(token.account_id, token.notice_id)
        if record is None:
            logger.warning("feedback for a notice that does not exist: nothing recorded", extra=extra)
            return Answered(UNKNOWN_NOTICE)
        if record.get(ANSWER):
            logger.info("feedback already recorded for this notice", extra=extra)
            return Answered(ALREADY_RECORDED, str(record[ANSWER]))
        now = self.clock()
        entries = [self.store.answer_entry(token.account_id, token.notice_id, token.answer, to_key(now))]
        told = []
        if token.answer == HELP:
            told = [help_requested(answered=notice_from_record(record), at=to_key(now))]
            entries.append(self.outbox.stage(told[0], now, suppression=None))  # no address: nothing to check
        if not commit(self.store.client, entries, "recording a notice's feedback"):
            again = self.store.notice(token.account_id, token.notice_id)  # a concurrent click won
            logger.info("feedback recorded by a concurrent click", extra=extra)
            return Answered(ALREADY_RECORDED, str((again or {}).get(ANSWER, token.answer)))
        count("NoticeHelpRequested" if token.answer == HELP else "NoticeAnsweredClear")
        logger.info("feedback recorded", extra=extra)
        self.outbox.deliver_committed(told, now)
        return Answered(RECORDED, token.answer)
