"""Hypothesis: validating a webhook body by its ``type`` (``parse_crm_event``: the envelope's type picks the class)
answers exactly as the discriminated union of all ten types did before issue 20 (the reference below, built here
only): the same event, or the same error class, message and named fields, for valid bodies and broken ones alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain.crm_events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    CrmEvent,
    MalformedJson,
    check_json,
    contract_violation,
    parse_crm_event,
)
from overage.errors import InvalidRequest
from pydantic import TypeAdapter, ValidationError

REFERENCE: TypeAdapter[Any] = TypeAdapter(CrmEvent)
ENVELOPE = {"id": "evt_1", "occurred_at": "2026-02-05T10:00:00Z", "account_id": "acc_1"}
VALID_DATA: dict[str, dict[str, Any]] = {
    "account.upserted": {
        "package": "pro",
        "contact_tier": "t1",
        "billing_cycle": "monthly",
        "currency": "GBP",
        "started_on": "2026-01-01",
        "billing_email": "billing@example.com",
        "paying_users": 3,
        "telephone_support": False,
        "profile_packs": 0,
        "customer_since": "2025-06-01",
    },
    "contacts.counted": {"active": 40, "archived": 2},
    "profiles.counted": {"count": 7},
    "call.completed": {
        "call_id": "call_1",
        "user_id": "user_1",
        "started_at": "2026-02-05T09:00:00+01:00",
        "duration_seconds": 60,
    },
    "plan.change_requested": {"package": "pro", "reason": "growth", "requested_by": "ops@example.com"},
    "payment.received": {"invoice_id": "INV-1", "amount": "2.33", "currency": "GBP"},
    "credit.refunded": {"amount": "1.00", "currency": "GBP", "reason": "goodwill", "requested_by": "support"},
    "invoice.void_requested": {"invoice_id": "INV-1", "reason": "wrong", "requested_by": "support"},
    "credit.granted": {"amount": "5.00", "currency": "GBP", "reason": "outage", "requested_by": "support"},
    "grace.extend_requested": {"days": 3, "reason": "asked", "requested_by": "support"},
}


def reference(raw: str) -> Any:
    """parse_crm_event as it was: one union validator of every type."""
    check_json(raw)
    try:
        return REFERENCE.validate_json(raw, strict=True)
    except ValidationError as error:
        invalid = [e for e in error.errors(include_url=False) if e["type"] == "json_invalid"]
        if invalid:
            raise MalformedJson(invalid[0]["msg"]) from None
        raise contract_violation(error) from None


def outcome(parse: Any, raw: str) -> tuple[Any, ...]:
    try:
        event = parse(raw)
    except InvalidRequest as error:
        return ("422", error.message, error.fields)
    except MalformedJson as error:
        return ("400", str(error))
    return ("event", type(event).__name__, event.model_dump(mode="json"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
type_values = st.sampled_from(EVENT_TYPES) | json_values


@st.composite
def bodies(draw: Any) -> str:
    kind = draw(st.sampled_from(EVENT_TYPES))
    body: Any = {**ENVELOPE, "type": kind, "data": dict(VALID_DATA[kind])}
    for _ in range(draw(st.integers(0, 3))):
        target = body if draw(st.booleans()) else body.get("data")
        if not isinstance(target, dict):
            continue
        action = draw(st.sampled_from(["drop", "set", "add", "retype", "data_of"]))
        keys = sorted(target)
        if action == "drop" and keys:
            target.pop(draw(st.sampled_from(keys)))
        elif action == "set" and keys:
            target[draw(st.sampled_from(keys))] = draw(json_values)
        elif action == "add":
            target[draw(st.text(max_size=6))] = draw(json_values)
        elif action == "retype":
            body["type"] = draw(type_values)
        else:
            body["data"] = dict(VALID_DATA[draw(st.sampled_from(EVENT_TYPES))])
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.sampled_from([[body], "x", None, 1]) | json_values)
    return json.dumps(body)


@settings(max_examples=400, deadline=None)
@given(bodies())
def test_validating_by_type_answers_as_the_union_did(raw: str) -> None:
    assert outcome(parse_crm_event, raw) == outcome(reference, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[]", ("422", "the event does not match the webhook contract", {"body": "Input should be an object"})),
        (
            "{}",
            (
                "422",
                "the event does not match the webhook contract",
                {"type": "type must be one of: " + ", ".join(EVENT_TYPES)},
            ),
        ),
        (
            '{"type": "nope"}',
            (
                "422",
                "the event does not match the webhook contract",
                {"type": "type must be one of: " + ", ".join(EVENT_TYPES)},
            ),
        ),
        (
            '{"type": 5}',
            (
                "422",
                "the event does not match the webhook contract",
                {"type": "type must be one of: " + ", ".join(EVENT_TYPES)},
            ),
        ),
        # what pydantic's parser refuses and json.loads takes (a lone surrogate) stays a 400, whatever the type
        ('{"type": "nope", "x": "\\ud800"}', ("400", "Invalid JSON: unexpected end of hex escape at line 1 column 30")),
        (
            '{"type": "profiles.counted", "x": "\\ud800"}',
            ("400", "Invalid JSON: unexpected end of hex escape at line 1 column 42"),
        ),
        ('{"type": "nope", "a": 1, "a": 2}', ("400", "the key 'a' appears twice in one object")),
    ],
)
def test_bodies_without_a_known_type_answer_as_the_union_did(raw: str, expected: tuple[Any, ...]) -> None:
    assert outcome(parse_crm_event, raw) == expected
    assert outcome(reference, raw) == expected


def test_every_type_of_the_contract_has_its_class() -> None:
    assert tuple(EVENT_CLASSES) == EVENT_TYPES
    for kind, model in EVENT_CLASSES.items():
        assert model.model_fields["type"].annotation.__args__ == (kind,)  # type: ignore[union-attr]


def test_a_valid_body_of_each_type_is_its_own_class() -> None:
    for kind, data in VALID_DATA.items():
        event = parse_crm_event(json.dumps({**ENVELOPE, "type": kind, "data": data}))
        assert type(event) is EVENT_CLASSES[kind]
        assert event.type == kind
