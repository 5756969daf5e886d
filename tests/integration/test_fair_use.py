"""Fair use of telephone support end to end (spec §3.3): calls in through the webhook, the monthly run, the records,
the emails and the bus events out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import EVENTS, World, call_body, fair_use_record, fair_use_run, upsert_body

FEB_RUN = "2026-02-01T02:00:00Z"
MAR_RUN = "2026-03-01T02:00:00Z"
DIRECTOR = "customer-service-director@example.com"


def account(world: World, account_id: str, **data: Any) -> None:
    """An account known since mid-2025: ``complete``, GBP, one paying user unless told otherwise."""
    fields: dict[str, Any] = {
        "package": "complete",
        "currency": "GBP",
        "billing_cycle": "monthly",
        "paying_users": 1,
        "started_on": "2025-06-01",
        "customer_since": "2025-06-01",
    } | data
    status, _ = world.webhook(upsert_body(account_id, **fields))
    assert status == 202


def calls(world: World, account_id: str, *durations: tuple[str, int], day: int = 5) -> None:
    """Calls (user, seconds) made in January 2026, one an hour from 09:00 on ``day``."""
    for n, (user, seconds) in enumerate(durations):
        status, body = world.webhook(
            call_body(account_id, f"{account_id}_c{day}_{n}", f"2026-01-{day:02d}T{9 + n:02d}:00:00Z", seconds, user)
        )
        assert status == 202, body


def users(record: dict[str, Any]) -> dict[str, tuple[int, str, str]]:
    return {u["user_id"]: (u["seconds"], u["minutes"], u["level"]) for u in record["users"]}


def emails_to(world: World, address: str) -> list[Any]:
    return [e for e in world.emails() if e.destinations["ToAddresses"] == [address]]


def kinds(world: World) -> list[str]:
    return [e["detail-type"] for e in world.bus_events()]


# ---------------------------------------------------------------- exact call sets
def test_a_call_of_exactly_15_minutes_is_not_long_and_15_01_is(world: World) -> None:
    account(world, "acc_long")
    calls(world, "acc_long", ("u1", 900), ("u1", 901))
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_long", "2026-01")
    assert record is not None
    [user] = record["users"]
    assert [(c["call_id"], c["minutes"]) for c in user["long_calls"]] == [("acc_long_c5_1", "15.02")]
    assert (user["seconds"], user["minutes"], user["level"]) == (1801, "30.02", "within")
    assert (record["status"], record["terms"], record["totals"]["long_calls"]) == ("within", "fair_use", 1)
    # within the allowance: the record only, no notice
    assert world.notices("acc_long") == []
    assert emails_to(world, "billing@acc_long.example") == []


def test_users_at_exactly_45_and_60_minutes(world: World) -> None:
    # Given four paying users: 45:00, 45:01, 60:00 and 60:01 of calls under 15 minutes each
    account(world, "acc_edges", paying_users=4)
    calls(world, "acc_edges", ("u45", 900), ("u45", 900), ("u45", 900))
    calls(world, "acc_edges", ("u4501", 900), ("u4501", 900), ("u4501", 901), day=6)
    calls(world, "acc_edges", ("u60", 900), ("u60", 900), ("u60", 900), ("u60", 900), day=7)
    calls(world, "acc_edges", ("u6001", 900), ("u6001", 900), ("u6001", 900), ("u6001", 901), day=8)
    # When January is rolled up
    fair_use_run(world, FEB_RUN)
    # Then 45:00 is within, 45:01 over the allowance, 60:00 over the allowance (not review), 60:01 in review
    record = fair_use_record(world, "acc_edges", "2026-01")
    assert record is not None
    assert users(record) == {
        "u45": (2700, "45.00", "within"),
        "u4501": (2701, "45.02", "over_allowance"),
        "u60": (3600, "60.00", "over_allowance"),
        "u6001": (3601, "60.02", "review"),
    }
    assert (record["status"], record["pooled_allowance_minutes"], record["totals"]["minutes"]) == (
        "review",
        180,
        "210.03",
    )
    # and only the user in review gets a training offer: ceil(15.02 / 60) = 1 hour at 60.00 GBP + 20 % VAT
    offers = {u["user_id"]: u.get("training_offer") for u in record["users"]}
    assert offers["u6001"] == {
        "hours": 1,
        "currency": "GBP",
        "price_per_hour": "60.00",
        "net": "60.00",
        "vat_rate": "0.20",
        "vat": "12.00",
        "gross": "72.00",
    }
    assert [offers[u] for u in ("u45", "u4501", "u60")] == [None, None, None]
    # One review notice to the account, with the figures and the offer
    [notice] = world.notices("acc_edges")
    assert (notice["notice_id"], notice["kind"], notice["status"]) == (
        "ntc_fair_use.review_acc_edges_2026-01",
        "fair_use.review",
        "sent",
    )
    [email] = emails_to(world, "billing@acc_edges.example")
    assert email.subject == "Telephone support in January 2026: use under review"
    for text in ("u6001: 60.02 minutes (review)", "u4501: 45.02 minutes (over allowance)", "72.00 GBP", "60.00 GBP"):
        assert text in notice["text"]
    assert "u45:" not in notice["text"]
    [event] = [e for e in world.bus_events() if e["detail-type"] == "fair_use.review"]
    assert event["detail"]["account_id"] == "acc_edges"
    assert event["detail"]["new"] == {"u4501": "over_allowance", "u60": "over_allowance", "u6001": "review"}
    assert event["detail"]["training_offers"][0]["gross"] == "72.00"


def test_three_paying_users_pool_their_allowance(world: World) -> None:
    # Given three paying users: 40, 50 and 44 minutes (134 of the 135 pooled minutes)
    account(world, "acc_pool", paying_users=3)
    calls(world, "acc_pool", ("u1", 800), ("u1", 800), ("u1", 800), ("u2", 900), ("u2", 900), ("u2", 900))
    calls(world, "acc_pool", ("u2", 300), ("u3", 880), ("u3", 880), ("u3", 880), day=6)
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_pool", "2026-01")
    assert record is not None
    assert (record["paying_users"], record["pooled_allowance_minutes"], record["over_pooled_allowance"]) == (
        3,
        135,
        False,
    )
    assert record["totals"] == {"calls": 10, "seconds": 8040, "minutes": "134.00", "long_calls": 0}
    assert users(record) == {
        "u1": (2400, "40.00", "within"),
        "u2": (3000, "50.00", "over_allowance"),
        "u3": (2640, "44.00", "within"),
    }
    # the account's status is its worst user's: over the allowance, and it is told so
    assert record["status"] == "over_allowance"
    [notice] = world.notices("acc_pool")
    assert notice["kind"] == "fair_use.over_allowance"
    assert "134.00 of 135 pooled minutes" in notice["text"]
    assert "135 minutes for your 3 paying users." in notice["text"]
    [email] = emails_to(world, "billing@acc_pool.example")
    assert email.subject == "Telephone support in January 2026: over the fair-use allowance"
    # no user in review, no account without support: the director gets no list
    assert emails_to(world, DIRECTOR) == []


def test_a_legacy_account_in_review_gets_no_notice_but_is_on_the_directors_list(world: World) -> None:
    # Given a customer since 2010 on standard without the add-on, one user with 90 minutes
    account(world, "acc_legacy", package="standard", telephone_support=False, customer_since="2010-05-01")
    status, body = world.webhook(call_body("acc_legacy", "leg_1", "2026-01-12T10:00:00Z", 5400))
    assert (status, body["entitlement"]) == (202, "legacy")
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_legacy", "2026-01")
    assert record is not None
    assert (record["terms"], record["status"]) == ("legacy_terms", "review")
    assert record["users"][0]["training_offer"]["gross"] == "72.00"
    assert record["notified"] == {}
    assert world.notices("acc_legacy") == []
    assert emails_to(world, "billing@acc_legacy.example") == []
    [listing] = emails_to(world, DIRECTOR)
    assert "acc_legacy / u1" in listing.body
    assert "legacy terms: no notice sent" in listing.body
    assert kinds(world) == ["fair_use.review_list"]


def test_calls_from_an_account_without_telephone_support_are_kept_as_not_entitled(world: World) -> None:
    account(world, "acc_none", package="standard", telephone_support=False, customer_since="2015-01-01")
    status, body = world.webhook(call_body("acc_none", "none_1", "2026-01-12T10:00:00Z", 4000))
    assert (status, body["outcome"], body["entitlement"]) == (202, "recorded", "not_entitled")
    world.webhook(call_body("acc_none", "none_2", "2026-01-13T10:00:00Z", 600, "u2"))
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_none", "2026-01")
    assert record is not None
    assert (record["terms"], record["status"], record["users"], record["totals"]["calls"]) == (
        "not_entitled",
        "within",
        [],
        0,
    )
    assert (record["not_entitled"]["calls"], record["not_entitled"]["minutes"]) == (2, "76.67")
    assert world.notices("acc_none") == []
    # reported to the director, who sees who calls without paying for support
    [listing] = emails_to(world, DIRECTOR)
    assert "acc_none: 2 calls, 76.67 min" in listing.body
    [event] = world.bus_events()
    assert event["detail"]["not_entitled"] == [{"account_id": "acc_none", "calls": 2, "minutes": "76.67"}]


def test_the_add_on_makes_a_standard_account_entitled(world: World) -> None:
    account(world, "acc_addon", package="standard", telephone_support=True, currency="USD")
    _, body = world.webhook(call_body("acc_addon", "a1", "2026-01-12T10:00:00Z", 3601))
    assert body["entitlement"] == "add_on"
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_addon", "2026-01")
    assert record is not None
    offer = record["users"][0]["training_offer"]
    assert (offer["currency"], offer["vat"]) == ("USD", "0.00")  # USD: no VAT
    assert offer["gross"] == offer["net"] == offer["price_per_hour"]


# ---------------------------------------------------------------- late calls, reruns, concurrency
def test_a_late_call_recomputes_the_month_and_tells_only_what_is_new(world: World) -> None:
    # Given January rolled up with u1 at 50 minutes (over the allowance) and the account told
    account(world, "acc_late", paying_users=2)
    calls(world, "acc_late", ("u1", 900), ("u1", 900), ("u1", 900), ("u1", 300))
    fair_use_run(world, FEB_RUN)
    [first] = world.notices("acc_late")
    assert first["kind"] == "fair_use.over_allowance"
    assert emails_to(world, DIRECTOR) == []
    # When a January call of 11 minutes arrives on 10 February
    late = call_body("acc_late", "late_1", "2026-01-30T16:00:00Z", 660, occurred_at="2026-02-10T09:00:00Z")
    status, body = world.webhook(late)
    assert (status, body["month"], body["month_recompute_scheduled"]) == (202, "2026-01", True)
    # the API shows the stored rollup, flagged for recomputation
    _, view = world.get("/accounts/acc_late/fair-use/2026-01")
    assert (view["source"], view["final"], view["recompute_pending"], view["status"]) == (
        "rollup",
        False,
        True,
        "over_allowance",
    )
    # Then the next run (1 March) recomputes January as well as rolling up February
    result = fair_use_run(world, MAR_RUN)
    assert result["months"] == ["2026-01", "2026-02"]
    record = fair_use_record(world, "acc_late", "2026-01")
    assert record is not None
    assert (record["revision"], record["status"], users(record)["u1"]) == (2, "review", (3660, "61.00", "review"))
    assert (record["first_rolled_up_at"], record["rolled_up_at"]) == (
        "2026-02-01T02:00:00.000000Z",
        "2026-03-01T02:00:00.000000Z",
    )
    # one record for the month, replaced; one new notice (review), the first one not sent again
    assert len(world.ledger("acc_late", "FAIRUSE#")) == 1
    notices = world.notices("acc_late")
    assert [n["notice_id"] for n in notices] == [
        "ntc_fair_use.over_allowance_acc_late_2026-01",
        "ntc_fair_use.review_acc_late_2026-01",
    ]
    assert notices[1]["detail"]["new"] == {"u1": "review"}
    assert (
        "Calls that reached us after January 2026 was first rolled up changed the figures for u1." in notices[1]["text"]
    )
    assert len(emails_to(world, "billing@acc_late.example")) == 2
    # and the director now gets January's review list with u1
    [listing] = emails_to(world, DIRECTOR)
    assert listing.subject == "Fair-use review list, January 2026: 1 user in 1 account"
    assert "acc_late / u1" in listing.body and "61.00 min" in listing.body
    _, view = world.get("/accounts/acc_late/fair-use/2026-01")
    assert (view["source"], view["final"], view["revision"]) == ("rollup", True, 2)


def test_a_late_call_that_changes_no_level_replaces_the_record_and_sends_nothing(world: World) -> None:
    account(world, "acc_quiet")
    calls(world, "acc_quiet", ("u1", 3000))
    fair_use_run(world, FEB_RUN)
    world.webhook(call_body("acc_quiet", "q_late", "2026-01-31T10:00:00Z", 60, occurred_at="2026-02-03T10:00:00Z"))
    fair_use_run(world, MAR_RUN)
    record = fair_use_record(world, "acc_quiet", "2026-01")
    assert record is not None
    assert (record["revision"], record["totals"]["seconds"], record["status"]) == (2, 3060, "over_allowance")
    assert len(world.notices("acc_quiet")) == 1
    assert len(world.emails()) == 1


def test_the_run_twice_writes_one_record_and_one_notice(world: World) -> None:
    account(world, "acc_twice")
    calls(world, "acc_twice", ("u1", 3700))
    first = fair_use_run(world, FEB_RUN)
    again = fair_use_run(world, FEB_RUN)
    later = fair_use_run(world, "2026-02-02T09:00:00Z")  # a manual rerun the next day
    assert (first["accounts_dispatched"], again["accounts_dispatched"], later["accounts_dispatched"]) == (1, 0, 0)
    assert len(world.ledger("acc_twice", "FAIRUSE#")) == 1
    assert fair_use_record(world, "acc_twice", "2026-01")["revision"] == 1  # type: ignore[index]
    assert len(world.notices("acc_twice")) == 1
    assert len(emails_to(world, "billing@acc_twice.example")) == 1
    assert len(emails_to(world, DIRECTOR)) == 1
    assert sorted(kinds(world)) == ["fair_use.review", "fair_use.review_list"]


def test_the_directors_email_lists_every_user_in_review_once(world: World) -> None:
    account(world, "acc_a", paying_users=2)
    calls(world, "acc_a", ("alice", 3601), ("bob", 4000), ("carol", 600))
    account(world, "acc_b", package="standard", telephone_support=False, customer_since="2009-01-01")
    calls(world, "acc_b", ("dave", 7200))
    fair_use_run(world, FEB_RUN)
    [listing] = emails_to(world, DIRECTOR)
    assert listing.subject == "Fair-use review list, January 2026: 3 users in 2 accounts"
    for line in (
        "acc_a / alice",
        "60.02 min, 1 call, 1 long; training 1 h = 72.00 GBP",
        "acc_a / bob",
        "66.67 min",
        "acc_b / dave",
        "120.00 min, 1 call, 1 long; training 2 h = 144.00 GBP (legacy terms: no notice sent)",
    ):
        assert line in listing.body
    assert "carol" not in listing.body
    [event] = [e for e in world.bus_events() if e["detail-type"] == "fair_use.review_list"]
    assert [(r["account_id"], r["user_id"], r["terms"]) for r in event["detail"]["reviews"]] == [
        ("acc_a", "alice", "fair_use"),
        ("acc_a", "bob", "fair_use"),
        ("acc_b", "dave", "legacy_terms"),
    ]
    # a later recompute that adds a user lists only that user, as an update
    world.webhook(
        call_body("acc_a", "carol_late", "2026-01-20T10:00:00Z", 3100, "carol", occurred_at="2026-02-05T10:00:00Z")
    )
    fair_use_run(world, MAR_RUN)
    _first, update = emails_to(world, DIRECTOR)
    assert update.subject == "Update to the fair-use review list, January 2026: 1 more in review"
    assert "acc_a / carol" in update.body
    assert "alice" not in update.body and "dave" not in update.body


def test_a_run_that_fans_out_many_accounts_sends_one_review_list_after_the_last(world: World) -> None:
    for n in range(12):
        account(world, f"acc_{n:02d}")
        world.webhook(call_body(f"acc_{n:02d}", f"fan_{n}", "2026-01-15T10:00:00Z", 3700 if n % 4 == 0 else 600))
    result = fair_use_run(world, FEB_RUN)
    assert result["accounts_dispatched"] == 12
    assert all(fair_use_record(world, f"acc_{n:02d}", "2026-01") for n in range(12))
    [listing] = emails_to(world, DIRECTOR)
    assert listing.subject == "Fair-use review list, January 2026: 3 users in 3 accounts"
    assert len([e for e in world.emails() if e.destinations["ToAddresses"] != [DIRECTOR]]) == 3


def test_a_missed_month_is_caught_up_by_the_next_run(world: World) -> None:
    account(world, "acc_gap")
    calls(world, "acc_gap", ("u1", 600))
    world.webhook(call_body("acc_gap", "feb_1", "2026-02-10T10:00:00Z", 3000))
    # no run on 1 February; the run of 1 March rolls up January and February
    result = fair_use_run(world, MAR_RUN)
    assert (result["month"], result["months"], result["accounts_dispatched"]) == ("2026-02", ["2026-01", "2026-02"], 2)
    assert fair_use_record(world, "acc_gap", "2026-01")["status"] == "within"  # type: ignore[index]
    assert fair_use_record(world, "acc_gap", "2026-02")["status"] == "over_allowance"  # type: ignore[index]
    assert [n["notice_id"] for n in world.notices("acc_gap")] == ["ntc_fair_use.over_allowance_acc_gap_2026-02"]


def test_calls_of_the_running_month_wait_for_their_own_run(world: World) -> None:
    account(world, "acc_now")
    world.webhook(call_body("acc_now", "now_1", "2026-02-01T00:30:00Z", 600))
    result = fair_use_run(world, FEB_RUN)
    assert result["accounts_dispatched"] == 0
    assert fair_use_record(world, "acc_now", "2026-02") is None


# ---------------------------------------------------------------- calls in: validation and idempotency
@pytest.mark.parametrize("duration", [0, -60, 86401, 30 * 3600])
def test_zero_negative_and_absurd_durations_are_422(world: World, duration: int) -> None:
    account(world, "acc_v")
    status, body = world.webhook(call_body("acc_v", "bad", "2026-01-05T10:00:00Z", duration))
    assert status == 422
    assert [e["field"] for e in body["errors"]] == ["data.duration_seconds"]


def test_a_full_day_is_accepted(world: World) -> None:
    account(world, "acc_v")
    assert world.webhook(call_body("acc_v", "day", "2026-01-05T00:00:00Z", 86400))[0] == 202


def test_a_call_in_the_future_or_starting_after_its_event_is_422(world: World) -> None:
    account(world, "acc_v")
    future = call_body("acc_v", "f1", "2099-01-05T10:00:00Z", 60, occurred_at="2026-01-05T10:00:00Z")
    status, body = world.webhook(future)
    assert (status, [e["field"] for e in body["errors"]]) == (422, ["data.started_at"])
    backwards = call_body("acc_v", "f2", "2026-01-05T10:00:00Z", 60, occurred_at="2026-01-04T10:00:00Z")
    assert world.webhook(backwards)[0] == 422


def test_a_call_for_an_unknown_account_is_404(world: World) -> None:
    assert world.webhook(call_body("nobody", "c1", "2026-01-05T10:00:00Z", 60))[0] == 404


def test_the_same_call_id_twice_counts_once_even_under_another_event_id(world: World) -> None:
    account(world, "acc_dup")
    body = call_body("acc_dup", "same_call", "2026-01-05T10:00:00Z", 3000)
    assert world.webhook(body)[1]["outcome"] == "recorded"
    # the same event again: replayed
    status, replay = world.webhook(body)
    assert (status, replay["outcome"]) == (200, "recorded")
    # the same call under a new event id: accepted, not counted again
    again = call_body("acc_dup", "same_call", "2026-01-05T10:00:00Z", 3000)
    status, dup = world.webhook(again)
    assert (status, dup["outcome"]) == (202, "duplicate")
    # the same call id with other details: a conflict, nothing changes
    other = call_body("acc_dup", "same_call", "2026-01-06T10:00:00Z", 100)
    status, conflict = world.webhook(other)
    assert status == 409 and "already recorded" in conflict["message"]
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_dup", "2026-01")
    assert record is not None
    assert (record["totals"]["calls"], record["totals"]["seconds"]) == (1, 3000)


# ---------------------------------------------------------------- the read endpoint
def test_the_month_to_date_then_the_stored_rollup(world: World) -> None:
    account(world, "acc_api")
    calls(world, "acc_api", ("u1", 2000), ("u1", 800))
    status, live = world.get("/accounts/acc_api/fair-use/2026-01")
    assert status == 200
    assert (live["source"], live["final"], live["status"], live["totals"]["minutes"]) == (
        "month_to_date",
        False,
        "over_allowance",
        "46.67",
    )
    fair_use_run(world, FEB_RUN)
    status, stored = world.get("/accounts/acc_api/fair-use/2026-01")
    assert (status, stored["source"], stored["final"], stored["revision"]) == (200, "rollup", True, 1)
    assert stored["users"] == live["users"]
    assert stored["notices"] == ["ntc_fair_use.over_allowance_acc_api_2026-01"]
    # a month without calls: zeros, within
    _, empty = world.get("/accounts/acc_api/fair-use/2025-12")
    assert (empty["source"], empty["totals"]["calls"], empty["status"]) == ("month_to_date", 0, "within")
    assert (empty["paying_users"], empty["pooled_allowance_minutes"]) == (1, 45)


def test_the_read_endpoint_rejects_a_bad_month_and_an_unknown_account(world: World) -> None:
    account(world, "acc_api")
    status, body = world.get("/accounts/acc_api/fair-use/2026-13")
    assert (status, body["errors"][0]["field"]) == (422, "month")
    assert world.get("/accounts/acc_api/fair-use/january")[0] == 422
    assert world.get("/accounts/nobody/fair-use/2026-01")[0] == 404


# ---------------------------------------------------------------- the sample events
def test_the_sample_events_work(world: World) -> None:
    for name in ("account_upserted", "call_completed"):
        status, body = world.webhook((EVENTS / "webhooks" / f"{name}.json").read_bytes())
        assert status == 202, body
    scheduled = json.loads((EVENTS / "fair_use_rollup__scheduled.json").read_text())
    assert fair_use_run(world, scheduled["time"])["accounts_dispatched"] == 1
    assert world.run("FairUseRollupFunction", scheduled)["accounts_dispatched"] == 0  # the same run again
    assert world.run("FairUseRollupFunction", json.loads((EVENTS / "fair_use_rollup__as_of.json").read_text()))
    response = world.invoke("CrmWebhookFunction", json.loads((EVENTS / "crm_webhook__get_fair_use.json").read_text()))
    view = json.loads(response["body"])
    assert (response["statusCode"], view["source"], view["terms"]) == (200, "rollup", "not_entitled")


# ---------------------------------------------------------------- entitlement at the time of the call
def test_a_call_is_judged_by_the_subscription_in_force_when_it_started(world: World) -> None:
    # Given the telephone-support add-on, switched off by a plan change at noon on 20 January
    start = {"started_on": "2026-01-10", "customer_since": "2026-01-10", "occurred_at": "2026-01-10T08:00:00Z"}
    account(world, "acc_switch", package="standard", telephone_support=True, paying_users=2, **start)
    change = {
        "id": "evt_switch_off",
        "type": "plan.change_requested",
        "occurred_at": "2026-01-20T12:00:00Z",
        "account_id": "acc_switch",
        "data": {
            "telephone_support": False,
            "effective": "immediate",
            "reason": "Support no longer needed",
            "requested_by": "crm:admin",
        },
    }
    status, body = world.webhook(change)
    assert status == 202, body
    # When a call made on the 18th is reported on the 22nd, and another is made on the 21st
    before = call_body("acc_switch", "sw_1", "2026-01-18T10:00:00Z", 1200, occurred_at="2026-01-22T09:00:00Z")
    after = call_body("acc_switch", "sw_2", "2026-01-21T10:00:00Z", 600)
    # Then the first was covered by the add-on, the second not
    assert world.webhook(before)[1]["entitlement"] == "add_on"
    assert world.webhook(after)[1]["entitlement"] == "not_entitled"
    fair_use_run(world, FEB_RUN)
    record = fair_use_record(world, "acc_switch", "2026-01")
    assert record is not None
    assert (record["terms"], record["paying_users"], record["totals"]["seconds"]) == ("fair_use", 2, 1200)
    assert (record["not_entitled"]["calls"], record["not_entitled"]["seconds"]) == (1, 600)


def test_a_months_statuses_are_listed_without_a_scan_for_the_report(world: World) -> None:
    from overage.domain.instants import Month
    from overage.store.calls import CallsStore

    account(world, "acc_r1")
    calls(world, "acc_r1", ("u1", 3700))
    account(world, "acc_r2", package="standard", telephone_support=False, customer_since="2015-01-01")
    calls(world, "acc_r2", ("u1", 300))
    fair_use_run(world, FEB_RUN)
    store = CallsStore(world.template.physical_id("CallsTable"), world.ddb)
    summaries = sorted(store.month_summaries(Month(2026, 1)), key=lambda s: s["account_id"])
    assert [
        (s["account_id"], s["status"], s["terms"], s["users_in_review"], s["not_entitled_calls"]) for s in summaries
    ] == [
        ("acc_r1", "review", "fair_use", 1, 0),
        ("acc_r2", "within", "not_entitled", 0, 1),
    ]
    assert list(store.pending(Month(2026, 1))) == []
