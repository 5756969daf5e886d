"""The report part of ``overage demo``: it has no events of its own and prints each month's figures as written."""

from __future__ import annotations

from overage_local import demo_report as scenario

from tests.scenarios import FEBRUARY_RUN, given_a_month_of_contact_overruns
from tests.support import World, report_run


def test_the_demo_prints_the_figures_of_each_report_written(world: World) -> None:
    # Given no report yet
    assert scenario.events() == []
    assert scenario.summary(world.get) == ["no report was written (the demo's window has no 1st of a month)"]
    # When January and February are reported
    given_a_month_of_contact_overruns(world)
    report_run(world, {"as_of": "2026-02-01T04:00:00Z"})
    report_run(world, FEBRUARY_RUN)
    # Then each month is printed, oldest first, with its figures
    text = "\n".join(scenario.summary(world.get))
    assert text.index("2026-01:") < text.index("2026-02:")
    assert "contact overruns: 2 invoice(s), supplements 4.00 GBP · 10.00 USD; 1 account(s) in overrun 3+" in text
    assert "notices: 3 — invoice.issued 3" in text
