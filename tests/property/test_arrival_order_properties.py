"""Hypothesis over arrival order, end to end through the stores (spec §4: counts and account upserts are applied
last-writer-wins by ``occurred_at``, and ``occurred_at`` may lie anywhere in the past).

A history of one account (its creation, later upserts changing the package, tier or packs, contacts and profiles
snapshots, each with its own ``occurred_at``) is applied twice in one moto world, to two accounts: once in time order,
once in a drawn arrival order with some events delivered again, an event about an account not created yet being
refused (404) and sent again later, as the CRM retries. Each event goes through ``ingest`` into the real stores
(no webhook idempotency in front: the stores alone must converge). Both accounts end in the same state.

A profile count is measured against the limit in force at its ``occurred_at`` (the account keeps the history of its
limit) and then carried through the limit changes dated after it, so a count arriving after a pack or package
change newer than itself ends as if it had come first. The second property pins that down exactly: an account's
first count delivered late, after the pack and package changes that followed it, gives the same episodes (opened at
the same moment, the same grace end, the same transitions and outcome), the same notices and the same account item.

What arrival order may still change, and the first property leaves out: *when* an episode opened, so its grace end
(``grace_due_at``), the count it opened with and its id, whenever a notice was sent from what had arrived by then.
A snapshot older than the count in force cannot open an episode after the fact (see test_excess_profile_properties)
and an announced grace period is never moved; a limit change is measured with the count in force when it arrives
(a count dated before it may still be on its way). Histories span less than the 14-day grace period, so no
grace-expiry run falls between the events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from overage.domain.account import standing
from overage.domain.catalog import default_catalog
from overage.domain.crm_events import parse_crm_event
from overage.domain.excess_profiles import (
    Happening,
    LimitChange,
    ProfilesState,
    apply_limit,
    apply_snapshot,
    limits_that_matter,
    with_limit_change,
)
from overage.domain.instants import to_key
from overage.errors import NotFound
from overage.runtime.config import Settings
from overage.services import crm_events as ingest
from overage.store.accounts import AccountsStore
from overage.store.excess_profiles import ExcessProfilesStore
from overage_local import runtime

from tests.support import World, episodes, moto_world

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
            ingest.apply_event(event, ingest.deps(settings_, CATALOG, now))
        except NotFound:
            refused += 1
            # each delivery (repeats included) can be refused at most once: within one pass the upsert that
            # creates the account has arrived, so everything sent again afterwards is accepted
            assert refused <= len(order), "the account was never created"
            queue.append(n)


def limits_kept(world: World, account_id: str) -> list[tuple[str, int, str]]:
    """The limit's history as far as a later count can still be measured against it (what is stored beyond that
    depends on when it was last tidied, not on what happened)."""
    store = ExcessProfilesStore(AccountsStore(world.accounts_table, world.ddb), None, CATALOG)  # type: ignore[arg-type]
    loaded = store.require(account_id)
    return [(change.version, change.limit, change.cause) for change in limits_that_matter(loaded.state)]


def end_state(world: World, account_id: str) -> dict[str, Any]:
    """The account item and its standing, with the account's own ids taken out, and the episode's figures only."""
    item = world.account_item(account_id)
    # derived from the account id; a write counter (the lock); when the open episode's grace ends (see module doc)
    for left_out in ("billing_shard", "grace_shard", "excess_rev", "grace_due_at"):
        item.pop(left_out, None)
    item["limit_history"] = limits_kept(world, account_id)
    shown = standing(world_account(item), CATALOG)
    episode = item.pop("open_episode", None)
    shown.pop("open_episode", None)
    figures = None
    if episode is not None:
        figures = {key: episode.get(key) for key in ("state", "count", "limit")}
    text = json.dumps({"item": item, "standing": shown, "episode": figures}, sort_keys=True, default=str)
    return json.loads(text.replace(account_id, "ACC"))


def everything(world: World, account_id: str) -> dict[str, Any]:
    """The account item (but its write counter), the kept limit history, every episode record and every notice
    (kind, id, business time, figures), with the account's id and the ids derived from it taken out."""
    item = world.account_item(account_id)
    for left_out in ("billing_shard", "grace_shard", "excess_rev"):
        item.pop(left_out, None)
    item["limit_history"] = limits_kept(world, account_id)
    records = episodes(world, account_id)
    notices = [(n["kind"], n["notice_id"], n["created_at"], n["detail"]) for n in world.notices(account_id)]
    text = json.dumps({"item": item, "episodes": records, "notices": notices}, sort_keys=True, default=str)
    for n, record in enumerate(records):  # an episode id hashes its opening fact's id, which names the account
        text = text.replace(record["episode_id"].rsplit("-", 1)[1], f"EP{n}")
    return json.loads(text.replace(account_id, "ACC"))


SUBSCRIPTION_KEYS = ("package", "contact_tier", "paying_users", "profile_packs")


def latest_facts(events: list[Event]) -> dict[str, Any]:
    """What the account must hold after the history: the latest upsert's subscription and the latest counts."""
    latest: dict[str, Event] = {}
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        latest[event["type"]] = event
    upsert = latest["account.upserted"]["data"]
    facts: dict[str, Any] = {key: upsert[key] for key in SUBSCRIPTION_KEYS}
    contacts = latest.get("contacts.counted")
    facts["contacts"] = None if contacts is None else (contacts["data"]["active"], contacts["data"]["archived"])
    profiles = latest.get("profiles.counted")
    facts["profiles"] = None if profiles is None else profiles["data"]["count"]
    return facts


def saved_facts(item: dict[str, Any]) -> dict[str, Any]:
    facts = {key: item.get(key) for key in SUBSCRIPTION_KEYS}
    has_contacts = item.get("contacts_active") is not None
    facts["contacts"] = (item["contacts_active"], item["contacts_archived"]) if has_contacts else None
    facts["profiles"] = item.get("profiles_count")
    return facts


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
            # The same state, and the right one: the latest fact of each kind (nothing saved would also be "the same").
            assert saved_facts(world.account_item(in_time)) == latest_facts(events)

        arrival_order_does_not_matter()


@st.composite
def late_first_counts(draw: st.DrawFn) -> tuple[list[Event], list[int], list[int]]:
    """Profile counts and pack or package changes in time order, and an arrival order in which the account's first
    count comes late: after any of the changes that followed it, never after the next count."""
    events: list[Event] = [{"type": "account.upserted", "occurred_at": CREATED, "data": upsert_data(draw)}]
    minutes = draw(st.lists(st.integers(1, SPAN_MINUTES), min_size=2, max_size=9, unique=True))
    size = len(minutes)
    kinds = draw(st.lists(st.sampled_from(["profiles.counted", "account.upserted"]), min_size=size, max_size=size))
    if "profiles.counted" not in kinds:
        kinds[-1] = "profiles.counted"
    for minute, kind in zip(sorted(minutes), kinds, strict=True):
        at = CREATED + timedelta(minutes=minute)
        if kind == "profiles.counted":
            data: dict[str, Any] = {"count": draw(st.sampled_from(PROFILE_COUNTS))}
        else:
            data = upsert_data(draw)
        events.append({"type": kind, "occurred_at": at, "data": data})
    counts = [n for n, event in enumerate(events) if event["type"] == "profiles.counted"]
    first = counts[0]
    passable = (counts[1] if len(counts) > 1 else len(events)) - first - 1  # the changes up to the next count
    order = [n for n in range(len(events)) if n != first]
    order.insert(first + draw(st.integers(0, passable)), first)
    again = draw(st.lists(st.integers(0, len(events) - 1), max_size=3))
    return events, order, again


def test_a_first_count_arriving_after_later_pack_or_package_changes_ends_exactly_as_in_time_order() -> None:
    with moto_world({"LogLevel": "ERROR"}) as world:
        env = runtime.function_env(world.template, "CrmWebhookFunction", None)
        settings_ = Settings.from_env(env)
        examples = iter(range(10_000))

        @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(late_first_counts())
        def the_late_count_is_measured_as_if_on_time(history: tuple[list[Event], list[int], list[int]]) -> None:
            events, arrival, again = history
            n = next(examples)
            in_time, in_arrival = f"acc_t{n}", f"acc_a{n}"
            deliver(settings_, in_time, events, list(range(len(events))))
            order = list(arrival)
            for index in again:  # delivered again later: a stale count or upsert changes nothing
                order.append(index)
            deliver(settings_, in_arrival, events, order)
            assert everything(world, in_arrival) == everything(world, in_time)

        the_late_count_is_measured_as_if_on_time()


# ------------------------------------------------------------------ the rules alone, any interleaving
POLICY = CATALOG.policy
Fact = tuple[str, datetime, int, str]  # kind ("count" / "limit"), occurred_at, count or limit, event id


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[Fact], list[Fact]]:
    """Counts and limit changes in time order, and an arrival order keeping each kind in its own order."""
    minutes = draw(st.lists(st.integers(1, SPAN_MINUTES), min_size=1, max_size=12, unique=True))
    facts: list[Fact] = []
    for n, minute in enumerate(sorted(minutes)):
        at = CREATED + timedelta(minutes=minute)
        if draw(st.booleans()):
            facts.append(("count", at, draw(st.sampled_from(PROFILE_COUNTS)), f"n{n:02d}"))
        else:
            facts.append(("limit", at, draw(st.sampled_from([200, 250, 300, 500, 550])), f"u{n:02d}"))
    counts = [fact for fact in facts if fact[0] == "count"]
    limits = [fact for fact in facts if fact[0] == "limit"]
    picks = draw(st.permutations([0] * len(counts) + [1] * len(limits)))  # which kind arrives next
    queues = (counts, limits)
    order = [queues[pick].pop(0) for pick in picks]
    return facts, order


def fold(facts: list[Fact]) -> tuple[ProfilesState, list[Happening]]:
    """Apply the facts in the order given, as the stores do: a limit change joins the history and is measured with
    the count in force; a count is measured against the history."""
    created = LimitChange(f"{to_key(CREATED)}#u", CREATED, 200, "account.upserted:u")
    state, happened = ProfilesState(limit=200, limits=(created,)), []
    for kind, at, value, event in facts:
        if kind == "limit":
            change = LimitChange(f"{to_key(at)}#{event}", at, value, f"account.upserted:{event}")
            state = with_limit_change(state, change)
            step = apply_limit(state, limit=state.limit, occurred_at=at, cause=change.cause, policy=POLICY)
        else:
            step = apply_snapshot(
                state,
                count=value,
                version=f"{to_key(at)}#{event}",
                occurred_at=at,
                cause=f"profiles.counted:{event}",
                policy=POLICY,
            )
        state = step.after
        happened += step.happenings
    return state, happened


@settings(max_examples=300, deadline=None)
@given(interleavings())
def test_counts_interleaved_with_limit_changes_in_any_order_end_with_the_same_episode(
    drawn: tuple[list[Fact], list[Fact]],
) -> None:
    in_time, in_arrival = drawn
    by_time, _ = fold(in_time)
    by_arrival, happened = fold(in_arrival)
    # the same standing and the same open episode (or none), its figures those of the latest count and limit
    figures = [
        (s.count, s.limit, s.approaching_armed, s.episode and (s.episode.state, s.episode.count, s.episode.limit))
        for s in (by_time, by_arrival)
    ]
    assert figures[0] == figures[1]
    assert (by_arrival.episode is not None) == (by_arrival.count is not None and by_arrival.count > by_arrival.limit)
    # and whatever arrived when, no episode moves before it opened, every grace period is 14 days from its opening,
    # and no notice or episode is made twice
    for happening in happened:
        if happening.episode is not None:
            assert happening.at >= happening.episode.opened_at
            assert happening.episode.grace_ends_at == happening.episode.opened_at + timedelta(days=14)
    opened = [h.episode.episode_id for h in happened if h.kind == "exceeded" and h.episode]
    warned = [h.cause for h in happened if h.kind == "approaching"]
    assert (len(set(opened)), len(set(warned))) == (len(opened), len(warned))
