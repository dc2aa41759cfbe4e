"""A ``chat`` channel for policy-engine: messages through a chat app's HTTP API.

Settings, in ``policy-engine.toml``::

    [channels.chat]
    url = "https://chat.example/api/messages"
    token = "..."            # or POLICY_ENGINE_CHAT_TOKEN in the environment

The API must treat the ``Idempotency-Key`` header as a deduplication key, which is why the channel
declares ``idempotent_provider=True``: a message whose sender died mid-send is sent again safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from policy_engine.hookspecs import (
    ChannelKind,
    ChannelSpec,
    DeliveryResult,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    hookimpl,
)

__version__ = "0.1.0"

CHAT = ChannelSpec(
    name="chat",
    kind=ChannelKind.TEXT,
    contact_point="phone",
    content_rules=("opt_out",),
    idempotent_provider=True,
    consent_key="sms",
    description="messages through a chat app",
)
OPT_OUT = "Reply STOP to stop these messages."


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The chat channel."""
    return [CHAT]


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    settings: Mapping[str, Any],
) -> DeliveryResult:
    """Post the message to the chat API; 5xx/timeouts are transient, other errors permanent."""
    url = settings.get("url")
    if not url:
        raise PermanentDeliveryError("chat: set [channels.chat] url (or POLICY_ENGINE_CHAT_URL)")
    key = str(action["idempotency_key"])
    text = message.text if OPT_OUT in message.text else f"{message.text}\n{OPT_OUT}"
    headers = {"Idempotency-Key": key}
    if settings.get("token"):
        headers["Authorization"] = f"Bearer {settings['token']}"
    body = {"to": account["contact"]["phone"], "text": text, "reference": key}
    try:
        response = httpx.post(str(url), json=body, headers=headers, timeout=float(settings.get("timeout", 10)))
    except httpx.TransportError as exc:  # includes timeouts
        raise TransientDeliveryError(f"chat: {exc.__class__.__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientDeliveryError(f"chat: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise PermanentDeliveryError(f"chat: HTTP {response.status_code}: {response.text[:200]}")
    return DeliveryResult("delivered", provider_id=response.json().get("message_id"))
