"""The settlement scenario of ``overage demo`` (issue 16): its events replay with the scheduled runs between them, and
each customer's statement shows every amount to the cent."""

from __future__ import annotations

from overage_local import demo_settlement as scenario

from tests.support import World, grace_run


def test_the_demo_scenario_replays_and_prints_each_statement(world: World) -> None:
    partial_then_void = f"inv_{scenario.WAIVE}_renewal_2026-02-10"
    runs = {
        "2026-01-15T00:15:00Z": lambda: world.renewal("2026-01-15T00:15:00Z"),
        "2026-02-03T00:05:00Z": lambda: grace_run(world, "2026-02-03T00:05:00Z"),
        "2026-02-10T00:15:00Z": lambda: world.renewal("2026-02-10T00:15:00Z"),
        "2026-02-15T00:15:00Z": lambda: world.renewal("2026-02-15T00:15:00Z"),
        "2026-02-21T00:05:00Z": lambda: grace_run(world, "2026-02-21T00:05:00Z"),
        "2026-02-25T00:05:00Z": lambda: grace_run(world, "2026-02-25T00:05:00Z"),
    }
    steps = [(e["occurred_at"], e["id"], e) for e in scenario.events()] + [(at, at, run) for at, run in runs.items()]
    for _, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        if isinstance(step, dict):
            assert world.webhook(step)[0] == 202, step
            if step["id"] == f"evt_{scenario.WAIVE}_04":  # the partial payment on the overdue renewal
                invoice = world.get(f"/accounts/{scenario.WAIVE}/invoices/{partial_then_void}")[1]
                due = (invoice["status"], invoice["amount_paid"], invoice["amount_due"])
                assert due == ("overdue", "10.00", "14.00")
        else:
            step()
    text = "\n".join(scenario.summary(world.get))
    settle = text.split("demo_waive: statement")[0]
    # 43.20 paid in two parts (6.80 over), the downgrade's 9.76, the 15 Feb invoice 28.80 - 16.56 = 12.24 due
    assert "renewal             43.20    43.20     0.00     0.00  paid" in settle
    assert "credit_note         -9.76     0.00     0.00     0.00  paid" in settle
    assert "renewal             28.80    12.24    16.56     0.00  paid" in settle
    for line in (
        "overpayment      6.80 GBP  → balance 6.80",
        "credit_note      9.76 GBP  → balance 16.56",
        "applied        -16.56 GBP  → balance 0.00",
        "overpayment      7.76 GBP  → balance 7.76",
        "goodwill         6.00 GBP  → balance 13.76",
        "refunded        -3.76 GBP  → balance 10.00",
    ):
        assert line in settle, line
    assert "credit balance: 10.00 GBP" in settle
    waive = text.split("demo_waive: statement")[1]
    assert "excess_profiles      4.80     0.00     0.00     0.00  void" in waive
    # 24.00 overdue on 25 Feb, 10.00 paid on 26 Feb (14.00 still due), voided on 27 Feb: the 10.00 becomes credit
    assert "renewal             24.00    10.00     0.00     0.00  void" in waive
    assert "void            10.00 GBP  → balance 10.00" in waive
    assert "grace.extend_requested" in waive and waive.count("invoice.void_requested") == 2
    assert "credit balance: 10.00 GBP" in waive
    assert world.get(f"/accounts/{scenario.WAIVE}")[1]["open_episode"] is None  # the fee waived: the episode ended
