"""A notice: one message to an account, rendered from its parts, sent by email (SES) and as a bus event for the CRM.

A notice keeps the parts it is rendered from (paragraphs, the breakdown rows, the actions), not the rendered email:
``text`` and ``html`` are computed from them, so what is stored stays small and the email is the same every time
it is rendered (on sending, on redelivery, when the API lists it).
"""

from __future__ import annotations

from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict

from overage.domain.feedback import FeedbackLinks

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

    def email_text(self, feedback: FeedbackLinks | None = None) -> str:
        """The plain-text email: what happened, the figures, what to do next, and the feedback links if given."""
        width = max((len(label) for label, _ in self.breakdown), default=0)
        text_parts = [*self.paragraphs]
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

    def email_html(self, feedback: FeedbackLinks | None = None) -> str:
        """The HTML email, from the same parts as ``email_text``."""
        rows = "".join(
            f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{escape(label)}</th>'
            f'<td style="text-align:right">{escape(value)}</td></tr>'
            for label, value in self.breakdown
        )
        html_parts = [f'<h1 style="font-size:18px">{escape(self.subject)}</h1>']
        html_parts += [f"<p>{escape(p)}</p>" for p in self.paragraphs]
        if rows:
            html_parts.append(f"<table>{rows}</table>")
        if self.actions:
            html_parts.append(
                "<p>What you can do:</p><ul>" + "".join(f"<li>{escape(a)}</li>" for a in self.actions) + "</ul>"
            )
        if feedback is not None and feedback.document_url:
            html_parts.append(f'<p><a href="{escape(feedback.document_url)}">{escape(DOCUMENT_LABEL)}</a></p>')
        html_parts.append(f'<p style="color:#666">Reference: {escape(self.account_id)} / {escape(self.cause)}</p>')
        if feedback is not None:
            html_parts.append(_feedback_footer(feedback))
        return '<!doctype html><html><body style="font-family:sans-serif">' + "".join(html_parts) + "</body></html>"


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
