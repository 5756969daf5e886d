"""index.html of the monthly report in a real browser (spec §3.6): headless Chromium lays the page out and draws the
charts of the last 12 months; the page needs nothing from the network.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it when it can); without it this test is skipped.
"""

from __future__ import annotations

import copy
import json
import struct
import zlib
from collections import Counter
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import pytest
from overage.render.report_html import BLUE, GREEN, ORANGE, PURPLE, SKY, VERMILLION

from tests.browser import chromium, needs_chromium
from tests.scenarios import (
    FEBRUARY_RUN,
    february,
    given_a_month_of_contact_overruns,
    given_a_month_of_excess_profiles,
)
from tests.support import REGION, World, report_files, report_run

pytestmark = needs_chromium("the index.html rendering test is")


def pixels(png: Path) -> tuple[int, int, Counter[tuple[int, int, int]]]:
    """Width, height and the count of each colour of an 8-bit RGB(A) non-interlaced PNG (what Chromium writes)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IHDR":
            header = data[offset + 8 : offset + 8 + length]
        elif kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    low, high = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    previous = bytes(stride)
    counts: Counter[tuple[int, int, int]] = Counter()
    position = 0
    for _ in range(height):
        kind, line = raw[position], raw[position + 1 : position + 1 + stride]
        position += 1 + stride
        if kind == 2:  # "up", the most common filter: a bytewise add of two rows, on whole rows at once
            a, b = int.from_bytes(line, "big"), int.from_bytes(previous, "big")
            line = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big")
        elif kind != 0:
            out = bytearray(line)
            for i in range(stride):
                left = out[i - channels] if i >= channels else 0
                up = previous[i]
                if kind == 1:
                    out[i] = (out[i] + left) & 0xFF
                elif kind == 3:
                    out[i] = (out[i] + ((left + up) >> 1)) & 0xFF
                else:
                    corner = previous[i - channels] if i >= channels else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
            line = bytes(out)
        counts.update(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return width, height, counts


# Added to a copy of the page for the test only (the report itself has no script): where Chromium laid out each
# bar, whether it is inside its chart and the element actually drawn at its centre, and the charts' boxes.
MEASURE = """<script>
const bars = [...document.querySelectorAll("svg.chart rect.bar")].map((rect) => {
  const box = rect.getBoundingClientRect(), chart = rect.ownerSVGElement.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {fill: getComputedStyle(rect).fill, width: box.width, height: box.height, bottom: box.bottom,
    inside: box.left >= chart.left - 0.5 && box.right <= chart.right + 0.5 &&
            box.top >= chart.top - 0.5 && box.bottom <= chart.bottom + 0.5,
    visible: hit === rect || rect.contains(hit)};
});
const charts = [...document.querySelectorAll("svg.chart")].map((svg) => {
  const box = svg.getBoundingClientRect();
  return {width: box.width, height: box.height};
});
const tables = [...document.querySelectorAll("table")].map((table) => ({
  width: table.scrollWidth, box: table.parentElement.clientWidth,
  header: [...table.querySelectorAll("th")].map((th) => th.scrollWidth <= th.clientWidth + 1).every(Boolean)}));
const result = document.createElement("pre");
result.id = "layout";
result.textContent = JSON.stringify({bars, charts, tables, pageWidth: document.documentElement.scrollWidth,
  viewport: window.innerWidth});
(window.parent === window ? document : window.parent.document).body.appendChild(result);  // framed: the host's DOM
</script>"""


def layout(dom: str) -> dict[str, Any]:
    text = dom.split('<pre id="layout">', 1)[1].split("</pre>", 1)[0]
    return dict(json.loads(unescape(text)))


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


class Outline(HTMLParser):
    """What the page is made of: its tags, the bars per colour, and anything that would reach the network."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.bars: Counter[str] = Counter()
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        values = dict(attrs)
        if tag == "rect" and values.get("class") == "bar":
            self.bars[str(values.get("fill"))] += 1
        for name in ("src", "href", "xlink:href", "srcset"):
            value = values.get(name) or ""
            if ":" in value or value.startswith("//"):
                self.remote.append(f"{tag} {name}={value}")


def seeded_history(world: World) -> None:
    """Earlier months' summaries in the bucket (as their own reports wrote them); July 2025 has none."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = world.template.physical_id("ReportBucket")
    for n, month in enumerate(["2025-03", "2025-04", "2025-05", "2025-06", "2025-08", "2025-09", "2025-10"]):
        summary: dict[str, Any] = copy.deepcopy(february()) | {"month": month}
        ep = summary["excess_profiles"]
        ep["episodes_opened"] = 2 + n % 3
        ep["resolved_in_grace"] = 1 + n % 2
        ep["resolved_in_grace_by"] = {"reduction": 1, "profile_packs": n % 2, "upgrade": 0}
        ep["excess_ended"] = {"after_exceeded_notice": 1 + n % 2, "after_fee": 1}
        ep["fees_invoiced"] = {
            "count": 1,
            "by_currency": {"USD": {"count": 1, "net": "7.00", "vat": "0.00", "gross": "7.00"}},
        }
        summary["contact_overruns"]["invoices"] = 1 + n % 4
        summary["fair_use"]["by_status"] = {"within": 3, "over_allowance": n % 3, "review": 1}
        summary["notices"]["total"] = 6 + n
        fates = summary["communication"]["total"]  # what became of the notices (issue 18)
        fates |= {"bounced": n % 2, "suppressed": n % 3, "answered_clear": 2 + n, "asked_for_help": 1 + n % 2}
        key = f"reports/{month}/summary.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(summary).encode())


def test_index_html_draws_the_charts_of_the_last_twelve_months_in_chromium(world: World, tmp_path: Path) -> None:
    # Given months of reports before, and a January and a February of excess profiles and contact overruns
    seeded_history(world)
    given_a_month_of_excess_profiles(world)
    given_a_month_of_contact_overruns(world)
    report_run(world, {"month": "2026-01"})

    # When February is reported
    report_run(world, FEBRUARY_RUN)
    page = report_files(world, "2026-02")["index.html"].decode()

    # Then the page is self-contained: no script, stylesheet link, font, image or URL to fetch
    outline = Outline()
    outline.feed(page)
    assert outline.remote == []
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(outline.tags)
    assert "url(" not in page and "@import" not in page and "http" not in page
    # six charts, and one of charges per currency seen in the twelve months (USD, GBP)
    assert outline.tags["svg"] - outline.tags["circle"] == 8  # the legend swatches are small SVGs of one circle
    # the notices' fates of the earlier months are drawn in their chart: bounced, suppressed, clear, help
    fates = page.split("What became of the notice emails", 1)[1].split("</figure>", 1)[0]
    # of the seven seeded months (n = 0..6) n % 2 bounced in 3, n % 3 suppressed in 4, clear and help in all 7
    assert fates.count('class="bar"') == 3 + 4 + 7 + 7

    # When Chromium lays the page out and draws it
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    (tmp_path / "measured.html").write_text(page.replace("</body>", MEASURE + "</body>", 1), encoding="utf-8")
    boxes = layout(chromium(tmp_path / "measured.html", tmp_path / "profile-a", "--dump-dom"))
    chromium(tmp_path / "index.html", tmp_path / "profile-b", f"--screenshot={tmp_path / 'index.png'}")
    width, height, drawn = pixels(tmp_path / "index.png")

    # Then every bar is laid out inside its chart, is what shows at its place, and its colour is painted there
    assert len(boxes["bars"]) == sum(outline.bars.values())
    assert all(bar["inside"] and bar["visible"] and bar["width"] >= 1 and bar["height"] > 0 for bar in boxes["bars"])
    assert all(chart["width"] >= 500 and chart["height"] >= 200 for chart in boxes["charts"])
    assert boxes["pageWidth"] <= 1280  # nothing wider than the window: wide tables scroll in their box
    assert (width, height) == (1280, 2000)
    for colour in (BLUE, GREEN, ORANGE, VERMILLION, SKY, PURPLE):
        red, green, blue = rgb(colour)
        bars = [b for b in boxes["bars"] if b["fill"] == f"rgb({red}, {green}, {blue})" and b["bottom"] <= 2000]
        assert bars, colour
        area = sum(b["width"] * b["height"] for b in bars)
        assert drawn[(red, green, blue)] >= 0.8 * area, (colour, drawn[(red, green, blue)], area)
    # And the page is not blank: the header band and the white panels
    assert drawn[rgb("#12263a")] > 1280 * 60 and drawn[(255, 255, 255)] > 1280 * 300


@pytest.mark.parametrize("width", [375, 1280])
def test_the_report_reads_on_a_phone_and_on_a_desktop(world: World, tmp_path: Path, width: int) -> None:
    # Given the February report of a month of excess profiles and contact overruns
    given_a_month_of_excess_profiles(world)
    given_a_month_of_contact_overruns(world)
    report_run(world, FEBRUARY_RUN)
    page = report_files(world, "2026-02")["index.html"].decode()
    measured = page.replace("</body>", MEASURE + "</body>", 1)
    # Headless Chromium's window is at least 500 px wide: a phone's 375 px viewport is a frame of that width.
    host = f'<!doctype html><body style="margin:0"><iframe style="width:{width}px;height:2000px;border:0" srcdoc="'
    (tmp_path / "measured.html").write_text(host + escape(measured, quote=True) + '"></iframe></body>', "utf-8")

    # When Chromium lays it out in a viewport of that width
    boxes = layout(chromium(tmp_path / "measured.html", tmp_path / "profile", "--dump-dom", width=max(width, 1280)))

    # Then the page never scrolls sideways, and every chart is drawn with its bars in it
    assert boxes["viewport"] == width
    assert boxes["pageWidth"] <= width
    assert boxes["charts"] and all(chart["width"] > 0 and chart["height"] > 0 for chart in boxes["charts"])
    assert boxes["bars"] and all(bar["inside"] and bar["width"] > 0 and bar["height"] > 0 for bar in boxes["bars"])
    in_view = [bar for bar in boxes["bars"] if bar["bottom"] <= 2000]
    assert in_view and all(bar["visible"] for bar in in_view)
    assert boxes["tables"]
    if width >= 1280:  # on a desktop every table fits its card, headers included: no sideways scrolling inside it
        assert all(table["width"] <= table["box"] + 1 and table["header"] for table in boxes["tables"]), boxes["tables"]
