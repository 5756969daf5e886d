"""The feedback links of a notice email, signed where the key is known (spec §3.9): the key (an SSM SecureString
named by ``FEEDBACK_SECRET_PARAMETER``) and the API's public URL (the SSM parameter ``FEEDBACK_BASE_URL_PARAMETER``)
are read through Powertools Parameters on first use and kept for five minutes, like the webhook secret. The outbox
calls it for each email it sends; the notice renders the links it is given (``domain.notice``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from overage.domain import document_links, feedback
from overage.domain.feedback import FeedbackLinks
from overage.domain.notice import Notice

PARAMETER_MAX_AGE_SECONDS = 300


def feedback_secret(parameter: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(parameter, decrypt=True, max_age=PARAMETER_MAX_AGE_SECONDS))


def feedback_base_url(parameter: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(parameter, max_age=PARAMETER_MAX_AGE_SECONDS))


@dataclass(frozen=True)
class SignedLinks:
    secret_parameter: str
    base_url_parameter: str

    def __call__(self, notice: Notice) -> FeedbackLinks:
        base_url, secret = feedback_base_url(self.base_url_parameter), feedback_secret(self.secret_parameter)
        links = feedback.links(base_url, secret, notice.account_id, notice.notice_id)
        invoice_id = invoice_of(notice)
        if invoice_id is None:
            return links
        return replace(links, document_url=document_links.link(base_url, secret, notice.account_id, invoice_id))


def invoice_of(notice: Notice) -> str | None:
    """The invoice or credit note a notice is about (its detail names it), whose document its email links to."""
    detail = notice.detail or {}
    document = detail.get("document")
    if isinstance(document, dict) and isinstance(document.get("invoice_id"), str):
        return str(document["invoice_id"])
    invoice_id = detail.get("invoice_id")
    return invoice_id if isinstance(invoice_id, str) and invoice_id else None
