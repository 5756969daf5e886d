"""``index.html`` of the monthly report (spec §3.6): one self-contained page, readable offline.

No network at all: no scripts, no external fonts, styles or images; the charts are inline SVG drawn here from the
month's ``summary.json`` and the previous months' (a month without a report shows as a gap). Deterministic: the
same figures give the same bytes (no time of the run on the page), so a re-run rewrites an identical file.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from overage.domain.instants import Month
from overage.domain.report import MonthFacts, contact_overrun_rows, excess_profile_rows, fair_use_rows

TABLE_ROWS = 200  # rows per table on the page; the CSVs have them all

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
SKY = "#56B4E9"
PURPLE = "#CC79A7"
GREY = "#6B7280"

WIDTH = 560
HEIGHT = 250
LEFT = 52
RIGHT = 12
TOP = 14
BOTTOM = 44

Summary = Mapping[str, Any]


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: tuple[Decimal | None, ...]  # one per month; None: no report for that month


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    note: str
    series: tuple[Series, ...]
    stacked: bool = False
    money: bool = False


# ------------------------------------------------------------------------------------------------ figures


def _dig(summary: Summary | None, *path: str) -> Any:
    value: Any = summary
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool | float):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _figure(summary: Summary | None, *path: str) -> Decimal | None:
    """A figure of a month's summary; None when the month has no report (0 when the report lacks the figure)."""
    if summary is None:
        return None
    return _number(_dig(summary, *path)) or Decimal(0)


def _series(
    name: str, color: str, summaries: Sequence[Summary | None], pick: Callable[[Summary | None], Decimal | None]
) -> Series:
    return Series(name, color, tuple(pick(s) for s in summaries))


def _path(*path: str) -> Callable[[Summary | None], Decimal | None]:
    return lambda summary: _figure(summary, *path)


def currencies_of(summaries: Sequence[Summary | None]) -> list[str]:
    found: set[str] = set()
    for summary in summaries:
        for path in (
            ("contact_overruns", "supplements", "by_currency"),
            ("excess_profiles", "fees_invoiced", "by_currency"),
            ("excess_profiles", "monthly_excess_lines", "by_currency"),
        ):
            block = _dig(summary, *path)
            if isinstance(block, Mapping):
                found.update(str(c) for c in block)
    return sorted(found)


def charts(summaries: Sequence[Summary | None]) -> list[Chart]:
    """The charts of the last months (``summaries`` oldest first, the report's month last)."""
    ep = "excess_profiles"
    found = [
        Chart(
            "episodes",
            "Excess-profile episodes",
            "Episodes opened, resolved within the grace period, fees invoiced and fees gone overdue, per month.",
            (
                _series("Opened", BLUE, summaries, _path(ep, "episodes_opened")),
                _series("Resolved in grace", GREEN, summaries, _path(ep, "resolved_in_grace")),
                _series("Fee invoiced", ORANGE, summaries, _path(ep, "fees_invoiced", "count")),
                _series("Fee overdue", VERMILLION, summaries, _path(ep, "fees_overdue", "count")),
            ),
        ),
        Chart(
            "excess-ended",
            "How excesses ended",
            "Back within the limit during the grace period (by fewer profiles, profile packs or an upgrade), "
            "or only after the fee.",
            (
                _series("Reduction", GREEN, summaries, _path(ep, "resolved_in_grace_by", "reduction")),
                _series("Profile packs", SKY, summaries, _path(ep, "resolved_in_grace_by", "profile_packs")),
                _series("Upgrade", BLUE, summaries, _path(ep, "resolved_in_grace_by", "upgrade")),
                _series("After the fee", ORANGE, summaries, _path(ep, "excess_ended", "after_fee")),
            ),
            stacked=True,
        ),
        Chart(
            "overruns",
            "Contact overruns",
            "Invoices with a contact-overrun supplement, and accounts in overrun on 3 or more consecutive billing "
            "dates.",
            (
                _series("Overrun invoices", BLUE, summaries, _path("contact_overruns", "invoices")),
                _series(
                    "Accounts 3+ in a row",
                    VERMILLION,
                    summaries,
                    _path("contact_overruns", "accounts_in_overrun_3_plus_billing_dates"),
                ),
            ),
        ),
        Chart(
            "fair-use",
            "Telephone support: accounts by fair-use status",
            "Accounts with calls in the month (fair-use and legacy terms), by their worst user's level.",
            (
                _series("Within", GREEN, summaries, _path("fair_use", "by_status", "within")),
                _series("Over allowance", ORANGE, summaries, _path("fair_use", "by_status", "over_allowance")),
                _series("Review", VERMILLION, summaries, _path("fair_use", "by_status", "review")),
            ),
            stacked=True,
        ),
        Chart(
            "notices",
            "Notices sent",
            "Emails (each also an event for the CRM) by the month of what caused them.",
            (_series("Notices", PURPLE, summaries, _path("notices", "total")),),
        ),
        Chart(
            "communication",
            "What became of the notice emails",
            "Notices of the month that bounced, were marked as unwanted, went to a suppressed address or failed, "
            "and the answers customers gave through the email's links.",
            (
                _series("Bounced", VERMILLION, summaries, _path("communication", "total", "bounced")),
                _series("Complaint", PURPLE, summaries, _path("communication", "total", "complained")),
                _series("Suppressed", ORANGE, summaries, _path("communication", "total", "suppressed")),
                _series("Failed", GREY, summaries, _path("communication", "total", "failed")),
                _series("This was clear", GREEN, summaries, _path("communication", "total", "answered_clear")),
                _series("I need help", SKY, summaries, _path("communication", "total", "asked_for_help")),
            ),
        ),
    ]
    for currency in currencies_of(summaries):
        found.append(
            Chart(
                f"charges-{currency.lower()}",
                f"Policy charges in {currency} (ex VAT)",
                f"Contact-overrun supplements, excess-profile fees and monthly excess-profile lines invoiced, in "
                f"{currency}; never added to another currency.",
                (
                    _series(
                        "Overrun supplements",
                        BLUE,
                        summaries,
                        _path("contact_overruns", "supplements", "by_currency", currency, "amount"),
                    ),
                    _series(
                        "Excess-profile fees",
                        VERMILLION,
                        summaries,
                        _path(ep, "fees_invoiced", "by_currency", currency, "net"),
                    ),
                    _series(
                        "Monthly excess lines",
                        PURPLE,
                        summaries,
                        _path(ep, "monthly_excess_lines", "by_currency", currency, "amount"),
                    ),
                ),
                stacked=True,
                money=True,
            )
        )
    return found


# ------------------------------------------------------------------------------------------------ SVG


def nice_step(top: Decimal, money: bool) -> Decimal:
    """A round tick step (1, 2 or 5 × a power of ten) giving at most five steps up to ``top``."""
    if top <= 0:
        return Decimal(1)
    step = Decimal(1) if not money else Decimal("0.01")
    while True:
        for factor in (1, 2, 5):
            candidate = step * factor
            if top / candidate <= 5:
                return candidate
        step *= 10


def _fmt(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _px(value: float) -> str:
    return f"{value:.1f}"


def month_label(month: Month) -> str:
    return f"{calendar.month_abbr[month.month]} {month.year}"


def svg_chart(chart: Chart, months: Sequence[Month]) -> str:
    """A bar chart (grouped, or stacked) of one value per series and month, with axis, grid and tooltips."""
    n = len(months)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    totals = []
    for index in range(n):
        values = [s.values[index] or Decimal(0) for s in chart.series]
        totals.append(sum(values, Decimal(0)) if chart.stacked else max(values, default=Decimal(0)))
    top_value = max(totals, default=Decimal(0))
    step = nice_step(top_value, chart.money)
    ticks = int(-(-top_value // step)) if top_value > 0 else 1
    axis_max = step * ticks

    def y_of(value: Decimal) -> float:
        return TOP + plot_h - float(value / axis_max) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-labelledby="{chart.chart_id}-title" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart.chart_id}-title">{escape(chart.title)}</title>',
    ]
    for tick in range(ticks + 1):
        tick_value = step * tick
        y = _px(y_of(tick_value))
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end" dy="0.32em">{_fmt(tick_value)}</text>'
        )
    slot = plot_w / n
    group_w = slot * 0.8
    for index, month in enumerate(months):
        x0 = LEFT + slot * index + (slot - group_w) / 2
        label = month_label(month)
        missing = all(s.values[index] is None for s in chart.series)
        if chart.stacked:
            base = Decimal(0)
            for series in chart.series:
                value = series.values[index]
                if not value:
                    continue
                y_top, y_bottom = y_of(base + value), y_of(base)
                parts.append(_bar(x0, y_top, group_w, y_bottom - y_top, series, label, value))
                base += value
        else:
            bar_w = group_w / len(chart.series)
            for position, series in enumerate(chart.series):
                value = series.values[index]
                if not value:
                    continue
                y_top = y_of(value)
                parts.append(_bar(x0 + bar_w * position, y_top, bar_w, TOP + plot_h - y_top, series, label, value))
        center = _px(LEFT + slot * index + slot / 2)
        parts.append(
            f'<text class="month" x="{center}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{calendar.month_abbr[month.month]}</text>"
        )
        if index == 0 or month.month == 1:
            parts.append(
                f'<text class="year" x="{center}" y="{HEIGHT - BOTTOM + 30}" text-anchor="middle">{month.year}</text>'
            )
        if missing:
            parts.append(
                f'<text class="gap" x="{center}" y="{_px(TOP + plot_h - 4)}" text-anchor="middle">'
                f"<title>{escape(label)}: no report</title>–</text>"
            )
    if top_value == 0:
        parts.append(
            f'<text class="nodata" x="{_px(LEFT + plot_w / 2)}" y="{_px(TOP + plot_h / 2)}" text-anchor="middle">'
            "nothing to show in these months</text>"
        )
    base_y = _px(TOP + plot_h)
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base_y}" y2="{base_y}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _bar(x: float, y: float, width: float, height: float, series: Series, label: str, value: Decimal) -> str:
    return (
        f'<rect class="bar" x="{_px(x)}" y="{_px(y)}" width="{_px(max(width - 1, 1))}" height="{_px(height)}" '
        f'fill="{series.color}"><title>{escape(label)} · {escape(series.name)}: {_fmt(value)}</title></rect>'
    )


def legend(chart: Chart) -> str:
    items = "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10" width="10" height="10" aria-hidden="true">'
        f'<circle cx="5" cy="5" r="5" fill="{s.color}"/></svg>{escape(s.name)}</li>'
        for s in chart.series
    )
    return f'<ul class="legend">{items}</ul>'


def figure(chart: Chart, months: Sequence[Month]) -> str:
    return (
        f'<figure class="panel" id="chart-{chart.chart_id}"><figcaption><h3>{escape(chart.title)}</h3>'
        f"<p>{escape(chart.note)}</p></figcaption>{legend(chart)}{svg_chart(chart, months)}</figure>"
    )


# ------------------------------------------------------------------------------------------------ tables


def _money_by_currency(block: Any, field: str = "gross") -> str:
    if not isinstance(block, Mapping) or not block.get("by_currency"):
        return "—"
    return " · ".join(f"{values[field]} {currency}" for currency, values in block["by_currency"].items())


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "strftime") and hasattr(value, "hour"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    return str(value)


def table(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[Any]], empty: str, more: str = "") -> str:
    """``headers``: (label, numeric). Rows beyond ``TABLE_ROWS`` are left to the CSV (``more`` says which)."""
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f'<th scope="col"{" class=num" if num else ""}>{escape(label)}</th>' for label, num in headers)
    body = []
    for row in rows[:TABLE_ROWS]:
        cells = "".join(
            f"<td{' class=num' if num else ''}>{escape(_text(value))}</td>"
            for (_, num), value in zip(headers, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    note = ""
    if len(rows) > TABLE_ROWS:
        note = f'<p class="more">… and {len(rows) - TABLE_ROWS} more rows in {escape(more)}.</p>'
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{note}'
    )


def measures(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="num">{escape(_text(v))}</td></tr>' for label, v in rows
    )
    return f'<table class="measures"><tbody>{body}</tbody></table>'


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _day(day: date) -> str:
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value} %"


def _days(value: Any) -> str:
    return "—" if value is None else f"{value} days"


# ------------------------------------------------------------------------------------------------ the page


def render_index(summary: Summary, facts: MonthFacts, history: Sequence[tuple[Month, Summary | None]]) -> str:
    """The page of the month of ``summary``; ``history`` = the last months oldest first, this month last."""
    month = Month.parse(str(summary["month"]))
    months = [m for m, _ in history]
    summaries = [s for _, s in history]
    ep = summary["excess_profiles"]
    co = summary["contact_overruns"]
    fu = summary["fair_use"]
    notices = summary["notices"]
    title = f"Usage policy report — {calendar.month_name[month.month]} {month.year}"
    cards = [
        ("Excess-profile episodes opened", str(ep["episodes_opened"]), f"{ep['resolved_in_grace']} resolved in grace"),
        (
            "Excess ended after the notice",
            _percent(ep["share_after_exceeded_notice_percent"]),
            f"{ep['excess_ended']['after_fee']} only after the fee",
        ),
        ("Excess-profile fees invoiced", str(ep["fees_invoiced"]["count"]), _money_by_currency(ep["fees_invoiced"])),
        (
            "Accounts restricted",
            str(ep["accounts_restricted"]),
            _count(ep["fees_overdue"]["count"], "fee", "fees") + " overdue",
        ),
        (
            "Contact-overrun invoices",
            str(co["invoices"]),
            _count(co["accounts_in_overrun_3_plus_billing_dates"], "account", "accounts")
            + " 3+ billing dates in a row",
        ),
        (
            "Fair-use reviews",
            str(fu["users_in_review"]),
            _count(fu["by_status"]["review"], "account", "accounts") + " in review",
        ),
        ("Notices sent", str(notices["total"]), _count(len(notices["by_kind"]), "kind", "kinds")),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div>'
        f'<div class="sub">{escape(sub)}</div></div>'
        for label, value, sub in cards
    )
    chart_html = "".join(figure(chart, months) for chart in charts(summaries))
    sections = [
        _excess_section(ep, facts),
        _overrun_section(co, facts),
        _fair_use_section(fu, facts),
        _notices_section(summary),
        _communication_section(summary),
        _settlement_section(summary),
        _history_section(months, summaries),
    ]
    period = f"{_day(month.first_day)} 00:00 UTC to {_day(month.next().first_day)} 00:00 UTC"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>"
        f"<p>Generated for {month} ({escape(period)}). Each fact counts in the month it happened; charts show the "
        f"last {len(months)} months from their own reports.</p></header>"
        f'<main><section class="cards" aria-label="Key figures">{card_html}</section>'
        f'<section class="charts" aria-label="Charts">{chart_html}</section>'
        f"{''.join(sections)}"
        '<footer><p>Files of this report: <a href="summary.json">summary.json</a> · '
        '<a href="excess_profiles.csv">excess_profiles.csv</a> · '
        '<a href="contact_overruns.csv">contact_overruns.csv</a> · <a href="fair_use.csv">fair_use.csv</a> · '
        '<a href="communication.csv">communication.csv</a> · <a href="settlement.csv">settlement.csv</a>. '
        "Amounts are per currency and never added across currencies."
        "</p></footer></main></body></html>\n"
    )


def _excess_section(ep: Mapping[str, Any], facts: MonthFacts) -> str:
    by = ep["resolved_in_grace_by"]
    rows = [
        ("Episodes opened", ep["episodes_opened"]),
        ("Resolved in grace", ep["resolved_in_grace"]),
        ("… by fewer profiles", by["reduction"]),
        ("… by profile packs", by["profile_packs"]),
        ("… by an upgrade", by["upgrade"]),
        ("Median time to resolution", _days(ep["median_days_to_resolution"])),
        ("Excess ended after the exceeded notice", _percent(ep["share_after_exceeded_notice_percent"])),
        ("Excess ended only after the fee", _percent(ep["share_after_fee_percent"])),
        ("Fees invoiced", f"{ep['fees_invoiced']['count']} ({_money_by_currency(ep['fees_invoiced'])})"),
        ("Fees paid", f"{ep['fees_paid']['count']} ({_money_by_currency(ep['fees_paid'])})"),
        ("Fees gone overdue", f"{ep['fees_overdue']['count']} ({_money_by_currency(ep['fees_overdue'])})"),
        ("Accounts restricted", ep["accounts_restricted"]),
        (
            "Monthly excess-profile lines",
            f"{ep['monthly_excess_lines']['count']} ({_money_by_currency(ep['monthly_excess_lines'], 'amount')})",
        ),
    ]
    episodes = [
        (
            r["account_id"],
            r["opened_at"],
            f"{r['opening_count']} / {r['limit']}",
            r["events_in_month"],
            r["state_at_month_end"],
            r["resolution"],
            r["days_to_resolution"],
            f"{r['fee_gross']} {r['currency']}" if r["fee_gross"] is not None else None,
            r["went_overdue_at"],
            r["paid_at"],
        )
        for r in excess_profile_rows(facts)
    ]
    headers = [
        ("Account", False),
        ("Opened (UTC)", False),
        ("Profiles / limit", True),
        ("This month", False),
        ("At month end", False),
        ("Resolved by", False),
        ("Days", True),
        ("Fee (gross)", True),
        ("Overdue", False),
        ("Paid", False),
    ]
    return (
        '<section><h2>Excess profiles</h2><div class="split">'
        f"{measures(rows)}<div>{table(headers, episodes, 'No episode this month.', 'excess_profiles.csv')}</div>"
        "</div></section>"
    )


def _overrun_section(co: Mapping[str, Any], facts: MonthFacts) -> str:
    rows = [
        ("Contact-overrun invoices", co["invoices"]),
        ("Accounts in overrun", co["accounts"]),
        ("Supplements (ex VAT)", _money_by_currency(co["supplements"], "amount")),
        ("Accounts in overrun 3+ billing dates in a row", co["accounts_in_overrun_3_plus_billing_dates"]),
    ]
    overruns = [
        (
            r["account_id"],
            r["invoice_number"],
            r["billing_date"],
            r["reached_tier"],
            f"{r['supplement']} {r['currency']}",
            r["recommended_tier"],
        )
        for r in contact_overrun_rows(facts)
    ]
    headers = [
        ("Account", False),
        ("Invoice", False),
        ("Billing date", False),
        ("Tier reached", False),
        ("Supplement", True),
        ("Tier recommended", False),
    ]
    return (
        '<section><h2>Contact-tier overruns</h2><div class="split">'
        f"{measures(rows)}<div>{table(headers, overruns, 'No overrun invoice this month.', 'contact_overruns.csv')}"
        "</div></div></section>"
    )


def _fair_use_section(fu: Mapping[str, Any], facts: MonthFacts) -> str:
    training = fu["training_offered"]
    rows = [
        ("Accounts with calls", fu["accounts"]),
        ("… within the allowance", fu["by_status"]["within"]),
        ("… over the allowance", fu["by_status"]["over_allowance"]),
        ("… in review", fu["by_status"]["review"]),
        ("… on legacy terms", fu["by_terms"]["legacy_terms"]),
        ("… without telephone support", fu["by_terms"]["not_entitled"]),
        ("Calls / minutes", f"{fu['calls']} / {fu['minutes']}"),
        ("Long calls (over 15 min)", fu["long_calls"]),
        ("Users over the allowance", fu["users_over_allowance"]),
        ("Users in review", fu["users_in_review"]),
        ("Training offered", f"{training['users']} users, {training['hours']} h ({_money_by_currency(training)})"),
    ]
    flagged = [
        (
            r["account_id"],
            r["terms"],
            r["user_id"],
            r["calls"],
            r["minutes"],
            r["long_calls"],
            r["level"] or "not entitled",
            f"{r['training_hours']} h, {r['training_gross']} {r['currency']}" if r["training_hours"] else None,
        )
        for r in fair_use_rows(facts)
        if r["level"] != "within"
    ]
    headers = [
        ("Account", False),
        ("Terms", False),
        ("User", False),
        ("Calls", True),
        ("Minutes", True),
        ("Long calls", True),
        ("Level", False),
        ("Training offered (gross)", True),
    ]
    empty = "No user over the allowance and no call without telephone support this month."
    return (
        '<section><h2>Fair use of telephone support</h2><div class="split">'
        f"{measures(rows)}<div>{table(headers, flagged, empty, 'fair_use.csv')}</div></div></section>"
    )


def _notices_section(summary: Summary) -> str:
    notices = summary["notices"]
    changes = summary["plan_changes"]
    invoices = summary["invoices"]
    notice_rows = [(kind, count) for kind, count in notices["by_kind"].items()]
    change_rows = [(kind, count) for kind, count in changes["by_kind"].items()]
    invoice_rows = [
        (kind, currency, values["count"], values["net"], values["vat"], values["gross"])
        for kind, block in invoices["by_kind"].items()
        for currency, values in block["by_currency"].items()
    ]
    invoice_headers = [("Kind", False), ("Currency", False), ("Count", True), ("Net", True), ("VAT", True)]
    invoice_headers.append(("Gross", True))
    return (
        '<section><h2>Notices, plan changes and invoices</h2><div class="three">'
        f"<div><h3>Notices sent by kind</h3>"
        f"{table([('Kind', False), ('Sent', True)], notice_rows, 'No notice this month.')}</div>"
        f"<div><h3>Plan changes requested</h3>"
        f"{table([('Kind', False), ('Requested', True)], change_rows, 'No plan change this month.')}</div>"
        f"<div><h3>Invoices issued, per currency</h3>"
        f"{table(invoice_headers, invoice_rows, 'No invoice this month.')}</div>"
        "</div></section>"
    )


def _settlement_section(summary: Summary) -> str:
    """After the invoice (spec §3.7): payments and credit per currency, adjustments, invoices gone overdue by kind."""
    block = summary.get("settlement") or {}
    money_rows = [
        (figure.replace("_", " "), currency, values["count"], values["amount"])
        for figure, tally in (block.get("money") or {}).items()
        for currency, values in tally["by_currency"].items()
    ]
    adjustment_rows = [(name.replace("_", " "), count) for name, count in (block.get("adjustments") or {}).items()]
    overdue_rows = [
        (kind, count) for kind, count in ((block.get("overdue_invoices") or {}).get("by_kind") or {}).items()
    ]
    money_headers = [("Figure", False), ("Currency", False), ("Count", True), ("Amount", True)]
    return (
        '<section><h2>Payments, credit and adjustments</h2><div class="three">'
        f"<div><h3>Payments and credit, per currency</h3>"
        f"{table(money_headers, money_rows, 'No payment or credit this month.')}</div>"
        f"<div><h3>Support adjustments</h3>{table([('Adjustment', False), ('Count', True)], adjustment_rows, '')}</div>"
        f"<div><h3>Invoices gone overdue, by kind</h3>"
        f"{table([('Kind', False), ('Overdue', True)], overdue_rows, 'No invoice went overdue this month.')}</div>"
        "</div></section>"
    )


def _communication_section(summary: Summary) -> str:
    """What became of the month's notices, per kind (spec §3.9), and the excess-profile notices' effect."""
    block = summary.get("communication") or {}
    kinds = [
        (
            kind,
            f["recorded"],
            f["emailed"],
            f["bounced"],
            f["complained"],
            f["suppressed"],
            f["failed"],
            f["answered_clear"],
            f["asked_for_help"],
        )
        for kind, f in (block.get("by_kind") or {}).items()
    ]
    headers = [("Kind", False), ("Recorded", True), ("Emailed", True), ("Bounced", True), ("Complaint", True)]
    headers += [("Suppressed", True), ("Failed", True), ("Clear", True), ("Help", True)]
    effect = [
        (
            kind,
            e["episodes"],
            e["resolved_after"],
            e["resolved_in_grace_after"],
            _percent(e["share_resolved_after_percent"]),
        )
        for kind, e in (block.get("excess_profile_notices") or {}).items()
        if e["episodes"]
    ]
    effect_headers = [("Notice", False), ("Episodes", True), ("Resolved after", True), ("In grace", True)]
    effect_headers.append(("Share", True))
    total = block.get("total") or {}
    answered = total.get("answered_clear", 0) + total.get("asked_for_help", 0)
    return (
        "<section><h2>Notices that reach people</h2>"
        f'<p class="hint">{escape(str(total.get("emailed", 0)))} emailed, {escape(str(answered))} answered through '
        "the email's links. Each notice counts in the month it was sent, as its record stands when the report is "
        "read; an episode counts as resolved after a notice when its excess ended after it, by the month's end.</p>"
        f"<h3>By notice kind</h3>{table(headers, kinds, 'No notice this month.', 'communication.csv')}"
        '<h3 class="next">Excess-profile notices: episodes whose excess ended after them</h3>'
        f"{table(effect_headers, effect, 'No excess-profile notice this month.', 'communication.csv')}"
        "</section>"
    )


HISTORY_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Episodes opened", ("excess_profiles", "episodes_opened")),
    ("Resolved in grace", ("excess_profiles", "resolved_in_grace")),
    ("Excess ended after the fee", ("excess_profiles", "excess_ended", "after_fee")),
    ("Fees invoiced", ("excess_profiles", "fees_invoiced", "count")),
    ("Fees overdue", ("excess_profiles", "fees_overdue", "count")),
    ("Accounts restricted", ("excess_profiles", "accounts_restricted")),
    ("Overrun invoices", ("contact_overruns", "invoices")),
    ("Accounts 3+ in overrun", ("contact_overruns", "accounts_in_overrun_3_plus_billing_dates")),
    ("Fair use: in review", ("fair_use", "by_status", "review")),
    ("Fair use: over allowance", ("fair_use", "by_status", "over_allowance")),
    ("Notices sent", ("notices", "total")),
    ("Notices bounced", ("communication", "total", "bounced")),
    ("Answered \u201cI need help\u201d", ("communication", "total", "asked_for_help")),
)


def _history_section(months: Sequence[Month], summaries: Sequence[Summary | None]) -> str:
    head = "".join(f'<th scope="col" class="num">{escape(month_label(m))}</th>' for m in months)
    body = []
    for label, path in HISTORY_ROWS:
        cells = "".join(
            f'<td class="num">{"—" if s is None else escape(_fmt(_figure(s, *path) or Decimal(0)))}</td>'
            for s in summaries
        )
        body.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    return (
        f"<section><h2>The last {len(months)} months</h2>"
        '<p class="hint">— : no report for that month.</p>'
        f'<div class="scroll"><table class="history"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
    )


STYLE = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#e3e7ec;--bg:#f6f8fa;--panel:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#12263a;color:#fff;padding:24px 32px}
header h1{margin:0 0 6px;font-size:24px;font-weight:600}
header p{margin:0;color:#c9d6e3;max-width:900px}
main{padding:20px 32px 32px;max-width:1400px}
h2{font-size:18px;margin:28px 0 12px}
h3{font-size:15px;margin:0 0 4px}
h3.next{margin-top:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .label{color:var(--muted);font-size:12px}
.card .value{font-size:26px;font-weight:600;margin:2px 0}
.card .sub{color:var(--muted);font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px;margin-top:20px}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:8px;margin:0;padding:14px 16px}
.panel figcaption p{margin:0 0 6px;color:var(--muted);font-size:12px}
svg.chart{display:block;width:100%;max-width:560px;height:auto}
svg.chart text{font-size:11px;fill:var(--muted)}
svg.chart .grid{stroke:var(--line);stroke-width:1}
svg.chart .axis{stroke:#9aa5b1;stroke-width:1}
svg.chart .gap{fill:#9aa5b1;font-size:14px}
svg.chart .nodata{font-size:13px;fill:#9aa5b1}
.legend{list-style:none;margin:0 0 4px;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.legend li{display:flex;align-items:center;gap:6px}
section>.split{display:grid;grid-template-columns:minmax(240px,320px) 1fr;gap:16px;align-items:start}
section>.three{display:grid;grid-template-columns:minmax(260px,1fr) minmax(220px,0.8fr) minmax(420px,1.6fr);gap:16px}
section>.split>*,section>.three>*{min-width:0}
table{border-collapse:collapse;background:var(--panel);width:100%}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:#eef2f6;font-weight:600;font-size:12px}
tbody td:first-child{overflow-wrap:anywhere;min-width:8em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.measures th{font-weight:normal;color:var(--ink)}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table.measures{border:1px solid var(--line);border-radius:6px}
.empty,.more,.hint{color:var(--muted);margin:6px 0}
footer{margin-top:28px;color:var(--muted)}
a{color:#0b5cad}
@media (max-width:900px){section>.split,section>.three{grid-template-columns:1fr}.charts{grid-template-columns:1fr}}
"""
