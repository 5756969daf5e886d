"""The settings of EmailFeedbackFunction (see ``overage.runtime.config``)."""

from overage.runtime.config import Settings


class EmailFeedbackSettings(Settings):
    """EmailFeedbackFunction (spec §3.9): what SES says of the notice emails; it reads and writes what every
    function does (the account item, the notice record, the outbox for ``account.email_undeliverable``)."""
