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

from policy_engine.data.records import EARLIEST_DATE, LATEST_DATE
from policy_engine.policy.conditions import (
    FACTS,
    Condition,
    ConditionError,
    condition_to_data,
    parse_condition,
)
from policy_engine.policy.origins import CapKey
from policy_engine.policy.suggest import zone_suggestion

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
        m = re.fullmatch(r"([0-9]{2}):([0-9]{2})", value)  # ASCII digits only: not '١٢:٠٠'
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

    id: Id = Field(description="The policy's identifier, stamped on every decision.")
    version: str | None = Field(default=None, description="Your version label, stamped on every decision.")
    kind: Literal["policy", "baseline"] = Field(
        default="policy", description='`"policy"` (default), or `"baseline"`: a file of limits other policies extend.')
    title: str | None = Field(default=None, description="A human title.")
    description: str | None = Field(default=None, description="What the policy covers.")
    jurisdiction: str | None = Field(
        default=None, description="Where the policy applies: CN, US, US-MA, US-NYC, UK, IE, IN, ... A jurisdiction "
                                  "with a shipped baseline must extend it.")
    timezone: str | None = Field(
        default=None, description="IANA time zone (e.g. `Asia/Shanghai`) for accounts without one of their own.")
    currency: str | None = Field(default=None, description="ISO 4217 code (e.g. `CNY`) for accounts without one.")
    locale: str | None = Field(
        default=None, description="The language every template must have a text in (BCP 47, e.g. `zh-CN`).")
    extends: list[str] = Field(
        default_factory=list, description="The baselines (`baseline:NAME`) or files (paths relative to this file) "
                                          "this policy tightens; the strictest value of each limit applies.")
    owner: str | None = Field(default=None, description="Who is responsible for the policy.")
    applies_to: SegmentConditionField | None = Field(
        default=None, description="A condition choosing the accounts this policy governs; the others get an empty "
                                  "decision marked `in_scope = false`.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise PydanticCustomError(
                    "timezone", "unknown time zone '{value}'{suggestion} (use an IANA name such as Asia/Shanghai)",
                    {"value": value, "suggestion": zone_suggestion(value)},
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

    start: Clock = Field(description='The first allowed local time, `"HH:MM"` (included).')
    end: Clock = Field(description='The end of the window, `"HH:MM"` (excluded); `"24:00"` is midnight.')

    @model_validator(mode="after")
    def _order(self) -> ContactHours:
        if self.end != time(0, 0) and self.end <= self.start:
            raise PydanticCustomError("hours", "contact hours end ({end}) must be after start ({start})",
                                      {"end": self.end.strftime("%H:%M"), "start": self.start.strftime("%H:%M")})
        return self


class Cap(Strict):
    """At most `max` contacts on `channels` (and channels of `kinds`) within the last `days` local days."""

    id: Id | None = Field(default=None, description="A name, shown when the cap stops an action.")
    channels: list[str] = Field(
        default_factory=list,
        description="Channel names the cap covers; with no channels and no kinds: every channel that contacts the "
                    "customer.")
    kinds: list[ContactKind] = Field(
        default_factory=list, description="Channel kinds the cap covers: `call` (voice calls and agent tasks), "
                                          "`text`, `email`, `letter`.")
    regions: list[str] = Field(
        default_factory=list, description="Account regions the cap binds (e.g. `US-MA`); empty: every account.")
    max: int = Field(ge=0, le=MAX_COUNT, description="The most contacts allowed in the window (0 or more).")
    days: int = Field(
        ge=1, le=MAX_DAYS, description="The window, in local days, today included (1 = today; 7 = today and the 6 "
                                       "days before).")
    count: Literal["attempts", "conversations"] = Field(
        default="attempts", description='`"attempts"` (default: every contact, whatever its outcome) or '
                                        '`"conversations"` (calls that reached the customer).')
    description: str | None = Field(default=None, description="Why the cap exists, e.g. the rule it implements.")

    @property
    def key(self) -> CapKey:
        """What identifies this cap when a policy tightens its baseline's."""
        return CapKey(tuple(sorted(self.channels)), self.days, self.count, tuple(sorted(self.kinds)),
                      tuple(sorted(self.regions)))


class AfterConversation(Strict):
    """No contact on `channels` (and channels of `kinds`) for `days` local days after a conversation on them
    (conversation day = day 1)."""

    channels: list[str] = Field(
        default_factory=list, description="The channels that pause (and whose conversations count).")
    kinds: list[ContactKind] = Field(
        default_factory=list, description="Channel kinds that pause: `call` covers voice calls and agent tasks.")
    days: int = Field(
        ge=1, le=MAX_DAYS, description="Length of the pause in local days; the conversation day is day 1.")
    description: str | None = Field(default=None, description="Why the pause exists.")


class Hold(Strict):
    """A state in which contact stops (on `channels`, or on every channel)."""

    id: Id = Field(description="The hold's name, listed in the decision.")
    when: ConditionField = Field(
        description="The condition that puts the hold in place (flags, history facts, attributes, ...).")
    channels: list[str] = Field(
        default_factory=list, description="Only these channels stop; with no channels and no kinds: every channel.")
    kinds: list[ContactKind] = Field(
        default_factory=list, description="Channel kinds that stop: `call`, `text`, `email`, `letter`.")
    except_channels: list[str] = Field(
        default_factory=list, description="These channels keep working while the hold is on (e.g. `letter`).")
    allow_purposes: list[NoticePurpose] = Field(
        default_factory=list, description="Written notices with these purposes still go out (e.g. after a cease "
                                          "request: `collection_ending`, `remedy_may_be_invoked`, `remedy_invoked`).")
    description: str | None = Field(default=None, description="Why, with the legal basis.")


class LegalRules(Strict):
    """What must be true before any action on a channel of kind `legal`."""

    min_dpd: int = Field(
        default=0, ge=0, le=MAX_DAYS, description="Legal actions only in stages starting at this DPD or later.")
    require_notice: bool = Field(
        default=True, description="A legal action must wait for a written notice (default true).")
    notice_channels: list[str] = Field(
        default_factory=lambda: ["letter"], description='The channels that count as "written" (default `["letter"]`).')
    min_notice_days: int = Field(
        default=0, ge=0, le=MAX_DAYS, description="The least wait, in local days, after that written notice.")
    time_barred_after_days: int | None = Field(
        default=None, ge=1, le=MAX_LIMITATION_DAYS, description="No legal action (and no notice threatening it) on "
                                                                "debt unpaid for longer than this many days: the "
                                                                "limitation period.")
    time_barred_after_days_by_region: dict[str, Annotated[int, Field(ge=1, le=MAX_LIMITATION_DAYS)]] = Field(
        default_factory=dict, description="The limitation period per account region (e.g. `US-NY = 1095`); the "
                                          "strictest that applies wins.")
    required_notices: list[Requirement] = Field(
        default_factory=list, description="Notices every legal action needs, each served at least N days earlier "
                                          "(e.g. the UK default notice and Letter of Claim).")
    description: str | None = Field(default=None, description="Why, with the legal basis.")


class ContentRules(Strict):
    """Content a channel's messages must carry or must not carry."""

    opt_out_required: list[str] = Field(
        default_factory=list, description="Channels whose every message must carry an opt-out (`{{ opt_out }}`).")
    voicemail_limited_content: bool = Field(
        default=False,
        description="A voicemail may only be a limited-content message (name, bank, call back, number: nothing about "
                    "the debt).")


class Guardrails(Strict):
    """Limits enforced whatever the rules ask for. A policy may tighten its baseline's, never loosen them."""

    contact_hours: ContactHours | None = Field(
        default=None, description="The allowed local clock window for calls, texts and e-mail.")
    channel_hours: dict[str, ContactHours] = Field(
        default_factory=dict, description="A narrower window for one channel, by channel name.")
    kind_hours: dict[Literal["call", "text", "email"], ContactHours] = Field(
        default_factory=dict, description="A window per channel kind (`call`, `text`, `email`); `call` covers voice "
                                          "calls and agent tasks.")
    days_off: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=list, description="Weekdays with no contact: `mon` ... `sun`.")
    holidays: str | None = Field(
        default=None, description="The public-holiday calendar: an ISO country code, optionally with a subdivision "
                                  "(`CN`, `US-MA`, `GB`).")
    holidays_by_region: dict[str, str] = Field(
        default_factory=dict, description='The holiday calendar of accounts in a region, e.g. `US-MA = "US-MA"`.')
    extra_holidays: list[IsoDate] = Field(default_factory=list, description="The bank's own closed days (dates).")
    max_contacts_per_day: int | None = Field(
        default=None, ge=0, le=MAX_COUNT, description="Contacts per customer per local day, across the channels that "
                                                      "count as contacts.")
    max_installment_months: int | None = Field(
        default=None, ge=1, le=120, description="The longest installment or refinance plan any offer may run.")
    caps: list[Cap] = Field(
        default_factory=list, description="Rolling-window caps: at most `max` contacts in any `days` local days.")
    after_conversation: list[AfterConversation] = Field(
        default_factory=list, description="Pauses after a conversation (a call that reached the customer).")
    unknown_consent: dict[str, Literal["allow", "deny"]] = Field(
        default_factory=dict, description='What "consent not recorded" means, per channel: `"allow"` or `"deny"`.')
    candidate_timezones: list[str] = Field(
        default_factory=list, description="For an account with no time zone: contact only at times allowed in every "
                                          "one of these zones (Reg F: an ambiguous time zone). A policy may add "
                                          "zones, never remove them.")
    pause_while_promise_active: bool | None = Field(
        default=None, description="No collection contact while a promise to pay is running (reason `promise_active`).")
    avoid_workplace: list[Literal["email", "phone"]] = Field(
        default_factory=list, description="Contact points not used when the account marks them as at the workplace "
                                          "(`email` with `contact.email_at_work`, `phone` with "
                                          "`contact.phone_at_work`).")
    posted_notice_served_after_business_days: int | None = Field(
        default=None, ge=0, le=30,
        description="A notice recorded `sent` (posted) counts as served this many business days after posting (UK: "
                    "2); `delivered` counts from delivery.")
    validation_notice_within_days: int | None = Field(
        default=None, ge=0, le=MAX_DAYS, description="A notice with purpose `validation` must be served within this "
                                                     "many days of the first communication, or nothing else goes out "
                                                     "until it is (Reg F: 5).")
    content: ContentRules | None = Field(
        default=None, description="Content rules per channel: opt-out text, limited-content voicemail.")
    legal: LegalRules | None = Field(default=None, description="Safeguards before any action on a legal channel.")

    @field_validator("candidate_timezones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        for name in value:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise PydanticCustomError(
                    "timezone", "unknown time zone '{value}'{suggestion} (use an IANA name such as America/Chicago)",
                    {"value": name, "suggestion": zone_suggestion(name)}) from None
        return value


class DpdRange(Strict):
    """Days-past-due bucket, both ends inclusive; no `to` means no upper end."""

    from_: int = Field(alias="from", ge=0, le=MAX_LIMITATION_DAYS, description="The first DPD of the range (included).")
    to: int | None = Field(
        default=None, ge=0, le=MAX_LIMITATION_DAYS, description="The last DPD of the range (included); leave it out "
                                                                "for no upper end.")

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

    id: Id = Field(description="The segment's name.")
    when: SegmentConditionField | None = Field(
        default=None, description="The condition; none: everyone (so such a segment belongs last). It cannot test "
                                  "`segment` itself.")
    description: str | None = Field(default=None, description="Who is in it.")


class AtLeastDays(Strict):
    """`{ gte = N }`: at least N local days."""

    gte: int = Field(ge=0, le=MAX_DAYS, description="At least this many local days.")


class Requirement(Strict):
    """This action needs `notice` to have been served at least `delivered_days_ago.gte` days earlier."""

    notice: Id = Field(description="The notice id that must have been served.")
    delivered_days_ago: AtLeastDays = Field(
        default_factory=lambda: AtLeastDays(gte=0),
        description="How long ago it must have been served, e.g. `{ gte = 30 }`; default `{ gte = 0 }` (served, even "
                    "today).")


class Window(Strict):
    """`{ times = N, days = D }`: at most N times in any D local days."""

    times: int = Field(ge=1, le=MAX_COUNT, description="The most runs in the window.")
    days: int = Field(ge=1, le=MAX_DAYS, description="The window in local days.")


class Action(Strict):
    """Something the bank does for accounts in a stage: a message, a call, a letter, a referral."""

    id: Id = Field(description="The action's name, written in the history when it runs (cadence counts by it).")
    channel: str = Field(
        description="How: `sms`, `email`, `voice`, `letter`, `agent`, `legal`, `webhook`, or a plugin's channel.")
    template: str | None = Field(default=None, description="The text to send: a template id under `[templates]`.")
    description: str | None = Field(default=None, description="What the action is for.")
    when: ConditionField | None = Field(
        default=None, description="An extra condition; an action whose condition fails is not a candidate.")
    segments: list[str] = Field(
        default_factory=list, description="Only for accounts in these segments; empty: every segment.")
    variants: list[str] = Field(
        default_factory=list, description="Only for these champion/challenger variants; empty: every variant.")
    every_days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Cadence: at least N local days between two runs.")
    at_most: Window | None = Field(default=None, description="Cadence: at most `times` runs in any `days` local days.")
    once: bool = Field(default=False, description="Cadence: the action runs only once in the account's life.")
    priority: int = Field(
        default=50, ge=1, le=100, description="1 (most important) to 100; more important actions claim cap room and "
                                              "the day's contacts first.")
    notice: Id | None = Field(default=None, description="The written notice this action serves (a `[[notices]]` id).")
    offer: str | None = Field(
        default=None, description="The offer this action presents (an `[[offers]]` id), attached when the account is "
                                  "eligible.")
    requires: list[Requirement] = Field(
        default_factory=list,
        description="Notices that must have been served first, and how long ago: one table or a list.")

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

    id: Id = Field(description="The stage's name.")
    dpd: DpdRange | None = Field(
        default=None, description="The DPD range, both ends included, e.g. `{ from = 30, to = 59 }`.")
    when: ConditionField | None = Field(
        default=None, description="An extra condition an account must meet to be in this stage.")
    description: str | None = Field(default=None, description="What the stage is for.")
    actions: list[Action] = Field(
        default_factory=list, description="The stage's actions, as `[[stages.actions]]` tables.")


class Notice(Strict):
    """A written notice with prescribed content (arrears notice, default notice, pre-legal warning)."""

    id: Id = Field(description="The notice's name, written in the history when it is sent.")
    title: str | None = Field(default=None, description="Its formal title.")
    template: str | None = Field(default=None, description="A default template for it.")
    description: str | None = Field(default=None, description="When and why it is sent.")
    legal_basis: str | None = Field(default=None, description="The rule requiring it (e.g. `CCA 1974 s.86B`).")
    purpose: NoticePurpose | None = Field(
        default=None, description="What the notice is for: `validation`, `arrears`, `default`, `pre_legal`, "
                                  "`letter_of_claim`, `collection_ending`, `remedy_may_be_invoked`, `remedy_invoked`, "
                                  "`information`. Holds and baselines name purposes, not notice ids.")
    threatens_legal_action: bool = Field(
        default=False, description="The notice says legal action may follow: it is never sent where legal action "
                                   "would be time-barred.")


class Offer(Strict):
    """A repayment offer (instalments, a lower rate, a settlement, a refinance) and who is eligible."""

    id: Id = Field(description="The offer's name.")
    kind: Literal["installment", "rate_reduction", "settlement", "fee_waiver", "token_payment", "refinance"] = Field(
        description="`installment`, `rate_reduction`, `settlement`, `fee_waiver`, `token_payment` or `refinance`.")
    when: ConditionField | None = Field(default=None, description="Who is eligible.")
    months: int | None = Field(
        default=None, ge=1, le=120, description="The plan length in months (required for `installment` and "
                                                "`refinance`; 1-120).")
    min_months: int | None = Field(default=None, ge=1, le=120, description="The shortest plan offered, in months.")
    rate_reduction_pct: float | None = Field(
        default=None, gt=0, le=100, allow_inf_nan=False, description="The percentage cut of the interest rate "
                                                                     "(required for `rate_reduction`; 100 suspends "
                                                                     "interest).")
    settlement_pct: float | None = Field(
        default=None, gt=0, le=100, allow_inf_nan=False, description="The share of the balance, in percent, that "
                                                                     "settles the debt (required for `settlement`).")
    min_payment: float | None = Field(
        default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="The smallest payment (required for "
                                                                            "`token_payment`).")
    description: str | None = Field(
        default=None, description="The offer in words; templates show it as `{{ offer.description }}`.")

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

    id: Id = Field(
        default="broken_promise_followup", description="The escalation action's name, written in the history when it "
                                                       "runs.")
    channel: str = Field(description="How to follow up, usually `agent`.")
    template: str | None = Field(default=None, description="The text or script to use.")
    priority: int = Field(default=10, ge=1, le=100, description="1 (most important) to 100; default 10.")
    offer: str | None = Field(default=None, description="An offer to present with the follow-up.")


class BrokenPromise(Strict):
    """Escalation of a broken promise: after `grace_days`, `action` is taken once per broken promise."""

    grace_days: int = Field(
        default=0, ge=0, le=MAX_DAYS, description="Days after the promised date before the promise counts as broken "
                                                  "(default 0).")
    action: EscalationAction = Field(description="What to do, once per broken promise.")
    description: str | None = Field(default=None, description="Why.")


class Escalation(Strict):
    """The `[escalation]` table."""

    broken_promise: BrokenPromise | None = Field(
        default=None, description="What happens when a promise to pay is broken.")


class Bank(Strict):
    """The bank's own details that messages and letters show (`bank.name`, `bank.phone`, ...)."""

    name: str = Field(
        description="The bank's name as customers see it (`{{ bank.name }}`). In the US it must not say "
                    '"collections".')
    phone: str | None = Field(default=None, description="The number customers should call (`{{ bank.phone }}`).")
    url: str | None = Field(default=None, description="The help or payment web page (`{{ bank.url }}`).")
    address: str | None = Field(default=None, description="The bank's postal address (`{{ bank.address }}`).")
    email: str | None = Field(default=None, description="The service e-mail address (`{{ bank.email }}`).")


class TemplateText(Strict):
    """A message in one locale."""

    subject: str | None = Field(default=None, description="The subject line, for e-mails and letters.")
    body: str = Field(
        description="The text; `{{ ... }}` inserts a value, `{% if ... %}` ... `{% endif %}` includes text only when "
                    "something is set.")


class Variant(Strict):
    """A champion/challenger variant: a share of accounts (by stable hash of account_id)."""

    id: Id = Field(description="The variant's name.")
    weight: int = Field(ge=0, le=100, description="Its share of accounts, 0-100; all weights add up to 100.")
    description: str | None = Field(default=None, description="What the variant tries.")


class ExpectedAction(Strict):
    """An action a test expects (channel and send_at are checked when given)."""

    action: str = Field(description="The action id.")
    channel: str | None = Field(default=None, description="The channel it must be planned on (checked when given).")
    send_at: datetime | None = Field(
        default=None, strict=False,
        description="The moment it must be planned for, with its UTC offset (checked when given).")


class ExpectedSuppression(Strict):
    """A suppression a test expects."""

    action: str = Field(description="The action id.")
    reason: str = Field(description="The reason code it must be suppressed with (e.g. `cadence`).")


class Expectation(Strict):
    """What a policy test expects; anything not listed is expected not to happen."""

    actions: list[ExpectedAction] | None = Field(
        default=None, description='Exactly these actions are planned: `{ action = "id", channel = "sms", send_at = '
                                  '"..." }` or just `"id"`. Leave it out to not check.')
    suppressed: list[ExpectedSuppression] | None = Field(
        default=None, description="Exactly these actions are suppressed, each with its reason code. Leave it out to "
                                  "not check.")
    segment: str | None = Field(default=None, description='The expected segment (`"none"`: no segment matched).')
    stage: str | None = Field(default=None, description='The expected stage (`"none"`: no stage matched).')
    holds: list[str] | None = Field(default=None, description="The expected active holds (including `promise_active`).")

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

    name: str = Field(description="What the test shows, in a sentence.")
    as_of: datetime = Field(strict=False, description="The moment of the decision, with its UTC offset.")
    days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Simulate this many days from `as_of` instead of one decision.")
    account: dict[str, Any] = Field(
        description="The account record, as in an accounts file: `account_id`, `balance`, `delinquent_since`, "
                    "`timezone`, `contact`, `consent`, `flags`, `attributes`, ...")
    history: list[dict[str, Any]] = Field(
        default_factory=list, description="History events, each with `at` and `type` (`account_id` defaults to the "
                                          "test account's).")
    expect: Expectation = Field(description="What must (and must not) happen.")

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise PydanticCustomError("as_of", "as_of needs a UTC offset, e.g. 2026-11-28T09:00:00+08:00", {})
        if not EARLIEST_DATE.year <= value.year <= LATEST_DATE.year:
            raise PydanticCustomError("as_of", "as_of {value} is outside the years {first} to {last}",
                                      {"value": value.isoformat(), "first": EARLIEST_DATE.year,
                                       "last": LATEST_DATE.year})
        return value


class PolicyFile(Strict):
    """One policy (or baseline) TOML file."""

    policy: Metadata = Field(description="Who the policy is, its version, the baselines it extends.")
    bank: Bank | None = Field(
        default=None, description="The bank's name, phone and web address, as messages show them.")
    guardrails: Guardrails = Field(
        default_factory=Guardrails, description="Limits no rule can break: contact hours, holidays, caps, consent, "
                                                "legal safeguards.")
    holds: list[Hold] = Field(
        default_factory=list, description="Situations in which collection stops (a dispute, a bankruptcy, ...).")
    notices: list[Notice] = Field(
        default_factory=list, description="Written notices with prescribed content (arrears notice, pre-legal "
                                          "warning, ...).")
    segments: list[Segment] = Field(
        default_factory=list, description="Risk segments: how each customer is assessed; the first that matches wins.")
    stages: list[Stage] = Field(
        default_factory=list, description="Treatment stages by days past due, each with its actions; the first that "
                                          "matches wins.")
    offers: list[Offer] = Field(default_factory=list, description="Repayment offers and who is eligible.")
    escalation: Escalation = Field(
        default_factory=Escalation, description="What happens when a promise to pay is broken.")
    templates: dict[Id, dict[str, TemplateText]] = Field(
        default_factory=dict, description='The words customers receive: `[templates.ID."LOCALE"]` with `body` and an '
                                          "optional `subject`.")
    variants: list[Variant] = Field(
        default_factory=list, description="Champion/challenger splits of the accounts (optional).")
    tests: list[PolicyTest] = Field(
        default_factory=list, description="Policy tests (usually in `NAME_test.toml` next to the policy).")


class TestFile(Strict):
    """A sibling `*_test.toml` file: only `[[tests]]`."""

    __test__ = False  # not a pytest class
    tests: list[PolicyTest] = Field(default_factory=list, description="The policy tests.")
