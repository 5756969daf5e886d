"""What SES tells us about a notice email it sent (spec §3.9), read from its event record, and what follows from it.

SES publishes a configuration set's events to SNS as JSON (``eventType``: ``Bounce``, ``Complaint``, ``Delivery``;
the identity notifications of old call the same field ``notificationType``, and both are read). Only the fields a
decision needs are parsed; anything else in the record is ignored, and a record of another type is ``ignored``.

- a **permanent bounce** or a **complaint** suppresses the address on its account (``SUPPRESS``);
- a **transient bounce** changes nothing (SES already retried it; the next notice is sent as usual);
- a **delivery** marks the notice ``delivered``.
"""

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from overage.domain.ses_tags import notice_keys

Effect = Literal["suppress", "delivered", "ignore"]
SUPPRESS: Effect = "suppress"
DELIVERED: Effect = "delivered"
IGNORE: Effect = "ignore"

# The notice's delivery states feedback moves it to, and from which.
BOUNCED = "bounced"
COMPLAINED = "complained"
DELIVERED_STATE = "delivered"
# A permanent bounce or a complaint can follow a delivery (a complaint always does); a delivery only follows the send.
FEEDBACK_FROM: dict[str, tuple[str, ...]] = {
    BOUNCED: ("sent", DELIVERED_STATE),
    COMPLAINED: ("sent", DELIVERED_STATE),
    DELIVERED_STATE: ("sent",),
}


class _Loose(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _Recipient(_Loose):
    email_address: str = Field(alias="emailAddress", min_length=3)


class _Bounce(_Loose):
    bounce_type: str = Field(alias="bounceType")
    bounce_sub_type: str = Field(default="", alias="bounceSubType")
    bounced_recipients: tuple[_Recipient, ...] = Field(alias="bouncedRecipients")
    timestamp: str = ""


class _Complaint(_Loose):
    complained_recipients: tuple[_Recipient, ...] = Field(alias="complainedRecipients")
    timestamp: str = ""


class _Delivery(_Loose):
    recipients: tuple[str, ...] = ()
    timestamp: str = ""


class _Mail(_Loose):
    message_id: str = Field(alias="messageId", min_length=1)
    tags: dict[str, Any] = {}  # the message tags: SES publishes them with a configuration set's events


class _Record(_Loose):
    event_type: str = Field(default="", alias="eventType")
    notification_type: str = Field(default="", alias="notificationType")
    mail: _Mail
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None
    delivery: _Delivery | None = None


class Feedback(_Loose):
    """One SES event about one email: its type, the SES message id, the recipients it names, and its effect."""

    kind: str  # Bounce, Complaint, Delivery (or whatever else SES sent)
    ses_message_id: str
    notice: tuple[str, str] | None = None  # (account id, notice id) from the message's tags (``ses_tags``)
    recipients: tuple[str, ...]
    effect: Effect
    reason: str  # for the suppression record and the logs: "bounce:Permanent/General", "complaint"
    occurred_at: str  # SES's timestamp of the feedback (ISO-8601), "" when it gave none

    @property
    def state(self) -> str:
        """The notice's delivery state after this feedback ("" when it moves none)."""
        if self.effect == DELIVERED:
            return DELIVERED_STATE
        if self.effect == SUPPRESS:
            return COMPLAINED if self.kind == "Complaint" else BOUNCED
        return ""


class NotFeedback(ValueError):
    """The SNS message is not an SES event record this function can read."""


def parse_feedback(message: str) -> Feedback:
    """The SES event record an SNS notification carries (``Sns.Message``, a JSON string)."""
    try:
        record = _Record.model_validate(json.loads(message))
    except (ValueError, ValidationError) as error:
        raise NotFeedback(f"not an SES event record: {error}") from None
    kind = record.event_type or record.notification_type
    notice = notice_keys(record.mail.tags)
    if kind == "Bounce" and record.bounce is not None:
        bounce = record.bounce
        permanent = bounce.bounce_type == "Permanent"
        return Feedback(
            kind=kind,
            ses_message_id=record.mail.message_id,
            notice=notice,
            recipients=tuple(r.email_address for r in bounce.bounced_recipients),
            effect=SUPPRESS if permanent else IGNORE,
            reason=f"bounce:{bounce.bounce_type}/{bounce.bounce_sub_type}".rstrip("/"),
            occurred_at=bounce.timestamp,
        )
    if kind == "Complaint" and record.complaint is not None:
        return Feedback(
            kind=kind,
            ses_message_id=record.mail.message_id,
            notice=notice,
            recipients=tuple(r.email_address for r in record.complaint.complained_recipients),
            effect=SUPPRESS,
            reason="complaint",
            occurred_at=record.complaint.timestamp,
        )
    if kind == "Delivery" and record.delivery is not None:
        return Feedback(
            kind=kind,
            ses_message_id=record.mail.message_id,
            notice=notice,
            recipients=record.delivery.recipients,
            effect=DELIVERED,
            reason="delivery",
            occurred_at=record.delivery.timestamp,
        )
    return Feedback(
        kind=kind or "unknown",
        ses_message_id=record.mail.message_id,
        notice=notice,
        recipients=(),
        effect=IGNORE,
        reason=kind or "unknown",
        occurred_at="",
    )


def names_recipient(feedback: Feedback, address: str) -> bool:
    """Whether the feedback is about ``address`` (SES may change the case of an address; the mailbox is the same)."""
    wanted = address.strip().casefold()
    return any(recipient.strip().casefold() == wanted for recipient in feedback.recipients)


def is_suppressed(suppression: Any, address: str) -> bool:
    """Whether an account's suppression record (``email_suppression``) stops email to ``address``."""
    if not isinstance(suppression, dict) or not address:
        return False
    return str(suppression.get("address", "")).strip().casefold() == address.strip().casefold()
