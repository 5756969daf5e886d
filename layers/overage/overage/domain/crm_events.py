"""The CRM webhook contract (spec §4): the envelope and the data of each event type, as pydantic models.

Validation errors name each bad field with a dotted path (``data.count``) so an integrator can fix the request.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
MAX_COUNT = 10_000_000


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountData(_Data):
    package: str = Field(min_length=1, max_length=32)
    contact_tier: str = Field(min_length=1, max_length=32)
    billing_cycle: Literal["monthly", "annual"]
    currency: str = Field(min_length=3, max_length=3)
    started_on: date
    billing_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    paying_users: int = Field(ge=0, le=100_000)
    telephone_support: bool
    profile_packs: int = Field(ge=0, le=10_000)
    customer_since: date


class ContactsData(_Data):
    active: int = Field(ge=0, le=MAX_COUNT)
    archived: int = Field(ge=0, le=MAX_COUNT)


class ProfilesData(_Data):
    count: int = Field(ge=0, le=MAX_COUNT)


class CallData(_Data):
    call_id: str = Field(pattern=EVENT_ID_PATTERN)
    user_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    started_at: AwareDatetime
    duration_seconds: int = Field(gt=0, le=24 * 3600)


class PlanChangeData(_Data):
    package: str | None = Field(default=None, min_length=1, max_length=32)
    contact_tier: str | None = Field(default=None, min_length=1, max_length=32)
    billing_cycle: Literal["monthly", "annual"] | None = None
    paying_users: int | None = Field(default=None, ge=0, le=100_000)
    telephone_support: bool | None = None
    profile_packs: int | None = Field(default=None, ge=0, le=10_000)
    effective: Literal["immediate", "period_end"] | None = None
    cancel_pending: bool | None = None  # true: cancel the pending (period-end) change; names no subscription field
    reason: str = Field(min_length=1, max_length=1000)
    requested_by: str = Field(min_length=1, max_length=254)


class PaymentData(_Data):
    invoice_id: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=EVENT_ID_PATTERN)
    occurred_at: AwareDatetime
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)


class AccountUpserted(_Envelope):
    type: Literal["account.upserted"]
    data: AccountData


class ContactsCounted(_Envelope):
    type: Literal["contacts.counted"]
    data: ContactsData


class ProfilesCounted(_Envelope):
    type: Literal["profiles.counted"]
    data: ProfilesData


class CallCompleted(_Envelope):
    type: Literal["call.completed"]
    data: CallData


class PlanChangeRequested(_Envelope):
    type: Literal["plan.change_requested"]
    data: PlanChangeData


class PaymentReceived(_Envelope):
    type: Literal["payment.received"]
    data: PaymentData


AnyCrmEvent = (
    AccountUpserted | ContactsCounted | ProfilesCounted | CallCompleted | PlanChangeRequested | PaymentReceived
)
CrmEvent = Annotated[AnyCrmEvent, Field(discriminator="type")]
EVENT_TYPES: tuple[str, ...] = (
    "account.upserted",
    "contacts.counted",
    "profiles.counted",
    "call.completed",
    "plan.change_requested",
    "payment.received",
)

_adapter: TypeAdapter[Any] = TypeAdapter(CrmEvent)


def crm_event_schema() -> dict[str, Any]:
    """JSON schema of the webhook body (published in the OpenAPI document)."""
    return _adapter.json_schema(ref_template="#/components/schemas/{model}")


class MalformedJson(ValueError):
    """The body is not a JSON document (mapped to 400, unlike a schema violation)."""


def parse_crm_event(raw: str | bytes) -> AnyCrmEvent:
    """Parse and validate a raw body in strict JSON mode (``"205"`` is not a count).

    Raises ``MalformedJson`` when the body is not JSON, else ``pydantic.ValidationError`` naming each bad field.
    """
    try:
        return _adapter.validate_json(raw, strict=True)
    except ValidationError as error:
        invalid = [e for e in error.errors(include_url=False) if e["type"] == "json_invalid"]
        if invalid:
            raise MalformedJson(invalid[0]["msg"]) from None
        raise


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Flatten a pydantic error into ``[{"field": "data.count", "message": ...}]``, without union tags."""
    out: list[dict[str, str]] = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        if item["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            field = "type"
            message = f"type must be one of: {', '.join(EVENT_TYPES)}"
        else:
            field = ".".join(loc) or "body"
            message = item["msg"]
        out.append({"field": field, "message": message})
    return out
