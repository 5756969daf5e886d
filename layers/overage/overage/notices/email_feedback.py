"""What the CRM is told when an account's address cannot be emailed any more (spec §3.9):
``account.email_undeliverable`` on the bus, once per suppression, so it can ask the customer for a new billing
address. The notice is recorded like every other; its email would go to the suppressed address, so the outbox marks
it ``suppressed`` instead."""

from __future__ import annotations

from overage.domain.email_feedback import Feedback
from overage.domain.notice import Notice, render

EMAIL_UNDELIVERABLE = "account.email_undeliverable"


def email_undeliverable(*, account_id: str, address: str, feedback: Feedback, bounced: Notice, at: str) -> Notice:
    """One per SES message that suppressed the address (its id is the cause), so a replay names the same notice."""
    complaint = feedback.kind == "Complaint"
    return render(
        kind=EMAIL_UNDELIVERABLE,
        account_id=account_id,
        cause=feedback.ses_message_id,
        to=address,
        subject="We can no longer email your billing address",
        paragraphs=[
            (
                f"The recipient of our notice {bounced.subject!r} marked it as unwanted, so we have stopped "
                "emailing this address."
                if complaint
                else f"Our notice {bounced.subject!r} could not be delivered to this address, permanently, so we "
                "have stopped emailing it."
            ),
            "Notices are still recorded on your account and shown in the CRM.",
        ],
        breakdown=[("Reason", feedback.reason)],
        actions=["Give us a new billing email address in the CRM; we email it from the next notice on."],
        detail={
            "reason": feedback.reason,
            "ses_message_id": feedback.ses_message_id,
            "undelivered_notice_id": bounced.notice_id,
            "undelivered_notice_kind": bounced.kind,
        },
        created_at=at,
    )
