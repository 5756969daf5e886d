"""The page ``GET /feedback/{token}`` answers (spec §3.9): small, self-contained HTML (no script, no external asset,
inline style only), readable on a 375 px phone."""

from __future__ import annotations

from html import escape

from overage.domain.feedback import CLEAR, HELP
from overage.domain.notice import CLEAR_LABEL, HELP_LABEL

LABELS = {CLEAR: CLEAR_LABEL, HELP: HELP_LABEL}
STYLE = (
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;"
    "background:#f4f5f7}"
    "main{box-sizing:border-box;max-width:32rem;margin:2rem auto;padding:1.5rem;background:#fff;"
    "border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.3rem;margin:0 0 .75rem}p{margin:.5rem 0}.muted{color:#5f6368;font-size:.9rem}"
    "@media (max-width:420px){main{margin:0;border-radius:0;min-height:100vh}}"
)


def _page(title: str, paragraphs: list[str]) -> str:
    body = "".join(paragraphs)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def recorded(answer: str) -> str:
    """The first answer to this notice was just recorded."""
    if answer == HELP:
        return _page(
            "Thank you, we will help",
            [
                "<p>Your request is recorded: our support team has been told and will contact you about this notice."
                "</p>",
                '<p class="muted">You can close this page.</p>',
            ],
        )
    return _page(
        "Thank you for your answer",
        [
            f"<p>Your answer &ldquo;{escape(LABELS[answer])}&rdquo; is recorded. It helps us write clear notices.</p>",
            '<p class="muted">You can close this page.</p>',
        ],
    )


def already_recorded(answer: str) -> str:
    """A later click: the first answer stands, nothing changed."""
    label = LABELS.get(answer, answer)
    return _page(
        "Your answer was already recorded",
        [
            f"<p>We already have your answer to this notice: &ldquo;{escape(label)}&rdquo;. Nothing has changed.</p>",
            '<p class="muted">If you still need help, reply to the notice email or contact support.</p>',
        ],
    )


def not_found() -> str:
    """A forged, altered or truncated link, or one for a notice that does not exist."""
    return _page(
        "This link is not valid",
        [
            "<p>We could not find the notice this link belongs to. Please use the link exactly as it is in the "
            "email.</p>",
        ],
    )
