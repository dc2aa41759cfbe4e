"""The channel catalogue the policy validator checks names against.

Channel plugins register channels through the plugin registry; until a registry is available (or when
it cannot be loaded) the built-in catalogue below is used, so validation never depends on I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BUILTIN_CHANNELS", "ChannelInfo", "known_channels"]

ChannelKind = Literal["call", "text", "email", "letter", "legal", "agent"]


@dataclass(frozen=True)
class ChannelInfo:
    """What the engine needs to know of a channel to apply guardrails."""

    name: str
    kind: ChannelKind
    counts_as_attempt: bool = True
    contact_point: Literal["phone", "email", "address"] | None = None
    consent_key: str | None = None


BUILTIN_CHANNELS: dict[str, ChannelInfo] = {
    c.name: c
    for c in (
        ChannelInfo("sms", "text", True, "phone", "sms"),
        ChannelInfo("email", "email", True, "email", "email"),
        ChannelInfo("voice", "call", True, "phone", "voice"),
        ChannelInfo("letter", "letter", True, "address", None),
        ChannelInfo("legal", "legal", False, None, None),
        ChannelInfo("agent", "agent", False, None, None),
        ChannelInfo("webhook", "text", False, None, None),
    )
}


def known_channels() -> dict[str, ChannelInfo]:
    """Every channel the installed plugins register, falling back to the built-in catalogue."""
    try:
        from policy_engine.deliver import registry  # noqa: PLC0415  (optional at this layer)

        registered = registry.registered_channel_infos()
    except Exception:  # the registry is optional here: never fail validation because of it
        return dict(BUILTIN_CHANNELS)
    merged = dict(BUILTIN_CHANNELS)
    merged.update(registered)
    return merged
