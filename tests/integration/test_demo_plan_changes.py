"""The plan-change scenario of ``overage demo``: its events replay cleanly and its summary shows the amounts."""

from __future__ import annotations

from overage_local import demo_plan_changes as scenario

from tests.support import World


def test_the_demo_scenario_replays_and_summarises(world: World) -> None:
    # Given the scenario's events in time order, the renewal run (00:15 UTC) caught up before each plan change
    events = sorted(scenario.events(), key=lambda e: (e["occurred_at"], e["id"]))
    assert all(e["account_id"].startswith("demo_plan_changes_") for e in events)
    assert all("2026-01-10T00:00:00Z" <= e["occurred_at"] <= "2026-02-28T23:00:00Z" for e in events)
    assert len({e["id"] for e in events}) == len(events)
    for event in events:
        if event["type"] == "plan.change_requested":
            world.renewal(f"{event['occurred_at'][:10]}T00:15:00Z")
        assert world.webhook(event)[0] == 202, event
    world.renewal("2026-03-01T00:15:00Z")
    # Then the summary reads back the changes, invoices and notices through the API
    text = "\n".join(scenario.summary(world.get))
    for expected in (
        "5.16 / 0.00 / 5.16 USD",  # the spec's example: (34 − 24) × 16 ÷ 31
        "24.00 / 4.80 / 28.80 GBP",  # the downgrade priced by the renewal run of 15 Feb
        "32.90 / 0.00 / 32.90 USD",  # telephone support for 4 users: 60 × 17 ÷ 31
        "8.21 / 0.00 / 8.21 USD",  # a profile pack: 10 × 23 ÷ 28
        "270.86 / 0.00 / 270.86 USD",  # annual 288.00 less the unused 20 of 28 days of the month (17.14)
        "downgrade (period_end), applied effective 2026-02-15",
        "notice plan.change_scheduled",
    ):
        assert expected in text, expected
