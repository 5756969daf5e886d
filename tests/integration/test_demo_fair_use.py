"""The fair-use scenario of ``overage demo``: its events replay cleanly and its summary shows each status."""

from __future__ import annotations

from overage_local import demo_fair_use as scenario

from tests.support import World, fair_use_run


def test_the_demo_scenario_replays_and_summarises(world: World) -> None:
    # Given the scenario's events in time order, with the monthly runs of 1 February and 1 March (02:00 UTC)
    events = sorted(scenario.events(), key=lambda e: (e["occurred_at"], e["id"]))
    assert all(e["account_id"].startswith("demo_fair_use_") for e in events)
    assert all("2026-01-10T00:00:00Z" <= e["occurred_at"] <= "2026-02-28T23:00:00Z" for e in events)
    assert len({e["id"] for e in events}) == len(events)
    ran_february = False
    for event in events:
        if not ran_february and event["occurred_at"] > "2026-02-01T02:00:00Z":
            fair_use_run(world, "2026-02-01T02:00:00Z")
            ran_february = True
        assert world.webhook(event)[0] == 202, event
    fair_use_run(world, "2026-03-01T02:00:00Z")
    # Then every status shows, with the figures of the calls
    text = "\n".join(scenario.summary(world.get))
    for expected in (
        "status within, terms fair_use (rollup, revision 1)",
        "status review, terms fair_use (rollup, revision 2)",  # over_allowance on 1 Feb, review after the late call
        "notice fair_use.over_allowance",
        "status review, terms legacy_terms (rollup, revision 1)",
        "status within, terms not_entitled",
        "not entitled: 3 call(s), 35.00 min",
        "dan   3 call(s)  125.50 min  review",
        "training offer: 2 h × 60.00 = 120.00 + VAT 24.00 = 144.00 GBP",
        "fay   1 call(s)   48.00 min  over_allowance",
    ):
        assert expected in text, expected
    assert text.count("notice fair_use.review") == 2  # the "over" account after the recompute, and the review one
    assert "demo_fair_use_legacy / gus (legacy_terms)" in text
