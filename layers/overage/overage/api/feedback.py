"""``GET /feedback/{token}`` (spec §3.9): the public route of a notice email's feedback links. The token is the only
credential: a forged, truncated, altered or unknown-notice token answers 404 and records nothing (before any read
when its MAC is wrong). The answer is a small HTML page (``render/feedback_page.py``), never cached, never indexed,
and sends no referrer (the URL is the credential). Imports of the service are made per request: the webhook's cold
start does not pay for them."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from overage.runtime.config.webhook import WebhookSettings

router = Router()

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}


def html_response(status: int, page: str) -> Response:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=page, headers=dict(HEADERS))


@router.get(
    "/feedback/<token>",
    summary="Answer a notice email's feedback link (public: the signed token is the credential)",
    tags=["feedback"],
)
def get_feedback(token: str):
    from overage import wiring
    from overage.domain import feedback
    from overage.render import feedback_page
    from overage.runtime.feedback_links import feedback_secret
    from overage.services.notice_feedback import ALREADY_RECORDED, RECORDED

    settings = WebhookSettings.current()
    found = feedback.verify(feedback_secret(settings.feedback_secret_parameter), token)
    if found is None:
        return html_response(404, feedback_page.not_found())
    answered = wiring.notice_feedback(settings).answer(found)
    if answered.outcome == RECORDED:
        return html_response(200, feedback_page.recorded(answered.answer))
    if answered.outcome == ALREADY_RECORDED:
        return html_response(200, feedback_page.already_recorded(answered.answer))
    return html_response(404, feedback_page.not_found())


@router.get(
    "/invoices/<token>",
    summary="An invoice's printable document, linked from its email (public: the signed token is the credential)",
    tags=["invoices"],
)
def get_public_invoice(token: str):
    from overage.domain import document_links
    from overage.errors import NotFound
    from overage.render import feedback_page
    from overage.render.invoice_html import document
    from overage.runtime.feedback_links import feedback_secret
    from overage.services import accounts as readers
    from overage.services import deps as stores

    settings = WebhookSettings.current()
    found = document_links.verify(feedback_secret(settings.feedback_secret_parameter), token)
    if found is None:
        return html_response(404, feedback_page.not_found())
    ledger = stores.ledger_store(settings)
    try:
        invoice = readers.invoice_document(ledger, found.account_id, found.invoice_id)
    except NotFound:
        return html_response(404, feedback_page.not_found())
    return html_response(200, document(invoice, settings.seller))
