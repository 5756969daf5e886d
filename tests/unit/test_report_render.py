"""index.html of the monthly report, without a browser: what the CRM sends is escaped, axes are round, a month
without a report is a gap, and the same figures give the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from overage.domain.instants import Month
from overage.domain.report import EpisodeFact, MonthFacts, history_months, summary
from overage.render.report_html import Chart, Series, currencies_of, nice_step, render_index, svg_chart

FEB = Month(2026, 2)


def facts_with_account(account_id: str) -> MonthFacts:
    opened = datetime(2026, 2, 2, 10, tzinfo=UTC)
    episode = EpisodeFact(
        account_id=account_id,
        episode_id="e1",
        opened_at=opened,
        opening_count=205,
        limit=200,
        grace_ends_at=datetime(2026, 2, 16, 10, tzinfo=UTC),
        state_at_month_end="in_grace",
        events_in_month=("opened",),
    )
    return MonthFacts(month="2026-02", shards=("00",), episodes=(episode,))


def test_what_the_crm_sends_is_escaped_and_the_page_is_deterministic() -> None:
    facts = facts_with_account('<script>alert("x")</script>')
    figures = summary(facts)
    history = [(m, None) for m in history_months(FEB)[:-1]] + [(FEB, figures)]
    page = render_index(figures, facts, history)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert render_index(figures, facts, history) == page
    assert page.count("no report</title>") == 11 * 6  # each earlier month, in each of the six charts


def test_axes_have_round_steps() -> None:
    assert nice_step(Decimal(3), money=False) == 1
    assert nice_step(Decimal(7), money=False) == 2
    assert nice_step(Decimal(23), money=False) == 5
    assert nice_step(Decimal(0), money=False) == 1
    assert nice_step(Decimal("220.93"), money=True) == 50


def test_a_stacked_bar_is_as_tall_as_its_total() -> None:
    chart = Chart(
        "t",
        "T",
        "",
        (Series("a", "#000001", (Decimal(1), Decimal(3))), Series("b", "#000002", (None, Decimal(1)))),
        stacked=True,
    )
    svg = svg_chart(chart, [Month(2026, 1), FEB])
    # axis up to 4 in steps of 1; plot height 192 px: 48 px a unit
    assert 'height="48.0" fill="#000001"' in svg and 'height="144.0" fill="#000001"' in svg
    assert 'height="48.0" fill="#000002"' in svg
    assert svg.count('class="bar"') == 3


def test_charges_are_charted_per_currency_seen() -> None:
    usd = {"contact_overruns": {"supplements": {"by_currency": {"USD": {"count": 1, "amount": "10.00"}}}}}
    gbp = {"excess_profiles": {"fees_invoiced": {"by_currency": {"GBP": {"count": 1, "net": "8.00"}}}}}
    assert currencies_of([None, usd, gbp]) == ["GBP", "USD"]
