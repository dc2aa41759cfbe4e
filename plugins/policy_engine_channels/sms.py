"""SMS through a generic HTTP gateway: a JSON POST signed with HMAC-SHA256 over the body.

Settings (``[channels.sms]`` or ``POLICY_ENGINE_SMS_*``): ``url`` and ``secret`` (required),
``sender``, ``timeout`` (seconds, default 10), ``opt_out_text`` (appended to every message).
The gateway must deduplicate by the ``Idempotency-Key`` header (also ``idempotency_key`` in the body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.deliver.templates import with_opt_out
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS
from policy_engine_channels._common import channel_settings, contact, post_signed_json

DEFAULT_OPT_OUT = "Reply STOP to opt out."

SPEC = BUILTIN_CHANNELS["sms"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The sms channel."""
    return [SPEC]


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
) -> DeliveryResult:
    """POST the text to the gateway."""
    conf = channel_settings(channel.name, settings)
    text = with_opt_out(message, str(conf.get("opt_out_text", DEFAULT_OPT_OUT))).text
    payload = {
        "idempotency_key": action["idempotency_key"],
        "to": contact(account, "phone"),
        "from": conf.get("sender"),
        "text": text,
        "account_id": account.get("account_id"),
        "action": action.get("action"),
    }
    return post_signed_json(
        str(conf.require("url")),
        payload,
        secret=str(conf.require("secret")),
        idempotency_key=str(action["idempotency_key"]),
        timeout=conf.get_float("timeout", 10.0),
    )
