"""What a channel is, and the catalogue of channels a policy is checked and decided against.

The rule this module keeps: the policy layer never discovers channels itself. Whoever loads a policy
hands it a :class:`ChannelCatalogue` (the CLI builds one from the plugin registry); a caller that
passes none gets :data:`BUILTIN_CHANNELS`, the channels policy-engine ships, declared here once and
registered by the built-in plugins as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from policy_engine._exceptions import Issue
from policy_engine.policy.content_rules import builtin_content_issues

__all__ = [
    "BUILTIN_CHANNELS",
    "CHANNEL_KINDS",
    "CONTACT_POINTS",
    "ChannelCatalogue",
    "ChannelKind",
    "ChannelSpec",
    "ContactPoint",
    "TemplateCheck",
]


class ChannelKind(StrEnum):
    """What sort of contact a channel makes; guardrails (quiet hours, caps, consent) go by kind.

    A new kind is one new member here plus the guardrails that should treat it specially.
    """

    CALL = "call"
    """A telephone call (a dial attempt, a recorded message)."""
    TEXT = "text"
    """A text message: SMS, chat."""
    EMAIL = "email"
    LETTER = "letter"
    """A written notice by post."""
    LEGAL = "legal"
    """A referral for legal action: not a contact with the customer."""
    AGENT = "agent"
    """A task for a person, who phones the customer: every rule about calls applies to it."""
    SYSTEM = "system"
    """A message to the bank's own systems (a webhook): not a contact with the customer."""


NOT_CONTACTS = frozenset({ChannelKind.LEGAL, ChannelKind.SYSTEM})
"""Kinds that never reach out to the customer: they count against no cap."""


CHANNEL_KINDS: tuple[str, ...] = tuple(kind.value for kind in ChannelKind)

ContactPoint = Literal["phone", "email", "address"]
CONTACT_POINTS: tuple[str, ...] = ("phone", "email", "address")


@dataclass(frozen=True)
class ChannelSpec:
    """What a channel is: its name in policies, its kind, and the rules its messages obey.

    ``kind`` accepts the kind's text (``"text"``) as well as a :class:`ChannelKind`; it is stored as
    the enum. ``consent_key`` names the ``consent.*`` field of an account that governs this channel,
    if any. ``idempotent_provider`` declares that the provider deduplicates sends by the idempotency
    key the plugin passes along; only then does dispatch re-send an action whose process died mid-send.
    """

    name: str
    kind: ChannelKind
    contact_point: ContactPoint | None = None
    content_rules: tuple[str, ...] = ()
    idempotent_provider: bool = False
    consent_key: str | None = None
    description: str = ""
    required_settings: tuple[str, ...] = ()
    """Settings the channel cannot send without; ``"a|b"`` means one of them. Checked before a run."""

    @property
    def counts_as_attempt(self) -> bool:
        """Whether an action on this channel is a contact attempt (caps and the daily cap count it)."""
        return self.kind not in NOT_CONTACTS

    def __post_init__(self) -> None:
        try:
            kind = ChannelKind(self.kind)
        except ValueError:
            raise ValueError(f"channel {self.name!r}: kind {self.kind!r} is not one of {CHANNEL_KINDS}") from None
        if self.contact_point is not None and self.contact_point not in CONTACT_POINTS:
            raise ValueError(
                f"channel {self.name!r}: contact_point {self.contact_point!r} is not one of {CONTACT_POINTS}"
            )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "content_rules", tuple(self.content_rules))
        object.__setattr__(self, "required_settings", tuple(self.required_settings))

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-ready data."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "counts_as_attempt": self.counts_as_attempt,
            "contact_point": self.contact_point,
            "content_rules": list(self.content_rules),
            "idempotent_provider": self.idempotent_provider,
            "consent_key": self.consent_key,
            "description": self.description,
        }


class TemplateCheck(Protocol):
    """The content-rule check of a template text for one channel: the problems, located in the text."""

    def __call__(self, channel: ChannelSpec, template_id: str, source: str) -> list[Issue]: ...


class ChannelCatalogue(Mapping[str, ChannelSpec]):
    """The channels a policy may name, by name, and the check their content rules make of a template.

    ``template_check`` answers for the channel's owner (the CLI passes the plugin registry's
    ``policy_engine_validate_template``); without one, templates get no content-rule check.
    """

    def __init__(self, channels: Iterable[ChannelSpec] = (), *, template_check: TemplateCheck | None = None) -> None:
        self._channels: dict[str, ChannelSpec] = {}
        for spec in channels:
            if spec.name in self._channels:
                raise ValueError(f"channel {spec.name!r} is in the catalogue twice")
            self._channels[spec.name] = spec
        self.template_check = template_check

    def __getitem__(self, name: str) -> ChannelSpec:
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    def __repr__(self) -> str:
        return f"ChannelCatalogue({sorted(self._channels)!r})"

    def template_issues(self, channel: ChannelSpec, template_id: str, source: str) -> list[Issue]:
        """What the channel's content rules find wrong with a template text (empty without a check)."""
        if self.template_check is None:
            return []
        return list(self.template_check(channel, template_id, source))


BUILTIN_CHANNELS = ChannelCatalogue(
    [
        ChannelSpec(
            name="sms", kind=ChannelKind.TEXT, contact_point="phone", content_rules=("opt_out",),
            idempotent_provider=True, consent_key="sms", description="SMS via an HTTP gateway (signed JSON POST)",
            required_settings=("url", "secret"),
        ),
        ChannelSpec(
            name="sms_apprise", kind=ChannelKind.TEXT, contact_point="phone", content_rules=("opt_out",),
            idempotent_provider=False, consent_key="sms", description="SMS through any apprise-supported service",
            required_settings=("url",),
        ),
        ChannelSpec(
            name="email", kind=ChannelKind.EMAIL, contact_point="email", content_rules=("opt_out",),
            idempotent_provider=False, consent_key="email", description="email via SMTP (STARTTLS, SSL or plain)",
            required_settings=("host", "from_addr"),
        ),
        ChannelSpec(
            name="voice", kind=ChannelKind.CALL, contact_point="phone", content_rules=("limited_content_voicemail",),
            idempotent_provider=True, consent_key="voice", description="outbound calls via a voice provider's HTTP API",
            required_settings=("url",),
        ),
        ChannelSpec(
            name="letter", kind=ChannelKind.LETTER, contact_point="address", idempotent_provider=True,
            description="PDF letters in a print-shop folder with a JSONL manifest", required_settings=("outbox",),
        ),
        ChannelSpec(
            name="legal", kind=ChannelKind.LEGAL, idempotent_provider=True,
            description="legal referral (JSON drop folder or signed webhook)", required_settings=("drop_folder|url",),
        ),
        ChannelSpec(
            name="agent", kind=ChannelKind.AGENT, contact_point="phone", consent_key="voice", idempotent_provider=True,
            description="a task in the ledger's agent queue, for a person to call patiently",
        ),
        ChannelSpec(
            name="webhook", kind=ChannelKind.SYSTEM, idempotent_provider=True,
            description="signed JSON POST of the action to a URL of the bank's", required_settings=("url", "secret"),
        ),
    ],
    template_check=builtin_content_issues,
)
"""The channels policy-engine ships (``plugins/policy_engine_channels`` registers exactly these specs),
checked by the content rules the core knows by name. ``load_policy`` uses it when given no catalogue."""
