"""A generic signed webhook: the whole action, its message and the account id, POSTed as JSON.

Settings (``[channels.webhook]`` or ``POLICY_ENGINE_WEBHOOK_*``): ``url`` and ``secret`` (required),
``timeout`` (seconds, default 10), ``ca_file``, and the dispatch controls. The receiver deduplicates by the
``Idempotency-Key`` header and verifies the signature with ``policy_engine.deliver.signing.verify_signature``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.deliver.settings import typed_problems
from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import HTTP_SETTING_KINDS, channel_settings, http_client, post_signed_json

SPEC = BUILTIN_CHANNELS["webhook"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The webhook channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """``timeout`` is a number; ``url`` and ``secret`` are text."""
    return typed_problems(channel.name, settings, HTTP_SETTING_KINDS)


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    decision: Mapping[str, Any],
    channel_context: ChannelContext | None = None,
) -> DeliveryResult:
    """POST the action to the configured URL."""
    conf = channel_settings(channel.name, settings)
    payload = {
        "idempotency_key": action["idempotency_key"],
        "account_id": account.get("account_id"),
        "policy": dict(decision.get("policy") or {}),
        "stage": decision.get("stage"),
        "action": dict(action),
        "message": {"text": message.text, "subject": message.subject, "template": message.template},
    }
    client, own = http_client(conf, channel_context)
    try:
        return post_signed_json(
            str(conf.require("url")), payload, secret=str(conf.require("secret")),
            idempotency_key=str(action["idempotency_key"]), timeout=conf.get_float("timeout", 10.0), client=client,
        )
    finally:
        if own:
            client.close()
