"""One invoice or credit note as a printable HTML page (spec §3.8): what a VAT invoice must show.

Self-contained: no script, no external asset (one inline ``<style>``), printable on A4 (``@page``) and readable on
a 375 px phone (the line table becomes one block per line). Every value is escaped. Pure: the invoice (with what was
paid and credited on it, and what is due: spec §3.7) and the seller are given.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from overage.domain.invoice import Invoice, Seller
from overage.domain.money import InvoiceLine

ZERO = Decimal("0.00")
KIND_TITLES = {
    "renewal": "Subscription renewal",
    "overrun": "Contact-tier overrun",
    "excess_profiles": "Excess profiles",
    "plan_change": "Plan change",
    "credit_note": "Credit note",
}

STYLE = (
    "@page{size:A4;margin:15mm}"
    "*{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1b1b1b;"
    "background:#f4f5f7}"
    "main{max-width:190mm;margin:1.5rem auto;padding:1.5rem;background:#fff;border-radius:6px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12);overflow-wrap:anywhere}"
    "header{display:flex;flex-wrap:wrap;justify-content:space-between;gap:1rem;border-bottom:2px solid #1b1b1b;"
    "padding-bottom:.75rem;margin-bottom:1rem}"
    "h1{font-size:1.5rem;margin:0}h2{font-size:1rem;margin:0 0 .25rem;text-transform:uppercase;letter-spacing:.04em;"
    "color:#5f6368}"
    ".parties{display:flex;flex-wrap:wrap;gap:1rem 2rem;margin-bottom:1rem}.parties section{flex:1 1 14rem}"
    "p{margin:.15rem 0}dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem 1rem;margin:0}"
    "dt{color:#5f6368}dd{margin:0}"
    "table{width:100%;border-collapse:collapse;margin:1rem 0}"
    "th,td{padding:.4rem .5rem;border-bottom:1px solid #dadce0;vertical-align:top;text-align:left}"
    "th{font-size:.85rem;color:#5f6368;font-weight:600}"
    ".num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
    ".evidence{display:block;color:#5f6368;font-size:.85rem}"
    ".totals{margin-left:auto;width:auto;min-width:55%}.totals th{text-align:left;font-size:.95rem;color:#1b1b1b}"
    ".totals tr.due th,.totals tr.due td{font-weight:700;border-top:2px solid #1b1b1b}"
    ".void{color:#b3261e;font-weight:700}.muted{color:#5f6368;font-size:.9rem}"
    "@media (max-width:600px){main{margin:0;border-radius:0;padding:1rem}"
    "table.lines thead{display:none}table.lines tr{display:block;border-bottom:1px solid #dadce0;padding:.4rem 0}"
    "table.lines td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.1rem 0}"
    "table.lines td.desc{display:block}"
    "table.lines td[data-label]::before{content:attr(data-label);color:#5f6368}"
    ".totals{width:100%}}"
    "@media print{body{background:#fff}main{margin:0;padding:0;box-shadow:none;max-width:none}}"
)


def _money(amount: Decimal, currency: str) -> str:
    return f'<span class="num">{escape(f"{amount:,.2f}")} {escape(currency)}</span>'


def _lines(address: tuple[str, ...]) -> str:
    return "".join(f"<p>{escape(line)}</p>" for line in address)


def _party(title: str, name: str, address: tuple[str, ...], vat_number: str | None, extra: str = "") -> str:
    vat = f"<p>VAT number: {escape(vat_number)}</p>" if vat_number else '<p class="muted">No VAT number given</p>'
    head = f"<h2>{escape(title)}</h2><p><strong>{escape(name)}</strong></p>"
    return f"<section>{head}{_lines(address)}{vat}{extra}</section>"


def _line_row(line: InvoiceLine, currency: str) -> str:
    evidence = f'<span class="evidence">{escape(line.evidence.describe())}</span>' if line.evidence else ""
    return (
        f'<tr><td class="desc">{escape(line.description)}{evidence}</td>'
        f'<td class="num" data-label="Quantity">{escape(str(line.quantity))}</td>'
        f'<td class="num" data-label="Unit price ex VAT">{_money(line.unit_price, currency)}</td>'
        f'<td class="num" data-label="Amount ex VAT">{_money(line.amount, currency)}</td></tr>'
    )


def _vat_percent(rate: str) -> str:
    percent = (Decimal(rate) * 100).normalize()
    return f"{percent:f} %"


def document(invoice: Invoice, seller: Seller) -> str:
    """The page: header (seller, title, number), the parties, the dates, the lines, the totals and how to pay."""
    cur = invoice.currency
    credit_note = invoice.kind == "credit_note"
    title = "Credit note" if credit_note else "VAT invoice" if invoice.vat > 0 else "Invoice"
    number = invoice.number or invoice.invoice_id
    buyer = invoice.buyer
    buyer_html = (
        _party("Buyer", buyer.name, buyer.address, buyer.vat_number, f"<p>Account {escape(buyer.account_id)}</p>")
        if buyer
        else _party("Buyer", invoice.account_id, (), None)
    )
    void = (
        '<p class="void">VOID: this invoice was cancelled; it keeps its number.</p>' if invoice.status == "void" else ""
    )
    dates = (
        "<dl>"
        f"<dt>Number</dt><dd><strong>{escape(number)}</strong></dd>"
        f"<dt>Issue date (tax point)</dt><dd>{escape(invoice.issued_at.date().isoformat())}</dd>"
        f"<dt>Period</dt><dd>{escape(invoice.period_start.isoformat())} to "
        f"{escape(invoice.period_end.isoformat())} (end exclusive)</dd>"
        f"<dt>For</dt><dd>{escape(KIND_TITLES.get(invoice.kind, invoice.kind))}</dd>"
        + ("" if credit_note else f"<dt>Due date</dt><dd>{escape(invoice.due_on.isoformat())}</dd>")
        + f"<dt>Status</dt><dd>{escape(invoice.status)}</dd>"
        "</dl>"
    )
    credits = ""
    if credit_note:
        what = " ".join(invoice.notes) or "the plan change it was issued for"
        credits = f"<p><strong>This credit note credits:</strong> {escape(what)}</p>"
    lines = "".join(_line_row(line, cur) for line in invoice.lines)
    due = invoice.amount_due
    rows = [
        ("Net (ex VAT)", _money(invoice.net, cur), ""),
        (f"VAT at {_vat_percent(invoice.vat_rate)}", _money(invoice.vat, cur), ""),
        ("Total (gross)", _money(invoice.gross, cur), ""),
    ]
    if not credit_note:
        rows += [
            ("Paid", _money(invoice.amount_paid, cur), ""),
            ("Credit applied", _money(invoice.credit_applied, cur), ""),
            ("Amount due", _money(due, cur), "due"),
        ]
    totals = "".join(
        f'<tr class="{css}"><th scope="row">{escape(label)}</th><td class="num">{value}</td></tr>'
        for label, value, css in rows
    )
    if credit_note:
        pay = (
            f"<p>{_money(-invoice.gross, cur)} is credited to account {escape(invoice.account_id)}; it is set "
            "against its next invoices. Nothing is to be paid.</p>"
        )
    elif due == 0:
        pay = "<p>Nothing is due on this invoice.</p>"
    else:
        pay = (
            f"<p>Pay {_money(due, cur)} by {escape(invoice.due_on.isoformat())} by bank transfer or the payment method "
            f"agreed in your contract, quoting <strong>{escape(number)}</strong> as the reference. Questions: reply "
            "to the email this invoice came with.</p>"
        )
    notes = "".join(f'<p class="muted">{escape(note)}</p>' for note in invoice.notes if not credit_note)
    seller_html = _party("Seller", seller.legal_name, seller.address, seller.vat_number)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)} {escape(number)}</title><style>{STYLE}</style></head><body><main>"
        f"<header><div><h1>{escape(title)}</h1><p>{escape(number)}</p></div>"
        f"<div><p><strong>{escape(seller.legal_name)}</strong></p>"
        f"<p>VAT number {escape(seller.vat_number)}</p></div></header>"
        f"{void}"
        f'<div class="parties">{seller_html}{buyer_html}<section><h2>Details</h2>{dates}</section></div>'
        f"{credits}"
        '<table class="lines"><thead><tr><th>Description</th><th class="num">Quantity</th>'
        '<th class="num">Unit price ex VAT</th><th class="num">Amount ex VAT</th></tr></thead>'
        f"<tbody>{lines}</tbody></table>"
        f'<table class="totals"><tbody>{totals}</tbody></table>'
        f"<section><h2>How to pay</h2>{pay}</section>"
        f"{notes}"
        f'<p class="muted">Invoice id {escape(invoice.invoice_id)}</p>'
        "</main></body></html>"
    )
