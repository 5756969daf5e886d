"""What the CRM's support queue is told when a customer clicks "I need help" in a notice email (spec §3.9):
``notice.help_requested`` on the bus, once per notice (the answered notice's id is its cause). It is recorded on the
account like every notice and emails nobody (it has no address): the CRM's support staff take it from the bus."""

from __future__ import annotations

from overage.domain.notice import Notice, render

HELP_REQUESTED = "notice.help_requested"


def help_requested(*, answered: Notice, at: str) -> Notice:
    return render(
        kind=HELP_REQUESTED,
        account_id=answered.account_id,
        cause=answered.notice_id,
        to="",  # for the CRM's support queue (the bus), not an email
        subject=f"Help requested about: {answered.subject}",
        paragraphs=[
            f'The customer clicked "I need help" in our notice {answered.subject!r} and waits to be contacted.',
        ],
        breakdown=[("Notice", answered.notice_id), ("Kind", answered.kind), ("Sent to", answered.to)],
        actions=["Contact the customer about this notice."],
        detail={"answered_notice_id": answered.notice_id, "answered_notice_kind": answered.kind},
        created_at=at,
    )
