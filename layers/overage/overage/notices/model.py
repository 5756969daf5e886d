"""A notice: one message to an account, rendered once, sent by email (SES) and as a bus event for the CRM."""

from __future__ import annotations

from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict


class Notice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    notice_id: str  # derived from its cause, so the same cause can never make a second notice
    account_id: str
    kind: str  # e.g. invoice.issued, profiles.exceeded; also the EventBridge detail-type
    to: str
    subject: str
    text: str
    html: str
    detail: dict[str, Any]  # the bus event's detail: ids and figures, no personal data
    created_at: str  # business time (ISO-8601 UTC) of the cause


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
    """Plain text and HTML from the same parts: what happened, the figures, what to do next."""
    width = max((len(label) for label, _ in breakdown), default=0)
    text_parts = [*paragraphs]
    if breakdown:
        text_parts.append("\n".join(f"  {label.ljust(width)}  {value}" for label, value in breakdown))
    if actions:
        text_parts.append("What you can do:\n" + "\n".join(f"  - {action}" for action in actions))
    text_parts.append(f"Reference: {account_id} / {cause}")
    text = "\n\n".join(text_parts) + "\n"

    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{escape(label)}</th>'
        f'<td style="text-align:right">{escape(value)}</td></tr>'
        for label, value in breakdown
    )
    html_parts = [f'<h1 style="font-size:18px">{escape(subject)}</h1>']
    html_parts += [f"<p>{escape(p)}</p>" for p in paragraphs]
    if rows:
        html_parts.append(f"<table>{rows}</table>")
    if actions:
        html_parts.append("<p>What you can do:</p><ul>" + "".join(f"<li>{escape(a)}</li>" for a in actions) + "</ul>")
    html_parts.append(f'<p style="color:#666">Reference: {escape(account_id)} / {escape(cause)}</p>')
    html = '<!doctype html><html><body style="font-family:sans-serif">' + "".join(html_parts) + "</body></html>"
    return Notice(
        notice_id=notice_id(kind, account_id, cause),
        account_id=account_id,
        kind=kind,
        to=to,
        subject=subject,
        text=text,
        html=html,
        detail=detail,
        created_at=created_at,
    )
