"""Validated input records: one account, one history event.

Both models are frozen pydantic models. They accept what the readers produce (JSON values, CSV text,
Parquet values) and turn every problem into a message a person understands: see
:func:`describe_validation_error`.

A record that validates can be decided, delivered and written out without surprises, so the limits are
checked here, once, for every backend:

* ``account_id`` (and ``customer_id``) is 1 to :data:`MAX_ID_LENGTH` (200) characters, the width of the
  ledger's columns, without invisible (format) characters; text fields hold no control characters (a
  postal address may hold line breaks);
* ``contact.email`` is exactly one address (``name@example.com``: no second address, display name,
  group or comment), ``contact.phone`` is an E.164 number (``+`` and 2 to 15 digits);
* dates and timestamps lie in the years 1900 to 2999 (:data:`EARLIEST_DATE`, :data:`LATEST_DATE`), so
  no time zone conversion or window of days can overflow;
* money is finite and within :data:`MAX_AMOUNT` (10^18); scores and counts within 0 to 10^6; a number in
  ``attributes`` is within :data:`MAX_NUMBER` (10^30), the bound conditions compare against (a NaN or
  infinite float, as Parquet writes a missing value, is kept: it satisfies no comparison);
* an empty contact point is no contact point (the channel is not used).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_AMOUNT",
    "MAX_ID_LENGTH",
    "MAX_NUMBER",
    "NESTED_GROUPS",
    "Account",
    "PreferredHours",
    "Consent",
    "Contact",
    "EventType",
    "Flags",
    "HistoryEvent",
    "Outcome",
    "describe_validation_error",
    "parse_bool",
    "unknown_fields",
]

EventType = Literal[
    "contact",
    "payment",
    "promise",
    "dispute_opened",
    "dispute_resolved",
    "cease_request",
    "consent",
    "hardship_started",
    "hardship_ended",
    "breathing_space_started",
    "breathing_space_ended",
]
Outcome = Literal["sent", "delivered", "failed", "no_answer", "voicemail", "conversation"]
BreathingSpace = Literal["standard", "mental_health_crisis"]

# Error types whose message is already a complete sentence (no "field: " prefix is added).
_SELF_DESCRIBING = "pe_complete"

_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})

MAX_ID_LENGTH: Final = 200
"""The longest ``account_id`` / ``customer_id``: every backend rejects a longer one when it reads the row."""
EARLIEST_DATE: Final = date(1900, 1, 1)
"""The earliest date or timestamp (local date) a record may carry."""
LATEST_DATE: Final = date(2999, 12, 31)
"""The latest date or timestamp (local date) a record may carry."""
MAX_AMOUNT: Final = Decimal(10) ** 18
"""The largest amount of money (in absolute value) a record may carry."""
MAX_COUNT: Final = 1_000_000
"""The largest credit score or count of prior delinquencies."""
MAX_NUMBER: Final = Decimal(10) ** 30
"""The largest number (in absolute value) in ``attributes``."""

# C0 and C1 controls, DEL, the Unicode line separators and the bidirectional overrides and isolates
# (which make a text display differently from what it is).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ADDRESS_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# One addr-spec: a dot-atom local part (RFC 5322 atext, or non-ASCII letters, marks and digits for
# internationalised addresses), '@', a domain of dot-separated labels with a dot in it.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+)*"
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]{0,61}[A-Za-z0-9\u0080-\U0010ffff])?"
_ADDR_SPEC = re.compile(f"{_LOCAL}@{_LABEL}(?:\\.{_LABEL})+")
_MAX_EMAIL_LENGTH: Final = 254


def _escaped(value: Any) -> str:
    """A value as a message may quote it: control characters escaped, at most 60 characters."""
    text = repr(value)[1:-1] if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain_text(value: str | None) -> str | None:
    """A one-line text field: no control characters."""
    if value is not None and _CONTROL.search(value):
        raise PydanticCustomError("pe_text", "holds a control character or line break")
    return value


def _blank_is_none(value: Any) -> Any:
    """An optional id written as an empty or blank text is not given."""
    return None if isinstance(value, str) and not value.strip() else value


def _no_invisible(value: str) -> str:
    """An identifier shows every character it has: no zero-width or other format characters, which would
    make two ids that look the same differ (and slip past the duplicate check)."""
    if any(unicodedata.category(char) == "Cf" for char in value if not char.isascii()):
        raise PydanticCustomError("pe_text", "holds an invisible (format) character such as a zero-width space")
    return value


def _postal_address(value: str | None) -> str | None:
    """A postal address: line breaks allowed (CR LF read as LF), no other control character."""
    if not value:
        return None
    value = value.replace("\r\n", "\n")
    if _ADDRESS_CONTROL.search(value):
        raise PydanticCustomError("pe_address", "holds a control character (only line breaks are allowed)")
    return value


def _email(value: str | None) -> str | None:
    """Exactly one addr-spec: what the provider is asked to deliver to is what the record says."""
    if not value:
        return None
    if _CONTROL.search(value):
        raise PydanticCustomError("pe_email", "holds a line break or control character")
    if value.count("@") > 1 or any(mark in value for mark in ",;"):
        raise PydanticCustomError("pe_email", "holds more than one address; give exactly one")
    if any(mark in value for mark in "<>\"():[]\\ \t"):
        raise PydanticCustomError("pe_email", "is not a bare address: give only name@example.com, without a "
                                  "display name, group, comment, quotes or spaces")
    if any(not char.isascii() and unicodedata.category(char)[0] not in "LMN" for char in value):
        raise PydanticCustomError("pe_email", "holds a space, punctuation or invisible character outside ASCII")
    if len(value) > _MAX_EMAIL_LENGTH or not _ADDR_SPEC.fullmatch(value) or len(value.split("@")[0]) > 64:
        raise PydanticCustomError("pe_email", "is not an e-mail address such as name@example.com")
    return value


def _phone(value: str | None) -> str | None:
    """An E.164 number: ``+``, the country code and the number, digits only."""
    if not value:
        return None
    if not _E164.fullmatch(value):
        raise PydanticCustomError("pe_phone", "is not an E.164 phone number: write + and the country code, "
                                  "digits only, e.g. +12125550100")
    return value


def _in_years(value: date | None) -> date | None:
    if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise PydanticCustomError("pe_range", "is outside the years 1900 to 2999")
    return value


def _amount(value: Decimal | None) -> Decimal | None:
    if value is not None and abs(value) > MAX_AMOUNT:
        raise PydanticCustomError("pe_range", "is beyond 10^18 in absolute value")
    return value


def _count(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_COUNT:
        raise PydanticCustomError("pe_range", "is outside 0 to 1000000")
    return value


Text = Annotated[str | None, AfterValidator(_plain_text)]
Email = Annotated[str | None, AfterValidator(_email)]
Phone = Annotated[str | None, AfterValidator(_phone)]
PostalAddress = Annotated[str | None, AfterValidator(_postal_address)]
RecordId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_plain_text),
                     AfterValidator(_no_invisible)]
RecordDate = Annotated[date | None, AfterValidator(_in_years)]
Amount = Annotated[Decimal | None, AfterValidator(_amount)]
Count = Annotated[int | None, AfterValidator(_count)]


def parse_bool(value: Any) -> Any:
    """Turn true/false/1/0/yes/no (any case) into a bool; None stays None; anything else is an error."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise PydanticCustomError("pe_bool", "is not a boolean (true/false, yes/no, 1/0)")


def _flag(value: Any) -> Any:
    """A hold flag: like :func:`parse_bool`, but null means not set (False)."""
    parsed = parse_bool(value)
    return False if parsed is None else parsed


OptBool = Annotated[bool | None, BeforeValidator(parse_bool)]
FlagBool = Annotated[bool, BeforeValidator(_flag)]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True
    )


class Contact(_Frozen):
    """Contact points; a channel without its contact point is not used."""

    phone: Phone = None
    email: Email = None
    address: PostalAddress = None
    phone_at_work: FlagBool = False
    """The phone number is known to be at the customer's workplace."""
    email_at_work: FlagBool = False
    """The e-mail address is known to be one the customer's employer provides."""


class PreferredHours(_Frozen):
    """The local hours the customer asked to be contacted in (start inclusive, end exclusive)."""

    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> PreferredHours:
        if self.end != time(0, 0) and self.end <= self.start:
            raise PydanticCustomError(_SELF_DESCRIBING, "preferred_hours: end ({end}) must be after start ({start})",
                                      {"end": self.end.strftime("%H:%M"), "start": self.start.strftime("%H:%M")})
        return self


class Consent(_Frozen):
    """Per-channel consent: True, False, or None (unknown). Plugin channels may add their own keys."""

    model_config = ConfigDict(frozen=True, extra="allow", str_strip_whitespace=True)
    __pydantic_extra__: dict[str, OptBool] = Field(init=False)

    sms: OptBool = None
    email: OptBool = None
    voice: OptBool = None

    def get(self, channel: str) -> bool | None:
        """Consent for ``channel`` (a built-in or a plugin channel); None when unknown."""
        if channel in type(self).model_fields:
            value = getattr(self, channel)
        else:
            value = (self.__pydantic_extra__ or {}).get(channel)
        return value if isinstance(value, bool) else None


class Flags(_Frozen):
    """Hold flags carried on the account record; absent means False."""

    dispute: FlagBool = False
    cease_contact: FlagBool = False
    bankruptcy: FlagBool = False
    deceased: FlagBool = False
    attorney: FlagBool = False
    breathing_space: FlagBool = False
    hardship: FlagBool = False

    def active(self) -> frozenset[str]:
        """Names of the flags that are set."""
        return frozenset(name for name in type(self).model_fields if getattr(self, name))


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _plain_number(value: Decimal) -> int | float:
    """A Decimal as the JSON number it stands for: int when integral, else float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _plain(value: Any, where: str = "attributes") -> Any:
    """Attribute values with Decimals (from exact JSON parsing) turned into int/float; a number that is not
    finite or beyond :data:`MAX_NUMBER` is an error (the readers bound the nesting, so recursion is safe)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return value  # NaN and infinities (missing values in Parquet) satisfy no comparison
    if isinstance(value, Decimal | int | float):
        if isinstance(value, Decimal) and not value.is_finite():
            raise PydanticCustomError(_SELF_DESCRIBING, "{where}: {value} is not a finite number",
                                      {"where": where, "value": str(value)})
        magnitude = abs(value if isinstance(value, Decimal) else Decimal(value))
        if magnitude > MAX_NUMBER:
            raise PydanticCustomError(_SELF_DESCRIBING, "{where}: the number is beyond 10^30 in absolute value",
                                      {"where": where})
        return _plain_number(value) if isinstance(value, Decimal) else value
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class Account(_Frozen):
    """One delinquent (or current) credit-card account, as the contract describes it."""

    account_id: RecordId
    customer_id: Annotated[RecordId | None, BeforeValidator(_blank_is_none)] = None
    name: Text = None  # the customer's name, for letters and greetings (extra to the contract)
    region: Text = None
    timezone: str | None = None
    currency: str | None = None
    balance: Annotated[Decimal, AfterValidator(_amount)]
    amount_past_due: Amount = None
    minimum_due: Amount = None
    delinquent_since: RecordDate = None
    credit_score: Count = None
    prior_delinquencies: Count = None
    product: Text = None
    language: Text = None
    contact: Contact = Contact()
    consent: Consent = Consent()
    flags: Flags = Flags()
    attributes: dict[str, Any] = Field(default_factory=dict)
    timezones: tuple[str, ...] = ()
    """Candidate time zones when what is known of the customer's location conflicts: contact only at
    times allowed in every one of them (and in ``timezone`` when it is set too)."""
    preferred_hours: PreferredHours | None = None
    """The customer's stated contact-time preference: contact only inside it."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and _zone(value) is None:
            raise PydanticCustomError(
                "pe_timezone",
                "'{zone}' is not a known IANA time zone (e.g. America/New_York)",
                {"zone": _escaped(value)},
            )
        return value

    @field_validator("timezones", mode="before")
    @classmethod
    def _zone_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # a CSV cell: zones separated by ';' or ','
            value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for name in value:
                if not isinstance(name, str) or _zone(name) is None:
                    raise PydanticCustomError(
                        "pe_timezone", "'{zone}' is not a known IANA time zone (e.g. America/New_York)",
                        {"zone": _escaped(name)})
            return tuple(sorted(set(value)))
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) != 3 or not value.isascii() or not value.isalpha():
            raise PydanticCustomError(
                "pe_currency", "'{code}' is not an ISO 4217 code such as USD", {"code": _escaped(value)}
            )
        return value.upper()

    @field_validator("attributes", mode="before")
    @classmethod
    def _plain_attributes(cls, value: Any) -> Any:
        return _plain(value) if isinstance(value, dict) else value

    @property
    def past_due(self) -> Decimal:
        """The amount past due; the balance when the record does not say."""
        return self.balance if self.amount_past_due is None else self.amount_past_due

    @property
    def zone(self) -> ZoneInfo | None:
        """The account's time zone, or None when the record has none (the policy's applies)."""
        return None if self.timezone is None else _zone(self.timezone)

    @property
    def candidate_zones(self) -> tuple[str, ...]:
        """Every zone the customer may be in when the record lists several (``timezone`` included)."""
        if not self.timezones:
            return ()
        return tuple(sorted({*self.timezones, *((self.timezone,) if self.timezone else ())}))


_REQUIRED_BY_TYPE: Final[dict[str, tuple[str, ...]]] = {
    "contact": ("channel", "outcome"),
    "promise": ("due",),
    "consent": ("channel", "granted"),
}
_EVENT_KEY_ORDER: Final = (
    "account_id",
    "at",
    "type",
    "channel",
    "outcome",
    "action",
    "notice",
    "amount",
    "due",
    "granted",
    "breathing_space",
    "counts_as_attempt",
)


class HistoryEvent(_Frozen):
    """One thing that happened to an account: a contact, a payment, a promise, a hold starting or ending."""

    account_id: RecordId
    at: datetime
    type: EventType
    channel: Text = None
    outcome: Outcome | None = None
    action: Text = None
    notice: Text = None
    amount: Amount = None
    due: RecordDate = None
    granted: OptBool = None
    breathing_space: BreathingSpace | None = None
    """For ``breathing_space_started``: ``standard`` (60 days) or ``mental_health_crisis`` (until 30 days
    after the treatment ends, which ``breathing_space_ended`` records)."""
    counts_as_attempt: OptBool = None
    """False for a contact that did not reach out to the customer (an agent task opened, a legal referral
    filed); such events count for cadence, never against caps."""

    @field_validator("at", mode="wrap")
    @classmethod
    def _aware(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
        if not isinstance(value, str | datetime):
            raise PydanticCustomError("pe_timestamp", "is not an ISO 8601 timestamp with a UTC offset")
        parsed: datetime = handler(value)
        shown = value if isinstance(value, str) else value.isoformat()
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise PydanticCustomError(_SELF_DESCRIBING, "at '{raw}' has no UTC offset", {"raw": _escaped(shown)})
        if not EARLIEST_DATE <= parsed.date() <= LATEST_DATE:  # offsets are under a day: UTC cannot overflow
            raise PydanticCustomError(_SELF_DESCRIBING, "at '{raw}' is outside the years 1900 to 2999",
                                      {"raw": _escaped(shown)})
        return parsed

    @model_validator(mode="after")
    def _fields_for_type(self) -> HistoryEvent:
        missing = [name for name in _REQUIRED_BY_TYPE.get(self.type, ()) if getattr(self, name) is None]
        if missing:
            raise PydanticCustomError(
                _SELF_DESCRIBING,
                "a {type} event needs {fields}",
                {"type": self.type, "fields": " and ".join(missing)},
            )
        return self

    def to_json_dict(self) -> dict[str, Any]:
        """The event as contract JSON: fixed key order, None fields left out, numbers as JSON numbers."""
        out: dict[str, Any] = {}
        for key in _EVENT_KEY_ORDER:
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, datetime | date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = _plain_number(value)
            out[key] = value
        return out


NESTED_GROUPS: Final[dict[str, type[BaseModel] | None]] = {
    "contact": Contact,
    "consent": Consent,
    "flags": Flags,
    "attributes": None,
    "preferred_hours": PreferredHours,
}
# Nested groups whose keys are fixed (consent takes plugin channels, attributes anything).
_CLOSED_GROUPS: Final[dict[str, type[BaseModel]]] = {"contact": Contact, "flags": Flags,
                                                     "preferred_hours": PreferredHours}


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields)


def unknown_fields(model: type[BaseModel], data: Mapping[str, Any]) -> list[str]:
    """Keys of ``data`` (dotted for nested groups) that ``model`` does not know and will drop."""
    known = _field_names(model)
    unknown: list[str] = []
    for key, value in data.items():
        if key not in known:
            unknown.append(key)
        elif model is Account and key in _CLOSED_GROUPS and isinstance(value, dict):
            names = _field_names(_CLOSED_GROUPS[key])
            unknown.extend(f"{key}.{sub}" for sub in value if sub not in names)
    return unknown


def _show(value: Any) -> str:
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_PHRASES: Final[dict[str, str]] = {
    "decimal_parsing": "is not a number",
    "decimal_type": "is not a number",
    "finite_number": "is not a number",
    "float_parsing": "is not a number",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "int_type": "is not a whole number",
    "date_parsing": "is not a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "is not a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "is not a date (YYYY-MM-DD)",
    "date_type": "is not a date (YYYY-MM-DD)",
    "datetime_parsing": "is not an ISO 8601 timestamp",
    "datetime_from_date_parsing": "is not an ISO 8601 timestamp",
    "datetime_type": "is not an ISO 8601 timestamp",
    "string_type": "is not text",
    "bool_parsing": "is not a boolean (true/false, yes/no, 1/0)",
    "bool_type": "is not a boolean (true/false, yes/no, 1/0)",
    "model_type": "is not an object",
    "dict_type": "is not an object",
}


def describe_validation_error(error: ValidationError) -> str:
    """One readable reason for a failed record, e.g. ``balance: 'abc' is not a number``."""
    parts: list[str] = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"])
        kind = item["type"]
        value = item.get("input")
        if kind == _SELF_DESCRIBING:
            parts.append(item["msg"])
        elif kind == "missing":
            parts.append(f"{loc} is required")
        elif kind == "string_too_short":
            parts.append(f"{loc} must not be empty")
        elif kind == "string_too_long":
            parts.append(f"{loc} is longer than {item.get('ctx', {}).get('max_length')} characters")
        elif kind == "literal_error":
            expected = str(item.get("ctx", {}).get("expected", "")).replace("'", "")
            parts.append(f"{loc}: {_show(value)} is not one of {expected}")
        elif kind in _PHRASES or kind.startswith("pe_"):
            phrase = _PHRASES.get(kind, item["msg"])
            if kind in ("pe_timezone", "pe_currency"):
                parts.append(f"{loc}: {phrase}")
            else:
                parts.append(f"{loc}: {_show(value)} {phrase}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)
