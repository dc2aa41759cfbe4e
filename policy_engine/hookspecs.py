"""The hooks a channel plugin may implement, and the plain types they exchange.

Every hook is called with keyword arguments, so an implementation may accept only the arguments it
needs. The channel hooks (send, render_message, validate_template) are called only on the plugin that
registered the channel, so they never have to check ``channel.name``. A plugin module marks its
functions with :data:`hookimpl`::

    from policy_engine.hookspecs import ChannelKind, ChannelSpec, DeliveryResult, hookimpl

    @hookimpl
    def policy_engine_register_channels():
        return [ChannelSpec(name="chat", kind=ChannelKind.TEXT, contact_point="phone")]

    @hookimpl
    def policy_engine_send(channel, action, message, settings):
        ...                      # only ever called for "chat"
        return DeliveryResult(status="delivered", provider_id="abc")

Decisions, actions and accounts reach a hook as plain JSON-ready mappings (the contract's Decision
JSON and account record); what else a channel may use during a send is the :class:`ChannelContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pluggy

from policy_engine._exceptions import (
    AmbiguousDeliveryError,
    Issue,
    Location,
    PermanentDeliveryError,
    PluginError,
    TransientDeliveryError,
)
from policy_engine.policy.channels import CHANNEL_KINDS, CONTACT_POINTS, ChannelKind, ChannelSpec, ContactPoint
from policy_engine.policy.content_rules import CONTENT_RULES

__all__ = [
    "CHANNEL_KINDS",
    "AmbiguousDeliveryError",
    "CONTACT_POINTS",
    "CONTENT_RULES",
    "PROJECT_NAME",
    "ChannelContext",
    "ChannelKind",
    "ChannelSpec",
    "ContactPoint",
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

DeliveryStatus = Literal["delivered", "transient_failure", "permanent_failure"]


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


class ChannelContext(Protocol):
    """What dispatch lends a channel during a send, instead of the ledger itself.

    The agent channel opens tasks with it; the legal channel reads the notices already sent.
    """

    def open_task(
        self,
        *,
        idempotency_key: str,
        account_id: str,
        action: str,
        channel: str,
        message: str,
        subject: str | None = None,
        template: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[int, bool]:
        """Queue a task for a person, once per idempotency key: (task id, whether it was opened now)."""
        ...

    def account_history(self, account_id: str) -> list[dict[str, Any]]:
        """The history events recorded for an account, oldest first (contract history shape)."""
        ...

    def shared(self, name: str, factory: Callable[[], Any]) -> Any:
        """The object ``factory`` makes, once per dispatch under ``name`` (a pooled client): every send of
        the dispatch gets the same one, from several threads; its ``close()`` runs when the dispatch ends."""
        ...


@hookspec
def policy_engine_register_channels() -> list[ChannelSpec]:  # type: ignore[empty-body]
    """Return the channels this plugin provides."""


@hookspec(firstresult=True)
def policy_engine_render_message(
    channel: ChannelSpec, action: Mapping[str, Any], account: Mapping[str, Any], context: Mapping[str, Any]
) -> Message | None:
    """Render the message for an action on your channel, or return None to use the template store."""


@hookspec
def policy_engine_validate_template(
    channel: ChannelSpec, template_id: str, source: str
) -> list[Issue] | None:
    """Return the problems a template source has for your channel (its content rules), or None."""


@hookspec
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str] | None:
    """Return what is wrong with your channel's settings (``timeout = "ten"``), one sentence each.

    ``policy-engine run`` asks before it decides or sends anything and stops with exit 2 on any problem.
    """


@hookspec(firstresult=True)
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    decision: Mapping[str, Any],
    channel_context: ChannelContext,
) -> DeliveryResult | None:
    """Send one action on your channel (pass ``action["idempotency_key"]`` on to the provider).

    Return a DeliveryResult, or raise TransientDeliveryError (nothing was handed over: retried),
    PermanentDeliveryError (not retried) or AmbiguousDeliveryError (handed over, no answer: retried only
    when the channel's provider deduplicates); None counts as a permanent failure ("no plugin sent").
    Dispatch calls it from up to ``concurrency`` threads at once (a channel setting, default 1).
    """


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
