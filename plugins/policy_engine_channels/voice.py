"""Calls through a voice provider's HTTP API, with the US limited-content rule for what is played.

What a call plays may end up on a voicemail, so the template must be a *limited-content message*: a
name, a business name that does not reveal debt collection, a request to call back and a number. Any
mention of debt, amounts or payment is a template validation error, and a rendered message that still
contains one is refused at send time. What the rule forbids is defined once, in
:mod:`policy_engine.policy.content_rules`, so the policy checker and this channel refuse the same texts.

Settings (``[channels.voice]`` or ``POLICY_ENGINE_VOICE_*``): ``url`` (required), ``secret`` (signs
the request when set), ``caller_id``, ``timeout`` (seconds, default 10), ``ca_file``, and the dispatch
controls. The provider deduplicates by the ``Idempotency-Key`` header (a call whose request timed out is
asked for again with the same key) and may answer ``{"id": ..., "outcome": "no_answer"|"voicemail"|...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine._exceptions import Issue, PermanentDeliveryError
from policy_engine.deliver.settings import typed_problems
from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine.policy.content_rules import (
    LIMITED_CONTENT_VOICEMAIL,
    limited_content_issues,
    limited_content_problems,
)
from policy_engine_channels._common import (
    HTTP_SETTING_KINDS,
    channel_settings,
    contact,
    http_client,
    post_signed_json,
)

SPEC = BUILTIN_CHANNELS["voice"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The voice channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """``timeout`` is a number; ``url``, ``secret``, ``caller_id`` are text."""
    return typed_problems(channel.name, settings, {**HTTP_SETTING_KINDS, "caller_id": "text"})


@hookimpl
def policy_engine_validate_template(template_id: str, source: str) -> list[Issue]:
    """A voice template must be a limited-content message."""
    return limited_content_issues(template_id, source)


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    channel_context: ChannelContext | None = None,
) -> DeliveryResult:
    """Ask the provider to place the call."""
    # the policy's baseline decides (US Reg F: limited-content voicemail); the engine marks the action
    required = LIMITED_CONTENT_VOICEMAIL in (action.get("content_rules") or ())
    problems = limited_content_problems(message.text) if required else []
    if problems:
        words = ", ".join(sorted({found for _, found in problems}))
        raise PermanentDeliveryError(f"limited_content_voicemail: the message mentions {words}; not called")
    conf = channel_settings(channel.name, settings)
    payload = {
        "idempotency_key": action["idempotency_key"],
        "to": contact(account, "phone"),
        "caller_id": conf.get("caller_id"),
        "script": message.text,
        "language": message.language or account.get("language"),
        "account_id": account.get("account_id"),
        "action": action.get("action"),
    }
    secret = conf.get("secret")
    client, own = http_client(conf, channel_context)
    try:
        return post_signed_json(
            str(conf.require("url")), payload, secret=str(secret) if secret else None,
            idempotency_key=str(action["idempotency_key"]), timeout=conf.get_float("timeout", 10.0), client=client,
        )
    finally:
        if own:
            client.close()
