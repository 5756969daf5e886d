"""Hypothesis over arrival order, end to end through the stores (spec §4: counts and account upserts are applied
last-writer-wins by ``occurred_at``, and ``occurred_at`` may lie anywhere in the past).

A history of one account (its creation, later upserts changing the package, tier or packs, contacts and profiles
snapshots, each with its own ``occurred_at``) is applied twice in one moto world, to two accounts: once in time order,
once in a drawn arrival order with some events delivered again, an event about an account not created yet being
refused (404) and sent again later, as the CRM retries. Each event goes through ``ingest`` into the real stores
(no webhook idempotency in front: the stores alone must converge). Both accounts end in the same state.

What arrival order may change, and is left out of the comparison: *when* an excess-profile episode opened, so its
grace end (``grace_due_at``), the count it opened with and its id. A snapshot older than the count in force cannot
open an episode after the fact (see test_excess_profile_properties); and a count that arrives after an upsert which
lowered the limit, but is dated before it, opens the episode at the count's own time, measured against the limit in
force now (the account keeps no history of its limits). Histories span less than the 14-day grace period, so no
grace-expiry run falls between the events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from overage import ingest
from overage.config import Settings
from overage.domain.account import standing
from overage.domain.catalog import default_catalog
from overage.domain.crm_events import parse_crm_event
from overage.errors import NotFound
from overage.local import runtime

from tests.support import World, moto_world

CATALOG = default_catalog()
CREATED = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
SPAN_MINUTES = 13 * 24 * 60
PROFILE_COUNTS = [150, 179, 180, 199, 200, 201, 230, 249, 250, 251, 449, 450, 451, 500, 501, 560]

Event = dict[str, Any]


def upsert_data(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "package": draw(st.sampled_from(["standard", "complete"])),
        "contact_tier": draw(st.sampled_from(["t50", "t100", "t250", "t500"])),
        "billing_cycle": "monthly",
        "currency": "USD",
        "started_on": "2026-01-10",
        "billing_email": "billing@example.com",
        "paying_users": draw(st.integers(1, 5)),
        "telephone_support": draw(st.booleans()),
        "profile_packs": draw(st.integers(0, 2)),
        "customer_since": "2026-01-10",
    }


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Event], list[int], list[int]]:
    """Events in time order (the first creates the account), an arrival order, and which arrive twice."""
    events: list[Event] = [{"type": "account.upserted", "occurred_at": CREATED, "data": upsert_data(draw)}]
    minutes = draw(st.lists(st.integers(1, SPAN_MINUTES), min_size=1, max_size=9, unique=True))
    for minute in sorted(minutes):
        at = CREATED + timedelta(minutes=minute)
        kind = draw(st.sampled_from(["contacts.counted", "profiles.counted", "account.upserted"]))
        if kind == "contacts.counted":
            data: dict[str, Any] = {"active": draw(st.integers(0, 600)), "archived": draw(st.integers(0, 50))}
        elif kind == "profiles.counted":
            data = {"count": draw(st.sampled_from(PROFILE_COUNTS))}
        else:
            data = upsert_data(draw)
        events.append({"type": kind, "occurred_at": at, "data": data})
    arrival = draw(st.permutations(range(len(events))))
    again = draw(st.lists(st.integers(0, len(events) - 1), max_size=3))
    return events, list(arrival), again


def body(account_id: str, n: int, event: Event) -> str:
    return json.dumps(
        {
            "id": f"evt_{account_id}_{n}",
            "type": event["type"],
            "occurred_at": event["occurred_at"].isoformat().replace("+00:00", "Z"),
            "account_id": account_id,
            "data": event["data"],
        }
    )


def deliver(settings_: Settings, account_id: str, events: list[Event], order: list[int]) -> None:
    """Apply the events in ``order``; one refused because the account is not known yet is sent again at the end."""
    queue = list(order)
    refused = 0
    while queue:
        n = queue.pop(0)
        event = parse_crm_event(body(account_id, n, events[n]))
        now = datetime.now(UTC)
        ingest.check_event(event, CATALOG, now)
        try:
            ingest.apply_event(event, ingest.IngestContext(settings_, CATALOG, now))
        except NotFound:
            refused += 1
            # each delivery (repeats included) can be refused at most once: within one pass the upsert that
            # creates the account has arrived, so everything sent again afterwards is accepted
            assert refused <= len(order), "the account was never created"
            queue.append(n)


def end_state(world: World, account_id: str) -> dict[str, Any]:
    """The account item and its standing, with the account's own ids taken out, and the episode's figures only."""
    item = world.account_item(account_id)
    # derived from the account id; a write counter (the lock); when the open episode's grace ends (see module doc)
    for left_out in ("billing_shard", "grace_shard", "excess_rev", "grace_due_at"):
        item.pop(left_out, None)
    shown = standing(world_account(item), CATALOG)
    episode = item.pop("open_episode", None)
    shown.pop("open_episode", None)
    figures = None
    if episode is not None:
        figures = {key: episode.get(key) for key in ("state", "count", "limit")}
    text = json.dumps({"item": item, "standing": shown, "episode": figures}, sort_keys=True, default=str)
    return json.loads(text.replace(account_id, "ACC"))


def world_account(item: dict[str, Any]) -> Any:
    from overage.domain.account import Account

    return Account.model_validate(item)


def test_any_arrival_order_of_the_same_events_ends_in_the_same_state() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world:
        env = runtime.function_env(world.template, "CrmWebhookFunction", None)
        settings_ = Settings.from_env(env)
        examples = iter(range(10_000))

        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(histories())
        def arrival_order_does_not_matter(history: tuple[list[Event], list[int], list[int]]) -> None:
            events, arrival, again = history
            n = next(examples)
            in_time, in_arrival = f"acc_t{n}", f"acc_a{n}"
            deliver(settings_, in_time, events, list(range(len(events))))
            order = list(arrival)
            for index in again:  # the CRM delivers an event again some time after the first time
                order.insert(min(len(order), order.index(index) + 1 + index), index)
            deliver(settings_, in_arrival, events, order)
            assert end_state(world, in_arrival) == end_state(world, in_time)

        arrival_order_does_not_matter()
