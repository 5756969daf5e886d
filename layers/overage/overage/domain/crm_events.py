"""The CRM webhook contract (spec §4): the envelope and the data of each event type, as pydantic models.

Validation errors name each bad field with a dotted path (``data.count``) so an integrator can fix the request.
"""

import functools
import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import from_json

from overage.domain.instants import FIRST_YEAR, LAST_YEAR, in_supported_years
from overage.errors import InvalidRequest, MalformedRequest

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
MAX_COUNT = 10_000_000
MAX_FUTURE_SKEW = timedelta(minutes=5)  # how far after its receipt an event or a call may be dated

# ---------------------------------------------------------------- the value types of the contract
# Every date and instant lies in the supported years (domain/instants.py), so no calendar arithmetic on it can
# overflow: outside them, a 422 naming the field.
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 date-time with its offset: never a Unix time ("1700000000"), a bare date or a naive time.
_INSTANT_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# Money is a decimal string with exactly two places and no sign, blank or exponent: "2.33".
_MONEY_RE = re.compile(r"(?:0|[1-9][0-9]{0,11})\.[0-9]{2}")
MONEY_PATTERN = "^" + _MONEY_RE.pattern + "$"
# An address SES sends to: a dot-atom local part (RFC 5322 atext: no quotes, commas, angle brackets or blanks) and a
# domain of DNS labels (letters, digits, "-", "_"; an internationalised domain in its xn-- form). SES parses a
# destination as an address list, so "a,b@example.com" would be two recipients and "<x>@example.com" a display
# name: SES refuses both (InvalidParameterValue), so they are refused here first.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"  # DNS labels may hold "_"; SES does not refuse it
_EMAIL_RE = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+{_LABEL}")


def _in_supported_years(value: date) -> None:
    if not in_supported_years(value):
        raise ValueError(f"must lie in the years {FIRST_YEAR}-{LAST_YEAR}")


def _day(value: Any) -> date:
    """A JSON string ``YYYY-MM-DD`` in the supported years (the model is strict: it gets the date, not the text)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        text = value.isoformat()  # a model built in Python (tests, the demo): checked the same way
    elif isinstance(value, str) and _DATE_RE.fullmatch(value):
        text = value
    else:
        raise ValueError("a date is a string YYYY-MM-DD, such as 2026-02-05")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a date of the calendar") from None
    _in_supported_years(day)
    return day


def _instant(value: Any) -> datetime:
    """A JSON string in RFC 3339 form with its offset, in the supported years (as written and in UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _INSTANT_RE.fullmatch(value):
        text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
        try:
            moment = datetime.fromisoformat(text.replace("t", "T"))
        except ValueError:
            raise ValueError(f"{value} is not an instant of the calendar") from None
    else:
        raise ValueError("an instant is an ISO-8601 string with a time zone, such as 2026-02-05T10:00:00Z")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an instant needs a time zone (Z or an offset)")
    _in_supported_years(moment)  # as written: then the UTC conversion cannot overflow
    _in_supported_years(moment.astimezone(UTC))
    return moment


def _money_text(value: Any) -> Any:
    if not isinstance(value, str) or not _MONEY_RE.fullmatch(value):
        raise ValueError('money is a string with two decimal places and no sign, such as "2.33"')
    return Decimal(value)


def _email(value: str) -> str:
    local, _, _domain = value.rpartition("@")
    if not _EMAIL_RE.fullmatch(value) or len(local) > 64:
        raise ValueError(
            "not an address email can be sent to: local-part@domain, with no blank, quote, comma or angle bracket"
        )
    return value


# The buyer on a VAT invoice (spec §3.8): a VAT number is a two-letter country prefix and 2-13 letters or digits,
# written as registered, without blanks or dots (GB123456789, DE123456789, ATU12345678).
VAT_NUMBER_PATTERN = r"^[A-Z]{2}[A-Z0-9]{2,13}$"
MAX_NAME = 200  # a legal name, as printed on the invoice
MAX_ADDRESS_LINES = 6
MAX_ADDRESS_LINE = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printed_text(value: str) -> str:
    """Text printed on the invoice: one line, no control character, not blank."""
    if _CONTROL.search(value):
        raise ValueError("one line of text: no line break, tab or other control character")
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _vat_number(value: str) -> str:
    if not re.fullmatch(VAT_NUMBER_PATTERN, value):
        raise ValueError(
            "a VAT number is a two-letter country prefix and 2-13 capital letters or digits, no blank or dot, "
            "such as GB123456789"
        )
    return value


Day = Annotated[date, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]
Instant = Annotated[AwareDatetime, BeforeValidator(_instant), WithJsonSchema({"type": "string", "format": "date-time"})]
Money = Annotated[
    Decimal,
    BeforeValidator(_money_text),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["2.33"]}),
]
EmailAddress = Annotated[
    str,
    Field(min_length=3, max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]


PrintedName = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_printed_text)]
AddressLine = Annotated[str, Field(min_length=1, max_length=MAX_ADDRESS_LINE), AfterValidator(_printed_text)]
VatNumber = Annotated[
    str,
    AfterValidator(_vat_number),
    WithJsonSchema({"type": "string", "pattern": VAT_NUMBER_PATTERN, "examples": ["GB123456789"]}),
]


# defer_build (here and on _Envelope): each event type compiles its validator (with its data's) on the first event of
# that type the container receives, by pydantic's own deferred build (``parse_crm_event`` validates with the event's
# own class, never with a union of all ten): a container pays for the types it receives, not for all ten at import.
# Cold start, issue 20.
class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AccountData(_Data):
    package: str = Field(min_length=1, max_length=32)
    contact_tier: str = Field(min_length=1, max_length=32)
    billing_cycle: Literal["monthly", "annual"]
    currency: str = Field(min_length=3, max_length=3)
    started_on: Day
    billing_email: EmailAddress
    paying_users: int = Field(ge=0, le=100_000)
    telephone_support: bool
    profile_packs: int = Field(ge=0, le=10_000)
    customer_since: Day
    # The buyer as a VAT invoice shows it (spec §3.8), each optional; snapshot onto every invoice at issue.
    billing_name: PrintedName | None = None
    billing_address: list[AddressLine] | None = Field(default=None, min_length=1, max_length=MAX_ADDRESS_LINES)
    vat_number: VatNumber | None = None


class ContactsData(_Data):
    active: int = Field(ge=0, le=MAX_COUNT)
    archived: int = Field(ge=0, le=MAX_COUNT)


class ProfilesData(_Data):
    count: int = Field(ge=0, le=MAX_COUNT)


class CallData(_Data):
    call_id: str = Field(pattern=EVENT_ID_PATTERN)
    user_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    started_at: Instant
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
    amount: Money = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    payment_id: str | None = Field(default=None, pattern=EVENT_ID_PATTERN)  # the CRM's id of the money movement


class _Adjustment(_Data):
    """What every support adjustment carries (spec §3.7): why, and who asked."""

    reason: str = Field(min_length=1, max_length=1000, pattern=r"\S")
    requested_by: str = Field(min_length=1, max_length=254, pattern=r"\S")


class CreditRefundedData(_Adjustment):
    amount: Money = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)


class VoidRequestedData(_Adjustment):
    invoice_id: str = Field(min_length=1, max_length=200)


class CreditGrantedData(_Adjustment):
    amount: Money = Field(gt=0)  # ex VAT
    currency: str = Field(min_length=3, max_length=3)


class GraceExtendData(_Adjustment):
    days: int = Field(ge=1, le=30)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(pattern=EVENT_ID_PATTERN)
    occurred_at: Instant
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


class CreditRefunded(_Envelope):
    type: Literal["credit.refunded"]
    data: CreditRefundedData


class InvoiceVoidRequested(_Envelope):
    type: Literal["invoice.void_requested"]
    data: VoidRequestedData


class CreditGranted(_Envelope):
    type: Literal["credit.granted"]
    data: CreditGrantedData


class GraceExtendRequested(_Envelope):
    type: Literal["grace.extend_requested"]
    data: GraceExtendData


AnyCrmEvent = (
    AccountUpserted
    | ContactsCounted
    | ProfilesCounted
    | CallCompleted
    | PlanChangeRequested
    | PaymentReceived
    | CreditRefunded
    | InvoiceVoidRequested
    | CreditGranted
    | GraceExtendRequested
)
CrmEvent = Annotated[AnyCrmEvent, Field(discriminator="type")]
EVENT_TYPES: tuple[str, ...] = (
    "account.upserted",
    "contacts.counted",
    "profiles.counted",
    "call.completed",
    "plan.change_requested",
    "payment.received",
    "credit.refunded",
    "invoice.void_requested",
    "credit.granted",
    "grace.extend_requested",
)

EVENT_CLASSES: dict[str, type[AnyCrmEvent]] = {
    "account.upserted": AccountUpserted,
    "contacts.counted": ContactsCounted,
    "profiles.counted": ProfilesCounted,
    "call.completed": CallCompleted,
    "plan.change_requested": PlanChangeRequested,
    "payment.received": PaymentReceived,
    "credit.refunded": CreditRefunded,
    "invoice.void_requested": InvoiceVoidRequested,
    "credit.granted": CreditGranted,
    "grace.extend_requested": GraceExtendRequested,
}
TYPE_MESSAGE = f"type must be one of: {', '.join(EVENT_TYPES)}"


@functools.cache
def _union_adapter() -> TypeAdapter[Any]:
    """The discriminated union of every event type: only the OpenAPI document needs it (``crm_event_schema``), so
    it is built on the first request for that document, never on the ingest path."""
    return TypeAdapter(CrmEvent)


def crm_event_schema() -> dict[str, Any]:
    """JSON schema of the webhook body (published in the OpenAPI document)."""
    return _union_adapter().json_schema(ref_template="#/components/schemas/{model}")


class MalformedJson(MalformedRequest, ValueError):
    """The body is not a JSON document (a 400, unlike a schema violation)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise MalformedJson(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _not_json_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not a JSON value")


def check_json(raw: str | bytes) -> Any:
    """What RFC 8259 says a JSON text is, which pydantic's parser is lenient about: no ``NaN``/``Infinity`` and no
    key twice in an object (pydantic would keep the last one). ``MalformedJson`` otherwise (a 400). Returns the
    document."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_not_json_constant)
    except ValueError as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        if isinstance(error, MalformedJson):
            raise
        raise MalformedJson(str(error)) from None
    except RecursionError:
        raise MalformedJson("the document is nested too deeply") from None


def parse_crm_event(raw: str | bytes) -> AnyCrmEvent:
    """Parse and validate a raw body in strict JSON mode (``"205"`` is not a count).

    Raises ``MalformedJson`` (400) when the body is not JSON (``check_json``), else ``InvalidRequest`` (422) naming
    each bad field. The envelope's ``type`` picks the class that validates the body (``EVENT_CLASSES``); the answer
    is the one the discriminated union of every type gives (a test compares them): a body that is not an object is
    named ``body``, a missing or unknown ``type`` is named ``type``.
    """
    document = check_json(raw)
    tag = document.get("type") if isinstance(document, dict) else None
    model = EVENT_CLASSES.get(tag) if isinstance(tag, str) else None
    if model is None:
        try:
            from_json(raw)  # pydantic's own parser first, as the union did: what it refuses is a 400
        except ValueError as error:
            raise MalformedJson(f"Invalid JSON: {error}") from None
        field, message = ("type", TYPE_MESSAGE) if isinstance(document, dict) else ("body", "Input should be an object")
        raise InvalidRequest("the event does not match the webhook contract", {field: message})
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as error:
        invalid = [e for e in error.errors(include_url=False) if e["type"] == "json_invalid"]
        if invalid:
            raise MalformedJson(invalid[0]["msg"]) from None
        raise contract_violation(error) from None


def contract_violation(error: ValidationError) -> InvalidRequest:
    """pydantic's error as the one 422 of the API: every bad field named (``field_errors``)."""
    fields: dict[str, str] = {}
    for item in field_errors(error):
        fields.setdefault(item["field"], item["message"])
    return InvalidRequest("the event does not match the webhook contract", fields)


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Flatten a pydantic error into ``[{"field": "data.count", "message": ...}]``, without union tags."""
    out: list[dict[str, str]] = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        if item["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            field = "type"
            message = TYPE_MESSAGE
        else:
            field = ".".join(loc) or "body"
            # A rule of ours (ValueError in a validator): its own words, without pydantic's "Value error, " prefix.
            message = str(item["ctx"]["error"]) if item["type"] == "value_error" else item["msg"]
        out.append({"field": field, "message": message})
    return out
