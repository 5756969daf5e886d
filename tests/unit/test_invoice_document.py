"""The invoice document (spec §3.8, render/invoice_html.py) and its public link's token (domain/document_links.py):
everything a VAT invoice must show, escaped, self-contained; only a genuine document token opens it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st
from overage.domain import document_links, feedback
from overage.domain.invoice import Buyer, Invoice, Seller, build_invoice
from overage.domain.money import Evidence, InvoiceLine
from overage.render.invoice_html import document

SELLER = Seller(legal_name="Overage Example Ltd", address=("1 Example Street", "London EC1A 1AA"), vat_number="GB999")
BUYER = Buyer(
    account_id="acc_42",
    name="Serenity <Association> & Co",
    address=("1 Quiet Lane", "Leeds LS1 1AA"),
    vat_number="GB123456789",
    email="billing@serenity.example",
)
OVERRUN = InvoiceLine.of("contact_overrun", "Contact overrun: t150 above t50", 1, Decimal("10.00")).model_copy(
    update={
        "evidence": Evidence.of_version(
            "contacts.counted", "2026-02-09T18:00:00.000000Z#evt_9", active=130, archived=12
        )
    }
)


def gbp_invoice(**fields: object) -> Invoice:
    invoice = build_invoice(
        account_id="acc_42",
        kind="renewal",
        period_key="2026-02-10",
        currency="GBP",
        period_start=date(2026, 2, 10),
        period_end=date(2026, 3, 10),
        lines=[InvoiceLine.of("subscription", "standard package, tier t50 (month)", 1, Decimal("24.00")), OVERRUN],
        vat_rate_value="0.20",
        issued_at=datetime(2026, 2, 10, tzinfo=UTC),
        due_on=date(2026, 2, 24),
        number="GBP2026S0042-7",
        buyer=BUYER,
    )
    return invoice.model_copy(update=fields)


def text_of(page: str) -> str:
    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self.tags: set[str] = set()
            self.remote: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.add(tag)
            self.remote += [f"{tag} {k}" for k, v in attrs if k in ("src", "href", "srcset") and v]

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(page)
    assert not {"script", "link", "img", "iframe", "object", "embed", "form"} & parser.tags
    assert parser.remote == []
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def test_a_vat_invoice_shows_what_the_law_asks_for() -> None:
    # 24.00 + 10.00 = 34.00 net, VAT 20 % = 6.80, gross 40.80; nothing paid yet
    page = document(gbp_invoice(), SELLER)
    text = text_of(page)
    for expected in [
        "VAT invoice",
        "GBP2026S0042-7",
        "Issue date (tax point) 2026-02-10",
        "Overage Example Ltd",
        "1 Example Street",
        "London EC1A 1AA",
        "VAT number: GB999",
        "Serenity <Association> & Co",  # the text as written, escaped in the HTML
        "1 Quiet Lane",
        "VAT number: GB123456789",
        "standard package, tier t50 (month)",
        "Contact overrun: t150 above t50",
        "priced from contacts.counted evt_9 of 2026-02-09T18:00:00Z: 130 active, 12 archived contacts",
        "Net (ex VAT) 34.00 GBP",
        "VAT at 20 % 6.80 GBP",
        "Total (gross) 40.80 GBP",
        "Paid 0.00 GBP",
        "Credit applied 0.00 GBP",
        "Amount due 40.80 GBP",
        "Due date 2026-02-24",
        "Pay 40.80 GBP by 2026-02-24",
        "quoting GBP2026S0042-7",
    ]:
        assert expected in text, expected
    assert "Serenity &lt;Association&gt; &amp; Co" in page
    assert "@page{size:A4" in page and 'name="viewport"' in page


def test_what_was_paid_and_credited_comes_off_the_amount_due() -> None:
    # 40.80 gross, 10.00 paid, 15.80 credit applied: 15.00 due
    part = gbp_invoice(status="partially_paid", amount_paid=Decimal("10.00"), credit_applied=Decimal("15.80"))
    text = text_of(document(part.model_copy(update={"amount_due": Decimal("15.00")}), SELLER))
    assert "Paid 10.00 GBP" in text and "Credit applied 15.80 GBP" in text and "Amount due 15.00 GBP" in text
    assert "Pay 15.00 GBP by 2026-02-24" in text
    paid = gbp_invoice(status="paid", amount_paid=Decimal("40.80"), amount_due=Decimal("0.00"))
    text = text_of(document(paid, SELLER))
    assert "Paid 40.80 GBP" in text and "Amount due 0.00 GBP" in text and "Nothing is due" in text


def test_a_void_invoice_keeps_its_number_and_asks_for_nothing() -> None:
    text = text_of(document(gbp_invoice(status="void", amount_due=Decimal("0.00")), SELLER))
    assert "VOID" in text and "GBP2026S0042-7" in text and "Amount due 0.00 GBP" in text


def test_a_credit_note_names_what_it_credits() -> None:
    credit = InvoiceLine.of("plan_change_credit", "Unused 12 days of the annual period", 1, Decimal("-20.00"))
    note = gbp_invoice(kind="credit_note", lines=(credit,), net=Decimal("-20.00"), vat=Decimal("-4.00"))
    note = note.model_copy(update={"gross": Decimal("-24.00"), "notes": ("Plan change evt_down.",)})
    text = text_of(document(note, SELLER))
    assert "Credit note GBP2026S0042-7" in text
    assert "This credit note credits: Plan change evt_down." in text
    assert "24.00 GBP is credited to account acc_42" in text
    assert "Amount due" not in text


def test_an_invoice_without_buyer_details_names_the_account() -> None:
    bare = gbp_invoice(buyer=None, vat=Decimal("0.00"), vat_rate="0")
    text = text_of(document(bare, SELLER))
    assert "Buyer acc_42" in text and "No VAT number given" in text


# ---------------------------------------------------------------- the public link's token
def test_only_a_genuine_document_token_opens_the_document() -> None:
    token = document_links.sign("key", "acc_42", "inv_acc_42_renewal_2026-02-10")
    found = document_links.verify("key", token)
    assert found == document_links.DocumentToken("acc_42", "inv_acc_42_renewal_2026-02-10")
    assert document_links.verify("another key", token) is None
    assert document_links.verify("key", token[:-2]) is None
    assert document_links.verify("key", token + "=") is None
    # a feedback token, made with the same key, is no document token, and the reverse
    assert document_links.verify("key", feedback.sign("key", "acc_42", "ntc_x", feedback.CLEAR)) is None
    assert feedback.verify("key", token) is None
    link = document_links.link("https://api.example/v1/", "key", "acc_42", "inv_1")
    assert link.startswith("https://api.example/v1/invoices/") and "//invoices" not in link


@given(st.text(min_size=1, max_size=64).filter(lambda s: "\n" not in s), st.integers(0, 10_000), st.integers(1, 127))
def test_an_altered_token_is_refused(account_id: str, at: int, shift: int) -> None:
    token = document_links.sign("key", account_id, "inv_1")
    position = at % len(token)
    altered = token[:position] + chr((ord(token[position]) + shift) % 128) + token[position + 1 :]
    assert document_links.verify("key", altered) is None
    assert document_links.verify("key", token) == document_links.DocumentToken(account_id, "inv_1")


def test_a_notice_email_has_the_seller_and_its_figures_in_plain_text_too() -> None:
    from overage.domain.notice import render

    notice = render(
        kind="invoice.issued",
        account_id="acc_42",
        cause="inv_1",
        to="billing@serenity.example",
        subject="Your invoice GBP2026S0042-7: 40.80 GBP",
        paragraphs=["Invoice GBP2026S0042-7 has been issued."],
        breakdown=[("Net", "34.00 GBP"), ("VAT (20 %)", "6.80 GBP"), ("Total", "40.80 GBP")],
        actions=["Pay by 2026-02-24."],
        detail={"invoice_id": "inv_1"},
        created_at="2026-02-10T00:00:00+00:00",
    )
    links = feedback.FeedbackLinks("https://x/feedback/a", "https://x/feedback/b", "https://x/invoices/t")
    text = notice.email_text(links, SELLER)
    assert text.startswith("Overage Example Ltd (VAT number GB999)\n\nInvoice GBP2026S0042-7 has been issued.")
    assert "  Total       40.80 GBP" in text and "View or print the invoice: https://x/invoices/t" in text
    html = notice.email_html(links, SELLER)
    assert html.index("Overage Example Ltd") < html.index("<h1")
    assert 'white-space:nowrap;font-variant-numeric:tabular-nums">40.80 GBP</td>' in html
    assert 'href="https://x/invoices/t"' in html
    long = notice.model_copy(update={"breakdown": (("Notice", "ntc_" + "x" * 80),)})
    assert "nowrap" not in long.email_html()  # a long reference may wrap; figures never do
