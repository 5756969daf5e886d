"""The communication scenario of ``overage demo`` (issue 18): its events and actions replay in time order; one
address ends suppressed after SES's bounce, and one "I need help" click is recorded once, through the real route."""

from __future__ import annotations

from overage_local import demo_communication as scenario
from overage_local import demo_report

from tests.support import World, report_run


def test_the_demo_scenario_replays_and_summarises(world: World) -> None:
    # Given the scenario's events and actions in time order (no scheduled run falls between them)
    steps = [(e["occurred_at"], e["id"], e) for e in scenario.events()]
    steps += [(at, name, action) for at, name, action in scenario.actions()]
    for _, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        if isinstance(step, dict):
            assert world.webhook(step)[0] == 202, step
        else:
            step(world)
    # Then the bounce suppressed the address: the later notice is recorded and on the bus, not emailed
    states = {n["kind"]: n["status"] for n in world.notices(scenario.BOUNCED)}
    assert states == {
        "profiles.exceeded": "bounced",
        "account.email_undeliverable": "suppressed",
        "profiles.resolved": "suppressed",
    }
    bounced_to = f"billing@{scenario.BOUNCED.replace('_', '-')}.example"
    assert [m.subject for m in world.emails() if bounced_to in m.destinations["ToAddresses"]] == [
        "Your account is over its profile limit: 215 of 200"
    ]
    # And the help click was recorded once (the second click says so), and told the CRM once
    [exceeded] = [n for n in world.ledger(scenario.HELPED, "NOTICE#") if n["kind"] == "profiles.exceeded"]
    assert exceeded["answer"] == "help"
    helps = [e for e in world.bus_events() if e["detail-type"] == "notice.help_requested"]
    assert [e["detail"]["answered_notice_kind"] for e in helps] == ["profiles.exceeded"]
    text = "\n".join(scenario.summary(world.get))
    assert "SES: permanent bounce of billing@demo-comm-bounced.example → EmailFeedbackFunction: ['suppressed']" in text
    assert "first click of 'I need help' → 200: Thank you, we will help" in text
    assert "second click of 'I need help' → 200: Your answer was already recorded" in text
    assert "notice profiles.resolved        suppressed" in text

    # And January's report counts them: 2 exceeded emails (1 bounced, 1 help), the resolved and the undeliverable
    # notices suppressed
    report_run(world, {"as_of": "2026-02-01T04:00:00Z"})
    [summary] = [line for line in demo_report.summary(world.get) if line.startswith("  communication:")]
    assert summary == (
        "  communication: 2 emailed, 1 bounced, 0 complaint(s), 2 suppressed, 0 failed; answers: 0 clear, "
        "1 asked for help"
    )
