"""An invoice's document through the real surface (spec §3.8): the renewal run issues a GBP invoice to a buyer with a
VAT number; ``GET /accounts/{id}/invoices/{invoice_id}`` answers it as JSON, ``.../document`` as a printable page,
and the email links to the same page at the public ``GET /invoices/{token}`` (no AWS identity needed). Then the page
in headless Chromium: nothing overflows at 375 px or on A4, and the printed PDF has the number, totals and VAT.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it when it can); without it the browser tests are
skipped.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from html import escape, unescape
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium
from tests.browser import needs_chromium as browser_needed
from tests.builders import contacts_body, upsert_body
from tests.support import World, moto_world, rest_event, series_of

ACCOUNT = "acc_doc"
BASE = "https://crmapi0000.execute-api.eu-west-1.amazonaws.com/v1"  # the local API's URL (PublicApiUrl empty)
INVOICE_ID = f"inv_{ACCOUNT}_renewal_2026-02-10"
needs_chromium = browser_needed("the invoice document's browser tests are")


@pytest.fixture(scope="module")
def issued() -> Iterator[tuple[World, str]]:
    """A GBP account with 130 active contacts on t50: the subscription 20.00 and the t150 supplement 28.00 − 20.00 =
    8.00, so 28.00 net, VAT 20 % 5.60, 33.60 gross, issued on 10 Feb 2026; the number its first in its series."""
    with moto_world({"LogLevel": "ERROR"}) as world:
        world.accepted(
            upsert_body(
                ACCOUNT,
                billing_cycle="monthly",
                currency="GBP",
                billing_name="Serenity Association Ltd",
                billing_address=["1 Quiet Lane", "Leeds LS1 1AA", "United Kingdom"],
                vat_number="GB123456789",
            )
        )
        world.accepted(contacts_body(ACCOUNT, "2026-02-01T00:00:00Z", 130, archived=4))
        world.renewal("2026-02-10T00:15:00Z")
        yield world, f"{series_of(ACCOUNT, 'GBP', 2026)}-1"


def get(world: World, path: str) -> tuple[int, str, dict[str, str]]:
    result = world.invoke("CrmWebhookFunction", rest_event("GET", path, headers={"Content-Type": "text/html"}))
    headers = {name: values[-1] for name, values in result["multiValueHeaders"].items()}
    return result["statusCode"], result["body"], headers


def test_the_invoice_is_read_as_json_with_what_is_due(issued: tuple[World, str]) -> None:
    world, number = issued
    status, body = world.get(f"/accounts/{ACCOUNT}/invoices/{INVOICE_ID}")
    assert status == 200
    assert (body["number"], body["net"], body["vat"], body["gross"]) == (number, "28.00", "5.60", "33.60")
    assert (body["amount_paid"], body["credit_applied"], body["amount_due"]) == ("0.00", "0.00", "33.60")
    assert body["buyer"]["vat_number"] == "GB123456789"
    assert world.get(f"/accounts/{ACCOUNT}/invoices/inv_nothing")[0] == 404
    assert world.get(f"/accounts/nobody/invoices/{INVOICE_ID}")[0] == 404


def test_the_document_and_the_emailed_link_show_the_same_page(issued: tuple[World, str]) -> None:
    world, number = issued
    status, page, headers = get(world, f"/accounts/{ACCOUNT}/invoices/{INVOICE_ID}/document")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    body = page.split("</style>", 1)[1]
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))
    for expected in (number, "Serenity Association Ltd", "GB123456789", "Overage Example Ltd", "Amount due 33.60 GBP"):
        assert expected in text
    assert "<script" not in page
    # the email carries a link to the public copy, never to the IAM-authorised route
    message = next(m for m in world.emails() if number in m.subject)
    (link,) = re.findall(r'href="([^"]+/invoices/[^"]+)"', message.body)
    assert unescape(link).startswith(BASE + "/invoices/") and "/accounts/" not in link
    status, public, _ = get(world, unescape(link).removeprefix(BASE))
    assert (status, public) == (200, page)
    # a token altered by one character opens nothing
    forged = unescape(link).removeprefix(BASE)
    forged = forged[:-1] + ("A" if forged[-1] != "A" else "B")
    assert get(world, forged)[0] == 404


# ---------------------------------------------------------------- in a real browser
MEASURE = """<script>
const viewport = window.innerWidth;
const wide = [...document.querySelectorAll("body *")].filter((el) => {
  const box = el.getBoundingClientRect();
  return box.width > 0 && (box.right > viewport + 0.5 || box.left < -0.5);
}).map((el) => el.tagName + "." + el.className + ": " + el.textContent.slice(0, 40));
const lines = (el) => { const range = document.createRange(); range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size; };
const amounts = [...document.querySelectorAll("span.num, td[style*=nowrap]")].filter((el) => lines(el) > 1).length;
const figures = document.querySelectorAll("span.num, td[style*=nowrap]").length;
const result = document.createElement("pre");
result.id = "layout";
result.textContent = JSON.stringify({viewport, pageWidth: document.documentElement.scrollWidth, wide, amounts,
  figures});
(window.parent === window ? document : window.parent.document).body.appendChild(result);
</script>"""


def layout(dom: str) -> dict[str, Any]:
    import json

    return dict(json.loads(unescape(dom.split('<pre id="layout">', 1)[1].split("</pre>", 1)[0])))


def the_page(world: World) -> str:
    status, page, _ = get(world, f"/accounts/{ACCOUNT}/invoices/{INVOICE_ID}/document")
    assert status == 200
    return page


@needs_chromium
@pytest.mark.parametrize("width", [375, 794])  # a phone, and A4's width at 96 dpi (210 mm)
def test_nothing_overflows_on_a_phone_or_an_a4_page(issued: tuple[World, str], tmp_path: Path, width: int) -> None:
    world, _ = issued
    measured = the_page(world).replace("</body>", MEASURE + "</body>", 1)
    # Headless Chromium's window is at least 500 px wide: a phone's 375 px viewport is a frame of that width.
    host = f'<!doctype html><body style="margin:0"><iframe style="width:{width}px;height:2000px;border:0" srcdoc="'
    (tmp_path / "measured.html").write_text(host + escape(measured, quote=True) + '"></iframe></body>', "utf-8")
    boxes = layout(chromium(tmp_path / "measured.html", tmp_path / "profile", "--dump-dom", width=1280))
    assert boxes["viewport"] == width
    assert boxes["pageWidth"] <= width, boxes
    assert boxes["wide"] == []
    assert boxes["figures"] > 10 and boxes["amounts"] == 0  # no amount wraps onto a second line


@needs_chromium
def test_the_invoice_email_reads_at_375_px_its_amounts_on_one_line(issued: tuple[World, str], tmp_path: Path) -> None:
    world, number = issued
    email = next(m for m in world.emails() if number in m.subject).body
    assert "Overage Example Ltd" in email.split("<h1", 1)[0]  # the header names the seller
    measured = email.replace("</body>", MEASURE + "</body>", 1)
    host = '<!doctype html><body style="margin:0"><iframe style="width:375px;height:2000px;border:0" srcdoc="'
    (tmp_path / "measured.html").write_text(host + escape(measured, quote=True) + '"></iframe></body>', "utf-8")
    boxes = layout(chromium(tmp_path / "measured.html", tmp_path / "profile", "--dump-dom", width=1280))
    assert (boxes["viewport"], boxes["wide"]) == (375, [])
    assert boxes["pageWidth"] <= 375
    assert boxes["figures"] == 6 and boxes["amounts"] == 0  # two lines, net, VAT, total, due date


@needs_chromium
def test_the_printed_pdf_has_the_number_totals_and_vat(issued: tuple[World, str], tmp_path: Path) -> None:
    from pypdf import PdfReader

    world, number = issued
    (tmp_path / "invoice.html").write_text(the_page(world), "utf-8")
    chromium(tmp_path / "invoice.html", tmp_path / "profile", f"--print-to-pdf={tmp_path / 'invoice.pdf'}")
    reader = PdfReader(io.BytesIO((tmp_path / "invoice.pdf").read_bytes()))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)  # A4, in mm
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    for expected in (
        number,
        "Issue date (tax point)",
        "2026-02-10",
        "Net (ex VAT)",
        "28.00 GBP",
        "VAT at 20 %",
        "5.60 GBP",
        "Total (gross)",
        "33.60 GBP",
        "Amount due",
        "GB123456789",
    ):
        assert expected in text, (expected, text[:2000])


def test_the_demo_writes_the_document_of_its_gbp_buyers_last_invoice(issued: tuple[World, str], tmp_path: Path) -> None:
    from overage_local import demo

    world, number = issued

    class Demo:  # what the demo's world answers, from this world's webhook function
        def get(self, path: str) -> tuple[int, Any]:
            return world.get(path.replace(demo.DOCUMENT_ACCOUNT, ACCOUNT))

        def page(self, path: str) -> tuple[int, str]:
            status, body, _ = get(world, path.replace(demo.DOCUMENT_ACCOUNT, ACCOUNT))
            return status, body

    demo._save_invoice_document(Demo(), tmp_path)  # type: ignore[arg-type]
    written = tmp_path / "invoices" / f"{number}.html"
    assert written.read_text("utf-8") == get(world, f"/accounts/{ACCOUNT}/invoices/{INVOICE_ID}/document")[1]
