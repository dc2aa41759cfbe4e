"""What every guardrail family shares: the reason vocabulary, the candidate and state a row check sees,
and the shape of a family.

A family owns one kind of limit from end to end. Side by side in its module it keeps:

- its reason codes (:class:`Reason`);
- its row check: given a candidate action and the account's :class:`GuardrailState`, a :class:`Verdict`
  (the reason, the numbers, where the limit is written) or None;
- how it tightens under ``extends`` (the merge rule) and the origin keys it records, so explanations can
  cite where a limit was written;
- whether it can fire at all for a policy (rule coverage of policy tests);
- its semantic checks of a policy (located validation issues);
- its relational form (:meth:`GuardrailFamily.relational`): the same check as SQL conditions over one
  candidate row of the columnar plan, which decides a whole portfolio at once.

Families import only the policy layer: the loader, the engine and the lifecycle all use them, so they must
not pull in the engine, data readers, delivery or the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from policy_engine.guardrails.words import GROUPS, LimitText, attribute, words
from policy_engine.policy.channels import ChannelKind, ChannelSpec
from policy_engine.policy.models import Action, Guardrails, Hold, Notice, PolicyFile, Requirement
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.decide.facts import FactContext
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = [
    "CALL_KINDS",
    "Candidate",
    "ChannelIndex",
    "GuardrailFamily",
    "GuardrailState",
    "OriginRecorder",
    "PolicyUse",
    "Reason",
    "RelationalPlan",
    "SqlCheck",
    "Verdict",
    "counted",
    "suppress",
]


CALL_KINDS = frozenset({"call", "agent"})
"""Channel kinds that are a telephone call: a voice call, and an agent task (a person phones the customer)."""


def contact_kind(info: ChannelSpec) -> str:
    """What a guardrail calls this channel: ``call`` for calls and agent tasks, else the channel's kind."""
    return "call" if info.kind in CALL_KINDS else str(info.kind)


class ChannelIndex:
    """The channel catalogue as guardrails ask it: which channels a rule names by name or by kind."""

    def __init__(self, catalogue: Mapping[str, ChannelSpec]) -> None:
        self.catalogue = catalogue
        self._named: dict[tuple[tuple[str, ...], tuple[str, ...]], frozenset[str]] = {}
        self.not_contacts = frozenset(name for name, info in catalogue.items() if not info.counts_as_attempt)
        """Channels that never reach out to the customer (legal referrals, the bank's own webhooks)."""

    def info(self, channel: str) -> ChannelSpec:
        """Channel facts, defaulting to a text-like channel for a channel the catalogue does not know."""
        return self.catalogue.get(channel) or ChannelSpec(channel, ChannelKind.TEXT)

    def names(self, channels: Sequence[str], kinds: Sequence[str]) -> frozenset[str]:
        """The channels a rule covers: those it names and every catalogue channel of the kinds it names."""
        key = (tuple(channels), tuple(kinds))
        found = self._named.get(key)
        if found is None:
            found = frozenset(channels) | frozenset(
                name for name, info in self.catalogue.items() if contact_kind(info) in kinds)
            self._named[key] = found
        return found

    def covers(self, channels: Sequence[str], kinds: Sequence[str], channel: str) -> bool:
        """Whether a rule naming ``channels`` and ``kinds`` covers ``channel`` (naming neither: every channel)."""
        if not channels and not kinds:
            return True
        return channel in channels or contact_kind(self.info(channel)) in kinds


class Reason(StrEnum):
    """Why a guardrail stopped an action: the fixed vocabulary of ``suppressed[].reason``.

    Listed in the order coverage reports them. Plugins may add their own codes with a prefix (``acme:x``).
    """

    QUIET_HOURS = "quiet_hours"
    HOLIDAY = "holiday"
    FREQUENCY_CAP = "frequency_cap"
    DAILY_CAP = "daily_cap"
    HOLD = "hold"
    NO_CONSENT = "no_consent"
    NO_CONTACT_POINT = "no_contact_point"
    MISSING_NOTICE = "missing_notice"
    NOTICE_WAITING_PERIOD = "notice_waiting_period"
    CADENCE = "cadence"
    ALREADY_SENT = "already_sent"
    PROMISE_ACTIVE = "promise_active"
    TIME_BARRED = "time_barred"
    LEGAL_TOO_EARLY = "legal_too_early"


@dataclass(frozen=True)
class Candidate:
    """An action the rules selected, before guardrails."""

    action: str
    channel: str
    template: str | None
    notice: str | None
    offer: str | None
    requires: tuple[Requirement, ...]
    every_days: int | None
    at_most: tuple[int, int] | None
    once: bool
    priority: int
    stage: str | None
    order: int
    key_suffix: str = ""
    purpose: str | None = None
    """The purpose of the notice the action sends, if it sends one."""
    threatens_legal_action: bool = False
    """The notice it sends says legal action may follow."""


@dataclass
class GuardrailState:
    """Everything a row check needs for one account's decision; ``chosen`` grows as actions pass."""

    ctx: FactContext
    guardrails: Guardrails
    holds: list[Hold]
    active_holds: list[str]
    sources: Mapping[OriginKey, str]
    channels: ChannelIndex
    notices: Mapping[str, Notice] = field(default_factory=dict)
    chosen: list[str] = field(default_factory=list)
    """The channel of every action already planned in this decision, most important first."""
    send_at: datetime | None = None
    not_after: datetime | None = None
    """The end of the window the candidate may go out in today (set by the hours check)."""

    def info(self, channel: str) -> ChannelSpec:
        """Channel facts, defaulting to a text-like channel for unknown plugin channels."""
        return self.channels.info(channel)

    def source(self, key: OriginKey) -> str | None:
        """Where a limit was written, e.g. 'baseline us-ma, policies/baselines/us-ma.toml:14:1'."""
        return self.sources.get(key)

    def chosen_attempts(self, channels: Sequence[str], kinds: Sequence[str] = ()) -> int:
        """Actions already planned in this decision on the channels (and kinds) a rule covers (naming
        neither: every channel) that are contacts."""
        return sum(1 for planned in self.chosen
                   if self.channels.covers(channels, kinds, planned) and self.info(planned).counts_as_attempt)


@dataclass(frozen=True)
class Verdict:
    """Why a row check stops a candidate: the reason code, the numbers, and where the limit is written."""

    reason: Reason
    detail: str
    source: str | None = None


def counted(count: int, word: str, plural: str | None = None) -> str:
    """``1 day``, ``2 days``: a count and its word, in the right number."""
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def suppress(candidate: Candidate, reason: Reason, detail: str, source: str | None = None) -> Verdict:
    """The verdict stopping ``candidate`` for ``reason`` (the candidate is named for readability)."""
    del candidate
    return Verdict(reason, detail, source)


@dataclass(frozen=True)
class SqlCheck:
    """One step of a row check in relational form: when the SQL condition ``when`` holds for a candidate row,
    the candidate is stopped for ``reason`` with the SQL text expression ``detail`` and the fixed ``source``."""

    when: str
    reason: Reason
    detail: str
    source: str | None = None
    source_sql: str | None = None
    """A SQL text expression for the source when it differs per row (instead of ``source``)."""


class RelationalPlan(Protocol):
    """What a family's relational form may ask of the plan it is compiled into.

    ``facts`` answers history facts as SQL expressions over the account's row (see the columnar backend's
    ``HistoryFacts``); ``planned(channels, kinds)`` names the column counting the actions already chosen
    in this decision on the channels (and kinds) a rule covers that are contacts.
    """

    guardrails: Guardrails
    holds: list[Hold]
    channels: ChannelIndex
    notices: Mapping[str, Notice]
    facts: Any

    def source(self, key: OriginKey) -> str | None:
        """Where a limit was written."""
        ...

    def planned(self, channels: Sequence[str], kinds: Sequence[str]) -> str:
        """The column counting chosen contacts on these channels and kinds (neither: every channel)."""
        ...

    def hold_active(self, hold_id: str) -> str:
        """The boolean column: the hold's condition holds for the account."""
        ...


OriginRecorder = Callable[..., None]
"""``record(key, *path)``: the setting ``key`` is written at ``path`` of the file being read."""


@dataclass(frozen=True)
class PolicyUse:
    """What a policy's actions use, for deciding which guardrails can fire (coverage)."""

    policy: PolicyFile
    actions: tuple[Action, ...]
    channels: tuple[ChannelSpec, ...]
    """The channel of every stage action and of the broken-promise escalation, in policy order."""
    requires: tuple[Requirement, ...]
    index: ChannelIndex
    """The catalogue the policy was loaded with."""


class GuardrailFamily:
    """One family of guardrails; subclasses override what applies to them (everything defaults to nothing)."""

    name: ClassVar[str]
    """The family's name, as explanations' ``check`` field shows it."""
    reasons: ClassVar[tuple[Reason, ...]] = ()
    """The reason codes its row check can produce."""
    has_row_check: ClassVar[bool] = False
    settings: ClassVar[frozenset[str]] = frozenset()
    """The settings (origin keys' ``setting``) it records origins for, so a report knows whom to ask."""
    group: ClassVar[str] = GROUPS[-1]
    """Where a reviewer finds its limits (one of :data:`~policy_engine.guardrails.words.GROUPS`)."""

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Record the origin of every setting of this family that ``source`` writes."""

    def tighten(self, merge: Tightening) -> None:
        """Merge the child's settings onto the base's, the stricter winning; report each loosening."""

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """The row check: a verdict stopping ``candidate``, or None to let it pass."""
        return None

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """The row check in relational form for one candidate action, its steps in the row check's order."""
        return []

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """The reasons this family can produce for a policy with these actions."""
        return set()

    def check_policy(self, checker: PolicyChecker) -> None:
        """Add located issues about this family's settings in the policy being validated."""

    def describe(self, key: OriginKey, policy: PolicyFile) -> LimitText | None:
        """One of its effective settings in words, for a reviewer (None: nothing to show)."""
        if key.setting.endswith("description"):
            return None
        value = attribute(policy.guardrails, key.setting)
        if isinstance(key.qualifier, str) and isinstance(value, dict):
            value = value.get(key.qualifier)
        rule = key.setting if not isinstance(key.qualifier, str) else f"{key.setting} {key.qualifier}"
        return LimitText(self.group, rule, words(value))
