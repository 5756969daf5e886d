"""A notice: one message to an account, rendered from its parts, sent by email (SES) and as a bus event for the CRM.

A notice keeps the parts it is rendered from (paragraphs, the breakdown rows, the actions), not the rendered email:
``text`` and ``html`` are computed from them, so what is stored stays small and the email is the same every time
it is rendered (on sending, on redelivery, when the API lists it).
"""

from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict

from overage.domain.feedback import FeedbackLinks
from overage.domain.invoice import Seller

FEEDBACK_QUESTION = "Was this notice clear?"
DOCUMENT_LABEL = "View or print the invoice"
CLEAR_LABEL = "This was clear"
HELP_LABEL = "I need help"


class Notice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str
    kind: str  # e.g. invoice.issued, profiles.exceeded; also the EventBridge detail-type
    cause: str  # what it is about (an invoice id, an episode step...): one notice per kind and cause
    to: str
    subject: str
    paragraphs: tuple[str, ...]  # what happened
    breakdown: tuple[tuple[str, str], ...]  # the figures: (label, value) rows
    actions: tuple[str, ...]  # what to do next
    detail: dict[str, Any]  # the bus event's detail: ids and figures, no personal data
    created_at: str  # business time (ISO-8601 UTC) of the cause

    @property
    def notice_id(self) -> str:
        """Derived from its cause, so the same cause can never make a second notice."""
        return notice_id(self.kind, self.account_id, self.cause)

    @property
    def text(self) -> str:
        """The plain-text email without feedback links (``email_text`` adds them)."""
        return self.email_text()

    @property
    def html(self) -> str:
        """The HTML email without feedback links (``email_html`` adds them)."""
        return self.email_html()

    def email_text(self, feedback: FeedbackLinks | None = None, seller: Seller | None = None) -> str:
        """The plain-text email: who it is from, what happened, the figures, what to do next, the invoice's document
        and the feedback links if given."""
        width = max((len(label) for label, _ in self.breakdown), default=0)
        text_parts = [f"{seller.legal_name} (VAT number {seller.vat_number})"] if seller else []
        text_parts += [*self.paragraphs]
        if self.breakdown:
            text_parts.append("\n".join(f"  {label.ljust(width)}  {value}" for label, value in self.breakdown))
        if self.actions:
            text_parts.append("What you can do:\n" + "\n".join(f"  - {action}" for action in self.actions))
        if feedback is not None and feedback.document_url:
            text_parts.append(f"{DOCUMENT_LABEL}: {feedback.document_url}")
        text_parts.append(f"Reference: {self.account_id} / {self.cause}")
        if feedback is not None:
            text_parts.append(
                f"{FEEDBACK_QUESTION}\n  {CLEAR_LABEL}: {feedback.clear_url}\n  {HELP_LABEL}: {feedback.help_url}"
            )
        return "\n\n".join(text_parts) + "\n"

    def email_html(self, feedback: FeedbackLinks | None = None, seller: Seller | None = None) -> str:
        """The HTML email, from the same parts as ``email_text``, in the invoice document's hand: a header with the
        seller, the figures in a table whose amounts never wrap, the actions, the document, the reference. Inline
        styles only (what email clients keep), one column that reads at 375 px."""
        parts: list[str] = []
        if seller is not None:
            parts.append(
                f'<div style="{_HEADER}"><strong>{escape(seller.legal_name)}</strong><br>'
                f'<span style="{_MUTED}">VAT number {escape(seller.vat_number)}</span></div>'
            )
        parts.append(f'<h1 style="{_H1}">{escape(self.subject)}</h1>')
        parts += [f'<p style="{_P}">{escape(p)}</p>' for p in self.paragraphs]
        if self.breakdown:
            rows = "".join(
                f'<tr><th scope="row" style="{_LABEL}">{escape(label)}</th>'
                f'<td style="{_FIGURE if len(value) <= FIGURE_CHARS else _LONG_VALUE}">{escape(value)}</td></tr>'
                for label, value in self.breakdown
            )
            parts.append(f'<table role="presentation" style="{_TABLE}">{rows}</table>')
        if self.actions:
            parts.append(f'<h2 style="{_H2}">What you can do</h2>')
            parts.append(f'<ul style="{_UL}">' + "".join(f'<li style="{_LI}">{escape(a)}</li>' for a in self.actions))
            parts.append("</ul>")
        if feedback is not None and feedback.document_url:
            parts.append(
                f'<p style="{_P}"><a style="{_BUTTON}" href="{escape(feedback.document_url)}">'
                f"{escape(DOCUMENT_LABEL)}</a></p>"
            )
        parts.append(f'<p style="{_MUTED}">Reference: {escape(self.account_id)} / {escape(self.cause)}</p>')
        if feedback is not None:
            parts.append(_feedback_footer(feedback))
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{escape(self.subject)}</title></head><body style="{_BODY}"><div style="{_CARD}">'
            + "".join(parts)
            + "</div></body></html>"
        )


# The email's inline styles (render/invoice_html.py is the same hand for the document).
FIGURE_CHARS = 24  # a value this short is a figure (an amount, a date, a count): it never wraps
_BODY = "margin:0;padding:0;background:#f4f5f7"
_CARD = (
    "max-width:600px;margin:0 auto;padding:16px;background:#ffffff;color:#1b1b1b;"
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;overflow-wrap:anywhere"
)
_HEADER = "border-bottom:2px solid #1b1b1b;padding-bottom:8px;margin-bottom:12px"
_H1 = "font-size:20px;line-height:1.3;margin:0 0 12px"
_H2 = "font-size:15px;margin:16px 0 6px"
_P = "margin:0 0 10px"
_TABLE = "width:100%;border-collapse:collapse;margin:12px 0"
_CELL = "padding:6px 0;border-bottom:1px solid #dadce0;vertical-align:top"
_LABEL = f"{_CELL};text-align:left;font-weight:normal;padding-right:12px"
_FIGURE = f"{_CELL};text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums"
_LONG_VALUE = f"{_CELL};text-align:right;overflow-wrap:anywhere"
_UL = "margin:0 0 12px;padding-left:20px"
_LI = "margin:0 0 4px"
_BUTTON = (
    "display:inline-block;padding:8px 14px;background:#1b1b1b;color:#ffffff;text-decoration:none;border-radius:4px"
)
_MUTED = "color:#5f6368;font-size:13px;margin:0 0 10px"


def _feedback_footer(feedback: FeedbackLinks) -> str:
    """The two feedback links (spec §3.9) as a footer block of their own."""
    link = 'style="display:inline-block;margin:4px 8px 4px 0;padding:6px 12px;border:1px solid #999;color:#0645ad"'
    return (
        f'<p style="margin-top:24px;border-top:1px solid #ddd;padding-top:12px">{escape(FEEDBACK_QUESTION)}<br>'
        f'<a {link} href="{escape(feedback.clear_url)}">{escape(CLEAR_LABEL)}</a>'
        f'<a {link} href="{escape(feedback.help_url)}">{escape(HELP_LABEL)}</a></p>'
    )


def notice_id(kind: str, account_id: str, cause: str) -> str:
    return f"ntc_{kind}_{account_id}_{cause}"


def render(
    *,
    kind: str,
    account_id: str,
    cause: str,
    to: str,
    subject: str,
    paragraphs: list[str],
    breakdown: list[tuple[str, str]],
    actions: list[str],
    detail: dict[str, Any],
    created_at: str,
) -> Notice:
    """A notice from its parts; its plain text and HTML are rendered from them (``Notice.text``, ``Notice.html``)."""
    return Notice(
        account_id=account_id,
        kind=kind,
        cause=cause,
        to=to,
        subject=subject,
        paragraphs=tuple(paragraphs),
        breakdown=tuple((label, value) for label, value in breakdown),
        actions=tuple(actions),
        detail=detail,
        created_at=created_at,
    )
