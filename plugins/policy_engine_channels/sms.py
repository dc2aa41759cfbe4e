"""SMS through a generic HTTP gateway: a JSON POST signed with HMAC-SHA256 (timestamp, key, path, body).

Settings (``[channels.sms]`` or ``POLICY_ENGINE_SMS_*``): ``url`` and ``secret`` (required),
``sender``, ``timeout`` (seconds, default 10), ``ca_file``, ``opt_out_text`` (a text, or a table by
language: see :mod:`policy_engine.deliver.opt_out`), and the dispatch controls ``concurrency``,
``rate_per_second``, ``breaker_failures``. The opt-out line is appended only where the policy's baseline
requires one (the action's ``content_rules`` list ``opt_out``), in the message's language.

The gateway must deduplicate by the ``Idempotency-Key`` header (also ``idempotency_key`` in the body): a
send that timed out after the request was written is retried with the same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.deliver.opt_out import with_required_opt_out
from policy_engine.deliver.settings import typed_problems
from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import (
    HTTP_SETTING_KINDS,
    channel_settings,
    contact,
    http_client,
    post_signed_json,
)

OPT_OUT_TEXTS = {"en": "Reply STOP to opt out.", "zh": "回复TD退订"}
"""The built-in opt-out line by language (the settings may replace or add languages)."""
DEFAULT_OPT_OUT = OPT_OUT_TEXTS["en"]

SPEC = BUILTIN_CHANNELS["sms"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The sms channel."""
    return [SPEC]


@hookimpl
def policy_engine_check_settings(channel: ChannelSpec, settings: Mapping[str, Any]) -> list[str]:
    """``timeout`` is a number; ``url``, ``secret``, ``sender`` are text."""
    return typed_problems(channel.name, settings, {**HTTP_SETTING_KINDS, "sender": "text"})


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
    channel_context: ChannelContext | None = None,
) -> DeliveryResult:
    """POST the text to the gateway."""
    conf = channel_settings(channel.name, settings)
    text = with_required_opt_out(message, action, conf, OPT_OUT_TEXTS, account.get("language")).text
    payload = {
        "idempotency_key": action["idempotency_key"],
        "to": contact(account, "phone"),
        "from": conf.get("sender"),
        "text": text,
        "account_id": account.get("account_id"),
        "action": action.get("action"),
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
