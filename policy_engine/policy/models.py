"""The policy language as pydantic v2 models.

One TOML file maps onto :class:`PolicyFile`. Every table forbids unknown keys, so a typo is an error with
a location, never a silently ignored setting. Conditions are parsed into the AST of
:mod:`policy_engine.policy.conditions`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from policy_engine.policy.conditions import (
    FACTS,
    Condition,
    ConditionError,
    condition_to_data,
    parse_condition,
)
from policy_engine.policy.origins import CapKey

__all__ = [
    "Action",
    "AfterConversation",
    "Cap",
    "ContactHours",
    "Escalation",
    "EscalationAction",
    "Expectation",
    "ExpectedAction",
    "ExpectedSuppression",
    "Guardrails",
    "Hold",
    "LegalRules",
    "Metadata",
    "Notice",
    "Offer",
    "PolicyFile",
    "PolicyTest",
    "Requirement",
    "Segment",
    "Stage",
    "TemplateText",
    "TestFile",
    "Variant",
    "DpdRange",
    "Window",
]

_ID = re.compile(r"\A[A-Za-z][A-Za-z0-9_\-]*\Z")  # \Z, not $: "id\n" must not pass
MAX_ID_LENGTH = 100
"""The longest id a policy may write (ids are stored in the ledger's 200-character columns)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MAX_DAYS = 3660
"""The longest window, cadence, wait or pause a policy may write: ten years of local days."""
MAX_LIMITATION_DAYS = 36525
"""The longest limitation period: a hundred years."""
MAX_COUNT = 100_000
"""The largest cap or count a policy may write."""
MAX_AMOUNT = 10**15
"""The largest amount of money an offer may name."""

ContactKind = Literal["call", "text", "email", "letter"]
"""What a guardrail speaks of: ``call`` covers every channel of kind ``call`` and ``agent`` (a person's call
is a call), ``text``, ``email`` and ``letter`` the channels of that kind."""

NOTICE_PURPOSES = ("validation", "arrears", "default", "pre_legal", "letter_of_claim", "collection_ending",
                   "remedy_may_be_invoked", "remedy_invoked", "information")
NoticePurpose = Literal["validation", "arrears", "default", "pre_legal", "letter_of_claim", "collection_ending",
                        "remedy_may_be_invoked", "remedy_invoked", "information"]
"""What a written notice is for; holds and baselines name purposes, not a bank's notice ids."""
OFFER_KINDS = ("installment", "rate_reduction", "settlement", "fee_waiver", "token_payment", "refinance")


def _identifier(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise PydanticCustomError(
            "identifier", "'{value}...' is not a valid id: an id is at most {limit} characters",
            {"value": value[:20], "limit": MAX_ID_LENGTH},
        )
    if isinstance(value, str) and not _ID.match(value):
        raise PydanticCustomError(
            "identifier",
            "'{value}' is not a valid id: start with a letter, then letters, digits, '_' or '-'",
            {"value": value},
        )
    return value


Id = Annotated[str, BeforeValidator(_identifier)]


def _condition_validator(allow: frozenset[str] | None) -> Any:
    def validate(value: Any) -> Condition:
        if isinstance(value, (dict,)):
            try:
                return parse_condition(value, allow=allow)
            except ConditionError as exc:
                raise PydanticCustomError(
                    "condition", "{message}", {"message": exc.message, "subpath": list(exc.subpath)}
                ) from None
        if value is None:
            raise PydanticCustomError("condition", "a condition table is required here", {"subpath": []})
        if isinstance(value, (tuple,)) or hasattr(value, "__dataclass_fields__"):
            return value  # already parsed (merging re-validates)
        raise PydanticCustomError(
            "condition",
            "a condition must be a table such as { dpd = { gte = 30 } }, found {found}",
            {"found": repr(value), "subpath": []},
        )

    return validate


_CONDITION_SCHEMA = {
    "type": "object",
    "description": "Facts and predicates: { fact = value } or { fact = { op = value } }; "
    "combine with all / any / not. Facts: " + ", ".join(sorted(FACTS)) + ", flags.*, consent.*, "
    "contact.*, attributes.*",
}

ConditionField = Annotated[
    Condition,
    PlainValidator(_condition_validator(None)),
    PlainSerializer(condition_to_data, return_type=Any),
    WithJsonSchema(_CONDITION_SCHEMA),
]
SegmentConditionField = Annotated[
    Condition,
    PlainValidator(_condition_validator(frozenset(FACTS) - {"segment"})),
    PlainSerializer(condition_to_data, return_type=Any),
    WithJsonSchema(_CONDITION_SCHEMA),
]


def _clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"(\d{2}):(\d{2})", value)
        if m and int(m[1]) <= 24 and int(m[2]) < 60 and not (int(m[1]) == 24 and int(m[2])):
            return time(0, 0) if value == "24:00" else time(int(m[1]), int(m[2]))
    raise PydanticCustomError("clock", "'{value}' is not a time of day: write \"HH:MM\", e.g. \"08:30\"",
                              {"value": value})


Clock = Annotated[
    time,
    PlainValidator(_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}$"}),
]


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date", "'{value}' is not a date: write YYYY-MM-DD, e.g. 2026-10-01",
                                      {"value": value}) from None
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class Strict(BaseModel):
    """Base of every policy table: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Metadata(Strict):
    """The `[policy]` table: who this policy is and what it extends."""

    id: Id
    version: str | None = None
    kind: Literal["policy", "baseline"] = "policy"
    title: str | None = None
    description: str | None = None
    jurisdiction: str | None = None
    timezone: str | None = None
    currency: str | None = None
    locale: str | None = None
    extends: list[str] = Field(default_factory=list)
    owner: str | None = None
    applies_to: SegmentConditionField | None = Field(
        default=None, description="which accounts this policy governs, e.g. { region = { in = ['CN'] } }; "
        "the others get an empty decision marked in_scope = false")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise PydanticCustomError(
                    "timezone", "unknown time zone '{value}' (use an IANA name such as Asia/Shanghai)",
                    {"value": value},
                ) from None
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z]{3}", value):
            raise PydanticCustomError("currency", "'{value}' is not an ISO 4217 code such as CNY, USD, GBP",
                                      {"value": value})
        return value


class ContactHours(Strict):
    """Allowed local clock window for outbound contact: start inclusive, end exclusive."""

    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _order(self) -> ContactHours:
        if self.end != time(0, 0) and self.end <= self.start:
            raise PydanticCustomError("hours", "contact hours end ({end}) must be after start ({start})",
                                      {"end": self.end.strftime("%H:%M"), "start": self.start.strftime("%H:%M")})
        return self


class Cap(Strict):
    """At most `max` contacts on `channels` (and channels of `kinds`) within the last `days` local days."""

    id: Id | None = None
    channels: list[str] = Field(default_factory=list, description="channel names the cap covers; with no "
                                "channels and no kinds: every channel that is a contact")
    kinds: list[ContactKind] = Field(default_factory=list, description="channel kinds the cap covers: "
                                     "call (voice calls and agent tasks), text, email, letter")
    regions: list[str] = Field(default_factory=list, description="account regions the cap binds; empty: all")
    max: int = Field(ge=0, le=MAX_COUNT)
    days: int = Field(ge=1, le=MAX_DAYS)
    count: Literal["attempts", "conversations"] = "attempts"
    description: str | None = None

    @property
    def key(self) -> CapKey:
        """What identifies this cap when a policy tightens its baseline's."""
        return CapKey(tuple(sorted(self.channels)), self.days, self.count, tuple(sorted(self.kinds)),
                      tuple(sorted(self.regions)))


class AfterConversation(Strict):
    """No contact on `channels` (and channels of `kinds`) for `days` local days after a conversation on them
    (conversation day = day 1)."""

    channels: list[str] = Field(default_factory=list)
    kinds: list[ContactKind] = Field(default_factory=list, description="call covers voice calls and agent tasks")
    days: int = Field(ge=1, le=MAX_DAYS)
    description: str | None = None


class Hold(Strict):
    """A state in which contact stops (on `channels`, or on every channel)."""

    id: Id
    when: ConditionField
    channels: list[str] = Field(default_factory=list, description="empty (and no kinds): all channels")
    kinds: list[ContactKind] = Field(default_factory=list, description="channel kinds the hold stops")
    except_channels: list[str] = Field(default_factory=list)
    allow_purposes: list[NoticePurpose] = Field(
        default_factory=list, description="written notices (letters, e-mails) with these purposes still go out, "
        "e.g. after a cease request: collection_ending, remedy_may_be_invoked, remedy_invoked")
    description: str | None = None


class LegalRules(Strict):
    """What must be true before any action on a channel of kind `legal`."""

    min_dpd: int = Field(default=0, ge=0, le=MAX_DAYS, description="a policy extending a baseline may leave it out")
    require_notice: bool = True
    notice_channels: list[str] = Field(default_factory=lambda: ["letter"])
    min_notice_days: int = Field(default=0, ge=0, le=MAX_DAYS)
    time_barred_after_days: int | None = Field(default=None, ge=1, le=MAX_LIMITATION_DAYS)
    time_barred_after_days_by_region: dict[str, Annotated[int, Field(ge=1, le=MAX_LIMITATION_DAYS)]] = Field(
        default_factory=dict, description="limitation period per account region (e.g. US-NY: 1095); the "
        "strictest applicable one wins")
    required_notices: list[Requirement] = Field(
        default_factory=list, description="notices every legal action needs, each served at least N days "
        "earlier (e.g. the UK default notice and Letter of Claim)")
    description: str | None = None


class ContentRules(Strict):
    """Content a channel's messages must carry or must not carry."""

    opt_out_required: list[str] = Field(default_factory=list)
    voicemail_limited_content: bool = False


class Guardrails(Strict):
    """Limits enforced whatever the rules ask for. A policy may tighten its baseline's, never loosen them."""

    contact_hours: ContactHours | None = None
    channel_hours: dict[str, ContactHours] = Field(default_factory=dict)
    kind_hours: dict[Literal["call", "text", "email"], ContactHours] = Field(
        default_factory=dict, description="hours per channel kind: call covers voice calls and agent tasks")
    days_off: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(default_factory=list)
    holidays: str | None = Field(default=None, description="holiday calendar: CN, US, GB, US-MA, ...")
    holidays_by_region: dict[str, str] = Field(
        default_factory=dict, description="the holiday calendar of accounts in a region, e.g. US-MA = 'US-MA'")
    extra_holidays: list[IsoDate] = Field(default_factory=list)
    max_contacts_per_day: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    max_installment_months: int | None = Field(default=None, ge=1, le=120)
    caps: list[Cap] = Field(default_factory=list)
    after_conversation: list[AfterConversation] = Field(default_factory=list)
    unknown_consent: dict[str, Literal["allow", "deny"]] = Field(default_factory=dict)
    candidate_timezones: list[str] = Field(
        default_factory=list, description="for an account with no time zone of its own: contact only at times "
        "allowed in every one of these zones (Reg F: an ambiguous time zone)")
    pause_while_promise_active: bool | None = None
    avoid_workplace: list[Literal["email", "phone"]] = Field(
        default_factory=list, description="contact points not used when known to be at the workplace "
        "(contact.email_at_work, contact.phone_at_work)")
    posted_notice_served_after_business_days: int | None = Field(
        default=None, ge=0, le=30, description="a notice recorded 'sent' by post is served this many business "
        "days after posting (UK: 2); 'delivered' counts from delivery")
    validation_notice_within_days: int | None = Field(
        default=None, ge=0, le=MAX_DAYS, description="a notice with purpose 'validation' must be served within "
        "this many days of the first communication, or nothing else goes out (Reg F: 5)")
    content: ContentRules | None = None
    legal: LegalRules | None = None

    @field_validator("candidate_timezones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        for name in value:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise PydanticCustomError(
                    "timezone", "unknown time zone '{value}' (use an IANA name such as America/Chicago)",
                    {"value": name}) from None
        return value


class DpdRange(Strict):
    """Days-past-due bucket, both ends inclusive; no `to` means no upper end."""

    from_: int = Field(alias="from", ge=0, le=MAX_LIMITATION_DAYS)
    to: int | None = Field(default=None, ge=0, le=MAX_LIMITATION_DAYS)

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @model_validator(mode="after")
    def _order(self) -> DpdRange:
        if self.to is not None and self.to < self.from_:
            raise PydanticCustomError("dpd", "dpd range ends ({to}) before it starts ({start})",
                                      {"to": self.to, "start": self.from_})
        return self

    def contains(self, dpd: int) -> bool:
        """True when ``dpd`` falls in the range."""
        return dpd >= self.from_ and (self.to is None or dpd <= self.to)

    def __str__(self) -> str:
        return f"{self.from_}-{self.to}" if self.to is not None else f"{self.from_}+"


class Segment(Strict):
    """A risk segment (treatment path). Segments are tried in order; the first that matches wins."""

    id: Id
    when: SegmentConditionField | None = None
    description: str | None = None


class AtLeastDays(Strict):
    """`{ gte = N }`: at least N local days."""

    gte: int = Field(ge=0, le=MAX_DAYS)


class Requirement(Strict):
    """This action needs `notice` to have been served at least `delivered_days_ago.gte` days earlier."""

    notice: Id
    delivered_days_ago: AtLeastDays = Field(default_factory=lambda: AtLeastDays(gte=0))


class Window(Strict):
    """`{ times = N, days = D }`: at most N times in any D local days."""

    times: int = Field(ge=1, le=MAX_COUNT)
    days: int = Field(ge=1, le=MAX_DAYS)


class Action(Strict):
    """Something the bank does for accounts in a stage: a message, a call, a letter, a referral."""

    id: Id
    channel: str
    template: str | None = None
    description: str | None = None
    when: ConditionField | None = None
    segments: list[str] = Field(default_factory=list, description="empty: every segment")
    variants: list[str] = Field(default_factory=list, description="champion/challenger: empty: every variant")
    every_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    at_most: Window | None = None
    once: bool = False
    priority: int = Field(default=50, ge=1, le=100, description="1 is the most important")
    notice: Id | None = None
    offer: str | None = None
    requires: list[Requirement] = Field(default_factory=list)

    @field_validator("requires", mode="before", json_schema_input_type=Requirement | list[Requirement])
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_cadence(self) -> Action:
        chosen = [name for name, set_ in (("every_days", self.every_days is not None),
                                           ("at_most", self.at_most is not None), ("once", self.once)) if set_]
        if len(chosen) > 1:
            raise PydanticCustomError(
                "cadence", "choose one cadence: {chosen} were {all} given (every_days, at_most or once)",
                {"chosen": " and ".join(chosen), "all": "both" if len(chosen) == 2 else "all"},
            )
        return self


class Stage(Strict):
    """A treatment stage: which accounts (by DPD and/or condition) and what is done for them."""

    id: Id
    dpd: DpdRange | None = None
    when: ConditionField | None = None
    description: str | None = None
    actions: list[Action] = Field(default_factory=list)


class Notice(Strict):
    """A written notice with prescribed content (arrears notice, default notice, pre-legal warning)."""

    id: Id
    title: str | None = None
    template: str | None = None
    description: str | None = None
    legal_basis: str | None = None
    purpose: NoticePurpose | None = Field(default=None, description="what the notice is for: " +
                                          ", ".join(NOTICE_PURPOSES))
    threatens_legal_action: bool = Field(default=False, description="the notice says legal action may follow: "
                                         "it is never sent where legal action would be time-barred")


class Offer(Strict):
    """A repayment offer (the seed's flexible repayment) and who is eligible."""

    id: Id
    kind: Literal["installment", "rate_reduction", "settlement", "fee_waiver", "token_payment", "refinance"]
    when: ConditionField | None = None
    months: int | None = Field(default=None, ge=1, le=120)
    min_months: int | None = Field(default=None, ge=1, le=120)
    rate_reduction_pct: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    settlement_pct: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    min_payment: float | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False)
    description: str | None = None

    # strict like every table (months = true is an error, not 1 month); strict floats still take whole numbers
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="after")
    def _terms(self) -> Offer:
        needed = {"installment": "months", "refinance": "months", "rate_reduction": "rate_reduction_pct",
                  "settlement": "settlement_pct", "token_payment": "min_payment"}.get(self.kind)
        if needed and getattr(self, needed) is None:
            article = "an" if self.kind[0] in "aeiou" else "a"
            raise PydanticCustomError("offer", "{article} {kind} offer needs '{needed}'",
                                      {"article": article, "kind": self.kind, "needed": needed})
        if self.min_months and self.months and self.min_months > self.months:
            raise PydanticCustomError("offer", "min_months ({a}) is more than months ({b})",
                                      {"a": self.min_months, "b": self.months})
        return self


class EscalationAction(Strict):
    """What happens when a promise to pay is broken."""

    id: Id = "broken_promise_followup"
    channel: str
    template: str | None = None
    priority: int = Field(default=10, ge=1, le=100)
    offer: str | None = None


class BrokenPromise(Strict):
    """Escalation of a broken promise: after `grace_days`, `action` is taken once per broken promise."""

    grace_days: int = Field(default=0, ge=0, le=MAX_DAYS)
    action: EscalationAction
    description: str | None = None


class Escalation(Strict):
    """The `[escalation]` table."""

    broken_promise: BrokenPromise | None = None


class Bank(Strict):
    """The bank's own details that messages and letters show (`bank.name`, `bank.phone`, ...)."""

    name: str
    phone: str | None = None
    url: str | None = None
    address: str | None = None
    email: str | None = None


class TemplateText(Strict):
    """A message in one locale."""

    subject: str | None = None
    body: str


class Variant(Strict):
    """A champion/challenger variant: a share of accounts (by stable hash of account_id)."""

    id: Id
    weight: int = Field(ge=0, le=100)
    description: str | None = None


class ExpectedAction(Strict):
    """An action a test expects (channel and send_at are checked when given)."""

    action: str
    channel: str | None = None
    send_at: datetime | None = Field(default=None, strict=False)


class ExpectedSuppression(Strict):
    """A suppression a test expects."""

    action: str
    reason: str


class Expectation(Strict):
    """What a policy test expects; anything not listed is expected not to happen."""

    actions: list[ExpectedAction] | None = None
    suppressed: list[ExpectedSuppression] | None = None
    segment: str | None = None
    stage: str | None = None
    holds: list[str] | None = None

    # the schema must accept what validation accepts: `actions = ["reminder_sms"]` (bare action ids)
    @field_validator("actions", mode="before", json_schema_input_type=list[str | ExpectedAction] | None)
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _bare_action_ids(value)

    @field_validator("suppressed", mode="before")
    @classmethod
    def _suppressed_names(cls, value: Any) -> Any:
        return _bare_action_ids(value)


def _bare_action_ids(value: Any) -> Any:
    if isinstance(value, list):
        return [{"action": v} if isinstance(v, str) else v for v in value]
    return value


class PolicyTest(Strict):
    """A policy test case: an account, its history, a moment, and what must (and must not) happen."""

    name: str
    as_of: datetime = Field(strict=False)
    days: int | None = Field(default=None, ge=1, le=MAX_DAYS, description="simulate this many days from as_of")
    account: dict[str, Any]
    history: list[dict[str, Any]] = Field(default_factory=list)
    expect: Expectation

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise PydanticCustomError("as_of", "as_of needs a UTC offset, e.g. 2026-11-28T09:00:00+08:00", {})
        return value


class PolicyFile(Strict):
    """One policy (or baseline) TOML file."""

    policy: Metadata
    bank: Bank | None = None
    guardrails: Guardrails = Field(default_factory=Guardrails)
    holds: list[Hold] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    offers: list[Offer] = Field(default_factory=list)
    escalation: Escalation = Field(default_factory=Escalation)
    templates: dict[Id, dict[str, TemplateText]] = Field(default_factory=dict)
    variants: list[Variant] = Field(default_factory=list)
    tests: list[PolicyTest] = Field(default_factory=list)


class TestFile(Strict):
    """A sibling `*_test.toml` file: only `[[tests]]`."""

    __test__ = False  # not a pytest class
    tests: list[PolicyTest] = Field(default_factory=list)
