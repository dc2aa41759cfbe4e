"""The hooks a channel plugin may implement, and the plain types they exchange.

Every hook is called with keyword arguments, so an implementation may accept only the arguments it
needs. A plugin module marks its functions with :data:`hookimpl`::

    from policy_engine.hookspecs import ChannelSpec, DeliveryResult, hookimpl

    @hookimpl
    def policy_engine_register_channels():
        return [ChannelSpec(name="chat", kind="text", contact_point="phone")]

    @hookimpl
    def policy_engine_send(channel, action, message, settings):
        if channel.name != "chat":
            return None          # not ours: let the plugin that owns the channel answer
        ...
        return DeliveryResult(status="delivered", provider_id="abc")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from policy_engine._exceptions import (
    Issue,
    Location,
    PermanentDeliveryError,
    PluginError,
    TransientDeliveryError,
)

__all__ = [
    "CHANNEL_KINDS",
    "CONTACT_POINTS",
    "CONTENT_RULES",
    "PROJECT_NAME",
    "ChannelSpec",
    "DeliveryResult",
    "Issue",
    "Location",
    "Message",
    "PermanentDeliveryError",
    "PluginError",
    "TransientDeliveryError",
    "hookimpl",
    "hookspec",
]
"""Everything a plugin author imports: the markers, the types, and the errors a send may raise."""

PROJECT_NAME = "policy_engine"
"""The pluggy project name, and the entry-point group plugins are published under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

ChannelKind = Literal["call", "text", "email", "letter", "legal", "agent"]
ContactPoint = Literal["phone", "email", "address"]
DeliveryStatus = Literal["delivered", "transient_failure", "permanent_failure"]

CHANNEL_KINDS: tuple[str, ...] = ("call", "text", "email", "letter", "legal", "agent")
CONTACT_POINTS: tuple[str, ...] = ("phone", "email", "address")
CONTENT_RULES: tuple[str, ...] = ("opt_out", "limited_content_voicemail")
"""Content rules the core knows by name; plugins may declare their own with a prefix (``acme:``)."""


@dataclass(frozen=True)
class ChannelSpec:
    """What a channel is: its name in policies, its kind, and the rules its messages obey.

    ``consent_key`` names the ``consent.*`` field of an account that governs this channel, if any.

    ``idempotent_provider`` declares that the provider deduplicates sends by the idempotency key
    the plugin passes along; only then does dispatch re-send an action whose process died mid-send.
    """

    name: str
    kind: ChannelKind
    counts_as_attempt: bool = True
    contact_point: ContactPoint | None = None
    content_rules: tuple[str, ...] = ()
    idempotent_provider: bool = False
    consent_key: str | None = None
    description: str = ""
    required_settings: tuple[str, ...] = ()
    """Settings the channel cannot send without; ``"a|b"`` means one of them. Checked before a run."""

    def __post_init__(self) -> None:
        if self.kind not in CHANNEL_KINDS:
            raise ValueError(f"channel {self.name!r}: kind {self.kind!r} is not one of {CHANNEL_KINDS}")
        if self.contact_point is not None and self.contact_point not in CONTACT_POINTS:
            raise ValueError(
                f"channel {self.name!r}: contact_point {self.contact_point!r} is not one of {CONTACT_POINTS}"
            )
        object.__setattr__(self, "content_rules", tuple(self.content_rules))
        object.__setattr__(self, "required_settings", tuple(self.required_settings))

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-ready data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "counts_as_attempt": self.counts_as_attempt,
            "contact_point": self.contact_point,
            "content_rules": list(self.content_rules),
            "idempotent_provider": self.idempotent_provider,
            "consent_key": self.consent_key,
            "description": self.description,
        }


@dataclass(frozen=True)
class Message:
    """A rendered message: plain text always, HTML and a subject where the channel uses them."""

    text: str
    html: str | None = None
    subject: str | None = None
    template: str | None = None
    language: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    """What a send achieved. ``outcome`` is the history outcome (``sent`` unless the provider knows more)."""

    status: DeliveryStatus
    provider_id: str | None = None
    detail: str | None = None
    outcome: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("delivered", "transient_failure", "permanent_failure"):
            raise ValueError(f"DeliveryResult.status {self.status!r} is not a known status")


@hookspec
def policy_engine_register_channels() -> list[ChannelSpec]:  # type: ignore[empty-body]
    """Return the channels this plugin provides."""


@hookspec(firstresult=True)
def policy_engine_render_message(
    channel: ChannelSpec, action: Mapping[str, Any], account: Mapping[str, Any], context: Mapping[str, Any]
) -> Message | None:
    """Render the message for an action on a channel you own, or return None to use the template store."""


@hookspec
def policy_engine_validate_template(
    channel: ChannelSpec, template_id: str, source: str
) -> list[Issue] | None:
    """Return the problems a template source has for a channel you own (content rules), or None."""


@hookspec(firstresult=True)
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    decision: Mapping[str, Any],
    ledger: Any,
) -> DeliveryResult | None:
    """Send one action on a channel you own (pass action["idempotency_key"] on); return None otherwise."""


@hookspec
def policy_engine_before_dispatch(
    decision: Mapping[str, Any], action: Mapping[str, Any], channel: ChannelSpec
) -> None:
    """Observe an action that has been claimed and is about to be sent."""


@hookspec
def policy_engine_after_dispatch(
    decision: Mapping[str, Any], action: Mapping[str, Any], channel: ChannelSpec, result: DeliveryResult
) -> None:
    """Observe the recorded result of an action (after the ledger committed it)."""
